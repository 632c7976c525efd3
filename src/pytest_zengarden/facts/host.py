"""What the host checks need from a blade, whatever it is read from (interface only)."""

from __future__ import annotations

from typing import Protocol

# Where a k3s blade keeps the files the checks read (and provisioning writes).
K3S_CONFIG = "/etc/rancher/k3s/config.yaml"
PSA_CONFIG = "/var/lib/rancher/k3s/server/psa.yaml"
AUDIT_POLICY = "/var/lib/rancher/k3s/server/audit.yaml"


class HostView(Protocol):
    """A blade's files, as the checks read them."""

    name: str
    endpoint: str

    def read_file(self, path: str) -> str | None:
        """The file's text, or ``None`` if it does not exist."""
        ...

    def hostname(self) -> str: ...
