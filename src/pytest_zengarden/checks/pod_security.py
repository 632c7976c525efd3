"""Pod Security in effect on what runs, two ways (pure): *observed* and *enforced*.

*observed*: every Pod and pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob, PodTemplate) in a namespace the site does not exempt, judged by the
Pod Security Standards evaluator (:mod:`pytest_zengarden.analysis.pod_security`) at the site's enforce
level.  The API server enforces Pod Security on Pods only: a Deployment whose template is privileged is
admitted (with a warning) and its pods are then refused one by one, so templates are judged here too.

*enforced*: the API server itself, asked with server-side dry-run creates: in every namespace the site
does not exempt, one pod violating each check of the enforce level must be refused by PodSecurity
admission, and a compliant pod admitted.  Nothing is persisted.

Design: Security / Defense in Depth: Kubernetes (Pod Security Admission, Restricted) and Layer 4
Application (non-root containers, capability dropping, seccomp profiles).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ..analysis.pod_security import (
    ADMISSION_REASONS,
    CHECKS_AT,
    CONTAINER_LISTS,
    POD_TEMPLATE_PATHS,
    Violation,
    compliant_pod,
    evaluate,
    pod_template,
    violating_pod,
)
from ..facts.cluster import KubeObject
from ..site.schema import Site
from .findings import Finding, finding

DryRun = Callable[[KubeObject], tuple[bool, str]]

# Not probed by *enforced*: with the ProcMountType feature gate off (Kubernetes v1.32's default) the API
# server drops securityContext.procMount before admission, so a probe is admitted whatever PodSecurity
# does (no pod can then unmask /proc: the field never reaches the kubelet).  *observed* still judges it.
NOT_PROBED = frozenset({"procMount"})
PSA_REFUSAL = "violates PodSecurity"


def _namespace_of(obj: KubeObject) -> str | None:
    ns = (obj.get("metadata") or {}).get("namespace")
    return str(ns) if ns else None


def non_exempt_namespaces(site: Site, namespaces: Iterable[KubeObject]) -> list[str]:
    """Names of the namespaces the site does not exempt from Pod Security, sorted."""
    exempt = set(site.cluster.pod_security.exemptions.namespaces)
    names = {str((n.get("metadata") or {}).get("name")) for n in namespaces}
    return sorted(names - exempt)


def describe(violations: list[Violation]) -> str:
    """Violations of one object as one message: ``field: message [check]; ...``."""
    return "; ".join(f"{v.field}: {v.message} [{v.check}]" for v in violations)


def _judged(site: Site, objects: Iterable[KubeObject]) -> Iterator[tuple[KubeObject, str, str | None]]:
    """(object, subject, namespace) of every Pod or pod template outside the site's exemptions."""
    exempt = set(site.cluster.pod_security.exemptions.namespaces)
    for obj in objects:
        if obj.get("kind") not in POD_TEMPLATE_PATHS:
            continue
        ns = _namespace_of(obj)
        if ns in exempt:
            continue
        meta = obj.get("metadata") or {}
        yield obj, f"{obj['kind']} {ns + '/' if ns else ''}{meta.get('name')}", ns


def observed(
    site: Site,
    namespaces: list[KubeObject],
    objects: Iterable[KubeObject],
    level: str | None = None,
    only: frozenset[str] | None = None,
) -> list[Finding]:
    """One finding per Pod or pod template outside the site's exemptions, judged at ``level`` (default:
    the site's enforce level); one passing finding for each non-exempt namespace holding none.

    ``only``: judge just these check ids (a Layer 4 statement: non-root, capabilities, seccomp).
    ``objects`` may hold any kinds (others are ignored).  A malformed pod spec raises ``ValueError``.
    """
    psa = site.cluster.pod_security
    level = level or str(psa.enforce)
    what = f"Pod Security {level!r}" + (f" ({', '.join(sorted(only))})" if only else "")
    judged: set[str] = set()
    out: list[Finding] = []
    for obj, subject, ns in _judged(site, objects):
        judged.add(ns or "")
        if level == "privileged":
            out.append(finding(psa, subject, True, "level privileged: nothing is forbidden"))
            continue
        violations = evaluate(obj, level)
        if only is not None:
            violations = [v for v in violations if v.check in only]
        if violations:
            out.append(finding(psa, subject, False, f"violates {what}: {describe(violations)}"))
        else:
            out.append(finding(psa, subject, True, f"meets {what}"))
    return out + _empty_namespaces(site, namespaces, judged)


