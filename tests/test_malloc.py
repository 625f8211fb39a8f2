"""The exporter caps glibc's malloc arenas (exporter/malloc.py): the soak's RSS creep came from
worker threads (one per SQL query) each freeing into an arena of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

# Six threads alive at once, each allocating through malloc (bytes over 512 B bypass pymalloc),
# then glibc's malloc_stats() lists one "Arena N:" block per arena on stderr.
_PROBE = textwrap.dedent(
    """
    import ctypes, sys, threading
    from exporter.malloc import limit_arenas
    if sys.argv[1] == "cap":
        assert limit_arenas()
    barrier = threading.Barrier(6)
    def work():
        keep = [bytes(100_000) for _ in range(4)]
        barrier.wait()
    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads: t.start()
    for t in threads: t.join()
    ctypes.CDLL(None).malloc_stats()
    """
)


def _arenas(mode: str, **env: str) -> int:
    base = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], env={**base, **env}, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return sum(line.startswith("Arena ") for line in out.stderr.splitlines())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_threads_share_two_arenas_once_capped() -> None:
    uncapped = _arenas("plain")
    if uncapped == 0:
        pytest.skip("not glibc (no malloc_stats arenas)")
    assert uncapped > 2  # the probe does spread over arenas without the cap
    assert _arenas("cap") <= 2


def test_operator_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.malloc import limit_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_arenas() is False
