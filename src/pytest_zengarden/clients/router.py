"""RouterOS clients: the binary API (librouteros) and the REST API (httpx), one interface.

Both read *and* write (provisioning reuses them): ``print``/``add``/``set``/``remove``/``move`` on a
menu, and :meth:`snapshot` to read several menus into a :class:`RouterConfig` for the evaluators.
Every network call has a timeout; every failure is a :class:`TargetError` naming the router endpoint
and the cause (refused, timed out, TLS, login refused, malformed reply), never the password.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
from collections.abc import Generator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from ..credentials import Secret, as_secret
from ..errors import TargetError
from ..facts.router import FACT_MENUS, RouterConfig, normalize_menu, stringify
from ..redaction import SENSITIVE_PROPERTIES, redact, remember

# The menus the verification checks read: the union of the evaluators' READS, each with its RouterOS
# defaults in facts/routeros_defaults.py (a test holds them equal).  Provisioning may print more.
DEFAULT_MENUS: tuple[str, ...] = tuple(FACT_MENUS)

Props = Mapping[str, object]


class RouterClient(Protocol):
    """What the plugin needs from a router connection, whatever the transport."""

    endpoint: str

    def print(self, menu: str) -> list[dict[str, str]]: ...
    def add(self, menu: str, props: Props) -> str: ...
    def set(self, menu: str, item_id: str, props: Props) -> None: ...
    def set_singleton(self, menu: str, props: Props) -> None: ...
    def unset(self, menu: str, item_id: str, names: Sequence[str]) -> None: ...
    def remove(self, menu: str, *item_ids: str) -> None: ...
    def move(self, menu: str, item_ids: Sequence[str], destination: str) -> None: ...
    def close(self) -> None: ...


def snapshot(client: RouterClient, menus: Iterable[str] = DEFAULT_MENUS) -> RouterConfig:
    """Read ``menus`` (one ``print`` each) into the router's facts, readable in exactly those menus.

    Completed as an export is (:meth:`RouterConfig.from_device`), so both readings give the same facts.
    """
    records: dict[str, list[dict[str, str]]] = {}
    for menu in menus:
        records[menu] = client.print(menu)
    return RouterConfig.from_device(records, source=client.endpoint, read=records)


def tls_context(ca_file: Path | None, verify: bool) -> ssl.SSLContext:
    """Client TLS context: the given CA (or the system store); verification off only when asked."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return redact(str(exc)) or type(exc).__name__


# Menus whose print carries credentials (RouterOS shows WireGuard keys and client passwords to a full
# user): they are printed with a .proplist of what a check may read, so the keys never leave the router.
PRINT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "/interface/wireguard": (
        ".id", "name", "listen-port", "mtu", "public-key", "disabled", "running", "comment",
    ),
    "/interface/wireguard/peers": (
        ".id", "name", "interface", "public-key", "endpoint-address", "endpoint-port", "allowed-address",
        "persistent-keepalive", "is-responder", "responder", "client-address", "client-dns", "client-endpoint",
        "client-keepalive", "client-listen-port", "current-endpoint-address", "current-endpoint-port",
        "last-handshake", "rx", "tx", "disabled", "comment",
    ),
    "/interface/pppoe-client": (
        ".id", "name", "interface", "user", "service-name", "ac-name", "add-default-route",
        "default-route-distance", "use-peer-dns", "profile", "dial-on-demand", "max-mtu", "max-mru", "mrru",
        "keepalive-timeout", "allow", "disabled", "running", "comment",
    ),
}  # fmt: skip


def _public(row: Mapping[str, object]) -> dict[str, str]:
    """A printed record without credential properties (a router that ignores .proplist still sends them)."""
    return {str(k): stringify(v) for k, v in row.items() if str(k) not in SENSITIVE_PROPERTIES}


def _api_problem(exc: BaseException) -> str:
    """What went wrong in a librouteros call, from any exception it lets out (never the password)."""
    from librouteros.exceptions import ConnectionClosed, FatalError, MultiTrapError, TrapError

    if isinstance(exc, TrapError):
        return redact(exc.message)
    if isinstance(exc, MultiTrapError):
        return redact(str(exc))
    if isinstance(exc, TimeoutError | OSError):
        return _describe_os_error(exc)
    if isinstance(exc, ConnectionClosed):
        return "the router closed the connection"
    if isinstance(exc, FatalError):
        return f"the router ended the session ({redact(str(exc))})"
    # librouteros lets IndexError, ValueError, TypeError, UnicodeError... out of a reply it cannot parse.
    return f"malformed reply ({type(exc).__name__})"


