"""IPv6 as a way around the flow matrix (issue 9, finding 11): the check, the IPv6 evaluator, the emulator's menus.

The recordings are written as RouterOS writes ``/export``: defaults omitted (an export that says nothing
about ``/ipv6 settings`` is a router with IPv6 on and forwarding), sections where RouterOS puts them.
They are the project's recorded homelab export with ``/ipv6`` lines added, as a user who gave the
segments IPv6 would export it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_zengarden.analysis.firewall_eval import Box, Context, Firewall, parse_addresses
from pytest_zengarden.analysis.intervals import ADDRESSES, ADDRESSES6, Ints, address_space
from pytest_zengarden.checks import firewall as fwc
from pytest_zengarden.checks import ipv6
from pytest_zengarden.checks.findings import Finding
from pytest_zengarden.checks.site import flow_matrix
from pytest_zengarden.desired.router import desired_router
from pytest_zengarden.facts.router import RouterConfig
from pytest_zengarden.lab import deviations
from pytest_zengarden.lab.router_daemon import seed_store
from pytest_zengarden.lab.routeros import ConfigStore, RouterOsError
from pytest_zengarden.offline.rsc import parse_rsc
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import Site

from .helpers import RECORDED, SITE

EXPORT = (RECORDED / "router.rsc").read_text(encoding="utf-8")

# The segments' IPv6, as a user would add it (a ULA /64 per bridge; advertise is on for /64 by default).
ADDRESSES_RSC = """\
/ipv6 address
add address=fd00:77::1/64 interface=bridge-homelab
add address=fd00:88::1/64 interface=bridge-home
"""

# The forward part of RouterOS' default IPv6 firewall, without its hop-limit/icmpv6 details: established
# and related pass, everything new that is not from the LAN is dropped, and then -- as in a flat homelab --
# a final drop for new connections between LAN segments too.
DROP_FORWARD_RSC = """\
/ipv6 firewall filter
add action=accept chain=forward comment="defconf: accept established,related,untracked" \\
    connection-state=established,related,untracked
