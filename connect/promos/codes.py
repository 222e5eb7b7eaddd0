"""The shape of a promo code: one alphabet, one normal form, one set of rules.

Buyers read codes off a video or a photo and type them at a checkout, so a code never holds two
characters that are easy to confuse. Left out of the alphabet, in look-alike groups:
0 O Q · 1 I L · 2 Z · 5 S · 8 B · U V. What remains (22 characters):
A C D E F G H J K M N P R T W X Y and 3 4 6 7 9.

A code is 4 to 20 of those characters. Codes are compared in their normal form: upper case,
with spaces and hyphens dropped (a checkout may store `summer-ali 10`); the database keeps only
the normal form, unique per brand, so two brands may hand out the same code.
"""

from __future__ import annotations

import re
import secrets

from flask_babel import lazy_gettext as _l

ALPHABET = "ACDEFGHJKMNPRTWXY34679"
LOOK_ALIKES = "0OQ1IL2Z5S8BUV"
MIN_LENGTH = 4
MAX_LENGTH = 20
GENERATED_LENGTH = 8
_SEPARATORS = re.compile(r"[\s\-]+")


class CodeError(ValueError):
    """A code that breaks the rules; the message says which rule and is safe to show (a lazy
    string, translated when the view turns it into text)."""

    def __init__(self, message: object) -> None:
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


def normalize(raw: str) -> str:
    """The form codes are stored and compared in: upper case, no spaces or hyphens."""
    return _SEPARATORS.sub("", raw or "").upper()


def check(raw: str) -> str:
    """The normal form of `raw` if it is a valid code; CodeError with the reason otherwise."""
    code = normalize(raw)
    if not code:
        raise CodeError(_l("Enter a code."))
    confusing = sorted({c for c in code if c in LOOK_ALIKES}, key=LOOK_ALIKES.index)
    if confusing:
        raise CodeError(
            _l(
                "A code may not contain characters that look alike (%(chars)s). "
                "Use only %(alphabet)s.",
                chars=", ".join(confusing),
                alphabet=ALPHABET,
            )
        )
    other = sorted({c for c in code if c not in ALPHABET})
    if other:
        raise CodeError(
            _l(
                "A code may contain only the letters and digits %(alphabet)s, not %(chars)s.",
                alphabet=ALPHABET,
                chars=", ".join(other[:5]),
            )
        )
    if not MIN_LENGTH <= len(code) <= MAX_LENGTH:
        raise CodeError(
            _l("A code has %(min)s to %(max)s characters.", min=MIN_LENGTH, max=MAX_LENGTH)
        )
    return code


def generate(length: int = GENERATED_LENGTH) -> str:
    """A random code (22^8, about 5.5e10, possible codes at the default length)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))
