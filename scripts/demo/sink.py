"""The native demo's stand-in for Slack, PagerDuty and the dead-man's switch.

Alertmanager's receivers point here (scripts/demo/render_configs.py). Every notification is
answered like the real service would (PagerDuty: 202 with a JSON status) and appended as one
JSON line to the log file, so `tail -f var/demo/notifications.jsonl` shows what would have been
sent.

    python scripts/demo/sink.py --listen 127.0.0.1:9099 --log var/demo/notifications.jsonl
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], log_path: Path) -> None:
        super().__init__(address, Handler)
        self.log_path = log_path
        self.lock = threading.Lock()

    def record(self, path: str, body: object) -> None:
        line = json.dumps({"at": time.time(), "path": path, "body": body}, ensure_ascii=False)
        with self.lock, self.log_path.open("a") as f:
            f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    server: Sink

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(200, {"status": "ok"} if self.path == "/-/healthy" else {"status": "sink"})

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: object = json.loads(raw or b"null")
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.server.record(self.path, body)
        if self.path.startswith("/v2/enqueue"):
            self._answer(202, {"status": "success", "message": "Event processed"})
        else:
            self._answer(200, {"ok": True})

    def _answer(self, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet: the log file is the record
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", default="127.0.0.1:9099", help="HOST:PORT")
    p.add_argument("--log", type=Path, required=True, help="JSON-lines file of received notifications")
    args = p.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    args.log.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = Sink((host, int(port)), args.log)
    except OSError as e:
        print(f"sink: cannot listen on {args.listen}: {e.strerror}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
