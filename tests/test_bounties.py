"""Paid content tasks: lifecycle, slots, eligibility, the fee on the ledger and in payouts, and
who may do what through the portal."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from connect.accounts.models import Role
from connect.bounties.models import (
    AssignmentStatus,
    Task,
    TaskAssignment,
    TaskKind,
    TaskStatus,
)
from connect.bounties.services import (
    TaskError,
    TaskInput,
    apply,
    apply_problem,
    approve_submission,
    assign,
    create_task,
    decide_application,
    fee_key,
    fee_totals,
    is_final_rejection,
    next_status,
    next_task_status,
    reject_submission,
    set_task_status,
    submit,
    update_task,
)
from connect.brands.models import BrandMember, BrandRole
from connect.campaigns.models import Campaign, CampaignMember, CampaignStatus, MemberStatus
from connect.content.models import Content, ContentKind, ContentProduct, ContentStatus
from connect.core.money import Money
from connect.core.time import utcnow
from connect.creators.models import CreatorStatus
from connect.extensions import db
from connect.ledger.models import AccountKind, Journal, LedgerEntry
from connect.ledger.services import balance, creator_balances
from connect.ledger.statements import creator_statement, month_bounds, parse_month
from connect.payouts.models import Payout, PayoutMethod, PayoutStatus, Rail
from connect.payouts.services import approve_batch, build_batch, mark_paid, start_batch
from connect.tiers.models import Tier
from tests import factories
from tests.conftest import csrf_token, login

NOW = utcnow()
TODAY = NOW.date()
FEE = 15_000  # 150.00 EUR


class World:
    """Brand Acme with a live campaign, two approved members (FR, ES), a non-member, a tier
    ladder, and one review piece per member about Acme's product."""

    def __init__(self) -> None:
        self.brand = factories.brand("acme", staff_email="owner@acme.example")
        self.owner_id = db.session.scalar(
            select(BrandMember.user_id).where(BrandMember.brand_id == self.brand.id)
        )
        viewer = factories.user(Role.BRAND, email="viewer@acme.example")
        db.session.add(
            BrandMember(brand_id=self.brand.id, user_id=viewer.id, role=BrandRole.VIEWER)
        )
        self.other_brand = factories.brand("other", staff_email="staff@other.example")
        self.product = factories.product(self.brand, "ACME-1", "Acme speaker")
        self.other_product = factories.product(self.other_brand, "OTH-1")
        self.low = Tier(name="Starter", rank=1)
        self.high = Tier(name="Pro", rank=3)
        db.session.add_all([self.low, self.high])
        self.campaign = Campaign(
            brand_id=self.brand.id,
            name="Acme spring",
            starts_on=TODAY - timedelta(days=1),
            status=CampaignStatus.ACTIVE,
            default_rate_bps=500,
            currency="EUR",
            budget_minor=1_000_000,
        )
        db.session.add(self.campaign)
        db.session.flush()
        self.alice = self.member("alice", "FR")
        self.bruno = self.member("bruno", "ES")
        self.outsider = factories.creator(handle="olga", country="FR")
        self.alice_piece = self.piece(self.alice)
        self.alice_second = self.piece(self.alice, title="Second take")
        self.bruno_piece = self.piece(self.bruno)
        db.session.flush()

    def member(self, handle: str, country: str) -> Any:
        creator = factories.creator(handle=handle, country=country)
        creator.tier_id = self.low.id
        db.session.add(
            CampaignMember(
                campaign_id=self.campaign.id, creator_id=creator.id, status=MemberStatus.APPROVED
            )
        )
        return creator

    def piece(self, creator: Any, title: str = "Speaker review", product: Any = None) -> Content:
        content = Content(
            creator_id=creator.id,
            kind=ContentKind.REVIEW,
            title=title,
            language="fr",
            status=ContentStatus.PUBLISHED,
            published_at=NOW,
            products=[ContentProduct(product_id=(product or self.product).id)],
        )
        db.session.add(content)
        db.session.flush()
        return content

    def task(self, **overrides: Any) -> Task:
        data = {
            "campaign_id": self.campaign.id,
            "kind": TaskKind.REVIEW,
            "title": "Review the speaker",
            "brief": "Unbox it and **test the bass**.",
            "fee_minor": FEE,
            "currency": "EUR",
            "slots": 2,
            "deadline": TODAY + timedelta(days=7),
            "countries": [],
            "min_tier_id": None,
            "source_content_id": None,
        } | overrides
        task = create_task(
            db.session, self.brand.id, TaskInput(**data), actor_id=self.owner_id, today=TODAY
        )
        set_task_status(db.session, task, TaskStatus.OPEN, actor_id=self.owner_id, today=TODAY)
        db.session.flush()
        return task