def _empty_namespaces(site: Site, namespaces: list[KubeObject], judged: set[str]) -> list[Finding]:
    psa = site.cluster.pod_security
    return [
        finding(psa, f"namespace {ns}", True, "no Pod or pod template to judge")
        for ns in non_exempt_namespaces(site, namespaces)
        if ns not in judged
    ]


def read_only_root(site: Site, namespaces: list[KubeObject], objects: Iterable[KubeObject]) -> list[Finding]:
    """Defense in Depth, Layer 4: every container of every Pod and pod template outside the exemptions
    sets ``securityContext.readOnlyRootFilesystem: true`` (not part of the Pod Security Standards).
    Windows pods are not judged: the API forbids the field there."""
    psa = site.cluster.pod_security
    judged: set[str] = set()
    out: list[Finding] = []
    for obj, subject, ns in _judged(site, objects):
        judged.add(ns or "")
        found = pod_template(obj)
        if found is None:
            continue
        _, spec, prefix = found
        spec = spec or {}
        if (spec.get("os") or {}).get("name") == "windows":
            out.append(finding(psa, subject, True, "a Windows pod: no read-only root filesystem to set"))
            continue
        writable = [
            f"{prefix}spec.{key}[{i}] ({c.get('name')!r})"
            for key in CONTAINER_LISTS
            for i, c in enumerate(spec.get(key) or ())
            if ((c.get("securityContext") or {}).get("readOnlyRootFilesystem")) is not True
        ]
        if writable:
            msg = (
                "writable root filesystem: "
                + ", ".join(writable)
                + " must set securityContext.readOnlyRootFilesystem=true"
            )
            out.append(finding(psa, subject, False, msg))
        else:
            out.append(finding(psa, subject, True, "every container's root filesystem is read-only"))
    return out + _empty_namespaces(site, namespaces, judged)


def enforcement_probes(level: str, namespace: str) -> dict[str, KubeObject]:
    """The dry-run pods for one namespace: one violating each check of ``level`` (by check id, those
    in :data:`NOT_PROBED` left out) and a compliant one (key ``""``)."""
    out = {"": compliant_pod(namespace=namespace)}
    if level in CHECKS_AT:
        for check in CHECKS_AT[level]:
            if check not in NOT_PROBED:
                out[check] = violating_pod(check, namespace=namespace)
    return out


def _names(refusal: str, reason: str) -> bool:
    """Whether a PodSecurity refusal (``violates PodSecurity "L:V": reason (detail), reason (detail)``) names
    ``reason``."""
    return f": {reason}" in refusal or f", {reason}" in refusal


def enforced(site: Site, namespaces: list[KubeObject], dry_run: DryRun) -> list[Finding]:
    """One finding per non-exempt namespace: each violating probe refused by PodSecurity admission (the
    refusal names the check's reason), the compliant probe admitted.

    ``dry_run(pod)`` is a server-side dry-run create: ``(admitted, reason)``; a transport error raises
    (the check errors).
    """
    psa = site.cluster.pod_security
    level = str(psa.enforce)
    out = []
    terminating = {
        str((n.get("metadata") or {}).get("name"))
        for n in namespaces
        if (n.get("status") or {}).get("phase") == "Terminating"
    }
    for ns in non_exempt_namespaces(site, namespaces):
        if ns in terminating:
            out.append(finding(psa, f"namespace {ns}", True, "being deleted: the API creates nothing in it"))
            continue
        problems = []
        refused = 0
        for check, pod in enforcement_probes(level, ns).items():
            admitted, reason = dry_run(pod)
            if not check:
                if not admitted:
                    problems.append(f"a compliant pod is refused: {reason}")
                continue
            if admitted:
                problems.append(f"a pod violating {check} is admitted")
            elif PSA_REFUSAL not in reason:
                problems.append(f"a pod violating {check} is refused, but not by Pod Security: {reason}")
            elif not _names(reason, ADMISSION_REASONS[check]):
                problems.append(f"a pod violating {check} is refused for another reason: {reason}")
            else:
                refused += 1
        if problems:
            out.append(finding(psa, f"namespace {ns}", False, f"at {level!r}: " + "; ".join(problems)))
        else:
            out.append(
                finding(
                    psa,
                    f"namespace {ns}",
                    True,
                    f"enforces {level!r}: {refused} violating pods refused by PodSecurity, a compliant pod admitted",
                )
            )
    return out
