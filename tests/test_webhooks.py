"""Brand webhooks: signed deliveries a receiver can verify, retries with backoff, no SSRF,
emission from the real money path, and the portal (roles, tenants, replay, rotation)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connect.accounts.models import Role
from connect.brands.models import BrandMember, BrandRole
from connect.campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignStatus,
    MemberStatus,
    Visibility,
)
from connect.content.models import Content, ContentKind, ContentProduct, ContentStatus
from connect.content.services import publish
from connect.conversions.attribution import attribute_batch
from connect.conversions.schemas import OrderIn, RefundIn
from connect.conversions.services import approve_due, record_order, record_refund
from connect.core.jobs import queue, redis_connection
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.webhooks import services, transport
from connect.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from connect.webhooks.tasks import deliver_due
from tests import factories
from tests.conftest import csrf_token, login
from tests.conversion_helpers import click_on, link_for

NOW = utcnow().replace(microsecond=0)
# Deliveries are due from their insert time (the real clock); the tests' clock starts later.
T0 = NOW + timedelta(hours=1)


# -- a local receiver ---------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that answers the queued statuses (then 200) and checks every
    request's signature with the secret on its own, as a brand's server would."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests: list[dict[str, Any]] = []
        self.secret = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                        "verified": verify(
                            receiver.secret, body, self.headers.get("X-Connect-Signature", "")
                        ),
                    }
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.end_headers()
                self.wfile.write(b"receiver says " + str(status).encode() + b"x" * 2000)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/connect?src=cx"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify(secret: str, body: bytes, header: str) -> int | None:
    """The receiver's check (independent of connect's code): the timestamp if a v1 matches."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return None
    expected = hmac.new(
        secret.encode(), stamps[0].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    if any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1"):
        return int(stamps[0])
    return None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def shop(app: Flask) -> dict[str, int]:
    """Two brands (acme: owner and viewer; other: staff), a creator and a product, by id.
    Portal tests use it as is: their requests must run outside any app context."""
    with app.app_context():
        brand = factories.brand("acme", staff_email="owner@acme.example")
        other = factories.brand("other", staff_email="staff@other.example")
        viewer = factories.user(Role.BRAND, email="viewer@acme.example")
        db.session.add(BrandMember(brand_id=brand.id, user_id=viewer.id, role=BrandRole.VIEWER))
        creator = factories.creator(handle="alice")
        product = factories.product(brand, "SKU-1")
        factories.product(other, "O-1")
        db.session.commit()
        ids = {"brand": brand.id, "other": other.id, "creator": creator.id, "product": product.id}
        db.session.remove()
    return ids


@pytest.fixture
def live(app: Flask, shop: dict[str, int]) -> Iterator[dict[str, int]]:
    """`shop` inside an app context, for the service-level tests."""
    with app.app_context():
        yield shop
        db.session.remove()


def endpoint(brand_id: int, url: str, events: list[str], **kw: Any) -> tuple[WebhookEndpoint, str]:
    return services.create_endpoint(
        db.session, brand_id, url=url, events=events, actor_id=None, allow_private=True, **kw
    )


def deliveries() -> list[WebhookDelivery]:
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def run_at(when: Any, allow_private: bool = True) -> int:
    return deliver_due(db.session, lambda: when, allow_private=allow_private).attempts


# -- signing, retries, giving up ----------------------------------------------------------------


def test_receiver_verifies_and_retries_back_off_until_success(live, receiver) -> None:
    hook, secret = endpoint(live["brand"], receiver.url, ["commission.approved"])
    receiver.secret = secret
    assert secret.startswith("whsec_") and hook.secret == secret
    services.emit(
        db.session,
        live["brand"],
        "commission.approved",
        {"commission_id": 7, "amount": {"amount": 250, "currency": "EUR"}},
    )
    db.session.commit()
    (delivery,) = deliveries()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0
    receiver.statuses = [500, 503]

    assert run_at(T0) == 1
    db.session.refresh(delivery)
    assert delivery.status == DeliveryStatus.FAILED
    assert (delivery.attempts, delivery.last_status_code) == (1, 500)
    assert delivery.next_attempt_at == T0 + timedelta(minutes=1)
    assert run_at(T0 + timedelta(seconds=59)) == 0  # not due yet: nothing is sent
    assert run_at(T0 + timedelta(minutes=1)) == 1
    db.session.refresh(delivery)
    assert delivery.next_attempt_at == T0 + timedelta(minutes=3)  # 1 + 2 minutes
    assert run_at(T0 + timedelta(minutes=3)) == 1
    db.session.refresh(delivery)
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (3, 200, "")
    assert run_at(T0 + timedelta(hours=1)) == 0  # delivered: never sent again

    attempts = db.session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(WebhookAttempt.number)
    ).all()
    assert [(a.number, a.status_code) for a in attempts] == [(1, 500), (2, 503), (3, 200)]
    assert [a.attempted_at for a in attempts] == [
        T0,
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=3),
    ]
    assert all(len(a.response_excerpt) == 500 for a in attempts)  # an excerpt, no more

    assert len(receiver.requests) == 3
    stamps = [r["verified"] for r in receiver.requests]
    assert stamps == [int(a.attempted_at.timestamp()) for a in attempts]
    event = db.session.get(WebhookEvent, delivery.event_id)
    bodies = {r["body"] for r in receiver.requests}
    assert len(bodies) == 1  # the same bytes on every attempt
    body = json.loads(bodies.pop())
    assert body == {
        "id": str(event.uuid),
        "type": "commission.approved",
        "created": event.created_at.isoformat(),
        "brand_id": live["brand"],
        "data": {"commission_id": 7, "amount": {"amount": 250, "currency": "EUR"}},
    }
    first = receiver.requests[0]
    assert first["path"] == "/hooks/connect?src=cx"
    assert first["headers"]["X-Connect-Event-Id"] == str(event.uuid)
    assert first["headers"]["X-Connect-Event"] == "commission.approved"
    assert first["headers"]["X-Connect-Timestamp"] == str(stamps[0])
    # a tampered body or another secret does not verify
    assert verify(secret, first["body"] + b" ", first["headers"]["X-Connect-Signature"]) is None
    assert verify("whsec_other", first["body"], first["headers"]["X-Connect-Signature"]) is None


