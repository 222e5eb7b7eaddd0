from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from connect.accounts.models import Role
from connect.core.policy import role_required
from connect.extensions import db
from connect.ledger.services import balances_by_kind

bp = Blueprint("finance", __name__, url_prefix="/finance")


@bp.get("/")
@role_required(Role.FINANCE, Role.ADMIN)
def home() -> Any:
    return render_template("finance/home.html", balances=balances_by_kind(db.session))
