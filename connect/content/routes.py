"""Content pages: the creator's pieces, the brand's review, the admin moderation queue, the
public shoppable pages (/c/<handle>) and the media they show."""

from __future__ import annotations

from typing import Any

import click
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import exists, select

from connect.accounts.models import Role
from connect.brands.models import Brand, BrandMember, BrandRole
from connect.campaigns.models import Campaign
from connect.content.forms import BrandDecisionForm, ContentForm, FlagDecisionForm, PublishForm
from connect.content.media import (
    MB,
    MediaError,
    iter_stream,
    limits,
    open_media,
    request_limit,
    store_upload,
)
from connect.content.models import Content, ContentKind, ContentStatus, FlagStatus
from connect.content.services import (
    ContentError,
    ContentInput,
    Outcome,
    approve_content,
    brand_queue,
    brand_recent,
    check_input,
    content_findings,
    content_links,
    creator_content_page,
    decide_flag,
    delete_draft,
    moderation_queue,
    own_content,
    product_choices,
    products_by_content,
    public_creator,
    public_piece,
    public_pieces,
    publish,
    reject_content,
    save_content,
    scan_products,
    shoppable_products,
)
from connect.core.pagination import page_arg
from connect.core.policy import brand_member_required, creator_required, public, role_required
from connect.core.storage import LocalStorage, storage
from connect.core.time import utcnow
from connect.creators.models import Creator, CreatorStatus
from connect.extensions import csrf, db
from connect.tracking.choices import campaign_choices
from connect.tracking.routes import short_url

bp = Blueprint("content", __name__)

PUBLIC_MAX_AGE = 60


def _tell(outcome: Outcome | None) -> None:
    if outcome is None:
        return
    if outcome.status == ContentStatus.FLAGGED:
        flash(
            _(
                "Your piece is held for a compliance review (%(reason)s). "
                "An admin will look at it shortly; its links are paused meanwhile.",
                reason=", ".join(sorted({m.rule for m in outcome.matches})),
            ),
            "info",
        )
    elif outcome.status == ContentStatus.SUBMITTED:
        flash(_("Sent to the brand for approval."), "info")
    elif outcome.status == ContentStatus.PUBLISHED:
        flash(_("Published. Each featured product has its tracked link."), "success")


# --- the creator's pieces ---------------------------------------------------------------------


def _own(creator: Creator, content_id: int) -> Content:
    content = own_content(db.session, creator.id, content_id)
    if content is None:
        abort(404)
    return content


@bp.get("/creator/content")
@creator_required()
def mine(creator: Creator) -> Any:
    page = page_arg()
    rows, total = creator_content_page(db.session, creator.id, page=page)
    return render_template("content/list.html", creator=creator, rows=rows, total=total, page=page)


def _fill_choices(form: ContentForm, creator: Creator, content: Content | None) -> None:
    campaigns = campaign_choices(db.session, creator, utcnow().date())
    if content is not None and content.campaign_id and str(content.campaign_id) not in campaigns:
        current = db.session.get(Campaign, content.campaign_id)
        if current is not None:
            campaigns[str(current.id)] = current.name
    form.campaign_id.choices = campaigns
    campaign = db.session.get(Campaign, form.campaign_id.data) if form.campaign_id.data else None
    form.product_ids.choices = product_choices(
        db.session, creator, campaign, selected=form.product_ids.data or []
    )
    caps = limits()
    form.media.description = _(
        "JPEG, PNG or WebP up to %(image)s MB; MP4 or WebM up to %(video)s MB.",
        image=caps["image"] // MB,
        video=caps["video"] // MB,
    )


def _content_form(creator: Creator, content: Content | None) -> Any:
    # Checked before the body is parsed: a larger upload is refused unread (413).
    request.max_content_length = request_limit()
    form = ContentForm(obj=content)
    if request.method == "GET":
        if content is not None:
            form.product_ids.data = [cp.product_id for cp in content.products]
        else:
            form.language.data = creator.languages[0] if creator.languages else "en"
            form.countries.data = [creator.country]
            campaign = request.args.get("campaign", "")
            form.campaign_id.data = int(campaign) if campaign.isdigit() else None
    _fill_choices(form, creator, content)
    if form.validate_on_submit():
        now = utcnow()
        data = ContentInput(
            kind=ContentKind(form.kind.data),
            title=form.title.data or "",
            body=form.body.data or "",
            language=form.language.data,
            countries=form.countries.data or [],
            external_url=form.external_url.data or "",
            campaign_id=form.campaign_id.data,
            product_ids=form.product_ids.data or [],
        )
        try:
            check_input(db.session, creator, content, data, now=now)
            upload = form.media.data
            stored = store_upload(db.session, creator.id, upload.stream) if upload else None
            saved, outcome = save_content(
                db.session,
                creator,
                content,
                data,
                actor_id=current_user.id,
                now=now,
                media=stored,
                remove_media=bool(form.remove_media.data),
            )
        except MediaError as exc:
            db.session.rollback()
            form.media.errors = [*form.media.errors, str(exc)]
        except ContentError as exc:
            db.session.rollback()
            form.product_ids.errors = [*form.product_ids.errors, str(exc)]
        else:
            if outcome is None:
                flash(_("Saved."), "success")
                findings = content_findings(db.session, saved)
                if findings:
                    flash(
                        _(
                            "Heads-up: this text mentions %(words)s. When you publish, it will "
                            "be held for a compliance review.",
                            words=", ".join(sorted({m.keyword for m in findings})),
                        ),
                        "info",
                    )
            _tell(outcome)
            return redirect(url_for("content.detail", content_id=saved.id))
    status = 422 if form.errors else 200
    return render_template("content/form.html", form=form, creator=creator, content=content), status


