"""RouterOS 7 factory defaults as facts (issue 9, findings 1 and 2).

An ``/export`` leaves out every entry and property still at its factory value; a live print shows them
all.  Read either way, a router must give the same facts and the same verdicts: telnet that nobody
touched is running, whether the reader saw ``set telnet ...`` or nothing at all.  And every menu a check
reads is declared, printed by the live snapshot, and completed with its defaults.

The recordings under ``tests/recordings/routeros/`` are written as RouterOS writes an export: header,
only what differs from the factory state, long lines wrapped with ``\\`` and four spaces.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_zengarden import analysis, checks
from pytest_zengarden.analysis import firewall_eval
from pytest_zengarden.analysis.firewall_eval import Firewall
from pytest_zengarden.analysis.flow_space import routed
from pytest_zengarden.checks import firewall as fwc
from pytest_zengarden.checks import router as rc
from pytest_zengarden.checks.site import flow_matrix
from pytest_zengarden.clients.router import DEFAULT_MENUS, snapshot
from pytest_zengarden.facts.router import FACT_MENUS, RouterConfig, UnreadMenu
from pytest_zengarden.facts.routeros_defaults import MENUS
from pytest_zengarden.offline.rsc import export_facts, load_rsc, parse_rsc, read_export
from pytest_zengarden.offline.rsc_render import render_rsc
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.records import expected_records
from pytest_zengarden.site.schema import Site

from .helpers import replay

REPO = Path(__file__).resolve().parents[1]
SITE_FILE = REPO / "fixtures" / "sites" / "zengarden.yaml"
RECORDED = REPO / "fixtures" / "recorded" / "router.rsc"
RECORDINGS = REPO / "tests" / "recordings" / "routeros"
SRC = REPO / "src" / "pytest_zengarden"

# The router evaluators: each declares READS, the menus it reads (its helpers' included).
EVALUATORS = ("checks.router", "checks.firewall", "checks.ipv6", "analysis.firewall_eval")


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE_FILE)


def evaluator(name: str) -> ModuleType:
    return importlib.import_module(f"pytest_zengarden.{name}")


def declared() -> set[str]:
    return {m for name in EVALUATORS for m in evaluator(name).READS}


# ------------------------------------------------------------------------- verdicts of every router check
def verdicts(site: Site, config: RouterConfig) -> dict[str, tuple[bool, str] | str]:
    """Every router and firewall verdict on ``config``, each check reading only the menus it declares.

    An exception is a verdict too (its type and message): two readings must fail alike.
    """
    out: dict[str, tuple[bool, str] | str] = {}

    def judge(key: str, fn: Callable[[], object]) -> None:
        try:
            result = fn()
        except Exception as exc:
            out[key] = f"{type(exc).__name__}: {exc}"
            return
        findings = result if isinstance(result, list) else [result]
        for i, f in enumerate(findings):
            out[f"{key}#{i}"] = (f.ok, f.message)

    routers = config.only(rc.READS)
    firewalls = config.only(fwc.READS)
    fw = Firewall(config.only({*firewall_eval.READS, *fwc.READS}))
    for seg, spec in site.segments.items():
        if spec.router_address is not None:
            judge(f"gateway {seg}", lambda s=seg: rc.segment_address(site, s, routers))
    for name in site.router.interface_lists:
        judge(f"list {name}", lambda n=name: rc.interface_list(site, n, routers))
    for name in site.router.hardening.services:
        judge(f"service {name}", lambda n=name: rc.service(site, n, routers))
    judge("nat", lambda: rc.nat_masquerade(site, routers))
    for record in expected_records(site):
        judge(f"dns {record.name}", lambda r=record: rc.dns_record(r, routers))
    for row in flow_matrix(site).rows:
        if routed(site, row.src, row.dst):
            judge(row.flow_id, lambda r=row: fwc.flow(site, fw, r))
    for pair in fwc.other_protocol_pairs(site):
        judge(pair.id, lambda p=pair: fwc.other_flow(site, fw, p))
    for access, statement in fwc.accesses(site):
        judge(access.id, lambda a=access, s=statement: fwc.router_access(site, fw, firewalls, a, s))
    for segment, _ in fwc.protected_segments(site):
        judge(f"inbound {segment}", lambda s=segment: fwc.no_inbound(site, fw, s))
    judge("tls", lambda: fwc.tls_services(site, firewalls))
    judge("wan", lambda: fwc.wan_inbound(site, fw, firewalls))
    return out


# ------------------------------------------------------------ finding 1: defaults are not absence
def test_an_export_that_never_mentions_ip_service_runs_every_factory_service(site: Site) -> None:
    """telnet, ftp, www and api ship enabled on RouterOS 7: an export that leaves them alone runs them."""
    config = read_export(RECORDINGS / "services-at-factory.rsc")
    assert not load_rsc(RECORDINGS / "services-at-factory.rsc").items("/ip/service")  # the export says nothing
    for name in ("telnet", "ftp"):
        f = rc.service(site, name, config)
        assert not f.ok and f.message == "expected disabled, the router has it enabled", name
    for name in ("www", "api", "api-ssl", "ssh", "winbox"):
        f = rc.service(site, name, config)
        assert not f.ok and "reachable from any address" in f.message, (name, f.message)
    www_ssl = rc.service(site, "www-ssl", config)  # the one service RouterOS ships disabled
    assert not www_ssl.ok and www_ssl.message == "expected enabled, the router has it disabled"
    fw = Firewall(config)
    by_id = {a.id: (a, s) for a, s in fwc.accesses(site)}
    for access_id in ("home->router:telnet", "cluster->router:ftp", "home->router:api", "home->router:www"):
        f = fwc.router_access(site, fw, config, *by_id[access_id])
        assert not f.ok, (access_id, f.message)
        assert "admits any address" in f.message, f.message
    tls = fwc.tls_services(site, config)
    assert not tls.ok and "api-ssl presents no certificate" in tls.message


def test_an_export_that_disables_only_telnet_and_ftp_leaves_www_and_api_open(site: Site) -> None:
    config = read_export(RECORDINGS / "telnet-ftp-off.rsc")
    assert rc.service(site, "telnet", config).ok and rc.service(site, "ftp", config).ok
    assert rc.service(site, "ssh", config).ok and rc.service(site, "winbox", config).ok
    for name in ("www", "api"):
        f = rc.service(site, name, config)
        assert not f.ok and "reachable from any address" in f.message, (name, f.message)
    fw = Firewall(config)
    by_id = {a.id: (a, s) for a, s in fwc.accesses(site)}
    f = fwc.router_access(site, fw, config, *by_id["home->router:api"])
    assert not f.ok and "api admits any address" in f.message, f.message
    assert fwc.router_access(site, fw, config, *by_id["home->router:telnet"]).ok


def test_singletons_and_builtins_always_exist() -> None:
    config = export_facts("# 2026-11-28 by RouterOS 7.16.2\n/system identity\nset name=r\n", "bare.rsc")
    names = ["telnet", "ftp", "www", "ssh", "www-ssl", "api", "winbox", "api-ssl"]
    assert [r["name"] for r in config.items("/ip/service")] == names
    assert [r["name"] for r in config.items("/ip/service") if r["disabled"] == "true"] == ["www-ssl"]
    assert [r["name"] for r in config.items("/interface/list")] == ["all", "none", "dynamic", "static"]
    assert [dict(r) for r in config.items("/ip/upnp")] == [
        {"enabled": "false", "allow-disable-external-interface": "false", "show-dummy-rule": "true"}
    ]
    assert config.items("/ip/dns")[0]["allow-remote-requests"] == "false"
    assert config.items("/ip/firewall/filter") == ()


def test_export_values_are_normalised_as_a_print_shows_them() -> None:
    text = (
        "/ip firewall filter\nadd action=drop chain=input comment=yes disabled=yes log=no\n"
        'add chain=forward\n/ip service\nset api address="" disabled=no\n'
    )
    config = export_facts(text, "t.rsc")
    drop, accept = config.items("/ip/firewall/filter")
    # Booleans the table knows become true/false; a comment that reads "yes" stays text.
    assert (drop["disabled"], drop["log"], drop["comment"]) == ("true", "false", "yes")
    assert (accept["action"], accept["disabled"]) == ("accept", "false")  # factory values filled in
    api = config.find("/ip/service", name="api")[0]
    assert "address" not in api and api["disabled"] == "false" and api["port"] == "8728"


# ------------------------------------------------ a property: dropping defaults changes no verdict
def _defaults_of(menu: str, record: Mapping[str, str]) -> dict[str, str]:
    spec = MENUS[menu]
    builtin = next((b for b in spec.builtins if b[spec.key] == record.get(spec.key)), {})
    return {**spec.defaults, **builtin}


def _pruned(
    full: RouterConfig, draw: Callable[[], bool], yes_no: Callable[[], bool]
) -> dict[str, list[dict[str, str]]]:
    """``full``'s records as an export may write them: any default-valued line or property left out."""
    out: dict[str, list[dict[str, str]]] = {}
    for menu, records in full.menus.items():
        if menu not in MENUS:
            out[menu] = [dict(r) for r in records]
            continue
        spec = MENUS[menu]
        kept = []
        for rec in records:
            defaults = _defaults_of(menu, rec)
            at_factory = all(defaults.get(k) == v for k, v in rec.items() if k != ".id") and (
                spec.kind == "singleton" or any(b[spec.key] == rec.get(spec.key) for b in spec.builtins)
            )
            if at_factory and draw():
                continue  # the whole line: a built-in entry or singleton still at its factory state
            props = {}
            for key, value in rec.items():
                if key == ".id" or (defaults.get(key) == value and key != spec.key and draw()):
                    continue
                if key in spec.booleans and value in ("true", "false") and yes_no():
                    value = "yes" if value == "true" else "no"  # as /export writes booleans
                props[key] = value
            kept.append(props)
        out[menu] = kept
    return out


