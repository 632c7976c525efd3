"""API server authentication (Defense in Depth: Kubernetes, "RBAC with OIDC"), pure.

* :func:`authentication_flags`: the flags kube-apiserver runs with *now* (the k3s journal's ``Running
  kube-apiserver`` line, :mod:`pytest_zengarden.facts.in_effect`) turn anonymous requests away and take
  users (and groups, if the site says) from the site's OIDC issuer and claims.
* :func:`anonymous_refused`: what an unauthenticated request to the server's ``/api`` got.  Kubernetes
  answers 401 when anonymous authentication is off; with it on, the request is user ``system:anonymous``
  and RBAC decides: 403 (refused, but authenticated), or 200 (anonymous reads the API).
"""

from __future__ import annotations

from ..facts.in_effect import Running
from ..site.schema import Site
from .findings import Finding, finding

# kube-apiserver's own defaults, for what an absent flag means.
APISERVER_DEFAULTS = {"anonymous-auth": "true", "oidc-username-claim": "sub"}


def authentication_flags(site: Site, server: str, run: Running) -> list[Finding]:
    """``server``'s API server, as started: anonymous auth off, and OIDC issuer and claims as the site says.

    Two findings: ``SERVER anonymous-auth`` and ``SERVER oidc``.
    """
    hard = site.cluster.apiserver
    if run.flag("authentication-config") is not None:
        # Structured authentication replaces the --oidc-* flags; its file is not judged here.
        raise ValueError(
            f"{server}: kube-apiserver runs with --authentication-config={run.flag('authentication-config')}; "
            "authentication is configured in that file, which this check does not read"
        )
    oidc: dict[str, str | None] = {"oidc-issuer-url": hard.oidc_issuer}
    if hard.oidc_issuer:
        oidc["oidc-username-claim"] = hard.oidc_username_claim
    oidc["oidc-groups-claim"] = hard.oidc_groups_claim if hard.oidc_issuer else None
    started = f" (kube-apiserver started {_when(run.started)})"
    out = []
    for what, wanted in (("anonymous-auth", {"anonymous-auth": "false"}), ("oidc", oidc)):
        problems, state = [], []
        for flag, want in wanted.items():
            have = run.flag(flag)
            effective = have if have is not None else APISERVER_DEFAULTS.get(flag)
            shown = f"--{flag}={have}" if have is not None else f"--{flag} unset"
            if have is None and effective is not None:
                shown += f" (so {effective})"
            if effective == want:
                state.append(shown)
            elif flag == "anonymous-auth":
                problems.append(f"{shown}: anonymous requests are served as system:anonymous; set anonymous-auth=false")
            elif want is None:
                problems.append(f"{shown}, which the site does not configure")
            else:
                problems.append(f"{shown}, expected {want}")
        subject = f"{server} {what}"
        if problems:
            out.append(finding(hard, subject, False, "; ".join(problems) + started))
        else:
            out.append(finding(hard, subject, True, ", ".join(state) + started))
    return out


def anonymous_refused(site: Site, server: str, url: str, status: int, message: str) -> Finding:
    """An unauthenticated GET of ``url`` on ``server`` answered ``status``: only 401 means anonymous auth is off."""
    hard = site.cluster.apiserver
    subject = f"{server} anonymous request"
    if status == 401:
        return finding(hard, subject, True, f"GET {url} without credentials: 401 Unauthorized")
    if status == 403:
        why = "anonymous auth is on: the request was authenticated as system:anonymous and only RBAC refused it"
    elif 200 <= status < 300:
        why = "anonymous auth is on and system:anonymous may read the API"
    else:
        why = "expected 401 Unauthorized"
    detail = f" ({message})" if message else ""
    return finding(hard, subject, False, f"GET {url} without credentials: {status}{detail}; {why}")


def _when(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
