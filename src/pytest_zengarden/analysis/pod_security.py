"""The Pod Security Standards, levels ``baseline`` and ``restricted``, as Kubernetes v1.32 evaluates them (pure).

A field-by-field port of ``k8s.io/pod-security-admission/policy`` (release-1.32, version "latest"): the
same check ids, the same fields, the same inheritance (pod-level ``runAsNonRoot`` and ``seccompProfile``
cover containers that leave them unset) and the same relaxations for ``spec.os.name: windows``
(``allowPrivilegeEscalation``, ``capabilities_restricted`` and ``seccompProfile_restricted`` pass).
Restricted runs every baseline check except the three it overrides (``capabilities_baseline`` by
``capabilities_restricted``, ``hostPathVolumes`` by ``restrictedVolumes``, ``seccompProfile_baseline`` by
``seccompProfile_restricted``).  Containers are visited as upstream visits them: init containers,
containers, ephemeral containers.

Input is plain dicts (a Pod, or a workload whose pod template is judged); output is one
:class:`Violation` per offending field.  An object violates a level exactly when upstream's evaluator
returns a forbidden result for it; where upstream folds several offenders into one message, each
offender is listed here with its own field path.  Plain dict walking: no models, no copies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

LEVELS = ("baseline", "restricted")
VERSION = "v1.32"  # what "latest" means here

# check id -> level, in upstream's evaluation order (baseline checks first, each group sorted by id).
BASELINE_CHECKS = (
    "appArmorProfile",
    "capabilities_baseline",
    "hostNamespaces",
    "hostPathVolumes",
    "hostPorts",
    "privileged",
    "procMount",
    "seLinuxOptions",
    "seccompProfile_baseline",
    "sysctls",
    "windowsHostProcess",
)
RESTRICTED_ONLY_CHECKS = (
    "allowPrivilegeEscalation",
    "capabilities_restricted",
    "restrictedVolumes",
    "runAsNonRoot",
    "runAsUser",
    "seccompProfile_restricted",
)
# Baseline checks a restricted check replaces at the restricted level (OverrideCheckIDs upstream).
OVERRIDDEN = {
    "capabilities_baseline": "capabilities_restricted",
    "hostPathVolumes": "restrictedVolumes",
    "seccompProfile_baseline": "seccompProfile_restricted",
}
CHECKS_AT: dict[str, tuple[str, ...]] = {
    "baseline": BASELINE_CHECKS,
    "restricted": tuple(c for c in BASELINE_CHECKS if c not in OVERRIDDEN) + RESTRICTED_ONLY_CHECKS,
}

CAPABILITIES_BASELINE = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
     "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)  # fmt: skip
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SAFE_SYSCTLS = frozenset(
    {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
     "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports",
     "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
     "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
)  # fmt: skip
RESTRICTED_VOLUME_SOURCES = (
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
)  # fmt: skip
# The other sources upstream names (in its order); any other one is reported as "unknown".
KNOWN_VOLUME_SOURCES = (
    "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi", "glusterfs", "rbd",
    "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos",
)  # fmt: skip
SECCOMP_OK = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_OK = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# Kind -> where its pod template is: (path of keys, field-path prefix).  A Pod is its own template.
POD_TEMPLATE_PATHS: dict[str, tuple[tuple[str, ...], str]] = {
    "Pod": ((), ""),
    "Deployment": (("spec", "template"), "spec.template."),
    "StatefulSet": (("spec", "template"), "spec.template."),
    "DaemonSet": (("spec", "template"), "spec.template."),
    "ReplicaSet": (("spec", "template"), "spec.template."),
    "ReplicationController": (("spec", "template"), "spec.template."),
    "Job": (("spec", "template"), "spec.template."),
    "CronJob": (("spec", "jobTemplate", "spec", "template"), "spec.jobTemplate.spec.template."),
    "PodTemplate": (("template",), "template."),
}
WORKLOAD_KINDS = tuple(POD_TEMPLATE_PATHS)


@dataclass(frozen=True, slots=True)
class Violation:
    """One field of one object that a Pod Security level forbids."""

    namespace: str | None
    kind: str
    name: str
    container: str | None  # None: a pod-level field (or an annotation)
    field: str  # e.g. spec.containers[0].securityContext.capabilities.add
    check: str  # upstream's check id, e.g. capabilities_restricted
    message: str

    @property
    def subject(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def __str__(self) -> str:
        who = f" container {self.container!r}" if self.container is not None else ""
        return f"{self.subject}{who}: {self.field}: {self.message} [{self.check}]"


class MalformedObject(ValueError):
    """An object whose pod spec has the wrong shape (a list where a mapping belongs...)."""


# A finding before it knows its object: (container, field, check, message).
Raw = tuple[str | None, str, str, str]


def _is_zero(value: Any) -> bool:
    return value == 0 and value is not False and value is not None


def judge_pod_spec(
    meta: Obj | None, spec: Obj | None, level: str, prefix: str = "", relax_user_namespaces: bool = False
) -> list[Raw]:
    """The violations of one pod (``meta``: its metadata, ``spec``: its spec) at ``level``.

    ``prefix`` is put before every field path (``spec.template.`` for a Deployment).  With
    ``relax_user_namespaces`` (the UserNamespacesPodSecurityStandards feature gate, off by default in
    v1.32) a pod with ``hostUsers: false`` passes procMount, runAsNonRoot and runAsUser.
    """
    if level not in CHECKS_AT:
        raise ValueError(f"unknown Pod Security level {level!r}; expected one of {', '.join(LEVELS)}")
    restricted = level == "restricted"
    out: list[Raw] = []
    if not spec:
        spec = {}
    sp = f"{prefix}spec."
    windows = ((spec.get("os") or {}).get("name")) == "windows"
    userns = relax_user_namespaces and spec.get("hostUsers") is False
    psc = spec.get("securityContext") or {}

    # ---- pod-level fields
    # hostNamespaces
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            out.append((None, sp + key, "hostNamespaces", f"{key}=true: the pod shares the host's namespace"))
    # windowsHostProcess (pod)
    if ((psc.get("windowsOptions") or {}).get("hostProcess")) is True:
        out.append(
            (
                None,
                sp + "securityContext.windowsOptions.hostProcess",
                "windowsHostProcess",
                "pod must not set securityContext.windowsOptions.hostProcess=true",
            )
        )
    # appArmorProfile (pod)
    aa = psc.get("appArmorProfile")
    if aa is not None and (aa or {}).get("type") not in APPARMOR_OK:
        out.append(
            (
                None,
                sp + "securityContext.appArmorProfile.type",
                "appArmorProfile",
                f"pod must not set AppArmor profile type to {(aa or {}).get('type') or ''!r}",
            )
        )
    # appArmorProfile (annotations, every container name)
    annotations = (meta or {}).get("annotations") or {}
    if annotations:
        mp = f"{prefix}metadata.annotations"
        for key, value in annotations.items():
            if (
                key.startswith(APPARMOR_ANNOTATION)
                and value
                and value != "runtime/default"
                and not str(value).startswith("localhost/")
            ):
                out.append(
                    (
                        key[len(APPARMOR_ANNOTATION) :] or None,
                        f"{mp}['{key}']",
                        "appArmorProfile",
                        f"annotation must not set AppArmor profile {value!r}",
                    )
                )
    # seLinuxOptions (pod)
    se = psc.get("seLinuxOptions")
    if se is not None:
        problem = _selinux(se)
        if problem:
            out.append((None, sp + "securityContext.seLinuxOptions", "seLinuxOptions", f"pod {problem}"))
    # seccomp (pod)
    sc_pod = psc.get("seccompProfile")
    if sc_pod is not None and (sc_pod or {}).get("type") not in SECCOMP_OK and not (restricted and windows):
        out.append(
            (
                None,
                sp + "securityContext.seccompProfile.type",
                "seccompProfile_restricted" if restricted else "seccompProfile_baseline",
                f"pod must not set securityContext.seccompProfile.type to {(sc_pod or {}).get('type') or ''!r}",
            )
        )
    # sysctls
    for i, sysctl in enumerate(psc.get("sysctls") or ()):
        name = (sysctl or {}).get("name")
        if name not in SAFE_SYSCTLS:
            out.append((None, f"{sp}securityContext.sysctls[{i}].name", "sysctls", f"forbidden sysctl {name!r}"))
    # volumes
    for i, vol in enumerate(spec.get("volumes") or ()):
        if restricted:
            if any(vol.get(k) is not None for k in RESTRICTED_VOLUME_SOURCES):
                continue
            kind = next((k for k in KNOWN_VOLUME_SOURCES if vol.get(k) is not None), "")
            if not kind:
                if vol.get("image") is None:
                    continue  # no source at all: the API server defaults it to emptyDir
                kind = "unknown"  # upstream's name for a source it does not list (image)
            out.append(
                (
                    None,
                    f"{sp}volumes[{i}]" + (f".{kind}" if kind != "unknown" else ""),
                    "restrictedVolumes",
                    f"volume {vol.get('name')!r} uses restricted volume type {kind!r}",
                )
            )
        elif vol.get("hostPath") is not None:
            out.append(
                (
                    None,
                    f"{sp}volumes[{i}].hostPath",
                    "hostPathVolumes",
                    f"volume {vol.get('name')!r} is a hostPath volume",
                )
            )
    # runAsNonRoot / runAsUser (pod)
    pod_non_root = False
    if restricted and not userns:
        rnr = psc.get("runAsNonRoot")
        if rnr is not None:
            if rnr is True:
                pod_non_root = True
            else:
                out.append(
                    (
                        None,
                        sp + "securityContext.runAsNonRoot",
                        "runAsNonRoot",
                        "pod must not set securityContext.runAsNonRoot=false",
                    )
                )
        if _is_zero(psc.get("runAsUser")):
            out.append((None, sp + "securityContext.runAsUser", "runAsUser", "pod must not set runAsUser=0"))

    # ---- containers (init, regular, ephemeral: upstream's order)
    for list_key in CONTAINER_LISTS:
        containers = spec.get(list_key)
        if not containers:
            continue
        for i, c in enumerate(containers):
            cp = f"{sp}{list_key}[{i}]"
            name = c.get("name")
            sc = c.get("securityContext")
            for port in c.get("ports") or ():
                hp = port.get("hostPort")
                if hp:
                    out.append((name, f"{cp}.ports", "hostPorts", f"container {name!r} uses hostPort {hp}"))
                    break
            if sc is None:
                if restricted:
                    if not windows:
                        out.append(
                            (
                                name,
                                f"{cp}.securityContext.allowPrivilegeEscalation",
                                "allowPrivilegeEscalation",
                                f"container {name!r} must set securityContext.allowPrivilegeEscalation=false",
                            )
                        )
                        out.append(
                            (
                                name,
                                f"{cp}.securityContext.capabilities.drop",
                                "capabilities_restricted",
                                f'container {name!r} must set securityContext.capabilities.drop=["ALL"]',
                            )
                        )
                        if sc_pod is None:
                            out.append(
                                (
                                    name,
                                    f"{cp}.securityContext.seccompProfile.type",
                                    "seccompProfile_restricted",
                                    f"pod or container {name!r} must set securityContext.seccompProfile.type "
                                    'to "RuntimeDefault" or "Localhost"',
                                )
                            )
                    if not pod_non_root and not userns and psc.get("runAsNonRoot") is None:
                        out.append(
                            (
                                name,
                                f"{cp}.securityContext.runAsNonRoot",
                                "runAsNonRoot",
                                f"pod or container {name!r} must set securityContext.runAsNonRoot=true",
                            )
                        )
                continue
            scp = f"{cp}.securityContext."
            if sc.get("privileged") is True:
                out.append(
                    (
                        name,
                        scp + "privileged",
                        "privileged",
                        f"container {name!r} must not set securityContext.privileged=true",
                    )
                )
            if ((sc.get("windowsOptions") or {}).get("hostProcess")) is True:
                out.append(
                    (
                        name,
                        scp + "windowsOptions.hostProcess",
                        "windowsHostProcess",
                        f"container {name!r} must not set securityContext.windowsOptions.hostProcess=true",
                    )
                )
            caps = sc.get("capabilities")
            if restricted:
                if not windows:
                    if caps is None or "ALL" not in (caps.get("drop") or ()):
                        out.append(
                            (
                                name,
                                scp + "capabilities.drop",
                                "capabilities_restricted",
                                f'container {name!r} must set securityContext.capabilities.drop=["ALL"]',
                            )
                        )
                    if caps is not None:
                        bad = [a for a in caps.get("add") or () if a != "NET_BIND_SERVICE"]
                        if bad:
                            out.append(
                                (
                                    name,
                                    scp + "capabilities.add",
                                    "capabilities_restricted",
                                    f"container {name!r} must not include {', '.join(map(repr, bad))} in "
                                    "securityContext.capabilities.add",
                                )
                            )
                    if sc.get("allowPrivilegeEscalation") is not False:
                        out.append(
                            (
                                name,
                                scp + "allowPrivilegeEscalation",
                                "allowPrivilegeEscalation",
                                f"container {name!r} must set securityContext.allowPrivilegeEscalation=false",
                            )
                        )
            elif caps is not None:
                bad = [a for a in caps.get("add") or () if a not in CAPABILITIES_BASELINE]
                if bad:
                    out.append(
                        (
                            name,
                            scp + "capabilities.add",
                            "capabilities_baseline",
                            f"container {name!r} must not include {', '.join(map(repr, bad))} in "
                            "securityContext.capabilities.add",
                        )
                    )
            caa = sc.get("appArmorProfile")
            if caa is not None and (caa or {}).get("type") not in APPARMOR_OK:
                out.append(
                    (
                        name,
                        scp + "appArmorProfile.type",
                        "appArmorProfile",
                        f"container {name!r} must not set AppArmor profile type to {(caa or {}).get('type') or ''!r}",
                    )
                )
            cse = sc.get("seLinuxOptions")
            if cse is not None:
                problem = _selinux(cse)
                if problem:
                    out.append((name, scp + "seLinuxOptions", "seLinuxOptions", f"container {name!r} {problem}"))
            pm = sc.get("procMount")
            if pm is not None and pm != "Default" and not userns:
                out.append(
                    (
                        name,
                        scp + "procMount",
                        "procMount",
                        f"container {name!r} must not set securityContext.procMount to {pm!r}",
                    )
                )
            csc = sc.get("seccompProfile")
            if csc is not None:
                if (csc or {}).get("type") not in SECCOMP_OK and not (restricted and windows):
                    out.append(
                        (
                            name,
                            scp + "seccompProfile.type",
                            "seccompProfile_restricted" if restricted else "seccompProfile_baseline",
                            f"container {name!r} must not set securityContext.seccompProfile.type to "
                            f"{(csc or {}).get('type') or ''!r}",
                        )
                    )
            elif restricted and not windows and sc_pod is None:
                out.append(
                    (
                        name,
                        scp + "seccompProfile.type",
                        "seccompProfile_restricted",
                        f"pod or container {name!r} must set securityContext.seccompProfile.type "
                        'to "RuntimeDefault" or "Localhost"',
                    )
                )
            if restricted and not userns:
                rnr = sc.get("runAsNonRoot")
                if rnr is not None:
                    if rnr is not True:
                        out.append(
                            (
                                name,
                                scp + "runAsNonRoot",
                                "runAsNonRoot",
                                f"container {name!r} must not set securityContext.runAsNonRoot=false",
                            )
                        )
                elif not pod_non_root and psc.get("runAsNonRoot") is None:
                    out.append(
                        (
                            name,
                            scp + "runAsNonRoot",
                            "runAsNonRoot",
                            f"pod or container {name!r} must set securityContext.runAsNonRoot=true",
                        )
                    )
                if _is_zero(sc.get("runAsUser")):
                    out.append((name, scp + "runAsUser", "runAsUser", f"container {name!r} must not set runAsUser=0"))
    return out


def _selinux(opts: Obj) -> str:
    problems = []
    if (opts.get("type") or "") not in SELINUX_TYPES:
        problems.append(f"type {opts.get('type')!r}")
    if opts.get("user"):
        problems.append("user may not be set")
    if opts.get("role"):
        problems.append("role may not be set")
    return "set forbidden securityContext.seLinuxOptions: " + "; ".join(problems) if problems else ""


def pod_template(obj: Obj) -> tuple[Obj | None, Obj | None, str] | None:
    """(metadata, spec, field-path prefix) of the pod ``obj`` is or holds; None for other kinds (or no template)."""
    where = POD_TEMPLATE_PATHS.get(obj.get("kind") or "")
    if where is None:
        return None
    keys, prefix = where
    node: Any = obj
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return None
    if not isinstance(node, dict):
        raise MalformedObject(f"{prefix.rstrip('.') or 'the object'} is not a mapping")
    return node.get("metadata"), node.get("spec"), prefix


def evaluate(obj: Obj, level: str, relax_user_namespaces: bool = False) -> list[Violation]:
    """The violations of ``obj`` (a Pod or a workload with a pod template) at ``level``; [] for other kinds.

    Raises :class:`MalformedObject` when the pod spec has the wrong shape.
    """
    try:
        found = pod_template(obj)
        if found is None:
            return []
        meta, spec, prefix = found
        raw = judge_pod_spec(meta, spec, level, prefix, relax_user_namespaces)
    except (AttributeError, TypeError) as exc:
        raise MalformedObject(f"{_who(obj)}: malformed pod spec ({exc})") from None
    if not raw:
        return []
    m = obj.get("metadata") or {}
    ns, kind, name = m.get("namespace"), str(obj.get("kind")), str(m.get("name"))
    return [Violation(ns, kind, name, c, f, check, msg) for c, f, check, msg in raw]


def evaluate_all(objs: Iterable[Obj], level: str) -> Iterator[tuple[Obj, list[Violation]]]:
    """(object, its violations) for every Pod or pod template in ``objs`` (other kinds are skipped)."""
    for obj in objs:
        if obj.get("kind") in POD_TEMPLATE_PATHS:
            yield obj, evaluate(obj, level)


def _who(obj: Obj) -> str:
    meta = obj.get("metadata")
    m: Obj = meta if isinstance(meta, dict) else {}
    ns = f"{m.get('namespace')}/" if m.get("namespace") else ""
    return f"{obj.get('kind')} {ns}{m.get('name')}"


# ----------------------------------------------------------------------------- probes for admission
def compliant_pod(name: str = "zg-pss-compliant", namespace: str | None = None) -> Obj:
    """A minimal pod every level admits (upstream's restricted ``base.yaml``)."""
    hardened = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    meta: Obj = {"name": name, "labels": {"app.kubernetes.io/managed-by": "zengarden"}}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10", "securityContext": hardened}],
            "automountServiceAccountToken": False,
        },
    }


