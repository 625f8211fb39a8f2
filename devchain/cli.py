"""``escrow-exporter devchain``: run the simulated Solana RPC node.

python -m devchain.cli --listen 127.0.0.1:8899 [--seed N] [--tps N] [--profile default|busy|steady]
                       [--day-seconds S] [--day-start HOUR] [--ledger-db PATH]

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
from devchain.traffic import PLATFORM_DAY, SECONDS_PER_DAY, DailyShape, Traffic
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


def _day_seconds(text: str) -> float:
    value = _tps(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number > 0")
    return value


def _hour(text: str) -> float:
    try:
        hours, _, minutes = text.partition(":")
        value = float(hours) + (float(minutes) / 60 if minutes else 0.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an hour of the day (20 or 20:30), got {text!r}") from None
    if not 0 <= value < 24:
        raise argparse.ArgumentTypeError(f"{text!r}: must be an hour of the day, from 0 to 23:59")
    return value


@dataclass(frozen=True)
class Profile:
    #: The mean rate over a day (transactions per second).
    tps: float
    #: (min, max) seconds between a transaction and its ledger write, drawn at random.
    ledger_write_delay: tuple[float, float]
    #: The rate's daily shape (None: constant).
    shape: DailyShape | None


#: ``default``: a platform's ordinary day, 5 tx/s on average, quiet at night (1.25 tx/s at 04:00)
#: and busy in the evening (8.75 tx/s at 20:00); ``busy``: a platform where deposits,
#: settlements and withdrawals never stop (60 tx/s, constant) and the back end writes its books a
#: few seconds late, as real ones do; ``steady``: 5 tx/s, constant (the shape left out).
PROFILES = {
    "default": Profile(5.0, (0.0, 0.0), PLATFORM_DAY),
    "busy": Profile(60.0, (0.0, 5.0), None),
    "steady": Profile(5.0, (0.0, 0.0), None),
}


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
        "--tps",
        type=_tps,
        default=None,
        help="mean generated transactions per second over a day (0 = none; default 5)",
    )
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="default",
        help="workload: default (a daily shape, 0.25x the mean at 04:00 to 1.75x at 20:00), busy "
        "(60 tx/s constant unless --tps says otherwise; ledger writes delayed 0-5 s) or steady (constant)",
    )
    p.add_argument(
        "--day-seconds",
        type=_day_seconds,
        default=SECONDS_PER_DAY,
        help="real seconds one simulated day of traffic lasts (default 86400; 600 = a day in 10 minutes)",
    )
    p.add_argument(
        "--day-start",
        type=_hour,
        default=12.0,
        help="simulated hour of the day the traffic starts at, e.g. 20 or 03:30 (default 12, the mean rate)",
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
    traffic = Traffic(profile.shape, day_seconds=args.day_seconds, start_hour=args.day_start)
    server = DevchainServer(chain, tps=tps, ledger=ledger, traffic=traffic)

    def listening(*_: object) -> None:  # aiohttp calls this once every socket serves the app
        log.info(
            "devchain listening on %s (seed %d, %.1f tx/s mean, %s profile, a day lasts %gs)",
            address,
            args.seed,
            tps,
            args.profile,
            args.day_seconds,
        )

    web.run_app(server.app(), sock=socks, print=listening, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
