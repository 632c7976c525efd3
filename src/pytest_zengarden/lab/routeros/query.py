"""RouterOS ``print`` queries: the ``?`` words of the API and the ``.query`` list of REST.

Semantics (MikroTik API manual, design notes §1.5): each word pushes one boolean per item, ``?#``
words operate on the stack, and an item matches when every value left on the stack is true (an
empty stack matches).  Words are compiled once, so a bad query fails even on an empty menu.

Comparisons are type-aware because RouterOS prints booleans as ``true``/``false`` while librouteros
sends ``yes``/``no``: ``?=disabled=no`` must match ``disabled=false``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .schema import MSG, RouterOsError

Record = Mapping[str, str]

_BOOL = {"true": True, "yes": True, "false": False, "no": False}
_ID = re.compile(r"\*([0-9A-Fa-f]+)")
_INT = re.compile(r"-?[0-9]+")


def _as_bool(text: str) -> bool | None:
    return _BOOL.get(text.lower())


def _number(text: str, kind: str | None) -> int | None:
    """The numeric value RouterOS compares: ints for int properties, the hex of ``*HEX`` for ``.id``."""
    if kind == "int" and _INT.fullmatch(text):
        return int(text)
    if kind == "id" and (m := _ID.fullmatch(text)):
        return int(m.group(1), 16)
    return None


def values_equal(actual: str | None, wanted: str, kind: str | None = None) -> bool:
    """Equality as ``?=name=value`` sees it, for a property of the given kind.

    An absent property equals only the empty string [unverified on a CHR]; booleans compare as
    booleans whatever their spelling (also for properties the schema does not type, when the stored
    value is ``true``/``false``); int properties and ids compare numerically; everything else as text.
    """
    if actual is None:
        return wanted == ""
    if actual == wanted:
        return True
    if kind == "bool" or (kind is None and actual in ("true", "false")):
        a_bool, w_bool = _as_bool(actual), _as_bool(wanted)
        return a_bool is not None and a_bool == w_bool
    a_num, w_num = _number(actual, kind), _number(wanted, kind)
    return a_num is not None and a_num == w_num


def _compare(actual: str | None, wanted: str, kind: str | None) -> int | None:
    """-1/0/1 ordering for ``?<``/``?>`` (numeric for numbers and ids, else text); ``None`` if absent."""
    if actual is None:
        return None
    a_num, w_num = _number(actual, kind), _number(wanted, kind)
    if a_num is not None and w_num is not None:
        return (a_num > w_num) - (a_num < w_num)
    return (actual > wanted) - (actual < wanted)


def value_less(actual: str | None, wanted: str, kind: str | None = None) -> bool:
    """``?<name=value``; an absent property never matches."""
    order = _compare(actual, wanted, kind)
    return order is not None and order < 0


def value_greater(actual: str | None, wanted: str, kind: str | None = None) -> bool:
    """``?>name=value``; an absent property never matches."""
    order = _compare(actual, wanted, kind)
    return order is not None and order > 0


Leaf = Callable[[Record], bool]


@dataclass(frozen=True)
class _Push:
    test: Leaf


@dataclass(frozen=True)
class _Ops:
    ops: str


def _leaf(word: str, kinds: Mapping[str, str]) -> Leaf:
    """One non-``#`` query word (without its ``?``) as a test on a record."""
    if word.startswith("-"):
        name = word[1:]
        if not name:
            raise RouterOsError(MSG["bad_query"].format("?" + word), 1)
        return lambda rec: name not in rec
    if word[0] in "=<>":
        op, rest = word[0], word[1:]
        name, sep, value = rest.partition("=")
        if not name or not sep:
            raise RouterOsError(MSG["bad_query"].format("?" + word), 1)
        kind = kinds.get(name)
        if op == "<":
            return lambda rec: value_less(rec.get(name), value, kind)
        if op == ">":
            return lambda rec: value_greater(rec.get(name), value, kind)
        return lambda rec: values_equal(rec.get(name), value, kind)
    name, sep, value = word.partition("=")
    if not sep:
        return lambda rec: name in rec
    kind = kinds.get(name)
    return lambda rec: values_equal(rec.get(name), value, kind)


def _apply_ops(ops: str, stack: list[bool], word: str) -> list[bool]:
    """Run one ``?#`` operation string on ``stack`` (MikroTik API manual, "Queries")."""

    def need(n: int) -> None:
        if len(stack) < n:
            raise RouterOsError(MSG["bad_query"].format("?#" + word), 1)

    i = 0
    while i < len(ops):
        c = ops[i]
        if c.isdigit():
            j = i
            while j < len(ops) and ops[j].isdigit():
                j += 1
            index = int(ops[i:j])
            need(index + 1)
            value = stack[-1 - index]
            if j == len(ops):
                # An index that ends the word replaces the whole stack with that value.
                return [value]
            stack.append(value)
            if ops[j] == ".":  # "." right after an index only separates it from what follows
                j += 1
            i = j
            continue
        if c == "!":
            need(1)
            stack[-1] = not stack[-1]
        elif c in "&|":
            need(2)
            right, left = stack.pop(), stack.pop()
            stack.append((left and right) if c == "&" else (left or right))
        elif c == ".":
            need(1)
            stack.append(stack[-1])
        else:
            raise RouterOsError(MSG["bad_query"].format("?#" + word), 1)
        i += 1
    return stack


class Query:
    """Compiled query words; call :meth:`matches` per record.

    ``kinds`` maps property names to their schema kind (``bool``, ``int``, ``id``...) so that
    comparisons are type-aware; ``.id`` is always an id.
    """

    def __init__(self, words: Sequence[str], kinds: Mapping[str, str] | None = None):
        kinds = {**(kinds or {}), ".id": "id"}
        self._program: list[_Push | _Ops] = []
        for raw in words:
            word = raw[1:] if raw.startswith("?") else raw
            if not word:
                raise RouterOsError(MSG["bad_query"].format(raw), 1)
            if word.startswith("#"):
                if len(word) == 1:
                    raise RouterOsError(MSG["bad_query"].format(raw), 1)
                self._program.append(_Ops(word[1:]))
            else:
                self._program.append(_Push(_leaf(word, kinds)))
        if self._program:
            # Validate the stack discipline once, on a dummy record, so errors do not depend on data.
            self.matches({})

    def __bool__(self) -> bool:
        return bool(self._program)

    def matches(self, record: Record) -> bool:
        stack: list[bool] = []
        for step in self._program:
            if isinstance(step, _Push):
                stack.append(step.test(record))
            else:
                stack = _apply_ops(step.ops, stack, step.ops)
        return all(stack)


def equality_words(filters: Mapping[str, str]) -> list[str]:
    """The query words of a REST ``GET ?name=x&disabled=false``: every filter must hold."""
    return [f"?={name}={value}" for name, value in filters.items()]
