"""A port of minimatch 9.0.5 (default options) with brace-expansion 2.0.2, for the restrictive proxy.

The restrictive proxy (facts §2.3/§2.4) decides with ``new Minimatch(pattern).match(urlPath)``.  This
module reproduces that decision, following the JavaScript sources step by step:

* the pattern: a leading ``#`` is a comment (matches nothing), the empty pattern matches only ``""``,
  leading ``!`` characters negate; braces are expanded (``{a,b}``, ``{1..3}``, ``{a..e..2}``, nested),
  each expansion is split on runs of ``/`` and ``..`` after a plain segment is resolved away;
* each segment: ``**`` alone is a globstar, a segment without magic is compared literally (after
  unescaping), anything else becomes a regular expression built exactly as minimatch's ``AST`` builds
  it: ``*`` (``[^/]*?``), ``?``, ``[...]`` classes (ranges, ``!``/``^`` negation, POSIX classes),
  backslash escapes and the extglobs ``@(...)``, ``!(...)``, ``?(...)``, ``*(...)``, ``+(...)``; the
  fast tests minimatch substitutes for ``*``, ``*.ext``, ``???``, ``*.*`` and ``.*`` are used as is;
* the path: split on runs of ``/`` (so ``//a`` and ``/a`` match alike, and one trailing empty segment is
  tolerated), then matched segment by segment; ``*``, ``?``, classes and ``**`` never match a segment
  starting with ``.`` (no ``dot`` option), and ``**`` never swallows ``.`` or ``..``.

JavaScript strings are UTF-16: paths and patterns are handled as UTF-16 code units (astral characters
become surrogate pairs), as minimatch sees them, and a regular expression minimatch compiles with the
``u`` flag (POSIX classes) is matched on code points.  The JavaScript regular expressions are
translated to Python's ``re`` syntax (``$`` is end of input, ``.`` excludes line terminators).

Deliberate differences, all for inputs the JavaScript original cannot handle either: a brace sequence
with step 0 (an endless loop in JavaScript) and expansions beyond :data:`MAX_EXPANSIONS` raise
:class:`MinimatchError`, as does a pattern whose regular expression JavaScript would reject.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Final

__all__ = ["MAX_EXPANSIONS", "MAX_PATTERN_LENGTH", "Minimatch", "MinimatchError", "brace_expand", "minimatch"]

MAX_PATTERN_LENGTH: Final = 1024 * 64
"""minimatch's ``assertValidPattern`` limit, in UTF-16 code units."""

MAX_EXPANSIONS: Final = 100_000
"""Brace expansions beyond this many raise :class:`MinimatchError` (brace-expansion 2.0.2 has no limit)."""


class MinimatchError(ValueError):
    """The pattern is not a valid minimatch pattern (or one this port refuses: see the module doc)."""


# --------------------------------------------------------------------------- UTF-16 code units


def _to_units(s: str) -> str:
    """``s`` as JavaScript sees it: astral characters split into surrogate pairs."""
    if not s or max(s) < "\U00010000":
        return s
    out: list[str] = []
    for ch in s:
        o = ord(ch)
        if o >= 0x10000:
            o -= 0x10000
            out.append(chr(0xD800 + (o >> 10)))
            out.append(chr(0xDC00 + (o & 0x3FF)))
        else:
            out.append(ch)
    return "".join(out)


def _from_units(s: str) -> str:
    """Join surrogate pairs back into code points (lone surrogates stay), as a ``u``-flag regex reads."""
    if not any("\ud800" <= ch <= "\udbff" for ch in s):
        return s
    out: list[str] = []
    i = 0
    while i < len(s):
        ch = s[i]
        if "\ud800" <= ch <= "\udbff" and i + 1 < len(s) and "\udc00" <= s[i + 1] <= "\udfff":
            out.append(chr(0x10000 + ((ord(ch) - 0xD800) << 10) + (ord(s[i + 1]) - 0xDC00)))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# --------------------------------------------------------------------------- brace-expansion 2.0.2

_ESC_SLASH: Final = "\0SLASH\ue000\0"
_ESC_OPEN: Final = "\0OPEN\ue000\0"
_ESC_CLOSE: Final = "\0CLOSE\ue000\0"
_ESC_COMMA: Final = "\0COMMA\ue000\0"
_ESC_PERIOD: Final = "\0PERIOD\ue000\0"

