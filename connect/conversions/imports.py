"""CSV imports of orders and refunds by brand staff.

The upload is checked as a whole (UTF-8 text, a known header, at least one row), stored as
received, and handed to a job. The job validates every row with the API's own pydantic models and
records it with the API's own services (`record_order`, `record_refund`), so a CSV row and an API
call can never disagree about what is valid.

The job owns its transactions: it commits after every chunk of orders, and each order runs in a
SAVEPOINT so one bad order rolls back alone. Intake is idempotent on (brand, order id) and
(brand, refund idempotency key), so a job killed half-way is simply run again from the start:
rows stored by the first run answer "already there" and count as imported.

CSV formats (UTF-8, comma or semicolon separated, first line the header, column order free):

orders, one row per order line:
    order_id, ordered_at, currency, sku, quantity, unit_price     required
    customer_country, customer_email, click_id, visitor_id, promo_code, category    optional
    Rows with the same order_id form one order; they must agree on the order-level columns.
    unit_price is in minor units (cents): 4999 for 49.99.

refunds, one row per refunded line:
    order_id, idempotency_key, refunded_at     required
    line_no, sku, quantity                     optional columns
    Rows with the same idempotency_key form one refund. A single row with line_no, sku and
    quantity all empty refunds (or cancels) the whole order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_babel.speaklater import LazyString
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from connect.conversions.import_models import ImportJob, ImportKind, ImportStatus
from connect.conversions.schemas import OrderIn, RefundIn
from connect.conversions.services import ConversionError, record_order, record_refund
from connect.core.jobs import enqueue_after_commit
from connect.core.progress import Progress, row_progress
from connect.core.spreadsheets import UnreadableFile, csv_rows, upload_name
from connect.core.spreadsheets import safe_cell as _cell
from connect.core.storage import Storage, storage
from connect.core.time import utcnow

#: The RQ entry point, by dotted path (see `import_orders` below).
IMPORT_JOB = "workers.jobs.import_orders"
IMPORT_QUEUE = "default"
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
CHUNK_SIZE = 500  # orders (or refunds) per transaction
INTERNAL_ERROR = (
    "The import stopped on an internal error. Rows imported so far are kept; "
    "uploading the same file again imports the rest (nothing is stored twice)."
)

ORDER_COLUMNS = (
    "order_id",
    "ordered_at",
    "currency",
    "customer_country",
    "customer_email",
    "click_id",
    "visitor_id",
    "promo_code",
    "sku",
    "quantity",
    "unit_price",
    "category",
)
ORDER_REQUIRED = ("order_id", "ordered_at", "currency", "sku", "quantity", "unit_price")
#: Columns that describe the order, not the line: every row of one order must agree on them.
ORDER_LEVEL = (
    "ordered_at",
    "currency",
    "customer_country",
    "customer_email",
    "click_id",
    "visitor_id",
    "promo_code",
)
REFUND_COLUMNS = ("order_id", "idempotency_key", "refunded_at", "line_no", "sku", "quantity")
REFUND_REQUIRED = ("order_id", "idempotency_key", "refunded_at")

COLUMNS = {ImportKind.ORDERS: ORDER_COLUMNS, ImportKind.REFUNDS: REFUND_COLUMNS}
REQUIRED = {ImportKind.ORDERS: ORDER_REQUIRED, ImportKind.REFUNDS: REFUND_REQUIRED}
INT_FIELDS = {"quantity", "unit_price", "line_no"}
_INT = re.compile(r"[+-]?\d+")
ModelT = TypeVar("ModelT", bound=BaseModel)


class ImportFileError(ValueError):
    """The file as a whole cannot be imported. The message is safe to show to the uploader: a
    lazy string, translated when the upload form shows it (a job stores it as `str`, English)."""

    def __init__(self, message: object) -> None:
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


#: The kinds as the header message names them ("the orders header"), in the reader's language.
_KIND_WORDS = {
    ImportKind.ORDERS: lazy_pgettext("import kind", "orders"),
    ImportKind.REFUNDS: lazy_pgettext("import kind", "refunds"),
}


def _joined(parts: list[Any], separator: str) -> LazyString:
    """`parts` (lazy strings among them) joined when the message is shown, not before."""
    return LazyString(lambda: separator.join(str(part) for part in parts))


# -- reading the file -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    #: Row number as a spreadsheet shows it: the header is row 1.
    number: int
    cells: dict[str, str]
    #: Set when the row has the wrong number of cells (`cells` then holds what could be mapped).
    malformed: str = ""

    def get(self, name: str) -> str:
        return self.cells.get(name, "").strip()


@dataclass(frozen=True)
class ParsedFile:
    kind: ImportKind
    columns: tuple[str, ...]
    rows: list[Row]


def parse_csv(kind: ImportKind, data: bytes) -> ParsedFile:
    """Decode and split the file; ImportFileError if it is not a CSV of this kind."""
    try:
        reader = csv_rows(data)
    except UnreadableFile as exc:
        raise ImportFileError(str(exc)) from None
    try:
        header = next(reader, None)
        columns = _check_header(kind, header or [])
        rows: list[Row] = []
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are not rows
            if len(rows) >= MAX_ROWS:
                raise ImportFileError(
                    _l(
                        "The file has more than %(max)s rows; split it into smaller files.",
                        max=f"{MAX_ROWS:,}",
                    )
                )
            mapped = dict(zip(columns, cells, strict=False))
            malformed = ""  # goes to the error report, a stored file: English
            if len(cells) != len(columns):
                malformed = f"expected {len(columns)} cells, found {len(cells)}"
            rows.append(Row(number, mapped, malformed))
    except csv.Error as exc:
        raise ImportFileError(
            _l(
                "The file is not valid CSV near line %(line)s: %(error)s.",
                line=reader.line_num,
                error=str(exc),
            )
        ) from None
    if not rows:
        raise ImportFileError(_l("The file has a header but no data rows."))
    return ParsedFile(kind, columns, rows)


def _check_header(kind: ImportKind, header: list[str]) -> tuple[str, ...]:
    names = tuple(cell.strip().lower() for cell in header)
    expected, required = COLUMNS[kind], REQUIRED[kind]
    problems: list[LazyString] = []
    missing = [name for name in required if name not in names]
    if missing:
        problems.append(_l("missing %(columns)s", columns=", ".join(missing)))
    unknown = [name for name in names if name not in expected]
    if unknown:
        shown = ", ".join(repr(n[:40]) for n in unknown[:5])
        problems.append(
            _l("unknown %(columns)s", columns=shown + (" …" if len(unknown) > 5 else ""))
        )
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        problems.append(_l("repeated %(columns)s", columns=", ".join(duplicated)))
    if problems:
        raise ImportFileError(
            _l(
                "The first line must be the %(kind)s header (%(problems)s). "
                "Columns: %(columns)s; required: %(required)s.",
                kind=_KIND_WORDS.get(kind, kind.value),
                problems=_joined(problems, "; "),
                columns=", ".join(expected),
                required=", ".join(required),
            )
        )
    return names


# -- rows to request bodies -------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int
    order_id: str
    field: str
    message: str


class _Invalid(Exception):
    """A group of rows that cannot become a request body; carries every row's errors."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


