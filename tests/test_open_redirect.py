"""No input makes /r/<code> send a visitor anywhere but the brand's verified domains.

Every hostile destination is tried twice: through link creation (which must refuse it) and as a
link row written behind the service's back (the redirect must still refuse to serve it).
"""

from __future__ import annotations

import itertools
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask

from connect.brands.models import BrandDomain
from connect.creators.models import Creator
from connect.extensions import db
from connect.tracking.models import Link
from connect.tracking.services import LinkError, create_link, new_code
from connect.tracking.urls import UnsafeDestination, check_destination
from tests import factories

VERIFIED = "shop.acme.example"
EVIL_HOSTS = ["evil.example", "shop.acme.example.evil.example", "acme.example", "shop-acme.example"]
TEMPLATES = [
    "https://{evil}/",
    "http://{evil}/p?x=1",
    "//{evil}/",
    "///{evil}/",
    "https:/{evil}/",
    "https:{evil}/",
    "https:\\\\{evil}/",
    "\\\\{evil}/",
    "/\\{evil}/",
    " https://{evil}/",
    "HTTPS://{EVIL}/",
    "https://{verified}@{evil}/",
    "https://{verified}:pass@{evil}/",
    "https://{verified}:443@{evil}/",
    "https://{evil}\\@{verified}/",
    "https://{evil}%2f@{verified}/",
    "https://{evil}%2F.{verified}/",
    "https://{evil}%5c@{verified}/",
    "https://{evil}%40{verified}/",
    "https://{evil}#@{verified}/",
    "https://{evil}?@{verified}/",
    "https://{evil}%00.{verified}/",
    "https://{evil}%09.{verified}/",
    "https://{verified}.{evil}/",
    "https://{verified}%E3%80%82{evil}/",
    "https://{verified}\u3002{evil}/",
    "https://{evil}/https://{verified}/",
    "https://{evil}:443/",
    "http://{evil}:80/",
    "https://{evil}./",
]
ODDITIES = [
    "javascript:alert(document.domain)",
    "javascript://shop.acme.example/%0aalert(1)",
    "JaVaScRiPt:alert(1)//https://shop.acme.example/",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "ftp://shop.acme.example/file",
    "https://shop.acme.example%0d%0aLocation:%20https://evil.example/",
    "https://shop.acme.example\r\nLocation: https://evil.example/",
    "https://shop.acme.example\nSet-Cookie: a=b",
    "https://sh\u043ep.acme.example/",  # Cyrillic o: an IDN look-alike
    "https://xn--shp-5cd.acme.example/",  # the same look-alike in punycode: another host
    "https://shop.acme.example:8080/",
    "https://shop.acme.example:0/",
    "https://127.0.0.1/",
    "https://[::1]/",
    "https://0x7f.1/",
    "https://2130706433/",
    "https://localhost/",
    "https://unverified.acme.test/",
    "",
    "   ",
    "https://",
    "https:///",
    "/p/relative",
    "shop.acme.example/p",
    "https://shop.acme.example/" + "a" * 2100,
]


def hostile_urls() -> list[str]:
    urls = [
        t.format(evil=e, EVIL=e.upper(), verified=VERIFIED)
        for t, e in itertools.product(TEMPLATES, EVIL_HOSTS)
    ]
    return list(dict.fromkeys(urls + ODDITIES))


HOSTILE = hostile_urls()


def test_there_are_at_least_a_hundred_variants() -> None:
    assert len(HOSTILE) >= 100


@pytest.mark.parametrize("url", HOSTILE)
def test_check_destination_refuses(url: str) -> None:
    with pytest.raises(UnsafeDestination):
        check_destination(url, [VERIFIED])


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.acme.example/p/1",
        "https://shop.acme.example/p/1?a=b&c=%20d#frag",
        "https://m.shop.acme.example/p/1",
        "https://SHOP.acme.example/p/1",
        "http://shop.acme.example:443/p",
    ],
)
def test_check_destination_accepts_verified_hosts(url: str) -> None:
    assert check_destination(url, [VERIFIED]) == url


@pytest.fixture
def acme(app: Flask) -> dict[str, int]:
    with app.app_context():
        creator = factories.creator(handle="alice")
        brand = factories.brand("acme")
        brand.domains.append(BrandDomain(domain="unverified.acme.test", verified_at=None))
        product = factories.product(brand, "SKU-1")
        db.session.commit()
        return {"creator": creator.id, "brand": brand.id, "product": product.id}


def _location_is_safe(location: str) -> bool:
    host = urlsplit(urljoin("https://connect.test/r/x", location)).hostname or ""
    return host == VERIFIED or host.endswith("." + VERIFIED)


def test_hostile_destinations_are_refused_at_creation_and_at_redirect(app, acme) -> None:
    codes = {}
    with app.app_context():
        creator = db.session.get(Creator, acme["creator"])
        from connect.brands.models import Product

        product = db.session.get(Product, acme["product"])
        storable = [u for u in HOSTILE if len(u) <= 2048]  # longer ones cannot be stored at all
        for url in storable:
            product.url = url
            with pytest.raises(LinkError):
                create_link(db.session, creator, product_id=product.id)
        product.url = f"https://{VERIFIED}/p/SKU-1"
        # Rows written behind the service's back (an import bug, a manual fix gone wrong).
        for url in storable:
            code = new_code()
            codes[code] = url
            db.session.add(
                Link(
                    code=code,
                    creator_id=creator.id,
                    product_id=product.id,
                    brand_id=acme["brand"],
                    destination_url=url,
                )
            )
        db.session.commit()
    client = app.test_client()
    for code, url in codes.items():
        resp = client.get(f"/r/{code}")
        location = resp.headers.get("Location")
        assert resp.status_code == 404, url
        assert location is None or _location_is_safe(location), url


@pytest.mark.parametrize(
    "path",
    [
        "/r/%2F%2Fevil.example",
        "/r/..%2F..%2Fevil",
        "/r/%0d%0aLocation:evil",
        "/r/evil.example",
        "/r//evil.example",
        "/r/\\evil.example",
        "/r/aaaaaaaa%00",
        "/r/" + "A" * 17,
    ],
)
def test_hostile_codes_never_redirect(client, acme, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code in {404, 308}
    location = resp.headers.get("Location")
    assert location is None or urlsplit(urljoin("https://connect.test/", location)).hostname in {
        "connect.test",
        None,
    }
