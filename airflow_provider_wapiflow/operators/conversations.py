"""SetConversationStatusOperator: mark a WapiFlow conversation done, pending, important or none."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_wapiflow.conversations import (
    ConversationQuery,
    check_target_args,
    fetch_sync,
    reply_conversations,
)
from airflow_provider_wapiflow.exceptions import WapiFlowNotFoundError
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook
from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.parsing import is_templated, parse_settable_status

if TYPE_CHECKING:
    from airflow.sdk import Context


class SetConversationStatusOperator(BaseOperator):
    """
    Set the status of a WapiFlow conversation, found by id or by the contact's phone number.

    By phone (exact match on country code and number), the conversation where the customer's replies
    arrive is updated — the one agents see in WapiFlow's web inbox (``whatsapp_account_id`` ≠ 0),
    never the API's own conversation (``whatsapp_account_id`` 0, :ref:`bug-conversation-split`). With
    several (one per WhatsApp account), the one with the latest activity. If the contact has no such conversation
    (never wrote; only the API conversation exists) the task fails with
    :class:`~airflow_provider_wapiflow.exceptions.WapiFlowNotFoundError`: pass ``conversation_id`` to
    change the API conversation on purpose.

    Returns ``{"conversation_id": 7, "status": 1}`` as XCom.

    :param conversation_id: the conversation's id (templated), e.g. from a
        :class:`~airflow_provider_wapiflow.sensors.conversations.ConversationSensor`:
        ``"{{ ti.xcom_pull('wait')['id'] }}"``.
    :param phone: instead of ``conversation_id``: the contact's number in E.164 form (templated).
    :param mobile_code: instead of ``phone``: the country code, ``"34"`` (templated).
    :param mobile: instead of ``phone``: the national number, ``"600111222"`` (templated).
    :param status: the new status: ``NONE``, ``DONE``, ``PENDING`` or ``IMPORTANT``, as a
        :class:`~airflow_provider_wapiflow.models.ConversationStatus`, its int value or its name
        (templated). ``UNREAD`` is refused: WapiFlow's API cannot set it.
    :param wapiflow_conn_id: the Airflow connection to WapiFlow.
    """

    template_fields: Sequence[str] = ("conversation_id", "phone", "mobile_code", "mobile", "status")
    ui_color = "#dcf8c6"

    def __init__(
        self,
        *,
        conversation_id: int | str | None = None,
        phone: str | None = None,
        mobile_code: str | int | None = None,
        mobile: str | int | None = None,
        status: ConversationStatus | int | str,
        wapiflow_conn_id: str = "wapiflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_target_args(conversation_id, phone, mobile_code, mobile)
        if not is_templated(status):
            parse_settable_status(status)
        self.conversation_id = conversation_id
        self.phone = phone
        self.mobile_code = mobile_code
        self.mobile = mobile
        self.status = status
        self.wapiflow_conn_id = wapiflow_conn_id

    @cached_property
    def hook(self) -> WapiFlowHook:
        """The WapiFlow hook."""
        return WapiFlowHook(wapiflow_conn_id=self.wapiflow_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        status = parse_settable_status(self.status)
        query = ConversationQuery.build(
            conversation_id=self.conversation_id,
            phone=self.phone,
            mobile_code=self.mobile_code,
            mobile=self.mobile,
        )
        conversation_id = query.target.conversation_id
        if conversation_id is None:
            found = query.candidates(fetch_sync(self.hook, query.target))
            candidates = reply_conversations(found)
            if not found:
                raise WapiFlowNotFoundError(
                    f"WapiFlow has no conversation for {query.target.phone}, so there is no status to set. "
                    "A conversation exists once a message was sent to or received from the contact.",
                    remark="not_found",
                )
            if not candidates:
                raise WapiFlowNotFoundError(
                    f"{query.target.phone} has only the API's conversation (id "
                    f"{', '.join(str(c.get('id')) for c in found)}, whatsapp_account_id 0), which agents do not "
                    "see in WapiFlow's web inbox; the conversation where replies arrive opens with the customer's "
                    "first message. Pass conversation_id to change the API conversation on purpose.",
                    remark="not_found",
                )
            conversation_id = int(candidates[0]["id"])
            if len(candidates) > 1:
                self.log.warning(
                    "%s has %d conversations (ids %s); updating %d, the one with the latest activity",
                    query.target.phone,
                    len(candidates),
                    ", ".join(str(c.get("id")) for c in candidates),
                    conversation_id,
                )
        self.hook.set_conversation_status(conversation_id, int(status))
        owner = f" of {query.target.phone}" if query.target.phone else ""
        self.log.info("Set conversation %d%s to %s", conversation_id, owner, status.name)
        return {"conversation_id": conversation_id, "status": int(status)}
