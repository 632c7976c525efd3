"""The plugin's own tests under the test command: a skip is a failure, so CI can never go green by skipping.

Every test that needs the lab or the kernel (tests/lab/, the nftables tests in test_nft_compile.py) skips
when run by hand without root or binaries; under the test command none may.

``./scripts/test`` (which CI runs) sets ``ZG_REQUIRE_LAB=1``.  A lab test that then skips — not root,
iproute2/nftables or the control-plane binaries missing, another lab in the way — fails with the
reason.  Run by hand without the variable, such tests still skip, saying why.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

REQUIRE_LAB = "ZG_REQUIRE_LAB"

# Network safety by construction: under the plugin's own tests a live target may reach loopback only (the
# lab target has its own guard: inside the lab's namespaces).  Inherited by every pytest the tests start.
os.environ["ZG_ONLY_LOOPBACK"] = "1"


def _required() -> bool:
    return os.environ.get(REQUIRE_LAB, "") not in ("", "0")


def _reason(longrepr: Any) -> str:
    # A skip's longrepr is (file, line, "Skipped: reason").
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _as_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _reason(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"lab test skipped under {REQUIRE_LAB}=1 (the test command must run every lab test): {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if _required() and report.skipped and not hasattr(report, "wasxfail"):
        _as_failure(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report = yield
    if _required() and report.skipped:  # a module-level skip (pytest.skip(allow_module_level=True), importorskip)
        _as_failure(report)
    return report
