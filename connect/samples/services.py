"""Product samples: the rules, the creator's and the brand's actions, and the scheduled sweeps.

The life of a request (`TRANSITIONS` is the whole table; anything else raises):

    requested --brand approves--> approved --brand ships--> shipped --brand: delivered-->
    delivered --creator publishes a piece featuring the product--> fulfilled
              --content_due_at passes without one (job)--> overdue
    requested --brand declines--> declined
    requested --creator cancels--> cancelled

Limits. A creator may have at most their tier's `Tier.sample_limit` requests open at once (the
ladder stores it per tier: Starter 5, Rising 10, Pro 20, Star 35, KOL 50 by default, edited with
the other tier settings); a creator without a tier gets the lowest tier's limit (`DEFAULT_LIMIT`
when there are no tiers). Open means requested, approved, shipped, or delivered and waiting for
content. Every request that went overdue in the last `OVERDUE_MEMORY` (365 days) takes one off
the limit, so a creator who keeps samples without posting gets fewer. The limit is checked when
the creator asks and again when the brand approves (a creator may have asked many brands at once;
the approval is what commits a product), both under a lock on the creator's row, so two requests
racing cannot both take the last place.

Deadline. Delivery starts the clock: content is due `CONTENT_DAYS` (14) days later. The creator
may extend once, by `EXTENSION_DAYS` (7), before the deadline. A published piece by the creator
featuring the product, published after delivery and by the deadline, fulfils the request; the
content service calls `fulfil_for_content` when a piece goes live and `sweep` (scheduled) checks
again before it marks anything overdue. Overdue is final.

Addresses. The address is needed to ship, nothing else: it is erased (NULL) at once when a request
is declined or cancelled, `ERASE_AFTER` (30) days after delivery, and `LOST_AFTER` (60) days
after shipping when no delivery was ever recorded. The brand sees it only while the request is
approved or shipped; the creator sees their own. Audit rows and logs never carry it.

Services take explicit arguments (never the logged-in user), flush, and leave the commit to the
request or the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from connect.audit.services import record
from connect.brands.models import Brand, BrandStatus, Product, ProductStatus
from connect.campaigns.models import Campaign, CampaignProduct, MemberStatus
from connect.campaigns.services import campaign_open_to, member_status
from connect.content.models import Content, ContentProduct, ContentStatus
from connect.core.geo import is_country
from connect.creators.models import Creator, CreatorStatus
from connect.notifications.services import notify_many
from connect.samples.models import ADDRESS_FIELDS, SampleRequest, SampleStatus
from connect.tiers.models import Tier
from connect.webhooks.services import SAMPLE_REQUESTED, emit

CONTENT_DAYS = timedelta(days=14)
EXTENSION_DAYS = timedelta(days=7)
ERASE_AFTER = timedelta(days=30)
LOST_AFTER = timedelta(days=60)
OVERDUE_MEMORY = timedelta(days=365)
REMIND_BEFORE = timedelta(days=3)
#: The limit when no tier exists at all (a fresh install before the ladder is seeded).
DEFAULT_LIMIT = 5
SWEEP_BATCH = 500

#: Requests that hold one of the creator's places.
OPEN = frozenset(
    {SampleStatus.REQUESTED, SampleStatus.APPROVED, SampleStatus.SHIPPED, SampleStatus.DELIVERED}
)
#: While the brand may see the shipping address: it needs it to ship and to chase the carrier.
BRAND_SEES_ADDRESS = frozenset({SampleStatus.APPROVED, SampleStatus.SHIPPED})

TRANSITIONS: dict[SampleStatus, frozenset[SampleStatus]] = {
    SampleStatus.REQUESTED: frozenset(
        {SampleStatus.APPROVED, SampleStatus.DECLINED, SampleStatus.CANCELLED}
    ),
    SampleStatus.APPROVED: frozenset({SampleStatus.SHIPPED}),
    SampleStatus.SHIPPED: frozenset({SampleStatus.DELIVERED}),
    SampleStatus.DELIVERED: frozenset({SampleStatus.FULFILLED, SampleStatus.OVERDUE}),
    SampleStatus.DECLINED: frozenset(),
    SampleStatus.CANCELLED: frozenset(),
    SampleStatus.FULFILLED: frozenset(),
    SampleStatus.OVERDUE: frozenset(),
}


class SampleError(ValueError):
    """A request the sample rules refuse. The message is safe to show; `field` names the form
    field it belongs to (None: the whole form); `status` is the HTTP code."""

    def __init__(self, message: object, *, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


def next_status(current: SampleStatus, wanted: SampleStatus) -> SampleStatus:
    """`wanted` if the table allows the move from `current`; SampleError (409) otherwise."""
    if wanted not in TRANSITIONS[current]:
        raise SampleError(
            _l(
                "This sample request is %(a)s: it cannot become %(b)s.",
                a=current.value,
                b=wanted.value,
            ),
            status=409,
        )
    return wanted


def _move(sample: SampleRequest, wanted: SampleStatus) -> None:
    sample.status = next_status(sample.status, wanted)


# --- limits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowance:
    """A creator's sample places: the tier's limit, what is open, and the recent overdues."""

    limit: int
    open: int
    overdue: int

    @property
    def available(self) -> int:
        return max(0, self.limit - self.open - self.overdue)


def tier_limit(session: Session, creator: Creator) -> int:
    """The creator's tier's limit; without a tier, the lowest tier's."""
    if creator.tier_id is not None:
        limit = session.scalar(select(Tier.sample_limit).where(Tier.id == creator.tier_id))
        if limit is not None:
            return limit
    lowest = session.scalar(select(Tier.sample_limit).order_by(Tier.rank).limit(1))
    return DEFAULT_LIMIT if lowest is None else lowest


