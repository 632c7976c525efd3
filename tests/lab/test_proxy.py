"""The lab's restrictive proxy against an in-test RouterOS REST stand-in, all on 127.0.0.1.

The proxy runs in a background event-loop thread; the upstream is a small threaded HTTP server that
records every request (method, raw target, headers, body) and keeps a table of static DNS records, so
the external-dns webhook's call sequence (facts §2.5) can be replayed through the proxy end to end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from pytest_zengarden.lab.proxy import (
    MAX_BODY_BYTES,
    ClientAuth,
    HostConfig,
    ProxyConfigError,
    Upstream,
    check_basic_auth,
    is_request_allowed,
    load_config,
    serve_proxy,
    upstream_target,
)

HOST = "mikrotik-proxy.homelab.int.zengarden.space"
CLIENT_USER = "proxy-user"
CLIENT_PW = "client-pw-Q7v2x9"
ROUTER_PW = "router-pw-K3m8z1"
ENV_CLIENT = "ZG_TEST_MIKROTIK_PROXY_AUTH_PASSWORD"
ENV_ROUTER = "ZG_TEST_MIKROTIK_ADMIN_PASSWORD"
LOGGER = "pytest_zengarden.lab.proxy"

# facts §2.2, with the Jinja passwords as ${VAR} references and the upstream in the test
DEPLOYED = f"""\
proxy:
  {HOST}:
    auth:
      username: {CLIENT_USER}
      password: ${{{ENV_CLIENT}}}
    to:
      url: @UPSTREAM@
      username: admin
      password: ${{{ENV_ROUTER}}}
    mode: RESTRICT
    restrictions:
      GET:
        - /rest/ip/dns/static
        - /rest/system/resource
      PUT:
        - /rest/ip/dns/static
"""
WITH_DELETE = DEPLOYED + "      DELETE:\n        - /rest/ip/dns/static/*\n"
WATCH = DEPLOYED.replace("mode: RESTRICT", "mode: WATCH")
OPEN = f"proxy:\n  {HOST}:\n    to:\n      url: @UPSTREAM@\n"  # no auth, no restrictions


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --------------------------------------------------------------------------- the upstream stand-in


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None


class FakeRouter:
    """Just enough of the RouterOS REST API: /rest/system/resource and /rest/ip/dns/static."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.records: list[dict[str, str]] = [
            {".id": "*1", "name": "blade001.zengarden.space", "type": "A", "address": "192.168.77.170"}
        ]
        self._next_id = 0x1A
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, target: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        path = parts.path
        if path == "/rest/system/resource" and method == "GET":
            return 200, {"version": "7.16 (stable)", "board-name": "lab"}, {}
        if path == "/redirect":
            return 302, None, {"Location": "/rest/system/resource"}
        if path == "/rest/ip/dns/static" and method == "GET":
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            types = set(query["type"].split(",")) if "type" in query else None
            with self._lock:
                found = [
                    r
                    for r in self.records
                    if (types is None or r["type"] in types) and query.get("name", r["name"]) == r["name"]
                ]
            return 200, found, {}
        if path == "/rest/ip/dns/static" and method == "PUT":
            record = json.loads(body)
            with self._lock:
                record[".id"] = f"*{self._next_id:X}"
                self._next_id += 1
                self.records.append(record)
            return 201, record, {}
        if path.startswith("/rest/ip/dns/static/") and method == "DELETE":
            wanted = unquote(path.rsplit("/", 1)[1])
            with self._lock:
                before = len(self.records)
                self.records = [r for r in self.records if r[".id"] != wanted]
                gone = len(self.records) < before
            return (204, None, {}) if gone else (404, {"error": 404, "message": "no such item"}, {})
        return 404, {"error": 404, "message": "Not Found"}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        router = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                router.requests.append(Seen(self.command, self.path, list(self.headers.items()), body))
                status, payload, extra = router.answer(self.command, self.path, body)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                if payload is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# --------------------------------------------------------------------------- fixtures


