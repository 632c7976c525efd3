"""Tests for the ``/export`` renderer: what it writes, ``parse_rsc`` reads back unchanged."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_zengarden.analysis.firewall_eval import Firewall
from pytest_zengarden.analysis.flow_space import routed
from pytest_zengarden.checks import firewall as fwc
from pytest_zengarden.checks.findings import Finding
from pytest_zengarden.checks.site import flow_matrix
from pytest_zengarden.desired.router import desired_router
from pytest_zengarden.facts.router import RouterConfig, as_bool
from pytest_zengarden.lab.routeros import ConfigStore
from pytest_zengarden.offline.rsc import load_rsc, parse_rsc
from pytest_zengarden.offline.rsc_render import render_rsc
from pytest_zengarden.redaction import SENSITIVE_PROPERTIES
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import Site

from .helpers import replay

REPO = Path(__file__).resolve().parents[1]
RECORDED = REPO / "fixtures" / "recorded" / "router.rsc"
SITE = REPO / "fixtures" / "sites" / "zengarden.yaml"
FILTER = "/ip/firewall/filter"

# What an export leaves out: run-time properties (and every ``.``-property), and dynamic records.
# Run-time state, and credentials (RouterOS's own /export leaves both out).
RUN_TIME = frozenset({"dynamic", "invalid", "bytes", "packets"})


def excluded(key: str) -> bool:
    # SENSITIVE_PROPERTIES matches by pattern too (``*-secret``...): a set union would keep only its names.
    return key in RUN_TIME or key in SENSITIVE_PROPERTIES


def exported(config: RouterConfig) -> dict[str, list[dict[str, str]]]:
    """Every menu's records as an export keeps them: dynamic records dropped, excluded properties stripped."""
    return {
        menu: [
            {k: v for k, v in rec.items() if not excluded(k) and not k.startswith(".")}
            for rec in records
            if not as_bool(rec.get("dynamic"))
        ]
        for menu, records in config.menus.items()
    }


def round_trip(config: RouterConfig) -> RouterConfig:
    return parse_rsc(render_rsc(config), source="rendered.rsc")


def assert_round_trip(config: RouterConfig) -> None:
    assert exported(round_trip(config)) == exported(config)


def config(menus: Mapping[str, Sequence[Mapping[str, object]]]) -> RouterConfig:
    return RouterConfig.from_records(menus, "test")


# --- whole configurations --------------------------------------------------------------------------------


def test_recorded_export_round_trips() -> None:
    recorded = load_rsc(RECORDED)
    assert_round_trip(recorded)
    assert list(round_trip(recorded).menus) == list(recorded.menus)  # the recording's menus are in export order


def test_recorded_export_renders_as_recorded() -> None:
    text = RECORDED.read_text(encoding="utf-8")
    body = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    # The one difference: the recording quotes a WireGuard key that needs no quotes (real keys end in '=').
    key = "dGVzdC1wZWVyLWtleS1ub3QtYS1yZWFsLWtleS0wMDA9"
    assert render_rsc(load_rsc(RECORDED)) == body.replace(f'public-key="{key}"', f"public-key={key}")


def test_desired_configuration_round_trips() -> None:
    desired = RouterConfig.from_records(desired_router(load_site(SITE)), "desired")
    assert_round_trip(desired)
    rendered = render_rsc(desired)
    assert "/ip firewall address-list\n/ip firewall filter\n" in rendered  # the empty menu is kept as a header
    assert "\n/ip service\nset api address=192.168.100.0/24 disabled=false port=8728\n" in rendered


def live_like(recorded: RouterConfig) -> RouterConfig:
    """``recorded`` replayed into the emulator and read back, as the plugin reads a live router."""
    store = replay(ConfigStore(), recorded.menus)
    return store.snapshot()


def test_live_like_snapshot_round_trips_without_run_time_state() -> None:
    """The emulator prints what a router prints: ids, counters, flags, physical ports, fixed services."""
    live = live_like(load_rsc(RECORDED))
    assert live.items(FILTER)[0]["bytes"] == "0" and ".id" in live.items("/ip/service")[0]
    assert_round_trip(live)
    rendered = render_rsc(live)
    assert not any(word in rendered for word in (".id=", "bytes=", "packets=", "invalid=", "dynamic="))
    assert rendered.startswith("/interface\nset [ find default-name=ether1 ] ")
    assert "\nset telnet " in rendered