def approved(creator_id: int) -> int:
    return -balance(db.session, AccountKind.CREATOR_APPROVED, creator_id, "EUR").amount


def assert_ledger_balanced() -> None:
    sums = db.session.execute(
        select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor)).group_by(
            LedgerEntry.currency
        )
    ).all()
    assert all(total == 0 for _, total in sums), sums
    per_journal = db.session.execute(
        select(LedgerEntry.journal_id, LedgerEntry.currency)
        .group_by(LedgerEntry.journal_id, LedgerEntry.currency)
        .having(func.sum(LedgerEntry.amount_minor) != 0)
    ).all()
    assert per_journal == []


@pytest.fixture
def w(ctx: None) -> World:
    world = World()
    db.session.commit()
    return world


# --- lifecycle --------------------------------------------------------------------------------


def test_full_lifecycle_reject_resubmit_approve_posts_the_fee_once(w: World) -> None:
    task = w.task()
    application = apply(db.session, task, w.alice, "I review speakers", actor_id=1, today=TODAY)
    assert application.status == AssignmentStatus.APPLIED
    assert task.taken_slots == 0
    decide_application(db.session, task, application.id, True, actor_id=w.owner_id, now=NOW)
    assert application.status == AssignmentStatus.ACCEPTED
    assert db.session.get(Task, task.id).taken_slots == 1

    submit(db.session, task, w.alice, w.alice_piece.id, actor_id=1, now=NOW)
    assert application.status == AssignmentStatus.SUBMITTED
    assert application.submission_count == 1

    with pytest.raises(TaskError):  # a reason is required
        reject_submission(db.session, task, application.id, "  ", actor_id=w.owner_id, now=NOW)
    assert application.status == AssignmentStatus.SUBMITTED
    reject_submission(
        db.session, task, application.id, "The bass is not shown", actor_id=w.owner_id, now=NOW
    )
    assert application.status == AssignmentStatus.REJECTED
    assert application.rejection_reason == "The bass is not shown"
    assert not is_final_rejection(application)
    assert approved(w.alice.id) == 0

    submit(db.session, task, w.alice, w.alice_second.id, actor_id=1, now=NOW)
    assert application.status == AssignmentStatus.SUBMITTED
    assert (application.submission_count, application.content_id) == (2, w.alice_second.id)

    before = approved(w.alice.id)
    assert approve_submission(db.session, task, application.id, actor_id=w.owner_id, now=NOW)
    db.session.commit()
    assert application.status == AssignmentStatus.APPROVED
    assert approved(w.alice.id) - before == FEE
    assert creator_balances(db.session, w.alice.id)["EUR"]["approved"] == Money(FEE, "EUR")
    # The brand owes the fee: a debit on its receivable.
    assert balance(db.session, AccountKind.BRAND_RECEIVABLE, w.brand.id, "EUR").amount == FEE
    assert_ledger_balanced()

    # Approving again posts nothing, and the journal carries the assignment's key.
    assert not approve_submission(db.session, task, application.id, actor_id=w.owner_id, now=NOW)
    db.session.commit()
    assert approved(w.alice.id) - before == FEE
    journals = db.session.scalars(select(Journal).where(Journal.kind == "task_fee")).all()
    assert [j.idempotency_key for j in journals] == [fee_key(application)]
    assert_ledger_balanced()

    # The creator's statement names the movement.
    month_start = parse_month(utcnow().strftime("%Y-%m"))
    statement = creator_statement(db.session, w.alice.id, *month_bounds(month_start))
    (eur,) = statement.currencies
    assert [(m.type, m.changes.get("approved")) for m in eur.movements] == [("task_fee", FEE)]


