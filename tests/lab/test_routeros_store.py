"""The emulator's configuration store: menus, RouterOS semantics, queries, persistence, apply hook."""

from __future__ import annotations

import json
import shlex
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_zengarden.facts.router import RouterConfig
from pytest_zengarden.lab.routeros import ConfigStore, RouterOsError, StoreOptions, apply_command_hook
from pytest_zengarden.lab.routeros.keys import public_key
from pytest_zengarden.lab.routeros.query import Query

FILTER = "/ip/firewall/filter"


@pytest.fixture
def store() -> ConfigStore:
    return ConfigStore(users={"admin": "secret"})


def ids(store: ConfigStore, menu: str = FILTER) -> list[str]:
    return [r[".id"] for r in store.print(menu)]


def error(fn: Any, *args: Any) -> str:
    with pytest.raises(RouterOsError) as exc:
        fn(*args)
    return exc.value.message


# ---------------------------------------------------------------------------------------- records


def test_add_prints_defaults_booleans_and_strings(store: ConfigStore) -> None:
    rule_id = store.add(FILTER, {"chain": "input", "dst-port": 22, "protocol": "tcp", "log": "yes", "disabled": "no"})
    (row,) = store.print(FILTER)
    assert row[".id"] == rule_id
    assert next(iter(row)) == ".id"
    assert row["action"] == "accept"  # default
    assert row["log"] == "true" and row["disabled"] == "false"  # yes/no in, true/false out
    assert row["dst-port"] == "22"  # numbers stay strings
    assert row["dynamic"] == "false" and row["invalid"] == "false"
    assert "comment" not in row  # unset optional properties are not printed


def test_ids_are_uppercase_hex_monotonic_and_never_reused(store: ConfigStore) -> None:
    made = [store.add("/ip/firewall/address-list", {"list": "l", "address": f"10.0.0.{i}"}) for i in range(20)]
    numbers = [int(i[1:], 16) for i in made]
    assert numbers == sorted(numbers) and len(set(numbers)) == 20
    assert all(i[0] == "*" and i[1:] == i[1:].upper() for i in made)
    assert any(any(c in "ABCDEF" for c in i) for i in made)
    store.remove("/ip/firewall/address-list", made[-1])
    again = store.add("/ip/firewall/address-list", {"list": "l", "address": "10.0.1.1"})
    assert int(again[1:], 16) > numbers[-1]


def test_set_remove_and_comma_separated_ids(store: ConfigStore) -> None:
    a = store.add(FILTER, {"chain": "input"})
    b = store.add(FILTER, {"chain": "forward"})
    store.set(FILTER, f"{a},{b}", {"comment": "both", "disabled": True})
    assert {r["comment"] for r in store.print(FILTER)} == {"both"}
    assert {r["disabled"] for r in store.print(FILTER)} == {"true"}
    store.set(FILTER, a, {"comment": ""})  # empty = unset
    assert "comment" not in store.get(FILTER, a)
    store.remove(FILTER, [a, b])
    assert store.print(FILTER) == []


def test_errors_match_routeros_messages(store: ConfigStore) -> None:
    rule = store.add(FILTER, {"chain": "input"})
    assert error(store.add, FILTER, {"chain": "input", "bogus": "1"}) == "unknown parameter bogus"
    assert error(store.set, FILTER, "*FFFF", {"comment": "x"}) == "no such item"
    assert error(store.remove, FILTER, f"{rule},*FFFF") == "no such item"
    assert ids(store) == [rule]  # a failed remove removes nothing
    assert error(store.print, "/ip/firewal/filter") == "no such command or directory (firewal)"
    assert error(store.add, FILTER, {"action": "drop"}).startswith("missing value")
    assert (
        error(store.add, FILTER, {"chain": "input", "action": "explode"}) == "input does not match any value of action"
    )
    assert error(store.add, FILTER, {"chain": "input", "disabled": "maybe"}).startswith("invalid value")
    assert error(store.add, FILTER, {"chain": "input", "dst-port": "99999"}).startswith("invalid value")
    store.add("/interface/list", {"name": "LAN"})
    assert error(store.add, "/interface/list", {"name": "LAN"}) == "failure: already have such entry"
    assert error(store.add, "/user", {"name": "admin", "group": "full"}) == "failure: already have such entry"
    # Read-only and fixed menus.
    assert "no such command" in error(store.set, "/system/resource", None, {"cpu-load": "5"})
    assert "no such command" in error(store.add, "/ip/service", {"name": "x"})
    assert "no such command" in error(store.remove, "/ip/service", "telnet")
    assert "read-only" in error(store.set, "/interface", "ether1", {"mtu": "9000"})
    assert "physical" in error(store.remove, "/interface", "ether1")


