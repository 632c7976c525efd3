"""Router firewall findings (checks/firewall.py) and where segments meet the router (flow_space.py), pure.

The site's converged router configuration (``desired_router``) must satisfy every check; each deviation
test changes that configuration in one place and expects exactly the finding that names the change.
Rule numbers are counted by hand from the desired filter layout:

    #0-#5   input: established, invalid, icmp, WireGuard endpoint, LAN services, input default
    #6-#8   forward: fasttrack, established, invalid
    #9-#23  denies: * -> management (6), wireguard -> home/management (2), cluster -> home (1), internet -> * (6)
    #24-#29 management -> * (6)
    #30     home -> cluster tcp 80,443      #31-#33 wireguard -> cluster, pods, services
    #34     cluster -> internet             #35 home -> internet              #36 forward default drop
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.analysis.firewall_eval import Box, Context, Firewall, FirewallError
from pytest_zengarden.analysis.flow_space import endpoints, forward_query, port_ints, protocol_ints, routed
from pytest_zengarden.analysis.intervals import ADDRESSES, PORTS, Ints
from pytest_zengarden.analysis.matrix import MatrixRow
from pytest_zengarden.analysis.ports import PortRange
from pytest_zengarden.checks import firewall as fwc
from pytest_zengarden.checks.findings import Finding
from pytest_zengarden.checks.site import flow_matrix
from pytest_zengarden.desired.router import desired_router
from pytest_zengarden.facts.router import RouterConfig
from pytest_zengarden.offline.rsc import load_rsc
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import Protocol, Site

REPO = Path(__file__).resolve().parent.parent
SITE_FILE = REPO / "fixtures" / "sites" / "zengarden.yaml"
RSC = REPO / "fixtures" / "recorded" / "router.rsc"
FILTER = "/ip/firewall/filter"
Menus = dict[str, list[dict[str, str]]]

HOME_WEB = 30  # the home -> cluster web allow
WG_CLUSTER = 31  # the wireguard -> cluster allow
FIRST_DENY = 9  # the first forward rule after the stateful basics
DEFAULT = 36  # the forward chain's final drop
LAN_SERVICES = 4  # input: in-interface-list=LAN accept


def ip(text: str) -> int:
    return int(IPv4Address(text))


def cidr(lo: str, hi: str) -> Ints:
    return Ints.span(ip(lo), ip(hi))


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE_FILE)


@pytest.fixture(scope="module")
def _desired(site: Site) -> Menus:
    return desired_router(site)


@pytest.fixture
def menus(_desired: Menus) -> Menus:
    """A private copy of the desired configuration, free to be changed by one test."""
    return copy.deepcopy(_desired)


def config(menus: Mapping[str, Any]) -> RouterConfig:
    return RouterConfig.from_records(menus, "desired")


def judged(menus: Mapping[str, Any]) -> tuple[RouterConfig, Firewall]:
    cfg = config(menus)
    return cfg, Firewall(cfg)


def routed_rows(site: Site) -> list[MatrixRow]:
    return [r for r in flow_matrix(site).rows if routed(site, r.src, r.dst)]


def flow_findings(site: Site, fw: Firewall) -> dict[str, Finding]:
    return {r.flow_id: fwc.flow(site, fw, r) for r in routed_rows(site)}


def failing(findings: Mapping[str, Finding]) -> dict[str, Finding]:
    return {k: f for k, f in findings.items() if not f.ok}


def row(site: Site, flow_id: str) -> MatrixRow:
    return next(r for r in flow_matrix(site).rows if r.flow_id == flow_id)


def insert(menus: Menus, index: int, rule: dict[str, str]) -> None:
    menus[FILTER].insert(index, rule)


def access(site: Site, access_id: str) -> tuple[fwc.Access, Any]:
    return next((a, s) for a, s in fwc.accesses(site) if a.id == access_id)


def service(menus: Menus, name: str) -> dict[str, str]:
    return next(r for r in menus["/ip/service"] if r["name"] == name)


# ======================================================================================== layout check
def test_desired_filter_layout_matches_the_hand_count(_desired: Menus) -> None:
    """The rule numbers this file relies on, checked once against the desired records' comments."""
    comments = [r["comment"] for r in _desired[FILTER]]
    assert len(comments) == DEFAULT + 1
    assert comments[LAN_SERVICES] == "zg:RTR-SERVICES router services from LAN"
    assert comments[FIRST_DENY] == "zg:FW-MGMT-NO-INBOUND cluster -> management"
    assert comments[HOME_WEB] == "zg:FW-HOME-WEB home -> cluster"
    assert comments[WG_CLUSTER] == "zg:FW-WG-CLUSTER wireguard -> cluster"
    assert comments[DEFAULT] == "zg:FW-DEFAULT-DENY default"


