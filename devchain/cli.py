"""``escrow-exporter devchain``: run the simulated Solana RPC node.

python -m devchain.cli --listen 127.0.0.1:8899 [--seed N] [--tps N] [--ledger-db PATH]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from aiohttp import web

from devchain.chain import Chain
from devchain.ledger import LedgerError, attach
from devchain.server import DevchainServer

DEFAULT_LISTEN = "127.0.0.1:8899"
log = logging.getLogger("devchain")


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"--listen must be HOST:PORT, got {text!r}")
    return host or "0.0.0.0", int(port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="escrow-exporter devchain", description="Simulated Solana JSON-RPC node")
    p.add_argument(
        "--listen",
        type=_host_port,
        default=_host_port(DEFAULT_LISTEN),
        help="HOST:PORT (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=1, help="RNG seed: the same seed gives the same workload")
    p.add_argument("--tps", type=float, default=5.0, help="generated transactions per second (0 = none)")
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
    if args.tps < 0:
        sys.stderr.write("devchain: --tps must be >= 0\n")
        return 2
    chain = Chain(seed=args.seed)
    if args.ledger_db:
        try:
            attach(chain, args.ledger_db)
        except LedgerError as e:
            sys.stderr.write(f"devchain: {e}\n")
            return 1
    host, port = args.listen
    server = DevchainServer(chain, tps=args.tps)
    log.info("devchain listening on %s:%d (seed %d, %.1f tx/s)", host, port, args.seed, args.tps)
    try:
        web.run_app(server.app(), host=host, port=port, print=None, access_log=None)
    except OSError as e:
        sys.stderr.write(f"devchain: cannot listen on {host}:{port}: {e.strerror}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
