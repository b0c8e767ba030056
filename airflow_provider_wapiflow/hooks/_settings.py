"""Connection settings and retry policy: hook kwargs override connection extras, which override defaults."""

from __future__ import annotations

import functools
import ipaddress
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_wapiflow.exceptions import SendOutcome, WapiFlowError, WapiFlowInputError
from airflow_provider_wapiflow.hooks.connection import DEFAULTS, EXTRAS, PRODUCTION_BASE_URL
from airflow_provider_wapiflow.hooks.endpoints import ApiRequest

if TYPE_CHECKING:
    from airflow.sdk import Connection

_TYPES = {extra.name: extra.type for extra in EXTRAS}
CONNECT_TIMEOUT_MAX = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """
    A request is repeated only when that cannot send anything twice (docs/guarantees.rst, "Retries").

    Reads are repeated after any transient failure; writes only when the failure proves WapiFlow did
    not process them (connect failure, 429, 503). Waits grow exponentially with jitter (between half
    and all of the ceiling), and a ``Retry-After`` answer is honoured up to ``max_retry_after``.
    """

    max_retries: int = DEFAULTS["max_retries"]
    backoff_base: float = DEFAULTS["backoff_base"]
    backoff_max: float = DEFAULTS["backoff_max"]
    max_retry_after: float = DEFAULTS["max_retry_after"]

    def should_retry(self, request: ApiRequest, error: WapiFlowError, attempt: int) -> bool:
        if attempt > self.max_retries or not error.retryable:
            return False
        if not (request.safe or error.outcome is SendOutcome.NOT_SENT):
            return False
        retry_after = getattr(error, "retry_after", None)
        return retry_after is None or retry_after <= self.max_retry_after

    def wait(self, error: WapiFlowError, attempt: int) -> float:
        """Seconds to wait before try number ``attempt + 1``."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            # A little jitter so that concurrent senders do not come back in the same instant.
            return float(retry_after) + random.uniform(0, min(1.0, self.backoff_base))
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything the hook needs from an Airflow Connection. The secret never appears in a repr."""

    conn_id: str
    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    timeout: float
    verify_ssl: bool
    proxy: str | None = field(repr=False)
    retry: RetryPolicy
    send_timeout: float = DEFAULTS["send_timeout"]
    deadline: float = DEFAULTS["deadline"]
    max_answer_bytes: int = DEFAULTS["max_answer_bytes"]
    scheme_assumed: bool = False
    """The connection gave no scheme (a URI-form connection loses it): ``https://`` was assumed."""

    @property
    def connect_timeout(self) -> float:
        return min(CONNECT_TIMEOUT_MAX, self.timeout)

    def read_timeout(self, request: ApiRequest) -> float:
        """Seconds to wait for the next bytes of an answer: longer for a send (see ``send_timeout``)."""
        return self.send_timeout if request.is_send else self.timeout

    @property
    def endpoint(self) -> str:
        """``scheme://host:port`` of the Base URL, for error messages (no path, no credentials)."""
        return _endpoint(self.base_url)

    @property
    def cleartext(self) -> bool:
        """The client-secret would travel unencrypted: ``http://`` to a host that is not loopback."""
        parts = urlsplit(self.base_url)
        return parts.scheme == "http" and not _is_loopback(parts.hostname or "")

    def where(self) -> str:
        """``connection 'x' (URL https://host:443/external-api)``: what a connection problem names."""
        return _where(self.conn_id, self.base_url, self.scheme_assumed)

    def url(self, request: ApiRequest) -> str:
        return f"{self.base_url}/{request.path}"

    def headers(self) -> dict[str, str]:
        from airflow_provider_wapiflow import __version__

        return {
            "client-id": self.client_id,
            "client-secret": self.client_secret,
            "Accept": "application/json",
            "User-Agent": f"airflow-provider-wapiflow/{__version__}",
        }

    @classmethod
    def from_connection(cls, conn: Connection, overrides: dict[str, Any]) -> ConnectionSettings:
        extra = _extras(conn)
        options = {name: _pick(name, overrides, extra, conn.conn_id) for name in DEFAULTS}
        if getattr(conn, "conn_type", None) not in (None, "", "wapiflow"):
            raise WapiFlowInputError(
                f"connection {conn.conn_id!r} has type {conn.conn_type!r}; a WapiFlow connection has type "
                "'wapiflow' (Base URL in host, Client ID in login, Client Secret in password)"
            )
        client_id, client_secret = (conn.login or "").strip(), (conn.password or "").strip()
        if not client_id:
            raise WapiFlowInputError(f"connection {conn.conn_id!r} has no Client ID (login)")
        if not client_secret:
            raise WapiFlowInputError(f"connection {conn.conn_id!r} has no Client Secret (password)")
        scheme = options["scheme"]
        if scheme is not None:
            scheme = scheme.strip().lower().removesuffix("://")
            if scheme not in ("http", "https"):
                raise WapiFlowInputError(
                    f"connection {conn.conn_id!r}: extra 'scheme' must be 'http' or 'https', got {options['scheme']!r}"
                )
        base_url, assumed = _base_url(conn, scheme)
        max_answer_bytes = int(options["max_answer_bytes"])
        if max_answer_bytes < 1024:
            raise WapiFlowInputError(
                f"connection {conn.conn_id!r}: extra 'max_answer_bytes' must be at least 1024, got {max_answer_bytes}"
            )
        deadline = float(options["deadline"])
        if all(source.get("deadline") in (None, "") for source in (overrides, extra)):
            # The default deadline always leaves room for a send's whole wait.
            deadline = max(deadline, float(options["send_timeout"]) + CONNECT_TIMEOUT_MAX + 10)
        if deadline <= 0:
            raise WapiFlowInputError(f"connection {conn.conn_id!r}: extra 'deadline' must be positive, got {deadline}")
        return cls(
            conn_id=conn.conn_id,
            base_url=base_url,
            scheme_assumed=assumed,
            send_timeout=float(options["send_timeout"]),
            deadline=deadline,
            max_answer_bytes=max_answer_bytes,
            client_id=client_id,
            client_secret=client_secret,
            timeout=float(options["timeout"]),
            verify_ssl=bool(options["verify_ssl"]),
            proxy=options["proxy"] or None,
            retry=RetryPolicy(
                max_retries=int(options["max_retries"]),
                backoff_base=float(options["backoff_base"]),
                backoff_max=float(options["backoff_max"]),
                max_retry_after=float(options["max_retry_after"]),
            ),
        )