# ====================================================================================== desired: all ok
def test_every_routed_flow_row_is_ok_on_the_desired_config(site: Site, _desired: Menus) -> None:
    _, fw = judged(_desired)
    findings = flow_findings(site, fw)
    assert len(findings) == 112  # see test_routed_rows_count
    assert not failing(findings), "\n".join(str(f) for f in failing(findings).values())


def test_routed_rows_count(site: Site) -> None:
    """42 ordered pairs, 6 of them (cluster/pods/services among themselves) on one wire: 36 routed pairs.

    Each pair has tcp, udp and icmp rows; home -> cluster splits tcp into 5 runs (1-79, 80, 81-442, 443,
    444-65535): 36 * 3 + 4 = 112.
    """
    rows = routed_rows(site)
    assert len({(r.src, r.dst) for r in rows}) == 36
    assert len(rows) == 36 * 3 + 4
    assert len(flow_matrix(site).rows) - len(rows) == 6 * 3


@pytest.mark.parametrize(
    ("flow_id", "control", "message"),
    [
        (
            "home->cluster:tcp/80",
            "FW-HOME-WEB",
            'config accepts as designed (rule #30 "zg:FW-HOME-WEB home -> cluster")',
        ),
        (
            "home->cluster:tcp/1-79",
            "FW-DEFAULT-DENY",
            'config drops as designed (rule #36 "zg:FW-DEFAULT-DENY default")',
        ),
        (
            "cluster->home:icmp",
            "FW-CLUSTER-NO-HOME",
            'config drops as designed (rule #17 "zg:FW-CLUSTER-NO-HOME cluster -> home")',
        ),
        (
            "internet->pods:udp/1-65535",
            "FW-WAN-NO-INBOUND",
            'config drops as designed (rule #22 "zg:FW-WAN-NO-INBOUND internet -> pods")',
        ),
        (
            "management->internet:tcp/1-65535",
            "FW-MGMT-ALL",
            'config accepts as designed (rule #27 "zg:FW-MGMT-ALL management -> internet")',
        ),
    ],
)
def test_flow_ok_names_the_deciding_rule(site: Site, _desired: Menus, flow_id: str, control: str, message: str) -> None:
    _, fw = judged(_desired)
    f = fwc.flow(site, fw, row(site, flow_id))
    assert f.ok
    assert (f.control, f.subject, f.message) == (control, flow_id, message)


def test_every_router_access_is_ok_on_the_desired_config(site: Site, _desired: Menus) -> None:
    cfg, fw = judged(_desired)
    results = [fwc.router_access(site, fw, cfg, a, s) for a, s in fwc.accesses(site)]
    assert len(results) == 51  # 5 non-overlay segments x (8 services + dns udp/tcp) + the WAN's WireGuard
    assert all(f.ok for f in results), "\n".join(str(f) for f in results if not f.ok)


@pytest.mark.parametrize(
    ("access_id", "control", "message"),
    [
        ("management->router:ssh", "RTR-SERVICES",
         'ssh (tcp/22) reachable (/ip/service ssh admits 192.168.100.0/24; rule #4 "zg:RTR-SERVICES router services '
         'from LAN")'),
        ("home->router:ssh", "RTR-SERVICES",
         "ssh (tcp/22) not reachable (/ip/service ssh admits 192.168.100.0/24, not home)"),
        ("cluster->router:telnet", "RTR-SERVICES", "telnet (tcp/23) not reachable (/ip/service telnet is disabled)"),
        ("internet->router:dns-udp", "RTR-DNS-RESOLVER",
         'dns-udp (udp/53) not reachable (input chain: rule #5 "zg:FW-DEFAULT-DENY input default")'),
        ("wireguard->router:dns-tcp", "RTR-DNS-RESOLVER",
         'dns-tcp (tcp/53) reachable (allow-remote-requests=yes; rule #4 "zg:RTR-SERVICES router services from LAN")'),
        ("internet->router:wireguard", "NET-SEG-WG",
         'wireguard (udp/51820) reachable (WireGuard endpoint; rule #3 "zg:NET-SEG-WG wireguard WireGuard endpoint")'),
    ],
)  # fmt: skip
def test_router_access_messages(site: Site, _desired: Menus, access_id: str, control: str, message: str) -> None:
    cfg, fw = judged(_desired)
    f = fwc.router_access(site, fw, cfg, *access(site, access_id))
    assert f.ok
    assert (f.control, f.subject, f.message) == (control, access_id, message)


