"""The emulator's REST API with httpx (HTTP and HTTPS), and the plugin's own clients over both protocols."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytest_zengarden.clients.router import DEFAULT_MENUS, RouterApiClient, RouterRestClient, snapshot
from pytest_zengarden.errors import TargetError
from pytest_zengarden.facts.router import RouterConfig
from pytest_zengarden.lab.routeros import (
    ConfigStore,
    EmulatorThread,
    Listener,
    ServerOptions,
    self_signed_cert,
    server_context,
)

PASSWORD = "s3cret-pw"
FILTER = "/rest/ip/firewall/filter"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def emulator(tls_files: tuple[Path, Path]) -> Iterator[EmulatorThread]:
    store = ConfigStore(users={"admin": PASSWORD})
    store.set("/ip/service", "www-ssl", {"disabled": "false"})  # off at factory state, as on a new router
    listeners = [Listener("api"), Listener("api-ssl"), Listener("rest"), Listener("rest-ssl")]
    with EmulatorThread(store, listeners, ssl_context=server_context(*tls_files)) as emu:
        yield emu


def base(emu: EmulatorThread, kind: str = "rest") -> str:
    host, port = emu.address(kind)  # type: ignore[arg-type]
    return f"{'https' if kind.endswith('ssl') else 'http'}://{host}:{port}"


@pytest.fixture
def http(emulator: EmulatorThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base(emulator), auth=("admin", PASSWORD), timeout=5) as client:
        yield client


# ---------------------------------------------------------------------------------------- httpx


def test_crud_with_status_codes(http: httpx.Client) -> None:
    assert http.get(FILTER).json() == []
    created = http.put(FILTER, json={"chain": "input", "action": "drop", "dst-port": 22, "log": True})
    assert created.status_code == 201
    rule = created.json()
    assert rule["dst-port"] == "22" and rule["log"] == "true" and rule["action"] == "drop"
    assert all(isinstance(v, str) for v in rule.values())  # all JSON values are strings
    rid = rule[".id"]
    assert http.get(f"{FILTER}/{rid}").json() == rule
    patched = http.patch(f"{FILTER}/{rid}", json={"comment": "ssh", "disabled": "yes"})
    assert patched.status_code == 200
    assert patched.json()["comment"] == "ssh" and patched.json()["disabled"] == "true"
    assert http.get(f"{FILTER}/{rid}").json() == patched.json()
    deleted = http.delete(f"{FILTER}/{rid}")
    assert deleted.status_code == 204 and deleted.content == b""
    again = http.delete(f"{FILTER}/{rid}")
    assert again.status_code == 404 and again.json() == {"error": 404, "message": "Not Found"}
    assert http.get(f"{FILTER}/{rid}").status_code == 404
    assert http.patch(f"{FILTER}/{rid}", json={"comment": "x"}).status_code == 404


def test_filters_proplist_and_named_items(http: httpx.Client) -> None:
    a = http.put(FILTER, json={"chain": "input", "comment": "a"}).json()[".id"]
    b = http.put(FILTER, json={"chain": "forward", "comment": "b", "disabled": "true"}).json()[".id"]
    rows = http.get(FILTER, params={"chain": "input"}).json()
    assert [r[".id"] for r in rows] == [a]
    assert [r["comment"] for r in http.get(FILTER, params={"disabled": "no"}).json()] == ["a"]
    # .proplist always brings .id along (observed on a CHR).
    assert http.get(FILTER, params={".proplist": "comment"}).json() == [
        {".id": a, "comment": "a"},
        {".id": b, "comment": "b"},
    ]
    ether1 = http.get("/rest/interface/ether1").json()
    assert ether1["name"] == "ether1" and ether1["type"] == "ether"
    telnet = http.patch("/rest/ip/service/telnet", json={"disabled": "true"}).json()
    assert telnet["name"] == "telnet" and telnet["disabled"] == "true" and telnet["port"] == "23"


def test_singletons_are_objects(http: httpx.Client) -> None:
    dns = http.get("/rest/ip/dns").json()
    assert isinstance(dns, dict) and dns["allow-remote-requests"] == "false"
    assert http.post("/rest/ip/dns/set", json={"servers": "1.1.1.1"}).json() == []
    assert http.patch("/rest/ip/dns", json={"allow-remote-requests": True}).json()["allow-remote-requests"] == "true"
    assert http.get("/rest/ip/dns").json()["servers"] == "1.1.1.1"
    assert http.get("/rest/system/resource").json()["platform"] == "MikroTik"
    assert http.get("/rest/system/identity").json() == {"name": "MikroTik"}


def test_post_commands(http: httpx.Client) -> None:
    ret = http.post(f"{FILTER}/add", json={"chain": "input", "comment": "first"}).json()
    assert set(ret) == {"ret"} and ret["ret"].startswith("*")
    first = ret["ret"]
    second = http.put(FILTER, json={"chain": "forward", "comment": "second"}).json()[".id"]
    third = http.put(FILTER, json={"chain": "forward", "comment": "third"}).json()[".id"]
    assert http.post(f"{FILTER}/move", json={"numbers": third, "destination": first}).json() == []
    assert [r[".id"] for r in http.get(FILTER).json()] == [third, first, second]
    assert http.post(f"{FILTER}/move", json={".id": [third], "destination": second}).json() == []
    assert [r[".id"] for r in http.get(FILTER).json()] == [first, third, second]
    printed = http.post(
        f"{FILTER}/print",
        json={".proplist": [".id", "comment"], ".query": ["chain=forward", "comment=third", "#|!"]},
    ).json()
    assert printed == [{".id": first, "comment": "first"}]
    assert http.post(f"{FILTER}/print", json={".query": ["chain=output"]}).json() == []
    assert http.post(f"{FILTER}/remove", json={".id": f"{first},{second}"}).json() == []
    assert [r[".id"] for r in http.get(FILTER).json()] == [third]


def test_error_bodies(http: httpx.Client, emulator: EmulatorThread) -> None:
    bad = http.put(FILTER, json={"chain": "input", "bogus": "1"})
    assert bad.status_code == 400
    assert bad.json() == {"error": 400, "message": "Bad Request", "detail": "unknown parameter bogus"}
    unknown = http.get("/rest/ip/nope/thing")
    assert unknown.status_code == 400 and unknown.json()["detail"] == "no such command or directory (nope)"
    assert http.post(f"{FILTER}/explode", json={}).json()["detail"] == "no such command or directory (explode)"
    assert http.post(f"{FILTER}/remove", json={".id": "*FFFF"}).json()["detail"] == "no such item"
    dup = http.put("/rest/interface/list", json={"name": "LAN"})
    assert dup.status_code == 201
    assert http.put("/rest/interface/list", json={"name": "LAN"}).json()["detail"] == "failure: already have such entry"
    malformed = http.put(FILTER, content=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"] == 400
    assert http.put(FILTER, json=["chain", "input"]).status_code == 400
    assert http.head(FILTER).status_code == 501
    assert http.put("/rest/ip/service", json={"name": "x"}).json()["detail"] == "no such command or directory (add)"
    anonymous = httpx.get(base(emulator) + FILTER, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error": 401, "message": "Unauthorized"}
    assert anonymous.headers["www-authenticate"] == 'Basic realm="REST API"'
    wrong = httpx.get(base(emulator) + FILTER, auth=("admin", "nope"), timeout=5)
    assert wrong.status_code == 401


def test_https_and_configurable_codes(tls_files: tuple[Path, Path]) -> None:
    store = ConfigStore(users={"admin": PASSWORD})
    store.set("/ip/service", "www-ssl", {"disabled": "false"})  # off at factory state, as on a new router
    options = ServerOptions(put_status=200, delete_status=200)
    with EmulatorThread(store, [Listener("rest-ssl")], ssl_context=server_context(*tls_files), options=options) as emu:
        ctx = ssl.create_default_context(cafile=str(tls_files[0]))
        with httpx.Client(base_url=base(emu, "rest-ssl"), auth=("admin", PASSWORD), verify=ctx, timeout=5) as c:
            put = c.put(FILTER, json={"chain": "input"})
            assert put.status_code == 200
            deleted = c.delete(f"{FILTER}/{put.json()['.id']}")
            assert deleted.status_code == 200 and deleted.content == b""
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the lab CA refuses it
            httpx.get(base(emu, "rest-ssl") + FILTER, timeout=5)


def test_raw_http_keep_alive_and_garbage(emulator: EmulatorThread) -> None:
    host, port = emulator.address("rest")
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 400")
    with httpx.Client(base_url=base(emulator), auth=("admin", PASSWORD), timeout=5) as c:
        for _ in range(5):  # several requests on one pooled connection
            assert c.get("/rest/system/identity").status_code == 200


# ---------------------------------------------------------------------------------------- plugin clients


def _clients(emu: EmulatorThread, tls_files: tuple[Path, Path], tls: bool) -> tuple[RouterApiClient, RouterRestClient]:
    ctx = ssl.create_default_context(cafile=str(tls_files[0]))
    if tls:
        host, port = emu.address("api-ssl")
        api = RouterApiClient(host, "admin", PASSWORD, port=port, tls=ctx)
        rest = RouterRestClient(base(emu, "rest-ssl"), "admin", PASSWORD, verify=ctx)
    else:
        host, port = emu.address("api")
        api = RouterApiClient(host, "admin", PASSWORD, port=port)
        rest = RouterRestClient(base(emu), "admin", PASSWORD)
    return api, rest


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_plugin_clients_agree_after_mixed_writes(
    emulator: EmulatorThread, tls_files: tuple[Path, Path], tls: bool
) -> None:
    api, rest = _clients(emulator, tls_files, tls)
    menu = "/ip/firewall/filter"
    a = api.add(menu, {"chain": "input", "action": "accept", "connection-state": "established,related"})
    b = rest.add(menu, {"chain": "input", "action": "drop", "comment": "zg:fw default"})
    c = api.add(menu, {"chain": "forward", "action": "accept", "protocol": "tcp", "dst-port": "22,80"})
    d = rest.add(menu, {"chain": "forward", "action": "drop", "dst-port": 443, "protocol": "tcp"})
    api.set(menu, b, {"comment": "zg:fw input default", "disabled": True})
    rest.set(menu, c, {"comment": "ssh+http"})
    rest.move(menu, [d], a)
    api.move(menu, [b], d)
    api.remove(menu, c)
    rest.add("/interface/list", {"name": "LAN", "comment": "zg:router interface list"})
    api.add("/interface/list/member", {"list": "LAN", "interface": "ether2"})
    api.add("/ip/dns/static", {"name": "blade001.zengarden.space", "address": "192.168.77.170", "ttl": "30m"})
    rest.set("/ip/service", "telnet", {"disabled": True})
    api.set("/ip/service", "api-ssl", {"address": "192.168.100.0/24"})

    via_api, via_rest = api.print(menu), rest.print(menu)
    assert via_api == via_rest
    assert [r[".id"] for r in via_api] == [b, d, a]
    assert via_api[0]["disabled"] == "true" and via_api[0]["comment"] == "zg:fw input default"
    assert via_api[1]["dst-port"] == "443"
    # Every menu the checks read: identical records, identical order, through both protocols.
    snap_api, snap_rest = snapshot(api), snapshot(rest)
    # The store's own view is literal; the snapshot is the router's facts (defaults completed, run-time dropped).
    stored = RouterConfig.from_device(emulator.store.snapshot().menus, "emulator", read=DEFAULT_MENUS)
    for m in DEFAULT_MENUS:
        assert snap_api.items(m) == snap_rest.items(m), m
        assert snap_api.items(m) == stored.items(m), m
    assert snap_api.find("/ip/service", name="telnet")[0]["disabled"] == "true"
    api.close()
    rest.close()


def test_plugin_clients_surface_errors(emulator: EmulatorThread, tls_files: tuple[Path, Path]) -> None:
    api, rest = _clients(emulator, tls_files, tls=False)
    with pytest.raises(TargetError, match="unknown parameter bogus"):
        api.add("/ip/firewall/filter", {"chain": "input", "bogus": 1})
    with pytest.raises(TargetError, match="HTTP 400 unknown parameter bogus"):
        rest.add("/ip/firewall/filter", {"chain": "input", "bogus": 1})
    with pytest.raises(TargetError, match="no such item"):
        api.remove("/ip/firewall/filter", "*FFFF")
    with pytest.raises(TargetError, match="HTTP 404"):
        rest.remove("/ip/firewall/filter", "*FFFF")
    host, port = emulator.address("api")
    with pytest.raises(TargetError, match="login refused"):
        RouterApiClient(host, "admin", "wrong", port=port)
    refused = RouterRestClient(base(emulator), "admin", "wrong")
    with pytest.raises(TargetError, match="401"):
        refused.print("/ip/address")
    refused.close()
    api.close()
    rest.close()
