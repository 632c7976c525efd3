"""The Pod Security evaluator against the lab's real kube-apiserver (v1.32) PodSecurity admission.

* hypothesis generates valid pods; each is dry-run created in namespaces enforcing privileged (the
  control: API validation must admit it), baseline and restricted; the evaluator must flag a pod at a
  level exactly when the server refuses it there, naming the same checks;
* the enforced check passes on the default lab;
* the observed check gives the same findings on the live cluster and on its objects dumped to YAML;
* the privileged-workload deviation fails exactly the observed check.

Everything that talks to the API server runs inside the lab's management namespace (``pss_agent.py``
over a pipe, or pytest there); nothing is sent from the root namespace.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from pytest_zengarden.analysis.pod_security import ADMISSION_REASONS, WORKLOAD_KINDS, compliant_pod, evaluate
from pytest_zengarden.checks import pod_security as checks
from pytest_zengarden.lab.lifecycle import Lab, load_lab_json
from pytest_zengarden.offline.manifests import ManifestCluster
from pytest_zengarden.site.loader import load_site

from ..helpers import REPO, SITE, junit_cases

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)

LEVELS = ("privileged", "baseline", "restricted")
NS = {level: f"zg-pss-{level}" for level in LEVELS}
LIVE_NS = "zg-pss-live"
AGENT = Path(__file__).with_name("pss_agent.py")


class Agent:
    """The pipe to pss_agent.py in the management namespace; every answer awaited with a timeout."""

    def __init__(self, lab: Lab):
        info = load_lab_json(lab.dir)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", info["management_netns"], sys.executable, str(AGENT),
             info["inventory"]["cluster"]["kubeconfig"]],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip

    def __call__(self, op: str, timeout: float = 60, **args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"the agent did not answer {op} within {timeout} s"
        answer = json.loads(self.proc.stdout.readline())
        assert "error" not in answer, answer["error"]
        return answer["ok"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The default lab, cluster converged (the router's and blades' checks are not this module's)."""
    state = tmp_path_factory.mktemp("lab-pss") / "state"
    lab = Lab(load_site(SITE), SITE, state, progress=lambda msg: None, parts=("cluster",))
    lab.up()
    yield lab
    lab.down()


@pytest.fixture
def agent(lab: Lab) -> Iterator[Agent]:
    a = Agent(lab)
    yield a
    a.close()


# ------------------------------------------------------------------------------- valid pods (hypothesis)
SECCOMP = st.sampled_from([None, {"type": "RuntimeDefault"}, {"type": "Unconfined"},
                           {"type": "Localhost", "localhostProfile": "profiles/audit.json"}])  # fmt: skip
APPARMOR = st.sampled_from([None, {"type": "RuntimeDefault"}, {"type": "Unconfined"},
                            {"type": "Localhost", "localhostProfile": "k8s-nginx"}])  # fmt: skip
SELINUX = st.sampled_from([None, {"type": "container_t"}, {"level": "s0:c123,c456"}, {"type": "spc_t"},
                           {"user": "system_u"}, {"role": "system_r"}, {"type": "container_engine_t"}])  # fmt: skip
