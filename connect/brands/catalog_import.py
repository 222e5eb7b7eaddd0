"""Catalogue CSV import: thousands of products in one upload, checked row by row.

Format: UTF-8 text, comma or semicolon separated, the first line names the columns (any order):

    sku, title, url, price, currency        required
    category, image_url, countries          optional

`price` is in major units (49.99), `currency` an ISO 4217 code, `url` a page on one of the brand's
verified domains, `image_url` an https address, `countries` ISO 3166 codes separated by `|` or
spaces (empty: sold everywhere).

Every row is checked on its own, with the same field rules as the product form. A row with any
error is left out whole and listed in the error report (row, sku, field, message); the others are
upserted by (brand, sku), so importing a file again updates its products instead of duplicating
them, and a row equal to the stored product writes nothing. A product's status is not changed by
an import (an archived product stays archived).

Rows go in chunks: per chunk, one query reads the stored products for the chunk's SKUs and one
INSERT … ON CONFLICT DO UPDATE writes the new and changed ones (a product created meanwhile by
another upload is updated, never duplicated).

The portal checks the file as a whole in the upload request (nothing is written when it is
refused), stores it and hands it to an RQ job (`create_import`, then `run_import`). The job
commits after every chunk together with the row counts, so `processed_rows` is both the
progress bar and a checkpoint: a job killed half-way is run again and resumes after the last
committed chunk (the rows before it are checked again, without writing, so the error report and
the repeated-SKU rule still see the whole file). `import_products` runs the same steps in-process
for scripts and tests.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connect.audit.services import record
from connect.brands.models import Product, ProductImport, ProductImportStatus, ProductStatus
from connect.brands.services import (
    ProductInput,
    clean_category,
    clean_countries,
    clean_currency,
    clean_image_url,
    clean_price,
    clean_sku,
    clean_title,
    clean_url,
    verified_domains,
)
from connect.core.jobs import enqueue_after_commit
from connect.core.progress import Progress, row_progress
from connect.core.spreadsheets import UnreadableFile, csv_rows, upload_name
from connect.core.spreadsheets import safe_cell as _cell
from connect.core.storage import Storage, storage
from connect.core.time import utcnow

COLUMNS = ("sku", "title", "url", "price", "currency", "category", "image_url", "countries")
REQUIRED = ("sku", "title", "url", "price", "currency")
#: These bound one job's time and memory (5,000 rows take about a second).
MAX_ROWS = 20_000
MAX_BYTES = 10 * 1024 * 1024
CHUNK_SIZE = 500
REPORT_COLUMNS = ("row", "sku", "field", "message")
#: The RQ entry point, by dotted path.
IMPORT_JOB = "workers.jobs.import_products"
IMPORT_QUEUE = "default"
INTERNAL_ERROR = (
    "The import stopped on an internal error. Products imported so far are kept; "
    "uploading the same file again imports the rest (nothing is duplicated)."
)
_UPDATED = ("title", "url", "price_minor", "currency", "category", "image_url", "countries")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported. The message is safe to show to the uploader."""


@dataclass(frozen=True)
class Row:
    #: The row number a spreadsheet shows: the header is row 1.
    number: int
    cells: dict[str, str]
    #: Set when the row has the wrong number of cells.
    malformed: str = ""


@dataclass(frozen=True)
class ParsedFile:
    columns: tuple[str, ...]
    rows: list[Row]


@dataclass(frozen=True)
class RowError:
    row: int
    sku: str
    field: str
    message: str


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)


# -- reading the file -------------------------------------------------------------------------


def parse_csv(data: bytes, max_rows: int = MAX_ROWS) -> ParsedFile:
    """Decode and split the file; ImportFileError if it is not a product CSV."""
    try:
        reader = csv_rows(data)
    except UnreadableFile as exc:
        raise ImportFileError(str(exc)) from None
    rows: list[Row] = []
    try:
        columns = _check_header(next(reader, None) or [])
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are not rows
            if len(rows) >= max_rows:
                raise ImportFileError(
                    _l(
                        "The file has more than %(n)s products; split it into smaller files.",
                        n=f"{max_rows:,}",
                    )
                )
            malformed = ""
            if len(cells) != len(columns):
                malformed = f"expected {len(columns)} cells, found {len(cells)}"
            rows.append(Row(number, dict(zip(columns, cells, strict=False)), malformed))
    except csv.Error as exc:
        raise ImportFileError(
            _l(
                "The file is not valid CSV near line %(line)s: %(error)s.",
                line=reader.line_num,
                error=str(exc),
            )
        ) from None
    if not rows:
        raise ImportFileError(_l("The file has a header but no product rows."))
    return ParsedFile(columns, rows)


