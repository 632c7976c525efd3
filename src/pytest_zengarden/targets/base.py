"""What every target hands out: the parsed ``--zg-target``, the router handle and the :class:`Target` base.

Failures raise :class:`~pytest_zengarden.errors.TargetError`: the check errors, naming host and cause.
So does what a target cannot provide at all (etcd from a recording): nothing to judge is never a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from ..errors import TargetError, UsageProblem
from ..facts.cluster import ClusterReader
from ..facts.host import HostView
from ..facts.router import RouterConfig
from ..probes.prober import Prober


@dataclass(frozen=True)
class TargetSpec:
    """A parsed ``--zg-target`` value."""

    kind: Literal["lab", "live", "offline"]
    path: Path | None = None

    @classmethod
    def parse(cls, text: str) -> TargetSpec:
        text = text.strip()
        if text in ("lab", "live"):
            return cls(text)  # type: ignore[arg-type]
        if text.startswith("offline="):
            path = Path(text.split("=", 1)[1]).expanduser()
            if not text.split("=", 1)[1]:
                raise UsageProblem("--zg-target offline=DIR needs a directory")
            if not path.is_dir():
                raise UsageProblem(f"--zg-target {text}: {path} is not a directory")
            return cls("offline", path)
        raise UsageProblem(f"--zg-target: expected lab, live or offline=DIR, got {text!r}")

    def __str__(self) -> str:
        return f"offline={self.path}" if self.kind == "offline" else self.kind


@dataclass
class RouterHandle:
    """The router as the checks see it: a configuration snapshot, and a client where it can be changed."""

    endpoint: str
    _read: Callable[[], RouterConfig]
    client: Any = None  # a RouterClient on live/lab targets, None offline
    _config: RouterConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> RouterConfig:
        """The configuration, read once per session (re-read with :meth:`refresh`)."""
        if self._config is None:
            self._config = self._read()
        return self._config

    def refresh(self) -> RouterConfig:
        self._config = None
        return self.config


class Target:
    """Base: a named source of router, cluster, blade, etcd and HTTP access."""

    name = "target"

    def router(self) -> RouterHandle:
        raise TargetError(self.name, "this target has no router access")

    def cluster(self) -> ClusterReader:
        raise TargetError(self.name, "this target has no cluster access")

    def blade(self, name: str) -> HostView:
        raise TargetError(self.name, "this target has no blade access")

    def etcd(self) -> Any:
        raise TargetError(self.name, "this target has no etcd access")

    def http(self) -> httpx.Client:
        raise TargetError(self.name, "this target has no HTTP access")

    def prober(self) -> Prober:
        """Runs connection probes from a vantage point in each segment (active firewall checks)."""
        raise TargetError(self.name, "this target cannot send probes")

    @property
    def live(self) -> bool:
        """Whether checks talk to running systems (drills and probes need this)."""
        return False

    def close(self) -> None:
        """Close whatever the target opened."""
