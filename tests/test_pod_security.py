"""The Pod Security Standards evaluator (Kubernetes v1.32), the checks built on it and `zengarden pss`."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_zengarden.analysis import pod_security as pss
from pytest_zengarden.analysis.pod_security import CHECKS_AT, MalformedObject, compliant_pod, evaluate, violating_pod
from pytest_zengarden.checks import pod_security as checks
from pytest_zengarden.cli import main
from pytest_zengarden.errors import TargetError
from pytest_zengarden.site.loader import load_site

from .helpers import SITE

UPSTREAM = Path(__file__).parent / "recordings" / "pod-security-v1.32"
Pod = dict[str, Any]


def base() -> Pod:
    """Upstream's restricted base pod: one init container, one container, pod-level non-root and seccomp."""
    hardened = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "apps"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [{"name": "init", "image": "i", "securityContext": copy.deepcopy(hardened)}],
            "containers": [{"name": "app", "image": "i", "securityContext": copy.deepcopy(hardened)}],
        },
    }


def checks_of(pod: Pod, level: str) -> set[tuple[str, str]]:
    return {(v.check, v.field) for v in evaluate(pod, level)}


def ids(pod: Pod, level: str) -> set[str]:
    return {v.check for v in evaluate(pod, level)}


# ------------------------------------------------------------------------------------------- upstream corpus
@pytest.mark.parametrize(
    "path", sorted(UPSTREAM.glob("*/*/*.yaml")), ids=lambda p: "/".join(p.parts[-3:]).removesuffix(".yaml")
)
def test_upstream_v1_32_corpus(path: Path):
    level, verdict = path.parts[-3], path.parts[-2]
    pod = yaml.safe_load(path.read_text())
    found = evaluate(pod, level)
    assert bool(found) == (verdict == "fail"), [str(v) for v in found]


def test_upstream_corpus_is_complete():
    assert len(list(UPSTREAM.glob("*/*/*.yaml"))) == 128


# ------------------------------------------------------------------------------------ field by field
def edit(path: str, value: Any) -> Callable[[Pod], None]:
    """Set ``value`` at a dotted path of the pod (``spec.containers.0.securityContext.privileged``)."""

    def apply(pod: Pod) -> None:
        node: Any = pod
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        last = keys[-1]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return apply


DELETE = object()
C0 = "spec.containers.0.securityContext"
I0 = "spec.initContainers.0.securityContext"
PSC = "spec.securityContext"

