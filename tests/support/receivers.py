"""Loopback notification receivers shaped like the real services, for Alertmanager tests.

One threaded HTTP server on 127.0.0.1 serves:

* ``POST /slack/<name>``  Slack incoming webhook: JSON with ``text`` or ``attachments``.
* ``POST /v2/enqueue``    PagerDuty Events v2: ``routing_key``, ``event_action`` and, to trigger,
  ``payload.summary`` / ``payload.severity`` (critical|error|warning|info) / ``payload.source``.
* ``POST /discord``       Discord webhook: ``content`` and/or ``embeds`` within Discord's limits.
* ``POST /deadman``       a dead-man's-switch ping: Alertmanager's webhook JSON (version 4).

Each payload is validated like the real service would; a valid one is recorded and answered
like the service does, an invalid one is answered 400 and its problem kept in ``errors`` (a test
asserts ``errors == []``). Works from sync and async tests alike (its own thread).

    with Receivers() as rx:
        ... point Alertmanager at rx.url ...
        msg = rx.wait_for(lambda: rx.find("pagerduty", summary_contains="EscrowRpcOutage"))
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

T = TypeVar("T")

PD_SEVERITIES = {"critical", "error", "warning", "info"}
PD_ACTIONS = {"trigger", "acknowledge", "resolve"}


@dataclass
class Message:
    kind: str  # slack | pagerduty | discord | deadman
    path: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def text(self) -> str:
        """Everything a human would read in the message, flattened for assertions."""
        return json.dumps(self.body, ensure_ascii=False)


def validate_slack(body: dict[str, Any]) -> list[str]:
    problems = []
    if not body.get("text") and not body.get("attachments") and not body.get("blocks"):
        problems.append("slack: no text, attachments or blocks")
    for i, a in enumerate(body.get("attachments") or []):
        if not isinstance(a, dict):
            problems.append(f"slack: attachments[{i}] is not an object")
            continue
        if not (a.get("text") or a.get("title") or a.get("fallback")):
            problems.append(f"slack: attachments[{i}] has no title, text or fallback")
    return problems


def validate_pagerduty(body: dict[str, Any], routing_keys: set[str] | None) -> list[str]:
    problems = []
    key = body.get("routing_key")
    if not isinstance(key, str) or not key:
        problems.append("pagerduty: routing_key missing")
    elif routing_keys is not None and key not in routing_keys:
        problems.append("pagerduty: unknown routing_key")
    action = body.get("event_action")
    if action not in PD_ACTIONS:
        problems.append(f"pagerduty: event_action {action!r} not in {sorted(PD_ACTIONS)}")
    if action in ("acknowledge", "resolve") and not body.get("dedup_key"):
        problems.append(f"pagerduty: {action} without dedup_key")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*problems, "pagerduty: trigger without payload"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary.strip() or len(summary) > 1024:
            problems.append("pagerduty: payload.summary must be 1..1024 characters")
        if payload.get("severity") not in PD_SEVERITIES:
            problems.append(
                f"pagerduty: payload.severity {payload.get('severity')!r} not in {sorted(PD_SEVERITIES)}"
            )
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            problems.append("pagerduty: payload.source missing")
    return problems


def validate_discord(body: dict[str, Any]) -> list[str]:
    problems = []
    content, embeds = body.get("content"), body.get("embeds")
    if not content and not embeds:
        problems.append("discord: neither content nor embeds")
    if isinstance(content, str) and len(content) > 2000:
        problems.append("discord: content longer than 2000")
    for i, e in enumerate(embeds or []):
        if len(e.get("title", "")) > 256:
            problems.append(f"discord: embeds[{i}].title longer than 256")
        if len(e.get("description", "")) > 4096:
            problems.append(f"discord: embeds[{i}].description longer than 4096")
    return problems


def validate_deadman(body: dict[str, Any]) -> list[str]:
    if body.get("version") != "4" or not isinstance(body.get("alerts"), list):
        return ["deadman: not an Alertmanager webhook (version 4) payload"]
    return []


@dataclass
class Receivers:
    """The four receivers on one free loopback port. ``routing_keys``: PagerDuty keys accepted
    (None accepts any non-empty key)."""

    routing_keys: set[str] | None = None
    messages: list[Message] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "Receivers not started"
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def start(self) -> Receivers:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, reply = owner._handle(self.path, raw, dict(self.headers))
                data = json.dumps(reply).encode() if reply is not None else b""
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receivers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            return self._reject(f"{path}: body is not a JSON object ({e})")
        reply: str | dict[str, Any] | None
        if path.startswith("/slack/"):
            kind, problems, reply = "slack", validate_slack(body), "ok"
        elif path == "/v2/enqueue":
            kind, problems = "pagerduty", validate_pagerduty(body, self.routing_keys)
            reply = {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}
        elif path == "/discord":
            kind, problems, reply = "discord", validate_discord(body), None
        elif path == "/deadman":
            kind, problems, reply = "deadman", validate_deadman(body), None
        else:
            return self._reject(f"{path}: no such receiver")
        if problems:
            return self._reject("; ".join(problems))
        with self._lock:
            self.messages.append(Message(kind, path, body, headers))
        if kind == "pagerduty":
            return 202, reply
        if kind == "slack":
            return 200, None
        return 204, None

    def _reject(self, problem: str) -> tuple[int, Any]:
        with self._lock:
            self.errors.append(problem)
        return 400, {"status": "invalid event", "message": problem}

    # ---- queries -------------------------------------------------------------------------------

    def of(self, kind: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.kind == kind]

    def find(self, kind: str, contains: str = "", path: str | None = None) -> Message | None:
        """The first ``kind`` message whose JSON contains ``contains`` (and at ``path`` if given)."""
        for m in self.of(kind):
            if contains in m.text and (path is None or m.path == path):
                return m
        return None

    def wait_for(self, check: Callable[[], T | None], timeout: float = 20.0, what: str = "") -> T:
        """Poll ``check`` until it returns something truthy; raise naming what never arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(
            f"not received within {timeout}s: {what or check}; got {[(m.kind, m.path) for m in self.messages]};"
            f" rejected: {self.errors}"
        )

    async def async_wait_for(self, check: Callable[[], T | None], timeout: float = 20.0, what: str = "") -> T:
        """``wait_for`` for async tests: does not block the event loop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            await asyncio.sleep(0.1)
        return self.wait_for(check, timeout=0.0, what=what)
