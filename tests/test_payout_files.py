# ruff: noqa: RUF001 -- the names under test are made of look-alike letters on purpose.
"""Payout files (connect.payouts.files): SEPA pain.001, PayPal Payouts CSV, plain CSV.

Pure functions: no database, no app. SEPA files are validated against the ISO 20022 schema in
tests/data/pain.001.001.03.xsd (provenance in tests/data/README.md).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from connect.payouts.files import (
    PLAIN_CSV_HEADER,
    Debtor,
    FilePayment,
    FileSummary,
    PayoutFileError,
    paypal_payouts_csv,
    plain_csv,
    sepa_clean,
    sepa_instruction_id,
    sepa_pain001,
)

DATA = Path(__file__).parent / "data"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
SEPA_CHARS = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]*")

DEBTOR = Debtor("Connect Platform GmbH", "DE89370400440532013000", "COBADEFFXXX", "DE")
CREATED = datetime(2026, 11, 30, 9, 15, 0, tzinfo=UTC)
EXECUTION = date(2026, 12, 1)
# Valid IBANs (mod-97) from the banks' and registries' published examples.
IBANS = (
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "ES9121000418450200051332",
    "AT611904300234573201",
)


def eur(pid: int, amount: int, **fields: str) -> FilePayment:
    base = {
        "creator_name": f"Creator {pid}",
        "iban": IBANS[pid % len(IBANS)],
        "reference": f"Connect payout 2026-11 #{pid}",
    }
    return FilePayment(pid, f"payout:{pid}:2026-11", amount_minor=amount, currency="EUR",
                       **(base | fields))  # fmt: skip


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(DATA / "pain.001.001.03.xsd")))


def write_sepa(payments: object, **kwargs: object) -> tuple[bytes, FileSummary]:
    out = io.BytesIO()
    args = {"batch_ref": "CNX-2026-11-0001", "created_at": CREATED,
            "execution_date": EXECUTION, "debtor": DEBTOR} | kwargs  # fmt: skip
    summary = sepa_pain001(payments=payments, out=out, **args)  # type: ignore[arg-type]
    return out.getvalue(), summary


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


def texts(root: etree._Element, path: str) -> list[str]:
    return [e.text for e in root.findall(path, NS)]


# ---------------------------------------------------------------------------------------------
# SEPA pain.001.001.03


def test_multi_payment_file_validates_and_adds_up(schema: etree.XMLSchema) -> None:
    payments = [
        eur(1, 12_345, bic="COBADEFFXXX", country="DE"),
        eur(2, 1),
        eur(3, 99_999_999_999, bic="BNPAFRPP", country="FR"),
        eur(4, 10_000, creator_name="Anne-Marie O'Neil & Co", reference="a <b> & 'c'"),
    ]
    data, summary = write_sepa(payments)
    root = parse(data)
    schema.assertValid(root)

    amounts = [Decimal(a) for a in texts(root, ".//p:CdtTrfTxInf/p:Amt/p:InstdAmt")]
    assert amounts == [Decimal("123.45"), Decimal("0.01"), Decimal("999999999.99"), Decimal(100)]
    assert all(re.fullmatch(r"\d+\.\d\d", a) for a in texts(root, ".//p:InstdAmt"))
    ctrl_sums = texts(root, ".//p:GrpHdr/p:CtrlSum") + texts(root, ".//p:PmtInf/p:CtrlSum")
    assert ctrl_sums == ["1000000223.45"] * 2
    assert Decimal(ctrl_sums[0]) == sum(amounts)
    assert texts(root, ".//p:GrpHdr/p:NbOfTxs") == texts(root, ".//p:PmtInf/p:NbOfTxs") == ["4"]
    assert summary.count == 4 and summary.currency == "EUR"
    assert summary.total_minor == 100_000_022_345
    assert Decimal(summary.total_minor).scaleb(-2) == Decimal(ctrl_sums[0])

    assert texts(root, ".//p:GrpHdr/p:MsgId") == ["CNX-2026-11-0001"]
    assert texts(root, ".//p:GrpHdr/p:CreDtTm") == ["2026-11-30T09:15:00Z"]
    assert texts(root, ".//p:PmtInf/p:PmtMtd") == ["TRF"]
    assert texts(root, ".//p:PmtInf/p:BtchBookg") == ["true"]
    assert texts(root, ".//p:PmtTpInf/p:SvcLvl/p:Cd") == ["SEPA"]
    assert texts(root, ".//p:ReqdExctnDt") == ["2026-12-01"]
    assert texts(root, ".//p:ChrgBr") == ["SLEV"]
    assert texts(root, ".//p:DbtrAcct/p:Id/p:IBAN") == ["DE89370400440532013000"]
    assert texts(root, ".//p:DbtrAgt/p:FinInstnId/p:BIC") == ["COBADEFFXXX"]
    assert root.find(".//p:InstdAmt", NS).get("Ccy") == "EUR"
    assert texts(root, ".//p:CdtTrfTxInf/p:CdtrAgt/p:FinInstnId/p:BIC") == [
        "COBADEFFXXX",
        "BNPAFRPP",
    ]
    assert texts(root, ".//p:CdtrAgt/p:FinInstnId/p:Othr/p:Id") == ["NOTPROVIDED"] * 2
    assert texts(root, ".//p:CdtTrfTxInf/p:PmtId/p:InstrId") == [
        f"payout:{i}:2026-11" for i in (1, 2, 3, 4)
    ]
    assert texts(root, ".//p:EndToEndId") == [f"CONNECT-{i}" for i in (1, 2, 3, 4)]
    assert texts(root, ".//p:Cdtr/p:Nm")[3] == "Anne-Marie O'Neil + Co"
    assert texts(root, ".//p:RmtInf/p:Ustrd")[0] == "Connect payout 2026-11 1"
    assert texts(root, ".//p:RmtInf/p:Ustrd")[3] == "a (b) + 'c'"
    assert texts(root, ".//p:Cdtr/p:PstlAdr/p:Ctry") == ["DE", "FR"]

    assert summary.sha256 == hashlib.sha256(data).hexdigest()
    assert summary.bytes_written == len(data)


def test_sepa_file_matches_the_golden_sample(schema: etree.XMLSchema) -> None:
    payments = [
        eur(101, 4_250, bic="COBADEFFXXX", country="DE", creator_name="Jürgen Groß"),
        eur(102, 19_999, creator_name="Łukasz Wóźniak", country="PL"),
        eur(103, 700, creator_name="Алексей Щукин", reference=""),
    ]
    data, _ = write_sepa(payments)
    golden = DATA / "pain001-sample.xml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_bytes(data)
    schema.assertValid(parse(golden.read_bytes()))
    assert data == golden.read_bytes()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Łukasz Wóźniak", "Lukasz Wozniak"),
        ("Jürgen Groß", "Jurgen Gross"),
        ("Søren Kierkegaard-Æbelø", "Soren Kierkegaard-AEbelo"),
        ("François Müller-Lüdenscheidt", "Francois Muller-Ludenscheidt"),
        ("Алексей Щукин", "Aleksei Shchukin"),
        ("ЖУКОВА Юлия", "ZHUKOVA Iuliia"),
        ("Ольга Кузьмина", "Olga Kuzmina"),
        ("Олександр Ґудзь", "Oleksandr Gudz"),
        ("Γιώργος Παπαδόπουλος", "Giorgos Papadopoulos"),
        ("O’Brien – “The Boss”", "O'Brien - 'The Boss'"),
        ("Tanaka 太郎", "Tanaka"),
        ("  many \t spaces\nand\x00controls ", "many spaces and controls"),
        ("ﬁne ½ ™", "fine 1/2 TM"),
        ("a_b&c#d@e", "a-b+c d e"),
    ],
)
def test_sepa_clean_transliterates_to_the_sepa_character_set(raw: str, clean: str) -> None:
    assert sepa_clean(raw, 70) == clean
    assert SEPA_CHARS.fullmatch(clean)


def test_sepa_clean_truncates() -> None:
    assert sepa_clean("x" * 69 + " yz", 70) == "x" * 69
    assert len(sepa_clean("Щ" * 100, 70)) == 70


def test_foreign_script_names_are_cleaned_and_still_validate(schema: etree.XMLSchema) -> None:
    names = [
        "Łukasz Wóźniak",
        "Алексей Щукин",
        "Ελένη Παπαδοπούλου",
        "Zoë Ørsted-Šťastná",
        "Mehmet Yılmaz",
        "Nguyễn Thị Minh Khai",
        "Ƒrançoise «la Grande» d’Arc" + " très longue" * 10,
    ]
    payments = [eur(i, 1_000 + i, creator_name=n) for i, n in enumerate(names, 1)]
    payments.append(eur(99, 500, reference="Выплата Connect " * 20))
    data, _ = write_sepa(payments)
    root = parse(data)
    schema.assertValid(root)
    written = texts(root, ".//p:Cdtr/p:Nm")
    assert written[:6] == [
        "Lukasz Wozniak",
        "Aleksei Shchukin",
        "Eleni Papadopoulou",
        "Zoe Orsted-Stastna",
        "Mehmet Yilmaz",
        "Nguyen Thi Minh Khai",
    ]
    assert all(SEPA_CHARS.fullmatch(n) and 0 < len(n) <= 70 for n in written)
    assert len(written[6]) <= 70 and written[6].startswith("Francoise 'la Grande' d'Arc tres")
    ustrd = texts(root, ".//p:Ustrd")
    assert all(SEPA_CHARS.fullmatch(u) and len(u) <= 140 for u in ustrd)
    assert ustrd[-1].startswith("Vyplata Connect Vyplata")
    data.decode("ascii")  # nothing outside the SEPA set made it into the file


def refused(payments: object, **kwargs: object) -> PayoutFileError:
    out = io.BytesIO()
    args = {"batch_ref": "CNX-1", "created_at": CREATED, "execution_date": EXECUTION,
            "debtor": DEBTOR} | kwargs  # fmt: skip
    with pytest.raises(PayoutFileError) as info:
        sepa_pain001(payments=payments, out=out, **args)  # type: ignore[arg-type]
    assert out.getvalue() == b"", "nothing may be written when a file is refused"
    return info.value


def test_non_eur_bad_iban_and_non_positive_amounts_are_refused_before_writing() -> None:
    error = refused(
        [
            eur(1, 1_000),
            FilePayment(2, "k2", "Dollar Creator", 1_000, "USD", iban=IBANS[0]),
            eur(3, 1_000, iban="DE89370400440532013001"),  # checksum off by one
            eur(4, 0),
            eur(5, -100),
            eur(6, 1_000, iban=""),
            eur(7, 1_000, bic="NOTABIC"),
            eur(8, 1_000, bic="COBADE0F"),  # schwifty takes it, the XSD's pattern does not
            eur(9, 1_000, creator_name="山田 太郎"),  # nothing left in the SEPA set
            eur(10, 1_000, country="XX"),
            eur(1, 2_000),  # payout 1 twice
        ]
    )
    assert isinstance(error, ValueError)
    assert error.payout_ids == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    message = str(error)
    assert "bad payout ids: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10" in message
    assert "currency USD is not EUR" in message
    assert "invalid IBAN 'DE89370400440532013001'" in message
    assert "amount must be greater than zero, got 0" in message
    assert "appears twice" in message
    reasons = dict(error.problems)
    assert "no IBAN" in reasons["payout 6"]
    assert "invalid BIC" in reasons["payout 8"]
    assert "Latin-script name" in reasons["payout 9"]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"debtor": Debtor("Connect", "DE00370400440532013000", "COBADEFF", "DE")}, "IBAN"),
        ({"debtor": Debtor("Connect", IBANS[0], "COBADEFF", "")}, "no country"),
        ({"debtor": Debtor("---", IBANS[0], "", "DE")}, "name"),
        ({"batch_ref": "B" * 36}, "batch_ref"),
        ({"batch_ref": "has space"}, "batch_ref"),
        ({"batch_ref": "/leading"}, "batch_ref"),
        ({"created_at": datetime(2026, 11, 30, 9, 0)}, "timezone-aware"),  # noqa: DTZ001
        ({"execution_date": CREATED}, "must be a date"),
    ],
)
def test_batch_and_debtor_problems_are_refused(kwargs: dict[str, object], reason: str) -> None:
    assert reason in str(refused([eur(1, 100)], **kwargs))


def test_an_empty_sepa_file_is_refused() -> None:
    assert "no payments" in str(refused([]))


def test_payments_must_be_re_iterable() -> None:
    with pytest.raises(TypeError, match="re-iterable"):
        write_sepa(eur(i, 100) for i in (1, 2))


def test_a_callable_source_is_read_twice() -> None:
    calls = []

    def source() -> Iterator[FilePayment]:
        calls.append(1)
        return (eur(i, 100) for i in (1, 2, 3))

    _, summary = write_sepa(source)
    assert (summary.count, summary.total_minor, len(calls)) == (3, 300, 2)


def test_a_source_that_changes_between_passes_is_caught() -> None:
    rounds = iter([[eur(1, 100), eur(2, 200)], [eur(1, 100), eur(2, 201)]])
    with pytest.raises(PayoutFileError, match="changed between"):
        write_sepa(lambda: next(rounds))


def test_long_idempotency_keys_become_stable_35_character_instruction_ids() -> None:
    key = "payout/2026-11/creator-00001234/currency-EUR/attempt-1"
    assert sepa_instruction_id("payout:1:2026-11") == "payout:1:2026-11"
    derived = sepa_instruction_id(key)
    assert len(derived) == 35 and derived == sepa_instruction_id(key)
    assert derived != sepa_instruction_id(key + "x")
    assert len(sepa_instruction_id("with space")) == 35
    data, _ = write_sepa([FilePayment(1, key, "A Creator", 100, "EUR", iban=IBANS[0])])
    assert f"<InstrId>{derived}</InstrId>".encode() in data


def test_created_at_is_written_in_utc() -> None:
    cet = timezone(timedelta(hours=1))
    data, _ = write_sepa([eur(1, 100)], created_at=datetime(2026, 11, 30, 10, 15, tzinfo=cet))
    assert b"<CreDtTm>2026-11-30T09:15:00Z</CreDtTm>" in data


class CountingFile(io.RawIOBase):
    """A write-only binary file on disk that records how much each write carried."""

    def __init__(self, target: io.BufferedRandom) -> None:
        self.target = target
        self.writes: list[int] = []

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        chunk = bytes(data)  # type: ignore[call-overload]
        self.writes.append(len(chunk))
        return self.target.write(chunk)


def lazy_source(n: int) -> Callable[[], Iterator[FilePayment]]:
    """n payments made on the fly, so that the input takes no memory of its own."""

    def payments() -> Iterator[FilePayment]:
        for i in range(1, n + 1):
            yield eur(i, 1_000 + i, creator_name=f"Łukasz Wóźniak {i}", country="PL",
                      bic="COBADEFFXXX" if i % 2 else "")  # fmt: skip

    return payments


def test_ten_thousand_payments_stream_with_bounded_memory(schema: etree.XMLSchema) -> None:
    n = 10_000
    write_sepa(lazy_source(3))  # warm up: imports, schwifty's registry, regex caches
    with tempfile.TemporaryFile() as target:
        out = CountingFile(target)
        tracemalloc.start()
        started = time.perf_counter()
        summary = sepa_pain001("CNX-BIG", CREATED, EXECUTION, DEBTOR, lazy_source(n), out)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(  # shown with -s; the figures reported for the file generators
            f"\n10,000-payment pain.001: {summary.bytes_written / 1e6:.2f} MB written in "
            f"{len(out.writes)} writes (largest {max(out.writes) / 1024:.0f} KiB), "
            f"{elapsed:.2f} s under tracemalloc, peak traced memory {peak / 1024:.0f} KiB"
        )
        target.seek(0)
        data = target.read()

    assert summary.count == n
    assert summary.total_minor == sum(1_000 + i for i in range(1, n + 1))
    assert summary.sha256 == hashlib.sha256(data).hexdigest() and summary.bytes_written == len(data)
    # Streamed: many writes of at most one 64 KiB chunk plus one transaction, and a peak far
    # below the 4+ MB document (what remains is one int per payment to refuse duplicates).
    assert len(out.writes) > 50 and max(out.writes) < 70 * 1024
    assert peak < 2 * 1024 * 1024 < len(data) / 2
    root = etree.fromstring(data, etree.XMLParser(huge_tree=False, no_network=True))
    schema.assertValid(root)
    assert Decimal(root.find(".//p:GrpHdr/p:CtrlSum", NS).text) == Decimal(
        summary.total_minor
    ).scaleb(-2)


# ---------------------------------------------------------------------------------------------
# PayPal Payouts CSV


def paypal(pid: int, amount: int, currency: str = "EUR", **fields: str) -> FilePayment:
    return FilePayment(pid, f"payout:{pid}", f"Creator {pid}", amount, currency,
                       paypal_email=fields.pop("paypal_email", f"c{pid}@example.com"),
                       **fields)  # fmt: skip


def write_paypal(payments: object, **kwargs: str) -> tuple[bytes, FileSummary]:
    out = io.BytesIO()
    summary = paypal_payouts_csv("PP-1", payments, out, **kwargs)  # type: ignore[arg-type]
    return out.getvalue(), summary


def test_paypal_csv_exact_bytes() -> None:
    data, summary = write_paypal(
        [
            paypal(1, 12_345, reference="Connect payout 2026-11 #1"),
            paypal(2, 5, reference='Thanks, "star" creator'),
            paypal(3, 100_000),
        ]
    )
    assert data == (
        b"c1@example.com,123.45,EUR,CONNECT-1,Connect payout 2026-11 #1,PAYPAL\r\n"
        b'c2@example.com,0.05,EUR,CONNECT-2,"Thanks, ""star"" creator",PAYPAL\r\n'
        b"c3@example.com,1000.00,EUR,CONNECT-3,Connect payout 3,PAYPAL\r\n"
    )
    assert summary == FileSummary(3, 112_350, "EUR", hashlib.sha256(data).hexdigest(), len(data))


def test_paypal_csv_whole_unit_currencies_and_decimal_comma() -> None:
    data, summary = write_paypal([paypal(1, 1_500, "JPY"), paypal(2, 3, "JPY")])
    assert data == (
        b"c1@example.com,1500,JPY,CONNECT-1,Connect payout 1,PAYPAL\r\n"
        b"c2@example.com,3,JPY,CONNECT-2,Connect payout 2,PAYPAL\r\n"
    )
    assert (summary.total_minor, summary.currency) == (1_503, "JPY")
    # HUF and TWD have two ISO decimals, but PayPal pays them in whole units.
    data, _ = write_paypal([paypal(1, 150_000, "HUF")])
    assert data.startswith(b"c1@example.com,1500,HUF,")
    data, _ = write_paypal([paypal(1, 10_050)], decimal_separator=",")
    assert data.startswith(b'c1@example.com,"100,50",EUR,')


def test_paypal_csv_guards_against_formula_injection() -> None:
    data, _ = write_paypal([paypal(1, 100, reference='=HYPERLINK("http://x","win")')])
    row = next(csv.reader(io.StringIO(data.decode())))
    assert row[4] == '\'=HYPERLINK("http://x","win")'


@pytest.mark.parametrize(
    ("payments", "reason"),
    [
        ([paypal(1, 100, paypal_email="")], "no PayPal email"),
        ([paypal(1, 100, paypal_email="not-an-email")], "invalid PayPal email"),
        ([paypal(1, 100, paypal_email="=cmd@example.com")], "invalid PayPal email"),
        ([paypal(1, 0)], "greater than zero"),
        ([paypal(1, 150_050, "HUF")], "whole units"),
        ([paypal(1, 100), paypal(2, 100, "USD")], "one currency per file"),
        ([paypal(1, 100, "XYZ")], "unknown currency"),
        ([paypal(1, 100), paypal(1, 100)], "appears twice"),
        ([], "no payments"),
        ([paypal(i, 100) for i in range(1, 5_002)], "5000 a file"),
    ],
)
def test_paypal_csv_refusals_write_nothing(payments: list[FilePayment], reason: str) -> None:
    out = io.BytesIO()
    with pytest.raises(PayoutFileError, match=reason):
        paypal_payouts_csv("PP-1", payments, out)
    assert out.getvalue() == b""


# ---------------------------------------------------------------------------------------------
# Plain CSV


def test_plain_csv_exact_bytes() -> None:
    payments = [
        FilePayment(7, "k7", "Jürgen Groß", 123_456, "EUR", iban="DE89370400440532013000",
                    bic="COBADEFFXXX", country="DE", reference="Connect payout 2026-11 #7"),
        FilePayment(8, "k8", "Smith, Anna", 5, "EUR", paypal_email="anna@example.com",
                    country="GB"),
    ]  # fmt: skip
    out = io.BytesIO()
    summary = plain_csv("CSV-1", payments, out)
    data = out.getvalue()
    assert (
        data
        == (
            "payout_id,reference,creator_name,country,currency,amount,iban,bic,paypal_email\r\n"
            "7,Connect payout 2026-11 #7,Jürgen Groß,DE,EUR,1234.56,DE89370400440532013000,"
            "COBADEFFXXX,\r\n"
            '8,Connect payout 8,"Smith, Anna",GB,EUR,0.05,,,anna@example.com\r\n'
        ).encode()
    )
    assert summary == FileSummary(2, 123_461, "EUR", hashlib.sha256(data).hexdigest(), len(data))


def test_plain_csv_uses_each_currency_exponent() -> None:
    for currency, minor, major in (("JPY", 1_500, "1500"), ("KWD", 1_234, "1.234")):
        out = io.BytesIO()
        plain_csv("CSV-1", [FilePayment(1, "k", "A", minor, currency)], out)
        row = list(csv.reader(io.StringIO(out.getvalue().decode())))[1]
        assert (row[4], row[5]) == (currency, major)


def test_plain_csv_guards_against_formula_injection() -> None:
    names = ["=1+1", "+33 6 12", "-2", "@SUM(A1)", "\t=cmd", "\r=cmd", "  =1", "Anna = Bob"]
    payments = [FilePayment(i, f"k{i}", n, 100, "EUR") for i, n in enumerate(names, 1)]
    out = io.BytesIO()
    plain_csv("CSV-1", payments, out)
    rows = list(csv.reader(io.StringIO(out.getvalue().decode(), newline="")))
    assert rows[0] == list(PLAIN_CSV_HEADER)
    written = [r[2] for r in rows[1:]]
    assert written == ["'=1+1", "'+33 6 12", "'-2", "'@SUM(A1)", "' =cmd", "' =cmd", "'  =1",
                       "Anna = Bob"]  # fmt: skip
    assert len(rows) == len(names) + 1  # control characters never split a row


def test_plain_csv_empty_and_refusals() -> None:
    out = io.BytesIO()
    summary = plain_csv("CSV-1", [], out)
    assert out.getvalue() == (",".join(PLAIN_CSV_HEADER) + "\r\n").encode()
    assert (summary.count, summary.total_minor, summary.currency) == (0, 0, None)
    assert summary.sha256 == hashlib.sha256(out.getvalue()).hexdigest()
    for payments, reason in (
        ([FilePayment(1, "k", "A", 0, "EUR")], "greater than zero"),
        ([FilePayment(1, "k", "A", 1, "EUR"), FilePayment(2, "k2", "B", 1, "GBP")], "one cur"),
    ):
        out = io.BytesIO()
        with pytest.raises(PayoutFileError, match=reason):
            plain_csv("CSV-1", payments, out)
        assert out.getvalue() == b""
