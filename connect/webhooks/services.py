"""Brand webhooks: endpoints, the outbox other domains write events to, and delivery attempts.

Other domains call `emit` (or `emit_many` for a batch) inside their own transaction: it writes
the event and one delivery per enabled endpoint of the brand subscribed to it, and asks for the
delivery job after the commit. A rolled-back transaction sends nothing.

Signature, as receivers verify it (see the brand portal page for their snippet):

    X-Connect-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

While a rotated-out secret is still honoured, a second `v1=` carries its signature.

Retries: a failed attempt is retried after 1, 2, 4, 8 … minutes (at most BACKOFF_CAP apart)
until RETRY_FOR after the first attempt; then the delivery is given up. Like every service here,
these functions flush and never commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from connect.audit.services import record
from connect.core.jobs import enqueue_after_commit
from connect.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from connect.webhooks.transport import UnsafeURL, check_url, post

CONVERSION_ATTRIBUTED = "conversion.attributed"
COMMISSION_APPROVED = "commission.approved"
COMMISSION_REVERSED = "commission.reversed"
CONTENT_SUBMITTED = "content.submitted"
TASK_SUBMITTED = "task.submitted"
SAMPLE_REQUESTED = "sample.requested"
#: Every event a brand can subscribe to.
EVENT_TYPES = (
    CONVERSION_ATTRIBUTED,
    COMMISSION_APPROVED,
    COMMISSION_REVERSED,
    CONTENT_SUBMITTED,
    TASK_SUBMITTED,
    SAMPLE_REQUESTED,
)
#: Sent by "Send test event" to one endpoint, subscribed or not.
PING = "ping"

BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
RETRY_FOR = timedelta(days=3)
#: How long the secret before a rotation still signs (as a second v1=).
ROTATION_OVERLAP = timedelta(hours=24)
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
MAX_ENDPOINTS = 20
DELIVERY_JOB = "workers.jobs.deliver_webhooks"
DELIVERY_QUEUE = "webhooks"
USER_AGENT = "Connect-Webhooks/1.0"


class WebhookError(ValueError):
    """A request the rules refuse. `code` names the reason for the portal's message."""

    def __init__(self, message: str, code: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


# -- endpoints ---------------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _clean_events(events: Iterable[str]) -> list[str]:
    chosen = sorted(set(events))
    if not chosen:
        raise WebhookError("Choose at least one event.", "no_events")
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise WebhookError(f"Unknown event: {', '.join(unknown)}.", "unknown_event")
    return chosen


def create_endpoint(
    session: Session,
    brand_id: int,
    *,
    url: str,
    events: Iterable[str],
    description: str = "",
    actor_id: int | None,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint. Returns it with its secret, which is shown once.
    Raises UnsafeURL for an address webhooks may not go to, WebhookError for the rest."""
    chosen = _clean_events(events)
    check_url(url, allow_private=allow_private)
    count = session.scalar(select(func.count()).where(WebhookEndpoint.brand_id == brand_id))
    if (count or 0) >= MAX_ENDPOINTS:
        raise WebhookError("A brand can have at most 20 endpoints.", "too_many")
    secret = new_secret()
    endpoint = WebhookEndpoint(
        brand_id=brand_id,
        url=url.strip(),
        description=description.strip()[:200],
        events=chosen,
        secret=secret,
        enabled=True,
        created_by_id=actor_id,
    )
    session.add(endpoint)
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action="webhook_endpoint.create",
        target=endpoint,
        data={"brand_id": brand_id, "url": endpoint.url, "events": chosen},
    )
    return endpoint, secret


def update_events(
    session: Session, endpoint: WebhookEndpoint, events: Iterable[str], *, actor_id: int | None
) -> None:
    endpoint.events = _clean_events(events)
    record(
        session,
        actor_id=actor_id,
        action="webhook_endpoint.events",
        target=endpoint,
        data={"events": endpoint.events},
    )


def endpoint_of(session: Session, brand_id: int, endpoint_id: int) -> WebhookEndpoint | None:
    """The brand's endpoint, or None (another brand's endpoint is as good as missing)."""
    return session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.brand_id == brand_id
        )
    )


def endpoints(session: Session, brand_id: int) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.brand_id == brand_id)
            .order_by(WebhookEndpoint.id)
        )
    )


def set_enabled(
    session: Session, endpoint: WebhookEndpoint, enabled: bool, *, actor_id: int | None
) -> None:
    if endpoint.enabled == enabled:
        return
    endpoint.enabled = enabled
    record(
        session,
        actor_id=actor_id,
        action="webhook_endpoint.enable" if enabled else "webhook_endpoint.disable",
        target=endpoint,
    )


def reseal_secrets(session: Session) -> int:
    """Write every endpoint's secrets again, sealed under the newest of DATA_KEYS: the last step
    of a key rotation, after which the old key can leave DATA_KEYS. Returns the count."""
    endpoints = session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
    for endpoint in endpoints:
        flag_modified(endpoint, "secret")
        flag_modified(endpoint, "previous_secret")
    return len(endpoints)


def rotate_secret(
    session: Session, endpoint: WebhookEndpoint, *, actor_id: int | None, now: datetime
) -> str:
    """A new secret (returned, shown once); the old one keeps signing for ROTATION_OVERLAP."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    record(session, actor_id=actor_id, action="webhook_endpoint.rotate", target=endpoint)
    return endpoint.secret


def delete_endpoint(session: Session, endpoint: WebhookEndpoint, *, actor_id: int | None) -> None:
    """Remove the endpoint and its delivery history (rows cascade)."""
    record(
        session,
        actor_id=actor_id,
        action="webhook_endpoint.delete",
        target=endpoint,
        data={"brand_id": endpoint.brand_id, "url": endpoint.url},
    )
    session.delete(endpoint)
    session.flush()


# -- the outbox --------------------------------------------------------------------------------


def emit(session: Session, brand_id: int, event: str, data: dict[str, Any]) -> None:
    """Raise `event` for the brand, inside the caller's transaction (see the module doc)."""
    emit_many(session, [(brand_id, event, data)])


Subscriptions = dict[tuple[int, str], list[int]]


def subscriptions(session: Session, brand_ids: Iterable[int]) -> Subscriptions:
    """(brand id, event) -> the enabled endpoints subscribed, for these brands. One query."""
    subscribed: Subscriptions = defaultdict(list)
    brand_ids = set(brand_ids)
    if not brand_ids:
        return subscribed
    for endpoint_id, brand_id, events in session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.brand_id, WebhookEndpoint.events)
        .where(WebhookEndpoint.brand_id.in_(brand_ids), WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id)
    ):
        for event in events:
            subscribed[(brand_id, event)].append(endpoint_id)
    return subscribed


