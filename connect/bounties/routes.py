"""Task pages: the brand's tasks (post, staff, review) and the creator's (find, apply, submit).

Views parse input, check permission (the decorators), call a service and render. A refused
action re-renders its page with the reason and a 4xx status, so nothing is committed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from connect.bounties.forms import (
    ApplyForm,
    AssignForm,
    DecisionForm,
    ReviewForm,
    SubmitForm,
    TaskForm,
    TaskStatusForm,
    kind_labels,
)
from connect.bounties.models import MAX_SUBMISSIONS, AssignmentStatus, Task, TaskKind, TaskStatus
from connect.bounties.services import (
    TASK_TRANSITIONS,
    TaskError,
    apply,
    apply_problem,
    approve_submission,
    assign,
    brand_task,
    brand_tasks,
    create_task,
    creator_task,
    decide_application,
    fee_totals,
    is_final_rejection,
    my_assignments,
    open_tasks_for,
    reject_submission,
    set_task_status,
    submit,
    submit_problem,
    submittable_content,
    task_assignments,
    translatable_content,
    update_task,
)
from connect.brands.models import Brand, BrandMember, BrandRole
from connect.campaigns.markdown import render_brief
from connect.campaigns.models import Campaign
from connect.content.models import Content
from connect.core.geo import country_names
from connect.core.money import Money
from connect.core.policy import brand_member_required, creator_required
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.tiers.models import Tier

bp = Blueprint("bounties", __name__)

_EDITORS = {BrandRole.OWNER, BrandRole.MANAGER}


@bp.context_processor
def task_helpers() -> dict[str, Any]:
    return {
        "render_brief": render_brief,
        "country_names": country_names(),
        "kind_labels": kind_labels(),
        "is_final_rejection": is_final_rejection,
        "max_submissions": MAX_SUBMISSIONS,
    }


def _today() -> date:
    return utcnow().date()


def _tier_name(tier_id: int | None) -> str:
    tier = db.session.get(Tier, tier_id) if tier_id else None
    return tier.name if tier else _("Any tier")


# --- brand --------------------------------------------------------------------------------------


def _own_task(brand: Brand, task_id: int) -> Task:
    task = brand_task(db.session, brand.id, task_id)
    if task is None:
        abort(404)
    return task


@bp.get("/brand/<brand_slug>/tasks")
@brand_member_required()
def brand_list(brand: Brand, membership: BrandMember) -> Any:
    return render_template(
        "bounties/brand_list.html",
        brand=brand,
        rows=brand_tasks(db.session, brand.id),
        totals=fee_totals(db.session, brand.id),
        can_edit=membership.role in _EDITORS,
        today=_today(),
    )


def _prepare(form: TaskForm, brand: Brand) -> None:
    campaigns = db.session.scalars(
        select(Campaign).where(Campaign.brand_id == brand.id).order_by(Campaign.name)
    )
    form.campaign_id.choices = {"": "—"} | {str(c.id): c.name for c in campaigns}
    form.min_tier_id.choices = {"": _("Any tier")} | {
        str(t.id): t.name for t in db.session.scalars(select(Tier).order_by(Tier.rank))
    }
    form.source_content_id.choices = {"": "—"} | {
        str(c.id): f"#{c.id} {c.title} ({c.language})"
        for c in translatable_content(db.session, brand.id)
    }


def _render_form(form: TaskForm, brand: Brand, task: Task | None) -> Any:
    status = 422 if form.errors else 200
    return render_template("bounties/brand_form.html", form=form, brand=brand, task=task), status


@bp.route("/brand/<brand_slug>/tasks/new", methods=["GET", "POST"])
@brand_member_required(BrandRole.MANAGER)
def brand_new(brand: Brand, membership: BrandMember) -> Any:
    form = TaskForm()
    if not form.is_submitted():
        form.currency.data = brand.currency
        form.deadline.data = _today() + timedelta(days=14)
    _prepare(form, brand)
    if form.validate_on_submit():
        try:
            task = create_task(
                db.session, brand.id, form.to_input(), actor_id=current_user.id, today=_today()
            )
        except TaskError as exc:
            form.add_service_error(exc.field, str(exc))
        else:
            flash(_("The task is saved as a draft. Open it when you are ready."), "success")
            return redirect(
                url_for("bounties.brand_detail", brand_slug=brand.slug, task_id=task.id)
            )
    return _render_form(form, brand, None)


@bp.route("/brand/<brand_slug>/tasks/<int:task_id>/edit", methods=["GET", "POST"])
@brand_member_required(BrandRole.MANAGER)
def brand_edit(brand: Brand, membership: BrandMember, task_id: int) -> Any:
    task = _own_task(brand, task_id)
    if task.status == TaskStatus.CANCELLED:
        abort(409)
    if_get = {
        "campaign_id": task.campaign_id,
        "kind": task.kind.value,
        "title": task.title,
        "brief": task.brief,
        "currency": task.currency,
        "fee": str(Money(task.fee_minor, task.currency).to_decimal()),
        "slots": task.slots,
        "deadline": task.deadline,
        "countries": list(task.countries),
        "min_tier_id": task.min_tier_id,
        "source_content_id": task.source_content_id,
    }
    form = TaskForm(data=if_get) if request.method == "GET" else TaskForm()
    _prepare(form, brand)
    if form.validate_on_submit():
        try:
            changed = update_task(
                db.session,
                brand.id,
                task,
                form.to_input(),
                actor_id=current_user.id,
                today=_today(),
            )
        except TaskError as exc:
            form.add_service_error(exc.field, str(exc))
        else:
            flash(_("The task is updated.") if changed else _("Nothing changed."), "success")
            return redirect(
                url_for("bounties.brand_detail", brand_slug=brand.slug, task_id=task.id)
            )
    return _render_form(form, brand, task)


def _render_detail(
    brand: Brand,
    membership: BrandMember,
    task: Task,
    *,
    assign_form: AssignForm | None = None,
    error: str = "",
    status: int = 200,
) -> Any:
    rows = task_assignments(db.session, task.id)
    pieces = {
        c.id: c
        for c in db.session.scalars(
            select(Content).where(Content.id.in_({a.content_id for a, _ in rows if a.content_id}))
        )
    }
    can_edit = membership.role in _EDITORS
    return render_template(
        "bounties/brand_detail.html",
        brand=brand,
        task=task,
        campaign=db.session.get(Campaign, task.campaign_id),
        source=db.session.get(Content, task.source_content_id) if task.source_content_id else None,
        tier_name=_tier_name(task.min_tier_id),
        rows=rows,
        pieces=pieces,
        moves=sorted(TASK_TRANSITIONS[task.status], key=list(TaskStatus).index) if can_edit else [],
        can_edit=can_edit,
        assign_form=assign_form or AssignForm(),
        error=error,
    ), status


@bp.get("/brand/<brand_slug>/tasks/<int:task_id>")
@brand_member_required()
def brand_detail(brand: Brand, membership: BrandMember, task_id: int) -> Any:
    return _render_detail(brand, membership, _own_task(brand, task_id))


def _back(brand: Brand, task: Task) -> Any:
    return redirect(url_for("bounties.brand_detail", brand_slug=brand.slug, task_id=task.id))


@bp.post("/brand/<brand_slug>/tasks/<int:task_id>/status")
@brand_member_required(BrandRole.MANAGER)
def brand_status(brand: Brand, membership: BrandMember, task_id: int) -> Any:
    task = _own_task(brand, task_id)
    form = TaskStatusForm()
    if not form.validate_on_submit() or form.status.data not in {s.value for s in TaskStatus}:
        abort(400)
    try:
        set_task_status(
            db.session, task, TaskStatus(form.status.data), actor_id=current_user.id, today=_today()
        )
    except TaskError as exc:
        return _render_detail(brand, membership, task, error=str(exc), status=exc.status)
    messages = {
        TaskStatus.OPEN: _("The task is open: eligible creators can apply."),
        TaskStatus.CLOSED: _("Applications are closed. Accepted creators can still submit."),
        TaskStatus.CANCELLED: _("The task is cancelled."),
    }
    flash(messages.get(task.status, _("Saved.")), "success")
    return _back(brand, task)


@bp.post("/brand/<brand_slug>/tasks/<int:task_id>/assign")
@brand_member_required(BrandRole.MANAGER)
def brand_assign(brand: Brand, membership: BrandMember, task_id: int) -> Any:
    task = _own_task(brand, task_id)
    form = AssignForm()
    if not form.validate_on_submit():
        return _render_detail(brand, membership, task, assign_form=form, status=422)
    try:
        assign(db.session, task, form.handle.data, actor_id=current_user.id, now=utcnow())
    except TaskError as exc:
        form.handle.errors = [*form.handle.errors, str(exc)]
        return _render_detail(brand, membership, task, assign_form=form, status=exc.status)
    flash(_("The creator is on the task."), "success")
    return _back(brand, task)


@bp.post("/brand/<brand_slug>/tasks/<int:task_id>/assignments/<int:assignment_id>/decide")
@brand_member_required(BrandRole.MANAGER)
def brand_decide(brand: Brand, membership: BrandMember, task_id: int, assignment_id: int) -> Any:
    task = _own_task(brand, task_id)
    form = DecisionForm()
    if not form.validate_on_submit() or form.decision.data not in {"accept", "decline"}:
        abort(400)
    try:
        decide_application(
            db.session,
            task,
            assignment_id,
            form.decision.data == "accept",
            actor_id=current_user.id,
            now=utcnow(),
        )
    except TaskError as exc:
        if exc.status == 404:
            abort(404)
        return _render_detail(brand, membership, task, error=str(exc), status=exc.status)
    flash(
        _("Accepted: the creator holds a slot.")
        if form.decision.data == "accept"
        else _("Application declined."),
        "success",
    )
    return _back(brand, task)


@bp.post("/brand/<brand_slug>/tasks/<int:task_id>/assignments/<int:assignment_id>/review")
@brand_member_required(BrandRole.MANAGER)
def brand_review(brand: Brand, membership: BrandMember, task_id: int, assignment_id: int) -> Any:
    task = _own_task(brand, task_id)
    form = ReviewForm()
    if not form.validate_on_submit() or form.decision.data not in {"approve", "reject"}:
        if form.reason.errors:
            return _render_detail(
                brand, membership, task, error=" ".join(form.reason.errors), status=422
            )
        abort(400)
    try:
        if form.decision.data == "approve":
            approve_submission(
                db.session, task, assignment_id, actor_id=current_user.id, now=utcnow()
            )
            message = _("Approved: the fee is in the creator's approved balance.")
        else:
            assignment = reject_submission(
                db.session,
                task,
                assignment_id,
                form.reason.data or "",
                actor_id=current_user.id,
                now=utcnow(),
            )
            message = (
                _("Rejected. This was the last submission.")
                if is_final_rejection(assignment)
                else _("Rejected. The creator may submit once more.")
            )
    except TaskError as exc:
        if exc.status == 404:
            abort(404)
        return _render_detail(brand, membership, task, error=str(exc), status=exc.status)
    flash(message, "success")
    return _back(brand, task)


# --- creator ------------------------------------------------------------------------------------


@bp.get("/creator/tasks")
@creator_required()
def creator_list(creator: Creator) -> Any:
    today = _today()
    return render_template(
        "bounties/creator_list.html",
        creator=creator,
        open_tasks=open_tasks_for(db.session, creator, today),
        mine=my_assignments(db.session, creator),
    )


def _visible(creator: Creator, task_id: int) -> tuple[Task, Any]:
    found = creator_task(db.session, creator, task_id)
    if found is None:
        abort(404)
    return found


def _render_task(
    creator: Creator,
    task: Task,
    assignment: Any,
    *,
    apply_form: ApplyForm | None = None,
    submit_form: SubmitForm | None = None,
    error: str = "",
    status: int = 200,
) -> Any:
    today = _today()
    submit_form = submit_form or SubmitForm()
    _submit_choices(submit_form, task, creator)
    return render_template(
        "bounties/creator_detail.html",
        creator=creator,
        task=task,
        assignment=assignment,
        campaign=db.session.get(Campaign, task.campaign_id),
        source=db.session.get(Content, task.source_content_id) if task.source_content_id else None,
        submitted=db.session.get(Content, assignment.content_id)
        if assignment is not None and assignment.content_id
        else None,
        tier_name=_tier_name(task.min_tier_id),
        apply_problem=apply_problem(db.session, task, creator, today) if assignment is None else "",
        submit_problem=submit_problem(assignment, task, today) if assignment is not None else "",
        apply_form=apply_form or ApplyForm(),
        submit_form=submit_form,
        statuses=AssignmentStatus,
        translation=TaskKind.TRANSLATION,
        error=error,
    ), status


def _submit_choices(form: SubmitForm, task: Task, creator: Creator) -> None:
    form.content_id.choices = {"": "—"} | {
        str(c.id): f"{c.title} ({c.kind.value}, {c.language})"
        for c in submittable_content(db.session, task, creator)
    }


@bp.get("/creator/tasks/<int:task_id>")
@creator_required()
def creator_detail(creator: Creator, task_id: int) -> Any:
    task, assignment = _visible(creator, task_id)
    return _render_task(creator, task, assignment)


@bp.post("/creator/tasks/<int:task_id>/apply")
@creator_required()
def creator_apply(creator: Creator, task_id: int) -> Any:
    task, assignment = _visible(creator, task_id)
    form = ApplyForm()
    if not form.validate_on_submit():
        return _render_task(creator, task, assignment, apply_form=form, status=422)
    try:
        apply(
            db.session,
            task,
            creator,
            form.note.data or "",
            actor_id=current_user.id,
            today=_today(),
        )
    except TaskError as exc:
        return _render_task(
            creator, task, assignment, apply_form=form, error=str(exc), status=exc.status
        )
    flash(_("Application sent. The brand will answer soon."), "success")
    return redirect(url_for("bounties.creator_detail", task_id=task.id))


@bp.post("/creator/tasks/<int:task_id>/submit")
@creator_required()
def creator_submit(creator: Creator, task_id: int) -> Any:
    task, assignment = _visible(creator, task_id)
    form = SubmitForm()
    _submit_choices(form, task, creator)
    if not form.validate_on_submit():
        return _render_task(creator, task, assignment, submit_form=form, status=422)
    try:
        submit(
            db.session, task, creator, form.content_id.data, actor_id=current_user.id, now=utcnow()
        )
    except TaskError as exc:
        return _render_task(
            creator, task, assignment, submit_form=form, error=str(exc), status=exc.status
        )
    flash(_("Submitted. The brand will review your piece."), "success")
    return redirect(url_for("bounties.creator_detail", task_id=task.id))