add action=drop chain=forward comment="defconf: drop invalid" connection-state=invalid
add action=drop chain=forward comment="drop everything else"
"""


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE)


def export(*, settings: str = "", tail: str = "") -> str:
    """The recorded export with ``/ipv6 settings`` where RouterOS writes it and other /ipv6 menus before /system."""
    text = EXPORT
    if settings:
        text = text.replace("/interface list member\n", f"/ipv6 settings\n{settings}\n/interface list member\n", 1)
    if tail:
        text = text.replace("/system identity\n", tail + "/system identity\n", 1)
    assert text.startswith("# 2026-11-20 09:14:02 by RouterOS 7.16.2\n# software id = ")
    return text


def findings(site: Site, text: str) -> dict[str, Finding]:
    config = parse_rsc(text, "router.rsc")
    return {f.subject: f for f in ipv6.ipv6_segmentation(site, config)}


def failed(found: dict[str, Finding]) -> set[str]:
    return {name for name, f in found.items() if not f.ok}


# --- the check -----------------------------------------------------------------------------------------


def test_segments_with_ipv6_and_no_ipv6_firewall_go_around_the_matrix(site: Site) -> None:
    found = findings(site, export(tail=ADDRESSES_RSC))
    # Both bridges carry IPv6 and the internet always does when the router forwards: every pair among
    # them that the matrix (partly) denies fails; pairs with management or the VPN (no IPv6 there) pass.
    assert failed(found) == {
        "cluster->home:ipv6",
        "internet->home:ipv6",
        "internet->cluster:ipv6",
        "home->cluster:ipv6",
    }
    home_cluster = found["home->cluster:ipv6"]
    assert home_cluster.control == "FW-DEFAULT-DENY"
    message = home_cluster.message
    assert "IPv6 crosses the router (disable-ipv6=no forward=yes;" in message
    assert "fd00:88::1/64 on bridge-home, advertised to hosts by RA (/ipv6/nd interface=all)" in message
    assert (
        "home -> cluster tcp/1-79,81-442,444-65535 over IPv6: expected drop (FW-DEFAULT-DENY), "
        "config accepts (no rule: the IPv6 forward chain's default accept)"
    ) in message
    assert "home -> cluster icmpv6 over IPv6" in message
    assert "home -> management" not in message
    assert (
        "management has no routed IPv6 (no address but link-local on ether5)" in found["home->management:ipv6"].message
    )
    # The allowed direction (cluster -> internet) has nothing to deny, so it passes.
    assert (
        found["cluster->internet:ipv6"].ok
        and "the matrix denies nothing here" in found["cluster->internet:ipv6"].message
    )


def test_the_ipv4_checks_alone_do_not_see_the_bypass(site: Site) -> None:
    """What the project judged before: every IPv4 flow row of the same export passes or fails as without IPv6."""
    plain = parse_rsc(export(), "router.rsc")
    bypass = parse_rsc(export(tail=ADDRESSES_RSC), "router.rsc")
    rows = fwc.flow_rows(site, flow_matrix(site).rows)
    verdicts = [[fwc.flow(site, Firewall(c), row).message for row in rows] for c in (plain, bypass)]
    assert verdicts[0] == verdicts[1]
    assert not all(f.ok for f in ipv6.ipv6_segmentation(site, bypass))


@pytest.mark.parametrize(
    "settings, why",
    [
        ("set forward=no", "/ipv6/settings forward=no: the router does not forward IPv6"),
        ("set disable-ipv6=yes", "/ipv6/settings disable-ipv6=yes: IPv6 is off on the router"),
    ],
)
def test_ipv6_off_passes_whatever_the_addresses(site: Site, settings: str, why: str) -> None:
    found = findings(site, export(settings=settings, tail=ADDRESSES_RSC))
    assert not failed(found)
    assert found["home->cluster:ipv6"].message == f"IPv6 does not cross the router: {why}"


def test_an_ipv6_filter_that_drops_new_forwarded_connections_passes(site: Site) -> None:
    found = findings(site, export(tail=ADDRESSES_RSC + DROP_FORWARD_RSC))
    assert not failed(found)
    message = found["home->cluster:ipv6"].message
    assert message.startswith("IPv6 crosses the router (fd00:88::1/64 on bridge-home")
    assert 'opens nothing the matrix denies (/ipv6/firewall/filter rule #2 "drop everything else")' in message


def test_an_ipv6_accept_names_the_rule_that_opens_the_bypass(site: Site) -> None:
    opened = DROP_FORWARD_RSC.replace(
        'add action=drop chain=forward comment="drop everything else"\n',
        'add action=accept chain=forward comment="ssh to the blades" dst-port=22 in-interface=bridge-home \\\n'
        "    out-interface=bridge-homelab protocol=tcp\n"
        'add action=drop chain=forward comment="drop everything else"\n',
    )
    found = findings(site, export(tail=ADDRESSES_RSC + opened))
    assert failed(found) == {"home->cluster:ipv6"}
    assert (
        "home -> cluster tcp/22 over IPv6: expected drop (FW-DEFAULT-DENY), config accepts "
        '(/ipv6/firewall/filter rule #2 "ssh to the blades")'
    ) in found["home->cluster:ipv6"].message


def test_ipv6_address_lists_decide_by_ipv6_prefix(site: Site) -> None:
    """A rule that accepts only from a list of home's IPv6 hosts opens exactly them (128-bit intervals)."""
    tail = (
        ADDRESSES_RSC
        + "/ipv6 firewall address-list\nadd address=fd00:88::10/127 list=trusted6\n"
        + DROP_FORWARD_RSC.replace(
            'add action=drop chain=forward comment="drop everything else"\n',
            "add action=accept chain=forward out-interface=bridge-homelab src-address-list=trusted6\n"
            'add action=drop chain=forward comment="drop everything else"\n',
        )
    )
    message = findings(site, export(tail=tail))["home->cluster:ipv6"].message
    assert "from fd00:88::10-fd00:88::11: expected drop" in message
    assert "rule #2 (chain=forward action=accept)" in message


def test_link_local_addresses_are_no_routed_ipv6(site: Site) -> None:
    """A live print lists a dynamic link-local address on every interface; no segment carries routed IPv6."""
    config = RouterConfig.from_records(
        {
            **parse_rsc(export(), "router.rsc").menus,
            "/ipv6/address": [
                {".id": "*1", "address": "fe80::4e5e:cff:fe10:2/64", "interface": "bridge-home", "dynamic": "true",
                 "link-local": "true", "advertise": "false", "disabled": "false", "invalid": "false"},
                {".id": "*2", "address": "fe80::4e5e:cff:fe10:3/64", "interface": "bridge-homelab", "dynamic": "true",
                 "link-local": "true", "advertise": "false", "disabled": "false", "invalid": "false"},
            ],
        },
        source="api://router",
    )  # fmt: skip
    found = {f.subject: f for f in ipv6.ipv6_segmentation(site, config)}
    assert not failed(found)
    assert "home has no routed IPv6" in found["home->cluster:ipv6"].message