def firewall_findings(site: Site, cfg: RouterConfig) -> list[Finding]:
    fw = Firewall(cfg)
    found = [fwc.flow(site, fw, row) for row in flow_matrix(site).rows if routed(site, row.src, row.dst)]
    found += [fwc.router_access(site, fw, cfg, access, statement) for access, statement in fwc.accesses(site)]
    found += [fwc.no_inbound(site, fw, segment) for segment, _ in fwc.protected_segments(site)]
    return [*found, *fwc.wan_inbound(site, fw, cfg), fwc.tls_services(site, cfg)]


def test_a_saved_live_read_is_judged_as_the_live_read() -> None:
    site = load_site(SITE)
    live = live_like(load_rsc(RECORDED))
    judged = firewall_findings(site, live)
    assert not all(f.ok for f in judged)  # the recording's deliberate deviations are found
    assert firewall_findings(site, round_trip(live)) == judged


def test_empty_configuration_and_header() -> None:
    assert render_rsc(RouterConfig()) == ""
    text = render_rsc(config({"/system/identity": [{"name": "r"}]}), header="read from api://r \\\nat 09:14\n\nend")
    assert text == "# read from api://r \\\n# at 09:14\n#\n# end\n/system identity\nset name=r\n"
    assert [dict(r) for r in parse_rsc(text).items("/system/identity")] == [{"name": "r"}]


def test_credentials_are_left_out_as_routeros_export_leaves_them_out() -> None:
    """``/export`` without ``show-sensitive`` omits WireGuard private and preshared keys and passwords."""
    private, preshared = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=", "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE="
    menus = {
        "/interface/wireguard": [{"name": "wg-home", "listen-port": "51820", "private-key": private}],
        "/interface/wireguard/peers": [
            {
                "interface": "wg-home",
                "public-key": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
                "preshared-key": preshared,
            }
        ],
        "/interface/pppoe-client": [
            {"name": "pppoe-out1", "interface": "ether1", "user": "isp", "password": "hunter2x"}
        ],
    }
    text = render_rsc(config(menus))
    for secret in (private, preshared, "hunter2x", "private-key", "preshared-key", "password="):
        assert secret not in text
    assert "listen-port=51820 name=wg-home" in text
    again = round_trip(config(menus))
    assert exported(again)["/interface/wireguard"] == [{"name": "wg-home", "listen-port": "51820"}]


# --- menus and records -----------------------------------------------------------------------------------


def test_menu_order_follows_the_export_then_unknown_menus_sorted() -> None:
    menus = ["/zz/b", "/system/identity", "/ip/service", "/ip/firewall/nat", "/ip/firewall/filter", "/zz/a"]
    menus += ["/ip/firewall/address-list", "/ip/dns", "/ip/address", "/interface/list", "/interface/bridge"]
    text = render_rsc(config({m: [] for m in menus}))
    assert text.splitlines() == [
        "/interface bridge",
        "/interface list",
        "/ip address",
        "/ip dns",
        "/ip firewall address-list",
        "/ip firewall filter",
        "/ip firewall nat",
        "/ip service",
        "/system identity",
        "/zz a",
        "/zz b",
    ]


def test_rule_order_is_preserved() -> None:
    rules = [{"chain": "forward", "action": a, "comment": f"r{i}"} for i, a in enumerate(["drop", "accept"] * 20)]
    again = round_trip(config({FILTER: rules}))
    assert [(r["comment"], r["action"]) for r in again.items(FILTER)] == [(r["comment"], r["action"]) for r in rules]


def test_properties_are_sorted_and_add_is_used_for_list_menus() -> None:
    text = render_rsc(config({FILTER: [{"chain": "input", "action": "drop", "comment": "x"}]}))
    assert text == "/ip firewall filter\nadd action=drop chain=input comment=x\n"


def test_ids_and_run_time_properties_are_dropped() -> None:
    rule = {".id": "*1A", ".nextid": "*1B", ".about": "x", "chain": "input", "action": "accept"}
    rule |= {"bytes": "1234", "packets": "5", "invalid": "false", "dynamic": "false", "disabled": "true"}
    text = render_rsc(config({FILTER: [rule]}))
    assert text == "/ip firewall filter\nadd action=accept chain=input disabled=true\n"
    assert [dict(r) for r in parse_rsc(text).items(FILTER)] == [
        {".id": "*1", "action": "accept", "chain": "input", "disabled": "true"}
    ]


