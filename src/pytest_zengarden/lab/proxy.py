"""The restrictive proxy of the homelab (facts §2), re-implemented in Python for the lab.

The original is ``server.js`` in ``system/ansible/install-restrictive-proxy/app`` (Node.js with
http-proxy 1.18.1, js-yaml 4.1.0 and minimatch 9.0.5).  This module behaves as that program does, to
the byte where the facts document it:

* :func:`load_config` reads the YAML config as js-yaml's default schema would (YAML 1.2 core scalars:
  ``yes``/``no`` stay strings, ``0123`` is 123; duplicate keys are an error) and replaces a password of
  the form ``${VAR}`` from the environment (left literal when unset or empty);
* :func:`is_request_allowed` is ``isRequestAllowed`` with the same quirks (no ``restrictions`` allows
  all; a method without an entry is allowed only in ``WATCH``; a ``mode`` that is neither ``RESTRICT``
  nor ``WATCH`` allows any method that has an entry);
* :func:`serve_proxy` is the HTTP server: Host routing, client Basic auth, the policy, credential
  replacement and forwarding as http-proxy does it (``changeOrigin``, ``followRedirects``, the
  upstream path built by ``url.parse(req.url).path`` and http-proxy's ``urlJoin``, which collapses
  ``//``), with Node's response framing for the proxy's own answers and Node's raw ``400`` for requests
  its HTTP parser refuses (unknown or lower-case methods, a target outside ``0x21-0x7e``, no ``Host`` on
  HTTP/1.1);
* ``python -m pytest_zengarden.lab.proxy --config PATH --listen HOST:PORT`` is the service.

One log line per request, on the logger ``pytest_zengarden.lab.proxy``: ``ALLOWED``,
``POTENTIALLY-DISALLOWED``, ``RESTRICTED <METHOD> <path>``, ``UNAUTHORIZED request to <host>`` and
``Proxy error for <METHOD> <path>: <msg>``.  Every configured password, and the Basic credentials built
from them, is masked in every line (the original never logs them either; the mask also covers a client
that puts one in a URL).

Where the original would crash or hang (a config whose ``to`` is missing, a restriction that is not a list
of strings, a pattern minimatch throws on), :func:`load_config` refuses the config instead: see
:class:`ProxyConfigError`.  An allowed request whose URL Node's ``url.parse`` throws on (``GET
http://[x/``) ends the original process; here the connection is dropped unanswered and a ``Proxy crash``
line is logged.  The request body is buffered, up to follow-redirects' ``maxBodyLength`` (10 MiB); a larger
body gets the same ``502`` the original gives, and a chunked body is sent upstream with a Content-Length.
Hop-by-hop headers are not relayed; header order and the case of ``Connection``/``Transfer-Encoding`` may
differ from Node's.  The upstream is given ``upstream_timeout`` (the original waits forever).  HTTP parsing
is h11's: two ``Host`` headers get a 400 (Node takes the first) and a folded header line is accepted (Node
refuses it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import email.utils
import errno
import logging
import math
import os
import re
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final

import h11
import httpcore
import httpx
import yaml

from ..errors import ZengardenError
from .minimatch import Minimatch, MinimatchError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_PORT",
    "MAX_BODY_BYTES",
    "ClientAuth",
    "HostConfig",
    "NodeInvalidURL",
    "ProxyConfig",
    "ProxyConfigError",
    "Upstream",
    "check_basic_auth",
    "is_request_allowed",
    "load_config",
    "main",
    "serve_proxy",
    "upstream_target",
]

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH: Final = "/etc/restrictive-proxy.conf.j2"
"""``server.js``'s default for ``CONFIG_PATH`` (the deployment sets ``/etc/restrictive-proxy.conf``)."""
DEFAULT_PORT: Final = 8080
"""``server.js``'s default for ``PORT`` (the deployment sets 5555)."""
MAX_BODY_BYTES: Final = 10 * 1024 * 1024
"""follow-redirects' default ``maxBodyLength``: a larger request body fails with a 502."""
MAX_HEADER_BYTES: Final = 16 * 1024
"""Node's default ``maxHeaderSize``: larger request heads get a raw 431."""
KEEP_ALIVE_TIMEOUT: Final = 5.0
"""Node's ``server.keepAliveTimeout`` (announced as ``Keep-Alive: timeout=5``)."""
HEADERS_TIMEOUT: Final = 60.0
"""Node's ``server.headersTimeout``: how long a started request may take to arrive."""
MAX_REDIRECTS: Final = 21
"""follow-redirects' default ``maxRedirects``."""

TAG_ALLOWED: Final = "ALLOWED"
TAG_RESTRICTED: Final = "RESTRICTED"
TAG_POTENTIALLY_DISALLOWED: Final = "POTENTIALLY-DISALLOWED"

# http.METHODS of Node 20: llhttp answers anything else (lower case included) with a raw 400.
NODE_METHODS: Final = frozenset(
    (
        *("ACL", "BIND", "CHECKOUT", "CONNECT", "COPY", "DELETE", "GET", "HEAD", "LINK", "LOCK", "M-SEARCH"),
        *("MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL", "MOVE", "NOTIFY", "OPTIONS", "PATCH", "POST", "PROPFIND"),
        *("PROPPATCH", "PURGE", "PUT", "QUERY", "REBIND", "REPORT", "SEARCH", "SOURCE", "SUBSCRIBE", "TRACE"),
        *("UNBIND", "UNLINK", "UNLOCK", "UNSUBSCRIBE"),
    )
)

