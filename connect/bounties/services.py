"""Paid content tasks: the rules, the brand's and the creator's actions, and the fee posting.

The rules live here and nowhere else:
- `next_task_status` / `next_status`: the transition tables; an illegal move raises.
- `apply_problem`: whether a creator may apply to (or be assigned) a task now.
- `submit_problem`: whether a content piece may be submitted for an assignment.

A slot is taken when an application is accepted or a creator is assigned: the task row is locked
(SELECT ... FOR UPDATE) while its counter moves, and a CHECK constraint refuses more than `slots`.

The fee is an approved earning from the moment the brand approves the piece (the review is the
brand's acceptance; there is no return window), posted under a key derived from the assignment so
approving twice posts once:

    task fee    Dr brand_receivable        Cr creator_approved

From there it is the same money as an approved commission: `build_batch` pays approved ledger
balances, so fees ride the same payout batches, minimums, payout-method checks and creator holds
(a suspended creator is not paid).

Services take explicit arguments (never the logged-in user), flush, and leave the commit to the
caller. Every change is audited. Tenant rule: brand reads take the brand id, creator reads the
creator; another tenant's row is as good as missing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from connect.audit.services import record
from connect.bounties.models import (
    MAX_SUBMISSIONS,
    AssignmentOrigin,
    AssignmentStatus,
    Task,
    TaskAssignment,
    TaskKind,
    TaskStatus,
)
from connect.brands.models import Product
from connect.campaigns.models import Campaign, CampaignMember, CampaignStatus, MemberStatus
from connect.campaigns.services import campaign_open_to, member_status, tier_ranks
from connect.content.models import Content, ContentKind, ContentProduct, ContentStatus
from connect.core.money import Money
from connect.creators.models import Creator, CreatorStatus
from connect.ledger.models import AccountKind
from connect.ledger.services import JournalSpec, Leg, post_many, serialize_ledger
from connect.webhooks.services import TASK_SUBMITTED, emit

# --- errors ----------------------------------------------------------------------------------


class TaskError(ValueError):
    """A request the task rules refuse. The message is safe to show; `field` names the form field
    it belongs to (None: the whole form); `status` is the HTTP code."""

    def __init__(self, message: object, *, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0])  # a lazy string, translated when shown


# --- transition tables -----------------------------------------------------------------------

TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.DRAFT: frozenset({TaskStatus.OPEN, TaskStatus.CANCELLED}),
    TaskStatus.OPEN: frozenset({TaskStatus.CLOSED, TaskStatus.CANCELLED}),
    TaskStatus.CLOSED: frozenset({TaskStatus.OPEN, TaskStatus.CANCELLED}),
    TaskStatus.CANCELLED: frozenset(),
}

#: Assignment moves. Rejected -> submitted is the one resubmission (see `submit_problem`).
TRANSITIONS: dict[AssignmentStatus, frozenset[AssignmentStatus]] = {
    AssignmentStatus.APPLIED: frozenset({AssignmentStatus.ACCEPTED, AssignmentStatus.DECLINED}),
    AssignmentStatus.ACCEPTED: frozenset({AssignmentStatus.SUBMITTED}),
    AssignmentStatus.SUBMITTED: frozenset({AssignmentStatus.APPROVED, AssignmentStatus.REJECTED}),
    AssignmentStatus.REJECTED: frozenset({AssignmentStatus.SUBMITTED}),
    AssignmentStatus.DECLINED: frozenset(),
    AssignmentStatus.APPROVED: frozenset(),
}

#: The statuses that hold a slot (the fee is committed for them).
SLOT_HOLDERS = frozenset(
    {
        AssignmentStatus.ACCEPTED,
        AssignmentStatus.SUBMITTED,
        AssignmentStatus.REJECTED,
        AssignmentStatus.APPROVED,
    }
)


def next_task_status(current: TaskStatus, wanted: TaskStatus) -> TaskStatus:
    if wanted not in TASK_TRANSITIONS[current]:
        raise TaskError(
            _l("A %(a)s task cannot become %(b)s.", a=current.value, b=wanted.value), status=409
        )
    return wanted


def next_status(current: AssignmentStatus, wanted: AssignmentStatus) -> AssignmentStatus:
    if wanted not in TRANSITIONS[current]:
        raise TaskError(
            _l("This step is not possible now (%(a)s → %(b)s).", a=current.value, b=wanted.value),
            status=409,
        )
    return wanted


def is_final_rejection(assignment: TaskAssignment) -> bool:
    return (
        assignment.status == AssignmentStatus.REJECTED
        and assignment.submission_count >= MAX_SUBMISSIONS
    )


def fee_key(assignment: TaskAssignment) -> str:
    """The ledger idempotency key of an assignment's fee: at most one fee per assignment."""
    return f"task-fee:assignment:{assignment.id}"