def emit_many(
    session: Session,
    items: Iterable[tuple[int, str, dict[str, Any]]],
    subscribed: Subscriptions | None = None,
) -> int:
    """`emit` for a batch: three statements whatever its size (endpoints, events, deliveries),
    and only the first when no brand in it subscribes. `subscribed` (from `subscriptions`)
    saves the first. Returns how many deliveries it wrote."""
    items = list(items)
    if not items:
        return 0
    for _, event, _ in items:
        if event not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event {event!r}")
    if subscribed is None:
        subscribed = subscriptions(session, {b for b, _, _ in items})
    wanted = [(b, e, d) for b, e, d in items if subscribed.get((b, e))]
    if not wanted:
        return 0
    event_ids = session.scalars(
        insert(WebhookEvent).returning(WebhookEvent.id, sort_by_parameter_order=True),
        [{"brand_id": b, "type": e, "data": d} for b, e, d in wanted],
    ).all()
    rows = [
        {"event_id": event_id, "endpoint_id": endpoint_id}
        for event_id, (b, e, _) in zip(event_ids, wanted, strict=True)
        for endpoint_id in subscribed[(b, e)]
    ]
    session.execute(insert(WebhookDelivery), rows)
    _request_delivery(session)
    return len(rows)


def _request_delivery(session: Session) -> None:
    # One job drains every due delivery; the per-minute cron catches a lost enqueue.
    enqueue_after_commit(
        session, DELIVERY_JOB, queue_name=DELIVERY_QUEUE, job_id="deliver-webhooks"
    )


def send_test(
    session: Session, endpoint: WebhookEndpoint, *, actor_id: int | None, now: datetime
) -> WebhookDelivery:
    """A `ping` event to this one endpoint."""
    if not endpoint.enabled:
        raise WebhookError("Enable the endpoint before sending to it.", "disabled", 409)
    event = WebhookEvent(
        brand_id=endpoint.brand_id,
        type=PING,
        data={"endpoint_id": endpoint.id, "message": "A test event from Connect."},
    )
    delivery = WebhookDelivery(event=event, endpoint_id=endpoint.id, next_attempt_at=now)
    session.add(delivery)
    session.flush()
    record(session, actor_id=actor_id, action="webhook_endpoint.test", target=endpoint)
    _request_delivery(session)
    return delivery


def replay(
    session: Session, original: WebhookDelivery, *, actor_id: int | None, now: datetime
) -> WebhookDelivery:
    """Send a delivery's event again to its endpoint, as a new delivery (same event id, so a
    receiver that already handled it can tell)."""
    endpoint = session.get(WebhookEndpoint, original.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        raise WebhookError("Enable the endpoint before sending to it.", "disabled", 409)
    delivery = WebhookDelivery(
        event_id=original.event_id,
        endpoint_id=original.endpoint_id,
        next_attempt_at=now,
        replay_of_id=original.id,
    )
    session.add(delivery)
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action="webhook_delivery.replay",
        target=delivery,
        data={"replay_of": original.id},
    )
    _request_delivery(session)
    return delivery


# -- reading deliveries ------------------------------------------------------------------------

PAGE_SIZE = 50


