"""Promo codes: the code rules, issuing, attribution precedence, usage figures and the portal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from connect.accounts.models import Role, User
from connect.audit.models import AuditEvent
from connect.brands.models import Brand, BrandMember, BrandRole, Product
from connect.campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignProduct,
    CampaignRate,
    CampaignStatus,
    MemberStatus,
    Visibility,
)
from connect.conversions.attribution import attribute_batch
from connect.conversions.import_models import ImportKind
from connect.conversions.imports import group_rows, order_from_rows, parse_csv
from connect.conversions.models import (
    AttributionSource,
    Commission,
    Order,
    OrderLine,
    OrderStatus,
)
from connect.conversions.schemas import OrderIn
from connect.conversions.services import order_json, record_order
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.ledger.models import LedgerEntry
from connect.promos import codes
from connect.promos.models import CodeOrigin, PromoCode
from connect.promos.services import (
    PromoError,
    choose_code,
    disable_code,
    enable_code,
    issue_code,
    update_settings,
    usage,
    usage_by_country,
)
from tests import factories
from tests.conftest import csrf_token, login
from tests.conversion_helpers import click_on, count, link_for, new_key, order_body, signed_post

NOW = utcnow().replace(microsecond=0)
TODAY = NOW.date()


# --- the code rules ----------------------------------------------------------------------------


def test_codes_are_normalised_upper_case_without_separators():
    assert codes.normalize(" kathy-ryan 4 ") == "KATHYRYAN4"
    assert codes.check("kathy-ryan 4") == "KATHYRYAN4"
    assert codes.normalize("") == ""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("alice10", "look alike (0, 1, I, L)"),
        ("SUMMER", "look alike (S, U)"),
        ("ZOE8", "look alike (O, Z, 8)"),
        ("AB", "look alike (B)"),
        ("ÉTÉ3", "only the letters and digits"),
        ("CAT", "4 to 20 characters"),
        ("K" * 21, "4 to 20 characters"),
        ("  ", "Enter a code"),
    ],
)
def test_look_alikes_and_bad_shapes_are_refused(raw, reason):
    with pytest.raises(codes.CodeError) as exc:
        codes.check(raw)
    assert reason in str(exc.value)


def test_generated_codes_pass_the_rules_and_differ():
    made = {codes.generate() for _ in range(200)}
    assert len(made) == 200
    assert all(codes.check(c) == c and len(c) == codes.GENERATED_LENGTH for c in made)
    assert not set(codes.ALPHABET) & set(codes.LOOK_ALIKES)


# --- a shop with a campaign --------------------------------------------------------------------


def _campaign(brand, name="Spring", rate=1000, **kw) -> Campaign:
    campaign = Campaign(
        brand_id=brand.id,
        name=name,
        starts_on=TODAY - timedelta(days=20),
        status=CampaignStatus.ACTIVE,
        visibility=Visibility.OPEN,
        default_rate_bps=rate,
        currency="EUR",
        **kw,
    )
    db.session.add(campaign)
    db.session.flush()
    return campaign


def _member(campaign, creator, status=MemberStatus.APPROVED) -> CampaignMember:
    member = CampaignMember(campaign_id=campaign.id, creator_id=creator.id, status=status)
    db.session.add(member)
    db.session.flush()
    return member


def _build() -> dict[str, Any]:
    brand = factories.brand("acme", staff_email="staff@acme.example")
    brand.default_rate_bps = 500
    other = factories.brand("other", staff_email="staff@other.example")
    alice = factories.creator(handle="alice")
    bob = factories.creator(handle="bob")
    p1 = factories.product(brand, "SKU-1")
    po = factories.product(other, "SKU-1")
    campaign = _campaign(brand)
    other_campaign = _campaign(other, name="Other spring")
    _member(campaign, alice)
    _member(other_campaign, alice)
    db.session.commit()
    return {
        "brand": brand,
        "other": other,
        "alice": alice,
        "bob": bob,
        "p1": p1,
        "po": po,
        "staff": db.session.scalar(select(User).where(User.email == "staff@acme.example")),
        "ostaff": db.session.scalar(select(User).where(User.email == "staff@other.example")),
        "campaign": campaign,
        "other_campaign": other_campaign,
    }


@pytest.fixture
def shop(app: Flask):
    """The shop's rows, inside an app context held for the whole test (service tests)."""
    with app.app_context():
        yield _build()
        db.session.remove()


