"""Stateful property test of the money path on the real PostgreSQL database: clicks, orders
(direct click id, visitor id, both, neither; resent unchanged or changed), refunds (partial,
whole, several items, before attribution, resent), the attribution job (killed at random
points and rerun), approval with a simulated clock, hold review and payouts (rerun under the
same key).

After every step the committed state, read on a connection of its own, is compared with an
independent reference model kept by the test (its own attribution rule, its own half-up
arithmetic with Decimal): every order's status and creator, every line's refunded quantity and
commission (status, creator, amount, reversed), every creator's pending, held and approved
balance, the brand's receivable and the payouts sent. The ledger's own invariants are checked
too: entries sum to zero per journal and per currency, no idempotency key twice, one
commission per order line. At the end of each example every job catches up (attribution,
approval of everything, a payout run) and all of it is checked once more.

LEDGER_PROPERTY_EXAMPLES / LEDGER_PROPERTY_STEPS set the effort (defaults 25 / 30);
LEDGER_PROPERTY_STATS=1 prints counts of what the run reached (run pytest with -s).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from unittest import mock

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from redis import Redis
from sqlalchemy import Connection, and_, func, or_, select, text
from sqlalchemy.orm import Session

import connect.conversions.attribution as attribution_module
import connect.conversions.services as services_module
from connect.conversions.models import Commission, Order, OrderLine
from connect.conversions.schemas import OrderIn, RefundIn
from connect.conversions.services import (
    ConversionError,
    approve_due,
    record_order,
    record_refund,
    reject_hold,
    release_hold,
)
from connect.conversions.tasks import attribute_orders
from connect.core.time import utcnow
from connect.extensions import db
from connect.ledger.models import AccountKind, Journal, LedgerAccount, LedgerEntry
from connect.ledger.services import PLATFORM, creator_balances
from connect.payouts.services import pay_approved_balance
from tests import factories
from tests.conversion_helpers import click_on, link_for

CURRENCY = "EUR"
STATUSES = ("pending", "held", "approved", "paid", "reversed", "rejected")
WINDOW = timedelta(days=30)  # attribution window without a campaign
FAST_ORDER = timedelta(seconds=10)  # an order sooner than this after its click is held
VISITORS = [f"{n:032x}" for n in range(1, 5)]
EMAILS = [None, "buyer@example.com", "ALICE@Example.com", " bob@example.com"]
# Click-to-order gaps (seconds) on and around every boundary the rules have.
GAPS = [-1, 0, 9, 10, 11, 3600, 30 * 86400 - 1, 30 * 86400, 30 * 86400 + 1]

# Two orders carrying the same click id in one attribution batch hit an app bug (see
# test_two_orders_with_one_click_id_in_one_batch_are_both_attributed): until it is fixed the
# machine only reuses a click id once the orders already carrying it have been attributed.
AVOID_SHARED_CLICK_ID_IN_BATCH = False

links = st.integers(0, 3)  # alice, bob, carol on the brand's shop; alice on another brand's
# The last visitor of VISITORS never clicks; "fresh" is a visitor with no other click.
clicking_visitors = st.sampled_from([*VISITORS[:3], "fresh"])
click_ages = st.one_of(st.sampled_from([0, 5, 3600]), st.integers(0, 40 * 86400))
bots = st.sampled_from([False, False, False, True])
# "visitor_fresh": the visitor's only click is the one just made, so nothing hides the gap.
new_order_kinds = st.sampled_from(["direct", "direct+visitor", "visitor", "visitor_fresh", "none"])
# Exact edges (where "<" and "<=" differ: click at the order's second, FAST_ORDER, WINDOW)
# and their neighbours two times in three: a boundary slip shows in a run of the default size.
EDGES = [0, 10, 30 * 86400]
gaps = st.one_of(st.sampled_from(EDGES), st.sampled_from(GAPS), st.integers(-86400, 35 * 86400))
prices = st.one_of(st.integers(1, 100_000), st.sampled_from([0, 1, 20, 50, 150, 99_999]))
order_lines = st.lists(
    st.fixed_dictionaries(
        {
            "sku": st.sampled_from(["SKU-1", "SKU-2", "SKU-X"]),
            "quantity": st.sampled_from([1, 2, 3, 4, 5]),  # integers() would favour 1
            "unit_price": prices,
        }
    ),
    min_size=1,
    max_size=3,
)


COVERAGE: Counter[str] = Counter()


def event(name: str) -> None:
    """Count what the run reached: LEDGER_PROPERTY_STATS=1 prints the counts at the end."""
    COVERAGE[name] += 1


class Killed(Exception):
    """The simulated crash of the attribution worker."""


# -- the reference: plain Python, no app code -------------------------------------------------


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def ref_commission(quantity: int, unit_price: int, rate_bps: int) -> int:
    return half_up(Decimal(quantity * unit_price * rate_bps) / Decimal(10_000))


def ref_reversal(amount: int, refunded: int, quantity: int) -> int:
    return half_up(Decimal(amount) * refunded / quantity)


@dataclass(frozen=True)
class LinkRef:
    """What click_on needs of a link (its id), kept without an ORM object to refresh."""

    id: int
    creator_id: int
    own_brand: bool  # on the brand under test, or on another brand's shop


class Brief:
    """Hypothesis prints drawn values with its pretty-printer: make it use the short repr."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@dataclass
