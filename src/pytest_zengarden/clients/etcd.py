"""etcd through its v3 JSON gateway (``/v3/...``) over mutual TLS, with httpx.

:meth:`EtcdClient.survey` asks every endpoint at once (status, health), the member list and the alarms,
and records an endpoint that does not answer with its cause: a member down is what the checks count,
not an error.  Every request is bounded by the client's timeout.
"""

from __future__ import annotations

import ssl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from ..errors import TargetError
from ..facts.etcd import EndpointReport, EtcdSurvey


class EtcdClient:
    """Asks an etcd cluster about its members and their status; tries each endpoint in turn.

    Each request is bounded by ``timeout`` per phase (connect, TLS, write, read), so a question is
    answered or fails within about ``2 * timeout`` per endpoint tried.
    """

    def __init__(self, endpoints: list[str], ca_file: Path, cert_file: Path, key_file: Path, timeout: float = 5.0):
        self.endpoints = endpoints
        self.endpoint = f"etcd {','.join(endpoints)}"
        for p in (ca_file, cert_file, key_file):
            if not p.exists():
                raise TargetError(self.endpoint, f"certificate file {p} does not exist")
        problem = ""
        try:
            ctx = ssl.create_default_context(cafile=str(ca_file))
            # An encrypted key would make OpenSSL prompt on the terminal (a hang): no passphrase is given.
            ctx.load_cert_chain(str(cert_file), str(key_file), password=lambda: b"")
        except (ssl.SSLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
            problem = f"cannot load the client certificate or key ({reason})"
        if problem:
            raise TargetError(self.endpoint, problem) from None
        self._http = httpx.Client(verify=ctx, timeout=httpx.Timeout(timeout))

    def _post(self, endpoint: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._request("POST", endpoint, path, body or {}, ok=(200,))

    def _request(
        self, method: str, endpoint: str, path: str, body: dict[str, Any] | None, ok: tuple[int, ...]
    ) -> dict[str, Any]:
        resp: httpx.Response | None = None
        cause = ""
        try:
            resp = self._http.request(method, f"{endpoint}{path}", json=body)
        except httpx.TimeoutException:
            cause = "timed out"
        except httpx.TransportError as exc:
            cause = str(exc) or type(exc).__name__
        except Exception as exc:  # anything else httpx lets out, without its frames
            cause = f"request failed ({type(exc).__name__})"
        if resp is None:
            raise TargetError(f"etcd {endpoint}", f"{method} {path}: {_short(cause)}") from None
        if resp.status_code not in ok:
            raise TargetError(f"etcd {endpoint}", f"{method} {path}: HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError:
            raise TargetError(f"etcd {endpoint}", f"{method} {path}: malformed reply (not JSON)") from None
        if not isinstance(data, dict):
            raise TargetError(f"etcd {endpoint}", f"{method} {path}: malformed reply")
        return data

    def members(self, endpoints: list[str] | None = None) -> list[dict[str, Any]]:
        """The member list, from the first endpoint that answers (of ``endpoints``, default all, in order)."""
        errors = []
        for ep in endpoints or self.endpoints:
            try:
                return list(self._post(ep, "/v3/cluster/member/list").get("members", []))
            except TargetError as exc:
                errors.append(str(exc))
        raise TargetError(self.endpoint, "no endpoint answered: " + "; ".join(errors))

    def status(self, endpoint: str) -> dict[str, Any]:
        """One member's status (leader, raft term, db size)."""
        return self._post(endpoint, "/v3/maintenance/status")

    def health(self, endpoint: str) -> dict[str, Any]:
        """One member's ``/health`` (``{"health": "true"|"false", "reason": ...}``; 503 is an answer too)."""
        return self._request("GET", endpoint, "/health", None, ok=(200, 503))

    def alarms(self, endpoints: list[str] | None = None) -> list[dict[str, Any]]:
        """The cluster's alarms (``[{"memberID": ..., "alarm": "NOSPACE"|"CORRUPT"}]``), from the first endpoint
        that answers.  etcd serves this through raft: without quorum no endpoint answers in time."""
        errors = []
        for ep in endpoints or self.endpoints:
            try:
                return list(self._post(ep, "/v3/maintenance/alarm", {"action": "GET"}).get("alarms", []))
            except TargetError as exc:
                errors.append(exc.cause)
        raise TargetError(self.endpoint, "no endpoint answered: " + "; ".join(errors))

    def _endpoint(self, endpoint: str) -> EndpointReport:
        try:
            status = self.status(endpoint)
        except TargetError as exc:
            return EndpointReport(endpoint, error=exc.cause.removeprefix("POST /v3/maintenance/status: "))
        try:
            return EndpointReport(endpoint, status=status, health=self.health(endpoint))
        except TargetError as exc:
            return EndpointReport(endpoint, status=status, health_error=exc.cause.removeprefix("GET /health: "))

    def survey(self) -> EtcdSurvey:
        """Every endpoint's status and health (asked at once, so raft indexes are compared at one moment),
        then the member list and the alarms; what does not answer is recorded with its cause."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.endpoints))) as pool:
            reports = list(pool.map(self._endpoint, self.endpoints))
        answering = [r.endpoint for r in reports if r.answered] + [r.endpoint for r in reports if not r.answered]
        members: list[dict[str, Any]] | None = None
        members_error = alarms_error = ""
        alarms: list[dict[str, Any]] | None = None
        # The member list and alarms from a member that answered first: a down one would only cost its timeout.
        try:
            members = self.members(answering)
        except TargetError as exc:
            members_error = exc.cause
        if any(r.answered for r in reports):
            try:  # only members that answered: a refused one would add nothing but its own cause
                alarms = self.alarms([r.endpoint for r in reports if r.answered])
            except TargetError as exc:
                alarms_error = exc.cause
        else:
            alarms_error = "no endpoint answered"
        return EtcdSurvey(reports, members, members_error, alarms, alarms_error)

    def close(self) -> None:
        self._http.close()


def _short(cause: str) -> str:
    """httpx's transport cause as an operator reads it (``[Errno 111] Connection refused``: ``connection refused``)."""
    low = cause.lower()
    for known in ("connection refused", "no route to host", "network is unreachable", "name or service not known"):
        if known in low:
            return known
    return cause
