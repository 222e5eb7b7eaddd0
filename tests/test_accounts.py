from __future__ import annotations

import logging
import re
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import func, select

from connect.accounts.models import Role, User
from connect.audit.models import AuditEvent
from connect.creators.models import Creator, CreatorStatus
from connect.extensions import db
from tests import factories
from tests.conftest import csrf_token, login


def signup_data(token: str, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "csrf_token": token,
        "name": "Ana Lopez",
        "email": "ana@example.com",
        "password": "sunny-beach-2026",
        "confirm": "sunny-beach-2026",
        "display_name": "Ana Reviews",
        "handle": "ana-reviews",
        "country": "ES",
        "languages": ["es", "en"],
        "payout_currency": "EUR",
        "social-0-platform": "instagram",
        "social-0-handle": "@ana.reviews",
        "social-0-followers": "12500",
        "social-1-platform": "tiktok",
        "social-1-handle": "anarev",
        "social-1-followers": "40000",
    }
    data.update(overrides)
    return data


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_creator_signup_creates_pending_creator_and_logs_in(app, client):
    resp = client.post("/signup", data=signup_data(csrf_token(client, "/signup")))
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/creator/")
    with app.app_context():
        creator = db.session.scalars(select(Creator)).one()
        assert creator.status == CreatorStatus.PENDING
        assert creator.country == "ES"
        assert creator.languages == ["en", "es"]
        assert creator.payout_currency == "EUR"
        assert creator.audience_size == 52500
        assert sorted((s.platform, s.handle) for s in creator.social_accounts) == [
            ("instagram", "ana.reviews"),
            ("tiktok", "anarev"),
        ]
        user = db.session.get(User, creator.user_id)
        assert user.role == Role.CREATOR
        assert user.password_hash.startswith("$argon2id$")
        assert "sunny-beach" not in user.password_hash
    home = client.get("/creator/")
    assert home.status_code == 200
    assert "waiting for approval" in home.get_data(as_text=True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"email": "not-an-email"},
            "Enter a valid e-mail address. An email address must have an @-sign.",
        ),
        ({"email": "ana@"}, "Enter a valid e-mail address."),
        ({"password": "short1", "confirm": "short1"}, "at least 10 characters"),
        ({"password": "abcdefghijk", "confirm": "abcdefghijk"}, "Mix letters with digits"),
        ({"password": "1234567890", "confirm": "1234567890"}, "too common"),
        ({"password": "ana-reviews-ana1", "confirm": "ana-reviews-ana1x"}, "do not match"),
        ({"country": "XX"}, "Choose your country"),
        ({"country": ""}, "Choose your country"),
        ({"payout_currency": "ABC"}, "Choose a currency"),
        ({"payout_currency": "XXX"}, "Choose a currency"),
        ({"languages": []}, "at least one language"),
        ({"languages": ["es", "zz"]}, "Choose languages from the list"),
        ({"handle": "A B"}, "lower-case letters"),
        (
            {
                "social-0-handle": "",
                "social-1-handle": "",
                "social-0-platform": "",
                "social-1-platform": "",
            },
            "at least one social account",
        ),
        ({"social-0-followers": "-5"}, "Number must be"),
        ({"social-0-platform": "myspace"}, "Not a valid choice"),
    ],
)
def test_signup_rejects_bad_input_and_writes_nothing(app, client, overrides, message):
    resp = client.post("/signup", data=signup_data(csrf_token(client, "/signup"), **overrides))
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    with app.app_context():
        assert count(User) == 0
        assert count(Creator) == 0
        assert count(AuditEvent) == 0


def test_signup_rejects_taken_email_and_handle(app, client):
    with app.app_context():
        factories.creator(handle="ana-reviews")
        db.session.commit()
    token = csrf_token(client, "/signup")
    resp = client.post("/signup", data=signup_data(token))
    assert resp.status_code == 422
    assert "page address is taken" in resp.get_data(as_text=True)
    resp = client.post(
        "/signup", data=signup_data(token, handle="other", email="ana-reviews@example.com")
    )
    assert resp.status_code == 422
    assert "already exists" in resp.get_data(as_text=True)
    with app.app_context():
        assert count(User) == 1


def test_signup_without_csrf_token_is_rejected(app, client):
    client.get("/signup")
    resp = client.post("/signup", data=signup_data("forged"))
    assert resp.status_code == 400
    assert "form expired" in resp.get_data(as_text=True)
    resp = client.post(
        "/signup", data={k: v for k, v in signup_data("").items() if k != "csrf_token"}
    )
    assert resp.status_code == 400
    with app.app_context():
        assert count(User) == 0


def test_login_logout(app, client):
    with app.app_context():
        factories.user(Role.FINANCE, email="fin@example.com")
        db.session.commit()
    resp = login(client, "FIN@example.com", factories.PASSWORD)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/finance/"
    assert client.get("/finance/").status_code == 200
    # logging out is a POST with a CSRF token; a bare POST is refused and keeps the session
    assert client.post("/logout").status_code == 400
    assert client.get("/finance/").status_code == 200
    resp = client.post("/logout", data={"csrf_token": csrf_token(client, "/finance/")})
    assert resp.status_code == 302
    assert client.get("/finance/").status_code == 302


