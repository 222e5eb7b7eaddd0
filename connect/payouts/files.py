# ruff: noqa: RUF001, RUF003 -- the transliteration tables are made of look-alike letters.
"""Payout files: SEPA pain.001, PayPal Payouts CSV and a plain CSV, written as a stream.

Pure functions: plain inputs in, bytes out. No database, no Flask, no S3: the caller turns payouts
into `FilePayment`s, hands over a binary file object (a temp file, an S3 multipart writer...) and
stores the returned `FileSummary` (count, total, SHA-256 of exactly the bytes written).

Two passes, nothing written on refusal
--------------------------------------
A pain.001 file states the number of transactions and their sum (NbOfTxs, CtrlSum) in its header,
before the transactions. Rather than buffer the document, every generator reads `payments` twice:
the first pass validates every payment and adds up the totals, the second writes. So `payments`
must be re-iterable: a list or tuple, or a callable returning a fresh iterator each time it is
called (for example one that runs a database query with `yield_per`). A one-shot iterator or
generator is refused with TypeError. The first pass collects *every* problem and raises one
`PayoutFileError` (a ValueError) naming the bad payout ids before a single byte is written. The
second pass fingerprints what it reads; should the source yield something else the second time,
`PayoutFileError` is raised after writing, and the caller must discard the output.

Memory stays bounded by one payment plus a 64 KiB write buffer, except for the set of payout ids
kept to refuse duplicates (one int per payment).

The same two-pass contract applies to the CSV generators, so that a refused batch never leaves a
half-written file behind on any rail.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import BinaryIO
from xml.sax.saxutils import escape

import pycountry
from schwifty import BIC, IBAN

from connect.core.money import Money, MoneyError, exponent
from connect.core.spreadsheets import safe_cell as _text_cell

__all__ = [
    "Debtor",
    "FilePayment",
    "FileSummary",
    "PaymentSource",
    "PayoutFileError",
    "end_to_end_id",
    "paypal_payouts_csv",
    "plain_csv",
    "sepa_clean",
    "sepa_instruction_id",
    "sepa_pain001",
]


@dataclass(frozen=True)
class Debtor:
    """The platform's account that pays."""

    name: str
    iban: str
    bic: str  # "" when the bank needs none (IBAN-only): written as NOTPROVIDED
    country: str  # ISO 3166 alpha-2


@dataclass(frozen=True)
class FilePayment:
    payout_id: int  # our id; used in EndToEndId and CSV references
    idempotency_key: str  # unique per payout; the SEPA InstrId
    creator_name: str  # account holder name
    amount_minor: int  # integer minor units
    currency: str  # ISO 4217
    iban: str = ""
    bic: str = ""
    paypal_email: str = ""
    country: str = ""  # creator country, ISO 3166 alpha-2
    reference: str = ""  # remittance info shown to the creator; defaults to "Connect payout <id>"


@dataclass(frozen=True)
class FileSummary:
    count: int
    total_minor: int
    currency: str | None  # None only for an empty plain CSV
    sha256: str  # hex digest of exactly the bytes written to `out`
    bytes_written: int


#: A re-iterable collection of payments, or a callable returning a fresh iterable each call.
PaymentSource = Iterable[FilePayment] | Callable[[], Iterable[FilePayment]]


class PayoutFileError(ValueError):
    """A payout file was refused. `problems` holds (subject, reason) pairs, subject being
    "payout <id>", "debtor" or "batch"; `payout_ids` the payouts at fault."""

    def __init__(self, what: str, problems: list[tuple[str, str]], payout_ids: list[int]):
        self.problems = tuple(problems)
        self.payout_ids = tuple(sorted(set(payout_ids)))
        shown = "; ".join(f"{subject}: {reason}" for subject, reason in problems[:20])
        more = f"; and {len(problems) - 20} more" if len(problems) > 20 else ""
        ids = f" (bad payout ids: {', '.join(map(str, self.payout_ids))})" if payout_ids else ""
        super().__init__(f"{what} refused{ids}: {shown}{more}")


# ---------------------------------------------------------------------------------------------
# Streaming output with a running SHA-256


_CHUNK = 64 * 1024


