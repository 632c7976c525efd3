"""Errors a check can meet when it talks to a target.

A check that cannot reach its target must *error*, never pass: fixtures raise :class:`TargetError`
(naming the host and the cause), and pytest reports the test as an error, also when the error is
raised in the check's body or a Gherkin step.  What a target cannot serve at all (an offline recording
has no etcd) errors the same way: nothing to judge is never a pass, nor a skip.
"""

from __future__ import annotations


class ZengardenError(Exception):
    """Base of the plugin's own errors."""


class TargetError(ZengardenError):
    """A target could not be reached or answered wrongly; the message names the host and the cause."""

    def __init__(self, target: str, cause: str):
        self.target = target
        self.cause = cause
        super().__init__(f"{target}: {cause}")


class TargetUnavailable(ZengardenError):
    """This target cannot provide what the check needs (e.g. live state from a recording)."""


class ReadOnlyTarget(ZengardenError):
    """A write was attempted on a target that cannot be changed (an offline recording)."""


class CredentialError(ZengardenError):
    """A credential named by the inventory could not be read; the message names the source, never the value."""


class UnsafeTarget(ZengardenError):
    """A probe would leave the lab: refused by the network safety rule."""


class UsageProblem(ZengardenError):
    """A bad option value; pytest reports it as a usage error before running anything."""


class NotInEffect(ZengardenError, ValueError):
    """What a host runs with cannot be told (no start line in its journal, or a file changed since the start)."""
