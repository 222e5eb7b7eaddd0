"""Statements read from the ledger: a creator's monthly statement and finance's ledger export.

Read-only and set-based: a statement costs one grouped query for the opening balances, one
query for the month's movements and one batched look-up of the order references; the export
is a single query streamed in partitions. Functions take the session and explicit arguments
(periods as aware UTC datetimes) and never flush or commit.

A creator's money sits in four credit-normal accounts (pending, held, approved, in flight), so
what the platform owes in each state is minus the entry sum. Every movement line of a
statement is one journal, with its effect on each state; a move between states (a hold
released, a commission approved, a payout scheduled) changes the states but not the total.
For every currency and state, opening + movements = closing.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from connect.conversions.models import Commission, Order, OrderLine
from connect.core.money import exponent, is_currency
from connect.core.spreadsheets import safe_cell as text_cell
from connect.ledger.models import AccountKind, Journal, LedgerAccount, LedgerEntry

#: The states of a creator's money, in statement column order.
STATES = ("pending", "held", "approved", "in_flight")
STATE_OF_KIND: dict[AccountKind, str] = {
    AccountKind.CREATOR_PENDING: "pending",
    AccountKind.CREATOR_HELD: "held",
    AccountKind.CREATOR_APPROVED: "approved",
    AccountKind.CREATOR_IN_FLIGHT: "in_flight",
}
CREATOR_KINDS = tuple(STATE_OF_KIND)

#: Movement types, by the journal kinds that post them (see conversions and payouts services).
MOVEMENT_TYPES = (
    "earned",  # commission accrued to pending
    "held",  # commission accrued to held (review)
    "released",  # held -> pending
    "rejected",  # held -> gone
    "approved",  # pending -> approved
    "reversal",  # a refund reversed (part of) a commission
    "payout_scheduled",  # approved -> in flight (in a payout batch)
    "payout",  # the money left the platform
    "payout_returned",  # in flight -> approved (failed or cancelled before paying)
    "payout_reversed",  # a paid payout came back -> approved
    "task_fee",  # a paid content task's fee, approved by the brand (connect.bounties)
    "adjustment",  # any other journal
)
_TYPE_OF_JOURNAL_KIND = {
    "release": "released",
    "rejection": "rejected",
    "approval": "approved",
    "reversal": "reversal",
    "payout": "payout",
    "payout_reserve": "payout_scheduled",
    "payout_paid": "payout",
    "payout_returned": "payout_returned",
    "payout_reversed": "payout_reversed",
    "task_fee": "task_fee",
}

_LINE_KEY = re.compile(r"^(?:accrue|reverse):line:(\d+)(?::\d+)?$")
_COMMISSION_KEY = re.compile(r"^(?:approve|release|reject):commission:(\d+)$")
_PAYOUT_KEY = re.compile(r"^payout:(\d+):[a-z]+$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID_CHUNK = 5000
MAX_EXPORT_DAYS = 366


class StatementError(ValueError):
    """Parameters the rules refuse; the message is safe to show (a lazy string, translated when
    the view turns it into text)."""

    def __init__(self, message: object) -> None:
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


# --- periods ---------------------------------------------------------------------------------


def parse_month(text: str) -> datetime | None:
    """The first instant (UTC) of the month named `YYYY-MM`, or None if it is not one."""
    match = _MONTH.match(text)
    if not match:
        return None
    try:
        return datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
    except ValueError:
        return None


def next_month(start: datetime) -> datetime:
    return (start.replace(day=1) + timedelta(days=32)).replace(day=1)


def month_bounds(start: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the UTC month that begins at `start`."""
    return start, next_month(start)


# --- amounts ---------------------------------------------------------------------------------


def decimal_string(amount_minor: int, currency: str) -> str:
    """`-12.34`: minor units as a locale-free decimal with the currency's exponent."""
    places = exponent(currency)
    return f"{Decimal(amount_minor).scaleb(-places):.{places}f}"


# --- the creator's statement -----------------------------------------------------------------


class year_month(FunctionElement[str]):
    """`YYYY-MM` of a UTC timestamp column."""

    type = String()
    inherit_cache = True


@compiles(year_month, "postgresql")
def _pg_year_month(element: year_month, compiler: Any, **kw: Any) -> str:
    (ts,) = list(element.clauses)
    return f"to_char(({compiler.process(ts, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM')"


@compiles(year_month, "sqlite")
def _sqlite_year_month(element: year_month, compiler: Any, **kw: Any) -> str:
    (ts,) = list(element.clauses)
    # SQLite keeps UTC timestamps as ISO text.
    return f"strftime('%Y-%m', {compiler.process(ts, **kw)})"


