"""Benchmark of the tier recompute: `recompute_tiers` over every creator at once.

    .venv/bin/python bench/tiers/run.py [--creators 1000000] [--entries 10000000] [--scale 10]

Sizes also come from the environment (TIERS_BENCH_CREATORS, TIERS_BENCH_ENTRIES,
TIERS_BENCH_SCALE), so `TIERS_BENCH_CREATORS=10000 TIERS_BENCH_ENTRIES=100000 make bench` runs
it small. What it does, all thrown away at the end (unless --keep):

1. a fresh PostgreSQL database (`connect_bench_tiers`), schema from the migrations;
2. bulk-loaded with set-based SQL (foreign-key triggers off for the load only): the default
   ladder, ECB-style USD and GBP rates, one brand with 1,000 products in 10 categories,
   N creators (users too; 10 countries; audience falling with the creator id; a tier and a
   running grace clock from an imagined earlier run, so this run promotes, demotes, starts and
   ends grace periods) and E earning entries: E/2 attributed orders over the last 120 days with
   2 lines each and one commission per line (USD/EUR/GBP; approved, paid, pending, held or
   reversed). Orders go to creators with a power law, so a few reach KOL. The commissions are
   the per-line earnings the ledger's accrual journals mirror; they are what the recompute
   reads. Then VACUUM ANALYZE;
3. baseline: a bare SELECT count/sum over the same commissions joined to their orders in the
   same 90-day window (3 warm runs, the median counts) - the floor any recompute pays to read
   the figures;
4. `recompute_tiers(db.session, now)` + commit, timed (the first run changes many creators);
   then a second run right after (changes nothing: the steady state of the 6-hourly job);
5. checks: history rows = notifications = moves; no creator is below the tier their figures
   earn; for a sample of creators, the stored tier against `qualifying_rank` in Python;
6. the same again at a tenth of the sizes in another fresh database, and the growth ratio
   of the cost per creator (linear = 1.00).

Not a test: it asserts nothing and prints figures.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import log, make_app, quiet_logs, run_sizes, vacuum_analyze  # noqa: E402

GOAL_SECONDS = 60.0
N_PRODUCTS = 1_000
CATEGORIES = [f"cat{i}" for i in range(10)]
COUNTRIES = ["US", "FR", "ES", "PL", "BR", "RU", "DE", "IT", "GB", "MX"]


def machine() -> str:
    try:
        uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    except OSError:
        uptime = ""
    load1, load5, load15 = os.getloadavg()
    return f"cpu_count {os.cpu_count()}, load average {load1:.2f} {load5:.2f} {load15:.2f}" + (
        f" (uptime: {uptime.strip()})" if uptime else ""
    )


# --- data --------------------------------------------------------------------------------------


def load_data(session: Any, n_creators: int, n_entries: int, seed: float, now: datetime) -> None:
    """Everything the recompute reads, in bulk. The database is fresh, so ids start at 1."""
    from sqlalchemy import text

    from connect.tiers.services import default_tiers

    def sql(statement: str, **params: Any) -> None:
        session.execute(text(statement), params)

    session.add_all(default_tiers())
    session.flush()
    # A bulk load of rows that satisfy their foreign keys by construction: skip the checks.
    sql("SET LOCAL session_replication_role = replica")
    sql("SELECT setseed(:seed)", seed=seed)
    sql(
        """
        INSERT INTO fx_rates (day, currency, rate)
        VALUES (:day, 'USD', 1.0800), (:day, 'GBP', 0.8500)
        """,
        day=(now - timedelta(days=1)).date(),
    )
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
        INSERT INTO products (brand_id, sku, title, url, price_minor, currency, category,
                              image_url, countries, status)
        SELECT 1, 'SKU-' || lpad(g::text, 5, '0'), 'Bench product ' || g,
               'https://shop.bench.example/p/' || g, 500 + (g * 37) % 20000, 'USD',
               (CAST(:categories AS text[]))[1 + g % 10], '', '[]', 'active'
        FROM generate_series(1, :n) g
        """,
        categories=CATEGORIES,
        n=N_PRODUCTS,
    )
    sql(
        """
        INSERT INTO users (email, password_hash, name, role, locale, is_active)
        SELECT 'creator' || g || '@bench.example', '!', 'Creator ' || g, 'creator', '', true
        FROM generate_series(1, :n) g
        """,
        n=n_creators,
    )
    # Audience falls with the id (id 1 ~2M followers, id 100,000 ~2,000), like the orders.
    # The tier and grace clock of an imagined earlier run: a fifth with no tier yet, the
    # rest spread over the ladder; a fifth of those below their tier for 45 days already.
    sql(
        """
        INSERT INTO creators (user_id, display_name, handle, country, languages, payout_currency,
                              status, tier_id, tier_below_since, audience_size, bio,
                              public_leaderboard, approved_at)
        SELECT g, 'Creator ' || g, 'bench' || g, (CAST(:countries AS text[]))[1 + g % 10],
               '["en"]', 'USD', 'approved',
               CASE WHEN g % 5 = 0 THEN NULL ELSE 1 + (g * 7) % 5 END,
               CASE WHEN g % 5 <> 0 AND g % 25 < 5 THEN CAST(:old AS timestamptz) END,
               (2000000 / power(g, 0.6))::bigint + floor(random() * 5000)::bigint, '',
               g % 3 = 0, :now
        FROM generate_series(1, :n) g
        """,
        countries=COUNTRIES,
        old=now - timedelta(days=45),
        now=now,
        n=n_creators,
    )
    n_orders = n_entries // 2
    sql(
        """
        INSERT INTO orders (brand_id, external_id, body_sha256, ordered_at, currency,
                            customer_country, customer_email_hash, click_id, visitor_id,
                            promo_code, status, attribute_after, creator_id)
        SELECT 1, 'ORD-' || g, '', p.at, p.cur, 'US', '', '', '', '', 'attributed', p.at,
               1 + floor(:creators * power(random(), 3))::bigint
        FROM (SELECT g, CAST(:now AS timestamptz) - random() * interval '120 days' AS at,
                     CASE WHEN random() < 0.6 THEN 'USD'
                          WHEN random() < 0.75 THEN 'EUR' ELSE 'GBP' END AS cur
              FROM generate_series(1, :n) g) p
        """,
        creators=n_creators,
        now=now,
        n=n_orders,
    )
    sql(
        """
        INSERT INTO order_lines (order_id, line_no, sku, product_id, category, quantity,
                                 unit_price_minor, refunded_quantity)
        SELECT (g + 1) / 2, 2 - g % 2, 'SKU-' || lpad(p::text, 5, '0'), p,
               (CAST(:categories AS text[]))[1 + p % 10], 1,
               500 + floor(random() * 20000)::bigint, 0
        FROM (SELECT g, 1 + floor(random() * :products)::int AS p
              FROM generate_series(1, :n) g) x
        """,
        categories=CATEGORIES,
        products=N_PRODUCTS,
        n=2 * n_orders,
    )
    sql(
        """
        INSERT INTO commissions (order_line_id, order_id, creator_id, brand_id, campaign_id,
                                 rate_bps, bonus_bps, base_minor, base_currency, fx_rate,
                                 amount_minor, currency, capped_minor, budget_minor,
                                 reversed_minor, status, hold_reason, approve_after)
        SELECT l.id, o.id, o.creator_id, 1, NULL, 800, 0, l.unit_price_minor, o.currency, 1,
               l.unit_price_minor * 8 / 100, o.currency, 0, 0, 0,
               CASE WHEN s < 0.45 THEN 'approved' WHEN s < 0.60 THEN 'paid'
                    WHEN s < 0.90 THEN 'pending' WHEN s < 0.95 THEN 'held'
                    ELSE 'reversed' END,
               '', o.ordered_at + interval '30 days'
        FROM (SELECT id, order_id, unit_price_minor, random() AS s FROM order_lines) l
        JOIN orders o ON o.id = l.order_id
        """
    )
    session.commit()


