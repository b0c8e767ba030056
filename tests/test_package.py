"""
The package as users install it: built sdist and wheel, installed into a clean virtualenv.

The wheel and sdist are built with the pinned uv (the Makefile's ``UV_VERSION``) from this checkout;
their contents are checked; the wheel goes into a new virtualenv with the locked Airflow
(``constraints.txt``, so uv installs from its cache); then fresh processes of that virtualenv, which
cannot see this checkout, check what Airflow finds: the provider, the ``wapiflow`` connection type
and its form, and the example DAGs parsing without import errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"
PACKAGE = "airflow_provider_wapiflow"
VERSION = "0.1.0"
TIMES: dict[str, float] = {}
NOT_SHIPPED = ("tests/", "benchmarks/", "docs/", "example_dags/", "tools/", ".ci/")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    _run([str(UV), "build", "--sdist", "--wheel", "--out-dir", str(out), str(ROOT)], cwd=ROOT)
    TIMES["build sdist + wheel"] = time.monotonic() - started
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module")
def venv(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv holding only the wheel and what it needs, pinned by constraints.txt."""
    home = tmp_path_factory.mktemp("venv")
    env_dir = home / "venv"
    started = time.monotonic()
    _run([str(UV), "venv", "-q", "--python", sys.executable, str(env_dir)], cwd=home)
    python = env_dir / "bin" / "python"
    _run(
        [str(UV), "pip", "install", "-q", "--python", str(python), "-c", str(ROOT / "constraints.txt"),
         str(dist["wheel"])],
        cwd=home,
    )  # fmt: skip
    TIMES["clean venv + wheel install"] = time.monotonic() - started
    return env_dir


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _clean_env(home: Path) -> dict[str, str]:
    """Nothing of this checkout or of the test process's Airflow: its own AIRFLOW_HOME and SQLite."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV", "UV_")) and k != "PATH"
    }
    env.update(
        {
            "PATH": "/usr/bin:/bin",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        }
    )
    return env


@pytest.fixture(scope="module")
def airflow(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """Run ``airflow ...`` or ``python -c`` of the virtualenv in a fresh process, outside the checkout."""
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    env = _clean_env(home)

    def run(*args: str, python: str | None = None) -> str:
        command = [str(venv / "bin" / "python"), "-c", python] if python else [str(venv / "bin" / "airflow"), *args]
        return _run(command, cwd=home, env=env)

    return run


def test_wheel_holds_the_package_typed_and_licensed(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = wheel.namelist()
        info = f"airflow_provider_wapiflow-{VERSION}.dist-info"
        metadata = wheel.read(f"{info}/METADATA").decode()
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert f"{PACKAGE}/py.typed" in names
    assert f"{PACKAGE}/hooks/wapiflow.py" in names
    assert f"{PACKAGE}/testing/__main__.py" in names  # the simulator ships: users test their DAGs with it
    assert f"{info}/licenses/LICENSE" in names
    assert {n.split("/")[0] for n in names} == {PACKAGE, info}, sorted({n.split("/")[0] for n in names})
    assert not [n for n in names if n.startswith(NOT_SHIPPED)]
    assert "License-Expression: Apache-2.0" in metadata
    assert "Requires-Dist: apache-airflow>=3.3.2" in metadata
    assert f"Version: {VERSION}" in metadata
    assert "[apache_airflow_provider]" in entry_points
    assert "provider_info = airflow_provider_wapiflow.get_provider_info:get_provider_info" in entry_points


def test_sdist_holds_the_sources_and_license_only(dist: dict[str, Path], tmp_path: Path) -> None:
    with tarfile.open(dist["sdist"]) as sdist:
        names = [n.split("/", 1)[1] for n in sdist.getnames() if "/" in n]
    assert {"pyproject.toml", "LICENSE", "README.md", "PKG-INFO", f"{PACKAGE}/py.typed"} <= set(names)
    assert not [n for n in names if n.startswith(NOT_SHIPPED)], [n for n in names if n.startswith(NOT_SHIPPED)]
    # What pip does with the sdist: build the same wheel from it alone.
    _run([str(UV), "build", "--wheel", "--out-dir", str(tmp_path), str(dist["sdist"])], cwd=tmp_path)
    (rebuilt,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(rebuilt) as again, zipfile.ZipFile(dist["wheel"]) as first:
        assert sorted(again.namelist()) == sorted(first.namelist())


def test_airflow_finds_the_installed_provider(airflow: Callable[..., str], venv: Path) -> None:
    providers = json.loads(airflow("providers", "list", "-o", "json"))
    (ours,) = [p for p in providers if p["package_name"] == "airflow-provider-wapiflow"]
    assert ours["version"] == VERSION

    hooks = json.loads(airflow("providers", "hooks", "-o", "json"))
    (wapiflow,) = [h for h in hooks if h["connection_type"] == "wapiflow"]
    assert wapiflow["class"] == "airflow_provider_wapiflow.hooks.wapiflow.WapiFlowHook"
    assert wapiflow["package_name"] == "airflow-provider-wapiflow"

    # The form as the UI's connection form reads it from the providers manager (what ``airflow
    # providers behaviours`` and ``widgets`` list): relabelled standard fields and the extra fields.
    form = json.loads(
        airflow(
            python="import json, airflow_provider_wapiflow as p; from airflow.providers_manager import "
            "ProvidersManager as M; m = M(); print(json.dumps({'location': p.__file__, "
            "'behaviour': m.field_behaviours['wapiflow'], "
            "'fields': sorted(k for k in m.connection_form_widgets if k.startswith('extra__wapiflow__'))}))"
        )
        .strip()
        .splitlines()[-1]
    )
    assert form["location"].startswith(str(venv)), f"imported from {form['location']}, not from the virtualenv"
    assert form["behaviour"]["relabeling"]["password"] == "Client Secret", form
    assert "schema" in form["behaviour"]["hidden_fields"], form
    # Port stays visible: Airflow 3.3.2's Test button needs a stored port.
    assert "port" not in form["behaviour"]["hidden_fields"], form
    assert {"extra__wapiflow__timeout", "extra__wapiflow__max_retries", "extra__wapiflow__proxy",
            "extra__wapiflow__deadline", "extra__wapiflow__send_timeout"} <= set(form["fields"])  # fmt: skip


def test_example_dags_parse_with_the_installed_provider(
    airflow: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = (
        "import json, time\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "started = time.monotonic()\n"
        f"bag = DagBag(dag_folder={str(ROOT / 'example_dags')!r})\n"
        "print(json.dumps({'seconds': time.monotonic() - started, 'dags': sorted(bag.dag_ids),\n"
        "                  'errors': {k: str(v) for k, v in bag.import_errors.items()}}))\n"
    )
    parsed = json.loads(airflow(python=code).strip().splitlines()[-1])
    TIMES[f"parse {len(parsed['dags'])} example DAGs (fresh process)"] = parsed["seconds"]
    with capsys.disabled():  # shown in every make test run
        print("\npackage: " + ", ".join(f"{what} {seconds:.2f} s" for what, seconds in TIMES.items()))
    assert parsed["errors"] == {}
    expected = {p.stem for p in (ROOT / "example_dags").glob("*.py") if not p.name.startswith("_")}
    assert set(parsed["dags"]) == expected