_NUMERIC_SEQ: Final = re.compile(r"-?[0-9]+\.\.-?[0-9]+(?:\.\.-?[0-9]+)?")
_ALPHA_SEQ: Final = re.compile(r"[a-zA-Z]\.\.[a-zA-Z](?:\.\.-?[0-9]+)?")
_COMMA_SET_FOLLOWS: Final = re.compile(",(?!,)[^\n\r\u2028\u2029]*\\}")
_PADDED: Final = re.compile(r"-?0[0-9]")
_INT: Final = re.compile(r"-?[0-9]+")


def _balanced(s: str) -> tuple[str, str, str] | None:
    """balanced-match 1.0.2 for ``{``/``}``: (pre, body, post) of the first balanced pair, or None."""
    ai = s.find("{")
    bi = s.find("}", ai + 1)
    i = ai
    result: tuple[int, int] | None = None
    if ai >= 0 and bi > 0:
        begs: list[int] = []
        left = len(s)
        right = -1
        while i >= 0 and result is None:
            if i == ai:
                begs.append(i)
                ai = s.find("{", i + 1)
            elif len(begs) == 1:
                result = (begs.pop(), bi)
            else:
                beg = begs.pop()
                if beg < left:
                    left = beg
                    right = bi
                bi = s.find("}", i + 1)
            i = ai if 0 <= ai < bi else bi
        if begs:
            result = (left, right)
    if result is None:
        return None
    start, end = result
    return s[:start], s[start + 1 : end], s[end + 1 :]


def _escape_braces(s: str) -> str:
    return (
        s.replace("\\\\", _ESC_SLASH)
        .replace("\\{", _ESC_OPEN)
        .replace("\\}", _ESC_CLOSE)
        .replace("\\,", _ESC_COMMA)
        .replace("\\.", _ESC_PERIOD)
    )


def _unescape_braces(s: str) -> str:
    return (
        s.replace(_ESC_SLASH, "\\")
        .replace(_ESC_OPEN, "{")
        .replace(_ESC_CLOSE, "}")
        .replace(_ESC_COMMA, ",")
        .replace(_ESC_PERIOD, ".")
    )


def _numeric(s: str) -> int:
    # JS: parseInt(str, 10) == str ? parseInt(str, 10) : str.charCodeAt(0)
    return int(s) if _INT.fullmatch(s) else ord(s[0])


def _parse_comma_parts(s: str) -> list[str]:
    if not s:
        return [""]
    m = _balanced(s)
    if m is None:
        return s.split(",")
    pre, body, post = m
    p = pre.split(",")
    p[-1] += "{" + body + "}"
    post_parts = _parse_comma_parts(post)
    if post:
        p[-1] += post_parts.pop(0)
        p.extend(post_parts)
    return p


def _check_count(n: int) -> None:
    if n > MAX_EXPANSIONS:
        raise MinimatchError(f"brace expansion yields more than {MAX_EXPANSIONS} patterns")


