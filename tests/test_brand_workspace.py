"""The brand workspace: profile, tracking settings, domains, team, integration page, tenants."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import subprocess
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from connect.accounts.models import Role, User
from connect.audit.models import AuditEvent
from connect.brands.models import Brand, BrandDomain, BrandMember, BrandRole
from connect.brands.services import (
    MAX_DOMAINS,
    BrandError,
    add_domain,
    create_api_key,
    format_percent,
    integration_examples,
    parse_percent,
    pending_domains,
    reject_domain,
    verify_domain,
)
from connect.conversions.models import Order
from connect.core.signing import key_digest, sign
from connect.extensions import db
from tests import factories
from tests.conftest import csrf_token, login


@pytest.fixture
def world(app: Flask) -> dict[str, Any]:
    """Brand xshop (owner, manager, viewer; verified shop.xshop.example), brand yshop (owner),
    a spare brand account, a creator and an admin."""
    with app.app_context():
        x = factories.brand("xshop", staff_email="owner@x.example")
        y = factories.brand("yshop", staff_email="owner@y.example")
        ids = {"x": x.id, "y": y.id}
        for role in (BrandRole.MANAGER, BrandRole.VIEWER):
            user = factories.user(Role.BRAND, email=f"{role.value}@x.example")
            member = BrandMember(brand_id=x.id, user_id=user.id, role=role)
            db.session.add(member)
            db.session.flush()
            ids[role.value] = member.id
        ids["owner"] = _member_id(x.id, "owner@x.example")
        ids["y_owner"] = _member_id(y.id, "owner@y.example")
        factories.user(Role.BRAND, email="newbie@example.com", name="New Bie")
        factories.creator(handle="alice")
        ids["admin"] = factories.user(Role.ADMIN, email="root@example.com").id
        db.session.commit()
        return ids


def _member_id(brand_id: int, email: str) -> int:
    return db.session.scalar(
        select(BrandMember.id)
        .join(User, User.id == BrandMember.user_id)
        .where(BrandMember.brand_id == brand_id, User.email == email)
    )


def _client(app: Flask, email: str):
    client = app.test_client()
    assert login(client, email, factories.PASSWORD).status_code == 302
    return client


def _post(client, path: str, **data: Any):
    data.setdefault("csrf_token", csrf_token(client))
    return client.post(path, data=data)


def _brand(app: Flask, brand_id: int) -> Brand:
    with app.app_context():
        brand = db.session.get(Brand, brand_id)
        db.session.expunge(brand)
        return brand


def _audit(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# -- settings ---------------------------------------------------------------------------------


def test_profile_and_tracking_settings_are_saved_and_audited(app, world):
    manager = _client(app, "manager@x.example")
    assert manager.get("/brand/xshop/settings").status_code == 200
    resp = _post(
        manager,
        "/brand/xshop/settings/profile",
        name="  X   Shop ",
        website="https://shop.xshop.example",
        currency="PLN",
    )
    assert resp.status_code == 302
    resp = _post(
        manager,
        "/brand/xshop/settings/tracking",
        click_param="ref_id",
        return_window_days="14",
        default_rate="7,25 %",
    )
    assert resp.status_code == 302
    brand = _brand(app, world["x"])
    assert (brand.name, brand.website, brand.currency) == (
        "X Shop",
        "https://shop.xshop.example",
        "PLN",
    )
    assert (brand.click_param, brand.return_window_days, brand.default_rate_bps) == (
        "ref_id",
        14,
        725,
    )
    (event,) = _audit(app, "brand.tracking.update")
    assert event.data["changes"]["default_rate_bps"] == [500, 725]
    assert _audit(app, "brand.profile.update")[0].data["changes"]["currency"] == ["EUR", "PLN"]
    page = manager.get("/brand/xshop/settings").get_data(as_text=True)
    assert 'value="7.25"' in page and 'value="ref_id"' in page


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [
        ("profile", {"name": "", "website": "", "currency": "EUR"}, "name"),
        ("profile", {"name": "X", "website": "javascript:alert(1)", "currency": "EUR"}, "website"),
        ("profile", {"name": "X", "website": "", "currency": "EURO"}, "currency"),
        (
            "tracking",
            {"click_param": "1abc", "return_window_days": "30", "default_rate": "5"},
            None,
        ),
        ("tracking", {"click_param": "a-b", "return_window_days": "30", "default_rate": "5"}, None),
        (
            "tracking",
            {"click_param": "x" * 41, "return_window_days": "30", "default_rate": "5"},
            None,
        ),
        ("tracking", {"click_param": "cx", "return_window_days": "366", "default_rate": "5"}, None),
        ("tracking", {"click_param": "cx", "return_window_days": "-1", "default_rate": "5"}, None),
        ("tracking", {"click_param": "cx", "return_window_days": "", "default_rate": "5"}, None),
        (
            "tracking",
            {"click_param": "cx", "return_window_days": "30", "default_rate": "7.255"},
            None,
        ),
        (
            "tracking",
            {"click_param": "cx", "return_window_days": "30", "default_rate": "100.01"},
            None,
        ),
        (
            "tracking",
            {"click_param": "cx", "return_window_days": "30", "default_rate": "1e2"},
            None,
        ),
        ("tracking", {"click_param": "cx", "return_window_days": "30", "default_rate": "-5"}, None),
    ],
)
def test_invalid_settings_are_refused_and_nothing_changes(app, world, path, form, field):
    owner = _client(app, "owner@x.example")
    before = _brand(app, world["x"])
    resp = _post(owner, f"/brand/xshop/settings/{path}", **form)
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    names = [field] if field else [n for n in form if n != "csrf_token"]
    assert any(f'id="{name}-help" class="error"' in page for name in names)
    after = _brand(app, world["x"])
    for column in (
        "name",
        "website",
        "currency",
        "click_param",
        "return_window_days",
        "default_rate_bps",
    ):
        assert getattr(after, column) == getattr(before, column)
    assert not _audit(app, f"brand.{path}.update")


@pytest.mark.parametrize(
    ("text", "bps"),
    [("5", 500), ("7.25", 725), ("7,5", 750), ("0", 0), ("100", 10_000), (" 12.5 % ", 1250)],
)
def test_percent_to_basis_points_is_exact(text, bps):
    assert parse_percent(text) == bps


def test_basis_points_read_back_as_typed():
    assert [format_percent(b) for b in (500, 725, 750, 0, 10_000, 1)] == [
        "5",
        "7.25",
        "7.5",
        "0",
        "100",
        "0.01",
    ]


def test_viewer_sees_settings_but_cannot_change_them(app, world):
    viewer = _client(app, "viewer@x.example")
    page = viewer.get("/brand/xshop/settings")
    assert page.status_code == 200
    assert "cx_click" in page.get_data(as_text=True)
    assert "settings/profile" not in page.get_data(as_text=True)  # no form to post
    form = {"name": "Hijacked", "website": "", "currency": "EUR"}
    assert _post(viewer, "/brand/xshop/settings/profile", **form).status_code == 403
    tracking = {"click_param": "x", "return_window_days": "1", "default_rate": "99"}
    assert _post(viewer, "/brand/xshop/settings/tracking", **tracking).status_code == 403
    brand = _brand(app, world["x"])
    assert (brand.name, brand.default_rate_bps) == ("Xshop", 500)


# -- domains ----------------------------------------------------------------------------------


def test_domain_is_normalized_and_waits_for_verification(app, world):
    owner = _client(app, "owner@x.example")
    resp = _post(owner, "/brand/xshop/domains", domain=" HTTPS://Store.Xshop.COM./path?q=1 ")
    assert resp.status_code == 302
    resp = _post(owner, "/brand/xshop/domains", domain="Bücher.example")
    assert resp.status_code == 302
    with app.app_context():
        rows = {
            d.domain: d
            for d in db.session.scalars(
                select(BrandDomain).where(BrandDomain.brand_id == world["x"])
            )
        }
    assert set(rows) == {"shop.xshop.example", "store.xshop.com", "xn--bcher-kva.example"}
    store = rows["store.xshop.com"]
    assert store.verified_at is None and re.fullmatch(r"[0-9a-f]{32}", store.verification_token)
    page = owner.get("/brand/xshop/domains").get_data(as_text=True)
    assert "pending verification" in page
    assert f"connect-verification={store.verification_token}" in page
    assert len(_audit(app, "brand_domain.add")) == 2

    for bad in ("not a domain", "localhost", "https://", "a..b.com", "com", "1.2.3.4"):
        resp = _post(owner, "/brand/xshop/domains", domain=bad)
        assert resp.status_code == 422, bad
        assert 'id="domain-help" class="error"' in resp.get_data(as_text=True)


def test_a_domain_belongs_to_one_brand(app, world):
    y_owner = _client(app, "owner@y.example")
    # held (and verified) by xshop: refused, in any spelling
    resp = _post(y_owner, "/brand/yshop/domains", domain="SHOP.xshop.example")
    assert resp.status_code == 409
    assert "registered by another brand" in resp.get_data(as_text=True)
    # inside xshop's verified domain, or above it: refused too
    assert _post(y_owner, "/brand/yshop/domains", domain="eu.shop.xshop.example").status_code == 409
    assert _post(y_owner, "/brand/yshop/domains", domain="xshop.example").status_code == 409
    # the brand's own domain again
    resp = _post(y_owner, "/brand/yshop/domains", domain="shop.yshop.example")
    assert resp.status_code == 409 and "already on your list" in resp.get_data(as_text=True)
    with app.app_context():
        assert (
            db.session.scalar(
                select(BrandDomain.brand_id).where(BrandDomain.domain == "shop.xshop.example")
            )
            == world["x"]
        )
        assert db.session.scalars(
            select(BrandDomain.domain).where(BrandDomain.brand_id == world["y"])
        ).all() == ["shop.yshop.example"]


def test_a_brand_holds_a_limited_number_of_domains(app, world):
    with app.app_context():
        x = db.session.get(Brand, world["x"])
        for n in range(MAX_DOMAINS - 1):  # the factory's verified domain is the first
            add_domain(db.session, x, f"d{n}.xshop.org", actor_id=1)
        with pytest.raises(BrandError, match="at most"):
            add_domain(db.session, x, "one-more.xshop.org", actor_id=1)


def test_admin_verifies_a_pending_domain(app, world):
    with app.app_context():
        x = db.session.get(Brand, world["x"])
        domain = add_domain(db.session, x, "new.xshop.org", actor_id=1)
        db.session.commit()
        domain_id = domain.id
        assert [d.domain for d in pending_domains(db.session)] == ["new.xshop.org"]

        staff = db.session.scalars(select(User).where(User.email == "owner@x.example")).one()
        with pytest.raises(BrandError) as refused:
            verify_domain(db.session, domain_id, staff)
        assert refused.value.status == 403
        with pytest.raises(BrandError) as missing:
            verify_domain(db.session, 999_999, db.session.get(User, world["admin"]))
        assert missing.value.status == 404

        admin = db.session.get(User, world["admin"])
        verified = verify_domain(db.session, domain_id, admin)
        db.session.commit()
        assert verified.verified_at is not None
        first_time = verified.verified_at
        assert verify_domain(db.session, domain_id, admin).verified_at == first_time  # once
        db.session.commit()
        assert pending_domains(db.session) == []
        (event,) = _audit(app, "brand_domain.verify")
        assert event.actor_id == admin.id and event.data["domain"] == "new.xshop.org"

    # the verified domain now accepts product pages
    owner = _client(app, "owner@x.example")
    token = csrf_token(owner, "/brand/xshop/products/new")
    resp = owner.post(
        "/brand/xshop/products/new",
        data={
            "csrf_token": token,
            "sku": "N-1",
            "title": "New",
            "url": "https://new.xshop.org/p/1",
            "price": "1",
            "currency": "EUR",
        },
    )
    assert resp.status_code == 302


def test_unverified_domain_is_refused_for_product_urls(app, world):
    owner = _client(app, "owner@x.example")
    assert _post(owner, "/brand/xshop/domains", domain="pending.xshop.org").status_code == 302
    token = csrf_token(owner, "/brand/xshop/products/new")
    resp = owner.post(
        "/brand/xshop/products/new",
        data={
            "csrf_token": token,
            "sku": "P-1",
            "title": "Pending",
            "url": "https://pending.xshop.org/p/1",
            "price": "1",
            "currency": "EUR",
        },
    )
    assert resp.status_code == 422
    assert "not one of the brand&#39;s verified domains" in resp.get_data(as_text=True)


def test_admin_rejects_a_squatted_claim_and_overlaps_are_never_verified(app, world):
    with app.app_context():
        x = db.session.get(Brand, world["x"])
        y = db.session.get(Brand, world["y"])
        admin = db.session.get(User, world["admin"])
        # yshop claims a parent of nothing verified yet; xshop then has a pending sibling
        claim = add_domain(db.session, y, "bigshop.example", actor_id=1)
        sub = add_domain(db.session, x, "eu.bigshop.example", actor_id=1)
        db.session.commit()
        verify_domain(db.session, sub.id, admin)
        db.session.commit()
        with pytest.raises(BrandError) as overlap:
            verify_domain(db.session, claim.id, admin)
        assert overlap.value.status == 409
        db.session.rollback()
        assert reject_domain(db.session, claim.id, admin, note="not theirs") == "bigshop.example"
        db.session.commit()
        assert db.session.get(BrandDomain, claim.id) is None
        with pytest.raises(BrandError):
            reject_domain(db.session, sub.id, admin)  # verified domains are not rejected
        assert _audit(app, "brand_domain.reject")[0].data["note"] == "not theirs"


def test_removing_a_domain_warns_about_the_products_on_it(app, world):
    with app.app_context():
        x = db.session.get(Brand, world["x"])
        factories.product(x, "SKU-1")
        domain_id = db.session.scalar(
            select(BrandDomain.id).where(BrandDomain.domain == "shop.xshop.example")
        )
        db.session.commit()
    viewer = _client(app, "viewer@x.example")
    assert _post(viewer, f"/brand/xshop/domains/{domain_id}/remove").status_code == 403
    assert _post(viewer, "/brand/xshop/domains", domain="v.example.com").status_code == 403
    y_owner = _client(app, "owner@y.example")
    assert _post(y_owner, f"/brand/yshop/domains/{domain_id}/remove").status_code == 404
    owner = _client(app, "owner@x.example")
    resp = _post(owner, f"/brand/xshop/domains/{domain_id}/remove")
    assert resp.status_code == 302
    page = owner.get("/brand/xshop/domains").get_data(as_text=True)
    assert "1 active products have pages on it" in page
    with app.app_context():
        assert db.session.get(BrandDomain, domain_id) is None
    (event,) = _audit(app, "brand_domain.remove")
    assert event.data == {
        "brand_id": world["x"],
        "domain": "shop.xshop.example",
        "was_verified": True,
    }


# -- team -------------------------------------------------------------------------------------


def _roles(app: Flask, brand_id: int) -> dict[str, str]:
    with app.app_context():
        rows = db.session.execute(
            select(User.email, BrandMember.role)
            .join(BrandMember, BrandMember.user_id == User.id)
            .where(BrandMember.brand_id == brand_id)
        ).all()
    return {email: role.value for email, role in rows}


def test_invite_change_role_and_remove(app, world):
    owner = _client(app, "owner@x.example")
    resp = _post(owner, "/brand/xshop/team", email="NEWBIE@example.com", role="manager")
    assert resp.status_code == 302
    assert _roles(app, world["x"])["newbie@example.com"] == "manager"
    page = owner.get("/brand/xshop/team").get_data(as_text=True)
    assert "New Bie" in page
    with app.app_context():
        newbie = _member_id(world["x"], "newbie@example.com")
    assert _post(owner, f"/brand/xshop/team/{newbie}/role", role="viewer").status_code == 302
    assert _roles(app, world["x"])["newbie@example.com"] == "viewer"
    assert _post(owner, f"/brand/xshop/team/{newbie}/remove").status_code == 302
    assert "newbie@example.com" not in _roles(app, world["x"])
    actions = [e.action for e in _audit(app, "brand_member.add")]
    actions += [e.action for e in _audit(app, "brand_member.role")]
    actions += [e.action for e in _audit(app, "brand_member.remove")]
    assert actions == ["brand_member.add", "brand_member.role", "brand_member.remove"]


@pytest.mark.parametrize(
    ("email", "status", "message"),
    [
        ("nobody@example.com", 422, "no brand staff account"),
        ("alice@example.com", 422, "no brand staff account"),  # a creator: same answer
        ("not-an-email", 422, "valid e-mail"),
        ("viewer@x.example", 409, "already on the team"),
    ],
)
def test_invite_refusals(app, world, email, status, message):
    owner = _client(app, "owner@x.example")
    before = _roles(app, world["x"])
    resp = _post(owner, "/brand/xshop/team", email=email, role="viewer")
    assert resp.status_code == status
    assert message in resp.get_data(as_text=True)
    assert _roles(app, world["x"]) == before


def test_last_owner_can_be_neither_demoted_nor_removed(app, world):
    owner = _client(app, "owner@x.example")
    me = world["owner"]
    resp = _post(owner, f"/brand/xshop/team/{me}/role", role="manager")
    assert resp.status_code == 409
    assert "at least one owner" in resp.get_data(as_text=True)
    assert _post(owner, f"/brand/xshop/team/{me}/remove").status_code == 409
    assert _roles(app, world["x"])["owner@x.example"] == "owner"

    # with a second owner, the first may step down
    assert (
        _post(owner, f"/brand/xshop/team/{world['manager']}/role", role="owner").status_code == 302
    )
    assert _post(owner, f"/brand/xshop/team/{me}/role", role="manager").status_code == 302
    roles = _roles(app, world["x"])
    assert (roles["owner@x.example"], roles["manager@x.example"]) == ("manager", "owner")
    new_owner = _client(app, "manager@x.example")
    assert _post(new_owner, f"/brand/xshop/team/{world['manager']}/remove").status_code == 409


def test_only_owners_manage_owners(app, world):
    manager = _client(app, "manager@x.example")
    resp = _post(manager, "/brand/xshop/team", email="newbie@example.com", role="owner")
    assert resp.status_code in (403, 422)  # not offered in the form, refused by the service
    assert "newbie@example.com" not in _roles(app, world["x"])
    assert (
        _post(manager, f"/brand/xshop/team/{world['owner']}/role", role="viewer").status_code == 403
    )
    assert _post(manager, f"/brand/xshop/team/{world['owner']}/remove").status_code == 403
    assert (
        _post(manager, f"/brand/xshop/team/{world['manager']}/role", role="owner").status_code
        == 403
    )
    # managers do manage managers and viewers
    assert (
        _post(manager, f"/brand/xshop/team/{world['viewer']}/role", role="manager").status_code
        == 302
    )
    assert _roles(app, world["x"]) == {
        "owner@x.example": "owner",
        "manager@x.example": "manager",
        "viewer@x.example": "manager",
    }


def test_viewer_cannot_change_the_team(app, world):
    viewer = _client(app, "viewer@x.example")
    assert viewer.get("/brand/xshop/team").status_code == 200
    before = _roles(app, world["x"])
    assert (
        _post(viewer, "/brand/xshop/team", email="newbie@example.com", role="viewer").status_code
        == 403
    )
    assert (
        _post(viewer, f"/brand/xshop/team/{world['manager']}/role", role="viewer").status_code
        == 403
    )
    assert _post(viewer, f"/brand/xshop/team/{world['manager']}/remove").status_code == 403
    assert _roles(app, world["x"]) == before


def test_another_brands_members_are_not_found(app, world):
    owner = _client(app, "owner@x.example")
    y_member = world["y_owner"]
    assert _post(owner, f"/brand/xshop/team/{y_member}/role", role="viewer").status_code == 404
    assert _post(owner, f"/brand/xshop/team/{y_member}/remove").status_code == 404
    assert _roles(app, world["y"]) == {"owner@y.example": "owner"}


@pytest.mark.parametrize(
    "path",
    [
        "/brand/xshop/settings",
        "/brand/xshop/domains",
        "/brand/xshop/team",
        "/brand/xshop/integration",
        "/brand/xshop/products",
        "/brand/xshop/products/new",
        "/brand/xshop/products/import",
        "/brand/xshop/products/import/template.csv",
    ],
)
def test_another_brands_workspace_is_not_found(app, world, path):
    assert _client(app, "owner@y.example").get(path).status_code == 404
    assert _client(app, "owner@x.example").get(path).status_code == 200


# -- integration ------------------------------------------------------------------------------


def test_integration_page_shows_the_real_endpoint_and_no_secret(app, world):
    with app.app_context():
        x = db.session.get(Brand, world["x"])
        factories.product(x, "HP-100", price=4999)
        _, raw_key = create_api_key(db.session, x, "backend", actor_id=1)
        db.session.commit()
    viewer = _client(app, "viewer@x.example")
    resp = viewer.get("/brand/xshop/integration")
    assert resp.status_code == 200
    page = html.unescape(resp.get_data(as_text=True))
    assert "POST http://connect.test/api/v1/conversions" in page
    assert "?cx_click=" in page and "X-Connect-Signature: v1=" in page
    assert '"sku": "HP-100"' in page and '"unit_price": 4999' in page
    assert "http://connect.test/api/v1/openapi.json" in page
    assert raw_key not in page and raw_key[:12] not in page and key_digest(raw_key) not in page


def test_the_python_example_really_records_an_order(app, world, monkeypatch):
    """The page's Python example, run as a brand would run it, against this app."""
    with app.app_context():
        x = db.session.get(Brand, world["x"])
        factories.product(x, "HP-100", price=4999)
        _, raw_key = create_api_key(db.session, x, "backend", actor_id=1)
        db.session.commit()
    examples = integration_examples(
        endpoint="http://connect.test/api/v1/conversions",
        sku="HP-100",
        unit_price=4999,
        currency="EUR",
        click_param="cx_click",
    )
    client = app.test_client()
    answers = []

    def urlopen(request, timeout):
        resp = client.open(
            request.full_url.removeprefix("http://connect.test"),
            method=request.get_method(),
            data=request.data,
            headers=dict(request.header_items()),
        )
        answers.append(resp.status_code)
        return io.BytesIO(resp.data)

    monkeypatch.setenv("CONNECT_API_KEY", raw_key)
    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    printed = []
    exec(  # noqa: S102 - the code under test is our own documentation
        compile(examples["python"], "integration-example.py", "exec"),
        {"__name__": "example", "print": printed.append},
    )
    assert answers == [201]
    assert printed[0]["order_id"] == "SO-1001"
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        assert (order.brand_id, order.external_id) == (world["x"], "SO-1001")


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
def test_the_curl_example_signs_like_the_server_checks():
    """The shell half of the curl example computes the signature the API verifies."""
    examples = integration_examples(
        endpoint="http://connect.test/api/v1/conversions",
        sku="HP-100",
        unit_price=4999,
        currency="EUR",
        click_param="cx_click",
    )
    script = examples["curl"]
    signing, _, curl = script.partition("\ncurl ")
    signing = signing.replace("export CONNECT_API_KEY='cxk_…'", "export CONNECT_API_KEY=cxk_test")
    out = subprocess.run(
        ["bash", "-c", signing + '\nprintf "%s\\n%s\\n%s" "$TS" "$SIG" "$BODY"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    timestamp, signature, body = out.split("\n", 2)
    assert json.loads(body)["lines"] == [{"sku": "HP-100", "quantity": 1, "unit_price": 4999}]
    assert "v1=" + signature == sign(key_digest("cxk_test"), int(timestamp), body.encode())
    assert "http://connect.test/api/v1/conversions" in curl