def reset_state(session: Any) -> datetime:
    """Back to the state `load_data` left (for --reuse): the creators' tiers and grace clocks
    of the imagined earlier run, no history, no notifications. Returns the load's `now`."""
    from sqlalchemy import text

    now = session.execute(text("SELECT max(ordered_at) FROM orders")).scalar_one()
    now = now + timedelta(seconds=1)
    session.execute(text("TRUNCATE tier_history, notifications"))
    session.execute(
        text(
            """
            UPDATE creators SET
                tier_id = CASE WHEN id % 5 = 0 THEN NULL ELSE 1 + (id * 7) % 5 END,
                tier_below_since = CASE WHEN id % 5 <> 0 AND id % 25 < 5
                                        THEN CAST(:old AS timestamptz) END
            """
        ),
        {"old": now - timedelta(days=45)},
    )
    session.commit()
    return now


def table_counts(session: Any) -> dict[str, int]:
    from sqlalchemy import text

    tables = ("creators", "orders", "order_lines", "commissions", "tiers")
    return {
        t: int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())  # noqa: S608
        for t in tables
    }


# --- baseline ----------------------------------------------------------------------------------

BARE_SELECT = """
SELECT count(*), sum(c.base_minor), sum(c.amount_minor)
FROM commissions c JOIN orders o ON o.id = c.order_id
WHERE o.status = 'attributed' AND o.ordered_at > :since AND o.ordered_at <= :now
"""