# (id, edit, checks at baseline, checks at restricted) -- one row per field the v1.32 standard names.
FIELD_CASES: list[tuple[str, Callable[[Pod], None], set[str], set[str]]] = [
    ("base", lambda p: None, set(), set()),
    # windowsHostProcess
    (
        "pod-hostProcess",
        edit(f"{PSC}.windowsOptions", {"hostProcess": True}),
        {"windowsHostProcess"},
        {"windowsHostProcess"},
    ),
    (
        "container-hostProcess",
        edit(f"{C0}.windowsOptions", {"hostProcess": True}),
        {"windowsHostProcess"},
        {"windowsHostProcess"},
    ),
    ("hostProcess-false", edit(f"{C0}.windowsOptions", {"hostProcess": False}), set(), set()),
    # hostNamespaces
    ("hostNetwork", edit("spec.hostNetwork", True), {"hostNamespaces"}, {"hostNamespaces"}),
    ("hostPID", edit("spec.hostPID", True), {"hostNamespaces"}, {"hostNamespaces"}),
    ("hostIPC", edit("spec.hostIPC", True), {"hostNamespaces"}, {"hostNamespaces"}),
    ("hostIPC-false", edit("spec.hostIPC", False), set(), set()),
    # privileged
    ("privileged", edit(f"{C0}.privileged", True), {"privileged"}, {"privileged"}),
    ("init-privileged", edit(f"{I0}.privileged", True), {"privileged"}, {"privileged"}),
    ("privileged-false", edit(f"{C0}.privileged", False), set(), set()),
    # capabilities
    ("add-default-cap", edit(f"{C0}.capabilities.add", ["CHOWN"]), set(), {"capabilities_restricted"}),
    (
        "add-NET_RAW",
        edit(f"{C0}.capabilities.add", ["NET_RAW"]),
        {"capabilities_baseline"},
        {"capabilities_restricted"},
    ),
    (
        "add-SYS_ADMIN",
        edit(f"{C0}.capabilities.add", ["SYS_ADMIN"]),
        {"capabilities_baseline"},
        {"capabilities_restricted"},
    ),
    ("add-NET_BIND_SERVICE", edit(f"{C0}.capabilities.add", ["NET_BIND_SERVICE"]), set(), set()),
    ("drop-not-ALL", edit(f"{C0}.capabilities.drop", ["NET_RAW"]), set(), {"capabilities_restricted"}),
    ("drop-lowercase-all", edit(f"{C0}.capabilities.drop", ["all"]), set(), {"capabilities_restricted"}),
    ("no-capabilities", edit(f"{C0}.capabilities", DELETE), set(), {"capabilities_restricted"}),
    # hostPath and restricted volumes
    (
        "hostPath",
        edit("spec.volumes", [{"name": "h", "hostPath": {"path": "/"}}]),
        {"hostPathVolumes"},
        {"restrictedVolumes"},
    ),
    ("nfs", edit("spec.volumes", [{"name": "n", "nfs": {"server": "s", "path": "/"}}]), set(), {"restrictedVolumes"}),
    ("gitRepo", edit("spec.volumes", [{"name": "g", "gitRepo": {"repository": "r"}}]), set(), {"restrictedVolumes"}),
    ("image-volume", edit("spec.volumes", [{"name": "i", "image": {"reference": "r"}}]), set(), {"restrictedVolumes"}),
    (
        "allowed-volumes",
        edit(
            "spec.volumes",
            [
                {"name": "a", "configMap": {"name": "c"}},
                {"name": "b", "secret": {"secretName": "s"}},
                {"name": "c", "emptyDir": {}},
                {"name": "d", "projected": {"sources": []}},
                {"name": "e", "downwardAPI": {}},
                {"name": "f", "persistentVolumeClaim": {"claimName": "x"}},
                {"name": "g", "csi": {"driver": "d"}},
                {"name": "h", "ephemeral": {}},
                {"name": "no-source-defaults-to-emptyDir"},
            ],
        ),
        set(),
        set(),
    ),
    # hostPorts
    (
        "hostPort",
        edit("spec.containers.0.ports", [{"containerPort": 80, "hostPort": 80}]),
        {"hostPorts"},
        {"hostPorts"},
    ),
    ("hostPort-0", edit("spec.containers.0.ports", [{"containerPort": 80, "hostPort": 0}]), set(), set()),
    # AppArmor: fields and annotations
    (
        "pod-apparmor-unconfined",
        edit(f"{PSC}.appArmorProfile", {"type": "Unconfined"}),
        {"appArmorProfile"},
        {"appArmorProfile"},
    ),
    (
        "container-apparmor-unconfined",
        edit(f"{C0}.appArmorProfile", {"type": "Unconfined"}),
        {"appArmorProfile"},
        {"appArmorProfile"},
    ),
    ("apparmor-localhost", edit(f"{C0}.appArmorProfile", {"type": "Localhost", "localhostProfile": "x"}), set(), set()),
    ("apparmor-runtime-default", edit(f"{PSC}.appArmorProfile", {"type": "RuntimeDefault"}), set(), set()),
    (
        "annotation-unconfined",
        edit("metadata.annotations", {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}),
        {"appArmorProfile"},
        {"appArmorProfile"},
    ),
    (
        "annotation-other-container",
        edit("metadata.annotations", {"container.apparmor.security.beta.kubernetes.io/ghost": "unconfined"}),
        {"appArmorProfile"},
        {"appArmorProfile"},
    ),
    (
        "annotation-ok",
        edit(
            "metadata.annotations",
            {
                "container.apparmor.security.beta.kubernetes.io/app": "runtime/default",
                "container.apparmor.security.beta.kubernetes.io/init": "localhost/prof",
                "container.apparmor.security.beta.kubernetes.io/x": "",
            },
        ),
        set(),
        set(),
    ),
    # SELinux
    ("selinux-container_t", edit(f"{PSC}.seLinuxOptions", {"type": "container_t", "level": "s0:c1"}), set(), set()),
    ("selinux-container_engine_t", edit(f"{C0}.seLinuxOptions", {"type": "container_engine_t"}), set(), set()),
    ("selinux-spc_t", edit(f"{C0}.seLinuxOptions", {"type": "spc_t"}), {"seLinuxOptions"}, {"seLinuxOptions"}),
    ("selinux-user", edit(f"{PSC}.seLinuxOptions", {"user": "system_u"}), {"seLinuxOptions"}, {"seLinuxOptions"}),
    ("selinux-role", edit(f"{I0}.seLinuxOptions", {"role": "system_r"}), {"seLinuxOptions"}, {"seLinuxOptions"}),
    # /proc mount type
    ("procMount-Unmasked", edit(f"{C0}.procMount", "Unmasked"), {"procMount"}, {"procMount"}),
    ("procMount-Default", edit(f"{C0}.procMount", "Default"), set(), set()),
    # seccomp
    (
        "pod-seccomp-unconfined",
        edit(f"{PSC}.seccompProfile", {"type": "Unconfined"}),
        {"seccompProfile_baseline"},
        {"seccompProfile_restricted"},
    ),
    (
        "container-seccomp-unconfined",
        edit(f"{C0}.seccompProfile", {"type": "Unconfined"}),
        {"seccompProfile_baseline"},
        {"seccompProfile_restricted"},
    ),
    (
        "seccomp-localhost",
        edit(f"{C0}.seccompProfile", {"type": "Localhost", "localhostProfile": "p.json"}),
        set(),
        set(),
    ),
    ("seccomp-unset", edit(f"{PSC}.seccompProfile", DELETE), set(), {"seccompProfile_restricted"}),
    # sysctls (the safe set as of v1.32)
    (
        "sysctl-safe-1.32",
        edit(
            f"{PSC}.sysctls",
            [
                {"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"},
                {"name": "kernel.shm_rmid_forced", "value": "1"},
            ],
        ),
        set(),
        set(),
    ),
    ("sysctl-unsafe", edit(f"{PSC}.sysctls", [{"name": "kernel.msgmax", "value": "1"}]), {"sysctls"}, {"sysctls"}),
    # allowPrivilegeEscalation
    ("ape-true", edit(f"{C0}.allowPrivilegeEscalation", True), set(), {"allowPrivilegeEscalation"}),
    ("ape-unset", edit(f"{I0}.allowPrivilegeEscalation", DELETE), set(), {"allowPrivilegeEscalation"}),
    # runAsNonRoot and runAsUser
    ("pod-runAsNonRoot-false", edit(f"{PSC}.runAsNonRoot", False), set(), {"runAsNonRoot"}),
    ("container-runAsNonRoot-false", edit(f"{C0}.runAsNonRoot", False), set(), {"runAsNonRoot"}),
    ("runAsNonRoot-unset", edit(f"{PSC}.runAsNonRoot", DELETE), set(), {"runAsNonRoot"}),
    ("pod-runAsUser-0", edit(f"{PSC}.runAsUser", 0), set(), {"runAsUser"}),
    ("container-runAsUser-0", edit(f"{I0}.runAsUser", 0), set(), {"runAsUser"}),
    ("runAsUser-1000", edit(f"{C0}.runAsUser", 1000), set(), set()),
]