CAPS = st.sampled_from([None, {}, {"drop": ["ALL"]}, {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                        {"drop": ["ALL"], "add": ["CHOWN"]}, {"add": ["NET_RAW"]}, {"drop": ["NET_RAW"]},
                        {"drop": ["ALL"], "add": ["SYS_TIME"]}])  # fmt: skip
TRI = st.sampled_from([None, True, False])
USER = st.sampled_from([None, 0, 1000])


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


@st.composite
def linux_container(draw: st.DrawFn, name: str, port: int, host_network: bool, apparmor_fields: bool) -> dict:
    sc = _drop_none({
        "privileged": draw(TRI), "allowPrivilegeEscalation": draw(TRI), "capabilities": draw(CAPS),
        "runAsNonRoot": draw(TRI), "runAsUser": draw(USER), "seccompProfile": draw(SECCOMP),
        "appArmorProfile": draw(APPARMOR) if apparmor_fields else None, "seLinuxOptions": draw(SELINUX),
        "readOnlyRootFilesystem": draw(TRI),
    })  # fmt: skip
    if sc.get("privileged") and sc.get("allowPrivilegeEscalation") is False:
        del sc["allowPrivilegeEscalation"]  # API validation: privileged containers may escalate
    c: dict[str, Any] = {"name": name, "image": "registry.k8s.io/pause:3.10"}
    if draw(st.booleans()):
        c["securityContext"] = sc
    if draw(st.booleans()):
        # API validation: on the host network a hostPort equals its containerPort.
        host_port = draw(st.sampled_from([None, port])) if host_network else draw(st.sampled_from([None, 0, port]))
        c["ports"] = [_drop_none({"containerPort": port, "hostPort": host_port})]
    return c


@st.composite
def linux_pod(draw: st.DrawFn) -> dict[str, Any]:
    host = {k: draw(st.sampled_from([None, False, True])) for k in ("hostNetwork", "hostPID", "hostIPC")}
    apparmor_fields = draw(st.booleans())  # fields or annotations: validation wants them to agree if both
    names = ["app"] + (["side"] if draw(st.booleans()) else [])
    inits = ["init"] if draw(st.booleans()) else []
    containers = [draw(linux_container(n, 8080 + i, bool(host["hostNetwork"]), apparmor_fields))
                  for i, n in enumerate(names)]  # fmt: skip
    init_containers = [draw(linux_container(n, 9090, bool(host["hostNetwork"]), apparmor_fields)) for n in inits]
    psc = _drop_none({
        "runAsNonRoot": draw(TRI), "runAsUser": draw(USER), "seccompProfile": draw(SECCOMP),
        "appArmorProfile": draw(APPARMOR) if apparmor_fields else None, "seLinuxOptions": draw(SELINUX),
    })  # fmt: skip
    if not host["hostNetwork"] and not host["hostIPC"]:
        sysctls = draw(st.sampled_from([None, ["net.ipv4.tcp_keepalive_time"], ["net.ipv4.tcp_rmem"],
                                        ["kernel.msgmax"], ["net.ipv4.tcp_syncookies", "kernel.sem"]]))  # fmt: skip
        if sysctls:
            values = {"net.ipv4.tcp_rmem": "4096 87380 6291456", "kernel.sem": "250 32000 100 128"}
            psc["sysctls"] = [{"name": s, "value": values.get(s, "1")} for s in sysctls]
    volumes = [v for v in (
        draw(st.sampled_from([None, {"name": "cfg", "configMap": {"name": "cfg"}}])),
        draw(st.sampled_from([None, {"name": "tmp", "emptyDir": {}}, {"name": "bare"}])),
        draw(st.sampled_from([None, {"name": "host", "hostPath": {"path": "/var/log"}},
                              {"name": "nfs", "nfs": {"server": "nfs.invalid", "path": "/export"}}])),
    ) if v]  # fmt: skip
    meta: dict[str, Any] = {"name": "h"}
    if not apparmor_fields:
        annotations = {}
        for n in names + inits:
            value = draw(st.sampled_from([None, "runtime/default", "localhost/k8s-nginx", "unconfined"]))
            if value:
                annotations[f"container.apparmor.security.beta.kubernetes.io/{n}"] = value
        if annotations:
            meta["annotations"] = annotations
    spec = _drop_none({**host, "containers": containers, "initContainers": init_containers or None,
                       "securityContext": psc or None, "volumes": volumes or None})  # fmt: skip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


@st.composite
def windows_pod(draw: st.DrawFn) -> dict[str, Any]:
    """A Windows pod: the API forbids Linux-only fields there, restricted relaxes three checks."""
    psc = _drop_none({"runAsNonRoot": draw(TRI)})
    containers = []
    for name in ["app"] + (["side"] if draw(st.booleans()) else []):
        c: dict[str, Any] = {"name": name, "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}
        rnr = draw(TRI)
        if rnr is not None:
            c["securityContext"] = {"runAsNonRoot": rnr}
        containers.append(c)
    spec = _drop_none({"os": {"name": "windows"}, "containers": containers, "securityContext": psc or None})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "h"}, "spec": spec}


def _c(pod: dict[str, Any], i: int = -1) -> dict[str, Any]:
    """The security context of a container (the last one by default), created if absent."""
    return pod["spec"]["containers"][i].setdefault("securityContext", {})


def _privileged(pod: dict[str, Any]) -> None:
    _c(pod)["privileged"] = True
    _c(pod).pop("allowPrivilegeEscalation", None)  # API validation: a privileged container may escalate