@pytest.fixture
def ids(app: Flask) -> dict[str, int]:
    """The shop's ids only, no context left open: portal tests make requests between steps."""
    with app.app_context():
        out = {name: row.id for name, row in _build().items()}
        db.session.remove()
    return out


def _loaded(ids: dict[str, int]) -> dict[str, Any]:
    """The shop's rows again, inside the caller's app context."""
    models = {
        "brand": Brand,
        "other": Brand,
        "alice": Creator,
        "bob": Creator,
        "p1": Product,
        "po": Product,
        "staff": User,
        "ostaff": User,
        "campaign": Campaign,
        "other_campaign": Campaign,
    }
    return {name: db.session.get(models[name], i) for name, i in ids.items()}


def issue(shop, code="KATHY", *, campaign=None, creator=None, **kw) -> PromoCode:
    campaign = campaign or shop["campaign"]
    actor = shop["ostaff"] if campaign.brand_id == shop["other"].id else shop["staff"]
    terms = {"discount_bps": 1500, "valid_from": TODAY - timedelta(days=10), "valid_until": None}
    promo = issue_code(
        db.session,
        campaign,
        (creator or shop["alice"]).id,
        code=code,
        origin=CodeOrigin.BRAND,
        actor_id=actor.id,
        today=TODAY,
        **(terms | kw),
    )
    db.session.commit()
    return promo


def place(shop, ref, *, brand=None, at=None, lines=None, **extra) -> Order:
    data = OrderIn.model_validate(
        {
            "order_id": ref,
            "ordered_at": (at or NOW - timedelta(minutes=5)).isoformat(),
            "currency": "EUR",
            "lines": lines or [{"sku": "SKU-1", "quantity": 2, "unit_price": 2500}],
            **extra,
        }
    )
    order, _ = record_order(db.session, (brand or shop["brand"]).id, data, NOW)
    return order


def attribute() -> None:
    attribute_batch(db.session, NOW)
    db.session.commit()


def ledger_sum() -> int:
    return db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)))


# --- issuing -----------------------------------------------------------------------------------


def test_codes_are_unique_per_brand_case_insensitively(shop):
    first = issue(shop, "kathy")
    assert first.code == "KATHY" and first.origin == CodeOrigin.BRAND
    second_campaign = _campaign(shop["brand"], name="Summer")
    _member(second_campaign, shop["bob"])
    db.session.commit()
    with pytest.raises(PromoError, match="KATHY is already taken"):
        issue(shop, "Kathy", campaign=second_campaign, creator=shop["bob"])
    db.session.rollback()
    # Another brand may hand out the same code.
    shared = issue(shop, "KATHY", campaign=shop["other_campaign"])
    assert shared.brand_id == shop["other"].id
    assert count(PromoCode) == 2


def test_one_active_code_per_member_and_only_for_accepted_members(shop):
    promo = issue(shop, "KATHY")
    with pytest.raises(PromoError, match="already has an active code"):
        issue(shop, "KATHY4")
    db.session.rollback()
    with pytest.raises(PromoError, match="accepted members"):
        issue(shop, "RYAN", creator=shop["bob"])  # not a member
    db.session.rollback()
    _member(shop["campaign"], shop["bob"], MemberStatus.APPLIED)
    db.session.commit()
    with pytest.raises(PromoError, match="accepted members"):
        issue(shop, "RYAN", creator=shop["bob"])  # applied, not accepted
    db.session.rollback()
    with pytest.raises(PromoError, match="cannot end before"):
        issue(shop, "RYAN", valid_from=TODAY, valid_until=TODAY - timedelta(days=1))
    db.session.rollback()
    assert count(PromoCode) == 1

    disable_code(db.session, promo, reason="on a coupon site", actor_id=shop["staff"].id, now=NOW)
    db.session.commit()
    generated = issue(shop, "  ")  # the member may get a new one; empty means generated
    assert generated.origin == CodeOrigin.GENERATED and codes.check(generated.code)
    with pytest.raises(PromoError, match="another active code"):
        enable_code(db.session, promo, actor_id=shop["staff"].id)
    db.session.rollback()
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["promo_code.issue", "promo_code.disable", "promo_code.issue"]


