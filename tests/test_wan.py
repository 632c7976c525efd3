"""The WAN as the router means it: the interface over the site's port (issue 9, finding 3).

The recording ``recordings/routeros/wan-pppoe.rsc`` is an export as RouterOS 7 writes it (defaults left
out, long lines wrapped) of a router built to the design whose uplink is a PPPoE client, ``pppoe-out1``
over ``ether1``; its WAN interface list holds ``pppoe-out1``.  The site says the WAN is cabled to
``ether1``.  Flows, NAT and the interface-list check must all judge ``pppoe-out1``, and agree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_zengarden.analysis.firewall_eval import Firewall
from pytest_zengarden.analysis.flow_space import endpoints, routed
from pytest_zengarden.analysis.matrix import MatrixRow
from pytest_zengarden.checks import firewall as fwc
from pytest_zengarden.checks import router as rtc
from pytest_zengarden.checks.site import flow_matrix
from pytest_zengarden.facts.router import RouterConfig, RouterFactsError, uplink
from pytest_zengarden.offline.rsc import parse_rsc
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import Site

HERE = Path(__file__).resolve().parent
SITE_FILE = HERE.parent / "fixtures" / "sites" / "zengarden.yaml"
RECORDING = HERE / "recordings" / "routeros" / "wan-pppoe.rsc"
TEXT = RECORDING.read_text(encoding="utf-8")
WAN_MEMBER = "add interface=pppoe-out1 list=WAN\n"


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE_FILE)


def export(edit: Callable[[str], str] | None = None) -> RouterConfig:
    """The recording, optionally edited the way an operator would change the router."""
    text = TEXT if edit is None else edit(TEXT)
    assert edit is None or text != TEXT, "the edit changed nothing"
    return parse_rsc(text, RECORDING.name)


def internet_rows(site: Site) -> list[MatrixRow]:
    return [r for r in flow_matrix(site).rows if "internet" in (r.src, r.dst) and routed(site, r.src, r.dst)]


# ------------------------------------------------------------------------------------------- the facts
def test_the_wan_is_the_pppoe_client_over_the_sites_port(site: Site) -> None:
    up = uplink(export(), "ether1")
    assert (up.port, up.interface, up.layers) == ("ether1", "pppoe-out1", ("ether1", "pppoe-out1"))
    assert up.describe() == "pppoe-out1 (PPPoE client over ether1)"
    assert endpoints(site, export())["internet"].interface == "pppoe-out1"


def test_every_flow_of_the_recording_is_judged_as_the_design_says(site: Site) -> None:
    """Before the fix every flow to the internet was judged on ether1, which no rule names: dropped."""
    fw = Firewall(export())
    rows = [r for r in flow_matrix(site).rows if routed(site, r.src, r.dst)]
    wrong = [f for f in (fwc.flow(site, fw, r) for r in rows) if not f.ok]
    assert not wrong, "\n".join(map(str, wrong))
    found = fwc.flow(site, fw, next(r for r in rows if r.flow_id == "cluster->internet:tcp/1-65535"))
    assert 'rule #11 "Allow Homelab → Internet"' in found.message


def test_nat_and_the_wan_list_pass_on_the_recording(site: Site) -> None:
    config = export()
    nat = rtc.nat_masquerade(site, config)
    wan = rtc.interface_list(site, "WAN", config)
    assert nat.ok, nat.message
    assert wan.ok, wan.message
    assert wan.message == "members ['pppoe-out1']"
    assert rtc.interface_list(site, "LAN", config).ok


def test_wan_inbound_and_the_wireguard_endpoint_are_judged_on_the_pppoe_client(site: Site) -> None:
    config = export()
    fw = Firewall(config)
    assert all(f.ok for f in fwc.wan_inbound(site, fw, config))
    access, statement = next((a, s) for a, s in fwc.accesses(site) if a.id == "internet->router:wireguard")
    assert fwc.router_access(site, fw, config, access, statement).ok


def test_the_port_underneath_may_stay_in_the_wan_list(site: Site) -> None:
    """The factory configuration's ``ether1`` member, kept beside ``pppoe-out1``, is the same wire."""
    config = export(lambda t: t.replace(WAN_MEMBER, "add comment=defconf interface=ether1 list=WAN\n" + WAN_MEMBER))
    assert rtc.interface_list(site, "WAN", config).ok
    assert rtc.nat_masquerade(site, config).ok


# ------------------------------------------------------------------- a WAN list without the PPPoE client
@pytest.fixture
def port_in_wan() -> RouterConfig:
    """The factory WAN member, ``ether1``, never replaced by ``pppoe-out1``."""
    return export(lambda t: t.replace(WAN_MEMBER, "add comment=defconf interface=ether1 list=WAN\n"))


def test_flows_nat_and_list_agree_when_the_wan_list_lacks_the_pppoe_client(
    site: Site, port_in_wan: RouterConfig
) -> None:
    """Before the fix all three passed: ether1 was 'the WAN', the list held it, NAT passed by the name WAN."""
    fw = Firewall(port_in_wan)
    outbound = {r.flow_id: fwc.flow(site, fw, r) for r in internet_rows(site) if r.dst == "internet"}
    assert not outbound["cluster->internet:tcp/1-65535"].ok  # no rule admits pppoe-out1: dropped
    nat = rtc.nat_masquerade(site, port_in_wan)
    wan = rtc.interface_list(site, "WAN", port_in_wan)
    assert not nat.ok and not wan.ok
    assert nat.message == (
        "nat rule #0 (defconf: masquerade) masquerades towards WAN, but the router reaches the internet through "
        "pppoe-out1 (PPPoE client over ether1): internet traffic leaves by pppoe-out1, which the rule does not "
        "match, so it is not masqueraded; match pppoe-out1 (out-interface=pppoe-out1, or add it to the rule's "
        "interface list)"
    )
    assert wan.message.startswith("missing ['pppoe-out1'] (")
    assert "/interface list member add interface=pppoe-out1 list=WAN" in wan.message
    assert "ether1 under it carries none of that traffic itself" in wan.message
    assert "unexpected" not in wan.message  # ether1 is not the fix, nor the problem


