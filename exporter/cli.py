"""``escrow-exporter``: run, check-config, devchain, decode, --version.

Every user-facing failure exits with a clear message naming its cause, never a stack trace;
``--log.level debug`` adds traces to logs. Exit 2 for bad config or input (including a listen
address that is malformed or names no host), 1 when a valid address cannot be listened on
(port in use, not an address of this host, permission denied).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence

from exporter import __version__
from exporter.config import ConfigError, load_config
from exporter.logs import LEVELS, setup_logging
from exporter.malloc import limit_arenas
from exporter.webserver import Limits

DEFAULT_LISTEN = ":10190"
log = logging.getLogger("exporter")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="escrow-exporter", description="Prometheus exporter for Solana escrow programs."
    )
    p.add_argument("--version", action="version", version=f"escrow-exporter {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve /metrics")
    # --config.file is the Prometheus exporters' spelling; --config stays for existing setups.
    run.add_argument("--config", "--config.file", dest="config", required=True, help="config file (YAML)")
    run.add_argument(
        "--web.listen-address", dest="listen", default=DEFAULT_LISTEN, help="HOST:PORT (default :10190)"
    )
    run.add_argument(
        "--web.config.file", dest="web_config", help="TLS and basic auth (exporter-toolkit format)"
    )
    run.add_argument(
        "--web.max-connections",
        dest="max_connections",
        metavar="N",
        type=_positive(int),
        default=Limits.max_connections,
        help=f"open HTTP connections at most; more are closed at once (default {Limits.max_connections})",
    )
    run.add_argument(
        "--web.header-timeout",
        dest="header_timeout",
        type=_positive(float),
        default=Limits.header_timeout,
        metavar="SECONDS",
        help=f"time to send a request head, and to finish a TLS handshake (default {Limits.header_timeout:g})",
    )
    run.add_argument(
        "--web.idle-timeout",
        dest="idle_timeout",
        type=_positive(float),
        default=Limits.idle_timeout,
        metavar="SECONDS",
        help=f"a kept-alive connection without a request is closed after this (default {Limits.idle_timeout:g})",
    )
    run.add_argument("--log.level", dest="log_level", choices=list(LEVELS), default="info")
    run.add_argument("--log.format", dest="log_format", choices=["logfmt", "json"], default="logfmt")
    check = sub.add_parser(
        "check-config", help="validate config files; with several, also check they shard without overlap"
    )
    check.add_argument(
        "--config",
        "--config.file",
        dest="config",
        required=True,
        action="append",
        help="repeat for shard configs",
    )
    check.add_argument(
        "--web.config.file", dest="web_config", help="also check this web config, as run would load it"
    )
    sub.add_parser("devchain", help="run the Solana JSON-RPC simulator", add_help=False)
    sub.add_parser("decode", help="decode Anchor events or accounts with an IDL", add_help=False)
    sub.add_parser(
        "backup", help="consistent copies of the state file (and ledger) while they run", add_help=False
    )
    sub.add_parser(
        "sla-report",
        help="a month's availability per SLO, error budget and incidents, from Prometheus",
        add_help=False,
    )
    return p


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < value < 1e9:  # also refuses nan and inf
            raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
        return value

    return parse


def split_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6, ``:PORT`` for every address) as (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--web.listen-address {value!r}: expected HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_listeners(host: str, port: int, backlog: int = 128) -> list[socket.socket]:
    """Listening sockets on every address ``host`` resolves to, set up as aiohttp's own would be.

    Binding before the application starts means a port in use fails at once, before anything
    claims to be listening and before background tasks start only to be torn down again.
    Raises ``OSError`` (``socket.gaierror`` when ``host`` names no address).
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _, addr in dict.fromkeys(infos):
            s = socket.socket(family, kind, proto)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart while old sockets linger
            if family == socket.AF_INET6:  # "::" must not also take the IPv4 port (as asyncio does)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(addr)
            s.listen(backlog)
            s.setblocking(False)
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


def listen_failure(e: OSError) -> tuple[str, int]:
    """The cause of a failed ``bind_listeners`` for a message, and the exit code: 2 when the
    address names no host (bad input), 1 when the system refuses a valid one."""
    text = e.strerror or str(e)
    return text[:1].lower() + text[1:], 2 if isinstance(e, socket.gaierror) else 1