def test_creator_chooses_a_code_only_where_the_brand_allows(shop):
    campaign, alice = shop["campaign"], shop["alice"]
    with pytest.raises(PromoError, match="issued by the brand"):
        choose_code(db.session, campaign, alice, "KATHY", actor_id=alice.user_id, today=TODAY)
    update_settings(
        db.session, campaign, creator_codes=True, discount_bps=1200, actor_id=shop["staff"].id
    )
    db.session.commit()
    with pytest.raises(PromoError, match="look alike"):
        choose_code(db.session, campaign, alice, "ALICE10", actor_id=alice.user_id, today=TODAY)
    promo = choose_code(db.session, campaign, alice, "kathy", actor_id=alice.user_id, today=TODAY)
    assert (promo.code, promo.discount_bps, promo.origin, promo.valid_from) == (
        "KATHY",
        1200,
        CodeOrigin.CREATOR,
        TODAY,
    )


# --- attribution precedence -------------------------------------------------------------------


def test_a_code_attributes_an_order_without_any_click(shop):
    promo = issue(shop, "KATHY")
    order = place(shop, "O-1", promo_code="kathy")
    assert order.promo_code == "KATHY"
    attribute()
    assert order.status == OrderStatus.ATTRIBUTED
    assert order.attributed_by == AttributionSource.PROMO_CODE
    assert (order.creator_id, order.campaign_id) == (shop["alice"].id, promo.campaign_id)
    assert order.link_id is None and order.attributed_click_id is None
    answer = order_json(db.session, order)
    assert (answer["attributed_by"], answer["promo_code"]) == ("promo_code", "KATHY")
    (c,) = db.session.scalars(select(Commission)).all()
    # The campaign's default rate (10 %) on 2 x 25.00, not the brand's 5 %; no fast-order hold.
    assert (c.creator_id, c.campaign_id, c.rate_bps, c.amount_minor, c.hold_reason) == (
        shop["alice"].id,
        shop["campaign"].id,
        1000,
        500,
        "",
    )
    assert ledger_sum() == 0


def test_a_valid_click_id_wins_over_the_code(shop):
    issue(shop, "KATHY")
    bobs_click = click_on(link_for(shop["bob"], shop["p1"].id), at=NOW - timedelta(hours=2))
    order = place(shop, "O-2", promo_code="KATHY", click_id=bobs_click)
    attribute()
    assert order.attributed_by == AttributionSource.CLICK
    assert order.creator_id == shop["bob"].id and order.attributed_click_id == bobs_click
    (c,) = db.session.scalars(select(Commission)).all()
    assert c.creator_id == shop["bob"].id and c.rate_bps == 500


def test_a_click_after_the_order_does_not_beat_the_code(shop):
    issue(shop, "KATHY")
    late = click_on(link_for(shop["bob"], shop["p1"].id), at=NOW - timedelta(minutes=1))
    order = place(shop, "O-3", promo_code="KATHY", click_id=late)
    attribute()
    assert order.attributed_by == AttributionSource.PROMO_CODE
    assert order.creator_id == shop["alice"].id


def test_the_code_wins_over_the_visitor_fallback_and_the_fallback_still_works(shop):
    issue(shop, "KATHY")
    visitor = "a" * 32
    click_on(link_for(shop["bob"], shop["p1"].id), at=NOW - timedelta(days=1), visitor=visitor)
    with_code = place(shop, "O-4", promo_code="KATHY", visitor_id=visitor)
    unknown_code = place(shop, "O-5", promo_code="NOSUCH", visitor_id=visitor)
    attribute()
    assert with_code.attributed_by == AttributionSource.PROMO_CODE
    assert with_code.creator_id == shop["alice"].id
    assert unknown_code.attributed_by == AttributionSource.VISITOR
    assert unknown_code.creator_id == shop["bob"].id


