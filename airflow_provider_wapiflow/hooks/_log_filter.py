"""Keep phone numbers out of third-party DEBUG logs (urllib3 logs every request URL, query included)."""

from __future__ import annotations

import logging
import re

from airflow_provider_wapiflow.models import mask_phone

# A phone lookup sends the number as ``search=600111222`` (conversation-list).
_SEARCH = re.compile(r"(search=)([^&\s\"']+)")


def _mask(text: str) -> str:
    return _SEARCH.sub(lambda match: match.group(1) + mask_phone(match.group(2)), text)


class MaskSearchFilter(logging.Filter):
    """Masks the ``search`` query value in log records of the HTTP libraries."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "search=" in record.msg:
            record.msg = _mask(record.msg)
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_mask(arg) if isinstance(arg, str) and "search=" in arg else arg for arg in record.args)
        return True


_FILTER = MaskSearchFilter()


def install() -> None:
    """Attach the filter to the loggers that print request URLs (idempotent)."""
    for name in ("urllib3.connectionpool", "aiohttp.client"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