class _Sink:
    """Encodes text as UTF-8 and writes it to `out` in chunks, hashing and counting the bytes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self.bytes_written = 0

    def write(self, text: str) -> None:  # also the file-like `write` the csv module calls
        self._buffer += text.encode("utf-8")
        if len(self._buffer) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._out.write(self._buffer)
            self._hash.update(self._buffer)
            self.bytes_written += len(self._buffer)
            self._buffer.clear()

    def summary(self, count: int, total: int, currency: str | None) -> FileSummary:
        self.flush()
        return FileSummary(count, total, currency, self._hash.hexdigest(), self.bytes_written)


# ---------------------------------------------------------------------------------------------
# The two passes


def _opener(payments: PaymentSource) -> Callable[[], Iterator[FilePayment]]:
    if callable(payments):
        return lambda: iter(payments())
    if iter(payments) is payments:  # a generator or iterator: a second pass would see nothing
        raise TypeError(
            "payments must be re-iterable: pass a list or tuple, or a callable returning a "
            "fresh iterator (the file is written in two passes)"
        )
    return lambda: iter(payments)


class _Fingerprint:
    """What a pass read, so that the writing pass can prove it saw what the first pass checked."""

    def __init__(self) -> None:
        self._hash = hashlib.blake2b(digest_size=16)

    def add(self, payment: object) -> None:
        self._hash.update(repr(payment).encode("utf-8", "surrogatepass"))
        self._hash.update(b"\x00")

    def digest(self) -> bytes:
        return self._hash.digest()


@dataclass
class _Totals:
    count: int = 0
    total: int = 0
    currency: str | None = None


_Check = Callable[[FilePayment], list[str]]


def _first_pass(
    what: str,
    opener: Callable[[], Iterator[FilePayment]],
    check: _Check,
    *,
    problems: list[tuple[str, str]],
) -> tuple[_Totals, bytes]:
    """Validate every payment and add up the totals; raise before anything is written."""
    totals = _Totals()
    seen: set[int] = set()
    bad_ids: list[int] = []
    fingerprint = _Fingerprint()
    currencies: set[str] = set()
    for payment in opener():
        fingerprint.add(payment)
        if not isinstance(payment, FilePayment):
            problems.append(("batch", f"not a FilePayment: {type(payment).__name__}"))
            continue
        pid = payment.payout_id
        reasons = check(payment)
        if pid in seen:
            reasons.append("appears twice in the file")
        seen.add(pid)
        if reasons:
            problems.extend((f"payout {pid}", reason) for reason in reasons)
            bad_ids.append(pid)
            continue
        totals.count += 1
        totals.total += payment.amount_minor
        currencies.add(payment.currency)
    if len(currencies) > 1:  # a PayoutFile is one batch, rail and currency
        problems.append(("batch", f"one currency per file, got {', '.join(sorted(currencies))}"))
    if problems:
        raise PayoutFileError(what, problems, bad_ids)
    totals.currency = next(iter(currencies)) if currencies else None
    return totals, fingerprint.digest()


def _second_pass(
    what: str, opener: Callable[[], Iterator[FilePayment]], expected: bytes
) -> Iterator[FilePayment]:
    """Yield the payments again; refuse (after the fact) if they are not the ones checked."""
    fingerprint = _Fingerprint()
    for payment in opener():
        fingerprint.add(payment)
        yield payment
    if fingerprint.digest() != expected:
        raise PayoutFileError(
            what,
            [
                (
                    "batch",
                    "payments changed between the checking and the writing pass; "
                    "discard the output",
                )
            ],
            [],
        )


def _check_common(payment: FilePayment) -> list[str]:
    reasons = []
    pid = payment.payout_id
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        reasons.append(f"payout_id must be a positive integer, got {pid!r}")
    amount = payment.amount_minor
    if not isinstance(amount, int) or isinstance(amount, bool):
        reasons.append(f"amount must be an integer number of minor units, got {amount!r}")
    elif amount <= 0:
        reasons.append(f"amount must be greater than zero, got {amount}")
    try:
        exponent(payment.currency)
    except MoneyError:
        reasons.append(f"unknown currency {payment.currency!r}")
    return reasons


def _major(amount_minor: int, currency: str) -> str:
    """`1234, EUR` -> `12.34`; `1234, JPY` -> `1234`; exact (Decimal, no float)."""
    return f"{Money(amount_minor, currency).to_decimal():.{exponent(currency)}f}"


def end_to_end_id(payout_id: int) -> str:
    """Our reference for a payout on every rail: SEPA EndToEndId, PayPal Customer ID."""
    return f"CONNECT-{payout_id}"


def _default_reference(payment: FilePayment) -> str:
    return payment.reference.strip() or f"Connect payout {payment.payout_id}"


# ---------------------------------------------------------------------------------------------
# SEPA text: the EPC's basic Latin character set


_SEPA_ALLOWED = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ "
)
# Letters NFKD does not take apart.
_LATIN = {
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH",
    "ı": "i", "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T", "ŋ": "ng", "Ŋ": "NG", "ĸ": "k",
    "ſ": "s", "ƒ": "f", "Ƒ": "F",
}  # fmt: skip
# Cyrillic as in ICAO Doc 9303 (machine-readable passports), which is how banks in Russia,
# Ukraine and elsewhere spell their customers' names in Latin. Lower case; upper case derived.
# й and ё decompose under NFKD to и and е, which map to i and e as ICAO has them.
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z",
    "и": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
    "є": "ie", "і": "i", "ґ": "g", "ў": "u", "ђ": "d", "ј": "j", "љ": "lj", "њ": "nj",
    "ћ": "c", "џ": "dz", "ѕ": "dz",
}  # fmt: skip
_GREEK = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th",
    "ι": "i", "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p",
    "ρ": "r", "σ": "s", "ς": "s", "τ": "t", "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps",
    "ω": "o",
}  # fmt: skip
_SCRIPTS = _CYRILLIC | _GREEK
_PUNCTUATION = {
    "&": "+", "_": "-", "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-",
    "−": "-", "~": "-", "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "`": "'",
    "´": "'", '"': "'", "“": "'", "”": "'", "„": "'", "«": "'", "»": "'", "[": "(",
    "]": ")", "{": "(", "}": ")", "<": "(", ">": ")", ";": ",", "!": ".", "\\": "/",
    "|": "/", "⁄": "/",
}  # fmt: skip


_SEPA_TEXT = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]*")


def _script_letter(text: str, i: int, lower: str) -> str:
    latin = _SCRIPTS[lower]
    if text[i] == lower or not latin:
        return latin
    # An upper-case letter: all caps inside an all-caps word (ЖУК -> ZHUK), else Zh.
    neighbour = text[i + 1] if i + 1 < len(text) else ""
    if not neighbour.isalpha() and i > 0:
        neighbour = text[i - 1]
    return latin.upper() if neighbour.isalpha() and neighbour.isupper() else latin.capitalize()


def sepa_clean(text: str, max_length: int) -> str:
    """`text` in the SEPA character set (a-z A-Z 0-9 / - ? : ( ) . , ' + space), at most
    `max_length` characters: accents stripped, Cyrillic and Greek transliterated, common
    punctuation mapped, anything else (other scripts, symbols, control characters) dropped."""
    if _SEPA_TEXT.fullmatch(text):  # the common case: nothing to replace
        return " ".join(text.split())[:max_length].rstrip()
    decomposed = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    )
    for greek, latin in (("ου", "ou"), ("Ου", "Ou"), ("ΟΥ", "OU")):  # one sound, one letter
        decomposed = decomposed.replace(greek, latin)
    out: list[str] = []
    for i, char in enumerate(decomposed):
        if char in _SEPA_ALLOWED:
            out.append(char)
        elif char in _LATIN:
            out.append(_LATIN[char])
        elif char.lower() in _SCRIPTS:
            out.append(_script_letter(decomposed, i, char.lower()))
        else:
            out.append(_PUNCTUATION.get(char, " "))
    cleaned = " ".join("".join(out).split())
    return cleaned[:max_length].rstrip()


# Identifiers (MsgId, PmtInfId, InstrId, EndToEndId): the SEPA set without spaces, not starting
# or ending with "/", no "//" (EPC SCT implementation guidelines).
_SEPA_ID = re.compile(r"(?!/)(?!.*//)[A-Za-z0-9/\-?:().,'+]{1,35}(?<!/)")
# The pain.001.001.03 XSD's BICIdentifier; schwifty alone accepts a few codes the XSD does not.
_BIC_PATTERN = re.compile(r"[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?")
_COUNTRY = re.compile(r"[A-Z]{2}")
# The largest amount a SEPA credit transfer may carry: 999,999,999.99 EUR.
_SEPA_MAX_MINOR = 99_999_999_999


def sepa_instruction_id(idempotency_key: str) -> str:
    """The InstrId for a payout: its idempotency key when that is a valid SEPA identifier
    (at most 35 characters of the SEPA set, no spaces), else a stable 35-character digest."""
    if _SEPA_ID.fullmatch(idempotency_key):
        return idempotency_key
    return "K" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:34]


def _iban_problem(value: str) -> str | None:
    if not value.strip():
        return "no IBAN"
    try:
        IBAN(value)
    except ValueError as exc:
        return f"invalid IBAN {value!r} ({exc})"
    return None


def _bic_problem(value: str) -> str | None:
    if not value.strip():
        return None  # written as NOTPROVIDED
    try:
        compact = BIC(value).compact
    except ValueError as exc:
        return f"invalid BIC {value!r} ({exc})"
    if not _BIC_PATTERN.fullmatch(compact):
        return f"invalid BIC {value!r}"
    return None


def _country_problem(value: str, *, required: bool) -> str | None:
    if not value:
        return "no country" if required else None
    if not _COUNTRY.fullmatch(value) or pycountry.countries.get(alpha_2=value) is None:
        return f"invalid country {value!r} (ISO 3166 alpha-2 expected)"
    return None


def _has_name(text: str) -> bool:
    return any(c.isalnum() for c in sepa_clean(text, 70))


def _check_sepa(payment: FilePayment) -> list[str]:
    reasons = _check_common(payment)
    if payment.currency != "EUR":
        reasons.append(
            f"currency {payment.currency} is not EUR (SEPA credit transfers are in euro only)"
        )
    amount = payment.amount_minor
    if isinstance(amount, int) and amount > _SEPA_MAX_MINOR:
        reasons.append("amount exceeds 999,999,999.99 EUR")
    if not payment.idempotency_key:
        reasons.append("no idempotency key")
    if not _has_name(payment.creator_name):
        reasons.append(
            f"account holder name {payment.creator_name!r} has no letters or digits in the "
            "SEPA character set; a Latin-script name is needed"
        )
    for problem in (
        _iban_problem(payment.iban),
        _bic_problem(payment.bic),
        _country_problem(payment.country, required=False),
    ):
        if problem:
            reasons.append(problem)
    return reasons


def _check_debtor(debtor: Debtor) -> list[str]:
    reasons = []
    if not _has_name(debtor.name):
        reasons.append(f"name {debtor.name!r} has no letters or digits in the SEPA set")
    for problem in (
        _iban_problem(debtor.iban),
        _bic_problem(debtor.bic),
        _country_problem(debtor.country, required=True),
    ):
        if problem:
            reasons.append(problem)
    return reasons


def _agent(bic: str) -> str:
    if bic.strip():
        return f"<FinInstnId><BIC>{escape(BIC(bic).compact)}</BIC></FinInstnId>"
    return "<FinInstnId><Othr><Id>NOTPROVIDED</Id></Othr></FinInstnId>"


def _address(country: str) -> str:
    return f"<PstlAdr><Ctry>{escape(country)}</Ctry></PstlAdr>" if country else ""


def _transaction(payment: FilePayment) -> str:
    """One CdtTrfTxInf element, indented to sit inside PmtInf. Every value written is either
    validated (IBAN, BIC, country, ids) or cleaned to the SEPA set; escaping is belt and braces."""
    name = sepa_clean(payment.creator_name, 70)
    remittance = sepa_clean(_default_reference(payment), 140)
    rmt = f"<RmtInf><Ustrd>{escape(remittance)}</Ustrd></RmtInf>" if remittance else ""
    return (
        "<CdtTrfTxInf>"
        "<PmtId>"
        f"<InstrId>{escape(sepa_instruction_id(payment.idempotency_key))}</InstrId>"
        f"<EndToEndId>{escape(end_to_end_id(payment.payout_id))}</EndToEndId>"
        "</PmtId>"
        f'<Amt><InstdAmt Ccy="EUR">{_major(payment.amount_minor, "EUR")}</InstdAmt></Amt>'
        f"<CdtrAgt>{_agent(payment.bic)}</CdtrAgt>"
        f"<Cdtr><Nm>{escape(name)}</Nm>{_address(payment.country)}</Cdtr>"
        f"<CdtrAcct><Id><IBAN>{escape(IBAN(payment.iban).compact)}</IBAN></Id></CdtrAcct>"
        f"{rmt}"
        "</CdtTrfTxInf>\n"
    )


_PAIN_NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"


def sepa_pain001(
    batch_ref: str,
    created_at: datetime,
    execution_date: date,
    debtor: Debtor,
    payments: PaymentSource,
    out: BinaryIO,
) -> FileSummary:
    """Write a SEPA Credit Transfer initiation (ISO 20022 pain.001.001.03) to `out`.

    One PmtInf (batch booking, SEPA service level, charges SLEV) debiting `debtor`'s account on
    `execution_date`, one CdtTrfTxInf per payment. `batch_ref` is the MsgId and PmtInfId (at most
    35 characters of the SEPA set, no spaces); `created_at` must be timezone-aware and is written
    in UTC. EUR only. `payments` must be re-iterable (see the module docstring); every problem
    (non-EUR, amount not positive, bad IBAN or BIC, unwritable name, duplicate payout) is
    reported in one `PayoutFileError` before anything is written.
    """
    what = f"SEPA file {batch_ref!r}"
    problems: list[tuple[str, str]] = []
    if not isinstance(batch_ref, str) or not _SEPA_ID.fullmatch(batch_ref):
        problems.append(
            ("batch", "batch_ref must be 1-35 characters of a-z A-Z 0-9 / - ? : ( ) . , ' +")
        )
    if created_at.tzinfo is None or created_at.utcoffset() is None:
        problems.append(("batch", "created_at must be timezone-aware"))
    if isinstance(execution_date, datetime) or not isinstance(execution_date, date):
        problems.append(("batch", "execution_date must be a date"))
    problems.extend(("debtor", reason) for reason in _check_debtor(debtor))
    opener = _opener(payments)
    totals, fingerprint = _first_pass(what, opener, _check_sepa, problems=problems)
    if totals.count == 0:
        raise PayoutFileError(what, [("batch", "no payments")], [])

    sink = _Sink(out)
    count, ctrl_sum = str(totals.count), _major(totals.total, "EUR")
    created = created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    msg_id = escape(batch_ref)
    debtor_name = escape(sepa_clean(debtor.name, 70))
    sink.write(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{_PAIN_NS}">\n'
        "<CstmrCdtTrfInitn>\n"
        f"<GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{created}</CreDtTm>"
        f"<NbOfTxs>{count}</NbOfTxs><CtrlSum>{ctrl_sum}</CtrlSum>"
        f"<InitgPty><Nm>{debtor_name}</Nm></InitgPty></GrpHdr>\n"
        "<PmtInf>\n"
        f"<PmtInfId>{msg_id}</PmtInfId><PmtMtd>TRF</PmtMtd><BtchBookg>true</BtchBookg>"
        f"<NbOfTxs>{count}</NbOfTxs><CtrlSum>{ctrl_sum}</CtrlSum>"
        "<PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl></PmtTpInf>"
        f"<ReqdExctnDt>{execution_date.isoformat()}</ReqdExctnDt>\n"
        f"<Dbtr><Nm>{debtor_name}</Nm>{_address(debtor.country)}</Dbtr>"
        f"<DbtrAcct><Id><IBAN>{escape(IBAN(debtor.iban).compact)}</IBAN></Id>"
        "<Ccy>EUR</Ccy></DbtrAcct>"
        f"<DbtrAgt>{_agent(debtor.bic)}</DbtrAgt><ChrgBr>SLEV</ChrgBr>\n"
    )
    for payment in _second_pass(what, opener, fingerprint):
        sink.write(_transaction(payment))
    sink.write("</PmtInf>\n</CstmrCdtTrfInitn>\n</Document>\n")
    return sink.summary(totals.count, totals.total, "EUR")


# ---------------------------------------------------------------------------------------------
# CSV


def _csv_writer(sink: _Sink):  # -> csv writer (its type is private in 3.11)
    # RFC 4180: comma, double quotes only where needed, CRLF line ends.
    return csv.writer(sink, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)


# PayPal Payouts Web (the CSV upload in the business account), as documented by PayPal at
# https://developer.paypal.com/payouts/use-payouts/send-money/use-web-ui (also
# https://developer.paypal.com/docs/payouts/standard/payouts-web/): no header row; one row per
# payout with, in order, the recipient identifier (PayPal email), the amount, the three-letter
# currency, a Customer ID (optional, at most 30 characters, no spaces), a note to the recipient
# (at most 400 characters) and the recipient wallet (PAYPAL). One currency per file, at most
# 5,000 rows. HUF, JPY and TWD take no decimals (PayPal's currency codes page).
PAYPAL_MAX_ROWS = 5000
_PAYPAL_NO_DECIMALS = frozenset({"HUF", "JPY", "TWD"})
_EMAIL = re.compile(r"[^@\s,;\"'<>()\[\]\\]+@[^@\s,;\"'<>()\[\]\\]+\.[A-Za-z0-9-]{2,}")


def _paypal_amount(amount_minor: int, currency: str, decimal_separator: str) -> str:
    if currency in _PAYPAL_NO_DECIMALS:
        return str(amount_minor // 10 ** exponent(currency))
    return _major(amount_minor, currency).replace(".", decimal_separator)


def _check_paypal(payment: FilePayment) -> list[str]:
    reasons = _check_common(payment)
    email = payment.paypal_email
    if not email:
        reasons.append("no PayPal email")
    elif not _EMAIL.fullmatch(email) or email[0] in "=+-@":
        reasons.append(f"invalid PayPal email {email!r}")
    amount = payment.amount_minor
    if (
        payment.currency in _PAYPAL_NO_DECIMALS
        and isinstance(amount, int)
        and amount % 10 ** exponent(payment.currency)
    ):
        reasons.append(f"PayPal pays {payment.currency} in whole units only")
    return reasons


def paypal_payouts_csv(
    batch_ref: str,
    payments: PaymentSource,
    out: BinaryIO,
    *,
    decimal_separator: str = ".",
) -> FileSummary:
    """Write a PayPal Payouts Web upload file (see the format note above) to `out`.

    Columns: email, amount in major units (PayPal wants the sending account's locale:
    `decimal_separator=","` for accounts that write 5,45; such amounts are quoted), currency,
    Customer ID (`CONNECT-<payout id>`), note (the payment's reference, default
    "Connect payout <id>"), PAYPAL. One currency, 1 to 5,000 payments; `payments` must be
    re-iterable. `batch_ref` only names the file in errors: the format has no batch field.
    """
    what = f"PayPal file {batch_ref!r}"
    if decimal_separator not in (".", ","):
        raise ValueError("decimal_separator must be '.' or ','")
    opener = _opener(payments)
    totals, fingerprint = _first_pass(what, opener, _check_paypal, problems=[])
    if totals.count == 0:
        raise PayoutFileError(what, [("batch", "no payments")], [])
    if totals.count > PAYPAL_MAX_ROWS:
        raise PayoutFileError(
            what, [("batch", f"{totals.count} payments; PayPal takes {PAYPAL_MAX_ROWS} a file")], []
        )
    sink = _Sink(out)
    writer = _csv_writer(sink)
    for p in _second_pass(what, opener, fingerprint):
        writer.writerow(
            (
                p.paypal_email,
                _paypal_amount(p.amount_minor, p.currency, decimal_separator),
                p.currency,
                end_to_end_id(p.payout_id),
                _text_cell(_default_reference(p))[:400],
                "PAYPAL",
            )
        )
    return sink.summary(totals.count, totals.total, totals.currency)


PLAIN_CSV_HEADER = (
    "payout_id",
    "reference",
    "creator_name",
    "country",
    "currency",
    "amount",
    "iban",
    "bic",
    "paypal_email",
)


def plain_csv(batch_ref: str, payments: PaymentSource, out: BinaryIO) -> FileSummary:
    """Write a plain CSV for any other rail: a header row (`PLAIN_CSV_HEADER`), then one row per
    payment, the amount in major units with the currency's exponent. Every text cell is guarded
    against formula injection. One currency per file; an empty input gives a header-only file
    (summary currency None). `payments` must be re-iterable."""
    what = f"CSV file {batch_ref!r}"
    opener = _opener(payments)
    totals, fingerprint = _first_pass(what, opener, _check_common, problems=[])
    sink = _Sink(out)
    writer = _csv_writer(sink)
    writer.writerow(PLAIN_CSV_HEADER)
    for p in _second_pass(what, opener, fingerprint):
        writer.writerow(
            (
                str(p.payout_id),
                _text_cell(_default_reference(p)),
                _text_cell(p.creator_name),
                _text_cell(p.country),
                p.currency,
                _major(p.amount_minor, p.currency),
                _text_cell(p.iban),
                _text_cell(p.bic),
                _text_cell(p.paypal_email),
            )
        )
    return sink.summary(totals.count, totals.total, totals.currency)
