"""
The ``wapiflow`` connection's production URL and its extras, in one table.

:data:`EXTRAS` drives the hook's settings parser, the retry policy's defaults and the connection
form in ``get_provider_info()``; docs/connections/wapiflow.rst lists the same names and defaults (a
test checks that they agree). It imports nothing heavy: Airflow reads it with the provider's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The Base URL of a connection without a host.
PRODUCTION_BASE_URL = "https://wapiflow.cloud/external-api"

#: The form's JSON-schema type of each Python type an extra can have.
_SCHEMA_TYPES = {float: "number", int: "integer", bool: "boolean", str: "string"}


@dataclass(frozen=True)
class Extra:
    """One extra of the connection: its default, its type and its form field."""

    name: str
    default: Any
    """The value used when neither the hook's keyword argument nor the extra gives one."""
    type: type
    """What a given value is converted to (URI-form extras arrive as strings)."""
    label: str
    help: str
    """The form field's description, without the default (:attr:`description` adds it)."""
    limits: dict[str, Any] = field(default_factory=dict)
    """Further JSON-schema keywords of the form field (``minimum``, ``enum``…)."""

    @property
    def shown_default(self) -> str:
        """The default as the form and the docs write it: ``30``, ``16777216``, ``true``, ``none``."""
        if self.default is None:
            return "none"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)

    @property
    def description(self) -> str:
        return f"{self.help} Default {self.shown_default}."

    def form_field(self) -> dict[str, Any]:
        """The ``conn-fields`` entry of the connection form."""
        schema: dict[str, Any] = {"type": [_SCHEMA_TYPES[self.type], "null"], **self.limits}
        if self.type is bool:
            # A checkbox shows its default. Numbers stay empty: an extra that is not stored keeps
            # following the default (the deadline grows with a longer send_timeout only when unset).
            schema["default"] = self.default
        return {"label": self.label, "description": self.description, "schema": schema}


#: Every extra of the connection, in the form's order.
EXTRAS: tuple[Extra, ...] = (
    Extra(
        "timeout", 30.0, float, "Timeout (seconds)",
        "Seconds to wait for the next bytes of WapiFlow's answer to a read or a contact write.",
        {"minimum": 1},
    ),
    # WapiFlow gives its call to Meta 30 s (cURL error 28): a send's answer must be awaited longer, or
    # the client gives up exactly when the server is about to say what happened.
    Extra(
        "send_timeout", 60.0, float, "Send timeout (seconds)",
        "Seconds to wait for the answer to a message send. WapiFlow waits up to 30 s for Meta before it "
        "answers: keep this above 30, or sends end as 'unknown'.",
        {"minimum": 1},
    ),
    Extra(
        "deadline", 120.0, float, "Request deadline (seconds)",
        "Longest time one request may take, connect and whole answer, however slowly the server answers.",
        {"minimum": 1},
    ),
    # WapiFlow's largest answer is a page of 1,000 contacts or conversations (about 1-2 MB).
    Extra(
        "max_answer_bytes", 16 * 1024 * 1024, int, "Max answer size (bytes)",
        "A longer answer is cut off (an error; for a send, 'unknown'). WapiFlow's largest page of 1,000 "
        "contacts is about 1-2 MB; 16777216 is 16 MiB.",
        {"minimum": 1024},
    ),
    Extra(
        "scheme", None, str, "Scheme (http or https)",
        "Only for a Base URL given without a scheme (URI-form connections lose it): 'http' for a "
        "plain-HTTP test server; without it https is assumed.",
        {"enum": ["http", "https", None]},
    ),
    Extra(
        "max_retries", 5, int, "Max retries",
        "Retries of a request that is safe to repeat (reads, connect failures, HTTP 429 and 503). A send "
        "that reached WapiFlow is never retried.",
        {"minimum": 0, "maximum": 20},
    ),
    Extra(
        "backoff_base", 1.0, float, "Retry backoff base (seconds)",
        "First wait between retries, then doubled (with jitter).",
        {"minimum": 0},
    ),
    Extra(
        "backoff_max", 30.0, float, "Retry backoff max (seconds)",
        "Longest wait between two retries.",
        {"minimum": 0},
    ),
    Extra(
        "max_retry_after", 120.0, float, "Max Retry-After (seconds)",
        "Longest Retry-After a rate-limited request waits for; a longer one fails the request at once.",
        {"minimum": 0},
    ),
    Extra(
        "verify_ssl", True, bool, "Verify TLS certificate",
        "Turn off only for a test server with a self-signed certificate.",
    ),
    Extra(
        "proxy", None, str, "Proxy URL",
        "HTTPS proxy for calls to WapiFlow, e.g. http://proxy.internal:3128. Remember to whitelist the "
        "proxy's public IP in WapiFlow. Without it, HTTPS_PROXY / NO_PROXY apply.",
    ),
)  # fmt: skip

#: Each extra's default, by name.
DEFAULTS: dict[str, Any] = {extra.name: extra.default for extra in EXTRAS}

__all__ = ["DEFAULTS", "EXTRAS", "PRODUCTION_BASE_URL", "Extra"]
