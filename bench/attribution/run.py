"""Benchmark of order attribution: `attribute_orders` over a backlog of received orders.

    .venv/bin/python bench/attribution/run.py [--clicks 1000000] [--orders 100000] [--keep]

What it does, all thrown away at the end (unless --keep):

1. a fresh PostgreSQL database (`connect_bench_attribution`), schema from the migrations;
2. bulk-loaded with set-based SQL: one approved brand with a verified domain, 1,000 products in
   10 categories, 1,000 approved creators (payout currency USD, EUR or GBP; three tiers, some
   tier history, some own-browser visitor ids), 10 active campaigns with category and product
   rates (one with a budget), 10,000 links (half in a campaign), N clicks spread over 60 days
   (UUID hex ids, visitor ids from a pool of N/4, ~3% bots, stored in time order as the drain
   writes them), M orders in USD with 1-3 lines (~50% carry the click id of an earlier click,
   ~40% only a visitor id, ~10% neither; ~1% within seconds of the click, ~0.5% of the lines
   already refunded), all `received`, due, and created more than an hour ago so none waits for
   the click grace; ECB-style USD and GBP rates for every day; then VACUUM ANALYZE;
3. baseline: one bare set-based statement that finds every order's last non-bot click by
   visitor (run 3 times with a warm cache, before attribution; the median counts);
4. `attribute_orders(db.session, now)` over all orders, timed: selects, commission inserts,
   ledger journals, order updates and one commit per batch included. The job's batch size
   (`--batch-size`), and as in production on PostgreSQL, batch N+1 is planned while a writer
   thread writes batch N on a second connection: "CPU of the PostgreSQL backend" sums both
   backends, and the SQL times of the two threads overlap;
5. checks: ledger balanced (per currency and per journal), every attributed order line has its
   commission, commissions agree with the creator ledger accounts, and each order's winning
   click agrees with an independent SQL statement of the attribution rules;
6. the same again at a tenth of the sizes in another fresh database, to see how the cost per
   order grows (linear growth = a ratio near 1).

Not a test: it asserts nothing and prints figures. `--profile` runs the pipeline under cProfile
(slower; the figures of such a run are not the benchmark's) and prints where the time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import os
import pstats
import re
import signal
import statistics
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import cpu_seconds, log, make_app, quiet_logs, run_sizes, vacuum_analyze  # noqa: E402

GOAL_ORDERS_PER_S = 5_000
DOMAIN = "shop.bench.example"
N_CREATORS = 1_000
N_LINKS = 10_000
N_PRODUCTS = 1_000
N_CAMPAIGNS = 10
CATEGORIES = [f"cat{i}" for i in range(10)]


def machine() -> str:
    load1, load5, _ = os.getloadavg()
    return f"cpu_count {os.cpu_count()}, load average 1 min {load1:.2f} (5 min {load5:.2f})"


# --- where the time goes ---------------------------------------------------------------------


def _label(statement: str) -> str:
    """A short name for a SQL statement: verb, main table, notable features."""
    sql = " ".join(statement.split())
    verb = sql.split(" ", 1)[0].upper()
    pattern = {"SELECT": r"\bFROM (\w+)", "INSERT": r"\bINTO (\w+)", "UPDATE": r"^UPDATE (\w+)"}
    match = re.search(pattern.get(verb, r"^$"), sql, re.IGNORECASE)
    label = f"{verb} {match.group(1) if match else ''}".strip()
    if verb == "SELECT" and re.search(r"\bFROM \(SELECT", sql, re.IGNORECASE):
        inner = re.search(r"\bFROM \(SELECT .*? FROM (\w+)", sql, re.IGNORECASE)
        label = f"SELECT (ranked {inner.group(1) if inner else '?'})"
    if "row_number" in sql.lower():
        label += " row_number"
    if "FOR UPDATE" in sql.upper():
        label += " FOR UPDATE"
    if "ON CONFLICT" in sql.upper():
        label += " ON CONFLICT"
    if "JOIN" in sql.upper() and verb == "SELECT":
        joined = re.findall(r"\bJOIN (\w+)", sql, re.IGNORECASE)
        label += " join " + ",".join(dict.fromkeys(joined))
    return label


@dataclass
class SqlMeter:
    """Wall time spent inside cursor.execute/executemany, by statement, plus commits and the
    CPU time of the PostgreSQL backends this process used."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    commit_seconds: float = 0.0
    commits: int = 0
    backend_pids: dict[int, float] = field(default_factory=dict)  # pid -> CPU at first use
    # Per thread: attribute_orders writes one batch in a thread while it plans the next.
    _started: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    _commit_started: dict[int, float] = field(default_factory=dict)
    active: bool = False

    def install(self, engine: Any) -> None:
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine.pool, "checkout", self._checkout)
        # Every session: the job opens a second one for its writer thread.
        event.listen(Session, "before_commit", self._before_commit)
        event.listen(Session, "after_commit", self._after_commit)

    def _checkout(self, dbapi_conn: Any, record: Any, proxy: Any) -> None:
        with contextlib.suppress(Exception):
            pid = int(dbapi_conn.info.backend_pid)
            if pid not in self.backend_pids:  # CPU counted from the first checkout on
                self.backend_pids[pid] = cpu_seconds(pid)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self._started[threading.get_ident()].append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        spent = time.perf_counter() - self._started[threading.get_ident()].pop()
        if self.active:
            label = _label(statement)
            self.seconds[label] += spent
            self.calls[label] += 1

    def _before_commit(self, session: Any) -> None:
        self._commit_started[threading.get_ident()] = time.perf_counter()

    def _after_commit(self, session: Any) -> None:
        if self.active:
            self.commit_seconds += time.perf_counter() - self._commit_started[threading.get_ident()]
            self.commits += 1

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.commit_seconds, self.commits = 0.0, 0

    def backend_cpu(self) -> float:
        """CPU seconds the backends used since this process first checked each one out."""
        return sum(cpu_seconds(pid) - cpu for pid, cpu in self.backend_pids.items())


