"""The pytest plugin: options, markers, fixtures and hooks.  Wiring only; logic lives in the modules.

Loaded through the ``pytest11`` entry point wherever the package is installed.  It stays dormant
(adds options and markers, nothing else) until a site file is named with ``--zg-site``, the
``ZG_SITE`` environment variable or the ``zg_site`` ini option.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from .analysis.firewall_eval import Firewall
from .checks import cases as case_defs
from .checks.conformance import Conformance
from .checks.site import flow_matrix
from .errors import UsageProblem, ZengardenError
from .facts.host import HostView
from .outcomes import CannotJudge, JudgedTally
from .probes.plan import Observation, group_by_row, probed_rows
from .redaction import install_log_redaction
from .site.loader import SiteError, load_site
from .site.schema import Site, Traced
from .site.validate import controls_of
from .targets import RouterHandle, Target, TargetSpec, make_target

SITE_KEY = pytest.StashKey["Site | None"]()
SPEC_KEY = pytest.StashKey[TargetSpec]()

LAYER_MARKERS = {
    "site": "site-file consistency checks (need no target)",
    "network": "segmentation and firewall checks (router data plane and configuration)",
    "router": "router configuration and hardening checks",
    "hosts": "blade host checks (files, services, sysctls)",
    "cluster": "Kubernetes cluster checks",
    "etcd": "etcd checks: membership, health, quorum, alarms, size, timings, snapshots",
    "ingress": "ingress, TLS and WAF checks",
    "dns": "DNS zone and record checks",
    "secrets": "derived-secret checks",
    "drill": "failover drills (disruptive; run with -m drill or --drill NAME)",
    "probe": "active checks that send real connections between segments (lab namespaces or live vantage hosts)",
    "running": "checks that ask a running blade (sshd -T, findmnt, sysctl, clock): not in a recording",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("zengarden", "pytest-zengarden: verify a homelab against its design")
    group.addoption(
        "--zg-site",
        metavar="FILE",
        default=None,
        help="site file (YAML) describing the design; default: $ZG_SITE or the zg_site ini option",
    )
    group.addoption(
        "--zg-target",
        metavar="TARGET",
        default=None,
        help="what to check: 'lab' (default, the embedded lab), 'live' (real hardware, credentials from the "
        "inventory) or 'offline=DIR' (recorded state)",
    )
    group.addoption(
        "--provision",
        nargs="?",
        const="apply",
        default=None,
        choices=("apply", "plan"),
        help="converge the target to the site before verifying ('--provision=plan' only shows the plan)",
    )
    group.addoption(
        "--drill",
        metavar="NAME",
        action="append",
        default=[],
        help="run the named failover drill from the site file (repeatable); also selects drill checks",
    )
    group.addoption(
        "--allow-disruption",
        action="store_true",
        default=False,
        help="required to run drills against a live site",
    )
    parser.addini("zg_site", "default site file for pytest-zengarden", default=None)
    parser.addini("zg_target", "default target for pytest-zengarden (lab, live, offline=DIR)", default="lab")


def pytest_configure(config: pytest.Config) -> None:
    # Before any client logs: credentials are masked in every record (--log-level=DEBUG, log_cli, JUnit).
    install_log_redaction()
    for name, text in LAYER_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.addinivalue_line("markers", "control(id, section): the design control a check verifies")
    config.addinivalue_line(
        "markers",
        "control_from(path): the check verifies the site element at path (e.g. 'cluster.apiserver')",
    )
    config.addinivalue_line("markers", "roles(*roles): run a 'blade' check only on blades with one of these roles")

    try:
        spec = TargetSpec.parse(config.getoption("zg_target") or str(config.getini("zg_target") or "lab"))
    except UsageProblem as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SPEC_KEY] = spec

    site_path = _site_path(config)
    site = None
    if site_path is not None:
        try:
            site = load_site(site_path)
        except SiteError as exc:
            raise pytest.UsageError(f"the site file has {len(exc.problems)} problem(s):\n{exc}") from None
    config.stash[SITE_KEY] = site
    if site is not None:
        config.pluginmanager.register(JudgedTally(config), "zengarden-tally")

    mode = config.getoption("provision")
    if mode:
        if site is None:
            raise pytest.UsageError("--provision needs a site file (--zg-site FILE, ZG_SITE or the zg_site ini option)")
        if spec.kind == "offline":
            raise pytest.UsageError(f"--provision changes a target: {spec} is a recording; use --zg-target lab or live")
        from .provision.items import ProvisionRunner

        config.pluginmanager.register(ProvisionRunner(config, site, spec, apply=mode == "apply"), "zengarden-provision")
    if site is not None:
        unknown = [d for d in config.getoption("drill") if d not in site.drills]
        if unknown:
            raise pytest.UsageError(f"--drill: unknown drill(s) {unknown}; the site defines {sorted(site.drills)}")


def _site_path(config: pytest.Config) -> Path | None:
    opt = config.getoption("zg_site")
    if opt:
        return Path(opt)
    env = os.environ.get("ZG_SITE")
    if env:
        return Path(env)
    ini = config.getini("zg_site")
    if ini:
        return Path(config.rootpath, str(ini))
    return None


def pytest_report_header(config: pytest.Config) -> str | None:
    site = config.stash.get(SITE_KEY, None)
    if site is None:
        return None
    spec = config.stash[SPEC_KEY]
    note = "; probe checks deselected (a recording holds no packets)" if spec.kind == "offline" else ""
    return f"zengarden: site {site.name} ({len(site.blades)} blades), target {spec}{note}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    site = metafunc.config.stash.get(SITE_KEY, None)
    if site is None:
        return
    if "blade" in metafunc.fixturenames:
        roles_marker = metafunc.definition.get_closest_marker("roles")
        wanted = set(roles_marker.args) if roles_marker else None
        names = [n for n, b in site.blades.items() if wanted is None or wanted & {r.value for r in b.roles}]
        metafunc.parametrize("blade", names, ids=names, indirect=True)
    for arg, make in case_defs.CASE_ARGS.items():
        if arg in metafunc.fixturenames:
            params = [
                pytest.param(c.value, id=c.id, marks=pytest.mark.control(c.control, c.section)) for c in make(site)
            ]
            metafunc.parametrize(arg, params)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    site = config.stash.get(SITE_KEY, None)
    # Site elements that carry a control, by dotted path (``cluster.apiserver``), for control_from.
    traced_by_path = {".".join(map(str, loc)): t for loc, t in controls_of(site).values()} if site else {}
    drills = config.getoption("drill")
    markexpr = config.getoption("markexpr") or ""
    offline = config.stash[SPEC_KEY].kind == "offline"
    keep, drop = [], []
    for item in items:
        if offline and item.get_closest_marker("probe") is not None:
            drop.append(item)  # a recording holds configuration, not packets: nothing to probe
            continue
        if offline and item.get_closest_marker("running") is not None:
            drop.append(item)  # a recording holds files, not a running blade to ask
            continue
        is_drill = item.get_closest_marker("drill") is not None
        if is_drill and not drills and "drill" not in markexpr:
            drop.append(item)  # drills are disruptive: only when asked for
            continue
        if is_drill and drills and not _drill_selected(item, drills):
            drop.append(item)
            continue
        keep.append(item)
        _record_controls(item, traced_by_path)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    live = config.stash[SPEC_KEY].kind == "live"
    if live and not config.getoption("allow_disruption") and any(i.get_closest_marker("drill") for i in keep):
        raise pytest.UsageError("drills disrupt a live site: add --allow-disruption to run them")


def _drill_selected(item: pytest.Item, drills: list[str]) -> bool:
    marker = item.get_closest_marker("drill")
    named = set(marker.args) if marker else set()
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "drill_name" in callspec.params:
        named.add(callspec.params["drill_name"])
    return bool(named & set(drills))


def _record_controls(item: pytest.Item, traced_by_path: dict[str, Traced]) -> None:
    """Put each check's control ids and design sections into its report (JUnit properties)."""
    seen = set()
    pairs: list[tuple[str, str]] = []
    for marker in item.iter_markers("control"):
        pairs.append((str(marker.args[0]), str(marker.args[1]) if len(marker.args) > 1 else ""))
    for marker in item.iter_markers("control_from"):
        if not traced_by_path:
            continue  # no site file: the site fixture reports that
        traced = traced_by_path.get(str(marker.args[0]))
        if traced is None:
            raise pytest.UsageError(f"{item.nodeid}: control_from({marker.args[0]!r}) names no traced site element")
        pairs.append((traced.control, traced.section))
    for control, section in pairs:
        if control in seen:
            continue
        seen.add(control)
        item.user_properties.append(("control", control))
        item.user_properties.append(("section", section))