def test_no_inbound_management_ok(site: Site, _desired: Menus) -> None:
    _, fw = judged(_desired)
    f = fwc.no_inbound(site, fw, "management")
    assert f.ok
    assert (f.control, f.subject) == ("FW-MGMT-NO-INBOUND", "management inbound")
    assert f.message == "no segment can open connections into management"


def test_wan_inbound_ok(site: Site, _desired: Menus) -> None:
    cfg, fw = judged(_desired)
    findings = fwc.wan_inbound(site, fw, cfg)
    assert len(findings) == 1
    f = findings[0]
    assert f.ok
    assert (f.control, f.subject) == ("FW-WAN-NO-INBOUND", "internet inbound")
    assert f.message == "new connections from internet are dropped and nothing is destination-NATed"


def test_tls_services_ok(site: Site, _desired: Menus) -> None:
    f = fwc.tls_services(site, config(_desired))
    assert f.ok
    assert (f.control, f.subject) == ("RTR-SERVICES", "TLS services")
    assert f.message == "TLS services: api-ssl, www-ssl present certificates; the plugin uses api-ssl"


def test_protected_segments_is_management_only(site: Site) -> None:
    found = fwc.protected_segments(site)
    assert [name for name, _ in found] == ["management"]
    assert found[0][1].control == "FW-MGMT-NO-INBOUND"


def test_no_inbound_refuses_a_segment_the_design_leaves_open(site: Site, _desired: Menus) -> None:
    _, fw = judged(_desired)
    with pytest.raises(ValueError, match="does not close segment 'cluster'"):
        fwc.no_inbound(site, fw, "cluster")


@pytest.mark.parametrize(
    "flow_id", ["cluster->pods:tcp/1-65535", "pods->services:icmp", "services->cluster:udp/1-65535"]
)
def test_flow_refuses_a_row_that_does_not_cross_the_router(site: Site, _desired: Menus, flow_id: str) -> None:
    _, fw = judged(_desired)
    with pytest.raises(ValueError, match=f"{flow_id} does not cross the router"):
        fwc.flow(site, fw, row(site, flow_id))


def test_flow_rows_keeps_routed_rows_only(site: Site) -> None:
    kept = fwc.flow_rows(site, flow_matrix(site).rows)
    assert kept == routed_rows(site)
    assert not any({r.src, r.dst} <= {"cluster", "pods", "services"} for r in kept)


# ========================================================================================== deviations
def _allow_ssh_from_home(menus: Menus) -> None:
    """An accept for home -> cluster SSH just before the designed web allow (the recorded homelab's mistake)."""
    insert(
        menus,
        HOME_WEB,
        {"chain": "forward", "action": "accept", "src-address": "192.168.88.0/24", "dst-address": "192.168.77.0/24",
         "protocol": "tcp", "dst-port": "22", "comment": "ssh from home"},
    )  # fmt: skip


def test_ssh_from_home_fails_exactly_the_row_holding_port_22(site: Site, menus: Menus) -> None:
    _allow_ssh_from_home(menus)
    _, fw = judged(menus)
    bad = failing(flow_findings(site, fw))
    assert list(bad) == ["home->cluster:tcp/1-79"]
    f = bad["home->cluster:tcp/1-79"]
    assert f.control == "FW-DEFAULT-DENY"
    assert f.message == 'home -> cluster tcp/22: expected drop, config accepts (rule #30 "ssh from home")'
    # the web allow moved down one place and still decides port 80
    assert fwc.flow(site, fw, row(site, "home->cluster:tcp/80")).message == (
        'config accepts as designed (rule #31 "zg:FW-HOME-WEB home -> cluster")'
    )


def test_recorded_export_allows_ssh_from_home(site: Site) -> None:
    """The recorded router's deliberate deviation, judged from the .rsc file."""
    fw = Firewall(load_rsc(RSC))
    bad = failing(flow_findings(site, fw))
    assert list(bad) == ["home->cluster:tcp/1-79"]
    assert bad["home->cluster:tcp/1-79"].message == (
        'home -> cluster tcp/22: expected drop, config accepts (rule #10 "Allow Home → Homelab (SSH,HTTP,HTTPS)")'
    )


