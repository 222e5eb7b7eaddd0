"""Benchmark of a payout batch: `build_batch` over many creators' approved balances, then the
bank and PayPal files.

    .venv/bin/python bench/payouts/run.py [--creators 100000] [--commissions 500000] [--keep]

What it does, all thrown away at the end (unless --keep):

1. a fresh PostgreSQL database (`connect_bench_payouts`), schema from the migrations;
2. bulk-loaded with set-based SQL: N approved creators, each with a payout method (by default
   45% Stripe with payouts enabled and an account id, 1 in 45 of them not yet enabled; 35% SEPA
   with IBAN DE89370400440532013000 / BIC COBADEFFXXX, paid in EUR, some names with accents;
   4% PayPal; 16% plain CSV bank file), payout currencies EUR, USD and GBP; M APPROVED
   commissions (each on its own order and order line) spread at random over the creators, and
   for each a balanced ledger journal (+amount on the brand's brand_receivable, -amount on the
   creator's creator_approved account), so most creators are above the 50.00 minimum and some
   are not; then VACUUM ANALYZE;
3. baseline: one bare `INSERT INTO scratch SELECT creator_id, currency, SUM(amount_minor) FROM
   commissions GROUP BY 1, 2 HAVING SUM(amount_minor) >= 5000` (3 warm runs, the median counts);
4. timed: (a) build = start_batch + build_batch + commit, (b) export = export_files for the file
   rails to a LocalStorage in a temporary folder + commit; seconds, CPU of this process and of
   the PostgreSQL backend, time inside SQL by statement, ru_maxrss before and after;
5. Python peak memory (tracemalloc) of the same two steps, measured in a copy of the loaded
   database made before step 4 (tracemalloc slows Python down, so it is kept out of the timing);
6. checks: payouts = creators above the minimum with usable details, amounts = balances, the
   ledger balanced, commissions locked to their payout, each file's count and total, and the
   SEPA file's NbOfTxs and CtrlSum against the SEPA payouts.

Not a test: it asserts nothing and prints figures. PayPal takes at most 5,000 rows per file and
export_files writes one file per rail and currency, so a larger PayPal share (`--mix`) makes the
export refuse the batch: that is reported, not hidden.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import cpu_seconds, log, make_app, quiet_logs, vacuum_analyze  # noqa: E402

MINIMUM_MINOR = 5000  # the default 50.00 in EUR, USD and GBP
IBAN = "DE89370400440532013000"
BIC = "COBADEFFXXX"
RAILS = ("stripe", "sepa", "paypal", "csv")


def machine() -> str:
    load1, load5, _ = os.getloadavg()
    return f"cpu_count {os.cpu_count()}, load average 1 min {load1:.2f} (5 min {load5:.2f})"


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- where the time goes ---------------------------------------------------------------------


def _label(statement: str) -> str:
    sql = " ".join(statement.split())
    verb = sql.split(" ", 1)[0].upper()
    pattern = {"SELECT": r"\bFROM (\w+)", "INSERT": r"\bINTO (\w+)", "UPDATE": r"^UPDATE (\w+)"}
    match = re.search(pattern.get(verb, r"^$"), sql, re.IGNORECASE)
    label = f"{verb} {match.group(1) if match else ''}".strip()
    upper = sql.upper()
    if "FOR UPDATE" in upper:
        label += " FOR UPDATE"
    if "ON CONFLICT" in upper:
        label += " ON CONFLICT"
    if "GROUP BY" in upper:
        label += " GROUP BY"
    if verb == "SELECT" and " JOIN " in upper:
        label += " join " + ",".join(dict.fromkeys(re.findall(r"\bJOIN (\w+)", sql, re.I)))
    if " IN (" in upper:
        label += f" IN ({sql.count('%(')} params)" if "%(" in sql else " IN (...)"
    return label


@dataclass
class SqlMeter:
    """Wall time inside cursor.execute/executemany by statement, and the CPU time of the
    PostgreSQL backends this process used (from /proc; the bench runs on the database host)."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    backend_pids: dict[int, float] = field(default_factory=dict)
    _started: list[float] = field(default_factory=list)
    active: bool = False

    def install(self, engine: Any) -> None:
        from sqlalchemy import event

        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine.pool, "checkout", self._checkout)

    def _checkout(self, dbapi_conn: Any, record: Any, proxy: Any) -> None:
        with contextlib.suppress(Exception):
            pid = int(dbapi_conn.info.backend_pid)
            if pid not in self.backend_pids:
                self.backend_pids[pid] = cpu_seconds(pid)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        spent = time.perf_counter() - self._started.pop()
        if self.active:
            label = _label(statement)
            self.seconds[label] += spent
            self.calls[label] += 1

    def take(self) -> tuple[dict[str, float], dict[str, int]]:
        out = dict(self.seconds), dict(self.calls)
        self.seconds.clear()
        self.calls.clear()
        return out

    def backend_cpu(self) -> float:
        return sum(cpu_seconds(pid) - cpu for pid, cpu in self.backend_pids.items())


