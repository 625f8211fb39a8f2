"""Cap glibc's malloc arenas: freed memory of worker threads otherwise stays resident.

SQL queries run in aiosqlite worker threads and metric snapshots render in executor threads.
glibc gives threads their own malloc arenas (up to eight per core); what those threads free
(SQLite page caches and sorters, render buffers) is fragmented between long-lived allocations
and rarely returned to the system. Measured when every query opened a connection (a new thread)
of its own: 6 minutes at a steady 5 tx/s grew 7.7% uncapped, 1.6% capped. SQLite connections
are now kept per database (``exporter/sql/sqlite.py``), so worker threads no longer churn; the
soak's remaining growth is memory in use, not kept free memory (bench/soak-25min.json). Two
arenas keep freed memory reused; the main thread and the workers contend for them only briefly,
since Python holds the GIL around most allocations anyway.

``MALLOC_ARENA_MAX`` set in the environment wins (glibc read it at start; we leave it alone).
Other C libraries (musl) have no arenas and no ``mallopt``: nothing to do.
"""

from __future__ import annotations

import ctypes
import os

#: glibc's <malloc.h> parameter number for the arena cap.
M_ARENA_MAX = -8
#: Arenas kept: the event loop's and one shared by the worker threads.
ARENAS = 2


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads started from now on; True if the cap was set."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
