"""Creator content: media checked by content, publishing with tracked links, the brand's review
of invite-only pieces, compliance flags and the admin queue, and the public shoppable pages."""

from __future__ import annotations

import io
import re
import struct
import uuid
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from connect import create_app
from connect.accounts.models import Role
from connect.audit.models import AuditEvent
from connect.brands.models import BrandMember, BrandRole, Product, ProductStatus
from connect.campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignStatus,
    MemberStatus,
    Visibility,
)
from connect.content.media import MediaError, sniff
from connect.content.models import (
    Content,
    ContentStatus,
    FlagStatus,
    FlagTarget,
    ModerationFlag,
)
from connect.content.services import (
    TRANSITIONS,
    ContentError,
    next_status,
    review_product,
)
from connect.core.storage import S3Storage
from connect.core.time import utcnow
from connect.extensions import db
from connect.tracking.models import Link, LinkStatus
from connect.tracking.services import LinkError, create_link
from tests import factories
from tests.conftest import csrf_token, login
from tests.support import services

# --- media builders ------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int = 2, height: int = 2, padding: int = 0) -> bytes:
    raw = b"".join(b"\x00" + b"\xe6\x32\x1e" * width for _ in range(height))
    extra = _chunk(b"tEXt", b"Comment\x00" + b"x" * padding) if padding else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + extra
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4_bytes() -> bytes:
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    return ftyp + _box(b"moov", _box(b"mvhd", bytes(100))) + _box(b"mdat", bytes(64))


def jpeg_bytes() -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = (
        b"\xff\xc0"
        + struct.pack(">HBHHB", 17, 8, 1, 1, 3)
        + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    return b"\xff\xd8" + app0 + sof0 + sos + b"\x12\x34\xff\x00\x56" + b"\xff\xd9"


def webp_bytes() -> bytes:
    vp8l = b"VP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00" + b"\x00"  # padded to even
    return b"RIFF" + struct.pack("<I", 4 + len(vp8l)) + b"WEBP" + vp8l


def webm_bytes() -> bytes:
    doctype = b"\x42\x82\x84webm"
    header = b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(doctype)]) + doctype
    return header + b"\x18\x53\x80\x67" + b"\x01" + b"\xff" * 7 + bytes(32)


# --- the world ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def capp(app: Flask) -> Iterator[Flask]:
    """The app with the content blueprint (registered here until connect/__init__.py does)."""
    if "content" in app.blueprints:
        yield app
        return
    from connect.content.routes import bp

    fresh = create_app({"SERVER_NAME": "connect.test"})
    fresh.register_blueprint(bp)
    yield fresh
    with fresh.app_context():
        db.engine.dispose()


@pytest.fixture
def world(capp: Flask) -> dict[str, Any]:
    with capp.app_context():
        alice = factories.creator(handle="alice")
        bob = factories.creator(handle="bob")
        x = factories.brand("xbrand", staff_email="mgr@x.example", role=BrandRole.MANAGER)
        y = factories.brand("ybrand", staff_email="staff@y.example")
        viewer = factories.user(Role.BRAND, email="viewer@x.example")
        db.session.add(BrandMember(brand_id=x.id, user_id=viewer.id, role=BrandRole.VIEWER))
        p1 = factories.product(x, "X-1", "Wireless earbuds")
        p2 = factories.product(x, "X-2", "Phone stand")
        py = factories.product(y, "Y-1", "Yoga mat")
        factories.user(Role.ADMIN, email="root@example.com")
        campaign = Campaign(
            brand_id=x.id,
            name="Spring launch",
            starts_on=utcnow().date() - timedelta(days=1),
            status=CampaignStatus.ACTIVE,
            visibility=Visibility.INVITE,
            default_rate_bps=800,
            currency="EUR",
        )
        db.session.add(campaign)
        db.session.flush()
        db.session.add(
            CampaignMember(
                campaign_id=campaign.id, creator_id=alice.id, status=MemberStatus.APPROVED
            )
        )
        db.session.commit()
        return {
            "alice": alice.id,
            "bob": bob.id,
            "p1": p1.id,
            "p2": p2.id,
            "py": py.id,
            "campaign": campaign.id,
        }


def client_for(capp: Flask, email: str | None) -> FlaskClient:
    client = capp.test_client()
    if email:
        assert login(client, email, factories.PASSWORD).status_code == 302
    return client