def test_a_disabled_code_earns_nothing_even_with_a_click(shop):
    promo = issue(shop, "KATHY")
    disable_code(
        db.session, promo, reason="found on a coupon site", actor_id=shop["staff"].id, now=NOW
    )
    db.session.commit()
    click = click_on(link_for(shop["bob"], shop["p1"].id), at=NOW - timedelta(hours=2))
    with_click = place(shop, "O-6", promo_code="kathy", click_id=click)
    alone = place(shop, "O-7", promo_code="KATHY")
    plain = place(shop, "O-8", click_id=click)  # the same click without the code still earns
    attribute()
    for order in (with_click, alone):
        assert order.status == OrderStatus.UNATTRIBUTED
        assert order.creator_id is None and order.attributed_by is None
        assert order.attribution_note == "promo code KATHY is disabled: no commission"
    assert plain.attributed_by == AttributionSource.CLICK
    assert db.session.scalar(select(func.count(Commission.id))) == 1
    assert db.session.scalar(select(Commission.order_id)) == plain.id
    assert ledger_sum() == 0

    enable_code(db.session, promo, actor_id=shop["staff"].id)
    db.session.commit()
    again = place(shop, "O-9", promo_code="KATHY")
    attribute()
    assert again.attributed_by == AttributionSource.PROMO_CODE


def test_expired_and_not_yet_valid_codes_are_ignored(shop):
    issue(
        shop, "KATHY", valid_from=TODAY - timedelta(days=10), valid_until=TODAY - timedelta(days=3)
    )
    _member(shop["campaign"], shop["bob"])
    issue(shop, "RYAN", creator=shop["bob"], valid_from=TODAY + timedelta(days=1))
    visitor = "b" * 32
    click_on(link_for(shop["bob"], shop["p1"].id), at=NOW - timedelta(days=1), visitor=visitor)
    expired = place(shop, "O-10", promo_code="KATHY")
    early = place(shop, "O-11", promo_code="RYAN")
    in_time = place(shop, "O-12", promo_code="KATHY", at=NOW - timedelta(days=5))
    expired_with_visitor = place(shop, "O-13", promo_code="KATHY", visitor_id=visitor)
    attribute()
    assert expired.status == OrderStatus.UNATTRIBUTED and expired.attribution_note == ""
    assert early.status == OrderStatus.UNATTRIBUTED
    assert in_time.attributed_by == AttributionSource.PROMO_CODE  # ordered while it was valid
    assert expired_with_visitor.attributed_by == AttributionSource.VISITOR


def test_a_code_of_another_brand_is_ignored(shop):
    theirs = issue(shop, "KATHY", campaign=shop["other_campaign"])
    order = place(shop, "O-13", promo_code="KATHY")
    attribute()
    assert order.status == OrderStatus.UNATTRIBUTED
    # ... and another brand's disabled code never blocks this brand's click.
    disable_code(db.session, theirs, reason="leaked", actor_id=shop["ostaff"].id, now=NOW)
    db.session.commit()
    click = click_on(link_for(shop["bob"], shop["p1"].id), at=NOW - timedelta(hours=2))
    clicked = place(shop, "O-14", promo_code="KATHY", click_id=click)
    attribute()
    assert clicked.attributed_by == AttributionSource.CLICK


def test_a_code_stops_earning_when_its_creator_leaves_the_campaign(shop):
    issue(shop, "KATHY")
    member = db.session.scalar(
        select(CampaignMember).where(CampaignMember.creator_id == shop["alice"].id)
    )
    member.status = MemberStatus.REMOVED
    db.session.commit()
    order = place(shop, "O-15", promo_code="KATHY")
    attribute()
    assert order.status == OrderStatus.UNATTRIBUTED