class RouterApiClient:
    """The RouterOS API (8728, or API-SSL on 8729) through librouteros."""

    def __init__(
        self,
        host: str,
        username: str,
        password: Secret | str,
        *,
        port: int = 8728,
        tls: ssl.SSLContext | None = None,
        timeout: float = 5.0,
    ):
        import librouteros
        from librouteros.exceptions import ConnectionClosed, MultiTrapError, TrapError

        password = as_secret(password, "the router password")
        kind = "API-SSL" if tls is not None else "API"
        self.endpoint = f"router {host}:{port} ({kind})"
        wrapper = None
        if tls is not None:
            ctx = tls

            def wrapper(sock: socket.socket) -> socket.socket:
                return ctx.wrap_socket(sock, server_hostname=host)

        # Every exception is mapped, and raised after the except block: the TargetError then carries
        # no context, so no traceback (--tb=long, -l) reaches librouteros' frames holding the password.
        api: Any = None
        problem = ""
        try:
            api = librouteros.connect(
                host, username, password.reveal(), port=port, timeout=timeout, ssl_wrapper=wrapper, encoding="utf-8"
            )
        except (TrapError, MultiTrapError) as exc:
            problem = f"login refused for user {username!r} ({_api_problem(exc)})"
        except (ConnectionClosed, ssl.SSLEOFError):
            # What RouterOS does to a client its /ip/service address list leaves out: accept, close, say nothing.
            service = "api-ssl" if tls is not None else "api"
            problem = (
                "login failed: the router closed the connection before answering; "
                f"check that /ip/service {service} address= admits this client's address"
            )
        except (TimeoutError, OSError) as exc:  # refused, timed out, TLS: the connection itself
            problem = _describe_os_error(exc)
        except Exception as exc:
            problem = f"login failed: {_api_problem(exc)}"
        if api is None:
            raise TargetError(self.endpoint, problem) from None
        self._api = api

    def _run(self, cmd: str, **words: Any) -> list[dict[str, str]]:
        problem = ""
        try:
            return [{k: stringify(v) for k, v in row.items()} for row in self._api(cmd, **words)]
        except Exception as exc:  # whatever librouteros lets out, mapped (see __init__)
            problem = _api_problem(exc)
        raise TargetError(self.endpoint, f"{cmd}: {problem}") from None

    @staticmethod
    def _words(props: Props) -> dict[str, Any]:
        return {k: stringify(v) for k, v in props.items()}

    def print(self, menu: str) -> list[dict[str, str]]:
        menu = normalize_menu(menu)
        props = PRINT_PROPERTIES.get(menu)
        words = {".proplist": ",".join(props)} if props else {}
        return [_public(row) for row in self._run(f"{menu}/print", **words)]

    def add(self, menu: str, props: Props) -> str:
        rows = self._run(f"{normalize_menu(menu)}/add", **self._words(props))
        # `!done =ret=*A` reaches librouteros as a final record with only `ret`.
        for row in rows:
            if "ret" in row:
                return row["ret"]
        raise TargetError(self.endpoint, f"{menu}/add: reply carried no id")

    def set(self, menu: str, item_id: str, props: Props) -> None:
        self._run(f"{normalize_menu(menu)}/set", **{".id": item_id, **self._words(props)})

    def set_singleton(self, menu: str, props: Props) -> None:
        """``set`` on a menu with one record and no ids (``/ip/dns``, ``/system/identity``)."""
        self._run(f"{normalize_menu(menu)}/set", **self._words(props))

    def unset(self, menu: str, item_id: str, names: Sequence[str]) -> None:
        """Back to the default: one ``unset value-name=`` per property (RouterOS takes one name per call)."""
        for name in names:
            self._run(f"{normalize_menu(menu)}/unset", numbers=item_id, **{"value-name": name})

    def remove(self, menu: str, *item_ids: str) -> None:
        self._run(f"{normalize_menu(menu)}/remove", **{".id": ",".join(item_ids)})

    def move(self, menu: str, item_ids: Sequence[str], destination: str) -> None:
        self._run(f"{normalize_menu(menu)}/move", numbers=",".join(item_ids), destination=destination)

    def safe_mode_take(self) -> None:
        """``/safe-mode/take`` (RouterOS 7.18+): until release, losing this connection undoes every change."""
        self._run("/safe-mode/take")

    def safe_mode_release(self) -> None:
        """``/safe-mode/release``: keep the changes made in Safe Mode and leave it."""
        self._run("/safe-mode/release")

    def safe_mode_unroll(self) -> None:
        """``/safe-mode/unroll``: undo every change since take and leave Safe Mode."""
        self._run("/safe-mode/unroll")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._api.close()