def test_dynamic_records_are_dropped() -> None:
    rules = [
        {"chain": "forward", "action": "passthrough", "comment": "special dummy rule", "dynamic": "true"},
        {"chain": "forward", "action": "drop", "dynamic": "false"},
        {"chain": "forward", "action": "accept", "dynamic": "yes"},
    ]
    statics = [{"list": "l", "address": "10.0.0.1"}, {"list": "l", "address": "10.0.0.2", "dynamic": "true"}]
    again = round_trip(config({FILTER: rules, "/ip/firewall/address-list": statics}))
    assert [dict(r) for r in again.items(FILTER)] == [{".id": "*1", "action": "drop", "chain": "forward"}]
    assert [r["address"] for r in again.items("/ip/firewall/address-list")] == ["10.0.0.1"]


def test_disabled_is_kept_as_written() -> None:
    rules = [{"chain": "input", "disabled": d} for d in ("yes", "no", "true", "false")]
    again = round_trip(config({FILTER: rules}))
    assert [r["disabled"] for r in again.items(FILTER)] == ["yes", "no", "true", "false"]


def test_singleton_menus_use_set() -> None:
    menus = {"/ip/dns": [{"servers": "1.1.1.1", "allow-remote-requests": "yes"}], "/system/identity": [{}]}
    text = render_rsc(config(menus))
    assert text == "/ip dns\nset allow-remote-requests=yes servers=1.1.1.1\n/system identity\nset\n"
    assert exported(parse_rsc(text)) == menus


def test_singleton_menu_with_several_records_falls_back_to_add() -> None:
    # Not a router's state, but nothing is lost: 'set' would have merged the records.
    assert_round_trip(config({"/ip/dns": [{"servers": "1.1.1.1"}, {"servers": "9.9.9.9"}]}))


def test_services_are_set_by_name() -> None:
    services = [
        {".id": "*0", "name": "telnet", "port": "23", "disabled": "true", "invalid": "false"},
        {".id": "*1", "name": "api-ssl", "certificate": "zengarden-router", "address": ""},
    ]
    assert render_rsc(config({"/ip/service": services})).splitlines() == [
        "/ip service",
        "set telnet disabled=true port=23",
        'set api-ssl address="" certificate=zengarden-router',
    ]
    again = round_trip(config({"/ip/service": services}))
    assert [r["name"] for r in again.items("/ip/service")] == ["telnet", "api-ssl"]
    assert_round_trip(config({"/ip/service": services}))


@pytest.mark.parametrize(
    ("name", "item"),
    [
        ("my service", '[ find name="my service" ]'),
        ("*5", "[ find name=*5 ]"),
        ("123", "[ find name=123 ]"),
        ("1,2", "[ find name=1,2 ]"),
        ("a]b", '[ find name="a]b" ]'),
    ],
)
def test_service_names_that_are_not_plain_items_use_find(name: str, item: str) -> None:
    services = [{"name": name, "port": "1"}]
    assert render_rsc(config({"/ip/service": services})) == f"/ip service\nset {item} port=1\n"
    assert_round_trip(config({"/ip/service": services}))


def test_services_without_a_unique_name_fall_back_to_add() -> None:
    services = [{"name": "ssh", "port": "22"}, {"port": "1"}, {"name": "ssh", "port": "2222"}, {"name": ""}]
    assert render_rsc(config({"/ip/service": services})).splitlines()[1:] == [
        "add name=ssh port=22",
        "add port=1",
        "add name=ssh port=2222",
        'add name=""',
    ]
    assert_round_trip(config({"/ip/service": services}))


def test_ports_are_set_by_default_name() -> None:
    ports = [
        {".id": "*1", "default-name": "ether1", "name": "wan", "mtu": "1500"},
        {".id": "*2", "default-name": "ether2", "name": "ether2", "comment": "spare"},
        {".id": "*3", "name": "bridge-home", "type": "bridge"},
    ]
    text = render_rsc(config({"/interface/ethernet": ports}))
    assert text.splitlines()[1:] == [
        "set [ find default-name=ether1 ] mtu=1500 name=wan",
        "set [ find default-name=ether2 ] comment=spare",
        "add name=bridge-home type=bridge",
    ]
    assert_round_trip(config({"/interface/ethernet": ports}))