def test_second_rejection_is_final(w: World) -> None:
    task = w.task()
    assignment = assign(db.session, task, "alice", actor_id=w.owner_id, now=NOW)
    submit(db.session, task, w.alice, w.alice_piece.id, actor_id=1, now=NOW)
    reject_submission(db.session, task, assignment.id, "blurry", actor_id=w.owner_id, now=NOW)
    submit(db.session, task, w.alice, w.alice_piece.id, actor_id=1, now=NOW)
    reject_submission(db.session, task, assignment.id, "still blurry", actor_id=w.owner_id, now=NOW)
    assert is_final_rejection(assignment)
    with pytest.raises(TaskError, match="rejected twice"):
        submit(db.session, task, w.alice, w.alice_second.id, actor_id=1, now=NOW)
    with pytest.raises(TaskError):
        approve_submission(db.session, task, assignment.id, actor_id=w.owner_id, now=NOW)
    assert assignment.submission_count == 2
    assert assignment.status == AssignmentStatus.REJECTED
    assert approved(w.alice.id) == 0


def test_submission_must_be_the_creators_own_fitting_piece(w: World) -> None:
    task = w.task()
    assign(db.session, task, "alice", actor_id=w.owner_id, now=NOW)
    off_brand = w.piece(w.alice, title="Other brand", product=w.other_product)
    video = w.piece(w.alice, title="A video")
    video.kind = ContentKind.VIDEO
    for content_id in (w.bruno_piece.id, off_brand.id, video.id, 999_999):
        with pytest.raises(TaskError):
            submit(db.session, task, w.alice, content_id, actor_id=1, now=NOW)
    assignment = db.session.scalar(select(TaskAssignment))
    assert (assignment.status, assignment.submission_count) == (AssignmentStatus.ACCEPTED, 0)
    # Not on the task: nothing to submit for.
    with pytest.raises(TaskError):
        submit(db.session, task, w.bruno, w.bruno_piece.id, actor_id=1, now=NOW)


def test_translation_task_references_existing_content(w: World) -> None:
    with pytest.raises(TaskError):
        w.task(kind=TaskKind.TRANSLATION)
    other = w.piece(w.bruno, product=w.other_product)
    with pytest.raises(TaskError):  # another brand's piece
        w.task(kind=TaskKind.TRANSLATION, source_content_id=other.id)
    task = w.task(kind=TaskKind.TRANSLATION, source_content_id=w.bruno_piece.id)
    assert task.source_content_id == w.bruno_piece.id
    assign(db.session, task, "alice", actor_id=w.owner_id, now=NOW)
    submit(db.session, task, w.alice, w.alice_piece.id, actor_id=1, now=NOW)


# --- slots -----------------------------------------------------------------------------------


def test_never_more_accepted_than_slots(w: World) -> None:
    task = w.task(slots=1)
    a = apply(db.session, task, w.alice, "", actor_id=1, today=TODAY)
    b = apply(db.session, task, w.bruno, "", actor_id=1, today=TODAY)
    decide_application(db.session, task, a.id, True, actor_id=w.owner_id, now=NOW)
    with pytest.raises(TaskError, match="slots"):
        decide_application(db.session, task, b.id, True, actor_id=w.owner_id, now=NOW)
    assert b.status == AssignmentStatus.APPLIED
    assert db.session.get(Task, task.id).taken_slots == 1
    third = w.member("carla", "FR")
    with pytest.raises(TaskError, match="slots"):
        assign(db.session, task, "carla", actor_id=w.owner_id, now=NOW)
    assert apply_problem(db.session, task, third, TODAY) == "All slots of this task are taken."


