"""The lab router's apply step skips what did not change, and never skips after a failure (no root needed).

The nft loader is replaced by a recorder, the IPv6 sysctls point into a temporary directory, ``ip`` and
``kill`` are recorded: nothing here touches this machine's network or processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.lab import router_daemon
from pytest_zengarden.lab.router_daemon import Applier
from pytest_zengarden.lab.routeros import ConfigStore, RouterOsError, StoreOptions

NFT_ERROR = (
    "Error: Could not process rule: Operation not permitted\n"
    "add table inet zg_routeros\n"
    "Error: Could not process rule: Operation not permitted\n"
    "                  ^^^^^^^^^^^\n"
)


class Recorder:
    """Stands in for the nft loader, ``ip``, sysctl writes and ``kill``: records, and fails on request."""

    def __init__(self) -> None:
        self.scripts: list[str] = []
        self.fail_nft: str | None = None  # a substring: scripts containing it are refused
        self.ip: list[tuple[str, ...]] = []
        self.sysctl: list[tuple[str, bool]] = []
        self.hups: list[int] = []

    def nft(self, script: str) -> None:
        self.scripts.append(script)
        if self.fail_nft is not None and self.fail_nft in script:
            raise RouterOsError(f"failure: firewall could not be applied: {router_daemon._last_line(NFT_ERROR)}")

    def counts(self) -> tuple[int, int, int]:
        """(nft loads, IPv6 applies, dnsmasq reloads) so far."""
        return len(self.scripts), sum(1 for p, _ in self.sysctl if p.endswith("all/forwarding")), len(self.hups)


@pytest.fixture
def rec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    r = Recorder()
    sysctl = tmp_path / "sysctl"
    (sysctl / "all").mkdir(parents=True)
    monkeypatch.setattr(router_daemon, "IPV6_SYSCTL", sysctl)

    def fake_ip(*args: str) -> str:
        r.ip.append(args)
        return "[]"

    def fake_kill(pid: int, sig: int) -> None:
        r.hups.append(pid)

    monkeypatch.setattr(router_daemon, "_ip", fake_ip)
    monkeypatch.setattr(router_daemon, "_sysctl", lambda path, on: r.sysctl.append((str(path), on)))
    monkeypatch.setattr(router_daemon.os, "kill", fake_kill)
    return r


@pytest.fixture
def applier(tmp_path: Path, rec: Recorder) -> Applier:
    pid = tmp_path / "dnsmasq.pid"
    pid.write_text("4242\n")
    return Applier(tmp_path, pid, nft=rec.nft)


@pytest.fixture
def store(applier: Applier) -> ConfigStore:
    s = ConfigStore(options=StoreOptions(interfaces=("ether1", "ether2")), users={"admin": "pw"})
    s.on_change = applier
    s.reapply()
    return s


def _rule(store: ConfigStore, comment: str) -> str:
    return store.add("/ip/firewall/filter", {"chain": "forward", "action": "accept", "comment": comment})


def test_each_part_is_applied_only_when_its_input_changed(store: ConfigStore, rec: Recorder, tmp_path: Path) -> None:
    assert rec.counts() == (1, 1, 1)  # the first apply does everything
    store.set("/system/identity", None, {"name": "elsewhere"})
    assert rec.counts() == (1, 1, 1)  # nothing the data plane holds changed
    store.add("/ip/dns/static", {"name": "a.example", "address": "192.0.2.1"})
    assert rec.counts() == (1, 1, 2)
    assert (tmp_path / "hosts").read_text() == "192.0.2.1 a.example\n"
    _rule(store, "one")
    assert rec.counts() == (2, 1, 2)
    assert ' one"' in rec.scripts[-1]
    store.add("/ipv6/address", {"address": "2001:db8::1/64", "interface": "ether1"})
    assert rec.counts() == (2, 2, 2)
    assert rec.ip[-1] == ("-6", "addr", "add", "2001:db8::1/64", "dev", "ether1", "nodad")
    store.set("/ipv6/settings", None, {"forward": "no"})
    assert rec.counts() == (2, 3, 2)
    assert rec.sysctl[-1][1] is False  # forwarding off
    # An unchanged hosts file is neither rewritten nor reloaded.
    (tmp_path / "hosts").unlink()
    _rule(store, "two")
    assert rec.counts() == (3, 3, 2)
    assert not (tmp_path / "hosts").exists()


def test_a_failed_apply_then_the_same_config_applies_again(store: ConfigStore, rec: Recorder) -> None:
    rule = _rule(store, "first")
    rec.fail_nft = "refused"
    with pytest.raises(RouterOsError) as err:
        store.set("/ip/firewall/filter", [rule], {"comment": "refused"})
    # The nft error's last line reaches the client, as with the nft binary.
    assert str(err.value) == "failure: firewall could not be applied:                   ^^^^^^^^^^^"
    assert store.get("/ip/firewall/filter", rule)["comment"] == "first"
    tried = rec.scripts[-1]
    with pytest.raises(RouterOsError):
        store.set("/ip/firewall/filter", [rule], {"comment": "refused"})
    assert rec.scripts[-1] == tried and len(rec.scripts) == 4  # tried again, not skipped as "unchanged"
    rec.fail_nft = None
    store.set("/ip/firewall/filter", [rule], {"comment": "refused"})
    assert len(rec.scripts) == 5 and rec.scripts[-1] == tried
    assert store.get("/ip/firewall/filter", rule)["comment"] == "refused"


def test_after_a_failure_every_part_applies_again(store: ConfigStore, rec: Recorder, tmp_path: Path) -> None:
    """nft took the change but the hosts file could not be written: the next apply redoes everything."""
    store.add("/ip/dns/static", {"name": "a.example", "address": "192.0.2.1"})
    before = rec.counts()
    (tmp_path / "hosts.tmp").mkdir()  # the hosts file cannot be replaced
    with pytest.raises(RouterOsError):
        store.add("/ip/dns/static", {"name": "b.example", "address": "192.0.2.2"})
    assert rec.counts() == (before[0], before[1], before[2])  # failed before dnsmasq was told
    (tmp_path / "hosts.tmp").rmdir()
    # The same configuration as the last success: still applied in full, the failure may have left anything.
    store.set("/system/identity", None, {"name": "again"})
    assert rec.counts() == (before[0] + 1, before[1] + 1, before[2] + 1)
    assert rec.scripts[-1] == rec.scripts[-2]
    assert (tmp_path / "hosts").read_text() == "192.0.2.1 a.example\n"


def test_a_write_that_cannot_be_saved_puts_the_data_plane_back(tmp_path: Path, applier: Applier, rec: Recorder) -> None:
    """The store re-runs the hook on the restored state after a failed save: that must apply, not skip."""
    path = tmp_path / "state" / "config.json"
    s = ConfigStore(path, options=StoreOptions(interfaces=("ether1",)), users={"admin": "pw"})
    s.on_change = applier
    s.reapply()
    rule = _rule(s, "saved")
    original = rec.scripts[-1]
    path.unlink()
    path.mkdir()
    (path / "blocker").touch()  # os.replace onto a non-empty directory fails
    with pytest.raises(RouterOsError, match="could not save"):
        s.set("/ip/firewall/filter", [rule], {"comment": "unsaved"})
    changed = rec.scripts[-2]
    assert ' unsaved"' in changed
    assert rec.scripts[-1] == original  # the restored ruleset was loaded again
    assert s.get("/ip/firewall/filter", rule)["comment"] == "saved"
    (path / "blocker").unlink()
    path.rmdir()
    s.set("/ip/firewall/filter", [rule], {"comment": "unsaved"})
    assert rec.scripts[-1] == changed and len(rec.scripts) == 5  # and the change applies again on the next try


def test_safe_mode_unroll_applies_the_state_at_take(store: ConfigStore, rec: Recorder) -> None:
    session = store.open_session("admin", "test")
    store.safe_mode_take(session)
    at_take = rec.scripts[-1]
    _rule(store, "in safe mode")
    store.add("/ip/dns/static", {"name": "s.example", "address": "192.0.2.3"})
    nft, _, hups = rec.counts()
    store.safe_mode_unroll(session)
    assert rec.scripts[-1] == at_take and len(rec.scripts) == nft + 1
    assert len(rec.hups) == hups + 1
    store.close_session(session)


def test_dnsmasq_not_yet_running_is_told_on_the_next_apply(tmp_path: Path, rec: Recorder) -> None:
    """No pid file yet: the hosts file is written, and dnsmasq is signalled once it has a pid."""
    pid = tmp_path / "dnsmasq.pid"
    applier = Applier(tmp_path, pid, nft=rec.nft)
    s = ConfigStore(options=StoreOptions(interfaces=("ether1",)), users={"admin": "pw"}, on_change=applier)
    s.add("/ip/dns/static", {"name": "a.example", "address": "192.0.2.1"})
    assert rec.hups == []
    pid.write_text("4343\n")
    s.set("/system/identity", None, {"name": "x"})
    assert rec.hups == [4343]
    s.set("/system/identity", None, {"name": "y"})
    assert rec.hups == [4343]


def test_the_nft_error_of_the_library_is_reported_like_the_binarys(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_zengarden.lab import nft_lib

    class Refusing:
        def run(self, script: str) -> nft_lib.NftResult:
            return nft_lib.NftResult(-1, "", NFT_ERROR)

    monkeypatch.setattr(nft_lib, "load", lambda: Refusing())
    with pytest.raises(RouterOsError) as err:
        router_daemon._nft_apply("add table inet t\n")
    assert str(err.value) == "failure: firewall could not be applied:                   ^^^^^^^^^^^"


def test_the_ruleset_is_compiled_again_only_when_a_menu_it_reads_changed(
    store: ConfigStore, rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[int] = []
    real = router_daemon.compile_ruleset

    def counting(*args: Any, **kwargs: Any) -> str:
        compiled.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(router_daemon, "compile_ruleset", counting)

    def fresh() -> str:
        config = store.snapshot(include_secrets=True)
        return real(config, table=router_daemon.TABLE) + real(config, table=router_daemon.TABLE6, family=6)

    writes: list[tuple[str, Any, bool]] = [
        ("identity", lambda: store.set("/system/identity", None, {"name": "x"}), False),
        ("dns", lambda: store.add("/ip/dns/static", {"name": "a.example", "address": "192.0.2.1"}), False),
        (
            "address list",
            lambda: store.add("/ip/firewall/address-list", {"list": "l", "address": "192.0.2.0/24"}),
            True,
        ),
        ("interface list", lambda: store.add("/interface/list", {"name": "LAN"}), True),
        ("member", lambda: store.add("/interface/list/member", {"list": "LAN", "interface": "ether1"}), True),
        ("filter", lambda: _rule(store, "r"), True),
        ("nat", lambda: store.add("/ip/firewall/nat", {"chain": "srcnat", "action": "masquerade"}), True),
        (
            "ipv6 list",
            lambda: store.add("/ipv6/firewall/address-list", {"list": "l6", "address": "2001:db8::/32"}),
            True,
        ),
        ("ipv6 filter", lambda: store.add("/ipv6/firewall/filter", {"chain": "forward", "action": "drop"}), True),
        ("identity again", lambda: store.set("/system/identity", None, {"name": "y"}), False),
    ]
    for label, write, recompiles in writes:
        before = len(compiled)
        write()
        assert (len(compiled) > before) == recompiles, label
        assert rec.scripts[-1] == fresh(), label  # what was loaded last is what compiling now gives
