"""The RouterOS -> nftables compiler: exact rule lines per matcher/action, refusals, and nft accepting every script.

The pure tests read the generated script; ``test_nft_accepts`` feeds every script of the case table to
``nft -c -f`` (check mode) inside a throwaway namespace, so the syntax is the kernel's to judge.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from pytest_zengarden.facts.router import RouterConfig
from pytest_zengarden.lab.nft_compile import CompileError, compile_config, compile_ruleset
from pytest_zengarden.offline.rsc import load_rsc

REPO = Path(__file__).resolve().parents[1]
R = Mapping[str, str]


def cfg(
    filter_: Sequence[R] = (),
    nat: Sequence[R] = (),
    addresses: Sequence[R] = (),
    members: Sequence[R] = (),
    lists: Sequence[R] | None = None,
) -> RouterConfig:
    menus: dict[str, Sequence[R]] = {
        "/ip/firewall/filter": filter_,
        "/ip/firewall/nat": nat,
        "/ip/firewall/address-list": addresses,
        "/interface/list/member": members,
    }
    if lists is not None:
        menus["/interface/list"] = lists
    return RouterConfig.from_records(menus, source="test")


def fwd(**props: str) -> dict[str, str]:
    """A forward-chain rule with id *1 (pass ``_id`` to change it); underscores in names become dashes."""
    rule = {".id": props.pop("_id", "*1"), "chain": "forward"}
    rule.update({k.replace("_", "-"): v for k, v in props.items()})
    return rule


MEMBERS = (
    {"list": "LAN", "interface": "eth-home"},
    {"list": "CLIENTS", "interface": "eth-home"},
    {"list": "CLIENTS", "interface": "eth-vpn"},
    {"list": "CLU", "interface": "eth-clu"},
    {"list": "OLD", "interface": "eth-old", "disabled": "true"},
)


def lines(script: str, rid: str) -> list[str]:
    """The rule lines whose comment starts with ``rid`` (stripped)."""
    pat = re.compile(rf'comment "{re.escape(rid)}( |")')
    return [ln.strip() for ln in script.splitlines() if pat.search(ln)]


def line(script: str, rid: str = "*1") -> str:
    found = lines(script, rid)
    assert len(found) == 1, f"expected one rule {rid}, got {found}\n{script}"
    return found[0]


def chain_body(script: str, chain: str) -> list[str]:
    m = re.search(rf"^\tchain {re.escape(chain)} {{\n(.*?)^\t}}", script, re.S | re.M)
    assert m, f"no chain {chain}\n{script}"
    return [ln.strip() for ln in m.group(1).splitlines()]


# --- the case table: (id, config, {rule id: exact nft line}) -----------------------------------------------
# Every script here is also checked by nft itself (test_nft_accepts).

CASES: list[tuple[str, RouterConfig, dict[str, str]]] = [
    # actions
    ("accept", cfg([fwd(action="accept")]), {"*1": 'counter accept comment "*1"'}),
    ("default-action-accept", cfg([fwd()]), {"*1": 'counter accept comment "*1"'}),
    ("drop", cfg([fwd(action="drop")]), {"*1": 'counter drop comment "*1"'}),
    (
        "reject-default",
        cfg([fwd(action="reject")]),
        {"*1": 'counter reject with icmp type net-unreachable comment "*1"'},
    ),
    *(
        (
            f"reject-{how}",
            cfg([fwd(action="reject", reject_with=how)]),
            {"*1": f'counter reject with icmp type {icmp} comment "*1"'},
        )
        for how, icmp in (
            ("icmp-network-unreachable", "net-unreachable"),
            ("icmp-host-unreachable", "host-unreachable"),
            ("icmp-port-unreachable", "port-unreachable"),
            ("icmp-admin-prohibited", "admin-prohibited"),
            ("icmp-net-prohibited", "net-prohibited"),
            ("icmp-host-prohibited", "host-prohibited"),
            ("icmp-protocol-unreachable", "prot-unreachable"),
        )
    ),
    (
        "reject-tcp-reset",
        cfg([fwd(action="reject", reject_with="tcp-reset", protocol="tcp")]),
        {"*1": 'meta l4proto tcp counter reject with tcp reset comment "*1"'},
    ),
    (
        "tarpit",
        cfg([fwd(action="tarpit", protocol="tcp")]),
        {"*1": 'meta l4proto tcp counter drop comment "*1 [tarpit as drop]"'},
    ),
    ("passthrough", cfg([fwd(action="passthrough")]), {"*1": 'counter comment "*1"'}),
    ("log-action", cfg([fwd(action="log", log_prefix="FW")]), {"*1": 'counter log prefix "FW" comment "*1"'}),
    ("log-action-no-prefix", cfg([fwd(action="log")]), {"*1": 'counter log comment "*1"'}),
    (
        "log-yes-on-drop",
        cfg([fwd(action="drop", log="yes", log_prefix='a $b "c"')]),
        {"*1": 'counter log prefix "a _b \'c\'" drop comment "*1"'},
    ),
    (
        "fasttrack",
        cfg([fwd(action="fasttrack-connection", connection_state="established,related", hw_offload="yes")]),
        {"*1": 'ct state { established, related } counter comment "*1 [fasttrack: marks only, slow path continues]"'},
    ),
    (
        "add-src-to-address-list",
        cfg([fwd(action="add-src-to-address-list", address_list="seen", address_list_timeout="1h")]),
        {"*1": 'counter comment "*1 [add-src-to-address-list not emulated]"'},
    ),
    (
        "jump-return",
        cfg(
            [
                fwd(action="jump", jump_target="my chain", protocol="tcp"),
                {".id": "*2", "chain": "my chain", "action": "return", "src-address": "192.168.88.10"},
                {".id": "*3", "chain": "my chain", "action": "drop"},
            ]
        ),
        {
            "*1": 'meta l4proto tcp counter jump f_my_chain comment "*1"',
            "*2": 'ip saddr 192.168.88.10 counter return comment "*2"',
            "*3": 'counter drop comment "*3"',
        },
    ),
    (
        "jump-to-empty-chain",
        cfg([fwd(action="jump", jump_target="nothing-here")]),
        {"*1": 'counter jump f_nothing_here comment "*1"'},
    ),
    # addresses
    ("src-ip", cfg([fwd(src_address="192.168.88.10")]), {"*1": 'ip saddr 192.168.88.10 counter accept comment "*1"'}),
    (
        "src-host32",
        cfg([fwd(src_address="192.168.88.10/32")]),
        {"*1": 'ip saddr 192.168.88.10 counter accept comment "*1"'},
    ),
    (
        "src-cidr-host-bits",
        cfg([fwd(src_address="192.168.88.5/24")]),
        {"*1": 'ip saddr 192.168.88.0/24 counter accept comment "*1"'},
    ),
    (
        "src-range",
        cfg([fwd(src_address="192.168.88.10-192.168.88.20")]),
        {"*1": 'ip saddr 192.168.88.10-192.168.88.20 counter accept comment "*1"'},
    ),
    (
        "src-aligned-range",
        cfg([fwd(src_address="10.0.0.0-10.0.0.255")]),
        {"*1": 'ip saddr 10.0.0.0/24 counter accept comment "*1"'},
    ),
    (
        "src-negated",
        cfg([fwd(src_address="!10.0.0.0/8")]),
        {"*1": 'ip saddr != 10.0.0.0/8 counter accept comment "*1"'},
    ),
    (
        "dst-negated-range",
        cfg([fwd(dst_address="!192.168.77.170-192.168.77.172", action="drop")]),
        {"*1": 'ip daddr != 192.168.77.170-192.168.77.172 counter drop comment "*1"'},
    ),
    (
        "address-lists",
        cfg(
            [fwd(src_address_list="trusted hosts"), fwd(_id="*2", dst_address_list="!srv", action="drop")],
            addresses=[
                {".id": "*1", "list": "trusted hosts", "address": "192.168.88.10"},
                {".id": "*2", "list": "srv", "address": "192.168.77.170"},
            ],
        ),
        {
            "*1": 'ip saddr @al_trusted_hosts counter accept comment "*1"',
            "*2": 'ip daddr != @al_srv counter drop comment "*2"',
        },
    ),
    # interfaces
    ("in-interface", cfg([fwd(in_interface="eth-home")]), {"*1": 'iifname "eth-home" counter accept comment "*1"'}),
    (
        "in-interface-negated",
        cfg([fwd(in_interface="!eth-home")]),
        {"*1": 'iifname != "eth-home" counter accept comment "*1"'},
    ),
    ("out-interface", cfg([fwd(out_interface="eth-clu")]), {"*1": 'oifname "eth-clu" counter accept comment "*1"'}),
    (
        "in-interface-list",
        cfg([fwd(in_interface_list="CLIENTS")], members=MEMBERS),
        {"*1": 'iifname { "eth-home", "eth-vpn" } counter accept comment "*1"'},
    ),
    (
        "in-interface-list-single",
        cfg([fwd(in_interface_list="LAN")], members=MEMBERS),
        {"*1": 'iifname "eth-home" counter accept comment "*1"'},
    ),
    (
        "out-interface-list-negated",
        cfg([fwd(out_interface_list="!CLIENTS", action="drop")], members=MEMBERS),
        {"*1": 'oifname != { "eth-home", "eth-vpn" } counter drop comment "*1"'},
    ),
    (
        "interface-list-negated-empty-always-matches",
        cfg([fwd(in_interface_list="!OLD", action="drop")], members=MEMBERS),
        {"*1": 'counter drop comment "*1"'},
    ),
    ("interface-list-all", cfg([fwd(in_interface_list="all")]), {"*1": 'counter accept comment "*1"'}),
    ("interface-list-not-none", cfg([fwd(in_interface_list="!none")]), {"*1": 'counter accept comment "*1"'}),
    (
        "interface-list-include-exclude",
        cfg(
            [fwd(in_interface_list="MIX")],
            members=[*MEMBERS, {"list": "MIX", "interface": "eth-x"}],
            lists=[
                {"name": "LAN"},
                {"name": "CLIENTS"},
                {"name": "CLU"},
                {"name": "OLD"},
                {"name": "MIX", "include": "CLIENTS,CLU", "exclude": "LAN"},
            ],
        ),
        {"*1": 'iifname { "eth-clu", "eth-vpn", "eth-x" } counter accept comment "*1"'},
    ),
    # protocols and ports
    ("protocol-name", cfg([fwd(protocol="udp")]), {"*1": 'meta l4proto udp counter accept comment "*1"'}),
    ("protocol-number-named", cfg([fwd(protocol="6")]), {"*1": 'meta l4proto tcp counter accept comment "*1"'}),
    ("protocol-other", cfg([fwd(protocol="gre")]), {"*1": 'meta l4proto 47 counter accept comment "*1"'}),
    ("protocol-negated", cfg([fwd(protocol="!icmp")]), {"*1": 'meta l4proto != icmp counter accept comment "*1"'}),
    (
        "dst-port-list-range",
        cfg([fwd(protocol="tcp", dst_port="22,80,1000-2000,81")]),
        {"*1": 'meta l4proto tcp tcp dport { 22, 80-81, 1000-2000 } counter accept comment "*1"'},
    ),
    (
        "dst-port-negated",
        cfg([fwd(protocol="udp", dst_port="!53")]),
        {"*1": 'meta l4proto udp udp dport != 53 counter accept comment "*1"'},
    ),
    (
        "src-port",
        cfg([fwd(protocol="udp", src_port="1000-2000")]),
        {"*1": 'meta l4proto udp udp sport 1000-2000 counter accept comment "*1"'},
    ),
    (
        "port-either-direction",
        cfg([fwd(protocol="tcp", port="22,8000-8080")]),
        {
            "*1": "meta l4proto tcp tcp sport . tcp dport { 22 . 0-65535, 0-65535 . 22, 8000-8080 . 0-65535, "
            '0-65535 . 8000-8080 } counter accept comment "*1"'
        },
    ),
    (
        "port-negated",
        cfg([fwd(protocol="tcp", port="!22")]),
        {"*1": 'meta l4proto tcp tcp sport . tcp dport != { 22 . 0-65535, 0-65535 . 22 } counter accept comment "*1"'},
    ),
    (
        "port-without-protocol",
        cfg([fwd(dst_port="53")]),
        {"*1": 'meta l4proto { tcp, udp, udplite, sctp, dccp } th dport 53 counter accept comment "*1"'},
    ),
    # connection tracking
    (
        "connection-state",
        cfg([fwd(connection_state="related,established")]),
        {"*1": 'ct state { established, related } counter accept comment "*1"'},
    ),
    (
        "connection-state-negated",
        cfg([fwd(connection_state="!established,related", action="drop")]),
        {"*1": 'ct state != { established, related } counter drop comment "*1"'},
    ),
    (
        "connection-state-single",
        cfg([fwd(connection_state="untracked")]),
        {"*1": 'ct state untracked counter accept comment "*1"'},
    ),
    (
        "nat-state-dstnat",
        cfg([fwd(connection_nat_state="dstnat")]),
        {"*1": 'ct status & dnat != 0 counter accept comment "*1"'},
    ),
    (
        "nat-state-not-dstnat",
        cfg([fwd(connection_nat_state="!dstnat", action="drop")]),
        {"*1": 'ct status & dnat == 0 counter drop comment "*1"'},
    ),
    (
        "nat-state-both",
        cfg([fwd(connection_nat_state="srcnat,dstnat")]),
        {"*1": 'ct status & (dnat | snat) != 0 counter accept comment "*1"'},
    ),
    # NAT
    (
        "nat",
        cfg(
            nat=[
                {".id": "*1", "chain": "srcnat", "action": "masquerade", "out-interface": "eth-clu"},
                {".id": "*2", "chain": "srcnat", "action": "src-nat", "to-addresses": "192.168.77.1"},
                {
                    ".id": "*3",
                    "chain": "dstnat",
                    "action": "dst-nat",
                    "protocol": "tcp",
                    "dst-port": "8022",
                    "to-addresses": "192.168.77.170",
                    "to-ports": "22",
                },
                {".id": "*4", "chain": "dstnat", "action": "redirect", "protocol": "udp", "to-ports": "53"},
                {".id": "*5", "chain": "dstnat", "action": "accept", "src-address": "10.0.0.1"},
                {".id": "*6", "chain": "dstnat", "action": "jump", "jump-target": "forward"},
                {".id": "*7", "chain": "forward", "action": "dst-nat", "to-addresses": "10.0.0.1-10.0.0.4"},
            ]
        ),
        {
            "*1": 'oifname "eth-clu" counter masquerade comment "*1"',
            "*2": 'counter snat ip to 192.168.77.1 comment "*2"',
            "*3": 'meta l4proto tcp tcp dport 8022 counter dnat ip to 192.168.77.170:22 comment "*3"',
            "*4": 'meta l4proto udp counter redirect to :53 comment "*4"',
            "*5": 'ip saddr 10.0.0.1 counter accept comment "*5"',
            # "forward" is a user chain in the NAT table (RouterOS keeps filter and nat chains apart)
            "*6": 'counter jump n_forward comment "*6"',
            "*7": 'counter dnat ip to 10.0.0.1-10.0.0.4 comment "*7"',
        },
    ),
    # comments and traceability
    (
        "comment-quotes",
        cfg([fwd(comment='say "hi"\nbye')]),
        {"*1": "counter accept comment \"*1 say 'hi' bye\""},
    ),
    (
        "no-id",
        cfg([{"chain": "forward", "action": "drop"}, {"chain": "input", "action": "drop"}]),
        {"#0": 'counter drop comment "#0"', "#1": 'counter drop comment "#1"'},
    ),
]


@pytest.mark.parametrize(("config", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_lines(config: RouterConfig, expected: dict[str, str]) -> None:
    script = compile_ruleset(config)
    for rid, want in expected.items():
        assert line(script, rid) == want


def test_script_replaces_table_atomically() -> None:
    script = compile_ruleset(cfg([fwd()]), table="zg_x")
    head = [ln for ln in script.splitlines() if ln and not ln.startswith("#")][:3]
    assert head == ["add table inet zg_x", "delete table inet zg_x", "table inet zg_x {"]
    assert script.count("table inet zg_x") == 3


def test_base_chains_accept_by_default_and_ignore_ipv6() -> None:
    script = compile_ruleset(cfg())
    for chain, decl in (
        ("input", "type filter hook input priority filter; policy accept;"),
        ("forward", "type filter hook forward priority filter; policy accept;"),
        ("output", "type filter hook output priority filter; policy accept;"),
        ("dstnat", "type nat hook prerouting priority dstnat; policy accept;"),
        ("srcnat", "type nat hook postrouting priority srcnat; policy accept;"),
    ):
        body = chain_body(script, chain)
        assert body[:2] == [decl, 'meta nfproto ipv6 accept comment "RouterOS /ip firewall sees IPv4 only"']


def test_rules_keep_print_order_per_chain() -> None:
    rules = [
        fwd(_id="*5", action="drop", src_address="10.0.0.1"),
        {".id": "*2", "chain": "input", "action": "drop"},
        fwd(_id="*3", action="accept"),
        fwd(_id="*1", action="reject"),
    ]
    body = chain_body(compile_ruleset(cfg(rules)), "forward")
    assert [re.search(r'comment "([^" ]+)', ln).group(1) for ln in body[2:]] == ["*5", "*3", "*1"]  # type: ignore[union-attr]


def test_disabled_dynamic_and_invalid_rules_are_skipped() -> None:
    rules = [
        fwd(_id="*1", action="drop", disabled="true"),
        fwd(_id="*2", action="drop", dynamic="true"),
        fwd(_id="*3", action="drop", invalid="true"),
        fwd(_id="*4", action="drop", disabled="yes"),
        fwd(_id="*5", action="accept", disabled="false"),
        # skipped rules are not even validated: RouterOS never applies them
        fwd(_id="*6", action="frobnicate", disabled="true"),
    ]
    script = compile_ruleset(cfg(rules))
    assert chain_body(script, "forward")[2:] == ['counter accept comment "*5"']


def test_address_list_sets_are_declared_merged_and_sanitized() -> None:
    compiled = compile_config(
        cfg(
            [
                fwd(src_address_list="a-b"),
                fwd(_id="*2", src_address_list="a b"),
                fwd(_id="*3", dst_address_list="nobody"),
            ],
            addresses=[
                {".id": "*1", "list": "a-b", "address": "10.0.0.0/24"},
                {".id": "*2", "list": "a-b", "address": "10.0.1.0-10.0.1.255"},  # adjacent: merged into /23
                {".id": "*3", "list": "a-b", "address": "10.0.0.7"},  # inside: absorbed
                {".id": "*4", "list": "a-b", "address": "10.0.5.1-10.0.5.3"},
                {".id": "*5", "list": "a b", "address": "1.2.3.4", "disabled": "true"},
                {".id": "*6", "list": "unused", "address": "192.168.1.1", "dynamic": "true"},
            ],
        )
    )
    assert compiled.address_sets == {"a-b": "al_a_b", "a b": "al_a_b_2", "unused": "al_unused", "nobody": "al_nobody"}
    body = chain_body(compiled.script.replace("\tset ", "\tchain set-"), "set-al_a_b")
    assert body == [
        "type ipv4_addr; flags interval;",
        'comment "address-list a-b"',
        "elements = { 10.0.0.0/23, 10.0.5.1-10.0.5.3 }",
    ]
    # a list with only disabled entries, and one referenced but never defined: declared, empty
    for name in ("al_a_b_2", "al_nobody"):
        body = chain_body(compiled.script.replace("\tset ", "\tchain set-"), f"set-{name}")
        assert not any(ln.startswith("elements") for ln in body)
    assert "elements = { 192.168.1.1 }" in compiled.script  # dynamic list entries are live membership
    assert line(compiled.script, "*2") == 'ip saddr @al_a_b_2 counter accept comment "*2"'


def test_empty_interface_list_never_matches_unless_negated() -> None:
    compiled = compile_config(
        cfg(
            [
                fwd(_id="*1", in_interface_list="OLD", action="drop"),
                fwd(_id="*2", in_interface_list="!all", action="drop"),
                fwd(_id="*3", out_interface_list="none", action="jump", jump_target="sub"),
                fwd(_id="*4", in_interface_list="!OLD", action="drop"),
            ],
            members=MEMBERS,
        )
    )
    body = chain_body(compiled.script, "forward")[2:]
    assert body == [
        "# *1: never matches, in-interface-list=OLD has no members",
        "# *2: never matches, in-interface-list=!all excludes every interface",
        "# *3: never matches, out-interface-list=none has no members",
        'counter drop comment "*4"',
    ]
    assert set(compiled.never_matching) == {"*1", "*2", "*3"}
    assert chain_body(compiled.script, "f_sub") == ['comment "RouterOS filter chain sub"']  # still declared


def test_interface_names_can_be_mapped_to_lab_names() -> None:
    config = cfg(
        [fwd(in_interface="bridge-homelab-trunk"), fwd(_id="*2", in_interface_list="LAN")],
        members=[{"list": "LAN", "interface": "bridge-homelab-trunk"}],
    )
    with pytest.raises(CompileError, match="cannot exist in Linux"):
        compile_ruleset(config)
    script = compile_ruleset(config, interfaces={"bridge-homelab-trunk": "br-lab"})
    assert line(script, "*1") == 'iifname "br-lab" counter accept comment "*1"'
    assert line(script, "*2") == 'iifname "br-lab" counter accept comment "*2"'
    merged = cfg(
        [fwd(in_interface_list="LAN")],
        members=[{"list": "LAN", "interface": "ether2"}, {"list": "LAN", "interface": "ether3"}],
    )
    script = compile_ruleset(merged, interfaces={"ether2": "eth-lan", "ether3": "eth-lan"})
    assert line(script) == 'iifname "eth-lan" counter accept comment "*1"'


def test_mappings_trace_back_to_routeros() -> None:
    compiled = compile_config(
        cfg(
            [fwd(action="jump", jump_target="a b"), {".id": "*2", "chain": "a-b", "action": "drop"}],
            nat=[{".id": "*3", "chain": "dstnat", "action": "jump", "jump-target": "a b"}],
        )
    )
    assert compiled.chains[("filter", "forward")] == "forward"
    assert compiled.chains[("filter", "a b")] == "f_a_b"
    assert compiled.chains[("filter", "a-b")] == "f_a_b_2"
    assert compiled.chains[("nat", "a b")] == "n_a_b"
    assert compiled.table == "zg_routeros"


def test_comments_are_truncated_to_what_nft_accepts() -> None:
    script = compile_ruleset(cfg([fwd(comment="é" * 100, log="yes", log_prefix="x" * 200)]))
    rule = line(script, "*1")
    comment = re.search(r'comment "([^"]*)"', rule).group(1)  # type: ignore[union-attr]
    prefix = re.search(r'log prefix "([^"]*)"', rule).group(1)  # type: ignore[union-attr]
    assert len(comment.encode()) <= 127 and comment.startswith("*1 é")
    assert prefix == "x" * 127


def test_output_is_deterministic() -> None:
    config = load_rsc(REPO / "fixtures" / "recorded" / "router.rsc")
    assert compile_ruleset(config) == compile_ruleset(config)


def test_recorded_router_export_compiles() -> None:
    """The recorded site router: every rule becomes exactly one nft rule, in order."""
    config = load_rsc(REPO / "fixtures" / "recorded" / "router.rsc")
    script = compile_ruleset(config)
    for rule in config.items("/ip/firewall/filter"):
        assert len(lines(script, rule[".id"])) >= 1
    assert line(script, "*9") == 'iifname "ether1" ct state new ct status & dnat == 0 counter drop comment "*9"'
    assert 'ip saddr 192.168.216.0/24 ip daddr != @al_vpn_allowed counter drop comment "*10' in script
    assert "elements = { 10.42.0.0/15, 192.168.77.0/24 }" in script


# --- refusals --------------------------------------------------------------------------------------------


def jump_chain(n: int) -> list[dict[str, str]]:
    """User chains c1 -> c2 -> ... -> cN (n - 1 jumps), ids *1.."""
    return [{".id": f"*{i}", "chain": f"c{i}", "action": "jump", "jump-target": f"c{i + 1}"} for i in range(1, n)]


ERRORS: list[tuple[str, RouterConfig, str]] = [
    (
        "unknown-matcher",
        cfg([fwd(tcp_flags="syn", comment="c")]),
        r"^rule \*1 \(c\): unsupported matcher\(s\) tcp-flags$",
    ),
    ("unknown-action", cfg([fwd(action="frobnicate")]), r"^rule \*1 \(\): action 'frobnicate' is not supported"),
    ("nat-action-in-filter", cfg([fwd(action="masquerade")]), "action 'masquerade' is not supported in the filter"),
    (
        "drop-in-nat",
        cfg(nat=[{".id": "*4", "chain": "srcnat", "action": "drop"}]),
        r"rule \*4 \(\): action 'drop' is not supported in the nat table",
    ),
    ("bad-address", cfg([fwd(src_address="192.168.300.1")]), "not an IPv4 address, CIDR or range: '192.168.300.1'"),
    ("bad-prefix", cfg([fwd(dst_address="10.0.0.0/33")]), "not an IPv4 address"),
    ("hostname", cfg([fwd(dst_address="example.com")]), "not an IPv4 address"),
    ("backwards-range", cfg([fwd(src_address="10.0.0.9-10.0.0.1")]), "empty"),
    (
        "bad-address-list-entry",
        cfg(addresses=[{".id": "*7", "list": "x", "address": "nas.lan", "comment": "the NAS"}]),
        r"^address-list entry \*7 \(the NAS\): not an IPv4 address",
    ),
    ("bad-port", cfg([fwd(protocol="tcp", dst_port="80,70000")]), "bad port range"),
    ("bad-port-range", cfg([fwd(protocol="tcp", dst_port="90-80")]), "empty"),
    ("port-with-icmp", cfg([fwd(protocol="icmp", dst_port="80")]), "dst-port need protocol tcp"),
    ("port-with-negated-protocol", cfg([fwd(protocol="!tcp", port="80")]), "port need protocol tcp"),
    ("unknown-protocol", cfg([fwd(protocol="tcpp")]), "unknown protocol 'tcpp'"),
    ("protocol-number-range", cfg([fwd(protocol="256")]), "out of range"),
    ("jump-without-target", cfg([fwd(action="jump")]), "needs jump-target"),
    ("jump-to-builtin", cfg([fwd(action="jump", jump_target="input")]), "cannot jump to built-in chain 'input'"),
    (
        "jump-loop",
        cfg(
            [
                fwd(action="jump", jump_target="a"),
                {".id": "*2", "chain": "a", "action": "jump", "jump-target": "b"},
                {".id": "*3", "chain": "b", "action": "jump", "jump-target": "a"},
            ]
        ),
        "filter chains jump in a loop: a -> b -> a",
    ),
    (
        "jump-too-deep",
        cfg([fwd(_id="*0", action="jump", jump_target="c1"), *jump_chain(16)]),
        "filter chain 'forward' nests jumps 16 deep",
    ),
    ("tcp-reset-without-tcp", cfg([fwd(action="reject", reject_with="tcp-reset")]), "needs protocol=tcp"),
    ("unknown-reject-with", cfg([fwd(action="reject", reject_with="icmp-nope")]), "unknown reject-with 'icmp-nope'"),
    ("unknown-connection-state", cfg([fwd(connection_state="established,bogus")]), "unknown state"),
    ("unknown-nat-state", cfg([fwd(connection_nat_state="masq")]), "unknown state"),
    (
        "dst-nat-without-address",
        cfg(nat=[{".id": "*1", "chain": "dstnat", "action": "dst-nat", "protocol": "tcp", "to-ports": "80"}]),
        "needs to-addresses",
    ),
    (
        "to-ports-without-protocol",
        cfg(nat=[{".id": "*1", "chain": "dstnat", "action": "dst-nat", "to-addresses": "10.0.0.1", "to-ports": "80"}]),
        "to-ports needs protocol",
    ),
    (
        "masquerade-in-dstnat",
        cfg(nat=[{".id": "*1", "chain": "dstnat", "action": "masquerade"}]),
        "not valid in chain dstnat",
    ),
    ("unsupported-nat-action", cfg(nat=[{".id": "*1", "chain": "srcnat", "action": "netmap"}]), "'netmap'"),
    (
        "out-interface-on-input",
        cfg([{".id": "*1", "chain": "input", "out-interface": "x"}]),
        "cannot be used in chain input",
    ),
    ("in-interface-on-output", cfg([{".id": "*1", "chain": "output", "in-interface-list": "LAN"}]), "chain output"),
    (
        "out-interface-on-dstnat",
        cfg(nat=[{".id": "*1", "chain": "dstnat", "action": "accept", "out-interface": "eth-clu"}]),
        "out-interface cannot be used in chain dstnat",
    ),
    ("interface-too-long", cfg([fwd(in_interface="a-very-long-interface")]), "cannot exist in Linux"),
    ("interface-wildcard", cfg([fwd(in_interface="all-ethernet")]), "no Linux equivalent"),
    ("interface-odd-chars", cfg([fwd(in_interface="eth*")]), "cannot match literally"),
    (
        "unknown-interface-list",
        cfg([fwd(in_interface_list="LNA")], members=MEMBERS, lists=[{"name": "LAN"}]),
        "unknown interface list 'LNA'",
    ),
    ("dynamic-interface-list", cfg([fwd(in_interface_list="dynamic")]), "run-time state"),
    (
        "interface-list-cycle",
        cfg([fwd(in_interface_list="A")], lists=[{"name": "A", "include": "B"}, {"name": "B", "include": "A"}]),
        "includes itself",
    ),
    ("no-chain", cfg([{".id": "*1", "action": "drop"}]), "has no chain"),
    ("empty-address-list-name", cfg([fwd(src_address_list="!")]), "has no list name"),
]


@pytest.mark.parametrize(("config", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_compile_errors(config: RouterConfig, message: str) -> None:
    with pytest.raises(CompileError, match=message):
        compile_ruleset(config)


def test_jump_depth_counts_from_built_in_chains_only() -> None:
    # 16 chained user chains nobody jumps to are fine (nft only counts from base chains) ...
    compile_ruleset(cfg(jump_chain(17)))
    # ... and 15 jumps deep from forward is exactly what the kernel allows (see the test below).
    compile_ruleset(cfg([fwd(_id="*0", action="jump", jump_target="c1"), *jump_chain(15)]))


def test_never_matching_jump_is_no_loop() -> None:
    config = cfg(
        [
            fwd(action="jump", jump_target="a"),
            {".id": "*2", "chain": "a", "action": "jump", "jump-target": "b"},
            {".id": "*3", "chain": "b", "action": "jump", "jump-target": "a", "in-interface-list": "none"},
        ]
    )
    assert lines(compile_ruleset(config), "*2") == ['counter jump f_b comment "*2"']


def test_bad_table_name() -> None:
    with pytest.raises(CompileError, match="not an nft identifier"):
        compile_ruleset(cfg(), table="zg routeros; flush ruleset")


# --- nft itself judges every script ----------------------------------------------------------------------

needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="needs root, `ip netns` and nft",
)
CHECK_NS = "zgA-check"


@pytest.fixture(scope="module")
def nft_check() -> Iterator[None]:
    """A throwaway namespace for ``nft -c``: check mode talks to the kernel, so keep it out of the root one."""
    subprocess.run(["ip", "netns", "del", CHECK_NS], capture_output=True, timeout=10)  # stale from a crash
    subprocess.run(["ip", "netns", "add", CHECK_NS], check=True, capture_output=True, timeout=10)
    try:
        yield
    finally:
        subprocess.run(["ip", "netns", "del", CHECK_NS], check=True, capture_output=True, timeout=10)


def nft_accepts(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", CHECK_NS, "nft", "-c", "-f", "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=20,
    )


@needs_netns
@pytest.mark.usefixtures("nft_check")
@pytest.mark.parametrize(
    "config",
    [c[1] for c in CASES] + [load_rsc(REPO / "fixtures" / "recorded" / "router.rsc")],
    ids=[c[0] for c in CASES] + ["recorded-router"],
)
def test_nft_accepts(config: RouterConfig) -> None:
    script = compile_ruleset(config)
    proc = nft_accepts(script)
    assert proc.returncode == 0, f"nft -c refused:\n{proc.stderr}\n{script}"


@needs_netns
@pytest.mark.usefixtures("nft_check")
def test_kernel_allows_exactly_the_jump_depth_the_compiler_allows() -> None:
    """Check mode does not validate depth, so load for real (in the throwaway namespace)."""
    script = compile_ruleset(cfg([fwd(_id="*0", action="jump", jump_target="c1"), *jump_chain(15)]))
    load = ["ip", "netns", "exec", CHECK_NS, "nft", "-f", "-"]
    proc = subprocess.run(load, input=script, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, f"nft refused 15 jumps:\n{proc.stderr}"
    # One more level, written by hand because the compiler refuses it.
    deeper = script + "add chain inet zg_routeros f_c16\nadd rule inet zg_routeros f_c15 jump f_c16\n"
    proc = subprocess.run(load, input=deeper, capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0 and "Too many links" in proc.stderr, deeper
    subprocess.run([*load[:-2], "flush", "ruleset"], capture_output=True, timeout=20)


@needs_netns
@pytest.mark.usefixtures("nft_check")
def test_nft_accepts_the_whole_table_at_once() -> None:
    """All cases merged into one configuration (ids renumbered): sets, user chains and NAT together."""
    merged: dict[str, list[dict[str, str]]] = {}
    n = 0
    for _, config, _ in CASES:
        for menu, records in config.menus.items():
            for rec in records:
                n += 1
                merged.setdefault(menu, []).append({**rec, ".id": f"*{n:X}"})
    merged["/interface/list/member"] = [dict(m) for m in MEMBERS] + [{"list": "MIX", "interface": "eth-x"}]
    script = compile_ruleset(RouterConfig.from_records(merged, source="merged"))
    proc = nft_accepts(script)
    assert proc.returncode == 0, f"nft -c refused:\n{proc.stderr}\n{script}"


# --- /ipv6 firewall: its own table (family ip6) -------------------------------------------------------------

V6 = RouterConfig.from_records(
    {
        "/ip/firewall/filter": [fwd(_id="*1", action="drop", comment="ipv4 only")],
        "/ipv6/firewall/address-list": [
            {"list": "trusted6", "address": "fd00:88::10/127"},
            {"list": "trusted6", "address": "fd00:88::12"},
        ],
        "/ipv6/firewall/filter": [
            fwd(_id="*A", action="accept", connection_state="established,related"),
            fwd(_id="*B", action="accept", src_address_list="trusted6", dst_address="fd00:77::/64", protocol="tcp",
                dst_port="22"),
            fwd(_id="*C", action="reject", src_address="!fd00::/8"),
            fwd(_id="*D", action="reject", reject_with="icmp-admin-prohibited", protocol="icmpv6"),
            fwd(_id="*E", action="drop", in_interface="eth-home"),
        ],
    },
    source="v6",
)  # fmt: skip


def test_ipv6_filter_compiles_to_an_ip6_table_of_its_own() -> None:
    script = compile_ruleset(V6, table="zg_routeros6", family=6)
    assert "add table ip6 zg_routeros6\ndelete table ip6 zg_routeros6\ntable ip6 zg_routeros6 {" in script
    assert "nfproto" not in script and "ipv4 only" not in script and "chain dstnat" not in script
    assert "type ipv6_addr; flags interval;" in script
    assert "elements = { fd00:88::10-fd00:88::12 }" in script
    assert "ip6 saddr @al_trusted6" in line(script, "*B") and "ip6 daddr fd00:77::/64" in line(script, "*B")
    assert line(script, "*C").startswith("ip6 saddr != fd00::/8 counter reject with icmpv6 type no-route")
    assert "reject with icmpv6 type admin-prohibited" in line(script, "*D")
    # The IPv4 table is untouched by /ipv6 rules and still lets IPv6 through to the ip6 table.
    v4 = compile_ruleset(V6)
    assert "*B" not in v4 and "meta nfproto ipv6 accept" in v4 and "ipv4 only" in v4


def test_ipv6_table_refuses_what_it_cannot_emulate() -> None:
    nat = RouterConfig.from_records({"/ipv6/firewall/nat": [{"chain": "srcnat", "action": "masquerade"}]}, "v6")
    with pytest.raises(CompileError, match="does not emulate IPv6 NAT"):
        compile_ruleset(nat, family=6)
    ipv4_in_v6 = RouterConfig.from_records({"/ipv6/firewall/filter": [fwd(src_address="192.168.1.0/24")]}, "v6")
    with pytest.raises(CompileError, match="not an IPv6 address"):
        compile_ruleset(ipv4_in_v6, family=6)
    odd = RouterConfig.from_records(
        {"/ipv6/firewall/filter": [fwd(action="reject", reject_with="icmp-headers-too-long")]}, "v6"
    )
    with pytest.raises(CompileError, match="unknown reject-with 'icmp-headers-too-long'"):
        compile_ruleset(odd, family=6)


@needs_netns
@pytest.mark.usefixtures("nft_check")
def test_nft_accepts_the_ipv6_table_next_to_the_ipv4_one() -> None:
    script = compile_ruleset(V6) + compile_ruleset(V6, table="zg_routeros6", family=6)
    proc = nft_accepts(script)
    assert proc.returncode == 0, f"nft -c refused:\n{proc.stderr}\n{script}"
