"""A webhook sink standing in for Gotify: records every POSTed JSON body, serves them back on GET.

Alertmanager's webhook receiver posts here; tests read ``GET /received`` (or the JSONL file) to see
which alerts arrived.  Bounded: bodies over 1 MiB are refused, at most 10,000 are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 1 << 20
MAX_KEPT = 10_000


class _Sink:
    def __init__(self, record: Path):
        self.record = record
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, path: str, body: Any) -> None:
        entry = {"path": path, "body": body}
        with self.lock:
            if len(self.received) < MAX_KEPT:
                self.received.append(entry)
            with self.record.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")


def make_server(host: str, port: int, record: Path) -> ThreadingHTTPServer:
    """A sink server bound to ``host:port`` appending to ``record`` (JSON lines)."""
    sink = _Sink(record)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_error(413)
                return
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw or b"null")
            except ValueError:
                body = raw.decode("utf-8", "replace")
            sink.add(self.path, body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            with sink.lock:
                data = json.dumps(sink.received).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write(f"webhook-sink {self.address_string()} {fmt % args}\n")

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pytest_zengarden.lab.webhook_sink")
    p.add_argument("--listen", required=True, help="HOST:PORT")
    p.add_argument("--record", required=True, type=Path, help="JSON-lines file of received bodies")
    args = p.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    server = make_server(host, int(port), args.record)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
