"""The brand workspace and catalogue in the portal.

Every page takes the brand from its slug through `brand_member_required` (not a member: 404).
Viewers see every page; owners and managers change things (a viewer's POST answers 403). Views
parse the form, call a service, and render; the request commits.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from connect.accounts.models import Role
from connect.brands import catalog_import
from connect.brands.forms import (
    DomainForm,
    InviteForm,
    NewProductForm,
    ProductForm,
    ProductImportForm,
    ProfileForm,
    RoleForm,
    TrackingForm,
    max_upload_bytes,
    role_choices,
)
from connect.brands.models import Brand, BrandMember, BrandRole, Product, ProductStatus
from connect.brands.services import (
    BrandError,
    add_domain,
    add_member,
    brand_overview,
    can_edit,
    categories_of,
    change_role,
    create_product,
    format_percent,
    integration_examples,
    parse_percent,
    product_of,
    products_page,
    remove_domain,
    remove_member,
    sample_product,
    set_product_status,
    team,
    update_product,
    update_profile,
    update_tracking,
    verified_domains,
)
from connect.core.money import Money
from connect.core.pagination import page_arg
from connect.core.policy import brand_member_required, brands_of, role_required
from connect.core.progress import progress_json
from connect.core.storage import content_disposition, storage
from connect.extensions import db

bp = Blueprint("brands", __name__, url_prefix="/brand")


def _editor_only(membership: BrandMember) -> None:
    if not can_edit(membership):
        abort(403)


def _refuse(form: FlaskForm, exc: BrandError) -> int:
    """Show a service's refusal on its field (or the page); returns the status to answer."""
    if exc.status == 404:
        abort(404)
    if exc.field and exc.field in form:
        field = form[exc.field]
        field.errors = [*field.errors, str(exc)]
    else:
        flash(str(exc), "error")
    return exc.status


@bp.get("/")
@role_required(Role.BRAND)
def home() -> Any:
    brands = brands_of(current_user)
    if len(brands) == 1:
        return redirect(url_for("brands.overview", brand_slug=brands[0].slug))
    return render_template("brands/home.html", brands=brands)


@bp.get("/<brand_slug>/")
@brand_member_required()
def overview(brand: Brand, membership: BrandMember) -> Any:
    stats = brand_overview(db.session, brand)
    return render_template(
        "brands/overview.html",
        brand=brand,
        membership=membership,
        stats=stats,
        default_rate=format_percent(brand.default_rate_bps),
    )


# -- settings: profile and tracking -----------------------------------------------------------


def _profile_form(brand: Brand, bound: bool = False) -> ProfileForm:
    data = {"name": brand.name, "website": brand.website, "currency": brand.currency}
    return ProfileForm() if bound else ProfileForm(formdata=None, data=data)


def _tracking_form(brand: Brand, bound: bool = False) -> TrackingForm:
    data = {
        "click_param": brand.click_param,
        "return_window_days": brand.return_window_days,
        "default_rate": format_percent(brand.default_rate_bps),
    }
    return TrackingForm() if bound else TrackingForm(formdata=None, data=data)


def _settings_page(
    brand: Brand,
    membership: BrandMember,
    profile: ProfileForm | None = None,
    tracking: TrackingForm | None = None,
    status: int = 200,
) -> Any:
    return render_template(
        "brands/settings.html",
        brand=brand,
        membership=membership,
        can_edit=can_edit(membership),
        profile_form=profile or _profile_form(brand),
        tracking_form=tracking or _tracking_form(brand),
        default_rate=format_percent(brand.default_rate_bps),
    ), status


@bp.get("/<brand_slug>/settings")
@brand_member_required()
def settings(brand: Brand, membership: BrandMember) -> Any:
    return _settings_page(brand, membership)