def test_missing_wireguard_cluster_allow_fails_the_wireguard_cluster_rows(site: Site, menus: Menus) -> None:
    removed = menus[FILTER].pop(WG_CLUSTER)
    assert removed["comment"] == "zg:FW-WG-CLUSTER wireguard -> cluster"
    _, fw = judged(menus)
    bad = failing(flow_findings(site, fw))
    assert sorted(bad) == [
        "wireguard->cluster:icmp",
        "wireguard->cluster:tcp/1-65535",
        "wireguard->cluster:udp/1-65535",
    ]
    default = 'rule #35 "zg:FW-DEFAULT-DENY default"'  # the default drop moved up one place
    assert bad["wireguard->cluster:tcp/1-65535"].message == (f"expected accept, config drops ({default})")
    assert bad["wireguard->cluster:udp/1-65535"].message == (f"expected accept, config drops ({default})")
    assert bad["wireguard->cluster:icmp"].message == f"expected accept, config drops ({default})"
    assert all(f.control == "FW-WG-CLUSTER" for f in bad.values())


def test_home_to_management_accept_fails_no_inbound(site: Site, menus: Menus) -> None:
    insert(
        menus,
        FIRST_DENY,
        {"chain": "forward", "action": "accept", "src-address": "192.168.88.0/24", "dst-address": "192.168.100.0/24",
         "comment": "printer admin"},
    )  # fmt: skip
    _, fw = judged(menus)
    f = fwc.no_inbound(site, fw, "management")
    assert not f.ok
    assert f.control == "FW-MGMT-NO-INBOUND"
    assert f.message == 'home -> management (protocols all): expected drop, config accepts (rule #9 "printer admin")'


def test_no_inbound_names_protocols_and_ports_of_a_narrow_hole(site: Site, menus: Menus) -> None:
    insert(
        menus,
        FIRST_DENY,
        {"chain": "forward", "action": "accept", "in-interface": "bridge-homelab", "dst-address": "192.168.100.0/24",
         "protocol": "tcp", "dst-port": "22,3389"},
    )  # fmt: skip
    _, fw = judged(menus)
    f = fwc.no_inbound(site, fw, "management")
    assert not f.ok
    # pods and services ride on the cluster's interface: three sources through one rule
    expected = "(protocols tcp, ports 22,3389): expected drop, config accepts (rule #9 (chain=forward action=accept))"
    assert f.message.splitlines() == [f"{src} -> management {expected}" for src in ("cluster", "pods", "services")]


def test_telnet_enabled_for_any_address_fails_for_lan_segments_only(site: Site, menus: Menus) -> None:
    telnet = service(menus, "telnet")
    telnet.update({"disabled": "false", "address": ""})
    cfg, fw = judged(menus)
    for seg in ("cluster", "home", "management", "wireguard"):
        f = fwc.router_access(site, fw, cfg, *access(site, f"{seg}->router:telnet"))
        assert not f.ok, seg
        assert f.control == "RTR-SERVICES"
        assert f.message == (
            f"{seg} -> router tcp/23: expected drop, config accepts "
            f'(rule #4 "zg:RTR-SERVICES router services from LAN"); and /ip/service telnet admits any address'
        )
    wan = fwc.router_access(site, fw, cfg, *access(site, "internet->router:telnet"))
    assert wan.ok
    assert wan.message == 'telnet (tcp/23) not reachable (input chain: rule #5 "zg:FW-DEFAULT-DENY input default")'


def test_recorded_telnet_admits_management_only(site: Site) -> None:
    cfg = load_rsc(RSC)
    fw = Firewall(cfg)
    mgmt = fwc.router_access(site, fw, cfg, *access(site, "management->router:telnet"))
    assert not mgmt.ok
    assert mgmt.message == (
        "management -> router tcp/23: expected drop, config accepts (rule #3 (chain=input action=accept)); "
        "and /ip/service telnet admits 192.168.100.0/24"
    )
    home = fwc.router_access(site, fw, cfg, *access(site, "home->router:telnet"))
    assert home.ok
    assert home.message == "telnet (tcp/23) not reachable (/ip/service telnet admits 192.168.100.0/24, not home)"


