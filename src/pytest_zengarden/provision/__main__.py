"""``python -m pytest_zengarden.provision --site FILE [--plan]``: provision without verifying.

What ``pytest --provision`` runs before its checks, for scripts: ``zengarden lab up`` converges the lab
with it (from inside the lab's management namespace), with the lab's deviations as overrides.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import ZengardenError
from ..redaction import install_log_redaction
from ..site.loader import SiteError, load_site
from ..targets import TargetSpec, make_target
from .journal import Journal
from .run import Overrides, provision, report


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pytest_zengarden.provision")
    p.add_argument("--site", required=True, type=Path)
    p.add_argument("--target", default="lab", help="lab or live")
    p.add_argument("--plan", action="store_true", help="show the plan; change nothing")
    p.add_argument("--journal", type=Path, help="append what is applied here (JSON lines)")
    p.add_argument("--router-desired", type=Path, help="JSON menus -> records to converge the router to instead")
    p.add_argument("--cluster-extra", type=Path, help="JSON list of objects applied after the site's")
    p.add_argument("--parts", default="router,blades,cluster")
    args = p.parse_args(argv)
    install_log_redaction()
    try:
        site = load_site(args.site)
    except SiteError as exc:
        print(f"the site file has problems:\n{exc}", file=sys.stderr)
        return 2
    overrides = Overrides(
        router=json.loads(args.router_desired.read_text()) if args.router_desired else None,
        cluster_extra=json.loads(args.cluster_extra.read_text()) if args.cluster_extra else [],
    )
    target = make_target(TargetSpec.parse(args.target), site)
    journal_path = args.journal
    if journal_path is None and args.target == "lab":
        journal_path = getattr(target, "state_dir", Path(".zengarden")) / "provision-journal.jsonl"
    try:
        outcomes = provision(
            site,
            target,
            apply=not args.plan,
            journal=Journal(journal_path),
            say=lambda m: print(m, file=sys.stderr, flush=True),
            overrides=overrides,
            parts=args.parts.split(","),
        )
    except ZengardenError as exc:
        print(f"provisioning failed: {exc}", file=sys.stderr)
        return 1
    finally:
        target.close()
    for line in report(outcomes, apply=not args.plan):
        print(line, file=sys.stderr)
    return 1 if any(o.error for o in outcomes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