_RAW_400: Final = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"
_RAW_431: Final = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"


class ProxyConfigError(ZengardenError):
    """The config cannot be used; the message is the one ``server.js`` prints before it exits 1.

    ``Failed to load config from <path>: <msg>`` for read, parse and substitution errors (and, in this
    port, for configs the original would crash or hang on), ``No proxy configuration found`` when the
    ``proxy`` key is missing or empty.
    """


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class ClientAuth:
    """The credentials a client must send (``auth``); either may be None (then auth is not required)."""

    username: str | None
    password: str | None = field(repr=False)

    @property
    def required(self) -> bool:
        """``auth && auth.username && auth.password``."""
        return bool(self.username) and bool(self.password)


@dataclass(frozen=True)
class Upstream:
    """Where allowed requests go (``to``) and the credentials injected into them."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def authorization(self) -> str | None:
        """The injected ``Authorization`` value, if ``to.username && to.password``."""
        if not (self.username and self.password):
            return None
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")


@dataclass(frozen=True)
class HostConfig:
    """One ``proxy.<host>`` entry; ``mode`` is None when the YAML gave something other than a string.

    ``restrictions`` is None when absent or falsy; a method whose entry is absent or falsy is not a key.
    The patterns are compiled at construction (:class:`~pytest_zengarden.lab.minimatch.MinimatchError`
    for a bad one).
    """

    host: str
    to: Upstream
    auth: ClientAuth | None = None
    mode: str | None = "WATCH"
    restrictions: Mapping[str, tuple[str, ...]] | None = None
    _matchers: Mapping[str, tuple[Minimatch, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = {m: tuple(Minimatch(p) for p in pats) for m, pats in (self.restrictions or {}).items()}
        object.__setattr__(self, "_matchers", compiled)

    def matches(self, method: str, path: str) -> bool:
        """``matchesPattern(path, restrictions[method])``."""
        return any(m.match(path) for m in self._matchers.get(method, ()))


@dataclass(frozen=True)
class ProxyConfig:
    """The whole config: hosts by exact Host name (port removed), and the file it came from."""

    hosts: Mapping[str, HostConfig]
    path: str = "<memory>"

    def secrets(self) -> tuple[str, ...]:
        """Every password and Basic credential the config holds: never to appear in a log line."""
        found: set[str] = set()
        for cfg in self.hosts.values():
            for user, password in (
                (cfg.to.username, cfg.to.password),
                (cfg.auth.username if cfg.auth else None, cfg.auth.password if cfg.auth else None),
            ):
                if password:
                    found.add(password)
                    found.add(base64.b64encode(f"{user or ''}:{password}".encode()).decode("ascii"))
        return tuple(sorted(found, key=len, reverse=True))


class _Undefined:
    """JavaScript's ``undefined`` (an empty YAML stream), distinct from ``null``."""


_UNDEFINED: Final = _Undefined()


def _truthy(value: object) -> bool:
    """JavaScript truthiness of a YAML value (``[]`` and ``{}`` are truthy, NaN is not)."""
    if isinstance(value, float) and math.isnan(value):
        return False
    if isinstance(value, list | dict):
        return True
    return bool(value) and not isinstance(value, _Undefined)


def _js_string(value: object) -> str:
    """``String(value)`` for the scalars YAML can give (used for object keys)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return str(value)


def _js_type_error(value: object, prop: str) -> str:
    kind = "null" if value is None else "undefined"
    return f"Cannot read properties of {kind} (reading '{prop}')"


class _JsYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with js-yaml 4's default-schema implicit types and duplicate-key check."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            with contextlib.suppress(TypeError):
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, "duplicated mapping key", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct_js_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if text[:2] == "0b":
        return sign * int(text[2:], 2)
    if text[:2] == "0x":
        return sign * int(text[2:], 16)
    if text[:2] == "0o":
        return sign * int(text[2:], 8)
    return sign * int(text, 10)


def _construct_js_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    text = str(loader.construct_scalar(node)).replace("_", "").lower()  # type: ignore[arg-type]
    sign = -1.0 if text.startswith("-") else 1.0
    if text[:1] in "+-":
        text = text[1:]
    if text == ".inf":
        return sign * math.inf
    if text == ".nan":
        return math.nan
    return sign * float(text)


def _construct_js_bool(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
    return str(loader.construct_scalar(node)) in ("true", "True", "TRUE")  # type: ignore[arg-type]


_JsYamlLoader.yaml_implicit_resolvers = {}
for _res_tag, _res_regexp, _res_first in (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (
        "tag:yaml.org,2002:int",
        r"^[-+]?(?:0b[01_]*[01][01_]*|0x[0-9a-fA-F_]*[0-9a-fA-F][0-9a-fA-F_]*|0o[0-7_]*[0-7][0-7_]*"
        r"|0|[0-9][0-9_]*)$",
        list("-+0123456789"),
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    (
        "tag:yaml.org,2002:timestamp",
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
        r"(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?"
        r"(?::[0-9][0-9])?))?)$",
        list("0123456789"),
    ),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
):
    _JsYamlLoader.add_implicit_resolver(_res_tag, re.compile(_res_regexp), _res_first)
del _res_tag, _res_regexp, _res_first
_JsYamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_js_int)
_JsYamlLoader.add_constructor("tag:yaml.org,2002:float", _construct_js_float)
_JsYamlLoader.add_constructor("tag:yaml.org,2002:bool", _construct_js_bool)


def _js_yaml_load(text: str) -> object:
    """``yaml.load(text)`` of js-yaml 4: ``undefined`` for an empty stream, an error for two documents."""
    loader = _JsYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return _UNDEFINED
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _read_error_message(exc: OSError, path: str) -> str:
    # Node's fs error text, e.g. "ENOENT: no such file or directory, open '/etc/x'"
    texts = {
        errno.ENOENT: "no such file or directory",
        errno.EACCES: "permission denied",
        errno.EISDIR: "illegal operation on a directory",
    }
    if exc.errno in texts:
        name = errno.errorcode[exc.errno]
        return f"{name}: {texts[exc.errno]}, {'read' if exc.errno == errno.EISDIR else 'open'} '{path}'"
    return str(exc)


def _substitute(password: object, where: str) -> object:
    """``server.js``'s ``${VAR}`` replacement of one password (a TypeError for a truthy non-string)."""
    if not _truthy(password):
        return password
    if not isinstance(password, str):
        raise ProxyConfigError(f"{where}.startsWith is not a function")
    if password.startswith("${") and password.endswith("}"):
        return os.environ.get(password[2:-1]) or password
    return password


