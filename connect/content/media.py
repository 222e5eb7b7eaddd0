"""Media uploads: the type is read from the bytes, never from the name or the browser's claim.

Accepted: JPEG, PNG and WebP images, MP4 and WebM videos. Each is checked by walking its
structure (PNG chunks and their CRCs, JPEG segments up to the image data and its end marker,
RIFF/WebP chunks, MP4 boxes, the WebM EBML header), so an HTML page, an SVG, a program or a
PNG signature followed by garbage is refused, and nothing is stored.

The upload is never held in memory whole: Werkzeug spools it to a temporary file, the sniffer
seeks through it, and the store copies it in chunks (S3 by multipart upload).
"""

from __future__ import annotations

import contextlib
import logging
import struct
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import event
from sqlalchemy.orm import Session

from connect.core.storage import S3Storage, Storage, check_key, storage

log = logging.getLogger(__name__)

MB = 1024 * 1024
DEFAULT_MAX_IMAGE_BYTES = 10 * MB
DEFAULT_MAX_VIDEO_BYTES = 200 * MB
_CHUNK = 1024 * 1024


class MediaError(ValueError):
    """An upload we refuse; the message (a lazy translation) is safe to show."""

    def __init__(self, message: object) -> None:
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])  # a lazy string, translated when shown


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    extension: str
    kind: str  # "image" or "video"


@dataclass(frozen=True)
class StoredMedia:
    key: str
    content_type: str
    size: int


def limits() -> dict[str, int]:
    """Largest accepted upload per kind, in bytes (MEDIA_MAX_IMAGE_BYTES, MEDIA_MAX_VIDEO_BYTES)."""
    config = current_app.config
    return {
        "image": int(config.get("MEDIA_MAX_IMAGE_BYTES") or DEFAULT_MAX_IMAGE_BYTES),
        "video": int(config.get("MEDIA_MAX_VIDEO_BYTES") or DEFAULT_MAX_VIDEO_BYTES),
    }


def request_limit() -> int:
    """The most a content form may carry: the largest media plus room for the other fields."""
    return max(limits().values()) + MB


# --- the sniffer -----------------------------------------------------------------------------


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise MediaError(_l("The file is cut short (incomplete upload?)."))
    return data


def _size_of(stream: IO[bytes]) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


_MAX_CHUNKS = 100_000


def _png(stream: IO[bytes], size: int) -> Sniffed:
    stream.seek(8)
    seen_ihdr = seen_idat = False
    for _ in range(_MAX_CHUNKS):
        length, ctype = struct.unpack(">I4s", _read_exact(stream, 8))
        if not ctype.isalpha() or length > 0x7FFFFFFF or stream.tell() + length + 4 > size:
            raise MediaError(_l("This PNG is damaged: a chunk is malformed."))
        if not seen_ihdr:
            if ctype != b"IHDR" or length != 13:
                raise MediaError(_l("This PNG is damaged: it does not start with its header."))
            seen_ihdr = True
        crc = zlib.crc32(ctype)
        left = length
        first = b""
        while left:
            block = _read_exact(stream, min(left, _CHUNK))
            if not first:
                first = block
            crc = zlib.crc32(block, crc)
            left -= len(block)
        if struct.unpack(">I", _read_exact(stream, 4))[0] != crc:
            raise MediaError(_l("This PNG is damaged: a checksum does not match."))
        if ctype == b"IHDR":
            width, height = struct.unpack(">II", first[:8])
            if not (0 < width < 1 << 31 and 0 < height < 1 << 31):
                raise MediaError(_l("This PNG has no size."))
        seen_idat = seen_idat or ctype == b"IDAT"
        if ctype == b"IEND":
            break
    else:
        raise MediaError(_l("This PNG has too many chunks."))
    if not seen_idat:
        raise MediaError(_l("This PNG holds no image data."))
    if stream.tell() != size:
        raise MediaError(_l("This PNG has unexpected data after the image."))
    return Sniffed("image/png", "png", "image")


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(stream: IO[bytes], size: int) -> Sniffed:
    stream.seek(2)
    seen_sof = False
    while True:
        byte = _read_exact(stream, 1)
        if byte != b"\xff":
            raise MediaError(_l("This JPEG is damaged: a marker is missing."))
        marker = _read_exact(stream, 1)[0]
        while marker == 0xFF:  # fill bytes
            marker = _read_exact(stream, 1)[0]
        if marker in (0xD8, 0xD9, 0x00, 0x01) or 0xD0 <= marker <= 0xD7:
            raise MediaError(_l("This JPEG is damaged: a marker is out of place."))
        (length,) = struct.unpack(">H", _read_exact(stream, 2))
        if length < 2 or stream.tell() + length - 2 > size:
            raise MediaError(_l("This JPEG is damaged: a segment is malformed."))
        if marker in _SOF:
            frame = _read_exact(stream, length - 2)
            if length < 8 or not 1 <= frame[5] <= 4 or struct.unpack(">H", frame[3:5])[0] == 0:
                raise MediaError(_l("This JPEG is damaged: its frame header is wrong."))
            seen_sof = True
        else:
            stream.seek(length - 2, 1)
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            break
    if not seen_sof:
        raise MediaError(_l("This JPEG has no image frame."))
    # The image ends at the first EOI after the scan starts (0xFF inside the data is stuffed).
    # Bytes after it are tolerated: phones append motion-photo videos there.
    tail = b""
    while chunk := stream.read(_CHUNK):
        if b"\xff\xd9" in tail[-1:] + chunk:
            return Sniffed("image/jpeg", "jpg", "image")
        tail = chunk
    raise MediaError(_l("This JPEG is cut short: it has no end marker."))