@pytest.fixture(scope="module")
def recorded_text() -> str:
    return RECORDED.read_text(encoding="utf-8")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    reset=st.sets(st.sampled_from([b["name"] for b in MENUS["/ip/service"].builtins])),
    reset_dns=st.booleans(),
    choices=st.randoms(use_true_random=False),
)
def test_dropping_default_valued_lines_changes_no_verdict(
    site: Site, recorded_text: str, reset: set[str], reset_dns: bool, choices: object
) -> None:
    """The recorded router (some services reset to factory) judged in full and as any default-omitting export."""
    import random

    assert isinstance(choices, random.Random)
    lines = [
        line
        for line in recorded_text.splitlines()
        if not any(line.startswith(f"set {name} ") for name in reset)
        and not (reset_dns and line.startswith("set allow"))
    ]
    full = export_facts("\n".join(lines) + "\n", "full.rsc")
    # Verbose-like: every entry and property written out, as a live print holds them.
    verbose = export_facts(render_rsc(RouterConfig.from_records(full.menus, "verbose")), "verbose.rsc")
    expected = verdicts(site, verbose)
    assert expected == verdicts(site, full)
    pruned = _pruned(full, lambda: choices.random() < 0.7, lambda: choices.random() < 0.5)
    again = export_facts(render_rsc(RouterConfig.from_records(pruned, "pruned")), "pruned.rsc")
    assert verdicts(site, again) == expected
    assert again.facts(FACT_MENUS) == verbose.facts(FACT_MENUS) == full.facts(FACT_MENUS)