def _optional_string(value: object, where: str) -> str | None:
    if not _truthy(value):
        return None
    if not isinstance(value, str):
        raise ProxyConfigError(f"{where} must be a string (the original compares it with ===)")
    return value


def _host_config(host: str, settings: object) -> HostConfig:
    if not isinstance(settings, dict):
        raise ProxyConfigError(f"proxy.{host} must be a mapping with a 'to' section")
    to = settings.get("to")
    if not isinstance(to, dict) or not isinstance(to.get("url"), str):
        raise ProxyConfigError(f"proxy.{host}.to.url is required (the original crashes on such a request)")
    try:
        url = httpx.URL(to["url"])
    except httpx.InvalidURL as exc:
        raise ProxyConfigError(f"proxy.{host}.to.url is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ProxyConfigError(f"proxy.{host}.to.url must be an http:// or https:// URL, got {to['url']!r}")
    try:
        upstream_target(to["url"], "/")
    except NodeInvalidURL:
        raise ProxyConfigError(f"proxy.{host}.to.url is not a URL Node can parse: {to['url']!r}") from None
    upstream = Upstream(
        url=to["url"],
        username=_optional_string(to.get("username"), f"proxy.{host}.to.username"),
        password=_optional_string(to.get("password"), f"proxy.{host}.to.password"),
    )
    auth_raw = settings.get("auth")
    auth = None
    if isinstance(auth_raw, dict):
        auth = ClientAuth(
            username=_optional_string(auth_raw.get("username"), f"proxy.{host}.auth.username"),
            password=_optional_string(auth_raw.get("password"), f"proxy.{host}.auth.password"),
        )
    mode_raw = settings.get("mode", "WATCH")
    mode = mode_raw if isinstance(mode_raw, str) else None
    restrictions_raw = settings.get("restrictions")
    restrictions: dict[str, tuple[str, ...]] | None = None
    if _truthy(restrictions_raw):
        restrictions = {}
        if isinstance(restrictions_raw, dict):
            for method_raw, patterns in restrictions_raw.items():
                method = _js_string(method_raw)
                if not _truthy(patterns):
                    continue
                if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                    raise ProxyConfigError(
                        f"proxy.{host}.restrictions.{method} must be a list of glob strings "
                        "(the original crashes on such a request)"
                    )
                restrictions[method] = tuple(patterns)
    try:
        return HostConfig(host=host, to=upstream, auth=auth, mode=mode, restrictions=restrictions)
    except MinimatchError as exc:
        raise ProxyConfigError(f"proxy.{host}.restrictions: {exc}") from None


def load_config(path: str | os.PathLike[str]) -> ProxyConfig:
    """Read and check a restrictive-proxy config; ``${VAR}`` passwords are taken from the environment now.

    Raises :class:`ProxyConfigError` with ``server.js``'s startup message.
    """
    where = os.fspath(path)
    try:
        try:
            text = Path(where).read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise ProxyConfigError(_read_error_message(exc, where)) from None
        try:
            data = _js_yaml_load(text)
        except yaml.YAMLError as exc:
            raise ProxyConfigError(" ".join(str(exc).split())) from None
        if data is None or isinstance(data, _Undefined):
            raise ProxyConfigError(_js_type_error(data, "proxy"))
        proxy = data.get("proxy") if isinstance(data, dict) else None
        if _truthy(proxy):
            if not isinstance(proxy, dict):
                raise ProxyConfigError("proxy must be a mapping of host names")
            for settings in proxy.values():
                if settings is None:
                    raise ProxyConfigError(_js_type_error(None, "to"))
                if not isinstance(settings, dict):
                    continue
                for section in ("to", "auth"):
                    sub = settings.get(section)
                    if isinstance(sub, dict) and "password" in sub:
                        sub["password"] = _substitute(sub["password"], f"settings.{section}.password")
            hosts = {_js_string(host): _host_config(_js_string(host), settings) for host, settings in proxy.items()}
    except ProxyConfigError as exc:
        raise ProxyConfigError(f"Failed to load config from {where}: {exc}") from None
    if not _truthy(proxy):
        raise ProxyConfigError("No proxy configuration found")
    return ProxyConfig(hosts=hosts, path=where)


# --------------------------------------------------------------------------- policy


def is_request_allowed(host_cfg: HostConfig, method: str, path: str) -> tuple[bool, str]:
    """``isRequestAllowed`` plus the log tag: (allowed, ``ALLOWED``/``RESTRICTED``/``POTENTIALLY-DISALLOWED``).

    ``path`` is the request URL before the first ``?``, unnormalised (as ``server.js`` matches it).
    """
    if host_cfg.restrictions is None:
        allowed, matched = True, False
    elif method not in host_cfg.restrictions:
        allowed, matched = host_cfg.mode == "WATCH", False
    else:
        matched = host_cfg.matches(method, path)
        allowed = matched if host_cfg.mode == "RESTRICT" else True
    if not allowed:
        return False, TAG_RESTRICTED
    return True, TAG_ALLOWED if matched else TAG_POTENTIALLY_DISALLOWED


# --------------------------------------------------------------------------- Node.js helpers

_DISCARD_DUPLICATES: Final = frozenset(
    (
        *("content-type", "content-length", "user-agent", "referer", "host", "authorization"),
        *("proxy-authorization", "if-modified-since", "if-unmodified-since", "from", "location", "max-forwards"),
        *("retry-after", "etag", "last-modified", "server", "age", "expires"),
    )
)


def _node_headers(items: Iterable[tuple[bytes, bytes]]) -> dict[str, str | list[str]]:
    """``IncomingMessage.headers``: lower-case names; duplicates kept first, joined, or (set-cookie) listed."""
    out: dict[str, str | list[str]] = {}
    for raw_name, raw_value in items:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name == "set-cookie":
            current = out.setdefault(name, [])
            if isinstance(current, list):
                current.append(value)
        elif name not in out:
            out[name] = value
        elif name not in _DISCARD_DUPLICATES:
            out[name] = f"{out[name]}{'; ' if name == 'cookie' else ', '}{value}"
    return out


def _first(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else ", ".join(value)


_B64_ALPHABET: Final = {
    ch: i for i, ch in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
} | {"-": 62, "_": 63}


def _node_base64_decode(text: str) -> bytes:
    """``Buffer.from(text, 'base64')``: both alphabets, other characters skipped, stop at ``=``."""
    values: list[int] = []
    for ch in text:
        if ch == "=":
            break
        v = _B64_ALPHABET.get(ch)
        if v is not None:
            values.append(v)
    out = bytearray()
    for i in range(0, len(values) - len(values) % 4, 4):
        a, b, c, d = values[i : i + 4]
        n = (a << 18) | (b << 12) | (c << 6) | d
        out += bytes(((n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))
    rest = values[len(values) - len(values) % 4 :]
    if len(rest) >= 2:
        n = (rest[0] << 18) | (rest[1] << 12) | ((rest[2] << 6) if len(rest) == 3 else 0)
        out.append((n >> 16) & 0xFF)
        if len(rest) == 3:
            out.append((n >> 8) & 0xFF)
    return bytes(out)


def check_basic_auth(authorization: str | None, username: str | None, password: str | None) -> bool:
    """``checkBasicAuth``: ``Basic <b64>``, decoded as UTF-8, split on ``:``, fields 0 and 1 compared."""
    if not authorization or not authorization.startswith("Basic "):
        return False
    token = authorization.split(" ")[1]
    fields = _node_base64_decode(token).decode("utf-8", errors="replace").split(":")
    given_password = fields[1] if len(fields) > 1 else None
    return fields[0] == username and given_password == password


_SIMPLE_PATH: Final = re.compile(r"(//?(?!/)[^?\s]*)(\?[^\s]*)?")
_PROTOCOL: Final = re.compile(r"[a-z0-9.+-]+:", re.IGNORECASE)
_HOST_PATTERN: Final = re.compile(r"//[^@/]+@[^@/]+")
_PORT_PATTERN: Final = re.compile(r":[0-9]*$")
_SLASHED_PROTOCOLS: Final = frozenset(
    {"http", "http:", "https", "https:", "ftp", "ftp:", "gopher", "gopher:", "file", "file:"}
)
_HOSTLESS_PROTOCOLS: Final = frozenset({"javascript", "javascript:"})
_AUTO_ESCAPE: Final = {
    "\t": "%09",
    "\n": "%0A",
    "\r": "%0D",
    " ": "%20",
    '"': "%22",
    "'": "%27",
    "<": "%3C",
    ">": "%3E",
    "\\": "%5C",
    "^": "%5E",
    "`": "%60",
    "{": "%7B",
    "|": "%7C",
    "}": "%7D",
}
_NON_HOST_CHARS: Final = frozenset("\t\n\r \"%';<>\\^`{|}")
_FORBIDDEN_IPV6_HOST: Final = re.compile(r"[\0\t\n\r #%/<>?@\\^|]")


class NodeInvalidURL(ValueError):
    """Node's ``url.parse`` throws ERR_INVALID_URL for this request URL (the original proxy crashes)."""


def _decodes_as_uri_component(text: str) -> bool:
    """Whether JavaScript's ``decodeURIComponent(text)`` succeeds (well-formed ``%XX`` runs of UTF-8)."""
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%":
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 1 : i + 3]):
                return False
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out += text[i].encode("utf-8", errors="surrogatepass")
            i += 1
    try:
        out.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _node_url_path(url: str) -> str | None:
    """``url.parse(url).path`` of Node 20 (legacy parser) for the request targets llhttp accepts.

    Raises :class:`NodeInvalidURL` where Node throws.
    """
    chars: list[str] = []
    has_hash = has_at = split = False
    for ch in url:
        if not split:
            if ch == "@":
                has_at = True
            elif ch == "#":
                has_hash = split = True
            elif ch == "?":
                split = True
            elif ch == "\\":
                chars.append("/")
                continue
        elif not has_hash and ch == "#":
            has_hash = True
        chars.append(ch)
    rest = "".join(chars)
    if not has_hash and not has_at and _SIMPLE_PATH.fullmatch(rest):
        return rest
    proto_match = _PROTOCOL.match(rest)
    proto = proto_match.group(0) if proto_match else None
    lower_proto = proto.lower() if proto else None
    if proto:
        rest = rest[len(proto) :]
    slashes = False
    if proto or _HOST_PATTERN.match(rest):
        slashes = rest.startswith("//")
        if slashes and not (proto and lower_proto in _HOSTLESS_PROTOCOLS):
            rest = rest[2:]
    hostname = ""
    if lower_proto not in _HOSTLESS_PROTOCOLS and (slashes or (proto and proto not in _SLASHED_PROTOCOLS)):
        host_end = at_sign = non_host = -1
        for i, ch in enumerate(rest):
            if ch in _NON_HOST_CHARS:
                if non_host == -1:
                    non_host = i
            elif ch in "#/?":
                if non_host == -1:
                    non_host = i
                host_end = i
            elif ch == "@":
                at_sign = i
                non_host = -1
            if host_end != -1:
                break
        start = at_sign + 1 if at_sign != -1 else 0
        if at_sign != -1 and not _decodes_as_uri_component(rest[:at_sign]):
            raise NodeInvalidURL(url)  # decodeURIComponent(auth) throws URIError
        if non_host == -1:
            host, rest = rest[start:], ""
        else:
            host, rest = rest[start:non_host], rest[non_host:]
        port = _PORT_PATTERN.search(host)
        if port:
            host = host[: len(host) - len(port.group(0))]
        hostname = host
        ipv6 = hostname.startswith("[") and hostname.endswith("]")
        if not ipv6:
            for i, ch in enumerate(hostname):
                if ch in "/\\#?:":
                    rest = "/" + hostname[i:] + rest
                    hostname = hostname[:i]
                    break
        if len(hostname) > 255:
            hostname = ""
        # Node 20 throws ERR_INVALID_URL here (toASCII fails on '[' or ']'); inside http-proxy that
        # exception is uncaught and ends the process.
        if hostname and (_FORBIDDEN_IPV6_HOST.search(hostname) if ipv6 else ("[" in hostname or "]" in hostname)):
            raise NodeInvalidURL(url)
        if ipv6 and not rest.startswith("/"):
            rest = "/" + rest
    if lower_proto not in _HOSTLESS_PROTOCOLS:
        rest = "".join(_AUTO_ESCAPE.get(ch, ch) for ch in rest)
    question = hash_at = -1
    for i, ch in enumerate(rest):
        if ch == "#":
            hash_at = i
            break
        if ch == "?" and question == -1:
            question = i
    search = ""
    if question != -1:
        search = rest[question:hash_at] if hash_at != -1 else rest[question:]
    first = question if question != -1 and (hash_at == -1 or question < hash_at) else hash_at
    pathname = ""
    if first == -1:
        pathname = rest
    elif first > 0:
        pathname = rest[:first]
    if lower_proto in _SLASHED_PROTOCOLS and hostname and not pathname:
        pathname = "/"
    if pathname or search:
        return pathname + search
    return None


def _url_join(*parts: str) -> str:
    """http-proxy 1.18.1 ``common.urlJoin``: join, collapse ``/+`` in the path, keep the query as is."""
    args = list(parts)
    segments = args[-1].split("?")
    args[-1] = segments[0]
    joined = "/".join(a for a in args if a)
    joined = re.sub("/+", "/", joined).replace("http:/", "http://", 1).replace("https:/", "https://", 1)
    return "?".join([joined, *segments[1:]])


def upstream_target(to_url: str, request_url: str) -> str:
    """The request target http-proxy sends upstream for ``request_url`` (``urlJoin(target.path, path)``)."""
    return _url_join(_node_url_path(to_url) or "", _node_url_path(request_url) or "")


def _host_header(to_url: str) -> str:
    """``changeOrigin``: the target's ``host`` as ``url.parse`` gives it (lower case, port kept if given)."""
    netloc = to_url.split("//", 1)[1] if "//" in to_url else to_url
    netloc = re.split(r"[/?#]", netloc, maxsplit=1)[0].rsplit("@", 1)[-1]
    return netloc.lower()


def _http_date() -> str:
    return email.utils.formatdate(usegmt=True)


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


# --------------------------------------------------------------------------- upstream transport


class _ExactTarget:
    """The request target to send once, byte for byte (httpx would normalise ``..`` and ``//``)."""

    def __init__(self, target: bytes) -> None:
        self.target = target
        self.used = False


_EXACT_TARGET_KEY: Final = "zengarden.exact_target"


class _UpstreamStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class _ExactTargetTransport(httpx.AsyncBaseTransport):
    """An httpcore transport that sends the first request's target exactly as http-proxy builds it."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context, retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        exact = request.extensions.get(_EXACT_TARGET_KEY)
        target = request.url.raw_path
        if isinstance(exact, _ExactTarget) and not exact.used:
            exact.used = True
            target = exact.target
        extensions = {k: v for k, v in request.extensions.items() if k != _EXACT_TARGET_KEY}
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port, target=target
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=extensions,
        )
        response = await self._pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_UpstreamStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _BodyTooLarge(Exception):
    """follow-redirects' MaxBodyLengthExceededError."""


def _os_errors(exc: BaseException) -> Iterable[OSError]:
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError):
            yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)