def test_code_orders_earn_campaign_rates_only_on_covered_products(shop):
    p2 = factories.product(shop["brand"], "SKU-2")
    db.session.add(CampaignProduct(campaign_id=shop["campaign"].id, product_id=shop["p1"].id))
    db.session.add(
        CampaignRate(campaign_id=shop["campaign"].id, product_id=shop["p1"].id, rate_bps=2000)
    )
    db.session.commit()
    issue(shop, "KATHY")
    order = place(
        shop,
        "O-cov",
        promo_code="KATHY",
        lines=[
            {"sku": "SKU-1", "quantity": 1, "unit_price": 10000},
            {"sku": "SKU-2", "quantity": 1, "unit_price": 10000},
        ],
    )
    attribute()
    assert order.attributed_by == AttributionSource.PROMO_CODE
    rates = {
        line_product: (c.rate_bps, c.campaign_id, c.amount_minor)
        for c, line_product in db.session.execute(
            select(Commission, OrderLine.product_id).join(
                OrderLine, OrderLine.id == Commission.order_line_id
            )
        )
    }
    assert rates == {
        shop["p1"].id: (2000, shop["campaign"].id, 2000),  # the campaign's product rate
        p2.id: (500, None, 500),  # not covered: the brand's default rate
    }
    assert ledger_sum() == 0


def test_code_orders_outside_a_running_campaign_earn_the_brand_rate(shop):
    campaign = shop["campaign"]
    issue(shop, "KATHY")
    campaign.ends_on = TODAY - timedelta(days=2)
    db.session.commit()
    order = place(shop, "O-16", promo_code="KATHY")
    attribute()
    assert order.attributed_by == AttributionSource.PROMO_CODE
    (c,) = db.session.scalars(select(Commission)).all()
    assert c.rate_bps == 500 and c.campaign_id is None


# --- intake ------------------------------------------------------------------------------------


def test_api_takes_the_code_normalised_and_keeps_idempotency(app, client, ids):
    with app.app_context():
        key = new_key(db.session.get(Brand, ids["brand"]), ids["staff"])
        db.session.commit()
    body = order_body("SO-1", promo_code="kathy-ryan")
    assert signed_post(client, "/api/v1/conversions", body, key).status_code == 201
    same = dict(body, promo_code="KATHY RYAN")  # the same code, written another way
    assert signed_post(client, "/api/v1/conversions", same, key).status_code == 200
    other = dict(body, promo_code="RYAN")
    assert signed_post(client, "/api/v1/conversions", other, key).status_code == 409
    bad = signed_post(client, "/api/v1/conversions", order_body("SO-2", promo_code="<x>"), key)
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "promo_code"
    with app.app_context():
        assert db.session.scalars(select(Order.promo_code)).all() == ["KATHYRYAN"]
    spec = client.get("/api/v1/openapi.json").get_json()
    described = spec["components"]["schemas"]["OrderIn"]["properties"]["promo_code"]
    assert "disabled code" in described["description"] and "click_id" in described["description"]


def test_csv_rows_carry_the_code():
    data = (
        "order_id,ordered_at,currency,sku,quantity,unit_price,promo_code\n"
        f"A-1,{(NOW - timedelta(hours=1)).isoformat()},EUR,SKU-1,1,1000,kathy\n"
    ).encode()
    parsed = parse_csv(ImportKind.ORDERS, data)
    (group,) = group_rows(parsed)
    assert order_from_rows(group, parsed.columns).promo_code == "KATHY"


# --- usage -------------------------------------------------------------------------------------