def _pod_sc(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"].setdefault("securityContext", {})


def _move_to_containers(key: str, value: Any) -> Any:
    def move(pod: dict[str, Any]) -> None:
        _pod_sc(pod).pop(key, None)
        for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
            c.setdefault("securityContext", {})[key] = value

    return move


# One field each, from the compliant pod: some break a check, some are compliant variations.
MUTATIONS = {
    "privileged": _privileged,
    "ape-true": lambda p: _c(p).update(allowPrivilegeEscalation=True),
    "ape-unset": lambda p: _c(p).pop("allowPrivilegeEscalation", None),
    "add-CHOWN": lambda p: _c(p).setdefault("capabilities", {}).update(add=["CHOWN"]),
    "add-NET_RAW": lambda p: _c(p).setdefault("capabilities", {}).update(add=["NET_RAW"]),
    "add-NET_BIND_SERVICE": lambda p: _c(p).setdefault("capabilities", {}).update(add=["NET_BIND_SERVICE"]),
    "drop-unset": lambda p: _c(p).pop("capabilities", None),
    "pod-runAsNonRoot-false": lambda p: _pod_sc(p).update(runAsNonRoot=False),
    "pod-runAsNonRoot-unset": lambda p: _pod_sc(p).pop("runAsNonRoot", None),
    "containers-runAsNonRoot": _move_to_containers("runAsNonRoot", True),
    "container-runAsNonRoot-false": lambda p: _c(p).update(runAsNonRoot=False),
    "pod-runAsUser-0": lambda p: _pod_sc(p).update(runAsUser=0),
    "container-runAsUser-0": lambda p: _c(p).update(runAsUser=0),
    "container-runAsUser-1000": lambda p: _c(p).update(runAsUser=1000),
    "pod-seccomp-unset": lambda p: _pod_sc(p).pop("seccompProfile", None),
    "containers-seccomp": _move_to_containers("seccompProfile", {"type": "RuntimeDefault"}),
    "container-seccomp-unconfined": lambda p: _c(p).update(seccompProfile={"type": "Unconfined"}),
    "pod-seccomp-localhost": lambda p: _pod_sc(p).update(
        seccompProfile={"type": "Localhost", "localhostProfile": "profiles/audit.json"}
    ),
    "pod-apparmor-unconfined": lambda p: _pod_sc(p).update(appArmorProfile={"type": "Unconfined"}),
    "container-apparmor-localhost": lambda p: _c(p).update(
        appArmorProfile={"type": "Localhost", "localhostProfile": "k8s-nginx"}
    ),
    "annotation-unconfined": lambda p: (
        p["metadata"]
        .setdefault("annotations", {})
        .update({"container.apparmor.security.beta.kubernetes.io/app": "unconfined"})
    ),
    "annotation-runtime-default": lambda p: (
        p["metadata"]
        .setdefault("annotations", {})
        .update({"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"})
    ),
    "selinux-spc_t": lambda p: _c(p).update(seLinuxOptions={"type": "spc_t"}),
    "selinux-level": lambda p: _pod_sc(p).update(seLinuxOptions={"level": "s0:c1,c2"}),
    "selinux-user": lambda p: _pod_sc(p).update(seLinuxOptions={"user": "system_u"}),
    "sysctl-safe": lambda p: _pod_sc(p).update(sysctls=[{"name": "net.ipv4.tcp_fin_timeout", "value": "30"}]),
    "sysctl-unsafe": lambda p: _pod_sc(p).update(sysctls=[{"name": "kernel.msgmax", "value": "65536"}]),
    "volume-hostPath": lambda p: (
        p["spec"].setdefault("volumes", []).append({"name": "host", "hostPath": {"path": "/var/log"}})
    ),
    "volume-nfs": lambda p: (
        p["spec"].setdefault("volumes", []).append({"name": "nfs", "nfs": {"server": "nfs.invalid", "path": "/export"}})
    ),
    "volume-configMap": lambda p: (
        p["spec"].setdefault("volumes", []).append({"name": "cfg", "configMap": {"name": "cfg"}})
    ),
    "hostPort": lambda p: p["spec"]["containers"][-1].update(ports=[{"containerPort": 8080, "hostPort": 8080}]),
    "hostNetwork": lambda p: p["spec"].update(hostNetwork=True),
    "hostPID": lambda p: p["spec"].update(hostPID=True),
    "hostIPC": lambda p: p["spec"].update(hostIPC=True),
    "readOnlyRootFilesystem": lambda p: _c(p).update(readOnlyRootFilesystem=True),
}


@st.composite
def near_compliant_pod(draw: st.DrawFn) -> dict[str, Any]:
    """The compliant pod (with an init container or a second container sometimes) and up to two mutations:
    the pods near the boundary a random pod rarely lands on."""
    pod = compliant_pod(name="h")
    pod["spec"].pop("automountServiceAccountToken")
    hardened = json.loads(json.dumps(pod["spec"]["containers"][0]))
    pod["spec"]["containers"][0]["name"] = "app"
    if draw(st.booleans()):
        pod["spec"]["initContainers"] = [{**hardened, "name": "init"}]
    if draw(st.booleans()):
        pod["spec"]["containers"].insert(0, {**json.loads(json.dumps(hardened)), "name": "side"})
    for name in draw(st.lists(st.sampled_from(sorted(MUTATIONS)), max_size=2, unique=True)):
        MUTATIONS[name](pod)
    return pod


PODS = st.one_of(near_compliant_pod(), near_compliant_pod(), linux_pod(), windows_pod())


def refusal_names(refusal: str, check: str) -> bool:
    reason = ADMISSION_REASONS[check]
    return f": {reason}" in refusal or f", {reason}" in refusal


def test_evaluator_agrees_with_the_api_servers_pod_security_admission(agent: Agent):
    for level in LEVELS:
        agent("namespace", name=NS[level], labels={"pod-security.kubernetes.io/enforce": level})
    seen = {"examples": 0, "refused": {level: 0 for level in LEVELS[1:]}}

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])  # fmt: skip
    @given(pod=PODS)
    def agree(pod: dict[str, Any]) -> None:
        answers = {}
        for level in LEVELS:
            obj = json.loads(json.dumps(pod))
            obj["metadata"]["namespace"] = NS[level]
            answers[level] = agent("dry_run", obj=obj)
        note(f"server: {answers}")
        # The control: a pod the API itself refuses (validation) says nothing about Pod Security.
        assume(answers["privileged"][0])
        seen["examples"] += 1
        for level in LEVELS[1:]:
            admitted, refusal = answers[level]
            found = evaluate(pod, level)
            note(f"{level}: evaluator {[str(v) for v in found]}")
            assert admitted == (not found), (level, refusal, [str(v) for v in found])
            if not admitted:
                seen["refused"][level] += 1
                assert "violates PodSecurity" in refusal, refusal
                missing = sorted({v.check for v in found if not refusal_names(refusal, v.check)})
                assert not missing, (level, missing, refusal)

    try:
        agree()
    finally:
        for level in LEVELS:
            agent("delete_namespace", name=NS[level], timeout=90)
    # The corpus is neither all-admitted nor all-refused at either level.
    print(f"hypothesis corpus: {seen}")
    assert seen["examples"] >= 100
    for level in LEVELS[1:]:
        assert 0.1 * seen["examples"] < seen["refused"][level] < 0.95 * seen["examples"], seen


