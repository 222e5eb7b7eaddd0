"""The conversions API: authentication, signatures, idempotency and hostile input."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from flask import Flask

from connect.accounts.models import User
from connect.conversions.models import Order, OrderLine, Refund
from connect.core.time import utcnow
from connect.extensions import db
from connect.ledger.models import Journal, LedgerEntry
from tests import factories
from tests.conversion_helpers import click_on, count, new_key, order_body, signed_post


@pytest.fixture
def api(app: Flask) -> dict[str, object]:
    with app.app_context():
        x = factories.brand("xshop", staff_email="staff@x.example")
        y = factories.brand("yshop", staff_email="staff@y.example")
        creator = factories.creator(handle="alice")
        px = factories.product(x, "SKU-1")
        py = factories.product(y, "SKU-1")
        staff = db.session.scalar(db.select(User).where(User.email == "staff@x.example"))
        key_x = new_key(x, staff.id)
        key_y = new_key(y, staff.id)
        from tests.conversion_helpers import link_for

        foreign_click = click_on(link_for(creator, py.id), at=utcnow() - timedelta(hours=1))
        own_click = click_on(link_for(creator, px.id), at=utcnow() - timedelta(hours=1))
        db.session.commit()
        return {
            "key_x": key_x,
            "key_y": key_y,
            "foreign_click": foreign_click,
            "own_click": own_click,
        }


def rows_written() -> tuple[int, ...]:
    return (count(Order), count(OrderLine), count(Refund), count(Journal), count(LedgerEntry))


def test_order_is_stored_once_and_repeats_answer_the_same(app, client, api):
    body = order_body("SO-1", click_id=api["own_click"], customer_email="Buyer@Example.com")
    first = signed_post(client, "/api/v1/conversions", body, api["key_x"])
    assert first.status_code == 201, first.get_json()
    stored = first.get_json()
    assert stored["order_id"] == "SO-1" and stored["status"] == "received"
    assert stored["total"] == 5000
    # The same order again, even with keys in another order: 200, the same answer, no new rows.
    reordered = json.loads(json.dumps(body), object_pairs_hook=lambda p: dict(reversed(p)))
    again = signed_post(client, "/api/v1/conversions", reordered, api["key_x"])
    assert again.status_code == 200
    assert again.get_json() == stored
    # The same order id with a different body is a conflict and changes nothing.
    changed = order_body("SO-1", lines=[{"sku": "SKU-1", "quantity": 3, "unit_price": 2500}])
    conflict = signed_post(client, "/api/v1/conversions", changed, api["key_x"])
    assert conflict.status_code == 409
    assert conflict.get_json()["error"] == "conflict"
    with app.app_context():
        assert count(Order) == 1 and count(OrderLine) == 1
        order = db.session.scalar(db.select(Order))
        assert order.customer_email_hash and "buyer" not in order.customer_email_hash
    # Another brand may use the same order id: it is its own order.
    other = signed_post(client, "/api/v1/conversions", order_body("SO-1"), api["key_y"])
    assert other.status_code == 201


def test_exact_replay_is_refused(client, api):
    body = json.dumps(order_body("SO-2")).encode()
    ts = int(time.time())
    assert (
        signed_post(client, "/api/v1/conversions", None, api["key_x"], ts=ts, raw=body).status_code
        == 201
    )
    replay = signed_post(client, "/api/v1/conversions", None, api["key_x"], ts=ts, raw=body)
    assert replay.status_code == 409
    assert replay.get_json()["error"] == "replayed"
    # a retry signed afresh is fine, and idempotent
    assert (
        signed_post(
            client, "/api/v1/conversions", None, api["key_x"], ts=ts + 1, raw=body
        ).status_code
        == 200
    )


def _revoked(app: Flask, api: dict[str, object]) -> str:
    with app.app_context():
        from connect.brands.models import BrandApiKey

        for key in db.session.scalars(db.select(BrandApiKey)):
            key.revoked_at = utcnow()
        db.session.commit()
    return api["key_x"]


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("no_key", 401, "unauthorized"),
        ("unknown_key", 401, "unauthorized"),
        ("revoked_key", 401, "unauthorized"),
        ("bad_signature", 401, "bad_signature"),
        ("signed_with_other_key", 401, "bad_signature"),
        ("stale_timestamp", 401, "bad_signature"),
        ("future_timestamp", 401, "bad_signature"),
        ("timestamp_not_a_number", 401, "bad_signature"),
        ("malformed_json", 400, "bad_request"),
        ("json_array", 422, "invalid"),
        ("negative_price", 422, "invalid"),
        ("zero_quantity", 422, "invalid"),
        ("float_quantity", 422, "invalid"),
        ("string_price", 422, "invalid"),
        ("absurd_amount", 422, "invalid"),
        ("absurd_order_total", 422, "invalid"),
        ("unknown_currency", 422, "invalid"),
        ("lowercase_currency", 422, "invalid"),
        ("unknown_country", 422, "invalid"),
        ("naive_timestamp", 422, "invalid"),
        ("future_order", 422, "invalid"),
        ("no_lines", 422, "invalid"),
        ("unknown_field", 422, "invalid"),
        ("bad_order_id", 422, "invalid"),
        ("bad_click_id", 422, "invalid"),
        ("another_brands_click", 422, "foreign_click"),
    ],
)
def test_hostile_requests_are_refused_and_write_nothing(app, client, api, case, status, error):
    key, ts, body, raw, signing_key = api["key_x"], int(time.time()), order_body("SO-9"), None, None
    line = {"sku": "SKU-1", "quantity": 1, "unit_price": 100}
    match case:
        case "no_key":
            resp = client.post("/api/v1/conversions", json=body)
        case "unknown_key":
            key = "cxk_" + "a" * 43
        case "revoked_key":
            key = _revoked(app, api)
        case "bad_signature":
            signing_key = "cxk_wrong"
        case "signed_with_other_key":
            signing_key = api["key_y"]
        case "stale_timestamp":
            ts -= 301
        case "future_timestamp":
            ts += 301
        case "malformed_json":
            raw = b'{"order_id": "SO-9", '
        case "json_array":
            body = [body]
        case "negative_price":
            body["lines"] = [line | {"unit_price": -1}]
        case "zero_quantity":
            body["lines"] = [line | {"quantity": 0}]
        case "float_quantity":
            body["lines"] = [line | {"quantity": 1.5}]
        case "string_price":
            body["lines"] = [line | {"unit_price": "100"}]
        case "absurd_amount":
            body["lines"] = [line | {"quantity": 10_000, "unit_price": 10**10}]
        case "absurd_order_total":
            body["lines"] = [line | {"quantity": 10_000, "unit_price": 10**7}] * 11
        case "unknown_currency":
            body["currency"] = "XYZ"
        case "lowercase_currency":
            body["currency"] = "eur"
        case "unknown_country":
            body["customer_country"] = "QQ"
        case "naive_timestamp":
            body["ordered_at"] = "2026-11-20T10:00:00"
        case "future_order":
            body["ordered_at"] = (utcnow() + timedelta(hours=1)).isoformat()
        case "no_lines":
            body["lines"] = []
        case "unknown_field":
            body["commission"] = 99999
        case "bad_order_id":
            body["order_id"] = "SO 9; DROP TABLE orders"
        case "bad_click_id":
            body["click_id"] = "not-hex"
        case "another_brands_click":
            body["click_id"] = api["foreign_click"]
    if case == "timestamp_not_a_number":
        resp = client.post(
            "/api/v1/conversions",
            json=body,
            headers={
                "Authorization": f"Bearer {key}",
                "X-Connect-Timestamp": "yesterday",
                "X-Connect-Signature": "v1=00",
            },
        )
    elif case != "no_key":
        resp = signed_post(
            client, "/api/v1/conversions", body, key, ts=ts, raw=raw, signing_key=signing_key
        )
    assert resp.status_code == status, resp.get_json()
    payload = resp.get_json()
    assert payload["error"] == error
    assert payload["message"]
    with app.app_context():
        assert rows_written() == (0, 0, 0, 0, 0)


def test_refunds_are_idempotent_and_validated(app, client, api):
    body = order_body(
        "SO-3",
        lines=[
            {"sku": "SKU-1", "quantity": 3, "unit_price": 1000},
            {"sku": "SKU-2", "quantity": 1, "unit_price": 500},
        ],
    )
    assert signed_post(client, "/api/v1/conversions", body, api["key_x"]).status_code == 201
    refund = {
        "idempotency_key": "R-1",
        "refunded_at": utcnow().isoformat(),
        "lines": [{"line_no": 1, "quantity": 2}],
    }
    url = "/api/v1/conversions/SO-3/refunds"
    first = signed_post(client, url, refund, api["key_x"])
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["order"]["lines"][0]["refunded_quantity"] == 2
    assert signed_post(client, url, refund, api["key_x"]).status_code == 200
    conflict = signed_post(
        client, url, refund | {"lines": [{"line_no": 1, "quantity": 1}]}, api["key_x"]
    )
    assert conflict.status_code == 409
    too_many = {
        "idempotency_key": "R-2",
        "refunded_at": utcnow().isoformat(),
        "lines": [{"sku": "SKU-1", "quantity": 2}],
    }
    resp = signed_post(client, url, too_many, api["key_x"])
    assert resp.status_code == 422 and "only 1 left" in resp.get_json()["message"]
    for bad_line in (
        {"line_no": 7, "quantity": 1},
        {"sku": "NOPE", "quantity": 1},
        {"line_no": 1, "sku": "SKU-1", "quantity": 1},
        {"line_no": 1, "quantity": 0},
    ):
        resp = signed_post(client, url, too_many | {"lines": [bad_line]}, api["key_x"])
        assert resp.status_code == 422, bad_line
    unknown = signed_post(client, "/api/v1/conversions/NOPE/refunds", too_many, api["key_x"])
    assert unknown.status_code == 404
    other_brand = signed_post(client, url, too_many, api["key_y"])
    assert other_brand.status_code == 404
    whole = {"idempotency_key": "R-3", "refunded_at": utcnow().isoformat()}
    resp = signed_post(client, url, whole, api["key_x"])
    assert resp.status_code == 201
    assert [line["quantity"] for line in resp.get_json()["lines"]] == [1, 1]
    again = signed_post(client, url, whole | {"idempotency_key": "R-4"}, api["key_x"])
    assert again.status_code == 422 and "fully refunded" in again.get_json()["message"]
    with app.app_context():
        assert count(Refund) == 2
        quantities = db.session.scalars(
            db.select(OrderLine.refunded_quantity).order_by(OrderLine.line_no)
        ).all()
        assert quantities == [3, 1]


def test_openapi_document_is_valid(client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    assert {"/api/v1/conversions", "/api/v1/conversions/{order_id}/refunds"} <= set(
        document["paths"]
    )
    order_schema = document["components"]["schemas"]["OrderIn"]
    assert order_schema["additionalProperties"] is False
    assert set(order_schema["required"]) == {"order_id", "ordered_at", "currency", "lines"}


def test_the_same_instant_in_another_offset_is_the_same_order():
    from connect.conversions.schemas import OrderIn

    body = order_body("SO-TZ")
    a = OrderIn.model_validate(body | {"ordered_at": "2026-11-20T10:00:00+00:00"})
    b = OrderIn.model_validate(body | {"ordered_at": "2026-11-20T12:00:00+02:00"})
    assert a.ordered_at == b.ordered_at and a.fingerprint() == b.fingerprint()