def test_the_property_sees_what_the_old_reader_missed(site: Site, recorded_text: str) -> None:
    """The property's own instance: telnet reset to factory and its line dropped is judged running."""
    text = "\n".join(line for line in recorded_text.splitlines() if not line.startswith("set telnet ")) + "\n"
    assert rc.service(site, "telnet", export_facts(text, "r.rsc")).message == (
        "expected disabled, the router has it enabled"
    )
    # What the export literally says (the reader before facts were completed): no telnet at all.
    assert not parse_rsc(text).find("/ip/service", name="telnet")


# --------------------------------------------------------------- export vs live print: equal facts
# A RouterOS 7 router as the API prints it (librouteros' typed values, as RouterApiClient receives them):
# every entry and property, booleans as true/false, ids, run-time state and an open API session.
API_PRINT: dict[str, list[dict[str, object]]] = {
    "/ip/service": [
        {".id": "*1", "name": "telnet", "port": 23, "address": "", "vrf": "main", "max-sessions": 20,
         "invalid": True, "dynamic": False, "disabled": True, "proto": "tcp"},
        {".id": "*2", "name": "ftp", "port": 21, "address": "", "max-sessions": 20, "invalid": True,
         "dynamic": False, "disabled": True, "proto": "tcp"},
        {".id": "*3", "name": "www", "port": 80, "address": "", "vrf": "main", "max-sessions": 20,
         "invalid": False, "dynamic": False, "disabled": False, "proto": "tcp"},
        {".id": "*4", "name": "ssh", "port": 22, "address": "192.168.100.0/24", "vrf": "main",
         "max-sessions": 20, "invalid": False, "dynamic": False, "disabled": False, "proto": "tcp"},
        {".id": "*5", "name": "www-ssl", "port": 443, "address": "", "certificate": "none", "tls-version": "any",
         "vrf": "main", "max-sessions": 20, "invalid": True, "dynamic": False, "disabled": True, "proto": "tcp"},
        {".id": "*6", "name": "api", "port": 8728, "address": "", "vrf": "main", "max-sessions": 20,
         "invalid": False, "dynamic": False, "disabled": False, "proto": "tcp"},
        {".id": "*7", "name": "winbox", "port": 8291, "address": "192.168.100.0/24", "vrf": "main",
         "max-sessions": 20, "invalid": False, "dynamic": False, "disabled": False, "proto": "tcp"},
        {".id": "*8", "name": "api-ssl", "port": 8729, "address": "", "certificate": "none", "tls-version": "any",
         "vrf": "main", "max-sessions": 20, "invalid": False, "dynamic": False, "disabled": False, "proto": "tcp"},
        {".id": "*13", "name": "api", "port": 8728, "proto": "tcp", "dynamic": True, "connection": True,
         "invalid": False, "local": "192.168.100.1", "remote": "192.168.100.10:51234"},
    ],
    "/interface/list": [
        {".id": "*2000000", "name": "all", "builtin": True, "dynamic": False, "include": "", "exclude": "",
         "comment": "contains all interfaces"},
        {".id": "*2000001", "name": "none", "builtin": True, "dynamic": False, "include": "", "exclude": "",
         "comment": "contains no interfaces"},
        {".id": "*2000002", "name": "dynamic", "builtin": True, "dynamic": False, "include": "", "exclude": "",
         "comment": "contains dynamic interfaces"},
        {".id": "*2000003", "name": "static", "builtin": True, "dynamic": False, "include": "", "exclude": "",
         "comment": "contains static interfaces"},
        {".id": "*2000010", "name": "WAN", "builtin": False, "dynamic": False, "include": "", "exclude": "",
         "comment": "defconf"},
    ],
    "/ip/firewall/filter": [
        {".id": "*2", "chain": "input", "action": "accept", "connection-state": "established,related,untracked",
         "log": False, "log-prefix": "", "bytes": 1840233, "packets": 20114, "invalid": False, "dynamic": False,
         "disabled": False, "comment": "defconf: accept established,related,untracked"},
        {".id": "*3", "chain": "input", "action": "drop", "in-interface-list": "!LAN", "log": False,
         "log-prefix": "", "bytes": 0, "packets": 0, "invalid": False, "dynamic": False, "disabled": False,
         "comment": "defconf: drop all not coming from LAN"},
    ],
    "/ip/upnp": [{"enabled": False, "allow-disable-external-interface": False, "show-dummy-rule": True}],
    "/ip/dns": [
        {"servers": "", "dynamic-servers": "192.0.2.53", "use-doh-server": "", "verify-doh-cert": False,
         "doh-max-server-connections": 5, "doh-max-concurrent-queries": 50, "doh-timeout": "5s",
         "allow-remote-requests": True, "max-udp-packet-size": 4096, "query-server-timeout": "2s",
         "query-total-timeout": "10s", "max-concurrent-queries": 100, "max-concurrent-tcp-sessions": 20,
         "cache-size": "2048KiB", "cache-max-ttl": "1w", "address-list-extra-time": "0s", "vrf": "main",
         "cache-used": "41KiB"},
    ],
}  # fmt: skip