def test_usage_by_country_equals_a_direct_count(shop):
    promo = issue(shop, "KATHY")
    click = click_on(link_for(shop["bob"], shop["p1"].id), at=NOW - timedelta(hours=2))
    for n, (country, extra) in enumerate(
        [("FR", {}), ("FR", {}), ("PL", {}), ("BR", {"click_id": click}), ("ZZ", {})]
    ):
        place(shop, f"U-{n}", promo_code="KATHY", customer_country=country, **extra)
    place(shop, "U-none", customer_country="FR")  # no code: not usage
    place(shop, "U-other", brand=shop["other"], promo_code="KATHY", customer_country="FR")
    attribute()

    figures = usage(db.session, [promo.id])[promo.id]
    assert (figures.orders, figures.attributed) == (5, 4)
    assert [(m.amount, m.currency) for m in figures.sales] == [(25000, "EUR")]
    assert [(m.amount, m.currency) for m in figures.commission] == [(2000, "EUR")]

    direct = db.session.execute(
        text(
            "SELECT o.customer_country, count(*), sum(l.quantity * l.unit_price_minor) "
            "FROM orders o JOIN order_lines l ON l.order_id = o.id "
            "WHERE o.brand_id = :b AND o.promo_code = :c GROUP BY o.customer_country"
        ),
        {"b": shop["brand"].id, "c": "KATHY"},
    ).all()
    by_country = usage_by_country(db.session, promo)
    assert {(u.country, u.orders, u.sales[0].amount) for u in by_country} == {
        (c, n, int(s)) for c, n, s in direct
    }
    assert by_country[0].country == "FR"  # most orders first
    assert {u.country: u.attributed for u in by_country}["BR"] == 0  # the click won there


# --- portal ------------------------------------------------------------------------------------


def _as(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, email, factories.PASSWORD).status_code == 302
    return client


def _campaign_url(ids, slug="acme") -> str:
    return f"/brand/{slug}/promo-codes/campaigns/{ids['campaign']}"


def _issued(app: Flask, ids: dict[str, int], code: str = "KATHY") -> int:
    with app.app_context():
        promo = issue(_loaded(ids), code)
        promo_id = promo.id
        db.session.remove()
    return promo_id