def test_concurrent_acceptances_never_overfill(app: Flask, w: World) -> None:
    task = w.task(slots=1)
    ids = [apply(db.session, task, c, "", actor_id=1, today=TODAY).id for c in (w.alice, w.bruno)]
    task_id = task.id
    db.session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept(assignment_id: int) -> None:
        with app.app_context():
            t = db.session.get(Task, task_id)
            barrier.wait()
            try:
                decide_application(db.session, t, assignment_id, True, actor_id=1, now=NOW)
                db.session.commit()
                outcomes.append("ok")
            except TaskError:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=accept, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok", "refused"]
    db.session.expire_all()
    assert db.session.get(Task, task_id).taken_slots == 1
    accepted = db.session.scalar(
        select(func.count()).where(TaskAssignment.status == AssignmentStatus.ACCEPTED)
    )
    assert accepted == 1


# --- eligibility -------------------------------------------------------------------------------


def test_eligibility_refusals(w: World) -> None:
    by_country = w.task(countries=["ES"])
    with pytest.raises(TaskError, match="country"):
        apply(db.session, by_country, w.alice, "", actor_id=1, today=TODAY)
    apply(db.session, by_country, w.bruno, "", actor_id=1, today=TODAY)

    by_tier = w.task(min_tier_id=w.high.id)
    with pytest.raises(TaskError, match="tier"):
        apply(db.session, by_tier, w.alice, "", actor_id=1, today=TODAY)
    w.alice.tier_id = w.high.id
    apply(db.session, by_tier, w.alice, "", actor_id=1, today=TODAY)

    soon = w.task(deadline=TODAY)
    with pytest.raises(TaskError, match="deadline"):
        apply(db.session, soon, w.bruno, "", actor_id=1, today=TODAY + timedelta(days=1))

    open_task = w.task()
    with pytest.raises(TaskError, match="campaign"):
        apply(db.session, open_task, w.outsider, "", actor_id=1, today=TODAY)
    with pytest.raises(TaskError, match="campaign"):
        assign(db.session, open_task, "olga", actor_id=w.owner_id, now=NOW)

    draft = create_task(
        db.session,
        w.brand.id,
        TaskInput(w.campaign.id, TaskKind.POST, "Draft", "", FEE, "EUR", 1, TODAY, [], None, None),
        actor_id=w.owner_id,
        today=TODAY,
    )
    with pytest.raises(TaskError, match="not open"):
        apply(db.session, draft, w.bruno, "", actor_id=1, today=TODAY)

    apply(db.session, open_task, w.bruno, "", actor_id=1, today=TODAY)
    with pytest.raises(TaskError, match="Already"):
        apply(db.session, open_task, w.bruno, "", actor_id=1, today=TODAY)

    # Refusals wrote nothing.
    rows = db.session.execute(select(TaskAssignment.task_id, TaskAssignment.creator_id)).all()
    assert sorted(rows) == sorted(
        [(by_country.id, w.bruno.id), (by_tier.id, w.alice.id), (open_task.id, w.bruno.id)]
    )


def test_other_brands_campaign_is_refused(w: World) -> None:
    other_campaign = Campaign(
        brand_id=w.other_brand.id,
        name="Not yours",
        starts_on=TODAY,
        status=CampaignStatus.ACTIVE,
        default_rate_bps=500,
        currency="EUR",
    )
    db.session.add(other_campaign)
    db.session.flush()
    with pytest.raises(TaskError, match="campaigns"):
        w.task(campaign_id=other_campaign.id)
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0


# --- payouts ------------------------------------------------------------------------------------


def _approve_fee_for(w: World, creator: Any, piece: Content, task: Task) -> TaskAssignment:
    assignment = assign(db.session, task, creator.handle, actor_id=w.owner_id, now=NOW)
    submit(db.session, task, creator, piece.id, actor_id=1, now=NOW)
    approve_submission(db.session, task, assignment.id, actor_id=w.owner_id, now=NOW)
    return assignment