@dataclass
class Bare:
    runs: list[float]
    rows: int

    @property
    def seconds(self) -> float:
        return statistics.median(self.runs)


def time_bare(engine: Any, now: datetime, repeats: int = 3) -> Bare:
    """The bare read, with the same work_mem the recompute sets; one untimed run warms up."""
    from sqlalchemy import text

    from connect.tiers.services import WINDOW

    params = {"since": now - WINDOW, "now": now}
    runs, rows = [], 0
    with engine.connect() as conn:
        conn.execute(text("SET work_mem = '256MB'"))
        conn.execute(text(BARE_SELECT), params).all()
        for _ in range(repeats):
            started = time.perf_counter()
            rows = int(conn.execute(text(BARE_SELECT), params).one()[0])
            runs.append(time.perf_counter() - started)
        conn.rollback()
    return Bare(runs, rows)


# --- the recompute -------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    result: dict[str, int]
    #: (statement, seconds), in the order they ran, the commit last.
    statements: list[tuple[str, float]]


def _label(statement: str) -> str:
    words = " ".join(statement.split()).split(" ")
    verb = words[0].upper()
    if verb in {"INSERT", "CREATE"}:
        return " ".join(words[:5])
    if verb == "UPDATE":
        return " ".join(words[:2])
    if verb == "SELECT" and "FROM" in words:
        return "SELECT ... FROM " + words[words.index("FROM") + 1]  # noqa: S608 - a label
    return " ".join(words[:4])


def run_recompute(app: Any, now: datetime) -> Run:
    from sqlalchemy import event

    from connect.extensions import db
    from connect.tiers.services import recompute_tiers

    spent: list[tuple[str, float]] = []
    marks: list[float] = []

    def before(*args: Any) -> None:
        marks.append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        spent.append((_label(statement), time.perf_counter() - marks.pop()))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
        started = time.perf_counter()
        result = recompute_tiers(db.session, now)
        committing = time.perf_counter()
        db.session.commit()
        seconds = time.perf_counter() - started
        spent.append(("COMMIT", time.perf_counter() - committing))
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)
        db.session.remove()
    return Run(seconds, vars(result), spent)


