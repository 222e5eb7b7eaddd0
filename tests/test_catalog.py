"""The catalogue: products by hand and by CSV import, search, tenants."""

from __future__ import annotations

import html
import io
import re
import time
from pathlib import Path

import pytest
from rq import SimpleWorker
from sqlalchemy import event, func, select

from connect.accounts.models import Role
from connect.audit.models import AuditEvent
from connect.brands import catalog_import
from connect.brands.models import (
    Brand,
    BrandDomain,
    BrandMember,
    BrandRole,
    Product,
    ProductImport,
    ProductStatus,
)
from connect.brands.services import clean_countries, clean_price, clean_sku
from connect.core.jobs import queue, redis_connection
from connect.core.storage import LocalStorage, storage
from connect.extensions import db
from tests import factories
from tests.conftest import csrf_token, login

SAMPLE = Path(__file__).parent / "data" / "products-sample.csv"
GOOD_SKUS = {"HP-100", "CBL-7", "SPK-3", "JP-1", "MUG-1"}


@pytest.fixture
def shop(app):
    """Brand xshop (verified shop.xshop.example, pending pending.example.org) with an owner,
    a viewer, and brand yshop with its own owner."""
    with app.app_context():
        x = factories.brand("xshop", staff_email="owner@x.example")
        x.domains.append(BrandDomain(domain="pending.example.org"))
        viewer = factories.user(Role.BRAND, email="viewer@x.example")
        db.session.add(BrandMember(brand_id=x.id, user_id=viewer.id, role=BrandRole.VIEWER))
        factories.brand("yshop", staff_email="owner@y.example")
        db.session.commit()
        return x.id


def _client(app, email):
    client = app.test_client()
    assert login(client, email, factories.PASSWORD).status_code == 302
    return client


def _upload(client, slug, data: bytes, name="products.csv"):
    token = csrf_token(client, f"/brand/{slug}/products/import")
    return client.post(
        f"/brand/{slug}/products/import",
        data={"csrf_token": token, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def _work(app) -> int:
    """Run the uploads' import jobs with a real RQ worker (in this process) until none is left."""
    with app.app_context():
        q = queue("default")
        count = q.count
        SimpleWorker([q], connection=redis_connection()).work(burst=True)
        return count


def _products(app, brand_id):
    with app.app_context():
        return {
            p.sku: p
            for p in db.session.scalars(select(Product).where(Product.brand_id == brand_id))
        }


# -- CSV import -------------------------------------------------------------------------------


def test_csv_import_keeps_good_rows_and_reports_each_bad_one(app, shop):
    owner = _client(app, "owner@x.example")
    resp = _upload(owner, "xshop", SAMPLE.read_bytes(), "products-sample.csv")
    assert resp.status_code == 302
    assert _products(app, shop) == {}  # the upload is queued: a worker imports it
    queued = owner.get(resp.headers["Location"]).get_data(as_text=True)
    assert "<progress" in queued and "Waiting for a worker" in queued
    assert _work(app) == 1
    detail = owner.get(resp.headers["Location"])
    assert detail.status_code == 200
    page = detail.get_data(as_text=True)
    assert "products-sample.csv" in page and "10 rows were not imported" in page

    products = _products(app, shop)
    assert set(products) == GOOD_SKUS  # nothing from a bad row landed
    hp = products["HP-100"]
    assert (hp.title, hp.price_minor, hp.currency, hp.category) == (
        "Wireless headphones",
        4999,
        "EUR",
        "audio",
    )
    assert hp.countries == ["FR", "ES", "PL"]
    assert hp.image_url == "https://cdn.example.net/hp-100.jpg"
    assert products["SPK-3"].countries == ["US", "BR"]  # lower case and spaces accepted
    assert products["SPK-3"].url == "https://www.shop.xshop.example/p/spk-3?color=red"
    assert products["JP-1"].price_minor == 3980  # JPY has no minor unit
    assert products["MUG-1"].title == 'Mug, ceramic "classic"'
    assert products["CBL-7"].countries == []  # empty: sold everywhere

    with app.app_context():
        job = db.session.scalars(select(ProductImport)).one()
        assert (job.total_rows, job.created_rows, job.failed_rows) == (15, 5, 10)
        audit = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "product.import")
        ).one()
        assert audit.data["created"] == 5 and audit.data["failed"] == 10

    report = owner.get(f"/brand/xshop/products/imports/{job.id}/errors.csv")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    assert "no-store" in report.headers["Cache-Control"]
    rows = catalog_import.read_error_report(report.data)
    by_row: dict[int, list[dict[str, str]]] = {}
    for r in rows:
        by_row.setdefault(int(r["row"]), []).append(r)
    assert sorted(by_row) == [7, 8, 9, 10, 11, 12, 13, 14, 15, 16]  # every bad row, by number

    def fields(n):
        return {r["field"] for r in by_row[n]}

    assert (
        fields(7) == {"url"}
        and "not one of the brand's verified domains" in (by_row[7][0]["message"])
    )
    assert fields(8) == {"url"}  # a pending domain is not a verified one
    assert by_row[8][0]["message"] == (
        "pending.example.org is not one of the brand's verified domains"
    )
    assert fields(9) == {"price"} and "2 decimal places" in by_row[9][0]["message"]
    assert fields(10) == {"currency"}
    assert fields(11) == {"sku"} and by_row[11][0]["message"] == "is required"
    assert fields(12) == {"countries"} and "XX" in by_row[12][0]["message"]
    assert by_row[12][0]["sku"] == "BAD-CTRY"
    assert fields(13) == {"sku"} and "row 2" in by_row[13][0]["message"]  # repeated SKU
    assert fields(14) == {"title", "url", "price", "image_url"}  # all problems of a row
    assert fields(15) == {"sku"} and by_row[15][0]["sku"].startswith("'=")  # formula defused
    assert "expected 8 cells, found 2" in by_row[16][0]["message"]

    # another brand's staff cannot see the import or its report
    other = _client(app, "owner@y.example")
    assert other.get(f"/brand/yshop/products/imports/{job.id}").status_code == 404
    assert other.get(f"/brand/yshop/products/imports/{job.id}/errors.csv").status_code == 404
    assert other.get(f"/brand/xshop/products/imports/{job.id}").status_code == 404


