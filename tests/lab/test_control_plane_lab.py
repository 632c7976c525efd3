"""Control-plane HA on the lab's real API servers: one stopped server is the HA check's finding, not an
outage of every cluster check; the controller-manager's lease moves when its holder dies."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.lab.lifecycle import Lab
from pytest_zengarden.site.loader import load_site

from ..helpers import SITE, junit_cases
from .test_provision_lab import in_mgmt

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)

SUITES = ("suites/test_cluster.py", "suites/test_control_plane.py")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # The cluster converged; the router and blades stay as installed (the cluster checks do not read them,
    # but the Pod Security defaults are read from the servers, so the blades are converged too).
    lab = Lab(load_site(SITE), SITE, tmp_path_factory.mktemp("ha") / "state", progress=lambda msg: None,
              parts=("blades", "cluster"))  # fmt: skip
    lab.up()
    yield lab
    lab.down()


def outcomes(lab: Lab, xml: Path, *args: str) -> dict[str, str]:
    proc = in_mgmt(lab, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *SUITES,
                   "--zg-target", "lab", f"--junitxml={xml}", *args)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    return {k.split("::")[-1]: v["outcome"] for k, v in junit_cases(xml).items()}


def systemctl(lab: Lab, blade: str, verb: str) -> None:
    key, known = lab.dir / "secrets" / "ssh_key", lab.dir / "known_hosts"
    lab_json = json.loads((lab.dir / "lab.json").read_text())
    user = lab_json["inventory"]["blades"]["user"]
    sudo = "" if user == "root" else "sudo "
    proc = in_mgmt(lab, "ssh", "-i", str(key), "-o", f"UserKnownHostsFile={known}", "-o", "BatchMode=yes",
                   f"{user}@{lab.site.blades[blade].address}", f"{sudo}systemctl {verb} k3s", timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def lease_holder(lab: Lab, name: str) -> dict[str, Any]:
    code = (
        "import json, sys; from pytest_zengarden.clients.cluster import KubeClusterClient as K; "
        f"c = K(__import__('pathlib').Path({str(lab.dir / 'kubeconfig')!r}), timeout=5); "
        f"print(json.dumps([x for x in c.list('Lease') if x['metadata']['name'] == {name!r}][0]['spec']))"
    )
    proc = in_mgmt(lab, sys.executable, "-c", code, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    spec: dict[str, Any] = json.loads(proc.stdout)
    return spec


def revive_controllers(lab: Lab) -> None:
    """Start again any controller-manager or scheduler that exited: on k3s they are part of the server and come
    back with it; the lab runs them beside the API server, so a stopped server's leader exits for good."""
    for name, ok, _ in lab.status_rows():
        if name.startswith(("kube-controller-manager-", "kube-scheduler-")) and not ok:
            lab.restart(name)


def alive_holder(lab: Lab, lease: str, seconds: float = 90) -> tuple[str, dict[str, Any]]:
    """The blade holding ``lease`` once it is one whose controller runs (a dead holder's lease expires first)."""
    deadline = time.monotonic() + seconds
    while True:
        spec = lease_holder(lab, lease)
        holder = spec["holderIdentity"].split("_")[0]
        alive = {n for n, ok, _ in lab.status_rows() if ok}
        if f"{lease}-{holder}" in alive or time.monotonic() > deadline:
            return holder, spec
        time.sleep(1)


def test_the_default_lab_passes_every_control_plane_check(lab: Lab, tmp_path: Path) -> None:
    got = outcomes(lab, tmp_path / "j.xml")
    ha = {k for k in got if k.startswith(("test_api_server", "test_leader_lease"))}
    assert len(ha) == 3 + 3 + 1 + 2
    assert {k: v for k, v in got.items() if v != "passed"} == {}


def test_one_stopped_api_server_is_a_finding_not_an_outage(lab: Lab, tmp_path: Path) -> None:
    systemctl(lab, "blade001", "stop")  # the server the kubeconfig names
    try:
        got = outcomes(lab, tmp_path / "down.xml", "-k", "not leader_lease")
    finally:
        systemctl(lab, "blade001", "start")
        revive_controllers(lab)
    failing = {k: v for k, v in got.items() if v != "passed"}
    assert failing == {"test_api_server_health[blade001]": "failed", "test_api_server_certificate[blade001]": "failed"}
    assert got["test_namespaces_pod_security"] == "passed"  # served by blade002/003 through the HA reader


def test_the_controller_managers_lease_moves_when_its_holder_dies(lab: Lab, tmp_path: Path) -> None:
    revive_controllers(lab)
    holder, before = alive_holder(lab, "kube-controller-manager")
    assert holder in lab.site.cluster.control_plane
    state = json.loads(lab.state_file.read_text())
    proc = next(p for p in state["processes"] if p["name"] == f"kube-controller-manager-{holder}")
    os.killpg(proc["pid"], signal.SIGKILL)
    try:
        deadline = time.monotonic() + 90  # lease 15 s + retry 2 s, twice over, on a loaded two-core host
        now = before
        while time.monotonic() < deadline:
            now = lease_holder(lab, "kube-controller-manager")
            if now["holderIdentity"].split("_")[0] != holder:
                break
            time.sleep(1)
        new = now["holderIdentity"].split("_")[0]
        assert new != holder and new in lab.site.cluster.control_plane, now
        got = outcomes(lab, tmp_path / "moved.xml", "-k", "leader_lease")
        assert got == {f"test_leader_lease[{n}]": "passed" for n in ("kube-controller-manager", "kube-scheduler")}
    finally:
        lab.restart(f"kube-controller-manager-{holder}")


def test_an_unlabelled_namespace_without_a_default_fails_pod_security_three_ways(lab: Lab, tmp_path: Path) -> None:
    """psa-unlabelled-no-default: the servers' admission configuration (in effect) sets no default and a namespace
    has no label: configured fails on every server and for that namespace, and enforced fails (the API server
    admits what restricted forbids there); nothing else does."""
    lab.up(deviate=["psa-unlabelled-no-default"])
    proc = in_mgmt(lab, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "suites", "features",
                   "-m", "cluster or hosts", "--zg-target", "lab", f"--junitxml={tmp_path / 'j.xml'}")  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    failing = {k.split("::")[-1]: v["outcome"] for k, v in junit_cases(tmp_path / "j.xml").items()
               if v["outcome"] != "passed"}  # fmt: skip
    assert failing == {
        "test_namespaces_pod_security": "failed",
        **{f"test_psa_admission_config[{b}]": "failed" for b in lab.site.cluster.control_plane},
        "test_pod_security_enforced": "failed",
        "test_no_namespace_weakens_pod_security_outside_the_designed_exemptions": "failed",
        "test_the_api_server_refuses_what_the_standard_forbids": "failed",
    }, proc.stdout[-3000:]