class ClickM(Brief):
    click_id: str
    at: datetime
    visitor: str
    own_brand: bool
    creator_id: int
    bot: bool
    seq: int

    def __repr__(self) -> str:
        where = "" if self.own_brand else ", another brand"
        return f"<click {self.seq} {self.at:%m-%d %H:%M:%S} visitor {self.visitor[-1]}{where}>"


@dataclass
class CommissionM:
    creator_id: int
    amount: int
    status: str
    approve_after: datetime
    reversed: int = 0

    @property
    def net(self) -> int:
        return self.amount - self.reversed


@dataclass
class LineM(Brief):
    line_no: int
    body_sku: str
    quantity: int
    unit_price: int
    refunded: int = 0
    commission: CommissionM | None = None

    def __repr__(self) -> str:
        return f"<line {self.line_no}: {self.quantity} x {self.unit_price}>"


@dataclass
class OrderM(Brief):
    ref: str
    body: dict[str, Any]
    ordered_at: datetime
    click_id: str | None
    visitor_id: str | None
    email: str | None
    lines: list[LineM]
    status: str = "received"
    creator_id: int | None = None

    def __repr__(self) -> str:
        return f"<order {self.ref}>"


@dataclass
class RefundM(Brief):
    key: str
    order_ref: str
    body: dict[str, Any]

    def __repr__(self) -> str:
        return f"<refund {self.key} of {self.order_ref}>"


@dataclass
class Shop:
    brand_id: int
    rate_bps: int
    window_days: int
    creators: dict[int, str]  # id -> e-mail
    links: list[LinkRef] = field(default_factory=list)