# --- eligibility -------------------------------------------------------------------------------


def audience_problem(task: Task, creator: Creator, ranks: dict[int, int]) -> str:
    """Why `creator` is outside the task's countries or below its tier floor, or ""."""
    if task.countries and creator.country not in task.countries:
        return str(_l("This task is not open to your country."))
    floor = ranks.get(task.min_tier_id, 0) if task.min_tier_id else 0
    mine = ranks.get(creator.tier_id, 0) if creator.tier_id else 0
    if floor > mine:
        return str(_l("This task needs a higher tier."))
    return ""


def apply_problem(session: Session, task: Task, creator: Creator, today: date) -> str:
    """Why `creator` may not apply to (or be assigned) `task` today, or "" when they may.

    An approved creator, an approved member of the task's campaign while the campaign runs
    (the campaign's own rule), inside the task's countries and tier floor, on or before the
    deadline, while slots are left, and not on the task already."""
    if creator.status != CreatorStatus.APPROVED:
        return str(_l("Only approved creators can take paid tasks."))
    if task.status != TaskStatus.OPEN:
        return str(_l("This task is not open for applications."))
    if today > task.deadline:
        return str(_l("The deadline of this task has passed."))
    if member_status(session, task.campaign_id, creator.id) != MemberStatus.APPROVED:
        return str(_l("Join the task's campaign first: tasks are for its members."))
    campaign = session.get(Campaign, task.campaign_id)
    assert campaign is not None
    if campaign_open_to(session, campaign, creator, today):
        return str(_l("The task's campaign is not running."))
    problem = audience_problem(task, creator, tier_ranks(session))
    if problem:
        return problem
    if task.taken_slots >= task.slots:
        return str(_l("All slots of this task are taken."))
    existing = session.scalar(
        select(TaskAssignment.status).where(
            TaskAssignment.task_id == task.id, TaskAssignment.creator_id == creator.id
        )
    )
    if existing is not None:
        return str(_l("Already on this task."))
    return ""


# --- brand: tasks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskInput:
    campaign_id: int
    kind: TaskKind
    title: str
    brief: str
    fee_minor: int
    currency: str
    slots: int
    deadline: date
    countries: list[str]
    min_tier_id: int | None
    source_content_id: int | None


def brand_content_filter(brand_id: int) -> object:
    """Content that belongs to the brand: made in one of its campaigns or featuring its products."""
    return or_(
        Content.campaign_id.in_(select(Campaign.id).where(Campaign.brand_id == brand_id)),
        Content.id.in_(
            select(ContentProduct.content_id)
            .join(Product, Product.id == ContentProduct.product_id)
            .where(Product.brand_id == brand_id)
        ),
    )


def translatable_content(session: Session, brand_id: int, limit: int = 200) -> list[Content]:
    """Published pieces of the brand a translation task may point at, newest first."""
    return list(
        session.scalars(
            select(Content)
            .where(Content.status == ContentStatus.PUBLISHED, brand_content_filter(brand_id))
            .order_by(Content.id.desc())
            .limit(limit)
        )
    )