def group_rows(parsed: ParsedFile) -> list[list[Row]]:
    """Rows of one order (or one refund) together, in the order they first appear.

    A row without a key stands alone (and fails)."""
    key_column = "order_id" if parsed.kind == ImportKind.ORDERS else "idempotency_key"
    groups: dict[str, list[Row]] = {}
    for row in parsed.rows:
        key = row.get(key_column) or f"\x00row{row.number}"
        groups.setdefault(key, []).append(row)
    return list(groups.values())


def _cell_value(name: str, raw: str) -> Any:
    value = raw.strip()
    if name in INT_FIELDS and _INT.fullmatch(value):
        return int(value)
    return value


def _present(row: Row, names: Iterable[str]) -> dict[str, Any]:
    """The row's non-empty cells among `names`: an empty cell is an omitted field."""
    return {name: _cell_value(name, row.cells[name]) for name in names if row.get(name)}


def _friendly(loc: tuple[Any, ...], error: dict[str, Any]) -> str:
    name = str(loc[-1]) if loc else ""
    kind, message = error["type"], error["msg"]
    if kind == "missing":
        return "is required"
    if kind in {"int_type", "int_parsing"}:
        value = str(error.get("input", ""))[:40]
        if name == "unit_price":
            return (
                f"must be a whole number of minor units (cents), e.g. 4999 for 49.99; got {value!r}"
            )
        return f"must be a whole number; got {value!r}"
    if kind == "timezone_aware":
        return "needs a time zone, e.g. 2026-01-05T10:00:00Z or 2026-01-05T11:00:00+01:00"
    if kind.startswith(("datetime_", "date_")):
        return "is not a date and time in ISO 8601 form, e.g. 2026-01-05T10:00:00Z"
    if kind == "string_pattern_mismatch":
        if name in {"click_id", "visitor_id"}:
            return "must be 32 lower-case hexadecimal characters"
        if name == "promo_code":
            return "may contain only letters, digits, spaces, - and _ (at most 40 characters)"
        return "may contain only letters, digits and . _ : - (at most 100 characters)"
    return message.removeprefix("Value error, ")


