"""Small helpers shared by tests: free loopback ports, waiting for HTTP, running the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
FIXTURE_IDLS = SHARED / "fixtures" / "idls"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0, ok_codes: tuple[int, ...] = (200,)) -> None:
    """Wait until ``url`` answers with one of ``ok_codes``; raise with the last error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status in ok_codes:
                    return
                last = r.status
        except urllib.error.HTTPError as e:
            if e.code in ok_codes:
                return
            last = e
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``escrow-exporter ARGS`` from the venv and capture its output."""
    return subprocess.run(
        [str(VENV_BIN / "escrow-exporter"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10) -> int:
    """TERM, then KILL after ``grace`` seconds; return the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return int(proc.returncode)


def write_dedented(directory: Path, name: str, text: str) -> Path:
    """Write ``text`` (dedented, so tests can indent their YAML) to ``directory/name``."""
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def config_problems(load: Callable[[str], object], path: Path) -> list[str]:
    """The problems ``load(path)`` reports in its ConfigError (it must raise one)."""
    from exporter.config import ConfigError

    try:
        load(str(path))
    except ConfigError as e:
        return list(e.problems)
    raise AssertionError(f"{path} loaded without a ConfigError")


#: A dashboard query to check: (dashboard uid, what it is, PromQL, why it may be empty or None).
DashboardQuery = tuple[str, str, str, str | None]


def dashboard_query_failures(
    queries: list[DashboardQuery], run: Callable[[str], tuple[str | None, list[Any]]]
) -> list[str]:
    """Each query that does not parse, or returns no data without a reason to be empty; ``run``
    answers (error, result) for one expression."""
    found = []
    for uid, what, expr, reason in queries:
        error, result = run(expr)
        if error:
            found.append(f"{uid} {what}: does not parse: {error}\n    {expr}")
        elif not result and reason is None:
            found.append(f"{uid} {what}: no data\n    {expr}")
    return found
