"""Connection settings and retry policy: hook kwargs override connection extras, which override defaults."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_wapiflow.exceptions import SendOutcome, WapiFlowError, WapiFlowInputError
from airflow_provider_wapiflow.get_provider_info import PRODUCTION_BASE_URL
from airflow_provider_wapiflow.hooks._requests import ApiRequest

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULTS: dict[str, Any] = {
    "timeout": 30.0,
    "max_retries": 5,
    "backoff_base": 1.0,
    "backoff_max": 30.0,
    "max_retry_after": 120.0,
    "verify_ssl": True,
    "proxy": None,
}
CONNECT_TIMEOUT_MAX = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """
    DESIGN.md "Retries": a request is repeated only when that cannot send anything twice.

    Reads are repeated after any transient failure; writes only when the failure proves WapiFlow did
    not process them (connect failure, 429, 503). Waits grow exponentially with jitter (between half
    and all of the ceiling), and a ``Retry-After`` answer is honoured up to ``max_retry_after``.
    """

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    max_retry_after: float = 120.0

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

    @property
    def connect_timeout(self) -> float:
        return min(CONNECT_TIMEOUT_MAX, self.timeout)

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
        return cls(
            conn_id=conn.conn_id,
            base_url=_base_url(conn),
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
    default = DEFAULTS[name]
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            number = float(value)
            if number < 0:
                raise ValueError(value)
            return number
        return str(value)
    except (TypeError, ValueError):
        raise WapiFlowInputError(f"connection {conn_id!r}: extra {name!r} has an invalid value {value!r}") from None


def _base_url(conn: Connection) -> str:
    host = (conn.host or "").strip()
    if not host:
        return PRODUCTION_BASE_URL
    if "://" not in host:
        # URI-form connections (wapiflow://id:secret@host:port/path) split the URL: the path lands in
        # schema and the scheme is lost; WapiFlow is HTTPS.
        host = f"https://{host}" + (f":{conn.port}" if conn.port else "")
        path = (conn.schema or "").strip("/")
        if path:
            host = f"{host}/{path}"
    elif conn.port and "://" in host:
        # The form keeps Port as its own field: put it into the URL unless the URL already has one.
        scheme, rest = host.split("://", 1)
        netloc, slash, path = rest.partition("/")
        if ":" not in netloc.rsplit("]", 1)[-1]:
            host = f"{scheme}://{netloc}:{conn.port}{slash}{path}"
    host = host.rstrip("/")
    if host.endswith("/extern-api"):
        raise WapiFlowInputError(
            f"connection {conn.conn_id!r}: the Base URL ends in /extern-api, a typo in WapiFlow's own "
            "examples; the API lives under /external-api"
        )
    if not host.endswith("/external-api"):
        host = f"{host}/external-api"
    return host