def _check_header(header: list[str]) -> tuple[str, ...]:
    names = tuple(cell.strip().lower() for cell in header)
    problems = []
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        problems.append(str(_l("missing %(columns)s", columns=", ".join(missing))))
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        shown = ", ".join(repr(n[:40]) for n in unknown[:5])
        shown += " …" if len(unknown) > 5 else ""
        problems.append(str(_l("unknown %(columns)s", columns=shown)))
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append(str(_l("repeated %(columns)s", columns=", ".join(repeated))))
    if problems:
        raise ImportFileError(
            _l(
                "The first line must name the columns (%(problems)s). Columns: %(columns)s; "
                "required: %(required)s.",
                problems="; ".join(problems),
                columns=", ".join(COLUMNS),
                required=", ".join(REQUIRED),
            )
        )
    return names


# -- one row ----------------------------------------------------------------------------------


def clean_row(row: Row, domains: list[str]) -> tuple[ProductInput | None, list[RowError]]:
    """The row as a product, or None and every problem it has (all fields are checked)."""

    def cell(name: str) -> str:
        return row.cells.get(name, "")

    sku_text = cell("sku").strip()[:64]
    if row.malformed:
        return None, [RowError(row.number, sku_text, "", row.malformed)]
    errors: list[RowError] = []
    values: dict[str, Any] = {}

    def check(name: str, clean: Any, *args: Any) -> None:
        try:
            values[name] = clean(cell(name), *args)
        except ValueError as exc:
            errors.append(RowError(row.number, sku_text, name, str(exc)))

    check("sku", clean_sku)
    check("title", clean_title)
    check("url", clean_url, domains)
    check("currency", clean_currency)
    if "currency" in values:
        check("price", clean_price, values["currency"])
    elif not cell("price").strip():
        errors.append(RowError(row.number, sku_text, "price", "is required"))
    check("category", clean_category)
    check("image_url", clean_image_url)
    check("countries", clean_countries)
    if errors:
        return None, errors
    return ProductInput(
        sku=values["sku"],
        title=values["title"],
        url=values["url"],
        price_minor=values["price"],
        currency=values["currency"],
        category=values["category"],
        image_url=values["image_url"],
        countries=tuple(values["countries"]),
    ), []


# -- the import -------------------------------------------------------------------------------


def _check_chunk(
    chunk: list[Row], domains: list[str], tally: Tally, first_row_of: dict[str, int]
) -> list[ProductInput]:
    """The chunk's good rows as products; each bad row's problems go to the tally."""
    good: list[ProductInput] = []
    for row in chunk:
        product, errors = clean_row(row, domains)
        if product is not None and product.sku in first_row_of:
            first = first_row_of[product.sku]
            message = f"repeats the SKU of row {first}: give each SKU once per file"
            product, errors = None, [RowError(row.number, product.sku, "sku", message)]
        if product is None:
            tally.failed += 1
            tally.errors.extend(errors)
            continue
        first_row_of[product.sku] = row.number
        good.append(product)
    return good


def import_products(
    session: Session,
    store: Storage,
    *,
    brand_id: int,
    actor_id: int,
    data: bytes,
    filename: str = "",
    chunk_size: int = CHUNK_SIZE,
    max_rows: int = MAX_ROWS,
) -> ProductImport:
    """Import a catalogue CSV for the brand in-process; returns the stored ProductImport.
    Flushes; the caller commits. ImportFileError (nothing written) when the file as a whole is
    unusable."""
    started = time.perf_counter()
    parsed = parse_csv(data, max_rows=max_rows)
    domains = verified_domains(session, brand_id)
    tally = Tally()
    first_row_of: dict[str, int] = {}
    rows = iter(parsed.rows)
    while chunk := list(islice(rows, chunk_size)):
        good = _check_chunk(chunk, domains, tally, first_row_of)
        _write_chunk(session, brand_id, good, utcnow(), tally)
    job = ProductImport(
        brand_id=brand_id,
        created_by_id=actor_id,
        filename=upload_name(filename, "products.csv"),
        status=ProductImportStatus.RUNNING,
        total_rows=len(parsed.rows),
        processed_rows=len(parsed.rows),
    )
    session.add(job)
    session.flush()
    _finish(session, store, job, tally, round((time.perf_counter() - started) * 1000))
    return job


