"""A blade's API server runs with the flags of the files it has; `systemctl restart k3s` over SSH applies them.

One bare lab (blades as fresh k3s installs) for the module.  The site's files are then written to blade001
over SSH with the lab's key, as the provisioner does, and `systemctl restart k3s` restarts that blade's
API server with them.  Every command to a blade runs inside the blade's own namespace (nothing from the
root namespace).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.lab.blades import BLADE_USER, site_files
from pytest_zengarden.lab.controlplane import ControlPlanePlan, apiserver_request, plan_control_plane
from pytest_zengarden.lab.k3s_supervisor import argv_in_effect, flags_of
from pytest_zengarden.lab.lifecycle import Lab
from pytest_zengarden.site.loader import load_site

from ..helpers import REPO, SITE

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)

SITE_FLAGS = ("enable-admission-plugins", "admission-control-config-file", "audit-policy-file", "audit-log-path",
              "encryption-provider-config", "oidc-issuer-url")  # fmt: skip
PSA = "/var/lib/rancher/k3s/server/psa.yaml"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(load_site(SITE), SITE, tmp_path_factory.mktemp("k3s-sup") / "state", progress=lambda msg: None)
    try:
        lab.up(bare=True)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def plan(lab: Lab) -> ControlPlanePlan:
    return plan_control_plane(lab.site, {b: lab.plan.ns(b) for b in lab.site.blades}, lab.dir)


def ssh(lab: Lab, blade: str, command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``command`` on ``blade`` over SSH (the lab's user, as root through sudo: root login is off) with the lab's
    key, from inside the blade's namespace."""
    address = str(lab.site.blades[blade].address)
    argv = ["ip", "netns", "exec", lab.plan.ns(blade), "ssh", "-i", str(lab.dir / "secrets" / "ssh_key"),
            "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={lab.dir / 'known_hosts'}",
            "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", f"{BLADE_USER}@{address}",
            f"sudo -n sh -c {shlex.quote(command)}"]  # fmt: skip
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=150)


def write_over_ssh(lab: Lab, blade: str, files: dict[str, str]) -> None:
    for path, text in files.items():
        done = ssh(lab, blade, f"mkdir -p {os.path.dirname(path)} && cat > {path}", stdin=text)
        assert done.returncode == 0, done.stderr


# Dry-runs a privileged pod in a namespace without Pod Security labels; prints the API's answer.
PRIVILEGED_POD = """
import json, sys
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_kube_config(sys.argv[1])
core = client.CoreV1Api()
for make in (lambda: core.create_namespace({"metadata": {"name": "zg-unlabelled"}}, _request_timeout=10),
             lambda: core.create_namespaced_service_account("zg-unlabelled", {"metadata": {"name": "default"}},
                                                           _request_timeout=10)):
    try:
        make()
    except ApiException as exc:
        if exc.status != 409:
            raise
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "zg-privileged"},
       "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]}}
try:
    core.create_namespaced_pod("zg-unlabelled", pod, dry_run="All", _request_timeout=10)
    print(json.dumps({"status": 201, "message": ""}))
except ApiException as exc:
    print(json.dumps({"status": exc.status, "message": json.loads(exc.body).get("message", "")}))
"""


