"""``escrow-exporter devchain``: run the simulated Solana RPC node.

python -m devchain.cli --listen 127.0.0.1:8899 [--seed N] [--tps N] [--profile busy] [--ledger-db PATH]

Exit 2 for bad arguments (a malformed or unresolvable address, a ``--ledger-db`` that is a
directory or a file that is not SQLite), 1 when the address cannot be listened on or the
ledger database cannot be prepared.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from dataclasses import dataclass

from aiohttp import web

from devchain.chain import Chain
from devchain.ledger import LedgerError, LedgerTargetError, attach
from devchain.server import DevchainServer
from exporter.cli import bind_listeners, format_address, listen_failure, split_listen

DEFAULT_LISTEN = "127.0.0.1:8899"
log = logging.getLogger("devchain")


def _host_port(text: str) -> tuple[str, int]:
    try:
        return split_listen(text)  # the exporter's own parsing: brackets off an IPv6 host
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}") from None


def _tps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:  # float() takes "nan" and "inf"
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number >= 0")
    return value


@dataclass(frozen=True)
class Profile:
    tps: float
    #: (min, max) seconds between a transaction and its ledger write, drawn at random.
    ledger_write_delay: tuple[float, float]


#: ``busy``: a platform where deposits, settlements and withdrawals never stop (>= 50 tx/s) and
#: the back end writes its books a few seconds late, as real ones do.
PROFILES = {"default": Profile(5.0, (0.0, 0.0)), "busy": Profile(60.0, (0.0, 5.0))}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="escrow-exporter devchain", description="Simulated Solana JSON-RPC node")
    p.add_argument(
        "--listen",
        type=_host_port,
        default=_host_port(DEFAULT_LISTEN),
        help=f"HOST:PORT, [IPv6]:PORT (default {DEFAULT_LISTEN})",
    )
    p.add_argument("--seed", type=int, default=1, help="RNG seed: the same seed gives the same workload")
    p.add_argument(
        "--tps", type=_tps, default=None, help="generated transactions per second (0 = none; default 5)"
    )
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="default",
        help="workload: default, or busy (60 tx/s unless --tps says otherwise; ledger writes delayed 0-5 s)",
    )
    p.add_argument(
        "--ledger-db",
        default=os.environ.get("DEVCHAIN_LEDGER_DB") or None,
        help="also write the demo business ledger: a SQLite file or a postgresql:// DSN "
        "(default: $DEVCHAIN_LEDGER_DB, which keeps a password off the command line)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    host, port = args.listen
    address = format_address(host, port)
    # Bind first: a port in use must not cost the ledger database its contents.
    try:
        socks = bind_listeners(host, port)
    except OSError as e:
        cause, code = listen_failure(e)
        sys.stderr.write(f"devchain: cannot listen on {address}: {cause}\n")
        return code
    chain = Chain(seed=args.seed)
    profile = PROFILES[args.profile]
    tps = profile.tps if args.tps is None else args.tps
    ledger = None
    if args.ledger_db:
        try:
            ledger = attach(chain, args.ledger_db, write_delay=profile.ledger_write_delay)
        except LedgerError as e:
            for s in socks:
                s.close()
            sys.stderr.write(f"devchain: {e}\n")
            return 2 if isinstance(e, LedgerTargetError) else 1
    server = DevchainServer(chain, tps=tps, ledger=ledger)

    def listening(*_: object) -> None:  # aiohttp calls this once every socket serves the app
        log.info(
            "devchain listening on %s (seed %d, %.1f tx/s, %s profile)", address, args.seed, tps, args.profile
        )

    web.run_app(server.app(), sock=socks, print=listening, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
