"""Files people open in a spreadsheet: cells that cannot run as formulas, upload names."""

from __future__ import annotations

import re
import unicodedata


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
