"""Blade files: the k3s configuration, Pod Security admission config and audit policy.

Design: Layer 2 (node roles, Kubernetes configuration), Defense in Depth / Kubernetes and Audit.
"""

import pytest

from pytest_zengarden.checks import hosts as checks

pytestmark = pytest.mark.hosts


@pytest.mark.control_from("cluster")
def test_k3s_config(site, blade, conformance):
    """/etc/rancher/k3s/config.yaml renders the site for this blade's role."""
    conformance.check(checks.k3s_config(site, blade.name, blade.read_file(checks.K3S_CONFIG)))


@pytest.mark.roles("control-plane")
@pytest.mark.control_from("cluster.pod_security")
def test_psa_admission_config(site, blade, conformance):
    """Servers load the PodSecurity AdmissionConfiguration with the designed defaults and exemptions."""
    conformance.check(checks.psa_admission(site, blade.name, blade.read_file(checks.PSA_CONFIG)))


@pytest.mark.roles("control-plane")
@pytest.mark.control_from("cluster.apiserver")
def test_audit_policy(site, blade, conformance):
    """Servers log API requests at the designed audit level."""
    conformance.check(checks.audit_policy(site, blade.name, blade.read_file(checks.AUDIT_POLICY)))
