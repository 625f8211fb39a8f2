"""The seal of one program's saved state: a digest over its cursor row and every counter row.

SQLite's own checks (``PRAGMA integrity_check``) find damaged pages and b-trees, but not a
bit flipped inside a stored value: "1734" reads back as well as "1234". So each program's
state carries a seal, written in the same transaction as the rows it covers and checked
when the state is loaded; any difference stops ingestion instead of counting on from a
wrong total.

The seal is the sum (mod 2**256) of one SHA-256 per row (cursor, counters, per-minute
block-time buckets and pushed transactions), so a commit updates it from the
rows it changes (subtract the old row's digest, add the new one's) instead of rehashing
every counter. It detects damage, not tampering: whoever can write the file can reseal it.
"""

from __future__ import annotations

import hashlib
import json

_MOD = 1 << 256


def _digest(parts: list[object]) -> int:
    text = json.dumps(parts, separators=(",", ":"), ensure_ascii=True)
    return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


def cursor_digest(
    program: str, program_id: str, signature: str | None, slot: int | None, block_time: int | None
) -> int:
    return _digest(["cursor", program, program_id, signature, slot, block_time])


def counter_digest(program: str, metric: str, labels: str, value: str) -> int:
    """``labels`` and ``value`` as stored (JSON text, decimal text)."""
    return _digest(["counter", program, metric, labels, value])


def minute_digest(program: str, minute: int, metric: str, labels: str, value: str) -> int:
    """One per-minute block-time bucket; ``labels`` and ``value`` as stored."""
    return _digest(["minute", program, minute, metric, labels, value])


def pushed_digest(program: str, signature: str, slot: int, deferred: str) -> int:
    """One transaction counted from its notification (the logs source), not yet listed."""
    return _digest(["pushed", program, signature, slot, deferred])


def add(seal: int, digest: int) -> int:
    return (seal + digest) % _MOD


def remove(seal: int, digest: int) -> int:
    return (seal - digest) % _MOD


def to_text(seal: int) -> str:
    return f"{seal:064x}"
