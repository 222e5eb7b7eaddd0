"""Content pieces: saving, publishing (compliance check, brand approval, tracked links), the
brand's review, the admin moderation queue, and the public shoppable pages' reads.

Services take explicit arguments and flush; the request (or the job) commits. A ContentError
can leave half a change flushed (a link made for the first product before the second failed):
the caller rolls back.

The life of a piece:

    draft --publish--> [compliance check] --finding--> flagged --admin clears--> (on, below)
                                                                 --admin upholds--> rejected
                       [invite-only campaign, not approved by the brand] --> submitted
                                            --brand approves--> published / --rejects--> rejected
                       [otherwise] --> published (each featured product gets its tracked link)
    published --edit--> the same path again (an edit needs the brand's approval again)

Rejected is final: its links are disabled and the tracking service refuses new ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from wtforms import SelectChoice

from connect.audit.services import record
from connect.brands.models import Brand, BrandStatus, Product, ProductStatus
from connect.campaigns.models import Campaign, CampaignProduct, Visibility
from connect.content.compliance import Match, check_content, check_product, fingerprint, summary
from connect.content.media import StoredMedia, delete_after_commit
from connect.content.models import (
    Content,
    ContentKind,
    ContentProduct,
    ContentStatus,
    FlagStatus,
    FlagTarget,
    ModerationFlag,
)
from connect.creators.models import Creator, CreatorStatus
from connect.samples.services import fulfil_for_content
from connect.tracking.models import Link, LinkStatus
from connect.tracking.services import LinkError, campaign_open_to, create_link, set_link_status
from connect.webhooks import events as webhook_events

MAX_PRODUCTS = 20
EDITABLE = frozenset({ContentStatus.DRAFT, ContentStatus.PUBLISHED})

#: Every move a piece may make. Anything else is a bug or a stale form, and raises.
TRANSITIONS: dict[ContentStatus, frozenset[ContentStatus]] = {
    ContentStatus.DRAFT: frozenset(
        {ContentStatus.FLAGGED, ContentStatus.SUBMITTED, ContentStatus.PUBLISHED}
    ),
    ContentStatus.PUBLISHED: frozenset(
        {ContentStatus.FLAGGED, ContentStatus.SUBMITTED, ContentStatus.PUBLISHED}
    ),
    ContentStatus.FLAGGED: frozenset(
        {ContentStatus.SUBMITTED, ContentStatus.PUBLISHED, ContentStatus.REJECTED}
    ),
    ContentStatus.SUBMITTED: frozenset({ContentStatus.PUBLISHED, ContentStatus.REJECTED}),
    ContentStatus.REJECTED: frozenset(),
}


class ContentError(ValueError):
    """A request the rules refuse; the message is safe to show. `status` is the HTTP code."""

    def __init__(self, message: object, status: int = 422) -> None:
        super().__init__(message)
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0])  # a lazy string, translated when shown


def next_status(current: ContentStatus, wanted: ContentStatus) -> ContentStatus:
    """`wanted` if a piece may move there from `current`; ContentError otherwise."""
    if wanted not in TRANSITIONS[current]:
        raise ContentError(
            _l("A %(a)s piece cannot become %(b)s.", a=current.value, b=wanted.value), 409
        )
    return wanted


def _move(content: Content, wanted: ContentStatus) -> None:
    content.status = next_status(content.status, wanted)


@dataclass
class ContentInput:
    kind: ContentKind
    title: str
    body: str
    language: str
    countries: list[str]
    external_url: str
    campaign_id: int | None
    product_ids: list[int]


@dataclass
class Outcome:
    """Where a piece ended up, why, and which links changed (they leave the redirect cache)."""

    status: ContentStatus
    matches: list[Match] = field(default_factory=list)
    changed_links: list[Link] = field(default_factory=list)


# --- reading a creator's own content -----------------------------------------------------------


def own_content(session: Session, creator_id: int, content_id: int) -> Content | None:
    """The creator's own piece, or None (another creator's piece is as good as missing)."""
    return session.scalar(
        select(Content).where(Content.id == content_id, Content.creator_id == creator_id)
    )


def creator_content_page(
    session: Session, creator_id: int, *, page: int, per_page: int = 50
) -> tuple[list[tuple[Content, int]], int]:
    """The creator's pieces, newest first, each with its number of featured products."""
    total = session.scalar(select(func.count()).where(Content.creator_id == creator_id)) or 0
    counts = (
        select(ContentProduct.content_id, func.count().label("n"))
        .group_by(ContentProduct.content_id)
        .subquery()
    )
    rows = session.execute(
        select(Content, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.content_id == Content.id)
        .where(Content.creator_id == creator_id)
        .order_by(Content.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return [(c, int(n)) for c, n in rows], total


def content_links(session: Session, content: Content) -> list[tuple[Link, str]]:
    """The piece's tracked links with their product titles."""
    return [
        (link, title)
        for link, title in session.execute(
            select(Link, Product.title)
            .join(Product, Product.id == Link.product_id)
            .where(Link.content_id == content.id, Link.creator_id == content.creator_id)
            .order_by(Link.id)
        )
    ]


def products_by_content(session: Session, content_ids: Iterable[int]) -> dict[int, list[Product]]:
    """Featured products of many pieces in one query."""
    ids = list(set(content_ids))
    out: dict[int, list[Product]] = defaultdict(list)
    if not ids:
        return out
    for content_id, product in session.execute(
        select(ContentProduct.content_id, Product)
        .join(Product, Product.id == ContentProduct.product_id)
        .where(ContentProduct.content_id.in_(ids))
        .order_by(ContentProduct.id)
    ):
        out[content_id].append(product)
    return out


# --- what a creator may feature ---------------------------------------------------------------


def eligible_products(
    session: Session,
    creator: Creator,
    campaign: Campaign | None,
    *,
    ids: Sequence[int] | None = None,
    limit: int = 500,
) -> list[tuple[Product, str]]:
    """Products the creator may feature, with their brand's name: active products of approved
    brands sold in the creator's country; inside a campaign, only the campaign's brand (and only
    the products it covers, when it lists any)."""
    stmt = (
        select(Product, Brand.name)
        .join(Brand, Brand.id == Product.brand_id)
        .where(Brand.status == BrandStatus.APPROVED, Product.status == ProductStatus.ACTIVE)
    )
    if campaign is not None:
        stmt = stmt.where(Product.brand_id == campaign.brand_id)
        covered = select(CampaignProduct.product_id).where(
            CampaignProduct.campaign_id == campaign.id
        )
        stmt = stmt.where(
            ~exists(covered) | Product.id.in_(covered)  # no list: every product of the brand
        )
    if ids is not None:
        stmt = stmt.where(Product.id.in_(list(ids)))
    rows = session.execute(stmt.order_by(Brand.name, Product.title, Product.id).limit(limit))
    # Countries are a JSON list: filtered here, the same way on PostgreSQL and SQLite.
    return [(p, brand) for p, brand in rows if not p.countries or creator.country in p.countries]


def product_choices(
    session: Session, creator: Creator, campaign: Campaign | None, selected: Iterable[int] = ()
) -> list[SelectChoice]:
    """Choices for the product picker, grouped by brand; already featured products stay listed."""
    rows = eligible_products(session, creator, campaign)
    seen = {p.id for p, _ in rows}
    missing = [i for i in selected if i not in seen]
    if missing:
        rows += session.execute(
            select(Product, Brand.name)
            .join(Brand, Brand.id == Product.brand_id)
            .where(Product.id.in_(missing))
        ).all()
    return [
        SelectChoice(str(p.id), f"{p.title} · {p.sku}", optgroup=brand)
        for p, brand in sorted(rows, key=lambda row: (row[1], row[0].title, row[0].id))
    ]


def _campaign_for(
    session: Session, creator: Creator, campaign_id: int | None, now: datetime
) -> Campaign | None:
    if campaign_id is None:
        return None
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise ContentError(_l("No such campaign."), 404)
    problem = campaign_open_to(session, campaign, creator, now.date())
    if problem:
        raise ContentError(problem, 403)
    return campaign


# --- saving ------------------------------------------------------------------------------------


def check_input(
    session: Session,
    creator: Creator,
    content: Content | None,
    data: ContentInput,
    *,
    now: datetime,
) -> None:
    """Refuse what `save_content` would refuse, before anything is stored."""
    if content is not None and content.status not in EDITABLE:
        raise ContentError(
            _l("This piece is being reviewed and cannot be edited now.")
            if content.status != ContentStatus.REJECTED
            else _l("This piece was rejected; make a new one instead."),
            409,
        )
    same_campaign = content is not None and content.campaign_id == data.campaign_id
    if content is not None and content.status == ContentStatus.PUBLISHED and not same_campaign:
        raise ContentError(_l("A published piece cannot move to another campaign."), 409)
    campaign = (
        session.get(Campaign, data.campaign_id)
        if same_campaign and data.campaign_id is not None
        else _campaign_for(session, creator, data.campaign_id, now)
    )
    ids = list(dict.fromkeys(data.product_ids))
    if len(ids) > MAX_PRODUCTS:
        raise ContentError(_l("Feature at most %(n)s products in one piece.", n=MAX_PRODUCTS))
    current = {cp.product_id for cp in content.products} if content is not None else set()
    new_ids = [i for i in ids if i not in current] if same_campaign else ids
    if new_ids:
        ok = {p.id for p, _ in eligible_products(session, creator, campaign, ids=new_ids)}
        refused = [i for i in new_ids if i not in ok]
        if refused:
            if campaign is not None:
                raise ContentError(
                    _l(
                        "%(n)s of the chosen products cannot be featured in this campaign "
                        "(archived, not sold in your country, or another brand's).",
                        n=len(refused),
                    )
                )
            raise ContentError(
                _l(
                    "%(n)s of the chosen products cannot be featured by you "
                    "(archived, not sold in your country, or another brand's).",
                    n=len(refused),
                )
            )


def save_content(
    session: Session,
    creator: Creator,
    content: Content | None,
    data: ContentInput,
    *,
    actor_id: int,
    now: datetime,
    media: StoredMedia | None = None,
    remove_media: bool = False,
) -> tuple[Content, Outcome | None]:
    """Create or update a piece. Editing a published piece sends it through review again; the
    outcome says where it went (None for a draft)."""
    check_input(session, creator, content, data, now=now)
    created = content is None
    if content is None:
        content = Content(creator_id=creator.id, status=ContentStatus.DRAFT, products=[])
        session.add(content)
    content.kind = data.kind
    content.title = data.title.strip()
    content.body = data.body.strip()
    content.language = data.language
    content.countries = sorted(set(data.countries))
    content.external_url = data.external_url.strip()
    content.campaign_id = data.campaign_id
    ids = list(dict.fromkeys(data.product_ids))
    for cp in list(content.products):
        if cp.product_id not in ids:
            content.products.remove(cp)
    have = {cp.product_id for cp in content.products}
    content.products.extend(ContentProduct(product_id=i) for i in ids if i not in have)
    if media is not None or remove_media:
        delete_after_commit(session, content.media_key)
        content.media_key = media.key if media else ""
        content.media_type = media.content_type if media else ""
        content.media_bytes = media.size if media else 0
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action="content.create" if created else "content.update",
        target=content,
        data={"status": content.status.value, "products": ids},
    )
    if not created and content.status == ContentStatus.PUBLISHED:
        content.brand_approved_at = None  # the brand approved other words
        return content, _advance(session, content, creator, actor_id=actor_id, now=now)
    return content, None


def delete_draft(session: Session, content: Content, *, actor_id: int) -> None:
    """Delete a draft that no link points to."""
    if content.status != ContentStatus.DRAFT:
        raise ContentError(_l("Only drafts can be deleted."), 409)
    if session.scalar(select(exists().where(Link.content_id == content.id))):
        raise ContentError(_l("Links point to this draft; it cannot be deleted."), 409)
    record(session, actor_id=actor_id, action="content.delete", target=content)
    delete_after_commit(session, content.media_key)
    session.delete(content)
    session.flush()


# --- publishing --------------------------------------------------------------------------------


def publish(
    session: Session, content: Content, creator: Creator, *, actor_id: int, now: datetime
) -> Outcome:
    """Send a draft on its way: flagged, submitted to the brand, or published with its links."""
    if content.status != ContentStatus.DRAFT:
        raise ContentError(_l("Only a draft can be published."), 409)
    if creator.status != CreatorStatus.APPROVED:
        raise ContentError(_l("Your account must be approved before you publish."), 403)
    if not content.products:
        raise ContentError(_l("Feature at least one product before publishing."))
    _campaign_for(session, creator, content.campaign_id, now)
    return _advance(session, content, creator, actor_id=actor_id, now=now)


def content_findings(session: Session, content: Content) -> list[Match]:
    """Compliance findings in the piece's words and in the products it features."""
    found = check_content(content)
    for product in products_by_content(session, [content.id]).get(content.id, []):
        found += [
            Match(m.rule, m.language, m.keyword, f"product {product.sku}", m.label)
            for m in check_product(product)
        ]
    return sorted(set(found))


def _advance(
    session: Session,
    content: Content,
    creator: Creator,
    *,
    actor_id: int | None,
    now: datetime,
    compliance: bool = True,
) -> Outcome:
    if compliance:
        matches = content_findings(session, content)
        if matches and not _cleared_before(
            session, FlagTarget.CONTENT, content.id, fingerprint(matches)
        ):
            _move(content, ContentStatus.FLAGGED)
            content.moderation_note = summary(matches)
            switched = disable_content_links(session, content, actor_id=actor_id)
            raise_flag(
                session,
                FlagTarget.CONTENT,
                content.id,
                matches,
                now=now,
                disabled_link_ids=[link.id for link in switched],
            )
            for product in products_by_content(session, [content.id]).get(content.id, []):
                review_product(session, product, now=now)
            record(
                session,
                actor_id=None,
                action="content.flagged",
                target=content,
                data={"matches": [m.as_dict() for m in matches]},
            )
            return Outcome(ContentStatus.FLAGGED, matches, switched)
    campaign = session.get(Campaign, content.campaign_id) if content.campaign_id else None
    if (
        campaign is not None
        and campaign.visibility == Visibility.INVITE
        and content.brand_approved_at is None
    ):
        _move(content, ContentStatus.SUBMITTED)
        content.moderation_note = ""
        webhook_events.content_submitted(session, content, campaign)
        record(session, actor_id=actor_id, action="content.submitted", target=content)
        return Outcome(ContentStatus.SUBMITTED)
    return Outcome(
        ContentStatus.PUBLISHED,
        changed_links=_go_live(session, content, creator, actor_id=actor_id, now=now),
    )


def _go_live(
    session: Session, content: Content, creator: Creator, *, actor_id: int | None, now: datetime
) -> list[Link]:
    """Publish: the piece is live before its links are made, so a tracking rule refusing links
    for pieces under review lets these through. Returns the links whose redirect changed: none
    (new codes were never cached)."""
    _move(content, ContentStatus.PUBLISHED)
    ensure_links(session, content, creator, now=now)
    content.published_at = now
    content.moderation_note = ""
    record(session, actor_id=actor_id, action="content.published", target=content)
    # A piece featuring a delivered sample's product fulfils the creator's sample request.
    fulfil_for_content(session, content, actor_id=actor_id, now=now)
    return []


def ensure_links(
    session: Session, content: Content, creator: Creator, *, now: datetime
) -> list[Link]:
    """A tracked link for each featured product that has none for this piece and campaign."""
    have = set(
        session.scalars(
            select(Link.product_id).where(
                Link.content_id == content.id,
                Link.creator_id == creator.id,
                Link.campaign_id.is_(None)
                if content.campaign_id is None
                else Link.campaign_id == content.campaign_id,
            )
        )
    )
    made = []
    session.flush()  # the featured products must be visible to create_link's check
    for cp in content.products:
        if cp.product_id in have:
            continue
        try:
            made.append(
                create_link(
                    session,
                    creator,
                    product_id=cp.product_id,
                    campaign_id=content.campaign_id,
                    content_id=content.id,
                    now=now,
                )
            )
        except LinkError as exc:
            product = session.get(Product, cp.product_id)
            name = product.title if product else f"#{cp.product_id}"
            # "<product>: <the link's refusal>", joined when shown (the refusal translated then).
            message = LazyString("{}: {}".format, name, exc)
            raise ContentError(message, exc.status) from exc
        have.add(cp.product_id)
    return made


def disable_content_links(
    session: Session, content: Content, *, actor_id: int | None
) -> list[Link]:
    """Switch off the piece's active links (they stop redirecting, so they stop earning)."""
    links = session.scalars(
        select(Link).where(Link.content_id == content.id, Link.status == LinkStatus.ACTIVE)
    ).all()
    for link in links:
        set_link_status(session, link, LinkStatus.DISABLED, actor_id=actor_id)  # type: ignore[arg-type]
    return list(links)


# --- the brand's review (invite-only campaigns) -------------------------------------------------


def brand_queue(
    session: Session, brand_id: int, *, limit: int = 100
) -> list[tuple[Content, Creator, Campaign]]:
    """Pieces waiting for the brand, oldest first."""
    return [
        (c, creator, campaign)
        for c, creator, campaign in session.execute(
            select(Content, Creator, Campaign)
            .join(Campaign, Campaign.id == Content.campaign_id)
            .join(Creator, Creator.id == Content.creator_id)
            .where(Campaign.brand_id == brand_id, Content.status == ContentStatus.SUBMITTED)
            .order_by(Content.updated_at, Content.id)
            .limit(limit)
        )
    ]


def brand_recent(
    session: Session, brand_id: int, *, limit: int = 20
) -> list[tuple[Content, Creator, Campaign]]:
    """Pieces in the brand's campaigns that are live or were rejected, newest change first."""
    return [
        (c, creator, campaign)
        for c, creator, campaign in session.execute(
            select(Content, Creator, Campaign)
            .join(Campaign, Campaign.id == Content.campaign_id)
            .join(Creator, Creator.id == Content.creator_id)
            .where(
                Campaign.brand_id == brand_id,
                Content.status.in_([ContentStatus.PUBLISHED, ContentStatus.REJECTED]),
            )
            .order_by(Content.updated_at.desc(), Content.id.desc())
            .limit(limit)
        )
    ]


def _locked_content(session: Session, content_id: int) -> Content | None:
    # FOR UPDATE: two reviewers deciding at once are serialised; the second sees the first's
    # decision and is refused instead of deciding again.
    return session.scalar(
        select(Content)
        .where(Content.id == content_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _brand_piece(session: Session, brand_id: int, content_id: int) -> Content:
    content = _locked_content(session, content_id)
    campaign = (
        session.get(Campaign, content.campaign_id) if content and content.campaign_id else None
    )
    if content is None or campaign is None or campaign.brand_id != brand_id:
        raise ContentError(_l("No such content piece."), 404)
    if content.status != ContentStatus.SUBMITTED:
        raise ContentError(_l("This piece is not waiting for a decision."), 409)
    return content


def approve_content(
    session: Session, brand_id: int, content_id: int, *, actor_id: int, now: datetime
) -> Outcome:
    content = _brand_piece(session, brand_id, content_id)
    creator = session.get(Creator, content.creator_id)
    assert creator is not None
    content.brand_approved_at = now
    record(session, actor_id=actor_id, action="content.brand_approve", target=content)
    return Outcome(
        ContentStatus.PUBLISHED,
        changed_links=_go_live(session, content, creator, actor_id=actor_id, now=now),
    )


def reject_content(
    session: Session,
    brand_id: int,
    content_id: int,
    reason: str,
    *,
    actor_id: int,
    now: datetime,
) -> Outcome:
    reason = reason.strip()
    if not reason:
        raise ContentError(_l("Tell the creator why the piece is rejected."))
    content = _brand_piece(session, brand_id, content_id)
    _move(content, ContentStatus.REJECTED)
    content.moderation_note = reason[:500]
    switched = disable_content_links(session, content, actor_id=actor_id)
    record(
        session,
        actor_id=actor_id,
        action="content.brand_reject",
        target=content,
        data={"reason": reason[:500], "links_disabled": [link.id for link in switched]},
    )
    return Outcome(ContentStatus.REJECTED, changed_links=switched)


# --- moderation flags ----------------------------------------------------------------------------


def _cleared_before(session: Session, target: FlagTarget, target_id: int, print_: str) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    ModerationFlag.target_type == target,
                    ModerationFlag.target_id == target_id,
                    ModerationFlag.status == FlagStatus.CLEARED,
                    ModerationFlag.fingerprint == print_,
                )
            )
        )
    )


