"""Kubernetes objects from YAML files or directories, each with the file and line it starts at.

Multi-document files are read document by document; ``*List`` kinds (``kubectl get -o yaml``) are
expanded into their items.  A directory is read recursively (``*.yaml``, ``*.yml``, sorted).  Anything
that is not readable YAML or not a Kubernetes object raises :class:`ManifestError` naming ``file[:line]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..facts.cluster import KubeObject

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestError(ValueError):
    """A path that cannot be read as Kubernetes manifests (the message names ``file[:line]``)."""


def manifest_files(paths: Sequence[Path]) -> list[Path]:
    """The files ``paths`` name: files as given, directories expanded to their YAML files (sorted)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif path.exists():
            out.append(path)
        else:
            raise ManifestError(f"{path}: no such file or directory")
    return out


def _documents(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """(line, data) of every document in ``text`` (the line its content starts at, from 1)."""
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            yield node.start_mark.line + 1, loader.construct_document(node)
    finally:
        loader.dispose()


def read_objects(paths: Sequence[Path]) -> list[tuple[str, KubeObject]]:
    """(``file:line``, object) for every Kubernetes object in ``paths``, in file order."""
    out: list[tuple[str, KubeObject]] = []
    for path in manifest_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
        line = 1
        try:
            for line, doc in _documents(path, text):
                if doc is None:
                    continue
                where = f"{path}:{line}"
                if not _is_object(doc):
                    raise ManifestError(f"{where}: not a Kubernetes object (no kind)")
                if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
                    for j, item in enumerate(doc["items"]):
                        if not _is_object(item):
                            raise ManifestError(f"{where}: item {j + 1} is not a Kubernetes object (no kind)")
                        out.append((where, item))
                else:
                    out.append((where, doc))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            at = mark.line + 1 if mark is not None else line
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ManifestError(f"{path}:{at}: not valid YAML: {problem}") from None
    return out


def _is_object(doc: object) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("kind"), str)
