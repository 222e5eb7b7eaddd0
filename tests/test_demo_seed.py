"""The demo seed: deterministic, plausible, consistent with the money path's rules, flush-only."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from connect import create_app
from connect.accounts.models import Role, User
from connect.bounties.models import Task, TaskAssignment, TaskStatus
from connect.brands.models import Brand, BrandDomain, Product
from connect.campaigns.models import Campaign, CampaignProduct, CampaignRate
from connect.content.models import Content
from connect.conversions.models import Order, OrderLine, OrderStatus
from connect.core.security import verify_password
from connect.creators.models import Creator, CreatorStatus
from connect.demo import DEMO_PASSWORD, default_tiers, seed_demo
from connect.extensions import db
from connect.fx.models import FxRate
from connect.promos.models import PromoCode
from connect.samples.models import SampleRequest
from connect.tiers.models import Tier
from connect.tracking.models import Click, Link

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HEX64 = re.compile(r"^[0-9a-f]{64}$")
BASE62_10 = re.compile(r"^[0-9A-Za-z]{10}$")


def _sqlite_app(path: Path) -> Flask:
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "TESTING": True,
            "IP_HASH_KEY": "demo-seed-test-key",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )


sqlite = pytest.mark.sqlite


@dataclass
class Seeded:
    app: Flask
    logins: dict[str, str]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Seeded]]:
    """The same seed and `now` run into two separate SQLite databases, committed."""
    runs: list[Seeded] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONNECT_ENV", "testing")
        mp.setenv("CONNECT_INSTANCE_PATH", str(tmp_path_factory.mktemp("instance")))
        for name in ("first", "second"):
            app = _sqlite_app(tmp_path_factory.mktemp(name) / "t.db")
            with app.app_context():
                db.create_all()
                logins = seed_demo(db.session, seed=7, now=NOW)
                db.session.commit()
                db.session.remove()
            runs.append(Seeded(app, logins))
    yield runs
    for run in runs:
        with run.app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def demo(seeded: list[Seeded]) -> Iterator[Seeded]:
    run = seeded[0]
    with run.app.app_context():
        yield run
        db.session.rollback()
        db.session.remove()


def _count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _fingerprint() -> dict[str, Any]:
    """Everything that must come out the same for the same seed and `now` (ids aside)."""
    s = db.session
    return {
        "counts": {
            m.__name__: _count(m)
            for m in (
                User,
                Tier,
                Brand,
                Product,
                Campaign,
                CampaignRate,
                CampaignProduct,
                Creator,
                Content,
                Link,
                Click,
                Order,
                OrderLine,
                FxRate,
            )
        },
        "users": s.execute(select(User.email, User.role).order_by(User.email)).all(),
        "handles": s.execute(
            select(Creator.handle, Creator.status, Creator.audience_size).order_by(Creator.handle)
        ).all(),
        "products": s.execute(
            select(Product.sku, Product.url, Product.price_minor).order_by(Product.sku)
        ).all(),
        "links": s.scalars(select(Link.code).order_by(Link.code)).all(),
        "clicks": s.execute(
            select(Click.click_id, Click.clicked_at, Click.visitor_id, Click.ip_hash).order_by(
                Click.click_id
            )
        ).all(),
        "orders": s.execute(
            select(Order.external_id, Order.body_sha256, Order.ordered_at, Order.click_id).order_by(
                Order.external_id
            )
        ).all(),
        "fx": s.execute(
            select(FxRate.day, FxRate.currency, FxRate.rate).order_by(FxRate.day, FxRate.currency)
        ).all(),
        "promo_codes": s.scalars(select(PromoCode.code).order_by(PromoCode.code)).all(),
    }


@sqlite
def test_same_seed_and_now_give_the_same_data(seeded: list[Seeded]) -> None:
    prints = []
    for run in seeded:
        with run.app.app_context():
            prints.append(_fingerprint())
            db.session.remove()
    assert prints[0] == prints[1]
    assert seeded[0].logins == seeded[1].logins


@sqlite
def test_counts_are_in_the_asked_ranges(demo: Seeded) -> None:
    assert _count(Tier) == 5
    assert _count(Brand) == 3
    assert 180 <= _count(Product) <= 220
    assert 9 <= _count(Campaign) <= 15
    assert 45 <= _count(Creator) <= 55
    assert 4_000 <= _count(Click) <= 6_000
    assert 1_000 <= _count(Order) <= 2_000
    assert _count(OrderLine) >= _count(Order)
    assert _count(FxRate) == 5 * 100
    statuses = dict(
        db.session.execute(select(Creator.status, func.count()).group_by(Creator.status)).all()
    )
    assert statuses[CreatorStatus.APPROVED] > 35
    assert statuses[CreatorStatus.PENDING] >= 1
    assert statuses[CreatorStatus.SUSPENDED] == 1
    countries = set(db.session.scalars(select(Creator.country)))
    assert countries == {"RU", "FR", "ES", "PL", "BR", "US"}
    bots = db.session.scalar(select(func.count()).where(Click.is_bot))
    assert 0.01 < bots / _count(Click) < 0.06
    assert db.session.scalar(select(func.count()).where(Click.is_duplicate)) > 0
    # The other programmes, made through their services: codes, open paid tasks, samples.
    assert _count(PromoCode) >= 20
    assert db.session.scalar(select(func.count()).where(Task.status == TaskStatus.OPEN)) >= 2
    assert _count(TaskAssignment) >= 1
    assert 1 <= _count(SampleRequest) <= 4


@sqlite
def test_links_redirect_only_to_their_brands_verified_domains(demo: Seeded) -> None:
    verified: dict[int, set[str]] = {}
    for brand_id, domain in db.session.execute(
        select(BrandDomain.brand_id, BrandDomain.domain).where(BrandDomain.verified_at.is_not(None))
    ):
        verified.setdefault(brand_id, set()).add(domain)
    links = db.session.execute(
        select(Link.code, Link.brand_id, Link.destination_url, Product.url, Product.brand_id).join(
            Product, Product.id == Link.product_id
        )
    ).all()
    assert links
    for code, brand_id, destination, product_url, product_brand in links:
        assert BASE62_10.match(code)
        parts = urlsplit(destination)
        assert parts.scheme == "https"
        assert parts.hostname in verified[brand_id]
        assert destination == product_url
        assert brand_id == product_brand
    assert len({code for code, *_ in links}) == len(links)


@sqlite
def test_clicks_never_keep_a_raw_ip_and_stay_inside_the_window(demo: Seeded) -> None:
    rows = db.session.execute(select(Click.ip_hash, Click.clicked_at, Click.click_id)).all()
    for ip_hash, clicked_at, click_id in rows:
        assert HEX64.match(ip_hash), ip_hash
        assert NOW - timedelta(days=90) <= clicked_at <= NOW
        assert re.fullmatch(r"[0-9a-f]{32}", click_id)


@sqlite
def test_orders_come_after_their_clicks(demo: Seeded) -> None:
    s = db.session
    with_click = s.execute(
        select(Order.ordered_at, Click.clicked_at).join(Click, Click.click_id == Order.click_id)
    ).all()
    assert len(with_click) == s.scalar(select(func.count()).where(Order.click_id != ""))
    assert len(with_click) > 500
    for ordered_at, clicked_at in with_click:
        assert clicked_at < ordered_at <= min(clicked_at + timedelta(days=30), NOW)

    # Orders that only kept the visitor cookie still follow a click by that visitor.
    earlier = aliased(Click)
    visitor_only = s.scalar(
        select(func.count()).where(Order.click_id == "", Order.visitor_id != "")
    )
    followed = s.scalar(
        select(func.count()).where(
            Order.click_id == "",
            Order.visitor_id != "",
            select(earlier.id)
            .where(earlier.visitor_id == Order.visitor_id, earlier.clicked_at < Order.ordered_at)
            .exists(),
        )
    )
    assert visitor_only > 0
    assert followed == visitor_only

    orders = s.execute(select(Order, Brand.currency).join(Brand, Brand.id == Order.brand_id))
    for order, currency in orders:
        assert order.status is OrderStatus.RECEIVED
        assert order.currency == currency
        assert order.external_id.startswith("SO-")
        assert HEX64.match(order.body_sha256)
        assert 1 <= len(order.lines) <= 4
    unattributed = s.scalar(select(func.count()).where(Order.visitor_id == ""))
    assert unattributed > 0


@sqlite
def test_logins_work_with_the_demo_password(demo: Seeded) -> None:
    assert demo.logins["password"] == DEMO_PASSWORD
    expected_roles = {
        "admin": Role.ADMIN,
        "finance": Role.FINANCE,
        "brand": Role.BRAND,
        "creator": Role.CREATOR,
    }
    for key, role in expected_roles.items():
        user = db.session.scalar(select(User).where(User.email == demo.logins[key]))
        assert user is not None and user.role is role
        assert verify_password(user.password_hash, DEMO_PASSWORD)
    creator = db.session.scalar(
        select(Creator).join(User).where(User.email == demo.logins["creator"])
    )
    assert creator.status is CreatorStatus.APPROVED
    finance = db.session.scalar(select(func.count()).where(User.role == Role.FINANCE))
    assert finance >= 2  # the four-eyes rule needs a second approver


@sqlite
def test_seeding_again_is_refused(demo: Seeded) -> None:
    with pytest.raises(RuntimeError, match="demo data already present"):
        seed_demo(db.session, now=NOW)
    assert _count(Brand) == 3


@sqlite
def test_seed_flushes_but_never_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECT_ENV", "testing")
    monkeypatch.setenv("CONNECT_INSTANCE_PATH", str(tmp_path / "instance"))
    app = _sqlite_app(tmp_path / "t.db")
    with app.app_context():
        db.create_all()
        with pytest.raises(ValueError, match="timezone-aware"):
            seed_demo(db.session, now=datetime(2026, 3, 1, 12, 0))  # noqa: DTZ001 - on purpose
        seed_demo(db.session, seed=11, now=NOW)
        assert _count(Brand) == 3
        db.session.rollback()
        assert _count(Brand) == 0
        assert _count(Click) == 0
        db.session.remove()
        db.engine.dispose()


def test_default_tier_ladder() -> None:
    tiers = default_tiers()
    assert [t.name for t in tiers] == ["Starter", "Rising", "Pro", "Star", "KOL"]
    assert [t.rank for t in tiers] == [1, 2, 3, 4, 5]
    assert [t.bonus_bps for t in tiers] == [0, 50, 100, 150, 250]
    assert [t.sample_limit for t in tiers] == [5, 10, 20, 35, 50]
    for lower, higher in itertools.pairwise(tiers):
        assert lower.min_sales_minor < higher.min_sales_minor
        assert lower.min_earnings_minor < higher.min_earnings_minor
        assert lower.min_audience < higher.min_audience
    kol = tiers[-1]
    assert kol.reference_currency == "USD"
    assert kol.min_earnings_minor * 4 >= 1_000_000 * 100  # on track for US$1M a year
    assert default_tiers()[0] is not tiers[0]  # fresh objects each call


@pytest.mark.usefixtures("ctx")
def test_seed_runs_on_postgresql() -> None:
    """The production database: bulk inserts with RETURNING, CHECKs and JSON all accept it."""
    seed_demo(db.session, now=NOW)
    db.session.commit()
    assert _count(Brand) == 3
    assert 4_000 <= _count(Click) <= 6_000
    assert 1_000 <= _count(Order) <= 2_000
    orphan_lines = db.session.scalar(
        select(func.count()).select_from(OrderLine).outerjoin(Order).where(Order.id.is_(None))
    )
    assert orphan_lines == 0


@sqlite
def test_first_run_jobs_leave_readable_rows_on_sqlite(demo: Seeded) -> None:
    """The jobs `make run` starts (attribution, approval, tiers) on the SQLite default: every
    creator still loads (a CAST to DATETIME once stored the year as an integer)."""
    from connect.conversions.tasks import approve_commissions, attribute_orders
    from connect.tiers.services import recompute_tiers

    attribute_orders(db.session, NOW)
    approve_commissions(db.session, NOW)
    result = recompute_tiers(db.session, NOW)
    db.session.flush()
    assert result.grace_started + result.promoted + result.demoted > 0
    db.session.expire_all()
    creators = db.session.scalars(select(Creator)).all()
    graced = [c.tier_below_since for c in creators if c.tier_below_since is not None]
    assert graced, "the demo has creators below their tier's thresholds"
    assert all(isinstance(at, datetime) and at.tzinfo is not None for at in graced)