@dataclass(frozen=True)
class Movement:
    journal_id: int
    posted_at: datetime
    type: str  # one of MOVEMENT_TYPES
    journal_kind: str
    #: The brand's order id and the line's SKU, for commission journals.
    order_ref: str | None
    sku: str | None
    #: For payout journals.
    payout_id: int | None
    #: What the platform owes the creator, change by state (positive = owed more).
    changes: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.changes.values())


@dataclass
class CurrencyStatement:
    currency: str
    opening: dict[str, int]
    movements: list[Movement] = field(default_factory=list)

    @property
    def movement_totals(self) -> dict[str, int]:
        totals = dict.fromkeys(STATES, 0)
        for movement in self.movements:
            for state, amount in movement.changes.items():
                totals[state] += amount
        return totals

    @property
    def closing(self) -> dict[str, int]:
        moved = self.movement_totals
        return {state: self.opening[state] + moved[state] for state in STATES}

    @property
    def opening_total(self) -> int:
        return sum(self.opening.values())

    @property
    def movements_total(self) -> int:
        return sum(self.movement_totals.values())

    @property
    def closing_total(self) -> int:
        return sum(self.closing.values())

    def by_type(self) -> list[tuple[str, int, int]]:
        """(type, how many, net effect on what is owed) for the month, in MOVEMENT_TYPES order."""
        counts: dict[str, int] = defaultdict(int)
        sums: dict[str, int] = defaultdict(int)
        for movement in self.movements:
            counts[movement.type] += 1
            sums[movement.type] += movement.total
        return [(t, counts[t], sums[t]) for t in MOVEMENT_TYPES if counts[t]]


@dataclass
class Statement:
    creator_id: int
    start: datetime
    end: datetime
    #: False when the creator had no ledger entry before `end`: there is nothing to state.
    has_history: bool
    currencies: list[CurrencyStatement]


def statement_months(session: Session, creator_id: int) -> list[tuple[date, int]]:
    """The months (first day, UTC) in which the creator's ledger accounts moved, newest first,
    with how many journals moved them. One grouped query."""
    month = year_month(Journal.created_at)
    rows = session.execute(
        _creator_entries(creator_id, month, func.count(func.distinct(Journal.id)))
        .group_by(month)
        .order_by(month.desc())
    ).all()
    out = []
    for text, journals in rows:
        start = parse_month(text)
        if start is not None:
            out.append((start.date(), int(journals)))
    return out


def _creator_entries(creator_id: int, *columns: Any) -> Any:
    """SELECT `columns` over the entries of the creator's four accounts."""
    return (
        select(*columns)
        .select_from(LedgerEntry)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .join(Journal, Journal.id == LedgerEntry.journal_id)
        .where(LedgerAccount.owner_id == creator_id, LedgerAccount.kind.in_(CREATOR_KINDS))
    )