def allowance(
    session: Session, creator: Creator, now: datetime, *, exclude_id: int | None = None
) -> Allowance:
    """The creator's places now; `exclude_id` leaves one request out of the open count (the
    one being approved, which already holds its place)."""
    open_q = select(func.count()).where(
        SampleRequest.creator_id == creator.id, SampleRequest.status.in_(sorted(OPEN))
    )
    if exclude_id is not None:
        open_q = open_q.where(SampleRequest.id != exclude_id)
    overdue = session.scalar(
        select(func.count()).where(
            SampleRequest.creator_id == creator.id,
            SampleRequest.status == SampleStatus.OVERDUE,
            SampleRequest.overdue_at > now - OVERDUE_MEMORY,
        )
    )
    return Allowance(tier_limit(session, creator), session.scalar(open_q) or 0, overdue or 0)


def _limit_message(a: Allowance, *, approving: bool) -> object:
    """Why no place is free, as one lazy sentence per case (translators see whole sentences)."""
    values = {"open": a.open, "limit": a.limit, "overdue": a.overdue}
    if approving and a.overdue:
        return _l(
            "The creator has %(open)s open sample request(s) and the tier allows %(limit)s, "
            "less %(overdue)s for content that was not posted in time. "
            "Approve once one of them is finished.",
            **values,
        )
    if approving:
        return _l(
            "The creator has %(open)s open sample request(s) and the tier allows %(limit)s. "
            "Approve once one of them is finished.",
            **values,
        )
    if a.overdue:
        return _l(
            "You have %(open)s open sample request(s) and the tier allows %(limit)s, "
            "less %(overdue)s for content that was not posted in time. "
            "Ask again once a sample's content is published.",
            **values,
        )
    return _l(
        "You have %(open)s open sample request(s) and the tier allows %(limit)s. "
        "Ask again once a sample's content is published.",
        **values,
    )