def _upstream_error_message(exc: BaseException, host: str, port: int, timeout: float) -> str:
    """The ``err.message`` Node would give for this failure, where there is an obvious counterpart."""
    if isinstance(exc, _BodyTooLarge):
        return "Request body larger than maxBodyLength limit"
    if isinstance(exc, httpx.TooManyRedirects):
        return "Maximum number of redirects exceeded"
    if isinstance(exc, httpcore.ConnectTimeout | httpx.ConnectTimeout):
        return f"connect ETIMEDOUT {host}:{port}"
    if isinstance(exc, httpcore.TimeoutException | httpx.TimeoutException):
        return f"upstream timed out after {timeout:g}s"
    for os_error in _os_errors(exc):
        if isinstance(os_error, socket.gaierror):
            return f"getaddrinfo ENOTFOUND {host}"
        if os_error.errno == errno.ECONNREFUSED:
            return f"connect ECONNREFUSED {host}:{port}"
        if os_error.errno == errno.ECONNRESET:
            return "read ECONNRESET"
        if os_error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return f"connect {errno.errorcode[os_error.errno]} {host}:{port}"
    if isinstance(exc, httpcore.RemoteProtocolError | httpx.RemoteProtocolError):
        return "socket hang up"
    return " ".join((str(exc) or type(exc).__name__).split())


