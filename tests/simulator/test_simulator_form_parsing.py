"""The simulator's own urlencoded body parser reads the fields Starlette's form parser reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest
from starlette.datastructures import Headers
from starlette.formparsers import FormParser

from airflow_provider_wapiflow.testing.app import FORM_MAX_FIELDS, _urlencoded_fields

BODIES = [
    b"",
    b"a=1&b=2",
    b"a=1&&b=2&",
    b"&a",
    b"a&b=&=c&=",
    b"x=a=b=c",
    b"mobile=+34%20600&name=Jos%C3%A9+Gil",
    b"body_variables%5B%5D=Ana&body_variables[]=A-1&body_variables[k]=v",
    b"bad=%ZZ%&latin=\xe9\xff&utf=%E9",
    b"a=1;b=2",
]


async def _starlette_fields(body: bytes) -> list[tuple[str, str]]:
    async def stream() -> AsyncGenerator[bytes, None]:
        # Split into chunks as a socket may deliver them.
        for start in range(0, len(body), 3):
            yield body[start : start + 3]
        yield b""

    parser = FormParser(Headers({"content-type": "application/x-www-form-urlencoded"}), stream(), max_fields=1000)
    form = await parser.parse()
    return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]


@pytest.mark.parametrize("body", BODIES)
def test_the_same_fields_as_starlette(body: bytes) -> None:
    assert _urlencoded_fields(body) == asyncio.run(_starlette_fields(body))


def test_too_many_fields_or_a_huge_field_leave_no_form() -> None:
    assert _urlencoded_fields(b"&".join([b"a=1"] * FORM_MAX_FIELDS)) is not None
    assert _urlencoded_fields(b"&".join([b"a=1"] * (FORM_MAX_FIELDS + 1))) is None
    assert _urlencoded_fields(b"a=" + b"x" * (1024 * 1024 - 1)) is not None
    assert _urlencoded_fields(b"a=" + b"x" * (1024 * 1024)) is None
