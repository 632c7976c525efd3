"""High Availability and Backup for etcd (features/high_availability.feature).

The steps call the same check code as suites/test_etcd.py; a member that does not answer is a finding of
the health and quorum steps, and a target that cannot be asked errors the scenario (never a skip).
"""

from __future__ import annotations

from pytest_bdd import given, scenarios, then

from pytest_zengarden.checks import etcd as checks
from pytest_zengarden.checks.findings import finding
from pytest_zengarden.checks.hosts import read_k3s_config
from pytest_zengarden.errors import TargetError
from pytest_zengarden.facts.etcd import ETCD_CONFIG
from pytest_zengarden.facts.host import K3S_CONFIG

scenarios("high_availability.feature")


@given("the running etcd cluster", target_fixture="etcd_cluster")
def etcd_cluster(etcd):
    return etcd.survey()


@given("the etcd configuration every member started with", target_fixture="etcd_member_configs")
def etcd_member_configs(the_site, zg_target):
    return {m: zg_target.blade(m).read_file(ETCD_CONFIG) for m in the_site.cluster.etcd.members}


@given("the k3s configuration of every etcd member", target_fixture="member_k3s_configs")
def member_k3s_configs(the_site, zg_target):
    out = {}
    for m in the_site.cluster.etcd.members:
        blade = zg_target.blade(m)
        text = blade.read_file(K3S_CONFIG)
        try:
            out[m] = read_k3s_config(text).values if text is not None else {}
        except ValueError as exc:
            raise TargetError(blade.endpoint, f"{K3S_CONFIG}: {exc}") from None
    return out


@given("the etcd snapshots of every etcd member", target_fixture="member_snapshots")
def member_snapshots(the_site, zg_target):
    where = checks.snapshot_statement(the_site).dir
    out = {}
    for m in the_site.cluster.etcd.members:
        blade = zg_target.blade(m)
        if getattr(blade, "list_dir", None) is None:
            raise TargetError(blade.endpoint, "this target cannot list a blade's directories (etcd snapshots)")
        out[m] = (blade, blade.list_dir(where))
    return out


@then("its members are the site's etcd blades with their peer URLs")
def members(the_site, etcd_cluster, conformance):
    if etcd_cluster.members is None:
        raise TargetError("etcd", f"no member answered the member list: {etcd_cluster.members_error}")
    conformance.check(checks.members(the_site, etcd_cluster))


@then("every member answers and reports itself healthy")
def healthy(the_site, etcd_cluster, conformance):
    conformance.check([checks.member_health(the_site, etcd_cluster, m) for m in the_site.cluster.etcd.members])


@then("every member names the same single leader and the same cluster")
def agreement(the_site, etcd_cluster, conformance):
    conformance.check(
        [
            checks.leader(the_site, etcd_cluster),
            checks.cluster_id(the_site, etcd_cluster),
            checks.raft_index_spread(the_site, etcd_cluster),
        ]
    )


@then("a majority of the members answers and agrees on the leader")
def quorum(the_site, etcd_cluster, conformance):
    conformance.check(checks.quorum(the_site, etcd_cluster))


@then("no member has raised an alarm")
def no_alarm(the_site, etcd_cluster, conformance):
    if etcd_cluster.alarms is None:
        raise TargetError("etcd", f"cannot read the alarms: {etcd_cluster.alarms_error}")
    conformance.check(checks.alarms(the_site, etcd_cluster))


@then("every member runs with the designed heartbeat interval and election timeout")
def timings(the_site, etcd_member_configs, conformance):
    conformance.check(
        [f for m, text in etcd_member_configs.items() for f in checks.timings(the_site, m, text, ETCD_CONFIG)]
    )


@then("every member's database is within the designed size and below its quota")
def db_size(the_site, etcd_cluster, etcd_member_configs, conformance):
    quotas = {m: q for m, text in etcd_member_configs.items() if (q := checks.quota_of(text)) is not None}
    conformance.check(checks.db_size(the_site, etcd_cluster, quotas))


@then("k3s takes a snapshot on a schedule at least as frequent as the designed maximum age")
def schedule(the_site, member_k3s_configs, conformance):
    conformance.check([checks.snapshot_settings(the_site, m, values) for m, values in member_k3s_configs.items()])


@then("the newest snapshot on every server is younger than the designed maximum age")
def fresh(the_site, member_snapshots, conformance):
    conformance.check([checks.snapshot_age(the_site, m, listing) for m, (_, listing) in member_snapshots.items()])


@then("the newest snapshot on every server is intact")
def intact(the_site, member_snapshots, conformance):
    statement = checks.snapshot_statement(the_site)
    findings = []
    for m, (blade, listing) in member_snapshots.items():
        newest = checks.newest_snapshot(listing, m)
        if newest is None or listing is None:
            findings.append(finding(statement, m, False, f"no snapshot of {m} in {statement.dir} to verify"))
            continue
        digest = blade.file_digest(f"{listing.path.rstrip('/')}/{newest.name}")
        findings.append(checks.snapshot_integrity(the_site, m, digest))
    conformance.check(findings)
