"""A finding: one judged fact about the site, with the control it verifies."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..site.schema import Traced


@dataclass(frozen=True)
class Finding:
    """``ok`` says whether ``subject`` conforms to the design statement ``control``."""

    control: str
    section: str
    subject: str
    ok: bool
    message: str

    def __str__(self) -> str:
        return f"[{self.control}] {self.subject}: {self.message}"


def finding(statement: Traced, subject: str, ok: bool, message: str) -> Finding:
    """A finding about ``subject`` against the site statement ``statement``."""
    return Finding(statement.control, statement.section, subject, ok, message)


def failed(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that do not conform."""
    return [f for f in findings if not f.ok]


def report(findings: Iterable[Finding]) -> str:
    """Deviations as lines for an assertion message (``[CONTROL] subject: message``)."""
    return "\n".join(str(f) for f in findings)