# --- data --------------------------------------------------------------------------------------


def parse_mix(text: str) -> dict[str, int]:
    mix = {}
    for part in text.split(","):
        rail, _, share = part.partition(":")
        if rail.strip() not in RAILS:
            raise SystemExit(f"--mix: unknown rail {rail!r} (known: {', '.join(RAILS)})")
        mix[rail.strip()] = int(share)
    if sum(mix.values()) != 100:
        raise SystemExit("--mix: the shares must add up to 100")
    return mix


def load_data(
    session: Any, n_creators: int, n_commissions: int, mix: dict[str, int], seed: float
) -> None:
    """Creators, payout methods, approved commissions and their ledger journals, in bulk."""
    from sqlalchemy import text

    def sql(statement: str, **params: Any) -> None:
        session.execute(text(statement), params)

    now = datetime.now(UTC)
    bounds, upto = [], 0
    for rail in RAILS:
        upto += mix.get(rail, 0)
        bounds.append(upto)
    # rail of creator number g (1-based): by g % 100 against the cumulative shares
    rail_case = (
        f"CASE WHEN g % 100 < {bounds[0]} THEN 'stripe' WHEN g % 100 < {bounds[1]} THEN 'sepa' "
        f"WHEN g % 100 < {bounds[2]} THEN 'paypal' ELSE 'csv' END"
    )
    sql("SELECT setseed(:seed)", seed=seed)
    sql(
        """
        INSERT INTO brands (name, slug, status, default_rate_bps, click_param,
                            return_window_days, currency, website)
        VALUES ('Bench Shop', 'bench-shop', 'approved', 500, 'cx_click', 30, 'USD',
                'https://shop.bench.example')
        """
    )
    sql(
        """
        INSERT INTO users (email, password_hash, name, role, locale, is_active)
        VALUES ('finance@bench.example', '!', 'Bench Finance', 'finance', '', true)
        """
    )
    sql(
        """
        INSERT INTO users (email, password_hash, name, role, locale, is_active)
        SELECT 'creator' || g || '@bench.example', '!',
               CASE WHEN g % 7 = 0 THEN 'Zoë Müller-Łukasz ' ELSE 'Creator ' END || g,
               'creator', '', true
        FROM generate_series(1, :n) g
        """,
        n=n_creators,
    )
    sql(
        f"""
        CREATE TEMP TABLE bench_creator_plan AS
        SELECT g, {rail_case} AS rail,
               CASE WHEN {rail_case} = 'sepa' THEN 'EUR'
                    WHEN (g / 100) % 10 < 5 THEN 'EUR' WHEN (g / 100) % 10 < 9 THEN 'USD'
                    ELSE 'GBP' END
                   AS currency
        FROM generate_series(1, :n) g
        """,  # noqa: S608 - the CASE is built from integers
        n=n_creators,
    )
    sql(
        """
        INSERT INTO creators (user_id, display_name, handle, country, languages, payout_currency,
                              status, tier_id, audience_size, bio, public_leaderboard,
                              approved_at)
        SELECT u.id, u.name, 'bench' || p.g,
               CASE WHEN p.rail = 'sepa' THEN 'DE' WHEN p.currency = 'GBP' THEN 'GB'
                    WHEN p.currency = 'EUR' THEN 'FR' ELSE 'US' END,
               '["en"]', p.currency, 'approved', NULL, 1000, '', false, :now
        FROM bench_creator_plan p
        JOIN users u ON u.email = 'creator' || p.g || '@bench.example'
        ORDER BY p.g
        """,
        now=now,
    )
    sql(
        """
        INSERT INTO payout_methods (creator_id, rail, stripe_account_id, payouts_enabled, iban,
                                    bic, account_holder, paypal_email)
        SELECT c.id, p.rail,
               CASE WHEN p.rail = 'stripe' THEN 'acct_' || lpad(to_hex(c.id), 16, '0')
                    ELSE '' END,
               p.rail = 'stripe' AND p.g % 100 <> 0,
               CASE WHEN p.rail IN ('sepa', 'csv') THEN :iban ELSE '' END,
               CASE WHEN p.rail IN ('sepa', 'csv') THEN :bic ELSE '' END,
               CASE WHEN p.rail IN ('sepa', 'csv') THEN c.display_name ELSE '' END,
               CASE WHEN p.rail = 'paypal' THEN 'creator' || p.g || '@paypal.bench.example'
                    ELSE '' END
        FROM bench_creator_plan p JOIN creators c ON c.handle = 'bench' || p.g
        """,
        iban=IBAN,
        bic=BIC,
    )
    # One order, one line and one approved commission per commission wanted, each for a
    # random creator; amounts 1.00 to 36.00, so ~5 commissions make most balances pass 50.00.
    sql(
        """
        INSERT INTO orders (brand_id, external_id, body_sha256, ordered_at, currency,
                            customer_country, customer_email_hash, click_id, visitor_id,
                            promo_code, status, attribute_after, creator_id)
        SELECT b.id, 'ORD-' || g, md5('body' || g) || md5('ydob' || g), t.at, 'USD', 'US', '',
               '', '', '', 'attributed', t.at,
               c.ids[1 + floor(random() * c.n)::int]
        FROM generate_series(1, :n) g
        CROSS JOIN LATERAL (SELECT :start + (g::float8 / :n) * interval '30 days' AS at) t,
             brands b, (SELECT array_agg(id ORDER BY id) ids, count(*)::int n FROM creators) c
        WHERE b.slug = 'bench-shop'
        """,
        n=n_commissions,
        start=now - timedelta(days=70),
    )
    sql(
        """
        INSERT INTO order_lines (order_id, line_no, sku, product_id, category, quantity,
                                 unit_price_minor, refunded_quantity)
        SELECT id, 1, 'SKU-1', NULL, '', 1, 10000, 0 FROM orders
        """
    )
    sql(
        """
        INSERT INTO commissions (order_line_id, order_id, creator_id, brand_id, campaign_id,
                                 rate_bps, bonus_bps, base_minor, base_currency, fx_rate,
                                 amount_minor, currency, capped_minor, budget_minor,
                                 reversed_minor, status, hold_reason, approve_after, payout_id)
        SELECT x.line_id, o.id, o.creator_id, o.brand_id, NULL, 1000, 0, x.amount * 10, 'USD',
               1, x.amount, c.payout_currency, 0, 0, 0, 'approved', '',
               o.ordered_at + interval '30 days', NULL
        FROM (SELECT id AS line_id, order_id, 100 + floor(random() * 3500)::bigint AS amount
              FROM order_lines) x
        JOIN orders o ON o.id = x.order_id
        JOIN creators c ON c.id = o.creator_id
        ORDER BY x.line_id
        """
    )
    sql(
        """
        INSERT INTO ledger_accounts (kind, owner_id, currency)
        SELECT DISTINCT 'creator_approved', creator_id, currency FROM commissions
        UNION ALL
        SELECT DISTINCT 'brand_receivable', brand_id, currency FROM commissions
        """
    )
    sql(
        """
        INSERT INTO ledger_journals (idempotency_key, kind, memo, created_at)
        SELECT 'accrue:line:' || order_line_id, 'accrual', '', approve_after - interval '30 days'
        FROM commissions ORDER BY id
        """
    )
    sql(
        """
        INSERT INTO ledger_entries (journal_id, account_id, amount_minor, currency)
        SELECT j.id, CASE WHEN leg.debit THEN br.id ELSE ca.id END,
               CASE WHEN leg.debit THEN c.amount_minor ELSE -c.amount_minor END, c.currency
        FROM commissions c
        JOIN ledger_journals j ON j.idempotency_key = 'accrue:line:' || c.order_line_id
        JOIN ledger_accounts br ON br.kind = 'brand_receivable' AND br.owner_id = c.brand_id
                               AND br.currency = c.currency
        JOIN ledger_accounts ca ON ca.kind = 'creator_approved' AND ca.owner_id = c.creator_id
                               AND ca.currency = c.currency
        CROSS JOIN (VALUES (true), (false)) leg(debit)
        ORDER BY j.id, leg.debit DESC
        """
    )
    sql("DROP TABLE bench_creator_plan")
    session.commit()


