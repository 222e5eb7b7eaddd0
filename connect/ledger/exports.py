"""Finance's ledger export as a background job, for periods too big to wait for in a browser.

The view stores what was asked (`create_export`) and queues the job after the commit. The job
(`run_export`) counts the period's entries, reads them in keyset pages (by journal, then entry)
so it can commit its progress between pages without holding a cursor open, writes the CSV to a
spooled temporary file and stores it once at the end. Entries posted after the run started are
left out (the ledger only grows, so bounding by the highest journal id gives a fixed snapshot
that matches the count). A run killed half-way leaves no file behind: the next run starts over.
The CSV is byte for byte the one the streamed download (`/finance/ledger-export.csv`) gives.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from connect.core.jobs import enqueue_after_commit
from connect.core.progress import Progress, Reporter, row_progress
from connect.core.storage import Storage, storage
from connect.core.time import utcnow
from connect.ledger.export_models import ExportStatus, LedgerExport
from connect.ledger.models import Journal, LedgerEntry
from connect.ledger.statements import (
    ExportPeriod,
    export_header,
    export_rows,
    ledger_entries_query,
)

EXPORT_JOB = "workers.jobs.export_ledger"
EXPORT_QUEUE = "default"
PAGE_SIZE = 5000
INTERNAL_ERROR = "The export stopped on an internal error; ask for it again."


def period_of(export: LedgerExport) -> ExportPeriod:
    return ExportPeriod(export.period_start, export.period_end, export.currency or None)


def create_export(session: Session, *, period: ExportPeriod, actor_id: int) -> LedgerExport:
    """Store the request and queue its job for after the commit. Flushes; the caller commits."""
    export = LedgerExport(
        created_by_id=actor_id,
        period_start=period.start,
        period_end=period.end,
        currency=period.currency or "",
        status=ExportStatus.QUEUED,
    )
    session.add(export)
    session.flush()
    enqueue_after_commit(
        session, EXPORT_JOB, export.id, queue_name=EXPORT_QUEUE, job_id=f"ledger-export-{export.id}"
    )
    return export


def recent_exports(session: Session, limit: int = 20) -> list[LedgerExport]:
    return list(session.scalars(select(LedgerExport).order_by(LedgerExport.id.desc()).limit(limit)))


def run_export(
    session: Session,
    export_id: int,
    *,
    store: Storage | None = None,
    page_size: int = PAGE_SIZE,
    after_page: Callable[[LedgerExport], None] | None = None,
) -> dict[str, Any]:
    """The job: write the export and store it; returns a summary. Commits its progress.

    Safe to run again at any point: a finished export returns at once, a running one (its
    worker died) starts over."""
    export = session.get(LedgerExport, export_id)
    if export is None:
        return {"export_id": export_id, "status": "missing"}
    if export.status in (ExportStatus.DONE, ExportStatus.FAILED):
        return summary(export)
    store = store or storage()
    period = period_of(export)
    last_journal = session.scalar(select(func.max(Journal.id))) or 0
    query = ledger_entries_query(period).where(Journal.id <= last_journal)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    export.status = ExportStatus.RUNNING
    export.started_at = utcnow()
    export.total_rows, export.processed_rows, export.error = total or 0, 0, ""
    session.commit()

    def write(done: int, total: int) -> None:
        export.processed_rows = done

    reporter = Reporter(write, commit=session.commit, every=page_size)
    reporter.start(export.total_rows)
    after: tuple[int, int] | None = None
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as out:
        out.write(export_header())
        while True:
            page_query = (
                query
                if after is None
                else query.where(tuple_(Journal.id, LedgerEntry.id) > tuple_(*after))
            )
            rows = session.execute(page_query.limit(page_size)).all()
            if not rows:
                break
            out.write(export_rows(rows))
            after = (rows[-1][0], rows[-1][1])
            reporter.advance(len(rows))
            if after_page is not None:
                after_page(export)
        out.seek(0)
        key = f"ledger-exports/{export.id}/{period.filename()}"
        digest = store.put(key, out, "text/csv")
    reporter.finish()
    export.storage_key, export.sha256 = key, digest
    export.processed_rows = reporter.done
    export.status = ExportStatus.DONE
    export.finished_at = utcnow()
    session.commit()
    return summary(export)


def summary(export: LedgerExport) -> dict[str, Any]:
    return {
        "export_id": export.id,
        "status": export.status.value,
        "total_rows": export.total_rows,
        "storage_key": export.storage_key,
    }


def progress_of(export: LedgerExport, result_url: str = "") -> Progress:
    """Entries written so far, out of the period's entries; the download once stored."""
    return row_progress(export, result_url)
