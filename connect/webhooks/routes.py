"""The brand's webhook endpoints and deliveries in the portal.

Viewers see everything but secrets; owners and managers add, switch, rotate, delete, test and
replay (a viewer's POST answers 403). Another brand's endpoint or delivery answers 404.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from connect.brands.models import Brand, BrandMember, BrandRole
from connect.brands.services import can_edit
from connect.core.pagination import page_arg
from connect.core.policy import brand_member_required
from connect.core.time import utcnow
from connect.extensions import db
from connect.webhooks import services
from connect.webhooks.forms import ERRORS, EVENT_LABELS, EndpointForm, EventsForm
from connect.webhooks.models import WebhookEndpoint
from connect.webhooks.services import WebhookError
from connect.webhooks.transport import UnsafeURL

bp = Blueprint("webhooks", __name__)


def _allow_private() -> bool:
    return bool(current_app.config["WEBHOOKS_ALLOW_PRIVATE"])


def _endpoint(brand: Brand, endpoint_id: int) -> WebhookEndpoint:
    endpoint = services.endpoint_of(db.session, brand.id, endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


@bp.route("/brand/<brand_slug>/webhooks", methods=["GET", "POST"])
@brand_member_required()
def index(brand: Brand, membership: BrandMember) -> Any:
    form = EndpointForm()
    if not form.is_submitted():
        form.events.data = list(services.EVENT_TYPES[:3])
    new_secret, status = None, 200
    if request.method == "POST":
        if not can_edit(membership):
            abort(403)
        if form.validate():
            try:
                new_secret = services.create_endpoint(
                    db.session,
                    brand.id,
                    url=form.url.data,
                    events=form.events.data,
                    description=form.description.data or "",
                    actor_id=current_user.id,
                    allow_private=_allow_private(),
                )[1]
            except UnsafeURL as exc:
                form.url.errors = [*form.url.errors, ERRORS[exc.code]]
            except WebhookError as exc:
                form.events.errors = [*form.events.errors, ERRORS[exc.code]]
            else:
                flash(_("The endpoint is added."), "success")
                form = EndpointForm(formdata=None, events=list(services.EVENT_TYPES[:3]))
        if form.errors:
            status = 422
    page = render_template(
        "webhooks/index.html",
        brand=brand,
        membership=membership,
        can_edit=can_edit(membership),
        form=form,
        endpoints=services.endpoints(db.session, brand.id),
        new_secret=new_secret,
        labels=EVENT_LABELS,
    )
    return _respond(page, status, new_secret)


def _respond(page: str, status: int, secret: str | None) -> Response:
    response = make_response(page, status)
    if secret:
        # The one page a secret is ever shown on: no cache keeps a copy.
        response.headers["Cache-Control"] = "no-store"
    return response


def _endpoint_page(
    brand: Brand,
    membership: BrandMember,
    endpoint: WebhookEndpoint,
    *,
    events_form: EventsForm | None = None,
    new_secret: str | None = None,
    status: int = 200,
) -> Any:
    page = page_arg()
    deliveries, total = services.deliveries_page(db.session, endpoint, page)
    html = render_template(
        "webhooks/endpoint.html",
        brand=brand,
        membership=membership,
        can_edit=can_edit(membership),
        endpoint=endpoint,
        events_form=events_form or EventsForm(formdata=None, events=endpoint.events),
        deliveries=deliveries,
        total=total,
        page=page,
        new_secret=new_secret,
        labels=EVENT_LABELS,
    )
    return _respond(html, status, new_secret)


@bp.get("/brand/<brand_slug>/webhooks/<int:endpoint_id>")
@brand_member_required()
def endpoint(brand: Brand, membership: BrandMember, endpoint_id: int) -> Any:
    return _endpoint_page(brand, membership, _endpoint(brand, endpoint_id))


@bp.post("/brand/<brand_slug>/webhooks/<int:endpoint_id>/events")
@brand_member_required(BrandRole.MANAGER)
def update_events(brand: Brand, membership: BrandMember, endpoint_id: int) -> Any:
    hook = _endpoint(brand, endpoint_id)
    form = EventsForm()
    if form.validate():
        try:
            services.update_events(db.session, hook, form.events.data, actor_id=current_user.id)
        except WebhookError as exc:
            form.events.errors = [*form.events.errors, ERRORS[exc.code]]
        else:
            flash(_("The events are saved."), "success")
            return redirect(
                url_for("webhooks.endpoint", brand_slug=brand.slug, endpoint_id=hook.id)
            )
    return _endpoint_page(brand, membership, hook, events_form=form, status=422)


@bp.post("/brand/<brand_slug>/webhooks/<int:endpoint_id>/status")
@brand_member_required(BrandRole.MANAGER)
def set_status(brand: Brand, membership: BrandMember, endpoint_id: int) -> Any:
    hook = _endpoint(brand, endpoint_id)
    wanted = request.form.get("enabled")
    if wanted not in ("on", "off"):
        abort(400)
    services.set_enabled(db.session, hook, wanted == "on", actor_id=current_user.id)
    if hook.enabled:
        flash(_("The endpoint is enabled."), "success")
    else:
        flash(_("The endpoint is disabled: nothing is sent to it until you enable it."), "success")
    return redirect(url_for("webhooks.endpoint", brand_slug=brand.slug, endpoint_id=hook.id))


@bp.post("/brand/<brand_slug>/webhooks/<int:endpoint_id>/rotate")
@brand_member_required(BrandRole.MANAGER)
def rotate(brand: Brand, membership: BrandMember, endpoint_id: int) -> Any:
    hook = _endpoint(brand, endpoint_id)
    secret = services.rotate_secret(db.session, hook, actor_id=current_user.id, now=utcnow())
    return _endpoint_page(brand, membership, hook, new_secret=secret)


@bp.post("/brand/<brand_slug>/webhooks/<int:endpoint_id>/delete")
@brand_member_required(BrandRole.MANAGER)
def delete(brand: Brand, membership: BrandMember, endpoint_id: int) -> Any:
    hook = _endpoint(brand, endpoint_id)
    services.delete_endpoint(db.session, hook, actor_id=current_user.id)
    flash(_("The endpoint and its delivery history are deleted."), "success")
    return redirect(url_for("webhooks.index", brand_slug=brand.slug))


@bp.post("/brand/<brand_slug>/webhooks/<int:endpoint_id>/test")
@brand_member_required(BrandRole.MANAGER)
def send_test(brand: Brand, membership: BrandMember, endpoint_id: int) -> Any:
    hook = _endpoint(brand, endpoint_id)
    try:
        services.send_test(db.session, hook, actor_id=current_user.id, now=utcnow())
    except WebhookError as exc:
        flash(str(ERRORS[exc.code]), "error")
    else:
        flash(_("A test event is on its way; its delivery appears below."), "success")
    return redirect(url_for("webhooks.endpoint", brand_slug=brand.slug, endpoint_id=hook.id))


@bp.get("/brand/<brand_slug>/webhooks/deliveries/<int:delivery_id>")
@brand_member_required()
def delivery(brand: Brand, membership: BrandMember, delivery_id: int) -> Any:
    found = services.delivery_of(db.session, brand.id, delivery_id)
    if found is None:
        abort(404)
    return render_template(
        "webhooks/delivery.html",
        brand=brand,
        membership=membership,
        can_edit=can_edit(membership),
        delivery=found,
        attempts=services.attempts_of(db.session, found),
        body=services.body_of(found.event).decode(),
        labels=EVENT_LABELS,
    )


@bp.post("/brand/<brand_slug>/webhooks/deliveries/<int:delivery_id>/replay")
@brand_member_required(BrandRole.MANAGER)
def replay(brand: Brand, membership: BrandMember, delivery_id: int) -> Any:
    found = services.delivery_of(db.session, brand.id, delivery_id)
    if found is None:
        abort(404)
    try:
        again = services.replay(db.session, found, actor_id=current_user.id, now=utcnow())
    except WebhookError as exc:
        flash(str(ERRORS[exc.code]), "error")
        return redirect(url_for("webhooks.delivery", brand_slug=brand.slug, delivery_id=found.id))
    flash(_("The event is sent again as a new delivery."), "success")
    return redirect(url_for("webhooks.delivery", brand_slug=brand.slug, delivery_id=again.id))
