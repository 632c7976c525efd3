"""What the etcd checks read, whatever it is read from (data only).

:class:`EtcdSurvey` is one look at an etcd cluster through its client endpoints: the member list, each
endpoint's status and health (or why it did not answer) and the cluster's alarms.  An endpoint that does
not answer is recorded with its cause, never raised: the checks count members that answer.

:class:`SnapshotDir` and :class:`SnapshotDigest` describe a server's etcd snapshots as read on the host
(k3s keeps them in ``etcd-snapshot-dir``): the files, and of one file its size, its first pages (bbolt's
meta pages) and the sha256 of everything before its 32-byte trailer (etcd appends the sha256 of the
database to the snapshot stream; ``etcdctl snapshot save`` and k3s keep it in the file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Where a k3s server keeps the configuration it starts its embedded etcd with, and its snapshots.
ETCD_CONFIG = "/var/lib/rancher/k3s/server/db/etcd/config"
SNAPSHOT_DIR = "/var/lib/rancher/k3s/server/db/snapshots"


@dataclass(frozen=True)
class EndpointReport:
    """One client endpoint: its ``/v3/maintenance/status`` and ``/health`` replies, or why it did not answer."""

    endpoint: str  # https://ADDRESS:PORT
    status: dict[str, Any] | None = None
    health: dict[str, Any] | None = None
    error: str = ""  # set when the endpoint did not answer the status request
    health_error: str = ""  # set when it answered the status but not the health request

    @property
    def answered(self) -> bool:
        return self.status is not None


@dataclass(frozen=True)
class EtcdSurvey:
    """One look at the cluster: member list (from the first endpoint that answers), every endpoint, alarms."""

    endpoints: list[EndpointReport]
    members: list[dict[str, Any]] | None = None
    members_error: str = ""
    alarms: list[dict[str, Any]] | None = None
    alarms_error: str = ""


@dataclass(frozen=True)
class SnapshotFile:
    """A file in the snapshot directory: name, size in bytes, modification time (unix seconds)."""

    name: str
    size: int
    mtime: float


@dataclass(frozen=True)
class SnapshotDir:
    """The snapshot directory of a server as listed on it, with the host's clock at the time of listing."""

    path: str
    now: float  # the host's own clock (unix seconds): ages are judged on it, not on the checker's
    files: list[SnapshotFile] = field(default_factory=list)


@dataclass(frozen=True)
class SnapshotDigest:
    """What integrity needs of one snapshot file, computed on the host (the file itself is not copied)."""

    path: str
    size: int
    head: bytes  # the first pages (bbolt's two meta pages)
    body_sha256: str  # hex sha256 of the file without its last 32 bytes
    trailer: bytes  # the last 32 bytes


# k3s names its snapshots etcd-snapshot-<node>-<unix time> (scheduled) and on-demand-<node>-<unix time>.
SNAPSHOT_NAME = re.compile(r"^(?P<kind>etcd-snapshot|on-demand)-(?P<node>.+)-(?P<ts>\d{9,})(?P<zip>\.zip)?$")


def is_member_of(name: str, blade: str) -> bool:
    """Whether etcd member ``name`` is blade ``blade``'s: the bare name or k3s's ``<node>-<8 hex>``."""
    return name == blade or re.fullmatch(re.escape(blade) + r"-[0-9a-f]{8}", name) is not None


def snapshot_time(f: SnapshotFile) -> float:
    """When the snapshot was taken: the unix time in its name (k3s's), else the file's modification time."""
    m = SNAPSHOT_NAME.match(f.name)
    return float(m["ts"]) if m else f.mtime


def newest_snapshot(listing: SnapshotDir | None, blade: str) -> SnapshotFile | None:
    """The newest of ``blade``'s snapshots in the listing (``etcd-snapshot-*`` and ``on-demand-*``)."""
    mine = [
        f
        for f in (listing.files if listing else [])
        if (m := SNAPSHOT_NAME.match(f.name)) is not None and is_member_of(m["node"], blade)
    ]
    return max(mine, key=snapshot_time, default=None)
