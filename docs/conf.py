"""Sphinx configuration for the airflow-provider-wapiflow docs (``make docs``)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# autodoc imports the package, which imports Airflow: give Airflow a throw-away home first,
# so that building the docs never reads or writes a real AIRFLOW_HOME.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="wapiflow-docs-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airflow_provider_wapiflow import __version__  # noqa: E402

project = "airflow-provider-wapiflow"
author = "airflow-provider-wapiflow maintainers"
copyright = "the airflow-provider-wapiflow maintainers"  # noqa: A001
version = release = __version__

extensions = ["sphinx.ext.autodoc"]

exclude_patterns = ["_build"]
templates_path: list[str] = []
html_static_path: list[str] = []
html_theme = "alabaster"
html_title = f"WapiFlow provider for Apache Airflow {release}"
html_theme_options = {
    "description": "WhatsApp messaging from Airflow DAGs through WapiFlow",
    "fixed_sidebar": True,
}

# Document what this package says, not Airflow's base classes: no inherited members and no
# docstrings borrowed from BaseOperator & co.
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_inherit_docstrings = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autoclass_content = "class"

nitpicky = False