def creator_statement(
    session: Session, creator_id: int, start: datetime, end: datetime
) -> Statement:
    """The creator's statement for [start, end): by currency, the balances owed by state at
    `start`, every journal that moved them, and the balances at `end`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("statement periods are aware UTC datetimes")
    opening_rows = session.execute(
        _creator_entries(
            creator_id,
            LedgerAccount.currency,
            LedgerAccount.kind,
            func.sum(LedgerEntry.amount_minor),
        )
        .where(Journal.created_at < start)
        .group_by(LedgerAccount.currency, LedgerAccount.kind)
    ).all()
    movement_rows = session.execute(
        _creator_entries(
            creator_id,
            Journal.id,
            Journal.idempotency_key,
            Journal.kind,
            Journal.created_at,
            LedgerAccount.kind,
            LedgerEntry.currency,
            LedgerEntry.amount_minor,
        )
        .where(Journal.created_at >= start, Journal.created_at < end)
        .order_by(Journal.created_at, Journal.id, LedgerEntry.id)
    ).all()

    opening: dict[str, dict[str, int]] = {}
    for currency, kind, total in opening_rows:
        # Credit-normal: owed is minus the entry sum.
        opening.setdefault(currency, dict.fromkeys(STATES, 0))[STATE_OF_KIND[kind]] = -int(total)

    # One movement per journal and currency, in posting order.
    grouped: dict[tuple[int, str], dict[str, Any]] = {}
    for journal_id, key, journal_kind, posted_at, kind, currency, amount in movement_rows:
        line = grouped.setdefault(
            (journal_id, currency),
            {"key": key, "kind": journal_kind, "at": posted_at, "changes": {}},
        )
        state = STATE_OF_KIND[kind]
        line["changes"][state] = line["changes"].get(state, 0) - int(amount)
    refs = _order_refs(session, creator_id, [line["key"] for line in grouped.values()])

    by_currency: dict[str, CurrencyStatement] = {}
    for (journal_id, currency), line in grouped.items():
        statement = by_currency.get(currency)
        if statement is None:
            opening_balances = opening.get(currency, dict.fromkeys(STATES, 0))
            statement = by_currency[currency] = CurrencyStatement(currency, opening_balances)
        order_ref, sku = refs.get(line["key"], (None, None))
        payout = _PAYOUT_KEY.match(line["key"])
        statement.movements.append(
            Movement(
                journal_id=journal_id,
                posted_at=line["at"],
                type=movement_type(line["kind"], line["changes"]),
                journal_kind=line["kind"],
                order_ref=order_ref,
                sku=sku,
                payout_id=int(payout[1]) if payout else None,
                changes={s: a for s, a in line["changes"].items() if a},
            )
        )
    for currency, balances in opening.items():
        if currency not in by_currency and any(balances.values()):
            by_currency[currency] = CurrencyStatement(currency, balances)
    return Statement(
        creator_id=creator_id,
        start=start,
        end=end,
        has_history=bool(opening_rows or movement_rows),
        currencies=[by_currency[c] for c in sorted(by_currency)],
    )


def movement_type(journal_kind: str, changes: Mapping[str, int]) -> str:
    if journal_kind == "accrual":
        return "held" if changes.get("held") else "earned"
    return _TYPE_OF_JOURNAL_KIND.get(journal_kind, "adjustment")


def _order_refs(
    session: Session, creator_id: int, keys: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """Journal key -> (order id, sku) for the commission journals among `keys`. Restricted to
    the creator's own commissions, in chunks of ids (never a query per journal)."""
    by_line: dict[int, list[str]] = defaultdict(list)
    by_commission: dict[int, list[str]] = defaultdict(list)
    for key in keys:
        if match := _LINE_KEY.match(key):
            by_line[int(match[1])].append(key)
        elif match := _COMMISSION_KEY.match(key):
            by_commission[int(match[1])].append(key)
    refs: dict[str, tuple[str, str]] = {}
    lines, commissions = sorted(by_line), sorted(by_commission)
    for n in range(0, max(len(lines), len(commissions)), _ID_CHUNK):
        line_chunk, commission_chunk = lines[n : n + _ID_CHUNK], commissions[n : n + _ID_CHUNK]
        rows = session.execute(
            select(Commission.id, OrderLine.id, Order.external_id, OrderLine.sku)
            .join(OrderLine, OrderLine.id == Commission.order_line_id)
            .join(Order, Order.id == Commission.order_id)
            .where(
                Commission.creator_id == creator_id,
                or_(
                    Commission.order_line_id.in_(line_chunk),
                    Commission.id.in_(commission_chunk),
                ),
            )
        )
        for commission_id, line_id, order_ref, sku in rows:
            for key in by_line.get(line_id, []) + by_commission.get(commission_id, []):
                refs[key] = (order_ref, sku)
    return refs


STATEMENT_COLUMNS = (
    "currency",
    "date",
    "type",
    "description",
    "reference",
    "pending",
    "held",
    "approved",
    "in_payout",
    "total",
)


