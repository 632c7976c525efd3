"""Blade files: the k3s configuration, Pod Security admission config and audit policy.

Design: Layer 2 (node roles, Kubernetes configuration), Defense in Depth / Kubernetes and Audit.
"""

import pytest

from pytest_zengarden.checks import cluster as cluster_checks
from pytest_zengarden.checks import hosts as checks

pytestmark = pytest.mark.hosts


@pytest.mark.control_from("cluster")
def test_k3s_config(site, blade, conformance):
    """/etc/rancher/k3s/config.yaml renders the site for this blade's role."""
    conformance.check(checks.k3s_config(site, blade.name, blade.read_file(checks.K3S_CONFIG)))


@pytest.mark.roles("control-plane")
@pytest.mark.control_from("cluster.pod_security")
def test_psa_admission_config(site, blade, conformance):
    """Servers run with the PodSecurity AdmissionConfiguration that sets the designed defaults and exemptions:
    the file their kube-apiserver was started with (its journal), as it was then, not whatever is on disk."""
    path, text = cluster_checks.admission_file_in_effect(blade)
    conformance.check(cluster_checks.psa_admission_in_effect(site, blade.name, path, text))


@pytest.mark.roles("control-plane")
@pytest.mark.control_from("cluster.apiserver")
def test_audit_policy(site, blade, conformance):
    """Servers log API requests at the designed audit level."""
    conformance.check(checks.audit_policy(site, blade.name, blade.read_file(checks.AUDIT_POLICY)))
