"""Router evaluators (checks/router.py) against small, hand-built RouterOS configurations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pytest_zengarden.checks import router
from pytest_zengarden.facts.router import RouterConfig
from pytest_zengarden.site import records
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.records import ExpectedRecord
from pytest_zengarden.site.schema import Site

SITE_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "sites" / "zengarden.yaml"

CLUSTER_GW = {"address": "192.168.77.1/24", "interface": "bridge-homelab", "network": "192.168.77.0"}
LAN_MEMBERS = [
    {"interface": "bridge-homelab", "list": "LAN"},
    {"interface": "bridge-home", "list": "LAN"},
    {"interface": "ether5", "list": "LAN"},
    {"interface": "wireguard1", "list": "LAN"},
]
WAN_MEMBER = {"interface": "ether1", "list": "WAN"}
MASQ_WAN = {"chain": "srcnat", "action": "masquerade", "out-interface-list": "WAN", "comment": "to internet"}
MGMT = "192.168.100.0/24"


@pytest.fixture(scope="session")
def site() -> Site:
    return load_site(SITE_FILE)


def cfg(menus: Mapping[str, Iterable[Mapping[str, object]]]) -> RouterConfig:
    return RouterConfig.from_records(menus, "test")


def services(*rows: Mapping[str, object]) -> RouterConfig:
    return cfg({"/ip/service": rows})


def nat(*rules: Mapping[str, object]) -> RouterConfig:
    # With the designed interface lists: a rule is judged by the interfaces its list holds, not its name.
    return cfg({"/ip/firewall/nat": rules, "/interface/list/member": [*LAN_MEMBERS, WAN_MEMBER]})


# ------------------------------------------------------------------------------------ segment_address
def test_segment_address_ok(site: Site) -> None:
    f = router.segment_address(site, "cluster", cfg({"/ip/address": [CLUSTER_GW]}))
    assert f.ok
    assert f.control == "NET-SEG-CLUSTER"
    assert f.subject == "cluster gateway"
    assert "192.168.77.1/24 on bridge-homelab" in f.message


def test_segment_address_ok_for_every_router_segment(site: Site) -> None:
    rows = [
        {"address": "192.168.77.1/24", "interface": "bridge-homelab"},
        {"address": "192.168.88.1/24", "interface": "bridge-home"},
        {"address": "192.168.100.1/24", "interface": "ether5"},
        {"address": "192.168.216.1/24", "interface": "wireguard1"},
    ]
    config = cfg({"/ip/address": rows})
    for seg in ("cluster", "home", "management", "wireguard"):
        assert router.segment_address(site, seg, config).ok, seg


def test_segment_address_missing(site: Site) -> None:
    f = router.segment_address(
        site, "cluster", cfg({"/ip/address": [{"address": "192.168.88.1/24", "interface": "bridge-home"}]})
    )
    assert not f.ok
    assert f.control == "NET-SEG-CLUSTER"
    assert "expected 192.168.77.1/24 on bridge-homelab, not configured" in f.message
    assert "it is on" not in f.message


def test_segment_address_on_wrong_interface(site: Site) -> None:
    f = router.segment_address(site, "cluster", cfg({"/ip/address": [{**CLUSTER_GW, "interface": "bridge-home"}]}))
    assert not f.ok
    assert "not configured" in f.message
    assert "it is on bridge-home" in f.message


def test_segment_address_wrong_prefix_is_not_the_gateway(site: Site) -> None:
    f = router.segment_address(site, "cluster", cfg({"/ip/address": [{**CLUSTER_GW, "address": "192.168.77.1/16"}]}))
    assert not f.ok


def test_segment_address_disabled_does_not_count(site: Site) -> None:
    f = router.segment_address(site, "cluster", cfg({"/ip/address": [{**CLUSTER_GW, "disabled": "yes"}]}))
    assert not f.ok


# ------------------------------------------------------------------------------------- interface_list
def test_interface_list_ok(site: Site) -> None:
    config = cfg({"/interface/list/member": [*LAN_MEMBERS, WAN_MEMBER]})
    lan = router.interface_list(site, "LAN", config)
    wan = router.interface_list(site, "WAN", config)
    assert lan.ok and wan.ok
    assert lan.control == "RTR-IDENTITY"
    assert lan.subject == "interface list LAN"
    assert "bridge-homelab" in lan.message and "wireguard1" in lan.message
    assert "ether1" in wan.message


def test_interface_list_missing_member(site: Site) -> None:
    members = [m for m in LAN_MEMBERS if m["interface"] != "wireguard1"]
    f = router.interface_list(site, "LAN", cfg({"/interface/list/member": [*members, WAN_MEMBER]}))
    assert not f.ok
    assert f.message == "missing ['wireguard1']"


def test_interface_list_extra_member(site: Site) -> None:
    extra = {"interface": "ether1", "list": "LAN"}
    f = router.interface_list(site, "LAN", cfg({"/interface/list/member": [*LAN_MEMBERS, extra, WAN_MEMBER]}))
    assert not f.ok
    assert f.message == "unexpected ['ether1']"


def test_interface_list_missing_and_extra(site: Site) -> None:
    f = router.interface_list(site, "WAN", cfg({"/interface/list/member": [{"interface": "ether5", "list": "WAN"}]}))
    assert not f.ok
    assert "missing ['ether1']" in f.message
    assert "unexpected ['ether5']" in f.message


def test_interface_list_disabled_member_is_missing(site: Site) -> None:
    f = router.interface_list(site, "WAN", cfg({"/interface/list/member": [{**WAN_MEMBER, "disabled": "true"}]}))
    assert not f.ok
    assert "missing ['ether1']" in f.message


# -------------------------------------------------------------------------------------------- service
def test_service_enabled_as_designed(site: Site) -> None:
    f = router.service(site, "ssh", services({"name": "ssh", "port": "22", "address": MGMT}))
    assert f.ok
    assert f.control == "RTR-SERVICES"
    assert f.subject == "service ssh"
    assert "enabled as designed" in f.message


def test_service_port_may_be_omitted(site: Site) -> None:
    assert router.service(site, "ssh", services({"name": "ssh", "address": MGMT})).ok


def test_service_address_inside_allowed_segment_is_ok(site: Site) -> None:
    assert router.service(site, "api", services({"name": "api", "address": "192.168.100.10/32"})).ok


@pytest.mark.parametrize("value", ["yes", "true", True])
def test_service_disabled_as_designed(site: Site, value: object) -> None:
    f = router.service(site, "telnet", services({"name": "telnet", "disabled": value}))
    assert f.ok
    assert f.message == "disabled"


def test_service_absent_and_should_be_disabled(site: Site) -> None:
    f = router.service(site, "ftp", services())
    assert f.ok
    assert "absent" in f.message


@pytest.mark.parametrize(
    "row", [{"name": "telnet"}, {"name": "telnet", "disabled": "no"}, {"name": "telnet", "disabled": "false"}]
)
def test_service_enabled_but_should_be_disabled(site: Site, row: dict[str, str]) -> None:
    f = router.service(site, "telnet", services({**row, "address": MGMT}))
    assert not f.ok
    assert f.control == "RTR-SERVICES"
    assert f.message == "expected disabled, the router has it enabled"


@pytest.mark.parametrize("value", ["yes", "true"])
def test_service_disabled_but_should_be_enabled(site: Site, value: str) -> None:
    f = router.service(site, "ssh", services({"name": "ssh", "port": "22", "address": MGMT, "disabled": value}))
    assert not f.ok
    assert f.message == "expected enabled, the router has it disabled"


def test_service_absent_but_should_be_enabled(site: Site) -> None:
    f = router.service(site, "winbox", services({"name": "ssh", "address": MGMT}))
    assert not f.ok
    assert "expected enabled" in f.message
    assert "no such service entry" in f.message


def test_service_wrong_port(site: Site) -> None:
    f = router.service(site, "ssh", services({"name": "ssh", "port": "2222", "address": MGMT}))
    assert not f.ok
    assert f.message == "port 2222, expected 22"


def test_service_reachable_from_any_address(site: Site) -> None:
    f = router.service(site, "api-ssl", services({"name": "api-ssl", "port": "8729"}))
    assert not f.ok
    assert "reachable from any address" in f.message
    assert "192.168.100.0/24" in f.message


def test_service_reachable_from_extra_network(site: Site) -> None:
    f = router.service(site, "ssh", services({"name": "ssh", "address": f"{MGMT},192.168.88.0/24"}))
    assert not f.ok
    assert "also reachable from ['192.168.88.0/24']" in f.message
    assert "expected only ['192.168.100.0/24']" in f.message


def test_service_reachable_from_a_supernet(site: Site) -> None:
    f = router.service(site, "winbox", services({"name": "winbox", "address": "0.0.0.0/0"}))
    assert not f.ok
    assert "also reachable from ['0.0.0.0/0']" in f.message


def test_service_wrong_port_and_wrong_network_both_reported(site: Site) -> None:
    f = router.service(site, "www", services({"name": "www", "port": "8080", "address": MGMT}))
    assert not f.ok
    assert "port 8080, expected 80" in f.message
    assert "also reachable from ['192.168.100.0/24'], expected only ['192.168.77.0/24']" in f.message


# ------------------------------------------------------------------------------------- nat_masquerade
def test_nat_masquerade_to_wan_list_ok(site: Site) -> None:
    f = router.nat_masquerade(site, nat(MASQ_WAN))
    assert f.ok
    assert f.control == "RTR-NAT-MASQ"
    assert f.subject == "srcnat"
    assert "to internet" in f.message


def test_nat_masquerade_to_wan_interface_ok(site: Site) -> None:
    assert router.nat_masquerade(site, nat({"chain": "srcnat", "action": "masquerade", "out-interface": "ether1"})).ok


def test_nat_other_chains_and_actions_are_ignored(site: Site) -> None:
    config = nat(
        MASQ_WAN,
        {"chain": "dstnat", "action": "dst-nat", "in-interface": "ether1", "to-addresses": "192.168.77.200"},
        {"chain": "srcnat", "action": "accept", "out-interface": "bridge-home"},
    )
    assert router.nat_masquerade(site, config).ok


def test_nat_masquerade_towards_lan_interface(site: Site) -> None:
    rule = {"chain": "srcnat", "action": "masquerade", "out-interface": "bridge-home", "comment": "oops"}
    f = router.nat_masquerade(site, nat(MASQ_WAN, rule))
    assert not f.ok
    assert f.control == "RTR-NAT-MASQ"
    assert "nat rule #1 (oops) masquerades towards bridge-home" in f.message


def test_nat_masquerade_towards_lan_list(site: Site) -> None:
    f = router.nat_masquerade(site, nat({"chain": "srcnat", "action": "src-nat", "out-interface-list": "LAN"}))
    assert not f.ok
    assert "masquerades towards LAN" in f.message


def test_nat_masquerade_without_out_interface(site: Site) -> None:
    f = router.nat_masquerade(site, nat({"chain": "srcnat", "action": "masquerade"}))
    assert not f.ok
    assert "masquerades towards any interface" in f.message


def test_nat_no_masquerade_at_all(site: Site) -> None:
    f = router.nat_masquerade(site, nat())
    assert not f.ok
    assert f.message == "no masquerade towards ['ether1']"


def test_nat_disabled_masquerade_does_not_count(site: Site) -> None:
    f = router.nat_masquerade(site, nat({**MASQ_WAN, "disabled": "yes"}))
    assert not f.ok
    assert "no masquerade" in f.message


def test_nat_disabled_bad_rule_is_not_reported(site: Site) -> None:
    bad = {"chain": "srcnat", "action": "masquerade", "out-interface": "bridge-home", "disabled": "true"}
    assert router.nat_masquerade(site, nat(MASQ_WAN, bad)).ok


# ------------------------------------------------------------------------------------------------ dns
INTERNAL_HOSTS = [
    "argocd.homelab.int.zengarden.space",
    "gitea.homelab.int.zengarden.space",
    "metabase.homelab.int.zengarden.space",
    "grafana.homelab.int.zengarden.space",
    "alerts.homelab.int.zengarden.space",
    "kagent.homelab.int.zengarden.space",
]


def test_expected_records(site: Site) -> None:
    found = records.expected_records(site)
    by_name = {r.name: r for r in found}
    assert len(by_name) == len(found) == 11
    blades = [r for r in found if r.statement.control == "DNS-BLADE-RECORDS"]
    assert {r.name: str(r.address) for r in blades} == {
        "blade001.zengarden.space": "192.168.77.170",
        "blade002.zengarden.space": "192.168.77.171",
        "blade003.zengarden.space": "192.168.77.172",
        "blade004.zengarden.space": "192.168.77.173",
        "blade005.zengarden.space": "192.168.77.174",
    }
    assert by_name["blade003.zengarden.space"].why == "blade blade003"
    ingress = [r for r in found if r.statement.control == "DNS-INGRESS-RECORDS"]
    assert sorted(r.name for r in ingress) == sorted(INTERNAL_HOSTS)
    assert {str(r.address) for r in ingress} == {"192.168.77.200"}
    assert {r.why for r in ingress} == {"ingress class internal"}
    for external in ("homelab.zengarden.space", "notifications.zengarden.space"):
        assert external not in by_name
    assert not any(str(r.address) == "192.168.77.201" for r in found)


def _record(site: Site, name: str) -> ExpectedRecord:
    return next(r for r in records.expected_records(site) if r.name == name)


def dns(*rows: Mapping[str, object]) -> RouterConfig:
    return cfg({"/ip/dns/static": rows})


def test_dns_record_ok(site: Site) -> None:
    rec = _record(site, "grafana.homelab.int.zengarden.space")
    f = router.dns_record(rec, dns({"name": rec.name, "address": "192.168.77.200", "ttl": "30m"}))
    assert f.ok
    assert f.control == "DNS-INGRESS-RECORDS"
    assert f.subject == rec.name
    assert "A 192.168.77.200 (ingress class internal)" in f.message


def test_dns_blade_record_ok_with_explicit_type(site: Site) -> None:
    rec = _record(site, "blade001.zengarden.space")
    f = router.dns_record(rec, dns({"name": rec.name, "address": "192.168.77.170", "type": "A"}))
    assert f.ok
    assert f.control == "DNS-BLADE-RECORDS"


def test_dns_record_missing(site: Site) -> None:
    rec = _record(site, "blade004.zengarden.space")
    f = router.dns_record(rec, dns({"name": "blade005.zengarden.space", "address": "192.168.77.174"}))
    assert not f.ok
    assert f.control == "DNS-BLADE-RECORDS"
    assert f.message == "no A record; expected 192.168.77.173 (blade blade004)"


def test_dns_record_wrong_address(site: Site) -> None:
    rec = _record(site, "gitea.homelab.int.zengarden.space")
    f = router.dns_record(rec, dns({"name": rec.name, "address": "192.168.77.205"}))
    assert not f.ok
    assert f.control == "DNS-INGRESS-RECORDS"
    assert f.message == "A 192.168.77.205; expected 192.168.77.200 (ingress class internal)"


def test_dns_record_two_addresses(site: Site) -> None:
    rec = _record(site, "argocd.homelab.int.zengarden.space")
    f = router.dns_record(
        rec, dns({"name": rec.name, "address": "192.168.77.200"}, {"name": rec.name, "address": "192.168.77.201"})
    )
    assert not f.ok
    assert "A 192.168.77.200, 192.168.77.201; expected 192.168.77.200" in f.message


def test_dns_disabled_record_is_ignored(site: Site) -> None:
    rec = _record(site, "argocd.homelab.int.zengarden.space")
    stale = {"name": rec.name, "address": "192.168.77.205", "disabled": "yes"}
    assert router.dns_record(rec, dns(stale, {"name": rec.name, "address": "192.168.77.200"})).ok
    only_disabled = router.dns_record(rec, dns({"name": rec.name, "address": "192.168.77.200", "disabled": "true"}))
    assert not only_disabled.ok
    assert "no A record" in only_disabled.message


def test_dns_non_a_records_are_ignored(site: Site) -> None:
    rec = _record(site, "alerts.homelab.int.zengarden.space")
    config = dns(
        {"name": rec.name, "type": "CNAME", "cname": "elsewhere.example"},
        {"name": rec.name, "address": "192.168.77.200"},
    )
    assert router.dns_record(rec, config).ok


def test_dns_record_for_hand_built_expectation(site: Site) -> None:
    rec = ExpectedRecord("x.homelab.int.zengarden.space", IPv4Address("192.168.77.9"), site.dns.ingress_records, "test")
    assert router.dns_record(rec, dns({"name": rec.name, "address": "192.168.77.9"})).ok
    assert not router.dns_record(rec, dns({"name": "y.homelab.int.zengarden.space", "address": "192.168.77.9"})).ok
