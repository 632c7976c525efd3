"""The lab's etcd snapshots, as a k3s server has them after ``k3s etcd-snapshot save``.

Each server streams ``/v3/maintenance/snapshot`` from its own etcd member (inside its namespace, with the
etcd client certificate), checks the sha256 etcd appends to the stream (as ``etcdctl snapshot save`` does)
and keeps the whole stream at k3s's path and name: ``<blade root>/var/lib/rancher/k3s/server/db/snapshots/
on-demand-<blade>-<unix time>``.  The host checks then read it over SSH like a real server's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .controlplane import K3S_SERVER, ControlPlanePlan
from .netns import LabError, run

SNAPSHOTS = K3S_SERVER / "db" / "snapshots"  # relative to a blade's root (k3s's etcd-snapshot-dir default)

# Runs inside the member's namespace: stream the snapshot to PART, verify its sha256 trailer, rename to OUT.
_SAVE = """
import base64, hashlib, http.client, json, os, ssl, sys
a = json.loads(sys.argv[1])
ctx = ssl.create_default_context(cafile=a["ca"])
ctx.load_cert_chain(a["cert"], a["key"])
conn = http.client.HTTPSConnection("127.0.0.1", a["port"], context=ctx, timeout=a["timeout"])
conn.request("POST", "/v3/maintenance/snapshot", body=b"{}", headers={"Content-Type": "application/json"})
r = conn.getresponse()
if r.status != 200:
    sys.exit(f"HTTP {r.status}: {r.read()[:300]!r}")
part = a["out"] + ".part"
fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
size = 0
with os.fdopen(fd, "wb") as out:
    for line in r:
        line = line.strip()
        if not line:
            continue
        doc = json.loads(line)
        if "error" in doc:
            sys.exit(f"etcd: {doc['error'].get('message')}")
        blob = base64.b64decode(doc.get("result", {}).get("blob", ""))
        out.write(blob)
        size += len(blob)
    out.flush()
    os.fsync(out.fileno())
with open(part, "rb") as f:
    data = f.read()
if size < 32 or (size - 32) % 512 or hashlib.sha256(data[:-32]).digest() != data[-32:]:
    os.unlink(part)
    sys.exit(f"the snapshot stream ({size} bytes) does not end in the sha256 of its contents")
os.replace(part, a["out"])
print(json.dumps({"size": size}))
"""


_K3S = r'''#!{python} -I
"""k3s on a zengarden lab server: `k3s etcd-snapshot save` only (the rest of k3s is the lab's own processes)."""
import json, socket, subprocess, sys, time

SAVE = {save!r}
TLS = "/var/lib/rancher/k3s/server/tls/etcd"


def main(argv):
    if argv[:2] != ["etcd-snapshot", "save"]:
        print("k3s (zengarden lab): only `k3s etcd-snapshot save` is supported on a lab server", file=sys.stderr)
        return 1
    node = socket.gethostname()
    out = f"{{DIR}}/on-demand-{{node}}-{{int(time.time())}}"
    args = {{"ca": f"{{TLS}}/server-ca.crt", "cert": f"{{TLS}}/client.crt", "key": f"{{TLS}}/client.key",
            "port": {port!r}, "out": out, "timeout": 30}}
    import os
    os.makedirs(DIR, mode=0o700, exist_ok=True)
    done = subprocess.run([sys.executable, "-I", "-c", SAVE, json.dumps(args)], timeout=60)
    if done.returncode != 0:
        return 1
    print(f"Snapshot {{out.rsplit('/', 1)[1]}} saved.")
    return 0


DIR = {directory!r}
sys.exit(main(sys.argv[1:]))
'''


def k3s_shim(port: int, directory: str, python: str = sys.executable) -> str:
    """The ``k3s`` a lab server's SSH sessions run: ``k3s etcd-snapshot save`` as k3s does it, from the blade's
    own etcd member (127.0.0.1) with the blade's etcd client certificate, into ``directory``."""
    return _K3S.format(python=python, save=_SAVE, port=port, directory=directory)


def snapshot_dir(state_dir: Path, blade: str) -> Path:
    """Where k3s on ``blade`` keeps its snapshots, in the lab's files."""
    return state_dir / "hosts" / blade / SNAPSHOTS


def save_snapshot(plan: ControlPlanePlan, member: str, now: float | None = None, timeout: float = 30) -> Path:
    """``k3s etcd-snapshot save`` on server ``member``: the snapshot of its own etcd member; returns its path."""
    proc = plan.process(f"etcd-{member}")
    stamp = int(now if now is not None else time.time())
    where = snapshot_dir(plan.state_dir, member)
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    out = where / f"on-demand-{member}-{stamp}"
    args = {
        "ca": str(plan.etcd_ca),
        "cert": str(plan.etcd_cert),
        "key": str(plan.etcd_key),
        "port": int(plan.etcd_endpoints[0].rsplit(":", 1)[1]),
        "out": str(out),
        "timeout": timeout,
    }
    res = run([sys.executable, "-I", "-c", _SAVE, json.dumps(args)], ns=proc.ns, timeout=timeout + 10, check=False)
    if res.returncode != 0:
        raise LabError(f"etcd snapshot of {member} failed: {(res.stderr or res.stdout).strip()[-500:]}")
    return out


def save_all(plan: ControlPlanePlan, now: float | None = None) -> list[Path]:
    """One on-demand snapshot on every server, all named with the same time (as one `lab up` step)."""
    stamp = time.time() if now is None else now
    return [save_snapshot(plan, p.blade, stamp) for p in plan.etcd]


def make_stale(state_dir: Path, blades: list[str], seconds: float) -> list[Path]:
    """Date every snapshot of ``blades`` back by ``seconds`` (name and modification time), as if the schedule
    had stopped running that long ago; returns the new paths."""
    moved = []
    for blade in blades:
        where = snapshot_dir(state_dir, blade)
        for f in sorted(where.glob(f"*-{blade}-*")):
            head, _, stamp = f.name.rpartition("-")
            if not stamp.isdigit():
                continue
            old = int(stamp) - int(seconds)
            target = f.with_name(f"{head}-{old}")
            f.rename(target)
            os.utime(target, (old, old))
            moved.append(target)
    return moved