@pytest.mark.parametrize(
    ("edit_", "baseline", "restricted"), [c[1:] for c in FIELD_CASES], ids=[c[0] for c in FIELD_CASES]
)
def test_each_field_at_each_level(edit_, baseline, restricted):
    pod = base()
    edit_(pod)
    assert ids(pod, "baseline") == baseline
    assert ids(pod, "restricted") == restricted


def test_violations_name_namespace_kind_name_container_field_and_check():
    pod = base()
    pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]
    (v,) = evaluate(pod, "restricted")
    assert (v.namespace, v.kind, v.name, v.container) == ("apps", "Pod", "p", "app")
    assert v.field == "spec.containers[0].securityContext.capabilities.add"
    assert v.check == "capabilities_restricted" and "'SYS_ADMIN'" in v.message
    assert str(v).startswith("Pod apps/p container 'app': spec.containers[0]")


# ------------------------------------------------------------------------------ inheritance pod -> container
def test_pod_level_run_as_non_root_covers_containers_that_leave_it_unset():
    pod = base()
    assert not evaluate(pod, "restricted")
    del pod["spec"]["securityContext"]["runAsNonRoot"]
    found = checks_of(pod, "restricted")
    assert found == {
        ("runAsNonRoot", "spec.initContainers[0].securityContext.runAsNonRoot"),
        ("runAsNonRoot", "spec.containers[0].securityContext.runAsNonRoot"),
    }
    # Each container saying it for itself is as good as the pod saying it.
    for key in ("initContainers", "containers"):
        pod["spec"][key][0]["securityContext"]["runAsNonRoot"] = True
    assert not evaluate(pod, "restricted")


