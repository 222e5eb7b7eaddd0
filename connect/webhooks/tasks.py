"""The delivery job: send every due delivery, one transaction per attempt.

Each attempt holds its delivery's row lock (FOR UPDATE SKIP LOCKED) from the claim to the
commit that records it, so two workers never send the same attempt, and a worker killed at any
line leaves the row as it was: due again for the next run (the receiver may then see the event
twice, which is what the event id is for).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from connect.webhooks.models import DeliveryStatus
from connect.webhooks.services import attempt, claim_due


@dataclass
class RunResult:
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    given_up: int = 0


def deliver_due(
    session: Session,
    clock: Callable[[], datetime],
    *,
    allow_private: bool,
    max_seconds: float = 50.0,
    max_attempts: int = 10_000,
) -> RunResult:
    """Attempt due deliveries until none is left or the time is up; commits each attempt."""
    result = RunResult()
    deadline = time.monotonic() + max_seconds
    while result.attempts < max_attempts and time.monotonic() < deadline:
        now = clock()
        delivery = claim_due(session, now)
        if delivery is None:
            session.commit()
            break
        outcome = attempt(session, delivery, now=now, allow_private=allow_private)
        session.commit()
        result.attempts += 1
        if outcome.status == DeliveryStatus.SUCCEEDED:
            result.succeeded += 1
        elif outcome.status == DeliveryStatus.GIVEN_UP:
            result.given_up += 1
        else:
            result.failed += 1
    return result