def test_service_blocked_by_the_input_chain_fails_when_expected_reachable(site: Site, menus: Menus) -> None:
    del menus[FILTER][LAN_SERVICES]
    cfg, fw = judged(menus)
    f = fwc.router_access(site, fw, cfg, *access(site, "management->router:ssh"))
    assert not f.ok
    assert (
        f.message
        == 'management -> router tcp/22: expected accept, config drops (rule #4 "zg:FW-DEFAULT-DENY input default")'
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"disabled": "true"}, "expected ssh (tcp/22) reachable from management; /ip/service ssh is disabled"),
        ({"port": "2222"},
         "expected ssh (tcp/22) reachable from management; /ip/service ssh admits 192.168.100.0/24 on port 2222"),
        ({"address": "192.168.100.10/32"},
         "expected ssh (tcp/22) reachable from all of management; /ip/service ssh admits 192.168.100.10/32"),
    ],
)  # fmt: skip
def test_service_settings_that_keep_management_out(
    site: Site, menus: Menus, change: dict[str, str], message: str
) -> None:
    service(menus, "ssh").update(change)
    cfg, fw = judged(menus)
    f = fwc.router_access(site, fw, cfg, *access(site, "management->router:ssh"))
    assert not f.ok
    assert f.message == message


def test_dst_nat_rule_fails_wan_inbound_naming_the_nat_rule(site: Site, menus: Menus) -> None:
    menus["/ip/firewall/nat"].append(
        {"chain": "dstnat", "action": "dst-nat", "in-interface-list": "WAN", "protocol": "tcp", "dst-port": "443",
         "to-addresses": "192.168.77.201", "comment": "expose ingress"}
    )  # fmt: skip
    cfg, fw = judged(menus)
    [f] = fwc.wan_inbound(site, fw, cfg)
    assert not f.ok
    assert f.control == "FW-WAN-NO-INBOUND"
    assert f.message == (
        'nat rule #1 "expose ingress" forwards tcp/443 to 192.168.77.201: '
        "the design allows no inbound path but the tunnel"
    )


def test_disabled_dst_nat_rule_is_not_an_inbound_path(site: Site, menus: Menus) -> None:
    menus["/ip/firewall/nat"].append(
        {"chain": "dstnat", "action": "dst-nat", "to-addresses": "192.168.77.201", "disabled": "true"}
    )
    cfg, fw = judged(menus)
    assert fwc.wan_inbound(site, fw, cfg)[0].ok


def test_forward_accept_from_wan_fails_wan_inbound(site: Site, menus: Menus) -> None:
    insert(
        menus,
        FIRST_DENY,
        {"chain": "forward", "action": "accept", "in-interface-list": "WAN", "out-interface": "bridge-homelab",
         "dst-address": "192.168.77.201", "protocol": "tcp", "dst-port": "443", "comment": "port forward"},
    )  # fmt: skip
    cfg, fw = judged(menus)
    [f] = fwc.wan_inbound(site, fw, cfg)
    assert not f.ok
    assert f.message == (
        "internet -> bridge-homelab to 192.168.77.201 (protocols tcp, ports 443): expected drop of new connections "
        'not destination-NATed, config accepts (rule #9 "port forward")'
    )


def test_wan_inbound_reports_only_where_the_traffic_is_routed(site: Site, menus: Menus) -> None:
    """Without an out-interface matcher the rule is judged on the interface its destination is routed by."""
    insert(
        menus,
        FIRST_DENY,
        {"chain": "forward", "action": "accept", "in-interface": "ether1", "dst-address": "192.168.77.201",
         "protocol": "udp", "dst-port": "51000-51010"},
    )  # fmt: skip
    cfg, fw = judged(menus)
    [f] = fwc.wan_inbound(site, fw, cfg)
    assert not f.ok
    tail = (
        "to 192.168.77.201 (protocols udp, ports 51000-51010): expected drop of new connections not "
        "destination-NATed, config accepts (rule #9 (chain=forward action=accept))"
    )
    assert f.message.splitlines() == [f"internet -> bridge-homelab {tail}"]


@pytest.mark.parametrize(
    ("certificate", "message"),
    [
        ("none", "api-ssl presents no certificate (anonymous TLS authenticates nobody)"),
        ("", "api-ssl presents no certificate (anonymous TLS authenticates nobody)"),
        ("self-signed", "api-ssl presents certificate 'self-signed', expected 'zengarden-router'"),
    ],
)
def test_api_ssl_without_the_designed_certificate_fails(
    site: Site, menus: Menus, certificate: str, message: str
) -> None:
    service(menus, "api-ssl")["certificate"] = certificate
    f = fwc.tls_services(site, config(menus))
    assert not f.ok
    assert f.message == message


