"""RouterOS Safe Mode in the emulator, over its binary API with unmodified librouteros (127.0.0.1 only).

take / release / unroll, the undo when the holding session ends without release (close, reset, TLS,
/quit), one holder at a time, the silent drop past 100 actions, the apply hook and the state file.
"""

from __future__ import annotations

import json
import queue
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import librouteros
import pytest
from librouteros.exceptions import ConnectionClosed, FatalError, TrapError

from pytest_zengarden.clients.router import RouterApiClient
from pytest_zengarden.errors import TargetError
from pytest_zengarden.facts.router import RouterConfig
from pytest_zengarden.lab.routeros import (
    ConfigStore,
    EmulatorThread,
    Listener,
    RouterOsError,
    self_signed_cert,
    server_context,
)
from pytest_zengarden.lab.routeros.schema import SAFE_MODE_MAX_ACTIONS

PASSWORD = "s3cret-pw"
FILTER = "/ip/firewall/filter"
WAIT = 10.0  # bound on waiting for the server to handle a closed connection (it is event-driven)
NOT_TAKEN = "Safe Mode has not been taken. Action aborted."


class Applied:
    """The apply hook: every configuration the store hands to the dataplane, in order."""

    def __init__(self) -> None:
        self.configs: queue.Queue[RouterConfig] = queue.Queue()

    def __call__(self, config: RouterConfig) -> None:
        self.configs.put(config)

    def drain(self) -> None:
        while not self.configs.empty():
            self.configs.get_nowait()

    def next(self) -> RouterConfig:
        return self.configs.get(timeout=WAIT)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def applied() -> Applied:
    return Applied()


@pytest.fixture
def store(tmp_path: Path, applied: Applied) -> ConfigStore:
    return ConfigStore(tmp_path / "state.json", users={"admin": PASSWORD, "other": PASSWORD}, on_change=applied)


@pytest.fixture
def emulator(store: ConfigStore, tls_files: tuple[Path, Path]) -> Iterator[EmulatorThread]:
    with EmulatorThread(store, [Listener("api"), Listener("api-ssl")], ssl_context=server_context(*tls_files)) as emu:
        yield emu


def connect(emu: EmulatorThread, user: str = "admin", kind: str = "api") -> Any:
    host, port = emu.address(kind)  # type: ignore[arg-type]
    wrapper = None
    if kind == "api-ssl":
        import ssl

        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

        def wrapper(sock: socket.socket) -> socket.socket:
            return ctx.wrap_socket(sock)

    return librouteros.connect(host, user, PASSWORD, port=port, timeout=5, ssl_wrapper=wrapper)


def state(store: ConfigStore) -> dict[str, list[dict[str, str]]]:
    """Every menu as print shows it (but /system/resource, whose uptime moves)."""
    return {m: store.print(m) for m in store.menus() if m != "/system/resource"}


def saved_filter(store_path: Path) -> list[dict[str, str]]:
    data: dict[str, Any] = json.loads(store_path.read_text(encoding="utf-8"))
    assert "safe_mode" not in data  # no checkpoint left once Safe Mode is over
    rules: list[dict[str, str]] = data["menus"][FILTER]
    return rules


def change_everything(api: Any) -> None:
    """add, set, unset, remove, move and enable/disable in several menus, as provisioning would."""
    flt = api.path(FILTER)
    flt.add(chain="input", action="accept", comment="new-1")
    flt.add(chain="forward", action="drop", comment="new-2")
    first = next(r[".id"] for r in flt if r.get("comment") == "before-1")
    second = next(r[".id"] for r in flt if r.get("comment") == "before-2")
    flt.update(**{".id": first, "comment": "changed"})
    flt.remove(second)
    tuple(api("/ip/firewall/filter/move", numbers=first))  # to the end
    tuple(api("/ip/firewall/filter/unset", **{".id": first, "value-name": "comment"}))
    api.path("/ip/dns").update(servers="9.9.9.9", **{"allow-remote-requests": "yes"})
    api.path("/interface/list").add(name="LAN")
    tuple(api("/ip/service/disable", numbers="telnet"))
    api.path("/user").add(name="ops", group="full", password="ops-pw")