def _check_input(session: Session, brand_id: int, data: TaskInput, today: date) -> Campaign:
    campaign = session.scalar(
        select(Campaign).where(Campaign.id == data.campaign_id, Campaign.brand_id == brand_id)
    )
    if campaign is None:
        raise TaskError(_l("Choose one of your campaigns."), field="campaign_id")
    if campaign.status == CampaignStatus.ENDED:
        raise TaskError(_l("This campaign has ended."), field="campaign_id")
    if data.fee_minor <= 0:
        raise TaskError(_l("The fee must be more than zero."), field="fee")
    if data.deadline < today:
        raise TaskError(_l("The deadline cannot be in the past."), field="deadline")
    if data.kind == TaskKind.TRANSLATION:
        if data.source_content_id is None:
            raise TaskError(
                _l("A translation task needs the piece to translate."), field="source_content_id"
            )
        source = session.scalar(
            select(Content.id).where(
                Content.id == data.source_content_id,
                Content.status == ContentStatus.PUBLISHED,
                brand_content_filter(brand_id),
            )
        )
        if source is None:
            raise TaskError(
                _l("Choose a published piece about your products."), field="source_content_id"
            )
    elif data.source_content_id is not None:
        raise TaskError(
            _l("Only translation tasks refer to an existing piece."), field="source_content_id"
        )
    return campaign


def create_task(
    session: Session, brand_id: int, data: TaskInput, *, actor_id: int, today: date
) -> Task:
    """A new task, as a draft."""
    _check_input(session, brand_id, data, today)
    task = Task(
        brand_id=brand_id,
        campaign_id=data.campaign_id,
        kind=data.kind,
        title=data.title.strip(),
        brief=data.brief,
        fee_minor=data.fee_minor,
        currency=data.currency,
        slots=data.slots,
        deadline=data.deadline,
        countries=sorted(set(data.countries)),
        min_tier_id=data.min_tier_id,
        source_content_id=data.source_content_id,
        status=TaskStatus.DRAFT,
        created_by_id=actor_id,
    )
    session.add(task)
    session.flush()
    record(session, actor_id=actor_id, action="task.create", target=task)
    return task


def update_task(
    session: Session, brand_id: int, task: Task, data: TaskInput, *, actor_id: int, today: date
) -> list[str]:
    """Edit a task; returns the changed fields. Once a slot is taken the terms a creator agreed
    to (campaign, kind, fee, currency, source) stay, and slots never drop below those taken."""
    if task.status == TaskStatus.CANCELLED:
        raise TaskError(_l("A cancelled task cannot be edited."), status=409)
    task = lock_task(session, task.id)
    _check_input(session, brand_id, data, today)
    if data.slots < task.taken_slots:
        raise TaskError(_l("%(n)s slots are already taken.", n=task.taken_slots), field="slots")
    wanted = {
        "campaign_id": data.campaign_id,
        "kind": data.kind,
        "title": data.title.strip(),
        "brief": data.brief,
        "fee_minor": data.fee_minor,
        "currency": data.currency,
        "slots": data.slots,
        "deadline": data.deadline,
        "countries": sorted(set(data.countries)),
        "min_tier_id": data.min_tier_id,
        "source_content_id": data.source_content_id,
    }
    changed = [name for name, value in wanted.items() if getattr(task, name) != value]
    locked = {"campaign_id", "kind", "fee_minor", "currency", "source_content_id"}
    if task.taken_slots and locked & set(changed):
        raise TaskError(
            _l("Creators are already on this task: its campaign, kind and fee stay as they are.")
        )
    for name in changed:
        setattr(task, name, wanted[name])
    if changed:
        record(
            session, actor_id=actor_id, action="task.update", target=task, data={"changes": changed}
        )
    return changed