# --- data --------------------------------------------------------------------------------------


def load_data(session: Any, n_clicks: int, n_orders: int, seed: float, now: datetime) -> None:
    """Everything attribution reads, in bulk. Ids come from fresh sequences, so the arrays of
    ids below are the rows just inserted."""
    from sqlalchemy import text

    def sql(statement: str, **params: Any) -> None:
        session.execute(text(statement), params)

    sql("SELECT setseed(:seed)", seed=seed)
    clicks_from = now - timedelta(days=60, hours=3)  # the last click is 3 h old
    latest_order = now - timedelta(hours=2)
    sql(
        """
        INSERT INTO tiers (name, rank, min_sales_minor, min_earnings_minor, reference_currency,
                           min_audience, bonus_bps, sample_limit)
        VALUES ('Bench bronze', 101, 0, 0, 'USD', 0, 0, 5),
               ('Bench silver', 102, 100000, 0, 'USD', 0, 100, 5),
               ('Bench gold', 103, 1000000, 0, 'USD', 0, 250, 5)
        """
    )
    sql(
        """
        INSERT INTO brands (name, slug, status, default_rate_bps, click_param,
                            return_window_days, currency, website)
        VALUES ('Bench Shop', 'bench-shop', 'approved', 500, 'cx_click', 30, 'USD', :site)
        """,
        site=f"https://{DOMAIN}",
    )
    sql(
        "INSERT INTO brand_domains (brand_id, domain, verified_at) "
        "SELECT id, :domain, :now FROM brands WHERE slug = 'bench-shop'",
        domain=DOMAIN,
        now=now,
    )
    sql(
        """
        INSERT INTO products (brand_id, sku, title, url, price_minor, currency, category,
                              image_url, countries, status)
        SELECT b.id, 'SKU-' || lpad(g::text, 5, '0'), 'Bench product ' || g,
               'https://' || :domain || '/p/' || g, 500 + (g * 37) % 20000, 'USD',
               (CAST(:categories AS text[]))[1 + g % 10], '', '[]', 'active'
        FROM brands b, generate_series(1, :n) g WHERE b.slug = 'bench-shop'
        """,
        domain=DOMAIN,
        categories=CATEGORIES,
        n=N_PRODUCTS,
    )
    sql(
        """
        INSERT INTO users (email, password_hash, name, role, locale, is_active)
        SELECT 'creator' || g || '@bench.example', '!', 'Creator ' || g, 'creator', '', true
        FROM generate_series(1, :n) g
        """,
        n=N_CREATORS,
    )
    # 60% USD, 30% EUR, 10% GBP; a third bronze, a third silver, the rest gold or none.
    sql(
        """
        INSERT INTO creators (user_id, display_name, handle, country, languages, payout_currency,
                              status, tier_id, audience_size, bio, public_leaderboard,
                              approved_at)
        SELECT u.id, u.name, 'bench' || u.id, 'US', '["en"]',
               CASE WHEN u.id % 10 < 6 THEN 'USD' WHEN u.id % 10 < 9 THEN 'EUR' ELSE 'GBP' END,
               'approved', t.ids[1 + u.id % 4], 1000, '', false, :now
        FROM users u,
             (SELECT array_agg(id ORDER BY rank) || ARRAY[NULL::bigint] AS ids FROM tiers
              WHERE name LIKE 'Bench %') t
        WHERE u.email LIKE '%@bench.example'
        """,
        now=now,
    )
    sql(
        """
        INSERT INTO tier_history (creator_id, from_tier_id, to_tier_id, changed_at, reason)
        SELECT c.id, t.ids[1], t.ids[2], :changed, 'bench'
        FROM creators c, (SELECT array_agg(id ORDER BY rank) AS ids FROM tiers
                          WHERE name LIKE 'Bench %') t
        WHERE c.id % 10 = 0
        """,
        changed=now - timedelta(days=30),
    )
    # Ten active campaigns: windows of 7 to 60 days, one with a (large) budget.
    sql(
        """
        INSERT INTO campaigns (brand_id, name, brief, starts_on, ends_on, countries, visibility,
                               status, default_rate_bps, tier_bonus, budget_minor, currency,
                               attribution_window_days, spent_minor)
        SELECT b.id, 'Bench campaign ' || g, '', :start, NULL, '[]', 'open', 'active',
               600 + 100 * g, g % 3 <> 0, CASE WHEN g = 1 THEN 100000000000 END, 'USD',
               (ARRAY[30, 14, 60, 7, 30])[1 + g % 5], 0
        FROM brands b, generate_series(1, :n) g WHERE b.slug = 'bench-shop'
        """,
        start=(now - timedelta(days=90)).date(),
        n=N_CAMPAIGNS,
    )
    sql(
        """
        INSERT INTO campaign_rates (campaign_id, product_id, category, rate_bps)
        SELECT k.id, NULL, c.cat, 800 + 50 * c.i
        FROM campaigns k, unnest(CAST(:categories AS text[])) WITH ORDINALITY AS c(cat, i)
        WHERE c.i <= 4
        """,
        categories=CATEGORIES,
    )
    sql(
        """
        INSERT INTO campaign_rates (campaign_id, product_id, category, rate_bps)
        SELECT k.id, p.id, NULL, 1500
        FROM campaigns k JOIN products p ON p.id % 50 = k.id % 50
        """
    )
    # Half the campaigns cover every product, the other half 200 products each.
    sql(
        """
        INSERT INTO campaign_products (campaign_id, product_id)
        SELECT k.id, p.id FROM campaigns k JOIN products p ON p.id % 5 = k.id % 5
        WHERE k.id % 2 = 0
        """
    )
    sql(
        """
        INSERT INTO links (code, creator_id, product_id, brand_id, campaign_id, content_id,
                           destination_url, status)
        SELECT 'L' || lpad(g::text, 9, '0'), c.ids[1 + g % c.n], p.ids[1 + (g * 7) % p.n], b.id,
               CASE WHEN g % 2 = 0 THEN k.ids[1 + (g / 2) % k.n] END, NULL,
               'https://' || :domain || '/p/' || g, 'active'
        FROM generate_series(1, :n) g, brands b,
             (SELECT array_agg(id ORDER BY id) ids, count(*)::int n FROM creators) c,
             (SELECT array_agg(id ORDER BY id) ids, count(*)::int n FROM products) p,
             (SELECT array_agg(id ORDER BY id) ids, count(*)::int n FROM campaigns) k
        WHERE b.slug = 'bench-shop'
        """,
        domain=DOMAIN,
        n=N_LINKS,
    )
    # Clicks in time order (the drain stores them as they come), visitors from a pool.
    sql(
        """
        INSERT INTO clicks (click_id, link_id, clicked_at, visitor_id, ip_hash, country,
                            user_agent, referrer_host, is_bot, is_duplicate)
        SELECT replace(gen_random_uuid()::text, '-', ''),
               l.ids[1 + floor(random() * l.n)::int],
               :start + (g::float8 / :n) * interval '60 days' + random() * interval '1 second',
               md5('visitor' || floor(random() * :visitors)::bigint),
               md5('ip' || g) || md5('pi' || g), 'US', 'Mozilla/5.0 (bench)', '',
               random() < 0.03, false
        FROM generate_series(1, :n) g,
             (SELECT array_agg(id ORDER BY id) ids, count(*)::int n FROM links) l
        """,
        start=clicks_from,
        n=n_clicks,
        visitors=max(1, n_clicks // 4),
    )
    # Orders: each starts from a random stored click. kind < 0.5: its click id (and visitor);
    # < 0.85: only the visitor; < 0.9: only an unknown visitor; else nothing.
    sql(
        """
        INSERT INTO orders (brand_id, external_id, body_sha256, ordered_at, currency,
                            customer_country, customer_email_hash, click_id, visitor_id,
                            promo_code, status, attribute_after, created_at, updated_at)
        SELECT b.id, 'ORD-' || p.j, md5('body' || p.j) || md5('ydob' || p.j), t.at, 'USD', 'US',
               CASE WHEN p.r < 0.5 THEN md5('mail' || p.j) || md5('liam' || p.j) ELSE '' END,
               CASE WHEN p.kind < 0.5 THEN c.click_id ELSE '' END,
               CASE WHEN p.kind < 0.85 THEN c.visitor_id
                    WHEN p.kind < 0.9 THEN md5('stranger' || p.j) ELSE '' END,
               '', 'received', t.at + interval '5 minutes', t.at + interval '5 minutes',
               t.at + interval '5 minutes'
        FROM (SELECT g AS j, random() AS kind, random() AS r, random() AS delay,
                     (SELECT min(id) FROM clicks) + floor(random() * :clicks)::bigint AS cid
              FROM generate_series(1, :n) g) p
        JOIN clicks c ON c.id = p.cid
        CROSS JOIN LATERAL (
            SELECT least(c.clicked_at + CASE WHEN p.delay < 0.01 THEN interval '5 seconds'
                                             ELSE interval '1 minute'
                                                  + p.delay * interval '5 days' END,
                         :latest) AS at) t
        CROSS JOIN brands b
        WHERE b.slug = 'bench-shop'
        ORDER BY t.at
        """,
        clicks=n_clicks,
        n=n_orders,
        latest=latest_order,
    )
    sql(
        """
        INSERT INTO order_lines (order_id, line_no, sku, product_id, category, quantity,
                                 unit_price_minor, refunded_quantity)
        SELECT x.order_id, x.line_no, pr.sku, pr.id,
               CASE WHEN x.r < 0.5 THEN pr.category ELSE '' END, x.quantity, x.price,
               CASE WHEN x.r2 < 0.005 THEN 1 ELSE 0 END
        FROM (SELECT o.id AS order_id, n AS line_no, random() AS r, random() AS r2,
                     1 + floor(random() * 3)::int AS quantity,
                     500 + floor(random() * 19500)::bigint AS price,
                     (SELECT min(id) FROM products) + floor(random() * :products)::bigint AS pid
              FROM orders o CROSS JOIN LATERAL generate_series(1, 1 + o.id % 3) n) x
        JOIN products pr ON pr.id = x.pid
        """,
        products=N_PRODUCTS,
    )
    # ECB-style rates (units per EUR), one per day from before the first click to today.
    sql(
        """
        INSERT INTO fx_rates (day, currency, rate)
        SELECT d::date, cur.code,
               round((cur.base + 0.01 * sin(extract(doy FROM d)))::numeric, 4)
        FROM generate_series(CAST(:first AS timestamp), CAST(:last AS timestamp),
                             interval '1 day') d,
             (VALUES ('USD', 1.08), ('GBP', 0.85)) cur(code, base)
        """,
        first=(clicks_from - timedelta(days=10)).date(),
        last=now.date(),
    )
    # Some creators browse with a visitor id of the pool: their orders are self-referrals.
    sql(
        """
        INSERT INTO creator_visitors (creator_id, visitor_id)
        SELECT id, md5('visitor' || (id * 997) % :visitors) FROM creators WHERE id % 5 = 0
        """,
        visitors=max(1, n_clicks // 4),
    )
    session.commit()


def table_counts(session: Any) -> dict[str, int]:
    from sqlalchemy import text

    tables = ("creators", "links", "clicks", "orders", "order_lines", "campaigns", "fx_rates")
    return {
        t: int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())  # noqa: S608
        for t in tables
    }


def order_mix(session: Any) -> dict[str, int]:
    from sqlalchemy import text

    row = session.execute(
        text(
            """
            SELECT count(*) FILTER (WHERE click_id <> ''),
                   count(*) FILTER (WHERE click_id = '' AND visitor_id <> ''),
                   count(*) FILTER (WHERE click_id = '' AND visitor_id = ''),
                   (SELECT count(*) FILTER (WHERE is_bot) FROM clicks),
                   (SELECT count(DISTINCT visitor_id) FROM clicks)
            FROM orders
            """
        )
    ).one()
    return dict(
        zip(("click_id", "visitor_only", "nothing", "bot_clicks", "visitors"), row, strict=True)
    )


# --- baseline ----------------------------------------------------------------------------------

BARE_SELECT = """
SELECT DISTINCT ON (o.id) o.id, c.click_id
FROM orders o
JOIN clicks c ON c.visitor_id = o.visitor_id AND c.clicked_at <= o.ordered_at AND NOT c.is_bot
WHERE o.visitor_id <> ''
ORDER BY o.id, c.clicked_at DESC
"""


@dataclass
class Bare:
    runs: list[float]
    rows: int
    backend_cpu: float  # of the median run

    @property
    def seconds(self) -> float:
        return statistics.median(self.runs)


def time_bare(engine: Any, repeats: int = 3) -> Bare:
    """The bare statement, rows fetched to the client; first an untimed run to warm the cache."""
    from sqlalchemy import text

    runs, cpus, rows = [], [], 0
    with engine.connect() as conn:
        pid = int(conn.connection.dbapi_connection.info.backend_pid)
        conn.execute(text(BARE_SELECT)).all()
        for _ in range(repeats):
            cpu, started = cpu_seconds(pid), time.perf_counter()
            rows = len(conn.execute(text(BARE_SELECT)).all())
            runs.append(time.perf_counter() - started)
            cpus.append(cpu_seconds(pid) - cpu)
        conn.rollback()
    middle = sorted(range(repeats), key=runs.__getitem__)[repeats // 2]
    return Bare(runs, rows, cpus[middle])


def warm_pipeline_tables(engine: Any) -> None:
    """Read what the pipeline reads, so that it, like the bare statement, starts warm."""
    from sqlalchemy import text

    with engine.connect() as conn:
        for table in ("orders", "order_lines", "clicks", "links", "creators", "users"):
            conn.execute(text(f"SELECT count(*), sum(length(t::text)) FROM {table} t"))  # noqa: S608
        conn.execute(text("SELECT count(*) FROM clicks WHERE click_id > '8'"))
        conn.rollback()


# --- the pipeline --------------------------------------------------------------------------------


@dataclass
class Pipeline:
    seconds: float
    python_cpu: float
    backend_cpu: float
    orders: int
    attributed: int
    unattributed: int
    deferred: int
    held: int
    commissions: int
    batch_seconds: list[float]
    sql_seconds: dict[str, float]
    sql_calls: dict[str, int]
    commit_seconds: float
    commits: int
    profile: str = ""
    workers: int = 1

    @property
    def per_second(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0


def run_pipeline(app: Any, meter: SqlMeter, now: datetime, batch_size: int, profile: bool) -> Any:
    from connect.conversions.tasks import attribute_orders
    from connect.extensions import db

    marks: list[float] = []
    profiler = cProfile.Profile() if profile else None
    with app.app_context():
        session = db.session
        meter.install(db.engine)
        meter.reset()
        cpu_db = meter.backend_cpu()
        meter.active = True
        cpu, started = time.process_time(), time.perf_counter()
        marks.append(started)
        if profiler:
            profiler.enable()
        total = attribute_orders(
            session,
            now,
            batch_size=batch_size,
            after_batch=lambda _batch: marks.append(time.perf_counter()),
        )
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        python_cpu = time.process_time() - cpu
        meter.active = False
        backend_cpu = meter.backend_cpu() - cpu_db
        session.remove()
    text_profile = ""
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        text_profile = out.getvalue()
    batches = [b - a for a, b in itertools.pairwise(marks)]
    return Pipeline(
        seconds=seconds,
        python_cpu=python_cpu,
        backend_cpu=backend_cpu,
        orders=total.orders,
        attributed=total.attributed,
        unattributed=total.unattributed,
        deferred=total.deferred,
        held=total.held,
        commissions=total.commissions,
        batch_seconds=batches[:-1] if len(batches) > 1 else batches,  # the last one is empty
        sql_seconds=dict(meter.seconds),
        sql_calls=dict(meter.calls),
        commit_seconds=meter.commit_seconds,
        commits=meter.commits,
        profile=text_profile,
    )


# --- checks --------------------------------------------------------------------------------------

EXPECTED_CLICKS = """
WITH direct AS (
    SELECT o.id AS order_id, c.click_id
    FROM orders o
    JOIN clicks c ON c.click_id = o.click_id
    JOIN links l ON l.id = c.link_id
    WHERE o.click_id <> '' AND l.brand_id = o.brand_id AND c.clicked_at <= o.ordered_at
), by_visitor AS (
    SELECT DISTINCT ON (o.id) o.id AS order_id, c.click_id
    FROM orders o
    JOIN clicks c ON c.visitor_id = o.visitor_id AND c.clicked_at <= o.ordered_at AND NOT c.is_bot
    JOIN links l ON l.id = c.link_id AND l.brand_id = o.brand_id
    LEFT JOIN campaigns k ON k.id = l.campaign_id
    WHERE o.visitor_id <> ''
      AND NOT EXISTS (SELECT 1 FROM direct d WHERE d.order_id = o.id)
      AND c.clicked_at >= o.ordered_at
                          - make_interval(days => coalesce(k.attribution_window_days, 30))
    ORDER BY o.id, c.clicked_at DESC, c.id DESC
), expected AS (
    SELECT * FROM direct UNION ALL SELECT * FROM by_visitor
), shared AS (
    SELECT click_id FROM orders WHERE click_id <> '' GROUP BY click_id HAVING count(*) > 1
), compared AS (
    SELECT o.status, o.attributed_click_id, e.click_id AS expected, s.click_id IS NOT NULL AS shared
    FROM orders o
    LEFT JOIN expected e ON e.order_id = o.id
    LEFT JOIN shared s ON s.click_id = o.click_id
)
SELECT count(*) FILTER (WHERE expected IS NOT NULL AND attributed_click_id = expected),
       count(*) FILTER (WHERE expected IS NULL AND status = 'unattributed'),
       count(*) FILTER (WHERE coalesce(expected, '') <> coalesce(attributed_click_id, '')),
       count(*) FILTER (WHERE coalesce(expected, '') <> coalesce(attributed_click_id, '')
                          AND shared)
FROM compared
"""


def checks(session: Any) -> dict[str, Any]:
    from sqlalchemy import text

    def one(statement: str) -> Any:
        return session.execute(text(statement)).one()

    status = dict(
        session.execute(text("SELECT status, count(*) FROM orders GROUP BY status")).all()
    )
    per_currency = session.execute(
        text("SELECT currency, sum(amount_minor) FROM ledger_entries GROUP BY currency ORDER BY 1")
    ).all()
    unbalanced = one(
        "SELECT count(*) FROM (SELECT journal_id FROM ledger_entries "
        "GROUP BY journal_id, currency HAVING sum(amount_minor) <> 0) x"
    )[0]
    lines_without = one(
        "SELECT count(*) FROM order_lines ol JOIN orders o ON o.id = ol.order_id "
        "LEFT JOIN commissions c ON c.order_line_id = ol.id "
        "WHERE o.status = 'attributed' AND c.id IS NULL"
    )[0]
    orders_without = one(
        "SELECT count(*) FROM orders o WHERE o.status = 'attributed' "
        "AND NOT EXISTS (SELECT 1 FROM commissions c WHERE c.order_id = o.id)"
    )[0]
    stray = one(
        "SELECT count(*) FROM commissions c JOIN orders o ON o.id = c.order_id "
        "WHERE o.status <> 'attributed'"
    )[0]
    # What the commissions say is owed (net of early refunds) vs the creators' ledger accounts.
    owed = one(
        """
        SELECT (SELECT coalesce(sum(amount_minor - reversed_minor), 0) FROM commissions),
               (SELECT coalesce(-sum(e.amount_minor), 0) FROM ledger_entries e
                JOIN ledger_accounts a ON a.id = e.account_id
                WHERE a.kind IN ('creator_pending', 'creator_held'))
        """
    )
    journals = one("SELECT count(*) FILTER (WHERE kind = 'accrual'), count(*) FROM ledger_journals")
    paying = one("SELECT count(*) FILTER (WHERE amount_minor > 0), count(*) FROM commissions")
    commission_status = dict(
        session.execute(text("SELECT status, count(*) FROM commissions GROUP BY status")).all()
    )
    agree, agree_none, disagree, disagree_shared = one(EXPECTED_CLICKS)
    session.rollback()
    return {
        "status": status,
        "ledger_per_currency": per_currency,
        "unbalanced_journals": unbalanced,
        "attributed_lines_without_commission": lines_without,
        "attributed_orders_without_commission": orders_without,
        "commissions_on_other_orders": stray,
        "owed_commissions": int(owed[0]),
        "owed_ledger": int(owed[1]),
        "accrual_journals": journals[0],
        "journals": journals[1],
        "paying_commissions": paying[0],
        "commissions": paying[1],
        "commission_status": commission_status,
        "rules_agree": agree,
        "rules_agree_none": agree_none,
        "rules_disagree": disagree,
        "rules_disagree_shared": disagree_shared,
    }


# --- one size ----------------------------------------------------------------------------------


@dataclass
class Result:
    clicks: int
    orders: int
    load_seconds: float
    counts: dict[str, int]
    mix: dict[str, int]
    bare: Bare
    pipeline: Pipeline
    checks: dict[str, Any]
    machine_before: str
    machine_after: str

    @property
    def ratio(self) -> float:
        return self.pipeline.seconds / self.bare.seconds if self.bare.seconds else 0.0

    @property
    def ms_per_order(self) -> float:
        return 1000 * self.pipeline.seconds / max(1, self.pipeline.orders)


def _parallel_worker(
    url: str, instance: str, now: datetime, batch_size: int, go: Any, out: Any
) -> None:
    """One attribution process of --workers: its own app and connections, started together."""
    from sqlalchemy import text

    from connect.conversions.tasks import attribute_orders
    from connect.extensions import db

    app = make_app(url, Path(instance))
    with app.app_context():
        db.session.execute(text("SELECT 1"))  # connected before the start signal
        go.wait()
        cpu = time.process_time()
        total = attribute_orders(db.session, now, batch_size=batch_size)
        out.put((time.perf_counter(), time.process_time() - cpu, vars(total)))
        db.session.remove()


def run_parallel(url: str, instance: Path, now: datetime, batch_size: int, workers: int) -> Any:
    """The pipeline in `workers` processes at once (FOR UPDATE SKIP LOCKED shares the orders out).
    Wall time from the common start to the last process done; no SQL breakdown."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    go, out = context.Event(), context.Queue()
    procs = [
        context.Process(
            target=_parallel_worker, args=(url, str(instance), now, batch_size, go, out)
        )
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    time.sleep(3)  # every process built its app and connected
    started = time.perf_counter()
    go.set()
    finished = [out.get(timeout=3600) for _ in procs]
    for proc in procs:
        proc.join()
    seconds = max(end for end, _, _ in finished) - started
    totals = {key: sum(r[key] for _, _, r in finished) for key in finished[0][2]}
    return Pipeline(
        seconds=seconds,
        python_cpu=sum(cpu for _, cpu, _ in finished),
        backend_cpu=0.0,
        orders=totals["orders"],
        attributed=totals["attributed"],
        unattributed=totals["unattributed"],
        deferred=totals["deferred"],
        held=totals["held"],
        commissions=totals["commissions"],
        batch_seconds=[],
        sql_seconds={},
        sql_calls={},
        commit_seconds=0.0,
        commits=0,
        workers=workers,
    )


def run_size(
    base: str, db_name: str, n_clicks: int, n_orders: int, args: argparse.Namespace, tmp: Path
) -> Result:
    from flask_migrate import upgrade

    from connect.extensions import db
    from tests.support.services import create_database

    log(f"--- {n_clicks:,} clicks / {n_orders:,} orders in database {db_name}")
    url = create_database(base, db_name)
    app = make_app(url, tmp / db_name)
    with quiet_logs(), app.app_context():
        started = time.perf_counter()
        upgrade()
        log(f"schema migrated in {time.perf_counter() - started:.1f} s")
        now = datetime.now(UTC)
        started = time.perf_counter()
        load_data(db.session, n_clicks, n_orders, args.seed, now)
        db.session.remove()
        vacuum_analyze(db.engine)
        load_seconds = time.perf_counter() - started
        counts = table_counts(db.session)
        mix = order_mix(db.session)
        db.session.remove()
        log(f"loaded and analyzed in {load_seconds:.1f} s: {counts}")
        log(f"order mix: {mix}")

        before = machine()
        log(f"machine: {before}")
        bare = time_bare(db.engine)
        log(
            f"bare select: {bare.rows:,} rows, runs {', '.join(f'{s:.3f}' for s in bare.runs)} s"
            f" (median {bare.seconds:.3f} s, backend CPU {bare.backend_cpu:.3f} s)"
        )
        warm_pipeline_tables(db.engine)
        log(f"attribute_orders(batch_size={args.batch_size}) ...")
        now = datetime.now(UTC)
        if args.workers > 1:
            pipeline = run_parallel(url, tmp / db_name, now, args.batch_size, args.workers)
        else:
            pipeline = run_pipeline(app, SqlMeter(), now, args.batch_size, args.profile)
        after = machine()
        log(
            f"pipeline: {pipeline.orders:,} orders in {pipeline.seconds:.2f} s = "
            f"{pipeline.per_second:,.0f} orders/s; machine: {after}"
        )
        found = checks(db.session)
        db.session.remove()
        db.engine.dispose()
    return Result(
        n_clicks, n_orders, load_seconds, counts, mix, bare, pipeline, found, before, after
    )


# --- report ----------------------------------------------------------------------------------


def size_block(r: Result) -> list[str]:
    p, b, c = r.pipeline, r.bare, r.checks
    batches = p.batch_seconds or [0.0]
    head, tail = batches[:5], batches[-5:]
    sql_total = sum(p.sql_seconds.values())
    other = p.seconds - sql_total - p.commit_seconds
    lines = [
        f"size: {r.clicks:,} clicks, {r.orders:,} orders "
        f"({r.mix['click_id']:,} with click id, {r.mix['visitor_only']:,} visitor only, "
        f"{r.mix['nothing']:,} neither; {r.counts['order_lines']:,} lines; "
        f"{r.mix['visitors']:,} visitors; {r.mix['bot_clicks']:,} bot clicks)",
        f"  machine before: {r.machine_before}",
        f"  machine after : {r.machine_after}",
        f"  bare select   : {b.seconds:.3f} s median of {len(b.runs)} warm runs "
        f"({', '.join(f'{s:.3f}' for s in b.runs)}), {b.rows:,} rows, "
        f"{1000 * b.seconds / r.orders:.4f} ms/order, backend CPU {b.backend_cpu:.2f} s",
        f"  attribution   : {p.seconds:.2f} s for {p.orders:,} orders = "
        f"{p.per_second:,.0f} orders/s ({r.ms_per_order:.3f} ms/order; goal >= "
        f"{GOAL_ORDERS_PER_S:,}/s{'' if p.per_second >= GOAL_ORDERS_PER_S else ': MISSED'})",
        f"  ratio attribution / bare select: {r.ratio:.1f}x"
        + (f"  ({p.workers} attribution processes side by side)" if p.workers > 1 else ""),
    ]
    if p.workers > 1:
        lines.append(
            f"  CPU of the {p.workers} processes {p.python_cpu:.2f} s (wall {p.seconds:.2f} s); "
            "no per-batch or per-statement breakdown in this mode (run --workers 1 for it)"
        )
    else:
        lines += [
            f"  CPU: bench process {p.python_cpu:.2f} s, PostgreSQL backend "
            f"{p.backend_cpu:.2f} s (wall {p.seconds:.2f} s)",
            f"  batches: {len(p.batch_seconds)} x {p.orders // max(1, len(p.batch_seconds)):,}; "
            f"seconds min {min(batches):.3f} median {statistics.median(batches):.3f} "
            f"max {max(batches):.3f}; first 5 avg {statistics.mean(head):.3f}, "
            f"last 5 avg {statistics.mean(tail):.3f}",
            f"  time inside SQL execute {sql_total:.2f} s (COPY not included), commits "
            f"{p.commit_seconds:.2f} s ({p.commits}), the rest (Python, ORM, COPY) {other:.2f} s",
        ]
    top = sorted(p.sql_seconds.items(), key=lambda kv: -kv[1])[:12]
    for label, seconds in top:
        lines.append(f"      {seconds:7.2f} s {p.sql_calls[label]:6d} calls  {label[:110]}")
    lines += [
        f"  result: attributed {p.attributed:,}, unattributed {p.unattributed:,}, "
        f"deferred {p.deferred:,}, held {p.held:,}, commissions {p.commissions:,}",
        "  checks:",
        f"    orders by status: {dict(sorted(c['status'].items()))}",
        "    ledger sum per currency: "
        + ", ".join(f"{cur} {int(total)}" for cur, total in c["ledger_per_currency"])
        + ("  OK" if all(int(t) == 0 for _, t in c["ledger_per_currency"]) else "  NOT ZERO"),
        f"    unbalanced journals: {c['unbalanced_journals']}",
        f"    attributed orders without commission: {c['attributed_orders_without_commission']}"
        f", attributed lines without commission: {c['attributed_lines_without_commission']}, "
        f"commissions on non-attributed orders: {c['commissions_on_other_orders']}",
        f"    commissions {c['commissions']:,} ({c['paying_commissions']:,} with amount > 0), "
        f"accrual journals {c['accrual_journals']:,}, all journals {c['journals']:,}; "
        f"by status {dict(sorted(c['commission_status'].items()))}",
        f"    owed by commissions {c['owed_commissions']:,} vs creator pending+held ledger "
        f"{c['owed_ledger']:,}: {'OK' if c['owed_commissions'] == c['owed_ledger'] else 'DIFFER'}",
        f"    winning click vs SQL statement of the rules: {c['rules_agree']:,} agree, "
        f"{c['rules_agree_none']:,} agree on no click, {c['rules_disagree']:,} disagree"
        + (
            f" ({c['rules_disagree_shared']:,} of them carry a click id another order also carries)"
            if c["rules_disagree"]
            else ""
        ),
    ]
    return lines


def summary(results: list[Result], start_machine: str, end_machine: str) -> str:
    lines = ["=" * 100, "ATTRIBUTION BENCHMARK SUMMARY", f"start: {start_machine}"]
    for r in results:
        lines += size_block(r)
    if len(results) == 2:
        big, small = results
        growth = big.ms_per_order / small.ms_per_order if small.ms_per_order else 0.0
        bare_growth = (big.bare.seconds / big.orders) / (small.bare.seconds / small.orders)
        lines.append(
            f"growth {small.orders:,} -> {big.orders:,} orders ({big.orders / small.orders:.0f}x"
            f" data): per-order cost x{growth:.2f} for attribution (1.00 = linear), "
            f"x{bare_growth:.2f} for the bare select; throughput {small.pipeline.per_second:,.0f}"
            f" -> {big.pipeline.per_second:,.0f} orders/s"
        )
    lines.append(f"end: {end_machine}")
    lines.append("=" * 100)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument(
        "--scale",
        type=int,
        default=10,
        help="also run at sizes divided by this, in a fresh database (1: skip)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="attribute_orders batch (default: the job's)"
    )
    parser.add_argument("--db-name", default="connect_bench_attribution")
    parser.add_argument("--seed", type=float, default=0.42, help="PostgreSQL setseed() value")
    parser.add_argument("--profile", action="store_true", help="run the pipeline under cProfile")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="attribution processes side by side (as several RQ workers would run it)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.batch_size is None:
        from connect.conversions.tasks import BATCH_SIZE

        args.batch_size = BATCH_SIZE
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    start_machine = machine()
    log(f"machine: {start_machine}")
    sizes = [(args.db_name, args.clicks, args.orders)]
    if args.scale > 1:
        sizes.append(
            (f"{args.db_name}_small", args.clicks // args.scale, args.orders // args.scale)
        )
    results: list[Result] = run_sizes(
        sizes,
        lambda base, name, clicks, orders, tmp: run_size(base, name, clicks, orders, args, tmp),
        keep=args.keep,
        prefix="connect-bench-attribution-",
    )
    end_machine = machine()
    for r in results:
        if r.pipeline.profile:
            print(f"\ncProfile of attribute_orders at {r.orders:,} orders:\n{r.pipeline.profile}")
    print("\n" + summary(results, start_machine, end_machine), flush=True)
    log(f"done in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