def test_fee_is_paid_through_a_payout_batch_and_holds_apply(w: World) -> None:
    builder = factories.user(Role.FINANCE, email="builder@connect.example")
    approver = factories.user(Role.FINANCE, email="approver@connect.example")
    task = w.task(slots=2)
    for creator in (w.alice, w.bruno):
        db.session.add(
            PayoutMethod(
                creator_id=creator.id,
                rail=Rail.SEPA,
                account_holder=creator.display_name,
                iban="DE89370400440532013000",
                bic="COBADEFFXXX",
            )
        )
    _approve_fee_for(w, w.alice, w.alice_piece, task)
    _approve_fee_for(w, w.bruno, w.bruno_piece, task)
    w.bruno.status = CreatorStatus.SUSPENDED  # on hold: not paid, the fee stays owed
    db.session.commit()

    batch = start_batch(db.session, period_start=TODAY, period_end=TODAY, actor=builder)
    summary = build_batch(db.session, batch)
    approve_batch(db.session, batch, approver, NOW)
    db.session.commit()
    payouts = db.session.scalars(select(Payout)).all()
    assert [(p.creator_id, p.amount_minor, p.currency) for p in payouts] == [
        (w.alice.id, FEE, "EUR")
    ]
    assert summary["exception_count"] == 1
    assert summary["exceptions"][0]["creator_id"] == w.bruno.id

    mark_paid(db.session, payouts[0], provider_ref="test", now=NOW)
    db.session.commit()
    assert payouts[0].status == PayoutStatus.PAID
    alice = creator_balances(db.session, w.alice.id)["EUR"]
    assert alice["approved"].amount == 0 and alice["in_flight"].amount == 0
    assert approved(w.bruno.id) == FEE
    # Money left the platform: a credit on payouts_sent.
    assert balance(db.session, AccountKind.PAYOUTS_SENT, 0, "EUR").amount == -FEE
    assert_ledger_balanced()


# --- property: any sequence of reviews keeps the ledger balanced ---------------------------------


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.sampled_from(["approve", "reject", "submit"]), min_size=1, max_size=8))
def test_random_review_sequences_keep_the_ledger_balanced(w: World, steps: list[str]) -> None:
    task = w.task(slots=1, title=f"Task {len(steps)} {steps}"[:120])
    assignment = assign(db.session, task, "alice", actor_id=w.owner_id, now=NOW)
    submit(db.session, task, w.alice, w.alice_piece.id, actor_id=1, now=NOW)
    before = approved(w.alice.id)
    for step in steps:
        try:
            with db.session.begin_nested():
                if step == "approve":
                    approve_submission(
                        db.session, task, assignment.id, actor_id=w.owner_id, now=NOW
                    )
                elif step == "reject":
                    reject_submission(
                        db.session, task, assignment.id, "no", actor_id=w.owner_id, now=NOW
                    )
                else:
                    submit(db.session, task, w.alice, w.alice_piece.id, actor_id=1, now=NOW)
        except TaskError:
            pass
    db.session.flush()
    assert_ledger_balanced()
    paid = approved(w.alice.id) - before
    assert paid == (FEE if assignment.status == AssignmentStatus.APPROVED else 0)
    assert assignment.submission_count <= 2
    db.session.rollback()


# --- portal -------------------------------------------------------------------------------------


def _client(app: Flask, email: str) -> Any:
    client = app.test_client()
    assert login(client, email, factories.PASSWORD).status_code == 302
    return client


@pytest.fixture
def portal(app: Flask) -> dict[str, Any]:
    with app.app_context():
        world = World()
        task = world.task()
        db.session.commit()
        return {
            "task": task.id,
            "alice": world.alice.id,
            "piece": world.alice_piece.id,
            "piece2": world.alice_second.id,
            "campaign": world.campaign.id,
        }


def _post(client: Any, path: str, data: dict[str, Any], token_page: str) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, token_page)})


