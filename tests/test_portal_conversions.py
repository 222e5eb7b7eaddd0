"""Conversions in the portal: roles, tenants, and the self-referral signal at login."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from connect.brands.models import BrandRole
from connect.conversions.schemas import OrderIn
from connect.conversions.services import record_order
from connect.conversions.tasks import approve_commissions, attribute_orders
from connect.core.money import Money
from connect.core.time import utcnow
from connect.creators.models import CreatorVisitor
from connect.extensions import db
from connect.ledger.models import AccountKind
from connect.ledger.services import balance, creator_balances
from connect.payouts.services import pay_approved_balance
from tests import factories
from tests.conftest import csrf_token, login
from tests.conversion_helpers import click_on, link_for


def _order(brand_id: int, ref: str, **extra) -> None:
    data = OrderIn.model_validate(
        {
            "order_id": ref,
            "ordered_at": (utcnow() - timedelta(minutes=5)).isoformat(),
            "currency": "EUR",
            "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": 10000}],
            **extra,
        }
    )
    record_order(db.session, brand_id, data, utcnow())


def test_viewer_cannot_manage_api_keys_but_manager_can(app):
    with app.app_context():
        factories.brand("xshop", staff_email="viewer@x.example", role=BrandRole.VIEWER)
        factories.brand("yshop", staff_email="manager@y.example", role=BrandRole.MANAGER)
        db.session.commit()
    viewer = app.test_client()
    login(viewer, "viewer@x.example", factories.PASSWORD)
    assert viewer.get("/brand/xshop/api-keys").status_code == 403
    assert viewer.get("/brand/xshop/orders").status_code == 200
    manager = app.test_client()
    login(manager, "manager@y.example", factories.PASSWORD)
    token = csrf_token(manager, "/brand/yshop/api-keys")
    page = manager.post("/brand/yshop/api-keys", data={"name": "shop backend", "csrf_token": token})
    key = re.search(r"<code class=\"break\">(cxk_[^<]+)</code>", page.get_data(as_text=True))
    assert key, "the new key is shown once"
    again = manager.get("/brand/yshop/api-keys").get_data(as_text=True)
    assert key.group(1) not in again and key.group(1)[:12] in again
    # another brand's key cannot be revoked through this brand
    assert (
        manager.post("/brand/yshop/api-keys/999/revoke", data={"csrf_token": token}).status_code
        == 404
    )


def test_orders_and_commissions_stay_in_their_tenant(app):
    with app.app_context():
        x = factories.brand("xshop", staff_email="staff@x.example")
        y = factories.brand("yshop", staff_email="staff@y.example")
        alice = factories.creator(handle="alice")
        factories.creator(handle="bob")
        px = factories.product(x, "SKU-1")
        factories.product(y, "SKU-1")
        click = click_on(link_for(alice, px.id), at=utcnow() - timedelta(hours=1))
        _order(x.id, "X-ORDER-1", click_id=click)
        _order(y.id, "Y-ORDER-1")
        db.session.commit()
        attribute_orders(db.session, utcnow())
    x_staff = app.test_client()
    login(x_staff, "staff@x.example", factories.PASSWORD)
    page = x_staff.get("/brand/xshop/orders").get_data(as_text=True)
    assert "X-ORDER-1" in page and "Y-ORDER-1" not in page
    assert x_staff.get("/brand/yshop/orders").status_code == 404
    a = app.test_client()
    login(a, "alice@example.com", factories.PASSWORD)
    assert "X-ORDER-1" in a.get("/creator/commissions").get_data(as_text=True)
    b = app.test_client()
    login(b, "bob@example.com", factories.PASSWORD)
    assert "X-ORDER-1" not in b.get("/creator/commissions").get_data(as_text=True)


def test_brand_orders_say_whom_each_order_credits_and_how(app):
    with app.app_context():
        x = factories.brand("xshop", staff_email="staff@x.example")
        alice = factories.creator(handle="alice")
        px = factories.product(x, "SKU-1")
        click = click_on(link_for(alice, px.id), at=utcnow() - timedelta(hours=1))
        _order(x.id, "X-CLICKED", click_id=click)
        _order(x.id, "X-NOBODY")
        db.session.commit()
        attribute_orders(db.session, utcnow())
    staff = app.test_client()
    login(staff, "staff@x.example", factories.PASSWORD)
    page = staff.get("/brand/xshop/orders").get_data(as_text=True)
    rows = {row.split("</td>")[0]: row for row in page.split("<tr><td>")[1:]}
    assert "@alice" in rows["X-CLICKED"] and "click on a link" in rows["X-CLICKED"]
    assert "@" not in rows["X-NOBODY"] and "—" in rows["X-NOBODY"]
    staff.post(
        "/language",
        data={"locale": "es", "csrf_token": csrf_token(staff, "/brand/xshop/orders")},
    )
    assert "clic en un enlace" in staff.get("/brand/xshop/orders").get_data(as_text=True)


def test_creator_login_remembers_the_visitor_cookie(app):
    with app.app_context():
        factories.creator(handle="alice")
        db.session.commit()
    client = app.test_client()
    client.set_cookie("cx_vid", "ab" * 16, domain="connect.test")
    login(client, "alice@example.com", factories.PASSWORD)
    client.set_cookie("cx_vid", "../etc", domain="connect.test")
    login(client, "alice@example.com", factories.PASSWORD)
    with app.app_context():
        assert db.session.scalars(select(CreatorVisitor.visitor_id)).all() == ["ab" * 16]


def test_payout_pays_the_approved_balance_once_and_carries_negatives(app):
    with app.app_context():
        from connect.conversions.schemas import RefundIn
        from connect.conversions.services import record_refund

        x = factories.brand("xshop")
        alice = factories.creator(handle="alice")
        px = factories.product(x, "SKU-1")
        link = link_for(alice, px.id)
        for n in range(2):
            _order(x.id, f"O-{n}", click_id=click_on(link, at=utcnow() - timedelta(hours=1)))
        db.session.commit()
        attribute_orders(db.session, utcnow())
        approve_commissions(db.session, utcnow() + timedelta(days=31))
        assert pay_approved_balance(db.session, alice.id, "EUR", "payout:1") == 1000
        assert pay_approved_balance(db.session, alice.id, "EUR", "payout:1") == 0
        db.session.commit()
        record_refund(
            db.session, x.id, "O-0", RefundIn(idempotency_key="r", refunded_at=utcnow()), utcnow()
        )
        db.session.commit()
        assert creator_balances(db.session, alice.id)["EUR"]["approved"] == Money(-500, "EUR")
        assert pay_approved_balance(db.session, alice.id, "EUR", "payout:2") == 0
        sent = balance(db.session, AccountKind.PAYOUTS_SENT, 0, "EUR")
        assert sent == Money(-1000, "EUR")


def test_admin_releases_and_rejects_holds_with_audit(app):
    from connect.accounts.models import Role
    from connect.audit.models import AuditEvent
    from connect.conversions.models import Commission, CommissionStatus

    with app.app_context():
        factories.user(Role.ADMIN, email="root@example.com")
        x = factories.brand("xshop")
        alice = factories.creator(handle="alice")
        px = factories.product(x, "SKU-1")
        link = link_for(alice, px.id)
        for n in range(2):  # bot clicks: held
            _order(
                x.id, f"O-{n}", click_id=click_on(link, at=utcnow() - timedelta(hours=1), bot=True)
            )
        db.session.commit()
        attribute_orders(db.session, utcnow())
        first, second = db.session.scalars(select(Commission.id).order_by(Commission.id)).all()
        alice_id = alice.id
    admin = app.test_client()
    signed_in = login(admin, "root@example.com", factories.PASSWORD)
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:500]
    page = admin.get("/admin/holds").get_data(as_text=True)
    assert "flagged click" in page
    token = csrf_token(admin, "/admin/holds")
    assert (
        admin.post(
            f"/admin/holds/{first}", data={"decision": "release", "csrf_token": token}
        ).status_code
        == 302
    )
    assert (
        admin.post(
            f"/admin/holds/{second}",
            data={"decision": "reject", "note": "bot", "csrf_token": token},
        ).status_code
        == 302
    )
    assert (
        admin.post(
            f"/admin/holds/{second}", data={"decision": "pay", "csrf_token": token}
        ).status_code
        == 400
    )
    # a second decision on the same commission is refused and changes nothing
    again = admin.post(
        f"/admin/holds/{first}",
        data={"decision": "reject", "csrf_token": token},
        follow_redirects=True,
    )
    assert "cannot become rejected" in again.get_data(as_text=True)
    with app.app_context():
        statuses = db.session.scalars(select(Commission.status).order_by(Commission.id)).all()
        assert statuses == [CommissionStatus.PENDING, CommissionStatus.REJECTED]
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions[-2:] == ["commission.hold_release", "commission.hold_reject"]
        assert creator_balances(db.session, alice_id)["EUR"]["pending"] == Money(500, "EUR")