def deliveries_page(
    session: Session, endpoint: WebhookEndpoint, page: int
) -> tuple[list[WebhookDelivery], int]:
    total = session.scalar(select(func.count()).where(WebhookDelivery.endpoint_id == endpoint.id))
    rows = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return list(rows), total or 0


def delivery_of(session: Session, brand_id: int, delivery_id: int) -> WebhookDelivery | None:
    """The brand's delivery, or None (another brand's is as good as missing)."""
    return session.scalar(
        select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id == delivery_id, WebhookEndpoint.brand_id == brand_id)
    )


def attempts_of(session: Session, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(
        session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id)
            .order_by(WebhookAttempt.number)
        )
    )


# -- signing and sending -----------------------------------------------------------------------


def body_of(event: WebhookEvent) -> bytes:
    """The request body: the same bytes on every attempt of the event."""
    return json.dumps(
        {
            "id": str(event.uuid),
            "type": event.type,
            "created": event.created_at.isoformat(),
            "brand_id": event.brand_id,
            "data": event.data,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>." + body under the endpoint's secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(endpoint: WebhookEndpoint, timestamp: int, body: bytes, now: datetime) -> str:
    parts = [f"t={timestamp}", "v1=" + signature(endpoint.secret, timestamp, body)]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until is not None
        and now < endpoint.previous_secret_until
    ):
        parts.append("v1=" + signature(endpoint.previous_secret, timestamp, body))
    return ",".join(parts)


def backoff(attempt: int) -> timedelta:
    """The wait after failed attempt number `attempt` (1-based): 1, 2, 4 … minutes, capped."""
    return min(BACKOFF_FIRST * 2 ** min(attempt - 1, 30), BACKOFF_CAP)


def claim_due(session: Session, now: datetime) -> WebhookDelivery | None:
    """The next due delivery, locked for this transaction. SKIP LOCKED: concurrent workers take
    different rows, so no attempt is ever sent twice; a killed worker's lock goes with its
    connection and the row is due again."""
    return session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.FAILED)),
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


@dataclass(frozen=True)
class AttemptResult:
    delivery_id: int
    status: DeliveryStatus
    status_code: int | None


def attempt(
    session: Session, delivery: WebhookDelivery, *, now: datetime, allow_private: bool
) -> AttemptResult:
    """Send one attempt of a (locked) delivery and record it."""
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    event = session.get(WebhookEvent, delivery.event_id)
    assert endpoint is not None and event is not None  # rows cascade with their endpoint
    if not endpoint.enabled:
        delivery.status = DeliveryStatus.GIVEN_UP
        delivery.last_error = "The endpoint is disabled."
        session.flush()
        return AttemptResult(delivery.id, delivery.status, None)

    number = delivery.attempts + 1
    body = body_of(event)
    try:
        # Checked again at every attempt: the name may point somewhere else by now.
        target = check_url(endpoint.url, allow_private=allow_private)
    except UnsafeURL as exc:
        status_code, error, excerpt, duration = None, f"Refused: {exc}", "", 0
    else:
        timestamp = int(now.timestamp())
        response = post(
            target,
            body,
            {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Connect-Event": event.type,
                "X-Connect-Event-Id": str(event.uuid),
                "X-Connect-Delivery": str(delivery.id),
                "X-Connect-Timestamp": str(timestamp),
                "X-Connect-Signature": signature_header(endpoint, timestamp, body, now),
            },
        )
        status_code, error = response.status_code, response.error
        excerpt, duration = response.excerpt, response.duration_ms
    ok = not error and status_code is not None and 200 <= status_code < 300

    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=number,
            attempted_at=now,
            status_code=status_code,
            duration_ms=duration,
            error=error[:300],
            response_excerpt=excerpt[:500],
        )
    )
    delivery.attempts = number
    delivery.first_attempt_at = delivery.first_attempt_at or now
    delivery.last_attempt_at = now
    delivery.last_status_code = status_code
    delivery.last_error = error[:300]
    if ok:
        delivery.status = DeliveryStatus.SUCCEEDED
    else:
        retry_at = now + backoff(number)
        if retry_at > delivery.first_attempt_at + RETRY_FOR:
            delivery.status = DeliveryStatus.GIVEN_UP
        else:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = retry_at
    session.flush()
    return AttemptResult(delivery.id, delivery.status, status_code)


def purge_deliveries(session: Session, now: datetime, days: int = 30) -> int:
    """Forget finished deliveries older than `days`, and events no delivery needs any more."""
    cutoff = now - timedelta(days=days)
    gone = session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.status.in_((DeliveryStatus.SUCCEEDED, DeliveryStatus.GIVEN_UP)),
            WebhookDelivery.created_at < cutoff,
        )
    ).rowcount
    session.execute(
        delete(WebhookEvent).where(
            WebhookEvent.created_at < cutoff,
            ~exists().where(WebhookDelivery.event_id == WebhookEvent.id),
        )
    )
    return gone or 0
