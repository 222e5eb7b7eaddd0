"""Dashboard pages and their CSV exports. Views parse the range, pick the scope (the signed-in
creator, the member's brand, the brand's own campaign: another tenant's answers 404) and render
what `connect.dashboards.services` computed; nothing here writes."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from babel.dates import format_skeleton
from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import format_decimal, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from connect.accounts.models import Role
from connect.brands.models import Brand, BrandMember
from connect.campaigns.models import Campaign
from connect.campaigns.services import brand_campaign
from connect.core.policy import brand_member_required, creator_required, role_required
from connect.core.spreadsheets import safe_cell
from connect.core.storage import content_disposition
from connect.core.templating import money_minor
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.dashboards import charts
from connect.dashboards import services as svc
from connect.dashboards.forms import RangeForm
from connect.extensions import db
from connect.ledger.statements import decimal_string

bp = Blueprint("dashboards", __name__)

# The tables of the brand and campaign dashboards, by their CSV names.
BRAND_TABLES = ("summary", "day", "campaigns")
CAMPAIGN_TABLES = ("summary", "day", "creator", "content", "country")
CREATOR_TABLES = ("link", "content", "country")


def _today() -> date:
    return utcnow().date()


def _range_form() -> tuple[RangeForm, svc.DateRange | None]:
    form = RangeForm(formdata=request.args)
    return form, form.period(_today())


def _range_args(period: svc.DateRange) -> dict[str, str]:
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


def _presets(endpoint: str, **values: Any) -> list[tuple[str, str]]:
    today = _today()
    out = []
    for days in (7, 30, 90):
        r = svc.default_range(today, days)
        label = ngettext("Last %(num)s day", "Last %(num)s days", days)
        out.append((label, url_for(endpoint, **values, **_range_args(r))))
    return out


# -- presentation helpers shared by the pages ---------------------------------------------------


def day_label(day: date) -> str:
    """`25 Nov` / `25 нояб.`: a short day for chart axes, in the reader's locale."""
    return format_skeleton("MMMd", day, locale=get_locale())


def country_label(code: str) -> str:
    """The country's name in the reader's language (CLDR); `ZZ` is the unknown region."""
    locale = get_locale()
    names = locale.territories if locale is not None else {}
    return names.get(code, code)


# Hold reasons are stored in English by attribution (connect.conversions.attribution); these are
# their parts, translated for the reader. An unknown part is shown as stored.
_HOLD_PARTS = {
    "flagged click": _l("flagged click"),
    "ordered within seconds of the click": _l("ordered within seconds of the click"),
    "self-referral (buyer e-mail)": _l("self-referral (buyer e-mail)"),
    "self-referral (creator's own browser)": _l("self-referral (creator's own browser)"),
    "creator pending": _l("creator not approved yet"),
    "creator suspended": _l("creator suspended"),
}


def hold_reason_label(reason: str) -> str:
    if not reason.strip():
        return _("no reason recorded")
    return "; ".join(str(_HOLD_PARTS.get(part.strip(), part.strip())) for part in reason.split(";"))


def _day_charts(rows: list[tuple[date, svc.Figures]]) -> list[tuple[str, Any]]:
    """(caption, SVG) of each chart by day: clicks, orders, then commission per currency."""
    labels = [day_label(d) for d, _f in rows]
    number = lambda v: format_decimal(v)  # noqa: E731 - a formatter for the axis
    charts_: list[tuple[str, Any]] = []

    def add(title: str, desc: str, series: list[charts.Series], fmt: Any) -> None:
        charts_.append((title, charts.bar_chart(labels, series, title=title, desc=desc, fmt=fmt)))

    add(
        _("Clicks by day"),
        _("Clicks and unique clicks on each day of the range; the table below has the figures."),
        [
            charts.Series(_("Clicks"), [f.clicks for _d, f in rows]),
            charts.Series(_("Unique clicks"), [f.unique_clicks for _d, f in rows]),
        ],
        number,
    )
    add(
        _("Orders by day"),
        _("Attributed orders on each day of the range; the table below has the figures."),
        [charts.Series(_("Orders"), [f.orders for _d, f in rows])],
        number,
    )
    for currency in svc.currencies([f for _d, f in rows], "earned"):
        add(
            _("Commission by day (%(currency)s)", currency=currency),
            _("Commission earned on each day's orders; the table below has the figures."),
            [charts.Series(_("Commission earned"), [f.earned.get(currency, 0) for _d, f in rows])],
            lambda v, c=currency: money_minor(v, c),
        )
    return charts_


def _table(
    dimension: str, found: Mapping[Any, svc.Figures], limit: int | None = svc.TOP_ROWS
) -> dict[str, Any]:
    rows = svc.ranked(found)
    total = len(rows)
    if limit is not None:
        rows = rows[:limit]
    return {
        "dimension": dimension,
        "rows": rows,
        "total": total,
        "labels": svc.labels_for(db.session, dimension, [k for k, _f in rows]),
    }