def test_disabled_address_and_disabled_ra_are_read_from_the_export(site: Site) -> None:
    tail = (
        "/ipv6 address\nadd address=fd00:77::1/64 interface=bridge-homelab\n"
        "add address=fd00:88::1/64 disabled=yes interface=bridge-home\n"
        "/ipv6 nd\nset [ find default=yes ] disabled=yes\n"
    )
    found = findings(site, export(tail=tail))
    assert failed(found) == {"internet->cluster:ipv6"}  # home's only address is disabled
    found = findings(site, export(tail=tail.replace(" disabled=yes interface", " interface")))
    assert "home->cluster:ipv6" in failed(found)
    message = found["home->cluster:ipv6"].message
    assert "fd00:88::1/64 on bridge-home;" in message and "advertised" not in message  # RA is off


def test_a_prefix_delegated_address_is_routed_ipv6(site: Site) -> None:
    """``from-pool`` addresses (DHCPv6 prefix delegation) are written ``::1/64`` in an export: routed all the same."""
    tail = "/ipv6 address\nadd address=::1/64 from-pool=isp-pd interface=bridge-home\n"
    found = findings(site, export(tail=tail))
    assert failed(found) == {"internet->home:ipv6"}  # straight from the internet into home
    assert "::1/64 (from pool isp-pd) on bridge-home, advertised to hosts by RA" in found["internet->home:ipv6"].message


def test_the_recorded_site_has_ipv6_on_but_no_routed_ipv6_on_its_segments(site: Site) -> None:
    """fixtures/recorded: no /ipv6 lines, so IPv6 is on and forwarding -- but no segment has an address."""
    config = parse_rsc(EXPORT, "router.rsc")
    st = ipv6.state(site, config)
    assert st.off is None and set(st.carried) == {"internet"}
    assert all(f.ok for f in ipv6.ipv6_segmentation(site, config))


def test_stating_a_default_changes_no_verdict(site: Site) -> None:
    """RouterOS omits defaults: ``forward=yes disable-ipv6=no`` written out means the same router."""
    silent = findings(site, export(tail=ADDRESSES_RSC))
    stated = findings(site, export(settings="set disable-ipv6=no forward=yes", tail=ADDRESSES_RSC))
    assert {n: f.ok for n, f in silent.items()} == {n: f.ok for n, f in stated.items()}


def test_a_reading_completed_with_factory_defaults_judges_the_same(site: Site) -> None:
    text = export(tail=ADDRESSES_RSC + "/ipv6 nd\nset [ find default=yes ] advertise-dns=no\n")
    raw = parse_rsc(text, "router.rsc")
    completed = RouterConfig.from_device(raw.menus, "router.rsc")
    assert completed.items("/ipv6/settings")[0]["forward"] == "true"
    assert [r["default"] for r in completed.items("/ipv6/nd")] == ["true"]
    judged = [{f.subject: f.message for f in ipv6.ipv6_segmentation(site, c)} for c in (raw, completed)]
    assert judged[0] == judged[1]


def test_pairs_leave_overlays_out_and_cover_every_routed_pair(site: Site) -> None:
    pairs = {p.id for p in ipv6.ipv6_pairs(site)}
    assert len(pairs) == 20 and "home->cluster:ipv6" in pairs
    assert not any(p.startswith(("pods", "services")) or "->pods" in p or "->services" in p for p in pairs)


def test_converged_router_and_the_lab_deviation(site: Site) -> None:
    records = desired_router(site)
    config = RouterConfig.from_records(records, "desired")
    assert all(f.ok for f in ipv6.ipv6_segmentation(site, config))
    deviations.apply(["ipv6-bypass"], records, {})
    config = RouterConfig.from_records(records, "desired+ipv6-bypass")
    found = {f.subject: f for f in ipv6.ipv6_segmentation(site, config)}
    # Everything the matrix denies between segments with IPv6 now goes through; management receives too.
    assert {"home->cluster:ipv6", "home->management:ipv6", "cluster->home:ipv6", "internet->home:ipv6"} <= failed(found)
    assert found["management->cluster:ipv6"].ok  # management may open anything anyway
    assert deviations.CATALOGUE["ipv6-bypass"].breaks == found["home->cluster:ipv6"].control


# --- the evaluator over IPv6 ---------------------------------------------------------------------------


def test_ipv6_addresses_are_128_bit_intervals() -> None:
    assert parse_addresses("fd00:88::/64", 6) == Ints.span(0xFD000088 << 96, (0xFD000088 << 96) + 2**64 - 1)
    assert parse_addresses("fd00::1-fd00::9", 6).size == 9
    assert parse_addresses("fd00:88::5/64", 6) == parse_addresses("fd00:88::/64", 6)  # host bits ignored
    assert address_space(6) == ADDRESSES6 and address_space(4) == ADDRESSES
    with pytest.raises(ValueError, match="not an IPv6 address"):
        parse_addresses("192.168.88.0/24", 6)
    with pytest.raises(ValueError, match="not an IPv4 address"):
        parse_addresses("fd00::/64")
    assert parse_addresses("fd00::10/127", 6).describe_addresses(family=6) == "fd00::10-fd00::11"