def pytest_collection_finish(session: pytest.Session) -> None:
    """With the lab up, a run outside its namespaces could only error check by check: stop it, saying what to type."""
    config = session.config
    if config.stash.get(SITE_KEY, None) is None or config.stash[SPEC_KEY].kind != "lab":
        return
    if config.option.collectonly or not any(_needs_target(item) for item in session.items):
        return
    from .targets.lab import lab_outside

    segment = lab_outside()
    if segment is None:
        return
    exe = Path(sys.executable).parent / "zengarden"
    zengarden = str(exe) if exe.exists() else "zengarden"
    pytest_cmd = [sys.executable, "-m", "pytest", *config.invocation_params.args]
    raise pytest.UsageError(
        f"the lab is up and lab checks run only inside it; type: {zengarden} lab exec {segment} -- "
        f"{shlex.join(pytest_cmd)}"
    )


def _is_check(item: pytest.Item) -> bool:
    """Whether the item is a zengarden check: it reads the site or a target, or carries a layer marker."""
    return (
        "site" in getattr(item, "fixturenames", ())
        or _needs_target(item)
        or item.get_closest_marker("site") is not None
    )


def _needs_target(item: pytest.Item) -> bool:
    """Whether the check reads a target (site-file checks do not); Gherkin steps request theirs late, so markers."""
    if "zg_target" in getattr(item, "fixturenames", ()):
        return True
    return any(item.get_closest_marker(name) is not None for name in LAYER_MARKERS if name != "site")