# -- the creator ---------------------------------------------------------------------------------


@bp.get("/creator/dashboard")
@creator_required()
def creator(creator: Creator) -> Any:
    form, period = _range_form()
    context: dict[str, Any] = {
        "creator": creator,
        "form": form,
        "period": period,
        "presets": _presets("dashboards.creator"),
    }
    now = utcnow()
    context["tier"] = svc.tier_progress(db.session, creator, now)
    context["payouts"] = svc.payout_estimates(
        db.session, creator.id, current_app.config["PAYOUT_MINIMUMS"], now
    )
    context["has_method"] = svc.has_payout_method(db.session, creator.id)
    if period is None:
        return render_template("dashboards/creator.html", **context), 400
    scope = svc.Scope(creator_id=creator.id)
    days = svc.by_day(db.session, scope, period)
    context.update(
        totals=svc.totals(db.session, scope, period),
        days=days,
        charts=_day_charts(days),
        tables=[_table(d, svc.figures_by(db.session, scope, period, d)) for d in CREATOR_TABLES],
    )
    return render_template("dashboards/creator.html", **context)


# -- the brand -----------------------------------------------------------------------------------


def _own_campaign(brand: Brand, campaign_id: int) -> Campaign:
    campaign = brand_campaign(db.session, brand.id, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


def _campaign_rows(brand: Brand, period: svc.DateRange) -> list[tuple[Campaign, svc.Figures]]:
    found = svc.figures_by(db.session, svc.Scope(brand_id=brand.id), period, "campaign")
    return [(c, found.get(c.id, svc.Figures())) for c in svc.brand_campaigns(db.session, brand.id)]


@bp.get("/brand/<brand_slug>/dashboard")
@brand_member_required()
def brand(brand: Brand, membership: BrandMember) -> Any:
    form, period = _range_form()
    context: dict[str, Any] = {
        "brand": brand,
        "form": form,
        "period": period,
        "presets": _presets("dashboards.brand", brand_slug=brand.slug),
    }
    if period is None:
        return render_template("dashboards/brand.html", **context), 400
    scope = svc.Scope(brand_id=brand.id)
    days = svc.by_day(db.session, scope, period)
    context.update(
        totals=svc.totals(db.session, scope, period),
        days=days,
        charts=_day_charts(days),
        campaigns=_campaign_rows(brand, period),
    )
    return render_template("dashboards/brand.html", **context)


@bp.get("/brand/<brand_slug>/dashboard/campaigns/<int:campaign_id>")
@brand_member_required()
def campaign(brand: Brand, membership: BrandMember, campaign_id: int) -> Any:
    campaign = _own_campaign(brand, campaign_id)
    form, period = _range_form()
    context: dict[str, Any] = {
        "brand": brand,
        "campaign": campaign,
        "form": form,
        "period": period,
        "presets": _presets("dashboards.campaign", brand_slug=brand.slug, campaign_id=campaign.id),
    }
    if period is None:
        return render_template("dashboards/campaign.html", **context), 400
    scope = svc.Scope(brand_id=brand.id, campaign_id=campaign.id)
    days = svc.by_day(db.session, scope, period)
    context.update(
        totals=svc.totals(db.session, scope, period),
        days=days,
        charts=_day_charts(days),
        tables=[
            _table(d, svc.figures_by(db.session, scope, period, d))
            for d in CAMPAIGN_TABLES
            if d not in ("summary", "day")
        ],
    )
    return render_template("dashboards/campaign.html", **context)


# -- CSV ---------------------------------------------------------------------------------------

# Column headers stay English and fixed: a spreadsheet or a script reads them by name.
_COUNT_COLUMNS = ("clicks", "unique_clicks", "orders")
_BRAND_MONEY = ("sales", "earned", "pending", "held", "approved", "paid", "reversed")


def _figure_columns(rows: list[svc.Figures]) -> list[tuple[str, Callable[[svc.Figures], str]]]:
    """(header, cell) per figure; one column per currency for each money figure."""
    columns: list[tuple[str, Callable[[svc.Figures], str]]] = [
        (name, lambda f, n=name: str(getattr(f, n))) for name in _COUNT_COLUMNS
    ]
    columns.append(
        (
            "conversion_rate",
            lambda f: "" if f.conversion is None else f"{f.conversion:.4f}",
        )
    )
    for figure in _BRAND_MONEY:
        for currency in svc.currencies(rows, figure):
            columns.append(
                (
                    f"{figure}_{currency}",
                    lambda f, fig=figure, c=currency: decimal_string(getattr(f, fig).get(c, 0), c),
                )
            )
    for currency in svc.currencies(rows, "earned"):
        columns.append(
            (
                f"epc_{currency}",
                lambda f, c=currency: decimal_string(f.epc.get(c, 0), c),
            )
        )
    return columns


def _csv_response(
    filename: str, key_headers: list[str], rows: list[tuple[list[str], svc.Figures]]
) -> Response:
    columns = _figure_columns([f for _k, f in rows])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(key_headers + [h for h, _cell in columns])
    for keys, figures in rows:
        writer.writerow([safe_cell(k) for k in keys] + [cell(figures) for _h, cell in columns])
    response = Response(out.getvalue().encode("utf-8-sig"), mimetype="text/csv")
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _csv_range() -> svc.DateRange:
    _form, period = _range_form()
    if period is None:
        abort(400)
    return period


def _campaigns_csv_rows(
    brand: Brand, period: svc.DateRange
) -> tuple[list[str], list[tuple[list[str], svc.Figures]]]:
    headers = [
        "campaign_id",
        "campaign",
        "campaign_currency",
        "budget",
        "budget_spent_to_date",
        "budget_spent_in_range",
    ]
    rows = [
        (
            [
                str(c.id),
                c.name,
                c.currency,
                "" if c.budget_minor is None else decimal_string(c.budget_minor, c.currency),
                decimal_string(c.spent_minor, c.currency),
                decimal_string(f.budget_used, c.currency),
            ],
            f,
        )
        for c, f in _campaign_rows(brand, period)
    ]
    return headers, rows


_KEY_HEADERS = {
    "summary": ["from", "to"],
    "day": ["day"],
    "country": ["country"],
    "creator": ["creator_id", "creator"],
    "content": ["content_id", "content"],
    "link": ["link_id", "link"],
}


def _figures_csv_rows(
    scope: svc.Scope, period: svc.DateRange, table: str
) -> tuple[list[str], list[tuple[list[str], svc.Figures]]]:
    """The rows of one table: the summary (one row), every day, or a dimension, best first."""
    if table == "summary":
        keys = [period.start.isoformat(), period.end.isoformat()]
        return _KEY_HEADERS[table], [(keys, svc.totals(db.session, scope, period))]
    if table == "day":
        days = svc.by_day(db.session, scope, period)
        return _KEY_HEADERS[table], [([d.isoformat()], f) for d, f in days]
    found = svc.ranked(svc.figures_by(db.session, scope, period, table))
    if table == "country":
        return _KEY_HEADERS[table], [([str(k)], f) for k, f in found]
    labels = svc.labels_for(db.session, table, [k for k, _f in found])
    rows = [(["" if k is None else str(k), labels.get(k, "")], f) for k, f in found]
    return _KEY_HEADERS[table], rows


def _csv_name(*parts: object, period: svc.DateRange) -> str:
    return "-".join([*map(str, parts), period.start.isoformat(), period.end.isoformat()]) + ".csv"


@bp.get("/brand/<brand_slug>/dashboard/<table>.csv")
@brand_member_required()
def brand_csv(brand: Brand, membership: BrandMember, table: str) -> Any:
    if table not in BRAND_TABLES:
        abort(404)
    period = _csv_range()
    if table == "campaigns":
        headers, rows = _campaigns_csv_rows(brand, period)
    else:
        headers, rows = _figures_csv_rows(svc.Scope(brand_id=brand.id), period, table)
    return _csv_response(_csv_name(brand.slug, table, period=period), headers, rows)


@bp.get("/brand/<brand_slug>/dashboard/campaigns/<int:campaign_id>/<table>.csv")
@brand_member_required()
def campaign_csv(brand: Brand, membership: BrandMember, campaign_id: int, table: str) -> Any:
    campaign = _own_campaign(brand, campaign_id)
    if table not in CAMPAIGN_TABLES:
        abort(404)
    period = _csv_range()
    scope = svc.Scope(brand_id=brand.id, campaign_id=campaign.id)
    headers, rows = _figures_csv_rows(scope, period, table)
    name = _csv_name(brand.slug, "campaign", campaign.id, table, period=period)
    return _csv_response(name, headers, rows)


# -- finance and admin ---------------------------------------------------------------------------


@bp.get("/finance/dashboard")
@role_required(Role.FINANCE, Role.ADMIN)
def finance() -> Any:
    tiers = svc.tier_distribution(db.session)
    tier_items = [(t.name if t else _("No tier yet"), n) for t, n in tiers]
    return render_template(
        "dashboards/finance.html",
        liabilities=svc.liabilities(db.session),
        holds=svc.hold_groups(db.session),
        oldest=svc.oldest_holds(db.session),
        tiers=tier_items,
        tier_chart=charts.hbar_chart(
            tier_items,
            title=_("Creators per tier"),
            desc=_("How many creators are on each tier; the table beside it has the figures."),
            fmt=lambda v: format_decimal(v),
        ),
    )


@bp.app_template_global("hold_reason_label")
def _hold_reason_label(reason: str) -> str:
    return hold_reason_label(reason)


@bp.app_template_global("country_label")
def _country_label(code: str) -> str:
    return country_label(code)


@bp.app_template_filter("money_map")
def money_map(amounts: Mapping[str, int]) -> list[str]:
    """{currency: minor} -> formatted amounts, by currency: never added across currencies."""
    return [str(money_minor(a, c)) for c, a in sorted(amounts.items())]