def privileged_pod(lab: Lab, plan: ControlPlanePlan) -> dict[str, Any]:
    """The admin kubeconfig names blade001's API server: this asks that one, from blade001's namespace."""
    proc = subprocess.run(
        ["ip", "netns", "exec", lab.plan.ns("blade001"), sys.executable, "-c", PRIVILEGED_POD, str(plan.kubeconfig)],
        capture_output=True, text=True, timeout=90, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def in_effect(lab: Lab, blade: str) -> dict[str, str]:
    argv = argv_in_effect(lab.dir / "hosts" / blade)
    assert argv is not None, f"{blade}: no argv in effect recorded"
    return flags_of(argv)


def test_a_bare_blade_runs_k3s_defaults(lab: Lab, plan: ControlPlanePlan) -> None:
    assert ssh(lab, "blade001", "test -e /etc/rancher/k3s/config.yaml").returncode == 1
    assert ssh(lab, "blade001", f"test -e {PSA}").returncode == 1
    for blade in lab.site.cluster.control_plane:
        flags = in_effect(lab, blade)
        assert not {f for f in SITE_FLAGS if f in flags}, flags
        assert flags["etcd-servers"] == ",".join(plan.etcd_endpoints)  # the lab's plumbing stays
    active = ssh(lab, "blade001", "systemctl is-active k3s")
    assert (active.returncode, active.stdout) == (0, "active\n"), active.stderr
    # An agent blade's k3s-agent (which the provisioner restarts on a worker) is simulated; nothing reaches
    # the lab machine's own systemd from a blade.
    assert ssh(lab, "blade004", "systemctl restart k3s-agent").returncode == 0
    refused = ssh(lab, "blade004", "systemctl restart cron")
    assert refused.returncode == 5 and "not found" in refused.stderr
    # No admission configuration: PodSecurity's default is privileged, so nothing stops this pod.
    assert privileged_pod(lab, plan) == {"status": 201, "message": ""}


def test_restart_over_ssh_applies_the_blades_files(lab: Lab, plan: ControlPlanePlan) -> None:
    before = argv_in_effect(lab.dir / "hosts" / "blade002")
    pid_before = json.loads((lab.dir / "hosts/blade001/var/lib/rancher/k3s/server/.argv-in-effect.json").read_text())
    write_over_ssh(lab, "blade001", site_files(lab.site, "blade001"))
    assert "admission-control-config-file" not in in_effect(lab, "blade001")  # written, not yet in effect

    start = time.monotonic()
    restarted = ssh(lab, "blade001", "systemctl restart k3s")
    assert restarted.returncode == 0, restarted.stderr
    print(f"systemctl restart k3s over SSH took {time.monotonic() - start:.1f}s")
    # Type=notify: when systemctl returns, the new server answers.
    status, body = apiserver_request(plan, "blade001", "/readyz")
    assert status == 200, body
    root = lab.dir / "hosts" / "blade001"
    flags = in_effect(lab, "blade001")
    server = root / "var/lib/rancher/k3s/server"
    assert flags["admission-control-config-file"] == str(server / "psa.yaml")
    assert flags["enable-admission-plugins"] == ",".join(lab.site.cluster.apiserver.admission_plugins)
    assert flags["audit-policy-file"] == str(server / "audit.yaml")
    assert flags["encryption-provider-config"] == str(server / "cred/encryption-config.json")
    assert flags["oidc-issuer-url"] == str(lab.site.cluster.apiserver.oidc_issuer)
    assert flags["etcd-servers"] == ",".join(plan.etcd_endpoints)
    record = json.loads((server / ".argv-in-effect.json").read_text())
    assert record["state"] == "active" and record["pid"] != pid_before["pid"]
    # The argv recorded is the running process's own.
    cmdline = Path(f"/proc/{record['pid']}/cmdline").read_bytes().split(b"\0")[:-1]
    assert [a.decode() for a in cmdline] == record["argv"]
    result = privileged_pod(lab, plan)
    assert result["status"] == 403 and 'violates PodSecurity "restricted:latest"' in result["message"], result
    assert (server / "logs" / "audit.log").stat().st_size > 0
    # Only that blade restarted.
    assert argv_in_effect(lab.dir / "hosts" / "blade002") == before


def test_a_failed_restart_says_why_and_the_next_one_recovers(lab: Lab, plan: ControlPlanePlan) -> None:
    good = site_files(lab.site, "blade001")["/etc/rancher/k3s/config.yaml"]
    broken = good.replace(PSA, "/var/lib/rancher/k3s/server/missing.yaml")
    assert broken != good
    write_over_ssh(lab, "blade001", {"/etc/rancher/k3s/config.yaml": broken})
    failed = ssh(lab, "blade001", "systemctl restart k3s")
    assert failed.returncode != 0
    assert "kube-apiserver exited" in failed.stderr, failed.stderr
    state = ssh(lab, "blade001", "systemctl is-active k3s")
    assert (state.returncode, state.stdout) == (3, "failed\n")
    assert lab.status_rows()  # the supervisor itself still runs, waiting for the next request
    assert next(ok for name, ok, _ in lab.status_rows() if name == "kube-apiserver-blade001")

    write_over_ssh(lab, "blade001", {"/etc/rancher/k3s/config.yaml": good})
    recovered = ssh(lab, "blade001", "systemctl restart k3s")
    assert recovered.returncode == 0, recovered.stderr
    assert apiserver_request(plan, "blade001", "/readyz")[0] == 200
    assert in_effect(lab, "blade001")["admission-control-config-file"].endswith("/server/psa.yaml")


def test_lab_restart_of_the_process_keeps_the_blades_flags(lab: Lab, plan: ControlPlanePlan) -> None:
    """`zengarden lab restart kube-apiserver-<blade>` restarts the supervisor: same files, same flags."""
    before = in_effect(lab, "blade001")
    lab.restart("kube-apiserver-blade001")
    from pytest_zengarden.lab.controlplane import wait_apiserver

    wait_apiserver(plan, "blade001", 90)
    assert in_effect(lab, "blade001") == before
    assert all(ok for _, ok, _ in lab.status_rows())
