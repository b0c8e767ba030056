"""Media files for messages: loaded from a local path or an object-storage URI, checked before upload."""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass, field
from typing import Any, Protocol, Union, runtime_checkable

from airflow_provider_wapiflow.exceptions import WapiFlowInputError


@runtime_checkable
class _ReadablePath(Protocol):
    """What a local path and an ``ObjectStoragePath`` have in common."""

    @property
    def name(self) -> str: ...

    def stat(self) -> Any: ...

    def read_bytes(self) -> bytes: ...


MediaSource = Union[str, "os.PathLike[str]", _ReadablePath, "MediaFile"]


@dataclass(frozen=True)
class MediaRule:
    extensions: tuple[str, ...]  # empty: any type
    max_bytes: int


_MB = 1024 * 1024
# WapiFlow's validation rules of send-message and contact/store; sizes are Laravel kilobytes.
MEDIA_RULES: dict[str, MediaRule] = {
    "image": MediaRule(("jpg", "jpeg", "png"), 5 * _MB),
    "document": MediaRule(("pdf", "doc", "docx"), 100 * _MB),
    "video": MediaRule(("mp4",), 16 * _MB),
    "audio": MediaRule((), 16 * _MB),
    "profile_image": MediaRule(("jpg", "jpeg", "png"), 5 * _MB),
}


@dataclass(frozen=True)
class MediaFile:
    """A file ready for a multipart upload."""

    filename: str
    content: bytes = field(repr=False)
    content_type: str


def _as_path(source: MediaSource) -> _ReadablePath:
    if isinstance(source, str):
        if "://" in source:
            from airflow.sdk import ObjectStoragePath

            return ObjectStoragePath(source)
        from pathlib import Path

        return Path(source)
    if isinstance(source, _ReadablePath):
        return source
    if isinstance(source, os.PathLike):
        from pathlib import Path

        return Path(os.fspath(source))
    raise WapiFlowInputError(
        f"a media file must be a local path or an ObjectStoragePath / URI, got {type(source).__name__}"
    )


def load_media(kind: str, source: MediaSource) -> MediaFile:
    """
    Read ``source`` as a ``kind`` file (image, document, video, audio, profile_image).

    A :class:`MediaFile` (already loaded and checked) is returned as it is.

    :raises WapiFlowInputError: the file is missing, of a type WapiFlow refuses for ``kind``, or too big.
    """
    if isinstance(source, MediaFile):
        return source
    rule = MEDIA_RULES[kind]
    path = _as_path(source)
    name = path.name
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if rule.extensions and extension not in rule.extensions:
        raise WapiFlowInputError(f"'{kind}' {name!r} must be a file of type {', '.join(rule.extensions)}")
    try:
        size = int(path.stat().st_size)
    except (OSError, FileNotFoundError) as error:
        raise WapiFlowInputError(f"'{kind}' {name!r} cannot be read: {error.__class__.__name__}") from None
    if size > rule.max_bytes:
        raise WapiFlowInputError(
            f"'{kind}' {name!r} is {size / _MB:.1f} MB; WapiFlow accepts at most {rule.max_bytes // _MB} MB"
        )
    if size == 0:
        raise WapiFlowInputError(f"'{kind}' {name!r} is empty")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return MediaFile(filename=name, content=path.read_bytes(), content_type=content_type)
