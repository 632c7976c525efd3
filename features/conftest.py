"""Step definitions shared by the features.  Steps call the same check code the suites use."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from pytest_zengarden.analysis.matrix import MatrixRow
from pytest_zengarden.analysis.ports import PortRange
from pytest_zengarden.checks import cluster as cluster_checks
from pytest_zengarden.checks import firewall as firewall_checks
from pytest_zengarden.checks import hosts as host_checks
from pytest_zengarden.checks import router as router_checks
from pytest_zengarden.checks import site as site_checks
from pytest_zengarden.checks.findings import Finding, finding
from pytest_zengarden.errors import TargetError
from pytest_zengarden.probes.plan import PlannedProbe, observed
from pytest_zengarden.site.schema import Protocol, Role
from pytest_zengarden.site.validate import controls_of, validate_site


@given("the site file", target_fixture="the_site")
def the_site(site):
    return site


@when("the firewall policy is expanded into the flow matrix", target_fixture="matrix")
def matrix(the_site):
    return site_checks.flow_matrix(the_site)


@then("every design statement carries a unique control id and a known design section")
def traceable(the_site, conformance):
    # validate_site reports duplicate ids; the schema already rejected unknown sections.
    problems = [p for p in validate_site(the_site) if p[0][-1:] == ("control",)]
    controls = controls_of(the_site)
    assert controls, "the site file states no controls"
    statement = the_site.firewall.default
    conformance.check(
        [finding(statement, ".".join(map(str, loc)), False, msg) for loc, msg in problems]
        or [finding(statement, "site", True, f"{len(controls)} unique controls")]
    )


@then("every segment pair has exactly one verdict for every protocol and port")
def total(the_site, matrix, conformance):
    conformance.check(site_checks.matrix_total(the_site, matrix))


@then("the etcd quorum is a majority of an odd number of members")
def quorum(the_site, conformance):
    conformance.check(site_checks.etcd_quorum(the_site))


@then(parsers.parse("the cluster tolerates the loss of {count:d} etcd member"))
def tolerates(the_site, count):
    etcd = the_site.cluster.etcd
    assert len(etcd.members) - etcd.quorum >= count


@then(parsers.parse('every blade address lies inside the "{segment}" segment'))
def blades_inside(the_site, segment):
    cidr = the_site.segments[segment].cidr
    outside = {n: str(b.address) for n, b in the_site.blades.items() if b.address not in cidr}
    assert not outside, f"blades outside {segment} ({cidr}): {outside}"


@then(parsers.parse('the MetalLB pool lies inside the "{segment}" segment and holds no blade address'))
def pool_inside(the_site, segment):
    cidr = the_site.segments[segment].cidr
    pool = the_site.cluster.metallb
    assert pool.first in cidr and pool.last in cidr, f"pool {pool.first}-{pool.last} leaves {cidr}"
    inside = [n for n, b in the_site.blades.items() if pool.first <= b.address <= pool.last]
    assert not inside, f"the pool holds blade addresses: {inside}"


@then(parsers.parse("a {protocol} flow from {source} to {destination} on port {port:d} is {verdict}"))
def flow_verdict(matrix, protocol, source, destination, port, verdict):
    decision = matrix.decide(source, destination, protocol, port)
    want = {"allowed": "allow", "denied": "deny"}[verdict]
    assert decision.verdict == want, (
        f"{source}->{destination}:{protocol}/{port}: the site file says {decision.verdict} "
        f"({decision.control}, {decision.statement}); the design says {verdict}"
    )


@given("the router's configuration", target_fixture="router_config")
def router_config(router):
    return router.config


@then("the router holds the gateway address of every segment on its interface")
def gateways(the_site, router_config, conformance):
    conformance.check(
        [
            router_checks.segment_address(the_site, name, router_config)
            for name, seg in the_site.segments.items()
            if seg.router_address is not None
        ]
    )


@then("source NAT masquerades only towards the WAN")
def nat(the_site, router_config, conformance):
    conformance.check(router_checks.nat_masquerade(the_site, router_config))


@given("the cluster's namespaces", target_fixture="namespaces")
def namespaces(cluster):
    return cluster.list("Namespace")


@then("every namespace that is not exempt enforces the designed Pod Security level")
def psa(the_site, namespaces, zg_target, conformance):
    # Unlabelled namespaces are judged by the default the servers' admission configuration really sets.
    in_effect = cluster_checks.server_psa_defaults(the_site, zg_target.blade)
    conformance.check(cluster_checks.pod_security(the_site, namespaces, in_effect))


@given("the k3s configuration of every control-plane blade", target_fixture="server_configs")
def server_configs(the_site, zg_target):
    # A blade the target cannot reach raises a target error: the scenario errors naming it (never a skip).
    return {
        name: zg_target.blade(name).read_file(host_checks.K3S_CONFIG)
        for name in the_site.blades_with(Role.CONTROL_PLANE)
    }


@then("secrets are encrypted at rest and audit logging is on")
def secrets_at_rest(the_site, server_configs, conformance):
    wanted = {
        "secrets-encryption",
        "kube-apiserver-arg audit-policy-file",
        "kube-apiserver-arg audit-log-path",
    }
    findings = [
        f
        for name, text in server_configs.items()
        for f in host_checks.k3s_config(the_site, name, text)
        # "blade001 secrets-encryption" is one setting; "blade001:/etc/rancher/k3s/config.yaml" is the file
        # itself (missing, not YAML): always kept, it names the blade and the file.
        if " " not in f.subject or f.subject.split(" ", 1)[1] in wanted
    ]
    conformance.check(findings)


@given("the router's firewall", target_fixture="router_firewall")
def router_firewall(firewall):
    return firewall


def _single_row(site, source, destination, protocol, port):
    """The flow matrix narrowed to one port: a row the firewall checks can judge."""
    matrix = site_checks.flow_matrix(site)
    decision = matrix.decide(source, destination, protocol, port)
    return MatrixRow(source, destination, Protocol(protocol), PortRange(port, port), decision)


@then(
    parsers.parse(
        "the router's configuration {verdict} {protocol} connections from {source} to {destination} on port {port:d}"
    )
)
def configuration_verdict(the_site, router_firewall, verdict, protocol, source, destination, port, conformance):
    row = _single_row(the_site, source, destination, protocol, port)
    designed = {"accepts": "allow", "drops": "deny"}[verdict]
    assert row.decision.verdict == designed, (
        f"the site file says {row.decision.verdict} for {row.flow_id} ({row.decision.control}); "
        f"the design says {verdict}"
    )
    conformance.check(firewall_checks.flow(the_site, router_firewall, row))


@then("every flow through the router is decided as the flow matrix says")
def every_flow(the_site, router_firewall, conformance):
    rows = firewall_checks.flow_rows(the_site, site_checks.flow_matrix(the_site).rows)
    conformance.check([firewall_checks.flow(the_site, router_firewall, r) for r in rows])


@then(parsers.parse('no segment can open a connection into "{segment}"'))
def no_inbound(the_site, router_firewall, segment, conformance):
    conformance.check(firewall_checks.no_inbound(the_site, router_firewall, segment))


@then("new connections from the internet that were not destination-NATed are dropped")
def wan_inbound(the_site, router_firewall, router, conformance):
    conformance.check(firewall_checks.wan_inbound(the_site, router_firewall, router.config))


@given("a vantage point in every segment", target_fixture="vantages")
def vantages(prober):
    return prober


@when(
    parsers.parse("{source} opens a {protocol} connection to {destination} on port {port:d}"),
    target_fixture="observation",
)
def open_connection(the_site, vantages, source, destination, protocol, port):
    from pytest_zengarden.probes.prober import run_planned

    row = _single_row(the_site, source, destination, protocol, port)
    planned = PlannedProbe(row.flow_id, source, destination, Protocol(protocol), port)
    (observation,) = run_planned(vantages, [planned])
    if observation.result == "skipped":
        # Nothing was sent, so nothing can be judged: an error naming why, never a skip.
        raise TargetError(f"probe {row.flow_id} port {port}", f"not sent: {observation.detail}")
    return row, observation


@then(parsers.parse("the connection is {result}"))
def connection_result(observation, result, conformance):
    row, seen = observation
    got = observed(seen.result, seen.listened)
    ok = (got == "reached") == (result == "reached") and got != "error"
    conformance.check(
        Finding(row.decision.control, row.decision.section, row.flow_id, ok, f"expected {result}: {seen.describe()}")
    )
