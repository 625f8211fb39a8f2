"""``escrow-exporter backup``: consistent copies of SQLite files while their writers run.

    escrow-exporter backup --source state=/var/lib/escrow-exporter/state.sqlite \\
        [--source ledger=var/demo-ledger.sqlite] [--pg ledger=postgresql://backup@db/escrow] \\
        --dest /var/backups/escrow-exporter \\
        [--keep 28] [--textfile /var/lib/node_exporter/textfile/escrow_backup.prom]

Each source is copied with SQLite's online backup API (``sqlite3.Connection.backup``): pages are
read under SQLite's own locking, so the copy is one consistent snapshot even while the exporter
(or the demo ledger) keeps writing; a plain ``cp`` of a database in WAL mode can miss committed
pages still in the ``-wal`` file. The copy is checked (``PRAGMA integrity_check``) before it is
renamed into place as ``<name>-<UTC time>.sqlite``; the oldest copies beyond ``--keep`` are
removed. The source is opened read-only and never changed.

Each ``--pg`` database (the ledger in PostgreSQL) is dumped with ``pg_dump --format=custom`` (one
consistent snapshot, restorable with ``pg_restore``), checked by reading its table of contents back
(``pg_restore --list``) and renamed into place as ``<name>-<UTC time>.dump``. Keep the password
out of the DSN (it would show in ``ps``): ``PGPASSFILE`` or ``PGPASSWORD`` in the environment.
``pg_dump`` is found on PATH unless ``--pg-dump`` names it; it must be at least the server's version.

``--textfile`` writes, atomically, node_exporter textfile-collector metrics of each source's last
successful backup (``escrow_backup_last_success_timestamp_seconds{source}``,
``escrow_backup_size_bytes{source}``); a failed run leaves the previous values, so their age
grows and ``EscrowBackupStale`` fires. Exit status 1 names the source and the cause.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "escrow_backup"


class BackupError(RuntimeError):
    """A source could not be backed up; the message names it and the cause."""


@dataclass(frozen=True)
class Done:
    source: str
    path: Path
    size: int
    finished: float


def _source(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name.isidentifier() or not path:
        raise argparse.ArgumentTypeError(
            f"expected NAME=PATH (NAME a word, e.g. state=/path/state.sqlite), got {text!r}"
        )
    return name, Path(path)


def _pg(text: str) -> tuple[str, str]:
    name, sep, dsn = text.partition("=")
    if not sep or not name.isidentifier() or not dsn.startswith(("postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError(
            f"expected NAME=postgresql://... (NAME a word, e.g. ledger=postgresql://backup@db/escrow), got {text!r}"
        )
    return name, dsn


def backup_one(name: str, source: Path, dest: Path, now: float | None = None) -> Done:
    """Copy ``source`` into ``dest`` as ``<name>-<UTC time>.sqlite``; raise BackupError."""
    now = time.time() if now is None else now
    if not source.is_file():
        raise BackupError(f"{name}: {source}: no such file")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    final = dest / f"{name}-{stamp}.sqlite"
    partial = dest / f".{final.name}.partial"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
                check = dst.execute("PRAGMA integrity_check").fetchone()
            finally:
                dst.close()
        finally:
            src.close()
        if check is None or check[0] != "ok":
            raise BackupError(f"{name}: the copy of {source} fails its integrity check: {check}")
        os.replace(partial, final)
    except sqlite3.Error as e:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{name}: cannot back up {source}: {e}") from None
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{name}: cannot write {e.filename or dest}: {e.strerror}") from None
    return Done(name, final, final.stat().st_size, time.time())


def dump_one(name: str, dsn: str, dest: Path, pg_dump: str = "pg_dump", now: float | None = None) -> Done:
    """``pg_dump`` the database at ``dsn`` into ``dest`` as ``<name>-<UTC time>.dump``; raise BackupError."""
    now = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    final = dest / f"{name}-{stamp}.dump"
    partial = dest / f".{final.name}.partial"
    # pg_restore of the same installation reads the dump back: a truncated file fails here.
    pg_restore = str(Path(pg_dump).with_name("pg_restore")) if os.sep in pg_dump else "pg_restore"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        for cmd in (
            [pg_dump, "--format=custom", "--no-password", f"--file={partial}", f"--dbname={dsn}"],
            [pg_restore, "--list", str(partial)],
        ):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=6 * 3600)
            if r.returncode != 0:
                raise BackupError(
                    f"{name}: {Path(cmd[0]).name} failed ({r.returncode}): {r.stderr.strip()[-500:]}"
                )
        os.replace(partial, final)
    except FileNotFoundError as e:
        partial.unlink(missing_ok=True)
        raise BackupError(
            f"{name}: {e.filename}: not found (install the PostgreSQL client, or --pg-dump PATH)"
        ) from None
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{name}: cannot write {e.filename or dest}: {e.strerror}") from None
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    return Done(name, final, final.stat().st_size, time.time())


def prune(dest: Path, name: str, keep: int, suffix: str = ".sqlite") -> list[Path]:
    """Remove the oldest copies of ``name`` beyond ``keep`` (names sort by time)."""
    copies = sorted(dest.glob(f"{name}-*{suffix}"))
    gone = copies[: max(0, len(copies) - keep)]
    for p in gone:
        p.unlink()
    return gone


def _read_textfile(path: Path) -> dict[tuple[str, str], str]:
    """The samples of an earlier textfile, so a source that failed now keeps its last values."""
    out: dict[tuple[str, str], str] = {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        if line.startswith(PREFIX) and '{source="' in line:
            metric, _, rest = line.partition('{source="')
            source, _, value = rest.partition('"} ')
            out[(metric, source)] = value.strip()
    return out


def write_textfile(path: Path, done: list[Done]) -> None:
    samples = _read_textfile(path)
    for d in done:
        samples[(f"{PREFIX}_last_success_timestamp_seconds", d.source)] = f"{d.finished:.3f}"
        samples[(f"{PREFIX}_size_bytes", d.source)] = str(d.size)
    helps = {
        f"{PREFIX}_last_success_timestamp_seconds": "Unix time the last successful backup of the source finished.",
        f"{PREFIX}_size_bytes": "Size of the last successful backup of the source, bytes.",
    }
    lines = []
    for metric, help_text in helps.items():
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge"]
        lines += [f'{metric}{{source="{s}"}} {v}' for (m, s), v in sorted(samples.items()) if m == metric]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)  # node_exporter never reads half a file


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="escrow-exporter backup", description=(__doc__ or "").splitlines()[0])
    p.add_argument(
        "--source", type=_source, action="append", default=[], help="NAME=PATH of a SQLite file, repeatable"
    )
    p.add_argument(
        "--pg",
        type=_pg,
        action="append",
        default=[],
        help="NAME=DSN of a PostgreSQL database to pg_dump, repeatable",
    )
    p.add_argument(
        "--pg-dump",
        default=shutil.which("pg_dump") or "pg_dump",
        help="the pg_dump to run (default: on PATH)",
    )
    p.add_argument("--dest", type=Path, required=True, help="directory of the copies")
    p.add_argument(
        "--keep", type=int, default=28, help="copies kept per source (default 28: a week at 6-hourly)"
    )
    p.add_argument("--textfile", type=Path, help="node_exporter textfile to write the backup metrics to")
    args = p.parse_args(argv)
    if args.keep < 1:
        p.error("--keep must be at least 1")
    if not args.source and not args.pg:
        p.error("nothing to back up: give --source NAME=PATH or --pg NAME=DSN")
    done: list[Done] = []
    failed = 0
    for name, source in args.source:
        try:
            d = backup_one(name, source, args.dest)
        except BackupError as e:
            print(f"backup failed: {e}", file=sys.stderr)
            failed += 1
            continue
        done.append(d)
        prune(args.dest, name, args.keep)
        print(f"backup: {name}: {d.path} ({d.size} bytes)")
    for name, dsn in args.pg:
        try:
            d = dump_one(name, dsn, args.dest, args.pg_dump)
        except BackupError as e:
            print(f"backup failed: {e}", file=sys.stderr)
            failed += 1
            continue
        done.append(d)
        prune(args.dest, name, args.keep, ".dump")
        print(f"backup: {name}: {d.path} ({d.size} bytes)")
    if args.textfile is not None:
        try:
            write_textfile(args.textfile, done)
        except OSError as e:
            print(f"backup: cannot write {args.textfile}: {e.strerror}", file=sys.stderr)
            return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