def test_gives_up_three_days_after_the_first_attempt(live, receiver) -> None:
    _, receiver.secret = endpoint(live["brand"], receiver.url, ["commission.reversed"])
    services.emit(db.session, live["brand"], "commission.reversed", {"commission_id": 1})
    db.session.commit()
    receiver.statuses = [500] * 100
    (delivery,) = deliveries()
    now, waits = T0, []
    while delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
        assert run_at(now) == 1
        db.session.refresh(delivery)
        if delivery.status == DeliveryStatus.FAILED:
            waits.append(delivery.next_attempt_at - now)
            now = delivery.next_attempt_at
    assert delivery.status == DeliveryStatus.GIVEN_UP
    minutes = [int(w.total_seconds() // 60) for w in waits]
    assert minutes[:9] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert set(minutes[9:]) == {360}  # capped at 6 hours
    assert delivery.last_attempt_at <= T0 + timedelta(days=3) < now + timedelta(hours=6)
    assert delivery.attempts == len(receiver.requests) == len(waits) + 1
    assert run_at(now + timedelta(days=1)) == 0


def test_redirects_are_not_followed(live, receiver) -> None:
    _, receiver.secret = endpoint(live["brand"], receiver.url, ["content.submitted"])
    services.emit(db.session, live["brand"], "content.submitted", {"content_id": 1})
    db.session.commit()
    receiver.statuses = [302]
    run_at(T0)
    (delivery,) = deliveries()
    assert delivery.status == DeliveryStatus.FAILED and delivery.last_status_code == 302
    assert "Redirects are not followed" in delivery.last_error
    assert len(receiver.requests) == 1


def test_an_unreachable_endpoint_is_recorded_and_retried(live) -> None:
    endpoint(live["brand"], "http://127.0.0.1:9/nobody-listens", ["content.submitted"])
    services.emit(db.session, live["brand"], "content.submitted", {"content_id": 1})
    db.session.commit()
    run_at(T0)
    (delivery,) = deliveries()
    assert delivery.status == DeliveryStatus.FAILED and delivery.last_status_code is None
    assert delivery.last_error == "Connection refused."


def test_rotation_signs_with_both_secrets_for_a_day(live, receiver) -> None:
    hook, old = endpoint(live["brand"], receiver.url, ["content.submitted"])
    new = services.rotate_secret(db.session, hook, actor_id=None, now=T0)
    assert new != old and hook.secret == new
    services.emit(db.session, live["brand"], "content.submitted", {"content_id": 1})
    services.emit(db.session, live["brand"], "content.submitted", {"content_id": 2})
    db.session.commit()
    receiver.secret = old
    deliver_due(db.session, lambda: T0 + timedelta(hours=23), allow_private=True, max_attempts=1)
    receiver.secret = new
    deliver_due(db.session, lambda: T0 + timedelta(hours=25), allow_private=True)
    first, second = receiver.requests
    assert first["verified"] and verify(new, first["body"], first["headers"]["X-Connect-Signature"])
    assert second["verified"]
    assert not verify(old, second["body"], second["headers"]["X-Connect-Signature"])


def test_the_delivery_job_runs_on_a_real_worker(live, receiver) -> None:
    _, receiver.secret = endpoint(live["brand"], receiver.url, ["content.submitted"])
    services.emit(db.session, live["brand"], "content.submitted", {"content_id": 9})
    assert queue("webhooks").count == 0  # not before the commit
    db.session.commit()
    q = queue("webhooks")
    assert q.count == 1
    SimpleWorker([q], connection=redis_connection()).work(burst=True)
    db.session.expire_all()
    (delivery,) = deliveries()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert len(receiver.requests) == 1 and receiver.requests[0]["verified"]


def test_two_workers_never_claim_the_same_delivery(live, receiver) -> None:
    endpoint(live["brand"], receiver.url, ["content.submitted"])
    services.emit(db.session, live["brand"], "content.submitted", {"content_id": 1})
    services.emit(db.session, live["brand"], "content.submitted", {"content_id": 2})
    db.session.commit()
    with Session(db.engine) as one, Session(db.engine) as two, Session(db.engine) as three:
        first = services.claim_due(one, T0)
        second = services.claim_due(two, T0)
        assert first is not None and second is not None and first.id != second.id
        assert services.claim_due(three, T0) is None  # both rows are taken
        one.rollback()  # a worker killed before recording: its row is due again
        again = services.claim_due(three, T0)
        assert again is not None and again.id == first.id
        two.rollback()
        three.rollback()
    assert receiver.requests == []


# -- SSRF ---------------------------------------------------------------------------------------

REFUSED = [
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.5/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
    "https://2130706433/hook",  # 127.0.0.1 written as a number
    "https://[::1]/hook",
    "https://[::]/hook",
    "https://[fe80::1]/hook",
    "https://[fc00::1]/hook",
    "https://[ff02::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[2002:7f00:1::]/hook",  # 6to4 around 127.0.0.1
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_addresses_are_refused_at_subscription(live, url: str) -> None:
    with pytest.raises(transport.UnsafeURL) as exc:
        services.create_endpoint(
            db.session,
            live["brand"],
            url=url,
            events=["content.submitted"],
            actor_id=None,
            allow_private=False,
        )
    assert exc.value.code == "private"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://93.184.216.34/hook", "scheme"),
        ("ftp://93.184.216.34/hook", "scheme"),
        ("https://user:pw@93.184.216.34/hook", "credentials"),
        ("https:///hook", "invalid"),
        ("https://93.184.216.34:99999/", "invalid"),
        ("https://no-such-host.invalid/hook", "resolve"),
        ("https://" + "a" * 2050 + ".com/", "length"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: str, code: str) -> None:
    with pytest.raises(transport.UnsafeURL) as exc:
        transport.check_url(url, allow_private=False)
    assert exc.value.code == code


def test_public_address_is_accepted_and_http_only_when_private_is_allowed() -> None:
    target = transport.check_url("https://93.184.216.34/in?x=1", allow_private=False)
    assert (target.scheme, target.address, target.port, target.path) == (
        "https",
        "93.184.216.34",
        443,
        "/in?x=1",
    )
    assert transport.check_url("http://127.0.0.1:8000/", allow_private=True).port == 8000


def test_every_address_of_a_name_must_be_public(monkeypatch) -> None:
    answers = [(2, 1, 6, "", ("93.184.216.34", 443)), (2, 1, 6, "", ("10.0.0.7", 443))]
    monkeypatch.setattr(transport, "_getaddrinfo", lambda host, port: answers)
    with pytest.raises(transport.UnsafeURL):
        transport.check_url("https://hooks.example.com/", allow_private=False)


def test_dns_rebinding_is_refused_at_delivery(live, receiver, monkeypatch) -> None:
    """The name was public when subscribed and points at loopback when delivered to."""
    answer = {"ip": "93.184.216.34"}
    monkeypatch.setattr(
        transport,
        "_getaddrinfo",
        lambda host, port: [(2, 1, 6, "", (answer["ip"], port))],
    )
    services.create_endpoint(
        db.session,
        live["brand"],
        url=f"https://hooks.acme.example:{receiver.port}/in",
        events=["content.submitted"],
        actor_id=None,
        allow_private=False,
    )
    services.emit(db.session, live["brand"], "content.submitted", {"content_id": 1})
    db.session.commit()
    answer["ip"] = "127.0.0.1"
    assert run_at(T0, allow_private=False) == 1
    (delivery,) = deliveries()
    assert delivery.status == DeliveryStatus.FAILED and delivery.last_status_code is None
    assert delivery.last_error.startswith("Refused: The host hooks.acme.example resolves to")
    assert receiver.requests == []  # nothing reached the private address


def test_the_request_goes_to_the_checked_address(receiver) -> None:
    """The host name is only the Host header: the connection is to the vetted address."""
    target = transport.Target("http", "hooks.example", receiver.port, "/x", "127.0.0.1")
    response = transport.post(target, b"{}", {"Content-Type": "application/json"})
    assert response.ok and response.status_code == 200
    assert receiver.requests[0]["headers"]["Host"] == f"hooks.example:{receiver.port}"


def test_a_trickling_server_is_cut_off(monkeypatch) -> None:
    """A server that answers one byte at a time never keeps a delivery (and its lock) for long."""
    import socket
    import time

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                if stop.is_set():
                    break
                conn.send(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    monkeypatch.setattr(transport, "TOTAL_TIMEOUT", 1.0)
    target = transport.Target("http", "127.0.0.1", listener.getsockname()[1], "/", "127.0.0.1")
    started = time.monotonic()
    response = transport.post(target, b"{}", {})
    stop.set()
    listener.close()
    assert not response.ok and response.status_code is None and response.error
    assert time.monotonic() - started < 5


def test_ip_classification() -> None:
    import ipaddress

    assert transport.is_public(ipaddress.ip_address("93.184.216.34"))
    assert transport.is_public(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))
    for ip in ("127.0.0.1", "::ffff:192.168.0.1", "fd00::1", "198.18.0.1", "2001:db8::1"):
        assert not transport.is_public(ipaddress.ip_address(ip)), ip


# -- emission from the money path ---------------------------------------------------------------


def test_attribution_approval_and_refund_emit_to_subscribed_endpoints_only(live) -> None:
    brand, other = live["brand"], live["other"]
    creator = db.session.get(Creator, live["creator"])
    conv, _ = endpoint(brand, "http://127.0.0.1:9/conv", ["conversion.attributed"])
    appr, _ = endpoint(brand, "http://127.0.0.1:9/appr", ["commission.approved"])
    off, _ = endpoint(brand, "http://127.0.0.1:9/off", ["conversion.attributed"])
    services.set_enabled(db.session, off, False, actor_id=None)
    endpoint(other, "http://127.0.0.1:9/other", list(services.EVENT_TYPES))
    link = link_for(creator, live["product"])
    data = OrderIn.model_validate(
        {
            "order_id": "SO-1",
            "ordered_at": (NOW - timedelta(minutes=5)).isoformat(),
            "currency": "EUR",
            "click_id": click_on(link, at=NOW - timedelta(hours=1)),
            "customer_email": "buyer@example.com",
            "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": 2500}],
        }
    )
    record_order(db.session, brand, data, NOW)
    db.session.commit()
    attribute_batch(db.session, NOW)
    db.session.commit()

    (attributed,) = deliveries()
    assert attributed.endpoint_id == conv.id
    event = db.session.get(WebhookEvent, attributed.event_id)
    assert (event.brand_id, event.type) == (brand, "conversion.attributed")
    assert event.data == {
        "order_id": "SO-1",
        "ordered_at": (NOW - timedelta(minutes=5)).isoformat(),
        "creator_id": live["creator"],
        "campaign_id": None,
        "link_id": link.id,
        "order_total": {"amount": 5000, "currency": "EUR"},
        "commission": {"amount": 250, "currency": "EUR"},
        "commission_status": "pending",
    }
    text = json.dumps(event.data)
    assert "alice" not in text and "@" not in text  # no creator or buyer private data
    assert queue("webhooks").count == 1

    approve_due(db.session, NOW + timedelta(days=31))
    db.session.commit()
    approved = deliveries()[1:]
    assert [d.endpoint_id for d in approved] == [appr.id]
    data = db.session.get(WebhookEvent, approved[0].event_id).data
    assert data["order_id"] == "SO-1" and data["amount"] == {"amount": 250, "currency": "EUR"}

    record_refund(
        db.session,
        brand,
        "SO-1",
        RefundIn(idempotency_key="r1", refunded_at=NOW, lines=[{"line_no": 1, "quantity": 1}]),
        NOW,
    )
    db.session.commit()
    assert len(deliveries()) == 2  # nobody subscribed to commission.reversed

    services.update_events(
        db.session, appr, ["commission.approved", "commission.reversed"], actor_id=None
    )
    record_refund(
        db.session,
        brand,
        "SO-1",
        RefundIn(idempotency_key="r2", refunded_at=NOW, lines=None),
        NOW,
    )
    db.session.commit()
    reversed_ = deliveries()[2:]
    assert [d.endpoint_id for d in reversed_] == [appr.id]
    data = db.session.get(WebhookEvent, reversed_[0].event_id).data
    assert data["status"] == "reversed"
    assert data["amount"] == {"amount": 125, "currency": "EUR"}  # this reversal's part
    assert data["net"] == {"amount": 0, "currency": "EUR"}


def test_a_brand_without_subscribers_gets_no_rows(live) -> None:
    assert services.emit_many(db.session, [(live["brand"], "task.submitted", {"id": 1})]) == 0
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    with pytest.raises(ValueError, match="unknown webhook event"):
        services.emit(db.session, live["brand"], "order.exploded", {})


def test_emit_many_writes_one_event_per_item_and_a_delivery_per_subscriber(live) -> None:
    brand, other = live["brand"], live["other"]
    a1, _ = endpoint(brand, "http://127.0.0.1:9/a1", ["task.submitted", "sample.requested"])
    a2, _ = endpoint(brand, "http://127.0.0.1:9/a2", ["task.submitted"])
    o1, _ = endpoint(other, "http://127.0.0.1:9/o1", ["sample.requested"])
    written = services.emit_many(
        db.session,
        [
            (brand, "task.submitted", {"task_id": 1}),
            (brand, "sample.requested", {"sample_id": 2}),
            (other, "sample.requested", {"sample_id": 3}),
            (other, "task.submitted", {"task_id": 4}),  # nobody at other subscribes to it
        ],
    )
    db.session.commit()
    assert written == 4
    events = db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
    assert [(e.brand_id, e.type, e.data) for e in events] == [
        (brand, "task.submitted", {"task_id": 1}),
        (brand, "sample.requested", {"sample_id": 2}),
        (other, "sample.requested", {"sample_id": 3}),
    ]
    assert len({e.uuid for e in events}) == 3
    pairs = {(d.event_id, d.endpoint_id) for d in deliveries()}
    assert pairs == {
        (events[0].id, a1.id),
        (events[0].id, a2.id),
        (events[1].id, a1.id),
        (events[2].id, o1.id),
    }


def test_purge_forgets_only_finished_deliveries_past_30_days(live) -> None:
    endpoint(live["brand"], "http://127.0.0.1:9/p", ["task.submitted"])
    for n in range(3):
        services.emit(db.session, live["brand"], "task.submitted", {"task_id": n})
    old_done, old_waiting, new_done = deliveries()
    old_done.status = new_done.status = DeliveryStatus.SUCCEEDED
    old_done.created_at = old_waiting.created_at = NOW - timedelta(days=31)
    db.session.get(WebhookEvent, old_done.event_id).created_at = NOW - timedelta(days=31)
    db.session.commit()
    assert services.purge_deliveries(db.session, NOW) == 1
    db.session.commit()
    assert [d.id for d in deliveries()] == [old_waiting.id, new_done.id]
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 2


def test_content_submission_emits_content_submitted(live) -> None:
    brand, creator = live["brand"], db.session.get(Creator, live["creator"])
    hook, _ = endpoint(brand, "http://127.0.0.1:9/c", ["content.submitted"])
    campaign = Campaign(
        brand_id=brand,
        name="Invite",
        starts_on=NOW.date() - timedelta(days=1),
        status=CampaignStatus.ACTIVE,
        visibility=Visibility.INVITE,
        default_rate_bps=800,
        currency="EUR",
    )
    db.session.add(campaign)
    db.session.flush()
    db.session.add(
        CampaignMember(campaign_id=campaign.id, creator_id=creator.id, status=MemberStatus.APPROVED)
    )
    piece = Content(
        creator_id=creator.id,
        campaign_id=campaign.id,
        kind=ContentKind.REVIEW,
        title="Honest review",
        language="en",
        products=[ContentProduct(product_id=live["product"])],
    )
    db.session.add(piece)
    db.session.flush()
    publish(db.session, piece, creator, actor_id=creator.user_id, now=NOW)
    db.session.commit()
    assert piece.status == ContentStatus.SUBMITTED
    (delivery,) = deliveries()
    event = db.session.get(WebhookEvent, delivery.event_id)
    assert (delivery.endpoint_id, event.type) == (hook.id, "content.submitted")
    assert event.data["content_id"] == piece.id and event.data["campaign_id"] == campaign.id
    assert event.data["product_ids"] == [live["product"]]


# -- the portal ---------------------------------------------------------------------------------


def signed_in(app: Flask, email: str) -> Any:
    client = app.test_client()
    assert login(client, email, factories.PASSWORD).status_code == 302
    return client


def post_form(client: Any, path: str, data: dict[str, Any] | None = None) -> Any:
    token = csrf_token(client, "/brand/acme/webhooks")
    return client.post(path, data={"csrf_token": token, **(data or {})})


def count(model: type) -> int:
    with_ctx = db.session.scalar(select(func.count()).select_from(model))
    return with_ctx or 0


def test_portal_creates_shows_the_secret_once_and_refuses_private(app, shop, monkeypatch):
    owner = signed_in(app, "owner@acme.example")
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", False)
    resp = post_form(
        owner,
        "/brand/acme/webhooks",
        {"url": "https://169.254.169.254/latest", "events": ["conversion.attributed"]},
    )
    assert resp.status_code == 422
    assert "private or reserved address" in resp.get_data(as_text=True)
    resp = post_form(owner, "/brand/acme/webhooks", {"url": "https://93.184.216.34/in"})
    assert resp.status_code == 422 and "Choose at least one event." in resp.get_data(as_text=True)
    resp = post_form(
        owner,
        "/brand/acme/webhooks",
        {"url": "https://93.184.216.34/in", "events": ["conversion.attributed", "nope"]},
    )
    assert resp.status_code == 422
    with app.app_context():
        assert count(WebhookEndpoint) == 0

    resp = post_form(
        owner,
        "/brand/acme/webhooks",
        {
            "url": "https://93.184.216.34/in",
            "description": "ERP",
            "events": ["conversion.attributed", "commission.approved"],
        },
    )
    assert resp.status_code == 200
    with app.app_context():
        (hook,) = db.session.scalars(select(WebhookEndpoint)).all()
        secret, hook_id = hook.secret, hook.id
        assert hook.events == ["commission.approved", "conversion.attributed"]
        assert hook.created_by_id is not None
    assert secret in resp.get_data(as_text=True)
    assert resp.headers["Cache-Control"] == "no-store"
    page = owner.get(f"/brand/acme/webhooks/{hook_id}").get_data(as_text=True)
    assert secret not in page and secret[:10] in page
    assert secret not in owner.get("/brand/acme/webhooks").get_data(as_text=True)

    resp = post_form(owner, f"/brand/acme/webhooks/{hook_id}/rotate")
    with app.app_context():
        rotated = db.session.get(WebhookEndpoint, hook_id)
        assert rotated.secret != secret and rotated.previous_secret == secret
        assert rotated.secret in resp.get_data(as_text=True)


def test_portal_test_event_replay_disable_and_delete(app, shop, receiver):
    with app.app_context():
        hook, _ = endpoint(shop["brand"], receiver.url, ["content.submitted"])
        db.session.commit()
        hook_id = hook.id
    owner = signed_in(app, "owner@acme.example")
    resp = post_form(owner, f"/brand/acme/webhooks/{hook_id}/test")
    assert resp.status_code == 302
    with app.app_context():
        (ping,) = deliveries()
        assert ping.event.type == "ping" and ping.endpoint_id == hook_id
        run_at(utcnow())
        ping_id = ping.id
    page = owner.get(f"/brand/acme/webhooks/{hook_id}").get_data(as_text=True)
    assert "ping" in page and "succeeded" in page
    detail = owner.get(f"/brand/acme/webhooks/deliveries/{ping_id}").get_data(as_text=True)
    assert "receiver says 200" in detail and "A test event from Connect." in detail

    resp = post_form(owner, f"/brand/acme/webhooks/deliveries/{ping_id}/replay")
    assert resp.status_code == 302
    with app.app_context():
        original, again = deliveries()
        assert again.replay_of_id == original.id and again.event_id == original.event_id
        assert again.status == DeliveryStatus.PENDING
        assert resp.headers["Location"].endswith(f"/deliveries/{again.id}")
        run_at(utcnow())
    ids = [json.loads(r["body"])["id"] for r in receiver.requests]
    assert len(ids) == 2 and ids[0] == ids[1]  # the same event id: the receiver can dedupe

    assert (
        post_form(owner, f"/brand/acme/webhooks/{hook_id}/status", {"enabled": "x"}).status_code
        == 400
    )
    post_form(owner, f"/brand/acme/webhooks/{hook_id}/status", {"enabled": "off"})
    with app.app_context():
        assert db.session.get(WebhookEndpoint, hook_id).enabled is False
        services.emit(db.session, shop["brand"], "content.submitted", {"content_id": 1})
        db.session.commit()
        assert len(deliveries()) == 2  # a disabled endpoint gets nothing new
    resp = post_form(owner, f"/brand/acme/webhooks/deliveries/{ping_id}/replay")
    assert resp.status_code == 302
    with app.app_context():
        assert len(deliveries()) == 2  # refused while disabled

    assert post_form(owner, f"/brand/acme/webhooks/{hook_id}/delete").status_code == 302
    with app.app_context():
        assert count(WebhookEndpoint) == 0 and count(WebhookDelivery) == 0
    assert owner.get(f"/brand/acme/webhooks/{hook_id}").status_code == 404


def test_viewers_read_and_other_brands_get_404(app, shop):
    with app.app_context():
        hook, secret = endpoint(shop["brand"], "http://127.0.0.1:9/x", ["content.submitted"])
        services.emit(db.session, shop["brand"], "content.submitted", {"content_id": 1})
        db.session.commit()
        hook_id, delivery_id = hook.id, deliveries()[0].id
    viewer = signed_in(app, "viewer@acme.example")
    page = viewer.get(f"/brand/acme/webhooks/{hook_id}").get_data(as_text=True)
    assert "127.0.0.1:9/x" in page and secret not in page and "Rotate secret" not in page
    assert viewer.get(f"/brand/acme/webhooks/deliveries/{delivery_id}").status_code == 200
    token = csrf_token(viewer, "/brand/acme/webhooks")
    for path in (
        "/brand/acme/webhooks",
        f"/brand/acme/webhooks/{hook_id}/rotate",
        f"/brand/acme/webhooks/{hook_id}/delete",
        f"/brand/acme/webhooks/{hook_id}/test",
        f"/brand/acme/webhooks/deliveries/{delivery_id}/replay",
    ):
        data = {"csrf_token": token, "url": "https://93.184.216.34/", "events": ["ping"]}
        assert viewer.post(path, data=data).status_code == 403, path

    stranger = signed_in(app, "staff@other.example")
    other_page = stranger.get("/brand/other/webhooks").get_data(as_text=True)
    assert "127.0.0.1:9/x" not in other_page
    token = csrf_token(stranger, "/brand/other/webhooks")
    for path in (f"/brand/acme/webhooks/{hook_id}", f"/brand/other/webhooks/{hook_id}"):
        assert stranger.get(path).status_code == 404
    assert stranger.get(f"/brand/other/webhooks/deliveries/{delivery_id}").status_code == 404
    for path in (
        f"/brand/other/webhooks/{hook_id}/rotate",
        f"/brand/other/webhooks/{hook_id}/delete",
        f"/brand/other/webhooks/{hook_id}/status",
        f"/brand/other/webhooks/deliveries/{delivery_id}/replay",
    ):
        assert stranger.post(path, data={"csrf_token": token, "enabled": "off"}).status_code == 404
    with app.app_context():
        assert db.session.get(WebhookEndpoint, hook_id).secret == secret
        assert db.session.get(WebhookEndpoint, hook_id).enabled is True
        assert count(WebhookDelivery) == 1


def test_posts_without_csrf_change_nothing(app, shop):
    with app.app_context():
        hook, _ = endpoint(shop["brand"], "http://127.0.0.1:9/x", ["content.submitted"])
        db.session.commit()
        hook_id = hook.id
    owner = signed_in(app, "owner@acme.example")
    assert owner.post(f"/brand/acme/webhooks/{hook_id}/delete").status_code == 400
    with app.app_context():
        assert count(WebhookEndpoint) == 1