def test_portal_lifecycle(app: Flask, portal: dict[str, Any]) -> None:
    t = portal["task"]
    owner = _client(app, "owner@acme.example")
    alice = _client(app, "alice@example.com")
    brand_page = f"/brand/acme/tasks/{t}"
    creator_page = f"/creator/tasks/{t}"

    assert "Review the speaker" in alice.get("/creator/tasks").get_data(as_text=True)
    # Without a CSRF token nothing happens.
    assert alice.post(f"{creator_page}/apply", data={"note": "x"}).status_code == 400
    resp = _post(alice, f"{creator_page}/apply", {"note": "Me!"}, creator_page)
    assert resp.status_code == 302
    with app.app_context():
        a = db.session.scalar(select(TaskAssignment))
        aid = a.id
        assert (a.status, a.note) == (AssignmentStatus.APPLIED, "Me!")
    page = owner.get(brand_page).get_data(as_text=True)
    assert "Me!" in page and "Alice" in page

    assert owner.post(f"{brand_page}/assignments/{aid}/decide", data={}).status_code == 400
    resp = _post(
        owner, f"{brand_page}/assignments/{aid}/decide", {"decision": "accept"}, brand_page
    )
    assert resp.status_code == 302

    resp = _post(alice, f"{creator_page}/submit", {"content_id": portal["piece"]}, creator_page)
    assert resp.status_code == 302
    # Rejecting without a reason is refused and changes nothing.
    resp = _post(
        owner, f"{brand_page}/assignments/{aid}/review", {"decision": "reject"}, brand_page
    )
    assert resp.status_code == 422
    with app.app_context():
        assert db.session.get(TaskAssignment, aid).status == AssignmentStatus.SUBMITTED
    resp = _post(
        owner,
        f"{brand_page}/assignments/{aid}/review",
        {"decision": "reject", "reason": "Show the bass"},
        brand_page,
    )
    assert resp.status_code == 302
    assert "Show the bass" in alice.get(creator_page).get_data(as_text=True)
    resp = _post(alice, f"{creator_page}/submit", {"content_id": portal["piece2"]}, creator_page)
    assert resp.status_code == 302
    resp = _post(
        owner, f"{brand_page}/assignments/{aid}/review", {"decision": "approve"}, brand_page
    )
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(TaskAssignment, aid).status == AssignmentStatus.APPROVED
        assert approved(portal["alice"]) == FEE
    assert "approved balance" in alice.get(creator_page).get_data(as_text=True)
    listing = owner.get("/brand/acme/tasks").get_data(as_text=True)
    assert "Fees against campaign budgets" in listing
    assert "150.00" in listing


def test_portal_create_task_and_bad_input_changes_nothing(
    app: Flask, portal: dict[str, Any]
) -> None:
    owner = _client(app, "owner@acme.example")
    form = {
        "campaign_id": portal["campaign"],
        "kind": "video",
        "title": "Unboxing video",
        "brief": "",
        "currency": "EUR",
        "fee": "99.50",
        "slots": "3",
        "deadline": (TODAY + timedelta(days=5)).isoformat(),
        "min_tier_id": "",
        "source_content_id": "",
    }
    for bad in ({"fee": "-5"}, {"fee": "1.234"}, {"slots": "0"}, {"kind": "translation"}):
        resp = _post(owner, "/brand/acme/tasks/new", {**form, **bad}, "/brand/acme/tasks/new")
        assert resp.status_code == 422, bad
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Task)) == 1
    resp = _post(owner, "/brand/acme/tasks/new", form, "/brand/acme/tasks/new")
    assert resp.status_code == 302
    with app.app_context():
        task = db.session.scalar(select(Task).where(Task.title == "Unboxing video"))
        assert (task.fee_minor, task.slots, task.status) == (9950, 3, TaskStatus.DRAFT)
        new_id = task.id
    page = f"/brand/acme/tasks/{new_id}"
    assert _post(owner, f"{page}/status", {"status": "open"}, page).status_code == 302
    with app.app_context():
        assert db.session.get(Task, new_id).status == TaskStatus.OPEN