def test_container_level_overrides_pod_level_both_ways():
    pod = base()
    pod["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = False
    assert checks_of(pod, "restricted") == {("runAsNonRoot", "spec.containers[0].securityContext.runAsNonRoot")}
    pod = base()
    pod["spec"]["securityContext"]["runAsNonRoot"] = False
    for key in ("initContainers", "containers"):
        pod["spec"][key][0]["securityContext"]["runAsNonRoot"] = True
    # The pod's false is a violation even when every container overrides it (as upstream).
    assert checks_of(pod, "restricted") == {("runAsNonRoot", "spec.securityContext.runAsNonRoot")}


def test_seccomp_pod_level_inherited_and_container_level_overrides():
    pod = base()
    del pod["spec"]["securityContext"]["seccompProfile"]
    pod["spec"]["initContainers"][0]["securityContext"]["seccompProfile"] = {"type": "RuntimeDefault"}
    assert checks_of(pod, "restricted") == {
        ("seccompProfile_restricted", "spec.containers[0].securityContext.seccompProfile.type")
    }
    pod = base()
    pod["spec"]["containers"][0]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    assert checks_of(pod, "baseline") == {
        ("seccompProfile_baseline", "spec.containers[0].securityContext.seccompProfile.type")
    }
    # A profile with no type is no RuntimeDefault (as Go reads an empty type).
    pod = base()
    pod["spec"]["securityContext"]["seccompProfile"] = {}
    assert ids(pod, "baseline") == {"seccompProfile_baseline"}


# ------------------------------------------------------------------------------------ every container kind
@pytest.mark.parametrize("key", ["initContainers", "containers", "ephemeralContainers"])
def test_every_container_kind_is_judged(key):
    pod = base()
    pod["spec"].setdefault(key, []).append(
        {"name": "x", "image": "i", "securityContext": {"privileged": True, "allowPrivilegeEscalation": True}}
    )
    index = len(pod["spec"][key]) - 1
    found = evaluate(pod, "restricted")
    assert {(v.check, v.container) for v in found} >= {("privileged", "x"), ("allowPrivilegeEscalation", "x")}
    assert f"spec.{key}[{index}].securityContext.privileged" in {v.field for v in found}


def test_ephemeral_container_without_security_context_fails_restricted():
    pod = base()
    pod["spec"]["ephemeralContainers"] = [{"name": "debug", "image": "busybox"}]
    assert ids(pod, "baseline") == set()
    assert ids(pod, "restricted") == {"allowPrivilegeEscalation", "capabilities_restricted"}


# -------------------------------------------------------------------------------------------- Windows pods
def windows() -> Pod:
    pod = base()
    pod["spec"]["os"] = {"name": "windows"}
    pod["spec"]["securityContext"] = {"runAsNonRoot": True}
    for key in ("initContainers", "containers"):
        pod["spec"][key][0].pop("securityContext")
    return pod


def test_windows_pod_is_relaxed_for_privilege_escalation_capabilities_and_seccomp_at_restricted():
    pod = windows()
    assert not evaluate(pod, "restricted")
    linux = copy.deepcopy(pod)
    linux["spec"]["os"] = {"name": "linux"}
    assert ids(linux, "restricted") == {
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "seccompProfile_restricted",
    }


def test_windows_relaxation_is_restricted_only_as_upstream():
    pod = windows()
    pod["spec"]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    pod["spec"]["containers"][0]["securityContext"] = {"capabilities": {"add": ["SYS_ADMIN"]}}
    # Restricted overrides the baseline checks with relaxed ones: the pod passes restricted, not baseline.
    assert ids(pod, "restricted") == set()
    assert ids(pod, "baseline") == {"seccompProfile_baseline", "capabilities_baseline"}


def test_windows_pod_still_needs_run_as_non_root_and_no_host_process():
    pod = windows()
    del pod["spec"]["securityContext"]["runAsNonRoot"]
    pod["spec"]["securityContext"]["windowsOptions"] = {"hostProcess": True}
    assert ids(pod, "restricted") == {"runAsNonRoot", "windowsHostProcess"}


def test_user_namespace_relaxation_only_with_its_feature_gate():
    pod = base()
    pod["spec"]["hostUsers"] = False
    pod["spec"]["securityContext"]["runAsNonRoot"] = False
    pod["spec"]["containers"][0]["securityContext"]["procMount"] = "Unmasked"
    assert ids(pod, "restricted") == {"runAsNonRoot", "procMount"}  # the gate is off by default in v1.32
    raw = pss.judge_pod_spec(pod["metadata"], pod["spec"], "restricted", relax_user_namespaces=True)
    assert raw == []


# ---------------------------------------------------------------------------------------- workload kinds
TEMPLATE = {
    "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}},
    "spec": {"containers": [{"name": "app", "image": "i", "securityContext": {"privileged": True}}]},
}


@pytest.mark.parametrize(
    ("kind", "wrap", "prefix"),
    [
        ("Deployment", lambda t: {"spec": {"template": t}}, "spec.template."),
        ("StatefulSet", lambda t: {"spec": {"template": t}}, "spec.template."),
        ("DaemonSet", lambda t: {"spec": {"template": t}}, "spec.template."),
        ("ReplicaSet", lambda t: {"spec": {"template": t}}, "spec.template."),
        ("ReplicationController", lambda t: {"spec": {"template": t}}, "spec.template."),
        ("Job", lambda t: {"spec": {"template": t}}, "spec.template."),
        ("CronJob", lambda t: {"spec": {"jobTemplate": {"spec": {"template": t}}}}, "spec.jobTemplate.spec.template."),
        ("PodTemplate", lambda t: {"template": t}, "template."),
    ],
)
def test_pod_templates_of_every_workload_kind(kind, wrap, prefix):
    obj = {"kind": kind, "metadata": {"name": "w", "namespace": "apps"}, **wrap(copy.deepcopy(TEMPLATE))}
    found = evaluate(obj, "baseline")
    assert {(v.kind, v.check, v.field) for v in found} == {
        (kind, "privileged", f"{prefix}spec.containers[0].securityContext.privileged"),
        (
            kind,
            "appArmorProfile",
            f"{prefix}metadata.annotations['container.apparmor.security.beta.kubernetes.io/app']",
        ),
    }


def test_other_kinds_and_missing_templates_are_not_judged():
    assert evaluate({"kind": "Service", "metadata": {"name": "s"}, "spec": {"hostNetwork": True}}, "baseline") == []
    assert evaluate({"kind": "ReplicationController", "metadata": {"name": "r"}, "spec": {}}, "restricted") == []


def test_malformed_pod_spec_is_an_error_naming_the_object():
    bad = {"kind": "Pod", "metadata": {"name": "p", "namespace": "a"}, "spec": {"containers": ["not-a-map"]}}
    with pytest.raises(MalformedObject, match="Pod a/p: malformed pod spec"):
        evaluate(bad, "baseline")
    with pytest.raises(ValueError, match="unknown Pod Security level 'strict'"):
        evaluate(base(), "strict")


# ------------------------------------------------------------------------------------ admission probes
def test_restricted_runs_every_baseline_check_but_the_three_it_overrides():
    assert set(CHECKS_AT["restricted"]) == (set(CHECKS_AT["baseline"]) - set(pss.OVERRIDDEN)) | set(
        pss.RESTRICTED_ONLY_CHECKS
    )
    assert len(CHECKS_AT["baseline"]) == 11 and len(CHECKS_AT["restricted"]) == 14


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_each_probe_violates_its_check(level):
    assert not evaluate(compliant_pod(), level)
    for check in CHECKS_AT[level]:
        found = ids(violating_pod(check), level)
        assert check in found, check
        # Only what API validation forces along: HostProcess needs hostNetwork, privileged may escalate.
        assert found - {check} <= {"hostNamespaces", "allowPrivilegeEscalation"}, (check, found)


# --------------------------------------------------------------------------------------------- the checks
@pytest.fixture(scope="module")
def site():
    return load_site(SITE)


def ns(name: str) -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": {"name": name}}


def test_observed_one_finding_per_object_exempt_namespaces_skipped(site):
    exempt = site.cluster.pod_security.exemptions.namespaces[0]
    bad = base()
    bad["spec"]["hostPID"] = True
    in_exempt = copy.deepcopy(bad)
    in_exempt["metadata"]["namespace"] = exempt
    deploy = {"kind": "Deployment", "metadata": {"name": "d", "namespace": "apps"},
              "spec": {"template": {"spec": base()["spec"]}}}  # fmt: skip
    findings = checks.observed(site, [ns("apps"), ns(exempt), ns("empty")], [bad, in_exempt, deploy, ns("apps")])
    by = {f.subject: f for f in findings}
    assert set(by) == {"Pod apps/p", "Deployment apps/d", "namespace empty"}
    assert not by["Pod apps/p"].ok and "spec.hostPID" in by["Pod apps/p"].message
    assert "[hostNamespaces]" in by["Pod apps/p"].message
    assert by["Deployment apps/d"].ok and by["namespace empty"].ok
    assert {f.control for f in findings} == {site.cluster.pod_security.control}


def test_observed_only_some_checks(site):
    pod = base()
    pod["spec"]["hostPID"] = True
    assert checks.observed(site, [], [pod], level="restricted", only=frozenset({"runAsNonRoot"}))[0].ok
    assert not checks.observed(site, [], [pod], level="restricted", only=frozenset({"hostNamespaces"}))[0].ok


def test_read_only_root(site):
    pod = base()
    findings = checks.read_only_root(site, [], [pod])
    assert not findings[0].ok and "spec.initContainers[0] ('init')" in findings[0].message
    for key in ("initContainers", "containers"):
        pod["spec"][key][0]["securityContext"]["readOnlyRootFilesystem"] = True
    assert checks.read_only_root(site, [], [pod])[0].ok


def fake_server(level: str | None, admits_compliant: bool = True) -> Callable[[Pod], tuple[bool, str]]:
    """A dry-run that answers as PodSecurity admission at ``level`` would (None: no enforcement)."""

    def dry_run(pod: Pod) -> tuple[bool, str]:
        if level is None:
            return True, ""
        found = evaluate(pod, level)
        if not found:
            return (True, "") if admits_compliant else (False, 'pods "x" is forbidden: quota exceeded')
        reasons = ", ".join(sorted({f"{pss.ADMISSION_REASONS[v.check]} (...)" for v in found}))
        return False, f'pods "{pod["metadata"]["name"]}" is forbidden: violates PodSecurity "{level}:latest": {reasons}'

    return dry_run


def test_enforced_passes_when_every_probe_is_refused_and_the_compliant_pod_admitted(site):
    sent: list[Pod] = []
    server = fake_server("restricted")
    findings = checks.enforced(site, [ns("apps"), ns("kube-system")], lambda p: (sent.append(p), server(p))[1])
    assert [f.subject for f in findings] == ["namespace apps"] and findings[0].ok
    assert {p["metadata"]["namespace"] for p in sent} == {"apps"}
    assert len(sent) == 1 + len(CHECKS_AT["restricted"]) - len(checks.NOT_PROBED)


def test_enforced_fails_naming_what_is_admitted(site):
    (f,) = checks.enforced(site, [ns("apps")], fake_server("baseline"))
    assert not f.ok
    assert "a pod violating runAsNonRoot is admitted" in f.message
    assert "hostNamespaces" not in f.message
    (f,) = checks.enforced(site, [ns("apps")], fake_server(None))
    assert not f.ok and "a pod violating privileged is admitted" in f.message
    (f,) = checks.enforced(site, [ns("apps")], fake_server("restricted", admits_compliant=False))
    assert not f.ok and "a compliant pod is refused: " in f.message


def test_enforced_skips_namespaces_being_deleted(site):
    dying = {"kind": "Namespace", "metadata": {"name": "old"}, "status": {"phase": "Terminating"}}
    asked: list[Pod] = []
    (f,) = checks.enforced(site, [dying], lambda p: (asked.append(p), (True, ""))[1])
    assert f.ok and "being deleted" in f.message and not asked


def test_enforced_does_not_count_refusals_by_something_else(site):
    (f,) = checks.enforced(site, [ns("apps")], lambda p: (False, 'Pod "x" is invalid: spec.containers: Required value'))
    assert not f.ok and "refused, but not by Pod Security" in f.message


# -------------------------------------------------------------------------------- the dry-run client call
class _Resource:
    def __init__(self, outcome: Any):
        self.outcome = outcome
        self.calls: list[dict[str, Any]] = []

    def create(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def _client(outcome: Any, tmp_path: Path) -> tuple[Any, _Resource]:
    from pytest_zengarden.clients.cluster import KubeClusterClient

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t0ken-for-tests"}}],
    }))  # fmt: skip
    client = KubeClusterClient(kubeconfig, timeout=3)
    resource = _Resource(outcome)

    class Resources:
        def get(self, api_version: str, kind: str) -> _Resource:
            return resource

    class Dyn:
        resources = Resources()

    client._dyn = Dyn()
    return client, resource


