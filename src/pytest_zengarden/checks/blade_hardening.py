"""Blade hardening, role by role (pure): k3s in effect, etcd disk, reserved resources, kernel defaults,
sshd, time sync, AppArmor.  Every finding names its blade.

Inputs are what a blade answered (:mod:`pytest_zengarden.facts.blade_state`) and, for k3s, the start lines
of its embedded components (:mod:`pytest_zengarden.facts.in_effect`): a flag is judged as the running
component got it; what no flag shows (``flannel-backend``, ``disable``) is judged from the k3s config file,
and only when that file has not changed since the unit started (``file_in_effect``), else the finding says
the file on disk is not what runs.

Limits, stated where they apply: ``sshd -T`` prints what sshd reads from its files *now* (an sshd not
reloaded since a change runs the earlier settings); the time check knows the blade's clock only to within
the SSH round trip, and judges NTP synchronisation only where ``timedatectl`` or ``chronyc`` answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..facts.blade_state import CommandOutput
from ..site.schema import Role, Site, Traced
from .findings import Finding, finding
from .hosts import K3S_DEFAULTS, _show, read_k3s_config

GIB = 1024**3


class StartLine(Protocol):
    """A component start as the journal shows it (:class:`pytest_zengarden.facts.in_effect.Running`)."""

    component: str
    started: float

    def flag(self, name: str) -> str | None: ...


# A component's start line, or why there is none (the NotInEffect message).
Start = StartLine | str


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def kubelet_map(value: str | None) -> dict[str, str]:
    """``cpu=250m,memory=512Mi`` or ``memory.available<200Mi,...`` as a mapping (``None``: empty)."""
    out: dict[str, str] = {}
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        sep = "<" if "<" in part and ("=" not in part or part.index("<") < part.index("=")) else "="
        key, _, val = part.partition(sep)
        out[key.strip()] = val.strip()
    return out


def _show_map(m: Mapping[str, str], sep: str = "=") -> str:
    return ",".join(f"{k}{sep}{v}" for k, v in m.items()) if m else "nothing"


# ------------------------------------------------------------------------------------ k3s in effect
def kubelet_node_ip(site: Site, blade: str, kubelet: Start) -> list[Finding]:
    """The kubelet in effect runs with the blade's address as its node IP."""
    b = site.blades[blade]
    unit = "k3s" if Role.CONTROL_PLANE in b.roles else "k3s-agent"
    want_ip = str(b.address)
    subject = f"{blade} kubelet --node-ip"
    if isinstance(kubelet, str):
        return [finding(b, subject, False, f"{kubelet}; start {unit}")]
    have = kubelet.flag("node-ip")
    there = f"kubelet runs with --node-ip={have}" if have else "kubelet runs without --node-ip (k3s picks an address)"
    ok = have == want_ip
    return [finding(b, subject, ok, there if ok else f"{there}; set kubelet-arg node-ip={want_ip} and restart {unit}")]


