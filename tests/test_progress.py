"""Long work shows progress: catalogue and order imports, payout batches and ledger exports run as
RQ jobs, write their progress on their own rows, and the portal reads it as JSON (behind the
object's access rule) and renders it as a polling <progress> bar."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import func, select

from connect.accounts.models import Role
from connect.brands import catalog_import
from connect.brands.models import (
    Brand,
    BrandMember,
    BrandRole,
    Product,
    ProductImport,
    ProductImportStatus,
)
from connect.core.jobs import queue, redis_connection
from connect.core.money import Money
from connect.core.progress import Progress, Reporter, State
from connect.core.storage import LocalStorage, storage
from connect.core.time import utcnow
from connect.extensions import db
from connect.ledger import exports
from connect.ledger.export_models import ExportStatus, LedgerExport
from connect.ledger.models import AccountKind
from connect.ledger.services import JournalSpec, Leg, post_many
from connect.ledger.statements import (
    ExportPeriod,
    export_header,
    export_rows,
    ledger_entries_query,
)
from connect.payouts.models import (
    BatchStatus,
    Payout,
    PayoutBatch,
    PayoutMethod,
    PayoutStatus,
    Rail,
)
from tests import factories
from tests.conftest import csrf_token, login

SAMPLE = Path(__file__).parent / "data" / "products-sample.csv"
GOOD_SKUS = {"HP-100", "CBL-7", "SPK-3", "JP-1", "MUG-1"}
OWNER, VIEWER, OTHER = "owner@x.example", "viewer@x.example", "owner@y.example"
FINANCE, FINANCE_2 = "fin@example.com", "fin2@example.com"


class Killed(Exception):
    """Stands for a worker killed at that line."""


@pytest.fixture
def world(app: Flask) -> dict[str, int]:
    with app.app_context():
        x = factories.brand("xshop", staff_email=OWNER)
        viewer = factories.user(Role.BRAND, email=VIEWER)
        db.session.add(BrandMember(brand_id=x.id, user_id=viewer.id, role=BrandRole.VIEWER))
        y = factories.brand("yshop", staff_email=OTHER)
        fin = factories.user(Role.FINANCE, email=FINANCE)
        factories.user(Role.FINANCE, email=FINANCE_2)
        factories.user(Role.ADMIN, email="root@example.com")
        creator = factories.user(Role.CREATOR, email="alice@example.com")
        db.session.commit()
        return {"x": x.id, "y": y.id, "finance": fin.id, "creator_user": creator.id}


def client_for(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, email, factories.PASSWORD).status_code == 302
    return client


def work(app: Flask) -> int:
    """Run the queued jobs with a real RQ worker, in this process, until none is left."""
    with app.app_context():
        ran = 0
        for name in ("default", "payouts"):
            q = queue(name)
            ran += q.count
            SimpleWorker([q], connection=redis_connection()).work(burst=True)
        return ran


def upload_products(client: FlaskClient, data: bytes, slug: str = "xshop") -> int:
    token = csrf_token(client, f"/brand/{slug}/products/import")
    response = client.post(
        f"/brand/{slug}/products/import",
        data={"csrf_token": token, "file": (io.BytesIO(data), "products.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    match = re.fullmatch(rf"/brand/{slug}/products/imports/(\d+)", response.headers["Location"])
    assert match
    return int(match.group(1))


def big_file(n: int) -> bytes:
    lines = [",".join(catalog_import.COLUMNS)]
    lines += [
        f"SKU-{i:04d},Product {i},https://shop.xshop.example/p/{i},{i % 90 + 1}.50,EUR,,,"
        for i in range(n)
    ]
    lines.append("SKU-0003,Repeated,https://shop.xshop.example/p/3,1.00,EUR,,,")  # refused
    return ("\n".join(lines) + "\n").encode()


def product_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Product)) or 0


# -- the snapshot and the reporter ------------------------------------------------------------


@pytest.mark.parametrize(
    ("progress", "percent"),
    [
        (Progress(State.QUEUED), None),
        (Progress(State.RUNNING, done=0, total=0), None),
        (Progress(State.RUNNING, done=1, total=3), 33),
        (Progress(State.RUNNING, done=3, total=3), 100),
        (Progress(State.RUNNING, done=7, total=3), 100),
        (Progress(State.DONE, done=0, total=0), 100),
        (Progress(State.FAILED, done=1, total=4, message="no"), 25),
    ],
)
def test_percent(progress: Progress, percent: int | None) -> None:
    assert progress.percent == percent
    assert progress.as_json()["percent"] == percent
    assert set(progress.as_json()) == {"state", "done", "total", "percent", "message", "result_url"}


def test_reporter_throttles_writes_and_always_writes_the_end() -> None:
    now = [0.0]
    written: list[tuple[int, int]] = []
    commits: list[int] = []
    reporter = Reporter(
        lambda done, total: written.append((done, total)),
        commit=lambda: commits.append(1),
        every=100,
        seconds=0.5,
        clock=lambda: now[0],
    )
    reporter.start(1000)
    for _ in range(250):
        reporter.advance()
    assert written == [(0, 1000), (100, 1000), (200, 1000)]  # every 100 items, not every item
    now[0] += 0.6
    reporter.advance()  # half a second passed: written whatever the count
    assert written[-1] == (251, 1000)
    reporter.advance()
    reporter.finish()
    assert written[-1] == (252, 1000)
    reporter.finish()  # nothing new: no write
    assert len(written) == len(commits) == reporter.writes == 5


# -- catalogue import: a job with progress ----------------------------------------------------


def test_catalogue_import_is_a_job_whose_progress_advances_to_done(
    app: Flask, world: dict[str, int]
) -> None:
    owner = client_for(app, OWNER)
    import_id = upload_products(owner, big_file(1200))
    url = f"/brand/xshop/products/imports/{import_id}/progress"

    # Queued after the commit, under a stable job id; nothing imported yet.
    with app.app_context():
        assert queue("default").job_ids == [f"product-import-{import_id}"]
    assert product_count(app) == 0
    queued = owner.get(url)
    assert queued.status_code == 200 and queued.mimetype == "application/json"
    assert queued.headers["Cache-Control"] == "private, no-store"
    assert queued.get_json() == {
        "state": "queued",
        "done": 0,
        "total": 1201,
        "percent": 0,
        "message": "",
        "result_url": "",
    }
    page = owner.get(f"/brand/xshop/products/imports/{import_id}").get_data(as_text=True)
    assert f'data-progress-url="{url}"' in page
    assert '<progress class="progress-bar"' in page and 'max="1201"' in page
    assert "progress.js" in page and '<noscript><meta http-equiv="refresh"' in page
    assert 'class="progress-refresh"' in page  # without script: a refresh link

    # The job, chunk by chunk: each committed chunk moves the bar (seen from another session).
    seen: list[tuple[str, int, int]] = []

    def watch(job: ProductImport) -> None:
        snapshot = owner.get(url).get_json()
        seen.append((snapshot["state"], snapshot["done"], snapshot["total"]))

    with app.app_context():
        catalog_import.run_import(db.session, import_id, chunk_size=500, after_chunk=watch)
        db.session.remove()
    assert seen == [("running", 500, 1201), ("running", 1000, 1201), ("running", 1201, 1201)]
    done = owner.get(url).get_json()
    assert done == {
        "state": "done",
        "done": 1201,
        "total": 1201,
        "percent": 100,
        "message": "",
        "result_url": f"/brand/xshop/products/imports/{import_id}",
    }
    with app.app_context():
        job = db.session.get(ProductImport, import_id)
        assert (job.status, job.created_rows, job.failed_rows) == (
            ProductImportStatus.DONE,
            1200,
            1,
        )
    assert product_count(app) == 1200
    finished = owner.get(f"/brand/xshop/products/imports/{import_id}").get_data(as_text=True)
    assert "data-progress-url" not in finished and "http-equiv" not in finished
    assert "1 row was not imported" in finished

    # The queued RQ job runs after all: the import is finished, nothing happens twice.
    assert work(app) == 1
    assert product_count(app) == 1200


def test_a_catalogue_import_killed_half_way_resumes_without_duplicates(
    app: Flask, world: dict[str, int]
) -> None:
    owner = client_for(app, OWNER)
    import_id = upload_products(owner, SAMPLE.read_bytes())

    def kill_after_first_chunk(job: ProductImport) -> None:
        raise Killed

    with app.app_context():
        with pytest.raises(Killed):
            catalog_import.run_import(
                db.session, import_id, chunk_size=4, after_chunk=kill_after_first_chunk
            )
        db.session.rollback()
        job = db.session.get(ProductImport, import_id)
        # The first chunk (4 good rows) is committed together with its checkpoint.
        assert (job.status, job.processed_rows, job.created_rows) == (
            ProductImportStatus.RUNNING,
            4,
            4,
        )
        db.session.remove()
    assert owner.get(f"/brand/xshop/products/imports/{import_id}/progress").get_json()["state"] == (
        "running"
    )
    assert product_count(app) == 4

    # RQ delivers the job again: it resumes after the checkpoint and finishes.
    assert work(app) == 1
    with app.app_context():
        job = db.session.get(ProductImport, import_id)
        assert job.status == ProductImportStatus.DONE
        # Exact counts across both runs: 5 created once, the 10 bad rows all reported.
        assert (job.created_rows, job.updated_rows, job.unchanged_rows) == (5, 0, 0)
        assert (job.failed_rows, job.processed_rows, job.total_rows) == (10, 15, 15)
        skus = db.session.scalars(select(Product.sku)).all()
        assert sorted(skus) == sorted(GOOD_SKUS)  # no duplicate
        report = catalog_import.read_error_report(storage().get(job.error_report_key))
        assert len({r["row"] for r in report}) == 10  # rows of the first run included
        assert any("repeats the SKU of row 2" in r["message"] for r in report)


def test_a_broken_catalogue_import_fails_with_a_safe_message(
    app: Flask, world: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = client_for(app, OWNER)
    import_id = upload_products(owner, SAMPLE.read_bytes())

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("connection to server lost: secret detail")

    monkeypatch.setattr("connect.brands.catalog_import._write_chunk", broken)
    work(app)
    answer = owner.get(f"/brand/xshop/products/imports/{import_id}/progress").get_json()
    assert answer["state"] == "failed"
    assert "internal error" in answer["message"] and "secret" not in answer["message"]
    page = owner.get(f"/brand/xshop/products/imports/{import_id}").get_data(as_text=True)
    assert "internal error" in page and "data-progress-url" not in page


def test_catalogue_progress_is_the_brands_own(app: Flask, world: dict[str, int]) -> None:
    import_id = upload_products(client_for(app, OWNER), SAMPLE.read_bytes())
    other = client_for(app, OTHER)
    assert other.get(f"/brand/yshop/products/imports/{import_id}/progress").status_code == 404
    assert other.get(f"/brand/xshop/products/imports/{import_id}/progress").status_code == 404
    viewer = client_for(app, VIEWER)  # imports are for managers
    assert viewer.get(f"/brand/xshop/products/imports/{import_id}/progress").status_code == 403
    anon = app.test_client().get(f"/brand/xshop/products/imports/{import_id}/progress")
    assert anon.status_code == 302


# -- order import (already a job): its endpoint ----------------------------------------------


ORDERS = "order_id,ordered_at,currency,sku,quantity,unit_price\n" + "".join(
    f"SO-{i},2026-01-05T10:00:00Z,EUR,HP-100,1,4999\n" for i in range(3)
)


def test_order_import_progress_endpoint(app: Flask, world: dict[str, int]) -> None:
    with app.app_context():
        factories.product(db.session.get(Brand, world["x"]), "HP-100")
        db.session.commit()
    owner = client_for(app, OWNER)
    token = csrf_token(owner, "/brand/xshop/imports")
    response = owner.post(
        "/brand/xshop/imports",
        data={
            "csrf_token": token,
            "kind": "orders",
            "file": (io.BytesIO(ORDERS.encode()), "o.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    import_id = int(response.headers["Location"].rsplit("/", 1)[1])
    url = f"/brand/xshop/imports/{import_id}/progress"
    assert owner.get(url).get_json() == {
        "state": "queued",
        "done": 0,
        "total": 3,
        "percent": 0,
        "message": "",
        "result_url": "",
    }
    page = owner.get(f"/brand/xshop/imports/{import_id}").get_data(as_text=True)
    assert f'data-progress-url="{url}"' in page and "<progress" in page
    assert work(app) == 1
    assert owner.get(url).get_json() == {
        "state": "done",
        "done": 3,
        "total": 3,
        "percent": 100,
        "message": "",
        "result_url": f"/brand/xshop/imports/{import_id}",
    }
    other = client_for(app, OTHER)
    assert other.get(f"/brand/yshop/imports/{import_id}/progress").status_code == 404
    assert other.get(url).status_code == 404


# -- payout batches ---------------------------------------------------------------------------


def approved_balance(creator_id: int, brand_id: int, amount: int, key: str) -> None:
    money = Money(amount, "EUR")
    post_many(
        db.session,
        [
            JournalSpec(
                key=key,
                kind="adjustment",
                legs=(
                    Leg(AccountKind.BRAND_RECEIVABLE, brand_id, money),
                    Leg(AccountKind.CREATOR_APPROVED, creator_id, -money),
                ),
            )
        ],
    )


def test_batch_progress_while_built_failed_and_paid(
    app: Flask, world: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        for n in range(3):
            creator = factories.creator(f"payee{n}")
            db.session.add(
                PayoutMethod(
                    creator_id=creator.id, rail=Rail.CSV, iban=f"FR7630006000011234567890{n}"
                )
            )
            approved_balance(creator.id, world["x"], 10_000 + n, f"test:{n}")
        db.session.commit()
    finance = client_for(app, FINANCE)
    token = csrf_token(finance, "/finance/batches")
    today = utcnow().date().isoformat()
    created = finance.post(
        "/finance/batches",
        data={"csrf_token": token, "period_start": today, "period_end": today},
    )
    assert created.status_code == 302
    batch_id = int(created.headers["Location"].rsplit("/", 1)[1])
    url = f"/finance/batches/{batch_id}/progress"

    building = finance.get(url).get_json()
    assert (building["state"], building["percent"]) == ("running", None)  # indeterminate
    page = finance.get(f"/finance/batches/{batch_id}").get_data(as_text=True)
    assert f'data-progress-url="{url}"' in page and "<progress" in page

    # The build job breaks: nothing is reserved, the bar says so in safe words.
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("deadlock detected: secret detail")

    monkeypatch.setattr("connect.payouts.services.build_batch", broken)
    work(app)
    failed = finance.get(url).get_json()
    assert failed["state"] == "failed" and "internal error" in failed["message"]
    assert "secret" not in failed["message"]
    monkeypatch.undo()

    # Run again (RQ's retry, or the job re-enqueued): built from scratch.
    with app.app_context():
        queue("payouts").enqueue("workers.jobs.build_payout_batch", batch_id)
    work(app)
    built = finance.get(url).get_json()
    assert built == {
        "state": "done",
        "done": 3,
        "total": 3,
        "percent": 100,
        "message": "",
        "result_url": f"/finance/batches/{batch_id}",
    }

    # Being paid: payouts no longer planned count as done.
    with app.app_context():
        batch = db.session.get(PayoutBatch, batch_id)
        batch.status = BatchStatus.EXECUTING
        first = db.session.scalars(
            select(Payout).where(Payout.batch_id == batch_id).order_by(Payout.id)
        ).first()
        first.status = PayoutStatus.EXPORTED
        db.session.commit()
    paying = finance.get(url).get_json()
    assert (paying["state"], paying["done"], paying["total"], paying["percent"]) == (
        "running",
        1,
        3,
        33,
    )
    assert client_for(app, "root@example.com").get(url).status_code == 200
    assert client_for(app, OWNER).get(url).status_code == 403
    assert client_for(app, "alice@example.com").get(url).status_code == 403
    assert finance.get("/finance/batches/999999/progress").status_code == 404


# -- ledger export ----------------------------------------------------------------------------


def ledger_world(app: Flask, world: dict[str, int], journals: int) -> None:
    with app.app_context():
        creator = factories.creator("earner")
        for n in range(journals):
            approved_balance(creator.id, world["x"], 100 + n, f"test:ledger:{n}")
        db.session.commit()


def ask_export(client: FlaskClient, **fields: str) -> Any:
    token = csrf_token(client, "/finance/ledger-export")
    today = utcnow().date().isoformat()
    data = {"csrf_token": token, "start": today, "end": today} | fields
    return client.post("/finance/ledger-export", data=data)


def test_ledger_export_job_progress_and_download(app: Flask, world: dict[str, int]) -> None:
    ledger_world(app, world, journals=6)  # 12 entries
    finance = client_for(app, FINANCE)
    response = ask_export(finance)
    assert response.status_code == 302
    match = re.fullmatch(r"/finance/ledger-exports/(\d+)", response.headers["Location"])
    assert match
    export_id = int(match.group(1))
    url = f"/finance/ledger-exports/{export_id}/progress"
    with app.app_context():
        assert queue("default").job_ids == [f"ledger-export-{export_id}"]
    assert finance.get(url).get_json()["state"] == "queued"
    page = finance.get(f"/finance/ledger-exports/{export_id}").get_data(as_text=True)
    assert f'data-progress-url="{url}"' in page and "<progress" in page
    assert finance.get(f"/finance/ledger-exports/{export_id}/download").status_code == 404

    seen: list[int] = []
    with app.app_context():
        exports.run_export(
            db.session,
            export_id,
            page_size=5,
            after_page=lambda export: seen.append(
                finance.get(url).get_json()["done"]  # what the portal sees, page by page
            ),
        )
        db.session.remove()
    # Written every full page (the throttle); the short last page is written with the end.
    assert seen == [5, 10, 10]
    done = finance.get(url).get_json()
    download = f"/finance/ledger-exports/{export_id}/download"
    assert done == {
        "state": "done",
        "done": 12,
        "total": 12,
        "percent": 100,
        "message": "",
        "result_url": download,
    }
    stored = finance.get(download)
    assert stored.status_code == 200 and stored.mimetype == "text/csv"
    today = utcnow().date().isoformat()
    streamed = finance.get(f"/finance/ledger-export.csv?start={today}&end={today}")
    assert stored.data == streamed.data  # byte for byte the streamed export
    assert stored.data.decode("utf-8-sig").count("\r\n") == 13  # the header and 12 entries

    # A creator, a brand, and nobody logged in never read it.
    assert client_for(app, "alice@example.com").get(url).status_code == 403
    assert client_for(app, OWNER).get(download).status_code == 403
    assert client_for(app, "root@example.com").get(url).status_code == 200


def test_a_ledger_export_killed_half_way_is_finished_by_the_next_run(
    app: Flask, world: dict[str, int]
) -> None:
    ledger_world(app, world, journals=5)  # 10 entries
    finance = client_for(app, FINANCE)
    export_id = int(ask_export(finance).headers["Location"].rsplit("/", 1)[1])
    pages = [0]

    def kill_on_second_page(export: LedgerExport) -> None:
        pages[0] += 1
        if pages[0] == 2:
            raise Killed

    with app.app_context():
        with pytest.raises(Killed):
            exports.run_export(db.session, export_id, page_size=3, after_page=kill_on_second_page)
        db.session.rollback()
        export = db.session.get(LedgerExport, export_id)
        assert export.status == ExportStatus.RUNNING and export.storage_key == ""
        db.session.remove()

    assert work(app) == 1  # the delivery RQ still holds
    answer = finance.get(f"/finance/ledger-exports/{export_id}/progress").get_json()
    assert (answer["state"], answer["done"], answer["total"]) == ("done", 10, 10)
    body = finance.get(f"/finance/ledger-exports/{export_id}/download").data.decode("utf-8-sig")
    lines = body.splitlines()[1:]
    entry_ids = [line.split(",")[1] for line in lines]
    assert len(entry_ids) == len(set(entry_ids)) == 10  # every entry once


def test_bad_export_requests_change_nothing(app: Flask, world: dict[str, int]) -> None:
    finance = client_for(app, FINANCE)
    refused = ask_export(finance, start="2026-02-10", end="2026-02-01")
    assert refused.status_code == 422
    assert "The end date is before the start date." in refused.get_data(as_text=True)
    assert ask_export(finance, currency="EURO").status_code == 422
    no_token = finance.post(
        "/finance/ledger-export", data={"start": "2026-01-01", "end": "2026-01-02"}
    )
    assert no_token.status_code == 400
    creator = client_for(app, "alice@example.com")
    token = csrf_token(creator)
    assert creator.post("/finance/ledger-export", data={"csrf_token": token}).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LedgerExport)) == 0
        assert queue("default").count == 0


def test_progress_strings_are_translated(app: Flask, world: dict[str, int]) -> None:
    owner = client_for(app, OWNER)
    import_id = upload_products(owner, SAMPLE.read_bytes())
    token = csrf_token(owner, "/brand/xshop/products")
    owner.post("/language", data={"csrf_token": token, "locale": "fr", "next": "/brand/"})
    page = owner.get(f"/brand/xshop/products/imports/{import_id}").get_data(as_text=True)
    assert "Waiting for a worker" not in page
    assert 'lang="fr"' in page


# -- the zero-setup default -------------------------------------------------------------------


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Any:
    from flask_migrate import upgrade

    from connect import create_app

    application = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/first-run.db"})
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.mark.sqlite
def test_jobs_resume_and_finish_on_sqlite(sqlite_app: Flask, tmp_path: Path) -> None:
    """The keyset pages (row values) and the chunk checkpoints work on SQLite too."""
    store = LocalStorage(tmp_path / "storage")
    x = factories.brand("xshop", staff_email=OWNER)
    fin = factories.user(Role.FINANCE, email=FINANCE)
    job = catalog_import.create_import(
        db.session,
        store,
        brand_id=x.id,
        actor_id=fin.id,
        filename="p.csv",
        data=SAMPLE.read_bytes(),
        total_rows=15,
    )
    creator = factories.creator("earner")
    for n in range(4):
        approved_balance(creator.id, x.id, 100 + n, f"test:sqlite:{n}")
    today = utcnow().date()
    period = ExportPeriod(today, today, None)
    export = exports.create_export(db.session, period=period, actor_id=fin.id)
    db.session.info.pop("connect_pending_jobs", None)  # no Redis here: the jobs run below
    db.session.commit()

    def kill(_: Any) -> None:
        raise Killed

    with pytest.raises(Killed):
        catalog_import.run_import(db.session, job.id, store=store, chunk_size=6, after_chunk=kill)
    db.session.rollback()
    catalog_import.run_import(db.session, job.id, store=store, chunk_size=6)
    job = db.session.get(ProductImport, job.id)
    assert (job.status, job.created_rows, job.failed_rows) == (ProductImportStatus.DONE, 5, 10)
    assert sorted(db.session.scalars(select(Product.sku))) == sorted(GOOD_SKUS)

    with pytest.raises(Killed):
        exports.run_export(db.session, export.id, store=store, page_size=3, after_page=kill)
    db.session.rollback()
    exports.run_export(db.session, export.id, store=store, page_size=3)
    export = db.session.get(LedgerExport, export.id)
    assert (export.status, export.processed_rows, export.total_rows) == (ExportStatus.DONE, 8, 8)
    expected = export_header() + export_rows(db.session.execute(ledger_entries_query(period)))
    assert store.get(export.storage_key) == expected