def test_reimport_updates_instead_of_duplicating(app, shop):
    owner = _client(app, "owner@x.example")
    data = SAMPLE.read_bytes()
    assert _upload(owner, "xshop", data).status_code == 302
    _work(app)
    first = _products(app, shop)
    with app.app_context():
        db.session.get(Product, first["CBL-7"].id).status = ProductStatus.ARCHIVED
        db.session.commit()

    changed = data.replace(b"49.99,EUR,audio", b"44.50,EUR,audio-premium").replace(
        b"USB-C cable 2 m", b"USB-C cable 3 m"
    )
    assert _upload(owner, "xshop", changed).status_code == 302
    _work(app)
    second = _products(app, shop)
    assert set(second) == GOOD_SKUS
    assert {sku: p.id for sku, p in second.items()} == {sku: p.id for sku, p in first.items()}
    assert (second["HP-100"].price_minor, second["HP-100"].category) == (4450, "audio-premium")
    assert second["CBL-7"].title == "USB-C cable 3 m"
    assert second["CBL-7"].status == ProductStatus.ARCHIVED  # an import never restores
    with app.app_context():
        latest = db.session.scalars(select(ProductImport).order_by(ProductImport.id.desc())).first()
        assert (latest.created_rows, latest.updated_rows, latest.unchanged_rows) == (0, 2, 3)
        assert latest.failed_rows == 10


def test_import_refuses_an_unusable_file_and_writes_nothing(app, shop):
    owner = _client(app, "owner@x.example")
    cases = [
        (b"title,url\nx,y\n", "missing sku, price, currency"),
        (b"sku,title,url,price,currency,colour\nA,b,c,1,EUR,red\n", "unknown 'colour'"),
        ("sku,title,url,price,currency\nA,é,c,1,EUR\n".encode("latin-1"), "not UTF-8"),
        (b"sku,title,url,price,currency\n", "no product rows"),
        (b"", "empty"),
    ]
    for data, message in cases:
        resp = _upload(owner, "xshop", data)
        assert resp.status_code == 422, message
        assert message in html.unescape(resp.get_data(as_text=True))
    no_file = owner.post(
        "/brand/xshop/products/import",
        data={"csrf_token": csrf_token(owner, "/brand/xshop/products/import")},
        content_type="multipart/form-data",
    )
    assert no_file.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Product)) == 0
        assert db.session.scalar(select(func.count()).select_from(ProductImport)) == 0