# --------------------------------------------------------------------------- the server

_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)


def _connection_tokens(headers: Mapping[str, str | list[str]]) -> set[str]:
    return {t.strip().lower() for t in _first(headers.get("connection")).split(",") if t.strip()}


class _Closed(Exception):
    """The client connection is gone or must be dropped now."""


class _Connection:
    """One client connection: h11 for framing, Node's behaviour for everything the client can see."""

    def __init__(self, proxy: _Proxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.served = False

    async def send(self, event: h11.Event) -> None:
        """Send one h11 event; :class:`_Closed` when the client has gone."""
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            try:
                await self.writer.drain()
            except ConnectionError as exc:
                raise _Closed from exc

    async def _write_raw(self, data: bytes) -> None:
        self.writer.write(data)
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def _next_event(self, timeout: float) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await asyncio.wait_for(self.reader.read(65536), timeout)
                except (TimeoutError, ConnectionError) as exc:
                    raise _Closed from exc
                self.conn.receive_data(data)
                continue
            return event

    async def serve(self) -> None:
        try:
            while True:
                idle = self.conn.their_state is h11.IDLE and self.served
                try:
                    event = await self._next_event(KEEP_ALIVE_TIMEOUT if idle else HEADERS_TIMEOUT)
                except h11.RemoteProtocolError as exc:
                    await self._protocol_error(exc)
                    return
                if isinstance(event, h11.ConnectionClosed) or not isinstance(event, h11.Request):
                    return
                self.served = True
                if not await self._request(event) or self.conn.our_state is not h11.DONE:
                    return
                await self._drain_request_body()
                if self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
                    return
                self.conn.start_next_cycle()
        except (_Closed, ConnectionError, h11.LocalProtocolError, h11.RemoteProtocolError):
            return
        except Exception as exc:  # a bug here must not take the server down; the line stays redacted
            self.proxy.log(logging.ERROR, f"Proxy internal error: {type(exc).__name__}: {exc}")
            return
        finally:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def _protocol_error(self, exc: h11.RemoteProtocolError) -> None:
        if "Missing mandatory Host" in str(exc):
            # Node's requireHostHeader answer: res.writeHead(400, {Connection: 'close'}); res.end()
            await self._write_raw(
                b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nDate: "
                + _http_date().encode()
                + b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            )
        elif exc.error_status_hint == 431:
            await self._write_raw(_RAW_431)
        else:
            await self._write_raw(_RAW_400)

    async def _drain_request_body(self) -> None:
        while self.conn.their_state is h11.SEND_BODY:
            event = await self._next_event(HEADERS_TIMEOUT)
            if isinstance(event, h11.ConnectionClosed):
                raise _Closed

    async def read_body(self) -> bytes:
        """The whole request body; :class:`_BodyTooLarge` past :data:`MAX_BODY_BYTES`."""
        body = bytearray()
        while True:
            event = await self._next_event(HEADERS_TIMEOUT)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    raise _BodyTooLarge
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            else:
                raise _Closed

    def _wants_close(self, request: h11.Request, headers: Mapping[str, str | list[str]]) -> bool:
        return request.http_version == b"1.0" or "close" in _connection_tokens(headers)

    async def local_response(
        self,
        request: h11.Request,
        headers: Mapping[str, str | list[str]],
        status: int,
        body: bytes,
        extra: Sequence[tuple[str, str]] = (),
        close: bool = False,
        content_type: str | None = "text/plain",
    ) -> None:
        """A response of ``server.js`` itself: ``res.writeHead(status, {...}); res.end(body)`` in Node."""
        out = [("Content-Type", content_type)] if content_type else []
        out += [*extra, ("Date", _http_date())]
        if close or self._wants_close(request, headers):
            out.append(("Connection", "close"))
            if request.http_version != b"1.0":
                out.append(("Transfer-Encoding", "chunked"))
        else:
            out += [("Connection", "keep-alive"), ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked")]
        await self.send(h11.Response(status_code=status, headers=out, reason=_reason(status)))
        if body and request.method != b"HEAD":
            await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())

    async def _request(self, request: h11.Request) -> bool:
        """Handle one request; False when the connection must be dropped."""
        method = request.method.decode("latin-1")
        target = request.target
        if method == "CONNECT":
            return False  # Node: no 'connect' listener, the socket is destroyed
        head_size = len(request.method) + len(target) + sum(len(n) + len(v) + 4 for n, v in request.headers)
        if head_size > MAX_HEADER_BYTES:
            await self._write_raw(_RAW_431)
            return False
        if (
            method not in NODE_METHODS
            or any(b < 0x21 or b > 0x7E for b in target)
            or not (target.startswith((b"/", b"*")) or re.match(rb"[A-Za-z]+://", target))
        ):
            await self._write_raw(_RAW_400)
            return False
        headers = _node_headers(request.headers.raw_items())
        expect = _first(headers.get("expect")).lower()
        if expect and expect != "100-continue":
            await self.local_response(request, headers, 417, b"", content_type=None)
            return True
        if self.conn.they_are_waiting_for_100_continue:
            await self.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"))
        return await self.proxy.handle(self, request, method, target.decode("latin-1"), headers)


class _Proxy:
    """The request handler of ``server.js`` for one config."""

    def __init__(self, config: ProxyConfig, upstream_timeout: float) -> None:
        self.config = config
        self.upstream_timeout = upstream_timeout
        self.secrets = config.secrets()
        self.ssl_context = httpx.create_ssl_context()

    def log(self, level: int, message: str) -> None:
        for secret in self.secrets:
            message = message.replace(secret, "***")
        log.log(level, " ".join(message.splitlines()))

    async def handle(
        self,
        connection: _Connection,
        request: h11.Request,
        method: str,
        url: str,
        headers: dict[str, str | list[str]],
    ) -> bool:
        host = _first(headers.get("host")).split(":")[0]
        cfg = self.config.hosts.get(host) if host else None
        if cfg is None:
            await connection.local_response(request, headers, 404, b"Unknown host")
            return True
        if cfg.auth is not None and cfg.auth.required:
            authorization = headers.get("authorization")
            if not check_basic_auth(_first(authorization), cfg.auth.username, cfg.auth.password):
                self.log(logging.INFO, f"UNAUTHORIZED request to {host}")
                await connection.local_response(
                    request,
                    headers,
                    401,
                    b"Unauthorized",
                    extra=[("WWW-Authenticate", 'Basic realm="Restrictive Proxy"')],
                )
                return True
        url_path = url.split("?")[0]
        allowed, tag = is_request_allowed(cfg, method, url_path)
        self.log(logging.INFO, f"{tag} {method} {url_path}")
        if not allowed:
            await connection.local_response(request, headers, 403, b"Forbidden: Access restricted by proxy policy")
            return True
        return await self._forward(connection, request, cfg, method, url, url_path, headers)

    def _upstream_headers(
        self, cfg: HostConfig, headers: Mapping[str, str | list[str]], body: bytes, had_body: bool
    ) -> list[tuple[bytes, bytes]]:
        drop = _HOP_BY_HOP | _connection_tokens(headers) | {"host", "content-length", "expect"}
        out: list[tuple[bytes, bytes]] = [(b"host", _host_header(cfg.to.url).encode("latin-1"))]
        injected = cfg.to.authorization
        for name, value in headers.items():
            if name in drop or (name == "authorization" and injected is not None):
                continue
            for item in [value] if isinstance(value, str) else value:
                out.append((name.encode("latin-1"), item.encode("latin-1")))
        if injected is not None:
            out.append((b"authorization", injected.encode("ascii")))
        if had_body:
            out.append((b"content-length", str(len(body)).encode()))
        out.append((b"connection", b"close"))  # http-proxy without an agent
        return out

    async def _forward(
        self,
        connection: _Connection,
        request: h11.Request,
        cfg: HostConfig,
        method: str,
        url: str,
        url_path: str,
        headers: dict[str, str | list[str]],
    ) -> bool:
        to_url = httpx.URL(cfg.to.url)
        port = to_url.port or (443 if to_url.scheme == "https" else 80)
        try:
            target = upstream_target(cfg.to.url, url)
        except NodeInvalidURL:
            self.log(
                logging.ERROR,
                f"Proxy crash for {method} {url_path}: TypeError [ERR_INVALID_URL]: Invalid URL"
                " (the original proxy process exits here)",
            )
            return False
        origin = f"{to_url.scheme}://{to_url.netloc.decode('ascii')}"
        try:
            request_url = httpx.URL(origin + target)
        except httpx.InvalidURL:
            request_url = httpx.URL(origin + "/")
        had_body = "content-length" in headers or "transfer-encoding" in headers
        headers_sent = False
        try:
            body = await connection.read_body()
            upstream_request = httpx.Request(
                method,
                request_url,
                headers=self._upstream_headers(cfg, headers, body, had_body),
                content=body,
                extensions={
                    "timeout": httpx.Timeout(self.upstream_timeout).as_dict(),
                    _EXACT_TARGET_KEY: _ExactTarget(target.encode("latin-1")),
                },
            )
            async with httpx.AsyncClient(
                transport=_ExactTargetTransport(self.ssl_context),
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                trust_env=False,
                timeout=self.upstream_timeout,
            ) as client:
                response = await client.send(upstream_request, stream=True)
                try:
                    if response.status_code < 200:
                        raise httpx.RemoteProtocolError(f"unexpected status {response.status_code}")
                    await connection.send(self._relay_head(request, headers, response))
                    headers_sent = True
                    async for chunk in response.aiter_raw():
                        if chunk and method != "HEAD":
                            await connection.send(h11.Data(data=chunk))
                    await connection.send(h11.EndOfMessage())
                finally:
                    await response.aclose()
            return True
        except _Closed:
            return False
        except Exception as exc:
            message = _upstream_error_message(exc, to_url.host, port, self.upstream_timeout)
            self.log(logging.ERROR, f"Proxy error for {method} {url_path}: {message}")
            if headers_sent or connection.conn.our_state is not h11.SEND_RESPONSE:
                return False  # Node: the response has started; the client sees it cut short
            too_large = isinstance(exc, _BodyTooLarge)
            await connection.local_response(request, headers, 502, b"Bad Gateway", close=too_large)
            return not too_large

    def _relay_head(
        self, request: h11.Request, headers: Mapping[str, str | list[str]], response: httpx.Response
    ) -> h11.Response:
        upstream = _node_headers(response.headers.raw)
        drop = _HOP_BY_HOP | _connection_tokens(upstream)
        out: list[tuple[str, str]] = []
        for name, value in upstream.items():
            if name in drop:
                continue
            out += [(name, value)] if isinstance(value, str) else [(name, v) for v in value]
        bodiless = request.method == b"HEAD" or response.status_code in (204, 304)
        if "content-length" not in upstream and not bodiless and request.http_version != b"1.0":
            out.append(("transfer-encoding", "chunked"))
        tokens = _connection_tokens(headers)
        if request.http_version == b"1.0":
            out.append(("connection", "keep-alive" if "keep-alive" in tokens else "close"))
        else:
            out.append(("connection", "close" if "close" in tokens else "keep-alive"))
        if "date" not in upstream:
            out.append(("Date", _http_date()))
        reason = response.extensions.get("reason_phrase")
        return h11.Response(
            status_code=response.status_code,
            headers=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in out],
            reason=reason if isinstance(reason, bytes) else _reason(response.status_code),
        )


