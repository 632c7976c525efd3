"""Recorded cluster state: a directory of Kubernetes manifests (multi-document YAML)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import TargetError
from ..facts.cluster import KubeObject


class ManifestCluster:
    """Cluster objects read from ``*.yaml``/``*.yml`` files under a directory (``List`` kinds unpacked)."""

    def __init__(self, root: Path):
        self.root = root
        self.endpoint = f"cluster (recorded at {root})"
        if not root.is_dir():
            raise TargetError(self.endpoint, "no such directory")
        self._objects = self._load()

    def _load(self) -> list[KubeObject]:
        out: list[KubeObject] = []
        for path in sorted([*self.root.rglob("*.yaml"), *self.root.rglob("*.yml")]):
            try:
                docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
                raise TargetError(self.endpoint, f"{where}: not valid YAML") from None
            for i, doc in enumerate(docs):
                if doc is None:
                    continue
                where = f"{path} document {i + 1}"
                if not _is_object(doc):
                    raise TargetError(self.endpoint, f"{where}: not a Kubernetes object (no kind)")
                if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
                    for j, item in enumerate(doc["items"]):
                        if not _is_object(item):
                            raise TargetError(self.endpoint, f"{where} item {j + 1}: not a Kubernetes object (no kind)")
                    out.extend(doc["items"])
                else:
                    out.append(doc)
        return out

    def list(self, kind: str) -> list[KubeObject]:
        return [o for o in self._objects if o.get("kind") == kind]


def _is_object(doc: object) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("kind"), str)