# The same router's /export: only what differs from the factory state, as RouterOS writes it.
EXPORT = r"""# 2026-11-28 10:02:41 by RouterOS 7.16.2
# software id = 7KQ2-XW1N
#
# model = S53UG+5HaxD2HaxD
/interface list
add comment=defconf name=WAN
/ip dns
set allow-remote-requests=yes
/ip firewall filter
add action=accept chain=input comment=\
    "defconf: accept established,related,untracked" connection-state=\
    established,related,untracked
add action=drop chain=input comment="defconf: drop all not coming from LAN" \
    in-interface-list=!LAN
/ip service
set telnet disabled=yes
set ftp disabled=yes
set ssh address=192.168.100.0/24
set winbox address=192.168.100.0/24
"""


class PrintingClient:
    """A RouterClient over recorded print records, stringified as RouterApiClient stringifies librouteros' values."""

    endpoint = "router 192.0.2.1:8729 (API-SSL)"

    def __init__(self, menus: Mapping[str, list[dict[str, object]]]):
        self.menus = menus
        self.printed: list[str] = []

    def print(self, menu: str) -> list[dict[str, str]]:
        from pytest_zengarden.facts.router import stringify

        self.printed.append(menu)
        return [{k: stringify(v) for k, v in r.items()} for r in self.menus.get(menu, [])]