def test_ipv6_firewall_reads_only_the_ipv6_table() -> None:
    config = RouterConfig.from_records(
        {
            "/ip/firewall/filter": [{"chain": "forward", "action": "drop"}],
            "/ipv6/firewall/address-list": [{"list": "bad6", "address": "fd00:bad::/48"}],
            "/ipv6/firewall/filter": [
                {"chain": "forward", "action": "drop", "src-address-list": "bad6"},
                {"chain": "forward", "action": "drop", "dst-address": "!fd00::/16", "comment": "not ULA"},
            ],
        },
        "test",
    )
    v6, v4 = Firewall(config, family=6), Firewall(config)
    ctx = Context("forward", "bridge-home", "bridge-homelab")
    assert v6.decide(ctx, Box.packet("fd00:bad::1", "fd00:77::2", "tcp", 1234, 22)).verdict == "drop"
    assert v6.decide(ctx, Box.packet("fd00:88::1", "fd00:77::2", "tcp", 1234, 22)).rule is None  # default accept
    assert v6.decide(ctx, Box.packet("fd00:88::1", "2001:db8::1", "udp", 1, 53)).rule.comment == "not ULA"  # type: ignore[union-attr]
    assert v4.decide(ctx, Box.packet("192.168.88.5", "192.168.77.5", "tcp", 1, 22)).verdict == "drop"
    # The negation's complement is the 128-bit space: one region per verdict over every IPv6 address.
    regions = v6.evaluate(ctx, Box.space(6))
    assert sum(r.box.src.size * r.box.dst.size for r in regions) == 2**256
    with pytest.raises(ValueError, match="neither 4 nor 6"):
        Firewall(config, family=5)


def test_an_ipv6_address_list_entry_that_is_ipv4_is_an_error() -> None:
    from pytest_zengarden.analysis.firewall_eval import FirewallError

    config = RouterConfig.from_records(
        {"/ipv6/firewall/address-list": [{"list": "x", "address": "192.168.1.0/24"}]}, "router.rsc"
    )
    with pytest.raises(FirewallError, match=r"address-list 'x' entry '192\.168\.1\.0/24'"):
        Firewall(config, family=6)


# --- the emulator serves /ipv6 -------------------------------------------------------------------------


def test_emulator_has_factory_ipv6(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.json")
    settings = store.print("/ipv6/settings")[0]
    assert settings["disable-ipv6"] == "false" and settings["forward"] == "true"
    nd = store.print("/ipv6/nd")
    assert [(r["interface"], r["default"]) for r in nd] == [("all", "true")]
    assert store.print("/ipv6/firewall/filter") == [] and store.print("/ipv6/address") == []
    # Restarted from its state file: still exactly one default entry.
    assert len(ConfigStore(tmp_path / "config.json").print("/ipv6/nd")) == 1


def test_emulator_ipv6_address_takes_ipv6_and_advertises_64s() -> None:
    store = ConfigStore(options=None)
    store.add("/interface/bridge", {"name": "bridge-home"})
    with pytest.raises(RouterOsError, match="invalid value for argument address"):
        store.add("/ipv6/address", {"address": "192.168.88.1/24", "interface": "bridge-home"})
    store.add("/ipv6/address", {"address": "fd00:88::1/64", "interface": "bridge-home"})
    store.add("/ipv6/address", {"address": "fd00:99::1/120", "interface": "bridge-home"})
    store.add("/ipv6/address", {"address": "fd00:98::1/64", "interface": "bridge-home", "advertise": "no"})
    assert [r["advertise"] for r in store.print("/ipv6/address")] == ["true", "false", "false"]
    with pytest.raises(RouterOsError, match="input does not match any value of interface"):
        store.add("/ipv6/address", {"address": "fd00:1::1/64", "interface": "nope"})
    store.add("/ipv6/firewall/filter", {"chain": "forward", "action": "drop", "hop-limit": "equal:1"})


def test_seeding_sets_the_default_nd_entry_instead_of_adding_one() -> None:
    store = ConfigStore()
    seed_store(
        store,
        {
            "/ipv6/settings": [{"forward": "false"}],
            "/ipv6/nd": [{"default": "true", "interface": "all", "disabled": "true"}],
        },
    )
    assert store.print("/ipv6/settings")[0]["forward"] == "false"
    assert [(r["default"], r["disabled"]) for r in store.print("/ipv6/nd")] == [("true", "true")]