def _model_errors(
    exc: ValidationError, group: list[Row], key: str, line_field: str = "lines"
) -> list[RowError]:
    """Pydantic's errors, each on the row it came from; order-level ones on every row."""
    errors: list[RowError] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        message = _friendly(loc, error)
        if len(loc) >= 2 and loc[0] == line_field and isinstance(loc[1], int):
            row = group[loc[1]]
            errors.append(RowError(row.number, key, ".".join(map(str, loc[2:])), message))
        else:
            name = ".".join(map(str, loc)) or _named_column(message)
            errors.extend(RowError(row.number, key, name, message) for row in group)
    return errors


def _named_column(message: str) -> str:
    """The column a model-level message starts with ("ordered_at is in the future"), if any."""
    first = message.split(" ", 1)[0]
    return first if first in ORDER_COLUMNS or first in REFUND_COLUMNS else ""


def _whole_group_failed(group: list[Row], key: str, errors: list[RowError], what: str) -> None:
    """Rows of a failed order that have no error of their own say why they were not imported."""
    bad = sorted({e.row for e in errors})
    listed = ", ".join(map(str, bad[:10])) + (" …" if len(bad) > 10 else "")
    where = f"row {listed}" if len(bad) == 1 else f"rows {listed}"
    for row in group:
        if row.number not in bad:
            message = f"not imported: {what} has errors in {where}"
            errors.append(RowError(row.number, key, "", message))


def _malformed(group: list[Row], key: str, what: str) -> list[RowError]:
    errors = [RowError(r.number, key, "", r.malformed) for r in group if r.malformed]
    if errors:
        _whole_group_failed(group, key, errors, what)
    return errors


def _disagreement(group: list[Row], key: str, columns: Iterable[str], what: str) -> list[RowError]:
    differing = [name for name in columns if len({row.get(name) for row in group}) > 1]
    if not differing:
        return []
    message = f"all rows of {what} must have the same {', '.join(differing)}"
    return [RowError(row.number, key, ",".join(differing), message) for row in group]


def order_from_rows(group: list[Row], columns: tuple[str, ...]) -> OrderIn:
    """One OrderIn from the rows of one order_id; `_Invalid` with every row's errors if not."""
    key = group[0].get("order_id")
    what = f"order {key}"
    if not key:
        raise _Invalid([RowError(r.number, "", "order_id", "is required") for r in group])
    errors = _malformed(group, key, what) or _disagreement(
        group, key, [c for c in ORDER_LEVEL if c in columns], what
    )
    if errors:
        raise _Invalid(errors)
    first = group[0]
    body = {"order_id": key} | _present(first, [c for c in ORDER_LEVEL if c in columns])
    line_columns = [c for c in ("sku", "quantity", "unit_price", "category") if c in columns]
    body["lines"] = [_present(row, line_columns) for row in group]
    return _validate(OrderIn, body, group, key, what)


