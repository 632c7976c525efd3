"""Tests for the RouterOS ``/export`` (``.rsc``) parser."""

from __future__ import annotations

import pathlib
import pickle
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_zengarden.facts.router import RouterConfig
from pytest_zengarden.offline.rsc import RscParseError, load_rsc, parse_rsc

EXAMPLE = r"""# 2025-11-14 by RouterOS 7.16
/interface bridge
add name=bridge-home comment="Home Network - 192.168.88.0/24"
add name=bridge-homelab comment="Homelab K3s Cluster"
/interface list member
add list=LAN interface=bridge-home
/ip dns
set allow-remote-requests=yes servers=8.8.8.8,1.1.1.1
/ip service
set telnet disabled=yes
set [ find name=api-ssl ] address=192.168.100.0/24
/ip firewall filter add action=accept chain=forward src-address=192.168.88.0/24 dst-address=192.168.77.0/24 protocol=tcp dst-port=22,80,443 comment="Allow Home \E2\86\92 Homelab (SSH,HTTP,HTTPS)"
/ip firewall filter add action=drop chain=forward src-address=192.168.216.0/24 dst-address-list=!vpn-allowed \
    comment="Drop back-to-home VPN \E2\86\92 LAN"
"""  # noqa: E501


def records(config: RouterConfig, menu: str) -> list[dict[str, str]]:
    return [dict(r) for r in config.items(menu)]


def parse_error(text: str) -> RscParseError:
    with pytest.raises(RscParseError) as info:
        parse_rsc(text, source="t.rsc")
    return info.value


# --- the example from the design document -------------------------------------------------------------


def test_example_export() -> None:
    config = parse_rsc(EXAMPLE, source="router.rsc")
    assert config.source == "router.rsc"
    assert records(config, "/interface/bridge") == [
        {".id": "*1", "name": "bridge-home", "comment": "Home Network - 192.168.88.0/24"},
        {".id": "*2", "name": "bridge-homelab", "comment": "Homelab K3s Cluster"},
    ]
    assert records(config, "/interface list member") == [{".id": "*1", "list": "LAN", "interface": "bridge-home"}]
    assert records(config, "/ip/dns") == [{"allow-remote-requests": "yes", "servers": "8.8.8.8,1.1.1.1"}]
    assert config.find("/ip/service", name="telnet")[0]["disabled"] == "yes"
    assert config.find("/ip/service", name="api-ssl")[0]["address"] == "192.168.100.0/24"
    assert len(config.items("/ip/service")) == 2
    accept, drop = config.items("/ip/firewall/filter")
    assert accept[".id"] == "*1"
    assert accept["action"] == "accept"
    assert accept["dst-port"] == "22,80,443"
    assert accept["comment"] == "Allow Home → Homelab (SSH,HTTP,HTTPS)"
    assert drop[".id"] == "*2"
    assert drop["action"] == "drop"
    assert drop["dst-address-list"] == "!vpn-allowed"
    assert drop["comment"] == "Drop back-to-home VPN → LAN"
    assert set(config.menus) == {
        "/interface/bridge",
        "/interface/list/member",
        "/ip/dns",
        "/ip/service",
        "/ip/firewall/filter",
    }


def test_example_error_reports_the_line_the_continued_statement_started_on() -> None:
    # Break the closing quote of the last (continued) rule: it starts on line 13 and ends on line 14.
    broken = EXAMPLE.replace('LAN"', "LAN")
    error = parse_error(broken)
    assert error.line == 13
    assert str(error) == "t.rsc:13: unterminated quoted string"


# --- statements and layout -------------------------------------------------------------------------------


def test_comments_blank_lines_and_indented_comments_are_skipped() -> None:
    text = "# software id = ABCD-1234\n\n   # model = RB5009\n/ip dns\n\t\n  # note\nset servers=1.1.1.1\n"
    assert records(parse_rsc(text), "/ip/dns") == [{"servers": "1.1.1.1"}]


def test_hash_inside_a_value_is_not_a_comment() -> None:
    config = parse_rsc('/system identity\nset name=#1 note="# not a comment"\n')
    assert records(config, "/system/identity") == [{"name": "#1", "note": "# not a comment"}]


def test_slash_form_header() -> None:
    config = parse_rsc("/ip/firewall/filter\nadd chain=input action=drop\n")
    assert records(config, "/ip/firewall/filter") == [{".id": "*1", "chain": "input", "action": "drop"}]


