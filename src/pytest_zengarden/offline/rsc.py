"""Parse a RouterOS 7 ``/export`` file (``.rsc``) into a :class:`RouterConfig`.

An export is a console script of a restricted shape: menu headers (``/ip firewall filter``) followed by
``add``/``set``/``remove`` commands with ``key=value`` arguments, or the command on the header's own line.
This module reads exactly that shape.  Real scripting (``:local``, ``:foreach``, ``{ }`` blocks, command
substitution) is rejected with an error naming the line rather than guessed at, because a configuration
the parser only half understood would make every later verdict about it unreliable.

:func:`parse_rsc` returns what the export says, record for record; :func:`export_facts` (and
:func:`read_export`, what the offline target uses) completes it with RouterOS 7 factory defaults, since an
export leaves out everything still at its default.

Three small steps: physical lines become statements (comments dropped, backslash continuations joined),
a statement becomes tokens (bare words, ``key=value`` pairs with RouterOS quoting and escapes,
``[ find ... ]`` selectors), and a builder applies each command to the menus of records.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from pytest_zengarden.facts.router import RouterConfig, normalize_menu
from pytest_zengarden.redaction import SENSITIVE_PROPERTIES

_COMMANDS = frozenset({"add", "set", "remove"})
# Console commands that can follow a menu path but carry no configuration.  Naming them keeps
# ``/ip firewall filter print`` from being read as a menu called ``print``.
_OTHER_COMMANDS = frozenset(
    {"comment", "disable", "enable", "export", "find", "get", "import", "move", "print", "run", "unset"}
)
_MENU_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# Single-character escapes of RouterOS strings; ``\XX`` (two hex digits, one byte) is handled apart.
_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "$": "$",
    "?": "?",
    "_": " ",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}

Conditions: TypeAlias = tuple[tuple[str, str], ...]


class RscParseError(ValueError):
    """A statement of an ``.rsc`` file that cannot be read; ``str()`` is ``source:line: message``."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line
        self.message = message

    def __reduce__(self) -> tuple[type[RscParseError], tuple[str, int, str]]:
        # Default pickling would replay ``args`` (the one formatted string) into the three-argument __init__.
        return (type(self), (self.source, self.line, self.message))


@dataclass(frozen=True)
class _Word:
    """A bare word (``key`` is None: a command, menu path or item name) or a ``key=value`` argument."""

    key: str | None
    value: str

    def __str__(self) -> str:
        return self.value if self.key is None else f"{self.key}={self.value}"


@dataclass(frozen=True)
class _Find:
    """A ``[ find key=value ... ]`` selector: the records whose properties equal all the conditions."""

    conditions: Conditions
    text: str

    def __str__(self) -> str:
        return self.text


_Token: TypeAlias = _Word | _Find


