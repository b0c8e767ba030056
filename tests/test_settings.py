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


# --- issue 15.14: the scheme the user gave, ports, and errors that name the connection ------------


@pytest.mark.parametrize(
    ("fields", "base_url", "assumed"),
    [
        ({"host": "127.0.0.1", "port": 8089, "schema": "external-api", "extra": {"scheme": "http"}},
         "http://127.0.0.1:8089/external-api", False),
        ({"host": "127.0.0.1", "port": 8089, "schema": "external-api"}, "https://127.0.0.1:8089/external-api", True),
        ({"host": "wapiflow.cloud", "extra": {"scheme": "HTTPS://"}}, "https://wapiflow.cloud/external-api", False),
        ({"host": "https://wapiflow.cloud", "port": 443}, "https://wapiflow.cloud/external-api", False),
        ({"host": "https://wapiflow.cloud", "port": 0}, "https://wapiflow.cloud/external-api", False),
        ({"host": "http://127.0.0.1", "port": 80}, "http://127.0.0.1/external-api", False),
        ({"host": "https://api.example.com", "port": 8443}, "https://api.example.com:8443/external-api", False),
        ({"host": "HTTP://127.0.0.1:8089"}, "http://127.0.0.1:8089/external-api", False),
    ],
)  # fmt: skip
def test_the_scheme_is_kept_or_flagged(fields: dict[str, Any], base_url: str, assumed: bool) -> None:
    settings = _settings(**fields)
    assert settings.base_url == base_url
    assert settings.scheme_assumed is assumed
    assert ("https:// was assumed" in settings.where()) is assumed


@pytest.mark.parametrize(
    ("uri", "base_url"),
    [
        ("wapiflow://id:secret@127.0.0.1:8089/external-api?scheme=http", "http://127.0.0.1:8089/external-api"),
        ('wapiflow://id:secret@127.0.0.1:8089/external-api?__extra__={"scheme": "http", "timeout": 5}',
         "http://127.0.0.1:8089/external-api"),
        ("wapiflow://id:secret@http%3A%2F%2F127.0.0.1%3A8089%2Fexternal-api", "http://127.0.0.1:8089/external-api"),
        ("wapiflow://id:secret@wapiflow.cloud/external-api", "https://wapiflow.cloud/external-api"),
    ],
)  # fmt: skip
def test_uri_form_connections(uri: str, base_url: str) -> None:
    conn = Connection.from_uri(uri, conn_id="wapiflow_default") if hasattr(Connection, "from_uri") else None
    if conn is None:
        from airflow.models.connection import Connection as ModelConnection

        conn = ModelConnection(conn_id="wapiflow_default", uri=uri)
    assert ConnectionSettings.from_connection(conn, {}).base_url == base_url


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "https://wapiflow.cloud", "extra": {"scheme": "http"}}, "says https:// but the extra 'scheme' says http"),  # noqa: E501
        ({"host": "wapiflow.cloud", "extra": {"scheme": "ftp"}}, "extra 'scheme' must be 'http' or 'https'"),
        ({"host": "ftp://wapiflow.cloud"}, "must start with https://"),
        ({"extra": {"scheme": "http"}}, "extra scheme=http without a host"),
        ({"extra": {"max_answer_bytes": 10}}, "'max_answer_bytes' must be at least 1024"),
        ({"extra": {"deadline": 0}}, "'deadline' must be positive"),
        ({"extra": {"send_timeout": "long"}}, "extra 'send_timeout' has an invalid value 'long'"),
    ],
)  # fmt: skip
def test_bad_scheme_and_limits_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(WapiFlowInputError) as caught:
        _settings(**fields)
    assert message in str(caught.value)


def test_new_limits_have_defaults_and_come_from_extras() -> None:
    settings = _settings()
    assert (settings.send_timeout, settings.deadline, settings.max_answer_bytes) == (60, 120, 16 * 1024 * 1024)
    settings = _settings({"deadline": 9}, extra={"send_timeout": "45", "max_answer_bytes": "2048", "deadline": 30})
    assert (settings.send_timeout, settings.deadline, settings.max_answer_bytes) == (45, 9, 2048)
    assert _settings(extra={"send_timeout": 300}).deadline == 320  # the default makes room for a long send wait
    assert _settings(extra={"send_timeout": 300, "deadline": 100}).deadline == 100  # an explicit one is kept


@pytest.mark.parametrize(
    ("host", "cleartext"),
    [
        ("http://wapiflow.example.com", True),
        ("http://10.0.0.5:8089", True),
        ("http://127.0.0.1:8089", False),
        ("http://localhost:8089", False),
        ("http://[::1]:8089", False),
        ("http://api.localhost", False),
        ("https://wapiflow.example.com", False),
    ],
)
def test_cleartext_is_http_to_a_host_that_is_not_loopback(host: str, cleartext: bool) -> None:
    assert _settings(host=host).cleartext is cleartext