@bp.post("/<brand_slug>/settings/profile")
@brand_member_required(BrandRole.MANAGER)
def update_settings_profile(brand: Brand, membership: BrandMember) -> Any:
    form = _profile_form(brand, bound=True)
    if not form.validate_on_submit():
        return _settings_page(brand, membership, profile=form, status=422)
    try:
        update_profile(
            db.session,
            brand,
            name=form.name.data,
            website=form.website.data or "",
            currency=form.currency.data,
            actor_id=current_user.id,
        )
    except BrandError as exc:
        db.session.rollback()
        status = _refuse(form, exc)
        return _settings_page(brand, membership, profile=form, status=status)
    flash(_("The brand profile is saved."), "success")
    return redirect(url_for("brands.settings", brand_slug=brand.slug))


@bp.post("/<brand_slug>/settings/tracking")
@brand_member_required(BrandRole.MANAGER)
def update_settings_tracking(brand: Brand, membership: BrandMember) -> Any:
    form = _tracking_form(brand, bound=True)
    if not form.validate_on_submit():
        return _settings_page(brand, membership, tracking=form, status=422)
    try:
        update_tracking(
            db.session,
            brand,
            click_param=form.click_param.data,
            return_window_days=form.return_window_days.data,
            default_rate_bps=parse_percent(form.default_rate.data),
            actor_id=current_user.id,
        )
    except BrandError as exc:
        db.session.rollback()
        status = _refuse(form, exc)
        return _settings_page(brand, membership, tracking=form, status=status)
    flash(_("The tracking settings are saved."), "success")
    return redirect(url_for("brands.settings", brand_slug=brand.slug))


# -- domains ----------------------------------------------------------------------------------


@bp.route("/<brand_slug>/domains", methods=["GET", "POST"])
@brand_member_required()
def domains(brand: Brand, membership: BrandMember) -> Any:
    form = DomainForm()
    status = 200
    if request.method == "POST":
        _editor_only(membership)
        if form.validate_on_submit():
            try:
                domain = add_domain(db.session, brand, form.domain.data, current_user.id)
            except BrandError as exc:
                status = _refuse(form, exc)
            else:
                flash(
                    _(
                        "%(domain)s is added. Publish its DNS TXT record; "
                        "we verify it within one business day.",
                        domain=domain.domain,
                    ),
                    "success",
                )
                return redirect(url_for("brands.domains", brand_slug=brand.slug))
        else:
            status = 422
    return render_template(
        "brands/domains.html",
        brand=brand,
        membership=membership,
        can_edit=can_edit(membership),
        form=form,
        domains=brand.domains,
    ), status


@bp.post("/<brand_slug>/domains/<int:domain_id>/remove")
@brand_member_required(BrandRole.MANAGER)
def remove_brand_domain(brand: Brand, membership: BrandMember, domain_id: int) -> Any:
    removed = remove_domain(db.session, brand, domain_id, current_user.id)
    if removed is None:
        abort(404)
    if removed.orphaned_products:
        flash(
            _(
                "%(domain)s is removed. %(count)s active products have pages on it: creators "
                "cannot link them, and their links stop redirecting, until you move them to a "
                "verified domain.",
                domain=removed.domain,
                count=removed.orphaned_products,
            ),
            "error",
        )
    else:
        flash(_("%(domain)s is removed.", domain=removed.domain), "success")
    return redirect(url_for("brands.domains", brand_slug=brand.slug))


# -- team -------------------------------------------------------------------------------------


def _invite_form(membership: BrandMember, bound: bool = True) -> InviteForm:
    form = InviteForm() if bound else InviteForm(formdata=None)
    if membership.role != BrandRole.OWNER:  # only owners make owners (the service checks too)
        form.role.choices = {
            value: label for value, label in role_choices().items() if value != BrandRole.OWNER
        }
    return form


def _team_page(
    brand: Brand, membership: BrandMember, form: InviteForm | None = None, status: int = 200
) -> Any:
    return render_template(
        "brands/team.html",
        brand=brand,
        membership=membership,
        can_edit=can_edit(membership),
        form=form or _invite_form(membership, bound=False),
        roles=role_choices(),
        members=team(db.session, brand.id),
    ), status


