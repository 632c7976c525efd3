"""The sections of the architecture design document, as the site file and checks cite them.

Every control in the site file names one of these, so a report row traces back to the sentence of the
design it verifies.  The names follow the document's own headings
(``shared/design/architecture-design.txt``); a typo in a site file is caught at load time.
"""

from __future__ import annotations

import difflib

DESIGN_SECTIONS: tuple[str, ...] = (
    "Layer 1 / Components",
    "Layer 1 / Network Topology",
    "Layer 1 / Network Segmentation",
    "Layer 1 / Firewall Strategy",
    "Layer 2 / K3s Cluster Topology",
    "Layer 2 / Node Roles",
    "Layer 2 / Kubernetes Configuration",
    "Layer 3 / Ingress Layer",
    "Layer 3 / Core Platform",
    "Layer 3 / Secrets Management",
    "Layer 3 / DNS Management",
    "Layer 4 / GitOps Flow",
    "Layer 4 / Manifest Organization",
    "Layer 4 / ApplicationSet Pattern",
    "Layer 4 / Custom Operators",
    "Layer 5 / Monitoring Architecture",
    "Layer 5 / Alerting Pipeline",
    "Interactions / Secret Flow",
    "Interactions / Certificate Provisioning Flow",
    "Interactions / DNS Synchronization Flow",
    "Scalability / Horizontal Scalability",
    "Scalability / High Availability",
    "Security / Trust Boundary 1: MikroTik Firewall",
    "Security / Trust Boundary 2: Ingress Controller",
    "Security / Trust Boundary 3: Network Policies",
    "Security / Defense in Depth: Network",
    "Security / Defense in Depth: Ingress",
    "Security / Defense in Depth: Kubernetes",
    "Security / Defense in Depth: Application",
    "Security / Defense in Depth: Audit",
    "Disaster Recovery / Backup Strategy",
    "Disaster Recovery / Scenario 1: Single node failure",
    "Disaster Recovery / Scenario 2: Cluster failure",
    "Disaster Recovery / Scenario 3: Data corruption",
)

_KNOWN = frozenset(DESIGN_SECTIONS)


def check_section(name: str) -> str:
    """Return ``name`` if it is a design section, else raise ``ValueError`` suggesting the closest ones."""
    if name in _KNOWN:
        return name
    close = difflib.get_close_matches(name, DESIGN_SECTIONS, n=2, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown design section {name!r}{hint}")
