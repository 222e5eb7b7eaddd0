from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from connect.accounts.forms import ActionForm
from connect.accounts.models import Role
from connect.audit.services import record
from connect.core.jobs import enqueue_after_commit
from connect.core.pagination import page_arg
from connect.core.policy import public, role_required
from connect.core.progress import progress_json
from connect.core.storage import content_disposition, storage
from connect.core.time import utcnow
from connect.extensions import csrf, db, limiter
from connect.payouts.forms import BatchForm, ReturnsForm, parse_returns
from connect.payouts.models import BatchStatus, Payout, PayoutBatch, PayoutFile, PayoutStatus
from connect.payouts.services import (
    PayoutError,
    approve_batch,
    batch_progress,
    cancel_batch,
    mark_file_paid,
    record_returns,
    start_batch,
)
from connect.payouts.webhooks import WebhookRejected, handle_event, verify

bp = Blueprint("payouts", __name__)


@bp.post("/webhooks/stripe")
@public
@csrf.exempt
@limiter.limit("1200 per minute")
def stripe_webhook() -> Any:
    try:
        event = verify(
            request.get_data(),
            request.headers.get("Stripe-Signature", ""),
            current_app.config["STRIPE_WEBHOOK_SECRET"],
        )
        outcome = handle_event(db.session, event, utcnow())
    except WebhookRejected as exc:
        return {"error": "rejected", "message": str(exc)}, 400
    return {"received": True, "outcome": outcome}


@bp.route("/finance/batches", methods=["GET", "POST"])
@role_required(Role.FINANCE, Role.ADMIN)
def batches() -> Any:
    form = BatchForm()
    if request.method == "POST":
        if current_user.role != Role.FINANCE:
            abort(403)
        if form.validate_on_submit():
            batch = start_batch(
                db.session,
                period_start=form.period_start.data,
                period_end=form.period_end.data,
                actor=current_user,
            )
            enqueue_after_commit(
                db.session,
                "workers.jobs.build_payout_batch",
                batch.id,
                queue_name="payouts",
                job_id=f"build-batch-{batch.id}",
            )
            flash(_("The batch is being built."), "info")
            return redirect(url_for("payouts.batch", batch_id=batch.id))
    rows = db.session.scalars(select(PayoutBatch).order_by(PayoutBatch.id.desc()).limit(100))
    status = 422 if form.errors else 200
    return render_template("payouts/batches.html", batches=list(rows), form=form), status


@bp.get("/finance/batches/<int:batch_id>")
@role_required(Role.FINANCE, Role.ADMIN)
def batch(batch_id: int) -> Any:
    found = db.get_or_404(PayoutBatch, batch_id)
    page = page_arg()
    payouts = db.session.scalars(
        select(Payout)
        .where(Payout.batch_id == batch_id)
        .order_by(Payout.id)
        .limit(100)
        .offset((page - 1) * 100)
    ).all()
    by_status = dict(
        db.session.execute(
            select(Payout.status, func.count())
            .where(Payout.batch_id == batch_id)
            .group_by(Payout.status)
        ).all()
    )
    return render_template(
        "payouts/batch.html",
        batch=found,
        payouts=payouts,
        by_status=by_status,
        page=page,
        form=ActionForm(),
        progress=batch_progress(db.session, found, url_for("payouts.batch", batch_id=found.id)),
    )


@bp.get("/finance/batches/<int:batch_id>/progress")
@role_required(Role.FINANCE, Role.ADMIN)
def batch_progress_json(batch_id: int) -> Any:
    found = db.get_or_404(PayoutBatch, batch_id)
    url = url_for("payouts.batch", batch_id=found.id)
    return progress_json(batch_progress(db.session, found, url))


#: What each batch action says when it went through: one sentence per action, so that each
#: language words it whole (an English verb in a placeholder would stay English).
_DONE = {
    "approve": _l("Done: approve."),
    "cancel": _l("Done: cancel."),
    "execute": _l("Done: execute."),
}


