"""The creator dashboard in a real browser, in the creator's own language: a Russian reader and a
Spanish reader log in, see their dashboard translated with its charts drawn, on a desktop and on a
phone-sized screen. Screenshots go to $BROWSER_ARTIFACTS (else the test's tmp_path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import text

from connect.extensions import db
from tests import factories
from tests.test_dashboards import world  # noqa: F401 - the shared fixture (two creators' figures)

# What each reader must see: the page title, a section heading and a table heading.
EXPECTED = {
    "ru": ("Статистика", "По дням", "Уникальные клики", "Прогресс уровня"),
    "es": ("Panel", "Por día", "Clics únicos", "Progreso de nivel"),
}


def _set_locale(app: Flask, email: str, locale: str) -> None:
    with app.app_context():
        db.session.execute(
            text("UPDATE users SET locale = :l WHERE email = :e"), {"l": locale, "e": email}
        )
        db.session.commit()
        db.session.remove()


def _log_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url(lambda url: "/login" not in url)


def test_creator_dashboard_in_russian_and_spanish(
    app: Flask,
    live_server: str,
    page: Any,
    artifacts_dir: Path,
    world: dict[str, Any],  # noqa: F811 - the imported fixture
) -> None:
    from playwright.sync_api import expect

    readers = [("ru", world["users"]["a"]), ("es", world["users"]["b"])]
    shots = []
    for locale, email in readers:
        _set_locale(app, email, locale)
        page.context.clear_cookies()
        page.set_viewport_size({"width": 1280, "height": 900})
        _log_in(page, live_server, email)
        page.goto(f"{live_server}/creator/dashboard")
        title, by_day, unique, tier = EXPECTED[locale]
        assert page.locator("html").get_attribute("lang") == locale
        expect(page.locator("h1")).to_have_text(title)
        expect(page.get_by_role("heading", name=by_day, exact=True)).to_be_visible()
        expect(page.get_by_role("heading", name=tier, exact=True)).to_be_visible()
        expect(page.locator("#by-link thead")).to_contain_text(unique)
        # The charts are drawn: accessible SVG images with bars for the days that had clicks.
        chart = page.locator("svg.chart").first
        expect(chart).to_be_visible()
        assert chart.get_attribute("role") == "img"
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
        heights = chart.locator("rect.s0").evaluate_all(
            "rects => rects.map(r => r.getBBox().height)"
        )
        assert len(heights) >= 30 and any(h > 0 for h in heights)
        assert "Dashboard" not in page.locator("main").inner_text()
        path = artifacts_dir / f"creator-dashboard-{locale}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

        # On a phone the chart shrinks to the screen instead of overflowing it.
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        box = page.locator("svg.chart").first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        path = artifacts_dir / f"creator-dashboard-{locale}-phone.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)
    for path in shots:
        assert path.stat().st_size > 10_000
        print(f"screenshot: {path}")
