"""Network policies, RBAC and API server authentication against the lab's real API servers.

The converged lab passes every check of suites/test_cluster_access.py and features/trust_boundaries.feature;
the deviations namespace-without-default-deny, cluster-admin-binding and anonymous-auth (one bring-up) each
fail exactly their check; a second `--provision` repairs what the provisioner owns and nothing else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_zengarden.lab.lifecycle import Lab
from pytest_zengarden.site.loader import load_site

from ..helpers import REPO, SITE, junit_cases

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)

FILES = ("suites/test_cluster_access.py", "features/test_trust_boundaries.py", "suites/test_cluster.py")
ISOLATION = "features.test_trust_boundaries::test_every_namespace_is_isolated_unless_the_design_exempts_it"
POWER = "features.test_trust_boundaries::test_clusterwide_power_stays_with_the_designed_administrators"
AUTH = (
    "features.test_trust_boundaries::"
    "test_every_api_server_takes_its_users_from_the_designed_oidc_issuer_and_none_anonymously"
)
ANONYMOUS = "features.test_trust_boundaries::test_an_unauthenticated_request_is_turned_away_by_every_api_server"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # Every part: the servers' k3s configs (OIDC flags, restarts over SSH) are the blades part's.
    state = tmp_path_factory.mktemp("access") / "state"
    lab = Lab(load_site(SITE), SITE, state, progress=lambda msg: None)
    yield lab
    lab.down()


def run_checks(lab: Lab, xml: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, object]]]:
    proc = subprocess.run(
        ["ip", "netns", "exec", "zg-management", sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         *FILES, "--zg-target", "lab", f"--junitxml={xml}"],
        cwd=REPO, capture_output=True, text=True, timeout=240, env={**os.environ, "ZG_LAB_STATE": str(lab.dir)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc, junit_cases(xml)


def provision(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pytest_zengarden.provision`` from the management namespace, as an operator runs it."""
    return subprocess.run(
        ["ip", "netns", "exec", "zg-management", sys.executable, "-m", "pytest_zengarden.provision",
         "--site", str(SITE), "--target", "lab", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "ZG_LAB_STATE": str(lab.dir)},
    )  # fmt: skip


def outcomes(cases: dict[str, dict[str, object]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, case in cases.items():
        out.setdefault(str(case["outcome"]), set()).add(name)
    return out


def test_the_converged_lab_passes_every_access_check(lab: Lab, tmp_path: Path):
    lab.up()
    proc, cases = run_checks(lab, tmp_path / "j.xml")
    by = outcomes(cases)
    assert set(by) == {"passed"}, proc.stdout[-4000:]
    mine = [n for n in cases if "test_cluster_access" in n or "trust_boundaries" in n]
    # 1 isolation + 2 RBAC + 3 servers x (flags, anonymous probe) + 4 scenarios
    assert len(mine) == 13, sorted(mine)
    for name in mine:
        if name.startswith("suites."):
            assert cases[name]["props"].get("control"), name
    # What the provisioner applied reads back as it wrote it: a second plan has no NetworkPolicy change.
    plan = provision(lab, "--plan", "--parts", "cluster")
    assert plan.returncode == 0 and "NetworkPolicy" not in plan.stderr, plan.stderr[-3000:]


def test_each_deviation_fails_exactly_its_check_and_reprovisioning_repairs_what_it_owns(lab: Lab, tmp_path: Path):
    lab.up(deviate=["namespace-without-default-deny", "cluster-admin-binding", "anonymous-auth"])
    proc, cases = run_checks(lab, tmp_path / "deviated.xml")
    by = outcomes(cases)
    assert set(by) == {"passed", "failed"}, proc.stdout[-4000:]
    assert by["failed"] == {
        "suites.test_cluster_access::test_network_policies",
        "suites.test_cluster_access::test_cluster_admin_bindings",
        "suites.test_cluster_access::test_apiserver_authentication[blade002]",
        "suites.test_cluster_access::test_apiserver_refuses_anonymous[blade002]",
        ISOLATION, POWER, AUTH, ANONYMOUS,
    }, proc.stdout[-4000:]  # fmt: skip
    out = proc.stdout
    assert "namespace apps-dev-unguarded: no default-deny ingress" in out
    assert "[K8S-RBAC] ClusterRoleBinding ci-deployer-cluster-admin: grants cluster-admin to ServiceAccount " in out
    assert "[K8S-APISERVER-HARDENING] blade002 anonymous-auth: --anonymous-auth=true: anonymous requests" in out
    # Behaviour, not only configuration: the deviated server authenticates an anonymous request (403 from RBAC).
    assert "blade002 anonymous request: GET https://192.168.77.171:6443/api without credentials: 403" in out

    # The provisioner rewrites blade002's k3s config (and restarts it) and gives the new namespace its
    # default-deny; the cluster-admin binding is not its own (no inventory label): still reported.
    prov = provision(lab)
    assert prov.returncode == 0, prov.stderr[-3000:]
    assert "NetworkPolicy apps-dev-unguarded/default-deny" in prov.stderr
    proc, cases = run_checks(lab, tmp_path / "reprovisioned.xml")
    assert outcomes(cases)["failed"] == {"suites.test_cluster_access::test_cluster_admin_bindings", POWER}, proc.stdout[
        -4000:
    ]
