"""Pod Security, Defense in Depth layers 3 and 4 (features/pod_security.feature; named apart from
suites/test_pod_security.py, as both directories are rootdir-imported).  Steps call the same
check code as suites/test_pod_security.py."""

from pytest_bdd import given, scenarios, then

from pytest_zengarden.analysis.pod_security import WORKLOAD_KINDS
from pytest_zengarden.checks import pod_security as checks
from pytest_zengarden.errors import TargetError

scenarios("pod_security.feature")


@given("every Pod and pod template outside the exempt namespaces", target_fixture="workloads")
def workloads(cluster):
    # A cluster the target cannot read raises a target error: the scenario errors naming it (never a skip).
    return cluster.list("Namespace"), [obj for kind in WORKLOAD_KINDS for obj in cluster.list(kind)]


@then("every Pod and pod template meets the designed Pod Security level")
def meets_level(the_site, workloads, conformance):
    conformance.check(checks.observed(the_site, *workloads))


@then("every container must run as a non-root user and never as UID 0")
def non_root(the_site, workloads, conformance):
    only = frozenset({"runAsNonRoot", "runAsUser"})
    conformance.check(checks.observed(the_site, *workloads, level="restricted", only=only))


@then("every container's root filesystem is read-only")
def read_only_root(the_site, workloads, conformance):
    conformance.check(checks.read_only_root(the_site, *workloads))


@then("every container drops ALL capabilities and adds none beyond NET_BIND_SERVICE")
def capabilities(the_site, workloads, conformance):
    only = frozenset({"capabilities_restricted"})
    conformance.check(checks.observed(the_site, *workloads, level="restricted", only=only))


@then("every container runs under the RuntimeDefault or a Localhost seccomp profile")
def seccomp(the_site, workloads, conformance):
    only = frozenset({"seccompProfile_restricted"})
    conformance.check(checks.observed(the_site, *workloads, level="restricted", only=only))


@then("no container or pod sets an unconfined AppArmor profile")
def apparmor(the_site, workloads, conformance):
    only = frozenset({"appArmorProfile"})
    conformance.check(checks.observed(the_site, *workloads, level="restricted", only=only))


@then("in every namespace outside the exemptions a pod violating each check is refused and a compliant pod is admitted")
def enforced(the_site, cluster, conformance):
    dry_run = getattr(cluster, "dry_run_create", None)
    if dry_run is None:
        raise TargetError(cluster.endpoint, "admission cannot be asked of a recording: run against a live API server")
    conformance.check(checks.enforced(the_site, cluster.list("Namespace"), dry_run))
