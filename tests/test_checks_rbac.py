"""RBAC least privilege (checks/rbac.py) on the RBAC a real kube-apiserver v1.32 bootstraps, and variants."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.checks import rbac
from pytest_zengarden.facts.cluster import KubeObject
from pytest_zengarden.lab.deviations import CATALOGUE
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import Site

from .helpers import SITE, site_data, write_site

RECORDED = json.loads((Path(__file__).parent / "recordings" / "kubernetes" / "rbac-bootstrap-v1.32.json").read_text())
KINDS = ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE)


@pytest.fixture
def objs() -> dict[str, list[KubeObject]]:
    return {k: copy.deepcopy(RECORDED[k]) for k in KINDS}


def admins(site: Site, o: dict[str, list[KubeObject]]) -> list[Any]:
    return rbac.cluster_admin_bindings(site, o["ClusterRoleBinding"], o["RoleBinding"])


def wildcards(site: Site, o: dict[str, list[KubeObject]]) -> list[Any]:
    return rbac.wildcard_bindings(site, *(o[k] for k in KINDS))


def binding(kind: str, name: str, role: tuple[str, str], *subjects: dict[str, str], ns: str = "") -> KubeObject:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role[0], "name": role[1]},
        "subjects": list(subjects),
    }


def sa(ns: str | None, name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, **({"namespace": ns} if ns else {})}


WILD_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "everything-reader"},
    "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]}],
}


def test_a_fresh_api_server_grants_cluster_admin_only_to_system_masters(site, objs):
    (found,) = admins(site, objs)
    assert found.ok and found.subject == "ClusterRoleBinding cluster-admin"
    assert found.message == "grants cluster-admin to Group system:masters (listed)"
    assert found.control == "K8S-RBAC"


def test_a_fresh_api_server_binds_wildcard_roles_only_to_kube_system_controllers(site, objs):
    found = {f.subject: f for f in wildcards(site, objs)}
    assert all(f.ok for f in found.values())
    # The controllers' own roles have wildcards (the garbage collector reads and deletes every kind).
    gc = found["ClusterRoleBinding system:controller:generic-garbage-collector"]
    assert gc.message == (
        "binds ClusterRole system:controller:generic-garbage-collector to "
        "ServiceAccount kube-system/generic-garbage-collector (exempt namespace)"
    )
    # system:kube-controller-manager has wildcards too, but is bound to a user, not a service account.
    assert "ClusterRoleBinding system:kube-controller-manager" not in found


def test_the_lab_deviation_fails_the_cluster_admin_check_and_only_it(site, objs):
    extra: list[dict[str, Any]] = []
    assert CATALOGUE["cluster-admin-binding"].cluster is not None
    CATALOGUE["cluster-admin-binding"].cluster(extra)
    objs["ClusterRoleBinding"] += extra
    bad = [f for f in admins(site, objs) if not f.ok]
    assert [str(f) for f in bad] == [
        "[K8S-RBAC] ClusterRoleBinding ci-deployer-cluster-admin: grants cluster-admin to ServiceAccount "
        "default/ci-deployer, not in cluster.rbac.cluster_admins (remove the binding or list the subject)"
    ]
    assert all(f.ok for f in wildcards(site, objs))  # cluster-admin's bindings are judged once, above


def test_a_role_binding_of_cluster_admin_is_named_with_its_namespace(site, objs):
    objs["RoleBinding"].append(
        binding("RoleBinding", "ops", ("ClusterRole", "cluster-admin"), sa(None, "ops"), ns="apps")
    )
    (bad,) = [f for f in admins(site, objs) if not f.ok]
    assert bad.subject == "RoleBinding apps/ops"
    assert bad.message.startswith("grants cluster-admin in namespace apps to ServiceAccount apps/ops,")


def test_listed_admins_pass_and_a_namesake_elsewhere_does_not(tmp_path, objs):
    data = site_data()
    data["cluster"]["rbac"]["cluster_admins"] += [
        {"kind": "User", "name": "alice@zengarden.space"},
        {"kind": "ServiceAccount", "name": "argocd-application-controller", "namespace": "argocd"},
    ]
    site = load_site(write_site(tmp_path / "s.yaml", data))
    objs["ClusterRoleBinding"] += [
        binding("ClusterRoleBinding", "google-admin-alice", ("ClusterRole", "cluster-admin"),
                {"kind": "User", "name": "alice@zengarden.space", "apiGroup": "rbac.authorization.k8s.io"}),
        binding("ClusterRoleBinding", "argocd", ("ClusterRole", "cluster-admin"),
                sa("argocd", "argocd-application-controller"), sa("default", "argocd-application-controller")),
    ]  # fmt: skip
    found = {f.subject: f for f in admins(site, objs)}
    assert found["ClusterRoleBinding google-admin-alice"].ok
    assert not found["ClusterRoleBinding argocd"].ok
    assert (
        "to ServiceAccount default/argocd-application-controller, not in" in found["ClusterRoleBinding argocd"].message
    )


def test_a_site_list_without_system_masters_fails_kubernetes_own_binding(tmp_path, objs):
    data = site_data()
    data["cluster"]["rbac"]["cluster_admins"] = [{"kind": "User", "name": "alice@zengarden.space"}]
    site = load_site(write_site(tmp_path / "s.yaml", data))
    (bad,) = admins(site, objs)
    assert not bad.ok and "Group system:masters, not in cluster.rbac.cluster_admins" in bad.message


@pytest.mark.parametrize(
    ("subject", "ok", "shown"),
    [
        (sa("apps", "builder"), False, "ServiceAccount apps/builder"),
        (sa("kube-system", "builder"), True, "ServiceAccount kube-system/builder"),
        ({"kind": "Group", "name": "system:serviceaccounts"}, False, "Group system:serviceaccounts (every service"),
        ({"kind": "Group", "name": "system:serviceaccounts:apps"}, False, "Group system:serviceaccounts:apps"),
        ({"kind": "Group", "name": "system:serviceaccounts:argocd"}, True, "Group system:serviceaccounts:argocd"),
    ],
)
def test_wildcard_roles_bound_to_service_accounts(site, objs, subject, ok, shown):
    objs["ClusterRole"].append(WILD_ROLE)
    objs["ClusterRoleBinding"].append(
        binding("ClusterRoleBinding", "reader", ("ClusterRole", "everything-reader"), subject)
    )
    found = {f.subject: f for f in wildcards(site, objs)}["ClusterRoleBinding reader"]
    assert found.ok is ok
    assert shown in found.message
    if not ok:
        assert "(apiGroups=* resources=* verbs=get,list)" in found.message


def test_a_role_binding_takes_its_own_namespace_for_a_service_account_without_one(site, objs):
    role = {**WILD_ROLE, "kind": "Role", "metadata": {"name": "all", "namespace": "apps"}}
    objs["Role"].append(role)
    objs["RoleBinding"].append(binding("RoleBinding", "all", ("Role", "all"), sa(None, "worker"), ns="apps"))
    (bad,) = [f for f in wildcards(site, objs) if not f.ok]
    assert bad.subject == "RoleBinding apps/all"
    assert "binds Role apps/all (apiGroups=* resources=* verbs=get,list) to ServiceAccount apps/worker" in bad.message


def test_bindings_to_missing_or_narrow_roles_grant_no_wildcard(site, objs):
    objs["ClusterRoleBinding"] += [
        binding("ClusterRoleBinding", "ghost", ("ClusterRole", "does-not-exist"), sa("apps", "x")),
        binding("ClusterRoleBinding", "viewer", ("ClusterRole", "view"), sa("apps", "x")),
    ]
    assert all(f.ok for f in wildcards(site, objs))


def test_nothing_read_cannot_be_judged(site):
    with pytest.raises(ValueError, match="no ClusterRoleBinding was read"):
        rbac.cluster_admin_bindings(site, [], [])
    with pytest.raises(ValueError, match="no ClusterRole was read"):
        rbac.wildcard_bindings(site, [], [], [], [])
