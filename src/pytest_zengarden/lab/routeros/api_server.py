"""The RouterOS binary API (8728, API-SSL 8729) over asyncio streams, on a :class:`ConfigStore`.

Wire protocol as in the design notes §1: length-prefixed words (1–4 byte lengths; the 5-byte form
and control bytes are refused with ``!fatal``), sentences ended by an empty word, plain ``/login``,
``!re``/``!done``/``!trap``/``!fatal`` replies.  Decisions that matter for clients:

* ``.tag`` is echoed only when the client sent one: librouteros cannot parse a ``.tag`` word.
* ``!empty`` (RouterOS 7.18+) is off by default (``emit_empty``) because older clients choke on it.
* A ``!trap`` carries only ``category`` and ``message``: librouteros builds ``TrapError(**words)``.
* ``!fatal`` always carries a reason word: librouteros reads ``words[0]``.
* Commands of one connection run in order; store calls run in a worker thread so a slow apply hook
  or a password hash never stalls the other connections.
* Each login opens a store :class:`~.store.Session` (Safe Mode is bound to it); it is closed when the
  connection ends for any reason - EOF, reset, TLS error, ``/quit``, ``!fatal``, server shutdown - and
  a session that still holds Safe Mode then has its changes undone.  ``/quit`` counts as ending
  without release: RouterOS 7 asks "You are in Safe Mode. Quitting will unroll changes" (measured by
  tik4net on 7.24), although the older manual says ``/quit`` keeps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Iterable, MutableSet

from .schema import MSG, RouterOsError
from .service_gate import admit
from .store import CommandResult, ConfigStore, Session

__all__ = ["decode_length_prefix", "encode_length", "encode_sentence", "serve_api"]

LOG = logging.getLogger("pytest_zengarden.lab.routeros")

MAX_WORD = 1 << 20  # a RouterOS command never needs a megabyte; more is abuse or a framing error
MAX_WORDS = 10_000
LOGIN_FAILED = "invalid user name or password (6)"


class _Fatal(Exception):
    """Reply ``!fatal <reason>`` and close the connection."""


def encode_length(length: int) -> bytes:
    """The API length prefix (big-endian, 1–4 bytes), identical to ``librouteros.protocol.encode_length``."""
    if length < 0x80:
        return length.to_bytes(1, "big")
    if length < 0x4000:
        return (length | 0x8000).to_bytes(2, "big")
    if length < 0x200000:
        return (length | 0xC00000).to_bytes(3, "big")
    if length < 0x10000000:
        return (length | 0xE0000000).to_bytes(4, "big")
    raise ValueError(f"word too long for the API: {length} bytes")


def decode_length_prefix(first: int) -> tuple[int, int]:
    """``(extra bytes to read, high bits)`` for a first length byte; ``_Fatal`` for 0xF0 and up.

    The 5-byte form (0xF0) is valid in the manual but no client sends it (librouteros refuses to),
    and 0xF8–0xFF are reserved control bytes: both mean the stream is not one we can follow.
    """
    if first < 0x80:
        return 0, first
    if first < 0xC0:
        return 1, first & 0x3F
    if first < 0xE0:
        return 2, first & 0x1F
    if first < 0xF0:
        return 3, first & 0x0F
    raise _Fatal(f"unsupported length byte 0x{first:02X}")


def encode_sentence(words: Iterable[str]) -> bytes:
    """Words (UTF-8) with their length prefixes and the terminating empty word."""
    out = bytearray()
    for word in words:
        data = word.encode("utf-8")
        out += encode_length(len(data)) + data
    out += b"\x00"
    return bytes(out)


class _Session:
    """One API connection: login state, then one command at a time."""

    def __init__(
        self,
        store: ConfigStore,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        emit_empty: bool,
        label: str,
    ):
        self.store = store
        self.reader = reader
        self.writer = writer
        self.emit_empty = emit_empty
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.label = label
        self.user: str | None = None
        self.session: Session | None = None  # the store's view of this connection, from login on

    async def _read_word(self) -> str:
        first = (await self.reader.readexactly(1))[0]
        extra, high = decode_length_prefix(first)
        length = high
        if extra:
            length = (high << (8 * extra)) | int.from_bytes(await self.reader.readexactly(extra), "big")
        if length > MAX_WORD:
            raise _Fatal("word too long")
        return (await self.reader.readexactly(length)).decode("utf-8", errors="replace") if length else ""

    async def _read_sentence(self) -> list[str]:
        words: list[str] = []
        while (word := await self._read_word()) != "":
            words.append(word)
            if len(words) > MAX_WORDS:
                raise _Fatal("sentence too long")
        return words

    async def _send(self, sentences: Iterable[list[str]]) -> None:
        self.writer.write(b"".join(encode_sentence(s) for s in sentences))
        await self.writer.drain()

    async def run(self) -> None:
        LOG.info("%s %s: connected", self.label, self.peer)
        try:
            while True:
                sentence = await self._read_sentence()
                if not sentence:
                    continue  # empty sentences are ignored (API manual)
                if not await self._handle(sentence):
                    break
        except _Fatal as fatal:
            LOG.info("%s %s: fatal: %s", self.label, self.peer, fatal)
            with contextlib.suppress(ConnectionError, OSError):
                await self._send([["!fatal", str(fatal)]])
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            pass  # the client went away; nothing to answer
        finally:
            LOG.info("%s %s: closed", self.label, self.peer)
            self.writer.close()
            if self.session is not None:
                # In a worker thread, like every store call (the undo runs the apply hook).  Even if this
                # task is cancelled meanwhile (server shutdown) the thread runs to its end.
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.to_thread(self.store.close_session, self.session)
            with contextlib.suppress(ConnectionError, OSError, ssl.SSLError, asyncio.CancelledError):
                await self.writer.wait_closed()

    async def _handle(self, sentence: list[str]) -> bool:
        """Answer one sentence; ``False`` ends the session."""
        cmd, words = sentence[0], sentence[1:]
        tag: str | None = None
        attrs: dict[str, str] = {}
        query: list[str] = []
        malformed: str | None = None
        for word in words:
            if word.startswith(".tag="):
                tag = word[5:]
            elif word.startswith("="):
                name, sep, value = word[1:].partition("=")
                if not name or not sep:
                    malformed = malformed or word
                else:
                    attrs[name] = value
            elif word.startswith("?"):
                query.append(word)
            elif word.startswith(".") and "=" in word:
                # API attributes other than .tag (e.g. ".proplist=a,b" without the leading "=").
                name, _, value = word.partition("=")
                attrs[name] = value
            else:
                malformed = malformed or word
        tail = [f".tag={tag}"] if tag is not None else []

        if cmd == "/quit":
            LOG.info("%s %s %s: /quit", self.label, self.peer, self.user or "-")
            raise _Fatal("session terminated on request")
        if self.user is None and cmd != "/login":
            raise _Fatal("not logged in")
        if cmd == "/login":
            return await self._login(attrs, tail)

        LOG.info("%s %s %s: %s %s", self.label, self.peer, self.user, cmd, " ".join(sorted(attrs)))
        if cmd == "/cancel":
            # Every command completes before the next is read, so there is never anything to cancel.
            await self._send([["!done", *tail]])
            return True
        try:
            if malformed is not None:
                raise RouterOsError(f"malformed attribute word ({malformed})", 1)
            if not cmd.startswith("/"):
                raise RouterOsError(MSG["no_cmd"].format(cmd), 0)
            result: CommandResult = await asyncio.to_thread(self.store.command, cmd, attrs, query, session=self.session)
        except RouterOsError as err:
            await self._send([_trap(err, tail), ["!done", *tail]])
            return True
        except Exception:  # a bug must not kill the router: report it like RouterOS reports failures
            LOG.exception("%s %s: %s failed", self.label, self.peer, cmd)
            await self._send([_trap(RouterOsError("failure: internal error", 4), tail), ["!done", *tail]])
            return True
        replies = [["!re", *tail, *(f"={k}={v}" for k, v in row.items())] for row in result.rows]
        if not replies and self.emit_empty and cmd.rsplit("/", 1)[-1] in ("print", "getall"):
            replies.append(["!empty", *tail])
        replies.append(["!done", *tail, *(f"={k}={v}" for k, v in result.done.items())])
        await self._send(replies)
        return True

    async def _login(self, attrs: dict[str, str], tail: list[str]) -> bool:
        name, password = attrs.get("name"), attrs.get("password")
        ok = (
            name is not None
            and password is not None
            and await asyncio.to_thread(self.store.check_login, name, password)
        )
        # Never log the password; the name is what an operator needs to see.
        LOG.info("%s %s: login %s %s", self.label, self.peer, name or "-", "ok" if ok else "refused")
        if ok and name is not None:
            self.user = name
            if self.session is None:
                self.session = self.store.open_session(name, f"{self.label} {self.peer} {name}")
            else:
                self.session.user = name  # a second /login on the connection: same session, new user
            await self._send([["!done", *tail]])
        else:
            await self._send([["!trap", *tail, f"=message={LOGIN_FAILED}"], ["!done", *tail]])
        return True


def _trap(err: RouterOsError, tail: list[str]) -> list[str]:
    words = ["!trap", *tail]
    if err.category is not None:
        words.append(f"=category={err.category}")
    words.append(f"=message={err.message}")
    return words


async def serve_api(
    store: ConfigStore,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    *,
    emit_empty: bool = False,
    connections: MutableSet[asyncio.StreamWriter] | None = None,
) -> asyncio.Server:
    """Listen for API clients (API-SSL when ``ssl_context`` is given); several clients at once.

    ``connections`` (optional) collects the open streams so a supervisor can close them on shutdown
    (``Server.close`` leaves established connections open on Python 3.11).
    """
    label = "api-ssl" if ssl_context is not None else "api"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # /ip/service decides before TLS, as RouterOS does: a client it turns away never gets a handshake.
        if not await admit(store, label, reader, writer, LOG, ssl_context):
            return
        if connections is not None:
            connections.add(writer)
        try:
            await _Session(store, reader, writer, emit_empty, label).run()
        finally:
            if connections is not None:
                connections.discard(writer)

    return await asyncio.start_server(handle, host, port)  # TLS, if any, starts in admit()