def test_ip_service_fixed_entries_set_by_name(store: ConfigStore) -> None:
    rows = store.print("/ip/service")
    assert [(r["name"], r["port"]) for r in rows] == [
        ("telnet", "23"),
        ("ftp", "21"),
        ("www", "80"),
        ("ssh", "22"),
        ("www-ssl", "443"),
        ("api", "8728"),
        ("winbox", "8291"),
        ("api-ssl", "8729"),
    ]
    store.set("/ip/service", "telnet", {"disabled": "yes", "address": "192.168.100.0/24"})
    (telnet,) = store.print("/ip/service", query=["?name=telnet"])
    assert telnet["disabled"] == "true" and telnet["address"] == "192.168.100.0/24"


def test_singletons_and_resource(store: ConfigStore) -> None:
    store.set("/system/identity", None, {"name": "zengarden-router"})
    store.set("/ip/dns", None, {"servers": "8.8.8.8,1.1.1.1", "allow-remote-requests": "yes"})
    assert store.print("/system/identity") == [{"name": "zengarden-router"}]
    (dns,) = store.print("/ip/dns")
    assert dns["allow-remote-requests"] == "true" and ".id" not in dns
    (res,) = store.print("/system/resource")
    assert res["version"] == "7.16.2 (stable)" and res["platform"] == "MikroTik"
    assert {"uptime", "cpu-load", "free-memory", "total-memory", "architecture-name", "board-name"} <= set(res)


def test_users_password_is_write_only(store: ConfigStore) -> None:
    assert store.check_login("admin", "secret")
    assert not store.check_login("admin", "wrong")
    assert not store.check_login("nobody", "secret")
    uid = store.add("/user", {"name": "ops", "group": "read", "password": "pw1"})
    assert "password" not in store.get("/user", uid)
    assert store.check_login("ops", "pw1")
    store.set("/user", "ops", {"password": "pw2"})
    assert not store.check_login("ops", "pw1") and store.check_login("ops", "pw2")
    store.set("/user", "ops", {"disabled": "yes"})
    assert not store.check_login("ops", "pw2")
    assert all("password" not in r for r in store.snapshot().items("/user"))


def test_move_and_place_before(store: ConfigStore) -> None:
    a, b, c, d = (store.add(FILTER, {"chain": "forward", "comment": n}) for n in "abcd")
    store.move(FILTER, [d], a)
    assert ids(store) == [d, a, b, c]
    store.move(FILTER, f"{a},{d}")  # no destination: to the end, in the given order
    assert ids(store) == [b, c, a, d]
    store.move(FILTER, [c, b], d)
    assert ids(store) == [a, c, b, d]
    e = store.add(FILTER, {"chain": "input", "place-before": c})
    assert ids(store) == [a, e, c, b, d]
    assert "no such command" in error(store.move, "/ip/address", [a], None)
    assert "unknown parameter" in error(store.add, "/ip/address", {"address": "10.0.0.1/24", "place-before": a})


def test_references_validation_rename_and_invalid(store: ConfigStore) -> None:
    bridge = store.add("/interface/bridge", {})
    assert store.get("/interface/bridge", bridge)["name"] == "bridge1"  # RouterOS auto-naming
    assert (
        error(store.add, "/interface/bridge/port", {"bridge": "bridge1", "interface": "ether9"})
        == "input does not match any value of interface"
    )
    store.add("/interface/bridge/port", {"bridge": "bridge1", "interface": "ether2"})
    assert "bridge port" in error(store.add, "/interface/bridge/port", {"bridge": "bridge1", "interface": "ether2"})
    assert "interface with such name" in error(store.add, "/interface/bridge", {"name": "ether1"})
    # The bridge is an interface too, with the same id; its comment can be set there.
    (iface,) = store.print("/interface", query=["?type=bridge"])
    assert iface[".id"] == bridge
    store.set("/interface", "bridge1", {"comment": "home"})
    assert store.get("/interface/bridge", bridge)["comment"] == "home"
    # Renames follow references (RouterOS keeps references by id).
    store.add("/interface/list", {"name": "LAN"})
    rule = store.add(FILTER, {"chain": "input", "in-interface-list": "!LAN"})
    store.set("/interface/list", "LAN", {"name": "INSIDE"})
    assert store.get(FILTER, rule)["in-interface-list"] == "!INSIDE"
    # Removing the target leaves the rule dangling: flagged invalid, like RouterOS's "I" flag.
    store.remove("/interface/list", "INSIDE")
    assert store.get(FILTER, rule)["invalid"] == "true"


