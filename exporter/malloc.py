"""Cap glibc's malloc arenas: freed SQLite memory in worker threads otherwise stays resident.

Each SQL query runs on a connection of its own in a new aiosqlite worker thread, and metric
snapshots render in executor threads. glibc gives threads their own malloc arenas (up to eight
per core); a query's page cache and sorter (up to the 2 MiB cache size each, more as the ledger
grows) are freed into whichever arena the thread used, fragmented between long-lived allocations,
and rarely returned to the system. RSS then creeps up by about 1 MiB a minute on the demo
traffic although no Python object leaks (tracemalloc and gc counts are flat once the bounded
caches are full): 6 minutes at a steady 5 tx/s grew 7.7% uncapped, 1.6% capped. It is only part
of the soak's growth (25-minute soak: 8.7% uncapped, 7.2% capped; the rest is still to be
found, see bench/soak-25min.json). Two arenas keep that
memory reused instead; the main thread and the workers contend for them only briefly, since
Python holds the GIL around most allocations anyway.

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
