from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import segno
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from connect.accounts.models import ApiToken
from connect.accounts.services import AccountError, create_api_token, revoke_api_token
from connect.core.pagination import page_arg
from connect.core.policy import api_token_required, creator_required, public
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import csrf, db, limiter
from connect.tracking.capture import Redirector
from connect.tracking.choices import campaign_choices, content_choices, product_choices
from connect.tracking.forms import ApiTokenForm, LinkForm
from connect.tracking.models import Link, LinkStatus
from connect.tracking.services import (
    LinkError,
    click_counts,
    clicks_by_day,
    create_link,
    creator_link,
    links_with_stats,
    may_reactivate,
    set_link_status,
)

bp = Blueprint("tracking", __name__)


def init_tracking(app: Flask) -> None:
    app.extensions["connect_redirector"] = Redirector(app)


def short_url(code: str) -> str:
    base = current_app.config["LINK_BASE_URL"] or request.host_url
    return base.rstrip("/") + "/r/" + code


# --- the redirect: the hottest path of the platform -----------------------------------------


@bp.get("/r/<code>")
@public
@limiter.exempt
def follow(code: str) -> Any:
    """Active links are redirected by connect/tracking/fastpath.py before Flask sees the
    request; what reaches this view is a code with no active, safe link."""
    return render_template("tracking/link_not_found.html"), 404


# --- the creator's links in the portal --------------------------------------------------------


def _fill_link_form(form: LinkForm, creator: Creator) -> None:
    form.product_id.choices = product_choices(db.session, creator)
    form.campaign_id.choices = campaign_choices(db.session, creator, utcnow().date())
    form.content_id.choices = content_choices(db.session, creator)


@bp.get("/creator/links")
@creator_required()
def links(creator: Creator) -> Any:
    page = page_arg()
    rows, total = links_with_stats(db.session, creator.id, page=page)
    return render_template(
        "tracking/links.html", creator=creator, rows=rows, total=total, page=page
    )


@bp.route("/creator/links/new", methods=["GET", "POST"])
@creator_required()
def new_link(creator: Creator) -> Any:
    form = LinkForm()
    _fill_link_form(form, creator)
    if request.method == "GET" and request.args.get("product", "").isdigit():
        form.product_id.data = int(request.args["product"])
    if form.validate_on_submit():
        try:
            link = create_link(
                db.session,
                creator,
                product_id=form.product_id.data,
                campaign_id=form.campaign_id.data,
                content_id=form.content_id.data,
            )
        except LinkError as exc:
            form.product_id.errors = [*form.product_id.errors, str(exc)]
        else:
            flash(_("Your link is ready: %(url)s", url=short_url(link.code)), "success")
            return redirect(url_for("tracking.link_detail", link_id=link.id))
    status = 422 if form.errors else 200
    return render_template("tracking/new_link.html", form=form, creator=creator), status


def _own_link(creator: Creator, link_id: int) -> Link:
    link = creator_link(db.session, creator.id, link_id)
    if link is None:
        abort(404)
    return link


@bp.get("/creator/links/<int:link_id>")
@creator_required()
def link_detail(creator: Creator, link_id: int) -> Any:
    link = _own_link(creator, link_id)
    since = utcnow() - timedelta(days=30)
    return render_template(
        "tracking/link_detail.html",
        link=link,
        url=short_url(link.code),
        totals=click_counts(db.session, [link.id]).get(
            link.id, {"clicks": 0, "unique": 0, "bots": 0}
        ),
        days=clicks_by_day(db.session, link.id, since),
    )


@bp.post("/creator/links/<int:link_id>/status")
@creator_required()
def link_status(creator: Creator, link_id: int) -> Any:
    link = _own_link(creator, link_id)
    raw = request.form.get("status", "")
    if raw not in {s.value for s in LinkStatus}:
        abort(400)
    if raw == LinkStatus.ACTIVE and not may_reactivate(db.session, link):
        flash(
            _(
                "This link's content or product is under review, rejected or archived; "
                "the link stays off."
            ),
            "error",
        )
        return redirect(url_for("tracking.link_detail", link_id=link.id))
    set_link_status(db.session, link, LinkStatus(raw), actor_id=current_user.id)
    flash(_("The link is now %(status)s.", status=raw), "success")
    return redirect(url_for("tracking.link_detail", link_id=link.id))


