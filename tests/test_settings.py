"""Connection settings: base URL forms, extras precedence, and refusals before any request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.hooks._settings import ConnectionSettings


def _settings(overrides: dict[str, Any] | None = None, **fields: Any) -> ConnectionSettings:
    extra = fields.pop("extra", {})
    conn = Connection(
        conn_id="wapiflow_default",
        conn_type=fields.pop("conn_type", "wapiflow"),
        login=fields.pop("login", "client"),
        password=fields.pop("password", "secret"),
        extra=json.dumps(extra),
        **fields,
    )
    return ConnectionSettings.from_connection(conn, overrides or {})


@pytest.mark.parametrize(
    ("fields", "base_url"),
    [
        ({}, "https://wapiflow.cloud/external-api"),
        ({"host": "https://wapiflow.cloud/external-api/"}, "https://wapiflow.cloud/external-api"),
        ({"host": "https://wapiflow.cloud"}, "https://wapiflow.cloud/external-api"),
        ({"host": "http://127.0.0.1", "port": 8089}, "http://127.0.0.1:8089/external-api"),
        ({"host": "http://127.0.0.1:8089/external-api", "port": 9999}, "http://127.0.0.1:8089/external-api"),
        ({"host": "wapiflow.cloud", "schema": "external-api"}, "https://wapiflow.cloud/external-api"),
        ({"host": "api.example.com", "port": 8443}, "https://api.example.com:8443/external-api"),
    ],
)
def test_base_url_forms(fields: dict[str, Any], base_url: str) -> None:
    assert _settings(**fields).base_url == base_url


def test_hook_kwargs_override_extras_which_override_defaults() -> None:
    settings = _settings({"timeout": 5}, extra={"timeout": 12, "max_retries": "2", "extra__wapiflow__backoff_max": 4})
    assert settings.timeout == 5
    assert settings.retry.max_retries == 2  # URI-form extras arrive as strings
    assert settings.retry.backoff_max == 4  # the prefix of older forms is understood
    assert settings.retry.backoff_base == 1.0
    assert settings.connect_timeout == 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"conn_type": "http", "host": "https://wapiflow.cloud"}, "has type 'http'; a WapiFlow connection has type"),
        ({"password": ""}, "connection 'wapiflow_default' has no Client Secret (password)"),
        ({"login": " "}, "connection 'wapiflow_default' has no Client ID (login)"),
        ({"host": "https://wapiflow.cloud/extern-api"}, "the Base URL ends in /extern-api"),
        ({"extra": {"timeout": "soon"}}, "extra 'timeout' has an invalid value 'soon'"),
        ({"extra": {"verify_ssl": "maybe"}}, "extra 'verify_ssl' has an invalid value 'maybe'"),
    ],
)
def test_bad_connections_are_refused_with_a_clear_message(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(WapiFlowInputError) as caught:
        _settings(**fields)
    assert message in str(caught.value)


def test_the_secret_is_not_in_the_repr() -> None:
    settings = _settings(password="s3cr3t-value")
    assert "s3cr3t-value" not in repr(settings)
    assert settings.headers()["client-secret"] == "s3cr3t-value"
