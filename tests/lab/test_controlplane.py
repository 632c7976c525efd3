"""The lab's control plane: plan and files (no privileges needed), then real etcd + kube-apiserver processes.

Live topology (all namespaces created here, wired only to each other, deleted at the end)::

    zgC-blade001 eth0 192.168.77.170/24 \\
    zgC-blade002 eth0 192.168.77.171/24  > bridge `switch` in zgC-sw
    zgC-blade003 eth0 192.168.77.172/24 /
    zgC-mgmt     eth0 192.168.77.10/24  /   (the client: kubernetes Python client, etcd gateway calls)

No namespace has a default route, so nothing (the OIDC discovery fetch included) leaves the lab; the test
process enters namespaces with ``ip netns exec`` and never sends a packet from the root namespace.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_zengarden.checks.findings import failed, report
from pytest_zengarden.checks.hosts import audit_policy, psa_admission
from pytest_zengarden.desired.hosts import server_files
from pytest_zengarden.lab.controlplane import (
    ControlPlanePlan,
    apiserver_request,
    binaries_dir,
    etcd_request,
    plan_control_plane,
    start_control_plane,
    wait_etcd,
    write_control_plane_files,
)
from pytest_zengarden.lab.netns import LabError, list_namespaces
from pytest_zengarden.site.loader import load_site

from ..helpers import REPO, SITE

SW, MGMT = "zgC-sw", "zgC-mgmt"
BLADES = {"blade001": "192.168.77.170", "blade002": "192.168.77.171", "blade003": "192.168.77.172"}
BLADE_NS = {b: f"zgC-{b}" for b in BLADES}
MGMT_ADDR = "192.168.77.10"


def _have_binaries() -> bool:
    try:
        binaries_dir()
    except LabError:
        return False
    return True


live = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("openssl") is None or not _have_binaries(),
    reason="needs root, iproute2, openssl and the control-plane binaries (./scripts/build-k8s)",
)


@pytest.fixture(scope="module")
def site() -> Any:
    return load_site(SITE)


# ------------------------------------------------------------------------------------ plan (pure)
def test_binaries_dir_honours_cache_and_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_CACHE", str(tmp_path))
    monkeypatch.setenv("K8S_VERSION", "v1.99.0")
    with pytest.raises(LabError, match=r"\./scripts/build-k8s") as err:
        binaries_dir()
    assert str(tmp_path / "k8s-v1.99.0" / "bin") in str(err.value)
    bins = tmp_path / "k8s-v1.99.0" / "bin"
    bins.mkdir(parents=True)
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        (bins / name).write_text("#!/bin/sh\n")
        (bins / name).chmod(0o755)
    assert binaries_dir() == bins


def _flags(argv: tuple[str, ...]) -> dict[str, str]:
    return dict(a[2:].partition("=")[::2] for a in argv[1:])


def test_plan_etcd_members(site: Any, tmp_path: Path) -> None:
    plan = plan_control_plane(site, BLADE_NS, tmp_path)
    assert [p.name for p in plan.etcd] == ["etcd-blade001", "etcd-blade002", "etcd-blade003"]
    assert plan.etcd_endpoints == [f"https://{a}:2379" for a in BLADES.values()]
    # As k3s: each member runs from the YAML config file in its data directory (etcd --config-file).
    data = tmp_path / "hosts/blade002/var/lib/rancher/k3s/server/db/etcd"
    assert _flags(plan.etcd[1].argv) == {"config-file": str(data / "config")}
    f = yaml.safe_load(plan.etcd_configs[data / "config"])
    assert plan.etcd[1].ns == "zgC-blade002"
    assert f["listen-client-urls"] == "https://192.168.77.171:2379,https://127.0.0.1:2379"
    assert f["listen-peer-urls"] == "https://192.168.77.171:2380"
    assert f["listen-metrics-urls"] == "http://127.0.0.1:2381,http://192.168.77.171:2381"  # local + for scraping
    assert f["initial-cluster"] == ",".join(f"{b}=https://{a}:2380" for b, a in BLADES.items())
    assert f["initial-cluster-state"] == "new"
    client, peer = f["client-transport-security"], f["peer-transport-security"]
    assert client["client-cert-auth"] is peer["client-cert-auth"] is True
    tls = tmp_path / "hosts/blade002/var/lib/rancher/k3s/server/tls/etcd"
    assert client["cert-file"] == str(tls / "server-client.crt")
    assert peer["trusted-ca-file"] == str(tls / "peer-ca.crt")
    assert f["data-dir"] == str(data)
    assert (f["heartbeat-interval"], f["election-timeout"]) == (500, 5000)
    assert plan.env() == {
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "ZG_ETCD_CACERT": str(plan.etcd_ca),
        "ZG_ETCD_CERT": str(plan.etcd_cert),
        "ZG_ETCD_KEY": str(plan.etcd_key),
        "ZG_ETCD_ENDPOINTS": ",".join(plan.etcd_endpoints),
    }


def test_plan_apiserver_flags(site: Any, tmp_path: Path) -> None:
    plan = plan_control_plane(site, BLADE_NS, tmp_path)
    assert [p.name for p in plan.apiservers] == [f"kube-apiserver-{b}" for b in BLADES]
    assert plan.api_server_url == "https://192.168.77.170:6443"
    f = _flags(plan.apiservers[2].argv)
    server = tmp_path / "hosts/blade003/var/lib/rancher/k3s/server"
    assert f["bind-address"] == f["advertise-address"] == "192.168.77.172"
    assert f["secure-port"] == "6443"
    assert f["etcd-servers"] == ",".join(plan.etcd_endpoints)
    assert f["service-cluster-ip-range"] == "10.43.0.0/16"
    assert f["authorization-mode"] == "Node,RBAC"
    assert f["enable-admission-plugins"] == "NodeRestriction"
    assert f["admission-control-config-file"] == str(server / "psa.yaml")
    assert f["audit-policy-file"] == str(server / "audit.yaml")
    assert f["encryption-provider-config"] == str(server / "cred/encryption-config.json")
    assert f["oidc-issuer-url"] == "https://accounts.google.com"
    assert f["oidc-client-id"] == "zengarden-lab"
    assert f["oidc-username-claim"] == "email"
    assert f["allow-privileged"] == "true" and f["profiling"] == "false"
    assert f["client-ca-file"] == str(server / "tls/client-ca.crt")
    assert f["service-account-key-file"] == f["service-account-signing-key-file"] == str(server / "tls/service.key")
    no_oidc = plan_control_plane(site, BLADE_NS, tmp_path, oidc=False)
    assert not any(a.startswith("--oidc") for a in no_oidc.apiservers[0].argv)
    assert no_oidc.notes and not no_oidc.oidc


def test_plan_needs_every_namespace(site: Any, tmp_path: Path) -> None:
    with pytest.raises(LabError, match="blade003"):
        plan_control_plane(site, {"blade001": "a", "blade002": "b"}, tmp_path)


def test_rendered_configs_pass_the_host_checks(site: Any, tmp_path: Path) -> None:
    plan = plan_control_plane(site, BLADE_NS, tmp_path)
    server = tmp_path / "hosts/blade001/var/lib/rancher/k3s/server"
    psa_text, audit_text = plan.files[server / "psa.yaml"], plan.files[server / "audit.yaml"]
    findings = psa_admission(site, "blade001", psa_text) + audit_policy(site, "blade001", audit_text)
    assert findings and not failed(findings), report(failed(findings))
    psa = yaml.safe_load(psa_text)
    defaults = psa["plugins"][0]["configuration"]["defaults"]
    assert defaults["enforce-version"] == defaults["audit-version"] == defaults["warn-version"] == "latest"
    assert yaml.safe_load(audit_text)["rules"] == [{"level": "Metadata"}]


def test_server_files_agree_with_the_desired_blade_files(site: Any, tmp_path: Path) -> None:
    """The lab's blades (lab/blades.py) write desired.hosts.server_files at the same paths: no divergence."""
    plan = plan_control_plane(site, BLADE_NS, tmp_path)
    root = tmp_path / "hosts/blade002"
    for path, text in server_files(site).items():
        assert plan.files[root / path.lstrip("/")] == text, path