def k3s_in_effect(
    site: Site, blade: str, starts: Mapping[str, Start], config: str | None, config_problem: str | None = None
) -> list[Finding]:
    """The k3s settings the site gives ``blade``, as its running components got them.

    ``starts``: component -> its start line (or why there is none); servers: kube-apiserver, kubelet and,
    when logged, kube-controller-manager; agents: kubelet.  ``config``: ``config.yaml`` as in effect
    (``None``: absent), or ``config_problem`` saying why the file on disk is not what runs.
    """
    b = site.blades[blade]
    c = site.cluster
    hard = c.node_hardening
    server = Role.CONTROL_PLANE in b.roles
    unit = "k3s" if server else "k3s-agent"
    out: list[Finding] = []

    def judge(statement: Traced, what: str, ok: bool, there: str, change: str) -> None:
        out.append(finding(statement, f"{blade} {what}", ok, there if ok else f"{there}; {change}"))

    def start(component: str) -> StartLine | None:
        got = starts.get(component)
        return None if got is None or isinstance(got, str) else got

    # The kubelet's node IP, on every blade.
    out += kubelet_node_ip(site, blade, starts.get("kubelet") or "no kubelet start line")

    # The config file, where no flag shows a setting: only if it is what the unit started with.
    cfg_values: dict[str, Any] | None = None
    cfg_why = ""
    if config_problem is not None:
        cfg_why = config_problem
    elif config is None:
        cfg_why = f"{blade}: /etc/rancher/k3s/config.yaml is missing"
    else:
        try:
            cfg_values = read_k3s_config(config).values
        except ValueError as exc:
            cfg_why = f"{blade}: /etc/rancher/k3s/config.yaml {exc}"

    def from_file(statement: Traced, key: str, ok: Callable[[Any], bool], change: str) -> None:
        if cfg_values is None:
            judge(statement, key, False, f"cannot tell what runs: {cfg_why}", change)
            return
        have = cfg_values.get(key, K3S_DEFAULTS.get(key))
        shown = _show(have) if key in cfg_values else f"not set, so k3s uses {_show(have)}"
        judge(statement, key, ok(have), f"{shown} (config.yaml, unchanged since {unit} started)", change)

    if not server:
        return out

    api = starts.get("kube-apiserver")
    pods, svcs = site.segments[c.pod_network], site.segments[c.service_network]
    if isinstance(api, str) or api is None:
        judge(c.apiserver, "kube-apiserver", False, api or "no kube-apiserver start line", "start k3s")
    else:
        have = api.flag("service-cluster-ip-range")
        judge(
            svcs,
            "kube-apiserver --service-cluster-ip-range",
            have == str(svcs.cidr),
            f"{have}" if have else f"not given, so {K3S_DEFAULTS['service-cidr']}",
            f"set service-cidr: {svcs.cidr} and restart k3s",
        )
        enc = api.flag("encryption-provider-config")
        want_enc = c.apiserver.secrets_encryption
        judge(
            c.apiserver,
            "kube-apiserver --encryption-provider-config",
            bool(enc) == want_enc,
            f"secrets encrypted at rest with {enc}" if enc else "not given: secrets are stored unencrypted",
            f"set secrets-encryption: {_show(want_enc)} and restart k3s",
        )
    kcm = start("kube-controller-manager")
    if kcm is not None:
        have = kcm.flag("cluster-cidr")
        judge(
            pods,
            "kube-controller-manager --cluster-cidr",
            have == str(pods.cidr),
            f"{have}" if have else f"not given, so {K3S_DEFAULTS['cluster-cidr']}",
            f"set cluster-cidr: {pods.cidr} and restart k3s",
        )
    else:
        from_file(pods, "cluster-cidr", lambda v: str(v) == str(pods.cidr), f"set cluster-cidr: {pods.cidr}")
    if c.cni.name != "flannel":
        from_file(
            c.cni, "flannel-backend", lambda v: v == "none", f"set flannel-backend: none ({c.cni.name} is the CNI)"
        )
        from_file(
            c.cni,
            "disable-network-policy",
            _truthy,
            f"set disable-network-policy: true ({c.cni.name} enforces network policies)",
        )
    want_off = list(hard.k3s.disable)

    def all_off(v: Any) -> bool:
        have = v if isinstance(v, list) else [x.strip() for x in str(v or "").split(",") if x.strip()]
        return set(want_off) <= {str(x) for x in have}

    from_file(hard.k3s, "disable", all_off, f"set disable: [{', '.join(want_off)}]")
    return out


# -------------------------------------------------------------------------------------- reserved
def reserved(site: Site, blade: str, kubelet: Start) -> list[Finding]:
    """The kubelet in effect reserves what the site says for the system and Kubernetes, and evicts in time."""
    want = site.cluster.node_hardening.reserved
    unit = "k3s" if Role.CONTROL_PLANE in site.blades[blade].roles else "k3s-agent"
    if isinstance(kubelet, str):
        return [finding(want, f"{blade} kubelet", False, kubelet)]
    out = []
    for flag, wanted, sep in (
        ("system-reserved", want.system_reserved, "="),
        ("kube-reserved", want.kube_reserved, "="),
        ("eviction-hard", want.eviction_hard, "<"),
    ):
        have = kubelet_map(kubelet.flag(flag))
        wrong = {k: v for k, v in wanted.items() if have.get(k) != v}
        there = f"kubelet runs with --{flag}={_show_map(have, sep)}" if have else f"kubelet runs without --{flag}"
        msg = (
            there
            if not wrong
            else (
                f"{there}; expected {_show_map(wanted, sep)}: add kubelet-arg {flag}={_show_map(wanted, sep)} "
                f"and restart {unit}"
            )
        )
        out.append(finding(want, f"{blade} kubelet --{flag}", not wrong, msg))
    return out