def set_task_status(
    session: Session, task: Task, wanted: TaskStatus, *, actor_id: int, today: date
) -> None:
    previous = task.status
    if wanted == TaskStatus.OPEN and today > task.deadline:
        raise TaskError(_l("Move the deadline first: it has passed."), status=409)
    task.status = next_task_status(task.status, wanted)
    record(
        session,
        actor_id=actor_id,
        action="task.status",
        target=task,
        data={"from": previous.value, "to": wanted.value},
    )


def lock_task(session: Session, task_id: int) -> Task:
    """The task row, locked until commit: slot counting takes turns."""
    task = session.scalar(
        select(Task)
        .where(Task.id == task_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert task is not None
    return task


def _take_slot(task: Task) -> None:
    if task.taken_slots >= task.slots:
        raise TaskError(_l("All slots of this task are taken."), status=409)
    task.taken_slots += 1


def brand_task(session: Session, brand_id: int, task_id: int) -> Task | None:
    """The brand's own task, or None (another brand's is as good as missing)."""
    return session.scalar(select(Task).where(Task.id == task_id, Task.brand_id == brand_id))


def brand_assignment(session: Session, task: Task, assignment_id: int) -> TaskAssignment:
    assignment = session.scalar(
        select(TaskAssignment)
        .where(TaskAssignment.id == assignment_id, TaskAssignment.task_id == task.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if assignment is None:
        raise TaskError(_l("No such creator on this task."), status=404)
    return assignment


def decide_application(
    session: Session,
    task: Task,
    assignment_id: int,
    accept: bool,
    *,
    actor_id: int,
    now: datetime,
) -> TaskAssignment:
    """Accept an application (takes a slot) or decline it."""
    task = lock_task(session, task.id)
    assignment = brand_assignment(session, task, assignment_id)
    if accept:
        if task.status == TaskStatus.CANCELLED:
            raise TaskError(_l("This task is cancelled."), status=409)
        wanted = next_status(assignment.status, AssignmentStatus.ACCEPTED)
        _take_slot(task)
        assignment.status = wanted
    else:
        assignment.status = next_status(assignment.status, AssignmentStatus.DECLINED)
    assignment.decided_at = now
    record(
        session,
        actor_id=actor_id,
        action="task.accept" if accept else "task.decline",
        target=assignment,
        data={"task_id": task.id, "creator_id": assignment.creator_id},
    )
    return assignment


def assign(
    session: Session, task: Task, handle: str, *, actor_id: int, now: datetime
) -> TaskAssignment:
    """The brand puts a creator on the task (takes a slot). A creator who applied is accepted."""
    task = lock_task(session, task.id)
    creator = session.scalar(select(Creator).where(Creator.handle == handle.strip().lower()))
    if creator is None or member_status(session, task.campaign_id, creator.id) is None:
        raise TaskError(_l("No creator with that handle in this campaign."), field="handle")
    existing = session.scalar(
        select(TaskAssignment).where(
            TaskAssignment.task_id == task.id, TaskAssignment.creator_id == creator.id
        )
    )
    if existing is not None and existing.status == AssignmentStatus.APPLIED:
        return decide_application(session, task, existing.id, True, actor_id=actor_id, now=now)
    problem = apply_problem(session, task, creator, now.date())
    if problem:
        raise TaskError(problem, field="handle", status=409)
    _take_slot(task)
    assignment = TaskAssignment(
        task_id=task.id,
        creator_id=creator.id,
        origin=AssignmentOrigin.ASSIGNED,
        status=AssignmentStatus.ACCEPTED,
        decided_at=now,
    )
    session.add(assignment)
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action="task.assign",
        target=assignment,
        data={"task_id": task.id, "creator_id": creator.id},
    )
    return assignment


def approve_submission(
    session: Session, task: Task, assignment_id: int, *, actor_id: int, now: datetime
) -> bool:
    """Approve the submitted piece: the fee becomes the creator's approved earning.

    Returns False when the fee was already posted (approving twice posts once)."""
    serialize_ledger(session)
    assignment = brand_assignment(session, task, assignment_id)
    if assignment.status == AssignmentStatus.APPROVED:
        return False
    assignment.status = next_status(assignment.status, AssignmentStatus.APPROVED)
    assignment.reviewed_at = now
    assignment.reviewed_by_id = actor_id
    fee = Money(task.fee_minor, task.currency)
    created = post_many(
        session,
        [
            JournalSpec(
                key=fee_key(assignment),
                kind="task_fee",
                legs=(
                    Leg(AccountKind.BRAND_RECEIVABLE, task.brand_id, fee),
                    Leg(AccountKind.CREATOR_APPROVED, assignment.creator_id, -fee),
                ),
                memo=f"task {task.id}: {task.title}",
            )
        ],
    )[fee_key(assignment)]
    record(
        session,
        actor_id=actor_id,
        action="task.approve",
        target=assignment,
        data={"task_id": task.id, "fee": fee.format_plain(), "content_id": assignment.content_id},
    )
    return created


def reject_submission(
    session: Session,
    task: Task,
    assignment_id: int,
    reason: str,
    *,
    actor_id: int,
    now: datetime,
) -> TaskAssignment:
    """Reject the submitted piece with a reason. After the resubmission, a rejection is final."""
    reason = (reason or "").strip()
    if not reason:
        raise TaskError(_l("Tell the creator why the piece is rejected."), field="reason")
    assignment = brand_assignment(session, task, assignment_id)
    assignment.status = next_status(assignment.status, AssignmentStatus.REJECTED)
    assignment.rejection_reason = reason[:500]
    assignment.reviewed_at = now
    assignment.reviewed_by_id = actor_id
    record(
        session,
        actor_id=actor_id,
        action="task.reject",
        target=assignment,
        data={
            "task_id": task.id,
            "reason": reason[:500],
            "final": is_final_rejection(assignment),
        },
    )
    return assignment


# --- creator: apply and submit -----------------------------------------------------------------


def apply(
    session: Session, task: Task, creator: Creator, note: str, *, actor_id: int, today: date
) -> TaskAssignment:
    task = lock_task(session, task.id)
    problem = apply_problem(session, task, creator, today)
    if problem:
        raise TaskError(problem, status=409)
    assignment = TaskAssignment(
        task_id=task.id,
        creator_id=creator.id,
        origin=AssignmentOrigin.APPLIED,
        status=AssignmentStatus.APPLIED,
        note=(note or "").strip()[:500],
    )
    session.add(assignment)
    session.flush()
    record(session, actor_id=actor_id, action="task.apply", target=assignment)
    return assignment


def submittable_content(session: Session, task: Task, creator: Creator) -> list[Content]:
    """The creator's own pieces that fit the task: its brand's, of the task's kind, not
    rejected, and not already submitted for another task."""
    used = select(TaskAssignment.content_id).where(
        TaskAssignment.content_id.is_not(None), TaskAssignment.creator_id == creator.id
    )
    stmt = select(Content).where(
        Content.creator_id == creator.id,
        Content.status.not_in([ContentStatus.REJECTED, ContentStatus.FLAGGED]),
        brand_content_filter(task.brand_id),
    )
    if task.kind != TaskKind.TRANSLATION:
        stmt = stmt.where(Content.kind == ContentKind(task.kind.value))
    elif task.source_content_id is not None:
        stmt = stmt.where(Content.id != task.source_content_id)
    mine = session.scalar(
        select(TaskAssignment.content_id).where(
            TaskAssignment.task_id == task.id, TaskAssignment.creator_id == creator.id
        )
    )
    stmt = stmt.where(or_(Content.id.not_in(used), Content.id == mine))
    return list(session.scalars(stmt.order_by(Content.id.desc()).limit(200)))


def submit_problem(assignment: TaskAssignment, task: Task, today: date) -> str:
    """Why the creator may not submit for `assignment` now, or ""."""
    if task.status == TaskStatus.CANCELLED:
        return str(_l("This task is cancelled."))
    if assignment.status == AssignmentStatus.ACCEPTED:
        if today > task.deadline:
            return str(_l("The deadline of this task has passed."))
        return ""
    if assignment.status == AssignmentStatus.REJECTED:
        # The resubmission the brand asked for is allowed after the deadline too.
        if is_final_rejection(assignment):
            return str(_l("The piece was rejected twice: this task is over for you."))
        return ""
    if assignment.status == AssignmentStatus.SUBMITTED:
        return str(_l("Your piece is waiting for the brand's review."))
    if assignment.status == AssignmentStatus.APPROVED:
        return str(_l("Your piece is approved."))
    return str(_l("The brand has not accepted you on this task."))


def submit(
    session: Session,
    task: Task,
    creator: Creator,
    content_id: int,
    *,
    actor_id: int,
    now: datetime,
) -> TaskAssignment:
    """Submit one of the creator's own pieces (again, after a first rejection)."""
    assignment = session.scalar(
        select(TaskAssignment)
        .where(TaskAssignment.task_id == task.id, TaskAssignment.creator_id == creator.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if assignment is None:
        raise TaskError(_l("The brand has not accepted you on this task."), status=409)
    problem = submit_problem(assignment, task, now.date())
    if problem:
        raise TaskError(problem, status=409)
    if content_id not in {c.id for c in submittable_content(session, task, creator)}:
        raise TaskError(_l("Choose one of your pieces that fits this task."), field="content_id")
    assignment.status = next_status(assignment.status, AssignmentStatus.SUBMITTED)
    assignment.content_id = content_id
    assignment.submission_count += 1
    assignment.submitted_at = now
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action="task.submit",
        target=assignment,
        data={"content_id": content_id, "submission": assignment.submission_count},
    )
    emit(
        session,
        task.brand_id,
        TASK_SUBMITTED,
        {
            "task_id": task.id,
            "submission_id": assignment.id,
            "submission": assignment.submission_count,
            "creator_id": creator.id,
            "content_id": content_id,
            "fee": {"amount": task.fee_minor, "currency": task.currency},
        },
    )
    return assignment


# --- reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRow:
    task: Task
    campaign_name: str
    counts: dict[AssignmentStatus, int]


def assignment_counts(
    session: Session, task_ids: list[int]
) -> dict[int, dict[AssignmentStatus, int]]:
    out: dict[int, dict[AssignmentStatus, int]] = defaultdict(dict)
    if task_ids:
        rows = session.execute(
            select(TaskAssignment.task_id, TaskAssignment.status, func.count())
            .where(TaskAssignment.task_id.in_(task_ids))
            .group_by(TaskAssignment.task_id, TaskAssignment.status)
        )
        for task_id, status, n in rows:
            out[task_id][AssignmentStatus(status)] = int(n)
    return out


def brand_tasks(session: Session, brand_id: int, campaign_id: int | None = None) -> list[TaskRow]:
    stmt = (
        select(Task, Campaign.name)
        .join(Campaign, Campaign.id == Task.campaign_id)
        .where(Task.brand_id == brand_id)
    )
    if campaign_id is not None:
        stmt = stmt.where(Task.campaign_id == campaign_id)
    rows = session.execute(stmt.order_by(Task.id.desc())).all()
    counts = assignment_counts(session, [t.id for t, _ in rows])
    return [TaskRow(t, name, counts.get(t.id, {})) for t, name in rows]


@dataclass(frozen=True)
class FeeTotals:
    """Fees per campaign and currency: committed (slots taken and not finally rejected) and
    approved (on the ledger), shown beside the campaign's commission budget."""

    campaign_id: int
    campaign_name: str
    currency: str
    committed_minor: int
    approved_minor: int
    budget_minor: int | None
    budget_currency: str
    spent_minor: int


def fee_totals(session: Session, brand_id: int) -> list[FeeTotals]:
    status = TaskAssignment.status
    # A fee stays committed while it may still be paid: not finally rejected, and on a
    # cancelled task only a piece already submitted (the brand still reviews it).
    may_be_paid = and_(
        status.in_(list(SLOT_HOLDERS)),
        ~and_(
            status == AssignmentStatus.REJECTED,
            TaskAssignment.submission_count >= MAX_SUBMISSIONS,
        ),
        or_(
            Task.status != TaskStatus.CANCELLED,
            status.in_([AssignmentStatus.SUBMITTED, AssignmentStatus.APPROVED]),
        ),
    )
    rows = session.execute(
        select(
            Task.campaign_id,
            Task.currency,
            func.sum(case((may_be_paid, Task.fee_minor), else_=0)),
            func.sum(case((status == AssignmentStatus.APPROVED, Task.fee_minor), else_=0)),
        )
        .join(TaskAssignment, TaskAssignment.task_id == Task.id)
        .where(Task.brand_id == brand_id, status.in_(list(SLOT_HOLDERS)))
        .group_by(Task.campaign_id, Task.currency)
    ).all()
    sums = {(cid, currency): (int(c), int(a)) for cid, currency, c, a in rows}
    campaigns = {
        c.id: c
        for c in session.scalars(select(Campaign).where(Campaign.id.in_({cid for cid, _ in sums})))
    }
    return [
        FeeTotals(
            campaign_id=cid,
            campaign_name=campaigns[cid].name,
            currency=currency,
            committed_minor=committed,
            approved_minor=approved,
            budget_minor=campaigns[cid].budget_minor,
            budget_currency=campaigns[cid].currency,
            spent_minor=campaigns[cid].spent_minor,
        )
        for (cid, currency), (committed, approved) in sorted(sums.items())
    ]


def task_assignments(session: Session, task_id: int) -> list[tuple[TaskAssignment, Creator]]:
    return list(
        session.execute(
            select(TaskAssignment, Creator)
            .join(Creator, Creator.id == TaskAssignment.creator_id)
            .where(TaskAssignment.task_id == task_id)
            .order_by(TaskAssignment.id)
        ).all()
    )


def creator_task(
    session: Session, creator: Creator, task_id: int
) -> tuple[Task, TaskAssignment | None] | None:
    """The task if the creator may see it: they are on it, or it is open or closed in a campaign
    they are an approved member of. Otherwise None (as good as missing)."""
    task = session.get(Task, task_id)
    if task is None:
        return None
    assignment = session.scalar(
        select(TaskAssignment).where(
            TaskAssignment.task_id == task.id, TaskAssignment.creator_id == creator.id
        )
    )
    if assignment is not None:
        return task, assignment
    if task.status not in {TaskStatus.OPEN, TaskStatus.CLOSED}:
        return None
    if member_status(session, task.campaign_id, creator.id) != MemberStatus.APPROVED:
        return None
    return task, None


def open_tasks_for(session: Session, creator: Creator, today: date) -> list[Task]:
    """Open tasks the creator may apply to today (the same rule as `apply_problem`)."""
    candidates = session.scalars(
        select(Task)
        .join(
            CampaignMember,
            (CampaignMember.campaign_id == Task.campaign_id)
            & (CampaignMember.creator_id == creator.id),
        )
        .where(
            Task.status == TaskStatus.OPEN,
            Task.deadline >= today,
            Task.taken_slots < Task.slots,
            CampaignMember.status == MemberStatus.APPROVED,
        )
        .order_by(Task.deadline, Task.id)
        .limit(200)
    ).all()
    return [t for t in candidates if not apply_problem(session, t, creator, today)]


def my_assignments(session: Session, creator: Creator) -> list[tuple[TaskAssignment, Task]]:
    return list(
        session.execute(
            select(TaskAssignment, Task)
            .join(Task, Task.id == TaskAssignment.task_id)
            .where(TaskAssignment.creator_id == creator.id)
            .order_by(TaskAssignment.id.desc())
        ).all()
    )
