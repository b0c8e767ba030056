"""The connection's extras agree everywhere: the table, the form, the parser and the docs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from airflow.sdk import Connection

from airflow_provider_wapiflow.get_provider_info import get_provider_info
from airflow_provider_wapiflow.hooks._settings import ConnectionSettings, RetryPolicy
from airflow_provider_wapiflow.hooks.connection import DEFAULTS, EXTRAS, PRODUCTION_BASE_URL

DOCS = Path(__file__).parents[1] / "docs" / "connections" / "wapiflow.rst"


def _parsed_from_an_empty_extra() -> dict[str, Any]:
    conn = Connection(conn_id="wapiflow_default", conn_type="wapiflow", login="client", password="secret")
    settings = ConnectionSettings.from_connection(conn, {})
    assert settings.base_url == PRODUCTION_BASE_URL
    assert not settings.scheme_assumed  # no scheme extra: the production URL, https as written
    return {
        "timeout": settings.timeout,
        "send_timeout": settings.send_timeout,
        "deadline": settings.deadline,
        "max_answer_bytes": settings.max_answer_bytes,
        "scheme": None,
        "max_retries": settings.retry.max_retries,
        "backoff_base": settings.retry.backoff_base,
        "backoff_max": settings.retry.backoff_max,
        "max_retry_after": settings.retry.max_retry_after,
        "verify_ssl": settings.verify_ssl,
        "proxy": settings.proxy,
    }


def test_the_parser_reads_the_table_defaults_from_an_empty_extra() -> None:
    assert _parsed_from_an_empty_extra() == DEFAULTS
    assert DEFAULTS == {
        "timeout": 30.0, "send_timeout": 60.0, "deadline": 120.0, "max_answer_bytes": 16 * 1024 * 1024,
        "scheme": None, "max_retries": 5, "backoff_base": 1.0, "backoff_max": 30.0, "max_retry_after": 120.0,
        "verify_ssl": True, "proxy": None,
    }  # fmt: skip


def test_the_retry_policy_defaults_are_the_table() -> None:
    policy = RetryPolicy()
    assert (policy.max_retries, policy.backoff_base, policy.backoff_max, policy.max_retry_after) == (
        DEFAULTS["max_retries"], DEFAULTS["backoff_base"], DEFAULTS["backoff_max"], DEFAULTS["max_retry_after"],
    )  # fmt: skip


def test_the_form_fields_are_the_table() -> None:
    (connection_type,) = get_provider_info()["connection-types"]
    fields = connection_type["conn-fields"]
    assert list(fields) == [extra.name for extra in EXTRAS]
    for extra in EXTRAS:
        field = fields[extra.name]
        assert field["label"] == extra.label
        assert field["description"].endswith(f" Default {extra.shown_default}.")
        assert field["description"].startswith(extra.help)
    assert fields["timeout"]["description"].endswith("contact write. Default 30.")
    assert fields["max_answer_bytes"]["description"].endswith("Default 16777216.")
    assert fields["verify_ssl"]["schema"] == {"type": ["boolean", "null"], "default": True}
    # A number field with a default would store it: the deadline would then stop following send_timeout.
    assert all("default" not in fields[e.name]["schema"] for e in EXTRAS if e.type is not bool)
    assert connection_type["ui-field-behaviour"]["placeholders"]["host"] == PRODUCTION_BASE_URL


def test_the_docs_list_every_extra_with_its_default() -> None:
    rows = re.findall(r"^   \* - ``(\w+)``\n     - (.+)$", DOCS.read_text(), re.MULTILINE)
    documented = {name: default.strip("`") for name, default in rows}
    assert documented == {extra.name: extra.shown_default for extra in EXTRAS}


def test_the_provider_metadata_stays_cheap_to_import() -> None:
    # Airflow reads get_provider_info() in every process: it must not pull in the hooks' HTTP libraries.
    code = (
        "import sys, airflow_provider_wapiflow.get_provider_info as info; info.get_provider_info(); "
        "print(*sorted(m for m in sys.modules if m.startswith(('airflow', 'requests', 'aiohttp'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [
        "airflow_provider_wapiflow",
        "airflow_provider_wapiflow.get_provider_info",
        "airflow_provider_wapiflow.hooks",
        "airflow_provider_wapiflow.hooks.connection",
    ]
