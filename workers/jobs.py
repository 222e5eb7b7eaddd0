"""Job entry points. RQ imports these by dotted path; each is safe to run twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from connect.accounts.models import User
from connect.brands import catalog_import
from connect.brands.models import ProductImport
from connect.conversions import imports as conversion_imports
from connect.conversions import tasks as conversions
from connect.conversions.import_models import ImportJob
from connect.core.jobs import redis_connection
from connect.core.progress import mark_failed
from connect.core.time import utcnow
from connect.extensions import db
from connect.ledger import exports as ledger_exports
from connect.ledger.export_models import LedgerExport
from connect.payouts import services as payouts
from connect.payouts import tasks as payout_tasks
from connect.payouts.models import BatchStatus, PayoutBatch
from connect.samples import tasks as sample_tasks
from connect.tiers import tasks as tier_tasks
from connect.tracking import tasks as tracking
from connect.webhooks import services as webhooks
from connect.webhooks import tasks as webhook_tasks
from workers.context import job_context


def user_exists(user_id: int) -> bool:
    """A read-only probe job: the smoke test of the queue, the worker and the database."""
    with job_context():
        return db.session.scalar(select(User.id).where(User.id == user_id)) is not None


def drain_clicks(max_seconds: float = 20.0) -> int:
    """Clicks from the Redis stream into the database (several may run at once)."""
    with job_context():
        return tracking.drain_clicks(db.session, redis_connection(), max_seconds=max_seconds)


def drain_click_spool() -> int:
    """Clicks spooled to this host's disk while Redis and the database were both down."""
    with job_context():
        spool = Path(current_app.instance_path) / "click-spool"
        return tracking.drain_spool(db.session, spool)


def purge_clicks() -> int:
    """Delete clicks past the retention limit that back no commission."""
    with job_context():
        months = current_app.config["CLICK_RETENTION_MONTHS"]
        return tracking.purge_clicks(db.session, utcnow(), months)


def attribute_orders() -> dict[str, int]:
    """Attribute every received order that is due (several workers may run it at once)."""
    with job_context():
        return vars(conversions.attribute_orders(db.session, utcnow()))


def approve_commissions() -> int:
    """Approve pending commissions whose brand's return window has closed."""
    with job_context():
        return conversions.approve_commissions(db.session, utcnow())


def build_payout_batch(batch_id: int) -> dict[str, object]:
    """Plan the batch's payouts (safe to run twice: a built batch is left alone)."""
    with job_context():
        batch = db.session.get(PayoutBatch, batch_id)
        if batch is None or batch.status != BatchStatus.BUILDING:
            return {}
        try:
            batch.error = ""
            return payouts.build_batch(
                db.session, batch, minimums=current_app.config["PAYOUT_MINIMUMS"]
            )
        except Exception:
            # The build is one transaction: nothing of it stays. The batch says so on its
            # progress bar; running the job again builds it from scratch.
            db.session.rollback()
            payouts.mark_batch_failed(db.session, batch_id, payouts.BUILD_FAILED)
            db.session.commit()
            raise


def execute_payout_batch(batch_id: int) -> dict[str, int]:
    """Pay an approved batch (Stripe transfers with stored idempotency keys)."""
    with job_context():
        try:
            return payout_tasks.execute_batch(db.session, batch_id, utcnow())
        except Exception:
            db.session.rollback()
            payouts.mark_batch_failed(db.session, batch_id, payouts.EXECUTE_FAILED)
            db.session.commit()
            raise


def import_orders(import_id: int) -> dict[str, Any]:
    """Import an uploaded CSV of orders or refunds; a re-run stores nothing twice."""
    with job_context():
        try:
            return conversion_imports.run_import(db.session, import_id, utcnow())
        except Exception:
            db.session.rollback()
            mark_failed(db.session, ImportJob, import_id, conversion_imports.INTERNAL_ERROR)
            db.session.commit()
            raise


def import_products(import_id: int) -> dict[str, Any]:
    """Import an uploaded catalogue CSV; a re-run resumes after the last committed chunk."""
    with job_context():
        try:
            return catalog_import.run_import(db.session, import_id)
        except Exception:
            db.session.rollback()
            mark_failed(db.session, ProductImport, import_id, catalog_import.INTERNAL_ERROR)
            db.session.commit()
            raise


def export_ledger(export_id: int) -> dict[str, Any]:
    """Write a ledger export to storage; a re-run after a crash starts over and stores it once."""
    with job_context():
        try:
            return ledger_exports.run_export(db.session, export_id)
        except Exception:
            db.session.rollback()
            mark_failed(db.session, LedgerExport, export_id, ledger_exports.INTERNAL_ERROR)
            db.session.commit()
            raise


def recompute_tiers() -> dict[str, int]:
    """Move every creator to the tier their trailing 90 days earn (promotions at once,
    demotions after the grace period); safe to run twice."""
    with job_context():
        return vars(tier_tasks.recompute(db.session, utcnow()))


def sweep_samples() -> dict[str, int]:
    """Delivered samples: fulfilled by published content, overdue past the deadline, or a
    reminder when the deadline is near; safe to run twice."""
    with job_context():
        return vars(sample_tasks.sweep(db.session, utcnow()))


def erase_sample_addresses() -> int:
    """Erase shipping addresses no longer needed (declined, cancelled, delivered 30+ days ago)."""
    with job_context():
        return sample_tasks.erase(db.session, utcnow())


def deliver_webhooks() -> dict[str, int]:
    """Send due webhook deliveries (several workers may run it at once: SKIP LOCKED)."""
    with job_context():
        allow_private = current_app.config["WEBHOOKS_ALLOW_PRIVATE"]
        return vars(webhook_tasks.deliver_due(db.session, utcnow, allow_private=allow_private))


def purge_webhook_deliveries() -> int:
    """Forget finished webhook deliveries after 30 days."""
    with job_context():
        return webhooks.purge_deliveries(db.session, utcnow())