def _statements(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(first line number, text)`` per statement, comments dropped and continuations joined."""
    start = 0
    parts: list[str] = []
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if parts:
            # RouterOS indents continuation lines; the indentation is layout, not part of the value.
            line = line.lstrip(" \t")
        elif not line.strip() or line.lstrip().startswith("#"):
            continue
        else:
            start = number
        body = line.rstrip(" \t")
        # Each backslash escapes the next character, so only an odd run at the end escapes the newline;
        # this holds inside quotes too, which is why no quote tracking is needed here.
        if (len(body) - len(body.rstrip("\\"))) % 2:
            parts.append(body[:-1])
            continue
        parts.append(line)
        yield start, "".join(parts)
        parts = []
    if parts:
        yield start, "".join(parts)


def _decode(buf: bytearray) -> str:
    # ``\XX`` escapes produce raw bytes (the export escapes UTF-8 that way), so values are built as bytes.
    return buf.decode("utf-8", errors="replace")


class _Lexer:
    """Splits one statement into tokens; its errors carry the line on which the statement started."""

    def __init__(self, text: str, source: str, line: int) -> None:
        self.text = text
        self.source = source
        self.line = line
        self.pos = 0

    def error(self, message: str) -> RscParseError:
        return RscParseError(self.source, self.line, message)

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        while ch := self._skip_blanks():
            if ch == "]":
                raise self.error("unexpected ']'")
            out.append(self._find() if ch == "[" else self._word())
        return out

    def _skip_blanks(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1
        return self.text[self.pos : self.pos + 1]

    def _find(self) -> _Find:
        start = self.pos
        self.pos += 1
        words: list[_Word] = []
        while (ch := self._skip_blanks()) != "]":
            if not ch:
                raise self.error("unterminated '['")
            words.append(self._word())
        self.pos += 1
        text = " ".join(self.text[start : self.pos].split())
        if words[:1] == [_Word(None, "find")]:
            words = words[1:]
            if words[:1] == [_Word(None, "where")]:
                words = words[1:]
            conditions = tuple((w.key, w.value) for w in words if w.key is not None)
            if len(conditions) == len(words):
                return _Find(conditions, text)
        raise self.error(f"unsupported expression '{text}' (only '[ find key=value ... ]' is understood)")

    def _word(self) -> _Word:
        key: str | None = None
        buf = bytearray()
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t]":
                break
            if ch == "[":
                raise self.error("unsupported '[' inside a word (command substitution)")
            if ch == '"':
                self._quoted(buf)
            elif ch == "\\":
                self._escape(buf)
            elif ch == "=" and key is None:
                # Only the first '=' separates; later ones belong to the value (WireGuard keys end in '=').
                key = _decode(buf)
                if not key:
                    raise self.error("'=' without a property name")
                buf = bytearray()
                self.pos += 1
            else:
                buf += ch.encode("utf-8", errors="surrogatepass")
                self.pos += 1
        return _Word(key, _decode(buf))

    def _quoted(self, buf: bytearray) -> None:
        self.pos += 1
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return
            if ch == "\\":
                self._escape(buf)
            else:
                buf += ch.encode("utf-8", errors="surrogatepass")
                self.pos += 1
        raise self.error("unterminated quoted string")

    def _escape(self, buf: bytearray) -> None:
        pair = self.text[self.pos + 1 : self.pos + 3]
        # Hex first: the export writes bytes as upper-case pairs, and '\a', '\b', '\f' are rare in configs.
        if len(pair) == 2 and set(pair) <= _HEX_DIGITS:
            buf.append(int(pair, 16))
            self.pos += 3
        elif pair[:1] in _ESCAPES:
            buf += _ESCAPES[pair[:1]].encode()
            self.pos += 2
        else:
            raise self.error(f"unknown escape '\\{pair[:1]}'")


def _matches(record: dict[str, str], conditions: Conditions) -> bool:
    return all(record.get(key) == value for key, value in conditions)


class _Builder:
    """Applies statements to menus of records, tracking the current menu as the console does."""

    def __init__(self) -> None:
        self.menus: dict[str, list[dict[str, str]]] = {}
        self.counters: dict[str, int] = {}
        self.menu: str | None = None

    def apply(self, lexer: _Lexer) -> None:
        head = lexer.text.split(maxsplit=1)[0]
        if not head.startswith("/") and head not in _COMMANDS | _OTHER_COMMANDS:
            raise lexer.error(f"unsupported statement '{head}' (expected a menu path, add, set or remove)")
        tokens = lexer.tokens()
        if head.startswith("/"):
            tokens = self._enter_menu(tokens, lexer)
            if not tokens:
                return
        menu = self.menu
        if menu is None:
            raise lexer.error(f"'{head}' before any menu header")
        command, args = tokens[0], tokens[1:]
        if not isinstance(command, _Word) or command.key is not None or command.value not in _COMMANDS:
            raise lexer.error(f"unsupported command '{command}' (expected add, set or remove)")
        records = self.menus[menu]
        if command.value == "add":
            self._append(menu, self._properties(args, lexer))
            return
        conditions, args = self._item(args, lexer)
        if command.value == "remove":
            if conditions is None or args:
                raise lexer.error("'remove' takes exactly one item: a name or [ find ... ]")
            records[:] = [r for r in records if not _matches(r, conditions)]
            return
        props = self._properties(args, lexer)
        if conditions is None:
            # A set without an item addresses a singleton menu such as /ip dns: it has one record.
            if len(records) > 1:
                raise lexer.error(f"'set' without an item, but {menu} has {len(records)} records")
            if not records:
                records.append({})
            records[0].update(props)
            return
        matched = [r for r in records if _matches(r, conditions)]
        for record in matched:
            record.update(props)
        if not matched and conditions:
            # The export only sets items that exist by default (services, ethernet ports), so the item is
            # created from what the selector says about it.  An unrenamed port is named after its default.
            created = dict(conditions)
            if "default-name" in created:
                created.setdefault("name", created["default-name"])
            self._append(menu, created | props)

    def _enter_menu(self, tokens: list[_Token], lexer: _Lexer) -> list[_Token]:
        path: list[str] = []
        for token in tokens:
            if not isinstance(token, _Word) or token.key is not None or token.value in _COMMANDS:
                break
            if token.value in _OTHER_COMMANDS:
                raise lexer.error(f"unsupported command '{token.value}' (expected add, set or remove)")
            path.append(token.value)
        menu = normalize_menu(" ".join(path))
        if not set(menu.replace("/", "")) <= _MENU_CHARS:
            raise lexer.error(f"invalid menu path '{' '.join(path)}'")
        self.menu = menu
        self.menus.setdefault(menu, [])
        return tokens[len(path) :]

    def _item(self, args: list[_Token], lexer: _Lexer) -> tuple[Conditions | None, list[_Token]]:
        """Split off the item a set/remove addresses, as conditions on its properties (None: no item)."""
        first = args[0] if args else None
        if isinstance(first, _Find):
            return first.conditions, args[1:]
        if isinstance(first, _Word) and first.key is None:
            if all(part.isascii() and part.isdigit() for part in first.value.split(",")):
                raise lexer.error(
                    f"item number '{first.value}' refers to the console's last print; use a name or [ find ]"
                )
            key = ".id" if first.value.startswith("*") else "name"
            return ((key, first.value),), args[1:]
        return None, args

    def _properties(self, args: Sequence[_Token], lexer: _Lexer) -> dict[str, str]:
        props: dict[str, str] = {}
        for arg in args:
            if not isinstance(arg, _Word) or arg.key is None:
                raise lexer.error(f"expected key=value, got '{arg}'")
            if arg.key in props:
                raise lexer.error(f"property '{arg.key}' given twice")
            props[arg.key] = arg.value
        return props

    def _append(self, menu: str, record: dict[str, str]) -> None:
        records = self.menus[menu]
        if ".id" not in record:
            # Synthetic ids count per menu like a fresh router's; an explicit id already taken is skipped.
            taken = {r.get(".id") for r in records}
            number = self.counters.get(menu, 0) + 1
            while f"*{number:X}" in taken:
                number += 1
            self.counters[menu] = number
            record = {".id": f"*{number:X}", **record}
        records.append(record)


def parse_rsc(text: str, source: str = "<rsc>") -> RouterConfig:
    """Parse the text of a RouterOS ``/export`` into a :class:`RouterConfig` named ``source``.

    Raises :class:`RscParseError` (``source:line: message``) for anything outside the export subset,
    with the line on which the offending statement started.
    """
    builder = _Builder()
    for line, statement in _statements(text.removeprefix("\ufeff")):
        if statement.strip():
            builder.apply(_Lexer(statement, source, line))
    return RouterConfig.from_records(builder.menus, source)


def load_rsc(path: pathlib.Path) -> RouterConfig:
    """Read an ``.rsc`` file (UTF-8, undecodable bytes replaced) and parse it with its path as source."""
    return parse_rsc(path.read_text(encoding="utf-8", errors="replace"), source=str(path))


def export_facts(text: str, source: str = "<rsc>") -> RouterConfig:
    """The router an ``/export`` describes, as facts: its records completed with RouterOS 7 factory defaults.

    :func:`parse_rsc` gives what the export *says*; RouterOS leaves out every entry and property still at
    its factory value, so a service the export never mentions is running.  This is what the checks judge
    (:meth:`~pytest_zengarden.facts.router.RouterConfig.from_device`), equal to a live print of the same router.
    """
    # An export taken with show-sensitive carries keys and passwords no check judges: never hold them.
    menus = {
        menu: [{k: v for k, v in rec.items() if k not in SENSITIVE_PROPERTIES} for rec in records]
        for menu, records in parse_rsc(text, source).menus.items()
    }
    return RouterConfig.from_device(menus, source)


def read_export(path: pathlib.Path) -> RouterConfig:
    """:func:`export_facts` of an ``.rsc`` file (UTF-8, undecodable bytes replaced), its path as source."""
    return export_facts(path.read_text(encoding="utf-8", errors="replace"), source=str(path))