def refund_from_rows(group: list[Row], columns: tuple[str, ...]) -> tuple[str, RefundIn]:
    """(order ref, RefundIn) from the rows of one idempotency_key; `_Invalid` if not."""
    key = group[0].get("idempotency_key")
    order_ref = group[0].get("order_id")
    what = f"refund {key}"
    if not key:
        raise _Invalid(
            [RowError(r.number, r.get("order_id"), "idempotency_key", "is required") for r in group]
        )
    errors = _malformed(group, order_ref, what) or _disagreement(
        group, order_ref, ["order_id", "refunded_at"], what
    )
    if not errors and not order_ref:
        errors = [RowError(r.number, "", "order_id", "is required") for r in group]
    if errors:
        raise _Invalid(errors)
    line_columns = [c for c in ("line_no", "sku", "quantity") if c in columns]
    lines = [_present(row, line_columns) for row in group]
    body: dict[str, Any] = {"idempotency_key": key} | _present(group[0], ["refunded_at"])
    if len(group) == 1 and not lines[0]:
        pass  # the whole order
    elif any(not line for line in lines):
        message = "a whole-order refund (no line_no, sku, quantity) must be its refund's only row"
        errors = [
            RowError(row.number, order_ref, "", message)
            for row, line in zip(group, lines, strict=True)
            if not line
        ]
        _whole_group_failed(group, order_ref, errors, what)
        raise _Invalid(errors)
    else:
        body["lines"] = lines
    return order_ref, _validate(RefundIn, body, group, order_ref, what)


def _validate(
    model: type[ModelT], body: dict[str, Any], group: list[Row], key: str, what: str
) -> ModelT:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = _model_errors(exc, group, key)
        _whole_group_failed(group, key, errors, what)
        raise _Invalid(errors) from None


# -- the upload -------------------------------------------------------------------------------


def create_import(
    session: Session,
    store: Storage,
    *,
    brand_id: int,
    user_id: int,
    kind: ImportKind,
    filename: str,
    data: bytes,
    total_rows: int,
) -> ImportJob:
    """Store an uploaded file (already checked with `parse_csv`) and queue its job for after the
    commit. Flushes; the caller commits."""
    key = f"imports/{brand_id}/{uuid.uuid4().hex}.csv"
    digest = store.put(key, data, "text/csv")
    job = ImportJob(
        brand_id=brand_id,
        created_by_id=user_id,
        kind=kind,
        status=ImportStatus.QUEUED,
        source_key=key,
        source_sha256=digest,
        filename=upload_name(filename, "upload.csv"),
        total_rows=total_rows,
    )
    session.add(job)
    session.flush()
    enqueue_after_commit(
        session, IMPORT_JOB, job.id, queue_name=IMPORT_QUEUE, job_id=f"import-{job.id}"
    )
    return job


def imports_of(session: Session, brand_id: int, limit: int = 50) -> list[ImportJob]:
    return list(
        session.scalars(
            select(ImportJob)
            .where(ImportJob.brand_id == brand_id)
            .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
            .limit(limit)
        )
    )


def import_of(session: Session, brand_id: int, import_id: int) -> ImportJob | None:
    """The brand's import, or None: another brand's import is never found."""
    return session.scalar(
        select(ImportJob).where(ImportJob.id == import_id, ImportJob.brand_id == brand_id)
    )


# -- the job ----------------------------------------------------------------------------------


@dataclass
class _Tally:
    processed: int = 0
    ok: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)


