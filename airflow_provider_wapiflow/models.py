"""Domain values: statuses, recipients (E.164 parsing) and phone masking."""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from airflow_provider_wapiflow.exceptions import WapiFlowInputError


class ConversationStatus(enum.IntEnum):
    """A conversation's status in WapiFlow."""

    NONE = 0
    DONE = 1
    PENDING = 2
    IMPORTANT = 3
    UNREAD = 4
    """Listed by WapiFlow, but the API cannot set it."""


class TemplateStatus(enum.IntEnum):
    """A template's review status: only approved templates can be sent."""

    PENDING = 0
    APPROVED = 1
    REJECTED = 2
    DISABLED = 3


class MessageStatus(enum.IntEnum):
    """A message's delivery status."""

    SCHEDULED = 0
    SENT = 1
    DELIVERED = 2
    READ = 3
    FAILED = 9


def phone_key(e164: str) -> str:
    """The ledger key of an E.164 number (``+34600111222``): what summaries and ledgers store instead of it."""
    return hashlib.sha256(e164.encode()).hexdigest()[:20]


def mask_phone(phone: str) -> str:
    """Mask every digit of a phone number but the last three: ``+34600111222`` → ``+*********222``."""
    digits = [i for i, char in enumerate(phone) if char.isdigit()]
    keep = set(digits[-3:])
    return "".join("*" if char.isdigit() and i not in keep else char for i, char in enumerate(phone))


_DIGITS = re.compile(r"^[0-9]+$")
# What may follow the '+' of an E.164 phone as people write it. phonenumbers would also read letters
# as a keypad ("+34 600 111 ABC" -> +34600111222) and drop extensions: that would message somebody else.
# With a default region the '+' may be missing ("600 111 222", "0034 600 111 222"); letters stay refused.
_WRITTEN = re.compile(r"^\+?[0-9\s().\-]+$")
_REGION = re.compile(r"^[A-Za-z]{2}$")


def check_region(region: Any) -> str | None:
    """
    ``default_region`` as phonenumbers takes it (``"es"`` → ``"ES"``), or None when not given.

    :raises WapiFlowInputError: not a two-letter ISO country phonenumbers knows.
    """
    if region is None:
        return None
    if not isinstance(region, str) or not _REGION.match(region.strip()):
        raise WapiFlowInputError(f"'default_region' must be a two-letter ISO country such as 'ES', got {region!r}")
    country: str = region.strip().upper()
    import phonenumbers

    if country not in phonenumbers.SUPPORTED_REGIONS:
        raise WapiFlowInputError(f"'default_region' {country!r} is not a country phonenumbers knows")
    return country


def phone_fields(mobile_code: Any, mobile: Any, *, hint: bool = True) -> tuple[str, str]:
    """
    ``mobile_code`` and ``mobile`` as WapiFlow takes them: digits only, the country code without '+'.

    :param hint: end the error about a ``mobile`` that is not only digits with what it must not hold.
    :raises WapiFlowInputError: naming the field (the number is masked).
    """
    code, number = str(mobile_code if mobile_code is not None else "").strip(), str(mobile or "").strip()
    if not code:
        raise WapiFlowInputError("'mobile_code' is required")
    if code.startswith("+"):
        raise WapiFlowInputError(f"'mobile_code' {code!r} must be the country code without '+'")
    if not _DIGITS.match(code):
        raise WapiFlowInputError(f"'mobile_code' {code!r} must contain digits only")
    if not number:
        raise WapiFlowInputError("'mobile' is required")
    if not _DIGITS.match(number):
        detail = " (no '+', spaces or dashes)" if hint else ""
        raise WapiFlowInputError(f"'mobile' {mask_phone(number)} must contain digits only{detail}")
    return code, number


_POSSIBILITY_REASONS = {
    # phonenumbers.ValidationResult values, by name: importing phonenumbers takes ~60 ms, which a DAG
    # file should not pay at parse time; it is imported when the first number is checked.
    "INVALID_COUNTRY_CODE": "has an unknown country code",
    "TOO_SHORT": "is too short",
    "TOO_LONG": "is too long",
    "INVALID_LENGTH": "has an invalid length",
}


