"""Dashboards: every figure equals a direct SQL query over the same fixture (the SQL here is written
independently of connect.dashboards.services), tenants never see each other's figures, bad ranges
are refused, and every locale renders every dashboard with no English left."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from connect import SUPPORTED_LOCALES
from connect.accounts.models import Role
from connect.brands.models import Brand
from connect.campaigns.models import Campaign, CampaignStatus
from connect.content.models import Content, ContentKind, ContentStatus
from connect.conversions.models import (
    Commission,
    CommissionStatus,
    Order,
    OrderLine,
    OrderStatus,
)
from connect.core.money import Money
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.dashboards import services as svc
from connect.dashboards.charts import Series, bar_chart
from connect.extensions import db
from connect.fx.models import FxRate
from connect.ledger.models import AccountKind
from connect.ledger.services import Leg, post
from connect.tiers.services import default_tiers
from connect.tracking.models import Click, Link
from connect.tracking.services import new_code
from tests import factories
from tests.conftest import login
from tests.test_i18n import SAME_EVERYWHERE, SAME_IN, load_po, visible_text

TODAY = utcnow().date()


def at(days_ago: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(hour, minute), tzinfo=UTC)


# -- the fixture ---------------------------------------------------------------------------------


def _link(creator: Creator, brand: Brand, sku: str, **kw: Any) -> Link:
    product = factories.product(brand, sku, title=f"{brand.name} {sku}")
    link = Link(
        code=new_code(),
        creator_id=creator.id,
        product_id=product.id,
        brand_id=brand.id,
        destination_url=product.url,
        **kw,
    )
    db.session.add(link)
    db.session.flush()
    return link


def _clicks(link: Link, when: datetime, country: str, n: int, bot: int = 0, dup: int = 0) -> None:
    for i in range(n):
        db.session.add(
            Click(
                click_id=uuid.uuid4().hex,
                link_id=link.id,
                clicked_at=when + timedelta(seconds=i),
                visitor_id=uuid.uuid4().hex,
                ip_hash="0" * 64,
                country=country,
                is_bot=i < bot,
                is_duplicate=bot <= i < bot + dup,
            )
        )


_orders = iter(range(1, 10_000))


def _order(
    link: Link,
    when: datetime,
    currency: str,
    country: str,
    lines: list[tuple[int, int, int]],
    commissions: list[tuple[int, str, CommissionStatus, int, int]],
) -> Order:
    """lines: (quantity, unit price, refunded units); commissions (one per line): (amount,
    currency, status, reversed, budget used)."""
    order = Order(
        brand_id=link.brand_id,
        external_id=f"SO-{next(_orders)}",
        body_sha256="0" * 64,
        ordered_at=when,
        currency=currency,
        customer_country=country,
        status=OrderStatus.ATTRIBUTED,
        link_id=link.id,
        creator_id=link.creator_id,
        campaign_id=link.campaign_id,
        lines=[
            OrderLine(
                line_no=n,
                sku="SKU",
                quantity=q,
                unit_price_minor=price,
                refunded_quantity=refunded,
            )
            for n, (q, price, refunded) in enumerate(lines, 1)
        ],
    )
    db.session.add(order)
    db.session.flush()
    for line, (amount, cur, status, rev, budget) in zip(order.lines, commissions, strict=True):
        db.session.add(
            Commission(
                order_line_id=line.id,
                order_id=order.id,
                creator_id=link.creator_id,
                brand_id=link.brand_id,
                campaign_id=link.campaign_id,
                rate_bps=1000,
                base_minor=line.quantity * line.unit_price_minor,
                base_currency=currency,
                fx_rate=Decimal(1),
                amount_minor=amount,
                currency=cur,
                budget_minor=budget,
                reversed_minor=rev,
                status=status,
                hold_reason="flagged click" if status == CommissionStatus.HELD else "",
                approve_after=when + timedelta(days=30),
            )
        )
    db.session.flush()
    return order


def _campaign(brand: Brand, name: str, budget: int | None, spent: int) -> Campaign:
    campaign = Campaign(
        brand_id=brand.id,
        name=name,
        starts_on=TODAY - timedelta(days=60),
        status=CampaignStatus.ACTIVE,
        default_rate_bps=1000,
        currency="EUR",
        budget_minor=budget,
        spent_minor=spent,
    )
    db.session.add(campaign)
    db.session.flush()
    return campaign


def _credit(creator_id: int, kind: AccountKind, amount: int, currency: str, key: str) -> None:
    """Owe a creator `amount` on `kind` (negative: the creator owes), against a brand."""
    post(
        db.session,
        key=key,
        kind="test",
        legs=[
            Leg(AccountKind.BRAND_RECEIVABLE, 1, Money(amount, currency)),
            Leg(kind, creator_id, Money(-amount, currency)),
        ],
    )


@pytest.fixture
def world(app: Flask) -> dict[str, Any]:
    """Two creators (EUR and USD payouts), two brands with a campaign each, clicks, orders and
    commissions over several days and countries, in two currencies, and ledger balances."""
    with app.app_context():
        tiers = default_tiers()
        db.session.add_all(tiers)
        db.session.add(FxRate(day=TODAY - timedelta(days=1), currency="USD", rate=Decimal("1.1")))
        a = factories.creator(handle="alice", country="ES", currency="EUR")
        b = factories.creator(handle="boris", country="RU", currency="USD")
        factories.creator(handle="carla")  # no tier yet, no activity
        db.session.flush()
        a.tier_id, b.tier_id = tiers[0].id, tiers[1].id
        x = factories.brand("xshop", staff_email="staff@x.example")
        y = factories.brand("yshop", staff_email="staff@y.example")
        cx = _campaign(x, "X Spring", budget=100_000, spent=2_400)
        cy = _campaign(y, "Y Winter", budget=None, spent=0)
        piece = Content(
            creator_id=a.id,
            kind=ContentKind.REVIEW,
            title="Alice reviews the X speaker",
            language="es",
            status=ContentStatus.PUBLISHED,
            published_at=at(20),
        )
        db.session.add(piece)
        db.session.flush()
        a_cx = _link(a, x, "X-1", campaign_id=cx.id, content_id=piece.id)
        a_plain = _link(a, x, "X-2")
        b_cx = _link(b, x, "X-3", campaign_id=cx.id)
        b_cy = _link(b, y, "Y-1", campaign_id=cy.id)

        _clicks(a_cx, at(1, 9), "ES", 5, bot=1, dup=1)
        _clicks(a_cx, at(3, 23, 50), "FR", 4, dup=1)  # just before a UTC midnight
        _clicks(a_plain, at(2, 0, 5), "ES", 3)  # just after one
        _clicks(a_cx, at(45), "ES", 7)  # outside the default range
        _clicks(b_cx, at(1, 15), "PL", 6, bot=2)
        _clicks(b_cy, at(4), "RU", 8, dup=3)

        P, H, A, PD, R, X = (
            CommissionStatus.PENDING,
            CommissionStatus.HELD,
            CommissionStatus.APPROVED,
            CommissionStatus.PAID,
            CommissionStatus.REVERSED,
            CommissionStatus.REJECTED,
        )
        _order(a_cx, at(1, 10), "EUR", "ES", [(2, 2500, 0)], [(500, "EUR", P, 0, 500)])
        _order(
            a_cx,
            at(3, 23, 55),
            "EUR",
            "FR",
            [(1, 4000, 0), (3, 1000, 1)],
            [(400, "EUR", A, 0, 400), (300, "EUR", PD, 100, 300)],
        )
        _order(a_plain, at(2, 1), "USD", "US", [(1, 9900, 1)], [(990, "EUR", R, 990, 0)])
        _order(a_plain, at(2, 2), "USD", "ES", [(1, 1500, 0)], [(150, "USD", H, 0, 0)])
        _order(a_cx, at(5), "EUR", "ES", [(1, 1000, 0)], [(100, "EUR", X, 0, 0)])
        _order(a_cx, at(50), "EUR", "ES", [(1, 7000, 0)], [(700, "EUR", A, 0, 700)])  # old
        _order(b_cx, at(1, 16), "EUR", "PL", [(4, 1200, 0)], [(528, "USD", P, 0, 480)])
        _order(b_cy, at(4), "PLN", "RU", [(2, 5000, 0)], [(250, "USD", A, 0, 0)])

        _credit(a.id, AccountKind.CREATOR_PENDING, 500, "EUR", "t:a:pending")
        _credit(a.id, AccountKind.CREATOR_APPROVED, 6_000, "EUR", "t:a:approved")
        _credit(a.id, AccountKind.CREATOR_HELD, 150, "USD", "t:a:held")
        _credit(b.id, AccountKind.CREATOR_APPROVED, -400, "USD", "t:b:negative")
        _credit(b.id, AccountKind.CREATOR_IN_FLIGHT, 2_000, "USD", "t:b:flight")
        staff = {
            role: factories.user(role, email=f"{role.value}@connect.example")
            for role in (Role.FINANCE, Role.ADMIN)
        }
        db.session.commit()
        out = {
            "a": a.id,
            "b": b.id,
            "x": x.slug,
            "y": y.slug,
            "x_id": x.id,
            "y_id": y.id,
            "cx": cx.id,
            "cy": cy.id,
            "piece": piece.id,
            "a_links": [a_cx.id, a_plain.id],
            "b_links": [b_cx.id, b_cy.id],
            "users": {
                "a": a.user.email,
                "b": b.user.email,
                "x": "staff@x.example",
                "y": "staff@y.example",
                "finance": staff[Role.FINANCE].email,
                "admin": staff[Role.ADMIN].email,
            },
        }
        db.session.remove()
    return out


# -- direct SQL, written against the tables -------------------------------------------------------

DAY = {
    "clicks": "CAST(c.clicked_at AT TIME ZONE 'UTC' AS DATE)",
    "orders": "CAST(o.ordered_at AT TIME ZONE 'UTC' AS DATE)",
}
KEYS = {
    None: {"clicks": "0", "orders": "0"},
    "day": DAY,
    "link": {"clicks": "c.link_id", "orders": "o.link_id"},
    "content": {"clicks": "l.content_id", "orders": "ol_link.content_id"},
    "country": {"clicks": "c.country", "orders": "o.customer_country"},
    "creator": {"clicks": "l.creator_id", "orders": "o.creator_id"},
    "campaign": {"clicks": "l.campaign_id", "orders": "o.campaign_id"},
}


def sql_figures(
    where_clicks: str, where_orders: str, params: dict, start: date, end: date, dim: str | None
) -> dict[Any, dict[str, Any]]:
    """{key: {clicks, unique, orders, sales{cur}, earned{cur}, pending{cur}, ...}}."""
    p = {
        **params,
        "s": datetime.combine(start, time(), tzinfo=UTC),
        "e": datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC),
    }
    k = KEYS[dim]
    group_clicks = "" if dim is None else f"GROUP BY {k['clicks']}"
    group_orders = "GROUP BY " + ("" if dim is None else f"{k['orders']}, ")
    out: dict[Any, dict[str, Any]] = {}

    def row(key: Any) -> dict[str, Any]:
        return out.setdefault(
            key,
            {
                "clicks": 0,
                "unique": 0,
                "orders": 0,
                **{m: {} for m in svc.MONEY_FIGURES},
            },
        )

    for key, clicks, unique in db.session.execute(
        text(
            f"SELECT {k['clicks']}, COUNT(*), "  # noqa: S608 - fragments from this file
            "SUM(CASE WHEN NOT c.is_bot AND NOT c.is_duplicate THEN 1 ELSE 0 END) "
            "FROM clicks c JOIN links l ON l.id = c.link_id "
            f"WHERE c.clicked_at >= :s AND c.clicked_at < :e AND {where_clicks} {group_clicks}"
        ),
        p,
    ):
        row(key).update(clicks=clicks, unique=unique)
    for key, currency, orders, sales in db.session.execute(
        text(
            f"SELECT {k['orders']}, o.currency, COUNT(DISTINCT o.id), "  # noqa: S608
            "SUM((ln.quantity - ln.refunded_quantity) * ln.unit_price_minor) "
            "FROM orders o JOIN order_lines ln ON ln.order_id = o.id "
            "LEFT JOIN links ol_link ON ol_link.id = o.link_id "
            f"WHERE o.ordered_at >= :s AND o.ordered_at < :e AND o.creator_id IS NOT NULL "
            f"AND {where_orders} {group_orders}o.currency"
        ),
        p,
    ):
        r = row(key)
        r["orders"] += orders
        if sales:
            r["sales"][currency] = int(sales)
    for key, status, currency, net, rev in db.session.execute(
        text(
            f"SELECT {k['orders']}, cm.status, cm.currency, "  # noqa: S608
            "SUM(cm.amount_minor - cm.reversed_minor), SUM(cm.reversed_minor) "
            "FROM commissions cm JOIN orders o ON o.id = cm.order_id "
            "LEFT JOIN links ol_link ON ol_link.id = o.link_id "
            f"WHERE o.ordered_at >= :s AND o.ordered_at < :e AND {where_orders} "
            f"{group_orders}cm.status, cm.currency"
        ),
        p,
    ):
        r = row(key)
        for figure, wanted in (
            ("pending", status == "pending"),
            ("held", status == "held"),
            ("approved", status == "approved"),
            ("paid", status == "paid"),
            ("earned", status != "rejected"),
        ):
            if wanted and net:
                r[figure][currency] = r[figure].get(currency, 0) + int(net)
        if rev:
            r["reversed"][currency] = r["reversed"].get(currency, 0) + int(rev)
    return out


def as_sql(f: svc.Figures) -> dict[str, Any]:
    return {
        "clicks": f.clicks,
        "unique": f.unique_clicks,
        "orders": f.orders,
        **{m: getattr(f, m) for m in svc.MONEY_FIGURES},
    }


CREATOR_WHERE = ("l.creator_id = :cid", "o.creator_id = :cid")
CAMPAIGN_WHERE = (
    "l.brand_id = :bid AND l.campaign_id = :camp",
    "o.brand_id = :bid AND o.campaign_id = :camp",
)
RANGE = (TODAY - timedelta(days=29), TODAY)


# -- the figures equal the SQL --------------------------------------------------------------------


@pytest.mark.parametrize("dim", [None, "day", "link", "content", "country"])
def test_creator_figures_equal_direct_sql(app: Flask, world: dict[str, Any], dim: str) -> None:
    with app.app_context():
        period = svc.DateRange(*RANGE)
        scope = svc.Scope(creator_id=world["a"])
        got = {k: as_sql(f) for k, f in svc.figures_by(db.session, scope, period, dim).items()}
        want = sql_figures(*CREATOR_WHERE, {"cid": world["a"]}, *RANGE, dim)
        if dim is None:
            want = {None: want[0]}
        assert got == want
        assert got  # the fixture has figures for each table
        db.session.remove()


@pytest.mark.parametrize("dim", [None, "day", "creator", "content", "country"])
def test_campaign_figures_equal_direct_sql(app: Flask, world: dict[str, Any], dim: str) -> None:
    with app.app_context():
        period = svc.DateRange(*RANGE)
        scope = svc.Scope(brand_id=world["x_id"], campaign_id=world["cx"])
        got = {k: as_sql(f) for k, f in svc.figures_by(db.session, scope, period, dim).items()}
        want = sql_figures(
            *CAMPAIGN_WHERE, {"bid": world["x_id"], "camp": world["cx"]}, *RANGE, dim
        )
        if dim is None:
            want = {None: want[0]}
        assert got == want
        db.session.remove()


def test_known_figures_of_the_fixture(app: Flask, world: dict[str, Any]) -> None:
    """The SQL above could share a mistake with the service: a few figures worked out by hand."""
    with app.app_context():
        t = svc.totals(db.session, svc.Scope(creator_id=world["a"]), svc.DateRange(*RANGE))
        assert (t.clicks, t.unique_clicks, t.orders) == (12, 9, 5)
        assert t.sales == {"EUR": 5000 + 4000 + 2000 + 1000, "USD": 1500}
        assert t.pending == {"EUR": 500}
        assert t.approved == {"EUR": 400}
        assert t.paid == {"EUR": 200}
        assert t.held == {"USD": 150}
        assert t.reversed == {"EUR": 1090}
        assert t.earned == {"EUR": 1100, "USD": 150}  # the rejected 100 is left out
        assert t.epc == {"EUR": 9167, "USD": 1250}  # 1100 * 100 / 12, half-up
        assert t.conversion == Decimal(5) / 9
        days = dict(svc.by_day(db.session, svc.Scope(creator_id=world["a"]), svc.DateRange(*RANGE)))
        assert len(days) == 30 and days[TODAY - timedelta(days=10)].is_empty()  # zero days kept
        assert days[TODAY - timedelta(days=3)].clicks == 4  # 23:50 UTC stays on its own day
        assert days[TODAY - timedelta(days=2)].clicks == 3
        db.session.remove()


def test_brand_campaign_table_equals_direct_sql(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        period = svc.DateRange(*RANGE)
        found = svc.figures_by(db.session, svc.Scope(brand_id=world["x_id"]), period, "campaign")
        want = sql_figures(
            "l.brand_id = :bid", "o.brand_id = :bid", {"bid": world["x_id"]}, *RANGE, "campaign"
        )
        assert {k: as_sql(f) for k, f in found.items()} == want
        assert world["cy"] not in found  # brand Y's campaign is not in brand X's figures
        budget = db.session.scalar(
            text(
                "SELECT SUM(cm.budget_minor) FROM commissions cm "
                "JOIN orders o ON o.id = cm.order_id "
                "WHERE o.campaign_id = :c AND o.ordered_at >= :s"
            ),
            {"c": world["cx"], "s": datetime.combine(RANGE[0], time(), tzinfo=UTC)},
        )
        assert found[world["cx"]].budget_used == budget == 500 + 400 + 300 + 480
        db.session.remove()


def test_finance_figures_equal_direct_sql(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        got = {
            row.currency: (row.pending, row.held, row.approved, row.in_flight, row.negative)
            for row in svc.liabilities(db.session)
        }
        sums = dict.fromkeys(got, None)
        for currency in sums:
            owed = dict(
                db.session.execute(
                    text(
                        "SELECT a.kind, -SUM(e.amount_minor) FROM ledger_entries e "
                        "JOIN ledger_accounts a ON a.id = e.account_id "
                        "WHERE a.currency = :c GROUP BY a.kind"
                    ),
                    {"c": currency},
                ).all()
            )
            negative = db.session.scalar(
                text(
                    "SELECT COALESCE(SUM(b), 0) FROM (SELECT -SUM(e.amount_minor) AS b "
                    "FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id "
                    "WHERE a.currency = :c AND a.kind = 'creator_approved' "
                    "GROUP BY a.owner_id HAVING SUM(e.amount_minor) > 0) s"
                ),
                {"c": currency},
            )
            sums[currency] = (
                owed.get("creator_pending", 0),
                owed.get("creator_held", 0),
                owed.get("creator_approved", 0),
                owed.get("creator_in_flight", 0),
                negative,
            )
        assert got == sums
        assert got == {"EUR": (500, 0, 6000, 0, 0), "USD": (0, 150, -400, 2000, -400)}

        holds = {
            (h.reason, h.currency): (h.commissions, h.amount) for h in svc.hold_groups(db.session)
        }
        want = {
            (r, c): (n, a)
            for r, c, n, a in db.session.execute(
                text(
                    "SELECT hold_reason, currency, COUNT(*), SUM(amount_minor - reversed_minor) "
                    "FROM commissions WHERE status = 'held' GROUP BY hold_reason, currency"
                )
            )
        }
        assert holds == want == {("flagged click", "USD"): (1, 150)}

        tiers = {(t.name if t else None): n for t, n in svc.tier_distribution(db.session)}
        want_tiers = dict(
            db.session.execute(
                text(
                    "SELECT t.name, COUNT(c.id) FROM tiers t "
                    "LEFT JOIN creators c ON c.tier_id = t.id GROUP BY t.name"
                )
            ).all()
        )
        want_tiers[None] = db.session.scalar(
            text("SELECT COUNT(*) FROM creators WHERE tier_id IS NULL")
        )
        assert tiers == want_tiers
        assert tiers["Starter"] == 1 and tiers["Rising"] == 1 and tiers[None] == 1
        db.session.remove()


def test_payout_estimate_and_tier_progress(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        a = db.session.get(Creator, world["a"])
        estimates = {e.currency: e for e in svc.payout_estimates(db.session, a.id, {}, utcnow())}
        assert estimates["EUR"].approved == 6000 and estimates["EUR"].due
        assert estimates["EUR"].minimum == 5000
        assert estimates["EUR"].next_approval == at(1, 10) + timedelta(days=30)
        b_est = svc.payout_estimates(db.session, world["b"], {"USD": 100}, utcnow())
        usd = {e.currency: e for e in b_est}["USD"]
        assert usd.approved == -400 and not usd.due and usd.in_flight == 2000
        progress = svc.tier_progress(db.session, a, utcnow())
        assert progress.current.name == "Starter" and progress.next.name == "Rising"
        assert progress.sales_needed == progress.next.min_sales_minor - progress.sales
        db.session.remove()


# -- the pages -------------------------------------------------------------------------------------


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, email, factories.PASSWORD).status_code == 302
    return client


def test_creator_dashboard_page(app: Flask, world: dict[str, Any]) -> None:
    client = _client(app, world["users"]["a"])
    resp = client.get("/creator/dashboard")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    text_ = visible_text(page)
    assert "Alice reviews the X speaker" in text_  # by content piece
    assert "Xshop X-2" in text_  # by link
    assert "Spain" in text_ and "France" in text_  # by country, named by CLDR
    assert page.count('<svg class="chart"') == 4  # clicks, orders, commission in EUR and USD
    assert "<title id=" in page and "<desc id=" in page
    assert "Rising" in text_  # the next tier
    assert "€60.00 in the next batch" in text_
    # Creator B's links, content and figures are not on A's dashboard.
    assert "Xshop X-3" not in text_ and "Yshop Y-1" not in text_
    other = visible_text(_client(app, world["users"]["b"]).get("/creator/dashboard").get_data(True))
    assert "Alice reviews" not in other and "Xshop X-2" not in other


def test_brand_dashboard_and_tenant_isolation(app: Flask, world: dict[str, Any]) -> None:
    x = _client(app, world["users"]["x"])
    page = visible_text(x.get(f"/brand/{world['x']}/dashboard").get_data(as_text=True))
    assert "X Spring" in page and "Y Winter" not in page
    camp = x.get(f"/brand/{world['x']}/dashboard/campaigns/{world['cx']}")
    assert camp.status_code == 200
    body = visible_text(camp.get_data(as_text=True))
    assert "Alice (@alice)" in body and "Boris (@boris)" in body  # top creators
    assert "Alice reviews the X speaker" in body  # top content
    # Brand X asking for brand Y's campaign, through its own slug or Y's: 404.
    assert x.get(f"/brand/{world['x']}/dashboard/campaigns/{world['cy']}").status_code == 404
    assert x.get(f"/brand/{world['y']}/dashboard/campaigns/{world['cy']}").status_code == 404
    assert x.get(f"/brand/{world['y']}/dashboard").status_code == 404
    assert (
        x.get(f"/brand/{world['x']}/dashboard/campaigns/{world['cy']}/day.csv").status_code == 404
    )
    assert x.get(f"/brand/{world['y']}/dashboard/campaigns.csv").status_code == 404
    y = _client(app, world["users"]["y"])
    assert (
        y.get(f"/brand/{world['x']}/dashboard/campaigns/{world['cx']}/creator.csv").status_code
        == 404
    )
    assert "X Spring" not in y.get(f"/brand/{world['y']}/dashboard").get_data(as_text=True)


def _csv(resp: Any) -> list[dict[str, str]]:
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(resp.get_data().decode("utf-8-sig"))))


def test_campaign_csv_exports_equal_direct_sql(app: Flask, world: dict[str, Any]) -> None:
    x = _client(app, world["users"]["x"])
    start, end = (d.isoformat() for d in RANGE)
    base = f"/brand/{world['x']}/dashboard/campaigns/{world['cx']}"
    with app.app_context():
        want = sql_figures(
            *CAMPAIGN_WHERE, {"bid": world["x_id"], "camp": world["cx"]}, *RANGE, "creator"
        )
        db.session.remove()
    resp = x.get(f"{base}/creator.csv?start={start}&end={end}")
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert f'filename="xshop-campaign-{world["cx"]}-creator-{start}-{end}.csv"' in disposition
    rows = {int(r["creator_id"]): r for r in _csv(resp)}
    assert set(rows) == set(want) == {world["a"], world["b"]}
    for creator_id, figures in want.items():
        row = rows[creator_id]
        assert int(row["clicks"]) == figures["clicks"]
        assert int(row["unique_clicks"]) == figures["unique"]
        assert int(row["orders"]) == figures["orders"]
        for currency in ("EUR", "USD"):
            sales = figures["sales"].get(currency, 0)
            assert Decimal(row.get(f"sales_{currency}") or 0) * 100 == sales
            earned = figures["earned"].get(currency, 0)
            assert Decimal(row.get(f"earned_{currency}") or 0) * 100 == earned
    days = _csv(x.get(f"{base}/day.csv?start={start}&end={end}"))
    assert len(days) == 30 and days[0]["day"] == start  # every day, zeros included
    assert sum(int(r["clicks"]) for r in days) == sum(f["clicks"] for f in want.values())
    countries = _csv(x.get(f"{base}/country.csv?start={start}&end={end}"))
    assert {r["country"] for r in countries} == {"ES", "FR", "PL"}
    content = _csv(x.get(f"{base}/content.csv?start={start}&end={end}"))
    assert "Alice reviews the X speaker" in {r["content"] for r in content}
    assert x.get(f"{base}/links.csv").status_code == 404  # not a table of this page

    brand_base = f"/brand/{world['x']}/dashboard"
    campaigns = _csv(x.get(f"{brand_base}/campaigns.csv?start={start}&end={end}"))
    assert [r["campaign"] for r in campaigns] == ["X Spring"]
    assert campaigns[0]["budget"] == "1000.00" and campaigns[0]["budget_spent_to_date"] == "24.00"
    assert campaigns[0]["budget_spent_in_range"] == "16.80"


def test_csv_cells_cannot_run_as_formulas(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        piece = db.session.get(Content, world["piece"])
        piece.title = '=HYPERLINK("http://evil.example")'
        db.session.commit()
        db.session.remove()
    x = _client(app, world["users"]["x"])
    rows = _csv(x.get(f"/brand/{world['x']}/dashboard/campaigns/{world['cx']}/content.csv"))
    assert '\'=HYPERLINK("http://evil.example")' in {r["content"] for r in rows}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-13-01", "Enter a date as YYYY-MM-DD."),
        ("start=yesterday", "Enter a date as YYYY-MM-DD."),
        ("start=2026-03-10&end=2026-03-01", "The end date is before the start date."),
        ("start=2020-01-01&end=2024-01-01", "Choose at most 366 days."),
        (f"start={(TODAY + timedelta(days=3)).isoformat()}", "The range starts in the future."),
    ],
)
def test_bad_range_is_refused_with_a_clear_error(
    app: Flask, world: dict[str, Any], query: str, message: str
) -> None:
    client = _client(app, world["users"]["a"])
    resp = client.get(f"/creator/dashboard?{query}")
    assert resp.status_code == 400
    body = visible_text(resp.get_data(as_text=True))
    assert message in body
    assert '<svg class="chart"' not in resp.get_data(as_text=True)
    x = _client(app, world["users"]["x"])
    assert x.get(f"/brand/{world['x']}/dashboard?{query}").status_code == 400
    csv_url = f"/brand/{world['x']}/dashboard/campaigns/{world['cx']}/day.csv?{query}"
    assert x.get(csv_url).status_code == 400


def test_an_explicit_range_is_used(app: Flask, world: dict[str, Any]) -> None:
    client = _client(app, world["users"]["a"])
    start = (TODAY - timedelta(days=60)).isoformat()
    end = (TODAY - timedelta(days=40)).isoformat()
    page = client.get(f"/creator/dashboard?start={start}&end={end}").get_data(as_text=True)
    # Only the old order (50 days ago, 70.00 EUR) and the 7 old clicks are in this range.
    with app.app_context():
        t = svc.totals(
            db.session,
            svc.Scope(creator_id=world["a"]),
            svc.DateRange(date.fromisoformat(start), date.fromisoformat(end)),
        )
        db.session.remove()
    assert (t.clicks, t.orders, t.sales) == (7, 1, {"EUR": 7000})
    assert "€70.00" in visible_text(page)


def test_finance_dashboard_page(app: Flask, world: dict[str, Any]) -> None:
    for who in ("finance", "admin"):
        resp = _client(app, world["users"][who]).get("/finance/dashboard")
        assert resp.status_code == 200
        body = visible_text(resp.get_data(as_text=True))
        assert "flagged click" in body and "Starter" in body
        assert "-$4.00" in body  # the negative balance carried
    assert _client(app, world["users"]["a"]).get("/finance/dashboard").status_code == 403
    assert _client(app, world["users"]["x"]).get("/finance/dashboard").status_code == 403


def test_chart_is_accessible_and_escapes_labels() -> None:
    svg = str(
        bar_chart(
            ["<b>1</b>", "2"],
            [Series("a&b", [0, 5])],
            title="T <x>",
            desc="D",
        )
    )
    assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "a&amp;b" in svg
    assert svg.count("<rect") == 2  # the zero day is drawn (as an empty bar)
    assert "style=" not in svg  # the CSP allows no inline styles


# -- every locale --------------------------------------------------------------------------------


def _set_locale(app: Flask, emails: list[str], locale: str) -> None:
    with app.app_context():
        db.session.execute(
            text("UPDATE users SET locale = :l WHERE email = ANY(:e)"), {"l": locale, "e": emails}
        )
        db.session.commit()
        db.session.remove()


def _english(locale: str) -> set[str]:
    allowed = SAME_EVERYWHERE | SAME_IN.get(locale, set())
    return {
        m.id.strip().lower()
        for m in load_po(locale)
        if m.id and not m.pluralizable and m.id not in allowed
    }


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_locale_renders_every_dashboard(
    app: Flask, world: dict[str, Any], locale: str
) -> None:
    users = world["users"]
    _set_locale(app, list(users.values()), locale)
    pages = [
        (users["a"], "/creator/dashboard"),
        (users["x"], f"/brand/{world['x']}/dashboard"),
        (users["x"], f"/brand/{world['x']}/dashboard/campaigns/{world['cx']}"),
        (users["finance"], "/finance/dashboard"),
    ]
    english = _english(locale) if locale != "en" else set()
    problems = []
    for email, path in pages:
        resp = _client(app, email).get(path)
        assert resp.status_code == 200, (locale, path)
        page = resp.get_data(as_text=True)
        assert f'<html lang="{locale.replace("_", "-")}">' in page
        text_ = visible_text(page)
        chunks = {c.strip().lower() for c in re.split(r"\s*[\n·:|()]\s*", text_) if c.strip()}
        problems += [f"{path}: {chunk!r}" for chunk in sorted(chunks & english)]
    assert not problems, f"{locale}: " + ", ".join(problems)


def test_every_table_shown_to_a_brand_has_a_working_csv_export(
    app: Flask, world: dict[str, Any]
) -> None:
    x = _client(app, world["users"]["x"])
    for path in (
        f"/brand/{world['x']}/dashboard",
        f"/brand/{world['x']}/dashboard/campaigns/{world['cx']}",
    ):
        page = x.get(path).get_data(as_text=True)
        tables = page.count("<table>")
        links = [
            html.unescape(h) for h in re.findall(r'<a href="([^"]+\.csv[^"]*)" download>', page)
        ]
        assert len(links) == tables  # the summary CSV holds the status table's figures too
        for link in links:
            assert _csv(x.get(link)), link
    with app.app_context():
        want = sql_figures(
            *CAMPAIGN_WHERE, {"bid": world["x_id"], "camp": world["cx"]}, *RANGE, None
        )[0]
        db.session.remove()
    start, end = (d.isoformat() for d in RANGE)
    base = f"/brand/{world['x']}/dashboard/campaigns/{world['cx']}"
    (row,) = _csv(x.get(f"{base}/summary.csv?start={start}&end={end}"))
    assert (row["from"], row["to"]) == (start, end)
    assert (int(row["clicks"]), int(row["unique_clicks"]), int(row["orders"])) == (
        want["clicks"],
        want["unique"],
        want["orders"],
    )
    for figure in ("sales", "earned", "pending", "approved", "paid", "reversed"):
        for currency, amount in want[figure].items():
            assert Decimal(row[f"{figure}_{currency}"]) * 100 == amount, (figure, currency)
    assert x.get(f"/brand/{world['x']}/dashboard/nope.csv").status_code == 404
