"""The main marketplace path in a real browser: a brand launches an open campaign, a creator
joins it, publishes a piece featuring the brand's product, and the public shoppable page links
to the product through a tracked /r/<code> link.

Real Chromium (headless), a real HTTP server, PostgreSQL and Redis: what a person clicks is what
is tested, down to the CSRF tokens and the session cookie. Screenshots of each step are kept in
$BROWSER_ARTIFACTS (else the test's tmp_path) and their paths printed.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from flask import Flask

from connect.brands.models import BrandRole
from connect.extensions import db
from tests import factories

BRAND_EMAIL = "owner@acme.example"
CAMPAIGN = "Spring Sound"
PIECE = "My favourite headphones"


def _seed(app: Flask) -> dict[str, Any]:
    with app.app_context():
        brand = factories.brand("acme", staff_email=BRAND_EMAIL, role=BrandRole.OWNER)
        product = factories.product(brand, "HP-1", title="Studio Headphones")
        creator = factories.creator(handle="lena")
        seeded = {
            "brand_slug": brand.slug,
            "sku": product.sku,
            "product_id": product.id,
            "product_title": product.title,
            "creator_email": f"{creator.handle}@example.com",
            "handle": creator.handle,
        }
        db.session.commit()
        db.session.remove()
    return seeded


class Shots:
    def __init__(self, page: Any, directory: Path) -> None:
        self.page, self.directory, self.paths = page, directory, []

    def __call__(self, name: str) -> None:
        path = self.directory / f"{len(self.paths) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.paths.append(path)


def _log_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url(lambda url: "/login" not in url)


def _log_out(page: Any, base: str) -> None:
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(re.compile(r"/login|/$"))
    page.goto(f"{base}/creator/campaigns")
    page.wait_for_url(re.compile(r"/login"))  # really logged out: sent to the login page


def test_brand_launches_campaign_creator_publishes_shoppable_piece(
    app: Flask, live_server: str, page: Any, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    seeded = _seed(app)
    base = live_server
    shot = Shots(page, artifacts_dir)
    try:
        # --- the brand owner creates an open campaign covering the product, and launches it
        _log_in(page, base, BRAND_EMAIL)
        page.goto(f"{base}/brand/{seeded['brand_slug']}/campaigns/new")
        page.locator("#name").fill(CAMPAIGN)
        page.locator("#brief").fill("Show our headphones in your **studio** setup.")
        page.locator("input[name=visibility][value=open]").check()
        page.locator("#default_rate").fill("10")
        page.locator("#covered_skus").fill(seeded["sku"])
        shot("brand-campaign-form")
        page.get_by_role("button", name="Save campaign").click()
        page.wait_for_url(re.compile(r"/brand/acme/campaigns/\d+$"))
        campaign_id = int(page.url.rsplit("/", 1)[1])
        expect(page.get_by_text("saved as a draft")).to_be_visible()
        page.get_by_role("button", name="Launch", exact=True).click()
        expect(page.get_by_text("The campaign is live.")).to_be_visible()
        shot("brand-campaign-live")
        _log_out(page, base)

        # --- the creator discovers the campaign and joins it
        _log_in(page, base, seeded["creator_email"])
        page.goto(f"{base}/creator/campaigns")
        link = page.get_by_role("link", name=CAMPAIGN)
        expect(link).to_be_visible()
        shot("creator-discover")
        link.click()
        page.wait_for_url(re.compile(rf"/creator/campaigns/{campaign_id}$"))
        page.get_by_role("button", name="Join campaign").click()
        expect(page.get_by_text("You are in!")).to_be_visible()
        shot("creator-joined")

        # --- the creator writes a piece featuring the product and publishes it
        page.goto(f"{base}/creator/content/new?campaign={campaign_id}")
        expect(page.locator("#campaign_id")).to_have_value(str(campaign_id))
        page.locator("#title").fill(PIECE)
        page.locator("#body").fill("They sound warm and the cushions are soft.")
        page.locator("#product_ids").select_option(str(seeded["product_id"]))
        shot("creator-content-form")
        page.locator("form[enctype]").get_by_role("button", name="Save", exact=True).click()
        page.wait_for_url(re.compile(r"/creator/content/\d+$"))
        content_id = int(page.url.rsplit("/", 1)[1])
        page.get_by_role("button", name="Publish", exact=True).click()
        expect(page.get_by_text("Published.")).to_be_visible()
        expect(page.locator("a code", has_text="/r/")).to_be_visible()
        shot("creator-content-published")

        # --- the public shoppable page links to the product through a tracked link
        page.goto(f"{base}/c/{seeded['handle']}/{content_id}")
        expect(page.get_by_role("heading", name=seeded["product_title"])).to_be_visible()
        buy = page.get_by_role("button", name="Buy")  # an <a role="button">
        expect(buy).to_have_count(1)
        expect(buy).to_have_attribute("href", re.compile(r"/r/[A-Za-z0-9_-]+$"))
        shot("public-piece")
    except BaseException:
        with contextlib.suppress(Exception):  # a failed screenshot must not hide the failure
            shot("failure")
        raise
    finally:
        print("browser screenshots:", *(str(p) for p in shot.paths), sep="\n  ")
