"""``python -m pytest_zengarden.lab.routeros``: the emulator as a process, until SIGTERM/SIGINT.

Example::

    python -m pytest_zengarden.lab.routeros --state-file /var/lib/lab/router.json \\
        --api 10.0.0.1:8728 --api-ssl 10.0.0.1:8729 --rest-ssl 10.0.0.1:443 \\
        --cert router.crt --key router.key --user admin:/run/secrets/router-admin \\
        --apply-cmd "python -m lab.apply" --ready-file /run/lab/router.ready

Exit status: 0 after a clean shutdown, 2 for bad arguments, 1 if the emulator could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .emulator import Listener, ServerOptions, apply_command_hook, run_emulator
from .schema import RouterOsError, StoreOptions
from .store import ConfigStore
from .tls import server_context

LOG = logging.getLogger("pytest_zengarden.lab.routeros")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pytest_zengarden.lab.routeros", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("--state-file", type=Path, help="JSON state, loaded at start and rewritten after every change")
    for kind in ("api", "api-ssl", "rest", "rest-ssl"):
        p.add_argument(f"--{kind}", action="append", default=[], metavar="HOST:PORT", help=f"{kind} listener")
    p.add_argument("--cert", type=Path, help="PEM certificate (chain) for api-ssl/rest-ssl")
    p.add_argument("--key", type=Path, help="PEM private key for api-ssl/rest-ssl")
    p.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD_FILE",
        help="ensure a full-access user whose password is the first line of PASSWORD_FILE",
    )
    p.add_argument("--interfaces", default="ether1,ether2,ether3,ether4,ether5", help="physical ports (comma list)")
    p.add_argument("--apply-cmd", help="on every change, pipe the configuration as JSON into this command")
    p.add_argument("--apply-timeout", type=float, default=30.0, help="seconds before an apply counts as failed")
    p.add_argument("--ready-file", type=Path, help="written (JSON of bound addresses) once all listeners are bound")
    p.add_argument("--emit-empty", action="store_true", help="API: send !empty when a print finds nothing")
    p.add_argument("--put-status", type=int, default=201, help="REST status of a successful PUT")
    p.add_argument("--delete-status", type=int, default=204, help="REST status of a successful DELETE")
    p.add_argument("--no-validate-references", action="store_true", help="accept names of missing interfaces/lists")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def _read_users(specs: Sequence[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    users: dict[str, str] = {}
    for spec in specs:
        name, sep, file = spec.partition(":")
        if not sep or not name or not file:
            parser.error(f"--user: expected NAME:PASSWORD_FILE, got {spec!r}")
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            parser.error(f"--user {name}: cannot read password file {file} ({exc.strerror})")
        users[name] = lines[0] if lines else ""
    return users


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s routeros-emulator %(message)s",
    )
    try:
        listeners = [
            Listener.parse(kind, spec)
            for kind in ("api", "api-ssl", "rest", "rest-ssl")
            for spec in getattr(args, kind.replace("-", "_"))
        ]
    except ValueError as exc:
        parser.error(str(exc))
    if not listeners:
        parser.error("no listener: give at least one of --api, --api-ssl, --rest, --rest-ssl")
    needs_tls = any(lst.kind.endswith("-ssl") for lst in listeners)
    if needs_tls and (args.cert is None or args.key is None):
        parser.error("--api-ssl/--rest-ssl need --cert and --key")
    users = _read_users(args.user, parser)

    try:
        ssl_context = server_context(args.cert, args.key) if needs_tls else None
        interfaces = tuple(i.strip() for i in args.interfaces.split(",") if i.strip())
        store = ConfigStore(
            args.state_file,
            options=StoreOptions(validate_references=not args.no_validate_references, interfaces=interfaces),
            users=users,
        )
    except (OSError, ValueError) as exc:
        LOG.error("cannot start: %s", exc)
        return 1
    if not any(True for _ in store.print("/user")):
        LOG.warning("no users: nobody can log in (give --user NAME:PASSWORD_FILE)")
    hook = apply_command_hook(args.apply_cmd, args.apply_timeout) if args.apply_cmd else None
    options = ServerOptions(emit_empty=args.emit_empty, put_status=args.put_status, delete_status=args.delete_status)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_emulator(
            store,
            listeners,
            ssl_context=ssl_context,
            on_change=hook,
            options=options,
            stop=stop,
            ready_file=args.ready_file,
        )

    try:
        asyncio.run(serve())
    except (OSError, ValueError, RouterOsError) as exc:
        LOG.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
