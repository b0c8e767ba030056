"""WapiFlowNotifier: WhatsApp alerts from Airflow callbacks (task and DAG callbacks, deadline alerts)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from airflow_provider_wapiflow.exceptions import (
    WapiFlowError,
    WapiFlowInputError,
    WapiFlowNotAContactError,
)
from airflow_provider_wapiflow.exceptions import redact as redact_wapiflow
from airflow_provider_wapiflow.hooks import endpoints as api
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook, WapiFlowHook
from airflow_provider_wapiflow.models import check_region
from airflow_provider_wapiflow.recipients import Recipient, format_problems, parse_recipients
from airflow_provider_wapiflow.variables import check_variables

if TYPE_CHECKING:
    from airflow.sdk import Context

MAX_MESSAGE_LENGTH = 4000  # WhatsApp's limit is 4096 characters

#: Context keys the ``fallback`` notifier can render: the alert's text and why WhatsApp did not deliver it.
FALLBACK_TEXT_KEY = "wapiflow_text"
FALLBACK_REASON_KEY = "wapiflow_failure"


def redact_secrets(text: str) -> str:
    """
    ``text`` without any secret Airflow's secrets masker knows, nor a leaked Meta token.

    The masker knows every connection password and extra, and every sensitive variable, the process has
    read (a task's own connections included). The Task SDK and Airflow core each keep one masker: a
    callback may run in a worker, the DAG processor or the triggerer, so both are applied.
    """
    for module in ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker"):
        try:
            masker = __import__(module, fromlist=["redact"])
            redacted = masker.redact(text)
        except Exception:  # an installation without that copy of the masker (e.g. the Task SDK alone)
            continue
        text = redacted if isinstance(redacted, str) else str(redacted)
    return redact_wapiflow(text)


class WapiFlowNotifier(BaseNotifier):
    """
    Send a WhatsApp message or an approved template from a callback, e.g. to the on-call engineer.

    Every field is rendered with Jinja against the callback context (``dag``, ``ti``, ``run_id``,
    ``exception``, ``ti.log_url``…). Every text that leaves (the message, the default text, each
    template variable) first goes through Airflow's secrets masker and the provider's redaction: an
    exception that quotes a connection's password does not reach WhatsApp.

    A notification that fails is logged at error level with the reason and never raised: it must not
    mask the error of the task it reports. Give ``fallback`` (any notifier, e.g. ``SmtpNotifier``) to
    get the alert another way when WhatsApp does not deliver it to every recipient.

    .. seealso::
        :ref:`howto/notifier:WapiFlowNotifier`

    :param recipients: E.164 phone(s) of WapiFlow contacts: a string, or a list of strings or dicts with
        ``phone`` / ``mobile_code`` + ``mobile`` (templated). A number without '+' (what
        ``render_template_as_native_obj=True`` makes of ``"+34699000111"``) is read as E.164.
    :param template: an approved template's id or name; sent instead of a text message (templated).
    :param language: the template's language (WapiFlow's ``language_id``) when several approved
        templates share the name (templated).
    :param body_variables: values for the template's ``{{1}}``, ``{{2}}``… (templated), checked as the
        send operators check them (:func:`~airflow_provider_wapiflow.variables.check_variables`).
    :param header_variables: values for the template's header placeholder (templated).
    :param message: the text to send when no template is given (templated). WhatsApp delivers free-form
        text only within 24 hours of the recipient's last message: use a template for cold alerts.
        Default: the DAG, task, try, run, exception and log URL (:func:`default_message`).
    :param default_region: an ISO country (``"ES"``) for recipients written without '+'.
    :param fallback: a notifier called when WhatsApp did not deliver the alert to every recipient. It
        is called with the callback's context plus ``wapiflow_text`` (the alert's text, redacted) and
        ``wapiflow_failure`` (why), e.g. ``SmtpNotifier(..., html_content="{{ wapiflow_text }}")``.
    :param wapiflow_conn_id: the WapiFlow connection.
    """

    template_fields = (
        "recipients", "template", "language", "body_variables", "header_variables", "message", "wapiflow_conn_id",
    )  # fmt: skip

    def __init__(
        self,
        recipients: str | int | Sequence[Any],
        template: int | str | None = None,
        body_variables: Sequence[Any] | None = None,
        header_variables: Sequence[Any] | None = None,
        message: str | None = None,
        wapiflow_conn_id: str = WapiFlowHook.default_conn_name,
        *,
        language: int | str | None = None,
        default_region: str | None = None,
        fallback: BaseNotifier | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if template is not None and message is not None:
            raise WapiFlowInputError("give either 'template' or 'message', not both")
        if fallback is not None and not isinstance(fallback, BaseNotifier):
            raise WapiFlowInputError(f"'fallback' must be a notifier (a BaseNotifier), got {type(fallback).__name__}")
        self.recipients = recipients
        self.template = template
        self.language = language
        self.body_variables = body_variables
        self.header_variables = header_variables
        self.message = message
        self.wapiflow_conn_id = wapiflow_conn_id
        self.default_region = check_region(default_region)
        self.fallback = fallback

    @cached_property
    def hook(self) -> WapiFlowHook:
        return WapiFlowHook(self.wapiflow_conn_id)

    def _recipients(self) -> list[Recipient]:
        single = isinstance(self.recipients, (str, int)) and not isinstance(self.recipients, bool)
        items = [self.recipients] if single else self.recipients
        parsed = parse_recipients(items, default_region=self.default_region)
        if parsed.invalid:
            raise WapiFlowInputError(format_problems(parsed.invalid, len(parsed.valid) + len(parsed.invalid)))
        return parsed.valid

    def _text(self, context: Context) -> str:
        """The text message, or for a template alert the default text (what the fallback gets); redacted."""
        given = self.message is not None and self.template is None
        text = redact_secrets(str(self.message).strip() if given else default_message(context))
        return text if len(text) <= MAX_MESSAGE_LENGTH else text[: MAX_MESSAGE_LENGTH - 1] + "…"

    def _redacted_variables(self, name: str) -> list[str] | None:
        """The template variables ``name``, checked and without secrets."""
        checked = check_variables(getattr(self, name), name)
        return None if checked is None else [redact_secrets(value) for value in checked]

    def _plan(self, context: Context) -> tuple[list[Recipient], str]:
        """Check everything that needs no request; return the recipients and the alert's text."""
        recipients = self._recipients()
        if self.template is not None:
            self._checked = {name: self._redacted_variables(name) for name in ("body_variables", "header_variables")}
        return recipients, self._text(context)

    def _requests(self, recipients: list[Recipient], text: str, template_id: int | None) -> list[api.ApiRequest]:
        code = [(r.phone.mobile_code, r.phone.mobile) for r in recipients]
        if template_id is None:
            return [api.send_message(c, m, message=text) for c, m in code]
        return [
            api.send_template_message(c, m, template_id, body_variables=self._checked["body_variables"],
                                      header_variables=self._checked["header_variables"])
            for c, m in code
        ]  # fmt: skip

    def _report(self, context: Context, text: str, total: int, failures: list[str]) -> None:
        if not failures:
            self.log.info("WapiFlow notification sent to %d recipients", total)
            return
        sent = total - len(failures)
        self._undelivered(context, text, f"{sent} sent, {len(failures)} not delivered: {'; '.join(failures)}")

    def _undelivered(self, context: Context, text: str, reason: str) -> None:
        hint = "" if self.fallback is not None else " (set fallback= to get such alerts another way)"
        self.log.error("WapiFlow notification NOT DELIVERED: %s%s", reason, hint)
        if self.fallback is None:
            return
        try:
            self.fallback({**context, FALLBACK_TEXT_KEY: text, FALLBACK_REASON_KEY: reason})
        except Exception as error:
            self.log.error("The fallback notifier failed too: %s: %s", type(error).__name__, error)
        else:
            self.log.warning("The alert went to the fallback notifier %s instead", type(self.fallback).__name__)

    @staticmethod
    def _failure(recipient: Recipient, error: Exception) -> str:
        if isinstance(error, WapiFlowNotAContactError):
            return f"{recipient.phone.masked} is not a WapiFlow contact (create it once, e.g. in WapiFlow's UI)"
        text = error.message if isinstance(error, WapiFlowError) else f"{type(error).__name__}: {error}"
        return f"{recipient.phone.masked}: {redact_secrets(text)}"

    def _fallback_text(self, context: Context) -> str:
        """The alert's text for the fallback when the input could not be checked."""
        try:
            return self._text(context)
        except Exception:  # e.g. a message that cannot be made text: say at least what failed
            return redact_secrets(default_message(context))

    def notify(self, context: Context) -> None:
        """Send the notification; log at error level (and call ``fallback``), never raise, when it fails."""
        try:
            self._notify(context)
        finally:
            self.hook.close()  # a callback's process may live on (DAG processor): no idle connections kept

    def _notify(self, context: Context) -> None:
        try:
            recipients, text = self._plan(context)
            template_id = (
                int(self.hook.get_template(self.template, language=self.language)["id"])
                if self.template is not None
                else None
            )
            requests = self._requests(recipients, text, template_id)
        except Exception as error:
            self._undelivered(context, self._fallback_text(context), f"not sent: {redact_secrets(str(error))}")
            return
        failures = []
        for recipient, request in zip(recipients, requests, strict=True):
            try:
                self.hook.call(request)
            except Exception as error:
                failures.append(self._failure(recipient, error))
        self._report(context, text, len(recipients), failures)

    async def async_notify(self, context: Context) -> None:
        """Send the notification from the triggerer (deadline alerts); log, never raise, when it fails."""
        failures: list[str] = []
        try:
            recipients, text = self._plan(context)
        except Exception as error:
            reason = f"not sent: {redact_secrets(str(error))}"
            await asyncio.to_thread(self._undelivered, context, self._fallback_text(context), reason)
            return
        async with WapiFlowAsyncHook(self.wapiflow_conn_id) as hook:
            try:
                template_id = (
                    int((await hook.get_template(self.template, language=self.language))["id"])
                    if self.template is not None
                    else None
                )
                requests = self._requests(recipients, text, template_id)
            except Exception as error:
                reason = f"not sent: {redact_secrets(str(error))}"
                await asyncio.to_thread(self._undelivered, context, text, reason)
                return
            for recipient, request in zip(recipients, requests, strict=True):
                try:
                    await hook.call(request)
                except Exception as error:
                    failures.append(self._failure(recipient, error))
        await asyncio.to_thread(self._report, context, text, len(recipients), failures)


def default_message(context: Context) -> str:
    """The alert text used without ``message`` or ``template``: what failed, where, and the log link."""
    ti = context.get("ti")
    dag = context.get("dag")
    dag_run: Any = context.get("dag_run")
    # Deadline alerts only carry the dag run (a dict there) and the deadline.
    run_dag_id = dag_run.get("dag_id") if isinstance(dag_run, dict) else getattr(dag_run, "dag_id", None)
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None) or run_dag_id or "?"
    state = getattr(ti, "state", None)
    state = getattr(state, "value", state) or ("deadline missed" if context.get("deadline") else "alert")
    parts = [f"Airflow {state}: DAG {dag_id}"]
    if ti is not None:
        parts.append(f"task {ti.task_id} (try {ti.try_number})")
    run_id = context.get("run_id") or (dag_run.get("run_id") if isinstance(dag_run, dict) else None)
    if run_id:
        parts.append(f"run {run_id}")
    text = ", ".join(parts)
    exception = context.get("exception")
    if exception:
        text += f": {str(exception)[:500]}"
    log_url = getattr(ti, "log_url", None)
    if log_url:
        text += f" {log_url}"
    return text


send_wapiflow_notification = WapiFlowNotifier
