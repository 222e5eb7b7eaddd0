"""The admin's ladder editor and the public leaderboard (with the creator's opt-in)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from connect.accounts.models import Role
from connect.audit.models import AuditEvent
from connect.conversions.models import CommissionStatus
from connect.core.jobs import queue
from connect.core.time import utcnow
from connect.creators.models import Creator, CreatorStatus
from connect.extensions import db
from connect.tiers.models import Tier, TierSettings
from connect.tiers.services import default_tiers, leaderboard, recompute_tiers
from tests import factories
from tests.conftest import csrf_token, login
from tests.test_tiers import _sale

ADMIN = "root@example.com"


@pytest.fixture
def world(app: Flask) -> dict[str, int]:
    with app.app_context():
        tiers = default_tiers()
        db.session.add_all(tiers)
        factories.user(Role.ADMIN, email=ADMIN)
        factories.user(Role.FINANCE, email="fin@example.com")
        factories.creator(handle="alice")
        db.session.commit()
        ids = {t.name: t.id for t in tiers}
        db.session.remove()
        return ids


def _admin(app: Flask):
    client = app.test_client()
    assert login(client, ADMIN, factories.PASSWORD).status_code == 302
    return client


def _ladder(app: Flask) -> list[tuple]:
    with app.app_context():
        rows = db.session.execute(
            select(
                Tier.name,
                Tier.rank,
                Tier.min_sales_minor,
                Tier.min_earnings_minor,
                Tier.min_audience,
                Tier.bonus_bps,
                Tier.retired_at.is_not(None),
            ).order_by(Tier.rank)
        ).all()
        db.session.remove()
        return [tuple(r) for r in rows]


def _audit(app: Flask) -> list[tuple[str, dict]]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.action, AuditEvent.data).order_by(AuditEvent.id)
        ).all()
        db.session.remove()
        return [(a, d) for a, d in rows]


def _tier_form(**overrides: object) -> dict[str, object]:
    data = {
        "name": "Legend",
        "rank": 6,
        "min_sales": "5000000",
        "min_earnings": "500000.50",
        "min_audience": 1_000_000,
        "bonus_bps": 300,
        "sample_limit": 60,
    }
    return data | overrides


def test_the_ladder_page_lists_tiers_and_settings(app, world):
    page = _admin(app).get("/admin/tiers").get_data(as_text=True)
    for name in ("Starter", "Rising", "Pro", "Star", "KOL"):
        assert name in page
    assert "$2,500,000.00" in page  # KOL sales threshold in the reference currency
    assert 'name="demotion_grace_days"' in page and 'value="30"' in page


def test_only_admins_reach_the_editor(app, world):
    fin = app.test_client()
    login(fin, "fin@example.com", factories.PASSWORD)
    token = csrf_token(fin)
    assert fin.get("/admin/tiers").status_code == 403
    resp = fin.post("/admin/tiers/new", data=_tier_form(csrf_token=token))
    assert resp.status_code == 403
    assert len(_ladder(app)) == 5


def test_create_a_tier_is_audited(app, world):
    admin = _admin(app)
    token = csrf_token(admin, "/admin/tiers/new")
    resp = admin.post("/admin/tiers/new", data=_tier_form(csrf_token=token))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    legend = _ladder(app)[-1]
    assert legend == ("Legend", 6, 5_000_000_00, 500_000_50, 1_000_000, 300, False)
    action, data = _audit(app)[-1]
    assert action == "tier.create" and data["min_earnings_minor"] == [None, 500_000_50]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "kol"}, "Another tier already has this name."),
        ({"rank": 5}, "KOL already has rank 5."),
        ({"min_sales": "100"}, "must need more sales and more earnings than KOL"),
        ({"min_earnings": "250000"}, "must need more sales and more earnings than KOL"),
        ({"min_audience": 10}, "cannot need a smaller audience than KOL"),
        ({"min_sales": "-5"}, "Thresholds are zero or more."),
        ({"min_sales": "12.345"}, "Enter an amount in USD"),
        ({"min_sales": "lots"}, "Enter an amount in USD"),
        ({"bonus_bps": 2501}, "Number must be between 0 and 2500."),
        ({"bonus_bps": -1}, "Number must be between 0 and 2500."),
        ({"min_audience": -1}, "Number must be between"),
        ({"name": ""}, "This field is required."),
    ],
)
def test_bad_tiers_are_refused_and_change_nothing(app, world, overrides, message):
    admin = _admin(app)
    before, audit = _ladder(app), _audit(app)
    token = csrf_token(admin, "/admin/tiers/new")
    resp = admin.post("/admin/tiers/new", data=_tier_form(csrf_token=token, **overrides))
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert _ladder(app) == before and _audit(app) == audit


def test_edit_keeps_thresholds_rising(app, world):
    admin = _admin(app)
    path = f"/admin/tiers/{world['Pro']}"
    token = csrf_token(admin, path)
    page = admin.get(path).get_data(as_text=True)
    assert 'value="50000.00"' in page  # thresholds shown in major units
    bad = _tier_form(
        name="Pro",
        rank=3,
        min_sales="600000",
        min_earnings="5000",
        min_audience=25_000,
        bonus_bps=100,
        sample_limit=20,
        csrf_token=token,
    )
    resp = admin.post(path, data=bad)
    assert resp.status_code == 422
    assert "Star must need more sales and more earnings than Pro" in resp.get_data(as_text=True)
    good = bad | {"min_sales": "60000", "bonus_bps": 120}
    assert admin.post(path, data=good).status_code == 302
    pro = next(r for r in _ladder(app) if r[0] == "Pro")
    assert pro[2] == 60_000_00 and pro[5] == 120
    action, data = _audit(app)[-1]
    assert action == "tier.update"
    assert data == {"min_sales_minor": [50_000_00, 60_000_00], "bonus_bps": [100, 120]}


def test_the_lowest_tier_stays_open_to_everyone(app, world):
    admin = _admin(app)
    path = f"/admin/tiers/{world['Starter']}"
    token = csrf_token(admin, path)
    resp = admin.post(
        path,
        data=_tier_form(
            name="Starter",
            rank=1,
            min_sales="1",
            min_earnings="1",
            min_audience=0,
            bonus_bps=0,
            sample_limit=5,
            csrf_token=token,
        ),
    )
    assert resp.status_code == 422
    assert "lowest tier" in resp.get_data(as_text=True)


def test_retire_moves_creators_at_the_next_recompute(app, world):
    admin = _admin(app)
    with app.app_context():
        c = factories.creator(handle="starry")
        c.audience_size = 200_000
        c.tier_id = world["Star"]
        db.session.commit()
        creator_id = c.id
        db.session.remove()
    token = csrf_token(admin, "/admin/tiers")
    assert (
        admin.post(f"/admin/tiers/{world['Star']}/retire", data={"csrf_token": token}).status_code
        == 302
    )
    assert [r[6] for r in _ladder(app)] == [False, False, False, True, False]
    assert _audit(app)[-1][0] == "tier.retire"
    with app.app_context():
        assert db.session.get(Creator, creator_id).tier_id == world["Star"]  # not yet
        result = recompute_tiers(db.session, utcnow())
        db.session.commit()
        assert result.moved == 1
        assert db.session.get(Creator, creator_id).tier_id == world["Pro"]
        db.session.remove()
    # Restored, it is on the ladder again; retiring every tier is refused.
    assert (
        admin.post(f"/admin/tiers/{world['Star']}/restore", data={"csrf_token": token}).status_code
        == 302
    )
    assert [r[6] for r in _ladder(app)] == [False] * 5
    for name in ("KOL", "Star", "Pro", "Rising"):
        admin.post(f"/admin/tiers/{world[name]}/retire", data={"csrf_token": token})
    resp = admin.post(
        f"/admin/tiers/{world['Starter']}/retire", data={"csrf_token": token}, follow_redirects=True
    )
    assert "at least one active tier" in resp.get_data(as_text=True)
    assert [r[6] for r in _ladder(app)] == [False, True, True, True, True]


def test_retire_without_csrf_is_refused(app, world):
    admin = _admin(app)
    assert admin.post(f"/admin/tiers/{world['Star']}/retire").status_code == 400
    assert [r[6] for r in _ladder(app)] == [False] * 5


def test_settings_are_validated_and_audited(app, world):
    admin = _admin(app)
    token = csrf_token(admin, "/admin/tiers")
    bad = admin.post(
        "/admin/tiers/settings",
        data={"csrf_token": token, "reference_currency": "XYZ", "demotion_grace_days": 10},
    )
    assert bad.status_code == 422
    assert "Choose a currency from the list." in bad.get_data(as_text=True)
    bad = admin.post(
        "/admin/tiers/settings",
        data={"csrf_token": token, "reference_currency": "USD", "demotion_grace_days": 400},
    )
    assert bad.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TierSettings)) == 0
        db.session.remove()
    ok = admin.post(
        "/admin/tiers/settings",
        data={"csrf_token": token, "reference_currency": "USD", "demotion_grace_days": 14},
    )
    assert ok.status_code == 302
    with app.app_context():
        settings = db.session.scalar(select(TierSettings))
        assert (settings.reference_currency, settings.demotion_grace_days) == ("USD", 14)
        db.session.remove()
    assert _audit(app)[-1] == ("tier_settings.update", {"demotion_grace_days": [30, 14]})


def test_recompute_now_enqueues_the_job_after_commit(app, world):
    admin = _admin(app)
    token = csrf_token(admin, "/admin/tiers")
    assert admin.post("/admin/tiers/recompute", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        jobs = queue("periodic").jobs
        assert [j.func_name for j in jobs] == ["workers.jobs.recompute_tiers"]
    assert _audit(app)[-1][0] == "tier.recompute_requested"


# --- the leaderboard ---------------------------------------------------------------------------


@pytest.fixture
def board(app: Flask, world: dict[str, int]) -> None:
    with app.app_context():
        brand = factories.brand("shop")
        n = [0]
        specs = [
            # handle, country, opted in, sales (USD cents) by category
            ("ana", "ES", True, {"audio": 300_00, "toys": 50_00}),
            ("ben", "FR", True, {"audio": 100_00, "toys": 900_00}),
            ("hidden", "ES", False, {"audio": 10_000_00}),
            ("dora", "ES", True, {"audio": 200_00}),
        ]
        for handle, country, shown, sales in specs:
            c = factories.creator(handle=handle, country=country)
            c.public_leaderboard = shown
            for category, base in sales.items():
                _sale(
                    c,
                    brand.id,
                    base=base,
                    amount=0,
                    currency="USD",
                    status=CommissionStatus.PENDING,
                    days_ago=3,
                    n=n,
                    category=category,
                )
        pending = factories.creator(handle="pendy", country="ES", status=CreatorStatus.PENDING)
        pending.public_leaderboard = True
        _sale(
            pending,
            brand.id,
            base=5_000_00,
            amount=0,
            currency="USD",
            status=CommissionStatus.PENDING,
            days_ago=3,
            n=n,
            category="audio",
        )
        old = factories.creator(handle="oldie", country="ES")
        old.public_leaderboard = True
        _sale(
            old,
            brand.id,
            base=5_000_00,
            amount=0,
            currency="USD",
            status=CommissionStatus.PENDING,
            days_ago=95,
            n=n,
            category="audio",
        )
        factories.product(brand, "A-1")  # "audio": a category creators may pick
        toys = factories.product(brand, "T-1")
        toys.category = "toys"
        db.session.commit()
        db.session.remove()


def _rows(page: str) -> list[str]:
    return [h for h in ("ana", "ben", "hidden", "dora", "pendy", "oldie") if f"@{h}<" in page]


def test_leaderboard_ranks_opted_in_creators_by_sales(app, board):
    with app.app_context():
        rows = leaderboard(db.session, utcnow())
        assert [(r.rank, r.handle, r.sales_minor) for r in rows] == [
            (1, "ben", 1000_00),
            (2, "ana", 350_00),
            (3, "dora", 200_00),
        ]
        es_audio = leaderboard(db.session, utcnow(), country="ES", category="audio")
        assert [(r.handle, r.sales_minor) for r in es_audio] == [("ana", 300_00), ("dora", 200_00)]
        db.session.remove()
    page = app.test_client().get("/leaderboard").get_data(as_text=True)
    assert _rows(page) == ["ana", "ben", "dora"]
    assert page.index("@ben<") < page.index("@ana<") < page.index("@dora<")
    assert "$1,000.00" in page


def test_opted_out_creators_are_never_shown(app, board):
    """Not to visitors, not to other creators, not to admins, not even to themselves."""
    clients = {"anon": app.test_client()}
    for email in ("hidden@example.com", "ana@example.com", ADMIN):
        clients[email] = app.test_client()
        login(clients[email], email, factories.PASSWORD)
    for query in ("", "?country=ES", "?category=audio", "?country=ES&category=audio"):
        for name, client in clients.items():
            page = client.get("/leaderboard" + query).get_data(as_text=True)
            assert "hidden" not in page.replace('"hidden"', ""), (name, query)
            assert "Hidden" not in page, (name, query)


def test_leaderboard_filters(app, board):
    client = app.test_client()
    assert _rows(client.get("/leaderboard?country=FR").get_data(as_text=True)) == ["ben"]
    page = client.get("/leaderboard?category=toys").get_data(as_text=True)
    assert _rows(page) == ["ana", "ben"] and page.index("@ben<") < page.index("@ana<")
    bad = client.get("/leaderboard?country=XX&category=nope")
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "Choose a country from the list." in text
    assert "Choose a category from the list." in text


def test_creators_opt_in_and_out_from_their_profile(app, board):
    dora = app.test_client()
    login(dora, "dora@example.com", factories.PASSWORD)
    profile = dora.get("/creator/profile").get_data(as_text=True)
    assert 'name="show" value="y" checked' in profile
    token = csrf_token(dora, "/creator/profile")
    assert dora.post("/creator/leaderboard", data={"csrf_token": token}).status_code == 302
    assert "@dora<" not in app.test_client().get("/leaderboard").get_data(as_text=True)
    assert dora.post("/creator/leaderboard", data={"show": "y"}).status_code == 400  # no CSRF
    assert "@dora<" not in app.test_client().get("/leaderboard").get_data(as_text=True)
    resp = dora.post("/creator/leaderboard", data={"csrf_token": token, "show": "y"})
    assert resp.status_code == 302
    assert "@dora<" in app.test_client().get("/leaderboard").get_data(as_text=True)
    with app.app_context():
        # Only the signed-in creator's own row ever changes.
        shown = dict(db.session.execute(select(Creator.handle, Creator.public_leaderboard)).all())
        assert shown["hidden"] is False and shown["dora"] is True
        db.session.remove()


def test_new_creators_are_not_shown_by_default(app, world):
    with app.app_context():
        assert db.session.scalar(select(Creator.public_leaderboard)) is False
        db.session.remove()


def test_leaderboard_window_is_ninety_days(app, board):
    with app.app_context():
        later = leaderboard(db.session, utcnow() + timedelta(days=88))
        assert [r.handle for r in later] == []
        db.session.remove()


def test_the_cached_board_drops_a_creator_who_opts_out_at_once(app, board):
    client = app.test_client()
    assert _rows(client.get("/leaderboard").get_data(as_text=True)) == ["ana", "ben", "dora"]
    with app.app_context():
        # New sales do not show until the cache expires...
        ana = db.session.scalar(select(Creator).where(Creator.handle == "ana"))
        _sale(
            ana,
            1,
            base=5_000_00,
            amount=0,
            currency="USD",
            status=CommissionStatus.PENDING,
            days_ago=1,
            n=[900],
            category="audio",
        )
        db.session.commit()
        db.session.remove()
    page = client.get("/leaderboard").get_data(as_text=True)
    assert page.index("@ben<") < page.index("@ana<")
    # ... but an opt-out does, and the ranks close up.
    ben = app.test_client()
    login(ben, "ben@example.com", factories.PASSWORD)
    token = csrf_token(ben, "/creator/profile")
    assert ben.post("/creator/leaderboard", data={"csrf_token": token}).status_code == 302
    page = client.get("/leaderboard").get_data(as_text=True)
    assert _rows(page) == ["ana", "dora"]
    assert '<td class="num">1</td><td>Ana' in page