def test_ssh_from_one_home_address_is_qualified_by_source(site: Site, menus: Menus) -> None:
    insert(
        menus,
        FIRST_DENY,
        {"chain": "forward", "action": "accept", "src-address": "192.168.88.5", "dst-address": "192.168.77.0/24",
         "comment": "laptop"},
    )  # fmt: skip
    _, fw = judged(menus)
    bad = failing(flow_findings(site, fw))
    assert sorted(bad) == [
        "home->cluster:icmp",
        "home->cluster:tcp/1-79",
        "home->cluster:tcp/444-65535",
        "home->cluster:tcp/81-442",
        "home->cluster:udp/1-65535",
    ]
    assert bad["home->cluster:tcp/1-79"].message == (
        'home -> cluster tcp/1-79 from 192.168.88.5: expected drop, config accepts (rule #9 "laptop")'
    )
    assert bad["home->cluster:icmp"].message == (
        'home -> cluster icmp from 192.168.88.5: expected drop, config accepts (rule #9 "laptop")'
    )


def test_source_port_hole_is_qualified_by_source_port(site: Site, menus: Menus) -> None:
    insert(
        menus,
        FIRST_DENY,
        {"chain": "forward", "action": "accept", "protocol": "udp", "src-port": "53", "comment": "dns replies"},
    )
    _, fw = judged(menus)
    bad = failing(flow_findings(site, fw))
    f = bad["home->cluster:udp/1-65535"]
    assert f.message == (
        'home -> cluster udp/1-65535 from source port 53: expected drop, config accepts (rule #9 "dns replies")'
    )
    assert all(k.split(":")[1].startswith("udp") for k in bad)  # tcp and icmp are untouched


def test_flow_lists_several_deviations_of_one_row(site: Site, menus: Menus) -> None:
    for i, port in enumerate(("22", "23", "25")):
        insert(
            menus,
            FIRST_DENY + i,
            {"chain": "forward", "action": "accept", "src-address": "192.168.88.0/24",
             "dst-address": "192.168.77.0/24", "protocol": "tcp", "dst-port": port, "comment": f"open {port}"},
        )  # fmt: skip
    _, fw = judged(menus)
    f = fwc.flow(site, fw, row(site, "home->cluster:tcp/1-79"))
    assert not f.ok
    assert f.message.splitlines() == [
        f'home -> cluster tcp/{port}: expected drop, config accepts (rule #{FIRST_DENY + i} "open {port}")'
        for i, port in enumerate(("22", "23", "25"))
    ]


# ========================================================================================== flow_space
# A router with nothing over its ports: each segment meets it on the interface the site names.
PORTS_ONLY = RouterConfig.from_records({}, "no interface over a port")


@pytest.mark.parametrize(
    ("segment", "interface", "carrier"),
    [
        ("cluster", "bridge-homelab", "cluster"),
        ("pods", "bridge-homelab", "cluster"),
        ("services", "bridge-homelab", "cluster"),
        ("home", "bridge-home", "home"),
        ("management", "ether5", "management"),
        ("wireguard", "wireguard1", "wireguard"),
        ("internet", "ether1", "internet"),
    ],
)
def test_endpoint_interfaces_and_carriers(site: Site, segment: str, interface: str, carrier: str) -> None:
    ep = endpoints(site, PORTS_ONLY)[segment]
    assert (ep.segment, ep.interface, ep.carrier) == (segment, interface, carrier)


@pytest.mark.parametrize(
    ("segment", "lo", "hi"),
    [
        ("cluster", "192.168.77.0", "192.168.77.255"),
        ("home", "192.168.88.0", "192.168.88.255"),
        ("pods", "10.42.0.0", "10.42.255.255"),
        ("services", "10.43.0.0", "10.43.255.255"),
    ],
)
def test_endpoint_addresses_are_the_segment_cidr(site: Site, segment: str, lo: str, hi: str) -> None:
    assert endpoints(site, PORTS_ONLY)[segment].addresses == cidr(lo, hi)


def test_internet_is_every_address_but_the_sites_loopback_and_reserved(site: Site) -> None:
    internet = endpoints(site, PORTS_ONLY)["internet"].addresses
    for outside in (
        "192.168.77.1",
        "192.168.88.200",
        "192.168.100.1",
        "192.168.216.9",
        "10.42.1.1",
        "10.43.255.255",
        "127.0.0.1",
        "127.255.255.255",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
    ):
        assert ip(outside) not in internet, outside
    for inside in (
        "8.8.8.8",
        "1.1.1.1",
        "192.168.76.255",
        "192.168.78.0",
        "10.41.255.255",
        "10.44.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "223.255.255.255",
    ):
        assert ip(inside) in internet, inside
    excluded = 4 * 2**8 + 2 * 2**16 + 2**24 + 2**24 + 2**29  # 4 /24s, 2 /16s, 0/8, 127/8, 224/3
    assert internet.size == 2**32 - excluded
    site_cidrs = Ints([r for s in ("cluster", "home", "management", "wireguard", "pods", "services")
                       for r in endpoints(site, PORTS_ONLY)[s].addresses.ranges])  # fmt: skip
    assert not (internet & site_cidrs)


