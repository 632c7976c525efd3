"""The emulator's binary API: unmodified librouteros (plain and TLS), raw-socket protocol checks, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import librouteros
import pytest
from librouteros.exceptions import ConnectionClosed, FatalError, TrapError
from librouteros.protocol import decode_length, determine_length, encode_sentence
from librouteros.query import And, Key, Or

from pytest_zengarden.clients.router import RouterApiClient
from pytest_zengarden.errors import TargetError
from pytest_zengarden.lab.routeros import (
    ConfigStore,
    EmulatorThread,
    Listener,
    RouterOsError,
    ServerOptions,
    self_signed_cert,
    server_context,
)
from pytest_zengarden.lab.routeros.api_server import encode_length

PASSWORD = "s3cret-pw"
FILTER = "/ip/firewall/filter"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def emulator(tls_files: tuple[Path, Path]) -> Iterator[EmulatorThread]:
    store = ConfigStore(users={"admin": PASSWORD})
    listeners = [Listener("api"), Listener("api-ssl")]
    with EmulatorThread(store, listeners, ssl_context=server_context(*tls_files)) as emu:
        yield emu


def connect(emu: EmulatorThread, **kw: object) -> librouteros.api.Api:
    host, port = emu.address("api")
    return librouteros.connect(host, "admin", PASSWORD, port=port, timeout=5, **kw)  # type: ignore[arg-type]


class Raw:
    """A hand-rolled API client that shows every reply word (librouteros hides tags and !empty)."""

    def __init__(self, address: tuple[str, int]):
        self.sock = socket.create_connection(address, timeout=5)

    def send(self, *words: str) -> None:
        self.sock.sendall(encode_sentence(*words, encoding="utf-8"))

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def sentence(self) -> list[str]:
        words = []
        while True:
            first = self._read(1)
            if first == b"\x00":
                return words
            raw = first + self._read(determine_length(first))
            words.append(self._read(decode_length(raw)).decode())

    def reply(self) -> list[list[str]]:
        """Sentences up to and including ``!done`` (or ``!fatal``)."""
        out = []
        while True:
            s = self.sentence()
            out.append(s)
            if s[0] in ("!done", "!fatal"):
                return out

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionError:
            return True

    def login(self) -> None:
        self.send("/login", "=name=admin", f"=password={PASSWORD}")
        assert self.reply() == [["!done"]]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_client(emulator: EmulatorThread) -> Iterator[Callable[[], Raw]]:
    """Raw connections to the plain API listener, closed after the test."""
    opened: list[Raw] = []

    def make() -> Raw:
        opened.append(Raw(emulator.address("api")))
        return opened[-1]

    yield make
    for raw in opened:
        raw.close()


# ---------------------------------------------------------------------------------------- librouteros


def test_librouteros_crud_queries_and_move(emulator: EmulatorThread) -> None:
    api = connect(emulator)
    flt = api.path("ip", "firewall", "filter")
    a = flt.add(chain="input", action="accept", comment="a", **{"connection-state": "established,related"})
    b = flt.add(chain="input", action="drop", comment="b", **{"in-interface-list": "!all"})
    c = flt.add(chain="forward", action="accept", comment="c", protocol="tcp", **{"dst-port": "22"})
    assert [r["comment"] for r in flt] == ["a", "b", "c"]
    assert next(r for r in flt if r[".id"] == c)["dst-port"] == 22  # librouteros casts, the router prints "22"

    def where(*q: object) -> list[str]:
        return [r["comment"] for r in flt.select(Key(".id"), Key("comment")).where(*q)]  # type: ignore[arg-type]

    assert where(Key("chain") == "input") == ["a", "b"]
    assert where(Key("chain") != "input") == ["c"]
    assert where(Key("comment").In("a", "c", "zzz")) == ["a", "c"]
    assert where(Or(Key("action") == "drop", Key("protocol") == "tcp")) == ["b", "c"]
    assert where(And(Key("chain") == "input", Key("action") == "accept")) == ["a"]
    assert where(Key("chain") == "input", Key("action") == "drop") == ["b"]  # implicit AND
    assert where(Key("disabled") == False) == ["a", "b", "c"]  # noqa: E712 - sent as "no", stored "false"
    assert list(flt.select(Key("comment"))) == [{"comment": "a"}, {"comment": "b"}, {"comment": "c"}]

    assert tuple(api("/ip/firewall/filter/move", numbers=c, destination=a)) == ()
    assert [r["comment"] for r in flt] == ["c", "a", "b"]
    tuple(api("/ip/firewall/filter/move", numbers=f"{c},{a}"))  # no destination: to the end
    assert [r["comment"] for r in flt] == ["b", "c", "a"]

    flt.update(**{".id": b, "disabled": True, "comment": "b2"})
    row = next(r for r in flt if r[".id"] == b)
    assert row["disabled"] is True and row["comment"] == "b2"
    flt.remove(a, b)
    assert [r[".id"] for r in flt] == [c]
    api.close()


def test_librouteros_over_tls(emulator: EmulatorThread, tls_files: tuple[Path, Path]) -> None:
    host, port = emulator.address("api-ssl")
    # The exact form of the notes: ssl_wrapper=ctx.wrap_socket (chain verified; no hostname to check).
    ctx = ssl.create_default_context(cafile=str(tls_files[0]))
    ctx.check_hostname = False
    api = librouteros.connect(host, "admin", PASSWORD, port=port, timeout=5, ssl_wrapper=ctx.wrap_socket)
    new_id = api.path("/ip/dns/static").add(name="tls.example", address="192.0.2.7")
    assert [r[".id"] for r in api.path("/ip/dns/static")] == [new_id]
    api.close()
    # And with full hostname verification, as the plugin's client does it.
    strict = ssl.create_default_context(cafile=str(tls_files[0]))
    api = librouteros.connect(
        host,
        "admin",
        PASSWORD,
        port=port,
        timeout=5,
        ssl_wrapper=lambda s: strict.wrap_socket(s, server_hostname=host),
    )
    assert list(api.path("/system/identity")) == [{"name": "MikroTik"}]
    api.close()


def test_async_librouteros_over_tls(emulator: EmulatorThread, tls_files: tuple[Path, Path]) -> None:
    host, port = emulator.address("api-ssl")
    ctx = ssl.create_default_context(cafile=str(tls_files[0]))

    async def run() -> list[str]:
        api = await librouteros.async_connect(host, "admin", PASSWORD, port=port, ssl_wrapper=ctx, timeout=5)
        path = api.path("/interface/list")
        await path.add(name="LAN")
        names = [r["name"] async for r in path]
        await api.close()
        return names

    assert asyncio.run(run()) == ["LAN"]


def test_wrong_password_raises_trap_with_routeros_message(emulator: EmulatorThread) -> None:
    host, port = emulator.address("api")
    with pytest.raises(TrapError) as exc:
        librouteros.connect(host, "admin", "wrong", port=port, timeout=5)
    assert exc.value.message == "invalid user name or password (6)"
    with pytest.raises(TrapError):
        librouteros.connect(host, "nobody", PASSWORD, port=port, timeout=5)


def test_traps_keep_the_session_usable(emulator: EmulatorThread) -> None:
    api = connect(emulator)
    flt = api.path(FILTER)
    with pytest.raises(TrapError) as exc:
        flt.add(chain="input", bogus="1")
    assert exc.value.message == "unknown parameter bogus" and exc.value.category == 1
    with pytest.raises(TrapError, match="no such item"):
        flt.remove("*FFFF")
    with pytest.raises(TrapError, match=r"no such command or directory \(frobnicate\)"):
        tuple(api("/ip/firewall/filter/frobnicate"))
    with pytest.raises(TrapError, match="already have such entry"):
        api.path("/interface/list").add(name="LAN")
        api.path("/interface/list").add(name="LAN")
    assert flt.add(chain="input")
    api.close()


def test_concurrent_clients_get_unique_ids(emulator: EmulatorThread) -> None:
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            api = connect(emulator)
            flt = api.path(FILTER)
            results[n] = [flt.add(chain="forward", comment=f"w{n}-{i}") for i in range(8)]
            api.close()
        except BaseException as exc:  # reported below: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    made = [i for ids in results.values() for i in ids]
    assert len(made) == len(set(made)) == 48
    final = list(emulator.store.print(FILTER))
    assert sorted(r[".id"] for r in final) == sorted(made)
    for n, ids in results.items():  # each client's rules are in its own order
        assert [r[".id"] for r in final if r["comment"].startswith(f"w{n}-")] == ids
    api = connect(emulator)
    assert [r[".id"] for r in api.path(FILTER)] == [r[".id"] for r in final]  # the API view agrees
    api.close()


# ---------------------------------------------------------------------------------------- raw protocol


def test_malformed_and_unknown_then_valid_on_one_connection(raw_client: Callable[[], Raw]) -> None:
    raw = raw_client()
    raw.login()
    raw.send("/ip/firewall/filter/add", "=chain=input", "garbage-without-equals")
    (trap, done) = raw.reply()
    assert trap[0] == "!trap" and any(w.startswith("=message=malformed") for w in trap) and done == ["!done"]
    raw.send("/no/such/thing")
    assert raw.reply() == [["!trap", "=category=0", "=message=no such command or directory (no)"], ["!done"]]
    raw.send("/ip/firewall/filter/frobnicate")
    assert raw.reply()[0][-1] == "=message=no such command or directory (frobnicate)"
    raw.send("/ip/firewall/filter/add", "=chain=input")
    (done,) = raw.reply()
    assert done[0] == "!done" and done[1].startswith("=ret=*")
    raw.send("/ip/firewall/filter/print", "=.proplist=chain")
    assert raw.reply() == [["!re", "=chain=input"], ["!done"]]


def test_tag_round_trip_only_when_sent(raw_client: Callable[[], Raw]) -> None:
    raw = raw_client()
    raw.send("/login", "=name=admin", f"=password={PASSWORD}", ".tag=login")
    assert raw.reply() == [["!done", ".tag=login"]]
    raw.send("/ip/firewall/filter/add", "=chain=input", ".tag=7")
    (done,) = raw.reply()
    assert done[:2] == ["!done", ".tag=7"]
    raw.send("/ip/firewall/filter/print", ".tag=8", "=.proplist=chain")
    assert raw.reply() == [["!re", ".tag=8", "=chain=input"], ["!done", ".tag=8"]]
    raw.send("/ip/firewall/filter/nope", ".tag=9")
    reply = raw.reply()
    assert all(s[1] == ".tag=9" for s in reply) and reply[0][0] == "!trap"
    raw.send("/cancel", "=tag=8", ".tag=10")
    assert raw.reply() == [["!done", ".tag=10"]]
    raw.send("/ip/firewall/filter/print", "=.proplist=chain")
    assert raw.reply() == [["!re", "=chain=input"], ["!done"]]  # no tag sent, none echoed


def test_command_before_login_is_fatal(raw_client: Callable[[], Raw]) -> None:
    raw = raw_client()
    raw.send("/ip/address/print")
    assert raw.reply() == [["!fatal", "not logged in"]]
    assert raw.closed()


def test_failed_login_then_retry(raw_client: Callable[[], Raw]) -> None:
    raw = raw_client()
    raw.send("/login", "=name=admin", "=password=nope")
    assert raw.reply() == [["!trap", "=message=invalid user name or password (6)"], ["!done"]]
    raw.login()


def test_quit_and_bad_lengths_are_fatal(raw_client: Callable[[], Raw]) -> None:
    raw = raw_client()
    raw.login()
    raw.send("/quit")
    assert raw.reply() == [["!fatal", "session terminated on request"]]
    assert raw.closed()
    for bad in (b"\xf0\x00\x00\x00\x01", b"\xf8"):  # 5-byte length form, reserved control byte
        raw = raw_client()
        raw.login()
        raw.sock.sendall(bad)
        (fatal,) = raw.reply()
        assert fatal[0] == "!fatal"
        assert raw.closed()


def test_long_words_use_multibyte_lengths(emulator: EmulatorThread) -> None:
    assert encode_length(0x7F) == b"\x7f" and encode_length(0x80) == b"\x80\x80"
    assert encode_length(0x4000) == b"\xc0\x40\x00" and encode_length(0x200000) == b"\xe0\x20\x00\x00"
    api = connect(emulator, encoding="utf-8")
    comment = "ü" * 9000  # 18000 bytes: a 3-byte length on the wire, both ways
    new_id = api.path(FILTER).add(chain="input", comment=comment)
    assert next(r for r in api.path(FILTER) if r[".id"] == new_id)["comment"] == comment
    api.close()


def test_empty_is_opt_in(tls_files: tuple[Path, Path]) -> None:
    store = ConfigStore(users={"admin": PASSWORD})
    with EmulatorThread(store, [Listener("api")], options=ServerOptions(emit_empty=True)) as emu:
        raw = Raw(emu.address("api"))
        raw.login()
        raw.send("/ip/firewall/filter/print")
        assert raw.reply() == [["!empty"], ["!done"]]
        raw.close()
        api = connect(emu)  # librouteros 4.x tolerates !empty
        assert list(api.path(FILTER)) == []
        api.close()


def test_default_has_no_empty(raw_client: Callable[[], Raw]) -> None:
    raw = raw_client()
    raw.login()
    raw.send("/ip/firewall/filter/print")
    assert raw.reply() == [["!done"]]


# ---------------------------------------------------------------------------------------- the process


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"emulator exited early: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError("emulator did not become ready")
        time.sleep(0.05)


def test_cli_process_serves_applies_and_stops_on_sigterm(tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    pw_file = tmp_path / "admin.pw"
    pw_file.write_text(PASSWORD + "\n")
    state, ready = tmp_path / "router.json", tmp_path / "ready.json"
    script = "import sys; sys.exit('nft: rejected' if 'reject-me' in sys.stdin.read() else 0)"
    cmd = [
        sys.executable, "-m", "pytest_zengarden.lab.routeros",
        "--state-file", str(state), "--api", "127.0.0.1:0", "--api-ssl", "127.0.0.1:0", "--rest", "127.0.0.1:0",
        "--cert", str(tls_files[0]), "--key", str(tls_files[1]), "--user", f"admin:{pw_file}",
        "--ready-file", str(ready), "--apply-cmd", shlex.join([sys.executable, "-c", script]),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_for(ready, proc)
        bound = json.loads(ready.read_text())
        assert set(bound) == {"api", "api-ssl", "rest"}
        host, port = bound["api"][0].rsplit(":", 1)
        api = librouteros.connect(host, "admin", PASSWORD, port=int(port), timeout=10)
        flt = api.path(FILTER)
        flt.add(chain="input", comment="ok")
        with pytest.raises(TrapError, match="apply failed: nft: rejected"):
            flt.add(chain="input", comment="reject-me")
        assert [r["comment"] for r in flt] == ["ok"]
        api.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert not ready.exists()  # a supervisor must not mistake a stopped emulator for a ready one
    assert "connected" in stderr and "/ip/firewall/filter/add" in stderr
    assert PASSWORD not in stderr
    saved = json.loads(state.read_text())
    assert [r["comment"] for r in saved["menus"][FILTER]] == ["ok"]


def test_cli_refuses_bad_arguments(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    base = [sys.executable, "-m", "pytest_zengarden.lab.routeros"]
    no_listener = subprocess.run(base, capture_output=True, text=True, env=env, timeout=30)
    assert no_listener.returncode == 2 and "no listener" in no_listener.stderr
    no_cert = subprocess.run([*base, "--api-ssl", "127.0.0.1:0"], capture_output=True, text=True, env=env, timeout=30)
    assert no_cert.returncode == 2 and "--cert" in no_cert.stderr


def test_fatal_from_librouteros_view(emulator: EmulatorThread) -> None:
    api = connect(emulator)
    with pytest.raises(FatalError, match="session terminated on request"):
        tuple(api("/quit"))


def test_initial_apply_and_failing_start() -> None:
    applied: list[int] = []
    store = ConfigStore(on_change=lambda cfg: applied.append(len(cfg.items(FILTER))))
    with EmulatorThread(store, [Listener("api")]):
        assert applied == [0]  # the dataplane is brought in line with the loaded state before serving

    def broken(cfg: object) -> None:
        raise RuntimeError("nft: cannot load ruleset")

    with pytest.raises(RouterOsError, match="cannot load ruleset"):
        EmulatorThread(ConfigStore(on_change=broken), [Listener("api")]).start()


# ---------------------------------------------------------------------------------------- /ip/service


def test_ip_service_decides_who_the_api_serves(emulator: EmulatorThread) -> None:
    """Like RouterOS: a client outside address= gets the handshake, then end-of-stream before the login reply.

    librouteros then raises ConnectionClosed, every time (the emulator never lets a RST overtake its FIN).
    A disabled service does not listen (RouterOS: connection refused); the emulator resets the connection
    at once, so the client's first send or read fails with ConnectionResetError and no byte arrives.
    """
    store = emulator.store
    store.set("/ip/service", "api", {"address": "10.99.0.0/16"})
    for _ in range(5):  # was a coin toss between ConnectionClosed and ConnectionResetError
        with pytest.raises(ConnectionClosed):
            connect(emulator).close()
    raw = Raw(emulator.address("api"))  # the handshake completed: a port scan shows the port open
    raw.send("/login", "=name=admin", f"=password={PASSWORD}")
    assert raw.sock.recv(1) == b""  # an orderly end, no !fatal, no !trap
    raw.close()
    store.set("/ip/service", "api", {"address": "10.99.0.0/16,127.0.0.0/8"})
    api = connect(emulator)
    assert list(api.path("/system/identity"))
    api.close()
    store.set("/ip/service", "api", {"disabled": "true", "address": ""})
    for _ in range(5):
        with pytest.raises(ConnectionResetError):
            connect(emulator).close()
    store.set("/ip/service", "api", {"disabled": "false"})
    connect(emulator).close()


def test_ip_service_turns_tls_clients_away_before_the_handshake(
    emulator: EmulatorThread, tls_files: tuple[Path, Path]
) -> None:
    """api-ssl decides before TLS: a client outside address= never sees a ServerHello; TLS still serves the rest."""
    host, port = emulator.address("api-ssl")
    ctx = ssl.create_default_context(cafile=str(tls_files[0]))
    ctx.check_hostname = False

    def login() -> None:
        librouteros.connect(host, "admin", PASSWORD, port=port, timeout=5, ssl_wrapper=ctx.wrap_socket).close()

    emulator.store.set("/ip/service", "api-ssl", {"address": "10.99.0.0/16"})
    for _ in range(3):
        with pytest.raises(ssl.SSLEOFError):
            login()
    emulator.store.set("/ip/service", "api-ssl", {"disabled": "true", "address": ""})
    with pytest.raises(ConnectionResetError):
        login()
    emulator.store.set("/ip/service", "api-ssl", {"disabled": "false"})
    login()


def test_plugin_client_names_the_ip_service_cause(emulator: EmulatorThread) -> None:
    """The plugin's API client turns the silent close into a TargetError that points at /ip/service."""
    host, port = emulator.address("api")
    emulator.store.set("/ip/service", "api", {"address": "10.99.0.0/16"})
    with pytest.raises(TargetError, match=r"closed the connection before answering.*/ip/service api") as exc:
        RouterApiClient(host, "admin", PASSWORD, port=port)
    assert exc.value.__cause__ is None and exc.value.__context__ is None
    assert PASSWORD not in str(exc.value)
    emulator.store.set("/ip/service", "api", {"disabled": "true", "address": ""})
    with pytest.raises(TargetError, match="connection reset by peer"):
        RouterApiClient(host, "admin", PASSWORD, port=port)
