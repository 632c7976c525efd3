"""Cluster objects: Pod Security, ingress classes, MetalLB pool and ingress VIPs.

Design: Layer 2 (Kubernetes configuration), Layer 3 (ingress layer), Defense in Depth / Kubernetes.
"""

import pytest

from pytest_zengarden.checks import cluster as checks

pytestmark = pytest.mark.cluster


@pytest.mark.control_from("cluster.pod_security")
def test_namespaces_pod_security(site, cluster, conformance):
    """No namespace outside the exemptions weakens Pod Security below the design's level."""
    conformance.check(checks.pod_security(site, cluster.list("Namespace")))


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