@bp.route("/<brand_slug>/team", methods=["GET", "POST"])
@brand_member_required()
def team_page(brand: Brand, membership: BrandMember) -> Any:
    if request.method == "GET":
        return _team_page(brand, membership)
    _editor_only(membership)
    form = _invite_form(membership)
    if not form.validate_on_submit():
        return _team_page(brand, membership, form, 422)
    try:
        member = add_member(
            db.session,
            brand,
            email=form.email.data,
            role=BrandRole(form.role.data),
            actor=membership,
        )
    except BrandError as exc:
        db.session.rollback()
        status = _refuse(form, exc)
        return _team_page(brand, membership, form, status)
    flash(
        _("%(name)s joined the team as %(role)s.", name=member.user.name, role=member.role),
        "success",
    )
    return redirect(url_for("brands.team_page", brand_slug=brand.slug))


@bp.post("/<brand_slug>/team/<int:member_id>/role")
@brand_member_required(BrandRole.MANAGER)
def change_member_role(brand: Brand, membership: BrandMember, member_id: int) -> Any:
    form = RoleForm()
    if not form.validate_on_submit():
        flash(_("Choose a role from the list."), "error")
        return _team_page(brand, membership, status=422)
    try:
        change_role(db.session, brand, member_id, BrandRole(form.role.data), membership)
    except BrandError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
        return _team_page(brand, membership, status=exc.status)
    flash(_("The role is changed."), "success")
    return redirect(url_for("brands.team_page", brand_slug=brand.slug))


@bp.post("/<brand_slug>/team/<int:member_id>/remove")
@brand_member_required(BrandRole.MANAGER)
def remove_team_member(brand: Brand, membership: BrandMember, member_id: int) -> Any:
    removing_self = member_id == membership.id
    try:
        remove_member(db.session, brand, member_id, membership)
    except BrandError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
        return _team_page(brand, membership, status=exc.status)
    if removing_self:
        flash(_("You left %(brand)s.", brand=brand.name), "success")
        return redirect(url_for("brands.home"))
    flash(_("The member is removed from the team."), "success")
    return redirect(url_for("brands.team_page", brand_slug=brand.slug))


# -- integration ------------------------------------------------------------------------------


@bp.get("/<brand_slug>/integration")
@brand_member_required()
def integration(brand: Brand, membership: BrandMember) -> Any:
    endpoint = url_for("conversions.api_record_order", _external=True)
    sample = sample_product(db.session, brand.id)
    price = sample.price_minor if sample else 4999
    currency = sample.currency if sample else brand.currency
    examples = integration_examples(
        endpoint=endpoint,
        sku=sample.sku if sample else "SKU-1",
        unit_price=price,
        currency=currency,
        click_param=brand.click_param,
    )
    return render_template(
        "brands/integration.html",
        brand=brand,
        membership=membership,
        endpoint=endpoint,
        order_url=url_for("conversions.api_get_order", order_ref="SO-1001", _external=True),
        refunds_url=url_for("conversions.api_record_refund", order_ref="SO-1001", _external=True),
        openapi_url=url_for("conversions.openapi", _external=True),
        example_price=Money(price, currency).format_plain(),
        example_minor=price,
        examples=examples,
        domains=verified_domains(db.session, brand.id),
    )


# -- catalogue --------------------------------------------------------------------------------

STATUS_FILTERS = ("active", "archived", "all")


@bp.get("/<brand_slug>/products")
@brand_member_required()
def products(brand: Brand, membership: BrandMember) -> Any:
    page = page_arg()
    query = request.args.get("q", "").strip()[:100]
    category = request.args.get("category", "").strip()[:80]
    status = request.args.get("status", "active")
    if status not in STATUS_FILTERS:
        abort(400)
    rows, total = products_page(
        db.session,
        brand.id,
        page=page,
        query=query,
        category=category or None,
        status=None if status == "all" else ProductStatus(status),
    )
    return render_template(
        "brands/products.html",
        brand=brand,
        membership=membership,
        can_edit=can_edit(membership),
        products=rows,
        total=total,
        page=page,
        q=query,
        category=category,
        status=status,
        statuses=STATUS_FILTERS,
        categories=categories_of(db.session, brand.id),
    )