def describe(session: Any) -> dict[str, Any]:
    from sqlalchemy import text

    def scalar(statement: str) -> Any:
        return session.execute(text(statement)).scalar_one()

    out = {
        t: int(scalar(f"SELECT count(*) FROM {t}"))  # noqa: S608
        for t in (
            "creators",
            "payout_methods",
            "commissions",
            "ledger_accounts",
            "ledger_journals",
            "ledger_entries",
        )
    }
    out["rails"] = dict(
        session.execute(
            text("SELECT rail, count(*) FROM payout_methods GROUP BY rail ORDER BY 2 DESC")
        ).all()
    )
    out["balances"] = session.execute(
        text(
            """
            SELECT count(*), count(*) FILTER (WHERE total >= :minimum),
                   count(*) FILTER (WHERE total < :minimum), min(total),
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY total), max(total)
            FROM (SELECT creator_id, currency, sum(amount_minor) AS total FROM commissions
                  GROUP BY creator_id, currency) b
            """
        ),
        {"minimum": MINIMUM_MINOR},
    ).one()
    session.rollback()
    return out


# --- baseline ----------------------------------------------------------------------------------

BARE = """
INSERT INTO bench_scratch (creator_id, currency, amount_minor)
SELECT creator_id, currency, SUM(amount_minor) FROM commissions
GROUP BY creator_id, currency HAVING SUM(amount_minor) >= :minimum
"""
# For reference: the same from the ledger, which is what build_batch reads.
BARE_LEDGER = """
SELECT a.owner_id, a.currency, -SUM(e.amount_minor)
FROM ledger_accounts a JOIN ledger_entries e ON e.account_id = a.id
WHERE a.kind = 'creator_approved'
GROUP BY a.owner_id, a.currency HAVING -SUM(e.amount_minor) >= :minimum
"""