def _webp(stream: IO[bytes], size: int) -> Sniffed:
    stream.seek(0)
    _, riff_size, _ = struct.unpack("<4sI4s", _read_exact(stream, 12))
    if riff_size + 8 != size or riff_size < 12:
        raise MediaError(_l("This WebP is damaged: its length does not match the file."))
    first = True
    while stream.tell() < size:
        fourcc, length = struct.unpack("<4sI", _read_exact(stream, 8))
        if not all(32 <= b < 127 for b in fourcc) or stream.tell() + length > size:
            raise MediaError(_l("This WebP is damaged: a chunk is malformed."))
        if first:
            head = _read_exact(stream, min(length, 10))
            ok = (
                (fourcc == b"VP8 " and len(head) >= 6 and head[3:6] == b"\x9d\x01\x2a")
                or (fourcc == b"VP8L" and head[:1] == b"\x2f")
                or (fourcc == b"VP8X" and length >= 10)
            )
            if not ok:
                raise MediaError(_l("This WebP is damaged: it has no image chunk."))
            stream.seek(length - len(head), 1)
            first = False
        else:
            stream.seek(length, 1)
        if length % 2:
            stream.seek(1, 1)
    if first or stream.tell() != size:
        raise MediaError(_l("This WebP is damaged: its chunks do not fill the file."))
    return Sniffed("image/webp", "webp", "image")


# ISO base media brands that are MP4 video; image brands (HEIF, AVIF) are not.
_MP4_BRANDS = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso8", b"iso9",
    b"mp41", b"mp42", b"mp71", b"avc1", b"av01", b"dash", b"M4V ", b"mmp4",
    b"msnv", b"MSNV", b"XAVC", b"cmfc", b"cmf2", b"f4v ",
}  # fmt: skip
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
_MAX_BOXES = 10_000