def test_portal_roles_and_tenants(app: Flask, portal: dict[str, Any]) -> None:
    t = portal["task"]
    page = f"/brand/acme/tasks/{t}"
    # A viewer reads but may not act.
    viewer = _client(app, "viewer@acme.example")
    assert viewer.get(page).status_code == 200
    token = csrf_token(viewer, page)
    for path, data in (
        (f"{page}/status", {"status": "closed"}),
        (f"{page}/assign", {"handle": "alice"}),
        (f"{page}/assignments/1/decide", {"decision": "accept"}),
        (f"{page}/assignments/1/review", {"decision": "approve"}),
        ("/brand/acme/tasks/new", {}),
        (f"{page}/edit", {}),
    ):
        assert viewer.post(path, data={**data, "csrf_token": token}).status_code == 403, path

    # Another brand's staff: 404 through their own slug and through Acme's.
    other = _client(app, "staff@other.example")
    token = csrf_token(other, "/brand/other/tasks")
    assert other.get(f"/brand/other/tasks/{t}").status_code == 404
    assert other.get(f"/brand/other/tasks/{t}/edit").status_code == 404
    assert other.get(page).status_code == 404
    for path in (f"/brand/other/tasks/{t}/status", f"/brand/other/tasks/{t}/assign"):
        resp = other.post(path, data={"status": "closed", "handle": "alice", "csrf_token": token})
        assert resp.status_code == 404
    assert "Review the speaker" not in other.get("/brand/other/tasks").get_data(as_text=True)

    # A creator outside the campaign sees nothing and cannot apply.
    olga = _client(app, "olga@example.com")
    assert olga.get(f"/creator/tasks/{t}").status_code == 404
    token = csrf_token(olga, "/creator/tasks")
    assert olga.post(f"/creator/tasks/{t}/apply", data={"csrf_token": token}).status_code == 404
    assert "Review the speaker" not in olga.get("/creator/tasks").get_data(as_text=True)

    # A creator cannot review, and a brand cannot apply.
    alice = _client(app, "alice@example.com")
    token = csrf_token(alice, "/creator/tasks")
    resp = alice.post(f"{page}/status", data={"status": "closed", "csrf_token": token})
    assert resp.status_code == 403
    owner = _client(app, "owner@acme.example")
    token = csrf_token(owner, page)
    assert owner.post(f"/creator/tasks/{t}/apply", data={"csrf_token": token}).status_code == 403

    # Bruno's review of Alice's assignment id through his own task page is not possible either.
    _post(alice, f"/creator/tasks/{t}/apply", {}, f"/creator/tasks/{t}")
    bruno = _client(app, "bruno@example.com")
    resp = _post(
        bruno, f"/creator/tasks/{t}/submit", {"content_id": portal["piece"]}, "/creator/tasks"
    )
    assert resp.status_code in {404, 409, 422}
    with app.app_context():
        statuses = db.session.scalars(select(TaskAssignment.status)).all()
        assert statuses == [AssignmentStatus.APPLIED]
        assert db.session.get(Task, t).status == TaskStatus.OPEN


# --- transition tables and edits -----------------------------------------------------------------


@pytest.mark.parametrize("current", list(AssignmentStatus))
@pytest.mark.parametrize("wanted", list(AssignmentStatus))
def test_assignment_transition_table(current: AssignmentStatus, wanted: AssignmentStatus) -> None:
    allowed = {
        (AssignmentStatus.APPLIED, AssignmentStatus.ACCEPTED),
        (AssignmentStatus.APPLIED, AssignmentStatus.DECLINED),
        (AssignmentStatus.ACCEPTED, AssignmentStatus.SUBMITTED),
        (AssignmentStatus.SUBMITTED, AssignmentStatus.APPROVED),
        (AssignmentStatus.SUBMITTED, AssignmentStatus.REJECTED),
        (AssignmentStatus.REJECTED, AssignmentStatus.SUBMITTED),
    }
    if (current, wanted) in allowed:
        assert next_status(current, wanted) == wanted
    else:
        with pytest.raises(TaskError):
            next_status(current, wanted)


@pytest.mark.parametrize("current", list(TaskStatus))
@pytest.mark.parametrize("wanted", list(TaskStatus))
def test_task_transition_table(current: TaskStatus, wanted: TaskStatus) -> None:
    allowed = {
        (TaskStatus.DRAFT, TaskStatus.OPEN),
        (TaskStatus.DRAFT, TaskStatus.CANCELLED),
        (TaskStatus.OPEN, TaskStatus.CLOSED),
        (TaskStatus.OPEN, TaskStatus.CANCELLED),
        (TaskStatus.CLOSED, TaskStatus.OPEN),
        (TaskStatus.CLOSED, TaskStatus.CANCELLED),
    }
    if (current, wanted) in allowed:
        assert next_task_status(current, wanted) == wanted
    else:
        with pytest.raises(TaskError):
            next_task_status(current, wanted)


