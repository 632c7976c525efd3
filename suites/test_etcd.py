"""etcd asked itself: membership, member health, leader, quorum, alarms, size, timings in effect, snapshots.

Design: Scalability / High Availability ("3 etcd members (quorum: 2/3)") and Disaster Recovery / Backup
Strategy ("etcd snapshots (daily)").  The cluster is surveyed once per module through its client endpoints;
a member that does not answer is a finding of the health and quorum checks, never an error of the others.
The configuration each member started with and the snapshots are read on the servers (SSH).
"""

import pytest

from pytest_zengarden.checks import etcd as checks
from pytest_zengarden.checks.findings import finding
from pytest_zengarden.checks.hosts import read_k3s_config
from pytest_zengarden.errors import TargetError
from pytest_zengarden.facts.etcd import ETCD_CONFIG
from pytest_zengarden.facts.host import K3S_CONFIG

# Marked `running`: etcd itself, the configuration a member started with and the snapshots are not in a
# recording (offline runs leave them out); the snapshot schedule is read from the k3s config, recorded or not.
pytestmark = [pytest.mark.cluster, pytest.mark.etcd]


@pytest.fixture(scope="module")
def etcd_survey(etcd):
    """One look at every member (status, health), the member list and the alarms."""
    return etcd.survey()


@pytest.mark.control_from("cluster.etcd")
@pytest.mark.running
def test_etcd_members(site, etcd_survey, conformance):
    """The member list is the site's etcd blades with their peer URLs, all voting, nothing else."""
    if etcd_survey.members is None:
        raise TargetError("etcd", f"no member answered the member list: {etcd_survey.members_error}")
    conformance.check(checks.members(site, etcd_survey))


@pytest.mark.running
def test_etcd_member_health(site, etcd_survey, etcd_member, conformance):
    """Each member answers on its client URL and reports itself healthy."""
    conformance.check(checks.member_health(site, etcd_survey, etcd_member))


@pytest.mark.running
def test_etcd_leader(site, etcd_survey, conformance):
    """Exactly one leader, and every member that answers names it."""
    conformance.check(checks.leader(site, etcd_survey))


@pytest.mark.running
def test_etcd_cluster_id(site, etcd_survey, conformance):
    """Every member that answers belongs to one cluster."""
    conformance.check(checks.cluster_id(site, etcd_survey))


@pytest.mark.running
def test_etcd_raft_index_spread(site, etcd_survey, conformance):
    """No member lags behind the others' raft index by more than the site allows."""
    conformance.check(checks.raft_index_spread(site, etcd_survey))


@pytest.mark.control_from("cluster.etcd")
@pytest.mark.running
def test_etcd_quorum(site, etcd_survey, conformance):
    """A majority of the members answers and agrees on a leader: the API can write."""
    conformance.check(checks.quorum(site, etcd_survey))


@pytest.mark.running
def test_etcd_alarms(site, etcd_survey, conformance):
    """No member has raised NOSPACE or CORRUPT."""
    if etcd_survey.alarms is None:
        raise TargetError("etcd", f"cannot read the alarms: {etcd_survey.alarms_error}")
    conformance.check(checks.alarms(site, etcd_survey))


@pytest.mark.running
def test_etcd_db_size(site, etcd_survey, blade_by_name, conformance):
    """Each member's database is within the site's size and leaves room below its quota (from its config)."""
    quotas = {}
    for member in site.cluster.etcd.members:
        if not any(r.answered for r in etcd_survey.endpoints if r.endpoint == checks.client_url(site, member)):
            continue  # a member that does not answer has no size to judge (member health reports it)
        text = blade_by_name(member).read_file(ETCD_CONFIG)
        quota = checks.quota_of(text)
        if quota is None:
            raise TargetError(f"blade {member}", f"{ETCD_CONFIG} is missing or unreadable: its quota is unknown")
        quotas[member] = quota
    conformance.check(checks.db_size(site, etcd_survey, quotas))


@pytest.mark.hosts
@pytest.mark.roles("etcd")
@pytest.mark.running
def test_etcd_timings(site, blade, conformance, request):
    """The heartbeat interval and election timeout each member runs with (reported; the site's if stated)."""
    text = blade.read_file(ETCD_CONFIG)
    if text is not None:
        try:
            cfg = checks.read_etcd_config(text)
        except ValueError:
            pass  # the finding says why
        else:
            # JUnit properties: what drills and reports read (the values, whatever the verdict).
            request.node.user_properties += [
                ("etcd_heartbeat_ms", cfg.heartbeat_ms),
                ("etcd_election_timeout_ms", cfg.election_timeout_ms),
                ("etcd_quota_bytes", cfg.quota_bytes),
            ]
    conformance.check(checks.timings(site, blade.name, text, ETCD_CONFIG))


@pytest.mark.hosts
@pytest.mark.roles("etcd")
def test_etcd_snapshot_schedule(site, blade, conformance):
    """k3s on each server snapshots etcd on the site's schedule and keeps the site's number of them."""
    text = blade.read_file(K3S_CONFIG)
    try:
        values = read_k3s_config(text).values if text is not None else {}
    except ValueError as exc:
        raise TargetError(blade.endpoint, f"{K3S_CONFIG}: {exc}") from None
    conformance.check(checks.snapshot_settings(site, blade.name, values))


def _listing(site, blade):
    list_dir = getattr(blade, "list_dir", None)
    if list_dir is None:
        raise TargetError(blade.endpoint, "this target cannot list a blade's directories (etcd snapshots)")
    return list_dir(checks.snapshot_statement(site).dir)


@pytest.mark.hosts
@pytest.mark.roles("etcd")
@pytest.mark.running
def test_etcd_snapshot_age(site, blade, conformance):
    """Each server's newest etcd snapshot is younger than the site's maximum age."""
    conformance.check(checks.snapshot_age(site, blade.name, _listing(site, blade)))


@pytest.mark.hosts
@pytest.mark.roles("etcd")
@pytest.mark.running
def test_etcd_snapshot_integrity(site, blade, conformance):
    """Each server's newest etcd snapshot is intact: its sha256 trailer and bbolt meta pages."""
    listing = _listing(site, blade)
    newest = checks.newest_snapshot(listing, blade.name)
    statement = checks.snapshot_statement(site)
    if newest is None:
        conformance.check(
            finding(statement, blade.name, False, f"no snapshot of {blade.name} in {statement.dir} to verify")
        )
        return
    digest = blade.file_digest(f"{listing.path.rstrip('/')}/{newest.name}")
    conformance.check(checks.snapshot_integrity(site, blade.name, digest))
