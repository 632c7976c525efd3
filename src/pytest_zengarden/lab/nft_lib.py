"""Run ``nft`` scripts in-process through libnftables (the library the ``nft`` binary is built on).

Forking ``nft -f -`` costs milliseconds per call; the library does the same work (parse, one netlink
transaction) without the fork.  :func:`load` returns ``None`` when the library cannot be loaded (not
installed, or no ``nft_run_cmd_from_buffer``), so callers keep ``nft`` as their fallback.

A libnftables context is not thread-safe: :class:`Nft` serializes its use with a lock.  Its netlink
socket belongs to the network namespace it was opened in, so the context is (re)created lazily in
the calling thread's namespace (``setns`` is per thread), as a forked ``nft`` would run there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from dataclasses import dataclass

LIBRARY = "libnftables.so.1"


@dataclass(frozen=True)
class NftResult:
    """What one script produced: the library's return code (0 = success), its output and errors."""

    rc: int
    output: str
    error: str


def _netns() -> tuple[int, int]:
    """The calling thread's network namespace (device, inode)."""
    try:
        st = os.stat("/proc/thread-self/ns/net")
    except OSError:
        return (0, 0)
    return (st.st_dev, st.st_ino)


class Nft:
    """One libnftables context, used under a lock, recreated when the caller's namespace differs."""

    def __init__(self, lib: ctypes.CDLL):
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_free.restype = None
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
            getattr(lib, name).restype = ctypes.c_int
        for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
            getattr(lib, name).restype = ctypes.c_char_p
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        self._lib = lib
        self._lock = threading.Lock()
        self._ctx: int | None = None
        self._ns: tuple[int, int] | None = None

    def _context(self) -> int:
        ns = _netns()
        if self._ctx is not None and self._ns == ns:
            return self._ctx
        self._free()
        ctx = self._lib.nft_ctx_new(0)  # NFT_CTX_DEFAULT
        if not ctx:
            raise OSError("nft_ctx_new failed")
        if self._lib.nft_ctx_buffer_output(ctx) != 0 or self._lib.nft_ctx_buffer_error(ctx) != 0:
            self._lib.nft_ctx_free(ctx)
            raise OSError("libnftables cannot buffer its output")
        self._ctx, self._ns = int(ctx), ns
        return self._ctx

    def _free(self) -> None:
        if self._ctx is not None:
            self._lib.nft_ctx_free(self._ctx)
        self._ctx = self._ns = None

    def run(self, script: str) -> NftResult:
        """Run ``script`` (``nft -f`` syntax) as ``nft -f -`` would: one transaction, all or nothing."""
        with self._lock:
            ctx = self._context()
            rc = self._lib.nft_run_cmd_from_buffer(ctx, script.encode())
            # Reading a buffer also rewinds it: read both after every run, so none carries over.
            out = self._lib.nft_ctx_get_output_buffer(ctx) or b""
            err = self._lib.nft_ctx_get_error_buffer(ctx) or b""
        return NftResult(rc, out.decode(errors="replace"), err.decode(errors="replace"))

    def close(self) -> None:
        with self._lock:
            self._free()


_LOADED: Nft | None = None
_TRIED = False
_LOAD_LOCK = threading.Lock()


def load() -> Nft | None:
    """The process's shared :class:`Nft`, or ``None`` if libnftables is unavailable."""
    global _LOADED, _TRIED
    with _LOAD_LOCK:
        if not _TRIED:
            _TRIED = True
            try:
                _LOADED = Nft(ctypes.CDLL(LIBRARY))
            except (OSError, AttributeError):
                other = ctypes.util.find_library("nftables")  # another soname (runs ldconfig: only here)
                try:
                    _LOADED = Nft(ctypes.CDLL(other)) if other else None
                except (OSError, AttributeError):
                    _LOADED = None
        return _LOADED