def seed(store: ConfigStore) -> None:
    store.add(FILTER, {"chain": "input", "action": "accept", "comment": "before-1"})
    store.add(FILTER, {"chain": "input", "action": "drop", "comment": "before-2"})
    store.add(FILTER, {"chain": "input", "action": "drop", "comment": "before-3"})


# ------------------------------------------------------------------------------ release and unroll


def test_release_keeps_every_change(emulator: EmulatorThread, store: ConfigStore, tmp_path: Path) -> None:
    seed(store)
    api = connect(emulator)
    tuple(api("/safe-mode/take"))
    assert store.safe_mode_holder is not None and store.safe_mode_holder.user == "admin"
    change_everything(api)
    changed = state(store)
    tuple(api("/safe-mode/release"))
    assert store.safe_mode_holder is None
    api.protocol.transport.sock.close()  # even an abrupt end undoes nothing once released
    assert store.wait_sessions_closed(WAIT)
    assert state(store) == changed
    assert [r.get("comment") for r in saved_filter(tmp_path / "state.json")] == ["before-3", "new-1", "new-2", None]
    assert store.check_login("ops", "ops-pw")


def test_unroll_restores_the_state_at_take_everywhere(
    emulator: EmulatorThread, store: ConfigStore, applied: Applied, tmp_path: Path
) -> None:
    seed(store)
    before = state(store)
    api = connect(emulator)
    tuple(api("/safe-mode/take"))
    change_everything(api)
    assert state(store) != before and store.check_login("ops", "ops-pw")
    applied.drain()
    tuple(api("/safe-mode/unroll"))
    assert state(store) == before
    assert not store.check_login("ops", "ops-pw")  # the user added in safe mode is gone with its password
    # The dataplane was handed the undone configuration, and the state file says the same.
    config = applied.next()
    assert [dict(r) for r in config.menus[FILTER]] == before[FILTER]
    assert [dict(r) for r in config.menus["/ip/dns"]] == before["/ip/dns"]
    assert [r.get("comment") for r in saved_filter(tmp_path / "state.json")] == ["before-1", "before-2", "before-3"]
    # Safe Mode is over: a second unroll or a release is refused, and later changes stay after a drop.
    for cmd in ("/safe-mode/unroll", "/safe-mode/release"):
        with pytest.raises(TrapError, match=NOT_TAKEN):
            tuple(api(cmd))
    new_id = api.path(FILTER).add(chain="input", comment="after")
    assert new_id not in {r[".id"] for r in before[FILTER]}  # ids are never reissued
    api.protocol.transport.sock.close()
    assert store.wait_sessions_closed(WAIT)
    assert [r.get("comment") for r in store.print(FILTER)] == ["before-1", "before-2", "before-3", "after"]


def test_a_failed_apply_leaves_the_unroll_undone_and_safe_mode_held(
    emulator: EmulatorThread, store: ConfigStore
) -> None:
    api = connect(emulator)
    tuple(api("/safe-mode/take"))
    api.path(FILTER).add(chain="input", comment="kept-for-now")

    def refuse(config: RouterConfig) -> None:
        raise RuntimeError("nft: rejected")

    good, store.on_change = store.on_change, refuse
    with pytest.raises(TrapError, match="nft: rejected"):
        tuple(api("/safe-mode/unroll"))
    assert [r.get("comment") for r in store.print(FILTER)] == ["kept-for-now"]
    assert store.safe_mode_holder is not None
    store.on_change = good
    tuple(api("/safe-mode/unroll"))
    assert store.print(FILTER) == [] and store.safe_mode_holder is None
    api.close()


# ------------------------------------------------------------------------------ the session ends


def _close(api: Any) -> None:
    api.protocol.transport.sock.close()


def _reset(api: Any) -> None:
    sock = api.protocol.transport.sock
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
    sock.close()


