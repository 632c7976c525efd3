"""The lab's observability stack on a worker blade: VictoriaMetrics, vmalert, Alertmanager, a Gotify sink.

VictoriaMetrics scrapes every blade's node_exporter (and whatever extra targets the control plane
adds); vmalert evaluates the alert rules against it and notifies Alertmanager, whose only route is a
webhook to the sink that stands in for Gotify.  All real Debian packages but the sink.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..site.schema import Role, Site

VM_PORT, VMALERT_PORT, AM_PORT, SINK_PORT = 8428, 8880, 9093, 9094


@dataclass(frozen=True)
class Observability:
    """Where the stack runs and how to start each part."""

    blade: str
    address: str
    processes: dict[str, list[str]] = field(default_factory=dict)  # name -> argv

    @property
    def urls(self) -> dict[str, str]:
        a = self.address
        return {
            "victoria_metrics": f"http://{a}:{VM_PORT}",
            "vmalert": f"http://{a}:{VMALERT_PORT}",
            "alertmanager": f"http://{a}:{AM_PORT}",
            "webhook_sink": f"http://{a}:{SINK_PORT}",
        }


def plan_observability(
    site: Site, state_dir: Path, scrape_interval: str = "2s", extra_scrapes: list[dict[str, object]] | None = None
) -> Observability:
    """Write the configs under ``state_dir/observability`` and return the processes to start."""
    workers = [b for b, spec in site.blades.items() if Role.CONTROL_PLANE not in spec.roles] or list(site.blades)
    blade = workers[0]
    address = str(site.blades[blade].address)
    d = state_dir / "observability"
    d.mkdir(parents=True, exist_ok=True)
    port = site.observability.node_exporter_port
    scrape = {
        "global": {"scrape_interval": scrape_interval},
        "scrape_configs": [{
            "job_name": "node",
            "static_configs": [{"targets": [f"{s.address}:{port}"], "labels": {"blade": n}}
                               for n, s in site.blades.items()],
        }, *(extra_scrapes or [])],
    }  # fmt: skip
    (d / "scrape.yml").write_text(yaml.safe_dump(scrape, sort_keys=False))
    rules = {"groups": [{"name": "zengarden-lab", "interval": "5s", "rules": [{
        "alert": "BladeDown", "expr": 'up{job="node"} == 0', "for": "30s",
        "labels": {"severity": "critical"}, "annotations": {"summary": "{{ $labels.blade }} is down"},
    }]}]}  # fmt: skip
    (d / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    receiver = site.observability.alert_receiver
    am = {
        "route": {"receiver": receiver, "group_by": ["alertname"], "group_wait": "1s", "group_interval": "5s",
                  "repeat_interval": "1h"},
        "receivers": [{"name": receiver, "webhook_configs": [{"url": f"http://{address}:{SINK_PORT}/{receiver}"}]}],
    }  # fmt: skip
    (d / "alertmanager.yml").write_text(yaml.safe_dump(am, sort_keys=False))
    a = address
    processes = {
        "victoria-metrics": ["victoria-metrics", f"-storageDataPath={d / 'vm-data'}", f"-httpListenAddr={a}:{VM_PORT}",
                             f"-promscrape.config={d / 'scrape.yml'}", "-retentionPeriod=1d",
                             "-search.latencyOffset=1s"],
        "alertmanager": ["prometheus-alertmanager", f"--config.file={d / 'alertmanager.yml'}",
                         f"--storage.path={d / 'am-data'}", f"--web.listen-address={a}:{AM_PORT}",
                         "--cluster.listen-address="],
        "vmalert": ["vmalert", f"-rule={d / 'rules.yml'}", f"-datasource.url=http://{a}:{VM_PORT}",
                    f"-notifier.url=http://{a}:{AM_PORT}", f"-httpListenAddr={a}:{VMALERT_PORT}"],
        "webhook-sink": [sys.executable, "-m", "pytest_zengarden.lab.webhook_sink", "--listen", f"{a}:{SINK_PORT}",
                         "--record", str(d / "webhook-received.jsonl")],
    }  # fmt: skip
    return Observability(blade, address, processes)
