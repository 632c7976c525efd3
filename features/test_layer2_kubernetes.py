"""Layer 2 - Kubernetes configuration (features/layer2_kubernetes.feature)."""

from pytest_bdd import scenarios

scenarios("layer2_kubernetes.feature")
