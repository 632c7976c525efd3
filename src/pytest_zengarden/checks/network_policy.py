"""Trust Boundary 3: namespace isolation by NetworkPolicy (pure).

Every namespace the site does not exempt must hold a *default-deny*: a policy selecting every pod
(``podSelector: {}``) for the directions the site denies (``policyTypes``), with no rule in them.  Any other
policy that lets something through must be one of the site's allowances for that namespace, allowing
exactly what the site says (judged by meaning: peers, ports and the pods it applies to, not by the
provisioner's rendering); one the site does not list is named, and so is a listed allowance that is
missing.  Policies that grant nothing (a second deny) change nothing and are not reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..facts.cluster import KubeObject
from ..site.schema import NetpolAllow, Site
from .findings import Finding, finding

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DIRECTIONS = (("Ingress", "ingress", "from"), ("Egress", "egress", "to"))

Meaning = tuple[str, str, frozenset[str]]  # direction, pods it applies to, rules ("PEERS on PORTS")


def _spec(policy: KubeObject) -> dict[str, Any]:
    spec = policy.get("spec") or {}
    return spec if isinstance(spec, dict) else {}


def policy_types(policy: KubeObject) -> list[str]:
    """``spec.policyTypes`` as the API server applies it: unset means Ingress, plus Egress when egress rules exist."""
    spec = _spec(policy)
    types = spec.get("policyTypes")
    if types:
        return [str(t) for t in types]
    return ["Ingress"] + (["Egress"] if spec.get("egress") else [])


def _selector(sel: Any) -> str:
    """A label selector in words; ``{}`` (or none) selects everything."""
    sel = sel or {}
    labels = sel.get("matchLabels") or {}
    exprs = sel.get("matchExpressions") or []
    if not labels and not exprs:
        return "*"
    parts = [f"{k}={v}" for k, v in sorted(labels.items())]
    parts += [json.dumps(e, sort_keys=True) for e in exprs]
    return ",".join(parts)


def _peer(peer: dict[str, Any]) -> str:
    if "ipBlock" in peer:
        block = peer["ipBlock"] or {}
        exc = block.get("except") or []
        return str(block.get("cidr")) + (f" except {','.join(exc)}" if exc else "")
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_sel is None:
        return f"pods {_selector(pod_sel)} of this namespace"
    labels = (ns_sel or {}).get("matchLabels") or {}
    if set(labels) == {NAMESPACE_NAME_LABEL} and not (ns_sel or {}).get("matchExpressions"):
        where = f"namespace {labels[NAMESPACE_NAME_LABEL]}"
    else:
        where = "every namespace" if _selector(ns_sel) == "*" else f"namespaces {_selector(ns_sel)}"
    return (f"pods {_selector(pod_sel)} in " if _selector(pod_sel) != "*" else "") + where


def _ports(ports: Any) -> str:
    if not ports:
        return "every port"
    out = []
    for p in ports:
        proto = str(p.get("protocol") or "TCP")
        port = p.get("port")
        end = p.get("endPort")
        out.append(f"{proto}/{port}" + (f"-{end}" if end else "") if port is not None else f"{proto}/all")
    return ",".join(sorted(out))


def _rule(rule: dict[str, Any], peers_key: str) -> str:
    peers = rule.get(peers_key) or []
    who = " + ".join(sorted(_peer(p) for p in peers)) if peers else "anywhere"
    return f"{who} on {_ports(rule.get('ports'))}"


def grants(policy: KubeObject) -> list[Meaning]:
    """What ``policy`` lets through, per direction it governs (nothing for a pure deny)."""
    spec = _spec(policy)
    types = policy_types(policy)
    out = []
    for ptype, key, peers_key in DIRECTIONS:
        rules = spec.get(key) or []
        if ptype in types and rules:
            out.append((ptype, _selector(spec.get("podSelector")), frozenset(_rule(r, peers_key) for r in rules)))
    return out


def denies_all(policy: KubeObject, ptype: str) -> bool:
    """Whether ``policy`` is a default-deny for ``ptype`` (Ingress/Egress): every pod, that direction, no rule."""
    spec = _spec(policy)
    key = "ingress" if ptype == "Ingress" else "egress"
    return _selector(spec.get("podSelector")) == "*" and ptype in policy_types(policy) and not spec.get(key)


def allowance_meaning(allow: NetpolAllow) -> list[Meaning]:
    """What the site's allowance lets through, in the words :func:`grants` uses."""
    peers = ["every namespace" if ns == "*" else f"namespace {ns}" for ns in allow.namespaces] + [
        str(c) for c in allow.cidrs
    ]
    who = " + ".join(sorted(peers)) if peers else "anywhere"
    ports = ",".join(sorted(f"{allow.protocol}/{p}" for p in allow.ports)) if allow.ports else "every port"
    selector = ",".join(f"{k}={v}" for k, v in sorted(allow.pod_selector.items())) or "*"
    return [(allow.direction.capitalize(), selector, frozenset({f"{who} on {ports}"}))]


def _say(meanings: Iterable[Meaning]) -> str:
    return (
        "; ".join(f"{d.lower()} to pods {sel}: {' | '.join(sorted(rules))}" for d, sel, rules in meanings) or "nothing"
    )


def _name(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def _namespace(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def network_policies(site: Site, namespaces: list[KubeObject], policies: list[KubeObject]) -> list[Finding]:
    """One finding per namespace: its default-deny and only the site's allowances (exempt ones pass as such)."""
    np = site.cluster.network_policies
    exempt = set(site.cluster.netpol_exempt)
    wanted_types = [t for t, on in (("Ingress", np.default_deny.ingress), ("Egress", np.default_deny.egress)) if on]
    by_ns: dict[str, list[KubeObject]] = {}
    for pol in policies:
        by_ns.setdefault(_namespace(pol), []).append(pol)
    out = []
    for ns_obj in namespaces:
        ns = _name(ns_obj)
        subject = f"namespace {ns}"
        if ns in exempt:
            why = "network_policies.exempt_namespaces" if np.exempt_namespaces is not None else "the PSA exemptions"
            out.append(finding(np, subject, True, f"exempt by design ({why})"))
            continue
        held = sorted(by_ns.get(ns, []), key=_name)
        problems: list[str] = []
        state: list[str] = []
        for ptype in wanted_types:
            deny = [_name(p) for p in held if denies_all(p, ptype)]
            if deny:
                state.append(f"default-deny {ptype.lower()} ({', '.join(deny)})")
            else:
                problems.append(f"no default-deny {ptype.lower()} (a policy with podSelector {{}}, policyTypes "
                                f"[{ptype}] and no {ptype.lower()} rules)")  # fmt: skip
        listed = {a.name: a for a in np.allow.get(ns, [])}
        seen = set()
        for pol in held:
            name, granted = _name(pol), grants(pol)
            if name in listed:
                seen.add(name)
                want = allowance_meaning(listed[name])
                if sorted(granted) != sorted(want):
                    problems.append(f"NetworkPolicy {name} allows {_say(granted)}; the site allows {_say(want)}")
                else:
                    state.append(f"allowance {name}")
            elif granted:
                problems.append(f"NetworkPolicy {name} allows {_say(granted)}, which the site does not list")
        for name in listed:
            if name not in seen:
                problems.append(f"allowance {name} ({_say(allowance_meaning(listed[name]))}) is missing")
        if problems:
            out.append(finding(np, subject, False, "; ".join(problems)))
        else:
            out.append(finding(np, subject, True, ", ".join(state) or "the site denies nothing by default"))
    if not out:
        raise ValueError("no namespace was read: namespace isolation cannot be judged")
    return out
