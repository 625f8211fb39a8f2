"""Run the simulator (``escrow-exporter devchain``) as a subprocess on a free loopback port."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.util import VENV_BIN, free_port, stop_process, wait_http


class DevchainClient:
    """The simulator's test-facing HTTP API (ground truth, faults, actions); needs ``port``."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def node(self, name: str) -> str:
        return f"{self.url}/node/{name}"

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def state(self) -> dict[str, Any]:
        return dict(self._send("GET", "/_state"))

    def fault(self, node: str = "default", **flags: Any) -> None:
        self._send("POST", "/_faults", {"node": node, **flags})

    def clear_faults(self) -> None:
        self._send("DELETE", "/_faults")

    def action(self, action: str, **params: Any) -> Any:
        return self._send("POST", "/_actions", {"action": action, **params})


class Devchain(DevchainClient):
    def __init__(self, tmp: Path, seed: int = 1, tps: float = 5, extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.log_path = tmp / f"devchain-{self.port}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "escrow-exporter"),
                "devchain",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--seed",
                str(seed),
                "--tps",
                str(tps),
                *extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(f"{self.url}/-/healthy", timeout=30)
        except TimeoutError:
            self.stop()
            raise AssertionError(f"devchain did not start:\n{self.log_path.read_text()}") from None

    def rpc(self, method: str, params: list[Any] | None = None, node: str | None = None) -> Any:
        url = self.node(node) if node else self.url
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


def devchain_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``escrow-exporter devchain`` that must fail at start; a start that hangs fails the test."""
    from tests.support.util import cli

    return cli("devchain", *args, timeout=30)


def assert_fails(out: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    assert out.returncode == code, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert "devchain listening" not in out.stderr