@dataclass(frozen=True, order=True)
class Phone:
    """A WhatsApp number as WapiFlow stores it: country code and national number, digits only."""

    mobile_code: str
    mobile: str

    # Cached: a bulk send reads each recipient's key and masked phone several times (ledger, summary).
    @cached_property
    def e164(self) -> str:
        return f"+{self.mobile_code}{self.mobile}"

    @cached_property
    def masked(self) -> str:
        return mask_phone(self.e164)

    @cached_property
    def key(self) -> str:
        """A stable key for ledgers and summaries that does not reveal the number (SHA-256 of E.164, 20 hex)."""
        return phone_key(self.e164)

    def __str__(self) -> str:
        # Phones end up in f-strings and logs: show them masked unless asked for e164 explicitly.
        return self.masked

    @classmethod
    def parse(
        cls,
        phone: str | int | None = None,
        mobile_code: Any = None,
        mobile: Any = None,
        *,
        default_region: str | None = None,
    ) -> Phone:
        """
        Parse and validate a number given as E.164 (``phone``) or as ``mobile_code`` + ``mobile``.

        :param phone: ``"+34600111222"`` (spaces, dashes, dots and brackets allowed). An ``int`` is read
            as E.164 without its '+' when it is a valid number that way (a DAG with
            ``render_template_as_native_obj=True`` renders ``"+34600111222"`` to ``34600111222``).
        :param default_region: an ISO country (``"ES"``): a ``phone`` without '+' is then read as that
            country would dial it (``"600 111 222"``, ``"0034 600 111 222"``).
        :raises WapiFlowInputError: naming the field and the reason (the number is masked).
        """
        region = check_region(default_region)
        if phone is not None and (mobile_code is not None or mobile is not None):
            raise WapiFlowInputError("give either 'phone' or 'mobile_code' + 'mobile', not both")
        if phone is not None:
            if isinstance(phone, int) and not isinstance(phone, bool) and phone > 0:
                return cls._from_int(phone)
            if not isinstance(phone, str):
                raise WapiFlowInputError(f"'phone' must be a string in E.164 form, got {type(phone).__name__}")
            text = phone.strip()
            if not text.startswith("+") and region is None:
                raise WapiFlowInputError(
                    f"'phone' {mask_phone(text)} must be in E.164 form with a leading '+' and country code "
                    "(or set default_region, e.g. 'ES', to read national numbers)"
                )
            if not _WRITTEN.match(text):
                raise WapiFlowInputError(
                    f"'phone' {mask_phone(text)} is not a phone number: only digits, spaces and - . ( ) may "
                    "follow the '+'"
                    if text.startswith("+")
                    else f"'phone' {mask_phone(text)} is not a phone number: only '+', digits, spaces and "
                    "- . ( ) are allowed"
                )
            return cls._validated(text, field="phone", region=None if text.startswith("+") else region)
        if mobile_code is None or mobile is None:
            missing = "mobile_code" if mobile_code is None else "mobile"
            raise WapiFlowInputError(f"'{missing}' is missing: give 'phone' (E.164) or 'mobile_code' + 'mobile'")
        # Without the hint: a 'phone' may hold spaces and dashes, so the error does not forbid them.
        code, number = phone_fields(mobile_code, mobile, hint=False)
        return cls._validated(f"+{code}{number}", field="mobile")

    @classmethod
    def _from_int(cls, phone: int) -> Phone:
        try:
            return cls._validated(f"+{phone}", field="phone")
        except WapiFlowInputError:
            raise WapiFlowInputError(
                f"'phone' {mask_phone(str(phone))} is a number, not a string in E.164 form, and is not a valid "
                "number when read as E.164 without its '+' (a DAG with render_template_as_native_obj=True "
                "turns a rendered '+34…' into a number: quote it, or give 'mobile_code' + 'mobile')"
            ) from None

    @classmethod
    def _validated(cls, text: str, *, field: str, region: str | None = None) -> Phone:
        import phonenumbers

        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException as error:
            raise WapiFlowInputError(f"'{field}' {mask_phone(text)} is not a phone number: {error._msg}") from None
        reasons = {getattr(phonenumbers.ValidationResult, name): why for name, why in _POSSIBILITY_REASONS.items()}
        reason = reasons.get(phonenumbers.is_possible_number_with_reason(number))
        if reason is None and not phonenumbers.is_valid_number(number):
            reason = "is not a valid number for its country"
        if reason is not None:
            raise WapiFlowInputError(f"'{field}' {mask_phone(text)} {reason}")
        national = phonenumbers.national_significant_number(number)
        return cls(mobile_code=str(number.country_code), mobile=national)