def _check_web_config(path: str) -> bool:
    from exporter.webconfig import load_web_config, ssl_context

    try:
        ssl_context(load_web_config(path), path)
    except ConfigError as e:
        print(f"{path}: {len(e.problems)} problem(s):", file=sys.stderr)
        for p in e.problems:
            print(f"  {p}", file=sys.stderr)
        return False
    except (OSError, ValueError) as e:  # as run reports it: a certificate or key that does not load
        print(f"{path}: cannot load TLS certificate: {e}", file=sys.stderr)
        return False
    print(f"{path}: OK")
    return True


def _check_config(paths: list[str], web_config: str | None = None) -> int:
    from exporter.config.shards import overlaps

    configs = {}
    failed = web_config is not None and not _check_web_config(web_config)
    for path in paths:
        try:
            configs[path] = load_config(path)
        except ConfigError as e:
            failed = True
            print(f"{path}: {len(e.problems)} problem(s):", file=sys.stderr)
            for p in e.problems:
                print(f"  {p}", file=sys.stderr)
            continue
        print(f"{path}: OK: {configs[path].summary()}")
    if failed:
        return 2
    clashes = overlaps(configs) if len(configs) > 1 else []
    if clashes:
        print(
            f"shards overlap ({len(clashes)} problem(s)); each would count or report the same thing:",
            file=sys.stderr,
        )
        for c in clashes:
            print(f"  {c}", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> int:
    from exporter.app import create_app
    from exporter.auth import BasicAuth
    from exporter.ingest import state_lock
    from exporter.webconfig import load_web_config, ssl_context
    from exporter.webserver import Connections, serve

    setup_logging(args.log_level, args.log_format)
    # Before any worker thread exists: threads created later share the capped arenas.
    limit_arenas()
    try:
        host, port = split_listen(args.listen)
    except ValueError as e:
        log.error("invalid flag", extra={"problem": str(e)})
        return 2
    try:
        config = load_config(args.config)
        web_cfg = load_web_config(args.web_config) if args.web_config else None
    except ConfigError as e:
        for p in e.problems:
            log.error("invalid config", extra={"problem": p})
        return 2
    if config.programs:
        # Held until the process exits: a second exporter on this state file would corrupt totals.
        try:
            state_lock.acquire(config.state.path)
        except state_lock.StateError as e:
            if e.reason == "state_locked":
                log.error("cannot use the state file", extra={"reason": e.reason, "problem": str(e)})
                return 1
            # Cannot even create the lock file (permissions, disk): the ingest collectors retry
            # each cycle and report themselves down meanwhile, as for any failing source.
            log.warning("cannot lock the state file yet", extra={"reason": e.reason, "problem": str(e)})
    auth = BasicAuth(web_cfg.basic_auth_users) if web_cfg and web_cfg.basic_auth_users else None
    try:
        ctx = ssl_context(web_cfg, args.web_config) if web_cfg else None
    except (OSError, ValueError) as e:
        log.error("cannot load TLS certificate", extra={"file": args.web_config, "error": str(e)})
        return 2
    address = format_address(host, port)
    try:
        socks = bind_listeners(host, port)
    except OSError as e:
        cause, code = listen_failure(e)
        log.error("cannot listen on %s: %s", address, cause, extra={"address": address, "error": cause})
        return code

    def listening() -> None:  # once every socket serves the app
        log.info("listening", extra={"address": address, "tls": ctx is not None})

    connections = Connections(Limits(args.max_connections, args.header_timeout, args.idle_timeout))
    app = create_app(
        config,
        auth=auth,
        response_headers=web_cfg.response_headers if web_cfg else None,
        connections=connections,
    )
    asyncio.run(serve(app, connections, socks, ctx, listening))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `escrow-exporter decode ... | head`: the reader left; not an error worth a trace.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Sub-commands implemented elsewhere take the rest of the command line as is.
    delegated = {
        "devchain": "devchain.cli",
        "decode": "exporter.anchor.cli",
        "backup": "exporter.backup",
        "sla-report": "exporter.sla_report",
    }
    if argv and argv[0] in delegated:
        module = importlib.import_module(delegated[argv[0]])
        return int(module.main(argv[1:]))
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return _check_config(args.config, args.web_config)
    if args.command == "run":
        return _run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