# ------------------------------------------------------------------------------------ kernel
def parse_sysctl(text: str) -> dict[str, str]:
    """``key = value`` lines (``sysctl KEY...``) or a sysctl.d file (``key=value``, ``#``/``;`` comments)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip().lstrip("-").replace("/", ".")] = " ".join(value.split())
    return out


def kernel_defaults(
    site: Site, blade: str, kubelet: Start, sysctl: CommandOutput, sysctl_file: str | None
) -> list[Finding]:
    """kubelet protects kernel defaults, the kernel has each value it then requires, and the file sets them."""
    want = site.cluster.node_hardening.kernel
    unit = "k3s" if Role.CONTROL_PLANE in site.blades[blade].roles else "k3s-agent"
    out = []
    if want.protect_kernel_defaults:
        if isinstance(kubelet, str):
            out.append(finding(want, f"{blade} kubelet --protect-kernel-defaults", False, kubelet))
        else:
            have = kubelet.flag("protect-kernel-defaults")
            ok = _truthy(have)
            msg = (
                f"kubelet runs with --protect-kernel-defaults={have}"
                if have
                else ("kubelet runs without --protect-kernel-defaults (it may change kernel settings itself)")
            )
            if not ok:
                msg += f"; set protect-kernel-defaults: true and restart {unit}"
            out.append(finding(want, f"{blade} kubelet --protect-kernel-defaults", ok, msg))
    live = parse_sysctl(sysctl.stdout)
    written = parse_sysctl(sysctl_file) if sysctl_file is not None else {}
    for key, value in want.sysctls.items():
        have = live.get(key)
        in_file = written.get(key)
        subject = f"{blade} sysctl {key}"
        if have is None:
            out.append(finding(want, subject, False, f"not readable: {sysctl.why()}"))
            continue
        problems = []
        if have != value:
            problems.append(f"the kernel has {have}, expected {value} (kubelet refuses to start when protecting it)")
        if in_file != value:
            where = want.file if sysctl_file is not None else f"{want.file} (missing)"
            problems.append(f"{where} sets {in_file if in_file is not None else 'nothing'}, so a reboot loses it")
        if problems:
            out.append(finding(want, subject, False, "; ".join(problems) + f": write {key}={value} and apply it"))
        else:
            out.append(finding(want, subject, True, f"{have} in the kernel and in {want.file}"))
    return out


# --------------------------------------------------------------------------------------- sshd
SSHD_NAMES = {
    "passwordauthentication": "PasswordAuthentication",
    "kbdinteractiveauthentication": "KbdInteractiveAuthentication",
    "permitrootlogin": "PermitRootLogin",
    "pubkeyauthentication": "PubkeyAuthentication",
}


def parse_sshd_t(text: str) -> dict[str, list[str]]:
    """``sshd -T`` output: lower-case keyword -> every value line (some keywords repeat)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            out.setdefault(key.lower(), []).append(value.strip())
    return out


def sshd(site: Site, blade: str, answer: CommandOutput) -> list[Finding]:
    """``sshd -T`` (the settings sshd reads, drop-ins included) says keys only and no root login."""
    want = site.cluster.node_hardening.sshd
    if answer.rc != 0 or not answer.stdout.strip():
        return [finding(want, f"{blade} sshd", False, f"`sshd -T` failed: {answer.why()}")]
    conf = parse_sshd_t(answer.stdout)
    yes_no = {True: "yes", False: "no"}
    wanted = {
        "passwordauthentication": yes_no[want.password_authentication],
        "kbdinteractiveauthentication": yes_no[want.kbd_interactive_authentication],
        "permitrootlogin": want.permit_root_login,
        "pubkeyauthentication": yes_no[want.pubkey_authentication],
    }
    # OpenSSH < 8.7 calls keyboard-interactive ChallengeResponseAuthentication.
    if "kbdinteractiveauthentication" not in conf and "challengeresponseauthentication" in conf:
        conf["kbdinteractiveauthentication"] = conf["challengeresponseauthentication"]
    out = []
    # OpenSSH 9.2 (Debian 12) prints prohibit-password by its old name, without-password.
    if "permitrootlogin" in conf:
        conf["permitrootlogin"] = [
            "prohibit-password" if v == "without-password" else v for v in conf["permitrootlogin"]
        ]
    for key, value in wanted.items():
        have = conf.get(key, [None])[-1]
        subject = f"{blade} sshd {key}"
        if have == value:
            out.append(finding(want, subject, True, f"{have} (sshd -T)"))
        else:
            shown = have if have is not None else "not reported"
            out.append(
                finding(
                    want,
                    subject,
                    False,
                    f"{shown} (sshd -T), expected {value}: sshd keeps the first value it reads (drop-ins in "
                    f"name order, then sshd_config), so write {SSHD_NAMES[key]} {value} in {want.drop_in}, remove any "
                    "earlier setting and reload sshd",
                )
            )
    return out