def test_login_wrong_password_and_unknown_user_look_the_same(app, client):
    with app.app_context():
        factories.user(Role.ADMIN, email="root@example.com")
        db.session.commit()
    a = login(client, "root@example.com", "wrong-password-1")
    b = login(client, "nobody@example.com", "wrong-password-1")
    assert a.status_code == b.status_code == 422
    assert "Wrong e-mail or password." in a.get_data(as_text=True)
    assert "Wrong e-mail or password." in b.get_data(as_text=True)


def test_login_next_never_redirects_off_site(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "100 per minute")
    with app.app_context():
        factories.user(Role.ADMIN, email="root@example.com")
        db.session.commit()
    hostile = [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil",
        "javascript:alert(1)",
        "/\r\nSet-Cookie:x",
        " /admin/",
        "https:/evil.example",
        "/%2F%2Fevil.example",
        "http://connect.test@evil.example/",
        "///evil.example",
    ]
    for target in hostile:
        client.post("/logout", data={"csrf_token": csrf_token(client)})
        token = csrf_token(client)
        resp = client.post(
            "/login",
            query_string={"next": target},
            data={"email": "root@example.com", "password": factories.PASSWORD, "csrf_token": token},
        )
        assert resp.status_code == 302
        location = resp.headers["Location"]
        resolved = urlsplit(urljoin("http://connect.test/login", location))
        assert (resolved.scheme, resolved.netloc) == ("http", "connect.test"), target
        assert "\r" not in location and "\n" not in location
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    token = csrf_token(client)
    resp = client.post(
        "/login",
        query_string={"next": "/admin/audit"},
        data={"email": "root@example.com", "password": factories.PASSWORD, "csrf_token": token},
    )
    assert resp.headers["Location"] == "/admin/audit"


def test_login_is_rate_limited(app, client):
    with app.app_context():
        factories.user(Role.ADMIN, email="root@example.com")
        db.session.commit()
    token = csrf_token(client)
    codes = [
        client.post(
            "/login",
            data={"email": "root@example.com", "password": "nope-nope-1", "csrf_token": token},
        ).status_code
        for _ in range(12)
    ]
    assert codes[:10] == [422] * 10
    assert codes[10:] == [429, 429]
    # even the right password is refused until the window passes
    resp = client.post(
        "/login",
        data={"email": "root@example.com", "password": factories.PASSWORD, "csrf_token": token},
    )
    assert resp.status_code == 429


def test_password_reset_flow(app, client, caplog):
    with app.app_context():
        factories.user(Role.FINANCE, email="fin@example.com")
        db.session.commit()
    caplog.set_level(logging.WARNING, logger="connect.accounts.services")
    resp = client.post(
        "/password/forgot", data={"email": "fin@example.com", "csrf_token": csrf_token(client)}
    )
    assert resp.status_code == 302
    match = re.search(r"http://connect\.test(/password/reset/\S+)", caplog.text)
    assert match, caplog.text
    path = match.group(1)
    token = csrf_token(client, path)
    resp = client.post(path, data={"password": "x", "confirm": "x", "csrf_token": token})
    assert resp.status_code == 422
    resp = client.post(
        path, data={"password": "new-secret-99", "confirm": "new-secret-99", "csrf_token": token}
    )
    assert resp.status_code == 302
    assert login(client, "fin@example.com", "new-secret-99").status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/finance/")})
    # the link is single-use: the password it was made for is gone
    resp = client.get(path)
    assert resp.status_code == 302
    assert "/password/forgot" in resp.headers["Location"]


def test_password_reset_for_unknown_address_says_the_same_and_logs_nothing(app, client, caplog):
    caplog.set_level(logging.WARNING, logger="connect.accounts.services")
    resp = client.post(
        "/password/forgot", data={"email": "ghost@example.com", "csrf_token": csrf_token(client)}
    )
    assert resp.status_code == 302
    assert "/password/reset/" not in caplog.text


def test_tampered_reset_token_is_refused(client):
    resp = client.get("/password/reset/eyJ1aWQiOjF9.forged.sig")
    assert resp.status_code == 302
    assert "/password/forgot" in resp.headers["Location"]


def test_admin_approves_pending_creator_with_audit(app, client):
    with app.app_context():
        factories.user(Role.ADMIN, email="root@example.com")
        c = factories.creator(handle="pending-one", status=CreatorStatus.PENDING)
        creator_id = c.id
        db.session.commit()
    login(client, "root@example.com", factories.PASSWORD)
    page = client.get("/admin/creators?status=pending").get_data(as_text=True)
    assert "pending-one" in page
    token = csrf_token(client, f"/admin/creators/{creator_id}")
    resp = client.post(
        f"/admin/creators/{creator_id}/status",
        data={"status": "approved", "note": "looks real", "csrf_token": token},
    )
    assert resp.status_code == 302
    # an impossible transition is refused with a message and changes nothing
    resp = client.post(
        f"/admin/creators/{creator_id}/status",
        data={"status": "approved", "csrf_token": token},
        follow_redirects=True,
    )
    assert "cannot become approved" in resp.get_data(as_text=True)
    assert (
        client.post(
            f"/admin/creators/{creator_id}/status", data={"status": "pending", "csrf_token": token}
        ).status_code
        == 400
    )
    with app.app_context():
        c = db.session.get(Creator, creator_id)
        assert c.status == CreatorStatus.APPROVED
        assert c.approved_at is not None
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "creator.approved")
        ).all()
        assert len(events) == 1
        assert events[0].data == {"from": "pending", "note": "looks real"}
