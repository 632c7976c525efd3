"""The ``zengarden`` command: site-file tools (and, later, the lab)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checks.site import flow_matrix
from .errors import ZengardenError
from .site.loader import SiteError, load_site
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


def _not_routed(site: Site, src: str, dst: str) -> str:
    """Why the router's firewall decides nothing between ``src`` and ``dst``."""
    if src == dst:
        return f"{src} -> {dst}: traffic within one segment does not cross the router; its firewall decides none of it"
    wire = {s: site.segments[s].routed_via or s for s in (src, dst)}
    return (
        f"{src} and {dst} are on the same wire ({wire[src]}): the router does not route between them, so its "
        "firewall decides none of their traffic (the cluster's own policy does)"
    )


def _cmd_firewall_explain(args: argparse.Namespace) -> int:
    from .analysis.firewall_eval import Firewall, FirewallError
    from .analysis.flow_space import endpoints, routed
    from .checks.firewall import explain
    from .offline.rsc import RscParseError, read_export

    try:
        site = load_site(args.site)
        config = read_export(Path(args.rsc))
        fw = Firewall(config)
    except (SiteError, RscParseError, FirewallError, OSError) as exc:
        print(f"zengarden: {exc}", file=sys.stderr)
        return 1
    for name in (args.src, args.dst):
        if name is not None and name not in site.segments:
            print(f"zengarden: unknown segment {name!r}; the site has {', '.join(site.segments)}", file=sys.stderr)
            return 1
    if args.src and args.dst and not routed(site, args.src, args.dst):
        # Nothing to explain is not an empty table: the router never sees this traffic.
        print(f"zengarden: {_not_routed(site, args.src, args.dst)}", file=sys.stderr)
        return 2
    try:
        eps = endpoints(site, config)
    except ZengardenError as exc:
        print(f"zengarden: {exc}", file=sys.stderr)
        return 1
    rows = flow_matrix(site).rows
    header = ("FROM", "TO", "PROTO", "PORTS", "VERDICT", "DESIGN", "DECIDED BY")
    table: list[tuple[str, ...]] = [header]
    deviations = 0
    for src in site.segments:
        for dst in site.segments:
            if (args.src and src != args.src) or (args.dst and dst != args.dst) or not routed(site, src, dst):
                continue
            for e in explain(site, fw, rows, src, dst):
                box = e.region.box
                where = []
                if box.src != eps[src].addresses:
                    where.append(f"from {box.src.describe_addresses(2)}")
                if box.dst != eps[dst].addresses:
                    where.append(f"to {box.dst.describe_addresses(2)}")
                if e.ports is not None and box.sport.size != 65536:
                    where.append(f"sport {box.sport.describe_ports(3)}")
                ports = e.ports.describe_ports(4) if e.ports is not None else "-"
                mark = "" if not e.deviates else "  <-- deviates"
                deviations += e.deviates
                table.append(
                    (
                        src + (f" ({' '.join(where)})" if where else ""),
                        dst,
                        e.protocol.value,
                        ports,
                        e.region.outcome.verdict,
                        e.expected,
                        e.region.outcome.describe() + mark,
                    )
                )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"{deviations} region(s) deviate from the design", file=sys.stderr)
    return 1 if deviations else 0


def _lab(args: argparse.Namespace) -> Any:
    from .lab.lifecycle import Lab

    path = Path(args.site or os.environ.get("ZG_SITE") or "fixtures/sites/zengarden.yaml")
    site = load_site(path)
    return Lab(site, path.resolve())


def _cmd_lab_up(args: argparse.Namespace) -> int:
    _lab(args).up(bare=args.bare, deviate=args.deviate)
    return 0


def _cmd_lab_down(args: argparse.Namespace) -> int:
    if not _lab(args).down():
        print("no lab to take down", file=sys.stderr)
    return 0


def _cmd_lab_status(args: argparse.Namespace) -> int:
    rows = _lab(args).status_rows()
    width = max(len(r[0]) for r in rows)
    for component, ok, detail in rows:
        print(f"{component.ljust(width)}  {'ok  ' if ok else 'FAIL'}  {detail}")
    return 0 if all(ok for _, ok, _ in rows) else 1


def _cmd_lab_logs(args: argparse.Namespace) -> int:
    lab = _lab(args)
    logs = sorted((lab.dir / "logs").glob("*.log")) if (lab.dir / "logs").exists() else []
    if args.component:
        logs = [p for p in logs if p.stem == args.component]
        if not logs:
            print(f"no log for {args.component!r}", file=sys.stderr)
            return 1
    for path in logs:
        lines = path.read_text(errors="replace").splitlines()[-args.lines :]
        print(f"==> {path.stem} <==")
        print("\n".join(lines))
    return 0


def _cmd_lab_deviations(args: argparse.Namespace) -> int:
    from .lab.deviations import CATALOGUE

    width = max(len(n) for n in CATALOGUE)
    for name, dev in sorted(CATALOGUE.items()):
        print(f"{name.ljust(width)}  {dev.breaks:<22}  {dev.description}")
    return 0