# --------------------------------------------------------------------------------------- etcd disk
def _first(doc: str, key: str) -> dict[str, Any] | None:
    try:
        data = json.loads(doc)
    except (ValueError, TypeError):
        return None
    items = data.get(key) if isinstance(data, dict) else None
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else None


def _rotational(dev: dict[str, Any]) -> bool | None:
    rota = dev.get("rota")
    if isinstance(rota, bool):
        return rota
    if isinstance(rota, str | int):
        return str(rota) in ("1", "true")
    return None


def etcd_disk(site: Site, blade: str, answers: Mapping[str, CommandOutput]) -> list[Finding]:
    """The etcd data dir is on a dedicated mount of the site's size at least, on a non-rotational device."""
    want = site.cluster.node_hardening.etcd_disk
    subject = f"{blade} {want.path}"
    mnt = answers["findmnt"]
    if mnt.rc != 0:
        return [finding(want, subject, False, f"findmnt cannot place it (does it exist?): {mnt.why()}")]
    fs = _first(mnt.stdout, "filesystems")
    root = _first(answers["findmnt_root"].stdout, "filesystems") if answers["findmnt_root"].rc == 0 else None
    if fs is None:
        return [finding(want, subject, False, "findmnt gave no filesystem for it")]
    target, source = str(fs.get("target")), str(fs.get("source") or "")
    device = source.split("[", 1)[0]
    fstype = str(fs.get("fstype"))
    fs_size = int(fs.get("size") or 0)
    problems = []
    if target == "/":
        problems.append("it is on the root filesystem, not a mount of its own")
    elif root is not None and device and device == str(root.get("source") or "").split("[", 1)[0]:
        problems.append(f"{target} is a bind mount of the root filesystem's device {device}, not a mount of its own")
    kind = f"{fstype} on {device}" if device.startswith("/dev/") else f"{fstype} ({source}, no block device)"
    lsblk = answers.get("lsblk")
    dev = _first(lsblk.stdout, "blockdevices") if lsblk is not None and lsblk.rc == 0 else None
    # A partition's size is what the site states ("a 10GiB partition"); its filesystem is a little smaller.
    size, sized = fs_size, "filesystem"
    if dev is not None:
        rot = _rotational(dev)
        tran = dev.get("tran")
        dtype = str(dev.get("type") or "")
        name = str(dev.get("name"))
        what = "NVMe device" if tran == "nvme" or name.startswith("nvme") else f"{dtype} device"
        if dtype == "loop":
            what = "loop device (a file, not NVMe)"
        kind = f"{fstype} on {device}, a {what}, " + (
            "rotational" if rot else "non-rotational" if rot is False else "rotation unknown"
        )
        if str(dev.get("size") or "").isdigit():
            size, sized = int(dev["size"]), "device"
        if want.non_rotational and rot is not False:
            problems.append("the device is rotational (or does not say): etcd wants low-latency storage")
    elif want.non_rotational:
        problems.append(
            f"no block device to judge ({lsblk.why() if lsblk is not None else 'lsblk not run'}): "
            "cannot tell it is non-rotational"
        )
    if size < int(want.min_size_gib * GIB):
        problems.append(f"{size / GIB:.1f} GiB {sized}, below the {want.min_size_gib:g} GiB the site asks for")
    msg = f"mount {target}, {kind}, {size / GIB:.1f} GiB {sized} ({fs_size / GIB:.1f} GiB filesystem)"
    if sized == "filesystem":
        msg = f"mount {target}, {kind}, {size / GIB:.1f} GiB filesystem"
    if problems:
        return [finding(want, subject, False, f"{msg}: {'; '.join(problems)}")]
    return [finding(want, subject, True, msg)]