def _api_error(status: int, message: str) -> Exception:
    from kubernetes.client.exceptions import ApiException

    exc = ApiException(status=status, reason="Forbidden" if status == 403 else "Unprocessable Entity")
    exc.body = json.dumps({"kind": "Status", "message": message})
    return exc


def test_dry_run_create_admitted_refused_and_errors(tmp_path: Path):
    pod = compliant_pod(namespace="apps")
    client, resource = _client({"kind": "Pod"}, tmp_path)
    assert client.dry_run_create(pod) == (True, "")
    assert resource.calls[0]["dry_run"] == "All" and resource.calls[0]["_request_timeout"] == 3
    assert resource.calls[0]["namespace"] == "apps"
    client.close()
    for status in (403, 422):
        client, _ = _client(_api_error(status, 'pods "p" is forbidden: violates PodSecurity'), tmp_path)
        assert client.dry_run_create(pod) == (False, 'pods "p" is forbidden: violates PodSecurity')
        client.close()
    client, _ = _client(_api_error(500, "etcdserver: leader changed"), tmp_path)
    with pytest.raises(TargetError, match=r"dry-run create Pod apps/zg-pss-compliant: HTTP 500") as err:
        client.dry_run_create(pod)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    client.close()
    client, _ = _client(OSError("[Errno 111] Connection refused"), tmp_path)
    with pytest.raises(TargetError, match="connection refused"):
        client.dry_run_create(pod)
    client.close()


