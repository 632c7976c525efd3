"""`lab up --bare` (factory router) and `lab up --deviate NAME` (a wrong site on purpose)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_zengarden.cli import main as cli
from pytest_zengarden.lab.deviations import CATALOGUE
from pytest_zengarden.lab.lifecycle import Lab
from pytest_zengarden.site.loader import load_site

from ..helpers import REPO, SITE, junit_cases
from .test_lab import probe

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)


@pytest.fixture(scope="module")
def make_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One lab for the module: ``up()`` rebuilds only when a test asks for another mode or deviation
    (each build costs ~20 s); test_switching_mode_rebuilds_the_lab then starts from the bare lab before it."""
    # The router's and the cluster's checks only: the blades stay fresh installs (no rolling k3s restarts).
    state = tmp_path_factory.mktemp("lab-modes") / "state"
    lab = Lab(load_site(SITE), SITE, state, progress=lambda msg: None, parts=("router", "cluster"))
    yield lab
    lab.down()


def run_router_suite(lab: Lab, xml: Path) -> dict[str, dict[str, object]]:
    proc = subprocess.run(
        ["ip", "netns", "exec", "zg-management", sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "suites/test_router.py", "--zg-target", "lab", f"--junitxml={xml}"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "ZG_LAB_STATE": str(lab.dir)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    return junit_cases(xml)


def test_deviations_are_listed(capsys: pytest.CaptureFixture[str]):
    assert cli(["lab", "deviations"]) == 0
    out = capsys.readouterr().out
    for name, dev in CATALOGUE.items():
        assert name in out and dev.breaks in out


def test_unknown_deviation_is_refused_before_anything_is_built(make_lab: Lab):
    from pytest_zengarden.lab.netns import LabError

    with pytest.raises(LabError, match="unknown deviation 'nope'"):
        make_lab.up(deviate=["nope"])
    assert make_lab.state() is None


def test_deviations_fail_exactly_their_checks_and_change_the_data_plane(make_lab: Lab, tmp_path: Path):
    make_lab.up(deviate=["stale-dns", "telnet-on", "home-ssh"])
    cases = run_router_suite(make_lab, tmp_path / "j.xml")
    failed = {name.split("::")[1] for name, c in cases.items() if c["outcome"] != "passed"}
    telnet_reachable = {
        f"test_router_access[{seg}->router:telnet]" for seg in ("cluster", "home", "management", "wireguard")
    }
    assert failed == {"test_service[telnet]", "test_dns_record[gitea.homelab.int.zengarden.space]"} | telnet_reachable
    # home-ssh: the extra rule (as in the real homelab) really lets SSH through to blade001's sshd.
    assert probe("zg-home", [("tcp", "192.168.77.170", 22)]) == ["open"]


def test_bare_router_is_at_factory_state(make_lab: Lab, tmp_path: Path):
    make_lab.up(bare=True)
    cases = run_router_suite(make_lab, tmp_path / "j.xml")
    passed = {name.split("::")[1] for name, c in cases.items() if c["outcome"] == "passed"}
    # Nothing the site asks of the router is configured (services happen to be on, as the site wants some).
    assert not [n for n in passed if n.startswith(("test_dns_record", "test_gateway", "test_interface_list"))]
    ruleset = subprocess.run(
        ["ip", "netns", "exec", "zg-router", "nft", "-j", "list", "ruleset"], capture_output=True, text=True, check=True
    ).stdout
    rules = [x for x in json.loads(ruleset)["nftables"] if "rule" in x]
    assert all("accept" in json.dumps(r) for r in rules)  # only the IPv6 pass-through, no RouterOS rules
    assert probe("zg-home", [("tcp", "192.168.77.170", 22)]) == ["open"]  # no firewall: RouterOS accepts


def test_switching_mode_rebuilds_the_lab(make_lab: Lab):
    make_lab.up(bare=True)
    make_lab.up()
    state = make_lab.state()
    assert state is not None and state.mode == "converged" and not make_lab._problems(state)


def test_proxy_deviation_lets_delete_reach_the_router(make_lab: Lab):
    from .test_lab import _through_proxy

    make_lab.up(deviate=["proxy-delete-anything"])
    out = _through_proxy(make_lab.dir, "DELETE", "/rest/ip/firewall/filter/*FFFF")
    # Allowed by the (deviated) proxy, so the router itself answers: no such rule.
    assert out["status"] in (400, 404), out


def test_tls12_deviation_opens_the_ingress_to_tls12(make_lab: Lab):
    from .test_lab import _tls

    make_lab.up(deviate=["tls12"])
    assert _tls(make_lab.dir, "192.168.77.200", "gitea.homelab.int.zengarden.space", "TLSv1_2") == "TLSv1.2"


def test_cluster_deviations_fail_exactly_their_checks(make_lab: Lab, tmp_path: Path):
    make_lab.up(deviate=["psa-privileged-namespace", "ingress-host-no-dns", "etcd-member-stopped"])
    xml = tmp_path / "j.xml"
    proc = subprocess.run(
        ["ip", "netns", "exec", "zg-management", sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "suites/test_router.py", "suites/test_cluster.py", "--zg-target", "lab", f"--junitxml={xml}"],
        cwd=REPO, capture_output=True, text=True, timeout=180, env={**os.environ, "ZG_LAB_STATE": str(make_lab.dir)},
    )  # fmt: skip
    cases = junit_cases(xml)
    failed = {name.split("::")[1] for name, c in cases.items() if c["outcome"] != "passed"}
    assert failed == {"test_namespaces_pod_security", "test_dns_record[argocd.homelab.int.zengarden.space]"}, (
        proc.stdout[-3000:]
    )
    # With one etcd member stopped the cluster still serves (2 of 3); status reports the stopped member.
    rows = {name: ok for name, ok, _ in make_lab.status_rows()}
    assert rows["etcd-blade003"] is False and rows["etcd-blade001"] and rows["kube-apiserver-blade001"]
