"""Load a site file: YAML with line numbers, schema validation, semantic validation.

Every problem is reported as ``file:line path: message`` (``site.yaml:12 firewall.allow[2].to: unknown
segment 'homee'``).  YAML is composed into nodes first so each value keeps the line it was written on;
pydantic's error locations and the semantic validator's paths are then mapped back to those lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .locations import Loc, format_loc
from .schema import SCHEMA_VERSION, Site
from .validate import validate_site


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a site file."""

    file: str
    line: int | None
    loc: Loc
    message: str

    @property
    def path(self) -> str:
        return format_loc(self.loc)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.message}" if self.loc else f"{where}: {self.message}"


class SiteError(Exception):
    """A site file that cannot be used; ``problems`` lists every finding, each with file, line and field."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class _Lines:
    """Maps a data path to the line it was written on (1-based)."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}

    def line_of(self, loc: Loc) -> int | None:
        # Fall back to the nearest parent: a missing field is reported on its parent mapping.
        for end in range(len(loc), -1, -1):
            if (found := self.lines.get(loc[:end])) is not None:
                return found
        return None


def _construct(node: yaml.Node, loc: Loc, lines: _Lines, problems: list[tuple[Loc, str]]) -> Any:
    lines.lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_scalar(_LOADER, key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                problems.append((loc, f"mapping keys must be plain strings (line {key_node.start_mark.line + 1})"))
                continue
            if key in out:
                lines.lines[(*loc, key)] = key_node.start_mark.line + 1
                problems.append(((*loc, key), "duplicate key"))
                continue
            out[key] = _construct(value_node, (*loc, key), lines, problems)
            # Report a key's problems on the key's own line, not on its value's first line.
            lines.lines[(*loc, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*loc, i), lines, problems) for i, item in enumerate(node.value)]
    return _LOADER.construct_object(node, deep=True)


# A single SafeLoader instance only for its scalar constructors (no stream is read through it).
_LOADER = yaml.SafeLoader("")


def _pydantic_loc(raw: object, loc: Sequence[str | int]) -> Loc:
    """Keep only the parts of a pydantic error location that are real keys or indices of the data.

    pydantic inserts union-member and validator tags (``function-after[...]``, ``int``) into ``loc``;
    they are not places in the file.
    """
    out: list[str | int] = []
    cur: object = raw
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            step: object = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            step = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and part.replace("_", "").replace("-", "").isalnum():
            step = None  # a missing required key: name it, it is the field the user has to add
        else:
            continue  # a pydantic tag, not a place in the file
        out.append(part)
        cur = step
    return tuple(out)


def _message(err: dict[str, Any]) -> str:
    msg = str(err["msg"])
    kind = err.get("type")
    if kind == "extra_forbidden":
        return "unknown key (not in the site schema; see `zengarden site schema`)"
    if kind == "missing":
        return "required field is missing"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if kind in ("literal_error", "enum"):
        msg += f" (got {err.get('input')!r})"
    return msg


def parse_site(text: str, source: str = "<site>", base_dir: Path | None = None) -> Site:
    """Parse and validate site-file text; raise :class:`SiteError` listing every problem found."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.reader.ReaderError as exc:
        # A character YAML refuses (a NUL byte, a control character) has no mark, only a position.
        at_line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        detail = f"unacceptable character #x{char:04x} at column {column} ({exc.reason}); remove it"
        raise SiteError([Problem(source, at_line, (), f"not valid YAML: {detail}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        detail = getattr(exc, "problem", None) or str(exc)
        raise SiteError([Problem(source, line, (), f"not valid YAML: {detail}")]) from None
    if root is None:
        raise SiteError([Problem(source, None, (), "the file is empty")])
    lines = _Lines()
    structural: list[tuple[Loc, str]] = []
    raw = _construct(root, (), lines, structural)
    if structural:
        raise SiteError([Problem(source, lines.line_of(loc), loc, msg) for loc, msg in structural])
    if not isinstance(raw, dict):
        raise SiteError([Problem(source, lines.line_of(()), (), "a site file is a YAML mapping")])
    version = raw.get("version")
    if version is not None and (isinstance(version, bool) or version != SCHEMA_VERSION):
        raise SiteError(
            [
                Problem(
                    source,
                    lines.line_of(("version",)),
                    ("version",),
                    f"this plugin reads site schema version {SCHEMA_VERSION}, the file says {version!r}",
                )
            ]
        )
    try:
        site = Site.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = _pydantic_loc(raw, err["loc"])
            problems.append(Problem(source, lines.line_of(loc), loc, _message(dict(err))))
        raise SiteError(problems) from None
    semantic = validate_site(site)
    if semantic:
        raise SiteError([Problem(source, lines.line_of(loc), loc, msg) for loc, msg in semantic])
    if base_dir is not None:
        site = _resolve_paths(site, base_dir)
    return site


def _resolve_paths(site: Site, base_dir: Path) -> Site:
    """Inventory paths are relative to the site file; ``~`` is the user's home."""

    def fix(p: Path) -> Path:
        p = p.expanduser()
        return p if p.is_absolute() else (base_dir / p)

    inv = site.inventory
    updates: dict[str, Any] = {}
    if inv.router is not None:
        router: dict[str, Any] = {}
        if inv.router.password.file is not None:
            router["password"] = inv.router.password.model_copy(update={"file": fix(inv.router.password.file)})
        if inv.router.ca_file is not None:
            router["ca_file"] = fix(inv.router.ca_file)
        if router:
            updates["router"] = inv.router.model_copy(update=router)
    if inv.blades is not None:
        known = fix(inv.blades.known_hosts) if inv.blades.known_hosts else None
        updates["blades"] = inv.blades.model_copy(update={"key_file": fix(inv.blades.key_file), "known_hosts": known})
    if inv.cluster is not None:
        updates["cluster"] = inv.cluster.model_copy(update={"kubeconfig": fix(inv.cluster.kubeconfig)})
    if inv.etcd is not None:
        e = inv.etcd
        updates["etcd"] = e.model_copy(
            update={"ca_file": fix(e.ca_file), "cert_file": fix(e.cert_file), "key_file": fix(e.key_file)}
        )
    if inv.probes:
        updates["probes"] = {
            seg: v.model_copy(update={"key_file": fix(v.key_file)}) if v.key_file is not None else v
            for seg, v in inv.probes.items()
        }
    return site.model_copy(update={"inventory": inv.model_copy(update=updates)}) if updates else site


def load_site(path: str | Path) -> Site:
    """Read and validate a site file; errors name the file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SiteError([Problem(str(path), None, (), "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteError([Problem(str(path), None, (), f"cannot read: {exc}")]) from None
    return parse_site(text, source=str(path), base_dir=path.resolve().parent)
