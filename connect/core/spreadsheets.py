"""Files people open in a spreadsheet: cells that cannot run as formulas, upload names."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator


def safe_cell(value: str) -> str:
    """A text cell safe to open in a spreadsheet: one that would start a formula (= + - @, also
    after spaces, or a tab or carriage return) gets a leading apostrophe (OWASP "CSV
    injection"); control characters become spaces, so a record stays on one line."""
    if value[:1] in ("\t", "\r") or value.lstrip()[:1] in ("=", "+", "-", "@"):
        value = "'" + value
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in value)


def upload_name(filename: str, default: str) -> str:
    """The file name of an upload, as shown back: no path, no control characters."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    return name[:200] or default


class UnreadableFile(ValueError):
    """An upload that is not CSV text; the message says why and is safe to show."""


def csv_rows(data: bytes) -> Iterator[list[str]]:
    """The rows of an uploaded CSV: UTF-8 (with or without BOM), comma or semicolon separated,
    strict quoting. UnreadableFile if it is empty, not UTF-8 text, or holds NUL bytes."""
    if not data.strip():
        raise UnreadableFile("The file is empty.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"The file is not UTF-8 text (unexpected byte at position {exc.start + 1}). "
            "Export it from your spreadsheet as “CSV UTF-8”."
        ) from None
    if "\x00" in text:
        raise UnreadableFile("The file contains NUL bytes: it is not a CSV text file.")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