def _basic_token(username: str, password: Secret) -> str:
    return base64.b64encode(f"{username}:{password.reveal()}".encode()).decode("ascii")


class _BasicAuth(httpx.Auth):
    """HTTP Basic built per request from the :class:`Secret`: the client keeps no plaintext to print."""

    def __init__(self, username: str, password: Secret):
        self._username = username
        self._password = password
        remember(_basic_token(username, password))  # the encoded form is as secret as the password

    def __repr__(self) -> str:
        return f"BasicAuth({self._username!r}, ***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Basic " + _basic_token(self._username, self._password)
        yield request


class RouterRestClient:
    """The RouterOS 7 REST API (``/rest/...``) through httpx, HTTP Basic auth."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: Secret | str,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.endpoint = f"router {self.base_url} (REST)"
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=_BasicAuth(username, as_secret(password, "the router password")),
            verify=verify,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def _call(
        self, method: str, menu: str, suffix: str = "", body: Any = None, params: Mapping[str, str] | None = None
    ) -> Any:
        path = "/rest" + normalize_menu(menu) + suffix
        resp: httpx.Response | None = None
        cause = ""
        try:
            resp = self._http.request(method, path, json=body, params=params)
        except httpx.TimeoutException:
            cause = "timed out"
        except httpx.TransportError as exc:
            cause = _describe_os_error(exc.__context__) if exc.__context__ else redact(str(exc))
        except Exception as exc:  # anything else httpx lets out; raised below, without its frames
            cause = f"request failed ({type(exc).__name__})"
        if resp is None:
            raise TargetError(self.endpoint, f"{method} {path}: {cause}") from None
        if resp.status_code == 401:
            raise TargetError(self.endpoint, "login refused (401 Unauthorized)")
        if resp.status_code >= 400:
            detail = ""
            try:
                err = resp.json()
                detail = err.get("detail") or err.get("message") or ""
            except ValueError:
                detail = resp.text[:200]
            raise TargetError(self.endpoint, f"{method} {path}: HTTP {resp.status_code} {detail}".rstrip())
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise TargetError(self.endpoint, f"{method} {path}: malformed reply (not JSON)") from None

    def print(self, menu: str) -> list[dict[str, str]]:
        props = PRINT_PROPERTIES.get(normalize_menu(menu))
        data = self._call("GET", menu, params={".proplist": ",".join(props)} if props else None)
        if isinstance(data, dict):  # singleton menus (/ip/dns, /system/identity) answer one object
            data = [data]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise TargetError(self.endpoint, f"GET {menu}: malformed reply (expected a list of objects)")
        return [_public(row) for row in data]

    def add(self, menu: str, props: Props) -> str:
        data = self._call("PUT", menu, body={k: stringify(v) for k, v in props.items()})
        if not isinstance(data, dict) or ".id" not in data:
            raise TargetError(self.endpoint, f"PUT {menu}: reply carried no .id")
        return str(data[".id"])

    def set(self, menu: str, item_id: str, props: Props) -> None:
        self._call("PATCH", menu, f"/{item_id}", body={k: stringify(v) for k, v in props.items()})

    def set_singleton(self, menu: str, props: Props) -> None:
        self._call("POST", menu, "/set", body={k: stringify(v) for k, v in props.items()})

    def unset(self, menu: str, item_id: str, names: Sequence[str]) -> None:
        for name in names:
            self._call("POST", menu, "/unset", body={"numbers": item_id, "value-name": name})

    def remove(self, menu: str, *item_ids: str) -> None:
        for item_id in item_ids:
            self._call("DELETE", menu, f"/{item_id}")

    def move(self, menu: str, item_ids: Sequence[str], destination: str) -> None:
        self._call("POST", menu, "/move", body={"numbers": ",".join(item_ids), "destination": destination})

    def close(self) -> None:
        self._http.close()