def test_wireguard_keys_and_secret_handling(store: ConfigStore) -> None:
    private = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="  # RFC 7748 §6.1 Alice's key, base64
    wg = store.add("/interface/wireguard", {"private-key": private, "listen-port": 51820})
    row = store.get("/interface/wireguard", wg)
    assert row["public-key"] == public_key(private) == "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
    assert row["name"] == "wireguard1" and row["listen-port"] == "51820"
    generated = store.get("/interface/wireguard", store.add("/interface/wireguard", {}))
    assert public_key(generated["private-key"]) == generated["public-key"]
    assert "private-key" not in store.snapshot().items("/interface/wireguard")[0]
    assert store.snapshot(include_secrets=True).items("/interface/wireguard")[0]["private-key"] == private


def test_dns_static_type_dependent_requirements(store: ConfigStore) -> None:
    store.add("/ip/dns/static", {"name": "a.example", "address": "192.0.2.1", "ttl": "30m"})
    assert error(store.add, "/ip/dns/static", {"name": "b.example"}).endswith("address")
    assert error(store.add, "/ip/dns/static", {"name": "c.example", "type": "CNAME"}).endswith("cname")
    store.add("/ip/dns/static", {"name": "c.example", "type": "CNAME", "cname": "a.example"})
    assert "invalid value" in error(store.add, "/ip/dns/static", {"name": "d", "address": "2001:db8::1"})


def test_command_surface(store: ConfigStore) -> None:
    new_id = store.command("/ip/firewall/filter/add", {"chain": "input", "comment": "x"}).done["ret"]
    assert store.command("/ip/firewall/filter/print", {"count-only": ""}).done == {"ret": "1"}
    store.command("/ip/firewall/filter/disable", {"numbers": new_id})
    assert store.get(FILTER, new_id)["disabled"] == "true"
    store.command("/ip/firewall/filter/unset", {"numbers": new_id, "value-name": "comment"})
    assert "comment" not in store.get(FILTER, new_id)
    rows = store.command("/ip/firewall/filter/print", {".proplist": "chain"}, ["?disabled=yes"]).rows
    assert rows == [{"chain": "input"}]
    with pytest.raises(RouterOsError, match=r"no such command or directory \(frobnicate\)"):
        store.command("/ip/firewall/filter/frobnicate", {})
    with pytest.raises(RouterOsError, match="unknown parameter numbers"):
        store.command("/ip/firewall/filter/print", {"numbers": "*1"})


def test_snapshot_is_a_router_config(store: ConfigStore) -> None:
    store.add(FILTER, {"chain": "input", "action": "drop"})
    snap = store.snapshot()
    assert isinstance(snap, RouterConfig) and snap.source == "emulator"
    assert set(snap.menus) == set(ConfigStore.menus())
    assert snap.items(FILTER)[0]["action"] == "drop"
    assert len(snap.items("/interface")) == 5


# ---------------------------------------------------------------------------------------- queries

ROWS = [
    {".id": "*1", "name": "ether1", "type": "ether", "disabled": "false", "mtu": "1500"},
    {".id": "*2", "name": "vlan10", "type": "vlan", "disabled": "true", "mtu": "1496", "comment": "c"},
    {".id": "*A", "name": "br", "type": "bridge", "disabled": "false", "mtu": "9000"},
]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([], ["*1", "*2", "*A"]),
        (["?comment"], ["*2"]),
        (["?-comment"], ["*1", "*A"]),
        (["?type=ether"], ["*1"]),
        (["?=type=ether"], ["*1"]),
        (["?type=ether", "?type=vlan", "?#|!"], ["*A"]),  # the manual's NOT(ether OR vlan)
        (["?=disabled=no"], ["*1", "*A"]),  # type-aware: no == false
        (["?=disabled=yes"], ["*2"]),
        (["?>mtu=1500"], ["*A"]),  # numeric for int properties: 9000 > 1500
        (["?<mtu=1500"], ["*2"]),
        (["?>.id=*2"], ["*A"]),  # ids compare as hex numbers
        (["?type=ether", "?type=vlan"], []),  # several words: implicit AND
        (["?type=ether", "?type=bridge", "?#|"], ["*1", "*A"]),
        (["?type=ether", "?type=vlan", "?#0"], ["*2"]),  # index at the end replaces the stack
        (["?type=vlan", "?type=ether", "?#1"], ["*2"]),
        (["?type=ether", "?#.|"], ["*1"]),  # dup then or
        (["?type=ether", "?-comment", "?#1.&"], ["*1"]),  # index followed by "." pushes a copy
        (["?type=ether", "?#!!"], ["*1"]),
    ],
)
def test_query_words(store: ConfigStore, words: list[str], expected: list[str]) -> None:
    query = Query(words, {"mtu": "int", "disabled": "bool"})
    assert [r[".id"] for r in ROWS if query.matches(r)] == expected


