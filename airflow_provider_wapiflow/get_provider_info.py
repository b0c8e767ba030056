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
                # Port stays visible: Airflow 3.3.2's Test button sends port 0 for a connection without
                # one and gets HTTP 400. A stored port (443 for https, or 0) makes the button work.
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {
                        "host": "Base URL",
                        "login": "Client ID",
                        "password": "Client Secret",
                        "port": "Port (443 for https)",
                    },
                    "placeholders": {
                        "host": PRODUCTION_BASE_URL,
                        "login": "client-id from WapiFlow's API settings",
                        "password": "client-secret from WapiFlow's API settings",
                        "port": "443",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Seconds to wait for the next bytes of WapiFlow's answer to a read or a "
                        "contact write. Default 30.",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "send_timeout": {
                        "label": "Send timeout (seconds)",
                        "description": "Seconds to wait for the answer to a message send. WapiFlow waits up to "
                        "30 s for Meta before it answers: keep this above 30, or sends end as 'unknown'. "
                        "Default 60.",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "deadline": {
                        "label": "Request deadline (seconds)",
                        "description": "Longest time one request may take, connect and whole answer, however "
                        "slowly the server answers. Default 120.",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "max_answer_bytes": {
                        "label": "Max answer size (bytes)",
                        "description": "A longer answer is cut off (an error; for a send, 'unknown'). Default "
                        "16777216 (16 MiB); WapiFlow's largest page of 1,000 contacts is about 1-2 MB.",
                        "schema": {"type": ["integer", "null"], "minimum": 1024},
                    },
                    "scheme": {
                        "label": "Scheme (http or https)",
                        "description": "Only for a Base URL given without a scheme (URI-form connections lose "
                        "it): 'http' for a plain-HTTP test server. Default https.",
                        "schema": {"type": ["string", "null"], "enum": ["http", "https", None]},
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