def _expand(s: str, is_top: bool) -> list[str]:
    m = _balanced(s)
    if m is None:
        return [s]
    pre, body, post_s = m
    post = _expand(post_s, False) if post_s else [""]
    expansions: list[str] = []
    if pre.endswith("$"):
        return [pre + "{" + body + "}" + p for p in post]
    is_alpha = _ALPHA_SEQ.fullmatch(body) is not None
    is_seq = is_alpha or _NUMERIC_SEQ.fullmatch(body) is not None
    if not is_seq and "," not in body:
        if _COMMA_SET_FOLLOWS.search(post_s):  # {a},b}
            return _expand(pre + "{" + body + _ESC_CLOSE + post_s, False)
        return [s]
    values: list[str]
    if is_seq:
        n = body.split("..")
        x, y = _numeric(n[0]), _numeric(n[1])
        width = max(len(n[0]), len(n[1]))
        incr = abs(_numeric(n[2])) if len(n) == 3 else 1
        if incr == 0:
            raise MinimatchError(f"brace sequence {{{body}}} has step 0")
        reverse = y < x
        if reverse:
            incr = -incr
        _check_count(abs(y - x) // abs(incr) + 1)
        pad = any(_PADDED.match(el) for el in n)
        values = []
        i = x
        while (i >= y) if reverse else (i <= y):
            if is_alpha:
                c = chr(i)
                if c == "\\":
                    c = ""
            else:
                c = str(i)
                if pad:
                    need = width - len(c)
                    if need > 0:
                        c = "-" + "0" * need + c[1:] if i < 0 else "0" * need + c
            values.append(c)
            i += incr
    else:
        parts = _parse_comma_parts(body)
        if len(parts) == 1:
            # x{{a,b}}y ==> x{a}y x{b}y
            parts = ["{" + e + "}" for e in _expand(parts[0], False)]
            if len(parts) == 1:
                return [pre + parts[0] + p for p in post]
        values = []
        for part in parts:
            values.extend(_expand(part, False))
            _check_count(len(values))
    _check_count(len(values) * len(post))
    for v in values:
        for p in post:
            expansion = pre + v + p
            if not is_top or is_seq or expansion:
                expansions.append(expansion)
    return expansions


def brace_expand(pattern: str) -> list[str]:
    """brace-expansion 2.0.2 as minimatch calls it (``braceExpand``): the list of expanded patterns."""
    units = _to_units(pattern)
    if not re.search("\\{(?:(?!\\{)[^\n\r\u2028\u2029])*\\}", units):
        return [units]
    if not units:
        return []
    if units.startswith("{}"):
        units = "\\{\\}" + units[2:]
    return [_unescape_braces(e) for e in _expand(_escape_braces(units), True)]


# --------------------------------------------------------------------------- segment → JS regex source

_EXT_TYPES: Final = frozenset("!?+*@")
_START_NO_TRAVERSAL: Final = "(?!(?:^|/)\\.\\.?(?:$|/))"
_START_NO_DOT: Final = "(?!\\.)"
_ADD_PATTERN_START: Final = frozenset("[.")
_JUST_DOTS: Final = frozenset({"..", "."})
_RE_SPECIALS: Final = frozenset("().*{}+?[]^$\\!")
_QMARK: Final = "[^/]"
_STAR: Final = _QMARK + "*?"
_STAR_NO_EMPTY: Final = _QMARK + "+?"
# JavaScript's \s inside /[-[\]{}()*+?.,\\^$|#\s]/
_JS_SPACE: Final = frozenset("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
_REGEXP_ESCAPED: Final = frozenset("-[]{}()*+?.,\\^$|#") | _JS_SPACE
_UNESCAPE_BRACKET: Final = re.compile("((?!\\\\)[^\n\r\u2028\u2029]|^)\\[([^/\\\\])\\]")
_UNESCAPE_BACKSLASH: Final = re.compile(r"\\([^/])")


def _regexp_escape(s: str) -> str:
    return "".join("\\" + c if c in _REGEXP_ESCAPED else c for c in s)


def _unescape(s: str) -> str:
    return _UNESCAPE_BACKSLASH.sub(r"\1", _UNESCAPE_BRACKET.sub(r"\1\2", s))


def _brace_escape(s: str) -> str:
    return "".join("\\" + c if c in "[]\\-" else c for c in s)


# POSIX class → (JS class body, needs the u flag, negated)
_POSIX_CLASSES: Final[dict[str, tuple[str, bool, bool]]] = {
    "[:alnum:]": ("\\p{L}\\p{Nl}\\p{Nd}", True, False),
    "[:alpha:]": ("\\p{L}\\p{Nl}", True, False),
    "[:ascii:]": ("\\x00-\\x7f", False, False),
    "[:blank:]": ("\\p{Zs}\\t", True, False),
    "[:cntrl:]": ("\\p{Cc}", True, False),
    "[:digit:]": ("\\p{Nd}", True, False),
    "[:graph:]": ("\\p{Z}\\p{C}", True, True),
    "[:lower:]": ("\\p{Ll}", True, False),
    "[:print:]": ("\\p{C}", True, False),
    "[:punct:]": ("\\p{P}", True, False),
    "[:space:]": ("\\p{Z}\\t\\r\\n\\v\\f", True, False),
    "[:upper:]": ("\\p{Lu}", True, False),
    "[:word:]": ("\\p{L}\\p{Nl}\\p{Nd}\\p{Pc}", True, False),
    "[:xdigit:]": ("A-Fa-f0-9", False, False),
}
_SINGLE_RANGE: Final = re.compile("\\\\?[^\n\r\u2028\u2029]")


def _parse_class(glob: str, pos: int) -> tuple[str, bool, int, bool]:
    """minimatch's ``parseClass``: (regex source, needs u flag, characters consumed, has magic)."""
    ranges: list[str] = []
    negs: list[str] = []
    i = pos + 1
    saw_start = False
    uflag = False
    escaping = False
    negate = False
    end_pos = pos
    range_start = ""
    while i < len(glob):
        c = glob[i]
        if c in "!^" and i == pos + 1:
            negate = True
            i += 1
            continue
        if c == "]" and saw_start and not escaping:
            end_pos = i + 1
            break
        saw_start = True
        if c == "\\" and not escaping:
            escaping = True
            i += 1
            continue
        if c == "[" and not escaping:
            posix = next((item for item in _POSIX_CLASSES.items() if glob.startswith(item[0], i)), None)
            if posix is not None:
                cls, (unip, u, neg) = posix
                if range_start:
                    return "$.", False, len(glob) - pos, True
                i += len(cls)
                (negs if neg else ranges).append(unip)
                uflag = uflag or u
                continue
        escaping = False
        if range_start:
            if c > range_start:
                ranges.append(_brace_escape(range_start) + "-" + _brace_escape(c))
            elif c == range_start:
                ranges.append(_brace_escape(c))
            range_start = ""
            i += 1
            continue
        if glob.startswith("-]", i + 1):
            ranges.append(_brace_escape(c + "-"))
            i += 2
            continue
        if glob.startswith("-", i + 1):
            range_start = c
            i += 2
            continue
        ranges.append(_brace_escape(c))
        i += 1
    if end_pos < i:
        return "", False, 0, False
    if not ranges and not negs:
        return "$.", False, len(glob) - pos, True
    if not negs and len(ranges) == 1 and _SINGLE_RANGE.fullmatch(ranges[0]) and not negate:
        r = ranges[0][-1] if len(ranges[0]) == 2 else ranges[0]
        return _regexp_escape(r), False, end_pos - pos, False
    sranges = "[" + ("^" if negate else "") + "".join(ranges) + "]"
    snegs = "[" + ("" if negate else "^") + "".join(negs) + "]"
    comb = "(" + sranges + "|" + snegs + ")" if ranges and negs else sranges if ranges else snegs
    return comb, uflag, end_pos - pos, True


class _AST:
    """minimatch's ``AST`` (one path segment, possibly with extglobs), producing a JS regex source."""

    def __init__(self, type_: str | None, parent: _AST | None) -> None:
        self.type = type_
        self.has_magic: bool | None = True if type_ else None
        self.parent = parent
        self.root: _AST = parent.root if parent is not None else self
        self.parts: list[str | _AST] = []
        self.negs: list[_AST] = [] if self.root is self else self.root.negs
        self.filled_negs = False
        self.uflag = False
        self.string: str | None = None
        self.empty_ext = False
        if type_ == "!" and not self.root.filled_negs:
            self.negs.append(self)
        self.parent_index = len(parent.parts) if parent is not None else 0

    def __str__(self) -> str:
        if self.string is None:
            if not self.type:
                self.string = "".join(str(p) for p in self.parts)
            else:
                self.string = self.type + "(" + "|".join(str(p) for p in self.parts) + ")"
        return self.string

    def _fill_negs(self) -> None:
        if self.filled_negs:
            return
        str(self)
        self.filled_negs = True
        while self.negs:
            n = self.negs.pop()
            if n.type != "!":
                continue
            p = n
            pp = p.parent
            while pp is not None:
                i = p.parent_index + 1
                while not pp.type and i < len(pp.parts):
                    for part in n.parts:
                        if isinstance(part, str):  # pragma: no cover - minimatch throws too
                            raise MinimatchError("string part in extglob AST")
                        part.copy_in(pp.parts[i])
                    i += 1
                p = pp
                pp = p.parent

    def push(self, *parts: str | _AST) -> None:
        for p in parts:
            if isinstance(p, str) and p == "":
                continue
            self.parts.append(p)

    def is_start(self) -> bool:
        if self.root is self or self.parent is None:
            return True
        if not self.parent.is_start():
            return False
        if self.parent_index == 0:
            return True
        for i in range(self.parent_index):
            pp = self.parent.parts[i]
            if not (isinstance(pp, _AST) and pp.type == "!"):
                return False
        return True

    def is_end(self) -> bool:
        if self.root is self or self.parent is None:
            return True
        if self.parent.type == "!":
            return True
        if not self.parent.is_end():
            return False
        if not self.type:
            return self.parent.is_end()
        return self.parent_index == len(self.parent.parts) - 1

    def copy_in(self, part: str | _AST) -> None:
        self.push(part if isinstance(part, str) else part.clone(self))

    def clone(self, parent: _AST) -> _AST:
        c = _AST(self.type, parent)
        for p in self.parts:
            c.copy_in(p)
        return c

    @staticmethod
    def _parse(s: str, ast: _AST, pos: int) -> int:
        escaping = False
        in_brace = False
        brace_start = -1
        brace_neg = False
        if ast.type is None:
            i = pos
            acc = ""
            while i < len(s):
                c = s[i]
                i += 1
                if escaping or c == "\\":
                    escaping = not escaping
                    acc += c
                    continue
                if in_brace:
                    if i == brace_start + 1:
                        if c in "^!":
                            brace_neg = True
                    elif c == "]" and not (i == brace_start + 2 and brace_neg):
                        in_brace = False
                    acc += c
                    continue
                if c == "[":
                    in_brace = True
                    brace_start = i
                    brace_neg = False
                    acc += c
                    continue
                if c in _EXT_TYPES and s[i : i + 1] == "(":
                    ast.push(acc)
                    acc = ""
                    ext = _AST(c, ast)
                    i = _AST._parse(s, ext, i)
                    ast.push(ext)
                    continue
                acc += c
            ast.push(acc)
            return i

        i = pos + 1
        part = _AST(None, ast)
        parts: list[_AST] = []
        acc = ""
        while i < len(s):
            c = s[i]
            i += 1
            if escaping or c == "\\":
                escaping = not escaping
                acc += c
                continue
            if in_brace:
                if i == brace_start + 1:
                    if c in "^!":
                        brace_neg = True
                elif c == "]" and not (i == brace_start + 2 and brace_neg):
                    in_brace = False
                acc += c
                continue
            if c == "[":
                in_brace = True
                brace_start = i
                brace_neg = False
                acc += c
                continue
            if c in _EXT_TYPES and s[i : i + 1] == "(":
                part.push(acc)
                acc = ""
                ext = _AST(c, part)
                part.push(ext)
                i = _AST._parse(s, ext, i)
                continue
            if c == "|":
                part.push(acc)
                acc = ""
                parts.append(part)
                part = _AST(None, ast)
                continue
            if c == ")":
                if acc == "" and not ast.parts:
                    ast.empty_ext = True
                part.push(acc)
                acc = ""
                ast.push(*parts, part)
                return i
            acc += c
        # unfinished extglob: the whole rest is literal
        ast.type = None
        ast.has_magic = None
        ast.parts = [s[pos - 1 :]]
        return i

    @classmethod
    def from_glob(cls, pattern: str) -> _AST:
        ast = cls(None, None)
        cls._parse(pattern, ast, 0)
        return ast

    def to_regexp_source(self, allow_dot: bool | None = None) -> tuple[str, str, bool, bool]:
        dot = allow_dot if allow_dot is not None else False
        if self.root is self:
            self._fill_negs()
        if not self.type:
            no_empty = self.is_start() and self.is_end()
            srcs: list[str] = []
            for p in self.parts:
                if isinstance(p, str):
                    src_p, _, magic, uflag = _AST._parse_glob(p, self.has_magic, no_empty)
                else:
                    src_p, _, magic, uflag = p.to_regexp_source(allow_dot)
                self.has_magic = self.has_magic or magic
                self.uflag = self.uflag or uflag
                srcs.append(src_p)
            src = "".join(srcs)
            start = ""
            if self.is_start() and self.parts and isinstance(self.parts[0], str):
                dot_trav_allowed = len(self.parts) == 1 and self.parts[0] in _JUST_DOTS
                if not dot_trav_allowed:
                    aps = _ADD_PATTERN_START
                    need_no_trav = (
                        (dot and src[:1] in aps)
                        or (src.startswith("\\.") and src[2:3] in aps)
                        or (src.startswith("\\.\\.") and src[4:5] in aps)
                    )
                    need_no_dot = not dot and not allow_dot and src[:1] in aps
                    start = _START_NO_TRAVERSAL if need_no_trav else _START_NO_DOT if need_no_dot else ""
            end = ""
            if self.is_end() and self.root.filled_negs and self.parent is not None and self.parent.type == "!":
                end = "(?:$|\\/)"
            self.has_magic = bool(self.has_magic)
            return start + src + end, _unescape(src), self.has_magic, self.uflag

        repeated = self.type in ("*", "+")
        start = "(?:(?!(?:" if self.type == "!" else "(?:"
        body = self._parts_to_regexp(dot)
        if self.is_start() and self.is_end() and not body and self.type != "!":
            s = str(self)
            self.parts = [s]
            self.type = None
            self.has_magic = None
            return s, _unescape(str(self)), False, False
        body_dot_allowed = "" if not repeated or allow_dot or dot else self._parts_to_regexp(True)
        if body_dot_allowed == body:
            body_dot_allowed = ""
        if body_dot_allowed:
            body = f"(?:{body})(?:{body_dot_allowed})*?"
        if self.type == "!" and self.empty_ext:
            final = (_START_NO_DOT if self.is_start() and not dot else "") + _STAR_NO_EMPTY
        else:
            if self.type == "!":
                close = "))" + (_START_NO_DOT if self.is_start() and not dot and not allow_dot else "") + _STAR + ")"
            elif self.type == "@":
                close = ")"
            elif self.type == "?":
                close = ")?"
            elif self.type == "+" and body_dot_allowed:
                close = ")"
            elif self.type == "*" and body_dot_allowed:
                close = ")?"
            else:
                close = f"){self.type}"
            final = start + body + close
        self.has_magic = bool(self.has_magic)
        return final, _unescape(body), self.has_magic, self.uflag

    def _parts_to_regexp(self, dot: bool) -> str:
        srcs: list[str] = []
        for p in self.parts:
            if isinstance(p, str):  # pragma: no cover - minimatch throws too
                raise MinimatchError("string type in extglob AST")
            src, _, _, uflag = p.to_regexp_source(dot)
            self.uflag = self.uflag or uflag
            srcs.append(src)
        both = self.is_start() and self.is_end()
        return "|".join(s for s in srcs if not both or s)

    @staticmethod
    def _parse_glob(glob: str, has_magic: bool | None, no_empty: bool) -> tuple[str, str, bool, bool]:
        escaping = False
        src = ""
        uflag = False
        i = 0
        while i < len(glob):
            c = glob[i]
            if escaping:
                escaping = False
                src += ("\\" if c in _RE_SPECIALS else "") + c
                i += 1
                continue
            if c == "\\":
                if i == len(glob) - 1:
                    src += "\\\\"
                else:
                    escaping = True
                i += 1
                continue
            if c == "[":
                cls_src, need_u, consumed, magic = _parse_class(glob, i)
                if consumed:
                    src += cls_src
                    uflag = uflag or need_u
                    i += consumed
                    has_magic = has_magic or magic
                    continue
            if c == "*":
                src += _STAR_NO_EMPTY if no_empty and glob == "*" else _STAR
                has_magic = True
                i += 1
                continue
            if c == "?":
                src += _QMARK
                has_magic = True
                i += 1
                continue
            src += _regexp_escape(c)
            i += 1
        return src, _unescape(glob), bool(has_magic), uflag

    def to_mm_pattern(self) -> str | _SegmentRegex:
        glob = str(self)
        src, body, has_magic, uflag = self.to_regexp_source()
        if not (has_magic or self.has_magic):
            return body
        return _SegmentRegex(glob, src, uflag)


# --------------------------------------------------------------------------- JS regex → Python re

_UNIT_CATEGORIES: Final[dict[str, frozenset[str]]] = {
    "L": frozenset({"Lu", "Ll", "Lt", "Lm", "Lo"}),
    "Z": frozenset({"Zs", "Zl", "Zp"}),
    "C": frozenset({"Cc", "Cf", "Cs", "Co", "Cn"}),
    "P": frozenset({"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"}),
}
_SYNTAX_CHARS: Final = frozenset("^$\\.*+?()[]{}|/")
_LINE_TERMINATORS: Final = "[^\n\r\u2028\u2029]"
_QUANTIFIER: Final = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")


def _py_class_char(ch: str) -> str:
    return "\\" + ch if ch.isascii() and not ch.isalnum() else ch


@cache
def _unicode_property(name: str) -> str:
    """A Python class body for the JS ``\\p{name}`` (general category), built from :mod:`unicodedata`."""
    cats = _UNIT_CATEGORIES.get(name, frozenset({name}))
    body: list[str] = []
    start = -1
    for cp in range(0x110001):
        inside = cp <= 0x10FFFF and unicodedata.category(chr(cp)) in cats
        if inside and start < 0:
            start = cp
        elif not inside and start >= 0:
            lo, hi = _py_class_char(chr(start)), _py_class_char(chr(cp - 1))
            body.append(lo if start == cp - 1 else f"{lo}-{hi}")
            start = -1
    return "".join(body)


def _class_atom(src: str, j: int, uflag: bool) -> tuple[str | None, str, int]:
    """One atom of a JS class at ``src[j]``: (the character or None, its Python text, next index)."""
    c = src[j]
    if c != "\\":
        return c, _py_class_char(c), j + 1
    if j + 1 >= len(src):
        raise MinimatchError("\\ at end of pattern")
    d = src[j + 1]
    simple = {"t": "\t", "n": "\n", "r": "\r", "v": "\v", "f": "\f"}
    if d in simple:
        return simple[d], _py_class_char(simple[d]), j + 2
    if d == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", src[j + 2 : j + 4]):
        ch = chr(int(src[j + 2 : j + 4], 16))
        return ch, _py_class_char(ch), j + 4
    if d == "p":
        m = re.match(r"\{([A-Za-z]+)\}", src[j + 2 :])
        if not m or not uflag:
            raise MinimatchError("invalid \\p escape in regular expression")
        return None, _unicode_property(m.group(1)), j + 2 + m.end()
    if d.isascii() and d.isalnum():
        raise MinimatchError(f"unsupported escape \\{d} in regular expression")
    if uflag and d not in _SYNTAX_CHARS and d != "-":
        raise MinimatchError(f"invalid escape \\{d} in a u-flag regular expression")
    return d, _py_class_char(d), j + 2


def _js_regex_to_python(src: str, uflag: bool) -> str:
    """Translate the JS regex source minimatch builds into Python ``re`` syntax with the same meaning."""
    if uflag:
        src = _from_units(src)
    out: list[str] = []
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            if uflag and src[i + 1 : i + 2] == "-":
                raise MinimatchError("invalid escape \\- in a u-flag regular expression")
            ch, text, i = _class_atom(src, i, uflag)
            out.append(text if ch is not None else f"[{text}]")
        elif c == "[":
            j = i + 1
            negate = src[j : j + 1] == "^"
            if negate:
                j += 1
            if src[j : j + 1] == "]":  # JS: [] matches nothing, [^] anything
                out.append("[\\s\\S]" if negate else "(?!)")
                i = j + 1
                continue
            items: list[str] = []
            while j < n and src[j] != "]":
                ch, text, j = _class_atom(src, j, uflag)
                if ch is not None and src[j : j + 1] == "-" and j + 1 < n and src[j + 1] != "]":
                    ch2, text2, j2 = _class_atom(src, j + 1, uflag)
                    if ch2 is not None:
                        if ord(ch) > ord(ch2):
                            raise MinimatchError("range out of order in character class")
                        items.append(f"{text}-{text2}")
                        j = j2
                        continue
                items.append(text)
            if j >= n:
                raise MinimatchError("unterminated character class")
            out.append("[" + ("^" if negate else "") + "".join(items) + "]")
            i = j + 1
        elif c == "(":
            if src.startswith(("(?:", "(?=", "(?!"), i):
                out.append(src[i : i + 3])
                i += 3
            elif src.startswith("(?", i):
                raise MinimatchError("unsupported group in regular expression")
            else:
                out.append("(")
                i += 1
        elif c in ")|*+?":
            out.append(c)
            i += 1
        elif c == "^":
            out.append("^")
            i += 1
        elif c == "$":
            out.append("\\Z")
            i += 1
        elif c == ".":
            out.append(_LINE_TERMINATORS)
            i += 1
        elif c == "{" and (q := _QUANTIFIER.match(src, i)):
            out.append(q.group(0))
            i = q.end()
        else:
            if uflag and c in "{}]":
                raise MinimatchError(f"lone {c} in a u-flag regular expression")
            out.append(re.escape(c))
            i += 1
    return "".join(out)


@dataclass
class _SegmentRegex:
    """A compiled magic segment; ``fast`` is minimatch's substitute test for common shapes."""

    glob: str
    src: str
    uflag: bool
    fast: Callable[[str], bool] | None = None
    compiled: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self.compiled = re.compile(_js_regex_to_python("^" + self.src + "$", self.uflag))
        except re.error as exc:
            raise MinimatchError(f"Invalid regular expression /^{self.src}$/: {exc}") from None

    def test(self, segment: str) -> bool:
        if self.fast is not None:
            return self.fast(segment)
        return self.compiled.search(_from_units(segment) if self.uflag else segment) is not None


class _Globstar:
    def __repr__(self) -> str:
        return "GLOBSTAR"


GLOBSTAR: Final = _Globstar()
_Part = str | _SegmentRegex | _Globstar

_STAR_RE: Final = re.compile(r"\*+")
_STAR_DOT_EXT_RE: Final = re.compile(r"\*+([^+@!?\*\[\(]*)")
_QMARKS_RE: Final = re.compile(r"\?+([^+@!?\*\[\(]*)?")
_STAR_DOT_STAR_RE: Final = re.compile(r"\*+\.\*+")
_DOT_STAR_RE: Final = re.compile(r"\.\*+")


def _star_test(f: str) -> bool:
    return len(f) != 0 and not f.startswith(".")


def _star_dot_ext_test(ext: str) -> Callable[[str], bool]:
    return lambda f: not f.startswith(".") and f.endswith(ext)


def _qmarks_test(length: int, ext: str) -> Callable[[str], bool]:
    return lambda f: len(f) == length and not f.startswith(".") and (not ext or f.endswith(ext))


def _star_dot_star_test(f: str) -> bool:
    return not f.startswith(".") and "." in f


def _dot_star_test(f: str) -> bool:
    return f not in (".", "..") and f.startswith(".")


def _fast_test(segment: str) -> Callable[[str], bool] | None:
    if _STAR_RE.fullmatch(segment):
        return _star_test
    if m := _STAR_DOT_EXT_RE.fullmatch(segment):
        return _star_dot_ext_test(m.group(1))
    if m := _QMARKS_RE.fullmatch(segment):
        return _qmarks_test(len(m.group(0)), m.group(1) or "")
    if _STAR_DOT_STAR_RE.fullmatch(segment):
        return _star_dot_star_test
    if _DOT_STAR_RE.fullmatch(segment):
        return _dot_star_test
    return None


def _is_dot_segment(f: str) -> bool:
    return f.startswith(".")  # covers "." and ".."


class Minimatch:
    """``new Minimatch(pattern)`` with default options; :meth:`match` is ``Minimatch.prototype.match``.

    Raises :class:`MinimatchError` for a pattern minimatch would throw on (too long, invalid regular
    expression) and for the brace expansions this port refuses (see the module doc).
    """

    def __init__(self, pattern: str) -> None:
        if not isinstance(pattern, str):
            raise MinimatchError("invalid pattern")
        units = _to_units(pattern)
        if len(units) > MAX_PATTERN_LENGTH:
            raise MinimatchError("pattern is too long")
        self.pattern = pattern
        self.negate = False
        self.comment = False
        self.empty = False
        self.set: list[list[_Part]] = []
        if units.startswith("#"):
            self.comment = True
            return
        if not units:
            self.empty = True
            return
        offset = 0
        while offset < len(units) and units[offset] == "!":
            offset += 1
        self.negate = offset % 2 == 1
        units = units[offset:]
        glob_set = list(dict.fromkeys(brace_expand(units)))
        glob_parts = [self._level_one_optimize(re.split("/+", g)) for g in glob_set]
        self.set = [[self._parse(segment) for segment in parts] for parts in glob_parts]

    @staticmethod
    def _level_one_optimize(parts: list[str]) -> list[str]:
        out: list[str] = []
        for part in parts:
            prev = out[-1] if out else None
            if part == "**" and prev == "**":
                continue
            if part == ".." and prev and prev not in ("..", ".", "**"):
                out.pop()
                continue
            out.append(part)
        return out or [""]

    @staticmethod
    def _parse(segment: str) -> _Part:
        if segment == "**":
            return GLOBSTAR
        if segment == "":
            return ""
        result = _AST.from_glob(segment).to_mm_pattern()
        if isinstance(result, _SegmentRegex):
            result.fast = _fast_test(segment)
        return result

    def match(self, path: str) -> bool:
        """Whether ``path`` matches, exactly as ``Minimatch.match(path)`` answers with default options."""
        if self.comment:
            return False
        if self.empty:
            return path == ""
        file = re.split("/+", _to_units(path))
        for pattern in self.set:
            if self._match_one(file, pattern):
                return not self.negate
        return self.negate

    def _match_one(self, file: list[str], pattern: list[_Part]) -> bool:
        fi = pi = 0
        fl, pl = len(file), len(pattern)
        while fi < fl and pi < pl:
            p = pattern[pi]
            f = file[fi]
            if p is GLOBSTAR:
                pr = pi + 1
                if pr == pl:  # ** at the end swallows the rest, but never a dot segment
                    return not any(_is_dot_segment(rest) for rest in file[fi:])
                for fr in range(fi, fl):
                    if self._match_one(file[fr:], pattern[pr:]):
                        return True
                    if _is_dot_segment(file[fr]):
                        break
                return False
            hit = f == p if isinstance(p, str) else isinstance(p, _SegmentRegex) and p.test(f)
            if not hit:
                return False
            fi += 1
            pi += 1
        if fi == fl and pi == pl:
            return True
        if fi == fl:
            return False  # not partial
        # pattern exhausted: only a single trailing empty segment (a trailing slash) may remain
        return fi == fl - 1 and file[fi] == ""


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Minimatch:
    return Minimatch(pattern)


def minimatch(path: str, pattern: str) -> bool:
    """``minimatch(path, pattern)`` of minimatch 9.0.5 with default options (case-sensitive, no dot)."""
    if not isinstance(pattern, str):
        raise MinimatchError("invalid pattern")
    if pattern.startswith("#"):
        return False
    return _compiled(pattern).match(path)
