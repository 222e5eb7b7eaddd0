"""Shared helpers for the conversion tests: signed API calls and a small shop."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from connect.brands.models import Brand
from connect.brands.services import create_api_key
from connect.core.signing import key_digest, sign
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.tracking.models import Click, Link
from connect.tracking.services import create_link, store_clicks

_offsets = itertools.count()


def signed_post(
    client: FlaskClient,
    path: str,
    body: Any,
    key: str,
    *,
    ts: int | None = None,
    raw: bytes | None = None,
    signing_key: str | None = None,
) -> Any:
    data = raw if raw is not None else json.dumps(body).encode()
    # A fresh timestamp per call (within the 300 s tolerance): repeats are retries, not replays.
    # Rising with the call count, so two calls a second apart never share a timestamp (the old
    # `now - count % 200` gave call n+1 at second t+1 the timestamp of call n at second t).
    ts = int(time.time()) - 280 + next(_offsets) % 560 if ts is None else ts
    signature = sign(key_digest(signing_key or key), ts, data)
    return client.post(
        path,
        data=data,
        content_type="application/json",
        headers={
            "Authorization": f"Bearer {key}",
            "X-Connect-Timestamp": str(ts),
            "X-Connect-Signature": signature,
        },
    )


def new_key(brand: Brand, actor_id: int) -> str:
    return create_api_key(db.session, brand, "test", actor_id)[1]


def click_on(link: Link, *, at: datetime, visitor: str | None = None, bot: bool = False) -> str:
    click_id = uuid.uuid4().hex
    store_clicks(
        db.session,
        [
            {
                "click_id": click_id,
                "link_id": link.id,
                "clicked_at": at,
                "visitor_id": visitor or uuid.uuid4().hex,
                "ip_hash": "0" * 64,
                "country": "FR",
                "user_agent": "test",
                "referrer_host": "",
                "is_bot": bot,
                "is_duplicate": False,
            }
        ],
    )
    return click_id


def order_body(
    order_id: str,
    *,
    lines: list[dict[str, Any]] | None = None,
    currency: str = "EUR",
    ordered_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "ordered_at": (ordered_at or utcnow() - timedelta(minutes=1)).isoformat(),
        "currency": currency,
        "lines": lines or [{"sku": "SKU-1", "quantity": 2, "unit_price": 2500}],
        **extra,
    }


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def link_for(creator: Creator, product_id: int, **kw: Any) -> Link:
    return create_link(db.session, creator, product_id=product_id, **kw)


__all__ = ["Click", "click_on", "count", "link_for", "new_key", "order_body", "signed_post"]