def _count(job: ProductImport, tally: Tally) -> None:
    job.created_rows, job.updated_rows = tally.created, tally.updated
    job.unchanged_rows, job.failed_rows = tally.unchanged, tally.failed


def _finish(
    session: Session, store: Storage, job: ProductImport, tally: Tally, duration_ms: int
) -> None:
    """Store the error report, mark the import done and audit it (flushes)."""
    report_key = ""
    if tally.errors:
        report_key = f"product-imports/{job.brand_id}/{job.id}-errors.csv"
        store.put(report_key, error_report(tally.errors), "text/csv")
    _count(job, tally)
    job.error_report_key = report_key
    job.duration_ms = max(duration_ms, 0)
    job.status = ProductImportStatus.DONE
    job.finished_at = utcnow()
    session.flush()
    record(
        session,
        actor_id=job.created_by_id,
        action="product.import",
        target=job,
        data={
            "brand_id": job.brand_id,
            "filename": job.filename,
            "total": job.total_rows,
            "created": job.created_rows,
            "updated": job.updated_rows,
            "unchanged": job.unchanged_rows,
            "failed": job.failed_rows,
        },
    )


# -- the import as a background job ----------------------------------------------------------


def create_import(
    session: Session,
    store: Storage,
    *,
    brand_id: int,
    actor_id: int,
    filename: str,
    data: bytes,
    total_rows: int,
) -> ProductImport:
    """Store an upload (already checked with `parse_csv`) and queue its job for after the
    commit. Flushes; the caller commits."""
    key = f"product-imports/{brand_id}/{uuid.uuid4().hex}.csv"
    digest = store.put(key, data, "text/csv")
    job = ProductImport(
        brand_id=brand_id,
        created_by_id=actor_id,
        filename=upload_name(filename, "products.csv"),
        status=ProductImportStatus.QUEUED,
        source_key=key,
        source_sha256=digest,
        total_rows=total_rows,
    )
    session.add(job)
    session.flush()
    enqueue_after_commit(
        session, IMPORT_JOB, job.id, queue_name=IMPORT_QUEUE, job_id=f"product-import-{job.id}"
    )
    return job


def run_import(
    session: Session,
    import_id: int,
    *,
    store: Storage | None = None,
    chunk_size: int = CHUNK_SIZE,
    after_chunk: Callable[[ProductImport], None] | None = None,
) -> dict[str, Any]:
    """The job: import the stored file, committing after every chunk; returns a summary.

    Safe to run again at any point: a finished import returns at once, and a running one (its
    worker died) resumes after its last committed chunk."""
    job = session.get(ProductImport, import_id)
    if job is None:
        return {"import_id": import_id, "status": "missing"}
    if job.status in (ProductImportStatus.DONE, ProductImportStatus.FAILED):
        return summary(job)
    store = store or storage()
    if job.status == ProductImportStatus.QUEUED or job.started_at is None:
        job.status = ProductImportStatus.RUNNING
        job.started_at = utcnow()
        session.commit()

    try:
        data = store.get(job.source_key)
    except FileNotFoundError:
        return _fail(session, job, "The uploaded file is no longer stored; upload it again.")
    if hashlib.sha256(data).hexdigest() != job.source_sha256:
        return _fail(session, job, "The stored file changed after the upload; upload it again.")
    try:
        parsed = parse_csv(data)
    except ImportFileError as exc:
        return _fail(session, job, str(exc))

    domains = verified_domains(session, job.brand_id)
    resume_at = min(job.processed_rows, len(parsed.rows))
    # Committed chunks keep their counts; their rows are checked again (nothing written) so
    # the error report and the repeated-SKU rule cover the whole file.
    tally = Tally(created=job.created_rows, updated=job.updated_rows, unchanged=job.unchanged_rows)
    first_row_of: dict[str, int] = {}
    _check_chunk(parsed.rows[:resume_at], domains, tally, first_row_of)
    job.total_rows = len(parsed.rows)
    for start in range(resume_at, len(parsed.rows), chunk_size):
        chunk = parsed.rows[start : start + chunk_size]
        good = _check_chunk(chunk, domains, tally, first_row_of)
        _write_chunk(session, job.brand_id, good, utcnow(), tally)
        _count(job, tally)
        job.processed_rows = start + len(chunk)
        session.commit()  # the chunk's products and the checkpoint together
        if after_chunk is not None:
            after_chunk(job)

    started_at = job.started_at or utcnow()
    duration = round((utcnow() - started_at).total_seconds() * 1000)
    _finish(session, store, job, tally, duration)
    session.commit()
    return summary(job)