def _violate(check: str, pod: Obj) -> None:
    spec = pod["spec"]
    psc = spec["securityContext"]
    c = spec["containers"][0]
    sc = c["securityContext"]
    if check == "windowsHostProcess":
        # API validation: a HostProcess pod is a Windows pod on the host network, with no Linux-only fields.
        spec["os"] = {"name": "windows"}
        spec["hostNetwork"] = True
        spec["securityContext"] = {"runAsNonRoot": True, "windowsOptions": {"hostProcess": True}}
        c["securityContext"] = {}
    elif check == "hostNamespaces":
        spec["hostPID"] = True
    elif check == "privileged":
        # API validation refuses privileged with allowPrivilegeEscalation=false.
        sc["privileged"] = True
        del sc["allowPrivilegeEscalation"]
    elif check in ("capabilities_baseline", "capabilities_restricted"):
        sc["capabilities"]["add"] = ["NET_RAW"] if check == "capabilities_baseline" else ["CHOWN"]
    elif check == "hostPathVolumes":
        spec["volumes"] = [{"name": "host", "hostPath": {"path": "/var/run"}}]
    elif check == "restrictedVolumes":
        spec["volumes"] = [{"name": "nfs", "nfs": {"server": "nfs.invalid", "path": "/export"}}]
    elif check == "hostPorts":
        c["ports"] = [{"containerPort": 8080, "hostPort": 8080}]
    elif check == "appArmorProfile":
        sc["appArmorProfile"] = {"type": "Unconfined"}
    elif check == "seLinuxOptions":
        sc["seLinuxOptions"] = {"type": "spc_t"}
    elif check == "procMount":
        spec["hostUsers"] = False  # API validation: an unmasked /proc needs a user namespace
        sc["procMount"] = "Unmasked"
    elif check in ("seccompProfile_baseline", "seccompProfile_restricted"):
        psc["seccompProfile"] = {"type": "Unconfined"}
    elif check == "sysctls":
        psc["sysctls"] = [{"name": "kernel.msgmax", "value": "65536"}]
    elif check == "allowPrivilegeEscalation":
        sc["allowPrivilegeEscalation"] = True
    elif check == "runAsNonRoot":
        psc["runAsNonRoot"] = False
    elif check == "runAsUser":
        psc["runAsUser"] = 0
    else:
        raise ValueError(f"unknown check {check!r}")