# ------------------------------------------------------------------------------------- the suite in the lab
def run_suites(lab: Lab, xml: Path, *paths: str, target: str = "lab") -> tuple[dict[str, Any], str]:
    """pytest in the management namespace; JUnit cases by name, and the output."""
    info = load_lab_json(lab.dir)
    proc = subprocess.run(
        ["ip", "netns", "exec", info["management_netns"], sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "-q", *paths, "--zg-target", target, f"--junitxml={xml}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "ZG_LAB_STATE": str(lab.dir)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    return junit_cases(xml), proc.stdout


MINE = ("suites/test_pod_security.py", "features/test_pod_security_feature.py")


def test_enforced_and_observed_pass_on_the_default_lab(lab: Lab, tmp_path: Path):
    cases, out = run_suites(lab, tmp_path / "j.xml", *MINE)
    assert cases and all(c["outcome"] == "passed" for c in cases.values()), out[-3000:]
    enforced = cases["suites.test_pod_security::test_pod_security_enforced"]
    assert enforced["props"]["control"] == ["K8S-PSA-RESTRICTED"]


def _deployment(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": LIVE_NS},
            "spec": {"selector": {"matchLabels": labels}, "template": template}}  # fmt: skip


def _workloads() -> list[dict[str, Any]]:
    """Objects the API admits in a restricted namespace (PodSecurity only warns on workloads)."""
    compliant = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                 "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10", "securityContext": {
                     "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                     "readOnlyRootFilesystem": True}}]}  # fmt: skip
    privileged = {"containers": [{"name": "p", "image": "registry.k8s.io/pause:3.10",
                                  "securityContext": {"privileged": True}}]}  # fmt: skip
    host_path = {**compliant, "volumes": [{"name": "h", "hostPath": {"path": "/etc"}}]}
    return [
        _deployment("privileged", privileged),
        _deployment("host-path", host_path),
        _deployment("compliant", compliant),
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "root", "namespace": LIVE_NS},
         "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": {"spec": {
             **compliant, "restartPolicy": "Never",
             "securityContext": {**compliant["securityContext"], "runAsUser": 0}}}}}}},
        {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "unconfined", "namespace": LIVE_NS},
         "template": {"metadata": {"annotations": {
             "container.apparmor.security.beta.kubernetes.io/c": "unconfined"}}, "spec": compliant}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "compliant", "namespace": LIVE_NS},
         "spec": compliant},
    ]  # fmt: skip