@pytest.fixture
def alice(capp: Flask, world: dict[str, Any]) -> FlaskClient:
    return client_for(capp, "alice@example.com")


def content_form(client: FlaskClient, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "csrf_token": csrf_token(client, "/creator/content/new"),
        "kind": "review",
        "title": "My favourite earbuds",
        "body": "Great sound.\n\nLong battery.",
        "language": "fr",
        "countries": ["FR", "ES"],
        "external_url": "https://www.instagram.com/p/abc123/",
        "campaign_id": "",
        "product_ids": [],
    }
    data.update(overrides)
    return data


def create_piece(client: FlaskClient, path: str = "/creator/content/new", **overrides: Any) -> Any:
    return client.post(
        path, data=content_form(client, **overrides), content_type="multipart/form-data"
    )


def piece_id(response: Any) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    match = re.search(r"/creator/content/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def publish(client: FlaskClient, content_id: int) -> Any:
    token = csrf_token(client, f"/creator/content/{content_id}")
    return client.post(f"/creator/content/{content_id}/publish", data={"csrf_token": token})


def fetch(client: FlaskClient, path: str) -> Any:
    """GET a file response and close it (a file on disk is streamed, not read into memory)."""
    response = client.get(path)
    response.get_data()
    response.close()
    return response


def stored_media(capp: Flask) -> list[Path]:
    root = Path(capp.instance_path) / "storage" / "media"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture(autouse=True)
def _empty_media(capp: Flask) -> Iterator[None]:
    yield
    for path in stored_media(capp):
        path.unlink()


def get_content(capp: Flask, content_id: int) -> Content:
    with capp.app_context():
        content = db.session.get(Content, content_id)
        assert content is not None
        db.session.expunge(content)
        return content


def links_of(capp: Flask, content_id: int) -> list[tuple[str, int, LinkStatus]]:
    with capp.app_context():
        return [
            (link.code, link.product_id, link.status)
            for link in db.session.scalars(
                select(Link).where(Link.content_id == content_id).order_by(Link.id)
            )
        ]


# --- media --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "content_type", "extension"),
    [
        (png_bytes, "image/png", "png"),
        (jpeg_bytes, "image/jpeg", "jpg"),
        (webp_bytes, "image/webp", "webp"),
        (mp4_bytes, "video/mp4", "mp4"),
        (webm_bytes, "video/webm", "webm"),
    ],
)
def test_sniffer_knows_each_accepted_type(make: Any, content_type: str, extension: str) -> None:
    found = sniff(io.BytesIO(make()))
    assert (found.content_type, found.extension) == (content_type, extension)


