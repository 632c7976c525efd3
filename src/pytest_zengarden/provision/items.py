"""``--provision`` in a pytest run: one ``provision[TARGET]`` test case per target, run before every check.

The first case provisions everything (router, blades, cluster) once; each case then reports its own
target: the plan and what was applied as JUnit properties, a failure naming the entry, the cause and the
remaining work.  The verification that follows reads the targets afresh, so provisioning is graded by
the checks, never by itself.  ``--provision=plan`` plans, changes nothing, and the checks judge the
target as it is.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ..errors import ZengardenError
from ..outcomes import CannotJudge
from ..site.schema import Site
from .journal import Journal
from .plan import Outcome
from .run import provision, report

OUTCOMES_KEY = pytest.StashKey[dict[str, Outcome]]()


class ProvisionFailed(Exception):
    """Provisioning a target failed: the message says which entry, why, and what remains."""


class ProvisionItem(pytest.Item):
    """``provision[router]``, ``provision[blade001]``, ``provision[cluster]``."""

    def __init__(self, *, target_name: str, runner: ProvisionRunner, **kwargs: Any):
        super().__init__(**kwargs)
        self.target_name = target_name
        self.runner = runner
        self.add_marker(pytest.mark.router if target_name == "router" else pytest.mark.cluster)

    def runtest(self) -> None:
        outcomes = self.runner.run()
        outcome = outcomes.get(self.target_name)
        if outcome is None:
            raise ProvisionFailed(f"{self.target_name}: provisioning did not run")
        for change in outcome.plan.changes:
            self.user_properties.append(("planned", change.line().strip()))
        for change in outcome.applied:
            self.user_properties.append(("applied", change.line().strip()))
        self.user_properties += [("reads", str(outcome.reads)), ("writes", str(outcome.writes))]
        self.user_properties.append(("seconds", f"{outcome.seconds:.2f}"))
        if outcome.error and outcome.unreachable:
            raise CannotJudge(outcome.error)  # reported as an error, like any check whose target is unreachable
        if outcome.error:
            remaining = [c.line().strip() for c in outcome.remaining]
            more = "\nremaining:\n  " + "\n  ".join(remaining) if remaining and self.runner.apply else ""
            raise ProvisionFailed(f"{outcome.error}{more}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ProvisionFailed | ZengardenError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


class ProvisionRunner:
    """Runs provisioning once per session; registered as a pytest plugin when ``--provision`` is given."""

    def __init__(self, config: pytest.Config, site: Site, spec: Any, apply: bool):
        self.config = config
        self.site = site
        self.spec = spec
        self.apply = apply
        self.outcomes: dict[str, Outcome] | None = None
        self.error: str | None = None

    def targets(self) -> list[str]:
        blades = sorted(self.site.blades, key=lambda b: (b not in self.site.cluster.control_plane, b))
        return ["router", *blades, "cluster"]

    def run(self) -> dict[str, Outcome]:
        if self.outcomes is not None:
            return self.outcomes
        from ..targets import make_target

        reporter = self.config.pluginmanager.get_plugin("terminalreporter")

        def say(message: str) -> None:
            if reporter is not None and self.config.get_verbosity() >= 0:
                reporter.write_line(f"zengarden provision: {message}")

        start = time.monotonic()
        target = make_target(self.spec, self.site)
        journal_path = getattr(target, "state_dir", None)
        journal = Journal(
            (journal_path / "provision-journal.jsonl")
            if journal_path
            else Path(self.config.rootpath) / ".zengarden" / "provision-journal.jsonl"
        )
        try:
            self.outcomes = provision(self.site, target, apply=self.apply, journal=journal, say=say)
        finally:
            target.close()
        say(f"done in {time.monotonic() - start:.1f}s")
        self.config.stash[OUTCOMES_KEY] = self.outcomes
        return self.outcomes

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        if not items:
            return  # nothing collected: nothing to verify either (the run says so itself)
        made = [
            ProvisionItem.from_parent(session, name=f"provision[{name}]", target_name=name, runner=self)
            for name in self.targets()
        ]
        items[:0] = made

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.outcomes is None:
            return
        title = "zengarden provisioning" + ("" if self.apply else " plan (nothing changed)")
        terminalreporter.section(title)
        for line in report(self.outcomes, self.apply):
            terminalreporter.write_line(line)