# ------------------------------------------------------------------------------ errors and empty runs
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A target error in a check body or a Gherkin step: the check errors with host and cause, no traceback."""
    if not _is_check(item):
        yield  # another project's test (or the plugin's own): its exceptions keep their tracebacks
        return
    try:
        yield
        return
    except ZengardenError as exc:
        message = str(exc)
    # Raised outside the except block, so no chained frame (with its locals) is kept or printed.
    raise CannotJudge(message)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if call.when == "call" and call.excinfo is not None and call.excinfo.errisinstance(CannotJudge):
        # pytest's terminal and its JUnit writer report a failure outside the call phase as an *error*
        # (`<error>`): a check that could not judge must read as a broken target, not a deviating site.
        report.when = "setup"
    return report


# ------------------------------------------------------------------------------------------- fixtures
def _call(fn: Any, *args: Any) -> Any:
    """Run a target accessor: what it cannot reach or provide errors the check, naming host and cause."""
    try:
        return fn(*args)
    except ZengardenError as exc:
        message = str(exc)
    raise CannotJudge(message)


@pytest.fixture(scope="session")
def site(pytestconfig: pytest.Config) -> Site:
    """The validated site file."""
    value = pytestconfig.stash.get(SITE_KEY, None)
    if value is None:
        pytest.fail("no site file: pass --zg-site FILE (or set ZG_SITE / the zg_site ini option)", pytrace=False)
    return value


@pytest.fixture(scope="session")
def zg_target(pytestconfig: pytest.Config, site: Site) -> Iterator[Target]:
    """The target chosen with --zg-target; closed at the end of the session."""
    target = make_target(pytestconfig.stash[SPEC_KEY], site)
    yield target
    target.close()


@pytest.fixture(scope="session")
def router(zg_target: Target) -> RouterHandle:
    """The router: ``router.config`` is its configuration, ``router.client`` a read/write client (live)."""
    handle: RouterHandle = _call(zg_target.router)
    _call(lambda: handle.config)  # read now, so an unreachable router errors here, once
    return handle


@pytest.fixture(scope="session")
def firewall(router: RouterHandle) -> Firewall:
    """The router's filter table as an evaluator (errors once, naming the rule, if it cannot be judged)."""
    fw: Firewall = _call(Firewall, router.config)
    return fw


@pytest.fixture(scope="session")
def prober(zg_target: Target) -> Any:
    """Sends real connections from a vantage point in each segment (lab namespaces)."""
    return _call(zg_target.prober)


@pytest.fixture(scope="session")
def flow_observations(site: Site, prober: Any) -> dict[str, list[Observation]]:
    """Real probes for every TCP/UDP row of the flow matrix, sent once per session, all concurrently."""
    from .probes.prober import observe

    rows = probed_rows(site, flow_matrix(site).rows)
    observations: list[Observation] = _call(observe, site, rows, prober)
    return group_by_row(observations)


@pytest.fixture(scope="session")
def cluster(zg_target: Target) -> Any:
    """The cluster as a reader of objects (the kubernetes client on live targets)."""
    return _call(zg_target.cluster)


@pytest.fixture(scope="session")
def blades(zg_target: Target) -> dict[str, Any]:
    """Connections to blades, opened on first use and shared by the session."""
    return {}


def _shared_blade(zg_target: Target, blades: dict[str, Any], name: str) -> HostView:
    if name not in blades:
        try:
            blades[name] = zg_target.blade(name)
        except ZengardenError as exc:
            blades[name] = exc  # remember the failure: every check on this blade reports it, none retries
    got = blades[name]
    if isinstance(got, Exception):
        raise CannotJudge(str(got))
    return got  # type: ignore[no-any-return]


@pytest.fixture
def blade(request: pytest.FixtureRequest, zg_target: Target, blades: dict[str, Any]) -> HostView:
    """One blade (parametrized over the site's blades; narrow with ``@pytest.mark.roles(...)``)."""
    return _shared_blade(zg_target, blades, request.param)


@pytest.fixture(scope="session")
def blade_by_name(zg_target: Target, blades: dict[str, Any]) -> Any:
    """``blade_by_name(name)``: that blade, over the session's shared connection (a failure errors the check)."""
    return lambda name: _shared_blade(zg_target, blades, name)


@pytest.fixture(scope="session")
def etcd(zg_target: Target) -> Any:
    """An etcd client (members, status) over the v3 gateway."""
    return _call(zg_target.etcd)


@pytest.fixture(scope="session")
def http(zg_target: Target) -> Any:
    """An httpx client with timeouts, for HTTP(S) probes."""
    return _call(zg_target.http)


@pytest.fixture
def conformance(request: pytest.FixtureRequest) -> Conformance:
    """``conformance.check(findings)``: fail with every deviation, each naming its control."""
    assert isinstance(request.node, pytest.Item)
    return Conformance(request.node)