DISGUISED = {
    "html": (b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>", "HTML"),
    "svg": (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "SVG",
    ),
    "exe": (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200), "program"),
    "png-garbage": (b"\x89PNG\r\n\x1a\n" + b"<script>alert(1)</script>" * 4, "PNG"),
    "png-truncated": (png_bytes()[:-20], "PNG"),
    "png-bad-crc": (png_bytes()[:-5] + b"\x00" + png_bytes()[-4:], "PNG"),
    "jpeg-garbage": (b"\xff\xd8\xff\xe0" + b"not really a jpeg at all" * 3, "JPEG"),
    "mp4-no-movie": (_box(b"ftyp", b"isom\x00\x00\x02\x00isom") + _box(b"free", bytes(8)), "MP4"),
    "heic": (_box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic") + _box(b"mdat", bytes(8)), "MP4"),
    "gif": (b"GIF89a" + bytes(40), "GIF"),
    "empty": (b"", "empty"),
}


@pytest.mark.parametrize("name", sorted(DISGUISED))
def test_sniffer_refuses_disguised_and_damaged_files(name: str) -> None:
    data, words = DISGUISED[name]
    with pytest.raises(MediaError, match=words):
        sniff(io.BytesIO(data))


@pytest.mark.parametrize("name", ["html", "svg", "exe", "png-garbage"])
def test_upload_refuses_a_disguised_file_and_stores_nothing(
    capp: Flask, alice: FlaskClient, name: str
) -> None:
    data, _ = DISGUISED[name]
    response = create_piece(alice, media=(io.BytesIO(data), "holiday.jpg", "image/jpeg"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "checked by its content" in page or "This PNG is damaged" in page
    assert stored_media(capp) == []
    with capp.app_context():
        assert db.session.scalar(select(func.count()).select_from(Content)) == 0


def test_upload_stores_a_real_png_by_its_content_whatever_its_name(
    capp: Flask, world: dict[str, Any], alice: FlaskClient
) -> None:
    data = png_bytes()
    # The browser claims an MP4 named .mp4: the bytes say PNG, and PNG is what is stored.
    response = create_piece(alice, media=(io.BytesIO(data), "clip.mp4", "video/mp4"))
    content = get_content(capp, piece_id(response))
    assert re.fullmatch(rf"media/{world['alice']}/[0-9a-f]{{32}}\.png", content.media_key)
    assert (content.media_type, content.media_bytes) == ("image/png", len(data))
    assert [p.read_bytes() for p in stored_media(capp)] == [data]

    # Its creator sees it; nobody else does while the piece is a draft.
    shown = fetch(alice, f"/content/{content.id}/media")
    assert shown.status_code == 200
    assert shown.data == data
    assert shown.mimetype == "image/png"
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in shown.headers["Content-Security-Policy"]
    assert capp.test_client().get(f"/content/{content.id}/media").status_code == 404
    bob = client_for(capp, "bob@example.com")
    assert bob.get(f"/content/{content.id}/media").status_code == 404


def test_upload_accepts_an_mp4_and_replacing_it_removes_the_old_file(
    capp: Flask, alice: FlaskClient
) -> None:
    content_id = piece_id(create_piece(alice, media=(io.BytesIO(mp4_bytes()), "a.mov", "")))
    first = get_content(capp, content_id)
    assert (first.media_type, first.media_key[-4:]) == ("video/mp4", ".mp4")

    path = f"/creator/content/{content_id}/edit"
    response = create_piece(alice, path, media=(io.BytesIO(png_bytes()), "b.png", "image/png"))
    assert piece_id(response) == content_id
    second = get_content(capp, content_id)
    assert second.media_type == "image/png"
    assert [p.name for p in stored_media(capp)] == [second.media_key.rsplit("/", 1)[1]]

    response = create_piece(alice, path, remove_media="y")
    assert piece_id(response) == content_id
    assert get_content(capp, content_id).media_key == ""
    assert stored_media(capp) == []


def test_upload_size_limits(
    capp: Flask, alice: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(capp.config, "MEDIA_MAX_IMAGE_BYTES", 2000)
    monkeypatch.setitem(capp.config, "MEDIA_MAX_VIDEO_BYTES", 4000)
    big_png = png_bytes(padding=2500)
    response = create_piece(alice, media=(io.BytesIO(big_png), "big.png", "image/png"))
    assert response.status_code == 422
    assert "The image is too large" in response.get_data(as_text=True)
    # A video of the same size is within its own limit.
    assert (
        create_piece(alice, media=(io.BytesIO(mp4_bytes()), "v.mp4", "video/mp4")).status_code
        == 302
    )
    # A body above the largest limit (plus room for the form) is refused before it is read.
    response = alice.post(
        "/creator/content/new",
        data=content_form(alice, media=(io.BytesIO(mp4_bytes()), "v.mp4", "video/mp4")),
        content_type="multipart/form-data",
        environ_overrides={"CONTENT_LENGTH": str(4000 + 1024 * 1024 + 1)},
    )
    assert response.status_code == 413
    assert len(stored_media(capp)) == 1


def test_upload_to_s3_keeps_the_detected_type(
    capp: Flask, alice: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    store = S3Storage.from_config(
        {
            "S3_ENDPOINT_URL": services.ensure_moto(),
            "S3_REGION": "us-east-1",
            "S3_BUCKET": f"connect-media-{uuid.uuid4().hex[:12]}",
        }
    )
    store.ensure_bucket()
    monkeypatch.setitem(capp.extensions, "connect_storage", store)
    data = png_bytes(padding=3000)
    content = get_content(
        capp,
        piece_id(
            create_piece(alice, media=(io.BytesIO(data), "x.bin", "application/octet-stream"))
        ),
    )
    head = store.client.head_object(Bucket=store.bucket, Key=content.media_key)
    assert (head["ContentType"], head["ContentLength"]) == ("image/png", len(data))
    shown = fetch(alice, f"/content/{content.id}/media")
    assert (shown.status_code, shown.data, shown.mimetype) == (200, data, "image/png")

    refused = create_piece(alice, media=(io.BytesIO(b"<html></html>"), "x.png", "image/png"))
    assert refused.status_code == 422
    listed = store.client.list_objects_v2(Bucket=store.bucket)
    assert [o["Key"] for o in listed["Contents"]] == [content.media_key]


# --- publishing and the public pages ------------------------------------------------------------


@pytest.fixture
def count_queries(capp: Flask) -> Iterator[list[str]]:
    with capp.app_context():
        engine = db.engine
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    yield seen
    event.remove(engine, "before_cursor_execute", before)


def test_publishing_makes_a_tracked_link_per_product_and_a_shoppable_page(
    capp: Flask, world: dict[str, Any], alice: FlaskClient, count_queries: list[str]
) -> None:
    content_id = piece_id(
        create_piece(
            alice,
            title="<script>alert('x')</script> Mes écouteurs",
            product_ids=[str(world["p1"]), str(world["p2"])],
            media=(io.BytesIO(png_bytes()), "p.png", "image/png"),
        )
    )
    anon = capp.test_client()
    assert anon.get(f"/c/alice/{content_id}").status_code == 404  # a draft is not public
    assert links_of(capp, content_id) == []

    response = publish(alice, content_id)
    assert response.status_code == 302
    assert get_content(capp, content_id).status == ContentStatus.PUBLISHED
    links = links_of(capp, content_id)
    assert sorted(p for _, p, _ in links) == sorted([world["p1"], world["p2"]])
    assert all(status == LinkStatus.ACTIVE for _, _, status in links)

    count_queries.clear()
    page = anon.get(f"/c/alice/{content_id}", headers={"Accept-Language": "fr"})
    assert len([q for q in count_queries if q.lstrip().upper().startswith("SELECT")]) <= 2
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "public, max-age=60"
    assert "Accept-Language" in page.headers["Vary"]
    html = page.get_data(as_text=True)
    assert "Wireless earbuds" in html and "Phone stand" in html
    for code, _, _ in links:
        assert f"/r/{code}" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert 'lang="fr"' in html
    assert "csrf_token" not in html  # nothing per-visitor on a cached page
    assert page.headers.get("Set-Cookie") is None

    # Localized: the same page in Spanish.
    spanish = anon.get(f"/c/alice/{content_id}", headers={"Accept-Language": "es"})
    assert spanish.status_code == 200
    assert '<html lang="es">' in spanish.get_data(as_text=True)
    assert spanish.headers["ETag"] != page.headers["ETag"]

    # A second request with the ETag is answered 304.
    again = anon.get(
        f"/c/alice/{content_id}",
        headers={"Accept-Language": "fr", "If-None-Match": page.headers["ETag"]},
    )
    assert again.status_code == 304

    count_queries.clear()
    listing = anon.get("/c/alice")
    assert len([q for q in count_queries if q.lstrip().upper().startswith("SELECT")]) <= 2
    assert listing.status_code == 200
    assert f"/c/alice/{content_id}" in listing.get_data(as_text=True)
    assert listing.headers["Cache-Control"] == "public, max-age=60"

    # The short link redirects to the product.
    code = links[0][0]
    assert anon.get(f"/r/{code}").status_code == 302
    # The media of a published piece is public.
    assert fetch(anon, f"/content/{content_id}/media").status_code == 200

    assert anon.get("/c/nobody").status_code == 404
    assert anon.get(f"/c/bob/{content_id}").status_code == 404  # another creator's handle
    assert anon.get(f"/c/alice/{content_id + 1000}").status_code == 404


def test_a_signed_in_readers_copy_is_private(
    capp: Flask, world: dict[str, Any], alice: FlaskClient
) -> None:
    content_id = piece_id(create_piece(alice, product_ids=[str(world["p1"])]))
    publish(alice, content_id)
    page = alice.get(f"/c/alice/{content_id}")
    assert page.headers["Cache-Control"] == "private, max-age=60"


def test_pieces_of_a_suspended_creator_are_not_public(
    capp: Flask, world: dict[str, Any], alice: FlaskClient
) -> None:
    content_id = piece_id(create_piece(alice, product_ids=[str(world["p1"])]))
    publish(alice, content_id)
    from connect.creators.models import Creator, CreatorStatus

    with capp.app_context():
        db.session.get(Creator, world["alice"]).status = CreatorStatus.SUSPENDED
        db.session.commit()
    anon = capp.test_client()
    assert anon.get("/c/alice").status_code == 404
    assert anon.get(f"/c/alice/{content_id}").status_code == 404


def test_products_must_be_promotable(
    capp: Flask, world: dict[str, Any], alice: FlaskClient
) -> None:
    with capp.app_context():
        db.session.get(Product, world["p2"]).status = ProductStatus.ARCHIVED
        db.session.commit()
    response = create_piece(alice, product_ids=[str(world["p1"]), str(world["p2"])])
    assert response.status_code == 422
    assert "cannot be featured" in response.get_data(as_text=True)
    # Inside a campaign, only the campaign's brand.
    response = create_piece(
        alice, campaign_id=str(world["campaign"]), product_ids=[str(world["py"])]
    )
    assert response.status_code == 422
    # A creator outside an invite-only campaign cannot use it.
    bob = client_for(capp, "bob@example.com")
    response = create_piece(bob, campaign_id=str(world["campaign"]), product_ids=[])
    assert response.status_code == 422
    assert "not a member" in response.get_data(as_text=True)


def test_a_piece_needs_products_and_an_approved_creator_to_publish(
    capp: Flask, world: dict[str, Any]
) -> None:
    from connect.creators.models import CreatorStatus

    with capp.app_context():
        factories.creator(handle="penny", status=CreatorStatus.PENDING)
        db.session.commit()
    penny = client_for(capp, "penny@example.com")
    content_id = piece_id(create_piece(penny, product_ids=[str(world["p1"])]))
    publish(penny, content_id)
    assert get_content(capp, content_id).status == ContentStatus.DRAFT

    alice = client_for(capp, "alice@example.com")
    empty = piece_id(create_piece(alice))
    response = publish(alice, empty)
    assert get_content(capp, empty).status == ContentStatus.DRAFT
    page = alice.get(response.headers["Location"]).get_data(as_text=True)
    assert "Feature at least one product" in page


def test_refusals_are_shown_in_the_creators_language(capp: Flask, world: dict[str, Any]) -> None:
    """Service refusals are lazy strings: a Spanish reader sees them in Spanish (the catalogues
    are filled from the translations the i18n integrator merges)."""
    import html

    from connect.accounts.models import User
    from connect.creators.models import CreatorStatus

    with capp.app_context():
        paco = factories.creator(handle="paco", status=CreatorStatus.PENDING)
        db.session.get(User, paco.user_id).locale = "es"
        db.session.commit()
    client = client_for(capp, "paco@example.com")

    content_id = piece_id(create_piece(client, product_ids=[str(world["p1"])]))
    response = publish(client, content_id)
    page = html.unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Tu cuenta debe estar aprobada antes de publicar." in page
    assert "Your account must be approved" not in page

    data, _ = DISGUISED["html"]
    response = create_piece(client, media=(io.BytesIO(data), "holiday.jpg", "image/jpeg"))
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "(comprobado por su contenido, no por su nombre). Parece una página HTML." in page
    assert "checked by its content" not in page


# --- tenants ------------------------------------------------------------------------------------


def test_another_creators_piece_is_a_404(
    capp: Flask, world: dict[str, Any], alice: FlaskClient
) -> None:
    content_id = piece_id(create_piece(alice, product_ids=[str(world["p1"])]))
    bob = client_for(capp, "bob@example.com")
    assert bob.get(f"/creator/content/{content_id}").status_code == 404
    assert bob.get(f"/creator/content/{content_id}/edit").status_code == 404
    token = csrf_token(bob, "/creator/content/new")
    assert (
        bob.post(f"/creator/content/{content_id}/publish", data={"csrf_token": token}).status_code
        == 404
    )
    assert (
        bob.post(f"/creator/content/{content_id}/delete", data={"csrf_token": token}).status_code
        == 404
    )
    assert create_piece(bob, f"/creator/content/{content_id}/edit").status_code == 404
    assert "My favourite earbuds" not in bob.get("/creator/content").get_data(as_text=True)
    assert "My favourite earbuds" in alice.get("/creator/content").get_data(as_text=True)
    assert get_content(capp, content_id).status == ContentStatus.DRAFT


def test_post_without_csrf_token_is_refused(capp: Flask, alice: FlaskClient) -> None:
    data = content_form(alice)
    data.pop("csrf_token")
    response = alice.post("/creator/content/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    with capp.app_context():
        assert db.session.scalar(select(func.count()).select_from(Content)) == 0


# --- the brand's approval -------------------------------------------------------------------------


def decide(client: FlaskClient, slug: str, content_id: int, decision: str, reason: str = "") -> Any:
    token = csrf_token(client, f"/brand/{slug}/content")
    return client.post(
        f"/brand/{slug}/content/{content_id}/decision",
        data={"csrf_token": token, "decision": decision, "reason": reason},
    )


def test_invite_only_content_goes_to_the_brand_for_approval(
    capp: Flask, world: dict[str, Any], alice: FlaskClient
) -> None:
    content_id = piece_id(
        create_piece(
            alice,
            campaign_id=str(world["campaign"]),
            product_ids=[str(world["p1"])],
            media=(io.BytesIO(jpeg_bytes()), "shot.jpg", "image/jpeg"),
        )
    )
    publish(alice, content_id)
    assert get_content(capp, content_id).status == ContentStatus.SUBMITTED
    assert links_of(capp, content_id) == []
    assert capp.test_client().get(f"/c/alice/{content_id}").status_code == 404

    manager = client_for(capp, "mgr@x.example")
    queue = manager.get("/brand/xbrand/content")
    assert queue.status_code == 200
    assert "My favourite earbuds" in queue.get_data(as_text=True)

    # Another brand cannot see or decide it; a viewer may look but not decide.
    other = client_for(capp, "staff@y.example")
    assert other.get("/brand/xbrand/content").status_code == 404
    assert decide(other, "ybrand", content_id, "approve").status_code == 404
    viewer = client_for(capp, "viewer@x.example")
    assert viewer.get("/brand/xbrand/content").status_code == 200
    assert decide(viewer, "xbrand", content_id, "approve").status_code == 403
    assert get_content(capp, content_id).status == ContentStatus.SUBMITTED
    # The brand may preview the media of a piece it reviews; the other brand may not.
    assert fetch(manager, f"/content/{content_id}/media").status_code == 200
    assert fetch(other, f"/content/{content_id}/media").status_code == 404
    assert fetch(capp.test_client(), f"/content/{content_id}/media").status_code == 404
    assert decide(manager, "xbrand", content_id, "approve").status_code == 302
    content = get_content(capp, content_id)
    assert content.status == ContentStatus.PUBLISHED
    assert content.brand_approved_at is not None
    [(code, product_id, status)] = links_of(capp, content_id)
    assert (product_id, status) == (world["p1"], LinkStatus.ACTIVE)
    with capp.app_context():
        link = db.session.scalar(select(Link).where(Link.code == code))
        assert link.campaign_id == world["campaign"]
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"content.submitted", "content.brand_approve", "content.published"} <= actions
    assert capp.test_client().get(f"/c/alice/{content_id}").status_code == 200

    # A second decision is refused.
    decide(manager, "xbrand", content_id, "reject", "too late")
    assert get_content(capp, content_id).status == ContentStatus.PUBLISHED


def test_rejected_content_links_stop_earning(
    capp: Flask, world: dict[str, Any], alice: FlaskClient
) -> None:
    content_id = piece_id(
        create_piece(alice, campaign_id=str(world["campaign"]), product_ids=[str(world["p1"])])
    )
    publish(alice, content_id)
    manager = client_for(capp, "mgr@x.example")
    decide(manager, "xbrand", content_id, "approve")
    [(code, _, _)] = links_of(capp, content_id)
    anon = capp.test_client()
    assert anon.get(f"/r/{code}").status_code == 302

    # An edit goes back to the brand; the live links keep working meanwhile.
    response = create_piece(
        alice,
        f"/creator/content/{content_id}/edit",
        campaign_id=str(world["campaign"]),
        product_ids=[str(world["p1"])],
        title="New words the brand never saw",
    )
    assert piece_id(response) == content_id
    assert get_content(capp, content_id).status == ContentStatus.SUBMITTED
    assert anon.get(f"/r/{code}").status_code == 302

    # A rejection needs a reason, then switches the links off at once.
    decide(manager, "xbrand", content_id, "reject", "")
    assert get_content(capp, content_id).status == ContentStatus.SUBMITTED
    decide(manager, "xbrand", content_id, "reject", "Off-brief claims about battery life")
    content = get_content(capp, content_id)
    assert content.status == ContentStatus.REJECTED
    assert content.moderation_note == "Off-brief claims about battery life"
    assert links_of(capp, content_id)[0][2] == LinkStatus.DISABLED
    assert anon.get(f"/r/{code}").status_code == 404
    assert anon.get(f"/c/alice/{content_id}").status_code == 404
    # No new link can be made for it, through the portal or the service.
    with capp.app_context():
        from connect.creators.models import Creator

        creator = db.session.get(Creator, world["alice"])
        with pytest.raises(LinkError, match="rejected"):
            create_link(db.session, creator, product_id=world["p1"], content_id=content_id)
    # And it cannot be edited back to life.
    assert alice.get(f"/creator/content/{content_id}/edit").status_code == 302
    assert "Off-brief" in alice.get(f"/creator/content/{content_id}").get_data(as_text=True)


# --- compliance and the admin queue ---------------------------------------------------------------


def moderate(client: FlaskClient, flag_id: int, decision: str, note: str = "") -> Any:
    token = csrf_token(client, "/admin/moderation")
    return client.post(
        f"/admin/moderation/{flag_id}",
        data={"csrf_token": token, "decision": decision, "note": note},
    )


def open_flags(capp: Flask) -> list[tuple[int, FlagTarget, int, str]]:
    with capp.app_context():
        return [
            (f.id, f.target_type, f.target_id, f.reason)
            for f in db.session.scalars(
                select(ModerationFlag)
                .where(ModerationFlag.status == FlagStatus.OPEN)
                .order_by(ModerationFlag.id)
            )
        ]


def test_spanish_counterfeit_piece_is_flagged_then_cleared_by_an_admin(
    capp: Flask, world: dict[str, Any], alice: FlaskClient
) -> None:
    content_id = piece_id(
        create_piece(
            alice,
            title="Bolso de lujo",
            body="Réplica AAA, nadie nota que es falsificado.",
            language="es",
            product_ids=[str(world["p1"])],
        )
    )
    publish(alice, content_id)
    content = get_content(capp, content_id)
    assert content.status == ContentStatus.FLAGGED
    assert "counterfeit" in content.moderation_note and "es: " in content.moderation_note
    assert links_of(capp, content_id) == []
    [(flag_id, target, target_id, _)] = open_flags(capp)
    assert (target, target_id) == (FlagTarget.CONTENT, content_id)
    assert capp.test_client().get(f"/c/alice/{content_id}").status_code == 404
    # Flagged pieces wait for the admin: the creator cannot edit them meanwhile.
    assert alice.get(f"/creator/content/{content_id}/edit").status_code == 302

    # Only admins see and decide the queue.
    assert alice.get("/admin/moderation").status_code == 403
    assert capp.test_client().get("/admin/moderation").status_code == 302
    assert client_for(capp, "mgr@x.example").get("/admin/moderation").status_code == 403
    admin = client_for(capp, "root@example.com")
    queue = admin.get("/admin/moderation").get_data(as_text=True)
    assert "Bolso de lujo" in queue and "@alice" in queue

    assert moderate(admin, flag_id, "clear", "Fashion slang, checked").status_code == 302
    content = get_content(capp, content_id)
    assert content.status == ContentStatus.PUBLISHED
    assert content.moderation_note == ""
    assert [s for _, _, s in links_of(capp, content_id)] == [LinkStatus.ACTIVE]
    assert open_flags(capp) == []
    with capp.app_context():
        event_ = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "moderation.clear")
        )
        assert event_.data["note"] == "Fashion slang, checked"
    # A second decision on the same flag changes nothing.
    moderate(admin, flag_id, "uphold")
    assert get_content(capp, content_id).status == ContentStatus.PUBLISHED

    # The same words again after an edit are not raised again: the admin cleared them.
    response = create_piece(
        alice,
        f"/creator/content/{content_id}/edit",
        title="Bolso de lujo (nuevo)",
        body="Réplica AAA, nadie nota que es falsificado.",
        language="es",
        product_ids=[str(world["p1"])],
    )
    assert piece_id(response) == content_id
    assert get_content(capp, content_id).status == ContentStatus.PUBLISHED


def test_russian_counterfeit_edit_pauses_links_and_upholding_rejects(
    capp: Flask, world: dict[str, Any], alice: FlaskClient
) -> None:
    content_id = piece_id(create_piece(alice, product_ids=[str(world["p1"])]))
    publish(alice, content_id)
    [(code, _, _)] = links_of(capp, content_id)
    anon = capp.test_client()
    assert anon.get(f"/r/{code}").status_code == 302

    response = create_piece(
        alice,
        f"/creator/content/{content_id}/edit",
        title="Сумка Louis Vuitton",
        body="Это подделка, но очень хорошая.",
        language="ru",
        product_ids=[str(world["p1"])],
    )
    assert piece_id(response) == content_id
    content = get_content(capp, content_id)
    assert content.status == ContentStatus.FLAGGED
    assert "ru: подделк*" in content.moderation_note
    assert links_of(capp, content_id)[0][2] == LinkStatus.DISABLED
    assert anon.get(f"/r/{code}").status_code == 404  # paused while the admin looks

    [(flag_id, _, _, _)] = open_flags(capp)
    admin = client_for(capp, "root@example.com")
    moderate(admin, flag_id, "uphold", "Counterfeit goods are not allowed.")
    content = get_content(capp, content_id)
    assert content.status == ContentStatus.REJECTED
    assert content.moderation_note == "Counterfeit goods are not allowed."
    assert links_of(capp, content_id)[0][2] == LinkStatus.DISABLED
    assert anon.get(f"/r/{code}").status_code == 404
    with capp.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"moderation.flag", "content.flagged", "moderation.uphold", "content.reject"} <= actions
    assert "link.disabled" in actions


def test_a_prohibited_product_is_flagged_and_upholding_archives_it(
    capp: Flask, world: dict[str, Any], alice: FlaskClient
) -> None:
    with capp.app_context():
        product = db.session.get(Product, world["p2"])
        product.title = "Reloj Rolex réplica"
        assert review_product(db.session, product, now=utcnow()) is not None
        assert review_product(db.session, product, now=utcnow()) is None  # one open flag
        db.session.commit()
    [(flag_id, target, target_id, reason)] = open_flags(capp)
    assert (target, target_id) == (FlagTarget.PRODUCT, world["p2"])
    assert "counterfeit" in reason

    # A piece featuring it is flagged too, even with innocent words.
    content_id = piece_id(create_piece(alice, product_ids=[str(world["p2"])]))
    publish(alice, content_id)
    content = get_content(capp, content_id)
    assert content.status == ContentStatus.FLAGGED
    assert "product X-2" in content.moderation_note

    admin = client_for(capp, "root@example.com")
    assert "Reloj Rolex" in admin.get("/admin/moderation").get_data(as_text=True)
    moderate(admin, flag_id, "uphold")
    with capp.app_context():
        assert db.session.get(Product, world["p2"]).status == ProductStatus.ARCHIVED


def test_scan_products_command_flags_the_catalogue(capp: Flask, world: dict[str, Any]) -> None:
    with capp.app_context():
        brand_id = db.session.get(Product, world["p1"]).brand_id
        from connect.brands.models import Brand

        brand = db.session.get(Brand, brand_id)
        factories.product(brand, "X-9", "Травматический пистолет")
        factories.product(brand, "X-10", "Pistola de silicona")
        db.session.commit()
    result = capp.test_cli_runner().invoke(args=["content", "scan-products", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "1 product(s) flagged" in result.output
    assert [t for _, t, _, _ in open_flags(capp)] == [FlagTarget.PRODUCT]


# --- the status machine --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "wanted"),
    [(c, w) for c in ContentStatus for w in ContentStatus],
)
def test_status_transitions(current: ContentStatus, wanted: ContentStatus) -> None:
    if wanted in TRANSITIONS[current]:
        assert next_status(current, wanted) == wanted
    else:
        with pytest.raises(ContentError):
            next_status(current, wanted)


def test_rejected_is_final() -> None:
    assert TRANSITIONS[ContentStatus.REJECTED] == frozenset()