def _lock_creator(session: Session, creator_id: int) -> Creator:
    # FOR UPDATE on the creator: every count-then-write of their places is serialised.
    creator = session.scalar(
        select(Creator)
        .where(Creator.id == creator_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if creator is None:
        raise SampleError(_l("No such creator."), status=404)
    return creator


# --- eligibility -------------------------------------------------------------------------------


def product_in_campaign(session: Session, campaign: Campaign, product: Product) -> bool:
    """An active product of the campaign's brand, covered by the campaign (every product of the
    brand when the campaign lists none)."""
    if product.brand_id != campaign.brand_id or product.status != ProductStatus.ACTIVE:
        return False
    listed = select(CampaignProduct.product_id).where(CampaignProduct.campaign_id == campaign.id)
    if not session.scalar(select(exists(listed))):
        return True
    mine = listed.where(CampaignProduct.product_id == product.id)
    return bool(session.scalar(select(exists(mine))))


def request_problem(
    session: Session, creator: Creator, campaign: Campaign, product: Product | None, now: datetime
) -> str:
    """Why `creator` may not ask for a sample of `product` in `campaign` now, or "".

    The campaign's own rule (`campaign_open_to`: running, and the creator fits it) plus
    membership: samples are for accepted members only, even in campaigns anyone may link to.
    """
    if creator.status != CreatorStatus.APPROVED:
        return str(_l("Your account must be approved before you ask for samples."))
    brand = session.get(Brand, campaign.brand_id)
    if brand is None or brand.status != BrandStatus.APPROVED:
        return str(_l("This brand is not taking requests."))
    if member_status(session, campaign.id, creator.id) != MemberStatus.APPROVED:
        return str(_l("Join the campaign before you ask for samples."))
    problem = campaign_open_to(session, campaign, creator, now.date())
    if problem:
        return problem
    if product is not None and not product_in_campaign(session, campaign, product):
        return str(_l("This product is not part of the campaign."))
    return ""


def ships_to(campaign: Campaign, product: Product, country: str) -> bool:
    """The campaign targets the country and the product sells there (empty lists: everywhere)."""
    return (not campaign.countries or country in campaign.countries) and (
        not product.countries or country in product.countries
    )


# --- the creator: asking, cancelling, extending -------------------------------------------------


@dataclass(frozen=True)
class AddressInput:
    shipping_country: str
    recipient_name: str
    address_line1: str
    address_line2: str
    city: str
    region: str
    postal_code: str
    phone: str


_REQUIRED = {
    "recipient_name": _l("Enter the recipient's name."),
    "address_line1": _l("Enter the street address."),
    "city": _l("Enter the city."),
    "postal_code": _l("Enter the postal code."),
}
_MAX = {
    "recipient_name": 120,
    "address_line1": 200,
    "address_line2": 200,
    "city": 100,
    "region": 100,
    "postal_code": 20,
    "phone": 40,
}


def clean_address(data: AddressInput) -> dict[str, str | None]:
    """The address columns, trimmed and checked; SampleError names the first bad field."""
    if not is_country(data.shipping_country):
        raise SampleError(_l("Choose a country from the list."), field="shipping_country")
    out: dict[str, str | None] = {"shipping_country": data.shipping_country}
    for name in ADDRESS_FIELDS:
        value = " ".join(str(getattr(data, name) or "").split())
        if name in _REQUIRED and not value:
            raise SampleError(_REQUIRED[name], field=name)
        if len(value) > _MAX[name]:
            raise SampleError(_l("At most %(n)s characters.", n=_MAX[name]), field=name)
        out[name] = value or None
    return out


def request_sample(
    session: Session,
    creator: Creator,
    campaign_id: int,
    product_id: int,
    address: AddressInput,
    *,
    actor_id: int | None,
    now: datetime,
) -> SampleRequest:
    """A new request, or SampleError (nothing written) when a rule refuses it."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise SampleError(_l("No such campaign."), status=404)
    product = session.get(Product, product_id)
    if product is None or product.brand_id != campaign.brand_id:
        raise SampleError(_l("Choose a product of this campaign."), field="product_id")
    values = clean_address(address)
    creator = _lock_creator(session, creator.id)
    problem = request_problem(session, creator, campaign, product, now)
    if problem:
        raise SampleError(problem, status=403)
    if not ships_to(campaign, product, address.shipping_country):
        raise SampleError(
            _l("This product cannot be sent to that country for this campaign."),
            field="shipping_country",
        )
    if session.scalar(
        select(
            exists().where(
                SampleRequest.creator_id == creator.id,
                SampleRequest.product_id == product.id,
                SampleRequest.status.in_(sorted(OPEN)),
            )
        )
    ):
        raise SampleError(_l("You already have an open request for this product."), status=409)
    places = allowance(session, creator, now)
    if places.available <= 0:
        raise SampleError(_limit_message(places, approving=False), status=409)
    sample = SampleRequest(
        creator_id=creator.id,
        brand_id=campaign.brand_id,
        campaign_id=campaign.id,
        product_id=product.id,
        status=SampleStatus.REQUESTED,
        **values,
    )
    session.add(sample)
    session.flush()
    # The address stays out of the audit log: only what identifies the request.
    record(
        session,
        actor_id=actor_id,
        action="sample.requested",
        target=sample,
        data={"campaign_id": campaign.id, "product_id": product.id},
    )
    # The address is the creator's private data: the brand reads it in the portal.
    emit(
        session,
        campaign.brand_id,
        SAMPLE_REQUESTED,
        {
            "sample_request_id": sample.id,
            "campaign_id": campaign.id,
            "product_id": product.id,
            "creator_id": creator.id,
            "shipping_country": sample.shipping_country,
        },
    )
    return sample


def _erase(sample: SampleRequest, now: datetime) -> None:
    for name in ADDRESS_FIELDS:
        setattr(sample, name, None)
    if sample.address_erased_at is None:
        sample.address_erased_at = now


def _locked(session: Session, sample_id: int) -> SampleRequest | None:
    # FOR UPDATE: two clicks (or a click and the sweep) deciding at once are serialised; the
    # second sees the first's status and is refused by the transition table.
    return session.scalar(
        select(SampleRequest)
        .where(SampleRequest.id == sample_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _creator_locked(session: Session, creator: Creator, sample_id: int) -> SampleRequest:
    sample = _locked(session, sample_id)
    if sample is None or sample.creator_id != creator.id:
        raise SampleError(_l("No such sample request."), status=404)
    return sample


def cancel_request(
    session: Session, creator: Creator, sample_id: int, *, actor_id: int | None, now: datetime
) -> SampleRequest:
    """The creator withdraws a request the brand has not answered; the address goes at once."""
    sample = _creator_locked(session, creator, sample_id)
    if sample.status != SampleStatus.REQUESTED:
        raise SampleError(
            _l("Only a request the brand has not answered can be cancelled."), status=409
        )
    _move(sample, SampleStatus.CANCELLED)
    sample.cancelled_at = now
    _erase(sample, now)
    record(session, actor_id=actor_id, action="sample.cancelled", target=sample)
    return sample


def extend_deadline(
    session: Session, creator: Creator, sample_id: int, *, actor_id: int | None, now: datetime
) -> SampleRequest:
    """The creator's one extension: EXTENSION_DAYS more, asked before the deadline."""
    sample = _creator_locked(session, creator, sample_id)
    if sample.status != SampleStatus.DELIVERED or sample.content_due_at is None:
        raise SampleError(
            _l("Only a delivered sample waiting for content has a deadline."), status=409
        )
    if sample.extended:
        raise SampleError(_l("The deadline was already extended once."), status=409)
    if now >= sample.content_due_at:
        raise SampleError(_l("The deadline has passed: it can no longer be extended."), status=409)
    sample.extended = True
    sample.content_due_at = sample.content_due_at + EXTENSION_DAYS
    sample.reminded_at = None  # a reminder before the new deadline
    record(
        session,
        actor_id=actor_id,
        action="sample.extended",
        target=sample,
        data={"content_due_at": sample.content_due_at.isoformat()},
    )
    return sample


# --- the brand: deciding, shipping, delivery ---------------------------------------------------


def _brand_locked(session: Session, brand_id: int, sample_id: int) -> SampleRequest:
    sample = _locked(session, sample_id)
    if sample is None or sample.brand_id != brand_id:
        raise SampleError(_l("No such sample request."), status=404)
    return sample


def _notify(session: Session, sample: SampleRequest, kind: str, **data: object) -> None:
    user_id = session.scalar(select(Creator.user_id).where(Creator.id == sample.creator_id))
    title = session.scalar(select(Product.title).where(Product.id == sample.product_id))
    if user_id is not None:
        notify_many(session, [(user_id, kind, {"sample": sample.id, "product": title, **data})])


def approve_request(
    session: Session, brand_id: int, sample_id: int, *, actor_id: int | None, now: datetime
) -> SampleRequest:
    """Approve, after checking the creator's limit again (their other requests may have been
    approved meanwhile)."""
    sample = _brand_locked(session, brand_id, sample_id)
    next_status(sample.status, SampleStatus.APPROVED)
    creator = _lock_creator(session, sample.creator_id)
    places = allowance(session, creator, now, exclude_id=sample.id)
    if places.available <= 0:
        raise SampleError(_limit_message(places, approving=True), status=409)
    _move(sample, SampleStatus.APPROVED)
    sample.decided_at = now
    record(session, actor_id=actor_id, action="sample.approved", target=sample)
    _notify(session, sample, "sample.approved")
    return sample


def decline_request(
    session: Session,
    brand_id: int,
    sample_id: int,
    reason: str,
    *,
    actor_id: int | None,
    now: datetime,
) -> SampleRequest:
    reason = " ".join((reason or "").split())
    if not reason:
        raise SampleError(_l("Tell the creator why the request is declined."), field="reason")
    if len(reason) > 500:
        raise SampleError(_l("At most %(n)s characters.", n=500), field="reason")
    sample = _brand_locked(session, brand_id, sample_id)
    _move(sample, SampleStatus.DECLINED)
    sample.decided_at = now
    sample.decline_reason = reason
    _erase(sample, now)
    record(
        session, actor_id=actor_id, action="sample.declined", target=sample, data={"reason": reason}
    )
    _notify(session, sample, "sample.declined")
    return sample


def record_shipment(
    session: Session,
    brand_id: int,
    sample_id: int,
    carrier: str,
    tracking_number: str,
    *,
    actor_id: int | None,
    now: datetime,
) -> SampleRequest:
    carrier = " ".join((carrier or "").split())
    tracking_number = "".join((tracking_number or "").split())
    if not carrier:
        raise SampleError(_l("Enter the carrier."), field="carrier")
    if len(carrier) > 80:
        raise SampleError(_l("At most %(n)s characters.", n=80), field="carrier")
    if not tracking_number:
        raise SampleError(_l("Enter the tracking number."), field="tracking_number")
    if len(tracking_number) > 100:
        raise SampleError(_l("At most %(n)s characters.", n=100), field="tracking_number")
    sample = _brand_locked(session, brand_id, sample_id)
    _move(sample, SampleStatus.SHIPPED)
    sample.carrier, sample.tracking_number, sample.shipped_at = carrier, tracking_number, now
    record(
        session,
        actor_id=actor_id,
        action="sample.shipped",
        target=sample,
        data={"carrier": carrier, "tracking_number": tracking_number},
    )
    _notify(session, sample, "sample.shipped", carrier=carrier, tracking=tracking_number)
    return sample


def record_delivery(
    session: Session, brand_id: int, sample_id: int, *, actor_id: int | None, now: datetime
) -> SampleRequest:
    """Delivered: the content deadline starts now."""
    sample = _brand_locked(session, brand_id, sample_id)
    _move(sample, SampleStatus.DELIVERED)
    sample.delivered_at = now
    sample.content_due_at = now + CONTENT_DAYS
    record(
        session,
        actor_id=actor_id,
        action="sample.delivered",
        target=sample,
        data={"content_due_at": sample.content_due_at.isoformat()},
    )
    _notify(session, sample, "sample.delivered", due=sample.content_due_at.isoformat())
    return sample


# --- fulfilment --------------------------------------------------------------------------------


def _qualifying_content(session: Session, sample: SampleRequest, by: datetime | None) -> int | None:
    """The creator's first published piece featuring the product, published after delivery
    (and by `by` when given)."""
    if sample.delivered_at is None:
        return None
    stmt = (
        select(Content.id)
        .join(ContentProduct, ContentProduct.content_id == Content.id)
        .where(
            Content.creator_id == sample.creator_id,
            Content.status == ContentStatus.PUBLISHED,
            ContentProduct.product_id == sample.product_id,
            Content.published_at >= sample.delivered_at,
        )
        .order_by(Content.published_at, Content.id)
        .limit(1)
    )
    if by is not None:
        stmt = stmt.where(Content.published_at <= by)
    return session.scalar(stmt)


def _fulfil(
    session: Session, sample: SampleRequest, content_id: int, *, actor_id: int | None, now: datetime
) -> None:
    _move(sample, SampleStatus.FULFILLED)
    sample.fulfilled_at = now
    sample.content_id = content_id
    record(
        session,
        actor_id=actor_id,
        action="sample.fulfilled",
        target=sample,
        data={"content_id": content_id},
    )


def fulfil_for_content(
    session: Session, content: Content, *, actor_id: int | None, now: datetime
) -> list[SampleRequest]:
    """Called when `content` goes live: the creator's delivered samples of the products it
    features, delivered before it was published and still inside their deadline, are fulfilled."""
    if content.status != ContentStatus.PUBLISHED or content.published_at is None:
        return []
    product_ids = select(ContentProduct.product_id).where(ContentProduct.content_id == content.id)
    samples = list(
        session.scalars(
            select(SampleRequest)
            .where(
                SampleRequest.creator_id == content.creator_id,
                SampleRequest.status == SampleStatus.DELIVERED,
                SampleRequest.product_id.in_(product_ids),
                SampleRequest.delivered_at <= content.published_at,
                SampleRequest.content_due_at >= content.published_at,
            )
            .order_by(SampleRequest.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    for sample in samples:
        if sample.status == SampleStatus.DELIVERED:
            _fulfil(session, sample, content.id, actor_id=actor_id, now=now)
    return samples


# --- scheduled work ----------------------------------------------------------------------------


@dataclass
class SweepResult:
    fulfilled: int = 0
    overdue: int = 0
    reminded: int = 0


def sweep_batch(
    session: Session, now: datetime, *, after_id: int = 0, limit: int = SWEEP_BATCH
) -> tuple[SweepResult, int | None]:
    """The next batch of delivered requests (by id, after `after_id`): fulfil those with content,
    mark overdue those past their deadline without it, remind those whose deadline is near.
    Returns what it did and the last id seen (None: nothing left). Rows another worker holds are
    skipped (SKIP LOCKED) and picked up by the next run."""
    result = SweepResult()
    rows = session.scalars(
        select(SampleRequest)
        .where(SampleRequest.status == SampleStatus.DELIVERED, SampleRequest.id > after_id)
        .order_by(SampleRequest.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    for sample in rows:
        assert sample.content_due_at is not None
        content_id = _qualifying_content(session, sample, by=min(now, sample.content_due_at))
        if content_id is not None:
            _fulfil(session, sample, content_id, actor_id=None, now=now)
            result.fulfilled += 1
        elif sample.content_due_at <= now:
            _move(sample, SampleStatus.OVERDUE)
            sample.overdue_at = now
            record(session, actor_id=None, action="sample.overdue", target=sample)
            _notify(session, sample, "sample.overdue")
            result.overdue += 1
        elif sample.reminded_at is None and sample.content_due_at <= now + REMIND_BEFORE:
            sample.reminded_at = now
            _notify(session, sample, "sample.due_soon", due=sample.content_due_at.isoformat())
            result.reminded += 1
    return result, (rows[-1].id if rows else None)


def erase_addresses(session: Session, now: datetime) -> int:
    """Erase every address no longer needed; one statement, so a killed run erased all or
    nothing, and a second run finds nothing to do. Returns the number of rows erased."""
    needless = or_(
        SampleRequest.status.in_([SampleStatus.DECLINED, SampleStatus.CANCELLED]),
        and_(
            SampleRequest.delivered_at.is_not(None),
            SampleRequest.delivered_at <= now - ERASE_AFTER,
        ),
        and_(
            SampleRequest.status == SampleStatus.SHIPPED,
            SampleRequest.shipped_at <= now - LOST_AFTER,
        ),
    )
    result = session.execute(
        update(SampleRequest)
        .where(SampleRequest.address_erased_at.is_(None), needless)
        .values(address_erased_at=now, **dict.fromkeys(ADDRESS_FIELDS))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# --- reads -------------------------------------------------------------------------------------


def creator_requests(session: Session, creator_id: int) -> list[tuple[SampleRequest, str, str]]:
    """The creator's requests, newest first, with product title and campaign name."""
    rows = session.execute(
        select(SampleRequest, Product.title, Campaign.name)
        .join(Product, Product.id == SampleRequest.product_id)
        .join(Campaign, Campaign.id == SampleRequest.campaign_id)
        .where(SampleRequest.creator_id == creator_id)
        .order_by(SampleRequest.id.desc())
        .limit(500)
    )
    return [(s, title, name) for s, title, name in rows]


def creator_request(session: Session, creator_id: int, sample_id: int) -> SampleRequest | None:
    """The creator's own request, or None (another creator's is as good as missing)."""
    return session.scalar(
        select(SampleRequest).where(
            SampleRequest.id == sample_id, SampleRequest.creator_id == creator_id
        )
    )


def brand_request(session: Session, brand_id: int, sample_id: int) -> SampleRequest | None:
    """The brand's own request, or None (another brand's is as good as missing)."""
    return session.scalar(
        select(SampleRequest).where(
            SampleRequest.id == sample_id, SampleRequest.brand_id == brand_id
        )
    )


@dataclass(frozen=True)
class BrandRow:
    sample: SampleRequest
    product_title: str
    product_sku: str
    campaign_name: str
    creator_name: str
    creator_handle: str


def brand_requests(
    session: Session, brand_id: int, *, status: SampleStatus | None = None, limit: int = 500
) -> list[BrandRow]:
    """The brand's requests (newest first). Rows carry no address: lists never show one."""
    stmt = (
        select(
            SampleRequest,
            Product.title,
            Product.sku,
            Campaign.name,
            Creator.display_name,
            Creator.handle,
        )
        .join(Product, Product.id == SampleRequest.product_id)
        .join(Campaign, Campaign.id == SampleRequest.campaign_id)
        .join(Creator, Creator.id == SampleRequest.creator_id)
        .where(SampleRequest.brand_id == brand_id)
    )
    if status is not None:
        stmt = stmt.where(SampleRequest.status == status)
    rows = session.execute(stmt.order_by(SampleRequest.id.desc()).limit(limit))
    return [BrandRow(*row) for row in rows]


def status_counts(session: Session, brand_id: int) -> dict[SampleStatus, int]:
    return dict(
        session.execute(
            select(SampleRequest.status, func.count())
            .where(SampleRequest.brand_id == brand_id)
            .group_by(SampleRequest.status)
        ).all()
    )


def requestable_products(
    session: Session, campaign: Campaign, exclude_ids: Sequence[int] = ()
) -> list[Product]:
    """The campaign's products a sample may be asked for (active, covered), by title."""
    stmt = select(Product).where(
        Product.brand_id == campaign.brand_id, Product.status == ProductStatus.ACTIVE
    )
    listed = select(CampaignProduct.product_id).where(CampaignProduct.campaign_id == campaign.id)
    stmt = stmt.where(~exists(listed) | Product.id.in_(listed))
    if exclude_ids:
        stmt = stmt.where(Product.id.not_in(list(exclude_ids)))
    return list(session.scalars(stmt.order_by(Product.title, Product.id).limit(500)))
