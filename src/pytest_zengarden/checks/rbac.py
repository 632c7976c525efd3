"""RBAC least privilege (Defense in Depth: Kubernetes, "RBAC with OIDC"), pure.

* :func:`cluster_admin_bindings`: every ClusterRoleBinding, and every RoleBinding, that grants the
  ClusterRole ``cluster-admin`` names only subjects the site lists in ``cluster.rbac.cluster_admins``.
* :func:`wildcard_bindings`: no Role or ClusterRole with a wildcard (``*``) in its verbs, resources or
  API groups is bound to a service account outside ``cluster.rbac.wildcard_exempt_namespaces`` -- directly,
  or through the groups ``system:serviceaccounts`` (every service account) and
  ``system:serviceaccounts:NS``.  Bindings of ``cluster-admin`` itself are :func:`cluster_admin_bindings`'
  to judge (one deviation, one failing check).
"""

from __future__ import annotations

from typing import Any

from ..facts.cluster import KubeObject
from ..site.schema import RbacSubject, Site
from .findings import Finding, finding

CLUSTER_ADMIN = "cluster-admin"
SA_GROUP = "system:serviceaccounts"


def _meta(obj: KubeObject) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return meta if isinstance(meta, dict) else {}


def _binding_name(obj: KubeObject) -> str:
    meta = _meta(obj)
    kind = str(obj.get("kind") or ("RoleBinding" if meta.get("namespace") else "ClusterRoleBinding"))
    ns = meta.get("namespace")
    return f"{kind} {ns}/{meta.get('name')}" if ns else f"{kind} {meta.get('name')}"


def _subjects(binding: KubeObject) -> list[dict[str, Any]]:
    return [s for s in binding.get("subjects") or [] if isinstance(s, dict)]


def _subject_ns(subject: dict[str, Any], binding: KubeObject) -> str:
    # A RoleBinding may leave a ServiceAccount's namespace out: it is then the binding's own.
    return str(subject.get("namespace") or _meta(binding).get("namespace") or "")


def subject_text(subject: dict[str, Any], binding: KubeObject | None = None) -> str:
    """``ServiceAccount ns/name``, ``User alice@example.com``, ``Group system:masters``."""
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        ns = _subject_ns(subject, binding) if binding is not None else subject.get("namespace")
        return f"ServiceAccount {ns}/{name}"
    return f"{kind} {name}"


def _allowed(subject: dict[str, Any], binding: KubeObject, admins: list[RbacSubject]) -> bool:
    for a in admins:
        if a.kind != subject.get("kind") or a.name != subject.get("name"):
            continue
        if a.kind != "ServiceAccount" or a.namespace == _subject_ns(subject, binding):
            return True
    return False


def _grants_cluster_admin(binding: KubeObject) -> bool:
    ref = binding.get("roleRef") or {}
    return ref.get("kind") == "ClusterRole" and ref.get("name") == CLUSTER_ADMIN


def cluster_admin_bindings(
    site: Site, cluster_role_bindings: list[KubeObject], role_bindings: list[KubeObject]
) -> list[Finding]:
    """One finding per binding of ``cluster-admin``: failing when it names a subject the site does not list."""
    rbac = site.cluster.rbac
    if not cluster_role_bindings:
        # kube-apiserver creates its bootstrap bindings at every start: none read means nothing was read.
        raise ValueError("no ClusterRoleBinding was read (an API server always holds its bootstrap bindings)")
    out = []
    for binding in [*cluster_role_bindings, *role_bindings]:
        if not _grants_cluster_admin(binding):
            continue
        scope = f" in namespace {_meta(binding).get('namespace')}" if _meta(binding).get("namespace") else ""
        subjects = _subjects(binding)
        extra = [subject_text(s, binding) for s in subjects if not _allowed(s, binding, rbac.cluster_admins)]
        names = ", ".join(subject_text(s, binding) for s in subjects) or "no subject"
        if extra:
            message = (
                f"grants cluster-admin{scope} to {', '.join(extra)}, not in cluster.rbac.cluster_admins "
                "(remove the binding or list the subject)"
            )
            out.append(finding(rbac, _binding_name(binding), False, message))
        else:
            out.append(finding(rbac, _binding_name(binding), True, f"grants cluster-admin{scope} to {names} (listed)"))
    if not out:
        out.append(finding(rbac, "cluster-admin", True, "no binding grants cluster-admin"))
    return out