def test_one_line_form_makes_its_menu_current() -> None:
    text = "/interface bridge\n/ip firewall nat add chain=srcnat action=masquerade\nadd chain=dstnat action=dst-nat\n"
    config = parse_rsc(text)
    assert records(config, "/interface/bridge") == []
    assert [r["chain"] for r in config.items("/ip/firewall/nat")] == ["srcnat", "dstnat"]


def test_block_and_one_line_forms_mix_in_one_file() -> None:
    text = (
        "/ip firewall filter\n"
        "add chain=input action=accept connection-state=established,related\n"
        "/ip/firewall/filter add chain=input action=drop\n"
        "/ip firewall filter set [ find where action=drop ] comment=last\n"
    )
    config = parse_rsc(text)
    assert records(config, "/ip/firewall/filter") == [
        {".id": "*1", "chain": "input", "action": "accept", "connection-state": "established,related"},
        {".id": "*2", "chain": "input", "action": "drop", "comment": "last"},
    ]


def test_header_only_menu_is_present_but_empty() -> None:
    config = parse_rsc("/ip firewall raw\n")
    assert "/ip/firewall/raw" in config.menus
    assert config.items("/ip/firewall/raw") == ()


def test_continuation_joins_lines_and_drops_indentation() -> None:
    text = "/ip firewall filter\nadd chain=forward \\\n    action=accept \\\n\tcomment=x\n"
    assert records(parse_rsc(text), "/ip/firewall/filter") == [
        {".id": "*1", "chain": "forward", "action": "accept", "comment": "x"}
    ]


def test_continuation_inside_a_quoted_value_and_mid_word() -> None:
    text = '/system script\nadd name=s source=":log info \\\n    \\"hi\\"" owner=ad\\\n    min\n'
    assert records(parse_rsc(text), "/system/script") == [
        {".id": "*1", "name": "s", "source": ':log info "hi"', "owner": "admin"}
    ]


def test_escaped_backslash_at_end_of_line_is_not_a_continuation() -> None:
    config = parse_rsc("/x\nadd path=C:\\\\\nadd path=D\n")
    assert [r["path"] for r in config.items("/x")] == ["C:\\", "D"]


def test_trailing_whitespace_after_continuation_backslash() -> None:
    config = parse_rsc("/x\nadd a=1 \\  \n    b=2\n")
    assert records(config, "/x") == [{".id": "*1", "a": "1", "b": "2"}]


def test_crlf_line_endings_and_bom() -> None:
    text = "\ufeff# header\r\n/ip dns\r\nset servers=9.9.9.9 \\\r\n    cache-size=4096KiB\r\n"
    assert records(parse_rsc(text), "/ip/dns") == [{"servers": "9.9.9.9", "cache-size": "4096KiB"}]


# --- add and synthetic ids -------------------------------------------------------------------------------


def test_synthetic_ids_count_per_menu_in_upper_case_hex() -> None:
    text = "/ip address\n" + "".join(f"add address=10.0.{i}.1/24\n" for i in range(12)) + "/x\nadd a=b\n"
    config = parse_rsc(text)
    ids = [r[".id"] for r in config.items("/ip/address")]
    assert ids == ["*1", "*2", "*3", "*4", "*5", "*6", "*7", "*8", "*9", "*A", "*B", "*C"]
    assert config.items("/x")[0][".id"] == "*1"


def test_explicit_id_is_kept_and_not_reused() -> None:
    config = parse_rsc("/x\nadd .id=*2 a=1\nadd a=2\nadd a=3\n")
    assert [(r[".id"], r["a"]) for r in config.items("/x")] == [("*2", "1"), ("*1", "2"), ("*3", "3")]


def test_values_are_kept_as_written() -> None:
    text = (
        "/interface wireguard peers\n"
        'add disabled=yes public-key=abc+/def= comment="" note= in-interface-list=!LAN '
        "allowed-address=10.0.0.2/32,fd00::2/128 x.y=z\n"
    )
    (record,) = parse_rsc(text).items("/interface/wireguard/peers")
    assert record == {
        ".id": "*1",
        "disabled": "yes",
        "public-key": "abc+/def=",
        "comment": "",
        "note": "",
        "in-interface-list": "!LAN",
        "allowed-address": "10.0.0.2/32,fd00::2/128",
        "x.y": "z",
    }