def statement_csv(
    statement: Statement,
    *,
    describe: Mapping[str, str],
    reference: Callable[[Movement], str],
) -> bytes:
    """The statement as CSV (UTF-8 with a BOM, so spreadsheets read the encoding right): per
    currency an `opening` row, one row per movement and a `closing` row, amounts as decimals.

    `describe` maps row types (movement types plus `opening` and `closing`) to the reader's
    words; `reference(movement)` gives a movement's reference text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STATEMENT_COLUMNS)

    def amounts(balances: Mapping[str, int], currency: str) -> list[str]:
        values = [balances.get(state, 0) for state in STATES]
        return [decimal_string(v, currency) for v in [*values, sum(values)]]

    for section in statement.currencies:
        cur = section.currency
        opening = text_cell(describe["opening"])
        writer.writerow(
            [
                cur,
                statement.start.isoformat(),
                "opening",
                opening,
                "",
                *amounts(section.opening, cur),
            ]
        )
        for m in section.movements:
            writer.writerow(
                [
                    cur,
                    m.posted_at.isoformat(),
                    m.type,
                    text_cell(describe.get(m.type, m.type)),
                    text_cell(reference(m)),
                    *amounts(m.changes, cur),
                ]
            )
        closing = text_cell(describe["closing"])
        writer.writerow(
            [cur, statement.end.isoformat(), "closing", closing, "", *amounts(section.closing, cur)]
        )
    return out.getvalue().encode("utf-8-sig")


# --- finance's ledger export -----------------------------------------------------------------


@dataclass(frozen=True)
class ExportPeriod:
    start: date  # first day, inclusive
    end: date  # last day, inclusive
    currency: str | None

    @property
    def start_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def end_before(self) -> datetime:
        """The first instant after the period."""
        return self.start_at + timedelta(days=(self.end - self.start).days + 1)

    def filename(self) -> str:
        suffix = f"-{self.currency}" if self.currency else ""
        return f"ledger-{self.start.isoformat()}-{self.end.isoformat()}{suffix}.csv"


def parse_export_params(args: Mapping[str, str]) -> ExportPeriod:
    """Validate `start`, `end` (YYYY-MM-DD, inclusive, UTC days) and an optional `currency`."""

    # One message per date, not a "start"/"end" word in one sentence: languages inflect them.
    missing = {
        "start": _l("The start date is missing (YYYY-MM-DD)."),
        "end": _l("The end date is missing (YYYY-MM-DD)."),
    }

    def not_a_date(name: str, raw: str) -> StatementError:
        if name == "start":
            return StatementError(
                _l("The start date %(value)s is not a date (YYYY-MM-DD).", value=repr(raw))
            )
        return StatementError(
            _l("The end date %(value)s is not a date (YYYY-MM-DD).", value=repr(raw))
        )

    def day(name: str) -> date:
        raw = (args.get(name) or "").strip()
        if not raw:
            raise StatementError(missing[name])
        try:
            if not _DATE.match(raw):
                raise ValueError(raw)
            return date.fromisoformat(raw)
        except ValueError:
            raise not_a_date(name, raw) from None

    start, end = day("start"), day("end")
    if end < start:
        raise StatementError(_l("The end date is before the start date."))
    if (end - start).days + 1 > MAX_EXPORT_DAYS:
        raise StatementError(
            _l("A ledger export covers at most %(days)s days.", days=MAX_EXPORT_DAYS)
        )
    currency = (args.get("currency") or "").strip().upper() or None
    if currency is not None and not is_currency(currency):
        raise StatementError(
            _l(
                "Unknown currency %(currency)s (use an ISO 4217 code, e.g. EUR).",
                currency=repr(currency),
            )
        )
    return ExportPeriod(start, end, currency)


EXPORT_COLUMNS = (
    "journal_id",
    "entry_id",
    "journal_key",
    "kind",
    "posted_at",
    "account_kind",
    "owner_id",
    "currency",
    "debit",
    "credit",
    "memo",
)


def ledger_entries_query(period: ExportPeriod) -> Select[Any]:
    """The export's rows: every entry posted in the period, by journal then entry."""
    stmt = (
        select(
            Journal.id,
            LedgerEntry.id,
            Journal.idempotency_key,
            Journal.kind,
            Journal.created_at,
            LedgerAccount.kind,
            LedgerAccount.owner_id,
            LedgerEntry.currency,
            LedgerEntry.amount_minor,
            Journal.memo,
        )
        .select_from(LedgerEntry)
        .join(Journal, Journal.id == LedgerEntry.journal_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(Journal.created_at >= period.start_at, Journal.created_at < period.end_before)
        .order_by(Journal.id, LedgerEntry.id)
    )
    if period.currency:
        stmt = stmt.where(LedgerEntry.currency == period.currency)
    return stmt


def ledger_entries(session: Session, period: ExportPeriod, *, yield_per: int = 5000) -> Any:
    """Every entry posted in the period, by journal then entry, as a result read in partitions
    of `yield_per` rows (a server-side cursor on PostgreSQL): never the whole period in memory."""
    return session.execute(ledger_entries_query(period).execution_options(yield_per=yield_per))


def ledger_csv_chunks(result: Any) -> Iterator[bytes]:
    """The export as CSV bytes, one chunk per partition: a BOM and the header first. Closes
    `result` (its server-side cursor) at the end, and when the download is abandoned."""
    try:
        yield export_header()
        for partition in result.partitions():
            yield export_rows(partition)
    finally:
        result.close()


def export_header() -> bytes:
    """The export's first bytes: a BOM (spreadsheets then read UTF-8 right) and the header."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(EXPORT_COLUMNS)
    return out.getvalue().encode("utf-8-sig")


def export_rows(rows: Iterable[Any]) -> bytes:
    """Rows of `ledger_entries_query` as CSV lines: debit and credit in major units."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    zero: dict[str, str] = {}
    for (
        journal_id,
        entry_id,
        key,
        kind,
        posted_at,
        account_kind,
        owner_id,
        currency,
        amount,
        memo,
    ) in rows:
        if currency not in zero:
            zero[currency] = decimal_string(0, currency)
        money = decimal_string(abs(amount), currency)
        writer.writerow(
            [
                journal_id,
                entry_id,
                text_cell(key),
                text_cell(kind),
                posted_at.astimezone(UTC).isoformat(),
                str(account_kind),
                owner_id,
                currency,
                money if amount > 0 else zero[currency],
                money if amount < 0 else zero[currency],
                text_cell(memo),
            ]
        )
    return out.getvalue().encode("utf-8")
