"""Cluster objects: Pod Security, ingress classes, MetalLB pool and ingress VIPs.

Design: Layer 2 (Kubernetes configuration), Layer 3 (ingress layer), Defense in Depth / Kubernetes.
"""

import pytest

from pytest_zengarden.checks import cluster as checks
from pytest_zengarden.errors import ZengardenError

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def psa_defaults(site, blade_by_name):
    """The Pod Security defaults every server's API server applies, read from the blades.

    An unreadable blade or file is an error of the check (never a pass on an assumed default).
    """
    try:
        return checks.server_psa_defaults(site, blade_by_name)
    except (ZengardenError, ValueError) as exc:
        problem = str(exc)
    # Failing in a fixture makes the check error (not fail); outside the except, so no chained traceback.
    pytest.fail(f"Pod Security defaults of the servers: {problem}", pytrace=False)


@pytest.mark.control_from("cluster.pod_security")
def test_namespaces_pod_security(site, cluster, psa_defaults, conformance):
    """No namespace outside the exemptions weakens Pod Security below the design's level (an unlabelled
    namespace is judged by the default the servers' admission configuration really sets)."""
    conformance.check(checks.pod_security(site, cluster.list("Namespace"), psa_defaults))


@pytest.mark.ingress
def test_ingress_class(site, cluster, ingress_class_name, conformance):
    """Each designed IngressClass exists with its controller."""
    conformance.check(checks.ingress_class(site, ingress_class_name, cluster.list("IngressClass")))


@pytest.mark.ingress
def test_ingress_vip(site, cluster, ingress_class_name, conformance):
    """Each ingress controller Service is a LoadBalancer on its class VIP."""
    conformance.check(checks.ingress_vip(site, ingress_class_name, cluster.list("Service")))


@pytest.mark.control_from("cluster.metallb")
def test_metallb_pool(site, cluster, conformance):
    """MetalLB's pool is the designed range, announced over L2."""
    conformance.check(checks.metallb_pool(site, cluster.list("IPAddressPool"), cluster.list("L2Advertisement")))
