"""The control plane's controllers and the simulated kubelets: kube-controller-manager and
kube-scheduler on every control-plane blade (leader-elected, as on a k3s HA server), and kwok keeping
the blades' Node objects Ready and their pods running (there are no real kubelets in the lab), and
MetalLB's controller's part (LoadBalancer status)."""

from __future__ import annotations

import sys

from ..desired.cluster import KWOK_ANNOTATION
from ..site.schema import Role, Site
from .controlplane import ControlPlanePlan, binaries_dir, blade_kubeconfig


def program(argv: list[str]) -> str:
    """The binary ``argv`` ends up running (what the lab's liveness check looks for in /proc)."""
    if argv[:2] == ["unshare", "--uts"]:
        return argv[argv.index("-c") + 3]  # unshare --uts -- sh -c SCRIPT sh BINARY ...
    return argv[0]


def agent_processes(site: Site, plan: ControlPlanePlan, ns_of: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    """(name, namespace, argv) of every controller, scheduler and the kwok instance."""
    bins = binaries_dir()
    kubeconfig = str(plan.kubeconfig)
    pods = site.segments[site.cluster.pod_network].cidr
    out: list[tuple[str, str, list[str]]] = []
    for blade in site.cluster.control_plane:
        # As on a k3s server: its controllers talk to its own API server and lead under its host name (the
        # lease holder identity is "<hostname>_<uuid>"), so a lease moves when that server goes.
        kubeconfig = str(blade_kubeconfig(plan, blade))
        as_blade = ["unshare", "--uts", "--", "sh", "-c", f'hostname {blade} && exec "$@"', "sh"]
        out.append((f"kube-controller-manager-{blade}", ns_of[blade], [*as_blade,
            str(bins / "kube-controller-manager"), f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=true", f"--service-account-private-key-file={plan.service_account_key}",
            f"--root-ca-file={plan.server_ca}", "--use-service-account-credentials=false",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
            f"--cluster-cidr={pods}", "--terminated-pod-gc-threshold=10", "--bind-address=127.0.0.1",
            "--secure-port=10257",
        ]))  # fmt: skip
        out.append((f"kube-scheduler-{blade}", ns_of[blade], [*as_blade,
            str(bins / "kube-scheduler"), f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=true", "--bind-address=127.0.0.1", "--secure-port=10259",
        ]))  # fmt: skip
    workers = [b for b, s in site.blades.items() if Role.CONTROL_PLANE not in s.roles] or list(site.blades)
    kubeconfig = str(plan.kubeconfig)
    out.append((f"kwok-{workers[0]}", ns_of[workers[0]], [
        str(bins / "kwok"), f"--kubeconfig={kubeconfig}",
        f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake", f"--cidr={pods}",
        f"--node-ip={site.blades[workers[0]].address}",
    ]))  # fmt: skip
    # MetalLB's controller's part: LoadBalancer status from the requested address.
    out.append((f"loadbalancer-{workers[0]}", ns_of[workers[0]], [
        sys.executable, "-m", "pytest_zengarden.lab.loadbalancer", f"--kubeconfig={kubeconfig}",
    ]))  # fmt: skip
    return out
