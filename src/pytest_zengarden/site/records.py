"""The DNS records the site implies (pure): blade hosts and internal ingress hosts at their VIP.

Derived from the site model alone, so the checks that judge the router and the code that provisions it
read the same statement without either importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from .schema import Site, Traced


@dataclass(frozen=True)
class ExpectedRecord:
    """A static A record the router must serve."""

    name: str
    address: IPv4Address
    statement: Traced
    why: str


def expected_records(site: Site) -> list[ExpectedRecord]:
    """Blade host records and the internal ingress hosts (pointing at their class VIP)."""
    out = [
        ExpectedRecord(f"{name}.{site.dns.blade_records.zone}", blade.address, site.dns.blade_records, f"blade {name}")
        for name, blade in site.blades.items()
    ]
    internal = {z.name for z in site.dns.zones if z.authority == "router"}
    for cls_name, cls in site.ingress.items():
        for host in cls.hosts:
            if any(host == z or host.endswith("." + z) for z in internal):
                out.append(ExpectedRecord(host, cls.vip, site.dns.ingress_records, f"ingress class {cls_name}"))
    return out
