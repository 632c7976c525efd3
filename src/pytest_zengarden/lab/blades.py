"""Blades as hosts: each blade namespace runs sshd in its own UTS and mount namespace.

So testinfra over SSH sees *that* blade: its hostname, and its own files at the real paths — ``/etc``
is an overlay whose upper layer is ``STATE/hosts/<blade>/etc`` (hostname, ``rancher/k3s/config.yaml``
rendered from the site, ``sysctl.d``), and ``/var/lib/rancher`` is ``STATE/hosts/<blade>/var/lib/rancher``
(the server's PSA/audit files and etcd data dir live there).  node_exporter serves each blade's metrics.
A bare lab writes none of the site's files (:func:`site_files`); ``systemctl`` in a blade's sessions is
the lab's (:mod:`.k3s_supervisor`): ``systemctl restart k3s`` restarts that blade's API server.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from ..desired.hosts import k3s_config_text, server_files, sysctl_text
from ..facts.host import K3S_CONFIG
from ..site.schema import Role, Site
from .k3s_supervisor import systemctl_shim
from .netns import run

RANCHER_MOUNTPOINT = Path("/var/lib/rancher")
SYSTEMCTL = "/usr/bin/systemctl"  # where the blade's SSH sessions find the lab's systemctl
SYSCTL_CONF = "/etc/sysctl.d/90-kubelet.conf"


@dataclass(frozen=True)
class BladeHost:
    """What the lab starts for one blade."""

    name: str
    ns: str
    address: str
    root: Path  # STATE/hosts/<blade>: the blade's own files
    sshd_argv: list[str]
    node_exporter_argv: list[str]


def ssh_keypair(secrets_dir: Path) -> Path:
    """The lab's SSH client key (ed25519), made once; returns the private key path."""
    key = secrets_dir / "ssh_key"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "zengarden-lab", "-f", str(key)])
    return key


def site_files(site: Site, blade: str) -> dict[str, str]:
    """The files the site puts on ``blade`` (blade path -> text): k3s config, sysctls, a server's PSA/audit.

    What the provisioner writes over SSH; a fresh k3s install (a bare lab) has none of them.
    """
    files = {K3S_CONFIG: k3s_config_text(site, blade), SYSCTL_CONF: sysctl_text()}
    if Role.CONTROL_PLANE in site.blades[blade].roles:
        files |= server_files(site)
    return files


def write_site_files(site: Site, blade: str, root: Path) -> list[Path]:
    """Write :func:`site_files` into the blade's files at ``root`` (STATE/hosts/<blade>); returns the paths."""
    written = []
    for path, text in site_files(site, blade).items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written


def prepare_blades(
    site: Site, ns_of: dict[str, str], state_dir: Path, key: Path, exporter_port: int, *, with_site_files: bool = True
) -> list[BladeHost]:
    """Write every blade's files, host keys and sshd config; return how to start each blade.

    ``with_site_files=False`` (a bare lab) leaves the blades as a fresh k3s install: no site config.
    Every blade gets the lab's ``systemctl`` (:func:`.k3s_supervisor.systemctl_shim`) over ``/usr/bin/systemctl``.
    """
    hosts_dir = state_dir / "hosts"
    known = []
    out = []
    for name, spec in site.blades.items():
        root = hosts_dir / name
        etc = root / "etc"
        (etc / "rancher" / "k3s").mkdir(parents=True, exist_ok=True)
        (root / "var" / "lib" / "rancher").mkdir(parents=True, exist_ok=True)
        (etc / "hostname").write_text(name + "\n")
        if with_site_files:
            write_site_files(site, name, root)
        shim = root / ".bin" / "systemctl"
        shim.parent.mkdir(exist_ok=True)
        # A server's `k3s` is its supervised API server; an agent's `k3s-agent` is simulated.
        shim.write_text(systemctl_shim(agent=Role.CONTROL_PLANE not in spec.roles))
        shim.chmod(0o755)
        sshd_dir = root / ".sshd"
        sshd_dir.mkdir(mode=0o700, exist_ok=True)
        host_key = sshd_dir / "ssh_host_ed25519_key"
        if not host_key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(host_key)])
        address = str(spec.address)
        known.append(f"{address} {' '.join(Path(str(host_key) + '.pub').read_text().split()[:2])}")
        config = sshd_dir / "sshd_config"
        config.write_text(
            "\n".join([
                f"ListenAddress {address}:22",
                f"HostKey {host_key}",
                f"PidFile {sshd_dir / 'sshd.pid'}",
                f"AuthorizedKeysFile {key}.pub",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                # The state dir may sit below /tmp (world-writable): the lab's own key file is trusted.
                "StrictModes no",
                "Subsystem sftp internal-sftp",
                "",
            ])
        )  # fmt: skip
        work = root / ".work"
        (work / "etc").mkdir(parents=True, exist_ok=True)
        script = " && ".join([
            f"hostname {shlex.quote(name)}",
            f"mount -t overlay zg-{name}-etc -o lowerdir=/etc,upperdir={shlex.quote(str(etc))},"
            f"workdir={shlex.quote(str(work / 'etc'))} /etc",
            f"mount --bind {shlex.quote(str(root / 'var' / 'lib' / 'rancher'))} {RANCHER_MOUNTPOINT}",
            # `systemctl restart k3s` on the blade restarts its supervised API server, never a host unit.
            f"{{ [ ! -e {SYSTEMCTL} ] || mount --bind {shlex.quote(str(shim))} {SYSTEMCTL}; }}",
            f"exec /usr/sbin/sshd -D -e -f {shlex.quote(str(config))}",
        ])  # fmt: skip
        sshd_argv = ["unshare", "--uts", "--mount", "--propagation", "private", "--", "sh", "-c", script]
        exporter = [
            "prometheus-node-exporter", f"--web.listen-address={address}:{exporter_port}",
            "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo", "--collector.loadavg",
            "--collector.netdev", "--collector.uname", "--collector.time",
        ]  # fmt: skip
        out.append(BladeHost(name, ns_of[name], address, root, sshd_argv, exporter))
    (state_dir / "known_hosts").write_text("\n".join(known) + "\n")
    return out
