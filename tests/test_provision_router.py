"""Router provisioning against the lab's RouterOS emulator over its real binary API (loopback only).

The emulator is a real part (the lab's RouterOS): the planner reads it, the applier writes to it in
Safe Mode, and the result is read back by a *separate* connection and judged by the checks' own facts.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.clients.router import RouterApiClient, snapshot
from pytest_zengarden.desired.router import desired_router, menu_controls
from pytest_zengarden.lab.router_daemon import seed_store
from pytest_zengarden.lab.router_seed import router_seed
from pytest_zengarden.lab.routeros import ConfigStore, EmulatorThread, Listener
from pytest_zengarden.lab.routeros.store import StoreOptions
from pytest_zengarden.lab.topology import plan_lab
from pytest_zengarden.provision.journal import Journal
from pytest_zengarden.provision.ownership import Ownership
from pytest_zengarden.provision.router_apply import CountingClient, apply_router, read_menus
from pytest_zengarden.provision.router_plan import canonical, differences, plan_router
from pytest_zengarden.site.loader import load_site

SITE = Path(__file__).resolve().parents[1] / "fixtures" / "sites" / "zengarden.yaml"
PASSWORD = "emulator-test-pw"
FILTER = "/ip/firewall/filter"


@pytest.fixture(scope="module")
def site() -> Any:
    return load_site(SITE)


def _desired(site: Any) -> dict[str, list[dict[str, str]]]:
    records = desired_router(site)
    for rec in records["/ip/service"]:
        if rec["name"] == "api":  # this test's client comes from loopback, not the management segment
            rec["address"] += ",127.0.0.1/32"
    return records


class Router:
    def __init__(self, store: ConfigStore, host: str, port: int):
        self.store = store
        self.host, self.port = host, port

    def connect(self) -> RouterApiClient:
        return RouterApiClient(self.host, "admin", PASSWORD, port=self.port)

    def provision(self, desired: Any, site: Any, ownership: Ownership | None = None, **kw: Any) -> tuple[Any, Any]:
        client = CountingClient(self.connect())
        owned = ownership.entries if ownership is not None else None
        try:
            plan = plan_router(desired, read_menus(client, desired), controls=menu_controls(site), owned=owned, **kw)
            out = apply_router(client, plan, connect=self.connect, journal=Journal(None), ownership=ownership)
        finally:
            client.close()
        return plan, out

    def plan(self, desired: Any, site: Any, **kw: Any) -> Any:
        client = CountingClient(self.connect())
        try:
            return plan_router(desired, read_menus(client, desired), controls=menu_controls(site), **kw), client
        finally:
            client.close()

    def everything(self) -> dict[str, list[dict[str, str]]]:
        """Every menu the emulator holds, as it prints them (what 'exactly as before' compares)."""
        return {m: self.store.print(m) for m in self.store.menus() if m not in ("/system/resource", "/user")}


@pytest.fixture
def router(site: Any) -> Iterator[Router]:
    lab = plan_lab(site)
    seed = router_seed(site, lab)
    seed["/interface/wireguard"] = [{"name": "wireguard1", "listen-port": "51820"}]
    ifaces = tuple(r["name"] for r in seed["/interface"] if r.get("type") == "ether")
    store = ConfigStore(options=StoreOptions(interfaces=ifaces), users={"admin": PASSWORD})
    seed_store(store, {k: v for k, v in seed.items() if k != "/interface"})
    with EmulatorThread(store, [Listener("api")]) as emu:
        host, port = emu.address("api")
        yield Router(store, host, port)


def test_from_factory_state_it_converges_and_a_second_run_plans_nothing_and_writes_nothing(
    router: Router, site: Any
) -> None:
    desired = _desired(site)
    plan, out = router.provision(desired, site)
    assert out.error is None and len(out.applied) == len(plan.changes) > 50
    assert out.writes == len(plan.changes)
    # Judged by the checks' own reading (a new connection, RouterOS defaults applied), not by the planner.
    client = router.connect()
    try:
        facts = snapshot(client)
    finally:
        client.close()
    managed = [r for r in facts.items(FILTER) if r.get("comment", "").startswith("zg:")]
    assert [r["comment"] for r in managed] == [r["comment"] for r in desired[FILTER]]
    assert facts.find("/ip/service", name="telnet")[0]["disabled"] == "true"
    again, client2 = router.plan(desired, site)
    assert again.changes == [] and client2.writes == 0
    assert client2.reads == len(desired)  # one print per menu, never one per object
    # The factory WAN lease is not the site's: left alone, reported.
    assert any("unmanaged: /ip/address" in n and "ether1" in n for n in again.notes)


def test_plan_lines_name_the_entry_and_its_control(router: Router, site: Any) -> None:
    plan, _ = router.plan(_desired(site), site)
    lines = plan.lines()
    assert "router   + /ip/firewall/filter forward #25 accept home -> cluster tcp/80,443   [FW-HOME-WEB]" in lines
    assert any(line.startswith("router   ~ /ip/service telnet (disabled=true)") for line in lines)
    assert all(line.rstrip().endswith("]") for line in lines)


@pytest.mark.parametrize(
    ("menu", "prop", "a", "b"),
    [
        ("/ip/dns/static", "ttl", "30m", "00:30:00"),
        ("/ip/dns/static", "ttl", "1d", "24h"),
        ("/ip/dns/static", "ttl", "1800", "30m"),
        (FILTER, "connection-state", "established,related", "related,established"),
        (FILTER, "dst-port", "80,443", "443,80"),
        ("/ip/service", "address", "10.0.0.0/8,192.168.1.0/24", "192.168.1.0/24,10.0.0.0/8"),
    ],
)
def test_equal_meanings_compare_equal(menu: str, prop: str, a: str, b: str) -> None:
    assert canonical(menu, prop, a) == canonical(menu, prop, b)


def test_defaults_booleans_and_negation_are_compared_as_routeros_means_them() -> None:
    want = {"chain": "forward", "action": "accept", "src-address": "!10.0.0.0/8", "comment": "zg:X a"}
    # As a device prints it: defaults written out, booleans yes/no, counters.
    have = {".id": "*5", **want, "log": "no", "disabled": "no", "bytes": "10", "packets": "1", "invalid": "false"}
    assert differences(FILTER, want, have, extras=True) == ({}, [])
    assert differences(FILTER, want, {**have, "src-address": "10.0.0.0/8"}, extras=True) == (
        {"src-address": "!10.0.0.0/8"},
        [],
    )
    # A matcher added by hand to a managed rule is taken away; log=yes is put back to its default.
    assert differences(FILTER, want, {**have, "in-interface": "ether2", "log": "yes"}, extras=True) == (
        {"log": "false"},
        ["in-interface"],
    )
    # Write-only properties (keys) are never compared: no print shows them.
    assert differences("/interface/wireguard", {"private-key": "x"}, {}, extras=True) == ({}, [])


def test_a_refused_step_leaves_the_router_exactly_as_before_the_batch(router: Router, site: Any) -> None:
    desired = _desired(site)
    broken = copy.deepcopy(desired)
    broken[FILTER].insert(
        5, {"chain": "forward", "action": "accept", "in-interface": "ether9", "comment": "zg:FW-X bad"}
    )
    before = router.everything()
    _, out = router.provision(broken, site)
    assert router.everything() == before
    assert out.applied == [] and out.error is not None
    assert "ether9" in out.error and "rolled back" in out.error
    assert "/ip/firewall/filter" in out.error  # which entry


def test_a_batch_that_locks_management_out_is_unrolled(router: Router, site: Any) -> None:
    locked = desired_router(site)  # the API admits the management segment only: not this loopback client
    before = router.everything()
    _, out = router.provision(locked, site)
    assert out.error is not None and "no longer answers a new management connection" in out.error
    assert router.everything() == before


def test_a_hand_made_rule_survives_and_is_reported_unless_the_site_opts_in(router: Router, site: Any) -> None:
    desired = _desired(site)
    router.provision(desired, site)
    rules = router.store.print(FILTER)
    middle = next(r for r in rules if "FW-HOME-WEB" in r.get("comment", ""))
    hand = router.store.add(
        FILTER,
        {"chain": "forward", "action": "accept", "protocol": "tcp", "dst-port": "22", "comment": "operator: ssh",
         "place-before": middle[".id"]},
    )  # fmt: skip
    plan, out = router.provision(desired, site)
    assert plan.changes == [] and out.writes == 0
    assert any("unmanaged" in n and "operator: ssh" in n for n in plan.notes)
    ids = [r[".id"] for r in router.store.print(FILTER)]
    assert ids.index(hand) == ids.index(middle[".id"]) - 1  # untouched, in place
    plan, out = router.provision(desired, site, remove_unmanaged={FILTER: ["forward"]})
    assert [c.op for c in plan.changes] == ["-"] and out.error is None
    assert hand not in [r[".id"] for r in router.store.print(FILTER)]


def test_rules_out_of_order_are_moved_in_batches_and_stale_ones_removed_last(router: Router, site: Any) -> None:
    desired = _desired(site)
    router.provision(desired, site)
    rules = router.store.print(FILTER)
    forward = [r for r in rules if r["chain"] == "forward"]
    # Someone moved the default drop to the top of forward, and a rule the site no longer has is still there.
    router.store.move(FILTER, [forward[-1][".id"]], forward[0][".id"])
    stale = router.store.add(FILTER, {"chain": "forward", "action": "accept", "comment": "zg:FW-OLD gone"})
    plan, out = router.provision(desired, site)
    assert out.error is None
    assert [c.op for c in plan.changes] == [">", "-"]
    assert [r.get("comment") for r in router.store.print(FILTER)] == [r["comment"] for r in desired[FILTER]]
    assert stale not in [r[".id"] for r in router.store.print(FILTER)]


def test_a_missing_rule_is_created_at_its_place_not_appended(router: Router, site: Any) -> None:
    desired = _desired(site)
    router.provision(desired, site)
    victim = next(r for r in router.store.print(FILTER) if "FW-HOME-WEB" in r.get("comment", ""))
    router.store.remove(FILTER, [victim[".id"]])
    plan, out = router.provision(desired, site)
    assert [c.op for c in plan.changes] == ["+"] and out.writes == 1  # no move needed: placed before its successor
    assert [r.get("comment") for r in router.store.print(FILTER)] == [r["comment"] for r in desired[FILTER]]


def test_batches_stay_below_safe_modes_limit(router: Router, site: Any) -> None:
    desired = _desired(site)
    client = CountingClient(router.connect())
    try:
        plan = plan_router(desired, read_menus(client, desired), controls=menu_controls(site))
        journal = Journal(None)
        out = apply_router(client, plan, connect=router.connect, journal=journal, batch_size=20)
    finally:
        client.close()
    assert out.error is None
    assert [len(e["changes"]) for e in journal.entries] == [20, 20, 20, len(plan.changes) - 60]
    again, _ = router.plan(desired, site)
    assert again.changes == []


def test_a_rule_whose_comment_was_edited_is_still_the_plugins_by_its_id(
    router: Router, site: Any, tmp_path: Path
) -> None:
    desired = _desired(site)
    ownership = Ownership(tmp_path / "own.json", "r")
    router.provision(desired, site, ownership)
    rule = next(r for r in router.store.print(FILTER) if "FW-HOME-WEB" in r.get("comment", ""))
    router.store.set(FILTER, [rule[".id"]], {"comment": "edited by hand"})
    reread = Ownership(tmp_path / "own.json", "r")  # from the file, as the next run reads it
    plan, out = router.provision(desired, site, reread)
    assert [(c.op, c.detail) for c in plan.changes] == [("~", f"comment={rule['comment']}")]
    assert out.error is None and not [n for n in plan.notes if "unmanaged" in n and FILTER in n]
    assert [r.get("comment") for r in router.store.print(FILTER)] == [r["comment"] for r in desired[FILTER]]


def test_an_owned_id_reused_by_another_rule_is_not_taken_for_the_plugins(router: Router, site: Any) -> None:
    desired = _desired(site)
    router.provision(desired, site)
    hand = router.store.add(FILTER, {"chain": "forward", "action": "drop", "protocol": "udp", "comment": "mine"})
    # As after a reset: the ownership file names this id, but for a rule that said something else.
    stale = Ownership(None, "r")
    stale.record(FILTER, hand, "zg:FW-HOME-WEB home -> cluster#0", "0000000000000000")
    plan, out = router.provision(desired, site, stale)
    assert plan.changes == [] and out.writes == 0
    assert any("unmanaged" in n and "mine" in n for n in plan.notes)


def test_a_site_enabling_event_rate_limit_gets_its_configuration_in_the_file_provisioning_writes(site: Any) -> None:
    import yaml

    from pytest_zengarden.provision.blades import desired_files

    hard = site.cluster.apiserver.model_copy(update={"admission_plugins": ["NodeRestriction", "EventRateLimit"]})
    with_erl = site.model_copy(update={"cluster": site.cluster.model_copy(update={"apiserver": hard})})
    psa = next(f for f in desired_files(with_erl, "blade001") if f.path.endswith("psa.yaml"))
    plugins = yaml.safe_load(psa.text)["plugins"]
    # Without it kube-apiserver 1.32 panics at start-up, and `systemctl restart k3s` would fail.
    assert [p["name"] for p in plugins] == ["PodSecurity", "EventRateLimit"]
    assert plugins[1]["configuration"]["limits"]
    plain = next(f for f in desired_files(site, "blade001") if f.path.endswith("psa.yaml"))
    assert [p["name"] for p in yaml.safe_load(plain.text)["plugins"]] == ["PodSecurity"]
