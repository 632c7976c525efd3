"""RouterOS 7 REST (``/rest/...``) over a minimal HTTP/1.1 server on asyncio streams.

Semantics as in the design notes §2.1: Basic auth, JSON values always strings, GET = print (object
for singletons), PUT = add, PATCH = set, DELETE = remove, POST ``<menu>/<command>`` = any command with
``.proplist``/``.query``; errors ``{"error": code, "message": reason, "detail": trap message}``.
Success codes of PUT/DELETE are not documented (201/204 per a third-party guide), so they are
parameters.  HTTP support is deliberately small: Content-Length or chunked bodies, keep-alive, no
pipelining guarantees beyond in-order answers, no compression.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import ssl
from collections.abc import MutableSet
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .query import equality_words
from .schema import MENUS, MSG, RouterOsError
from .service_gate import admit
from .store import ConfigStore, unknown_component

__all__ = ["serve_rest"]

LOG = logging.getLogger("pytest_zengarden.lab.routeros")

MAX_HEAD = 64 * 1024
MAX_BODY = 1 << 20
IDLE_TIMEOUT = 60.0


class _BadHttp(Exception):
    """The request cannot be parsed: answer 400 and close."""


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _Response:
    status: int
    body: Any = None  # JSON-serialisable; None = empty body
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, detail: str | None = None) -> _Response:
    body: dict[str, Any] = {"error": status, "message": HTTPStatus(status).phrase}
    if detail is not None:
        body["detail"] = detail
    return _Response(status, body)


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One request, or ``None`` when the client closed the connection between requests."""
    try:
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), IDLE_TIMEOUT)
    except (asyncio.IncompleteReadError, TimeoutError):
        return None
    except asyncio.LimitOverrunError:
        raise _BadHttp("request line too long") from None
    parts = line.decode("latin-1").strip().split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadHttp("malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    size = len(line)
    while True:
        raw = await reader.readuntil(b"\r\n")
        size += len(raw)
        if size > MAX_HEAD:
            raise _BadHttp("headers too large")
        text = raw.decode("latin-1").rstrip("\r\n")
        if not text:
            break
        name, sep, value = text.partition(":")
        if not sep:
            raise _BadHttp("malformed header")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                chunk = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _BadHttp("malformed chunk size") from None
            if chunk == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers are ignored
                break
            if len(chunks) + chunk > MAX_BODY:
                raise _BadHttp("body too large")
            chunks += await reader.readexactly(chunk)
            await reader.readexactly(2)
        body = bytes(chunks)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise _BadHttp("malformed Content-Length") from None
        if length < 0 or length > MAX_BODY:
            raise _BadHttp("body too large")
        body = await reader.readexactly(length)
    return _Request(method, target, version, headers, body)


def _auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _join_list(value: Any) -> Any:
    """REST accepts lists where RouterOS takes comma lists (``.proplist``, ``numbers``)."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value


class _RestHandler:
    def __init__(self, store: ConfigStore, put_status: int, delete_status: int):
        self.store = store
        self.put_status = put_status
        self.delete_status = delete_status

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def handle(self, req: _Request) -> _Response:
        if req.method == "HEAD":
            return _Response(501)  # observed on a CHR; HEAD answers carry no body anyway
        if req.method not in ("GET", "PUT", "PATCH", "DELETE", "POST"):
            return _error(501)
        url = urlsplit(req.target)
        if url.path != "/rest" and not url.path.startswith("/rest/"):
            return _error(404)
        creds = _auth(req.headers.get("authorization"))
        if creds is None or not await self._call(self.store.check_login, *creds):
            return _Response(
                401, {"error": 401, "message": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="REST API"'}
            )
        parts = [unquote(p) for p in url.path[len("/rest") :].split("/") if p]
        try:
            return await self._dispatch(req, parts, url.query)
        except RouterOsError as err:
            return _error(400, err.message)

    def _body(self, req: _Request) -> dict[str, Any] | _Response:
        if not req.body.strip():
            return {}
        try:
            data = json.loads(req.body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"JSON parse error: {exc}")
        if not isinstance(data, dict):
            return _error(400, "expected a JSON object")
        return data

    async def _item_or_404(self, menu: str, ident: str, proplist: str | None = None) -> dict[str, str] | None:
        try:
            row: dict[str, str] = await self._call(self.store.get, menu, ident, proplist)
        except RouterOsError as err:
            if err.message == MSG["no_item"]:
                return None
            raise
        return row

    async def _dispatch(self, req: _Request, parts: list[str], query_string: str) -> _Response:
        # The longest prefix that is a menu; what follows is an item (GET/PATCH/DELETE) or a command (POST).
        menu, rest = None, parts
        for k in range(len(parts), 0, -1):
            candidate = "/" + "/".join(parts[:k])
            if candidate in MENUS:
                menu, rest = candidate, parts[k:]
                break
        if menu is None:
            raise RouterOsError(MSG["no_cmd"].format(unknown_component("/" + "/".join(parts))), 0)
        spec = MENUS[menu]
        if len(rest) > 1:
            raise RouterOsError(MSG["no_cmd"].format(rest[1]), 0)
        item = rest[0] if rest else None

        if req.method == "GET":
            params = dict(parse_qsl(query_string, keep_blank_values=True))
            proplist = params.pop(".proplist", None)
            if proplist is not None and spec.has_ids:
                # Observed on a CHR: GET with .proplist always includes .id.
                names = [n for n in proplist.split(",") if n]
                proplist = ",".join([".id", *[n for n in names if n != ".id"]])
            if item is not None:
                row = await self._item_or_404(menu, item, proplist)
                return _Response(200, row) if row is not None else _error(404)
            rows = await self._call(self.store.print, menu, proplist, equality_words(params))
            if not spec.has_ids:
                return _Response(200, rows[0] if rows else {})
            return _Response(200, rows)

        body = self._body(req)
        if isinstance(body, _Response):
            return body

        if req.method == "PUT":
            if item is not None:
                raise RouterOsError(MSG["no_cmd"].format(item), 0)
            new_id = await self._call(self.store.add, menu, body)
            return _Response(self.put_status, await self._call(self.store.get, menu, new_id))
        if req.method == "PATCH":
            if item is None:
                if spec.has_ids:
                    raise RouterOsError(MSG["missing"].format("numbers"), 1)
                # Singletons (/ip/dns) have no item path; PATCH on the menu sets them [unverified].
                await self._call(self.store.set, menu, None, body)
                return _Response(200, (await self._call(self.store.print, menu))[0])
            if await self._item_or_404(menu, item) is None:
                return _error(404)
            await self._call(self.store.set, menu, item, body)
            return _Response(200, await self._call(self.store.get, menu, item))
        if req.method == "DELETE":
            if item is None:
                raise RouterOsError(MSG["missing"].format("numbers"), 1)
            if await self._item_or_404(menu, item) is None:
                return _error(404)
            await self._call(self.store.remove, menu, item)
            return _Response(self.delete_status)
        # POST <menu>/<command>
        if item is None:
            raise RouterOsError(MSG["no_prefix"], 0)
        words = body.pop(".query", [])
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            return _error(400, ".query must be a list of strings")
        args = {k: _join_list(v) if k in (".proplist", "numbers", ".id") else v for k, v in body.items()}
        result = await self._call(self.store.command, f"{menu}/{item}", args, [f"?{w}" for w in words])
        if result.rows:
            return _Response(200, result.rows)
        if result.done:
            return _Response(200, result.done)
        return _Response(200, [])


def _encode(resp: _Response, keep_alive: bool, head: bool) -> bytes:
    payload = b"" if resp.body is None else json.dumps(resp.body).encode("utf-8")
    lines = [f"HTTP/1.1 {resp.status} {HTTPStatus(resp.status).phrase}"]
    headers = {"Server": "RouterOS emulator (pytest-zengarden)", **resp.headers}
    if payload:
        headers["Content-Type"] = "application/json"
    if resp.status != 204:
        headers["Content-Length"] = str(len(payload))
    headers["Connection"] = "keep-alive" if keep_alive else "close"
    lines += [f"{k}: {v}" for k, v in headers.items()]
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head_bytes if head or resp.status == 204 else head_bytes + payload


async def serve_rest(
    store: ConfigStore,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    *,
    put_status: int = 201,
    delete_status: int = 204,
    connections: MutableSet[asyncio.StreamWriter] | None = None,
) -> asyncio.Server:
    """Listen for REST clients (HTTPS when ``ssl_context`` is given) on ``/rest``."""
    handler = _RestHandler(store, put_status, delete_status)
    label = "rest-ssl" if ssl_context is not None else "rest"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        who = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        # /ip/service decides before TLS, as RouterOS does: a client it turns away never gets a handshake.
        if not await admit(store, label, reader, writer, LOG, ssl_context):
            return
        if connections is not None:
            connections.add(writer)
        LOG.info("%s %s: connected", label, who)
        try:
            while True:
                try:
                    req = await _read_request(reader)
                except _BadHttp as exc:
                    writer.write(_encode(_error(400, str(exc)), keep_alive=False, head=False))
                    await writer.drain()
                    break
                if req is None:
                    break
                conn = req.headers.get("connection", "").lower()
                keep_alive = conn != "close" if req.version == "HTTP/1.1" else conn == "keep-alive"
                try:
                    resp = await handler.handle(req)
                except Exception:  # a bug answers 500 instead of killing the connection silently
                    LOG.exception("%s %s: %s %s failed", label, who, req.method, req.target)
                    resp = _error(500)
                creds = _auth(req.headers.get("authorization"))
                LOG.info(
                    "%s %s %s: %s %s -> %s", label, who, creds[0] if creds else "-", req.method, req.target, resp.status
                )
                writer.write(_encode(resp, keep_alive, head=req.method == "HEAD"))
                await writer.drain()
                if not keep_alive:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError, OSError):
            pass  # client gone or garbage: nothing sensible to answer
        finally:
            if connections is not None:
                connections.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, ssl.SSLError, asyncio.CancelledError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port, limit=MAX_HEAD)  # TLS, if any, starts in admit()
