"""Payout batches against the Stripe-compatible test server, through the official SDK."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import flask
import pytest
import stripe
from flask import Flask
from sqlalchemy import func, select

from connect.accounts.models import Role
from connect.conversions.models import Commission, CommissionStatus
from connect.conversions.schemas import OrderIn
from connect.conversions.services import record_order
from connect.conversions.tasks import approve_commissions, attribute_orders
from connect.core.money import Money
from connect.core.time import utcnow
from connect.extensions import db
from connect.ledger.models import AccountKind, LedgerEntry
from connect.ledger.services import balance, creator_balances
from connect.payouts.gateway import gateway
from connect.payouts.models import (
    BatchStatus,
    Payout,
    PayoutBatch,
    PayoutMethod,
    PayoutStatus,
    Rail,
)
from connect.payouts.services import (
    PayoutError,
    approve_batch,
    build_batch,
    cancel_batch,
    start_batch,
)
from connect.payouts.tasks import execute_batch
from tests import factories
from tests.conftest import csrf_token, login
from tests.conversion_helpers import click_on, link_for
from tests.support.services import ensure_stripe

NOW = utcnow()
KEY = "sk_test_connect_payouts"


# ruff: noqa: S310 - the test server is local and the URLs are built here
def _control(base: str, path: str, **params: object) -> dict:
    data = json.dumps(params).encode()
    req = urllib.request.Request(
        base + path, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def _requests(base: str, path: str) -> list[dict]:
    with urllib.request.urlopen(
        f"{base}/_test/requests?method=POST&path={path}",
        timeout=10,
    ) as resp:
        body = json.loads(resp.read())
    return body.get("data", body) if isinstance(body, dict) else body


@pytest.fixture
def stripe_base(app: Flask, monkeypatch) -> Iterator[str]:
    base = ensure_stripe()
    _control(base, "/_test/reset")
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", KEY)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", base)
    app.extensions.pop("connect_stripe", None)
    yield base
    app.extensions.pop("connect_stripe", None)


class World:
    def __init__(self, base: str | None) -> None:
        self.base = base
        self.brand = factories.brand("acme")
        self.product = factories.product(self.brand, "SKU-1")
        self.builder = factories.user(Role.FINANCE, email="builder@connect.example")
        self.approver = factories.user(Role.FINANCE, email="approver@connect.example")
        self.n = 0

    def creator_with_approved(
        self, handle: str, euros: int, rail: Rail | None = Rail.STRIPE, **kw: object
    ):
        creator = factories.creator(handle=handle, **kw)
        link = link_for(creator, self.product.id)
        # the brand's default 5 % commission: a line of 20x the wanted commission
        self.n += 1
        data = OrderIn.model_validate(
            {
                "order_id": f"O-{self.n}",
                "ordered_at": (NOW - timedelta(days=40)).isoformat(),
                "currency": "EUR",
                "click_id": click_on(link, at=NOW - timedelta(days=41)),
                "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": euros * 100 * 20}],
            }
        )
        record_order(db.session, self.brand.id, data, NOW)
        if rail == Rail.STRIPE:
            account = gateway().create_account(
                country=creator.country, email=f"{handle}@x.test", creator_id=creator.id
            )
            _control(self.base, f"/_test/accounts/{account}/enable_payouts")
            db.session.add(
                PayoutMethod(
                    creator_id=creator.id,
                    rail=Rail.STRIPE,
                    stripe_account_id=account,
                    payouts_enabled=True,
                )
            )
        elif rail == Rail.SEPA:
            db.session.add(
                PayoutMethod(
                    creator_id=creator.id,
                    rail=Rail.SEPA,
                    iban="DE89370400440532013000",
                    bic="COBADEFFXXX",
                    account_holder=handle,
                )
            )
        db.session.commit()
        return creator

    def settle(self) -> None:
        attribute_orders(db.session, NOW)
        approve_commissions(db.session, NOW)

    def batch(self):
        batch = start_batch(
            db.session,
            period_start=NOW.date() - timedelta(days=30),
            period_end=NOW.date(),
            actor=self.builder,
        )
        build_batch(db.session, batch)
        db.session.commit()
        return batch


@pytest.fixture
def world(app: Flask, stripe_base: str) -> Iterator[World]:
    with app.app_context():
        yield World(stripe_base)
        db.session.remove()


def approved(creator_id: int) -> Money:
    return creator_balances(db.session, creator_id)["EUR"].get("approved", Money(0, "EUR"))


def test_thresholds_exceptions_and_carry_over(world: World) -> None:
    rich = world.creator_with_approved("rich", 60)
    poor = world.creator_with_approved("poor", 40)
    lost = world.creator_with_approved("nodetails", 70, rail=None)
    world.settle()
    batch = world.batch()
    assert batch.status == BatchStatus.REVIEW
    (payout,) = db.session.scalars(select(Payout)).all()
    assert (payout.creator_id, payout.amount_minor, payout.rail) == (rich.id, 6000, Rail.STRIPE)
    assert batch.summary["totals"] == {"stripe": {"EUR": 6000}}
    assert [(e["creator_id"], e["problem"]) for e in batch.summary["exceptions"]] == [
        (lost.id, "no payout details")
    ]
    # reserved: out of the approved balance, into in-flight; the others carry over untouched
    assert approved(rich.id) == Money(0, "EUR")
    assert creator_balances(db.session, rich.id)["EUR"]["in_flight"] == Money(6000, "EUR")
    assert approved(poor.id) == Money(4000, "EUR") and approved(lost.id) == Money(7000, "EUR")
    locked = db.session.scalars(
        select(Commission.payout_id).where(Commission.creator_id == rich.id)
    ).all()
    assert locked == [payout.id]
    # a second batch cannot take the same money or commissions
    second = world.batch()
    assert second.summary["payouts"] == 0
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 1


@contextmanager
def outside_app_context() -> Iterator[None]:
    """Portal requests need their own app context (Flask reuses an active one, and with it `g`
    and the logged-in user); objects loaded before must be fetched again afterwards."""
    ctx = flask.globals.app_ctx._get_current_object()
    ctx.pop()
    try:
        yield
    finally:
        ctx.push()


def test_four_eyes(world: World, app: Flask) -> None:
    world.creator_with_approved("rich", 60)
    world.settle()
    batch = world.batch()
    with pytest.raises(PayoutError, match="four-eyes"):
        approve_batch(db.session, batch, world.builder, NOW)
    db.session.rollback()
    batch_id, approver_id = batch.id, world.approver.id
    with outside_app_context():
        # through the portal too: the builder's click is refused, the colleague's works
        builder = app.test_client()
        login(builder, "builder@connect.example", factories.PASSWORD)
        token = csrf_token(builder, f"/finance/batches/{batch_id}")
        page = builder.post(
            f"/finance/batches/{batch_id}/approve",
            data={"csrf_token": token},
            follow_redirects=True,
        ).get_data(as_text=True)
        assert "four-eyes" in page
        with app.app_context():
            assert db.session.get(PayoutBatch, batch_id).status == BatchStatus.REVIEW
        approver = app.test_client()
        login(approver, "approver@connect.example", factories.PASSWORD)
        token = csrf_token(approver, f"/finance/batches/{batch_id}")
        resp = approver.post(f"/finance/batches/{batch_id}/approve", data={"csrf_token": token})
        assert resp.status_code == 302
        trail = approver.get("/finance/audit").get_data(as_text=True)
        assert "payout_batch.approve" in trail and "payout_batch.create" in trail
    batch = db.session.get(PayoutBatch, batch_id)
    assert (batch.status, batch.approved_by_id) == (BatchStatus.APPROVED, approver_id)


def _approved_batch(world: World, *handles: str):
    creators = [world.creator_with_approved(h, 60) for h in handles]
    world.settle()
    batch = world.batch()
    approve_batch(db.session, batch, world.approver, NOW)
    db.session.commit()
    return batch, creators


def test_execution_twice_pays_once(world: World) -> None:
    batch, (alice, bob) = _approved_batch(world, "alice", "bob")
    assert execute_batch(db.session, batch.id, NOW) == {
        "paid": 2,
        "failed": 0,
        "retry": 0,
        "files": 0,
    }
    assert execute_batch(db.session, batch.id, NOW) == {
        "paid": 0,
        "failed": 0,
        "retry": 0,
        "files": 0,
    }
    assert len(_requests(world.base, "/v1/transfers")) == 2
    assert batch.status == BatchStatus.DONE
    for creator in (alice, bob):
        balances = creator_balances(db.session, creator.id)["EUR"]
        assert balances["approved"] == Money(0, "EUR") and balances["in_flight"] == Money(0, "EUR")
        statuses = db.session.scalars(
            select(Commission.status).where(Commission.creator_id == creator.id)
        ).all()
        assert statuses == [CommissionStatus.PAID]
    assert balance(db.session, AccountKind.PAYOUTS_SENT, 0, "EUR") == Money(-12000, "EUR")


def test_killed_between_stripe_and_database_pays_once(world: World, monkeypatch) -> None:
    batch, _ = _approved_batch(world, "alice")

    def killed(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed after Stripe answered, before the database write")

    with monkeypatch.context() as patch:
        patch.setattr("connect.payouts.tasks.mark_paid", killed)
        with pytest.raises(SystemExit):
            execute_batch(db.session, batch.id, NOW)
    db.session.rollback()
    payout = db.session.scalars(select(Payout)).one()
    assert payout.status == PayoutStatus.SENDING  # committed before the call
    assert execute_batch(db.session, batch.id, NOW) == {
        "paid": 1,
        "failed": 0,
        "retry": 0,
        "files": 0,
    }
    transfers = _requests(world.base, "/v1/transfers")
    assert len(transfers) == 2  # the same call twice ...
    assert {t.get("idempotency_key") for t in transfers} == {payout.idempotency_key}
    listed = gateway().client.v1.transfers.list(params={"limit": 10})
    assert len(listed.data) == 1  # ... created one transfer
    assert payout.provider_ref == listed.data[0].id


def test_dropped_answer_is_retried_with_the_same_key(world: World) -> None:
    batch, _ = _approved_batch(world, "alice")
    _control(world.base, "/_test/drop_next_response")
    assert execute_batch(db.session, batch.id, NOW)["paid"] == 1
    assert len(gateway().client.v1.transfers.list(params={"limit": 10}).data) == 1


def test_failed_transfer_returns_the_money_once(world: World) -> None:
    batch, (alice,) = _approved_batch(world, "alice")
    _control(
        world.base,
        "/_test/fail_next_transfer",
        status=400,
        type="invalid_request_error",
        code="account_invalid",
        message="No such destination",
    )
    assert execute_batch(db.session, batch.id, NOW) == {
        "paid": 0,
        "failed": 1,
        "retry": 0,
        "files": 0,
    }
    payout = db.session.scalars(select(Payout)).one()
    assert payout.status == PayoutStatus.FAILED and "No such destination" in payout.failure_reason
    assert approved(alice.id) == Money(6000, "EUR")
    assert execute_batch(db.session, batch.id, NOW) == {
        "paid": 0,
        "failed": 0,
        "retry": 0,
        "files": 0,
    }
    assert approved(alice.id) == Money(6000, "EUR")
    # the next batch pays it
    retry = world.batch()
    assert retry.summary["payouts"] == 1
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) > 0


def test_cancelled_batch_returns_reservations(world: World) -> None:
    world.creator_with_approved("alice", 60)
    world.settle()
    batch = world.batch()
    alice_id = db.session.scalars(select(Payout.creator_id)).one()
    cancel_batch(db.session, batch, world.approver)
    db.session.commit()
    assert approved(alice_id) == Money(6000, "EUR")
    assert db.session.scalars(select(Commission.payout_id)).all() == [None]
    assert world.batch().summary["payouts"] == 1


def _signed_event(app: Flask, event: dict, ts: int | None = None) -> tuple[bytes, str]:
    payload = json.dumps(event).encode()
    ts = int(time.time()) if ts is None else ts
    signature = stripe.WebhookSignature._compute_signature(
        f"{ts}.{payload.decode()}", app.config["STRIPE_WEBHOOK_SECRET"]
    )
    return payload, f"t={ts},v1={signature}"


def _post_webhook(client, payload: bytes, header: str):
    return client.post(
        "/webhooks/stripe",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": header},
    )


def test_webhook_signature_replay_and_duplicates(world: World, app: Flask) -> None:
    batch, (alice,) = _approved_batch(world, "alice")
    execute_batch(db.session, batch.id, NOW)
    payout = db.session.scalars(select(Payout)).one()
    client = app.test_client()
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "transfer.reversed",
        "data": {
            "object": {
                "id": payout.provider_ref,
                "object": "transfer",
                "amount": 6000,
                "amount_reversed": 6000,
            }
        },
    }
    payload, header = _signed_event(app, event)
    assert _post_webhook(client, payload, header.replace("v1=", "v1=0")).status_code == 400
    stale_payload, stale = _signed_event(app, event, ts=int(time.time()) - 301)
    assert _post_webhook(client, stale_payload, stale).status_code == 400
    future_payload, future = _signed_event(app, event, ts=int(time.time()) + 301)
    assert _post_webhook(client, future_payload, future).status_code == 400
    db.session.expire_all()
    assert payout.status == PayoutStatus.PAID  # nothing happened yet
    first = _post_webhook(client, payload, header)
    assert first.status_code == 200 and first.get_json()["outcome"] == "returned"
    again = _post_webhook(client, payload, header)
    assert again.get_json()["outcome"] == "duplicate"
    payload2, header2 = _signed_event(app, event | {"id": "evt_2"})
    assert _post_webhook(client, payload2, header2).get_json()["outcome"] == "already returned"
    db.session.expire_all()
    assert payout.status == PayoutStatus.FAILED
    assert approved(alice.id) == Money(6000, "EUR")  # returned exactly once
    statuses = db.session.scalars(select(Commission.status)).all()
    assert statuses == [CommissionStatus.APPROVED]
    sums = dict(
        db.session.execute(
            select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor)).group_by(
                LedgerEntry.currency
            )
        ).all()
    )
    assert sums == {"EUR": 0}


def test_account_updated_webhook_records_payouts_enabled(world: World, app: Flask) -> None:
    creator = factories.creator(handle="zed")
    db.session.add(
        PayoutMethod(
            creator_id=creator.id,
            rail=Rail.STRIPE,
            stripe_account_id="acct_123",
            payouts_enabled=False,
        )
    )
    db.session.commit()
    payload, header = _signed_event(
        app,
        {
            "id": "evt_a",
            "object": "event",
            "type": "account.updated",
            "data": {"object": {"id": "acct_123", "object": "account", "payouts_enabled": True}},
        },
    )
    resp = _post_webhook(app.test_client(), payload, header)
    assert resp.get_json()["outcome"] == "payouts_enabled=True"
    db.session.expire_all()
    assert db.session.scalars(select(PayoutMethod.payouts_enabled)).one() is True