def _product_page(
    brand: Brand,
    membership: BrandMember,
    form: ProductForm,
    product: Product | None = None,
    status: int = 200,
) -> Any:
    return render_template(
        "brands/product_form.html",
        brand=brand,
        membership=membership,
        can_edit=can_edit(membership),
        form=form,
        product=product,
        domains=form.verified_domains,
        categories=categories_of(db.session, brand.id),
    ), status


@bp.route("/<brand_slug>/products/new", methods=["GET", "POST"])
@brand_member_required(BrandRole.MANAGER)
def new_product(brand: Brand, membership: BrandMember) -> Any:
    form = NewProductForm() if request.method == "POST" else NewProductForm(formdata=None)
    if request.method == "GET":
        form.currency.data = brand.currency
    form.verified_domains = verified_domains(db.session, brand.id)
    if not form.validate_on_submit():
        return _product_page(brand, membership, form, status=422 if form.errors else 200)
    try:
        product = create_product(
            db.session, brand, form.product_input(form.sku.data.strip()), current_user.id
        )
    except BrandError as exc:
        db.session.rollback()
        return _product_page(brand, membership, form, status=_refuse(form, exc))
    flash(_("%(sku)s is added to the catalogue.", sku=product.sku), "success")
    return redirect(url_for("brands.product", brand_slug=brand.slug, product_id=product.id))


def _major(amount: int, currency: str) -> str:
    return format(Money(amount, currency).to_decimal(), "f")


@bp.route("/<brand_slug>/products/<int:product_id>", methods=["GET", "POST"])
@brand_member_required()
def product(brand: Brand, membership: BrandMember, product_id: int) -> Any:
    found = product_of(db.session, brand.id, product_id)
    if found is None:
        abort(404)
    if request.method == "GET":
        form = ProductForm(
            formdata=None,
            data={
                "title": found.title,
                "url": found.url,
                "price": _major(found.price_minor, found.currency),
                "currency": found.currency,
                "category": found.category,
                "image_url": found.image_url,
                "countries": " ".join(found.countries),
            },
        )
        form.verified_domains = verified_domains(db.session, brand.id)
        return _product_page(brand, membership, form, found)
    _editor_only(membership)
    form = ProductForm()
    form.verified_domains = verified_domains(db.session, brand.id)
    if not form.validate_on_submit():
        return _product_page(brand, membership, form, found, 422)
    try:
        update_product(db.session, found, form.product_input(found.sku), current_user.id)
    except BrandError as exc:
        db.session.rollback()
        return _product_page(brand, membership, form, found, _refuse(form, exc))
    flash(_("%(sku)s is saved.", sku=found.sku), "success")
    return redirect(url_for("brands.product", brand_slug=brand.slug, product_id=found.id))


def _set_status(brand: Brand, product_id: int, status: ProductStatus) -> Any:
    found = product_of(db.session, brand.id, product_id)
    if found is None:
        abort(404)
    try:
        set_product_status(db.session, found, status, current_user.id)
    except BrandError as exc:
        db.session.rollback()
        flash(_("It cannot be restored: its page %(why)s", why=str(exc)), "error")
        return redirect(url_for("brands.product", brand_slug=brand.slug, product_id=product_id))
    if status == ProductStatus.ARCHIVED:
        flash(_("%(sku)s is archived: creators no longer see it.", sku=found.sku), "success")
    else:
        flash(_("%(sku)s is active again.", sku=found.sku), "success")
    return redirect(url_for("brands.product", brand_slug=brand.slug, product_id=found.id))