def _mp4(stream: IO[bytes], size: int) -> Sniffed:
    stream.seek(0)
    seen: set[bytes] = set()
    pos = 0
    for _ in range(_MAX_BOXES):
        if pos == size:
            break
        stream.seek(pos)
        box_size, box_type = struct.unpack(">I4s", _read_exact(stream, 8))
        header = 8
        if box_size == 1:
            (box_size,) = struct.unpack(">Q", _read_exact(stream, 8))
            header = 16
        elif box_size == 0:
            box_size = size - pos
        if box_size < header or pos + box_size > size or not all(32 <= b < 127 for b in box_type):
            raise MediaError(_l("This MP4 is damaged: a box is malformed."))
        if not seen:
            if box_type != b"ftyp" or box_size < 16:
                raise MediaError(_l("This MP4 does not start with its file-type box."))
            body = _read_exact(stream, min(box_size - header, 256))
            major, brands = body[:4], {body[i : i + 4] for i in range(8, len(body) - 3, 4)}
            if major in _IMAGE_BRANDS or not ({major} | brands) & _MP4_BRANDS:
                raise MediaError(
                    _l(
                        "This file is not an MP4 video (QuickTime .mov and HEIC images are not "
                        "accepted: export as MP4)."
                    )
                )
        seen.add(box_type)
        pos += box_size
    else:
        raise MediaError(_l("This MP4 has too many boxes."))
    if b"moov" not in seen or b"mdat" not in seen:
        raise MediaError(_l("This MP4 is incomplete: it has no movie header or no media data."))
    return Sniffed("video/mp4", "mp4", "video")