def test_brand_issues_lists_disables_and_enables(app, ids):
    staff = _as(app, "staff@acme.example")
    page = _campaign_url(ids)
    token = csrf_token(staff, page)
    form = {
        "csrf_token": token,
        "creator_id": str(ids["alice"]),
        "code": "kathy",
        "discount": "15",
        "valid_from": TODAY.isoformat(),
        "valid_until": "",
    }
    # A bad code changes nothing and says why.
    bad = staff.post(page + "/issue", data=form | {"code": "ALICE10"})
    assert bad.status_code == 422 and "look alike" in bad.get_data(as_text=True)
    resp = staff.post(page + "/issue", data=form)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with app.app_context():
        promo = db.session.scalar(select(PromoCode))
        assert (promo.code, promo.discount_bps, promo.created_by_id, promo.origin) == (
            "KATHY",
            1500,
            ids["staff"],
            CodeOrigin.BRAND,
        )
        promo_id = promo.id
        place(_loaded(ids), "P-1", promo_code="KATHY", customer_country="PL")
        attribute()
        db.session.remove()
    listing = staff.get(page).get_data(as_text=True)
    assert "KATHY" in listing and "Alice" in listing
    url = f"/brand/acme/promo-codes/{promo_id}"
    detail = staff.get(url).get_data(as_text=True)
    assert "Poland" in detail

    # Disable needs a reason; then it is recorded with who and why.
    assert staff.post(url + "/disable", data={"csrf_token": token, "reason": ""}).status_code == 422
    resp = staff.post(url + "/disable", data={"csrf_token": token, "reason": "coupon site"})
    assert resp.status_code == 302
    with app.app_context():
        promo = db.session.get(PromoCode, promo_id)
        assert promo.disabled_at is not None and promo.disabled_reason == "coupon site"
        assert promo.disabled_by_id == ids["staff"]
    assert "coupon site" in staff.get(url).get_data(as_text=True)
    assert staff.post(url + "/enable", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        assert db.session.get(PromoCode, promo_id).disabled_at is None

    # Edit validity and discount; a bad range changes nothing.
    terms = {"csrf_token": token, "discount": "20", "valid_from": TODAY.isoformat()}
    until = (TODAY + timedelta(days=30)).isoformat()
    backwards = (TODAY - timedelta(days=1)).isoformat()
    assert staff.post(url + "/edit", data=terms | {"valid_until": backwards}).status_code == 422
    assert staff.post(url + "/edit", data=terms | {"discount": "150"}).status_code == 422
    assert staff.post(url + "/edit", data=terms | {"valid_until": until}).status_code == 302
    with app.app_context():
        promo = db.session.get(PromoCode, promo_id)
        assert promo.discount_bps == 2000 and promo.valid_until == TODAY + timedelta(days=30)


def test_forms_need_csrf(app, ids):
    staff = _as(app, "staff@acme.example")
    resp = staff.post(
        _campaign_url(ids) + "/issue",
        data={
            "creator_id": str(ids["alice"]),
            "code": "KATHY",
            "discount": "10",
            "valid_from": TODAY.isoformat(),
        },
    )
    assert resp.status_code == 400
    with app.app_context():
        assert count(PromoCode) == 0


def test_other_tenants_get_404(app, ids):
    promo_id = _issued(app, ids)
    outsider = _as(app, "staff@other.example")
    token = csrf_token(outsider, "/brand/other/promo-codes")
    assert outsider.get(f"/brand/other/promo-codes/{promo_id}").status_code == 404
    assert outsider.get(f"/brand/acme/promo-codes/{promo_id}").status_code == 404
    assert outsider.get(_campaign_url(ids, "other")).status_code == 404
    for action in ("disable", "enable", "edit"):
        resp = outsider.post(
            f"/brand/other/promo-codes/{promo_id}/{action}",
            data={"csrf_token": token, "reason": "x", "discount": "5", "valid_from": "2026-01-01"},
        )
        assert resp.status_code == 404
    with app.app_context():
        promo = db.session.get(PromoCode, promo_id)
        assert promo.disabled_at is None and promo.discount_bps == 1500
    assert "KATHY" not in outsider.get("/brand/other/promo-codes").get_data(as_text=True)

    bob = _as(app, "bob@example.com")
    assert "KATHY" not in bob.get("/creator/promo-codes").get_data(as_text=True)
    alice = _as(app, "alice@example.com")
    assert "KATHY" in alice.get("/creator/promo-codes").get_data(as_text=True)


def test_viewers_see_but_may_not_change(app, ids):
    promo_id = _issued(app, ids)
    with app.app_context():
        viewer = factories.user(Role.BRAND, email="viewer@acme.example")
        db.session.add(BrandMember(brand_id=ids["brand"], user_id=viewer.id, role=BrandRole.VIEWER))
        db.session.commit()
    client = _as(app, "viewer@acme.example")
    page = _campaign_url(ids)
    assert "KATHY" in client.get(page).get_data(as_text=True)
    assert client.get(f"/brand/acme/promo-codes/{promo_id}").status_code == 200
    token = csrf_token(client, "/password/forgot")
    resp = client.post(
        f"/brand/acme/promo-codes/{promo_id}/disable", data={"csrf_token": token, "reason": "x"}
    )
    assert resp.status_code == 403
    with app.app_context():
        assert db.session.get(PromoCode, promo_id).disabled_at is None


def test_creator_takes_a_code_where_allowed(app, ids):
    with app.app_context():
        update_settings(
            db.session,
            db.session.get(Campaign, ids["campaign"]),
            creator_codes=True,
            discount_bps=1000,
            actor_id=ids["staff"],
        )
        db.session.commit()
    alice = _as(app, "alice@example.com")
    page = alice.get("/creator/promo-codes").get_data(as_text=True)
    assert "Spring" in page and "Get my code" in page
    token = csrf_token(alice, "/creator/promo-codes")
    url = f"/creator/promo-codes/campaigns/{ids['campaign']}"
    bad = alice.post(url, data={"csrf_token": token, "code": "ALICE10"})
    assert bad.status_code == 422 and "look alike" in bad.get_data(as_text=True)
    assert alice.post(url, data={"csrf_token": token, "code": "kathy"}).status_code == 302
    # The other brand keeps codes to itself (the default); bob is no member: 404.
    other = f"/creator/promo-codes/campaigns/{ids['other_campaign']}"
    assert alice.post(other, data={"csrf_token": token, "code": "RYAN"}).status_code == 403
    bob = _as(app, "bob@example.com")
    btoken = csrf_token(bob, "/creator/promo-codes")
    assert bob.post(url, data={"csrf_token": btoken, "code": "RYAN"}).status_code == 404
    with app.app_context():
        assert db.session.scalars(select(PromoCode.code)).all() == ["KATHY"]