def test_event_rate_limit_gets_a_configuration(site: Any, tmp_path: Path) -> None:
    hard = site.cluster.apiserver.model_copy(update={"admission_plugins": ["NodeRestriction", "EventRateLimit"]})
    variant = site.model_copy(update={"cluster": site.cluster.model_copy(update={"apiserver": hard})})
    plan = plan_control_plane(variant, BLADE_NS, tmp_path)
    psa = yaml.safe_load(plan.files[tmp_path / "hosts/blade001/var/lib/rancher/k3s/server/psa.yaml"])
    assert [p["name"] for p in psa["plugins"]] == ["PodSecurity", "EventRateLimit"]
    assert psa["plugins"][1]["configuration"]["limits"]
    assert _flags(plan.apiservers[0].argv)["enable-admission-plugins"] == "NodeRestriction,EventRateLimit"


def _openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True, timeout=20).stdout


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_written_files(site: Any, tmp_path: Path) -> None:
    plan = plan_control_plane(site, BLADE_NS, tmp_path)
    write_control_plane_files(plan)
    tls = tmp_path / "hosts/blade002/var/lib/rancher/k3s/server/tls"
    for rel in (
        "etcd/server-ca.crt",
        "etcd/server-client.crt",
        "etcd/server-client.key",
        "etcd/peer-ca.crt",
        "etcd/peer-server-client.crt",
        "etcd/peer-server-client.key",
        "etcd/client.crt",
        "etcd/client.key",
        "serving-kube-apiserver.crt",
        "serving-kube-apiserver.key",
        "client-ca.crt",
        "service.key",
    ):
        assert (tls / rel).is_file(), rel
        if rel.endswith(".key"):
            assert (tls / rel).stat().st_mode & 0o077 == 0, f"{rel} is readable by others"
    serving = _openssl("x509", "-noout", "-ext", "subjectAltName", "-in", str(tls / "serving-kube-apiserver.crt"))
    for san in (
        "IP Address:192.168.77.171",
        "DNS:kubernetes.homelab.int.zengarden.space",
        "DNS:blade002",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
        "IP Address:10.43.0.1",
        "IP Address:127.0.0.1",
        "DNS:localhost",
    ):
        assert san in serving
    peer = _openssl(
        "x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage", "-in", str(tls / "etcd/peer-server-client.crt")
    )
    assert "DNS:blade002" in peer and "IP Address:192.168.77.171" in peer
    assert "TLS Web Server Authentication" in peer and "TLS Web Client Authentication" in peer
    # Each certificate chains to the CA the k3s layout names next to it.
    _openssl("verify", "-CAfile", str(tls / "etcd/peer-ca.crt"), str(tls / "etcd/peer-server-client.crt"))
    _openssl("verify", "-CAfile", str(tls / "etcd/server-ca.crt"), str(tls / "etcd/client.crt"))
    subject = _openssl("x509", "-noout", "-subject", "-in", str(plan.admin_cert))
    assert "CN = zengarden-admin" in subject and "O = system:masters" in subject
    enc_path = tmp_path / "hosts/blade003/var/lib/rancher/k3s/server/cred/encryption-config.json"
    enc = json.loads(enc_path.read_text())
    providers = enc["resources"][0]["providers"]
    assert enc["resources"][0]["resources"] == ["secrets"]
    assert len(base64.b64decode(providers[0]["aescbc"]["keys"][0]["secret"])) == 32
    assert providers[1] == {"identity": {}}
    assert (tmp_path / "hosts/blade001/var/lib/rancher/k3s/server/db/etcd").stat().st_mode & 0o777 == 0o700
    kube = yaml.safe_load(plan.kubeconfig.read_text())
    assert kube["clusters"][0]["cluster"]["server"] == "https://192.168.77.170:6443"
    assert base64.b64decode(kube["clusters"][0]["cluster"]["certificate-authority-data"]) == plan.server_ca.read_bytes()
    assert plan.kubeconfig.stat().st_mode & 0o077 == 0
    # A second write keeps keys and the encryption key: a restarted lab must still read its etcd data.
    before = (enc_path.read_text(), plan.admin_cert.read_bytes())
    write_control_plane_files(plan)
    assert (enc_path.read_text(), plan.admin_cert.read_bytes()) == before