class LoopThread:
    """An asyncio loop in a daemon thread, for the proxy under test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    r = FakeRouter()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CLIENT, CLIENT_PW)
    monkeypatch.setenv(ENV_ROUTER, ROUTER_PW)


@pytest.fixture
def start(loop_thread: LoopThread, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[str], str]]:
    """Write a config, load it, serve it on 127.0.0.1:<free port>; returns the proxy's base URL."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    servers: list[asyncio.Server] = []

    def _start(config_text: str) -> str:
        path = tmp_path / f"proxy-{len(servers)}.yaml"
        path.write_text(config_text)
        config = load_config(path)
        server = loop_thread.run(serve_proxy(config, "127.0.0.1", 0, upstream_timeout=3.0))
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield _start
    for server in servers:
        loop_thread.loop.call_soon_threadsafe(server.close)


def client(base: str, *, auth: tuple[str, str] | None = (CLIENT_USER, CLIENT_PW), host: str = HOST) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Host": host}, auth=auth, trust_env=False, timeout=10)


def log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


# --------------------------------------------------------------------------- the deployed config


def test_get_list_is_allowed_and_credentials_are_replaced(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    with client(base) as c:
        r = c.get("/rest/ip/dns/static")
    assert r.status_code == 200
    assert r.json()[0]["name"] == "blade001.zengarden.space"
    seen = router.requests[-1]
    assert (seen.method, seen.target) == ("GET", "/rest/ip/dns/static")
    assert seen.header("Authorization") == basic("admin", ROUTER_PW)
    assert seen.header("Host") == router.netloc  # changeOrigin
    assert CLIENT_PW not in json.dumps(seen.headers)
    assert basic(CLIENT_USER, CLIENT_PW) not in json.dumps(seen.headers)
    assert log_lines(caplog) == ["ALLOWED GET /rest/ip/dns/static"]


def test_query_string_is_forwarded_unchanged(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    with client(base) as c:
        r = c.get("/rest/ip/dns/static?type=A,AAAA,CNAME,TXT,MX,SRV,NS&x=%20y?z")
    assert r.status_code == 200
    assert router.requests[-1].target == "/rest/ip/dns/static?type=A,AAAA,CNAME,TXT,MX,SRV,NS&x=%20y?z"
    assert log_lines(caplog) == ["ALLOWED GET /rest/ip/dns/static"]  # the path alone, before the first '?'


def test_put_is_allowed_with_its_body(start: Callable[[str], str], router: FakeRouter) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    record = {"name": "gitea.homelab.int.zengarden.space", "type": "A", "address": "192.168.77.200"}
    with client(base) as c:
        r = c.put("/rest/ip/dns/static", json=record)
    assert r.status_code == 201
    assert r.json()[".id"] == "*1A"
    seen = router.requests[-1]
    assert seen.method == "PUT" and json.loads(seen.body) == record
    assert seen.header("Content-Length") == str(len(seen.body))


def test_delete_of_a_record_is_refused_the_deployment_gap(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    with client(base) as c:
        r = c.delete("/rest/ip/dns/static/*1A")
    assert r.status_code == 403
    assert r.headers["content-type"] == "text/plain"
    assert r.content == b"Forbidden: Access restricted by proxy policy"
    assert router.requests == []
    assert log_lines(caplog) == ["RESTRICTED DELETE /rest/ip/dns/static/*1A"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/rest/ip/dns/static"),
        ("PATCH", "/rest/ip/dns/static/*1"),
        ("GET", "/rest/system/script"),
        ("GET", "/rest/ip/dns/static/*1"),
        ("GET", "/rest/ip/dns/static/../../system/script"),
        ("PUT", "/rest/ip/dns/static/x"),
    ],
)
def test_everything_else_is_refused(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture, method: str, path: str
) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    reply = raw_exchange(
        int(base.rsplit(":", 1)[1]),
        f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: {basic(CLIENT_USER, CLIENT_PW)}\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n".encode(),
    )
    assert reply.startswith(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n")
    assert reply.endswith(b"2c\r\nForbidden: Access restricted by proxy policy\r\n0\r\n\r\n")
    assert router.requests == []
    assert log_lines(caplog) == [f"RESTRICTED {method} {path}"]


def test_slash_variants_match_and_are_forwarded_collapsed(start: Callable[[str], str], router: FakeRouter) -> None:
    """minimatch lets ``//rest/ip/dns/static`` through; http-proxy's urlJoin then collapses the slashes."""
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    port = int(base.rsplit(":", 1)[1])
    for target, upstream in [
        ("//rest/ip/dns/static", "/rest/ip/dns/static"),
        ("/rest/ip/dns/static/", "/rest/ip/dns/static/"),
        ("/rest//system///resource?a=//b", "/rest/system/resource?a=//b"),
    ]:
        head = f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: {basic(CLIENT_USER, CLIENT_PW)}\r\n"
        reply = raw_exchange(port, (head + "Connection: close\r\n\r\n").encode())
        assert not reply.startswith(b"HTTP/1.1 403"), reply  # allowed: the upstream's own answer is relayed
        assert router.requests[-1].target == upstream


def raw_exchange(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes (or the timeout), return what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
        return out


# --------------------------------------------------------------------------- routing and client auth


@pytest.mark.parametrize("host", ["unknown.example", HOST.upper(), f"x{HOST}"])
def test_unknown_host_gets_404(start: Callable[[str], str], router: FakeRouter, host: str) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    with client(base, host=host) as c:
        r = c.get("/rest/ip/dns/static")
    assert r.status_code == 404
    assert r.headers["content-type"] == "text/plain"
    assert r.content == b"Unknown host"
    assert router.requests == []


def test_host_header_port_is_ignored(start: Callable[[str], str], router: FakeRouter) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    with client(base, host=f"{HOST}:5555") as c:
        assert c.get("/rest/system/resource").status_code == 200


def test_no_host_header_gets_nodes_400(start: Callable[[str], str], router: FakeRouter) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    reply = raw_exchange(int(base.rsplit(":", 1)[1]), b"GET /rest/ip/dns/static HTTP/1.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n")
    assert router.requests == []


@pytest.mark.parametrize("request_line", [b"get /rest/ip/dns/static HTTP/1.1", b"FOO /rest/ip/dns/static HTTP/1.1"])
def test_methods_nodes_parser_refuses_get_a_raw_400(
    start: Callable[[str], str], router: FakeRouter, request_line: bytes
) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    reply = raw_exchange(int(base.rsplit(":", 1)[1]), request_line + b"\r\nHost: " + HOST.encode() + b"\r\n\r\n")
    assert reply == b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        basic(CLIENT_USER, "wrong"),
        basic("admin", ROUTER_PW),
        basic(CLIENT_USER, CLIENT_PW).replace("Basic", "basic"),
        basic(CLIENT_USER, CLIENT_PW[:-1]),
        basic(CLIENT_USER + " ", CLIENT_PW),
        "Bearer " + CLIENT_PW,
    ],
)
def test_missing_or_wrong_client_auth_gets_401(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture, authorization: str | None
) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    headers = {"Host": HOST} | ({"Authorization": authorization} if authorization else {})
    with httpx.Client(base_url=base, trust_env=False) as c:
        r = c.get("/rest/ip/dns/static", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Basic realm="Restrictive Proxy"'
    assert r.headers["content-type"] == "text/plain"
    assert r.content == b"Unauthorized"
    assert router.requests == []
    assert log_lines(caplog) == [f"UNAUTHORIZED request to {HOST}"]


def test_without_auth_or_to_credentials_the_client_header_passes(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    base = start(OPEN.replace("@UPSTREAM@", router.url))
    with client(base, auth=("someone", "theirs")) as c:
        assert c.get("/rest/ip/dns/static").status_code == 200
    assert router.requests[-1].header("Authorization") == basic("someone", "theirs")
    assert log_lines(caplog) == ["POTENTIALLY-DISALLOWED GET /rest/ip/dns/static"]


# --------------------------------------------------------------------------- WATCH, errors, limits


def test_watch_mode_allows_and_tags(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    base = start(WATCH.replace("@UPSTREAM@", router.url))
    with client(base) as c:
        assert c.delete("/rest/ip/dns/static/*1").status_code == 204
        assert c.get("/rest/ip/dns/static").status_code == 200
        assert c.get("/rest/ip/route").status_code == 404  # the upstream's own 404, relayed
    assert [s.method for s in router.requests] == ["DELETE", "GET", "GET"]
    assert router.records == []
    assert log_lines(caplog) == [
        "POTENTIALLY-DISALLOWED DELETE /rest/ip/dns/static/*1",
        "ALLOWED GET /rest/ip/dns/static",
        "POTENTIALLY-DISALLOWED GET /rest/ip/route",
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_upstream_down_gives_502(start: Callable[[str], str], caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    base = start(DEPLOYED.replace("@UPSTREAM@", f"http://127.0.0.1:{port}"))
    with client(base) as c:
        r = c.get("/rest/ip/dns/static")
    assert r.status_code == 502
    assert r.headers["content-type"] == "text/plain"
    assert r.content == b"Bad Gateway"
    assert log_lines(caplog) == [
        "ALLOWED GET /rest/ip/dns/static",
        f"Proxy error for GET /rest/ip/dns/static: connect ECONNREFUSED 127.0.0.1:{port}",
    ]


def test_a_url_node_cannot_parse_drops_the_connection(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    """``url.parse`` throws inside http-proxy and the original process exits: the client sees no answer."""
    base = start(OPEN.replace("@UPSTREAM@", router.url))
    reply = raw_exchange(
        int(base.rsplit(":", 1)[1]), f"GET http://[::1]:80x/y HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    )
    assert reply == b""
    assert router.requests == []
    assert log_lines(caplog)[-1].startswith("Proxy crash for GET http://[::1]:80x/y: TypeError [ERR_INVALID_URL]")


def test_redirects_are_followed(start: Callable[[str], str], router: FakeRouter) -> None:
    base = start(OPEN.replace("@UPSTREAM@", router.url))
    with client(base, auth=None) as c:
        r = c.get("/redirect")
    assert r.status_code == 200 and r.json()["board-name"] == "lab"
    assert [s.target for s in router.requests] == ["/redirect", "/rest/system/resource"]


def test_body_over_follow_redirects_limit_gets_502(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    with client(base) as c:
        r = c.put("/rest/ip/dns/static", content=b"x" * (MAX_BODY_BYTES + 1))
    assert r.status_code == 502 and r.content == b"Bad Gateway"
    assert router.requests == []
    assert (
        log_lines(caplog)[-1] == "Proxy error for PUT /rest/ip/dns/static: Request body larger than maxBodyLength limit"
    )


def test_logs_never_contain_passwords(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    base = start(WITH_DELETE.replace("@UPSTREAM@", router.url))
    with client(base) as c:
        c.get("/rest/ip/dns/static")
        c.get(f"/rest/{CLIENT_PW}/{ROUTER_PW}")
        c.delete("/rest/ip/dns/static/*1")
        c.post("/rest/ip/dns/static", json={"password": ROUTER_PW})
    with client(base, auth=(CLIENT_USER, ROUTER_PW)) as c:
        c.get("/rest/ip/dns/static")
    with client(base, auth=("admin", CLIENT_PW)) as c:
        c.get("/rest/ip/dns/static")
    down = start(DEPLOYED.replace("@UPSTREAM@", f"http://127.0.0.1:{free_port()}"))
    with client(down) as c:
        c.get("/rest/ip/dns/static")
    text = caplog.text + "\n".join(log_lines(caplog))
    assert len(log_lines(caplog)) == 8
    for secret in (CLIENT_PW, ROUTER_PW, basic(CLIENT_USER, CLIENT_PW)[6:], basic("admin", ROUTER_PW)[6:]):
        assert secret not in text


def test_config_reprs_hide_passwords(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path / "p.yaml", DEPLOYED.replace("@UPSTREAM@", "http://192.168.77.1")))
    assert CLIENT_PW not in repr(config) and ROUTER_PW not in repr(config)
    cfg = config.hosts[HOST]
    assert cfg.to.password == ROUTER_PW and cfg.auth is not None and cfg.auth.password == CLIENT_PW


# --------------------------------------------------------------------------- the external-dns webhook (facts §2.5)


def webhook_sync(base: str, username: str, password: str) -> list[int]:
    """external-dns-provider-mikrotik v1.4.4's calls for: start, list, create one A record, delete it."""
    statuses: list[int] = []
    with httpx.Client(base_url=base, headers={"Host": HOST}, auth=(username, password), trust_env=False) as c:
        statuses.append(c.get("/rest/system/resource").status_code)
        statuses.append(c.get("/rest/ip/dns/static", params={"type": "A,AAAA,CNAME,TXT,MX,SRV,NS"}).status_code)
        created = c.put(
            "/rest/ip/dns/static",
            json={"name": "gitea.homelab.int.zengarden.space", "type": "A", "address": "192.168.77.200"},
        )
        statuses.append(created.status_code)
        found = c.get("/rest/ip/dns/static", params={"name": "gitea.homelab.int.zengarden.space", "type": "A"})
        statuses.append(found.status_code)
        record_id = found.json()[0][".id"]
        statuses.append(c.delete(f"/rest/ip/dns/static/{record_id}").status_code)
    return statuses


def test_webhook_sequence_with_a_delete_rule(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    base = start(WITH_DELETE.replace("@UPSTREAM@", router.url))
    assert webhook_sync(base, CLIENT_USER, CLIENT_PW) == [200, 200, 201, 200, 204]
    assert [r["name"] for r in router.records] == ["blade001.zengarden.space"]
    assert [(s.method, s.target) for s in router.requests] == [
        ("GET", "/rest/system/resource"),
        ("GET", "/rest/ip/dns/static?type=A%2CAAAA%2CCNAME%2CTXT%2CMX%2CSRV%2CNS"),
        ("PUT", "/rest/ip/dns/static"),
        ("GET", "/rest/ip/dns/static?name=gitea.homelab.int.zengarden.space&type=A"),
        ("DELETE", "/rest/ip/dns/static/*1A"),
    ]
    assert {s.header("Authorization") for s in router.requests} == {basic("admin", ROUTER_PW)}
    assert log_lines(caplog) == [
        "ALLOWED GET /rest/system/resource",
        "ALLOWED GET /rest/ip/dns/static",
        "ALLOWED PUT /rest/ip/dns/static",
        "ALLOWED GET /rest/ip/dns/static",
        "ALLOWED DELETE /rest/ip/dns/static/*1A",
    ]


def test_webhook_sequence_with_the_deployed_config_cannot_delete(
    start: Callable[[str], str], router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    base = start(DEPLOYED.replace("@UPSTREAM@", router.url))
    assert webhook_sync(base, CLIENT_USER, CLIENT_PW) == [200, 200, 201, 200, 403]
    assert "gitea.homelab.int.zengarden.space" in [r["name"] for r in router.records]
    assert log_lines(caplog)[-1] == "RESTRICTED DELETE /rest/ip/dns/static/*1A"


# --------------------------------------------------------------------------- config loading


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Cannot read properties of undefined (reading 'proxy')"),
        ("~\n", "Cannot read properties of null (reading 'proxy')"),
        ("proxy:\n  h:\n", "Cannot read properties of null (reading 'to')"),
        (
            "proxy:\n  h:\n    to: {url: 'http://x', password: 12}\n",
            "settings.to.password.startsWith is not a function",
        ),
        (
            "proxy:\n  h:\n    to: {url: 'http://x'}\n    auth: {username: u, password: [1]}\n",
            "settings.auth.password.startsWith is not a function",
        ),
        ("proxy:\n  h:\n    mode: RESTRICT\n", "proxy.h.to.url is required"),
        ("proxy:\n  h:\n    to: {url: 'ftp://x'}\n", "must be an http:// or https:// URL"),
        ("proxy:\n  h:\n    to: {url: 'http://x'}\n    restrictions: {GET: /rest}\n", "must be a list of glob strings"),
        ("proxy:\n  h:\n    to: {url: 'http://x'}\n    restrictions: {GET: ['{1..2..0}']}\n", "step 0"),
        ("proxy:\n  h: {to: {url: 'http://x'}}\n  h: {to: {url: 'http://y'}}\n", "duplicated mapping key"),
        ("proxy: [\n", "while parsing"),
    ],
)
def test_bad_configs_are_refused_with_the_startup_message(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "bad.yaml", text)
    with pytest.raises(ProxyConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"Failed to load config from {path}: ")
    assert message in str(info.value)


def test_missing_file_message(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ProxyConfigError) as info:
        load_config(path)
    assert str(info.value) == f"Failed to load config from {path}: ENOENT: no such file or directory, open '{path}'"


@pytest.mark.parametrize("text", ["other: 1\n", "proxy:\n", "proxy: null\n", "- a\n", "just a string\n"])
def test_no_proxy_section(tmp_path: Path, text: str) -> None:
    with pytest.raises(ProxyConfigError) as info:
        load_config(_write(tmp_path / "p.yaml", text))
    assert str(info.value) == "No proxy configuration found"


def test_password_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_EMPTY", "")
    monkeypatch.delenv("ZG_UNSET", raising=False)
    text = (
        "proxy:\n"
        "  a: {to: {url: 'http://x', username: u, password: '${ZG_TEST_MIKROTIK_ADMIN_PASSWORD}'}}\n"
        "  b: {to: {url: 'http://x', username: u, password: '${ZG_UNSET}'}}\n"
        "  c: {to: {url: 'http://x', username: u, password: '${ZG_EMPTY}'}}\n"
        "  d: {to: {url: 'http://x', username: u, password: 'x${ZG_TEST_MIKROTIK_ADMIN_PASSWORD}'}}\n"
        "  e: {to: {url: 'http://x'}, auth: {username: u, password: '${ZG_TEST_MIKROTIK_PROXY_AUTH_PASSWORD}'}}\n"
    )
    hosts = load_config(_write(tmp_path / "p.yaml", text)).hosts
    assert hosts["a"].to.password == ROUTER_PW
    assert hosts["b"].to.password == "${ZG_UNSET}"
    assert hosts["c"].to.password == "${ZG_EMPTY}"
    assert hosts["d"].to.password == "x${ZG_TEST_MIKROTIK_ADMIN_PASSWORD}"
    assert hosts["e"].auth is not None and hosts["e"].auth.password == CLIENT_PW


def test_yaml_is_read_as_js_yaml_reads_it(tmp_path: Path) -> None:
    text = (
        "proxy:\n"
        "  h:\n"
        "    to: {url: 'http://x', username: admin, password: no}\n"  # YAML 1.2: the string "no"
        "    auth: {username: on, password: yes}\n"  # strings too, not booleans
        "    restrictions: {GET: [], PUT: null}\n"
    )
    cfg = load_config(_write(tmp_path / "p.yaml", text)).hosts["h"]
    assert cfg.to.password == "no"
    assert cfg.auth == ClientAuth(username="on", password="yes")
    assert cfg.mode == "WATCH"  # the default
    assert cfg.restrictions == {"GET": ()}
    # 0123 is the number 123 for js-yaml: a truthy non-string password fails as in server.js
    with pytest.raises(ProxyConfigError, match=r"settings\.to\.password\.startsWith is not a function"):
        load_config(_write(tmp_path / "q.yaml", "proxy:\n  h:\n    to: {url: 'http://x', password: 0123}\n"))


def test_deployed_template_parses(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path / "p.yaml", DEPLOYED.replace("@UPSTREAM@", "http://192.168.77.1"))).hosts[HOST]
    assert cfg.mode == "RESTRICT"
    assert cfg.to == Upstream(url="http://192.168.77.1", username="admin", password=ROUTER_PW)
    assert cfg.restrictions == {
        "GET": ("/rest/ip/dns/static", "/rest/system/resource"),
        "PUT": ("/rest/ip/dns/static",),
    }


# --------------------------------------------------------------------------- pure parts


def _host(mode: str | None, restrictions: dict[str, tuple[str, ...]] | None) -> HostConfig:
    return HostConfig(host="h", to=Upstream("http://x"), mode=mode, restrictions=restrictions)


@pytest.mark.parametrize(
    ("mode", "restrictions", "method", "path", "expected"),
    [
        ("RESTRICT", None, "DELETE", "/x", (True, "POTENTIALLY-DISALLOWED")),
        ("RESTRICT", {}, "GET", "/x", (False, "RESTRICTED")),
        ("RESTRICT", {"GET": ("/x",)}, "GET", "/x", (True, "ALLOWED")),
        ("RESTRICT", {"GET": ("/x",)}, "GET", "/y", (False, "RESTRICTED")),
        ("RESTRICT", {"GET": ()}, "GET", "/x", (False, "RESTRICTED")),
        ("RESTRICT", {"GET": ("/x",)}, "get", "/x", (False, "RESTRICTED")),
        ("WATCH", {"GET": ("/x",)}, "GET", "/x", (True, "ALLOWED")),
        ("WATCH", {"GET": ("/x",)}, "GET", "/y", (True, "POTENTIALLY-DISALLOWED")),
        ("WATCH", {"GET": ("/x",)}, "POST", "/x", (True, "POTENTIALLY-DISALLOWED")),
        # a mode that is neither: methods without an entry are refused, methods with one always pass
        ("restrict", {"GET": ("/x",)}, "POST", "/x", (False, "RESTRICTED")),
        (None, {"GET": ("/x",)}, "GET", "/y", (True, "POTENTIALLY-DISALLOWED")),
    ],
)
def test_is_request_allowed(
    mode: str | None,
    restrictions: dict[str, tuple[str, ...]] | None,
    method: str,
    path: str,
    expected: tuple[bool, str],
) -> None:
    assert is_request_allowed(_host(mode, restrictions), method, path) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic cHJveHktdXNlcjpwdw==", True),
        ("Basic cHJveHktdXNlcjpwdw", True),  # no padding
        ("Basic cHJveHkt dXNlcjpwdw==", False),  # only the second space-separated word is decoded
        ("Basic cHJ*veHktdXNlcjpwdw==junk", True),  # Node skips characters outside the alphabet, stops at '='
        ("Basic cHJveHktdXNlcjpwdzpleHRyYQ==", True),  # "proxy-user:pw:extra": fields 0 and 1 only
        ("basic cHJveHktdXNlcjpwdw==", False),
        ("Basic  cHJveHktdXNlcjpwdw==", False),
        ("Basic cHJveHktdXNlcg==", False),  # no ':'
        ("", False),
    ],
)
def test_check_basic_auth_is_nodes(header: str, expected: bool) -> None:
    assert check_basic_auth(header, "proxy-user", "pw") is expected


@pytest.mark.parametrize(
    ("to_url", "request_url", "expected"),
    [  # each checked against url.parse + http-proxy 1.18.1 urlJoin under Node 20
        ("http://192.168.77.1", "/rest/ip/dns/static", "/rest/ip/dns/static"),
        ("http://192.168.77.1", "//rest/ip/dns/static?x=1&y=%20?z", "/rest/ip/dns/static?x=1&y=%20?z"),
        ("http://192.168.77.1", "/x\\y?a\\b", "/x/y?a\\b"),
        ("http://192.168.77.1", "/x#y", "/x"),
        ("http://192.168.77.1", "http://evil/x?q#f", "/x?q"),
        ("http://192.168.77.1", "//u@evil/x?q", "/x?q"),
        ("http://192.168.77.1", "*", "/*"),
        ("http://192.168.77.1", "/a/../b", "/a/../b"),
        ("http://192.168.77.1", '/x"y#z', "/x%22y"),
        ("http://h:8080/base/", "/x//y?q=//", "/base/x/y?q=//"),
        ("http://h/base", "/redirect/http://x", "/base/redirect/http://x"),
        ("http://192.168.77.1", "/rest/ip/dns/static/*1A", "/rest/ip/dns/static/*1A"),
        ("http://192.168.77.1", "///x", "/x"),
        ("http://192.168.77.1", '/x@y"z', "/x@y%22z"),
        ("http://192.168.77.1", "HTTP://A:80/b", "/b"),
    ],
)
def test_upstream_target_is_http_proxys(to_url: str, request_url: str, expected: str) -> None:
    assert upstream_target(to_url, request_url) == expected


# --------------------------------------------------------------------------- the command line


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_zengarden.lab.proxy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_cli_startup_failure_exits_1_with_the_message(tmp_path: Path) -> None:
    missing = tmp_path / "missing.conf"
    proc = _cli("--config", str(missing), "--listen", "127.0.0.1:0")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert err.strip() == f"Failed to load config from {missing}: ENOENT: no such file or directory, open '{missing}'"
    empty = _write(tmp_path / "empty.conf", "other: {}\n")
    proc = _cli("--listen", "127.0.0.1:0", env={"CONFIG_PATH": str(empty)})
    _, err = proc.communicate(timeout=20)
    assert (proc.returncode, err.strip()) == (1, "No proxy configuration found")


def test_cli_serves_until_sigterm(tmp_path: Path, router: FakeRouter) -> None:
    config = _write(tmp_path / "p.conf", DEPLOYED.replace("@UPSTREAM@", router.url))
    with _cli("--listen", "127.0.0.1:0", env={"CONFIG_PATH": str(config), "PORT": "1"}) as proc:
        try:
            assert proc.stderr is not None
            first = proc.stderr.readline()
            assert first.startswith("Restrictive proxy server running on port "), first
            port = int(first.rsplit(" ", 1)[1])
            assert proc.stderr.readline().strip() == f"Configuration loaded from {config}"
            assert proc.stderr.readline().strip() == f"Configured hosts: {HOST}"
            with client(f"http://127.0.0.1:{port}") as c:
                assert c.get("/rest/system/resource").status_code == 200
            assert proc.stderr.readline().strip() == "ALLOWED GET /rest/system/resource"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