def _batch_action(batch_id: int, action: str) -> Any:
    found = db.get_or_404(PayoutBatch, batch_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if current_user.role != Role.FINANCE:
        abort(403)
    try:
        if action == "approve":
            approve_batch(db.session, found, current_user, utcnow())
        elif action == "cancel":
            cancel_batch(db.session, found, current_user)
        else:
            if found.status not in {BatchStatus.APPROVED, BatchStatus.EXECUTING}:
                raise PayoutError(
                    _l("A %(status)s batch cannot be executed.", status=found.status.value)
                )
            enqueue_after_commit(
                db.session,
                "workers.jobs.execute_payout_batch",
                found.id,
                queue_name="payouts",
                job_id=f"execute-batch-{found.id}",
            )
    except PayoutError as exc:
        flash(str(exc), "error")
    else:
        flash(str(_DONE[action]), "success")
    return redirect(url_for("payouts.batch", batch_id=found.id))


@bp.post("/finance/batches/<int:batch_id>/approve")
@role_required(Role.FINANCE, Role.ADMIN)
def approve(batch_id: int) -> Any:
    return _batch_action(batch_id, "approve")


@bp.post("/finance/batches/<int:batch_id>/cancel")
@role_required(Role.FINANCE, Role.ADMIN)
def cancel(batch_id: int) -> Any:
    return _batch_action(batch_id, "cancel")


@bp.post("/finance/batches/<int:batch_id>/execute")
@role_required(Role.FINANCE, Role.ADMIN)
def execute(batch_id: int) -> Any:
    return _batch_action(batch_id, "execute")


@bp.get("/finance/failures")
@role_required(Role.FINANCE, Role.ADMIN)
def failures() -> Any:
    rows = db.session.scalars(
        select(Payout)
        .where(Payout.status == PayoutStatus.FAILED)
        .order_by(Payout.updated_at.desc())
        .limit(200)
    ).all()
    return render_template("payouts/failures.html", payouts=rows)


@bp.get("/finance/batches/<int:batch_id>/files/<int:file_id>")
@role_required(Role.FINANCE, Role.ADMIN)
def download_file(batch_id: int, file_id: int) -> Any:
    payout_file = db.session.scalar(
        select(PayoutFile).where(PayoutFile.id == file_id, PayoutFile.batch_id == batch_id)
    )
    if payout_file is None:
        abort(404)
    filename = payout_file.storage_key.rsplit("/", 1)[-1]
    store = storage()
    record(db.session, actor_id=current_user.id, action="payout_file.download", target=payout_file)
    url = store.presigned_url(payout_file.storage_key, expires_in=300, filename=filename)
    if url:  # S3: a link that works for five minutes
        return redirect(url)
    response = Response(store.get(payout_file.storage_key), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/finance/batches/<int:batch_id>/files/<int:file_id>/paid")
@role_required(Role.FINANCE)
def file_paid(batch_id: int, file_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    payout_file = db.session.scalar(
        select(PayoutFile).where(PayoutFile.id == file_id, PayoutFile.batch_id == batch_id)
    )
    if payout_file is None:
        abort(404)
    count = mark_file_paid(db.session, payout_file, current_user, utcnow())
    flash(_("%(count)s payouts marked paid.", count=count), "success")
    return redirect(url_for("payouts.batch", batch_id=batch_id))


@bp.post("/finance/batches/<int:batch_id>/returns")
@role_required(Role.FINANCE)
def bank_returns(batch_id: int) -> Any:
    found = db.get_or_404(PayoutBatch, batch_id)
    form = ReturnsForm()
    if not form.validate_on_submit():
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for("payouts.batch", batch_id=batch_id))
    try:
        returns = parse_returns(form.file.data.read(256 * 1024 + 1))
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("payouts.batch", batch_id=batch_id))
    failed, problems = record_returns(db.session, found, returns, current_user)
    flash(_("%(count)s payouts returned to their creators.", count=failed), "success")
    for problem in problems[:10]:
        flash(str(problem), "error")
    return redirect(url_for("payouts.batch", batch_id=batch_id))
