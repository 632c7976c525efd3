"""The ``zengarden`` command: site-file tools (and, later, the lab)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .checks.site import flow_matrix
from .site import SiteError, load_site
from .site.schema import Site
from .site.validate import controls_of


def _cmd_site_check(args: argparse.Namespace) -> int:
    try:
        site = load_site(args.file)
    except SiteError as exc:
        print(exc, file=sys.stderr)
        print(f"{args.file}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    matrix = flow_matrix(site)
    print(
        f"{args.file}: OK - site {site.name!r}: {len(site.segments)} segments, {len(site.blades)} blades, "
        f"{len(controls_of(site))} controls, {len(matrix.rows)} flow classes"
    )
    return 0


def _cmd_site_schema(args: argparse.Namespace) -> int:
    schema = Site.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pytest-zengarden site file (version 1)"
    print(json.dumps(schema, indent=2))
    return 0


def _cmd_site_matrix(args: argparse.Namespace) -> int:
    try:
        site = load_site(args.file)
    except SiteError as exc:
        print(exc, file=sys.stderr)
        return 1
    rows = [
        r
        for r in flow_matrix(site).rows
        if (args.src is None or r.src == args.src)
        and (args.dst is None or r.dst == args.dst)
        and (not args.allowed or r.decision.verdict == "allow")
    ]
    if args.format == "json":
        print(
            json.dumps(
                [
                    {
                        "from": r.src,
                        "to": r.dst,
                        "protocol": r.protocol.value,
                        "ports": str(r.ports) if r.ports else None,
                        "verdict": r.decision.verdict,
                        "control": r.decision.control,
                        "statement": r.decision.statement,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return 0
    header = ("FROM", "TO", "PROTO", "PORTS", "VERDICT", "CONTROL", "STATEMENT")
    table = [header] + [
        (
            r.src,
            r.dst,
            r.protocol.value,
            str(r.ports) if r.ports else "-",
            r.decision.verdict,
            r.decision.control,
            r.decision.statement,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zengarden", description="Verify a homelab against its design.")
    sub = parser.add_subparsers(dest="command", required=True)

    site = sub.add_parser("site", help="site-file tools").add_subparsers(dest="site_command", required=True)
    check = site.add_parser("check", help="validate a site file (errors name file:line field)")
    check.add_argument("file")
    check.set_defaults(func=_cmd_site_check)
    schema = site.add_parser("schema", help="print the site file's JSON Schema")
    schema.set_defaults(func=_cmd_site_schema)
    matrix = site.add_parser("matrix", help="print the expected flow matrix the firewall policy implies")
    matrix.add_argument("file")
    matrix.add_argument("--from", dest="src", help="only flows from this segment")
    matrix.add_argument("--to", dest="dst", help="only flows to this segment")
    matrix.add_argument("--allowed", action="store_true", help="only allowed flows")
    matrix.add_argument("--format", choices=("table", "json"), default="table")
    matrix.set_defaults(func=_cmd_site_matrix)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
