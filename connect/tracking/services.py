"""Links and clicks: creating links under the campaign rules, storing and deduplicating clicks,
reading stats, and click retention. Tenant rule: every read takes the creator id."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterable, Sequence
from datetime import UTC as UTC_TZ
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    case,
    delete,
    exists,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from connect.audit.services import record
from connect.brands.models import Brand, BrandDomain, BrandStatus, Product, ProductStatus
from connect.campaigns.models import (
    Campaign,
    CampaignProduct,
)
from connect.campaigns.services import campaign_open_to
from connect.content.models import Content, ContentProduct, ContentStatus
from connect.conversions.models import Order
from connect.core.db import Executor, dialect_name, move_staged, staged, upsert_insert
from connect.core.jobs import call_after_commit
from connect.core.sqlfunc import seconds_before
from connect.core.time import utcnow
from connect.creators.models import Creator, CreatorStatus
from connect.tracking.bots import is_bot
from connect.tracking.models import Click, Link, LinkStatus
from connect.tracking.urls import UnsafeDestination, check_destination

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 10  # 62**10 ≈ 8e17 codes: unguessable at any realistic click rate
DEDUP_WINDOW = timedelta(minutes=30)


class LinkError(ValueError):
    """A link request the rules refuse; the message is safe to show. `status` is the HTTP code."""

    def __init__(self, message: object, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def create_link(
    session: Session,
    creator: Creator,
    *,
    product_id: int,
    campaign_id: int | None = None,
    content_id: int | None = None,
    now: datetime | None = None,
) -> Link:
    """A tracked link for a product the creator may promote. Raises LinkError otherwise."""
    now = now or utcnow()
    if creator.status != CreatorStatus.APPROVED:
        raise LinkError(_l("Your account must be approved before you create links."), 403)
    product = session.get(Product, product_id)
    brand = session.get(Brand, product.brand_id) if product else None
    if product is None or brand is None or brand.status != BrandStatus.APPROVED:
        raise LinkError(_l("No such product."), 404)
    if product.status != ProductStatus.ACTIVE:
        raise LinkError(_l("This product is archived."))
    if product.countries and creator.country not in product.countries:
        raise LinkError(_l("This product is not sold in your country."))
    campaign = None
    if campaign_id is not None:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.brand_id != brand.id:
            raise LinkError(_l("No such campaign for this product."), 404)
        problem = campaign_open_to(session, campaign, creator, now.date())
        if problem:
            raise LinkError(problem, 403)
        covered = session.scalar(
            select(func.count()).where(CampaignProduct.campaign_id == campaign.id)
        )
        if covered and not session.scalar(
            select(
                exists().where(
                    CampaignProduct.campaign_id == campaign.id,
                    CampaignProduct.product_id == product.id,
                )
            )
        ):
            raise LinkError(_l("This product is not part of the campaign."))
    if content_id is not None:
        content = session.get(Content, content_id)
        if content is None or content.creator_id != creator.id:
            raise LinkError(_l("No such content."), 404)
        if content.status == ContentStatus.REJECTED:
            raise LinkError(_l("This content was rejected; its links cannot earn."))
        if content.status in (ContentStatus.FLAGGED, ContentStatus.SUBMITTED):
            raise LinkError(
                _l("This content is being reviewed; its links are made when it is published."),
                409,
            )
        if not session.scalar(
            select(
                exists().where(
                    ContentProduct.content_id == content.id,
                    ContentProduct.product_id == product.id,
                )
            )
        ):
            raise LinkError(_l("This content does not feature the product."))
    domains = session.scalars(
        select(BrandDomain.domain).where(
            BrandDomain.brand_id == brand.id, BrandDomain.verified_at.is_not(None)
        )
    ).all()
    try:
        destination = check_destination(product.url, domains)
    except UnsafeDestination as exc:
        raise LinkError(
            _l("The product page cannot be linked: %(reason)s.", reason=str(exc))
        ) from exc
    link = Link(
        code=_unused_code(session),
        creator_id=creator.id,
        product_id=product.id,
        brand_id=brand.id,
        campaign_id=campaign.id if campaign else None,
        content_id=content_id,
        destination_url=destination,
        status=LinkStatus.ACTIVE,
    )
    session.add(link)
    session.flush()
    # The code may have been asked for (and cached as unknown) before it existed.
    forget_links(session, [link.code])
    return link


def _unused_code(session: Session) -> str:
    for _ in range(5):
        code = new_code()
        if not session.scalar(select(exists().where(Link.code == code))):
            return code
    raise RuntimeError("could not find a free link code")  # 5 collisions in 8e17: a broken RNG


def creator_link(session: Session, creator_id: int, link_id: int) -> Link | None:
    """The creator's own link, or None (another creator's link is as good as missing)."""
    return session.scalar(select(Link).where(Link.id == link_id, Link.creator_id == creator_id))


def may_reactivate(session: Session, link: Link) -> bool:
    """A creator may switch a link back on unless its content is under review or rejected, or
    its product archived: those switched it off, and only their review turns it back on."""
    if link.content_id is not None:
        status = session.scalar(select(Content.status).where(Content.id == link.content_id))
        if status in (ContentStatus.FLAGGED, ContentStatus.REJECTED):
            return False
    product_status = session.scalar(select(Product.status).where(Product.id == link.product_id))
    return product_status == ProductStatus.ACTIVE


def set_link_status(session: Session, link: Link, status: LinkStatus, actor_id: int) -> None:
    if link.status != status:
        link.status = status
        record(session, actor_id=actor_id, action=f"link.{status.value}", target=link)
        forget_links(session, [link.code])


def forget_links(session: Session, codes: Iterable[str]) -> None:
    """Every process serves the links' new state as soon as `session` commits (the redirect's
    cache: connect/tracking/capture.py)."""
    codes = list(codes)
    if codes:
        call_after_commit(session, _forget_cached_links, codes)


def forget_brand_links(session: Session, brand_id: int) -> None:
    """forget_links for every link of a brand: its domains or its click parameter changed."""
    forget_links(session, session.scalars(select(Link.code).where(Link.brand_id == brand_id)))


def _forget_cached_links(codes: list[str]) -> None:
    current_app.extensions["connect_redirector"].forget(codes)


def links_with_stats(
    session: Session, creator_id: int, *, page: int, per_page: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """The creator's links, newest first, with click counts from one grouped query."""
    total = session.scalar(select(func.count()).where(Link.creator_id == creator_id)) or 0
    links = session.execute(
        select(Link, Product.title, Product.sku)
        .join(Product, Product.id == Link.product_id)
        .where(Link.creator_id == creator_id)
        .order_by(Link.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    counts = click_counts(session, [link.id for link, _, _ in links])
    rows = [
        {"link": link, "title": title, "sku": sku, **counts.get(link.id, _zero_counts())}
        for link, title, sku in links
    ]
    return rows, total


def _zero_counts() -> dict[str, int]:
    return {"clicks": 0, "unique": 0, "bots": 0}


def _count_columns() -> tuple[Any, Any, Any]:
    human = (Click.is_bot.is_(False)) & (Click.is_duplicate.is_(False))
    return (
        func.count(),
        func.coalesce(func.sum(case((human, 1), else_=0)), 0),
        func.coalesce(func.sum(case((Click.is_bot.is_(True), 1), else_=0)), 0),
    )


def click_counts(session: Session, link_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    if not link_ids:
        return {}
    rows = session.execute(
        select(Click.link_id, *_count_columns())
        .where(Click.link_id.in_(link_ids))
        .group_by(Click.link_id)
    )
    return {lid: {"clicks": c, "unique": int(u), "bots": int(b)} for lid, c, u, b in rows}


def clicks_by_day(
    session: Session, link_id: int, since: datetime
) -> list[tuple[date, dict[str, int]]]:
    day = func.date(Click.clicked_at)
    rows = session.execute(
        select(day, *_count_columns())
        .where(Click.link_id == link_id, Click.clicked_at >= since)
        .group_by(day)
        .order_by(day)
    )
    out = []
    for d, c, u, b in rows:
        d = d if isinstance(d, date) else date.fromisoformat(d)
        out.append((d, {"clicks": c, "unique": int(u), "bots": int(b)}))
    return out


def parse_click(payload: str | bytes, link_id: str | bytes | int | None = None) -> dict[str, Any]:
    """A click as the redirect wrote it (compact JSON; the link id beside it in the stream entry,
    inside it in the spool) -> a row for the clicks table."""
    click = json.loads(payload)
    if link_id is not None:
        click["l"] = link_id
    return click_row(click)


def click_row(c: dict[str, Any]) -> dict[str, Any]:
    """The redirect's compact click record -> a row for the clicks table. The bot flag is set
    here, off the redirect's hot path."""
    return {
        "click_id": c["i"],
        "link_id": int(c["l"]),
        "clicked_at": datetime.fromtimestamp(c["t"], tz=UTC_TZ),
        "visitor_id": c["v"],
        "ip_hash": c["h"],
        "country": c["c"],
        "user_agent": c["u"],
        "referrer_host": c["r"],
        "is_bot": is_bot(c["u"]),
        "is_duplicate": False,
    }


def store_clicks(conn: Executor, rows: Sequence[dict[str, Any]]) -> int:
    """Insert click rows, skipping click ids already stored, then flag duplicates.
    Idempotent: storing the same clicks again changes nothing."""
    if not rows:
        return 0
    lo = min(r["clicked_at"] for r in rows) - DEDUP_WINDOW
    hi = max(r["clicked_at"] for r in rows) + DEDUP_WINDOW
    if dialect_name(conn) == "postgresql":
        # COPY into a staging table, one INSERT ... SELECT that skips click ids already stored,
        # and the staging table as the duplicate check's scope: several times faster than a
        # multi-row INSERT and IN-lists of thousands of values.
        with staged(conn, Click, rows) as stage:
            conn.execute(
                move_staged(Click.__table__, stage, list(rows[0])).on_conflict_do_nothing(
                    index_elements=["click_id"]
                )
            )
            scope = tuple_(Click.link_id, Click.visitor_id).in_(
                select(stage.c.link_id, stage.c.visitor_id)
            )
            mark_duplicates(conn, scope, lo, hi)
    else:
        conn.execute(
            upsert_insert(conn, Click).on_conflict_do_nothing(index_elements=["click_id"]), rows
        )
        scope = Click.visitor_id.in_(sorted({r["visitor_id"] for r in rows})) & Click.link_id.in_(
            sorted({r["link_id"] for r in rows})
        )
        mark_duplicates(conn, scope, lo, hi)
    return len(rows)


def mark_duplicates(conn: Executor, scope: Any, lo: datetime, hi: datetime) -> None:
    """Flag every click in `scope` and [lo, hi] that follows an earlier click by the same visitor
    on the same link within DEDUP_WINDOW. Looks at stored neighbours on both sides (the caller
    widens [lo, hi] by the window), so the result does not depend on the order in which batches
    arrive."""
    previous = (
        func.lag(Click.clicked_at)
        .over(
            partition_by=(Click.link_id, Click.visitor_id),
            order_by=(Click.clicked_at, Click.click_id),
        )
        .label("previous_at")
    )
    neighbours = (
        select(Click.id, Click.clicked_at, Click.is_duplicate, previous)
        .where(scope, Click.clicked_at.between(lo, hi))
        .subquery()
    )
    repeats = select(neighbours.c.id).where(
        ~neighbours.c.is_duplicate,
        neighbours.c.previous_at
        >= seconds_before(neighbours.c.clicked_at, int(DEDUP_WINDOW.total_seconds())),
    )
    conn.execute(
        update(Click)
        .where(Click.id.in_(repeats.scalar_subquery()))
        .values(is_duplicate=True)
        .execution_options(synchronize_session=False)
    )


def months_before(moment: datetime, months: int) -> datetime:
    """The same day-of-month `months` earlier (clamped to the month's last day)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


def purge_old_clicks(session: Session, now: datetime, months: int, chunk: int = 10_000) -> int:
    """Delete up to `chunk` clicks older than `months`, keeping any click an order was attributed
    to (it backs a commission). Returns how many were deleted; call again until 0."""
    cutoff = months_before(now, months)
    doomed = (
        select(Click.id)
        .where(
            Click.clicked_at < cutoff,
            ~exists().where(Order.attributed_click_id == Click.click_id),
        )
        .limit(chunk)
    )
    result = session.execute(delete(Click).where(Click.id.in_(doomed.scalar_subquery())))
    return result.rowcount or 0