@dataclass
class Bare:
    runs: list[float]
    rows: int
    ledger_runs: list[float]

    @property
    def seconds(self) -> float:
        return statistics.median(self.runs)

    @property
    def ledger_seconds(self) -> float:
        return statistics.median(self.ledger_runs)


def time_bare(engine: Any, repeats: int = 3) -> Bare:
    from sqlalchemy import text

    runs, ledger_runs, rows = [], [], 0
    params = {"minimum": MINIMUM_MINOR}
    with engine.connect() as conn:
        conn.execute(
            text(
                "CREATE TABLE bench_scratch (creator_id bigint, currency varchar(3), "
                "amount_minor bigint)"
            )
        )
        conn.commit()
        for i in range(repeats + 1):  # the first run only warms the cache
            conn.execute(text("TRUNCATE bench_scratch"))
            conn.commit()
            started = time.perf_counter()
            rows = conn.execute(text(BARE), params).rowcount
            conn.commit()
            if i:
                runs.append(time.perf_counter() - started)
        for i in range(repeats + 1):
            started = time.perf_counter()
            conn.execute(text(BARE_LEDGER), params).all()
            if i:
                ledger_runs.append(time.perf_counter() - started)
        conn.rollback()
        conn.execute(text("DROP TABLE bench_scratch"))
        conn.commit()
    return Bare(runs, rows, ledger_runs)


def warm_tables(engine: Any) -> None:
    from sqlalchemy import text

    with engine.connect() as conn:
        for table in ("creators", "payout_methods", "users", "ledger_accounts", "commissions"):
            conn.execute(text(f"SELECT count(*), sum(length(t::text)) FROM {table} t"))  # noqa: S608
        conn.rollback()


# --- build and export ------------------------------------------------------------------------


def short_error(exc: BaseException) -> str:
    """The exception's first line, and for a database error the start of the statement and
    how many parameters it had."""
    text = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    statement = getattr(exc, "statement", None)
    if statement:
        params = getattr(exc, "params", None)
        count = len(params) if isinstance(params, dict | list | tuple) else "?"
        text += f" [in: {' '.join(statement.split())[:160]}... with {count} parameters]"
    return text


def patch_account_ids(chunk: int = 20_000) -> None:
    """--patch-in-lists: an EXPERIMENT, not the shipped code. Replaces
    connect.ledger.services.account_ids, in this process only, by a wrapper that looks accounts
    up for at most `chunk` owners at a time, so that the owner IN list stays under PostgreSQL's
    65,535 bind parameters. Shows what the rest of build_batch costs once that is fixed."""
    import connect.ledger.services as ledger

    original = ledger.account_ids

    def chunked(session: Any, needed: Any) -> dict:
        needed = set(needed)
        owners = sorted({owner for _, owner, _ in needed})
        found: dict = {}
        for start in range(0, len(owners), chunk):
            part = set(owners[start : start + chunk])
            found.update(original(session, [n for n in needed if n[1] in part]))
        return found

    ledger.account_ids = chunked


@dataclass
class Step:
    seconds: float = 0.0
    python_cpu: float = 0.0
    backend_cpu: float = 0.0
    rss_before_mib: float = 0.0
    rss_after_mib: float = 0.0
    peak_mib: float | None = None  # tracemalloc
    sql_seconds: dict[str, float] = field(default_factory=dict)
    sql_calls: dict[str, int] = field(default_factory=dict)
    error: str = ""


@dataclass
class Run:
    build: Step
    export: Step
    summary: dict[str, Any]
    batch_id: int | None
    files: list[dict[str, Any]]
    profile: str = ""