# CSRF is checked by the form itself (FlaskForm), after the per-view upload limit is set: the
# app-wide check would parse the body first, without that limit.
@bp.route("/creator/content/new", methods=["GET", "POST"])
@csrf.exempt
@creator_required()
def new(creator: Creator) -> Any:
    return _content_form(creator, None)


@bp.route("/creator/content/<int:content_id>/edit", methods=["GET", "POST"])
@csrf.exempt
@creator_required()
def edit(creator: Creator, content_id: int) -> Any:
    content = _own(creator, content_id)
    if content.status not in (ContentStatus.DRAFT, ContentStatus.PUBLISHED):
        flash(_("This piece cannot be edited now."), "error")
        return redirect(url_for("content.detail", content_id=content.id))
    return _content_form(creator, content)


@bp.get("/creator/content/<int:content_id>")
@creator_required()
def detail(creator: Creator, content_id: int) -> Any:
    content = _own(creator, content_id)
    links = content_links(db.session, content)
    return render_template(
        "content/detail.html",
        creator=creator,
        content=content,
        products=products_by_content(db.session, [content.id]).get(content.id, []),
        links=[(link, title, short_url(link.code)) for link, title in links],
        form=PublishForm(),
    )


@bp.post("/creator/content/<int:content_id>/publish")
@creator_required()
def publish_piece(creator: Creator, content_id: int) -> Any:
    content = _own(creator, content_id)
    if not PublishForm().validate_on_submit():
        abort(400)
    try:
        outcome = publish(db.session, content, creator, actor_id=current_user.id, now=utcnow())
    except ContentError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        _tell(outcome)
    return redirect(url_for("content.detail", content_id=content_id))


@bp.post("/creator/content/<int:content_id>/delete")
@creator_required()
def delete(creator: Creator, content_id: int) -> Any:
    content = _own(creator, content_id)
    if not PublishForm().validate_on_submit():
        abort(400)
    try:
        delete_draft(db.session, content, actor_id=current_user.id)
    except ContentError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("content.detail", content_id=content_id))
    flash(_("The draft is deleted."), "success")
    return redirect(url_for("content.mine"))


# --- media -------------------------------------------------------------------------------------


def _may_preview(content: Content, creator: Creator) -> bool:
    """Who sees the media of a piece that is not public: its creator, an admin, and the staff of
    the brand whose campaign it is in."""
    if not current_user.is_authenticated:
        return False
    if current_user.role == Role.ADMIN:
        return True
    if current_user.role == Role.CREATOR:
        return creator.user_id == current_user.id
    if current_user.role == Role.BRAND and content.campaign_id:
        return bool(
            db.session.scalar(
                select(
                    exists().where(
                        Campaign.id == content.campaign_id,
                        BrandMember.brand_id == Campaign.brand_id,
                        BrandMember.user_id == current_user.id,
                    )
                )
            )
        )
    return False


@bp.get("/content/<int:content_id>/media")
@public
def media(content_id: int) -> Any:
    """The piece's photo or video. Public once the piece is; before that only to those who may
    review it (anyone else: 404, as if there were none)."""
    row = db.session.execute(
        select(Content, Creator)
        .join(Creator, Creator.id == Content.creator_id)
        .where(Content.id == content_id)
    ).first()
    if row is None or not row[0].media_key:
        abort(404)
    content, creator = row
    is_public = (
        content.status == ContentStatus.PUBLISHED and creator.status == CreatorStatus.APPROVED
    )
    if not is_public and not _may_preview(content, creator):
        abort(404)
    store = storage()
    try:
        if isinstance(store, LocalStorage):
            # Range requests (seeking in a video) come for free from a file on disk.
            response = send_file(
                store.path_for(content.media_key),
                mimetype=content.media_type,
                conditional=True,
                etag=True,
            )
        else:
            response = Response(iter_stream(open_media(content.media_key)))
            response.content_length = content.media_bytes
    except FileNotFoundError:
        abort(404)
    response.mimetype = content.media_type
    response.headers["Content-Disposition"] = "inline"
    # Opened directly, the file can run nothing and load nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "public, max-age=300" if is_public else "private, no-store"
    return response