@pytest.mark.parametrize("words", [["?#|"], ["?#!"], ["?a", "?#3"], ["?a", "?#x"], ["?"], ["?=x"]])
def test_bad_queries_are_refused(words: list[str]) -> None:
    with pytest.raises(RouterOsError, match="invalid query"):
        Query(words)


def test_query_against_the_store_with_booleans(store: ConfigStore) -> None:
    a = store.add(FILTER, {"chain": "input", "disabled": "yes"})
    b = store.add(FILTER, {"chain": "forward"})
    assert [r[".id"] for r in store.print(FILTER, query=["?=disabled=no"])] == [b]
    assert [r[".id"] for r in store.print(FILTER, query=["?disabled=true"])] == [a]


KEYS = ("a", "b", "c")
VALUES = ("", "x", "y", "1", "2", "10", "true", "false", "yes", "no")
_TRUTH = {"true": True, "yes": True, "false": False, "no": False}


def _eq(actual: str | None, wanted: str) -> bool:
    # The documented semantics, independently: absent == "", booleans by meaning, else exact text.
    if actual is None:
        return wanted == ""
    if actual in ("true", "false") and wanted in _TRUTH:
        return _TRUTH[actual] == _TRUTH[wanted]
    return actual == wanted


leaf = st.one_of(
    st.tuples(st.just("has"), st.sampled_from(KEYS)),
    st.tuples(st.just("lacks"), st.sampled_from(KEYS)),
    st.tuples(st.sampled_from(["eq", "eq2", "lt", "gt"]), st.sampled_from(KEYS), st.sampled_from(VALUES)),
)
expr = st.recursive(
    leaf,
    lambda sub: st.one_of(
        st.tuples(st.just("not"), sub),
        st.tuples(st.sampled_from(["and", "or"]), sub, sub),
    ),
    max_leaves=8,
)
records = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)


def to_words(e: tuple[Any, ...]) -> list[str]:
    """An expression as librouteros would send it (``Key == v``, ``!=`` via ``?#!``, And/Or via ``?#&``/``?#|``)."""
    op = e[0]
    if op == "has":
        return [f"?{e[1]}"]
    if op == "lacks":
        return [f"?-{e[1]}"]
    if op == "eq":
        return [f"?={e[1]}={e[2]}"]
    if op == "eq2":
        return [f"?{e[1]}={e[2]}"]
    if op in ("lt", "gt"):
        return [f"?{'<' if op == 'lt' else '>'}{e[1]}={e[2]}"]
    if op == "not":
        return [*to_words(e[1]), "?#!"]
    return [*to_words(e[1]), *to_words(e[2]), "?#&" if op == "and" else "?#|"]


def evaluate(e: tuple[Any, ...], rec: dict[str, str]) -> bool:
    op = e[0]
    if op == "has":
        return bool(e[1] in rec)
    if op == "lacks":
        return e[1] not in rec
    if op in ("eq", "eq2"):
        return _eq(rec.get(e[1]), e[2])
    if op == "lt":
        return e[1] in rec and rec[e[1]] < e[2]
    if op == "gt":
        return e[1] in rec and rec[e[1]] > e[2]
    if op == "not":
        return not evaluate(e[1], rec)
    if op == "and":
        return evaluate(e[1], rec) and evaluate(e[2], rec)
    return evaluate(e[1], rec) or evaluate(e[2], rec)


@settings(max_examples=100, deadline=None)
@given(exprs=st.lists(expr, min_size=1, max_size=3), rows=st.lists(records, max_size=6))
def test_query_engine_matches_a_direct_predicate(exprs: list[tuple[Any, ...]], rows: list[dict[str, str]]) -> None:
    # Several top-level expressions are simply concatenated, as librouteros does with where(a, b).
    query = Query([w for e in exprs for w in to_words(e)])
    for rec in rows:
        assert query.matches(rec) == all(evaluate(e, rec) for e in exprs), (exprs, rec)


# ---------------------------------------------------------------------------------------- persistence and hooks