def _input(task: Task, **changes: Any) -> TaskInput:
    data = {
        name: getattr(task, name)
        for name in (
            "campaign_id",
            "kind",
            "title",
            "brief",
            "fee_minor",
            "currency",
            "slots",
            "deadline",
            "countries",
            "min_tier_id",
            "source_content_id",
        )
    }
    return TaskInput(**(data | changes))


def test_terms_stay_once_a_slot_is_taken(w: World) -> None:
    task = w.task(slots=2)
    assert update_task(
        db.session, w.brand.id, task, _input(task, fee_minor=20_000), actor_id=1, today=TODAY
    ) == ["fee_minor"]
    assign(db.session, task, "alice", actor_id=w.owner_id, now=NOW)
    with pytest.raises(TaskError):
        update_task(
            db.session, w.brand.id, task, _input(task, fee_minor=1), actor_id=1, today=TODAY
        )
    with pytest.raises(TaskError, match="already taken"):
        update_task(db.session, w.brand.id, task, _input(task, slots=0), actor_id=1, today=TODAY)
    changed = update_task(
        db.session,
        w.brand.id,
        task,
        _input(task, title="New title", slots=5),
        actor_id=1,
        today=TODAY,
    )
    assert sorted(changed) == ["slots", "title"]
    db.session.commit()
    task = db.session.get(Task, task.id)
    assert (task.fee_minor, task.slots, task.title) == (20_000, 5, "New title")


def test_fee_totals_committed_and_approved(w: World) -> None:
    task = w.task(slots=3)
    paid = _approve_fee_for(w, w.alice, w.alice_piece, task)
    assign(db.session, task, "bruno", actor_id=w.owner_id, now=NOW)
    carla = w.member("carla", "FR")
    carla_piece = w.piece(carla)
    third = assign(db.session, task, "carla", actor_id=w.owner_id, now=NOW)
    for _ in range(2):
        submit(db.session, task, carla, carla_piece.id, actor_id=1, now=NOW)
        reject_submission(db.session, task, third.id, "no", actor_id=w.owner_id, now=NOW)
    (totals,) = fee_totals(db.session, w.brand.id)
    # Alice approved, Bruno still making his piece; Carla finally rejected: not committed.
    assert (totals.committed_minor, totals.approved_minor) == (2 * FEE, FEE)
    assert (totals.budget_minor, totals.budget_currency) == (1_000_000, "EUR")
    set_task_status(db.session, task, TaskStatus.CANCELLED, actor_id=1, today=TODAY)
    (totals,) = fee_totals(db.session, w.brand.id)
    assert (totals.committed_minor, totals.approved_minor) == (FEE, FEE)
    assert paid.status == AssignmentStatus.APPROVED


def test_each_submission_raises_task_submitted_for_the_brand(w: World) -> None:
    from connect.webhooks import services as webhooks
    from connect.webhooks.models import WebhookEvent

    webhooks.create_endpoint(
        db.session,
        w.campaign.brand_id,
        url="https://127.0.0.1:9/tasks",
        events=["task.submitted"],
        actor_id=None,
        allow_private=True,
    )
    task = w.task()
    application = apply(db.session, task, w.alice, "", actor_id=1, today=TODAY)
    decide_application(db.session, task, application.id, True, actor_id=w.owner_id, now=NOW)
    submit(db.session, task, w.alice, w.alice_piece.id, actor_id=1, now=NOW)
    reject_submission(db.session, task, application.id, "Too dark", actor_id=w.owner_id, now=NOW)
    submit(db.session, task, w.alice, w.alice_second.id, actor_id=1, now=NOW)
    db.session.commit()
    events = db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
    assert [(e.type, e.data["submission"], e.data["content_id"]) for e in events] == [
        ("task.submitted", 1, w.alice_piece.id),
        ("task.submitted", 2, w.alice_second.id),
    ]
    assert events[0].data["fee"] == {"amount": task.fee_minor, "currency": task.currency}