def _quit(api: Any) -> None:
    # The API's /quit ends the session without release: RouterOS 7 unrolls then ("Quitting will unroll").
    with pytest.raises((FatalError, ConnectionClosed)):
        tuple(api("/quit"))
    api.close()


@pytest.mark.parametrize(
    ("kind", "end"),
    [("api", _close), ("api", _reset), ("api", _quit), ("api-ssl", _close), ("api-ssl", _reset)],
    ids=["close", "reset", "quit", "tls-close", "tls-reset"],
)
def test_a_session_ending_in_safe_mode_undoes_its_changes(
    emulator: EmulatorThread, store: ConfigStore, applied: Applied, tmp_path: Path, kind: str, end: Any
) -> None:
    seed(store)
    before = state(store)
    api = connect(emulator, kind=kind)
    tuple(api("/safe-mode/take"))
    change_everything(api)
    applied.drain()
    end(api)
    # The server notices the end when its read fails; the undo then runs the apply hook.
    config = applied.next()
    assert [dict(r) for r in config.menus[FILTER]] == before[FILTER]
    assert store.wait_sessions_closed(WAIT)
    assert state(store) == before and store.safe_mode_holder is None
    assert [r.get("comment") for r in saved_filter(tmp_path / "state.json")] == ["before-1", "before-2", "before-3"]


def test_other_sessions_changes_are_undone_with_the_holders(emulator: EmulatorThread, store: ConfigStore) -> None:
    """The manual: all changes made while in safe mode, "also from other login sessions", are undone."""
    holder, other = connect(emulator), connect(emulator)
    tuple(holder("/safe-mode/take"))
    holder.path(FILTER).add(chain="input", comment="holder")
    other.path(FILTER).add(chain="input", comment="other")
    _close(holder)
    other.close()
    assert store.wait_sessions_closed(WAIT)
    assert store.print(FILTER) == []


# ------------------------------------------------------------------------------ one holder


def test_only_one_session_holds_safe_mode(emulator: EmulatorThread, store: ConfigStore) -> None:
    holder, same_user, other_user = connect(emulator), connect(emulator), connect(emulator, "other")
    tuple(holder("/safe-mode/take"))
    tuple(holder("/safe-mode/take"))  # taking it again in the holding session is no error
    with pytest.raises(TrapError, match="Safe Mode is taken by current user in another session"):
        tuple(same_user("/safe-mode/take"))
    with pytest.raises(TrapError, match=r"Safe Mode is taken by another user \(admin\)"):
        tuple(other_user("/safe-mode/take"))
    for cmd in ("/safe-mode/release", "/safe-mode/unroll"):  # nor may another session end it
        with pytest.raises(TrapError, match=NOT_TAKEN):
            tuple(same_user(cmd))
    holder_session = store.safe_mode_holder
    assert holder_session is not None and holder_session.user == "admin"
    tuple(holder("/safe-mode/release"))
    tuple(other_user("/safe-mode/take"))  # free again
    assert store.safe_mode_holder is not None and store.safe_mode_holder.user == "other"
    for api in (holder, same_user, other_user):
        api.close()
    assert store.wait_sessions_closed(WAIT)


def test_safe_mode_commands_take_no_arguments_and_need_a_session(emulator: EmulatorThread, store: ConfigStore) -> None:
    api = connect(emulator)
    with pytest.raises(TrapError, match="unknown parameter on-error"):
        tuple(api("/safe-mode/take", **{"on-error": "release"}))
    with pytest.raises(TrapError, match="no such command or directory \\(toggle\\)"):
        tuple(api("/safe-mode/toggle"))
    api.close()
    with pytest.raises(RouterOsError, match="needs a session"):
        store.command("/safe-mode/take", {})  # REST has no session to bind it to


# ------------------------------------------------------------------------------ 100 actions


