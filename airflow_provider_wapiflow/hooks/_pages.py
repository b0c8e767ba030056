"""Walking WapiFlow's paginated lists without trusting the server (shared by both hooks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_wapiflow.exceptions import SendOutcome, WapiFlowServerError
from airflow_provider_wapiflow.hooks._envelope import expect_page
from airflow_provider_wapiflow.hooks.endpoints import ApiRequest

#: Pages a list may grow by while it is read (rows added meanwhile), beyond twice its first last_page.
PAGE_GROWTH_ALLOWANCE = 10


class PageWalk:
    """
    Page 1, 2, 3… of one list: each answer must be the page asked for, and the walk ends at
    ``last_page`` (or an empty page).

    A page number that does not advance (a repeated or earlier page) is a
    :class:`WapiFlowServerError`, and so is a ``last_page`` that keeps moving away: the walk reads at
    most twice the first answer's ``last_page`` plus :data:`PAGE_GROWTH_ALLOWANCE` pages.
    """

    def __init__(self, build: Callable[[int], ApiRequest], key: str) -> None:
        self._build = build
        self.key = key
        self.page = 1
        self.done = False
        self._limit: int | None = None

    def request(self) -> ApiRequest:
        return self._build(self.page)

    def accept(self, request: ApiRequest, data: dict[str, Any]) -> list[dict[str, Any]]:
        """Check one answer and return its items; sets :attr:`done` after the last page."""
        paginator = expect_page(request, data, self.key)
        current, last = paginator["current_page"], paginator["last_page"]
        if current != self.page:
            way = "repeated an earlier page" if current < self.page else "skipped pages"
            self._fail(request, f"asked for page {self.page}, got page {current} ({way})")
        if self._limit is None:
            self._limit = 2 * last + PAGE_GROWTH_ALLOWANCE
        items: list[dict[str, Any]] = paginator["data"]
        if not items or current >= last:
            self.done = True
            return items
        if self.page >= self._limit:
            self._fail(
                request,
                f"last_page keeps growing (now {last}) after {self.page} pages; stopped at the bound of "
                f"{self._limit} pages",
            )
        self.page += 1
        return items

    def _fail(self, request: ApiRequest, problem: str) -> None:
        raise WapiFlowServerError(
            f"WapiFlow's pagination of {request.describe()} does not advance: {problem}. The list was not "
            "read to the end.",
            outcome=SendOutcome.NOT_SENT,
        )