@pytest.mark.parametrize(
    ("src", "dst", "crosses"),
    [
        ("cluster", "pods", False),
        ("pods", "cluster", False),
        ("pods", "services", False),
        ("services", "pods", False),
        ("cluster", "services", False),
        ("home", "home", False),
        ("home", "cluster", True),
        ("cluster", "home", True),
        ("wireguard", "pods", True),
        ("pods", "internet", True),
        ("internet", "management", True),
    ],
)
def test_routed(site: Site, src: str, dst: str, crosses: bool) -> None:
    assert routed(site, src, dst) is crosses


def test_forward_query_for_a_ported_flow(site: Site) -> None:
    ctx, box = forward_query(site, PORTS_ONLY, "home", "cluster", Protocol.TCP, PortRange(80, 80))
    assert ctx == Context("forward", "bridge-home", "bridge-homelab", "new", frozenset())
    assert box == Box(
        cidr("192.168.88.0", "192.168.88.255"), cidr("192.168.77.0", "192.168.77.255"), Ints.point(6), PORTS,
        Ints.point(80),
    )  # fmt: skip


def test_forward_query_for_icmp_has_no_ports(site: Site) -> None:
    ctx, box = forward_query(site, PORTS_ONLY, "wireguard", "pods", Protocol.ICMP, None)
    assert (ctx.in_interface, ctx.out_interface) == ("wireguard1", "bridge-homelab")
    assert box.proto == Ints.point(1)
    assert box.sport == box.dport == Ints.point(0)


def test_forward_query_for_udp_without_ports_covers_every_port(site: Site) -> None:
    _, box = forward_query(site, PORTS_ONLY, "home", "internet", Protocol.UDP, None)
    assert box.dport == PORTS and box.sport == PORTS and box.proto == Ints.point(17)
    assert box.dst == endpoints(site, PORTS_ONLY)["internet"].addresses


def test_protocol_and_port_ints() -> None:
    assert protocol_ints(Protocol.UDP) == Ints.point(17)
    with pytest.raises(ValueError, match="one protocol"):
        protocol_ints(Protocol.ANY)
    assert port_ints(None) == PORTS
    assert port_ints(PortRange(81, 442)) == Ints.span(81, 442)


def test_router_addresses(_desired: Menus) -> None:
    got = fwc.router_addresses(config(_desired))
    assert got == Ints([(ip(a), ip(a)) for a in ("192.168.77.1", "192.168.88.1", "192.168.100.1", "192.168.216.1")])
    assert fwc.router_addresses(config({})) == ADDRESSES


# --- found in review: gaps a deviating router could slip through ------------------------------------------


def test_every_other_protocol_pair_passes_on_the_design(site: Site, menus: Menus) -> None:
    _, fw = judged(menus)
    pairs = fwc.other_protocol_pairs(site)
    assert {p.id for p in pairs} >= {"cluster->home:other", "wireguard->pods:other", "home->management:other"}
    assert all(fwc.other_flow(site, fw, p).ok for p in pairs)
    decided = {p.id: p.decision.control for p in pairs}
    assert decided["cluster->home:other"] == "FW-CLUSTER-NO-HOME"  # the deny for any protocol
    assert decided["wireguard->cluster:other"] == "FW-WG-CLUSTER"  # the allow for any protocol
    assert decided["home->cluster:other"] == "FW-DEFAULT-DENY"  # home's allow names tcp only


def test_gre_from_cluster_to_home_fails_the_other_protocols_check(site: Site, menus: Menus) -> None:
    gre = {"chain": "forward", "action": "accept", "protocol": "gre", "comment": "gre"}
    insert(menus, FIRST_DENY, gre | {"in-interface": "bridge-homelab", "out-interface": "bridge-home"})
    _, fw = judged(menus)
    pair = next(p for p in fwc.other_protocol_pairs(site) if p.id == "cluster->home:other")
    f = fwc.other_flow(site, fw, pair)
    assert not f.ok and f.control == "FW-CLUSTER-NO-HOME"
    assert f.message == f'cluster -> home (protocols gre): expected drop, config accepts (rule #{FIRST_DENY} "gre")'
    # The tcp/udp/icmp rows do not see it: that is why the pair has its own check.
    assert all(fwc.flow(site, fw, r).ok for r in routed_rows(site) if (r.src, r.dst) == ("cluster", "home"))