def test_a_masquerade_on_the_port_masquerades_nothing(site: Site) -> None:
    config = export(lambda t: t.replace("ipsec-policy=out,none out-interface-list=WAN", "out-interface=ether1"))
    f = rtc.nat_masquerade(site, config)
    assert not f.ok
    assert "masquerades towards ether1, but the router reaches the internet through pppoe-out1" in f.message


def test_a_masquerade_towards_the_pppoe_client_passes(site: Site) -> None:
    config = export(lambda t: t.replace("ipsec-policy=out,none out-interface-list=WAN", "out-interface=pppoe-out1"))
    assert rtc.nat_masquerade(site, config).ok


def test_a_masquerade_to_everything_but_the_lan_passes(site: Site) -> None:
    config = export(lambda t: t.replace("out-interface-list=WAN\n/ip service", "out-interface-list=!LAN\n/ip service"))
    assert rtc.nat_masquerade(site, config).ok


def test_no_masquerade_names_the_pppoe_client(site: Site) -> None:
    config = export(lambda t: t.replace("/ip firewall nat\nadd action=masquerade", "/ip firewall nat\nadd action=log"))
    f = rtc.nat_masquerade(site, config)
    assert f.message == "no masquerade towards ['pppoe-out1'] (PPPoE client over ether1)"


# ----------------------------------------------------------------------------------- how it is resolved
def test_a_pppoe_client_an_export_shows_without_disabled_no_is_disabled(site: Site) -> None:
    """``/interface pppoe-client add`` leaves the client disabled; the export omits that default."""
    config = export(
        lambda t: t.replace(
            "add add-default-route=yes disabled=no interface=ether1", "add add-default-route=yes interface=ether1"
        )
    )
    assert uplink(config, "ether1").interface == "ether1"


def test_a_pppoe_client_over_a_vlan_over_the_port() -> None:
    config = RouterConfig.from_records(
        {
            "/interface/vlan": [{"name": "vlan7", "interface": "ether1", "vlan-id": "7"}],
            "/interface/pppoe-client": [{"name": "pppoe-out1", "interface": "vlan7", "disabled": "no"}],
        },
        "test",
    )
    up = uplink(config, "ether1")
    assert up.layers == ("ether1", "vlan7", "pppoe-out1")
    assert up.describe() == "pppoe-out1 (PPPoE client over vlan7 over ether1)"


def test_a_port_in_a_bridge_is_used_through_the_bridge() -> None:
    config = RouterConfig.from_records(
        {"/interface/bridge/port": [{"bridge": "bridge-wan", "interface": "ether1"}]}, "test"
    )
    assert uplink(config, "ether1").interface == "bridge-wan"


def test_the_factory_dhcp_client_left_on_the_port_does_not_hide_the_pppoe_client() -> None:
    config = export(
        lambda t: t.replace("/ip dns\n", "/ip dhcp-client\nadd comment=defconf interface=ether1\n/ip dns\n")
    )
    assert uplink(config, "ether1").interface == "pppoe-out1"


def test_among_vlans_the_one_with_the_default_route_reaches_the_internet() -> None:
    config = RouterConfig.from_records(
        {
            "/interface/vlan": [
                {"name": "iptv", "interface": "ether1", "vlan-id": "8"},
                {"name": "inet", "interface": "ether1", "vlan-id": "7"},
            ],
            "/ip/dhcp-client": [
                {"interface": "iptv", "add-default-route": "no"},
                {"interface": "inet"},  # add-default-route: yes by default
            ],
        },
        "test",
    )
    assert uplink(config, "ether1").interface == "inet"


def test_two_candidates_and_no_default_route_is_an_error_naming_them() -> None:
    config = RouterConfig.from_records(
        {"/interface/vlan": [{"name": "a", "interface": "ether1"}, {"name": "b", "interface": "ether1"}]}, "r.rsc"
    )
    with pytest.raises(RouterFactsError, match=r"r\.rsc: ether1 carries a, b and which of them reaches"):
        uplink(config, "ether1")


def test_a_port_with_nothing_over_it_is_the_wan_itself(site: Site) -> None:
    config = RouterConfig.from_records({"/ip/dhcp-client": [{"interface": "ether1"}]}, "test")
    assert uplink(config, "ether1").describe() == "ether1"
    assert endpoints(site, config)["internet"].interface == "ether1"


def test_a_dhcp_wan_with_classless_routes_is_resolved(site: Site) -> None:
    """``add-default-route=special-classless`` is a documented value, not a broken boolean."""
    config = parse_rsc(
        "/interface list\nadd name=WAN\n/interface list member\nadd interface=ether1 list=WAN\n"
        "/ip dhcp-client\nadd add-default-route=special-classless interface=ether1\n",
        "dhcp-classless.rsc",
    )
    up = uplink(config, "ether1")
    assert up.interface == "ether1"
    assert endpoints(site, config)["internet"].interface == "ether1"
