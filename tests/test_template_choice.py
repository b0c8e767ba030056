"""Template choice is never a guess (issue 13.5, 15.7): ids, names, languages, both hooks, before any send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_wapiflow.exceptions import (
    WapiFlowInputError,
    WapiFlowNotFoundError,
    WapiFlowTemplateNotFoundError,
)
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook, WapiFlowHook
from airflow_provider_wapiflow.models import TemplateStatus
from airflow_provider_wapiflow.testing import WapiFlowSimulator

if TYPE_CHECKING:
    from airflow.sdk import Context

Choose = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture(params=["sync", "async"])
def choose(request: pytest.FixtureRequest, wapiflow_connection: WapiFlowSimulator) -> Choose:
    """``await choose(template, language=...)`` through the sync or the async hook."""

    async def sync(template: Any, **kwargs: Any) -> dict[str, Any]:
        return WapiFlowHook().get_template(template, **kwargs)

    async def asynchronous(template: Any, **kwargs: Any) -> dict[str, Any]:
        async with WapiFlowAsyncHook() as hook:
            return await hook.get_template(template, **kwargs)

    return sync if request.param == "sync" else asynchronous


def _add(sim: WapiFlowSimulator, name: str, *, language_id: int = 1, status: int = TemplateStatus.APPROVED) -> int:
    template = sim.state.add_template(name, "Hello", status=int(status))
    template.language_id = language_id
    return template.id


def _id_of(sim: WapiFlowSimulator, name: str) -> int:
    return next(t["id"] for t in sim.templates() if t["name"] == name)


async def test_a_digit_string_is_a_name_never_the_other_templates_id(
    wapiflow_connection: WapiFlowSimulator, choose: Choose
) -> None:
    sim = wapiflow_connection
    named_two = _add(sim, "2")
    assert named_two != 2
    assert (await choose("2"))["id"] == named_two  # the template NAMED "2"
    assert (await choose(2))["id"] == 2  # an int is an id
    assert (await choose("id:2"))["id"] == 2  # so is the explicit id form
    assert (await choose(f"id:{named_two}"))["name"] == "2"


async def test_a_digit_string_without_such_a_name_says_how_to_choose_the_id(
    wapiflow_connection: WapiFlowSimulator, choose: Choose
) -> None:
    with pytest.raises(WapiFlowTemplateNotFoundError) as caught:
        await choose("2")
    text = str(caught.value)
    assert "WapiFlow has no template '2' in this account" in text
    assert "pass template=2 (an int) or 'id:2'" in text


async def test_same_name_in_two_languages_is_refused_unless_language_narrows(
    wapiflow_connection: WapiFlowSimulator, choose: Choose
) -> None:
    sim = wapiflow_connection
    spanish = _add(sim, "promo", language_id=1)
    english = _add(sim, "promo", language_id=2)
    with pytest.raises(WapiFlowInputError) as caught:
        await choose("promo")
    text = str(caught.value)
    assert "template 'promo' is ambiguous: 2 templates with that name are approved" in text
    assert f"(id {spanish}, language_id 1, approved)" in text
    assert f"(id {english}, language_id 2, approved)" in text
    assert not isinstance(caught.value, WapiFlowNotFoundError)
    assert (await choose("promo", language=2))["id"] == english
    assert (await choose("promo", language="1"))["id"] == spanish
    with pytest.raises(WapiFlowInputError, match="exists, but not in language 3"):
        await choose("promo", language=3)
    with pytest.raises(WapiFlowInputError, match="carry only a language_id: pass language=<language_id>"):
        await choose("promo", language="es")


async def test_an_approved_template_wins_over_unusable_namesakes(
    wapiflow_connection: WapiFlowSimulator, choose: Choose
) -> None:
    sim = wapiflow_connection
    _add(sim, "notice", language_id=1, status=TemplateStatus.REJECTED)
    approved = _add(sim, "notice", language_id=2)
    assert (await choose("notice"))["id"] == approved
    _add(sim, "draft", status=TemplateStatus.PENDING)
    _add(sim, "draft", language_id=2, status=TemplateStatus.DISABLED)
    with pytest.raises(WapiFlowInputError, match="2 templates with that name match and none is approved"):
        await choose("draft")


async def test_a_language_code_is_used_where_templates_carry_one(
    wapiflow_connection: WapiFlowSimulator, choose: Choose, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_wapiflow.testing import serializers

    sim = wapiflow_connection
    es, en = _add(sim, "promo", language_id=1), _add(sim, "promo", language_id=2)
    original = serializers.template_dict

    def with_code(template: Any) -> dict[str, Any]:
        return {**original(template), "language": {1: "es", 2: "en_US"}.get(template.language_id)}

    # Another server version's template shape: one with a language code.
    monkeypatch.setattr(serializers, "template_dict", with_code)
    assert (await choose("promo", language="es"))["id"] == es
    assert (await choose("promo", language="en-us"))["id"] == en


async def test_an_unknown_name_lists_the_approved_templates_and_the_closest(
    wapiflow_connection: WapiFlowSimulator, choose: Choose
) -> None:
    with pytest.raises(WapiFlowTemplateNotFoundError) as caught:
        await choose("order_shiped")
    error = caught.value
    assert isinstance(error, WapiFlowInputError)  # bad input: no retry fixes it
    assert isinstance(error, WapiFlowNotFoundError)
    assert str(error) == (
        "WapiFlow has no template 'order_shiped' in this account. Did you mean 'order_shipped'? Approved "
        "templates: 'airflow_task_failed', 'appointment_reminder', 'order_shipped', 'order_update', 'welcome'."
    )


async def test_an_unknown_id(wapiflow_connection: WapiFlowSimulator, choose: Choose) -> None:
    with pytest.raises(
        WapiFlowTemplateNotFoundError, match=r"no template with id 999 in this account\. Approved templates: "
    ):
        await choose(999)


@pytest.mark.parametrize("bad", [True, 0, -1, "", "   ", None, 1.5, "id:", "id:x", ["welcome"]])
async def test_bad_template_values_are_refused_before_any_request(
    wapiflow_connection: WapiFlowSimulator, choose: Choose, bad: Any
) -> None:
    with pytest.raises(WapiFlowInputError, match="'template'"):
        await choose(bad)
    assert wapiflow_connection.request_count() == 0


async def test_bad_language_values_are_refused(wapiflow_connection: WapiFlowSimulator, choose: Choose) -> None:
    for bad in (True, "", 1.5):
        with pytest.raises(WapiFlowInputError, match="'language'"):
            await choose("welcome", language=bad)
    assert wapiflow_connection.request_count() == 0


def test_the_operator_refuses_an_ambiguous_template_before_any_send(
    wapiflow_connection: WapiFlowSimulator, context: Context
) -> None:
    from airflow_provider_wapiflow.operators.messages import SendTemplateOperator

    sim = wapiflow_connection
    sim.add_contact("Ana", "Ruiz", "34", "600111222")
    _add(sim, "promo", language_id=1)
    _add(sim, "promo", language_id=2)
    operator = SendTemplateOperator(task_id="t", template="promo", recipients=["+34600111222"], dry_run=True)
    with pytest.raises(WapiFlowInputError, match="ambiguous"):
        operator.execute(context)
    assert {r["method"] for r in sim.requests()} == {"GET"}
    assert sim.messages() == []