def test_state_survives_a_restart_and_ids_keep_increasing(tmp_path: Path) -> None:
    path = tmp_path / "state" / "router.json"
    first = ConfigStore(path, users={"admin": "pw"})
    a = first.add(FILTER, {"chain": "input", "comment": "keep"})
    b = first.add(FILTER, {"chain": "forward"})
    first.remove(FILTER, b)
    first.set("/system/identity", None, {"name": "r1"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert "pw" not in path.read_text() and data["passwords"]  # hashed, never in clear
    assert not list(path.parent.glob(".*tmp"))  # the atomic write left no temp file

    second = ConfigStore(path)
    assert [(r[".id"], r["comment"]) for r in second.print(FILTER)] == [(a, "keep")]
    assert second.print("/system/identity") == [{"name": "r1"}]
    assert second.check_login("admin", "pw")
    c = second.add(FILTER, {"chain": "output"})
    assert int(c[1:], 16) > int(b[1:], 16)  # *b was removed but its id is not reissued


def test_interfaces_follow_the_lab_on_restart(tmp_path: Path) -> None:
    path = tmp_path / "router.json"
    first = ConfigStore(path, options=StoreOptions(interfaces=("ether1", "ether2")))
    first.set("/interface", "ether1", {"comment": "wan"})
    second = ConfigStore(path, options=StoreOptions(interfaces=("ether1", "ether3")))
    rows = {r["name"]: r for r in second.print("/interface")}
    assert set(rows) == {"ether1", "ether3"} and rows["ether1"]["comment"] == "wan"


def test_bad_state_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "router.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"router\.json"):
        ConfigStore(path)


def test_on_change_failure_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "router.json"
    seen: list[RouterConfig] = []

    def apply(config: RouterConfig) -> None:
        if any(r.get("comment") == "poison" for r in config.items(FILTER)):
            raise RuntimeError("nft: syntax error in rule 2")
        seen.append(config)

    store = ConfigStore(path, on_change=apply)
    good = store.add(FILTER, {"chain": "input", "comment": "fine"})
    assert seen and seen[-1].items(FILTER)[0]["comment"] == "fine"
    before = path.read_text()
    with pytest.raises(RouterOsError, match="nft: syntax error in rule 2"):
        store.add(FILTER, {"chain": "input", "comment": "poison"})
    with pytest.raises(RouterOsError, match="nft: syntax error"):
        store.set(FILTER, good, {"comment": "poison"})
    assert [r["comment"] for r in store.print(FILTER)] == ["fine"]
    assert path.read_text() == before  # nothing half-applied, nothing persisted
    later = store.add(FILTER, {"chain": "forward"})
    assert int(later[1:], 16) > int(good[1:], 16) + 1  # the rolled-back id is not reused either


def test_apply_command_hook(tmp_path: Path) -> None:
    script = "import json, sys; d = json.load(sys.stdin); sys.exit('nft: rejected' if 'reject-me' in str(d) else 0)"
    hook = apply_command_hook(shlex.join([sys.executable, "-c", script]), timeout=20)
    store = ConfigStore(on_change=hook)
    store.add(FILTER, {"chain": "input"})
    with pytest.raises(RouterOsError, match="failure: apply failed: nft: rejected"):
        store.add(FILTER, {"chain": "input", "comment": "reject-me"})
    assert len(store.print(FILTER)) == 1
    missing = ConfigStore(on_change=apply_command_hook(str(tmp_path / "no-such-binary")))
    with pytest.raises(RouterOsError, match="did not start"):
        missing.add(FILTER, {"chain": "input"})


def test_recorded_export_replays_without_unknown_parameters() -> None:
    """Every property of the recorded router's export is modelled: provisioning will not trip on the schema."""
    from pytest_zengarden.facts.router import as_bool
    from pytest_zengarden.offline.rsc import load_rsc

    recorded = load_rsc(Path(__file__).resolve().parents[2] / "fixtures" / "recorded" / "router.rsc")
    store = ConfigStore()
    for menu, records in recorded.menus.items():
        spec = store.spec(menu)
        for rec in records:
            props = {k: v for k, v in rec.items() if k != ".id"}
            if spec.kind == "singleton":
                store.set(menu, None, props)
            elif menu == "/ip/service":
                store.set(menu, props.pop("name"), props)
            else:
                store.add(menu, props)
    for menu, records in recorded.menus.items():
        if menu == "/ip/service":
            continue
        ours = store.print(menu)
        assert len(ours) == len(records), menu
        for want, got in zip(records, ours, strict=True):
            for key, value in want.items():
                if key == ".id":
                    continue
                if value in ("yes", "no"):
                    assert as_bool(got[key]) == as_bool(value), (menu, key)
                else:
                    assert got[key] == value, (menu, key)
    assert store.snapshot().find("/ip/service", name="ftp")[0]["disabled"] == "true"