def test_an_export_and_an_api_print_of_the_same_router_give_equal_facts(site: Site) -> None:
    live = snapshot(PrintingClient(API_PRINT))  # type: ignore[arg-type]
    export = export_facts(EXPORT, "router.rsc")
    assert export.facts(DEFAULT_MENUS) == live.facts()
    assert live.find("/ip/service", name="api") == live.find("/ip/service", name="api")[:1]  # the session is gone
    assert live.find("/ip/service", name="telnet")[0]["disabled"] == "true"
    assert rc.service(site, "telnet", live) == rc.service(site, "telnet", export)


def test_the_emulator_prints_what_the_export_says(tmp_path: Path) -> None:
    """The lab's RouterOS emulator over its real API, provisioned from the recording, reads as the recording."""
    from pytest_zengarden.clients.router import RouterApiClient
    from pytest_zengarden.lab.routeros import ConfigStore, EmulatorThread, Listener

    # The recording admits the API from management only; let this test's client in too.
    text = RECORDED.read_text(encoding="utf-8").replace(
        "set api address=192.168.100.0/24", "set api address=127.0.0.1/32,192.168.100.0/24"
    )
    # What the export says, replayed as provisioning would.
    store = replay(ConfigStore(users={"admin": "emulator-pw"}), parse_rsc(text).menus)
    with EmulatorThread(store, [Listener("api")]) as emu:
        host, port = emu.address("api")
        client = RouterApiClient(host, "admin", "emulator-pw", port=port)
        try:
            live = snapshot(client)
        finally:
            client.close()
    assert live.facts() == export_facts(text, "router.rsc").facts(DEFAULT_MENUS)
    assert live.items("/ip/upnp") and live.find("/interface/list", name="all")


