"""Run the real exporter as a subprocess on a free loopback port (for HTTP and end-to-end tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.support.util import VENV_BIN, free_port, stop_process, wait_http

T = TypeVar("T")


def exporter_argv(config: Path, port: int, *extra: str) -> list[str]:
    """``escrow-exporter run`` on loopback ``port`` with debug logs."""
    return [
        str(VENV_BIN / "escrow-exporter"),
        "run",
        "--config",
        str(config),
        "--web.listen-address",
        f"127.0.0.1:{port}",
        "--log.level",
        "debug",
        *extra,
    ]


class ExporterProcess:
    def __init__(self, config: Path, *extra: str, port: int | None = None, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.config = config
        self.log_path = log or config.with_suffix(".log")
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            exporter_argv(config, self.port, *extra),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_up(self, path: str = "/-/healthy", timeout: float = 20) -> None:
        try:
            wait_http(self.url + path, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"exporter not up; log:\n{self.log()}") from None

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            return str(r.read().decode())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: a crash at an arbitrary point."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> int:
        code = stop_process(self.proc)
        self._log.close()
        return code


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text output, or None if absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, rest = head.partition("{")
        if metric != name:
            continue
        got = {}
        for part in rest.rstrip("}").split('",'):
            if "=" in part:
                k, _, v = part.partition("=")
                got[k.strip()] = v.strip().strip('"')
        if all(got.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


def wait_until(
    predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.2, what: str = "condition"
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
