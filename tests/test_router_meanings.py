"""One meaning per site field and per router fact (issue 9, finding 6, router side).

* an address list a rule uses but nothing defines is reported (RouterOS matches it as empty, silently);
* ``allowed_from`` means the same in the schema, the desired state, the rendered export and the checks;
* REST over plain HTTP (Basic credentials in clear) fails the TLS check;
* ``firewall explain`` between segments on one wire says the router does not route them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_zengarden.analysis.firewall_eval import Firewall
from pytest_zengarden.checks import firewall as fwc
from pytest_zengarden.checks import router as rtc
from pytest_zengarden.checks.site import flow_matrix
from pytest_zengarden.cli import main
from pytest_zengarden.desired.router import desired_router
from pytest_zengarden.facts.router import RouterConfig
from pytest_zengarden.offline.rsc import parse_rsc
from pytest_zengarden.offline.rsc_render import render_rsc
from pytest_zengarden.site.loader import SiteError, load_site, parse_site
from pytest_zengarden.site.schema import RouterService, Site

HERE = Path(__file__).resolve().parent
SITE_FILE = HERE.parent / "fixtures" / "sites" / "zengarden.yaml"
PPPOE = HERE / "recordings" / "routeros" / "wan-pppoe.rsc"


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE_FILE)


# --------------------------------------------------------------------------------- undefined address lists
def test_an_address_list_nothing_defines_fails_the_address_list_check(site: Site) -> None:
    """Before: the typo made the VPN allow match nothing and no check said so."""
    text = PPPOE.read_text(encoding="utf-8").replace("dst-address-list=vpn-allowed", "dst-address-list=vpn-alowed")
    fw = Firewall(parse_rsc(text, "wan-pppoe.rsc"))
    f = fwc.address_lists(site, fw)
    assert not f.ok
    assert (f.control, f.subject) == ("FW-DEFAULT-DENY", "address lists")
    assert f.message.startswith(
        "rule #13 \"Allow VPN → cluster, pods, services\" uses address list 'vpn-alowed', which has no entries: "
        "RouterOS matches no address with it (and every address with !vpn-alowed); add its entries"
    )
    assert "judge the live router" in f.message
    # The flows are still judged as the router decides them: the VPN reaches nothing.
    row = next(r for r in flow_matrix(site).rows if r.flow_id == "wireguard->cluster:tcp/1-65535")
    assert not fwc.flow(site, fw, row).ok


def test_defined_address_lists_pass(site: Site) -> None:
    f = fwc.address_lists(site, Firewall(parse_rsc(PPPOE.read_text(encoding="utf-8"), "wan-pppoe.rsc")))
    assert f.ok, f.message


def test_every_undefined_list_is_named_with_every_rule_using_it(site: Site) -> None:
    config = RouterConfig.from_records(
        {
            "/ip/firewall/filter": [
                {"chain": "forward", "action": "accept", "src-address-list": "trusted", "comment": "a"},
                {"chain": "forward", "action": "drop", "dst-address-list": "!trusted", "comment": "b"},
                {"chain": "input", "action": "drop", "src-address-list": "blocked"},
            ]
        },
        "r.rsc",
    )
    f = fwc.address_lists(site, Firewall(config))
    assert not f.ok
    assert "rule #2 (chain=input action=drop) uses address list 'blocked'" in f.message
    assert 'rule #0 "a", rule #1 "b" use address list \'trusted\'' in f.message


# ------------------------------------------------------------------------------------------- allowed_from
def _with_ssh(site: Site, **spec: object) -> Site:
    """The site with ``router.hardening.services.ssh`` replaced (validated as the loader would)."""
    ssh = RouterService.model_validate(spec)
    hardening = site.router.hardening.model_copy(update={"services": {**site.router.hardening.services, "ssh": ssh}})
    return site.model_copy(update={"router": site.router.model_copy(update={"hardening": hardening})})


@pytest.mark.parametrize(
    ("allowed_from", "reachable"),
    [
        (["management"], {"management"}),
        (["cluster", "home"], {"cluster", "home"}),
        (["internet"], {"internet"}),
        (["*"], {"cluster", "home", "management", "wireguard", "internet"}),
    ],
)
def test_allowed_from_means_the_same_to_the_desired_state_the_export_and_the_checks(
    site: Site, allowed_from: list[str], reachable: set[str]
) -> None:
    """The converged configuration for a meaning passes every check of that meaning, rendered or not.

    Before: '*' crashed the desired state, 'internet' was rendered as 'any address' and then failed the
    service check for 'expected only []'.
    """
    variant = _with_ssh(site, enabled=True, port=22, allowed_from=allowed_from)
    desired = RouterConfig.from_records(desired_router(variant), "desired")
    for config in (desired, parse_rsc(render_rsc(desired), "rendered.rsc")):
        assert rtc.service(variant, "ssh", config).ok, rtc.service(variant, "ssh", config).message
        fw = Firewall(config)
        ssh = [(a, s) for a, s in fwc.accesses(variant) if a.service == "ssh"]
        results = {a.segment: fwc.router_access(variant, fw, config, a, s) for a, s in ssh}
        assert all(f.ok for f in results.values()), [str(f) for f in results.values() if not f.ok]
        assert {seg for seg, f in results.items() if "not reachable" not in f.message} == reachable


def test_an_enabled_service_must_say_who_may_reach_it() -> None:
    """[] is 'no segment': RouterOS cannot say that (an empty address= admits everyone), so it is refused."""
    text = SITE_FILE.read_text(encoding="utf-8").replace(
        "ssh: {enabled: true, port: 22, allowed_from: [management]}", "ssh: {enabled: true, port: 22}"
    )
    with pytest.raises(SiteError, match=r"ssh: .*an enabled service needs allowed_from"):
        parse_site(text, "site.yaml", SITE_FILE.parent)


def test_a_disabled_service_needs_no_allowed_from() -> None:
    assert RouterService.model_validate({"enabled": False}).reachable_from(["a", "b"]) == []
    assert RouterService.model_validate({"enabled": True, "allowed_from": "*"}).reachable_from(["a", "b"]) == [
        "a",
        "b",
    ]


# -------------------------------------------------------------------------------------------- REST in clear
def _with_router_access(site: Site, transport: str, scheme: str, port: int) -> Site:
    assert site.inventory is not None and site.inventory.router is not None
    access = site.inventory.router.model_copy(update={"transport": transport})
    inventory = site.inventory.model_copy(update={"router": access})
    rest = site.router.rest.model_copy(update={"scheme": scheme, "port": port})
    return site.model_copy(update={"inventory": inventory, "router": site.router.model_copy(update={"rest": rest})})


def test_rest_over_plain_http_fails_the_tls_check(site: Site) -> None:
    """Before: HTTP Basic credentials in clear passed test_tls_services."""
    config = RouterConfig.from_records(desired_router(site), "desired")
    f = fwc.tls_services(_with_router_access(site, "rest", "http", 80), config)
    assert not f.ok
    assert f.message == (
        "inventory.router.transport is 'rest' over router.rest.scheme 'http' (the www service, port 80): every "
        "request carries the password in clear text; set router.rest to {scheme: https, port: 443} (www-ssl "
        "with a certificate) or use transport api-ssl"
    )


def test_rest_over_https_passes_the_tls_check(site: Site) -> None:
    config = RouterConfig.from_records(desired_router(site), "desired")
    f = fwc.tls_services(_with_router_access(site, "rest", "https", 443), config)
    assert f.ok, f.message
    assert f.message == "TLS services: api-ssl, www-ssl present certificates; the plugin uses rest over https"


# ------------------------------------------------------------------------------------- firewall explain
@pytest.mark.parametrize(("src", "dst", "wire"), [("cluster", "pods", "cluster"), ("pods", "services", "cluster")])
def test_explain_between_segments_on_one_wire_says_so(
    capsys: pytest.CaptureFixture[str], src: str, dst: str, wire: str
) -> None:
    """Before: an empty table and exit 0."""
    assert main(["firewall", "explain", str(SITE_FILE), str(PPPOE), "--from", src, "--to", dst]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{src} and {dst} are on the same wire ({wire}): the router does not route between them" in err


def test_explain_within_one_segment_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firewall", "explain", str(SITE_FILE), str(PPPOE), "--from", "home", "--to", "home"]) == 2
    assert "traffic within one segment does not cross the router" in capsys.readouterr().err


def test_explain_judges_the_internet_on_the_pppoe_client(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firewall", "explain", str(SITE_FILE), str(PPPOE), "--from", "cluster", "--to", "internet"]) == 0
    out = capsys.readouterr().out
    assert 'accept   accept  rule #11 "Allow Homelab → Internet"' in out
    assert "deviates" not in out
