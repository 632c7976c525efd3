"""The assertion helper the checks use: findings in, a pass or a failure listing every deviation out."""

from __future__ import annotations

import pytest

from ..errors import ZengardenError
from .findings import Finding, failed, report


class NothingJudged(ZengardenError):
    """A check produced no findings: it judged nothing, so it errors (the plugin reports it so), never passes."""


class Conformance:
    """Asserts findings: deviations fail the check and are recorded (control, subject) in its report."""

    def __init__(self, node: pytest.Item):
        self.node = node

    def check(self, findings: Finding | list[Finding]) -> None:
        items = [findings] if isinstance(findings, Finding) else list(findings)
        if not items:
            raise NothingJudged(f"{self.node.nodeid}: the check produced no findings (nothing was judged)")
        props = self.node.user_properties
        for f in items:
            # A check whose control comes from what it judged (not a marker) still reports it.
            if ("control", f.control) not in props:
                props.extend([("control", f.control), ("section", f.section)])
        bad = failed(items)
        for f in bad:
            self.node.user_properties.append(("deviation", str(f)))
        if bad:
            pytest.fail("deviation from the design:\n" + report(bad), pytrace=False)
