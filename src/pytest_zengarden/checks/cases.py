"""Parametrization cases derived from the site (pure): what each parametrized check runs over.

A check function names one of :data:`CASE_ARGS` as an argument; the plugin parametrizes it with the
cases below, each with a readable id and the control it verifies, so ``-k``, ``--lf`` and JUnit work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..analysis.flow_space import routed
from ..probes.plan import probed_rows
from ..site.records import expected_records
from ..site.schema import Site, Traced
from .control_plane import LEADER_LEASES
from .firewall import accesses, other_protocol_pairs, protected_segments
from .ipv6 import ipv6_pairs
from .site import flow_matrix


@dataclass(frozen=True)
class Case:
    """One parameter value of a check, with its test id and the design statement it checks."""

    id: str
    value: Any
    control: str
    section: str


def _case(id_: str, value: Any, statement: Traced) -> Case:
    return Case(id_, value, statement.control, statement.section)


def dns_records(site: Site) -> list[Case]:
    return [_case(r.name, r, r.statement) for r in expected_records(site)]


def router_services(site: Site) -> list[Case]:
    return [_case(name, name, site.router.hardening) for name in site.router.hardening.services]


def interface_lists(site: Site) -> list[Case]:
    return [_case(name, name, site.router) for name in site.router.interface_lists]


def gateways(site: Site) -> list[Case]:
    return [
        _case(name, name, seg)
        for name, seg in site.segments.items()
        if seg.router_address is not None and seg.cidr is not None
    ]


def ingress_classes(site: Site) -> list[Case]:
    return [_case(name, name, cls) for name, cls in site.ingress.items()]


def flows(site: Site) -> list[Case]:
    """Every row of the expected flow matrix that crosses the router (``home->cluster:tcp/81-442``)."""
    rows = [r for r in flow_matrix(site).rows if routed(site, r.src, r.dst)]
    return [Case(r.flow_id, r, r.decision.control, r.decision.section) for r in rows]


def probed_flows(site: Site) -> list[Case]:
    """Rows of the flow matrix real probes can stand for (TCP and UDP rows that cross the router)."""
    return [
        Case(r.flow_id, r, r.decision.control, r.decision.section) for r in probed_rows(site, flow_matrix(site).rows)
    ]


def other_protocol_cases(site: Site) -> list[Case]:
    """Every routed segment pair, for the protocols the matrix rows leave out: ``cluster->home:other``."""
    return [Case(p.id, p, p.decision.control, p.decision.section) for p in other_protocol_pairs(site)]


def ipv6_cases(site: Site) -> list[Case]:
    """Every routed pair of (non-overlay) segments, for IPv6: ``home->cluster:ipv6`` (the default's control)."""
    return [_case(p.id, p, site.firewall.default) for p in ipv6_pairs(site)]


def router_accesses(site: Site) -> list[Case]:
    """Every (segment, router service) pair: ``home->router:ssh``."""
    return [_case(a.id, a, statement) for a, statement in accesses(site)]


def protected(site: Site) -> list[Case]:
    """Segments closed to every other segment: ``management``."""
    return [_case(name, name, statement) for name, statement in protected_segments(site)]


def drills(site: Site) -> list[Case]:
    return [_case(name, name, d) for name, d in site.drills.items()]


def api_servers(site: Site) -> list[Case]:
    """Every control-plane blade, as the API server it runs (the authentication checks' cases)."""
    return [_case(name, name, site.cluster.apiserver) for name in site.cluster.control_plane]


def ha_servers(site: Site) -> list[Case]:
    """Every control-plane blade, as one of the HA control plane's servers."""
    return [_case(name, name, site.cluster.high_availability) for name in site.cluster.control_plane]


def leader_leases(site: Site) -> list[Case]:
    """The leases of the leader-elected controllers every server runs."""
    return [_case(name, name, site.cluster.high_availability) for name in LEADER_LEASES]


def etcd_members(site: Site) -> list[Case]:
    """Every etcd member of the site (``blade003``), judged under ``cluster.etcd.health`` (or ``cluster.etcd``)."""
    e = site.cluster.etcd
    statement: Traced = e.health or e
    return [_case(name, name, statement) for name in e.members]


CASE_ARGS: dict[str, Callable[[Site], list[Case]]] = {
    "dns_record": dns_records,
    "router_service": router_services,
    "interface_list_name": interface_lists,
    "gateway_segment": gateways,
    "ingress_class_name": ingress_classes,
    "flow": flows,
    "probed_flow": probed_flows,
    "other_protocols": other_protocol_cases,
    "ipv6_pair": ipv6_cases,
    "router_access": router_accesses,
    "protected_segment": protected,
    "drill_name": drills,
    "api_server": api_servers,
    "ha_server": ha_servers,
    "leader_lease_name": leader_leases,
    "etcd_member": etcd_members,
}
