"""Blades as hosts: each blade namespace runs sshd in its own UTS and mount namespace.

So testinfra over SSH sees *that* blade: its hostname, and its own files at the real paths — ``/etc``
is an overlay whose upper layer is ``STATE/hosts/<blade>/etc`` (hostname, ``rancher/k3s/config.yaml``
rendered from the site, ``sysctl.d``), and ``/var/lib/rancher`` is ``STATE/hosts/<blade>/var/lib/rancher``
(the server's PSA/audit files and etcd data dir live there).  node_exporter serves each blade's metrics.
A bare lab writes none of the site's files (:func:`site_files`); ``systemctl`` in a blade's sessions is
the lab's (:mod:`.k3s_supervisor`): ``systemctl restart k3s`` restarts that blade's API server.

Hardening, as a blade has it, and where the lab can only stand in (each check says so in its message):

* sshd reads the blade's own ``/etc/ssh/sshd_config`` (a fresh Debian one: drop-ins first, passwords and
  root-with-key allowed by OpenSSH's defaults) so ``sshd -T`` there is what it runs; ``systemctl reload
  ssh`` sends it SIGHUP.  Root has no key: the lab logs in as :data:`BLADE_USER`, with passwordless sudo.
* etcd members: the data dir is a real ext4 mount of the site's size, on a loop device over a sparse
  image in a tmpfs (the kernel marks it non-rotational); not NVMe, and reported as a loop device.
* kernel: the site's sysctls are files bound over ``/proc/sys/...`` in the blade's mount namespace
  (``vm.*``/``kernel.*`` are not per namespace), so ``sysctl -p`` on a blade never changes the lab machine.
* AppArmor: the kernel's securityfs when the lab machine has AppArmor; otherwise stand-in files marked
  as such (``facts.blade_state.APPARMOR_STAND_IN``): the check then says "lab stand-in".
* time: every blade shares the lab machine's clock and has no timedatectl/chrony to ask: the check
  judges the offset only, and says that NTP state is unknown.
"""

from __future__ import annotations

import contextlib
import grp
import os
import shlex
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..desired.hosts import k3s_config_text, server_files, sysctl_text
from ..facts.blade_state import APPARMOR_ENABLED, APPARMOR_STAND_IN
from ..facts.host import K3S_CONFIG
from ..site.schema import Role, Site
from .deviations import BladeFiles, BladeRead
from .etcd_snapshots import k3s_shim
from .k3s_supervisor import JOURNAL_DIR, JOURNALCTL, agent_started, journalctl_shim, systemctl_shim
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
    files = {K3S_CONFIG: k3s_config_text(site, blade), SYSCTL_CONF: sysctl_text(site)}
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


BLADE_USER = "zengarden"  # the lab logs in as this user (root login is off) and becomes root with sudo
SSHD_CONFIG = "/etc/ssh/sshd_config"
SSHD_HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"
ETCD_DISKS = ".disks"  # STATE/hosts/.disks: a tmpfs holding the etcd disk images of the lab's servers
ETCD_DISK_TMPFS_SIZE = "4g"  # what the images may really fill (they are sparse: a few MB each in a lab run)
APPARMOR_STAND_IN_NOTE = "lab stand-in: the lab machine's kernel has no AppArmor; these files are the lab's"
STAND_IN_PROFILES = "cri-containerd.apparmor.d (enforce)\n"


def write_sshd_files(root: Path, name: str, address: str, key: Path, pid_file: Path) -> Path:
    """The blade's ``/etc/ssh`` (upper layer): a host key and ``sshd_config`` as a fresh Debian install has it.

    Debian's file includes ``sshd_config.d/*.conf`` first and leaves PasswordAuthentication and
    PermitRootLogin at OpenSSH's defaults (yes, prohibit-password): the provisioner's drop-in hardens it.
    The lab's own lines: where to listen, the lab's client key (for :data:`BLADE_USER`), no PAM (no PAM
    session in a namespace).
    Returns the host key's path (the lab's known_hosts lists it).
    """
    ssh = root / "etc" / "ssh"
    (ssh / "sshd_config.d").mkdir(parents=True, exist_ok=True)
    # Opaque in the overlay: the lab machine's own drop-ins never configure a blade's sshd.
    os.setxattr(ssh / "sshd_config.d", "trusted.overlay.opaque", b"y")
    # The lab's public key, where the user can read it (sshd reads authorized keys as the user).
    (ssh / "authorized_keys").mkdir(exist_ok=True)
    (ssh / "authorized_keys" / BLADE_USER).write_text(Path(f"{key}.pub").read_text())
    (ssh / "authorized_keys" / BLADE_USER).chmod(0o644)
    host_key = root / SSHD_HOST_KEY.lstrip("/")
    if not host_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(host_key)])
    (root / SSHD_CONFIG.lstrip("/")).write_text(
        "\n".join([
            "Include /etc/ssh/sshd_config.d/*.conf",
            f"ListenAddress {address}:22",
            f"HostKey {SSHD_HOST_KEY}",
            f"PidFile {pid_file}",
            "AuthorizedKeysFile /etc/ssh/authorized_keys/%u",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # The state dir may sit below /tmp (world-writable): the lab's own key file is trusted.
            "StrictModes no",
            "Subsystem sftp internal-sftp",
            "",
        ])
    )  # fmt: skip
    return host_key