def test_ports_that_cannot_be_addressed_by_default_name_fall_back_to_add() -> None:
    ports = [{"default-name": "ether1"}, {"default-name": "ether2", "name": "a"}, {"default-name": "ether2"}]
    assert all(line.startswith("add") for line in render_rsc(config({"/interface": ports})).splitlines()[1:])
    assert_round_trip(config({"/interface": ports}))


# --- values ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("192.168.88.0/24", "192.168.88.0/24"),
        ("established,related", "established,related"),
        ("!vpn-allowed", "!vpn-allowed"),
        ("fe80::1%ether1", "fe80::1%ether1"),
        ("*5", "*5"),
        ("a_b+c@d", "a_b+c@d"),
        ("", '""'),
        ("Home network", '"Home network"'),
        ('say "hi"', r'"say \"hi\""'),
        ("C:\\", r'"C:\\"'),
        ("$HOME", r'"\$HOME"'),
        ("why?", r'"why\?"'),
        ("a;b", '"a;b"'),
        ("k=", '"k="'),
        ("#1", '"#1"'),
        ("[ find ]", '"[ find ]"'),
        ("l1\r\nl2\tx", r'"l1\r\nl2\tx"'),
        ("Home → Homelab", r'"Home \E2\86\92 Homelab"'),
        ("été", r'"\C3\A9t\C3\A9"'),
        ("\x00\x7f", r'"\00\7F"'),
        ("\u2028", r'"\E2\80\A8"'),
    ],
)
def test_values_are_quoted_and_escaped_as_the_console_does(value: str, written: str) -> None:
    text = render_rsc(config({"/x": [{"v": value}]}))
    assert text == f"/x\nadd v={written}\n"
    assert text.isascii()
    assert parse_rsc(text).items("/x")[0]["v"] == value


def test_keys_that_need_quoting_are_quoted() -> None:
    assert_round_trip(config({"/x": [{"a b": "1", "k=v": "2", "x.y": "3"}]}))


@pytest.mark.parametrize(
    ("menus", "fragment"),
    [
        ({"/ip/firewall_x": []}, "cannot be written as an export header"),
        ({"/ip/print": []}, "cannot be written as an export header"),
        ({"/ip/add/x": []}, "cannot be written as an export header"),
        ({"/": []}, "cannot be written as an export header"),
        ({"/x": [{"": "1"}]}, "without a name"),
    ],
)
def test_what_an_export_cannot_express_is_refused(menus: dict[str, list[dict[str, str]]], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        render_rsc(config(menus))


# --- properties --------------------------------------------------------------------------------------------

_KEYS = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=10).filter(lambda k: not excluded(k))
# Any text, weighted towards what quoting and escaping care about.
_VALUES = st.text(st.one_of(st.characters(codec="utf-8"), st.sampled_from('= "\\$?!#[]*,;/_→é\t\r\n\x00')), max_size=20)
_RECORDS = st.lists(st.dictionaries(_KEYS, _VALUES, max_size=5), max_size=5)


@given(
    lists=st.dictionaries(st.sampled_from([FILTER, "/ip/dns/static", "/x/y", "/interface"]), _RECORDS, max_size=4),
    dns=st.dictionaries(_KEYS, _VALUES, max_size=5),
    services=st.lists(st.fixed_dictionaries({"name": _VALUES}, optional={"port": _VALUES, "address": _VALUES})),
    ports=st.lists(st.fixed_dictionaries({"default-name": _VALUES, "name": _VALUES}, optional={"comment": _VALUES})),
)
def test_any_values_round_trip_exactly(
    lists: dict[str, list[dict[str, str]]],
    dns: dict[str, str],
    services: list[dict[str, str]],
    ports: list[dict[str, str]],
) -> None:
    menus = {**lists, "/ip/dns": [dns], "/ip/service": services, "/interface/ethernet": ports}
    original = config(menus)
    text = render_rsc(original)
    assert text.isascii()
    assert exported(parse_rsc(text)) == exported(original) == menus
