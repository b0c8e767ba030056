"""Typed errors raised by the WapiFlow hook, and the send outcome each one implies."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Sequence

from airflow.sdk.exceptions import AirflowException

# WapiFlow's Meta-outage errors carry its own Meta access token (docs/server-bugs.rst#bug-meta-outage).
# It can come as a query parameter (``access_token=…``), URL-encoded once or twice
# (``access_token%3D…``), as JSON or a PHP/Python dump (``"access_token": "…"``, also with escaped
# quotes), or as an ``Authorization: Bearer …`` header echoed in a text. Meta's tokens start with
# ``EAA``: a bare one is removed too, wherever it stands.
_TOKEN_CHAR = r"[^\s\"'\\&<>),;}\]]"
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(access_token%(?:25)?3D)((?:(?!%(?:25)?26)" + _TOKEN_CHAR + r")+)", re.IGNORECASE), r"\1***"),
    (re.compile(r"(access_token(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?)" + _TOKEN_CHAR + "+", re.IGNORECASE), r"\1***"),
    (re.compile(r"(\bBearer\s+)([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE), r"\1***"),
    (re.compile(r"\bEAA[A-Za-z0-9]{20,}"), "***"),
)
REDACTED = "***"


def redact(text: str) -> str:
    """
    Remove WapiFlow's leaked Meta access token from a text it returned.

    Covers ``access_token=…``, ``access_token%3D…`` (and ``%253D``), ``"access_token": "…"`` (JSON,
    escaped JSON, Python/PHP dumps), ``Bearer …`` and any bare Meta token (``EAA…``). Every text
    from WapiFlow goes through this before it reaches an exception, a log line or an XCom.
    """
    if len(text) > 512:  # long texts are rare and seldom repeat: not worth a cache slot
        return _redacted(text)
    return _redacted_cached(text)


def _redacted(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


# A bulk send reads the same answer texts thousands of times (the post-send error of every success).
_redacted_cached = functools.lru_cache(maxsize=1024)(_redacted)


class SendOutcome(str, enum.Enum):
    """What a failed request means for a message (docs/guarantees.rst)."""

    SENT = "sent"
    """The message reached WapiFlow and was sent."""
    NOT_SENT = "not_sent"
    """Nothing was sent: sending again later cannot duplicate."""
    UNKNOWN = "unknown"
    """The request reached WapiFlow and the answer does not tell: never resend blindly."""


class WapiFlowError(AirflowException):
    """
    Base class of every error the WapiFlow hook raises.

    :param message: a human readable explanation (already redacted).
    :param remark: WapiFlow's machine-readable ``remark``, when it answered with an envelope.
    :param messages: the envelope's ``message`` list (redacted).
    :param http_status: the HTTP status of WapiFlow's answer, when there was one.
    :param outcome: for a send or a create, whether it may have taken effect.
    """

    default_outcome: SendOutcome = SendOutcome.NOT_SENT
    retryable: bool = False
    """Set by the hook: the failure is transient (5xx, 429, network), so the same request may succeed soon."""

    def __init__(
        self,
        message: str,
        *,
        remark: str | None = None,
        messages: Sequence[str] = (),
        http_status: int | None = None,
        outcome: SendOutcome | None = None,
    ) -> None:
        self.message = redact(message)
        super().__init__(self.message)
        self.remark = remark
        self.messages = [redact(m) for m in messages]
        # Its own name: AirflowException's class-level ``status_code`` is the status of Airflow's API.
        self.http_status = http_status
        self.outcome = outcome or self.default_outcome

    @property
    def may_have_been_sent(self) -> bool:
        """True unless the error proves the request had no effect."""
        return self.outcome is not SendOutcome.NOT_SENT

    def __reduce__(self) -> tuple[object, ...]:
        # Keep keyword-only attributes across pickling (multiprocessing, Airflow's exception transport).
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[WapiFlowError], message: str, state: dict[str, object]) -> WapiFlowError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class WapiFlowInputError(WapiFlowError, ValueError):
    """Bad input found before any request was made."""


class WapiFlowAuthError(WapiFlowError):
    """WapiFlow refused the credentials (HTTP 401)."""


class WapiFlowIPNotAllowedError(WapiFlowAuthError):
    """The caller's IP address is not on the account's API whitelist."""

    def __init__(self, message: str, *, ip: str | None = None, **kwargs: object) -> None:
        self.ip = ip
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class WapiFlowValidationError(WapiFlowError):
    """WapiFlow rejected the input (``remark: validation_error`` and other refusals)."""


class WapiFlowNotFoundError(WapiFlowError):
    """The contact, conversation, template, account or route does not exist."""


class WapiFlowNotAContactError(WapiFlowNotFoundError):
    """The number is not a WapiFlow contact, so nothing was sent (docs/server-bugs.rst#bug-not-a-contact)."""


class WapiFlowTemplateNotFoundError(WapiFlowInputError, WapiFlowNotFoundError):
    """
    No template with that id or name (found before any send; no retry can help).

    Its message lists the approved templates and the closest name.
    """


class WapiFlowPlanError(WapiFlowError):
    """The account's plan does not allow the call (no plan, expired, no API access, limits)."""


class WapiFlowServerError(WapiFlowError):
    """
    A server-side or transport failure: 5xx, ``remark: exception``, a non-JSON body, a lost answer.

    For a send, whether the message went out is in :attr:`outcome`; it is ``UNKNOWN`` unless the
    failure proves the request was not processed.
    """

    default_outcome = SendOutcome.UNKNOWN


class WapiFlowConnectionError(WapiFlowServerError):
    """The request failed at the network level (connect failure, timeout, dropped connection)."""


class WapiFlowRateLimitError(WapiFlowServerError):
    """HTTP 429 after every retry: nothing was processed."""

    default_outcome = SendOutcome.NOT_SENT

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class WapiFlowMetaError(WapiFlowServerError):
    """
    WapiFlow could not hand the message to Meta (outage) or Meta rejected it: nothing was sent.

    :attr:`transient` is True for an outage (a later try may succeed), False for a rejection
    of the message itself, such as a wrong number of template parameters.
    """

    default_outcome = SendOutcome.NOT_SENT

    def __init__(self, message: str, *, transient: bool, **kwargs: object) -> None:
        self.transient = transient
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class WapiFlowBatchError(WapiFlowError):
    """A bulk operation ended with more failed or unknown items than its failure budget allows."""


#: Errors that stop a whole batch: every later request would fail the same way.
BATCH_FATAL_ERRORS: tuple[type[WapiFlowError], ...] = (WapiFlowAuthError, WapiFlowPlanError)