def test_import_is_for_managers(app, shop):
    viewer = _client(app, "viewer@x.example")
    assert viewer.get("/brand/xshop/products/import").status_code == 403
    token = csrf_token(viewer, "/brand/xshop/products")
    resp = viewer.post(
        "/brand/xshop/products/import",
        data={"csrf_token": token, "file": (io.BytesIO(SAMPLE.read_bytes()), "p.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 403
    assert _products(app, shop) == {}
    template = viewer.get("/brand/xshop/products/import/template.csv")
    assert template.status_code == 200
    assert template.data.decode("utf-8-sig").startswith(",".join(catalog_import.COLUMNS))


def _big_file(n: int, domain: str = "shop.xshop.example") -> bytes:
    lines = [",".join(catalog_import.COLUMNS)]
    lines += [
        f"SKU-{i:05d},Product {i},https://{domain}/p/{i},{i % 500}.{i % 100:02d},EUR,"
        f"cat-{i % 20},https://cdn.example.net/{i}.jpg,FR|ES|PL|BR"
        for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_big_import_reads_existing_skus_once_per_chunk(app, shop):
    data = _big_file(5000)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            started = time.perf_counter()
            job = catalog_import.import_products(
                db.session, storage(), brand_id=shop, actor_id=1, data=data, filename="big.csv"
            )
            db.session.commit()
            first_run = time.perf_counter() - started
            product_reads = [s for s in statements if s.lstrip().startswith("SELECT products.sku")]
            writes = [s for s in statements if s.lstrip().startswith("INSERT INTO products")]
            assert len(product_reads) == len(writes) == 10  # 5,000 rows in chunks of 500
            assert (job.created_rows, job.failed_rows) == (5000, 0)

            statements.clear()
            started = time.perf_counter()
            again = catalog_import.import_products(
                db.session, storage(), brand_id=shop, actor_id=1, data=data, filename="big.csv"
            )
            db.session.commit()
            second_run = time.perf_counter() - started
            assert (again.created_rows, again.updated_rows, again.unchanged_rows) == (0, 0, 5000)
            assert not [s for s in statements if s.lstrip().startswith("INSERT INTO products")]
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert db.session.scalar(select(func.count()).select_from(Product)) == 5000
    print(f"\n5,000-row import: {first_run:.2f} s new, {second_run:.2f} s unchanged")


def test_import_limits_the_number_of_rows(app, shop):
    with app.app_context(), pytest.raises(catalog_import.ImportFileError, match="more than 10"):
        catalog_import.import_products(
            db.session, storage(), brand_id=shop, actor_id=1, data=_big_file(11), max_rows=10
        )


# -- products by hand -------------------------------------------------------------------------


def _product_form(**overrides):
    form = {
        "sku": "HP-100",
        "title": "Wireless headphones",
        "url": "https://shop.xshop.example/p/hp-100",
        "price": "49.99",
        "currency": "EUR",
        "category": "audio",
        "image_url": "",
        "countries": "fr es",
    }
    form.update(overrides)
    return form


def test_product_create_edit_archive_restore(app, shop):
    owner = _client(app, "owner@x.example")
    token = csrf_token(owner, "/brand/xshop/products/new")
    resp = owner.post("/brand/xshop/products/new", data=_product_form(csrf_token=token))
    assert resp.status_code == 302
    product = _products(app, shop)["HP-100"]
    assert (product.price_minor, product.countries) == (4999, ["FR", "ES"])
    path = f"/brand/xshop/products/{product.id}"
    assert resp.headers["Location"] == path

    edit = _product_form(csrf_token=token, price="45", countries="", title="Headphones X")
    del edit["sku"]
    assert owner.post(path, data=edit).status_code == 302
    product = _products(app, shop)["HP-100"]
    assert (product.title, product.price_minor, product.countries) == ("Headphones X", 4500, [])

    assert owner.post(f"{path}/archive", data={"csrf_token": token}).status_code == 302
    assert _products(app, shop)["HP-100"].status == ProductStatus.ARCHIVED
    assert _listed(owner, "") == set()  # the catalogue shows active products by default
    assert _listed(owner, "?status=archived") == {"HP-100"}
    assert owner.post(f"{path}/restore", data={"csrf_token": token}).status_code == 302
    assert _products(app, shop)["HP-100"].status == ProductStatus.ACTIVE

    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.target_type == "products")
        ).all()
    assert actions == ["product.create", "product.update", "product.archive", "product.restore"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("url", "https://pending.example.org/p/1", "not one of the brand's verified domains"),
        ("url", "https://evil.example.com/p/1", "not one of the brand's verified domains"),
        ("url", "javascript:alert(1)", "only http and https"),
        ("price", "12.345", "2 decimal places"),
        ("price", "-1", "is not a price"),
        ("price", "12,50", "use a dot"),
        ("currency", "XYZ", "not an ISO 4217"),
        ("countries", "FR Narnia", "not ISO 3166"),
        ("sku", "", "This field is required."),
        ("sku", "bad sku!", "must start with a letter or digit"),
        ("title", "", "This field is required."),
        ("image_url", "http://cdn.example.net/x.jpg", "https://"),
    ],
)
def test_invalid_product_is_refused_with_field_errors(app, shop, field, value, message):
    owner = _client(app, "owner@x.example")
    token = csrf_token(owner, "/brand/xshop/products/new")
    resp = owner.post(
        "/brand/xshop/products/new", data=_product_form(csrf_token=token, **{field: value})
    )
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert f'id="{field}-help" class="error"' in page
    assert message.lower() in html.unescape(page).lower()
    assert _products(app, shop) == {}


def test_duplicate_sku_is_refused(app, shop):
    with app.app_context():
        factories.product(db.session.get(Brand, shop), "HP-100")
        db.session.commit()
    owner = _client(app, "owner@x.example")
    token = csrf_token(owner, "/brand/xshop/products/new")
    resp = owner.post("/brand/xshop/products/new", data=_product_form(csrf_token=token))
    assert resp.status_code == 409
    assert "exists already" in resp.get_data(as_text=True)
    assert len(_products(app, shop)) == 1


def test_viewer_sees_products_but_cannot_change_them(app, shop):
    with app.app_context():
        product = factories.product(db.session.get(Brand, shop), "HP-100")
        db.session.commit()
        path = f"/brand/xshop/products/{product.id}"
    viewer = _client(app, "viewer@x.example")
    page = viewer.get(path)
    assert page.status_code == 200 and '<form method="post" novalidate>' not in page.get_data(
        as_text=True
    )
    assert viewer.get("/brand/xshop/products/new").status_code == 403
    token = csrf_token(viewer, "/brand/xshop/products")
    data = _product_form(csrf_token=token, title="Changed")
    assert viewer.post(path, data=data).status_code == 403
    assert viewer.post(f"{path}/archive", data={"csrf_token": token}).status_code == 403
    assert viewer.post("/brand/xshop/products/new", data=data).status_code == 403
    assert _products(app, shop)["HP-100"].title == "Product HP-100"


def test_another_brands_product_is_not_found(app, shop):
    with app.app_context():
        y = db.session.scalars(select(Brand).where(Brand.slug == "yshop")).one()
        theirs = factories.product(y, "Y-1")
        db.session.commit()
        their_id = theirs.id
    owner = _client(app, "owner@x.example")
    token = csrf_token(owner, "/brand/xshop/products")
    assert owner.get(f"/brand/xshop/products/{their_id}").status_code == 404
    assert (
        owner.post(
            f"/brand/xshop/products/{their_id}", data=_product_form(csrf_token=token)
        ).status_code
        == 404
    )
    for action in ("archive", "restore"):
        url = f"/brand/xshop/products/{their_id}/{action}"
        assert owner.post(url, data={"csrf_token": token}).status_code == 404
    assert owner.get(f"/brand/yshop/products/{their_id}").status_code == 404
    with app.app_context():
        assert db.session.get(Product, their_id).status == ProductStatus.ACTIVE
        assert db.session.get(Product, their_id).title == "Product Y-1"


def test_search_filter_and_pages(app, shop):
    with app.app_context():
        x = db.session.get(Brand, shop)
        for i in range(60):
            p = factories.product(x, f"A-{i:03d}", title=f"Alpha {i:03d}")
            p.category = "audio" if i % 2 else "kitchen"
        factories.product(x, "B-1", title="Beta 100%_special").category = "garden"
        db.session.add(Product(**_old_product(x), sku="OLD-1", status=ProductStatus.ARCHIVED))
        db.session.commit()
    owner = _client(app, "owner@x.example")

    def skus(query):
        return _listed(owner, query)

    assert len(skus("")) == 50  # first page of 61 active products
    assert len(skus("?page=2")) == 11
    assert skus("?q=beta") == {"B-1"}
    assert skus("?q=a-00") == {f"A-00{i}" for i in range(10)}  # SKU search, case-insensitive
    assert skus("?q=100%25_") == {"B-1"}  # % and _ are literal, not wildcards
    assert skus("?category=garden") == {"B-1"}
    assert len(skus("?category=audio")) == 30
    assert skus("?status=archived") == {"OLD-1"}
    assert "OLD-1" in skus("?status=all&q=old")
    assert owner.get("/brand/xshop/products?status=bogus").status_code == 400
    assert skus("?q=nothing-like-this") == set()


def _old_product(brand):
    return {
        "brand_id": brand.id,
        "title": "Old thing",
        "url": f"https://shop.{brand.slug}.example/p/old",
        "price_minor": 100,
        "currency": "EUR",
    }


_SKU_CELL = re.compile(r'/products/\d+">([^<]+)</a>')


def _listed(client, query: str) -> set[str]:
    """The SKUs the catalogue page lists."""
    page = client.get("/brand/xshop/products" + query)
    assert page.status_code == 200
    return set(_SKU_CELL.findall(page.get_data(as_text=True)))


# -- field rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("49.99", "EUR", 4999),
        ("49.9", "EUR", 4990),
        ("49", "EUR", 4900),
        ("0", "EUR", 0),
        ("3980", "JPY", 3980),
        ("1.234", "KWD", 1234),
        (" 12.50 ", "USD", 1250),
    ],
)
def test_prices_are_parsed_exactly(text, currency, minor):
    assert clean_price(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("10.5", "JPY"),
        ("1.2345", "KWD"),
        ("1e3", "EUR"),
        ("NaN", "EUR"),
        ("", "EUR"),
        ("-1", "EUR"),
    ],
)
def test_bad_prices_are_refused(text, currency):
    with pytest.raises(ValueError):  # noqa: PT011 - each message is checked in the form tests
        clean_price(text, currency)