def checks(session: Any, now: datetime, sample: int = 2000) -> dict[str, Any]:
    """Independent checks of the outcome."""
    from sqlalchemy import select, text

    from connect.creators.models import Creator
    from connect.tiers.services import active_ladder, creator_metrics, qualifying_rank

    def one(statement: str) -> Any:
        return session.execute(text(statement)).scalar_one()

    ladder = active_ladder(session)
    rank_of = {t.id: t.rank for t in ladder}
    by_tier = dict(
        session.execute(
            text(
                "SELECT coalesce(t.name, '-'), count(*) FROM creators c "
                "LEFT JOIN tiers t ON t.id = c.tier_id GROUP BY 1 ORDER BY min(t.rank)"
            )
        ).all()
    )
    m = creator_metrics(session, now)
    total = one("SELECT count(*) FROM creators")
    ids = [1, 2, 3, 10, 100] + [1 + (i * 7919) % total for i in range(sample)]
    rows = session.execute(
        select(
            Creator.id,
            Creator.tier_id,
            Creator.tier_below_since,
            Creator.audience_size,
            m.c.sales,
            m.c.earnings,
        )
        .outerjoin(m, m.c.creator_id == Creator.id)
        .where(Creator.id.in_(sorted(set(ids))))
    ).all()
    agree = in_grace = wrong = 0
    for _id, tier_id, below, audience, sales, earnings in rows:
        earned = qualifying_rank(ladder, Decimal(sales or 0), Decimal(earnings or 0), int(audience))
        stored = rank_of.get(tier_id, 0)
        if stored == earned:
            agree += 1
        elif stored > earned and below is not None:
            in_grace += 1
        else:
            wrong += 1
    out = {
        "by_tier": by_tier,
        "history": one("SELECT count(*) FROM tier_history"),
        "notifications": one("SELECT count(*) FROM notifications"),
        "sample": len(rows),
        "sample_agree": agree,
        "sample_in_grace": in_grace,
        "sample_wrong": wrong,
        "top_sales_usd": one(
            "SELECT coalesce(max(s), 0) / 100 FROM (SELECT sum(c.base_minor) s FROM commissions c "
            "GROUP BY c.creator_id) x"
        ),
    }
    session.rollback()
    return out


# --- one size ----------------------------------------------------------------------------------


@dataclass
class Result:
    creators: int
    entries: int
    load_seconds: float
    counts: dict[str, int]
    bare: Bare
    first: Run
    second: Run
    checks: dict[str, Any]
    machine_before: str
    machine_after: str

    @property
    def us_per_creator(self) -> float:
        return 1e6 * self.first.seconds / max(1, self.creators)


