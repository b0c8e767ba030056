"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

# Cheap: a table of dataclasses, without the hook and its HTTP libraries.
from airflow_provider_wapiflow.hooks.connection import EXTRAS, PRODUCTION_BASE_URL


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
                "conn-fields": {extra.name: extra.form_field() for extra in EXTRAS},
            }
        ],
    }