def write_user_files(root: Path, name: str) -> None:
    """:data:`BLADE_USER` on the blade: ``/etc/passwd`` and ``/etc/group`` (the lab machine's, plus the user),
    passwordless sudo, and the blade's name in ``/etc/hosts`` (sudo resolves it)."""
    etc = root / "etc"
    passwd = Path("/etc/passwd").read_text()
    users = {line.split(":")[0]: line for line in passwd.splitlines() if line.count(":") >= 6}
    used = {int(line.split(":")[2]) for line in users.values()}
    group = Path("/etc/group").read_text()
    used |= {int(line.split(":")[2]) for line in group.splitlines() if line.count(":") >= 3}
    if BLADE_USER not in users:
        uid = next(i for i in range(2000, 60000) if i not in used)
        passwd = passwd.rstrip("\n") + f"\n{BLADE_USER}:x:{uid}:{uid}:zengarden lab:/:/bin/sh\n"
        group = group.rstrip("\n") + f"\n{BLADE_USER}:x:{uid}:\n"
    (etc / "passwd").write_text(passwd)
    (etc / "group").write_text(group)
    # sudo's PAM account check needs a shadow entry. The blade's own: every account without a password
    # ('*': none can log in with one, none is locked), never a copy of the lab machine's hashes.
    names = [line.split(":")[0] for line in passwd.splitlines() if line.count(":") >= 6]
    shadow = etc / "shadow"
    shadow.write_text("".join(f"{n}:*:20000:0:99999:7:::\n" for n in names))
    shadow.chmod(0o640)
    with contextlib.suppress(KeyError):
        os.chown(shadow, 0, grp.getgrnam("shadow").gr_gid)
    hosts = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
    (etc / "hosts").write_text(hosts.rstrip("\n") + f"\n127.0.1.1\t{name}\n")
    sudoers = etc / "sudoers.d"
    sudoers.mkdir(exist_ok=True)
    (sudoers / "zengarden").write_text(f"{BLADE_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    (sudoers / "zengarden").chmod(0o440)


_SSH_SHIM = """#!/bin/sh
# systemctl on a zengarden lab blade: the ssh unit is the blade's sshd (reload: SIGHUP, as systemd's
# ExecReload); every other unit is the k3s shim's.
unit=
for a in "$@"; do case "$a" in ssh|ssh.service|sshd|sshd.service) unit=ssh;; esac; done
[ -z "$unit" ] && exec {k3s} "$@"
verb=
for a in "$@"; do case "$a" in -*) ;; *) verb=$a; break;; esac; done
case "$verb" in
  reload|restart|try-restart|reload-or-restart) kill -HUP "$(cat {pid})";;
  is-active) echo active;;
  *) echo "systemctl (zengarden lab): $verb is not supported for ssh" >&2; exit 1;;
esac
"""


def ssh_systemctl_shim(pid_file: Path, k3s_shim: Path) -> str:
    """The blade's ``systemctl``: ``reload ssh`` sends SIGHUP to its sshd (which re-reads its files), the
    rest is :func:`.k3s_supervisor.systemctl_shim`'s."""
    return _SSH_SHIM.format(pid=shlex.quote(str(pid_file)), k3s=shlex.quote(str(k3s_shim)))


def prepare_stand_ins(site: Site, root: Path) -> list[str]:
    """Files standing in, in the blade's mount namespace, for kernel state a namespace cannot have of its own;
    returns the mount commands (run in the blade's namespace before sshd starts).

    * the sysctls the site's kernel section names (``vm.*`` and ``kernel.*`` are not per namespace): one file
      each, bound over ``/proc/sys/...`` and starting at the lab machine's values, so ``sysctl -w`` and
      ``sysctl -p`` on the blade change the blade's stand-in, never the lab machine's kernel;
    * AppArmor: the kernel's own securityfs when the lab machine has AppArmor; otherwise an ``enabled`` file
      and a profile list, with :data:`.facts.blade_state.APPARMOR_STAND_IN` saying they are the lab's.
    """
    mounts = []
    base = root / ".stand-in"
    for key in site.cluster.node_hardening.kernel.sysctls:
        proc = Path("/proc/sys") / key.replace(".", "/")
        if not proc.exists():
            continue
        f = base / "sysctl" / key
        f.parent.mkdir(parents=True, exist_ok=True)
        if not f.exists():
            f.write_text(proc.read_text())
        mounts.append(f"mount --bind {shlex.quote(str(f))} {shlex.quote(str(proc))}")
    if Path(APPARMOR_ENABLED).exists():
        mounts.append("{ mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security; }")
    else:
        security = base / "security"
        (security / "apparmor").mkdir(parents=True, exist_ok=True)
        (security / "apparmor" / "profiles").write_text(STAND_IN_PROFILES)
        (security / "apparmor" / Path(APPARMOR_STAND_IN).name).write_text(APPARMOR_STAND_IN_NOTE + "\n")
        module = base / "module"
        (module / "apparmor" / "parameters").mkdir(parents=True, exist_ok=True)
        (module / "apparmor" / "parameters" / "enabled").write_text("Y\n")
        mounts.append(f"mount --bind {shlex.quote(str(security))} /sys/kernel/security")
        mounts.append(f"mount --bind {shlex.quote(str(module))} /sys/module")
    return mounts


def etcd_disk_mountpoint(site: Site, state_dir: Path, blade: str) -> Path:
    """Where a server's etcd disk is mounted in the lab (the blade sees it at the site's path)."""
    return state_dir / "hosts" / blade / site.cluster.node_hardening.etcd_disk.path.lstrip("/")


def mount_etcd_disks(site: Site, state_dir: Path) -> list[Path]:
    """Give each etcd member an ext4 disk of the site's size, mounted at its etcd data dir (before etcd starts).

    No NVMe here: the disk is a sparse image on a tmpfs under ``STATE/hosts/.disks``, attached to a loop device
    (which the kernel marks non-rotational, as memory is). The check reports it as a loop device.  Undone by
    :func:`unmount_under`.
    """
    disks = state_dir / "hosts" / ETCD_DISKS
    disks.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not _mounted(disks):
        run(["mount", "-t", "tmpfs", "-o", f"size={ETCD_DISK_TMPFS_SIZE},mode=0700", "zg-etcd-disks", str(disks)])
    size = int(site.cluster.node_hardening.etcd_disk.min_size_gib * 1024**3)
    out = []
    for member in site.cluster.etcd.members:
        at = etcd_disk_mountpoint(site, state_dir, member)
        if _mounted(at):
            out.append(at)
            continue
        image = disks / f"{member}.img"
        with image.open("wb") as f:
            f.truncate(size)
        run(["mkfs.ext4", "-q", "-F", "-L", f"etcd-{member}", "-E", "lazy_itable_init=1,lazy_journal_init=1",
             str(image)])  # fmt: skip
        at.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(["mount", "-o", "loop,noatime", str(image), str(at)])
        at.chmod(0o700)
        out.append(at)
    return out


def _mounted(path: Path) -> bool:
    return str(path.resolve()) in _mount_targets()


def _mount_targets() -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        out.append(target.replace("\\040", " "))
    return out


def unmount_under(path: Path) -> list[str]:
    """Unmount everything mounted at or below ``path`` (deepest first; a loop device is freed with its mount)."""
    top = str(path.resolve())
    targets = [t for t in _mount_targets() if t == top or t.startswith(top + "/")]
    for target in sorted(set(targets), key=len, reverse=True):
        if run(["umount", target], check=False).returncode != 0:
            run(["umount", "-l", target], check=False)
    return targets


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
        agent = Role.CONTROL_PLANE not in spec.roles
        shim.write_text(systemctl_shim(agent=agent, node=name))
        shim.chmod(0o755)
        journalctl = root / ".bin" / "journalctl"
        journalctl.write_text(journalctl_shim())
        journalctl.chmod(0o755)
        if agent and not (root / JOURNAL_DIR.lstrip("/") / "k3s-agent.log").exists():
            agent_started(root, name)  # the fresh install's k3s-agent started with what the blade has now
        sshd_dir = root / ".sshd"
        sshd_dir.mkdir(mode=0o700, exist_ok=True)
        host_key = write_sshd_files(root, name, str(spec.address), key, sshd_dir / "sshd.pid")
        address = str(spec.address)
        known.append(f"{address} {' '.join(Path(str(host_key) + '.pub').read_text().split()[:2])}")
        write_user_files(root, name)
        # `systemctl reload ssh` on the blade signals its sshd; every other unit goes to the k3s shim.
        ssh_shim = root / ".bin" / "systemctl-ssh"
        ssh_shim.write_text(ssh_systemctl_shim(sshd_dir / "sshd.pid", shim))
        ssh_shim.chmod(0o755)
        stand_ins = prepare_stand_ins(site, root)
        # A server's `k3s` (only `k3s etcd-snapshot save`) in a /usr/local/bin of its own.
        k3s_bin = root / ".bin" / "local"
        if name in site.cluster.etcd.members:
            k3s_bin.mkdir(exist_ok=True)
            policy = site.cluster.etcd.snapshots
            directory = policy.dir if policy is not None else "/var/lib/rancher/k3s/server/db/snapshots"
            (k3s_bin / "k3s").write_text(k3s_shim(site.cluster.etcd.client_port, directory))
            (k3s_bin / "k3s").chmod(0o755)
            stand_ins.append(f"mount --bind {shlex.quote(str(k3s_bin))} /usr/local/bin")
        work = root / ".work"
        (work / "etc").mkdir(parents=True, exist_ok=True)
        script = " && ".join([
            f"hostname {shlex.quote(name)}",
            f"mount -t overlay zg-{name}-etc -o lowerdir=/etc,upperdir={shlex.quote(str(etc))},"
            f"workdir={shlex.quote(str(work / 'etc'))} /etc",
            # rbind: a server's etcd disk is mounted below it (:func:`mount_etcd_disks`).
            f"mount --rbind {shlex.quote(str(root / 'var' / 'lib' / 'rancher'))} {RANCHER_MOUNTPOINT}",
            # `systemctl restart k3s` on the blade restarts its supervised API server, never a host unit.
            f"{{ [ ! -e {SYSTEMCTL} ] || mount --bind {shlex.quote(str(ssh_shim))} {SYSTEMCTL}; }}",
            *stand_ins,
            f"{{ [ ! -e {JOURNALCTL} ] || mount --bind {shlex.quote(str(journalctl))} {JOURNALCTL}; }}",
            # sshd reads the blade's own /etc/ssh/sshd_config (and its drop-ins), as `sshd -T` there does.
            "exec /usr/sbin/sshd -D -e",
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


def apply_blade_deviation(site: Site, state_dir: Path, edit: Callable[[BladeRead], BladeFiles]) -> list[str]:
    """Write a deviation's files on its blades (as an operator would by hand) and make them take effect the
    way the blade would: sshd reloads (SIGHUP) for ``/etc/ssh``, an agent's k3s-agent restarts (its kubelet
    start line is logged anew) for its k3s config.  Returns what was written, as ``blade:path``."""

    def read(blade: str, path: str) -> str | None:
        f = state_dir / "hosts" / blade / path.lstrip("/")
        return f.read_text() if f.is_file() else None

    done = []
    for blade, files in edit(read).items():
        root = state_dir / "hosts" / blade
        pid = int((root / ".sshd" / "sshd.pid").read_text().split()[0])
        for path, text in files.items():
            # Through the blade's own mount namespace (its /etc overlay), never into the overlay's layers.
            q = shlex.quote(path)
            run(["nsenter", "-t", str(pid), "-m", "--", "sh", "-c", f'mkdir -p "$(dirname {q})" && cat > {q}'],
                input=text)  # fmt: skip
            done.append(f"{blade}:{path}")
        if any(p.startswith("/etc/ssh/") for p in files):
            os.kill(pid, signal.SIGHUP)
        if K3S_CONFIG in files:
            if Role.CONTROL_PLANE in site.blades[blade].roles:
                raise ValueError(f"{blade}: a blade deviation restarts only an agent's k3s-agent")
            agent_started(root, blade)
    return done