@pytest.mark.parametrize(
    ("written", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r'"a\\b"', "a\\b"),
        (r'"l1\r\nl2\tx"', "l1\r\nl2\tx"),
        (r'"\$var \?"', "$var ?"),
        (r'"a\_b"', "a b"),
        (r'"\E2\86\92"', "→"),
        (r'"\e2\86\92"', "→"),
        (r'"\C3\A9t\C3\A9"', "été"),
        (r'"\41\42"', "AB"),
        ('"été → ok"', "été → ok"),
        (r"a\_b", "a b"),
        ('pre"quoted part"post', "prequoted partpost"),
        ('"[ find ]"', "[ find ]"),
        (r'"\FF"', "\ufffd"),
    ],
)
def test_quoting_and_escapes(written: str, value: str) -> None:
    config = parse_rsc(f"/x\nadd v={written}\n")
    assert config.items("/x")[0]["v"] == value


def test_quoted_key_value_pair_splits_on_first_unquoted_equals() -> None:
    config = parse_rsc('/x\nadd comment="a=b c" name="x=y"\n')
    assert records(config, "/x") == [{".id": "*1", "comment": "a=b c", "name": "x=y"}]


# --- set and remove ----------------------------------------------------------------------------------------


def test_set_on_singleton_menu_creates_then_updates_one_record() -> None:
    text = "/ip dns\nset allow-remote-requests=yes\nset servers=8.8.8.8,1.1.1.1 allow-remote-requests=no\n"
    assert records(parse_rsc(text), "/ip/dns") == [{"allow-remote-requests": "no", "servers": "8.8.8.8,1.1.1.1"}]


def test_set_without_item_on_a_list_menu_is_an_error() -> None:
    error = parse_error("/x\nadd a=1\nadd a=2\nset a=3\n")
    assert error.line == 4
    assert "without an item" in error.message


def test_set_by_name_updates_existing_record() -> None:
    text = (
        "/ip service\n"
        "set telnet disabled=yes\n"
        "set telnet port=2323\n"
        "set [ find where name=telnet ] address=10.0.0.0/8\n"
    )
    assert records(parse_rsc(text), "/ip/service") == [
        {".id": "*1", "name": "telnet", "disabled": "yes", "port": "2323", "address": "10.0.0.0/8"}
    ]


def test_set_by_name_updates_added_record() -> None:
    config = parse_rsc('/interface bridge\nadd name=br0\nset br0 comment="lan side"\n')
    assert records(config, "/interface/bridge") == [{".id": "*1", "name": "br0", "comment": "lan side"}]


def test_set_find_default_name_creates_record_with_both_names() -> None:
    text = (
        "/interface ethernet\n"
        "set [ find default-name=ether1 ] name=wan\n"
        'set [ find default-name="ether2" ] comment=spare\n'
        "set [ find default-name=ether1 ] mtu=1500\n"
    )
    assert records(parse_rsc(text), "/interface/ethernet") == [
        {".id": "*1", "default-name": "ether1", "name": "wan", "mtu": "1500"},
        {".id": "*2", "default-name": "ether2", "name": "ether2", "comment": "spare"},
    ]


def test_set_find_updates_every_matching_record() -> None:
    text = "/x\nadd a=1 g=k\nadd a=2 g=k\nadd a=3 g=o\nset [ find g=k ] disabled=yes\n"
    assert [r.get("disabled") for r in parse_rsc(text).items("/x")] == ["yes", "yes", None]


def test_set_by_id() -> None:
    config = parse_rsc("/x\nadd a=1\nadd a=2\nset *2 a=20\n")
    assert [r["a"] for r in config.items("/x")] == ["1", "20"]


def test_find_without_spaces_and_with_several_conditions() -> None:
    config = parse_rsc("/x\nadd a=1 b=1\nadd a=1 b=2\nset [find a=1 b=2] c=yes\n")
    assert [r.get("c") for r in config.items("/x")] == [None, "yes"]


@pytest.mark.parametrize("item", ["0", "12", "0,1"])
def test_set_by_console_item_number_is_an_error(item: str) -> None:
    error = parse_error(f"/x\nadd a=1\nset {item} a=2\n")
    assert error.line == 3
    assert "item number" in error.message


