"""Tracked links, the redirect and the click pipeline, on real PostgreSQL and Redis."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import segno
from flask import Flask
from sqlalchemy import func, select

from connect.brands.services import update_tracking
from connect.campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignProduct,
    CampaignStatus,
    MemberStatus,
    Visibility,
)
from connect.content.models import Content, ContentKind, ContentProduct, ContentStatus
from connect.conversions.models import Order
from connect.core.jobs import redis_connection
from connect.core.security import keyed_hash
from connect.core.time import utcnow
from connect.creators.models import CreatorStatus
from connect.extensions import db
from connect.tracking import capture, tasks
from connect.tracking.capture import GROUP, STREAM
from connect.tracking.models import Click, Link
from connect.tracking.services import LinkError, create_link, store_clicks
from tests import factories
from tests.conftest import csrf_token, login

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"


def break_redis(app: Flask, monkeypatch: pytest.MonkeyPatch, spool: Path) -> None:
    """Point the redirect at a port where no Redis listens."""
    from redis import Redis

    redirector = app.extensions["connect_redirector"]
    dead = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.25)
    monkeypatch.setattr(redirector, "redis", dead)
    monkeypatch.setattr(redirector, "_follow", dead.register_script(capture._FOLLOW_SCRIPT))
    monkeypatch.setattr(redirector, "spool_dir", spool)
    monkeypatch.setattr(redirector, "_redis_down_until", 0.0)


@pytest.fixture
def shop(app: Flask) -> dict[str, object]:
    with app.app_context():
        creator = factories.creator(handle="alice")
        other = factories.creator(handle="bob")
        brand = factories.brand("acme", staff_email="staff@acme.example")
        plain = factories.product(brand, "SKU-1")
        with_query = factories.product(brand, "SKU-2")
        with_query.url = "https://shop.acme.example/p/SKU-2?color=red&size=m%20l#reviews"
        db.session.flush()
        link = create_link(db.session, creator, product_id=plain.id)
        link_q = create_link(db.session, creator, product_id=with_query.id)
        db.session.commit()
        return {
            "creator": creator.id,
            "other": other.id,
            "brand": brand.id,
            "product": plain.id,
            "product_q": with_query.id,
            "code": link.code,
            "code_q": link_q.code,
            "link": link.id,
        }


def drain(app: Flask) -> int:
    with app.app_context():
        return tasks.drain_clicks(db.session, redis_connection(), max_seconds=5)


def clicks(app: Flask) -> list[Click]:
    with app.app_context():
        rows = db.session.scalars(select(Click).order_by(Click.clicked_at, Click.id)).all()
        db.session.expunge_all()
        return rows


def test_redirect_appends_click_id_and_sets_visitor_cookie(app, client, shop):
    resp = client.get(f"/r/{shop['code']}", headers={"User-Agent": BROWSER})
    assert resp.status_code == 302
    assert resp.headers["Cache-Control"] == "no-store"
    location = urlsplit(resp.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "shop.acme.example",
        "/p/SKU-1",
    )
    click_id = parse_qs(location.query)["cx_click"][0]
    assert re.fullmatch(r"[0-9a-f]{32}", click_id)
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("cx_vid=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=34560000" in cookie
    visitor = re.match(r"cx_vid=([0-9a-f]{32});", cookie).group(1)
    # no database write on the redirect: the click waits in Redis until drained
    assert clicks(app) == []
    assert drain(app) == 1
    (click,) = clicks(app)
    assert click.click_id == click_id
    assert click.visitor_id == visitor
    assert click.link_id == shop["link"]
    assert not click.is_bot and not click.is_duplicate
    assert click.country == "ZZ"
    with app.app_context():
        assert click.ip_hash == keyed_hash("127.0.0.1", "ip")
    assert "127.0.0.1" not in json.dumps([click.ip_hash, click.user_agent, click.referrer_host])


def test_cached_redirect_touches_no_database(app, client, shop):
    from sqlalchemy import event

    assert client.get(f"/r/{shop['code']}").status_code == 302  # caches the target in Redis
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(3):
            resp = client.get(f"/r/{shop['code']}", headers={"User-Agent": BROWSER})
            assert resp.status_code == 302
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []
    with app.app_context():
        # the Lua script put the link id beside each click
        entries = redis_connection().xrange(STREAM)
        assert [int(fields[b"l"]) for _, fields in entries] == [shop["link"]] * 4
    assert drain(app) == 4


def test_a_removed_domain_stops_cached_links_at_once(app, client, shop):
    from connect.brands.models import Brand, BrandDomain
    from connect.brands.services import remove_domain

    assert client.get(f"/r/{shop['code']}").status_code == 302  # cached
    with app.app_context():
        brand = db.session.get(Brand, shop["brand"])
        domain_id = db.session.scalar(
            select(BrandDomain.id).where(BrandDomain.brand_id == brand.id)
        )
        assert remove_domain(db.session, brand, domain_id, actor_id=1) is not None
        db.session.commit()
    resp = client.get(f"/r/{shop['code']}")
    assert resp.status_code == 404
    assert "Location" not in resp.headers


def test_redirect_keeps_the_destination_query_and_fragment(client, shop):
    resp = client.get(f"/r/{shop['code_q']}", headers={"User-Agent": BROWSER})
    location = resp.headers["Location"]
    assert location.startswith("https://shop.acme.example/p/SKU-2?color=red&size=m%20l&cx_click=")
    assert location.endswith("#reviews")


def test_brand_click_param_is_used(app, client, shop):
    from connect.brands.models import Brand

    assert "cx_click=" in client.get(f"/r/{shop['code']}").headers["Location"]  # now cached
    with app.app_context():
        brand = db.session.get(Brand, shop["brand"])
        update_tracking(
            db.session,
            brand,
            click_param="aff_click",
            return_window_days=brand.return_window_days,
            default_rate_bps=brand.default_rate_bps,
            actor_id=1,
        )
        db.session.commit()  # drops the brand's cached links
    location = client.get(f"/r/{shop['code']}").headers["Location"]
    assert "aff_click=" in location and "cx_click" not in location


def test_returning_visitor_keeps_id_and_repeat_is_duplicate(app, client, shop):
    first = client.get(f"/r/{shop['code']}", headers={"User-Agent": BROWSER})
    visitor = re.match(r"cx_vid=([0-9a-f]{32});", first.headers["Set-Cookie"]).group(1)
    second = client.get(f"/r/{shop['code']}", headers={"User-Agent": BROWSER})
    assert f"cx_vid={visitor};" in second.headers["Set-Cookie"]
    other_link = client.get(f"/r/{shop['code_q']}", headers={"User-Agent": BROWSER})
    assert other_link.status_code == 302
    assert drain(app) == 3
    rows = clicks(app)
    assert {r.visitor_id for r in rows} == {visitor}
    by_link = sorted((r.link_id == shop["link"], r.is_duplicate) for r in rows)
    # one unique click per link; the repeat on the first link is the duplicate
    assert by_link == [(False, False), (True, False), (True, True)]


def test_forged_visitor_cookie_is_replaced(client, shop):
    client.set_cookie("cx_vid", "../../etc/passwd", domain="connect.test")
    resp = client.get(f"/r/{shop['code']}")
    assert re.match(r"cx_vid=[0-9a-f]{32};", resp.headers["Set-Cookie"])


@pytest.mark.parametrize(
    "agent",
    [
        "facebookexternalhit/1.1",
        "Twitterbot/1.0",
        "TelegramBot (like TwitterBot)",
        "WhatsApp/2.23",
        "Mozilla/5.0 (compatible; Googlebot/2.1)",
        "curl/8.5.0",
        "",
        "Slackbot-LinkExpanding 1.0",
        "Mozilla/5.0 HeadlessChrome/120.0",
    ],
)
def test_bots_are_recorded_and_flagged(app, client, shop, agent):
    assert client.get(f"/r/{shop['code']}", headers={"User-Agent": agent}).status_code == 302
    drain(app)
    (click,) = clicks(app)
    assert click.is_bot


def test_duplicate_window_and_order_independence(app, shop):
    base = utcnow() - timedelta(hours=3)

    def row(n: int, minutes: float, visitor: str = "a" * 32) -> dict[str, object]:
        return {
            "click_id": f"{n:032x}",
            "link_id": shop["link"],
            "visitor_id": visitor,
            "clicked_at": base + timedelta(minutes=minutes),
            "ip_hash": "0" * 64,
            "country": "FR",
            "user_agent": BROWSER,
            "referrer_host": "",
            "is_bot": False,
            "is_duplicate": False,
        }

    with app.app_context():
        # the later clicks arrive first, the earliest last: the flags must come out the same
        store_clicks(db.session, [row(2, 10), row(3, 100), row(4, 5, "b" * 32)])
        store_clicks(db.session, [row(1, 0)])
        db.session.commit()
        flags = dict(db.session.execute(select(Click.click_id, Click.is_duplicate)).all())
    assert flags == {
        f"{1:032x}": False,  # first click
        f"{2:032x}": True,  # 10 minutes later: inside the 30-minute window
        f"{3:032x}": False,  # 90 minutes after the previous one: unique again
        f"{4:032x}": False,  # another visitor
    }


def test_drain_is_idempotent_and_recovers_unacknowledged_entries(app, client, shop):
    for _ in range(5):
        client.get(f"/r/{shop['code']}", headers={"User-Agent": BROWSER})
    redis = None
    with app.app_context():
        redis = redis_connection()
        tasks.ensure_group(redis)
        # a drainer that read the entries and died before acknowledging them
        read = redis.xreadgroup(GROUP, "dead-drainer", {STREAM: ">"}, count=100)
        entries = read[0][1]
        assert len(entries) == 5
        payloads = [fields for _, fields in entries]
        # ... and one that stored them but died before the ack: the rows exist already
        store_clicks(db.session, [tasks.parse_click(p[b"c"], p[b"l"]) for p in payloads[:3]])
        db.session.commit()
        stored = tasks.drain_clicks(db.session, redis, consumer="live", claim_idle_ms=0)
        assert stored == 5
        # the same batch delivered again stores nothing new
        for p in payloads:
            redis.xadd(STREAM, p)
        assert tasks.drain_clicks(db.session, redis, consumer="live") == 5
        assert db.session.scalar(select(func.count()).select_from(Click)) == 5
        assert redis.xlen(STREAM) == 0
        assert redis.xpending(STREAM, GROUP)["pending"] == 0


def test_unreadable_entries_go_to_dead_letters(app, shop):
    with app.app_context():
        redis = redis_connection()
        redis.xadd(STREAM, {"c": b"{not json"})
        redis.xadd(STREAM, {"x": b"1"})
        assert tasks.drain_clicks(db.session, redis) == 0
        assert redis.xlen(tasks.DEAD_LETTERS) == 2
        assert redis.xlen(STREAM) == 0


def test_redis_down_falls_back_to_a_direct_insert(app, client, shop, monkeypatch, tmp_path):
    break_redis(app, monkeypatch, tmp_path / "spool")
    resp = client.get(f"/r/{shop['code']}", headers={"User-Agent": BROWSER})
    assert resp.status_code == 302
    click_id = parse_qs(urlsplit(resp.headers["Location"]).query)["cx_click"][0]
    # stored before the answer, without any drain
    assert [c.click_id for c in clicks(app)] == [click_id]
    # the breaker skips Redis for the next clicks instead of waiting on it again
    resp = client.get(f"/r/{shop['code']}", headers={"User-Agent": BROWSER})
    assert resp.status_code == 302
    assert len(clicks(app)) == 2
    assert [c.is_duplicate for c in clicks(app)] == [False, True]


def test_redis_and_database_down_spools_then_drains(app, client, shop, monkeypatch, tmp_path):
    from sqlalchemy.exc import OperationalError

    spool = tmp_path / "spool"
    break_redis(app, monkeypatch, spool)

    def database_down(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr("connect.tracking.capture.store_clicks", database_down)
    ids = []
    for _ in range(3):
        resp = client.get(f"/r/{shop['code']}", headers={"User-Agent": BROWSER})
        assert resp.status_code == 302
        ids.append(parse_qs(urlsplit(resp.headers["Location"]).query)["cx_click"][0])
    monkeypatch.undo()
    (spooled,) = list(spool.glob("*.jsonl"))
    assert len(spooled.read_text().splitlines()) == 3
    with app.app_context():
        # claimed at once, read only after a writer that opened it just before has finished
        assert tasks.drain_spool(db.session, spool, settle_seconds=60) == 0
        assert tasks.drain_spool(db.session, spool, settle_seconds=0) == 3
        assert tasks.drain_spool(db.session, spool, settle_seconds=0) == 0
    assert sorted(c.click_id for c in clicks(app)) == sorted(ids)
    assert list(spool.iterdir()) == []


def test_unknown_disabled_and_malformed_codes_never_redirect(app, shop):
    alice = app.test_client()
    login(alice, "alice@example.com", factories.PASSWORD)
    assert alice.get(f"/r/{shop['code']}").status_code == 302  # warms the cache
    token = csrf_token(alice, f"/creator/links/{shop['link']}")
    resp = alice.post(
        f"/creator/links/{shop['link']}/status", data={"status": "disabled", "csrf_token": token}
    )
    assert resp.status_code == 302
    anonymous = app.test_client()
    for code in [shop["code"], "ZZZZZZZZZZ", "short", "a" * 40, "%2e%2e", "abc-def-ghi"]:
        resp = anonymous.get(f"/r/{code}")
        assert resp.status_code == 404, code
        assert "Location" not in resp.headers
        assert "does not work any more" in resp.get_data(as_text=True)
    assert drain(app) == 1  # only the warm-up click, before the link was disabled


def test_link_rules(app, shop):
    with app.app_context():
        from connect.brands.models import Brand, BrandStatus, ProductStatus
        from connect.creators.models import Creator

        creator = db.session.get(Creator, shop["creator"])
        other = db.session.get(Creator, shop["other"])
        brand = db.session.get(Brand, shop["brand"])
        extra = factories.product(brand, "SKU-3")
        today = utcnow().date()

        def campaign(visibility: Visibility, **kw: object) -> Campaign:
            c = Campaign(
                brand_id=brand.id,
                name=f"C {visibility}",
                status=CampaignStatus.ACTIVE,
                visibility=visibility,
                default_rate_bps=800,
                currency="EUR",
                **{"starts_on": today, **kw},
            )
            db.session.add(c)
            db.session.flush()
            return c

        invite = campaign(Visibility.INVITE)
        db.session.add(CampaignProduct(campaign_id=invite.id, product_id=shop["product"]))
        with pytest.raises(LinkError, match="not a member") as refused:
            create_link(db.session, creator, product_id=shop["product"], campaign_id=invite.id)
        assert refused.value.status == 403
        db.session.add(
            CampaignMember(
                campaign_id=invite.id, creator_id=creator.id, status=MemberStatus.APPROVED
            )
        )
        db.session.flush()
        link = create_link(db.session, creator, product_id=shop["product"], campaign_id=invite.id)
        assert link.campaign_id == invite.id
        with pytest.raises(LinkError, match="not part of the campaign"):
            create_link(db.session, creator, product_id=extra.id, campaign_id=invite.id)

        open_ = campaign(Visibility.OPEN, countries=["PL"])
        with pytest.raises(LinkError, match="not open to your country"):
            create_link(db.session, creator, product_id=extra.id, campaign_id=open_.id)
        open_.countries = ["FR"]
        assert create_link(db.session, creator, product_id=extra.id, campaign_id=open_.id)
        ended = campaign(Visibility.OPEN, starts_on=today - timedelta(days=9))
        ended.ends_on = today - timedelta(days=1)
        with pytest.raises(LinkError, match="has ended"):
            create_link(db.session, creator, product_id=extra.id, campaign_id=ended.id)

        foreign = factories.brand("other-brand")
        foreign_campaign = Campaign(
            brand_id=foreign.id,
            name="F",
            starts_on=today,
            status=CampaignStatus.ACTIVE,
            default_rate_bps=1,
            currency="EUR",
        )
        db.session.add(foreign_campaign)
        db.session.flush()
        with pytest.raises(LinkError, match="No such campaign"):
            create_link(db.session, creator, product_id=extra.id, campaign_id=foreign_campaign.id)

        content = Content(
            creator_id=other.id,
            kind=ContentKind.VIDEO,
            title="Bob's",
            language="fr",
            status=ContentStatus.PUBLISHED,
        )
        db.session.add(content)
        db.session.flush()
        db.session.add(ContentProduct(content_id=content.id, product_id=extra.id))
        with pytest.raises(LinkError, match="No such content"):
            create_link(db.session, creator, product_id=extra.id, content_id=content.id)

        extra.status = ProductStatus.ARCHIVED
        with pytest.raises(LinkError, match="archived"):
            create_link(db.session, creator, product_id=extra.id)
        with pytest.raises(LinkError, match="No such product"):
            create_link(db.session, creator, product_id=10**9)
        brand.status = BrandStatus.SUSPENDED
        with pytest.raises(LinkError, match="No such product"):
            create_link(db.session, creator, product_id=shop["product"])
        brand.status = BrandStatus.APPROVED
        creator.status = CreatorStatus.PENDING
        with pytest.raises(LinkError, match="must be approved"):
            create_link(db.session, creator, product_id=shop["product"])
        db.session.rollback()


def test_link_codes_are_random_base62(app, shop):
    with app.app_context():
        from connect.creators.models import Creator

        creator = db.session.get(Creator, shop["creator"])
        codes = {
            create_link(db.session, creator, product_id=shop["product"]).code for _ in range(200)
        }
        db.session.rollback()
    assert len(codes) == 200
    assert all(re.fullmatch(r"[0-9A-Za-z]{10}", c) for c in codes)
    # every character class shows up: the codes are not sequential or hex
    joined = "".join(codes)
    assert re.search(r"[a-z]", joined) and re.search(r"[A-Z]", joined) and re.search(r"\d", joined)


def test_qr_codes_encode_the_short_link(app, shop):
    alice = app.test_client()
    login(alice, "alice@example.com", factories.PASSWORD)
    png = alice.get(f"/creator/links/{shop['link']}/qr.png")
    svg = alice.get(f"/creator/links/{shop['link']}/qr.svg")
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    expected = segno.make(f"http://connect.test/r/{shop['code']}", error="m")
    assert b'xmlns="http://www.w3.org/2000/svg"' in svg.data
    buffer = io.BytesIO()
    expected.save(buffer, kind="svg", scale=8, border=4)
    assert svg.data == buffer.getvalue()
    assert alice.get(f"/creator/links/{shop['link']}/qr.gif").status_code == 404


def test_portal_creates_a_link_and_refuses_bad_input(app, shop):
    alice = app.test_client()
    login(alice, "alice@example.com", factories.PASSWORD)
    token = csrf_token(alice, "/creator/links/new")
    resp = alice.post("/creator/links/new", data={"product_id": "", "csrf_token": token})
    assert resp.status_code == 422
    resp = alice.post("/creator/links/new", data={"product_id": "999999", "csrf_token": token})
    assert resp.status_code == 422
    resp = alice.post(
        "/creator/links/new", data={"product_id": str(shop["product"]), "csrf_token": token}
    )
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Link)) == 3


def api_token(app: Flask, email: str) -> str:
    client = app.test_client()
    login(client, email, factories.PASSWORD)
    token = csrf_token(client, "/creator/api-tokens")
    html = client.post(
        "/creator/api-tokens", data={"name": "my tool", "csrf_token": token}
    ).get_data(as_text=True)
    return re.search(r"<code>(cxt_[^<]+)</code>", html).group(1)


def test_api_creates_and_lists_only_own_links(app, shop):
    alice_token = api_token(app, "alice@example.com")
    bob_token = api_token(app, "bob@example.com")
    api = app.test_client()
    resp = api.post(
        "/api/v1/links",
        json={"product_id": shop["product"]},
        headers={"Authorization": f"Bearer {alice_token}"},
    )
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["url"] == f"http://connect.test/r/{body['code']}"
    listed = api.get("/api/v1/links", headers={"Authorization": f"Bearer {bob_token}"}).get_json()
    assert listed["total"] == 0 and listed["links"] == []
    listed = api.get("/api/v1/links", headers={"Authorization": f"Bearer {alice_token}"})
    assert listed.get_json()["total"] == 3


@pytest.mark.parametrize(
    ("headers", "body", "status", "error"),
    [
        ({}, {"product_id": 1}, 401, "unauthorized"),
        ({"Authorization": "Bearer cxt_forged"}, {"product_id": 1}, 401, "unauthorized"),
        ({"Authorization": "Basic abc"}, {"product_id": 1}, 401, "unauthorized"),
        (None, "not json", 400, "invalid_json"),
        (None, [1, 2], 400, "invalid_json"),
        (None, {"product_id": "1"}, 422, "invalid_field"),
        (None, {"product_id": -1}, 422, "invalid_field"),
        (None, {"product_id": True}, 422, "invalid_field"),
        (None, {"product_id": 1, "campaign_id": 1.5}, 422, "invalid_field"),
        (None, {"product_id": 1, "creator_id": 2}, 422, "unknown_field"),
        (None, {"product_id": 999999}, 404, "refused"),
    ],
)
def test_api_refuses_bad_requests_and_writes_nothing(app, shop, headers, body, status, error):
    if headers is None:
        headers = {"Authorization": f"Bearer {api_token(app, 'alice@example.com')}"}
    client = app.test_client()
    if isinstance(body, str):
        resp = client.post(
            "/api/v1/links", data=body, headers=headers, content_type="application/json"
        )
    else:
        resp = client.post("/api/v1/links", json=body, headers=headers)
    assert resp.status_code == status
    assert resp.get_json()["error"] == error
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Link)) == 2


def test_revoked_token_stops_working(app, shop):
    token = api_token(app, "alice@example.com")
    alice = app.test_client()
    login(alice, "alice@example.com", factories.PASSWORD)
    html = alice.get("/creator/api-tokens").get_data(as_text=True)
    token_id = re.search(r"/creator/api-tokens/(\d+)/revoke", html).group(1)
    csrf = csrf_token(alice, "/creator/api-tokens")
    bob = app.test_client()
    login(bob, "bob@example.com", factories.PASSWORD)
    # another creator cannot revoke it
    assert (
        bob.post(
            f"/creator/api-tokens/{token_id}/revoke",
            data={"csrf_token": csrf_token(bob, "/creator/api-tokens")},
        ).status_code
        == 404
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/links", headers=headers).status_code == 200
    alice.post(f"/creator/api-tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert app.test_client().get("/api/v1/links", headers=headers).status_code == 401


def test_retention_keeps_recent_and_attributed_clicks(app, shop):
    now = utcnow()

    def row(n: int, days: int) -> dict[str, object]:
        return {
            "click_id": f"{n:032x}",
            "link_id": shop["link"],
            "visitor_id": f"{n:032x}",
            "clicked_at": now - timedelta(days=days),
            "ip_hash": "0" * 64,
            "country": "FR",
            "user_agent": "",
            "referrer_host": "",
            "is_bot": False,
            "is_duplicate": False,
        }

    with app.app_context():
        store_clicks(db.session, [row(1, 800), row(2, 800), row(3, 30), row(4, 759)])
        db.session.add(
            Order(
                brand_id=shop["brand"],
                external_id="O-1",
                body_sha256="0" * 64,
                ordered_at=now - timedelta(days=799),
                currency="EUR",
                attributed_click_id=f"{2:032x}",
            )
        )
        db.session.commit()
        assert tasks.purge_clicks(db.session, now, months=25) == 1
        assert tasks.purge_clicks(db.session, now, months=25) == 0
        left = set(db.session.scalars(select(Click.click_id)))
    assert left == {f"{2:032x}", f"{3:032x}", f"{4:032x}"}


def test_spool_file_with_a_torn_last_line_keeps_the_good_lines(app, shop, tmp_path: Path):
    spool = tmp_path / "spool"
    spool.mkdir()
    good = {
        "i": "f" * 32,
        "l": shop["link"],
        "t": utcnow().timestamp(),
        "v": "e" * 32,
        "h": "0" * 64,
        "c": "ZZ",
        "u": "",
        "r": "",
        "b": False,
    }
    (spool / "clicks-host-1.jsonl").write_text(json.dumps(good) + "\n" + '{"i": "tor')
    with app.app_context():
        assert tasks.drain_spool(db.session, spool, settle_seconds=0) == 1
    assert [c.click_id for c in clicks(app)] == ["f" * 32]


def test_concurrent_drainers_store_each_click_once(app, client, shop):
    import threading

    for _ in range(300):
        client.get(f"/r/{shop['code']}", headers={"User-Agent": BROWSER})
    totals: list[int] = []

    def drainer(name: str) -> None:
        with app.app_context():
            redis = redis_connection()
            totals.append(tasks.drain_clicks(db.session, redis, consumer=name, batch_size=25))
            db.session.remove()

    threads = [threading.Thread(target=drainer, args=(f"d{n}",)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(totals) == 300
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Click)) == 300
        assert db.session.scalar(select(func.count(func.distinct(Click.click_id)))) == 300
        assert redis_connection().xlen(STREAM) == 0


def test_without_lua_the_redirect_reads_then_appends(app, client, shop, monkeypatch):
    # `connect dev` on fakeredis (no Lua): a GET, then an XADD, with the same outcome.
    monkeypatch.setattr(app.extensions["connect_redirector"], "_follow", None)
    for _ in range(2):  # a miss (loads and caches the target), then a cached hit
        resp = client.get(f"/r/{shop['code']}", headers={"User-Agent": BROWSER})
        assert resp.status_code == 302
    assert client.get("/r/ZZZZZZZZZZ").status_code == 404
    with app.app_context():
        entries = redis_connection().xrange(STREAM)
    assert [int(fields[b"l"]) for _, fields in entries] == [shop["link"]] * 2
    assert drain(app) == 2