# --------------------------------------------------------------------------------------- time
def time_sync(
    site: Site, blade: str, answers: Mapping[str, CommandOutput], sent: float, received: float
) -> list[Finding]:
    """The blade's clock within ``max_offset_s`` of the checking host's (``sent``/``received``: the local times
    around the SSH session that read it) and, where the blade can tell, synchronised by NTP."""
    want = site.cluster.node_hardening.time
    subject = f"{blade} clock"
    date = answers["date"]
    try:
        theirs = float(date.stdout.strip())
    except ValueError:
        return [finding(want, subject, False, f"`date` gave no time: {date.why()}")]
    # The blade read its clock at some moment between sent and received: the offset lies in this interval.
    low, high = theirs - received, theirs - sent
    nearest = 0.0 if low <= 0 <= high else min(abs(low), abs(high))
    offset = f"{(low + high) / 2:+.3f} s ± {(high - low) / 2:.3f} s from the checking host"
    problems = []
    if nearest > want.max_offset_s:
        problems.append(f"more than {want.max_offset_s:g} s off")
    sync = "NTP state unknown"
    td = answers.get("timedatectl")
    ch = answers.get("chronyc")
    if td is not None and td.rc == 0 and "NTPSynchronized=" in td.stdout:
        props = dict(line.split("=", 1) for line in td.stdout.splitlines() if "=" in line)
        synced = props.get("NTPSynchronized") == "yes"
        sync = "NTP-synchronised (timedatectl)" if synced else "not NTP-synchronised (timedatectl NTPSynchronized=no)"
        if not synced:
            problems.append("enable and start systemd-timesyncd or chrony")
    elif ch is not None and ch.rc == 0 and "Leap status" in ch.stdout:
        leap = next((ln.split(":", 1)[1].strip() for ln in ch.stdout.splitlines() if ln.startswith("Leap status")), "")
        synced = leap == "Normal"
        sync = "NTP-synchronised (chronyc)" if synced else f"chrony not synchronised (Leap status: {leap})"
        if not synced:
            problems.append("chrony has no usable source")
    else:
        why = td.why() if td is not None else "not asked"
        sync = f"NTP state unknown (timedatectl: {why}); only the offset is judged"
    msg = f"{offset}; {sync}"
    return [finding(want, subject, not problems, msg if not problems else f"{msg}: {'; '.join(problems)}")]


# --------------------------------------------------------------------------------------- AppArmor
def apparmor(site: Site, blade: str, answers: Mapping[str, CommandOutput]) -> list[Finding]:
    """AppArmor is enabled in the kernel and has at least the site's number of profiles loaded."""
    want = site.cluster.node_hardening.apparmor
    subject = f"{blade} AppArmor"
    enabled = answers["enabled"]
    if enabled.rc != 0:
        why = f"not in the kernel ({enabled.why()}): boot with apparmor=1 security=apparmor"
        return [finding(want, subject, False, why)]
    if enabled.stdout.strip() != "Y":
        why = f"the module says enabled={enabled.stdout.strip()}: boot with apparmor=1"
        return [finding(want, subject, False, why)]
    profiles = answers["profiles"]
    if profiles.rc != 0:
        return [finding(want, subject, False, f"enabled, but its profiles cannot be listed: {profiles.why()}")]
    lines = [ln for ln in profiles.stdout.splitlines() if ln.strip()]
    enforce = sum(1 for ln in lines if ln.rstrip().endswith("(enforce)"))
    stand_in = answers.get("stand_in")
    note = ""
    if stand_in is not None and stand_in.rc == 0 and stand_in.stdout.strip():
        note = f" [{stand_in.stdout.strip().splitlines()[0]}]"
    msg = f"enabled, {len(lines)} profiles loaded ({enforce} enforcing){note}"
    if len(lines) < want.min_profiles:
        return [finding(want, subject, False, f"{msg}: expected at least {want.min_profiles}; load the profiles")]
    return [finding(want, subject, True, msg)]