# ------------------------------------------------------------------------------------------- live
def sh(*cmd: str, check: bool = True) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise AssertionError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _delete_namespaces() -> None:
    for ns in list_namespaces():
        if ns.startswith("zgC-"):
            sh("ip", "netns", "del", ns, check=False)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies (no etcd outlives a killed pytest)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG, kept across exec


class Supervisor:
    """The test's stand-in for the lab's process supervisor: ``ip netns exec`` + Popen, logs in files."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, ns: str, argv: list[str]) -> None:
        with open(self.logs / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, killed as one
                preexec_fn=_die_with_parent,
            )

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM, grace: float = 10) -> None:
        """Send ``sig``, then SIGKILL after ``grace`` seconds (etcd 3.5 waits for its request timeout on
        SIGTERM while API servers hold watch streams open)."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def stop_all(self) -> None:
        # API servers before etcd: the reverse of the start order.
        for name in sorted(self.procs, key=lambda n: (not n.startswith("kube-"), n)):
            self.stop(name)

    def tail(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@pytest.fixture(scope="module")
def network() -> Iterator[None]:
    _delete_namespaces()  # leftovers of an interrupted run
    try:
        for ns in (SW, MGMT, *BLADE_NS.values()):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", SW, "link", "add", "switch", "type", "bridge")
        ports = [(ns, b[-3:]) for b, ns in BLADE_NS.items()] + [(MGMT, "mgmt")]
        for ns, port in ports:
            # Created inside the switch namespace, the peer moved straight into the host's: nothing in root.
            sh("ip", "-n", SW, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", SW, "link", "set", port, "master", "switch", "up")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", SW, "link", "set", "switch", "up")
        for b, ns in BLADE_NS.items():
            sh("ip", "-n", ns, "addr", "add", f"{BLADES[b]}/24", "dev", "eth0")
        sh("ip", "-n", MGMT, "addr", "add", f"{MGMT_ADDR}/24", "dev", "eth0")
        yield
    finally:
        _delete_namespaces()


class ControlPlane:
    """The running control plane: its plan and the supervisor holding its processes."""

    def __init__(self, plan: ControlPlanePlan, sup: Supervisor) -> None:
        self.plan, self.sup = plan, sup

    def kube(self, code: str, timeout: float = 90) -> Any:
        """Run ``code`` with the official kubernetes client inside the management namespace; its JSON output."""
        prelude = (
            "import json, sys, time\n"
            "from kubernetes import client, config\n"
            "from kubernetes.client.rest import ApiException\n"
            "config.load_kube_config(sys.argv[1])\n"
            "core = client.CoreV1Api()\n"
        )
        proc = subprocess.run(
            ["ip", "netns", "exec", MGMT, sys.executable, "-c", prelude + code, str(self.plan.kubeconfig)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def etcd(self, member: str, path: str, body: Any = None) -> Any:
        status, text = etcd_request(self.plan, member, path, body)
        assert status == 200, f"etcd {member} {path}: {status} {text}"
        return json.loads(text)


@pytest.fixture(scope="module")
def cp(network: None, site: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    state = tmp_path_factory.mktemp("controlplane")
    logs = state / "logs"
    logs.mkdir()
    sup = Supervisor(logs)
    plan = plan_control_plane(site, BLADE_NS, state)
    try:
        write_control_plane_files(plan)
        start = time.monotonic()
        start_control_plane(plan, sup.spawn, log_tail=sup.tail)
        print(f"control plane up in {time.monotonic() - start:.1f}s")
        yield ControlPlane(plan, sup)
    finally:
        sup.stop_all()


# Creates a ConfigMap, retrying until ``deadline`` seconds have passed; prints attempts and the last error.
CREATE_CM = """
name, deadline, per_try = sys.argv[2], time.monotonic() + float(sys.argv[3]), float(sys.argv[4])
attempts, error = 0, None
while True:
    attempts += 1
    try:
        body = {"metadata": {"name": name}, "data": {"k": "v"}}
        core.create_namespaced_config_map("default", body, _request_timeout=per_try)
        error = None
        break
    except ApiException as exc:
        if exc.status == 409:
            error = None
            break
        error = f"{exc.status} {exc.reason}: {(exc.body or '')[:200]}"
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    if time.monotonic() > deadline:
        break
    time.sleep(1)
print(json.dumps({"attempts": attempts, "error": error}))
"""


def create_configmap(cp: ControlPlane, name: str, within: float, per_try: float = 10) -> dict[str, Any]:
    prelude = f"sys.argv[2:] = {[name, str(within), str(per_try)]!r}\n"
    result: dict[str, Any] = cp.kube(prelude + CREATE_CM, timeout=within + per_try + 60)
    return result


@live
def test_every_apiserver_is_ready(cp: ControlPlane) -> None:
    for blade in BLADES:
        status, body = apiserver_request(cp.plan, blade, "/readyz")
        assert status == 200, f"{blade}: {body}"
    # The site's OIDC issuer is unreachable from the lab, yet the servers run with its flags and serve.
    assert cp.plan.oidc
    assert any(a.startswith("--oidc-issuer-url=") for a in cp.plan.apiservers[0].argv)


@live
def test_unverifiable_oidc_token_is_refused(cp: ControlPlane) -> None:
    """The OIDC authenticator never initialises (no route to the issuer): its tokens fail closed with 401."""
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"x"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(
        json.dumps({"iss": "https://accounts.google.com", "aud": "zengarden-lab", "email": "a@b.c"}).encode()
    )
    token = f"{header}.{claims.rstrip(b'=').decode()}.c2ln"
    status, body = apiserver_request(cp.plan, "blade002", "/api/v1/namespaces", token=token)
    assert status == 401, body


@live
def test_audit_log_is_written(cp: ControlPlane) -> None:
    cp.kube("print(json.dumps(len(core.list_namespace().items)))")
    log = cp.plan.state_dir / "hosts/blade001/var/lib/rancher/k3s/server/logs/audit.log"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e["level"] == "Metadata" and e["user"]["username"] == "zengarden-admin" for e in events)


@live
def test_kubernetes_client_lists_namespaces(cp: ControlPlane) -> None:
    names = cp.kube("print(json.dumps([n.metadata.name for n in core.list_namespace().items]))")
    assert {"default", "kube-system"} <= set(names)


@live
def test_privileged_pod_refused_by_pod_security(cp: ControlPlane) -> None:
    result = cp.kube(
        """
# The ServiceAccount admission plugin needs the namespace's default account, which kube-controller-manager
# creates in a full cluster; the lab has none yet, so create it as the controller would.
try:
    core.create_namespaced_service_account("default", {"metadata": {"name": "default"}})
except ApiException as exc:
    if exc.status != 409:
        raise
pod = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "zg-privileged"},
    "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
}
try:
    core.create_namespaced_pod("default", pod, dry_run="All")
    print(json.dumps({"status": 201, "message": ""}))
except ApiException as exc:
    print(json.dumps({"status": exc.status, "message": json.loads(exc.body).get("message", "")}))
"""
    )
    assert result["status"] == 403, result
    assert 'violates PodSecurity "restricted:latest"' in result["message"], result
    assert "privileged" in result["message"]


@live
def test_secrets_are_encrypted_in_etcd(cp: ControlPlane) -> None:
    cp.kube(
        """
for make in (
    lambda: core.create_namespaced_secret("default", {"metadata": {"name": "zg-enc"}, "stringData": {"pw": "hunter2"}}),
    lambda: core.create_namespaced_config_map("default", {"metadata": {"name": "zg-plain"}, "data": {"k": "v"}}),
):
    try:
        make()
    except ApiException as exc:
        if exc.status != 409:
            raise
print("{}")
"""
    )

    def raw(key: str) -> bytes:
        got = cp.etcd("blade002", "/v3/kv/range", {"key": base64.b64encode(key.encode()).decode()})
        assert got.get("kvs"), f"{key} not in etcd: {got}"
        return base64.b64decode(got["kvs"][0]["value"])

    secret = raw("/registry/secrets/default/zg-enc")
    assert secret.startswith(b"k8s:enc:aescbc:v1:aescbckey:"), secret[:40]
    assert b"hunter2" not in secret
    # The contrast: other resources are stored as plain protobuf.
    assert raw("/registry/configmaps/default/zg-plain").startswith(b"k8s\x00")


@live
def test_etcd_has_three_members_and_a_leader(cp: ControlPlane) -> None:
    members = cp.etcd("blade001", "/v3/cluster/member/list", {})["members"]
    assert sorted(m["name"] for m in members) == sorted(BLADES)
    assert sorted(m["clientURLs"][0] for m in members) == sorted(cp.plan.etcd_endpoints)
    ids = {m["ID"] for m in members}
    leaders = {cp.etcd(b, "/v3/maintenance/status", {})["leader"] for b in BLADES}
    assert len(leaders) == 1 and leaders <= ids, (leaders, ids)


@live
def test_quorum_loss_and_recovery(cp: ControlPlane) -> None:
    """One member down: the API stays writable; two down: writes fail; both back: writes work again.

    Members are killed (SIGKILL), as a blade that loses power would be.
    """
    stopped: list[str] = []
    try:
        cp.sup.stop("etcd-blade002", signal.SIGKILL)
        stopped.append("blade002")
        # If blade002 led, the survivors elect a new leader first (election timeout 5 s): retry meanwhile.
        one_down = create_configmap(cp, "zg-quorum-one-down", within=40)
        assert one_down["error"] is None, one_down

        cp.sup.stop("etcd-blade003", signal.SIGKILL)
        stopped.append("blade003")
        two_down = create_configmap(cp, "zg-quorum-two-down", within=0, per_try=12)
        assert two_down["error"] is not None, "a write succeeded without etcd quorum"
    finally:
        for member in stopped:
            proc = cp.plan.process(f"etcd-{member}")
            cp.sup.spawn(proc.name, proc.ns, list(proc.argv))
    for member in stopped:
        wait_etcd(cp.plan, member, 30, cp.sup.tail)
    recovered = create_configmap(cp, "zg-quorum-recovered", within=60)
    assert recovered["error"] is None, recovered