@bp.post("/<brand_slug>/products/<int:product_id>/archive")
@brand_member_required(BrandRole.MANAGER)
def archive_product(brand: Brand, membership: BrandMember, product_id: int) -> Any:
    return _set_status(brand, product_id, ProductStatus.ARCHIVED)


@bp.post("/<brand_slug>/products/<int:product_id>/restore")
@brand_member_required(BrandRole.MANAGER)
def restore_product(brand: Brand, membership: BrandMember, product_id: int) -> Any:
    return _set_status(brand, product_id, ProductStatus.ACTIVE)


# -- catalogue CSV import ---------------------------------------------------------------------


@bp.route("/<brand_slug>/products/import", methods=["GET", "POST"])
@brand_member_required(BrandRole.MANAGER)
def product_import(brand: Brand, membership: BrandMember) -> Any:
    form = ProductImportForm()
    status = 200
    if form.validate_on_submit():
        try:
            # The file as a whole is checked here, so a refused file writes nothing.
            parsed = catalog_import.parse_csv(form.payload)
        except catalog_import.ImportFileError as exc:
            form.file.errors = [*form.file.errors, str(exc)]
        else:
            job = catalog_import.create_import(
                db.session,
                storage(),
                brand_id=brand.id,
                actor_id=current_user.id,
                filename=form.file.data.filename or "",
                data=form.payload,
                total_rows=len(parsed.rows),
            )
            return redirect(
                url_for("brands.product_import_detail", brand_slug=brand.slug, import_id=job.id)
            )
    if form.errors:
        status = 422
    return render_template(
        "brands/product_import.html",
        brand=brand,
        membership=membership,
        form=form,
        imports=catalog_import.imports_of(db.session, brand.id),
        domains=verified_domains(db.session, brand.id),
        max_mb=max_upload_bytes() // (1024 * 1024),
        max_rows=catalog_import.MAX_ROWS,
    ), status


@bp.get("/<brand_slug>/products/import/template.csv")
@brand_member_required()
def product_import_template(brand: Brand, membership: BrandMember) -> Any:
    return Response(
        catalog_import.template_csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": content_disposition("products-template.csv")},
    )


@bp.get("/<brand_slug>/products/imports/<int:import_id>")
@brand_member_required(BrandRole.MANAGER)
def product_import_detail(brand: Brand, membership: BrandMember, import_id: int) -> Any:
    job = catalog_import.import_of(db.session, brand.id, import_id)
    if job is None:
        abort(404)
    url = url_for("brands.product_import_detail", brand_slug=brand.slug, import_id=job.id)
    return render_template(
        "brands/product_import_detail.html",
        brand=brand,
        membership=membership,
        job=job,
        progress=catalog_import.progress_of(job, url),
    )


@bp.get("/<brand_slug>/products/imports/<int:import_id>/progress")
@brand_member_required(BrandRole.MANAGER)
def product_import_progress(brand: Brand, membership: BrandMember, import_id: int) -> Any:
    job = catalog_import.import_of(db.session, brand.id, import_id)
    if job is None:
        abort(404)
    url = url_for("brands.product_import_detail", brand_slug=brand.slug, import_id=job.id)
    return progress_json(catalog_import.progress_of(job, url))


@bp.get("/<brand_slug>/products/imports/<int:import_id>/errors.csv")
@brand_member_required(BrandRole.MANAGER)
def product_import_errors(brand: Brand, membership: BrandMember, import_id: int) -> Any:
    job = catalog_import.import_of(db.session, brand.id, import_id)
    if job is None or not job.error_report_key:
        abort(404)
    try:
        data = storage().get(job.error_report_key)
    except FileNotFoundError:
        abort(404)
    return Response(
        data,
        mimetype="text/csv",
        headers={
            "Content-Disposition": content_disposition(f"product-import-{job.id}-errors.csv"),
            "Cache-Control": "private, no-store",
        },
    )
