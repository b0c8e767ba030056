"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

PRODUCTION_BASE_URL = "https://wapiflow.cloud/external-api"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata, including the declarative connection form."""
    return {
        "package-name": "airflow-provider-wapiflow",
        "name": "WapiFlow",
        "description": "`WapiFlow <https://wapiflow.cloud>`__ WhatsApp messaging API: contacts, "
        "template and free-form messages, conversations and failure alerts.",
        "integrations": [
            {
                "integration-name": "WapiFlow",
                "external-doc-url": "https://wapiflow.cloud/external-api-documentation",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "WapiFlow", "python-modules": ["airflow_provider_wapiflow.hooks.wapiflow"]}],
        "operators": [
            {
                "integration-name": "WapiFlow",
                "python-modules": [
                    "airflow_provider_wapiflow.operators.messages",
                    "airflow_provider_wapiflow.operators.contacts",
                    "airflow_provider_wapiflow.operators.conversations",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "WapiFlow",
                "python-modules": ["airflow_provider_wapiflow.sensors.conversations"],
            }
        ],
        "triggers": [
            {
                "integration-name": "WapiFlow",
                "python-modules": [
                    "airflow_provider_wapiflow.triggers.conversations",
                    "airflow_provider_wapiflow.triggers.events",
                ],
            }
        ],
        "notifications": ["airflow_provider_wapiflow.notifications.wapiflow.WapiFlowNotifier"],
        "connection-types": [
            {
                "connection-type": "wapiflow",
                "hook-class-name": "airflow_provider_wapiflow.hooks.wapiflow.WapiFlowHook",
                "hook-name": "WapiFlow",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "Base URL", "login": "Client ID", "password": "Client Secret"},
                    "placeholders": {
                        "host": PRODUCTION_BASE_URL,
                        "login": "client-id from WapiFlow's API settings",
                        "password": "client-secret from WapiFlow's API settings",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Seconds to wait for WapiFlow's answer to one request. Default 30.",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of a request that is safe to repeat (reads, connect "
                        "failures, HTTP 429 and 503). A send that reached WapiFlow is never retried. "
                        "Default 5.",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
                    },
                    "backoff_base": {
                        "label": "Retry backoff base (seconds)",
                        "description": "First wait between retries, then doubled (with jitter). Default 1.",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                    "backoff_max": {
                        "label": "Retry backoff max (seconds)",
                        "description": "Longest wait between two retries. Default 30.",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                    "max_retry_after": {
                        "label": "Max Retry-After (seconds)",
                        "description": "Longest Retry-After a rate-limited request waits for; a longer "
                        "one fails the request at once. Default 120.",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                    "verify_ssl": {
                        "label": "Verify TLS certificate",
                        "description": "Turn off only for a test server with a self-signed certificate.",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "proxy": {
                        "label": "Proxy URL",
                        "description": "HTTPS proxy for calls to WapiFlow, e.g. http://proxy.internal:3128. "
                        "Remember to whitelist the proxy's public IP in WapiFlow.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