def build_and_export(
    app: Any, storage_dir: Path, *, trace: bool = False, profile: bool = False
) -> Run:
    """start_batch + build_batch + commit, then export_files + commit; timed or traced."""
    from sqlalchemy import select

    from connect.accounts.models import User
    from connect.core.storage import LocalStorage
    from connect.extensions import db
    from connect.payouts.services import build_batch, debtor_from_config, export_files, start_batch

    meter = SqlMeter()
    build, export = Step(), Step()
    summary: dict[str, Any] = {}
    files: list[dict[str, Any]] = []
    batch_id = None
    profiler = cProfile.Profile() if profile else None
    with app.app_context():
        meter.install(db.engine)
        session = db.session
        actor = session.scalars(select(User).where(User.email == "finance@bench.example")).one()
        today = datetime.now(UTC).date()
        store = LocalStorage(storage_dir)
        debtor = debtor_from_config(app.config)

        def begin(step: Step) -> tuple[float, float, float]:
            step.rss_before_mib = maxrss_mib()
            if trace:
                tracemalloc.reset_peak()
            meter.active = True
            if profiler:
                profiler.enable()
            return meter.backend_cpu(), time.process_time(), time.perf_counter()

        def end(step: Step, marks: tuple[float, float, float]) -> None:
            if profiler:
                profiler.disable()
            step.seconds = time.perf_counter() - marks[2]
            step.python_cpu = time.process_time() - marks[1]
            meter.active = False
            step.backend_cpu = meter.backend_cpu() - marks[0]
            step.rss_after_mib = maxrss_mib()
            if trace:
                step.peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
            step.sql_seconds, step.sql_calls = meter.take()

        session.connection()  # check a connection out before the clock starts
        marks = begin(build)
        try:
            batch = start_batch(
                session, period_start=today - timedelta(days=30), period_end=today, actor=actor
            )
            summary = build_batch(session, batch)
            session.commit()
            batch_id = batch.id
        except Exception as exc:
            session.rollback()
            build.error = short_error(exc)
            traceback.print_exc(limit=8)
        end(build, marks)
        if batch_id is not None:
            session.connection()
            marks = begin(export)
            try:
                written = export_files(
                    session, batch, store=store, debtor=debtor, now=datetime.now(UTC)
                )
                files = [
                    {
                        "rail": f.rail.value,
                        "currency": f.currency,
                        "payments": f.payments,
                        "total_minor": f.total_minor,
                        "key": f.storage_key,
                        "bytes": store.path_for(f.storage_key).stat().st_size,
                    }
                    for f in written
                ]
                session.commit()
            except Exception as exc:
                session.rollback()
                export.error = short_error(exc)
            end(export, marks)
        session.remove()
        db.engine.dispose()
    text_profile = ""
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        text_profile = out.getvalue()
    return Run(build, export, summary, batch_id, files, text_profile)


# --- checks ------------------------------------------------------------------------------------

EXPECTED = """
WITH balance AS (
    SELECT a.owner_id AS creator_id, a.currency, -SUM(e.amount_minor) AS owed
    FROM ledger_accounts a JOIN ledger_entries e ON e.account_id = a.id
    WHERE a.kind = 'creator_approved' AND e.journal_id IN (
        SELECT id FROM ledger_journals WHERE kind = 'accrual')
    GROUP BY a.owner_id, a.currency
), due AS (
    SELECT b.*, c.status AS creator_status, m.rail, m.stripe_account_id, m.payouts_enabled,
           m.iban, m.paypal_email
    FROM balance b JOIN creators c ON c.id = b.creator_id
    LEFT JOIN payout_methods m ON m.creator_id = b.creator_id
    WHERE b.owed >= :minimum
), usable AS (
    SELECT * FROM due
    WHERE creator_status = 'approved' AND rail IS NOT NULL
      AND CASE rail WHEN 'stripe' THEN stripe_account_id <> '' AND payouts_enabled
                    WHEN 'sepa' THEN currency = 'EUR' AND iban <> ''
                    WHEN 'paypal' THEN paypal_email <> ''
                    ELSE iban <> '' END
)
SELECT (SELECT count(*) FROM due), (SELECT coalesce(sum(owed), 0) FROM due),
       (SELECT count(*) FROM usable), (SELECT coalesce(sum(owed), 0) FROM usable)
"""


