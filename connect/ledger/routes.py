"""Statements: a creator's monthly statements (printable HTML and CSV) and finance's ledger
export (streamed CSV). Views parse, check access and call `connect.ledger.statements`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from connect.accounts.forms import ActionForm
from connect.accounts.models import Role, User
from connect.audit.services import record
from connect.core.errors import render_error
from connect.core.policy import creator_required, role_required
from connect.core.progress import progress_json
from connect.core.storage import content_disposition, storage
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.ledger import exports
from connect.ledger.export_models import ExportStatus, LedgerExport
from connect.ledger.models import LedgerAccount
from connect.ledger.statements import (
    STATES,
    ExportPeriod,
    Movement,
    Statement,
    StatementError,
    creator_statement,
    ledger_csv_chunks,
    ledger_entries,
    month_bounds,
    parse_export_params,
    parse_month,
    statement_csv,
    statement_months,
)

bp = Blueprint("statements", __name__)


def row_labels() -> dict[str, str]:
    """The reader's words for each statement row type."""
    return {
        "opening": _("Opening balance"),
        "closing": _("Closing balance"),
        "earned": _("Commission earned"),
        "held": _("Commission earned, held for review"),
        "released": _("Hold released"),
        "rejected": _("Hold rejected"),
        "approved": _("Commission approved"),
        "reversal": _("Reversal (refund)"),
        "payout_scheduled": _("Payout scheduled"),
        "payout": _("Payout sent"),
        "payout_returned": _("Payout returned"),
        "payout_reversed": _("Payout reversed"),
        "task_fee": _("Paid task fee"),
        "adjustment": _("Adjustment"),
    }


def state_labels() -> dict[str, str]:
    return {
        "pending": _("Pending"),
        "held": _("On hold"),
        "approved": _("Approved"),
        "in_flight": _("Being paid"),
    }


def movement_reference(movement: Movement) -> str:
    if movement.order_ref:
        return f"{movement.order_ref} ({movement.sku})" if movement.sku else movement.order_ref
    if movement.payout_id is not None:
        return _("Payout %(id)s", id=movement.payout_id)
    return ""


# --- creators --------------------------------------------------------------------------------


@bp.get("/creator/statements")
@creator_required()
def creator_statements(creator: Creator) -> Any:
    return render_template(
        "ledger/statements.html", months=statement_months(db.session, creator.id)
    )


def _statement_or_404(creator: Creator, month: str) -> Statement:
    """The creator's own statement for `YYYY-MM`; 404 for a malformed or future month, and for
    a month before the creator's first ledger entry (nothing to state)."""
    start = parse_month(month)
    if start is None or start > utcnow():
        abort(404)
    start, end = month_bounds(start)
    statement = creator_statement(db.session, creator.id, start, end)
    if not statement.has_history:
        abort(404)
    return statement


@bp.get("/creator/statements/<month>")
@creator_required()
def creator_statement_page(creator: Creator, month: str) -> Any:
    statement = _statement_or_404(creator, month)
    now = utcnow()
    return render_template(
        "ledger/statement.html",
        creator=creator,
        statement=statement,
        month=month,
        first_day=statement.start.date(),
        last_day=(statement.end - timedelta(days=1)).date(),
        complete=statement.end <= now,
        now=now,
        states=STATES,
        state_labels=state_labels(),
        labels=row_labels(),
        reference=movement_reference,
    )


@bp.get("/creator/statements/<month>.csv")
@creator_required()
def creator_statement_csv(creator: Creator, month: str) -> Any:
    statement = _statement_or_404(creator, month)
    body = statement_csv(statement, describe=row_labels(), reference=movement_reference)
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="connect-statement-{month}.csv"'
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- finance ---------------------------------------------------------------------------------


@bp.route("/finance/ledger-export", methods=["GET", "POST"])
@role_required(Role.FINANCE, Role.ADMIN)
def ledger_export_form() -> Any:
    form = ActionForm()
    error = ""
    this_month = utcnow().date().replace(day=1)
    last_day = this_month - timedelta(days=1)
    start, end = last_day.replace(day=1), last_day
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            period = parse_export_params(request.form)
        except StatementError as exc:
            error = str(exc)
        else:
            export = exports.create_export(db.session, period=period, actor_id=current_user.id)
            _audit_export(period, export)
            return redirect(url_for("statements.ledger_export_detail", export_id=export.id))
    currencies = db.session.scalars(
        select(LedgerAccount.currency).distinct().order_by(LedgerAccount.currency)
    ).all()
    return render_template(
        "ledger/export.html",
        start=start,
        end=end,
        currencies=currencies,
        form=form,
        error=error,
        recent=exports.recent_exports(db.session),
    ), (422 if error else 200)


def _audit_export(period: ExportPeriod, export: LedgerExport | None = None) -> None:
    data: dict[str, object] = {
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "currency": period.currency,
    }
    if export is not None:
        data["export_id"] = export.id
    actor = db.session.get(User, current_user.id)
    record(db.session, actor_id=actor.id, action="ledger.export", target=actor, data=data)


def _export_or_404(export_id: int) -> LedgerExport:
    export = db.session.get(LedgerExport, export_id)
    if export is None:
        abort(404)
    return export


@bp.get("/finance/ledger-exports/<int:export_id>")
@role_required(Role.FINANCE, Role.ADMIN)
def ledger_export_detail(export_id: int) -> Any:
    export = _export_or_404(export_id)
    url = url_for("statements.ledger_export_download", export_id=export.id)
    return render_template(
        "ledger/export_detail.html",
        export=export,
        period=exports.period_of(export),
        progress=exports.progress_of(export, url),
    )


@bp.get("/finance/ledger-exports/<int:export_id>/progress")
@role_required(Role.FINANCE, Role.ADMIN)
def ledger_export_progress(export_id: int) -> Any:
    export = _export_or_404(export_id)
    url = url_for("statements.ledger_export_download", export_id=export.id)
    return progress_json(exports.progress_of(export, url))


@bp.get("/finance/ledger-exports/<int:export_id>/download")
@role_required(Role.FINANCE, Role.ADMIN)
def ledger_export_download(export_id: int) -> Any:
    export = _export_or_404(export_id)
    if export.status != ExportStatus.DONE or not export.storage_key:
        abort(404)
    filename = exports.period_of(export).filename()
    store = storage()
    url = store.presigned_url(export.storage_key, expires_in=300, filename=filename)
    if url:  # S3: a link that works for five minutes
        return redirect(url)
    try:
        data = store.get(export.storage_key)
    except FileNotFoundError:
        abort(404)
    response = Response(data, mimetype="text/csv")
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/finance/ledger-export.csv")
@role_required(Role.FINANCE, Role.ADMIN)
def ledger_export() -> Any:
    try:
        period = parse_export_params(request.args)
    except StatementError as exc:
        return render_error(400, str(exc))
    _audit_export(period)

    def generate() -> Any:
        # Runs after the request committed the audit row, in its own read transaction: the
        # server-side cursor must not be open across that commit.
        yield from ledger_csv_chunks(ledger_entries(db.session, period))

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{period.filename()}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
