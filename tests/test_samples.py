"""Product samples: tier limits (and the overdues that lower them), the lifecycle through the
portal, the content deadline and its one extension, address erasure, and tenant isolation.
Real PostgreSQL; time is controlled by passing `now` to the services and jobs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connect.accounts.models import Role
from connect.audit.models import AuditEvent
from connect.brands.models import BrandMember, BrandRole, Product
from connect.campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignProduct,
    CampaignStatus,
    MemberStatus,
    Visibility,
)
from connect.content.models import Content, ContentKind, ContentProduct, ContentStatus
from connect.content.services import publish
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.notifications.models import Notification
from connect.samples import tasks
from connect.samples.models import ADDRESS_FIELDS, SampleRequest, SampleStatus
from connect.samples.services import (
    CONTENT_DAYS,
    TRANSITIONS,
    AddressInput,
    SampleError,
    allowance,
    approve_request,
    cancel_request,
    decline_request,
    erase_addresses,
    extend_deadline,
    next_status,
    record_delivery,
    record_shipment,
    request_sample,
    sweep_batch,
)
from connect.tiers.models import Tier
from tests import factories
from tests.conftest import csrf_token, login

NOW = utcnow()
X_STAFF = "staff@x.example"
Y_STAFF = "staff@y.example"
X_VIEWER = "viewer@x.example"
ADDRESS = AddressInput(
    shipping_country="FR",
    recipient_name="Alice Martin",
    address_line1="12 rue des Lilas",
    address_line2="",
    city="Lyon",
    region="",
    postal_code="69001",
    phone="+33 6 12 34 56 78",
)
FORM = {
    "shipping_country": "FR",
    "recipient_name": "Alice Martin",
    "address_line1": "12 rue des Lilas",
    "city": "Lyon",
    "postal_code": "69001",
    "phone": "",
}


# --- the world ---------------------------------------------------------------------------------


@pytest.fixture
def world(app: Flask) -> dict[str, Any]:
    with app.app_context():
        tiers = {
            name: Tier(name=name, rank=rank, sample_limit=limit)
            for name, rank, limit in (("Starter", 1, 5), ("Pro", 3, 20), ("KOL", 5, 50))
        }
        db.session.add_all(tiers.values())
        db.session.flush()
        alice = factories.creator(handle="alice")
        alice.tier_id = tiers["Starter"].id
        bob = factories.creator(handle="bob")
        x = factories.brand("xbrand", staff_email=X_STAFF)
        y = factories.brand("ybrand", staff_email=Y_STAFF)
        viewer = factories.user(Role.BRAND, email=X_VIEWER)
        db.session.add(BrandMember(brand_id=x.id, user_id=viewer.id, role=BrandRole.VIEWER))
        products = [factories.product(x, f"X-{i}", f"Gadget {i}") for i in range(60)]
        py = factories.product(y, "Y-1", "Yoyo")
        campaign = Campaign(
            brand_id=x.id,
            name="Spring samples",
            starts_on=NOW.date() - timedelta(days=90),
            status=CampaignStatus.ACTIVE,
            visibility=Visibility.OPEN,
            default_rate_bps=800,
            currency="EUR",
            countries=["FR", "ES"],
        )
        db.session.add(campaign)
        db.session.flush()
        db.session.add(
            CampaignMember(
                campaign_id=campaign.id, creator_id=alice.id, status=MemberStatus.APPROVED
            )
        )
        db.session.commit()
        return {
            "alice": alice.id,
            "bob": bob.id,
            "x": x.id,
            "y": y.id,
            "campaign": campaign.id,
            "products": [p.id for p in products],
            "py": py.id,
            "tiers": {name: t.id for name, t in tiers.items()},
        }


def client_for(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, email, factories.PASSWORD).status_code == 302
    return client


def creator(world: dict[str, Any], name: str = "alice") -> Creator:
    found = db.session.get(Creator, world[name])
    assert found is not None
    return found


def ask(world: dict[str, Any], i: int, now: datetime = NOW) -> SampleRequest:
    return request_sample(
        db.session,
        creator(world),
        world["campaign"],
        world["products"][i],
        ADDRESS,
        actor_id=None,
        now=now,
    )


def add_open(world: dict[str, Any], n: int, status: SampleStatus = SampleStatus.REQUESTED) -> None:
    """`n` open requests written directly (the fast way to reach a limit)."""
    for i in range(n):
        db.session.add(
            SampleRequest(
                creator_id=world["alice"],
                brand_id=world["x"],
                campaign_id=world["campaign"],
                product_id=world["products"][i],
                status=status,
                shipping_country="FR",
                recipient_name="A",
                address_line1="1",
                city="Lyon",
                postal_code="69001",
            )
        )
    db.session.flush()


def count_samples() -> int:
    return db.session.scalar(select(func.count()).select_from(SampleRequest)) or 0


def deliver(world: dict[str, Any], sample_id: int, at: datetime) -> SampleRequest:
    approve_request(db.session, world["x"], sample_id, actor_id=None, now=at)
    record_shipment(db.session, world["x"], sample_id, "La Poste", "LP123FR", actor_id=None, now=at)
    return record_delivery(db.session, world["x"], sample_id, actor_id=None, now=at)


def published_piece(world: dict[str, Any], product_id: int, at: datetime) -> Content:
    piece = Content(
        creator_id=world["alice"],
        kind=ContentKind.REVIEW,
        title="Unboxing",
        language="fr",
        status=ContentStatus.PUBLISHED,
        published_at=at,
        products=[ContentProduct(product_id=product_id)],
    )
    db.session.add(piece)
    db.session.flush()
    return piece


# --- limits per tier ---------------------------------------------------------------------------


@pytest.mark.parametrize(("tier", "limit"), [("Starter", 5), ("Pro", 20), ("KOL", 50)])
def test_each_tier_has_its_limit_and_the_request_over_it_is_refused(
    app: Flask, world: dict[str, Any], tier: str, limit: int
) -> None:
    with app.app_context():
        creator(world).tier_id = world["tiers"][tier]
        add_open(world, limit - 1)
        assert allowance(db.session, creator(world), NOW).available == 1
        ask(world, limit - 1)  # the last place
        db.session.commit()
        before = count_samples()
        audits = db.session.scalar(select(func.count()).select_from(AuditEvent))
        with pytest.raises(SampleError, match=f"tier allows {limit}") as exc:
            ask(world, limit)
        assert exc.value.status == 409
        db.session.rollback()
        assert count_samples() == before == limit
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == audits


def test_finished_requests_free_their_place(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        add_open(world, 4)
        for status in (SampleStatus.FULFILLED, SampleStatus.DECLINED, SampleStatus.CANCELLED):
            db.session.add(
                SampleRequest(
                    creator_id=world["alice"],
                    brand_id=world["x"],
                    campaign_id=world["campaign"],
                    product_id=world["products"][50],
                    status=status,
                    shipping_country="FR",
                    delivered_at=NOW if status == SampleStatus.FULFILLED else None,
                    content_due_at=NOW if status == SampleStatus.FULFILLED else None,
                )
            )
        db.session.flush()
        places = allowance(db.session, creator(world), NOW)
        assert (places.limit, places.open, places.overdue, places.available) == (5, 4, 0, 1)


def test_a_creator_without_a_tier_gets_the_lowest_tiers_limit(
    app: Flask, world: dict[str, Any]
) -> None:
    with app.app_context():
        creator(world).tier_id = None
        assert allowance(db.session, creator(world), NOW).limit == 5


def test_the_portal_refuses_at_the_limit_with_a_clear_message_and_writes_nothing(
    app: Flask, world: dict[str, Any]
) -> None:
    with app.app_context():
        add_open(world, 5)
        db.session.commit()
    alice = client_for(app, "alice@example.com")
    path = f"/creator/campaigns/{world['campaign']}/samples/new"
    token = csrf_token(alice, path)
    resp = alice.post(
        path, data=FORM | {"csrf_token": token, "product_id": str(world["products"][10])}
    )
    assert resp.status_code == 409
    page = resp.get_data(as_text=True)
    assert "You have 5 open sample request(s) and the tier allows 5" in page
    with app.app_context():
        assert count_samples() == 5


def test_the_refusal_is_shown_in_the_creators_language(app: Flask, world: dict[str, Any]) -> None:
    """The service's message is lazy: the page shows it in the reader's language (Spanish)."""
    with app.app_context():
        add_open(world, 5)
        creator(world).user.locale = "es"
        db.session.commit()
    alice = client_for(app, "alice@example.com")
    path = f"/creator/campaigns/{world['campaign']}/samples/new"
    token = csrf_token(alice, path)
    resp = alice.post(
        path, data=FORM | {"csrf_token": token, "product_id": str(world["products"][10])}
    )
    assert resp.status_code == 409
    page = resp.get_data(as_text=True)
    assert "Tienes 5 solicitudes de muestra abiertas y tu nivel permite 5." in page
    assert "open sample request(s)" not in page


def test_approval_checks_the_limit_again(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        first = ask(world, 0)
        second = ask(world, 1)
        # Demoted meanwhile: a limit of one, and one request already approved.
        db.session.get(Tier, world["tiers"]["Starter"]).sample_limit = 2  # type: ignore[union-attr]
        approve_request(db.session, world["x"], first.id, actor_id=None, now=NOW)
        db.session.get(Tier, world["tiers"]["Starter"]).sample_limit = 1  # type: ignore[union-attr]
        db.session.commit()
        with pytest.raises(SampleError, match="Approve once one of them is finished"):
            approve_request(db.session, world["x"], second.id, actor_id=None, now=NOW)
        db.session.rollback()
        assert db.session.get(SampleRequest, second.id).status == SampleStatus.REQUESTED  # type: ignore[union-attr]


# --- eligibility and bad input -----------------------------------------------------------------


def test_only_accepted_members_may_ask(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        bob = creator(world, "bob")
        with pytest.raises(SampleError, match="Join the campaign"):
            request_sample(
                db.session,
                bob,
                world["campaign"],
                world["products"][0],
                ADDRESS,
                actor_id=None,
                now=NOW,
            )
        db.session.rollback()
        assert count_samples() == 0


def test_product_and_country_must_fit_the_campaign(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        with pytest.raises(SampleError, match="product of this campaign"):
            request_sample(
                db.session,
                creator(world),
                world["campaign"],
                world["py"],
                ADDRESS,
                actor_id=None,
                now=NOW,
            )
        db.session.rollback()
        # The campaign lists products: an unlisted one is not part of it.
        db.session.add(
            CampaignProduct(campaign_id=world["campaign"], product_id=world["products"][1])
        )
        db.session.commit()
        with pytest.raises(SampleError, match="not part of the campaign"):
            ask(world, 0)
        db.session.rollback()
        with pytest.raises(SampleError, match="cannot be sent to that country") as exc:
            request_sample(
                db.session,
                creator(world),
                world["campaign"],
                world["products"][1],
                AddressInput(**{**vars(ADDRESS), "shipping_country": "US"}),
                actor_id=None,
                now=NOW,
            )
        assert exc.value.field == "shipping_country"
        db.session.rollback()
        product = db.session.get(Product, world["products"][1])
        assert product is not None
        ask(world, 1)
        with pytest.raises(SampleError, match="already have an open request"):
            ask(world, 1)
        db.session.rollback()
        assert count_samples() == 0


def test_the_form_shows_each_missing_field_and_writes_nothing(
    app: Flask, world: dict[str, Any]
) -> None:
    alice = client_for(app, "alice@example.com")
    path = f"/creator/campaigns/{world['campaign']}/samples/new"
    token = csrf_token(alice, path)
    resp = alice.post(
        path,
        data={
            "csrf_token": token,
            "product_id": str(world["products"][0]),
            "shipping_country": "XX",
            "recipient_name": "",
            "address_line1": "",
            "city": "Lyon",
            "postal_code": "",
        },
    )
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "Choose a country from the list." in page
    assert page.count('aria-invalid="true"') == 4  # country, name, street, postal code
    assert (
        alice.post(path, data=FORM | {"product_id": str(world["products"][0])}).status_code == 400
    )
    with app.app_context():
        assert count_samples() == 0


# --- the lifecycle through the portal ----------------------------------------------------------


def test_request_approve_ship_deliver_publish_fulfils(app: Flask, world: dict[str, Any]) -> None:
    alice = client_for(app, "alice@example.com")
    path = f"/creator/campaigns/{world['campaign']}/samples/new"
    assert "Gadget 3" in alice.get(path).get_data(as_text=True)
    resp = alice.post(
        path,
        data=FORM
        | {"csrf_token": csrf_token(alice, path), "product_id": str(world["products"][3])},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    with app.app_context():
        sample = db.session.scalars(select(SampleRequest)).one()
        sample_id = sample.id
        assert (sample.status, sample.recipient_name, sample.city) == (
            SampleStatus.REQUESTED,
            "Alice Martin",
            "Lyon",
        )
        audit = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "sample.requested")
        ).one()
        assert "Lyon" not in str(audit.data) and "Lilas" not in str(audit.data)

    staff = client_for(app, X_STAFF)
    detail = f"/brand/xbrand/samples/{sample_id}"
    page = staff.get(detail).get_data(as_text=True)
    assert "France" in page and "rue des Lilas" not in page  # not yet needed
    assert "rue des Lilas" not in staff.get("/brand/xbrand/samples").get_data(as_text=True)
    token = csrf_token(staff, detail)
    assert (
        staff.post(
            f"{detail}/decision", data={"csrf_token": token, "decision": "approve"}
        ).status_code
        == 302
    )
    page = staff.get(detail).get_data(as_text=True)
    assert "12 rue des Lilas" in page  # needed to ship
    # Bad shipment input: refused, nothing recorded.
    resp = staff.post(
        f"{detail}/shipment", data={"csrf_token": token, "carrier": "", "tracking_number": ""}
    )
    assert resp.status_code == 422
    resp = staff.post(
        f"{detail}/shipment",
        data={"csrf_token": token, "carrier": "La Poste", "tracking_number": "LP 123 FR"},
    )
    assert resp.status_code == 302
    assert staff.post(f"{detail}/delivered", data={"csrf_token": token}).status_code == 302
    page = staff.get(detail).get_data(as_text=True)
    assert "rue des Lilas" not in page  # delivered: the brand no longer needs it

    mine = alice.get("/creator/samples").get_data(as_text=True)
    assert "La Poste · LP123FR" in mine
    own = alice.get(f"/creator/samples/{sample_id}").get_data(as_text=True)
    assert "12 rue des Lilas" in own  # the creator sees their own address
    home = alice.get("/creator/").get_data(as_text=True)
    assert "was approved" in home and "is on its way" in home

    with app.app_context():
        sample = db.session.get(SampleRequest, sample_id)
        assert sample is not None and sample.status == SampleStatus.DELIVERED
        assert sample.content_due_at == sample.delivered_at + CONTENT_DAYS  # type: ignore[operator]
        piece = Content(
            creator_id=world["alice"],
            kind=ContentKind.REVIEW,
            title="Gadget unboxing",
            language="fr",
            products=[ContentProduct(product_id=world["products"][3])],
        )
        db.session.add(piece)
        db.session.flush()
        outcome = publish(db.session, piece, creator(world), actor_id=None, now=utcnow())
        assert outcome.status == ContentStatus.PUBLISHED
        db.session.commit()
        sample = db.session.get(SampleRequest, sample_id)
        assert sample is not None
        assert (sample.status, sample.content_id) == (SampleStatus.FULFILLED, piece.id)
        assert allowance(db.session, creator(world), utcnow()).open == 0


def test_illegal_moves_are_refused(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        sample = ask(world, 0)
        db.session.commit()
        with pytest.raises(SampleError, match="cannot become shipped"):
            record_shipment(db.session, world["x"], sample.id, "DHL", "1", actor_id=None, now=NOW)
        db.session.rollback()
        with pytest.raises(SampleError, match="cannot become delivered"):
            record_delivery(db.session, world["x"], sample.id, actor_id=None, now=NOW)
        db.session.rollback()
        approve_request(db.session, world["x"], sample.id, actor_id=None, now=NOW)
        db.session.commit()
        with pytest.raises(SampleError, match="has not answered"):
            cancel_request(db.session, creator(world), sample.id, actor_id=None, now=NOW)
        db.session.rollback()
        with pytest.raises(SampleError, match="cannot become declined"):
            decline_request(db.session, world["x"], sample.id, "No", actor_id=None, now=NOW)
        db.session.rollback()
        assert db.session.get(SampleRequest, sample.id).status == SampleStatus.APPROVED  # type: ignore[union-attr]


@pytest.mark.parametrize("current", list(SampleStatus))
def test_the_transition_table_is_the_only_way(current: SampleStatus) -> None:
    for wanted in SampleStatus:
        if wanted in TRANSITIONS[current]:
            assert next_status(current, wanted) == wanted
        else:
            with pytest.raises(SampleError):
                next_status(current, wanted)


def test_decline_needs_a_reason_and_erases_the_address(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        sample = ask(world, 0)
        db.session.commit()
        with pytest.raises(SampleError, match="why"):
            decline_request(db.session, world["x"], sample.id, "  ", actor_id=None, now=NOW)
        db.session.rollback()
        decline_request(db.session, world["x"], sample.id, "Out of stock", actor_id=None, now=NOW)
        db.session.commit()
        sample = db.session.get(SampleRequest, sample.id)
        assert sample is not None
        assert all(getattr(sample, f) is None for f in ADDRESS_FIELDS)
        assert sample.address_erased_at is not None and sample.shipping_country == "FR"
        assert sample.decline_reason == "Out of stock"


def test_creator_cancels_while_requested(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        sample_id = ask(world, 0).id
        db.session.commit()
    alice = client_for(app, "alice@example.com")
    token = csrf_token(alice, f"/creator/samples/{sample_id}")
    assert alice.post(f"/creator/samples/{sample_id}/cancel").status_code == 400  # no CSRF
    resp = alice.post(f"/creator/samples/{sample_id}/cancel", data={"csrf_token": token})
    assert resp.status_code == 302
    again = alice.post(f"/creator/samples/{sample_id}/cancel", data={"csrf_token": token})
    assert again.status_code == 409
    with app.app_context():
        sample = db.session.get(SampleRequest, sample_id)
        assert sample is not None and sample.status == SampleStatus.CANCELLED
        assert sample.recipient_name is None and sample.address_erased_at is not None


# --- deadline, extension, overdue --------------------------------------------------------------


def test_deadline_passes_and_the_job_marks_overdue(app: Flask, world: dict[str, Any]) -> None:
    delivered = NOW - timedelta(days=20)
    with app.app_context():
        sample = ask(world, 0, now=delivered)
        deliver(world, sample.id, delivered)
        on_time = ask(world, 1, now=delivered)
        deliver(world, on_time.id, delivered)
        published_piece(world, world["products"][1], delivered + timedelta(days=3))
        db.session.commit()
        due = delivered + CONTENT_DAYS

        # Just before the deadline: a reminder, nothing overdue; the piece fulfils the other.
        result = tasks.sweep(db.session, due - timedelta(hours=1))
        assert (result.fulfilled, result.overdue, result.reminded) == (1, 0, 1)
        assert tasks.sweep(db.session, due - timedelta(hours=1)).reminded == 0  # once

        # Content published after the deadline does not save it.
        published_piece(world, world["products"][0], due + timedelta(minutes=1))
        db.session.commit()
        result = tasks.sweep(db.session, due + timedelta(minutes=5))
        assert (result.fulfilled, result.overdue) == (0, 1)
        assert vars(tasks.sweep(db.session, due + timedelta(minutes=5))) == {
            "fulfilled": 0,
            "overdue": 0,
            "reminded": 0,
        }
        sample = db.session.get(SampleRequest, sample.id)
        assert sample is not None and sample.status == SampleStatus.OVERDUE
        assert db.session.get(SampleRequest, on_time.id).status == SampleStatus.FULFILLED  # type: ignore[union-attr]
        kinds = set(db.session.scalars(select(Notification.kind)))
        assert {"sample.due_soon", "sample.overdue", "sample.delivered"} <= kinds


def test_the_sweep_goes_batch_by_batch(app: Flask, world: dict[str, Any]) -> None:
    delivered = NOW - timedelta(days=30)
    with app.app_context():
        ids = []
        for i in range(5):
            sample = ask(world, i, now=delivered)
            deliver(world, sample.id, delivered)
            ids.append(sample.id)
        db.session.commit()
        result, last = sweep_batch(db.session, NOW, limit=2)
        assert (result.overdue, last) == (2, ids[1])
        db.session.commit()
        assert tasks.sweep(db.session, NOW, batch=2).overdue == 3


def test_one_extension_before_the_deadline(app: Flask, world: dict[str, Any]) -> None:
    delivered = NOW - timedelta(days=10)
    with app.app_context():
        sample = ask(world, 0, now=delivered)
        deliver(world, sample.id, delivered)
        late = ask(world, 1, now=delivered - timedelta(days=10))
        deliver(world, late.id, delivered - timedelta(days=10))
        db.session.commit()
        due = sample.content_due_at
        assert due is not None
    alice = client_for(app, "alice@example.com")
    path = f"/creator/samples/{sample.id}"
    token = csrf_token(alice, path)
    assert alice.post(f"{path}/extend", data={"csrf_token": token}).status_code == 302
    again = alice.post(f"{path}/extend", data={"csrf_token": token})
    assert again.status_code == 409
    assert "already extended once" in again.get_data(as_text=True)
    with app.app_context():
        sample = db.session.get(SampleRequest, sample.id)
        assert sample is not None and sample.extended
        assert sample.content_due_at == due + timedelta(days=7)
        # Not overdue at the original deadline any more; overdue after the extended one.
        assert tasks.sweep(db.session, due + timedelta(days=1)).overdue == 1  # only `late`
        assert tasks.sweep(db.session, due + timedelta(days=7, minutes=1)).overdue == 1
        fresh = ask(world, 2, now=NOW)
        deliver(world, fresh.id, NOW)
        with pytest.raises(SampleError, match="deadline has passed"):
            extend_deadline(
                db.session, creator(world), fresh.id, actor_id=None, now=NOW + timedelta(days=15)
            )


def test_overdue_counts_against_future_requests_for_a_year(
    app: Flask, world: dict[str, Any]
) -> None:
    with app.app_context():
        creator(world).tier_id = world["tiers"]["Starter"]  # limit 5
        add_open(world, 3)
        for i, days_ago in ((10, 100), (11, 400)):
            db.session.add(
                SampleRequest(
                    creator_id=world["alice"],
                    brand_id=world["x"],
                    campaign_id=world["campaign"],
                    product_id=world["products"][i],
                    status=SampleStatus.OVERDUE,
                    shipping_country="FR",
                    delivered_at=NOW - timedelta(days=days_ago + 14),
                    content_due_at=NOW - timedelta(days=days_ago),
                    overdue_at=NOW - timedelta(days=days_ago),
                )
            )
        db.session.flush()
        places = allowance(db.session, creator(world), NOW)
        assert (places.open, places.overdue, places.available) == (3, 1, 1)  # the old one expired
        ask(world, 20)
        with pytest.raises(SampleError, match="less 1 for content that was not posted in time"):
            ask(world, 21)


# --- address erasure ---------------------------------------------------------------------------


def test_erasure_job_erases_exactly_the_right_rows_and_is_idempotent(
    app: Flask, world: dict[str, Any]
) -> None:
    day = timedelta(days=1)
    cases: dict[str, tuple[SampleStatus, dict[str, Any], bool]] = {
        "requested": (SampleStatus.REQUESTED, {}, False),
        "approved": (SampleStatus.APPROVED, {}, False),
        "shipped recently": (SampleStatus.SHIPPED, {"shipped_at": NOW - 10 * day}, False),
        "shipped, never delivered": (SampleStatus.SHIPPED, {"shipped_at": NOW - 61 * day}, True),
        "delivered 29 days ago": (SampleStatus.DELIVERED, {"delivered_at": NOW - 29 * day}, False),
        "delivered 31 days ago": (SampleStatus.DELIVERED, {"delivered_at": NOW - 31 * day}, True),
        "fulfilled, delivered 31 days ago": (
            SampleStatus.FULFILLED,
            {"delivered_at": NOW - 31 * day},
            True,
        ),
        "fulfilled, delivered 5 days ago": (
            SampleStatus.FULFILLED,
            {"delivered_at": NOW - 5 * day},
            False,
        ),
        "overdue, delivered 40 days ago": (
            SampleStatus.OVERDUE,
            {"delivered_at": NOW - 40 * day},
            True,
        ),
        "declined": (SampleStatus.DECLINED, {}, True),
        "cancelled": (SampleStatus.CANCELLED, {}, True),
    }
    with app.app_context():
        ids = {}
        for i, (name, (status, extra, _)) in enumerate(cases.items()):
            if "delivered_at" in extra:
                extra = extra | {"content_due_at": extra["delivered_at"] + CONTENT_DAYS}
            row = SampleRequest(
                creator_id=world["alice"],
                brand_id=world["x"],
                campaign_id=world["campaign"],
                product_id=world["products"][i],
                status=status,
                shipping_country="ES",
                carrier="DHL",
                tracking_number=f"T{i}",
                **{f: f"{f}-{i}" for f in ADDRESS_FIELDS},
                **extra,
            )
            db.session.add(row)
            db.session.flush()
            ids[name] = row.id
        db.session.commit()

        assert tasks.erase(db.session, NOW) == sum(erased for _, _, erased in cases.values())
        for name, (status, _, erased) in cases.items():
            row = db.session.get(SampleRequest, ids[name])
            assert row is not None
            db.session.refresh(row)
            values = [getattr(row, f) for f in ADDRESS_FIELDS]
            if erased:
                assert values == [None] * len(ADDRESS_FIELDS), name
                assert row.address_erased_at == NOW, name
            else:
                assert None not in values, name
                assert row.address_erased_at is None, name
            # The rest is kept.
            assert (row.status, row.shipping_country, row.tracking_number) == (
                status,
                "ES",
                row.tracking_number,
            )
            assert row.tracking_number.startswith("T")

        # A second run (or a run after a kill) finds nothing and changes nothing.
        assert erase_addresses(db.session, NOW + timedelta(hours=1)) == 0
        db.session.commit()
        stamps = set(
            db.session.scalars(
                select(SampleRequest.address_erased_at).where(
                    SampleRequest.address_erased_at.is_not(None)
                )
            )
        )
        assert stamps == {NOW}


# --- tenants and roles -------------------------------------------------------------------------


def test_other_tenants_get_404_and_lists_never_show_addresses(
    app: Flask, world: dict[str, Any]
) -> None:
    with app.app_context():
        sample = ask(world, 0)
        approve_request(db.session, world["x"], sample.id, actor_id=None, now=NOW)
        db.session.commit()
        sid = sample.id
    bob = client_for(app, "bob@example.com")
    y_staff = client_for(app, Y_STAFF)
    x_staff = client_for(app, X_STAFF)
    viewer = client_for(app, X_VIEWER)
    alice = client_for(app, "alice@example.com")

    assert "Gadget 0" not in bob.get("/creator/samples").get_data(as_text=True)
    assert bob.get(f"/creator/samples/{sid}").status_code == 404
    token = csrf_token(bob)
    for action in ("cancel", "extend"):
        assert (
            bob.post(f"/creator/samples/{sid}/{action}", data={"csrf_token": token}).status_code
            == 404
        )

    assert y_staff.get(f"/brand/ybrand/samples/{sid}").status_code == 404
    assert y_staff.get(f"/brand/xbrand/samples/{sid}").status_code == 404
    assert "Gadget 0" not in y_staff.get("/brand/ybrand/samples").get_data(as_text=True)
    ytoken = csrf_token(y_staff)
    for action, data in (
        ("decision", {"decision": "decline", "reason": "x"}),
        ("shipment", {"carrier": "DHL", "tracking_number": "1"}),
        ("delivered", {}),
    ):
        resp = y_staff.post(
            f"/brand/ybrand/samples/{sid}/{action}", data=data | {"csrf_token": ytoken}
        )
        assert resp.status_code == 404

    listing = x_staff.get("/brand/xbrand/samples").get_data(as_text=True)
    assert "Gadget 0" in listing and "rue des Lilas" not in listing and "69001" not in listing
    assert "12 rue des Lilas" in x_staff.get(f"/brand/xbrand/samples/{sid}").get_data(as_text=True)
    # A viewer reads but may not act.
    assert viewer.get(f"/brand/xbrand/samples/{sid}").status_code == 200
    vtoken = csrf_token(viewer)
    resp = viewer.post(
        f"/brand/xbrand/samples/{sid}/shipment",
        data={"csrf_token": vtoken, "carrier": "DHL", "tracking_number": "1"},
    )
    assert resp.status_code == 403
    assert alice.get(f"/creator/samples/{sid}").status_code == 200
    with app.app_context():
        assert db.session.get(SampleRequest, sid).status == SampleStatus.APPROVED  # type: ignore[union-attr]


ACTORS = {
    "anon": None,
    "alice": "alice@example.com",
    "bob": "bob@example.com",
    "x": X_STAFF,
    "y": Y_STAFF,
}


def test_access_rows_with_a_real_request(app: Flask, world: dict[str, Any]) -> None:
    """The access-matrix rows, with a request that exists: owner 200, other tenants 404."""
    with app.app_context():
        sid = ask(world, 0).id
        db.session.commit()
    c = world["campaign"]
    expected = {
        "/creator/samples": {"anon": 302, "alice": 200, "bob": 200, "x": 403, "y": 403},
        f"/creator/campaigns/{c}/samples/new": {
            "anon": 302,
            "alice": 200,
            "bob": 200,  # an open campaign: visible, with the reason he cannot ask
            "x": 403,
            "y": 403,
        },
        f"/creator/samples/{sid}": {"anon": 302, "alice": 200, "bob": 404, "x": 403, "y": 403},
        "/brand/xbrand/samples": {"anon": 302, "alice": 403, "bob": 403, "x": 200, "y": 404},
        f"/brand/xbrand/samples/{sid}": {
            "anon": 302,
            "alice": 403,
            "bob": 403,
            "x": 200,
            "y": 404,
        },
    }
    failures = []
    for actor, email in ACTORS.items():
        client = app.test_client() if email is None else client_for(app, email)
        for path, by_actor in expected.items():
            got = client.get(path).status_code
            if got != by_actor[actor]:
                failures.append(f"{actor} GET {path}: {got}, expected {by_actor[actor]}")
    assert failures == []
    bob = client_for(app, "bob@example.com")
    page = bob.get(f"/creator/campaigns/{c}/samples/new").get_data(as_text=True)
    assert "Join the campaign before you ask for samples." in page
    assert 'name="recipient_name"' not in page


def test_racing_requests_cannot_both_take_the_last_place(app: Flask, world: dict[str, Any]) -> None:
    import threading

    with app.app_context():
        add_open(world, 4)  # Starter: 5, one place left
        db.session.commit()
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def asker(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                ask(world, 10 + i)
                db.session.commit()
                outcomes.append("ok")
            except SampleError:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=asker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    with app.app_context():
        assert count_samples() == 5


def test_a_request_raises_sample_requested_without_the_address(
    app: Flask, world: dict[str, Any]
) -> None:
    from connect.webhooks import services as webhooks
    from connect.webhooks.models import WebhookDelivery, WebhookEvent

    with app.app_context():
        webhooks.create_endpoint(
            db.session,
            world["x"],
            url="https://127.0.0.1:9/x",
            events=["sample.requested"],
            actor_id=None,
            allow_private=True,
        )
        webhooks.create_endpoint(
            db.session,
            world["y"],
            url="https://127.0.0.1:9/y",
            events=["sample.requested"],
            actor_id=None,
            allow_private=True,
        )
        sample = ask(world, 0)
        db.session.commit()
        (event,) = db.session.scalars(select(WebhookEvent)).all()
        assert (event.brand_id, event.type) == (world["x"], "sample.requested")
        assert event.data["sample_request_id"] == sample.id
        assert event.data["creator_id"] == world["alice"]
        payload = json.dumps(event.data)
        for part in (
            ADDRESS.address_line1,
            ADDRESS.city,
            ADDRESS.postal_code,
            ADDRESS.recipient_name,
        ):
            assert part not in payload
        # only brand X's endpoint gets a delivery
        assert len(db.session.scalars(select(WebhookDelivery)).all()) == 1
