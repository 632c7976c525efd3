"""Running the emulator: listeners, the apply hook, the programmatic entry point and a thread wrapper.

:func:`run_emulator` is what the lab integrator calls (its nftables compiler plugs in as
``on_change``); :class:`EmulatorThread` runs the same thing in a background thread with its own
event loop, for tests and for embedding in a synchronous pytest session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from ...facts.router import RouterConfig
from .api_server import serve_api
from .rest_server import serve_rest
from .schema import RouterOsError
from .store import ChangeHook, ConfigStore

__all__ = [
    "Bound",
    "EmulatorThread",
    "Listener",
    "ServerOptions",
    "apply_command_hook",
    "config_to_json",
    "run_emulator",
]

LOG = logging.getLogger("pytest_zengarden.lab.routeros")

ListenerKind = Literal["api", "api-ssl", "rest", "rest-ssl"]
Bound = dict[str, list[tuple[str, int]]]  # kind -> bound (host, port), e.g. to learn ports chosen for 0


@dataclass(frozen=True)
class Listener:
    """One listening socket: which service, where (port 0 = any free port)."""

    kind: ListenerKind
    host: str = "127.0.0.1"
    port: int = 0

    @classmethod
    def parse(cls, kind: ListenerKind, spec: str) -> Listener:
        """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as given on the command line."""
        host, sep, port = spec.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"--{kind}: expected HOST:PORT, got {spec!r}")
        return cls(kind, host.strip("[]") or "127.0.0.1", int(port))


@dataclass(frozen=True)
class ServerOptions:
    """Protocol choices the design notes leave open (unverified on a real router)."""

    emit_empty: bool = False  # API: send `!empty` before `!done` when a print finds nothing (ROS 7.18+)
    put_status: int = 201  # REST: status of a successful PUT (add)
    delete_status: int = 204  # REST: status of a successful DELETE (remove)


def config_to_json(config: RouterConfig) -> str:
    """A snapshot as JSON: ``{"source": ..., "menus": {"/ip/firewall/filter": [{...}, ...], ...}}``."""
    menus = {menu: [dict(rec) for rec in records] for menu, records in config.menus.items()}
    return json.dumps({"source": config.source, "menus": menus}, indent=1)


def apply_command_hook(command: str, timeout: float = 30.0) -> ChangeHook:
    """An ``on_change`` hook piping :func:`config_to_json` into ``command`` (split like a shell, not run by one).

    A non-zero exit, a timeout or a command that cannot start fails the write; the client sees the
    last line of the command's stderr.
    """
    argv = shlex.split(command)
    if not argv:
        raise ValueError("--apply-cmd is empty")

    def hook(config: RouterConfig) -> None:
        try:
            proc = subprocess.run(
                argv, input=config_to_json(config), text=True, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise RouterOsError(f"failure: apply timed out after {timeout:g}s", 4) from None
        except OSError as exc:
            raise RouterOsError(f"failure: apply command did not start ({exc.strerror or exc})", 4) from None
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            reason = lines[-1] if lines else f"exit status {proc.returncode}"
            raise RouterOsError(f"failure: apply failed: {reason}", 4)

    return hook


def _write_ready(path: Path, bound: Bound) -> None:
    """Ready file, atomically, so a supervisor polling for it never reads half of it."""
    data = {kind: [f"{h}:{p}" for h, p in addrs] for kind, addrs in bound.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


_KEEP = object()


async def run_emulator(
    store: ConfigStore,
    listeners: Sequence[Listener],
    *,
    ssl_context: ssl.SSLContext | None = None,
    on_change: ChangeHook | object | None = _KEEP,
    options: ServerOptions | None = None,
    stop: asyncio.Event | None = None,
    ready_file: str | os.PathLike[str] | None = None,
    on_ready: Callable[[Bound], None] | None = None,
    apply_at_start: bool = True,
) -> None:
    """Serve ``store`` on every listener until ``stop`` is set (forever without one), then shut down cleanly.

    ``on_change`` (if given) replaces the store's hook; with ``apply_at_start`` it is run once on the
    loaded state before listening, so the dataplane matches the persisted configuration (a failure
    there aborts the start).  Once every socket is bound, ``ready_file`` is written (JSON: kind ->
    ``["host:port", ...]``) and ``on_ready`` called with the bound addresses; the ready file is
    removed at shutdown.
    """
    options = options or ServerOptions()
    if on_change is not _KEEP:
        store.on_change = on_change  # type: ignore[assignment]
    if any(lst.kind.endswith("-ssl") for lst in listeners) and ssl_context is None:
        raise ValueError("api-ssl/rest-ssl listeners need an ssl_context (--cert/--key)")
    if apply_at_start:
        await asyncio.to_thread(store.reapply)
    connections: set[asyncio.StreamWriter] = set()
    servers: list[asyncio.Server] = []
    bound: Bound = {}
    ready_path = Path(ready_file) if ready_file is not None else None
    try:
        for lst in listeners:
            ctx = ssl_context if lst.kind.endswith("-ssl") else None
            if lst.kind.startswith("api"):
                server = await serve_api(
                    store, lst.host, lst.port, ctx, emit_empty=options.emit_empty, connections=connections
                )
            else:
                server = await serve_rest(
                    store,
                    lst.host,
                    lst.port,
                    ctx,
                    put_status=options.put_status,
                    delete_status=options.delete_status,
                    connections=connections,
                )
            servers.append(server)
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                bound.setdefault(lst.kind, []).append((host, port))
                LOG.info("%s listening on %s:%s", lst.kind, host, port)
        if ready_path is not None:
            _write_ready(ready_path, bound)
        if on_ready is not None:
            on_ready(bound)
        await (stop or asyncio.Event()).wait()
    finally:
        for server in servers:
            server.close()
        for writer in list(connections):
            writer.close()  # Python 3.11's Server.close leaves accepted connections open
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
        if ready_path is not None:
            with contextlib.suppress(OSError):
                ready_path.unlink()
        LOG.info("emulator stopped")


class EmulatorThread:
    """:func:`run_emulator` in a daemon thread with its own event loop; a context manager.

    ``start()`` returns once every listener is bound (or raises what went wrong, including a failed
    initial apply when the store has an ``on_change`` hook and ``apply_at_start`` is true);
    ``address("api")`` gives the first bound ``(host, port)`` of a kind.
    """

    def __init__(
        self,
        store: ConfigStore,
        listeners: Sequence[Listener],
        *,
        ssl_context: ssl.SSLContext | None = None,
        options: ServerOptions | None = None,
        apply_at_start: bool = True,
        startup_timeout: float = 10.0,
    ):
        self.store = store
        self._listeners = list(listeners)
        self._ssl = ssl_context
        self._options = options
        self._apply_at_start = apply_at_start
        self._timeout = startup_timeout
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.bound: Bound = {}

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(bound: Bound) -> None:
                self.bound = bound
                self._ready.set()

            await run_emulator(
                self.store,
                self._listeners,
                ssl_context=self._ssl,
                options=self._options,
                stop=self._stop,
                on_ready=ready,
                apply_at_start=self._apply_at_start,
            )

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced by start(); a thread has nobody else to tell
            self._error = exc
        finally:
            self._ready.set()

    def start(self) -> Bound:
        self._thread = threading.Thread(target=self._main, name="routeros-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._timeout):
            raise TimeoutError("RouterOS emulator did not start in time")
        if self._error is not None:
            raise self._error
        return self.bound

    def address(self, kind: ListenerKind) -> tuple[str, int]:
        return self.bound[kind][0]

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already finished
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> EmulatorThread:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