def test_countries_are_split_on_pipes_spaces_and_commas():
    assert clean_countries("fr|ES  pl,BR|fr") == ["FR", "ES", "PL", "BR"]
    assert clean_countries("") == []
    with pytest.raises(ValueError, match="ZZ"):
        clean_countries("FR|ZZ")


def test_sku_rules():
    assert clean_sku("  HP-100/blue #2 ") == "HP-100/blue #2"
    for bad in ("=1+1", "-5", "a" * 65, "tab\there", "semi;colon"):
        with pytest.raises(ValueError):  # noqa: PT011
            clean_sku(bad)


@pytest.fixture
def sqlite_app(tmp_path):
    from flask_migrate import upgrade

    from connect import create_app

    application = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/first-run.db"})
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.mark.sqlite
def test_import_and_reimport_on_sqlite(sqlite_app, tmp_path):
    """The zero-setup default runs the same upsert (SQLite's ON CONFLICT)."""
    store = LocalStorage(tmp_path / "storage")
    x = factories.brand("xshop", staff_email="owner@x.example")
    db.session.commit()
    data = SAMPLE.read_bytes()
    first = catalog_import.import_products(
        db.session, store, brand_id=x.id, actor_id=1, data=data, chunk_size=2
    )
    db.session.commit()
    assert (first.created_rows, first.failed_rows) == (5, 10)
    again = catalog_import.import_products(
        db.session, store, brand_id=x.id, actor_id=1, data=data.replace(b"9.90", b"8.90")
    )
    db.session.commit()
    assert (again.created_rows, again.updated_rows, again.unchanged_rows) == (0, 1, 4)
    products = {p.sku: p for p in db.session.scalars(select(Product))}
    assert set(products) == GOOD_SKUS and products["CBL-7"].price_minor == 890
    assert products["HP-100"].countries == ["FR", "ES", "PL"]
    report = catalog_import.read_error_report(store.get(first.error_report_key))
    assert len({r["row"] for r in report}) == 10