def wildcard_rules(role: KubeObject) -> list[str]:
    """The role's rules with ``*`` in verbs, resources or apiGroups, in words."""
    out = []
    for rule in role.get("rules") or []:
        fields = {k: list(rule.get(k) or []) for k in ("apiGroups", "resources", "verbs")}
        if any("*" in v for v in fields.values()):
            out.append(" ".join(f"{k}={','.join(v) or '-'}" for k, v in fields.items()))
    return out


def _service_accounts(binding: KubeObject, exempt: set[str]) -> tuple[list[str], list[str]]:
    """(outside the exemptions, inside them): the service accounts ``binding`` grants its role to."""
    bad: list[str] = []
    fine: list[str] = []
    for s in _subjects(binding):
        kind, name = s.get("kind"), str(s.get("name") or "")
        if kind == "ServiceAccount":
            ns = _subject_ns(s, binding)
        elif kind == "Group" and name == SA_GROUP:
            bad.append(f"Group {SA_GROUP} (every service account)")
            continue
        elif kind == "Group" and name.startswith(SA_GROUP + ":"):
            ns = name[len(SA_GROUP) + 1 :]
        else:
            continue
        (fine if ns in exempt else bad).append(subject_text(s, binding))
    return bad, fine


def wildcard_bindings(
    site: Site,
    cluster_roles: list[KubeObject],
    roles: list[KubeObject],
    cluster_role_bindings: list[KubeObject],
    role_bindings: list[KubeObject],
) -> list[Finding]:
    """One finding per binding of a wildcard role to service accounts; failing outside the exemptions."""
    rbac = site.cluster.rbac
    if not cluster_roles:
        raise ValueError("no ClusterRole was read (an API server always holds its bootstrap roles)")
    exempt = set(rbac.wildcard_exempt_namespaces)
    by_ref: dict[tuple[str, str, str], KubeObject] = {}
    for r in cluster_roles:
        by_ref[("ClusterRole", "", str(_meta(r).get("name")))] = r
    for r in roles:
        by_ref[("Role", str(_meta(r).get("namespace") or ""), str(_meta(r).get("name")))] = r
    out = []
    for binding in [*cluster_role_bindings, *role_bindings]:
        if _grants_cluster_admin(binding):
            continue  # judged by cluster_admin_bindings
        ref = binding.get("roleRef") or {}
        kind = str(ref.get("kind"))
        ns = str(_meta(binding).get("namespace") or "") if kind == "Role" else ""
        role = by_ref.get((kind, ns, str(ref.get("name"))))
        if role is None:
            continue  # a binding to a role that does not exist grants nothing
        wild = wildcard_rules(role)
        if not wild:
            continue
        bad, fine = _service_accounts(binding, exempt)
        if not bad and not fine:
            continue
        role_name = f"{kind} {ns + '/' if ns else ''}{ref.get('name')}"
        if bad:
            message = (
                f"binds {role_name} ({'; '.join(wild)}) to {', '.join(bad)}: a wildcard role bound to a service "
                "account outside cluster.rbac.wildcard_exempt_namespaces"
            )
            out.append(finding(rbac, _binding_name(binding), False, message))
        else:
            out.append(
                finding(
                    rbac, _binding_name(binding), True, f"binds {role_name} to {', '.join(fine)} (exempt namespace)"
                )
            )
    if not out:
        out.append(finding(rbac, "wildcard roles", True, "no role with a wildcard is bound to a service account"))
    return out