def _fail(session: Session, job: ProductImport, message: str) -> dict[str, Any]:
    job.status = ProductImportStatus.FAILED
    job.error = message
    job.finished_at = utcnow()
    session.commit()
    return summary(job)


def summary(job: ProductImport) -> dict[str, Any]:
    return {
        "import_id": job.id,
        "status": job.status.value,
        "total_rows": job.total_rows,
        "created_rows": job.created_rows,
        "updated_rows": job.updated_rows,
        "unchanged_rows": job.unchanged_rows,
        "failed_rows": job.failed_rows,
        "error_report_key": job.error_report_key,
    }


def progress_of(job: ProductImport, result_url: str = "") -> Progress:
    """The import's progress bar: rows of committed chunks, out of the file's rows."""
    return row_progress(job, result_url)


def _write_chunk(
    session: Session, brand_id: int, good: list[ProductInput], now: datetime, tally: Tally
) -> None:
    if not good:
        return
    # One query for the chunk: the stored products with these SKUs.
    stored = {
        row.sku: row
        for row in session.execute(
            select(Product.sku, *(getattr(Product, name) for name in _UPDATED)).where(
                Product.brand_id == brand_id, Product.sku.in_([p.sku for p in good])
            )
        )
    }
    writes: list[dict[str, Any]] = []
    for product in good:
        values = product.values()
        old = stored.get(product.sku)
        if old is None:
            tally.created += 1
        elif all(getattr(old, name) == values[name] for name in _UPDATED):
            tally.unchanged += 1
            continue
        else:
            tally.updated += 1
        writes.append(
            values
            | {
                "brand_id": brand_id,
                "sku": product.sku,
                "status": ProductStatus.ACTIVE,
                "created_at": now,
                "updated_at": now,
            }
        )
    if writes:
        _upsert(session, writes)


def _upsert(session: Session, writes: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT (brand_id, sku) DO UPDATE: new products are added, stored ones get
    the new values (status and created_at kept), in one statement."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise RuntimeError(f"product import supports PostgreSQL and SQLite, not {dialect}")
    stmt = insert(Product)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Product.brand_id, Product.sku],
        set_={name: stmt.excluded[name] for name in (*_UPDATED, "updated_at")},
    )
    # A list of rows: one cached statement run as an executemany (psycopg pipelines it).
    # Measured faster than one 500-row VALUES list or RETURNING-batched inserts.
    session.execute(stmt, writes)
    # Products already in the session must not keep their pre-import values.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Product):
            session.expire(obj)


# -- listing and the error report -------------------------------------------------------------


def imports_of(session: Session, brand_id: int, limit: int = 20) -> list[ProductImport]:
    return list(
        session.scalars(
            select(ProductImport)
            .where(ProductImport.brand_id == brand_id)
            .order_by(ProductImport.created_at.desc(), ProductImport.id.desc())
            .limit(limit)
        )
    )


def import_of(session: Session, brand_id: int, import_id: int) -> ProductImport | None:
    """The brand's import, or None: another brand's import is never found."""
    return session.scalar(
        select(ProductImport).where(
            ProductImport.id == import_id, ProductImport.brand_id == brand_id
        )
    )


def error_report(errors: Iterable[RowError]) -> bytes:
    """One line per problem, by row: UTF-8 with a BOM so spreadsheets read it right; a cell a
    spreadsheet would run as a formula gets a leading '."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for e in sorted(errors, key=lambda e: e.row):  # stable: a row's errors keep their order
        writer.writerow([e.row, _cell(e.sku), _cell(e.field), _cell(e.message)])
    return out.getvalue().encode("utf-8-sig")


def read_error_report(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def template_csv() -> bytes:
    """A header and one example row, for brands to fill in."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerow(
        [
            "HP-100",
            "Wireless headphones",
            "https://shop.example.com/p/hp-100",
            "49.99",
            "EUR",
            "audio",
            "https://cdn.example.com/hp-100.jpg",
            "FR|ES|PL",
        ]
    )
    return out.getvalue().encode("utf-8-sig")