def test_remove_by_name_and_by_find() -> None:
    text = "/x\nadd name=a\nadd name=b k=1\nadd name=c k=1\nadd name=d\nremove a\nremove [ find where k=1 ]\n"
    assert records(parse_rsc(text), "/x") == [{".id": "*4", "name": "d"}]


def test_remove_of_unknown_item_is_a_no_op_and_ids_are_not_reused() -> None:
    config = parse_rsc("/x\nadd name=a\nremove missing\nremove a\nadd name=b\n")
    assert records(config, "/x") == [{".id": "*2", "name": "b"}]


def test_remove_all_with_empty_find() -> None:
    assert parse_rsc("/x\nadd a=1\nadd a=2\nremove [ find ]\n").items("/x") == ()


# --- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        ":local x 1",
        ':if ([/system identity get name] = "r") do={ :log info x }',
        ":foreach i in=[/interface find] do={ :put $i }",
        "{",
        "}",
        ":global counter",
        "$counter",
        "interface bridge",
    ],
)
def test_scripting_is_an_unsupported_statement(statement: str) -> None:
    error = parse_error(f"/x\nadd a=1\n{statement}\n")
    assert error.line == 3
    assert error.message.startswith("unsupported statement")


@pytest.mark.parametrize(
    "expression",
    [
        '[ find name~"ether" ]',
        "[ find where name=a and disabled=no ]",
        "[ find dynamic ]",
        "[ /interface get ether1 ]",
        "[ ]",
        "[ find name=[ /x get 0 ] ]",
    ],
)
def test_unsupported_bracket_expressions(expression: str) -> None:
    error = parse_error(f"/x\nset {expression} a=1\n")
    assert error.line == 2
    assert "unsupported" in error.message


def test_unsupported_expression_is_named_in_the_message() -> None:
    error = parse_error('/x\nremove [ find  name~"ether" ]\n')
    assert "'[ find name~\"ether\" ]'" in error.message


def test_unterminated_bracket() -> None:
    assert "unterminated '['" in parse_error("/x\nset [ find name=a a=1\n").message


def test_record_before_any_menu_header() -> None:
    error = parse_error("# header\n\nadd name=x\n")
    assert error.line == 3
    assert "before any menu header" in error.message


@pytest.mark.parametrize("command", ["print", "export file=x", "enable 0", "move 1 0"])
def test_other_console_commands_are_unsupported(command: str) -> None:
    assert "unsupported command" in parse_error(f"/ip firewall filter {command}\n").message


def test_header_with_properties_but_no_command() -> None:
    assert "unsupported command" in parse_error("/ip dns allow-remote-requests=yes\n").message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("/x\nadd a=1 a=2\n", "given twice"),
        ("/x\nadd a=1 flag\n", "expected key=value"),
        ("/x\nadd a=1 [ find a=1 ]\n", "expected key=value"),
        ("/x\nset a b=1 c\n", "expected key=value"),
        ("/x\nremove a b\n", "exactly one item"),
        ("/x\nremove\n", "exactly one item"),
        ("/x\nadd =1\n", "without a property name"),
        ("/x\nadd a=1 ]\n", "unexpected ']'"),
        ("/x\nadd a=x[1]\n", "command substitution"),
        ('/x\nadd a="\\q"\n', "unknown escape"),
        ("/IP Firewall\n", "invalid menu path"),
        ("/ip fire_wall\n", "invalid menu path"),
    ],
)
def test_malformed_statements(text: str, fragment: str) -> None:
    error = parse_error(text)
    assert fragment in error.message


def test_unterminated_quote_reports_its_line() -> None:
    error = parse_error('/x\nadd a=1\n\n# c\nadd comment="oops\nadd a=2\n')
    assert (error.source, error.line, error.message) == ("t.rsc", 5, "unterminated quoted string")


def test_error_str_attributes_and_pickling() -> None:
    error = RscParseError("r.rsc", 7, "boom")
    assert str(error) == "r.rsc:7: boom"
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.source, copy.line, copy.message, str(copy)) == ("r.rsc", 7, "boom", "r.rsc:7: boom")


def test_default_source_name() -> None:
    assert parse_rsc("").source == "<rsc>"
    with pytest.raises(RscParseError) as info:
        parse_rsc("add a=1")
    assert str(info.value) == "<rsc>:1: 'add' before any menu header"