def _vint(stream: IO[bytes], *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer: (value, length in bytes)."""
    first = _read_exact(stream, 1)[0]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8:
        raise MediaError(_l("This WebM is damaged: a length is malformed."))
    value = first if keep_marker else first & (0xFF >> length)
    for b in _read_exact(stream, length - 1):
        value = (value << 8) | b
    return value, length


def _webm(stream: IO[bytes], size: int) -> Sniffed:
    stream.seek(4)
    header_size, _ = _vint(stream, keep_marker=False)
    end = stream.tell() + header_size
    if header_size > 4096 or end > size:
        raise MediaError(_l("This WebM is damaged: its header is malformed."))
    doctype = b""
    while stream.tell() < end:
        element, _ = _vint(stream, keep_marker=True)
        length, _ = _vint(stream, keep_marker=False)
        if stream.tell() + length > end:
            raise MediaError(_l("This WebM is damaged: its header is malformed."))
        data = _read_exact(stream, length)
        if element == 0x4282:
            doctype = data.rstrip(b"\x00")
    if doctype != b"webm":
        raise MediaError(_l("This file is not a WebM video (Matroska .mkv is not accepted)."))
    segment, _ = _vint(stream, keep_marker=True)
    seg_size, seg_len = _vint(stream, keep_marker=False)
    unknown = seg_size == (1 << (7 * seg_len)) - 1
    if segment != 0x18538067 or (not unknown and stream.tell() + seg_size > size):
        raise MediaError(_l("This WebM is damaged: it has no media segment."))
    return Sniffed("video/webm", "webm", "video")


_SIGNATURES: list[tuple[Callable[[bytes], bool], Callable[[IO[bytes], int], Sniffed]]] = [
    (lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"), _png),
    (lambda h: h.startswith(b"\xff\xd8\xff"), _jpeg),
    (lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP", _webp),
    (lambda h: h[4:8] == b"ftyp", _mp4),
    (lambda h: h.startswith(b"\x1a\x45\xdf\xa3"), _webm),
]


def _what_it_looks_like(head: bytes) -> str | LazyString:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<script", b"<head", b"<body")):
        return _l("an HTML page")
    if text.startswith(b"<?xml") or b"<svg" in text[:512]:
        return _l("an SVG or XML document")
    if head.startswith((b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"#!")):
        return _l("a program")
    if head.startswith(b"%PDF"):
        return _l("a PDF document")
    if head.startswith(b"PK\x03\x04"):
        return _l("a ZIP archive")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return _l("a GIF image (not accepted)")
    return ""


def sniff(stream: IO[bytes]) -> Sniffed:
    """What the bytes are, by their content alone. Raises MediaError for anything else."""
    size = _size_of(stream)
    if size == 0:
        raise MediaError(_l("The file is empty."))
    head = stream.read(4096)
    try:
        for matches, check in _SIGNATURES:
            if matches(head):
                return check(stream, size)
    except struct.error:
        raise MediaError(_l("The file is damaged.")) from None
    finally:
        stream.seek(0)
    looks = _what_it_looks_like(head)
    if looks:
        raise MediaError(
            _l(
                "This file is not a JPEG, PNG or WebP image or an MP4 or WebM video "
                "(checked by its content, not its name). It looks like %(looks)s.",
                looks=looks,
            )
        )
    raise MediaError(
        _l(
            "This file is not a JPEG, PNG or WebP image or an MP4 or WebM video "
            "(checked by its content, not its name)."
        )
    )


def check_upload(stream: IO[bytes]) -> tuple[Sniffed, int]:
    """The upload's type and size, if it is accepted; MediaError otherwise."""
    size = _size_of(stream)
    caps = limits()
    if size > max(caps.values()):
        raise MediaError(_too_large(max(caps.values())))
    found = sniff(stream)
    if size > caps[found.kind]:
        raise MediaError(_too_large(caps[found.kind], found.kind))
    return found, size


def _too_large(cap: int, kind: str = "file") -> LazyString:
    if cap >= MB:
        n = f"{cap / MB:.0f}"
        if kind == "image":
            return _l("The image is too large: the limit is %(n)s MB.", n=n)
        if kind == "video":
            return _l("The video is too large: the limit is %(n)s MB.", n=n)
        return _l("The file is too large: the limit is %(n)s MB.", n=n)
    if kind == "image":
        return _l("The image is too large: the limit is %(n)s bytes.", n=cap)
    if kind == "video":
        return _l("The video is too large: the limit is %(n)s bytes.", n=cap)
    return _l("The file is too large: the limit is %(n)s bytes.", n=cap)


# --- storing -----------------------------------------------------------------------------------


def media_key(creator_id: int, extension: str) -> str:
    return check_key(f"media/{int(creator_id)}/{uuid.uuid4().hex}.{extension}")


def put_stream(store: Storage, key: str, stream: IO[bytes], content_type: str) -> None:
    """Copy `stream` to `store` without holding it in memory: S3 gets a multipart upload (8 MB
    parts), the local folder a chunked copy."""
    stream.seek(0)
    if isinstance(store, S3Storage):
        store.client.upload_fileobj(
            stream, store.bucket, check_key(key), ExtraArgs={"ContentType": content_type}
        )
    else:
        store.put(key, stream, content_type)  # type: ignore[arg-type]


def store_upload(session: Session, creator_id: int, stream: IO[bytes]) -> StoredMedia:
    """Check and store an upload under media/<creator_id>/<uuid>.<ext>. The object is removed
    again if the transaction that was to reference it rolls back."""
    found, size = check_upload(stream)
    key = media_key(creator_id, found.extension)
    put_stream(storage(), key, stream, found.content_type)
    session.info.setdefault(_ON_ROLLBACK, []).append(key)
    return StoredMedia(key, found.content_type, size)


def delete_after_commit(session: Session, key: str) -> None:
    """Remove `key` from storage once the transaction that stopped using it commits."""
    if key:
        session.info.setdefault(_ON_COMMIT, []).append(key)


_ON_COMMIT = "connect_media_delete_on_commit"
_ON_ROLLBACK = "connect_media_delete_on_rollback"


def _delete_quietly(keys: list[str]) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    for key in keys:
        try:
            storage().delete(key)
        except (OSError, ValueError, BotoCoreError, ClientError):
            # An orphaned object is a storage leak, not a reason to fail the request.
            log.warning("could not delete media %s", key, exc_info=True)


@event.listens_for(Session, "after_commit")
def _media_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.info.pop(_ON_ROLLBACK, None)  # the new objects are referenced now: keep them
    _delete_quietly(session.info.pop(_ON_COMMIT, []))


@event.listens_for(Session, "after_rollback")
def _media_after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.info.pop(_ON_COMMIT, None)  # the old objects are still referenced: keep them
    _delete_quietly(session.info.pop(_ON_ROLLBACK, []))


def open_media(key: str) -> IO[bytes]:
    """A stream of stored media (FileNotFoundError if it is gone)."""
    return storage().open_stream(key)


def iter_stream(stream: IO[bytes]) -> Any:
    with contextlib.closing(stream):
        while chunk := stream.read(64 * 1024):
            yield chunk
