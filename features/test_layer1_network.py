"""Layer 1 - network segmentation and firewall strategy (features/layer1_network.feature)."""

from pytest_bdd import scenarios

scenarios("layer1_network.feature")