# --- files -------------------------------------------------------------------------------------------------


def test_load_rsc_reads_file_with_path_as_source(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "router.rsc"
    path.write_bytes(b'/system identity\nset name="r\xff1"\n')
    config = load_rsc(path)
    assert config.source == str(path)
    assert records(config, "/system/identity") == [{"name": "r\ufffd1"}]


def test_load_rsc_errors_name_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.rsc"
    path.write_text("/x\n:local a 1\n", encoding="utf-8")
    with pytest.raises(RscParseError, match=r"bad\.rsc:2: unsupported statement"):
        load_rsc(path)


# --- properties --------------------------------------------------------------------------------------------

_NOT_MENU = {"add", "set", "remove", "comment", "disable", "enable", "export", "find", "get", "import"}
_NOT_MENU |= {"move", "print", "run", "unset"}
_SEGMENTS = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=8).filter(
    lambda s: s not in _NOT_MENU
)
_KEYS = st.text(string.ascii_lowercase + string.digits + "-.", min_size=1, max_size=10).filter(lambda k: k != ".id")
# Any text, weighted towards the characters that quoting, escaping and key=value splitting care about.
_VALUES = st.text(st.one_of(st.characters(codec="utf-8"), st.sampled_from('= "\\$?!#[],/_→\t\n')), max_size=16)
_NAMED_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "$": "\\$", "?": "\\?"}
_SAFE_UNQUOTED = frozenset(string.ascii_letters + string.digits + "-_.,/:!*@+%=#")


def _value_units(value: str, escape_non_ascii: bool, quote: bool) -> list[str]:
    """The value as the export would write it, in pieces a line break may fall between."""
    units: list[str] = []
    for ch in value:
        if ch in _NAMED_ESCAPES:
            units.append(_NAMED_ESCAPES[ch])
        elif (ch.isascii() and not ch.isprintable()) or (not ch.isascii() and escape_non_ascii):
            units.append("".join(f"\\{b:02X}" for b in ch.encode()))
        else:
            units.append(ch)
    return ['"', *units, '"'] if quote else units


@st.composite
def _exports(draw: st.DrawFn) -> tuple[str, dict[str, list[dict[str, str]]]]:
    """A rendered export and the menus it must parse back to."""
    menus = draw(
        st.dictionaries(
            st.lists(_SEGMENTS, min_size=1, max_size=3).map(tuple),
            st.lists(st.dictionaries(_KEYS, _VALUES, max_size=4), max_size=4),
            max_size=4,
        )
    )
    lines = [f"# {draw(st.dates())} by RouterOS 7.16"]
    expected: dict[str, list[dict[str, str]]] = {}
    for path, recs in menus.items():
        header = "/" + ("/" if draw(st.booleans()) else " ").join(path)
        one_line = draw(st.booleans())
        if not one_line:
            lines.append(header)
        expected["/" + "/".join(path)] = [{".id": f"*{i:X}", **rec} for i, rec in enumerate(recs, start=1)]
        for rec in recs:
            units = [header, " ", "add"] if one_line else ["add"]
            for key, value in rec.items():
                quote = not (set(value) <= _SAFE_UNQUOTED) or draw(st.booleans())
                units += [" ", key, "=", *_value_units(value, draw(st.booleans()), quote)]
            breaks = draw(st.lists(st.booleans(), min_size=len(units), max_size=len(units)))
            text = units[0]
            for unit, wrap in zip(units[1:], breaks, strict=False):
                # Continuation lines lose their leading whitespace, so never break right before a space.
                text += ("\\\n    " if wrap and not unit.startswith(" ") else "") + unit
            lines.append(text)
    return "\n".join(lines) + "\n", expected


@given(_exports())
def test_round_trip_of_rendered_exports(case: tuple[str, dict[str, list[dict[str, str]]]]) -> None:
    text, expected = case
    config = parse_rsc(text)
    for menu, recs in expected.items():
        assert [list(r.items()) for r in config.items(menu)] == [list(r.items()) for r in recs]
    assert {m for m, r in config.menus.items() if r} == {m for m, r in expected.items() if r}


_BLOCKS = [
    ("# comment", 1),
    ("", 1),
    ("/ip dns", 1),
    ("set [ find name=n ] c=3", 1),
    ('add a=1 \\\n    comment="x \\\n    y"', 3),
    ("/x add name=n \\\n\\\n   b=2", 3),
]