def raise_flag(
    session: Session,
    target: FlagTarget,
    target_id: int,
    matches: Sequence[Match],
    *,
    now: datetime,
    disabled_link_ids: Sequence[int] = (),
) -> ModerationFlag | None:
    """Put a target in the admin queue, unless it is there already or an admin cleared these
    very findings before. Safe against a concurrent flag of the same target."""
    print_ = fingerprint(matches)
    open_already = session.scalar(
        select(
            exists().where(
                ModerationFlag.target_type == target,
                ModerationFlag.target_id == target_id,
                ModerationFlag.status == FlagStatus.OPEN,
            )
        )
    )
    if open_already or _cleared_before(session, target, target_id, print_):
        return None
    flag = ModerationFlag(
        target_type=target,
        target_id=target_id,
        reason=summary(matches),
        matches=[m.as_dict() for m in matches],
        fingerprint=print_,
        status=FlagStatus.OPEN,
        disabled_link_ids=list(disabled_link_ids),
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(flag)
    except IntegrityError:
        return None  # flagged by a concurrent request a moment ago (one open flag per target)
    record(
        session,
        actor_id=None,
        action="moderation.flag",
        target=flag,
        data={"target": f"{target.value}:{target_id}", "reason": flag.reason},
    )
    return flag


def review_product(session: Session, product: Product, *, now: datetime) -> ModerationFlag | None:
    """Check a product and flag it for the admin queue if it matches the prohibited list. The
    catalogue calls this on create, edit and import."""
    matches = check_product(product)
    if not matches:
        return None
    return raise_flag(session, FlagTarget.PRODUCT, product.id, matches, now=now)


def scan_products(
    session: Session, *, now: datetime, after_id: int = 0, batch: int = 1000
) -> tuple[int, int]:
    """Check up to `batch` active products with ids above `after_id`. Returns (the last id seen,
    how many were flagged); call again with the last id until it returns `after_id`."""
    products = session.scalars(
        select(Product)
        .where(Product.id > after_id, Product.status == ProductStatus.ACTIVE)
        .order_by(Product.id)
        .limit(batch)
    ).all()
    flagged = sum(1 for p in products if review_product(session, p, now=now) is not None)
    return (products[-1].id if products else after_id), flagged


@dataclass
class QueueItem:
    flag: ModerationFlag
    content: Content | None = None
    creator: Creator | None = None
    product: Product | None = None
    brand: Brand | None = None


def moderation_queue(
    session: Session, *, status: FlagStatus = FlagStatus.OPEN, limit: int = 200
) -> list[QueueItem]:
    """Flags with their targets, in three queries whatever the length of the queue."""
    flags = session.scalars(
        select(ModerationFlag)
        .where(ModerationFlag.status == status)
        .order_by(
            ModerationFlag.id if status == FlagStatus.OPEN else ModerationFlag.decided_at.desc()
        )
        .limit(limit)
    ).all()
    content_ids = [f.target_id for f in flags if f.target_type == FlagTarget.CONTENT]
    product_ids = [f.target_id for f in flags if f.target_type == FlagTarget.PRODUCT]
    contents = (
        {
            c.id: (c, creator)
            for c, creator in session.execute(
                select(Content, Creator)
                .join(Creator, Creator.id == Content.creator_id)
                .where(Content.id.in_(content_ids))
            )
        }
        if content_ids
        else {}
    )
    products = (
        {
            p.id: (p, brand)
            for p, brand in session.execute(
                select(Product, Brand)
                .join(Brand, Brand.id == Product.brand_id)
                .where(Product.id.in_(product_ids))
            )
        }
        if product_ids
        else {}
    )
    items = []
    for flag in flags:
        item = QueueItem(flag)
        if flag.target_type == FlagTarget.CONTENT:
            item.content, item.creator = contents.get(flag.target_id, (None, None))
        else:
            item.product, item.brand = products.get(flag.target_id, (None, None))
        items.append(item)
    return items


def decide_flag(
    session: Session,
    flag_id: int,
    decision: str,
    note: str,
    *,
    actor_id: int,
    now: datetime,
) -> Outcome | None:
    """An admin's decision on an open flag: "clear" (a false positive: the target goes on) or
    "uphold" (content rejected; product archived; their links disabled). Audited."""
    if decision not in ("clear", "uphold"):
        raise ContentError(_l("Choose clear or uphold."), 400)
    flag = session.scalar(
        select(ModerationFlag)
        .where(ModerationFlag.id == flag_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if flag is None:
        raise ContentError(_l("No such flag."), 404)
    if flag.status != FlagStatus.OPEN:
        raise ContentError(_l("This flag was already decided."), 409)
    note = note.strip()[:500]
    flag.status = FlagStatus.CLEARED if decision == "clear" else FlagStatus.UPHELD
    flag.decided_at = now
    flag.decided_by_id = actor_id
    flag.decision_note = note
    record(
        session,
        actor_id=actor_id,
        action=f"moderation.{decision}",
        target=flag,
        data={"target": f"{flag.target_type.value}:{flag.target_id}", "note": note},
    )
    if flag.target_type == FlagTarget.CONTENT:
        return _decide_content(session, flag, decision, note, actor_id=actor_id, now=now)
    return _decide_product(session, flag, decision, actor_id=actor_id)


def _decide_content(
    session: Session,
    flag: ModerationFlag,
    decision: str,
    note: str,
    *,
    actor_id: int,
    now: datetime,
) -> Outcome | None:
    content = _locked_content(session, flag.target_id)
    if content is None or content.status != ContentStatus.FLAGGED:
        return None  # the flag is decided; the piece moved on meanwhile
    if decision == "uphold":
        _move(content, ContentStatus.REJECTED)
        content.moderation_note = (note or f"Prohibited: {flag.reason}")[:500]
        switched = disable_content_links(session, content, actor_id=actor_id)
        record(session, actor_id=actor_id, action="content.reject", target=content)
        return Outcome(ContentStatus.REJECTED, changed_links=switched)
    creator = session.get(Creator, content.creator_id)
    assert creator is not None
    # Moved on first, so the links are switched back on for a piece that is no longer flagged.
    outcome = _advance(session, content, creator, actor_id=actor_id, now=now, compliance=False)
    outcome.changed_links += _enable_links(
        session, content, flag.disabled_link_ids, actor_id=actor_id
    )
    return outcome


def _enable_links(
    session: Session, content: Content, link_ids: Sequence[int], *, actor_id: int
) -> list[Link]:
    if not link_ids:
        return []
    links = session.scalars(
        select(Link).where(
            Link.id.in_(list(link_ids)),
            Link.content_id == content.id,
            Link.status == LinkStatus.DISABLED,
        )
    ).all()
    for link in links:
        set_link_status(session, link, LinkStatus.ACTIVE, actor_id=actor_id)
    return list(links)


def _decide_product(
    session: Session, flag: ModerationFlag, decision: str, *, actor_id: int
) -> Outcome | None:
    if decision == "clear":
        return None
    product = session.get(Product, flag.target_id)
    if product is None:
        return None
    if product.status != ProductStatus.ARCHIVED:
        product.status = ProductStatus.ARCHIVED
        record(
            session,
            actor_id=actor_id,
            action="product.archive",
            target=product,
            data={"reason": f"moderation flag {flag.id}"},
        )
    links = session.scalars(
        select(Link).where(Link.product_id == product.id, Link.status == LinkStatus.ACTIVE)
    ).all()
    for link in links:
        set_link_status(session, link, LinkStatus.DISABLED, actor_id=actor_id)
    return Outcome(ContentStatus.REJECTED, changed_links=list(links))


# --- the public shoppable pages -------------------------------------------------------------------


def public_creator(session: Session, handle: str) -> Creator | None:
    return session.scalar(
        select(Creator).where(Creator.handle == handle, Creator.status == CreatorStatus.APPROVED)
    )


def public_pieces(
    session: Session, creator_id: int, *, language: str | None = None, limit: int = 60
) -> list[Content]:
    """A creator's published pieces, newest first (one query)."""
    stmt = select(Content).where(
        Content.creator_id == creator_id, Content.status == ContentStatus.PUBLISHED
    )
    if language:
        stmt = stmt.where(Content.language == language)
    return list(
        session.scalars(stmt.order_by(Content.published_at.desc(), Content.id.desc()).limit(limit))
    )


def public_piece(session: Session, handle: str, content_id: int) -> tuple[Content, Creator] | None:
    """A published piece of an approved creator, addressed by handle and id (one query)."""
    row = session.execute(
        select(Content, Creator)
        .join(Creator, Creator.id == Content.creator_id)
        .where(
            Content.id == content_id,
            Creator.handle == handle,
            Creator.status == CreatorStatus.APPROVED,
            Content.status == ContentStatus.PUBLISHED,
        )
    ).first()
    return (row[0], row[1]) if row else None


def shoppable_products(session: Session, content: Content) -> list[tuple[Product, str, str]]:
    """The piece's products that can be bought through it, each with its tracked link's code and
    its brand's name (one query). A product without an active link is left out: it cannot earn."""
    rows = session.execute(
        select(Product, Link.code, Brand.name)
        .join(ContentProduct, ContentProduct.product_id == Product.id)
        .join(Brand, Brand.id == Product.brand_id)
        .join(
            Link,
            and_(
                Link.content_id == ContentProduct.content_id,
                Link.product_id == Product.id,
                Link.creator_id == content.creator_id,
                Link.status == LinkStatus.ACTIVE,
            ),
        )
        .where(
            ContentProduct.content_id == content.id,
            Product.status == ProductStatus.ACTIVE,
            Brand.status == BrandStatus.APPROVED,
        )
        .order_by(ContentProduct.id, Link.id)
    )
    out, seen = [], set()
    for product, code, brand in rows:
        if product.id not in seen:  # the oldest link of a product wins
            seen.add(product.id)
            out.append((product, code, brand))
    return out