@bp.get("/creator/links/<int:link_id>/qr.<fmt>")
@creator_required()
def link_qr(creator: Creator, link_id: int, fmt: str) -> Any:
    if fmt not in {"png", "svg"}:
        abort(404)
    link = _own_link(creator, link_id)
    qr = segno.make(short_url(link.code), error="m")
    if fmt == "png":
        body, mimetype = _png(qr), "image/png"
    else:
        body, mimetype = _svg(qr), "image/svg+xml"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="connect-{link.code}.{fmt}"'
    return response


def _png(qr: segno.QRCode) -> bytes:
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=10, border=4)
    return buffer.getvalue()


def _svg(qr: segno.QRCode) -> bytes:
    # A standalone document (with xmlns): browsers render it in <img> and as a download.
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=8, border=4)
    return buffer.getvalue()


# --- API tokens (portal) and the links API ---------------------------------------------------


@bp.route("/creator/api-tokens", methods=["GET", "POST"])
@creator_required()
def api_tokens(creator: Creator) -> Any:
    form = ApiTokenForm()
    new_token = None
    if form.validate_on_submit():
        try:
            _, new_token = create_api_token(db.session, current_user, form.name.data)
        except AccountError as exc:
            form.name.errors = [*form.name.errors, str(exc)]
    tokens = db.session.scalars(
        db.select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.id.desc())
    ).all()
    status = 422 if form.errors else 200
    return render_template(
        "tracking/api_tokens.html", form=form, tokens=tokens, new_token=new_token
    ), status


@bp.post("/creator/api-tokens/<int:token_id>/revoke")
@creator_required()
def revoke_token(creator: Creator, token_id: int) -> Any:
    if revoke_api_token(db.session, current_user, token_id, utcnow()) is None:
        abort(404)
    flash(_("The token is revoked."), "success")
    return redirect(url_for("tracking.api_tokens"))


def _link_json(link: Link) -> dict[str, Any]:
    url = short_url(link.code)
    return {
        "id": link.id,
        "code": link.code,
        "url": url,
        "destination": link.destination_url,
        "product_id": link.product_id,
        "campaign_id": link.campaign_id,
        "content_id": link.content_id,
        "status": link.status.value,
        "created_at": link.created_at.isoformat(),
    }


@bp.post("/api/v1/links")
@csrf.exempt
@api_token_required
@limiter.limit("120 per minute", key_func=lambda: f"token:{g.api_user.id}")
def api_create_link() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return {"error": "invalid_json", "message": "Send a JSON object."}, 400
    ids: dict[str, int | None] = {}
    for name in ("product_id", "campaign_id", "content_id"):
        value = body.get(name)
        if value is None and name != "product_id":
            ids[name] = None
        elif isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
            ids[name] = value
        else:
            return {
                "error": "invalid_field",
                "field": name,
                "message": f"{name} must be a positive integer.",
            }, 422
    unknown = set(body) - set(ids)
    if unknown:
        return {"error": "unknown_field", "message": f"Unknown fields: {sorted(unknown)}."}, 422
    try:
        link = create_link(db.session, g.api_creator, **ids)
    except LinkError as exc:
        return {"error": "refused", "message": str(exc)}, exc.status
    return _link_json(link), 201


@bp.get("/api/v1/links")
@api_token_required
def api_list_links() -> Any:
    page = page_arg()
    rows, total = links_with_stats(db.session, g.api_creator.id, page=page)
    return {
        "total": total,
        "page": page,
        "links": [
            _link_json(r["link"]) | {k: r[k] for k in ("clicks", "unique", "bots")} for r in rows
        ],
    }