@given(st.lists(st.sampled_from(_BLOCKS), max_size=8), st.booleans())
def test_errors_report_the_first_line_of_the_statement(blocks: list[tuple[str, int]], continued: bool) -> None:
    prefix = ["/x", *(text for text, _ in blocks)]
    bad = 'add a=1 \\\n    comment="unterminated' if continued else 'add comment="unterminated'
    error = parse_error("\n".join([*prefix, bad, "add a=2"]) + "\n")
    assert error.line == 1 + sum(n for _, n in blocks) + 1


_PIECES = [*' \t\n\\"[]=/#:{}$?*_-abcdEF019→é', "add ", "set ", "remove ", "/x ", "[ find ", "\\\n  "]


@given(st.lists(st.sampled_from(_PIECES)).map("".join))
def test_arbitrary_text_parses_or_raises_rsc_parse_error(text: str) -> None:
    try:
        config = parse_rsc(text)
    except RscParseError as error:
        assert error.source == "<rsc>"
        assert 1 <= error.line <= text.count("\n") + 1
    else:
        assert all(menu.startswith("/") for menu in config.menus)


# --- the export as facts: what RouterOS left out is at its factory value --------------------------------


def test_export_facts_complete_what_the_parser_reads_literally() -> None:
    from pytest_zengarden.offline.rsc import export_facts

    literal = parse_rsc(EXAMPLE, source="router.rsc")
    facts = export_facts(EXAMPLE, source="router.rsc")
    assert [r["name"] for r in literal.items("/ip/service")] == ["telnet", "api-ssl"]
    services = {r["name"]: r for r in facts.items("/ip/service")}
    assert list(services) == ["telnet", "ftp", "www", "ssh", "www-ssl", "api", "winbox", "api-ssl"]
    assert services["telnet"]["disabled"] == "true" and services["telnet"]["port"] == "23"
    assert services["ftp"]["disabled"] == "false"  # never mentioned: running, as RouterOS ships it
    assert services["api-ssl"] == {
        **services["api-ssl"],
        "address": "192.168.100.0/24",
        "certificate": "none",
        "disabled": "false",
    }
    accept, drop = facts.items("/ip/firewall/filter")
    assert (accept["disabled"], accept["log"], drop["action"]) == ("false", "false", "drop")
    assert facts.items("/ip/dns")[0]["allow-remote-requests"] == "true"  # yes, as a print shows it


def test_a_verbose_export_of_the_builtin_lists_is_the_same_router() -> None:
    """``export verbose`` sets the built-in lists by ``[ find name=... ]``; they are not added twice."""
    from pytest_zengarden.offline.rsc import export_facts

    verbose = r"""# 2026-11-28 10:02:41 by RouterOS 7.16.2
/interface list
set [ find name=all ] comment="contains all interfaces" exclude="" include="" \
    name=all
set [ find name=none ] comment="contains no interfaces" exclude="" include="" \
    name=none
set [ find name=dynamic ] comment="contains dynamic interfaces" exclude="" \
    include="" name=dynamic
set [ find name=static ] comment="contains static interfaces" exclude="" \
    include="" name=static
add comment=defconf exclude="" include="" name=WAN
"""
    plain = "/interface list\nadd comment=defconf name=WAN\n"
    a, b = export_facts(verbose, "v.rsc"), export_facts(plain, "p.rsc")
    assert [r["name"] for r in a.items("/interface/list")] == ["all", "none", "dynamic", "static", "WAN"]
    assert a.facts(["/interface/list"]) == b.facts(["/interface/list"])


def test_read_export_reads_a_wrapped_recording() -> None:
    from pytest_zengarden.offline.rsc import read_export

    path = pathlib.Path(__file__).parent / "recordings" / "routeros" / "services-at-factory.rsc"
    assert "\\\n    " in path.read_text(encoding="utf-8")  # RouterOS wraps long lines
    config = read_export(path)
    assert config.source == str(path)
    rule = config.find("/ip/firewall/filter", action="fasttrack-connection")[0]
    assert rule["connection-state"] == "established,related" and rule["hw-offload"] == "true"
    assert config.find("/ip/service", name="telnet")[0]["disabled"] == "false"
