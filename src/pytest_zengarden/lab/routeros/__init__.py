"""A RouterOS 7 emulator for the lab: one configuration store behind the binary API and REST.

* :class:`ConfigStore` - menus, RouterOS command semantics, queries, persistence, ``on_change`` hook;
* :func:`serve_api` / :func:`serve_rest` - the two protocols on asyncio streams;
* :func:`run_emulator` / :class:`EmulatorThread` - run them together (``python -m`` for a process).

Unmodified librouteros and httpx, and the plugin's own router clients, talk to it as to a router.
"""

from __future__ import annotations

from .api_server import serve_api
from .emulator import (
    EmulatorThread,
    Listener,
    ServerOptions,
    apply_command_hook,
    config_to_json,
    run_emulator,
)
from .rest_server import serve_rest
from .schema import RouterOsError, StoreOptions
from .store import ChangeHook, CommandResult, ConfigStore
from .tls import self_signed_cert, server_context

__all__ = [
    "ChangeHook",
    "CommandResult",
    "ConfigStore",
    "EmulatorThread",
    "Listener",
    "RouterOsError",
    "ServerOptions",
    "StoreOptions",
    "apply_command_hook",
    "config_to_json",
    "run_emulator",
    "self_signed_cert",
    "serve_api",
    "serve_rest",
    "server_context",
]