def database_exists(base: str, name: str) -> bool:
    import psycopg

    from tests.support.services import _pg_conninfo

    with psycopg.connect(**_pg_conninfo(base, "postgres"), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return found is not None


def database_url(base: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(base)._replace(path="/" + name))


def run_size(
    base: str, db_name: str, n_creators: int, n_entries: int, args: argparse.Namespace, tmp: Path
) -> Result:
    from flask_migrate import upgrade

    from connect.extensions import db
    from tests.support.services import create_database

    log(f"--- {n_creators:,} creators / {n_entries:,} entries in database {db_name}")
    reuse = args.reuse and database_exists(base, db_name)
    url = database_url(base, db_name) if reuse else create_database(base, db_name)
    app = make_app(url, tmp / db_name)
    with quiet_logs(), app.app_context():
        started = time.perf_counter()
        if reuse:
            now = reset_state(db.session)
            log("reused the loaded database (tiers and grace clocks reset)")
        else:
            upgrade()
            now = datetime.now(UTC)
            load_data(db.session, n_creators, n_entries, args.seed, now)
        db.session.remove()
        vacuum_analyze(db.engine)
        load_seconds = time.perf_counter() - started
        counts = table_counts(db.session)
        db.session.remove()
        log(f"loaded and analyzed in {load_seconds:.1f} s: {counts}")
        before = machine()
        log(f"machine: {before}")
        bare = time_bare(db.engine, now)
        log(
            f"bare select: {bare.rows:,} commissions in the window, runs "
            f"{', '.join(f'{s:.3f}' for s in bare.runs)} s (median {bare.seconds:.3f} s)"
        )
    first = run_recompute(app, now)
    log(f"recompute: {first.seconds:.2f} s {first.result}")
    second = run_recompute(app, now)
    log(f"second recompute: {second.seconds:.2f} s {second.result}")
    after = machine()
    log(f"machine: {after}")
    with app.app_context():
        found = checks(db.session, now)
        db.session.remove()
        db.engine.dispose()
    return Result(
        n_creators, n_entries, load_seconds, counts, bare, first, second, found, before, after
    )


# --- report ----------------------------------------------------------------------------------


def size_block(r: Result) -> list[str]:
    f, s, c = r.first, r.second, r.checks
    moves = f.result["promoted"] + f.result["demoted"] + f.result["moved"]
    missed = "" if f.seconds < GOAL_SECONDS else ": MISSED"
    return [
        f"size: {r.creators:,} creators, {r.counts['commissions']:,} commissions "
        f"({r.counts['orders']:,} orders, {r.counts['order_lines']:,} lines); "
        f"loaded in {r.load_seconds:.0f} s",
        f"  machine before: {r.machine_before}",
        f"  machine after : {r.machine_after}",
        f"  bare select   : {r.bare.seconds:.3f} s median of {len(r.bare.runs)} warm runs "
        f"({', '.join(f'{x:.3f}' for x in r.bare.runs)}), {r.bare.rows:,} commissions in window",
        f"  recompute     : {f.seconds:.2f} s ({r.us_per_creator:.1f} us/creator; goal < "
        f"{GOAL_SECONDS:.0f} s{missed}) {f.result}",
        f"  ratio recompute / bare select: {f.seconds / r.bare.seconds:.2f}x",
        "  where the first run's time went: "
        + "; ".join(f"{label} {sec:.2f} s" for label, sec in f.statements if sec >= 0.05),
        f"  second run    : {s.seconds:.2f} s {s.result}",
        "  where the second run's time went: "
        + "; ".join(f"{label} {sec:.2f} s" for label, sec in s.statements if sec >= 0.05),
        f"  checks: tiers {c['by_tier']}; history {c['history']:,}, notifications "
        f"{c['notifications']:,}, moves {moves:,}"
        + (" OK" if c["history"] == c["notifications"] == moves else " DIFFER"),
        f"          sample of {c['sample']:,} vs qualifying_rank: {c['sample_agree']:,} agree, "
        f"{c['sample_in_grace']:,} above in grace, {c['sample_wrong']:,} wrong; "
        f"top creator's all-time sales ~{int(c['top_sales_usd']):,} (mixed currencies)",
    ]


def summary(results: list[Result], start_machine: str, end_machine: str) -> str:
    lines = ["=" * 100, "TIER RECOMPUTE BENCHMARK SUMMARY", f"start: {start_machine}"]
    for r in results:
        lines += size_block(r)
    if len(results) == 2:
        big, small = results
        growth = big.us_per_creator / small.us_per_creator if small.us_per_creator else 0.0
        bare_growth = (big.bare.seconds / big.creators) / (small.bare.seconds / small.creators)
        lines.append(
            f"growth {small.creators:,} -> {big.creators:,} creators "
            f"({big.creators / small.creators:.0f}x data): seconds {small.first.seconds:.2f} -> "
            f"{big.first.seconds:.2f}, per-creator cost x{growth:.2f} for the recompute "
            f"(1.00 = linear), x{bare_growth:.2f} for the bare select"
        )
    lines.append(f"end: {end_machine}")
    lines.append("=" * 100)
    return "\n".join(lines)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").replace("_", "").strip()
    return int(raw) if raw else default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creators", type=int, default=_env_int("TIERS_BENCH_CREATORS", 1_000_000))
    parser.add_argument("--entries", type=int, default=_env_int("TIERS_BENCH_ENTRIES", 10_000_000))
    parser.add_argument(
        "--scale",
        type=int,
        default=_env_int("TIERS_BENCH_SCALE", 10),
        help="also run at sizes divided by this, in a fresh database (1: skip)",
    )
    parser.add_argument("--db-name", default="connect_bench_tiers")
    parser.add_argument("--seed", type=float, default=0.42, help="PostgreSQL setseed() value")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse databases kept by an earlier --keep run of the same sizes (implies --keep)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.keep = args.keep or args.reuse
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    start_machine = machine()
    log(f"machine: {start_machine}")
    sizes = [(args.db_name, args.creators, args.entries)]
    if args.scale > 1:
        sizes.append(
            (f"{args.db_name}_small", args.creators // args.scale, args.entries // args.scale)
        )
    results: list[Result] = run_sizes(
        sizes,
        lambda base, name, creators, entries, tmp: run_size(
            base, name, creators, entries, args, tmp
        ),
        keep=args.keep,
        prefix="connect-bench-tiers-",
    )
    print("\n" + summary(results, start_machine, machine()), flush=True)
    log(f"done in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
