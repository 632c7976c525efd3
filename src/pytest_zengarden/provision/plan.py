"""What a provisioning run would change: an ordered list of changes, each naming its control."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ZengardenError

OPS = {"+": "create", "~": "change", "-": "remove", ">": "move"}


class ProvisionError(ZengardenError):
    """A provisioning step failed; the message names the target, the entry and the cause."""


@dataclass(frozen=True)
class Change:
    """One line of a plan: ``router  + /ip/firewall/filter forward #6 accept home->cluster tcp/80,443   [FW-HOME-WEB]``.

    ``action`` is what the applier executes (opaque to everyone else); ``detail`` says what differs.
    """

    target: str
    op: str
    subject: str
    control: str
    detail: str = ""
    action: Any = field(default=None, compare=False, repr=False)

    def line(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.target:<8} {self.op} {self.subject}{detail}   [{self.control}]"


@dataclass
class Plan:
    """The changes for one target, in the order they are applied; ``notes`` are reported, never applied."""

    target: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. unmanaged entries left alone
    reads: int = 0

    def lines(self) -> list[str]:
        return [c.line() for c in self.changes]

    def __len__(self) -> int:
        return len(self.changes)


@dataclass
class Outcome:
    """What a run did on one target: the plan, what was applied, the calls it made."""

    plan: Plan
    applied: list[Change] = field(default_factory=list)
    writes: int = 0
    reads: int = 0
    seconds: float = 0.0
    error: str | None = None
    unreachable: bool = False  # the target could not be read or reached: nothing was judged (an error)

    @property
    def remaining(self) -> list[Change]:
        done = {id(c) for c in self.applied}
        return [c for c in self.plan.changes if id(c) not in done]