def violating_pod(check: str, name: str | None = None, namespace: str | None = None) -> Obj:
    """A pod that differs from :func:`compliant_pod` only in what makes ``check`` fail (plus what API
    validation requires with it: a HostProcess pod is on the host network, a privileged container may
    escalate)."""
    pod = compliant_pod(name or f"zg-pss-{check.lower().replace('_', '-')}", namespace)
    _violate(check, pod)
    return pod


def probes(level: str, namespace: str | None = None) -> dict[str, Obj]:
    """One violating pod per check effective at ``level`` (by check id)."""
    return {check: violating_pod(check, namespace=namespace) for check in CHECKS_AT[level]}


# What the API server's PodSecurity admission names each check by in a refusal (upstream's ForbiddenReason).
ADMISSION_REASONS: dict[str, str] = {
    "allowPrivilegeEscalation": "allowPrivilegeEscalation != false",
    "appArmorProfile": "forbidden AppArmor profile",
    "capabilities_baseline": "non-default capabilities",
    "capabilities_restricted": "unrestricted capabilities",
    "hostNamespaces": "host namespaces",
    "hostPathVolumes": "hostPath volumes",
    "hostPorts": "hostPort",
    "privileged": "privileged",
    "procMount": "procMount",
    "restrictedVolumes": "restricted volume types",
    "runAsNonRoot": "runAsNonRoot != true",
    "runAsUser": "runAsUser=0",
    "seLinuxOptions": "seLinuxOptions",
    "seccompProfile_baseline": "seccompProfile",
    "seccompProfile_restricted": "seccompProfile",
    "sysctls": "forbidden sysctls",
    "windowsHostProcess": "hostProcess",
}