def _extras(conn: Connection) -> dict[str, Any]:
    extra = conn.extra_dejson or {}
    # Forms of older Airflow versions stored extras as extra__wapiflow__<name>.
    return {key.removeprefix("extra__wapiflow__"): value for key, value in extra.items()}


def _pick(name: str, overrides: dict[str, Any], extra: dict[str, Any], conn_id: str) -> Any:
    for source in (overrides, extra):
        value = source.get(name)
        if value is not None and value != "":
            return _coerce(name, value, conn_id)
    return DEFAULTS[name]


def _coerce(name: str, value: Any, conn_id: str) -> Any:
    kind = _TYPES[name]
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if kind is int:
            return int(value)
        if kind is float:
            number = float(value)
            if number < 0:
                raise ValueError(value)
            return number
        return str(value)
    except (TypeError, ValueError):
        raise WapiFlowInputError(f"connection {conn_id!r}: extra {name!r} has an invalid value {value!r}") from None


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url(conn: Connection, scheme: str | None) -> tuple[str, bool]:
    """The Base URL, and whether its scheme was assumed (the connection gave none)."""
    host = (conn.host or "").strip()
    assumed = False
    # Port 0 is "no port" (Airflow 3.3.2's Test button sends 0 for an empty Port field).
    port = conn.port or None
    if not host:
        if scheme == "http":
            raise WapiFlowInputError(
                f"connection {conn.conn_id!r}: extra scheme=http without a host; WapiFlow's production API "
                f"is {PRODUCTION_BASE_URL}"
            )
        return PRODUCTION_BASE_URL, False
    if "://" not in host:
        # URI-form connections (wapiflow://id:secret@host:port/path) split the URL: the path lands in
        # schema and the scheme is lost. The ``scheme`` extra brings it back; without it, https.
        assumed = scheme is None
        host = f"{scheme or 'https'}://{host}"
        path = (conn.schema or "").strip("/")
        if path:
            host = f"{host.rstrip('/')}/{path}"
    else:
        given = host.split("://", 1)[0].lower()
        if scheme is not None and given != scheme:
            raise WapiFlowInputError(
                f"connection {conn.conn_id!r}: the Base URL {host!r} says {given}:// but the extra 'scheme' says "
                f"{scheme}; remove one of them"
            )
    url_scheme, rest = host.split("://", 1)
    url_scheme = url_scheme.lower()
    if url_scheme not in ("http", "https"):
        raise WapiFlowInputError(
            f"connection {conn.conn_id!r}: the Base URL {host!r} must start with https:// (or http:// for a "
            "test server)"
        )
    netloc, slash, path = rest.partition("/")
    # The form keeps Port as its own field: put it into the URL unless the URL already has one; the
    # scheme's default port adds nothing.
    if port and ":" not in netloc.rsplit("]", 1)[-1] and (url_scheme, port) not in (("https", 443), ("http", 80)):
        netloc = f"{netloc}:{port}"
    host = f"{url_scheme}://{netloc}{slash}{path}".rstrip("/")
    if host.endswith("/extern-api"):
        raise WapiFlowInputError(
            f"connection {conn.conn_id!r}: the Base URL ends in /extern-api, a typo in WapiFlow's own "
            "examples; the API lives under /external-api"
        )
    if not host.endswith("/external-api"):
        host = f"{host}/external-api"
    return host, assumed


@functools.lru_cache(maxsize=64)
def _endpoint(base_url: str) -> str:
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


@functools.lru_cache(maxsize=64)
def _where(conn_id: str, base_url: str, scheme_assumed: bool) -> str:
    # Every answer is unwrapped with it, so it is built once per connection, not once per request.
    parts = urlsplit(base_url)
    shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # never userinfo
    text = f"connection {conn_id!r} (Base URL {shown}, tried {_endpoint(base_url)})"
    if scheme_assumed:
        text += (
            "; the connection gave no scheme, so https:// was assumed (a URI-form connection loses it):"
            " for a plain-HTTP server set the extra scheme=http or put http:// in the host"
        )
    return text
