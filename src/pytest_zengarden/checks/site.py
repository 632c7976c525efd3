"""The site file's own consistency, as findings (pure): what the BDD site feature asserts."""

from __future__ import annotations

from ..analysis.matrix import PORTED, PROTOCOLS, FlowMatrix, expand
from ..analysis.ports import PORT_MAX, PORT_MIN
from ..site.schema import Site
from .findings import Finding, finding


def flow_matrix(site: Site) -> FlowMatrix:
    """The expected flow matrix of the site's firewall policy."""
    return expand(site.firewall, list(site.segments))


def matrix_total(site: Site, matrix: FlowMatrix | None = None) -> list[Finding]:
    """Every ordered segment pair and protocol has exactly one verdict for every port."""
    matrix = matrix or flow_matrix(site)
    out = []
    for src, dst in matrix.pairs():
        for proto in PROTOCOLS:
            rows = matrix.rows_for(src, dst, proto)
            subject = f"{src}->{dst}:{proto.value}"
            if proto not in PORTED:
                ok = len(rows) == 1
                out.append(finding(site.firewall.default, subject, ok, f"{len(rows)} verdict(s)"))
                continue
            expect, gaps = PORT_MIN, []
            for row in rows:
                assert row.ports is not None
                if row.ports.lo != expect:
                    gaps.append(
                        f"ports {expect}..{row.ports.lo - 1} {'overlap' if row.ports.lo < expect else 'missing'}"
                    )
                expect = row.ports.hi + 1
            if expect != PORT_MAX + 1:
                gaps.append(f"ports {expect}..{PORT_MAX} missing")
            out.append(finding(site.firewall.default, subject, not gaps, "; ".join(gaps) or f"{len(rows)} interval(s)"))
    return out


def etcd_quorum(site: Site) -> Finding:
    """The etcd quorum is the majority of an odd member count."""
    etcd = site.cluster.etcd
    n = len(etcd.members)
    ok = n % 2 == 1 and etcd.quorum == n // 2 + 1
    return finding(etcd, "etcd", ok, f"{n} members, quorum {etcd.quorum}, tolerates {n - etcd.quorum} failure(s)")