@pytest.mark.parametrize("actions", [SAFE_MODE_MAX_ACTIONS, SAFE_MODE_MAX_ACTIONS + 1])
def test_past_100_actions_safe_mode_ends_silently_and_nothing_is_undone(
    emulator: EmulatorThread, store: ConfigStore, applied: Applied, actions: int
) -> None:
    assert SAFE_MODE_MAX_ACTIONS == 100
    api = connect(emulator)
    tuple(api("/safe-mode/take"))
    flt = api.path(FILTER)
    for n in range(actions):
        flt.add(chain="input", comment=f"r{n}")  # no trap, no warning, even for the 101st
    assert len(store.print(FILTER)) == actions
    applied.drain()
    _close(api)
    assert store.wait_sessions_closed(WAIT)
    if actions <= SAFE_MODE_MAX_ACTIONS:
        assert store.print(FILTER) == []  # 100 fit in the history: all undone
        assert [dict(r) for r in applied.next().menus[FILTER]] == []
    else:
        assert [r["comment"] for r in store.print(FILTER)] == [f"r{n}" for n in range(actions)]
        assert applied.configs.empty()  # no undo was applied


def test_after_the_silent_drop_the_session_no_longer_holds_safe_mode(
    emulator: EmulatorThread, store: ConfigStore
) -> None:
    api = connect(emulator)
    tuple(api("/safe-mode/take"))
    for n in range(SAFE_MODE_MAX_ACTIONS + 1):
        api.path(FILTER).add(chain="input", comment=f"r{n}")
    assert store.safe_mode_holder is None
    with pytest.raises(TrapError, match=NOT_TAKEN):
        tuple(api("/safe-mode/unroll"))
    assert len(store.print(FILTER)) == SAFE_MODE_MAX_ACTIONS + 1
    api.close()


# ------------------------------------------------------------------------------ persistence


def test_an_emulator_stopped_in_safe_mode_comes_back_undone(tmp_path: Path) -> None:
    """Like a router rebooted in safe mode: the checkpoint is in the state file until release or unroll."""
    path = tmp_path / "state.json"
    store = ConfigStore(path, users={"admin": PASSWORD})
    store.add(FILTER, {"chain": "input", "comment": "before"})
    session = store.open_session("admin", "test")
    store.safe_mode_take(session)
    new_id = store.add(FILTER, {"chain": "input", "comment": "in-safe-mode"})
    assert "safe_mode" in json.loads(path.read_text(encoding="utf-8"))
    # The process dies here (nothing else runs); a new one loads the file.
    again = ConfigStore(path, users={"admin": PASSWORD})
    assert [r["comment"] for r in again.print(FILTER)] == ["before"]
    assert again.safe_mode_holder is None and saved_filter(path)[0]["comment"] == "before"
    assert again.add(FILTER, {"chain": "input"}) != new_id  # ids issued in safe mode are not reissued


def test_a_released_checkpoint_is_not_undone_at_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = ConfigStore(path, users={"admin": PASSWORD})
    session = store.open_session("admin", "test")
    store.safe_mode_take(session)
    store.add(FILTER, {"chain": "input", "comment": "kept"})
    store.safe_mode_release(session)
    assert [r["comment"] for r in ConfigStore(path).print(FILTER)] == ["kept"]


# ------------------------------------------------------------------------------ the plugin's client


def test_router_api_client_safe_mode(emulator: EmulatorThread, store: ConfigStore) -> None:
    host, port = emulator.address("api")
    client = RouterApiClient(host, "admin", PASSWORD, port=port)
    second = RouterApiClient(host, "admin", PASSWORD, port=port)
    try:
        client.safe_mode_take()
        client.add(FILTER, {"chain": "input", "comment": "undone"})
        with pytest.raises(TargetError, match=r"/safe-mode/take: .*taken by current user in another session"):
            second.safe_mode_take()
        client.safe_mode_unroll()
        assert store.print(FILTER) == []
        client.safe_mode_take()
        client.add(FILTER, {"chain": "input", "comment": "kept"})
        client.safe_mode_release()
        with pytest.raises(TargetError, match=r"/safe-mode/release: .*has not been taken"):
            client.safe_mode_release()
    finally:
        client.close()
        second.close()
    assert store.wait_sessions_closed(WAIT)
    assert [r["comment"] for r in store.print(FILTER)] == ["kept"]
