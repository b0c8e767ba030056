"""Provider registration: the entry point, the provider-info schema, and the declarative connection form."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from packaging.utils import canonicalize_name

from airflow_provider_wapiflow.get_provider_info import get_provider_info

BIN = Path(sys.executable).parent


def test_provider_info_matches_airflows_runtime_schema() -> None:
    schema = json.loads(importlib.resources.files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)
    assert get_provider_info()["package-name"] == canonicalize_name(
        importlib.metadata.metadata("airflow-provider-wapiflow")["Name"]
    )


def test_connection_form_matches_the_provider_yaml_schema() -> None:
    schema = json.loads(importlib.resources.files("airflow").joinpath("provider.yaml.schema.json").read_text())
    item_schema = schema["properties"]["connection-types"]["items"]
    for connection_type in get_provider_info()["connection-types"]:
        jsonschema.validate(connection_type, item_schema)


def test_every_module_and_class_named_in_provider_info_imports() -> None:
    info = get_provider_info()
    modules = [
        m for key in ("hooks", "operators", "sensors", "triggers") for i in info[key] for m in i["python-modules"]
    ]
    classes = [*info["notifications"], *(c["hook-class-name"] for c in info["connection-types"])]
    for module in modules:
        importlib.import_module(module)
    for path in classes:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


def _airflow_cli(*args: str) -> str:
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
    result = subprocess.run(
        [str(BIN / "airflow"), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_airflow_lists_the_provider_and_its_connection_type_in_a_fresh_process() -> None:
    providers = json.loads(_airflow_cli("providers", "list", "--output", "json"))
    ours = [p for p in providers if p["package_name"] == "airflow-provider-wapiflow"]
    assert ours, providers
    assert ours[0]["version"] == importlib.metadata.version("airflow-provider-wapiflow")
    hooks = json.loads(_airflow_cli("providers", "hooks", "--output", "json"))
    wapiflow = [h for h in hooks if h["connection_type"] == "wapiflow"]
    assert wapiflow, hooks
    assert wapiflow[0]["class"] == "airflow_provider_wapiflow.hooks.wapiflow.WapiFlowHook"
    triggers = _airflow_cli("providers", "triggers", "--output", "json")
    assert "airflow_provider_wapiflow.triggers.conversations" in triggers
    notifications = _airflow_cli("providers", "notifications", "--output", "json")
    assert "airflow_provider_wapiflow.notifications.wapiflow.WapiFlowNotifier" in notifications


@pytest.fixture(scope="module")
def ui_meta() -> dict[str, Any]:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    metas = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "wapiflow"]
    assert len(metas) == 1
    return metas[0].model_dump()


def test_ui_form_relabels_and_hides_standard_fields(ui_meta: dict[str, Any]) -> None:
    assert ui_meta["hook_name"] == "WapiFlow"
    fields = ui_meta["standard_fields"]
    assert fields["host"] == {
        "hidden": False,
        "title": "Base URL",
        "placeholder": "https://wapiflow.cloud/external-api",
    }
    assert fields["login"]["title"] == "Client ID"
    assert fields["password"]["title"] == "Client Secret"
    # Port is shown so that Airflow 3.3.2's Test button has a stored port to send (issue 15.14).
    assert fields["port"]["hidden"] is False
    assert fields["port"]["placeholder"] == "443"
    assert fields["url_schema"]["hidden"] is True


def test_ui_form_offers_typed_extra_fields(ui_meta: dict[str, Any]) -> None:
    extras = ui_meta["extra_fields"]
    assert set(extras) == {
        "timeout",
        "max_retries",
        "backoff_base",
        "backoff_max",
        "max_retry_after",
        "verify_ssl",
        "proxy",
        "send_timeout",
        "deadline",
        "max_answer_bytes",
        "scheme",
    }
    assert extras["timeout"]["schema"]["type"] == ["number", "null"]
    assert extras["max_retries"]["schema"]["title"] == "Max retries"
    assert extras["verify_ssl"]["value"] is True