def run_import(
    session: Session,
    import_id: int,
    now: datetime,
    *,
    store: Storage | None = None,
    chunk_size: int = CHUNK_SIZE,
    after_chunk: Callable[[ImportJob], None] | None = None,
) -> dict[str, Any]:
    """Import every row of the file; returns a summary. Commits after every chunk.

    Safe to run again at any point: a finished (done or failed) import returns at once, and a
    running one (its worker died) starts over, finding what was stored already."""
    job = session.get(ImportJob, import_id)
    if job is None:
        return {"import_id": import_id, "status": "missing"}
    if job.status in (ImportStatus.DONE, ImportStatus.FAILED):
        return summary(job)
    store = store or storage()
    job.status = ImportStatus.RUNNING
    job.started_at = now
    job.processed_rows = job.ok_rows = job.failed_rows = 0
    job.error = ""
    session.commit()

    try:
        data = store.get(job.source_key)
    except FileNotFoundError:
        return _fail(session, job, "The uploaded file is no longer stored; upload it again.")
    if hashlib.sha256(data).hexdigest() != job.source_sha256:
        return _fail(session, job, "The stored file changed after the upload; upload it again.")
    try:
        parsed = parse_csv(job.kind, data)
    except ImportFileError as exc:
        return _fail(session, job, str(exc))
    job.total_rows = len(parsed.rows)
    brand_id, kind = job.brand_id, job.kind
    session.commit()

    tally = _Tally()
    groups = iter(group_rows(parsed))
    while chunk := list(islice(groups, chunk_size)):
        for group in chunk:
            _import_group(session, brand_id, kind, parsed.columns, group, now, tally)
        job.processed_rows, job.ok_rows, job.failed_rows = tally.processed, tally.ok, tally.failed
        session.commit()
        if after_chunk is not None:
            after_chunk(job)

    report_key = ""
    if tally.errors:
        report_key = f"imports/{brand_id}/{import_id}-errors.csv"
        store.put(report_key, error_report(tally.errors), "text/csv")
    job.error_report_key = report_key
    job.status = ImportStatus.DONE
    job.finished_at = utcnow()
    session.commit()
    return summary(job)


def _import_group(
    session: Session,
    brand_id: int,
    kind: ImportKind,
    columns: tuple[str, ...],
    group: list[Row],
    now: datetime,
    tally: _Tally,
) -> None:
    tally.processed += len(group)
    try:
        if kind == ImportKind.ORDERS:
            order = order_from_rows(group, columns)
            key = order.order_id
            # One bad order rolls back alone; the others in the chunk stay.
            with session.begin_nested():
                record_order(session, brand_id, order, now)
        else:
            key, refund = refund_from_rows(group, columns)
            with session.begin_nested():
                record_refund(session, brand_id, key, refund, now)
    except _Invalid as invalid:
        tally.failed += len(group)
        tally.errors.extend(invalid.errors)
        return
    except ConversionError as exc:
        column = _ERROR_COLUMN.get((kind, exc.code), "")
        tally.failed += len(group)
        tally.errors.extend(RowError(row.number, key, column, str(exc)) for row in group)
        return
    tally.ok += len(group)


#: The CSV column a refusal from the services is about, by (kind, ConversionError.code).
_ERROR_COLUMN = {
    (ImportKind.ORDERS, "conflict"): "order_id",
    (ImportKind.ORDERS, "foreign_click"): "click_id",
    (ImportKind.REFUNDS, "conflict"): "idempotency_key",
    (ImportKind.REFUNDS, "not_found"): "order_id",
}


def _fail(session: Session, job: ImportJob, message: str) -> dict[str, Any]:
    job.status = ImportStatus.FAILED
    job.error = message
    job.finished_at = utcnow()
    session.commit()
    return summary(job)


def progress_of(job: ImportJob, result_url: str = "") -> Progress:
    """The import's progress bar: rows handled by the current run, out of the file's rows."""
    return row_progress(job, result_url)


def summary(job: ImportJob) -> dict[str, Any]:
    return {
        "import_id": job.id,
        "status": job.status.value,
        "total_rows": job.total_rows,
        "ok_rows": job.ok_rows,
        "failed_rows": job.failed_rows,
        "error_report_key": job.error_report_key,
    }


REPORT_COLUMNS = ("row", "order_id", "field", "message")


def error_report(errors: Iterable[RowError]) -> bytes:
    """The error report: one line per problem, by row. UTF-8 with a BOM so spreadsheets read it
    right; cells that a spreadsheet would run as a formula are quoted with a leading '."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for e in sorted(errors, key=lambda e: e.row):  # stable: a row's errors keep their order
        writer.writerow([e.row, _cell(e.order_id), _cell(e.field), _cell(e.message)])
    return out.getvalue().encode("utf-8-sig")


def read_error_report(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