# --- the brand's review ---------------------------------------------------------------------------


@bp.get("/brand/<brand_slug>/content")
@brand_member_required(BrandRole.VIEWER)
def brand_review(brand: Brand, membership: BrandMember) -> Any:
    waiting = brand_queue(db.session, brand.id)
    recent = brand_recent(db.session, brand.id)
    products = products_by_content(db.session, [c.id for c, _, _ in waiting + recent])
    return render_template(
        "content/brand_review.html",
        brand=brand,
        waiting=waiting,
        recent=recent,
        products=products,
        can_decide=membership.role in (BrandRole.OWNER, BrandRole.MANAGER),
        form=BrandDecisionForm(),
    )


@bp.post("/brand/<brand_slug>/content/<int:content_id>/decision")
@brand_member_required(BrandRole.MANAGER)
def brand_decision(brand: Brand, membership: BrandMember, content_id: int) -> Any:
    form = BrandDecisionForm()
    if not form.validate_on_submit():
        abort(400)
    now = utcnow()
    try:
        if form.decision.data == "approve":
            outcome = approve_content(
                db.session, brand.id, content_id, actor_id=current_user.id, now=now
            )
        else:
            outcome = reject_content(
                db.session,
                brand.id,
                content_id,
                form.reason.data or "",
                actor_id=current_user.id,
                now=now,
            )
    except ContentError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
    else:
        flash(
            _("Approved and published.")
            if outcome.status == ContentStatus.PUBLISHED
            else _("Rejected. The creator sees your reason; the piece's links are switched off."),
            "success",
        )
    return redirect(url_for("content.brand_review", brand_slug=brand.slug))


# --- the admin moderation queue --------------------------------------------------------------


@bp.get("/admin/moderation")
@role_required(Role.ADMIN)
def moderation() -> Any:
    raw = request.args.get("status", FlagStatus.OPEN.value)
    if raw not in {s.value for s in FlagStatus}:
        abort(400)
    return render_template(
        "content/moderation.html",
        items=moderation_queue(db.session, status=FlagStatus(raw)),
        status=raw,
        statuses=[s.value for s in FlagStatus],
        form=FlagDecisionForm(),
    )


@bp.post("/admin/moderation/<int:flag_id>")
@role_required(Role.ADMIN)
def decide(flag_id: int) -> Any:
    form = FlagDecisionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        decide_flag(
            db.session,
            flag_id,
            form.decision.data,
            form.note.data or "",
            actor_id=current_user.id,
            now=utcnow(),
        )
    except ContentError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
    else:
        flash(_("Decision recorded."), "success")
    return redirect(url_for("content.moderation"))


# --- public shoppable pages ---------------------------------------------------------------------


def _cacheable(html: str) -> Response:
    """Public pages are the same for everyone who reads the same language: shared caches may
    keep them a minute. A signed-in reader's copy stays in their own browser."""
    response = make_response(html)
    scope = "private" if current_user.is_authenticated else "public"
    response.headers["Cache-Control"] = f"{scope}, max-age={PUBLIC_MAX_AGE}"
    response.vary.add("Accept-Language")
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/c/<handle>")
@public
def creator_page(handle: str) -> Any:
    creator = public_creator(db.session, handle)
    if creator is None:
        abort(404)
    language = request.args.get("lang", "")
    pieces = public_pieces(db.session, creator.id, language=language or None)
    return _cacheable(
        render_template("content/public_creator.html", creator=creator, pieces=pieces)
    )


@bp.get("/c/<handle>/<int:content_id>")
@public
def piece_page(handle: str, content_id: int) -> Any:
    found = public_piece(db.session, handle, content_id)
    if found is None:
        abort(404)
    content, creator = found
    products = [
        (product, brand, short_url(code))
        for product, code, brand in shoppable_products(db.session, content)
    ]
    return _cacheable(
        render_template(
            "content/public_piece.html", creator=creator, content=content, products=products
        )
    )


# --- command line ------------------------------------------------------------------------------


@bp.cli.command("scan-products")
@click.option("--batch", default=1000, show_default=True)
def scan_products_command(batch: int) -> None:
    """Check every active product against the prohibited list (after the list changed)."""
    last, total = 0, 0
    while True:
        after, flagged = scan_products(db.session, now=utcnow(), after_id=last, batch=batch)
        db.session.commit()
        total += flagged
        if after == last:
            break
        last = after
    click.echo(f"{total} product(s) flagged for moderation")