def _cmd_lab_env(args: argparse.Namespace) -> int:
    from .lab.lifecycle import load_lab_json

    lab = _lab(args)
    info = load_lab_json(lab.dir)
    router = info["inventory"]["router"]
    password = Path(router["password"]["file"]).read_text().strip()
    host = info["router"]["address"]
    rest = lab.site.router.rest
    exports = {
        "ZG_LAB_STATE": str(lab.dir),
        "ZG_LAB_MGMT_NETNS": info["management_netns"],
        "ZG_ROUTER_HOST": host,
        "ZG_ROUTER_USER": router["username"],
        "ZG_ROUTER_PASSWORD": password,
        "ZG_ROUTER_CA": router["ca_file"],
        "ZG_ROUTER_REST_URL": f"{rest.scheme}://{host}:{rest.port}/rest",
    }
    exports.update(info.get("env", {}))  # KUBECONFIG, ZG_ETCD_* once the control plane runs
    for key, value in exports.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def _segment_netns(args: argparse.Namespace) -> str:
    from .lab.lifecycle import load_lab_json

    info = load_lab_json(_lab(args).dir)
    segment = args.segment or "management"
    probes = info["probes"]
    if segment == "router":
        return str(info["router"]["netns"])
    if segment not in probes:
        raise SystemExit(f"unknown segment {segment!r}; the lab has {', '.join(sorted(probes))} and router")
    return str(probes[segment]["netns"])


def _cmd_lab_shell(args: argparse.Namespace) -> int:
    ns = _segment_netns(args)
    shell = os.environ.get("SHELL", "/bin/bash")
    os.execvp("ip", ["ip", "netns", "exec", ns, shell])


def _cmd_lab_exec(args: argparse.Namespace) -> int:
    ns = _segment_netns(args)
    cmd = [c for c in args.cmd if c != "--"] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise SystemExit("zengarden lab exec SEGMENT -- COMMAND...")
    os.execvp("ip", ["ip", "netns", "exec", ns, *cmd])


def _cmd_pss(args: argparse.Namespace) -> int:
    from .analysis.pod_security import WORKLOAD_KINDS, MalformedObject, evaluate
    from .offline.kube_yaml import ManifestError, read_objects

    try:
        objects = read_objects([Path(p) for p in args.paths])
        judged = [(where, obj, evaluate(obj, args.level)) for where, obj in objects]
    except (ManifestError, MalformedObject) as exc:
        print(f"zengarden pss: {exc}", file=sys.stderr)
        return 2
    if not objects:  # nothing read is no pass
        print(f"zengarden pss: no Kubernetes object in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    pods = bad = 0
    for where, obj, violations in judged:
        pods += obj.get("kind") in WORKLOAD_KINDS
        bad += bool(violations)
        for v in violations:
            print(f"{where}: {v}")
    print(f"{pods} pod(s) and pod template(s) judged at {args.level}: {bad} violate", file=sys.stderr)
    return 1 if bad else 0


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

    firewall = sub.add_parser("firewall", help="judge a router's firewall").add_subparsers(
        dest="firewall_command", required=True
    )
    fexplain = firewall.add_parser(
        "explain", help="how an .rsc export decides every flow between segments, beside the design's verdict"
    )
    fexplain.add_argument("site", help="site file")
    fexplain.add_argument("rsc", help="the router's /export (.rsc)")
    fexplain.add_argument("--from", dest="src", help="only flows from this segment")
    fexplain.add_argument("--to", dest="dst", help="only flows to this segment")
    fexplain.set_defaults(func=_cmd_firewall_explain)

    pss = sub.add_parser(
        "pss", help="judge Pods and pod templates in YAML files against a Pod Security Standard (Kubernetes v1.32)"
    )
    pss.add_argument("paths", nargs="+", metavar="PATH", help="YAML files or directories (multi-document)")
    pss.add_argument("--level", choices=("restricted", "baseline"), default="restricted")
    pss.set_defaults(func=_cmd_pss)

    lab = sub.add_parser("lab", help="the embedded lab (a digital twin of the site in network namespaces)")
    lab.add_argument("--site", help="site file (default: $ZG_SITE or fixtures/sites/zengarden.yaml)")
    labs = lab.add_subparsers(dest="lab_command", required=True)
    up = labs.add_parser("up", help="bring the lab up (idempotent)")
    up.add_argument("--bare", action="store_true", help="router at factory state (for --provision)")
    up.add_argument("--deviate", action="append", default=[], metavar="NAME", help="apply a named deviation")
    up.set_defaults(func=_cmd_lab_up)
    labs.add_parser("down", help="remove everything the lab made").set_defaults(func=_cmd_lab_down)
    labs.add_parser("status", help="health of every component").set_defaults(func=_cmd_lab_status)
    logs = labs.add_parser("logs", help="recent log lines of the lab's processes")
    logs.add_argument("component", nargs="?")
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.set_defaults(func=_cmd_lab_logs)
    labs.add_parser("deviations", help="list the named deviations").set_defaults(func=_cmd_lab_deviations)
    labs.add_parser("env", help="shell exports for reaching the lab by hand").set_defaults(func=_cmd_lab_env)
    shell = labs.add_parser("shell", help="a shell in a segment's namespace (default: management)")
    shell.add_argument("segment", nargs="?")
    shell.set_defaults(func=_cmd_lab_shell)
    ex = labs.add_parser("exec", help="run a command in a segment's namespace")
    ex.add_argument("segment")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    ex.set_defaults(func=_cmd_lab_exec)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .lab.netns import LabError

    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except (LabError, SiteError) as exc:
        print(f"zengarden: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
