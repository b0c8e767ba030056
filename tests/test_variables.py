"""The template-variable validator: what is sent as what, and what is refused (with the field and position)."""

from __future__ import annotations

import math
import sys
import types
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.variables import check_variables


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("Ana", "Ana"),
        ("  Ana  ", "  Ana  "),  # up to 4 spaces are fine
        ("a    b", "a    b"),
        (42, "42"),
        (-7, "-7"),
        (12.0, "12"),  # an integral float: a pandas int column with a gap must not read "1234.0"
        (1234.0, "1234"),
        (12.5, "12.5"),
        (0.1, "0.1"),
        (Decimal("12.50"), "12.50"),
        (Decimal("1E+2"), "100"),
        (Fraction(1, 4), "0.25"),
    ],
)
def test_values_become_text(value: Any, text: str) -> None:
    assert check_variables(["x", value], "body_variables") == ("x", text)


def test_none_means_not_given_and_any_ordered_iterable_is_read() -> None:
    assert check_variables(None, "body_variables") is None
    assert check_variables((v for v in ["a", 1]), "header_variables") == ("a", "1")
    assert check_variables([], "body_variables") == ()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("Ana", "'body_variables' must be a list of values, got str"),
        ({"1": "Ana"}, "'body_variables' must be a list of values, got dict"),
        ({"Ana"}, "'body_variables' must be a list of values, got set"),
        (7, "'body_variables' must be a list of values, got int"),
    ],
)
def test_not_a_list(values: Any, message: str) -> None:
    with pytest.raises(WapiFlowInputError) as caught:
        check_variables(values, "body_variables")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, "is NaN (a missing value, e.g. an empty cell of a pandas column)"),
        (float("-inf"), "is infinite (-inf)"),
        (Decimal("Infinity"), "is infinite (+inf)"),
        (False, "is a boolean (False): give the text the customer should read"),
        (bytearray(b"x"), "is bytes: decode it to text first"),
        ("a\r\nb", "contains a line break"),
        ([1], "must be text or a number, got list"),
    ],
)
def test_refused_values_name_the_field_and_the_1_based_position(value: Any, reason: str) -> None:
    with pytest.raises(WapiFlowInputError) as caught:
        check_variables(["a", "b", value], "header_variables")
    assert str(caught.value).startswith(f"'header_variables' {{{{3}}}} {reason}")


def test_pandas_missing_markers_are_refused_without_importing_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    # pandas is not a dependency: the validator only looks at it when the DAG already imported it.
    assert "pandas" not in sys.modules
    fake = types.ModuleType("pandas")
    na, nat = type("NAType", (), {})(), type("NaTType", (), {})()
    fake.NA, fake.NaT = na, nat  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pandas", fake)
    for marker, name in ((na, "pandas.NA"), (nat, "pandas.NaT")):
        with pytest.raises(WapiFlowInputError) as caught:
            check_variables([marker], "body_variables")
        assert str(caught.value) == f"'body_variables' {{{{1}}}} is missing ({name}, an empty cell)"


def test_importing_the_validator_does_not_import_pandas() -> None:
    import subprocess

    code = "import airflow_provider_wapiflow.variables, sys; print('pandas' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_a_boolean_that_is_no_bool_subclass_is_refused() -> None:
    # numpy 2 names its boolean type "bool" (numpy.bool), numpy 1 "bool_"; neither subclasses bool
    for name in ("bool", "bool_"):
        fake = type(name, (), {"__repr__": lambda self: "np.True_"})()
        with pytest.raises(WapiFlowInputError, match=r"is a boolean \(np.True_\)"):
            check_variables([fake], "body_variables")