# ----------------------------------------------------------------------------------------- zengarden pss
def write(path: Path, *docs: Any) -> Path:
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_pss_cli_exit_0_when_nothing_violates(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    good = base()
    for key in ("initContainers", "containers"):
        good["spec"][key][0]["securityContext"]["readOnlyRootFilesystem"] = True
    write(tmp_path / "a.yaml", good, {"kind": "Service", "metadata": {"name": "s"}})
    assert main(["pss", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "1 pod(s) and pod template(s) judged at restricted: 0 violate" in captured.err


def test_pss_cli_exit_1_one_line_per_violation_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = base()
    bad["spec"]["hostPID"] = True
    bad["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "apps"},
                  "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}  # fmt: skip
    listed = {"apiVersion": "v1", "kind": "List", "items": [deployment]}
    path = write(tmp_path / "multi.yaml", base(), bad, listed)
    assert main(["pss", str(path), "--level", "baseline"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(f"{path}:")
    assert "Pod apps/p: spec.hostPID: hostPID=true" in out[0] and "[hostNamespaces]" in out[0]
    line = int(out[0].split(":")[1])
    assert path.read_text().splitlines()[line - 1].startswith(("apiVersion", "kind"))  # where the document starts
    assert main(["pss", str(path)]) == 1  # restricted by default
    lines = capsys.readouterr().out.splitlines()
    assert any("Deployment apps/d container 'c': spec.template.spec.containers[0]" in x for x in lines)
    assert any("[allowPrivilegeEscalation]" in x and "Pod apps/p" in x for x in lines)


def test_pss_cli_exit_2_on_unreadable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Pod\nmetadata:\n  name: [unclosed\n")
    assert main(["pss", str(broken)]) == 2
    assert f"{broken}:" in capsys.readouterr().err
    assert main(["pss", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    notk8s = tmp_path / "values.yaml"
    notk8s.write_text("replicas: 1\n---\nkind: Pod\n")
    assert main(["pss", str(notk8s)]) == 2
    assert f"{notk8s}:1: not a Kubernetes object" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("kind: Pod\n")
    assert main(["pss", str(empty)]) == 2  # a directory without YAML judged nothing: no pass
    assert "no Kubernetes object in" in capsys.readouterr().err
    malformed = write(tmp_path / "m.yaml", {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [1]}})
    assert main(["pss", str(malformed)]) == 2
    assert "Pod p: malformed pod spec" in capsys.readouterr().err
