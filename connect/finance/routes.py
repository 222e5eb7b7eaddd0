from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_babel import gettext as _

from connect.accounts.models import Role
from connect.admin.services import finance_audit_page
from connect.core.pagination import page_arg
from connect.core.policy import role_required
from connect.extensions import db
from connect.ledger.services import balances_by_kind

bp = Blueprint("finance", __name__, url_prefix="/finance")


@bp.get("/")
@role_required(Role.FINANCE, Role.ADMIN)
def home() -> Any:
    return render_template("finance/home.html", balances=balances_by_kind(db.session))


@bp.get("/audit")
@role_required(Role.FINANCE, Role.ADMIN)
def audit() -> Any:
    """Every finance action (batches, approvals, files, returns, exports): who, when, what."""
    events = finance_audit_page(db.session, page=page_arg())
    return render_template("admin/audit.html", events=events, title=_("Finance audit log"))