def _observed(site: Any, listed: dict[str, list[dict[str, Any]]]) -> list[tuple[str, bool, str]]:
    objs = [o for kind in WORKLOAD_KINDS for o in listed[kind]]
    return sorted((f.subject, f.ok, f.message) for f in checks.observed(site, listed["Namespace"], objs))


def test_offline_manifests_give_the_same_findings_as_the_live_cluster(lab: Lab, agent: Agent, tmp_path: Path):
    site = load_site(SITE)
    kinds = ["Namespace", *WORKLOAD_KINDS]
    agent(
        "namespace", name=LIVE_NS, labels={f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn")}
    )
    try:
        for obj in _workloads():
            agent("create", obj=obj)
        # The controllers derive ReplicaSets (and pods where admitted): wait until two listings agree.
        deadline = time.monotonic() + 60
        previous = None
        while True:
            listed = agent("list", kinds=kinds)
            now = _observed(site, listed)
            replicasets = [o for o in listed["ReplicaSet"] if o["metadata"]["namespace"] == LIVE_NS]
            if now == previous and len(replicasets) == 3:
                break
            assert time.monotonic() < deadline, f"the cluster did not settle: {now}"
            previous = now
            time.sleep(1)
        failing = {s for s, ok, _ in now if not ok}
        replicasets = {s for s in failing if s.startswith("ReplicaSet ")}
        assert failing - replicasets == {
            f"Deployment {LIVE_NS}/privileged", f"Deployment {LIVE_NS}/host-path", f"CronJob {LIVE_NS}/root",
            f"PodTemplate {LIVE_NS}/unconfined",
        }  # fmt: skip
        assert sorted(s.split("/")[1].rsplit("-", 1)[0] for s in replicasets) == ["host-path", "privileged"]
        # Dumped as `kubectl get KIND -A -o yaml` would (a List per kind), read back by the offline reader.
        record = tmp_path / "recording"
        (record / "cluster").mkdir(parents=True)
        for kind in kinds:
            doc = {"apiVersion": "v1", "kind": "List", "items": listed[kind]}
            (record / "cluster" / f"{kind.lower()}.yaml").write_text(yaml.safe_dump(doc))
        offline = ManifestCluster(record / "cluster")
        assert _observed(site, {k: offline.list(k) for k in kinds}) == now
        # And the suite itself, live (in the lab) and offline, reports the same deviations.
        live_cases, _ = run_suites(
            lab, tmp_path / "live.xml", "suites/test_pod_security.py::test_pod_security_observed"
        )
        off_cases, _ = run_suites(lab, tmp_path / "off.xml", "suites/test_pod_security.py::test_pod_security_observed",
                                  target=f"offline={record}")  # fmt: skip
        (live,) = live_cases.values()
        (off,) = off_cases.values()
        assert live["outcome"] == off["outcome"] == "failed"
        assert sorted(live["props"]["deviation"]) == sorted(off["props"]["deviation"])
        assert len(live["props"]["deviation"]) == len(failing)
    finally:
        agent("delete_namespace", name=LIVE_NS, timeout=90)


def test_privileged_workload_deviation_fails_exactly_the_observed_check(lab: Lab, tmp_path: Path):
    paths = ("suites/test_cluster.py", *MINE)
    before, _ = run_suites(lab, tmp_path / "before.xml", *paths)
    lab.up(deviate=["privileged-workload"])
    after, out = run_suites(lab, tmp_path / "after.xml", *paths)
    failed_before = {n for n, c in before.items() if c["outcome"] != "passed"}
    failed_after = {n for n, c in after.items() if c["outcome"] != "passed"}
    assert failed_after - failed_before == {
        "suites.test_pod_security::test_pod_security_observed",
        "features.test_pod_security_feature::test_every_workload_meets_the_designed_pod_security_level",
    }, out[-3000:]
    assert not failed_before - failed_after
    deviations = after["suites.test_pod_security::test_pod_security_observed"]["props"]["deviation"]
    assert any(d.startswith("[K8S-PSA-RESTRICTED] Deployment default/legacy-agent:") and "[privileged]" in d
               for d in deviations), deviations  # fmt: skip