# ------------------------------------------- finding 2: every menu a check reads is declared and fetched
def test_the_snapshot_prints_exactly_the_declared_reads_and_each_has_its_defaults() -> None:
    client = PrintingClient({})
    config = snapshot(client)  # type: ignore[arg-type]
    assert set(client.printed) == declared() == set(MENUS) == set(FACT_MENUS)
    assert "/ip/upnp" in client.printed  # read by the WAN check, never printed before
    # Secrets are another reader's business: no check reads WireGuard, so its keys are never printed.
    assert not {"/interface/wireguard", "/interface/wireguard/peers"} & set(client.printed)
    with pytest.raises(UnreadMenu, match="/ip/pool is not among the menus read"):
        config.items("/ip/pool")


def test_a_check_reading_an_undeclared_menu_is_caught() -> None:
    config = export_facts(RECORDED.read_text(encoding="utf-8"), "router.rsc")
    declared_only = config.only(rc.READS)
    assert declared_only.items("/ip/service")
    with pytest.raises(UnreadMenu, match="/ip/upnp"):
        declared_only.items("/ip/upnp")  # the router checks do not declare it, so they may not read it

    def sneaky(cfg: RouterConfig) -> object:
        return cfg.find("/ip/pool", name="dhcp")

    with pytest.raises(UnreadMenu):
        sneaky(config.only(rc.READS))


_MENU = re.compile(r"/(ip|ipv6|interface|system|routing|tool|ppp|user|certificate|snmp|queue)(/[a-z0-9-]+)*")


def undeclared_menus(source: str, reads: Iterable[str]) -> set[str]:
    """Menu paths written as string literals in ``source`` that are not in ``reads``."""
    literals = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _MENU.fullmatch(node.value)
    }
    return literals - set(reads)


def _evaluator_modules() -> list[ModuleType]:
    out = []
    for package in (checks, analysis):
        for info in pkgutil.iter_modules(package.__path__):
            out.append(importlib.import_module(f"{package.__name__}.{info.name}"))
    return out


def test_every_menu_literal_in_the_evaluators_is_declared() -> None:
    """An AST scan: a check that starts reading ``"/ip/pool"`` without declaring it fails here."""
    problems = []
    for module in _evaluator_modules():
        assert module.__file__ is not None
        reads = getattr(module, "READS", ())
        menus = [m for m in reads if isinstance(m, str) and m.startswith("/")]
        missing = undeclared_menus(Path(module.__file__).read_text(encoding="utf-8"), menus)
        if missing:
            problems.append(f"{module.__name__} reads {sorted(missing)} without declaring them in READS")
    assert not problems, "\n".join(problems)
    # The scan really catches a new read.
    assert undeclared_menus(
        'READS = ("/ip/service",)\ndef f(c):\n    return c.items("/ip/pool")\n', ["/ip/service"]
    ) == {"/ip/pool"}


def test_the_lab_emulator_serves_every_declared_menu() -> None:
    from pytest_zengarden.lab.routeros import ConfigStore

    store = ConfigStore()
    for menu in sorted(declared()):
        store.print(menu)  # RouterOsError "no such command or directory" if the lab cannot answer it
    assert store.print("/ip/upnp") == [
        {"enabled": "false", "allow-disable-external-interface": "false", "show-dummy-rule": "true"}
    ]


def test_a_service_the_site_leaves_out_is_judged_disabled(site: Site) -> None:
    """A site that names only the services it uses still has telnet, ftp, www and api judged (expected off)."""
    data = site.model_dump(mode="json", by_alias=True, exclude_none=True)
    for name in ("telnet", "ftp", "www", "api"):
        del data["router"]["hardening"]["services"][name]
    import yaml

    from pytest_zengarden.site.loader import parse_site

    slim = parse_site(yaml.safe_dump(data, sort_keys=False), "slim.yaml")
    factory = read_export(RECORDINGS / "services-at-factory.rsc")
    for name in ("telnet", "ftp", "www", "api"):
        assert name in slim.router.hardening.services
        f = rc.service(slim, name, factory)
        assert not f.ok and "expected disabled" in f.message, (name, f)