class LedgerMachine(RuleBasedStateMachine):
    """One brand, three creators, and the reference model of what they are owed."""

    app: Flask  # set by the test

    def __init__(self) -> None:
        # Every example starts from empty tables and Redis, as conftest's _clean_state leaves
        # them after a test: hypothesis runs all the examples inside one pytest test.
        super().__init__()
        db.session.remove()
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        Redis.from_url(self.app.config["REDIS_URL"]).flushdb()
        real_now = utcnow().replace(microsecond=0)
        # Simulated time, well in the past: orders may be up to 400 days old and never in the
        # future, and clicks and orders are placed up to ~35 days around the clock.
        self.now = real_now - timedelta(days=340)
        self.clock_cap = real_now - timedelta(days=45)
        self.clicks: list[ClickM] = []
        self.click_by_id: dict[str, ClickM] = {}
        self.orders: list[OrderM] = []  # in recording order, i.e. orders.id order
        self.refunds: list[RefundM] = []
        self.paid: dict[int, int] = {}
        self.payout_keys: list[str] = []
        self.posted_payout_keys: set[str] = set()
        self.last_run: dict[int, str] = {}
        self.counter = 0
        self.reader: Session | None = None
        self.reader_conn: Connection | None = None

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    @initialize(
        rate_bps=st.sampled_from([500, 700, 750, 1000, 1234]),
        window_days=st.sampled_from([7, 30]),
        first_orders=st.lists(
            st.tuples(new_order_kinds, gaps, order_lines, st.sampled_from(EMAILS)),
            min_size=2,
            max_size=5,
        ),
        data=st.data(),
    )
    def setup_shop(
        self, rate_bps: int, window_days: int, first_orders: list, data: st.DataObject
    ) -> None:
        """One brand (and another brand's link, whose clicks must never count for it), three
        creators with a link each, and a few first orders, so that every example has some
        money to move whichever rules the swarm testing leaves enabled."""
        brand = factories.brand("acme")
        brand.default_rate_bps = rate_bps
        brand.return_window_days = window_days
        other = factories.brand("other")
        p1 = factories.product(brand, "SKU-1")
        p2 = factories.product(brand, "SKU-2")
        po = factories.product(other, "O-1")
        creators = [factories.creator(handle=h) for h in ("alice", "bob", "carol")]
        self.shop = Shop(
            brand.id, rate_bps, window_days, {c.id: f"{c.handle}@example.com" for c in creators}
        )
        made = [(link_for(c, (p1, p2)[n % 2].id), True) for n, c in enumerate(creators)]
        made.append((link_for(creators[0], po.id), False))
        self.shop.links = [LinkRef(link.id, link.creator_id, own) for link, own in made]
        db.session.commit()
        self.paid = dict.fromkeys(self.shop.creators, 0)
        for kind, gap, lines, email in first_orders:
            self._new_order(data, kind, gap, lines, email)

    # -- clicks and orders ----------------------------------------------------------------------

    @rule(link_no=links, visitor=clicking_visitors, back=click_ages, bot=bots)
    def click(self, link_no: int, visitor: str, back: int, bot: bool) -> None:
        event("click")
        self._click(link_no, visitor, back, bot)

    def _click(self, link_no: int, visitor: str, back: int, bot: bool) -> ClickM:
        link = self.shop.links[link_no]
        if visitor == "fresh":
            visitor = f"{0xF0000 + self._next():032x}"
        at = self.now - timedelta(seconds=back)
        click_id = click_on(link, at=at, visitor=visitor, bot=bot)
        db.session.commit()
        c = ClickM(click_id, at, visitor, link.own_brand, link.creator_id, bot, len(self.clicks))
        self.clicks.append(c)
        self.click_by_id[click_id] = c
        return c

    @rule(
        data=st.data(),
        kind=st.one_of(new_order_kinds, st.sampled_from(["resend", "resend_changed"])),
        gap=gaps,
        lines=order_lines,
        email=st.sampled_from(EMAILS),
    )
    def order(
        self, data: st.DataObject, kind: str, gap: int, lines: list, email: str | None
    ) -> None:
        """A new order (with a click id, a visitor id, both or neither), or an earlier one sent
        again: unchanged it is a no-op, changed it is a 409 that changes nothing."""
        if kind.startswith("resend"):
            if self.orders:
                self._resend_order(data.draw(st.sampled_from(self.orders)), kind, data)
                return
            kind = "direct"
        self._new_order(data, kind, gap, lines, email)

    def _new_order(
        self, data: st.DataObject, kind: str, gap: int, lines: list, email: str | None
    ) -> None:
        event(f"order: {kind}")
        ref = f"O-{self._next()}"
        body: dict[str, Any] = {"order_id": ref, "currency": CURRENCY, "lines": lines}
        anchor = None
        if kind != "none":
            # An earlier click, or one made just now (so orders need no separate click step).
            reusable = self.clicks
            if kind != "visitor" and AVOID_SHARED_CLICK_ID_IN_BATCH:
                waiting = {o.click_id for o in self.orders if o.status == "received"}
                reusable = [c for c in self.clicks if c.click_id not in waiting]
            if kind != "visitor_fresh" and reusable and data.draw(st.booleans()):
                anchor = data.draw(st.sampled_from(reusable))
            else:
                anchor = self._click(
                    data.draw(links),
                    "fresh" if kind == "visitor_fresh" else data.draw(clicking_visitors),
                    data.draw(click_ages),
                    data.draw(bots),
                )
        if anchor is None:
            ordered_at = self.now - timedelta(seconds=data.draw(st.integers(0, 86400)))
        else:
            ordered_at = anchor.at + timedelta(seconds=gap)
        if kind.startswith("direct"):
            body["click_id"] = anchor.click_id
        if kind == "direct+visitor":
            body["visitor_id"] = data.draw(st.sampled_from(VISITORS))
        elif kind == "visitor":
            visitors = [anchor.visitor] * 3 + VISITORS
            body["visitor_id"] = data.draw(st.sampled_from(visitors))
        elif kind == "visitor_fresh":
            body["visitor_id"] = anchor.visitor
        if email is not None:
            body["customer_email"] = email
        body["ordered_at"] = ordered_at.isoformat()
        data_in = OrderIn.model_validate(body)
        if kind.startswith("direct") and not anchor.own_brand:
            with pytest.raises(ConversionError) as err:
                record_order(db.session, self.shop.brand_id, data_in, self.now)
            assert err.value.status == 422 and err.value.code == "foreign_click"
            db.session.rollback()
            return
        _, created = record_order(db.session, self.shop.brand_id, data_in, self.now)
        db.session.commit()
        assert created
        o = OrderM(
            ref,
            body,
            ordered_at,
            body.get("click_id"),
            body.get("visitor_id"),
            email,
            [
                LineM(n, line["sku"], line["quantity"], line["unit_price"])
                for n, line in enumerate(lines, start=1)
            ],
        )
        self.orders.append(o)

    def _resend_order(self, o: OrderM, kind: str, data: st.DataObject) -> None:
        """The same order again (keys in another order, spaces around strings: the same
        canonical body) is a no-op; a changed body is a 409. Neither changes anything."""
        event(f"order: {kind}")
        body = dict(reversed(o.body.items()))
        body["order_id"] = f" {o.ref} "
        if kind == "resend_changed":
            what = data.draw(st.sampled_from(["quantity", "time", "country"]))
            if what == "quantity":
                first = body["lines"][0]
                body["lines"] = [{**first, "quantity": first["quantity"] % 5 + 1}]
                body["lines"] += o.body["lines"][1:]
            elif what == "time":
                body["ordered_at"] = (o.ordered_at - timedelta(seconds=1)).isoformat()
            else:
                body["customer_country"] = "DE"
            with pytest.raises(ConversionError) as err:
                record_order(db.session, self.shop.brand_id, OrderIn.model_validate(body), self.now)
            assert err.value.status == 409
            db.session.rollback()
        else:
            data_in = OrderIn.model_validate(body)
            order, created = record_order(db.session, self.shop.brand_id, data_in, self.now)
            assert not created and order.external_id == o.ref
            db.session.commit()

    # -- refunds --------------------------------------------------------------------------------

    def _open_orders(self) -> list[OrderM]:
        return [o for o in self.orders if any(ln.refunded < ln.quantity for ln in o.lines)]

    @precondition(lambda self: self._open_orders())
    @rule(
        data=st.data(),
        mode=st.sampled_from(
            ["line", "line", "whole", "items", "too_much", "resend", "resend_changed"]
        ),
    )
    def refund(self, data: st.DataObject, mode: str) -> None:
        """A refund (also before attribution) of part of a line, of the whole order, or of
        several items (by line number or by sku, a line possibly twice); one asking more than
        is left or naming an ambiguous sku (422, no change); or an earlier refund sent again
        (no-op) or changed (409, no change)."""
        if mode.startswith("resend"):
            if self.refunds:
                self._resend_refund(data.draw(st.sampled_from(self.refunds)), mode, data)
                return
            mode = "line"
        # Mostly an order with something left to refund.
        some = self.orders if data.draw(st.sampled_from([0, 0, 0, 1])) else self._open_orders()
        o = data.draw(st.sampled_from(some))
        key = f"R-{self._next()}"
        body: dict[str, Any] = {"idempotency_key": key, "refunded_at": self.now.isoformat()}
        left = {ln.line_no: ln.quantity - ln.refunded for ln in o.lines}
        refusal = ""
        if mode == "whole":
            wanted = {n: q for n, q in left.items() if q}
            refusal = "" if wanted else "nothing left"
        else:
            if mode == "items":
                chosen = data.draw(
                    st.lists(st.tuples(st.sampled_from(o.lines), st.booleans()), min_size=1)
                )
                picks = [
                    (ln, data.draw(st.integers(1, max(left[ln.line_no], 1))), by_sku)
                    for ln, by_sku in chosen[:3]
                ]
            else:
                open_lines = [ln for ln in o.lines if left[ln.line_no]] or o.lines
                line = data.draw(st.sampled_from(open_lines))
                room = left[line.line_no]
                quantity = data.draw(st.integers(1, room)) if mode == "line" and room else room + 1
                picks = [(line, quantity, False)]
            skus = Counter(ln.body_sku for ln in o.lines)
            body["lines"] = []
            wanted = {}
            for line, quantity, by_sku in picks:
                ref = {"sku": line.body_sku} if by_sku else {"line_no": line.line_no}
                body["lines"].append({**ref, "quantity": quantity})
                if by_sku and skus[line.body_sku] > 1:
                    refusal = refusal or "ambiguous sku"
                wanted[line.line_no] = wanted.get(line.line_no, 0) + quantity
            if any(q > left[n] for n, q in wanted.items()):
                refusal = refusal or "more than is left"
        data_in = RefundIn.model_validate(body)
        if refusal:  # refused: nothing changes
            event(f"refund refused: {refusal}")
            with pytest.raises(ConversionError) as err:
                record_refund(db.session, self.shop.brand_id, o.ref, data_in, self.now)
            assert err.value.status == 422
            db.session.rollback()
            return
        event(f"refund: {mode}")
        self._record_refund(o, body, wanted)

    def _record_refund(self, o: OrderM, body: dict[str, Any], wanted: dict[int, int]) -> None:
        data_in = RefundIn.model_validate(body)
        _, created = record_refund(db.session, self.shop.brand_id, o.ref, data_in, self.now)
        db.session.commit()
        assert created
        self.refunds.append(RefundM(body["idempotency_key"], o.ref, body))
        for ln in o.lines:
            if ln.line_no in wanted:
                ln.refunded += wanted[ln.line_no]
                self._reverse(ln)

    def _resend_refund(self, r: RefundM, mode: str, data: st.DataObject) -> None:
        """The same refund again is a no-op; its key with another time, or against another
        order, is a 409. Neither changes anything."""
        event(f"refund: {mode}")
        body, order_ref = dict(r.body), r.order_ref
        others = [o.ref for o in self.orders if o.ref != r.order_ref]
        if mode == "resend_changed":
            if others and data.draw(st.booleans()):
                order_ref = data.draw(st.sampled_from(others))
            else:
                earlier = datetime.fromisoformat(body["refunded_at"]) - timedelta(days=1)
                body["refunded_at"] = earlier.isoformat()
        data_in = RefundIn.model_validate(body)
        if mode == "resend_changed":
            with pytest.raises(ConversionError) as err:
                record_refund(db.session, self.shop.brand_id, order_ref, data_in, self.now)
            assert err.value.status == 409
            db.session.rollback()
        else:
            _, created = record_refund(db.session, self.shop.brand_id, order_ref, data_in, self.now)
            assert not created
            db.session.commit()

    def _reverse(self, line: LineM) -> None:
        """The documented rule: cumulative, proportional, half-up; a reversal only moves money
        while the commission still holds some (pending, held, approved or paid; a paid one is
        taken back from the approved balance and stays paid). A commission becomes reversed
        when a reversal brings it to zero, so one of 0 (a free line) never does: it goes on to
        approved and paid like the app's."""
        c = line.commission
        if c is None or c.status not in {"pending", "held", "approved", "paid"}:
            return
        event(f"refund of a {c.status} commission")
        target = ref_reversal(c.amount, line.refunded, line.quantity)
        if target <= c.reversed:
            return
        c.reversed = target
        if c.reversed == c.amount and c.status != "paid":
            c.status = "reversed"

    # -- attribution ----------------------------------------------------------------------------

    def _match(self, o: OrderM) -> ClickM | None:
        if o.click_id:
            c = self.click_by_id[o.click_id]
            if c.own_brand and c.at <= o.ordered_at:
                return c
        if o.visitor_id:
            found = [
                c
                for c in self.clicks
                if c.visitor == o.visitor_id
                and c.own_brand
                and not c.bot
                and o.ordered_at - WINDOW <= c.at <= o.ordered_at
            ]
            if found:
                best = max(found, key=lambda c: (c.at, c.seq))
                if o.ordered_at - best.at == WINDOW:
                    event("visitor click exactly at the window's edge")
                return best
        return None

    def _attribute(self, o: OrderM) -> None:
        match = self._match(o)
        if match is None:
            o.status = "unattributed"
            return
        o.status, o.creator_id = "attributed", match.creator_id
        event("attributed by click id" if match.click_id == o.click_id else "attributed by visitor")
        if o.ordered_at - match.at == FAST_ORDER:
            event("order exactly FAST_ORDER after its click")
        own_email = self.shop.creators[match.creator_id]
        held = (
            match.bot
            or o.ordered_at - match.at < FAST_ORDER
            or (o.email is not None and o.email.strip().lower() == own_email)
        )
        for line in o.lines:
            line.commission = CommissionM(
                creator_id=match.creator_id,
                amount=ref_commission(line.quantity, line.unit_price, self.shop.rate_bps),
                status="held" if held else "pending",
                approve_after=o.ordered_at + timedelta(days=self.shop.window_days),
            )
            if line.refunded:  # the refund came before attribution
                event("refund before attribution")
                self._reverse(line)
        event("held" if held else "pending")
        if o.email is not None and o.email.strip().lower() == own_email:
            event("held: the buyer is the creator")

    @rule(
        kill=st.sampled_from([None, None, None, "accrual", "reversal", "flush", "after_commit"]),
        batch_size=st.sampled_from([1, 2, 3, 2000]),
        kill_batch=st.sampled_from([1, 1, 2, 3]),
    )
    def attribute(self, kill: str | None, batch_size: int, kill_batch: int) -> None:
        """The attribution job, committing per batch of `batch_size`. With `kill` it dies in
        batch `kill_batch`: inside the accrual posting, inside the early-refund reversal
        posting, after the batch's work but before its commit, or just after its commit.
        The next run must finish the work exactly once."""
        self._attribution(kill, batch_size, kill_batch)

    def _attribution(self, kill: str | None, batch_size: int, kill_batch: int) -> None:
        """Run the job; with `kill`, crash it as `attribute` describes. Batches take the received
        orders in id order, so the model knows which orders the committed batches held."""
        received = [o for o in self.orders if o.status == "received"]
        batches = -(-len(received) // batch_size)  # that write (the last plan finds nothing)
        state: dict[str, int] = {"batch": 0, "crashed_in": 0}
        real_apply = attribution_module.BatchPlan.apply

        def crash(where: str) -> None:
            state["crashed_in"] = state["batch"]
            raise Killed(where)

        def apply(plan: Any, session: Session) -> Any:
            # On PostgreSQL the job writes batch N in a thread while it plans batch N+1.
            state["batch"] += 1
            result = real_apply(plan, session)
            if kill == "flush" and state["batch"] == kill_batch:
                crash("after the batch's work, before its commit")
            return result

        def crashing(real: Any) -> Any:
            # From batch `kill_batch` on, the first posting crashes (a batch that attributes
            # nothing, or has no early refund, does not post).
            def post(session: Session, specs: Any) -> Any:
                if state["batch"] >= kill_batch:
                    crash("inside post_many")
                return real(session, specs)

            return post

        def after_batch(_: Any) -> None:
            if kill == "after_commit" and state["batch"] == kill_batch:
                crash("after the batch's commit")

        try:
            with ExitStack() as stack:
                stack.enter_context(mock.patch.object(attribution_module.BatchPlan, "apply", apply))
                module = {"accrual": attribution_module, "reversal": services_module}.get(kill)
                if module is not None:
                    post = crashing(module.post_many)
                    stack.enter_context(mock.patch.object(module, "post_many", post))
                result = attribute_orders(
                    db.session, self.now, batch_size=batch_size, after_batch=after_batch
                )
        except Killed as exc:
            event(f"attribution killed: {kill}, {exc}")
            db.session.rollback()
            if kill in {"flush", "after_commit"}:
                assert kill_batch <= batches
            committed = state["crashed_in"] - (kill != "after_commit")
            for o in received[: committed * batch_size]:
                self._attribute(o)
            return
        assert kill not in {"flush", "after_commit"} or kill_batch > batches
        for o in received:
            self._attribute(o)
        attributed = [o for o in received if o.status == "attributed"]
        assert (result.orders, result.attributed, result.unattributed, result.deferred) == (
            len(received),
            len(attributed),
            len(received) - len(attributed),
            0,
        )
        assert result.commissions == sum(len(o.lines) for o in attributed)

    # -- lifecycle ------------------------------------------------------------------------------

    def _commissions(self, *statuses: str) -> list[tuple[OrderM, LineM]]:
        return [
            (o, ln)
            for o in self.orders
            for ln in o.lines
            if ln.commission is not None and ln.commission.status in statuses
        ]

    @rule(
        data=st.data(),
        days=st.integers(0, 40),
        exact=st.booleans(),
        catch_up=st.booleans(),
        pay=st.booleans(),
    )
    def approve(
        self, data: st.DataObject, days: int, exact: bool, catch_up: bool, pay: bool
    ) -> None:
        """Time passes and the nightly jobs run: attribution (if `catch_up`), approval of what
        is due, then (if `pay`) a payout run for every creator."""
        if catch_up:
            self._attribution(None, 2000, 0)
        target = self.now + timedelta(days=days)
        due = [ln.commission.approve_after for _, ln in self._commissions("pending")]
        if exact and due:  # land exactly on a commission's approve_after
            target = data.draw(st.sampled_from(due))
        self._approve(max(self.now, min(target, self.clock_cap)))
        if pay:
            self._pay_everyone(retry=data.draw(st.booleans()))

    def _approve(self, now: datetime) -> None:
        self.now = now
        count = approve_due(db.session, now)
        db.session.commit()
        expected = 0
        for _, ln in self._commissions("pending"):
            if ln.commission.approve_after <= now:
                ln.commission.status = "approved"
                expected += 1
                event("approved")
        assert count == expected

    def _pay_everyone(self, retry: bool = False) -> None:
        """A payout run. With `retry` the previous run is first replayed under its own keys,
        as a job that died after posting would be: whatever was approved since, those keys
        pay nothing more."""
        if retry:
            for creator_id, key in self.last_run.items():
                self._pay(creator_id, key)
        for creator_id in sorted(self.shop.creators):
            self.last_run[creator_id] = f"payout:{self._next()}"
            self._pay(creator_id, self.last_run[creator_id])

    def _load(self, o: OrderM, line: LineM) -> Commission:
        return db.session.scalars(
            select(Commission)
            .join(OrderLine, OrderLine.id == Commission.order_line_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.external_id == o.ref, OrderLine.line_no == line.line_no)
        ).one()

    @precondition(lambda self: self._commissions(*STATUSES))
    @rule(data=st.data(), release=st.booleans(), held=st.booleans())
    def review(self, data: st.DataObject, release: bool, held: bool) -> None:
        """Release or reject a held commission; any other commission refuses with a 409."""
        pairs = self._commissions("held") if held else []
        if pairs:
            o, line = data.draw(st.sampled_from(pairs))
        else:
            o, line = data.draw(st.sampled_from(self._commissions(*STATUSES)))
        status = line.commission.status
        event(f"review: {'release' if release else 'reject'} {status}")
        commission = self._load(o, line)
        review = release_hold if release else lambda s, c: reject_hold(s, c, "test")
        if status != "held":
            with pytest.raises(ConversionError) as err:
                review(db.session, commission)
            assert err.value.status == 409
            db.session.rollback()
            return
        review(db.session, commission)
        db.session.commit()
        line.commission.status = "pending" if release else "rejected"

    def _approved_owed(self, creator_id: int) -> int:
        owed = sum(
            ln.commission.net
            for _, ln in self._commissions("approved", "paid")
            if ln.commission.creator_id == creator_id
        )
        return owed - self.paid[creator_id]

    @rule(data=st.data(), creator_no=st.integers(0, 2), again=st.booleans())
    def payout(self, data: st.DataObject, creator_no: int, again: bool) -> None:
        creator_id = sorted(self.shop.creators)[creator_no]
        if again and self.payout_keys:
            key = data.draw(st.sampled_from(sorted(self.posted_payout_keys) or self.payout_keys))
        else:
            key = f"payout:{self._next()}"
        self._pay(creator_id, key)

    def _pay(self, creator_id: int, key: str) -> None:
        if key not in self.payout_keys:
            self.payout_keys.append(key)
        paid = pay_approved_balance(db.session, creator_id, CURRENCY, key=key)
        db.session.commit()
        expected = 0 if key in self.posted_payout_keys else max(self._approved_owed(creator_id), 0)
        assert paid == expected
        event("payout > 0" if expected else "payout = 0")
        if expected:
            self.posted_payout_keys.add(key)
            self.paid[creator_id] += expected
            for _, ln in self._commissions("approved"):
                if ln.commission.creator_id == creator_id:
                    ln.commission.status = "paid"

    # -- invariants, on committed state read through a connection of their own ----------------

    def teardown(self) -> None:
        """Unless the example already failed (then it must be reported as it is), settle it:
        every job catches up and the invariants are checked once more, so every example takes
        its orders down the whole money path, whichever rules the swarm testing enabled."""
        try:
            if hasattr(self, "shop") and sys.exc_info()[0] is None:
                self._settle()
        finally:
            if self.reader is not None:
                self.reader.close()
                self.reader = None
            if self.reader_conn is not None:
                self.reader_conn.close()
                self.reader_conn = None

    def _settle(self) -> None:
        """Attribution catches up; a payout run; review releases every hold; everything is
        approved; the last payout run is replayed under its keys (pays nothing, whatever was
        approved since) and a new one pays; then every order is refunded in full (paid
        commissions drive approved balances negative) and a last run pays nothing."""
        self._attribution(None, 2000, 0)
        self._pay_everyone()
        for o, line in self._commissions("held"):
            release_hold(db.session, self._load(o, line))
            db.session.commit()
            line.commission.status = "pending"
        self._approve(self.now + timedelta(days=400))  # no order comes after this
        self._pay_everyone(retry=True)
        for o in self._open_orders():
            key = f"R-{self._next()}"
            refunded_at = self.clock_cap.isoformat()  # not in the future
            wanted = {ln.line_no: ln.quantity - ln.refunded for ln in o.lines}
            wanted = {n: q for n, q in wanted.items() if q}
            self._record_refund(o, {"idempotency_key": key, "refunded_at": refunded_at}, wanted)
        self._pay_everyone(retry=True)
        self.ledger_balances_to_zero()
        self.nothing_posted_twice()
        self.orders_and_commissions_match_the_model()
        self.balances_match_the_model()
        event("settled")

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A session on a connection of its own, in autocommit: every query sees what the rules
        committed and nothing else, and holds no lock. Kept for the example (the pool pings
        each checkout)."""
        if self.reader is None:
            self.reader_conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self.reader = Session(self.reader_conn)
        try:
            yield self.reader
        finally:
            self.reader.rollback()  # no round trip in autocommit; ends the session's bookkeeping

    @invariant()
    def ledger_balances_to_zero(self) -> None:
        with self._read() as s:
            by_currency = s.execute(
                select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor)).group_by(
                    LedgerEntry.currency
                )
            ).all()
            unbalanced = s.execute(
                select(LedgerEntry.journal_id, LedgerEntry.currency)
                .group_by(LedgerEntry.journal_id, LedgerEntry.currency)
                .having(func.sum(LedgerEntry.amount_minor) != 0)
            ).all()
        assert all(total == 0 for _, total in by_currency), by_currency
        assert unbalanced == []

    @invariant()
    def nothing_posted_twice(self) -> None:
        with self._read() as s:
            keys, distinct_keys, commissions, distinct_lines = s.execute(
                select(
                    select(func.count()).select_from(Journal).scalar_subquery(),
                    select(func.count(Journal.idempotency_key.distinct())).scalar_subquery(),
                    select(func.count()).select_from(Commission).scalar_subquery(),
                    select(func.count(Commission.order_line_id.distinct())).scalar_subquery(),
                )
            ).one()
        assert keys == distinct_keys
        assert commissions == distinct_lines

    @invariant()
    def orders_and_commissions_match_the_model(self) -> None:
        with self._read() as s:
            orders = {
                ref: (str(status), creator_id)
                for ref, status, creator_id in s.execute(
                    select(Order.external_id, Order.status, Order.creator_id)
                )
            }
            lines = {
                f"{ref}/{n}": (refunded, None if status is None else str(status), *rest)
                for ref, n, refunded, status, *rest in s.execute(
                    select(
                        Order.external_id,
                        OrderLine.line_no,
                        OrderLine.refunded_quantity,
                        Commission.status,
                        Commission.creator_id,
                        Commission.amount_minor,
                        Commission.reversed_minor,
                    )
                    .join(Order, Order.id == OrderLine.order_id)
                    .outerjoin(Commission, Commission.order_line_id == OrderLine.id)
                )
            }
        assert orders == {o.ref: (o.status, o.creator_id) for o in self.orders}
        no_commission = (None, None, None, None)
        expected = {
            f"{o.ref}/{ln.line_no}": (
                ln.refunded,
                *(
                    no_commission
                    if (c := ln.commission) is None
                    else (c.status, c.creator_id, c.amount, c.reversed)
                ),
            )
            for o in self.orders
            for ln in o.lines
        }
        assert lines == expected
        # No commission without a qualifying click: received and unattributed orders have none.
        for o in self.orders:
            if o.status != "attributed":
                assert all(lines[f"{o.ref}/{ln.line_no}"][1:] == no_commission for ln in o.lines)

    @invariant()
    def balances_match_the_model(self) -> None:
        with self._read() as s:
            got = {creator_id: creator_balances(s, creator_id) for creator_id in self.shop.creators}
            platform = dict(
                s.execute(
                    select(LedgerAccount.kind, func.sum(LedgerEntry.amount_minor))
                    .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
                    .where(
                        LedgerAccount.currency == CURRENCY,
                        or_(
                            and_(
                                LedgerAccount.kind == AccountKind.BRAND_RECEIVABLE,
                                LedgerAccount.owner_id == self.shop.brand_id,
                            ),
                            and_(
                                LedgerAccount.kind == AccountKind.PAYOUTS_SENT,
                                LedgerAccount.owner_id == PLATFORM,
                            ),
                        ),
                    )
                    .group_by(LedgerAccount.kind)
                ).all()
            )
        for creator_id, by_currency in got.items():
            assert set(by_currency) <= {CURRENCY}
            actual = {k: m.amount for k, m in by_currency.get(CURRENCY, {}).items()}
            want = {"pending": 0, "held": 0, "approved": -self.paid[creator_id], "in_flight": 0}
            for _, ln in self._commissions("pending", "held", "approved", "paid"):
                c = ln.commission
                if c.creator_id == creator_id:
                    want["approved" if c.status == "paid" else c.status] += c.net
            assert {k: actual.get(k, 0) for k in want} == want, f"creator {creator_id}"
        # The brand owes what its live commissions are worth; payouts left the platform.
        owed_by_brand = sum(
            ln.commission.net
            for _, ln in self._commissions("pending", "held", "approved", "paid", "reversed")
        )
        assert platform.get(AccountKind.BRAND_RECEIVABLE, 0) == owed_by_brand
        assert platform.get(AccountKind.PAYOUTS_SENT, 0) == -sum(self.paid.values())


def test_commission_ledger_money_invariants(app: Flask) -> None:
    LedgerMachine.app = app
    with app.app_context():
        try:
            run_state_machine_as_test(
                LedgerMachine,
                settings=settings(
                    max_examples=int(os.environ.get("LEDGER_PROPERTY_EXAMPLES", "25")),
                    stateful_step_count=int(os.environ.get("LEDGER_PROPERTY_STEPS", "30")),
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                ),
            )
        finally:
            db.session.remove()
    if os.environ.get("LEDGER_PROPERTY_STATS"):
        print("\n".join(f"{n:6} {name}" for name, n in sorted(COVERAGE.items())))


def test_two_orders_with_one_click_id_in_one_batch_are_both_attributed(app: Flask) -> None:
    now = utcnow().replace(microsecond=0)
    with app.app_context():
        brand = factories.brand("acme")
        link = link_for(factories.creator(handle="alice"), factories.product(brand, "SKU-1").id)
        click_id = click_on(link, at=now - timedelta(hours=2))
        for ref, ago in (("O-1", 60), ("O-2", 30)):  # one shopper, two orders, one click id
            body = {
                "order_id": ref,
                "ordered_at": (now - timedelta(minutes=ago)).isoformat(),
                "currency": CURRENCY,
                "click_id": click_id,
                "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": 10000}],
            }
            record_order(db.session, brand.id, OrderIn.model_validate(body), now)
        db.session.commit()
        attribute_orders(db.session, now)
        statuses = dict(db.session.execute(select(Order.external_id, Order.status)).all())
        db.session.remove()
    assert statuses == {"O-1": "attributed", "O-2": "attributed"}  # O-1 ends "unattributed"
