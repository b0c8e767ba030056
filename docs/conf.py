"""Sphinx configuration for the airflow-provider-wapiflow docs (``make docs``)."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Generic, get_origin

if TYPE_CHECKING:
    from sphinx.application import Sphinx

# autodoc imports the package, which imports Airflow: unless an AIRFLOW_HOME is set, give Airflow a
# throw-away one first, so that building the docs does not create ~/airflow.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="wapiflow-docs-airflow-home-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airflow_provider_wapiflow import __version__  # noqa: E402

project = "airflow-provider-wapiflow"
author = "airflow-provider-wapiflow maintainers"
copyright = "the airflow-provider-wapiflow maintainers"
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
    "page_width": "1240px",
}
# Long signatures (the operators take many keyword arguments): one parameter per line.
maximum_signature_line_length = 88

# Document what this package says, not Airflow's base classes: no inherited members and no
# docstrings borrowed from BaseOperator & co.
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_inherit_docstrings = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autoclass_content = "class"

nitpicky = False


def _public_bases(app: object, name: str, obj: object, options: object, bases: list[type]) -> None:
    """Show a class's public ancestors instead of private helper bases (``_BulkSendOperator``)."""
    public: list[type] = []
    pending = list(bases)
    while pending:
        base = pending.pop(0)
        base = get_origin(base) or base  # _Endpoints[...], a private generic base
        if base is Generic:
            continue
        if base.__name__.startswith("_"):
            pending[:0] = [b for b in base.__bases__ if b is not object]
        elif base not in public:
            public.append(base)
    bases[:] = public


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-bases", _public_bases)
