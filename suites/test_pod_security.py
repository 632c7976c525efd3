"""Pod Security on what runs: every Pod and pod template judged by the Pod Security Standards evaluator
(*observed*), and the API server's own admission asked with dry-run pods (*enforced*).

Design: Security / Defense in Depth: Kubernetes (Pod Security Admission, Restricted) and Layer 4
Application (non-root containers, capability dropping, seccomp profiles).
"""

import pytest

from pytest_zengarden.analysis.pod_security import WORKLOAD_KINDS
from pytest_zengarden.checks import pod_security as checks
from pytest_zengarden.errors import TargetError

pytestmark = [pytest.mark.cluster, pytest.mark.control_from("cluster.pod_security")]


def workloads(cluster):
    """Every Pod and every object holding a pod template, all namespaces (one list per kind)."""
    return [obj for kind in WORKLOAD_KINDS for obj in cluster.list(kind)]


def test_pod_security_observed(site, cluster, conformance):
    """Every Pod and pod template outside the exempt namespaces meets the site's enforce level, field by
    field (one finding per object; a Deployment whose template is privileged is admitted by the API with a
    warning only, so templates are judged as well as pods)."""
    conformance.check(checks.observed(site, cluster.list("Namespace"), workloads(cluster)))


@pytest.mark.probe  # active: asks the API server (a recording cannot admit pods, so offline deselects it)
def test_pod_security_enforced(site, cluster, conformance):
    """In every namespace outside the exemptions the API server refuses a pod violating each check of the
    enforce level (server-side dry-run: nothing is persisted) and admits a compliant pod."""
    dry_run = getattr(cluster, "dry_run_create", None)
    if dry_run is None:
        raise TargetError(cluster.endpoint, "admission cannot be asked of a recording: run against a live API server")
    conformance.check(checks.enforced(site, cluster.list("Namespace"), dry_run))
