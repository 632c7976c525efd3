"""The minimatch 9.0.5 port: the facts file's examples, minimatch's own answers, and properties.

Every row of ``AGREED_WITH_MINIMATCH`` was checked against minimatch 9.0.5 (brace-expansion 2.0.2) under
Node 20: ``new Minimatch(pattern).match(path)``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_zengarden.lab.minimatch import MAX_PATTERN_LENGTH, Minimatch, MinimatchError, brace_expand, minimatch

PROPS = settings(max_examples=300, deadline=None)

# facts §2.4, one row per example sentence
FACTS_EXAMPLES = [
    # A literal pattern also matches the path with a trailing slash or doubled slashes.
    ("/rest/ip/dns/static", "/rest/ip/dns/static", True),
    ("/rest/ip/dns/static/", "/rest/ip/dns/static", True),
    ("//rest/ip/dns/static", "/rest/ip/dns/static", True),
    # Case-sensitive.
    ("/REST/IP/DNS/STATIC", "/rest/ip/dns/static", False),
    ("/rest/ip/dns/Static", "/rest/ip/dns/static", False),
    # * matches exactly one non-empty segment.
    ("/rest/ip/dns/static/*1A", "/rest/ip/dns/static/*", True),
    ("/rest/ip/dns/static/", "/rest/ip/dns/static/*", False),
    # ** as a whole segment matches any depth below it, but not the parent itself.
    ("/rest/ip/dns/static", "/rest/ip/dns/static/**", False),
    ("/rest/ip/dns/static/*1A", "/rest/ip/dns/static/**", True),
    ("/rest/ip/dns/static/a/b/c", "/rest/ip/dns/static/**", True),
    # ** inside a segment acts as *.
    ("/rest/ip/dns/static", "/rest/ip/dns/static**", True),
    ("/rest/ip/dns/staticX", "/rest/ip/dns/static**", True),
    ("/rest/ip/dns/static/x", "/rest/ip/dns/static**", False),
    # Wildcards skip segments starting with '.'.
    ("/rest/ip/dns/static/.x", "/rest/ip/dns/static/*", False),
    ("/rest/ip/dns/static/.x/y", "/rest/ip/dns/static/**", False),
    ("/rest/ip/dns/static/..", "/rest/ip/dns/static/*", False),
    ("/rest/ip/.dns/static", "/rest/ip/?dns/static", False),
]

AGREED_WITH_MINIMATCH = [
    ("/rest/ip/dns/static", "/rest/ip/dns/static", True),
    ("/rest/ip/dns/static/", "/rest/ip/dns/static", True),
    ("//rest/ip/dns/static", "/rest/ip/dns/static", True),
    ("/rest//ip///dns/static", "/rest/ip/dns/static", True),
    ("/rest/ip/dns/static//", "/rest/ip/dns/static", True),
    ("/REST/ip/dns/static", "/rest/ip/dns/static", False),
    ("rest/ip/dns/static", "/rest/ip/dns/static", False),
    ("/rest/ip/dns/static/x", "/rest/ip/dns/static", False),
    ("/rest/ip/dns", "/rest/ip/dns/static", False),
    ("/rest/ip/dns/static?x", "/rest/ip/dns/static", False),
    ("/rest/ip/dns/static/*1A", "/rest/ip/dns/static/*", True),
    ("/rest/ip/dns/static/", "/rest/ip/dns/static/*", False),
    ("/rest/ip/dns/static", "/rest/ip/dns/static/*", False),
    ("/rest/ip/dns/static/*1A/x", "/rest/ip/dns/static/*", False),
    ("/rest/ip/dns/static/.hidden", "/rest/ip/dns/static/*", False),
    ("/rest/ip/dns/static/..", "/rest/ip/dns/static/*", False),
    ("/rest/ip/dns/static/*1A/", "/rest/ip/dns/static/*", True),
    ("/rest/ip/dns/static", "/rest/ip/dns/static/**", False),
    ("/rest/ip/dns/static/", "/rest/ip/dns/static/**", True),
    ("/rest/ip/dns/static/a/b/c", "/rest/ip/dns/static/**", True),
    ("/rest/ip/dns/static/a/.b", "/rest/ip/dns/static/**", False),
    ("/rest/ip/dns/static/../../system", "/rest/ip/dns/static/**", False),
    ("/rest/ip/dns/static", "/rest/ip/dns/static**", True),
    ("/rest/ip/dns/staticX", "/rest/ip/dns/static**", True),
    ("/rest/ip/dns/static/x", "/rest/ip/dns/static**", False),
    ("/rest/a/b/c/x", "/rest/**/x", True),
    ("/rest/x", "/rest/**/x", True),
    ("/rest/.a/x", "/rest/**/x", False),
    ("/a/b", "**", True),
    ("/a/.b", "**", False),
    ("/rest/ip/dns/static1", "/rest/ip/dns/static?", True),
    ("/rest/ip/dns/static", "/rest/ip/dns/static?", False),
    ("/rest/ip/dns/static12", "/rest/ip/dns/static?", False),
    ("/rest/ip/a", "/rest/ip/[abc]", True),
    ("/rest/ip/d", "/rest/ip/[abc]", False),
    ("/rest/ip/d", "/rest/ip/[!abc]", True),
    ("/rest/ip/a", "/rest/ip/[!abc]", False),
    ("/rest/ip/d", "/rest/ip/[^abc]", True),
    ("/rest/ip/.", "/rest/ip/[!abc]", False),
    ("/rest/ip/5", "/rest/ip/[0-9]", True),
    ("/rest/ip/dns/static", "/rest/ip/{dns,route}/static", True),
    ("/rest/ip/route/static", "/rest/ip/{dns,route}/static", True),
    ("/rest/ip/arp/static", "/rest/ip/{dns,route}/static", False),
    ("/rest/v2", "/rest/v{1..3}", True),
    ("/rest/v4", "/rest/v{1..3}", False),
    ("/rest/ip/*", "/rest/ip/\\*", True),
    ("/rest/ip/x", "/rest/ip/\\*", False),
    ("/anything", "#/rest", False),
    ("/rest/system/x", "!/rest/ip/**", True),
    ("/rest/ip/x", "!/rest/ip/**", False),
    ("", "", True),
    ("/x", "", False),
    ("/rest/ip/dns", "/rest/ip/@(dns|route)", True),
    ("/rest/ip/arp", "/rest/ip/!(dns|route)", True),
    ("/rest/ip/dns", "/rest/ip/!(dns|route)", False),
    ("/rest/ip/dnsdns", "/rest/ip/+(dns)", True),
    ("/rest/x/../ip", "/rest/ip", False),
    ("/rest/ip", "/rest/x/../ip", True),
    ("/rest/ip/dns/static/.", "/rest/ip/dns/static/*", False),
]


@pytest.mark.parametrize(("path", "pattern", "expected"), FACTS_EXAMPLES)
def test_facts_examples(path: str, pattern: str, expected: bool) -> None:
    assert minimatch(path, pattern) is expected
    assert Minimatch(pattern).match(path) is expected


@pytest.mark.parametrize(("path", "pattern", "expected"), AGREED_WITH_MINIMATCH)
def test_answers_of_minimatch_9_0_5(path: str, pattern: str, expected: bool) -> None:
    assert Minimatch(pattern).match(path) is expected


def test_deployed_allow_list_and_the_delete_gap() -> None:
    """The deployed RESTRICT allow-list (facts §2.2) lets the list through and nothing below it."""
    get = [Minimatch("/rest/ip/dns/static"), Minimatch("/rest/system/resource")]
    assert any(m.match("/rest/ip/dns/static") for m in get)
    assert any(m.match("/rest/system/resource/") for m in get)
    assert not any(m.match("/rest/ip/dns/static/*1A") for m in get)
    assert not any(m.match("/rest/system/script") for m in get)
    assert not any(m.match("/rest/ip/dns/static/../../system/script") for m in get)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("/a/{b,c}", ["/a/b", "/a/c"]),
        ("/a/{b,c{1..3}}", ["/a/b", "/a/c1", "/a/c2", "/a/c3"]),
        ("{01..3}", ["01", "02", "03"]),
        ("{3..1..2}", ["3", "1"]),
        ("{a..e..2}", ["a", "c", "e"]),
        ("{a,b}{1,2}", ["a1", "a2", "b1", "b2"]),
        ("a{,b}", ["a", "ab"]),
        ("{a},b}", ["a}", "b"]),
        ("${a,b}", ["${a,b}"]),
        ("{a}", ["{a}"]),
        ("a\\{b,c}", ["a{b,c}"]),  # an escaped brace is literal; brace-expansion drops the backslash
        ("/no/braces", ["/no/braces"]),
    ],
)
def test_brace_expansion(pattern: str, expected: list[str]) -> None:
    assert brace_expand(pattern) == expected


def test_comment_empty_and_negated_patterns() -> None:
    assert not minimatch("#x", "#x")
    assert Minimatch("").match("") and not Minimatch("").match("/")
    assert Minimatch("!/rest/ip/**").match("/rest/system/x")
    assert not Minimatch("!!/rest/ip/**").match("/rest/system/x")


def test_extglobs_and_classes() -> None:
    assert minimatch("/rest/ip/route", "/rest/ip/@(dns|route)")
    assert not minimatch("/rest/ip/arp", "/rest/ip/@(dns|route)")
    assert minimatch("/rest/ip/arp", "/rest/ip/!(dns|route)")
    assert minimatch("/x/7", "/x/[[:digit:]]")
    assert not minimatch("/x/a", "/x/[[:digit:]]")
    assert minimatch("/x/b", "/x/[a-c]") and not minimatch("/x/d", "/x/[a-c]")
    assert minimatch("/x/]", "/x/[]]")


def test_invalid_patterns_raise() -> None:
    with pytest.raises(MinimatchError, match="too long"):
        Minimatch("a" * (MAX_PATTERN_LENGTH + 1))
    with pytest.raises(MinimatchError, match="step 0"):
        Minimatch("{1..3..0}")
    with pytest.raises(MinimatchError):
        Minimatch("{1..1000000}")


# segments without glob magic, path separators or a leading dot
_SEGMENT = st.text(alphabet="abcXYZ019-_~:%=,;'&", min_size=1, max_size=8)
_LITERAL = st.lists(_SEGMENT, min_size=1, max_size=5).map(lambda segs: "/" + "/".join(segs))


@PROPS
@given(_LITERAL)
def test_literal_patterns_match_themselves_and_their_slash_variants(pattern: str) -> None:
    m = Minimatch(pattern)
    assert m.match(pattern)
    assert m.match(pattern + "/")
    assert m.match("/" + pattern)
    assert m.match(pattern.replace("/", "//"))
    assert not m.match(pattern + "/x")
    assert not m.match(pattern + "//x")
    assert not m.match(pattern.upper()) or pattern.upper() == pattern


@PROPS
@given(_LITERAL, _SEGMENT)
def test_star_is_exactly_one_non_dot_segment(prefix: str, segment: str) -> None:
    m = Minimatch(prefix + "/*")
    assert m.match(f"{prefix}/{segment}")
    assert m.match(f"{prefix}/{segment}/")
    assert not m.match(f"{prefix}/.{segment}")
    assert not m.match(f"{prefix}/{segment}/{segment}")
    assert not m.match(prefix)
    assert not m.match(prefix + "/")


@PROPS
@given(_LITERAL, st.lists(_SEGMENT, min_size=1, max_size=4))
def test_globstar_matches_any_depth_below_but_not_the_parent(prefix: str, below: list[str]) -> None:
    m = Minimatch(prefix + "/**")
    assert m.match(prefix + "/" + "/".join(below))
    assert not m.match(prefix)
    assert not m.match(prefix + "/" + "/".join([*below[:-1], "." + below[-1]]))


_ALTERNATIVE = st.text(alphabet="abcXYZ019-_~:%=;'&", min_size=1, max_size=8)


@PROPS
@given(st.lists(_ALTERNATIVE, min_size=1, max_size=4, unique=True), _LITERAL)
def test_braces_match_exactly_their_alternatives(alternatives: list[str], prefix: str) -> None:
    m = Minimatch(prefix + "/{" + ",".join([*alternatives, "zz-none"]) + "}")
    for alternative in alternatives:
        assert m.match(f"{prefix}/{alternative}")
    assert not m.match(f"{prefix}/" + "".join(alternatives) + "+")