def checks(app: Any, batch_id: int | None, storage_dir: Path, files: list[dict]) -> dict:
    from sqlalchemy import text

    from connect.extensions import db

    out: dict[str, Any] = {}
    with app.app_context():
        session = db.session

        def one(statement: str, **params: Any) -> Any:
            return session.execute(text(statement), params).one()

        due, due_total, usable, usable_total = one(EXPECTED, minimum=MINIMUM_MINOR)
        out.update(due=due, due_total=int(due_total), usable=usable, usable_total=usable_total)
        payouts, payout_total = one(
            "SELECT count(*), coalesce(sum(amount_minor), 0) FROM payouts WHERE batch_id = :b",
            b=batch_id or 0,
        )
        out.update(payouts=payouts, payout_total=int(payout_total))
        out["by_rail"] = session.execute(
            text(
                "SELECT rail, currency, status, count(*), sum(amount_minor) FROM payouts "
                "WHERE batch_id = :b GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            ),
            {"b": batch_id or 0},
        ).all()
        out["ledger_per_currency"] = session.execute(
            text("SELECT currency, sum(amount_minor) FROM ledger_entries GROUP BY 1 ORDER BY 1")
        ).all()
        out["unbalanced_journals"] = one(
            "SELECT count(*) FROM (SELECT 1 FROM ledger_entries GROUP BY journal_id, currency "
            "HAVING sum(amount_minor) <> 0) x"
        )[0]
        out["in_flight"] = int(
            one(
                "SELECT coalesce(-sum(e.amount_minor), 0) FROM ledger_entries e "
                "JOIN ledger_accounts a ON a.id = e.account_id WHERE a.kind = 'creator_in_flight'"
            )[0]
        )
        locked, should_lock, wrong = one(
            """
            SELECT (SELECT count(*) FROM commissions WHERE payout_id IS NOT NULL),
                   (SELECT count(*) FROM commissions c JOIN payouts p
                      ON p.creator_id = c.creator_id AND p.currency = c.currency
                     WHERE p.batch_id = :b),
                   (SELECT count(*) FROM commissions c JOIN payouts p ON p.id = c.payout_id
                     WHERE p.creator_id <> c.creator_id OR p.currency <> c.currency)
            """,
            b=batch_id or 0,
        )
        out.update(locked=locked, should_lock=should_lock, wrong_lock=wrong)
        sepa = one(
            "SELECT count(*), coalesce(sum(amount_minor), 0) FROM payouts "
            "WHERE batch_id = :b AND rail = 'sepa' AND currency = 'EUR'",
            b=batch_id or 0,
        )
        out["sepa_db"] = (int(sepa[0]), int(sepa[1]))
        session.rollback()
        session.remove()
    for f in files:
        if f["rail"] == "sepa":
            head = (storage_dir / f["key"]).read_bytes()[:4096].decode("utf-8")
            group = re.search(r"<GrpHdr>.*?</GrpHdr>", head, re.S)
            nb = re.search(r"<NbOfTxs>(\d+)</NbOfTxs>", group.group(0) if group else "")
            ctrl = re.search(r"<CtrlSum>([\d.]+)</CtrlSum>", group.group(0) if group else "")
            out["sepa_file"] = (
                int(nb.group(1)) if nb else None,
                int(Decimal(ctrl.group(1)) * 100) if ctrl else None,
            )
            out["sepa_transactions"] = (storage_dir / f["key"]).read_bytes().count(b"<CdtTrfTxInf>")
    return out


# --- the database copy for the memory run ---------------------------------------------------


def _psycopg_url(sqlalchemy_url: str, dbname: str) -> str:
    parts = urlsplit(sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://"))
    return urlunsplit(parts._replace(path="/" + dbname))


def copy_database(base: str, source: str, target: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(_psycopg_url(base, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target))
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(target), sql.Identifier(source)
            )
        )


# --- report ----------------------------------------------------------------------------------


def step_lines(name: str, step: Step, extra: str = "") -> list[str]:
    if step.error and not step.seconds:
        return [f"  {name}: FAILED {step.error}"]
    lines = [
        f"  {name}: {step.seconds:.2f} s{extra}; CPU bench process {step.python_cpu:.2f} s, "
        f"PostgreSQL backend {step.backend_cpu:.2f} s; ru_maxrss {step.rss_before_mib:.0f} -> "
        f"{step.rss_after_mib:.0f} MiB"
    ]
    if step.error:
        lines.append(f"    FAILED: {step.error}")
    total = sum(step.sql_seconds.values())
    lines.append(
        f"    inside SQL execute {total:.2f} s, the rest (Python, ORM, files) "
        f"{step.seconds - total:.2f} s; top statements:"
    )
    for label, seconds in sorted(step.sql_seconds.items(), key=lambda kv: -kv[1])[:8]:
        lines.append(f"      {seconds:7.2f} s {step.sql_calls[label]:6d} calls  {label[:100]}")
    return lines


def summary(
    args: argparse.Namespace,
    data: dict[str, Any],
    bare: Bare,
    run: Run,
    memory: Run | None,
    found: dict[str, Any],
    machines: dict[str, str],
) -> str:
    b, s = run.build, run.summary
    count, above, below, low, median, high = data["balances"]
    ratio = b.seconds / bare.seconds if bare.seconds and not b.error else 0.0
    lines = [
        "=" * 100,
        "PAYOUT BATCH BENCHMARK SUMMARY"
        + (
            "  (EXPERIMENT --patch-in-lists: ledger account lookups chunked by a monkeypatch)"
            if args.patch_in_lists
            else ""
        ),
        f"start: {machines['start']}",
        f"before build: {machines['before']}",
        f"after export: {machines['after']}",
        f"data: {data['creators']:,} creators (rails {data['rails']}), "
        f"{data['commissions']:,} approved commissions, {data['ledger_journals']:,} journals, "
        f"{data['ledger_entries']:,} entries, {data['ledger_accounts']:,} ledger accounts",
        f"balances: {count:,} creator/currency balances, {above:,} >= 50.00, {below:,} below; "
        f"min {low / 100:.2f}, median {median / 100:.2f}, max {high / 100:.2f}",
        f"bare SUM() GROUP BY HAVING into a scratch table: {bare.seconds:.3f} s median of "
        f"{len(bare.runs)} warm runs ({', '.join(f'{x:.3f}' for x in bare.runs)}), "
        f"{bare.rows:,} rows; same from the ledger (what build reads): "
        f"{bare.ledger_seconds:.3f} s",
    ]
    lines += step_lines("build (start_batch + build_batch + commit)", b)
    if not b.error:
        lines.append(
            f"  ratio build / bare: {ratio:.1f}x   "
            f"({data['creators'] / b.seconds:,.0f} creators/s, "
            f"{s.get('payouts', 0) / b.seconds:,.0f} payouts/s)"
        )
        lines.append(
            f"  batch summary: {s.get('payouts', 0):,} payouts, "
            f"{s.get('exception_count', 0):,} exceptions, totals {s.get('totals')}"
        )
    if run.batch_id is None:
        lines.append("  export: not run (the build failed)")
    else:
        lines += step_lines("export (export_files, file rails, LocalStorage + commit)", run.export)
    for f in run.files:
        lines.append(
            f"    file {f['key']}: {f['bytes'] / 2**20:.2f} MiB, {f['payments']:,} payments, "
            f"total {f['total_minor'] / 100:,.2f} {f['currency']}"
        )
    if memory is not None:
        mb, me = memory.build, memory.export
        lines.append(
            "  Python peak memory (tracemalloc, in a copy of the loaded database; tracemalloc "
            "slows Python, so these runs are not timed):"
        )

        def failed(error: str, timed_error: str) -> str:
            if not error:
                return ""
            return " (FAILED as above)" if error == timed_error else f" (FAILED: {error})"

        lines.append(
            f"    build {mb.peak_mib or 0:.0f} MiB{failed(mb.error, b.error)}"
            + (
                f", export {me.peak_mib or 0:.0f} MiB{failed(me.error, run.export.error)}"
                if memory.batch_id is not None
                else ", export not run"
            )
        )
    f = found
    if run.batch_id is None:
        lines += [
            "  checks: the build failed and its transaction was rolled back, so there is no "
            f"batch to check; {f['due']:,} creator balances >= 50.00 ({f['usable']:,} with "
            "usable payout details) stay unpaid",
            "    ledger sum per currency: "
            + ", ".join(f"{cur} {int(t)}" for cur, t in f["ledger_per_currency"])
            + f"; unbalanced journals {f['unbalanced_journals']}",
            f"end: {machines['end']}",
            "=" * 100,
        ]
        return "\n".join(lines)
    lines += [
        "  checks:",
        f"    creator balances >= 50.00 (from the ledger): {f['due']:,}, of them with usable "
        f"payout details: {f['usable']:,}; payouts in the batch: {f['payouts']:,} "
        f"{'OK' if f['payouts'] == f['usable'] else 'DIFFER'}; exceptions "
        f"{s.get('exception_count', 0):,} (payouts + exceptions = "
        f"{f['payouts'] + s.get('exception_count', 0):,} "
        f"{'OK' if f['payouts'] + s.get('exception_count', 0) == f['due'] else 'DIFFER'})",
        f"    payout total {f['payout_total']:,} vs usable balances {f['usable_total']:,}: "
        f"{'OK' if f['payout_total'] == f['usable_total'] else 'DIFFER'}; in flight on the "
        f"ledger {f['in_flight']:,} {'OK' if f['in_flight'] == f['payout_total'] else 'DIFFER'}",
        "    ledger sum per currency: "
        + ", ".join(f"{cur} {int(t)}" for cur, t in f["ledger_per_currency"])
        + ("  OK" if all(int(t) == 0 for _, t in f["ledger_per_currency"]) else "  NOT ZERO")
        + f"; unbalanced journals {f['unbalanced_journals']}",
        f"    commissions locked to a payout {f['locked']:,} (expected {f['should_lock']:,}), "
        f"locked to another creator/currency {f['wrong_lock']}",
        "    payouts by rail/currency/status: "
        + "; ".join(f"{r} {c} {st} {n:,} = {t / 100:,.2f}" for r, c, st, n, t in f["by_rail"]),
    ]
    if "sepa_file" in f:
        nb, ctrl = f["sepa_file"]
        db_count, db_total = f["sepa_db"]
        lines.append(
            f"    SEPA file: NbOfTxs {nb:,}, CtrlSum {ctrl / 100:,.2f} EUR, "
            f"{f['sepa_transactions']:,} CdtTrfTxInf; SEPA payouts {db_count:,} = "
            f"{db_total / 100:,.2f} EUR: "
            + (
                "OK"
                if (nb, ctrl) == (db_count, db_total) == (f["sepa_transactions"], ctrl)
                else "DIFFER"
            )
        )
    else:
        lines.append("    SEPA file: none written")
    lines.append(f"end: {machines['end']}")
    lines.append("=" * 100)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creators", type=int, default=100_000)
    parser.add_argument("--commissions", type=int, default=500_000)
    parser.add_argument(
        "--mix",
        default="stripe:45,sepa:35,paypal:4,csv:16",
        help="payout rails in percent of creators (default %(default)s)",
    )
    parser.add_argument("--db-name", default="connect_bench_payouts")
    parser.add_argument("--seed", type=float, default=0.42, help="PostgreSQL setseed() value")
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the tracemalloc run (and the DB copy)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="run build and export under cProfile (slower)"
    )
    parser.add_argument(
        "--patch-in-lists",
        action="store_true",
        help="EXPERIMENT: chunk ledger account lookups (monkeypatched here, connect/ unchanged) "
        "so batches of more than ~65,000 payouts can be built",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mix = parse_mix(args.mix)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    machines = {"start": machine()}
    log(f"machine: {machines['start']}")
    from flask_migrate import upgrade

    from connect.extensions import db
    from tests.support.services import create_database, drop_database, ensure_postgres

    if args.patch_in_lists:
        patch_account_ids()
        log("EXPERIMENT: connect.ledger.services.account_ids chunked in this process")
    base = ensure_postgres()
    copy_name = f"{args.db_name}_mem"
    tmp = Path(tempfile.mkdtemp(prefix="connect-bench-payouts-"))
    log(f"PostgreSQL at {base.rsplit('@', 1)[-1].rsplit('/', 1)[0]}, temp dir {tmp}")
    try:
        url = create_database(base, args.db_name)
        app = make_app(url, tmp / "instance")
        with quiet_logs(), app.app_context():
            started = time.perf_counter()
            upgrade()
            log(f"schema migrated in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            load_data(db.session, args.creators, args.commissions, mix, args.seed)
            db.session.remove()
            vacuum_analyze(db.engine)
            log(f"loaded and analyzed in {time.perf_counter() - started:.1f} s")
            data = describe(db.session)
            db.session.remove()
            log(f"data: {data}")
            db.engine.dispose()
        if not args.no_memory:
            started = time.perf_counter()
            copy_database(base, args.db_name, copy_name)
            log(f"copied to {copy_name} for the memory run in {time.perf_counter() - started:.1f}s")
        with app.app_context():
            bare = time_bare(db.engine)
            log(
                f"bare: {bare.rows:,} rows, {', '.join(f'{x:.3f}' for x in bare.runs)} s; "
                f"ledger form {', '.join(f'{x:.3f}' for x in bare.ledger_runs)} s"
            )
            warm_tables(db.engine)
            db.engine.dispose()
        machines["before"] = machine()
        log(f"machine: {machines['before']}; build + export ...")
        with quiet_logs():
            run = build_and_export(app, tmp / "storage", profile=args.profile)
        machines["after"] = machine()
        log(
            f"build {run.build.seconds:.2f} s{' FAILED' if run.build.error else ''}, export "
            f"{run.export.seconds:.2f} s{' FAILED' if run.export.error else ''}; "
            f"machine: {machines['after']}"
        )
        found = checks(app, run.batch_id, tmp / "storage", run.files)
        with app.app_context():
            db.engine.dispose()
        memory = None
        if not args.no_memory:
            mem_url = urlunsplit(urlsplit(url)._replace(path="/" + copy_name))
            mem_app = make_app(mem_url, tmp / "instance-mem")
            log("memory run (tracemalloc) in the copy ...")
            tracemalloc.start()
            try:
                with quiet_logs():
                    memory = build_and_export(mem_app, tmp / "storage-mem", trace=True)
            finally:
                tracemalloc.stop()
            with mem_app.app_context():
                db.engine.dispose()
    finally:
        if args.keep:
            log(f"kept databases {args.db_name}, {copy_name} and {tmp}")
        else:
            for name in (args.db_name, copy_name):
                with contextlib.suppress(Exception):
                    drop_database(base, name)
            shutil.rmtree(tmp, ignore_errors=True)
    machines["end"] = machine()
    if run.profile:
        print(f"\ncProfile of build + export:\n{run.profile}")
    print("\n" + summary(args, data, bare, run, memory, found, machines), flush=True)
    log(f"done in {time.monotonic() - began:.0f} s")
    return 1 if run.build.error or run.export.error else 0


if __name__ == "__main__":
    sys.exit(main())
