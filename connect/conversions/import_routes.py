"""Portal pages for CSV imports: upload, progress, and the error report download."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import SelectChoice, SelectField, SubmitField
from wtforms.validators import ValidationError

from connect.brands.models import Brand, BrandMember, BrandRole
from connect.conversions.import_models import ImportKind
from connect.conversions.imports import (
    MAX_BYTES,
    ImportFileError,
    create_import,
    import_of,
    imports_of,
    parse_csv,
    progress_of,
)
from connect.core.policy import brand_member_required
from connect.core.progress import progress_json
from connect.core.storage import storage
from connect.extensions import db

bp = Blueprint("imports", __name__)

REFRESH_SECONDS = 2


def max_upload_bytes() -> int:
    return int(current_app.config.get("IMPORT_MAX_BYTES") or MAX_BYTES)


class ImportForm(FlaskForm):
    kind = SelectField(
        _l("The file holds"),
        choices=[
            SelectChoice(ImportKind.ORDERS.value, _l("Orders (one row per order line)")),
            SelectChoice(ImportKind.REFUNDS.value, _l("Refunds (one row per refunded line)")),
        ],
        default=ImportKind.ORDERS.value,
    )
    file = FileField(
        _l("CSV file"),
        render_kw={"accept": ".csv,text/csv"},
        validators=[
            FileRequired(_l("Choose a file.")),
            FileAllowed(["csv"], _l("Upload a .csv file.")),
        ],
    )
    submit = SubmitField(_l("Upload and import"))

    #: Set by a successful validation: the file's bytes and its data-row count.
    payload: bytes = b""
    total_rows: int = 0

    def validate_file(self, field: FileField) -> None:
        # The content decides, not the name: it must be UTF-8 text with this kind's header.
        if self.kind.data not in {k.value for k in ImportKind}:
            return  # the kind field reports its own error
        limit = max_upload_bytes()
        data = field.data.stream.read(limit + 1)
        if len(data) > limit:
            raise ValidationError(
                _(
                    "The file is larger than %(mb)s MB; split it into smaller files.",
                    mb=limit // (1024 * 1024),
                )
            )
        try:
            parsed = parse_csv(ImportKind(self.kind.data), data)
        except ImportFileError as exc:
            raise ValidationError(str(exc)) from None
        self.payload, self.total_rows = data, len(parsed.rows)


@bp.route("/brand/<brand_slug>/imports", methods=["GET", "POST"])
@brand_member_required(BrandRole.MANAGER)
def index(brand: Brand, membership: BrandMember) -> Any:
    form = ImportForm()
    if form.validate_on_submit():
        job = create_import(
            db.session,
            storage(),
            brand_id=brand.id,
            user_id=current_user.id,
            kind=ImportKind(form.kind.data),
            filename=form.file.data.filename or "",
            data=form.payload,
            total_rows=form.total_rows,
        )
        return redirect(url_for("imports.detail", brand_slug=brand.slug, import_id=job.id))
    status = 422 if form.errors else 200
    return render_template(
        "conversions/imports.html",
        brand=brand,
        form=form,
        imports=imports_of(db.session, brand.id),
        max_mb=max_upload_bytes() // (1024 * 1024),
    ), status


@bp.get("/brand/<brand_slug>/imports/<int:import_id>")
@brand_member_required(BrandRole.MANAGER)
def detail(brand: Brand, membership: BrandMember, import_id: int) -> Any:
    job = import_of(db.session, brand.id, import_id)
    if job is None:
        abort(404)
    url = url_for("imports.detail", brand_slug=brand.slug, import_id=job.id)
    return render_template(
        "conversions/import_detail.html",
        brand=brand,
        job=job,
        progress=progress_of(job, url),
        refresh_seconds=REFRESH_SECONDS,
    )


@bp.get("/brand/<brand_slug>/imports/<int:import_id>/progress")
@brand_member_required(BrandRole.MANAGER)
def progress(brand: Brand, membership: BrandMember, import_id: int) -> Any:
    job = import_of(db.session, brand.id, import_id)
    if job is None:
        abort(404)
    url = url_for("imports.detail", brand_slug=brand.slug, import_id=job.id)
    return progress_json(progress_of(job, url))


@bp.get("/brand/<brand_slug>/imports/<int:import_id>/errors.csv")
@brand_member_required(BrandRole.MANAGER)
def errors(brand: Brand, membership: BrandMember, import_id: int) -> Any:
    job = import_of(db.session, brand.id, import_id)
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
            "Content-Disposition": f'attachment; filename="import-{job.id}-errors.csv"',
            "Cache-Control": "private, no-store",
        },
    )
