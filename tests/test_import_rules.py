"""
The provider's layers, checked on the source of every module (no import is executed).

Operators, sensors, triggers and the notifier build on the domain modules (the top-level ones:
conversations, parsing, contacts, recipients, ...), which build on the hooks. A package's ``_private``
modules are its own. Ruff bans the private imports too (TID251); this test also covers the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "airflow_provider_wapiflow"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: The packages that use the domain modules; nothing below them may import them.
ENTRY_POINTS = ("operators", "sensors", "triggers", "notifications")
#: Top-level modules that hooks may import: the shared data types, and the connection defaults.
HOOK_DEPENDENCIES = ("exceptions", "models", "media", "variables", "get_provider_info")
#: Top-level modules that are Airflow-facing adapters, not domain: each may import these entry points.
ADAPTERS = {"assets": ("triggers",)}  # wapiflow_conversation_asset wraps the event trigger in an Asset


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """
    Every module of the provider that ``source`` imports, lazy and TYPE_CHECKING ones too.

    ``from a import b`` counts ``a``, and ``a.b`` when that is a module.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(name for alias in node.names if is_module(name := f"{base}.{alias.name}"))
    return {name for name in found if name == PACKAGE or name.startswith(f"{PACKAGE}.")}


def private_owner(name: str) -> str | None:
    """The package that owns ``name`` when it is (inside) a ``_private`` module, else None."""
    parts = name.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


def top_level(name: str) -> str | None:
    """``conversations`` for ``airflow_provider_wapiflow.conversations.X``; None for the package itself."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def foreign_private_imports(module: str, imports: set[str], is_package: bool = False) -> list[str]:
    """Rule (a): the ``_private`` modules of other packages that ``module`` imports."""
    own_package = module if is_package else module.rpartition(".")[0]
    return sorted(name for name in imports if (owner := private_owner(name)) is not None and owner != own_package)


def upward_imports_of_domain(module: str, imports: set[str]) -> list[str]:
    """Rule (b): a top-level module importing an operator, sensor, trigger or notifier (adapters excepted)."""
    allowed = ADAPTERS.get(module.split(".")[1], ())
    return sorted(name for name in imports if top_level(name) in ENTRY_POINTS and top_level(name) not in allowed)


def illegal_imports_of_hooks(imports: set[str]) -> list[str]:
    """Rule (c): hooks import only the package root, hooks and :data:`HOOK_DEPENDENCIES`."""
    return sorted(name for name in imports if top_level(name) not in (None, "hooks", *HOOK_DEPENDENCIES))


MODULES = sorted(ROOT.rglob("*.py"))
TOP_LEVEL = [path for path in MODULES if path.parent == ROOT and path.name != "__init__.py"]
HOOKS = [path for path in MODULES if path.parent == ROOT / "hooks"]


def _imports(path: Path) -> tuple[str, set[str]]:
    module = module_name(path)
    return module, imported_modules(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_rules_see_every_layer() -> None:
    """The globs found the modules: a parametrized test over an empty list would pass unseen."""
    names = {module_name(path) for path in MODULES}
    assert {f"{PACKAGE}.conversations", f"{PACKAGE}.contacts", f"{PACKAGE}.recipients"} <= names
    assert len(TOP_LEVEL) >= 10
    assert f"{PACKAGE}.hooks.wapiflow" in {module_name(path) for path in HOOKS}


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_no_module_imports_another_packages_private_module(path: Path) -> None:
    module, imports = _imports(path)
    assert foreign_private_imports(module, imports, path.name == "__init__.py") == []


@pytest.mark.parametrize("path", TOP_LEVEL, ids=_id)
def test_domain_modules_never_import_operators_sensors_triggers_or_notifications(path: Path) -> None:
    module, imports = _imports(path)
    assert upward_imports_of_domain(module, imports) == []


@pytest.mark.parametrize("path", HOOKS, ids=_id)
def test_hooks_import_only_hooks_and_the_shared_data_types(path: Path) -> None:
    _, imports = _imports(path)
    assert illegal_imports_of_hooks(imports) == []


# --- the checks themselves find what they must ------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("airflow_provider_wapiflow.sensors.conversations",
         "from airflow_provider_wapiflow.hooks._envelope import header",
         ["airflow_provider_wapiflow.hooks._envelope"]),
        ("airflow_provider_wapiflow.notifications.wapiflow",
         "from airflow_provider_wapiflow.operators import _bulk",
         ["airflow_provider_wapiflow.operators._bulk"]),
        ("airflow_provider_wapiflow.triggers.events",
         "def f():\n    import airflow_provider_wapiflow.operators._ledger",
         ["airflow_provider_wapiflow.operators._ledger"]),
        ("airflow_provider_wapiflow.operators.messages",
         "from airflow_provider_wapiflow.operators._bulk import BulkRun", []),
        ("airflow_provider_wapiflow.hooks.wapiflow", "from . import _log_filter", []),
        ("airflow_provider_wapiflow.sensors.conversations",
         "from ..hooks import _settings",
         ["airflow_provider_wapiflow.hooks._settings"]),
    ],
)  # fmt: skip
def test_private_imports_are_found(module: str, source: str, expected: list[str]) -> None:
    assert foreign_private_imports(module, imported_modules(source, module)) == expected


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("airflow_provider_wapiflow.contacts",
         "from airflow_provider_wapiflow.operators._bulk import one_per_key",
         ["airflow_provider_wapiflow.operators._bulk"]),
        ("airflow_provider_wapiflow.conversations",
         "if TYPE_CHECKING:\n    from airflow_provider_wapiflow.sensors.conversations import ConversationSensor",
         ["airflow_provider_wapiflow.sensors.conversations"]),
        ("airflow_provider_wapiflow.recipients", "from airflow_provider_wapiflow import notifications",
         ["airflow_provider_wapiflow.notifications"]),
        ("airflow_provider_wapiflow.assets", "from airflow_provider_wapiflow.operators import messages",
         ["airflow_provider_wapiflow.operators", "airflow_provider_wapiflow.operators.messages"]),
        ("airflow_provider_wapiflow.assets", "from airflow_provider_wapiflow.triggers.events import T", []),
        ("airflow_provider_wapiflow.contacts", "from airflow_provider_wapiflow.hooks.endpoints import N", []),
    ],
)  # fmt: skip
def test_upward_imports_of_domain_modules_are_found(module: str, source: str, expected: list[str]) -> None:
    assert upward_imports_of_domain(module, imported_modules(source, module)) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from airflow_provider_wapiflow.conversations import is_fatal",
         ["airflow_provider_wapiflow.conversations"]),
        ("import airflow_provider_wapiflow.operators.contacts",
         ["airflow_provider_wapiflow.operators.contacts"]),
        ("from airflow_provider_wapiflow.testing import WapiFlowSimulator",
         ["airflow_provider_wapiflow.testing"]),
        ("from airflow_provider_wapiflow.models import Phone\nfrom airflow_provider_wapiflow import __version__", []),
        ("from airflow_provider_wapiflow.hooks._envelope import header", []),
    ],
)  # fmt: skip
def test_illegal_imports_of_hooks_are_found(source: str, expected: list[str]) -> None:
    assert illegal_imports_of_hooks(imported_modules(source, "airflow_provider_wapiflow.hooks.wapiflow")) == expected
