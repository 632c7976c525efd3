"""How a check's outcome reads: a check that could not judge is an *error*, and a run that judged nothing fails.

pytest-facing, but no wiring: the plugin registers :class:`JudgedTally` and raises :class:`CannotJudge`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from _pytest.outcomes import Failed

T = TypeVar("T")


class CannotJudge(Failed):
    """The check could not judge (target unreachable, data missing): reported as an *error*, never a failure."""

    __module__ = "builtins"  # as pytest's own outcomes: summaries read "CannotJudge: host: cause"

    def __init__(self, msg: str) -> None:
        super().__init__(msg, pytrace=False)


def judged(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``; a ``ValueError`` (what was read cannot be judged, and why) errors the check instead."""
    try:
        return fn(*args)
    except ValueError as exc:
        problem = str(exc)
    raise CannotJudge(problem)  # outside the except: no chained traceback


class JudgedTally:
    """Counts judged checks: a session with a site in which no check passed or failed must not exit 0."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.judged = 0
        self.skipped = 0
        self.deselected = 0
        self.reason: str | None = None

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed or (report.when == "call" and report.passed):
            self.judged += 1
        elif report.skipped:
            self.skipped += 1

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        opt = self.config.option
        if self.judged or any(
            getattr(opt, name, False) for name in ("collectonly", "showfixtures", "show_fixtures_per_test")
        ):
            return
        if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            return  # interrupted, usage error, internal error: already not a pass
        what = [f"{n} {word}" for n, word in ((self.skipped, "skipped"), (self.deselected, "deselected")) if n]
        self.reason = f"no check ran ({', '.join(what) or 'none collected'}): nothing was judged, so this run fails"
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.reason is not None:
            terminalreporter.write_line(f"zengarden: {self.reason}", red=True, bold=True)
