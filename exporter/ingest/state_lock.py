"""One exporter process per state file: an exclusive ``flock`` on a ``<state>.lock`` sidecar.

Two processes counting into one state file would each add their batches to totals the other
one is also writing, and nothing in SQLite would notice. So the first process takes the lock
when it starts (``escrow-exporter run``, before it listens) and holds it until it exits; a
second process is refused with the holder's pid. The kernel drops the lock when its holder
dies, ``kill -9`` included, so a stale lock file never blocks a restart.

``flock`` locks belong to an open file description: two opens in one process would conflict.
Every ``StateStore`` of a process therefore shares one lock per file, counted by reference.
"""

from __future__ import annotations

import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path


class StateError(Exception):
    """The state file cannot be used. The message names the file and the cause, never a secret.

    ``reason`` is the collector's reason label: ``state_unavailable`` (cannot be opened, read or
    written; may pass), ``state_damaged`` (its content is wrong; needs the operator) or
    ``state_locked`` (another exporter process uses it).
    """

    def __init__(self, message: str, reason: str = "state_unavailable") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class _Held:
    fd: int
    users: int


_held: dict[str, _Held] = {}
_guard = threading.Lock()


def lock_path(state_path: str) -> str:
    return state_path + ".lock"


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


def acquire(state_path: str) -> None:
    """Take (or share, inside this process) the exclusive lock of ``state_path``."""
    key = os.path.realpath(lock_path(state_path))
    with _guard:
        held = _held.get(key)
        if held is not None:
            held.users += 1
            return
        try:
            Path(key).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise StateError(f"state file {state_path}: cannot open lock file {key}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = _holder(fd)
            os.close(fd)
            raise StateError(
                f"state file {state_path} is in use by another exporter process (pid {pid}, lock {key}); "
                "two processes on one state file would corrupt its totals: stop the other process, "
                "or give this one its own state.path",
                reason="state_locked",
            ) from None
        # Who holds it, for the refusal above; written after locking, so only by the holder.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[key] = _Held(fd, 1)


def release(state_path: str) -> None:
    """Drop one use; the last one unlocks. The lock file stays (deleting it would let a new
    process lock a fresh inode while the old holder still counts)."""
    key = os.path.realpath(lock_path(state_path))
    with _guard:
        held = _held.get(key)
        if held is None:
            return
        held.users -= 1
        if held.users == 0:
            del _held[key]
            os.close(held.fd)