def test_allowed_rows_fail_when_the_answers_are_refused(site: Site, menus: Menus) -> None:
    # Drop established answers back into home: new connections pass, nothing ever comes back.
    insert(menus, 0, {"chain": "forward", "action": "drop", "connection-state": "established",
                      "out-interface": "bridge-home", "comment": "no answers to home"})  # fmt: skip
    _, fw = judged(menus)
    row = next(r for r in routed_rows(site) if r.flow_id == "home->cluster:tcp/80")
    f = fwc.flow(site, fw, row)
    assert not f.ok
    assert "the config accepts the connections" in f.message
    assert 'drops their answers (rule #0 "no answers to home")' in f.message


def test_a_list_the_firewall_grows_cannot_be_judged(menus: Menus) -> None:
    # Port knocking: the first knock adds the source to a list a later rule accepts.
    menus[FILTER][FIRST_DENY:FIRST_DENY] = [
        {"chain": "forward", "action": "add-src-to-address-list", "address-list": "knocked",
         "in-interface-list": "WAN", "protocol": "tcp", "dst-port": "7000", "comment": "knock"},
        {"chain": "forward", "action": "accept", "src-address-list": "knocked", "comment": "let knockers in"},
    ]  # fmt: skip
    with pytest.raises(FirewallError, match=r"address list 'knocked' grows at run time \(filter rule #9 \"knock\""):
        Firewall(config(menus))


def test_port_forwards_in_any_nat_chain_and_upnp_fail_wan_inbound(site: Site, menus: Menus) -> None:
    menus["/ip/firewall/nat"] += [
        {"chain": "dstnat", "action": "jump", "jump-target": "pf"},
        {"chain": "pf", "action": "dst-nat", "protocol": "tcp", "dst-port": "2222", "to-addresses": "192.168.77.170",
         "to-ports": "22", "comment": "ssh to blade001"},
    ]  # fmt: skip
    menus["/ip/upnp"] = [{"enabled": "yes"}]
    cfg, fw = judged(menus)
    [f] = fwc.wan_inbound(site, fw, cfg)
    assert not f.ok
    assert 'nat rule #2 "ssh to blade001" forwards tcp/2222 to 192.168.77.170' in f.message
    assert "/ip upnp is enabled" in f.message


def test_a_service_moved_to_another_port_is_judged_where_it_listens(site: Site, menus: Menus) -> None:
    svc = service(menus, "ssh")
    svc.update({"port": "2222", "address": ""})
    insert(menus, LAN_SERVICES, {"chain": "input", "action": "accept", "protocol": "tcp", "dst-port": "2222",
                                 "comment": "ssh anywhere"})  # fmt: skip
    cfg, fw = judged(menus)
    a, statement = access(site, "internet->router:ssh")
    f = fwc.router_access(site, fw, cfg, a, statement)
    assert not f.ok
    assert f.message.startswith("ssh: internet -> router tcp/2222: expected drop, config accepts")


def test_a_deviation_over_the_whole_row_does_not_repeat_the_row(site: Site, menus: Menus) -> None:
    """The subject names the row; a message that covers all of it says only what is wrong."""
    _allow_ssh_from_home(menus)
    _, fw = judged(menus)
    only_22 = row(site, "home->cluster:tcp/1-79")
    narrowed = MatrixRow(only_22.src, only_22.dst, only_22.protocol, PortRange(22, 22), only_22.decision)
    f = fwc.flow(site, fw, narrowed)
    assert not f.ok and f.subject == "home->cluster:tcp/22"
    assert f.message == 'expected drop, config accepts (rule #30 "ssh from home")'


def test_tls_services_judge_what_the_router_runs_and_how_the_plugin_verifies(site: Site, _desired: Menus) -> None:
    """A TLS service the site leaves out still runs on a factory router; verify_tls=false authenticates nobody."""
    menus = copy.deepcopy(_desired)
    for row in menus["/ip/service"]:
        if row["name"] == "api-ssl":
            row["certificate"] = "none"
    slim = site.model_copy(deep=True)
    del slim.router.hardening.services["api-ssl"]  # the site does not use it, the router still runs it
    f = fwc.tls_services(slim, config(menus))
    assert not f.ok and "api-ssl presents no certificate" in f.message
    assert site.inventory is not None and site.inventory.router is not None
    router = site.inventory.router.model_copy(update={"verify_tls": False})
    lax = site.model_copy(update={"inventory": site.inventory.model_copy(update={"router": router})})
    f = fwc.tls_services(lax, config(_desired))
    assert not f.ok and "verify_tls is false" in f.message