async def serve_proxy(config: ProxyConfig, host: str, port: int, upstream_timeout: float = 10.0) -> asyncio.Server:
    """Start the proxy on ``host:port`` (0 for a free port) and return the listening server.

    ``upstream_timeout`` bounds connecting to, writing to and each read from ``to.url`` (the original
    has no timeout); on expiry the client gets the 502 of an upstream error.
    """
    proxy = _Proxy(config, upstream_timeout)

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _Connection(proxy, reader, writer).serve()

    return await asyncio.start_server(on_client, host, port)


# --------------------------------------------------------------------------- CLI


def _parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port_text = listen.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", listen
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"invalid --listen {listen!r}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port_text)


async def _run(config: ProxyConfig, host: str, port: int) -> None:
    server = await serve_proxy(config, host, port)
    bound = server.sockets[0].getsockname()[1] if server.sockets else port
    log.info("Restrictive proxy server running on port %s", bound)
    log.info("Configuration loaded from %s", config.path)
    log.info("Configured hosts: %s", ", ".join(config.hosts))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pytest_zengarden.lab.proxy --config PATH --listen HOST:PORT``; runs until SIGTERM.

    ``CONFIG_PATH`` and ``PORT`` are honoured as ``server.js`` honours them; the options win.  Without
    ``--listen`` the proxy binds 127.0.0.1 (the original binds every interface: pass ``0.0.0.0:PORT``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m pytest_zengarden.lab.proxy", description="The homelab's restrictive proxy, for the lab."
    )
    parser.add_argument("--config", default=os.environ.get("CONFIG_PATH") or DEFAULT_CONFIG_PATH)
    parser.add_argument("--listen", default=None, help="HOST:PORT (default 127.0.0.1:$PORT, PORT default 8080)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("httpx", "httpcore"):  # their per-request INFO lines would double the proxy's own
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        host, port = _parse_listen(args.listen or f"127.0.0.1:{os.environ.get('PORT') or DEFAULT_PORT}")
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ProxyConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        asyncio.run(_run(config, host, port))
    except OSError as exc:
        print(
            f"Error: listen {errno.errorcode.get(exc.errno or 0, 'EINVAL')}: {exc.strerror} {host}:{port}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
