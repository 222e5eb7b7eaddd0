"""Campaigns: the brand's workspace, creator discovery, eligibility, invitations and applications,
validation, the safe brief and the status transition table. Real PostgreSQL (and SQLite for the
discovery SQL), through the portal where a person would click."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connect import create_app
from connect.accounts.models import Role
from connect.audit.models import AuditEvent
from connect.brands.models import BrandMember, BrandRole
from connect.campaigns.markdown import render_brief
from connect.campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignProduct,
    CampaignRate,
    CampaignStatus,
    MemberStatus,
    Visibility,
)
from connect.campaigns.services import (
    TRANSITIONS,
    CampaignError,
    DiscoverFilters,
    IllegalTransition,
    Phase,
    audience_problem,
    campaign_open_to,
    discover,
    join,
    linkable_campaigns,
    next_status,
    parse_percent,
    phase,
    tier_ranks,
)
from connect.core.time import utcnow
from connect.extensions import db
from connect.tiers.models import Tier
from tests import factories
from tests.conftest import csrf_token, login

TODAY = utcnow().date()
X_STAFF = "staff@x.example"
Y_STAFF = "staff@y.example"
VIEWER = "viewer@x.example"


def make_campaign(brand_id: int, name: str = "Spring", **kw: Any) -> Campaign:
    values: dict[str, Any] = {
        "brand_id": brand_id,
        "name": name,
        "starts_on": TODAY - timedelta(days=1),
        "status": CampaignStatus.ACTIVE,
        "visibility": Visibility.OPEN,
        "default_rate_bps": 800,
        "currency": "EUR",
    } | kw
    campaign = Campaign(**values)
    db.session.add(campaign)
    db.session.flush()
    return campaign


def tier(name: str, rank: int, bonus_bps: int = 0) -> Tier:
    t = Tier(name=name, rank=rank, bonus_bps=bonus_bps)
    db.session.add(t)
    db.session.flush()
    return t


@pytest.fixture
def world(app: Flask) -> dict[str, Any]:
    """Brand X (owner, viewer) with two products, brand Y, creators in FR and PL on the ladder."""
    with app.app_context():
        rising, pro = tier("Rising", 2, 100), tier("Pro", 3, 200)
        alice = factories.creator(handle="alice", country="FR")
        bob = factories.creator(handle="bob", country="PL")
        bob.tier_id = rising.id
        carol = factories.creator(handle="carol", country="PL")
        carol.tier_id = pro.id
        carol.languages = ["pl", "en"]
        carol.audience_size = 250_000
        x = factories.brand("xbrand", staff_email=X_STAFF)
        viewer = factories.user(Role.BRAND, email=VIEWER)
        db.session.add(BrandMember(brand_id=x.id, user_id=viewer.id, role=BrandRole.VIEWER))
        y = factories.brand("ybrand", staff_email=Y_STAFF)
        headset = factories.product(x, "X-1", "Headset")
        speaker = factories.product(x, "X-2", "Speaker")
        speaker.category = "home"
        yoyo = factories.product(y, "Y-1", "Yoyo")
        db.session.commit()
        return {
            "x": x.id,
            "y": y.id,
            "alice": alice.id,
            "bob": bob.id,
            "carol": carol.id,
            "rising": rising.id,
            "pro": pro.id,
            "headset": headset.id,
            "speaker": speaker.id,
            "yoyo": yoyo.id,
        }


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, email, factories.PASSWORD).status_code == 302
    return client


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client), **(data or {})})


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def member(campaign_id: int, creator_id: int) -> MemberStatus | None:
    return db.session.scalar(
        select(CampaignMember.status).where(
            CampaignMember.campaign_id == campaign_id, CampaignMember.creator_id == creator_id
        )
    )


def form_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Back to school",
        "brief": "Show the **headset** in use.",
        "starts_on": TODAY.isoformat(),
        "ends_on": (TODAY + timedelta(days=30)).isoformat(),
        "countries": ["FR", "PL"],
        "min_tier_id": "",
        "visibility": "open",
        "default_rate": "8",
        "tier_bonus": "y",
        "currency": "EUR",
        "budget": "500.00",
        "attribution_window_days": "30",
        "product_rates-0-sku": "X-1",
        "product_rates-0-rate": "12.5",
        "category_rates-0-category": "home",
        "category_rates-0-rate": "10",
        "covered_skus": "X-1\nX-2",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "wanted", "legal"),
    [
        (CampaignStatus.DRAFT, CampaignStatus.ACTIVE, True),
        (CampaignStatus.DRAFT, CampaignStatus.PAUSED, False),
        (CampaignStatus.DRAFT, CampaignStatus.ENDED, False),
        (CampaignStatus.ACTIVE, CampaignStatus.PAUSED, True),
        (CampaignStatus.ACTIVE, CampaignStatus.ENDED, True),
        (CampaignStatus.ACTIVE, CampaignStatus.DRAFT, False),
        (CampaignStatus.PAUSED, CampaignStatus.ACTIVE, True),
        (CampaignStatus.PAUSED, CampaignStatus.ENDED, True),
        (CampaignStatus.PAUSED, CampaignStatus.DRAFT, False),
        (CampaignStatus.ENDED, CampaignStatus.ACTIVE, False),
        (CampaignStatus.ENDED, CampaignStatus.PAUSED, False),
        (CampaignStatus.ENDED, CampaignStatus.DRAFT, False),
    ],
)
def test_transition_table(current: CampaignStatus, wanted: CampaignStatus, legal: bool) -> None:
    if legal:
        assert next_status(current, wanted) == wanted
    else:
        with pytest.raises(IllegalTransition):
            next_status(current, wanted)
    assert set(TRANSITIONS) == set(CampaignStatus)


@pytest.mark.parametrize(
    ("text", "bps"),
    [("8", 800), ("12.5", 1250), ("12,25 %", 1225), ("0", 0), ("100", 10_000), ("0.01", 1)],
)
def test_percent_is_parsed_exactly(text: str, bps: int) -> None:
    assert parse_percent(text) == bps


@pytest.mark.parametrize("text", ["", "abc", "12.345", "-1", "100.01", "NaN", "Infinity", "1e3"])
def test_bad_percentages_are_refused(text: str) -> None:
    with pytest.raises(CampaignError):
        parse_percent(text)


def test_brief_markdown_is_rendered_safely() -> None:
    html = str(
        render_brief(
            "# Hello <script>alert(1)</script>\n\n"
            "[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) "
            '[ok](https://shop.example/p) <a href="javascript:alert(2)">raw</a> '
            "<img src=x onerror=alert(3)> [tab](jav&#x09;ascript:alert(4))"
        )
    )
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html.replace("[click](javascript:", "").replace(
        "&quot;javascript:", ""
    )
    assert 'href="javascript' not in html and 'href="data:' not in html and "<img" not in html
    assert '<a href="jav' not in html
    assert '<a href="https://shop.example/p" rel="nofollow ugc noopener noreferrer">ok</a>' in html
    assert "<h1>" in html


def test_phase() -> None:
    c = Campaign(
        status=CampaignStatus.ACTIVE,
        starts_on=TODAY,
        ends_on=None,
        budget_minor=None,
        spent_minor=0,
    )
    assert phase(c, TODAY) == Phase.LIVE
    assert phase(c, TODAY - timedelta(days=1)) == Phase.SCHEDULED
    c.budget_minor, c.spent_minor = 1000, 1000
    assert phase(c, TODAY) == Phase.EXHAUSTED
    c.ends_on = TODAY - timedelta(days=1)
    assert phase(c, TODAY) == Phase.ENDED
    c.status = CampaignStatus.DRAFT
    assert phase(c, TODAY) == Phase.DRAFT


# --- eligibility ----------------------------------------------------------------------------


def test_eligibility_by_country_and_tier(app: Flask, world: dict[str, Any]) -> None:
    from connect.creators.models import Creator

    with app.app_context():
        alice, bob, carol = (db.session.get(Creator, world[n]) for n in ("alice", "bob", "carol"))
        ranks = tier_ranks(db.session)
        pl_pro = make_campaign(world["x"], "PL Pro", countries=["PL"], min_tier_id=world["pro"])
        anywhere = make_campaign(world["x"], "Anywhere")
        db.session.commit()

        assert (
            audience_problem(pl_pro, alice, ranks) == "This campaign is not open to your country."
        )
        assert audience_problem(pl_pro, bob, ranks) == "This campaign needs a higher tier."
        assert audience_problem(pl_pro, carol, ranks) == ""
        assert all(audience_problem(anywhere, c, ranks) == "" for c in (alice, bob, carol))
        # the same rule decides links through the campaign
        assert campaign_open_to(db.session, pl_pro, alice, TODAY).endswith("your country.")
        assert campaign_open_to(db.session, pl_pro, bob, TODAY).endswith("higher tier.")
        assert campaign_open_to(db.session, pl_pro, carol, TODAY) == ""

        def names(creator: Creator) -> set[str]:
            cards, _ = discover(db.session, creator, DiscoverFilters(), TODAY, page=1)
            return {c.campaign.name for c in cards}

        assert names(alice) == {"Anywhere"}
        assert names(bob) == {"Anywhere"}
        assert names(carol) == {"Anywhere", "PL Pro"}

        with pytest.raises(CampaignError, match="higher tier"):
            join(db.session, pl_pro, bob, actor_id=bob.user_id, now=utcnow())
        joined = join(db.session, pl_pro, carol, actor_id=carol.user_id, now=utcnow())
        assert joined.status == MemberStatus.APPROVED
        db.session.commit()

    # through the portal: bob cannot open the page of a campaign he does not fit
    bob_client = signed_in(app, "bob@example.com")
    with app.app_context():
        pl_pro_id = db.session.scalar(select(Campaign.id).where(Campaign.name == "PL Pro"))
    assert bob_client.get(f"/creator/campaigns/{pl_pro_id}").status_code == 404
    assert post(bob_client, f"/creator/campaigns/{pl_pro_id}/join").status_code == 404
    carol_client = signed_in(app, "carol@example.com")
    page = carol_client.get(f"/creator/campaigns/{pl_pro_id}").get_data(as_text=True)
    assert "You are in this campaign." in page
    assert "/creator/links/new?product=" in page


def test_creators_never_see_drafts_or_invite_only_campaigns_they_were_not_invited_to(
    app: Flask, world: dict[str, Any]
) -> None:
    with app.app_context():
        draft = make_campaign(world["x"], "Secret draft", status=CampaignStatus.DRAFT)
        other_draft = make_campaign(world["y"], "Y draft", status=CampaignStatus.DRAFT)
        vip = make_campaign(world["x"], "VIP", visibility=Visibility.INVITE)
        public = make_campaign(world["x"], "Public")
        # invited to a draft: still hidden until it launches
        db.session.add(
            CampaignMember(
                campaign_id=draft.id, creator_id=world["alice"], status=MemberStatus.INVITED
            )
        )
        db.session.add(
            CampaignMember(campaign_id=vip.id, creator_id=world["bob"], status=MemberStatus.INVITED)
        )
        db.session.commit()
        ids = {"draft": draft.id, "other": other_draft.id, "vip": vip.id, "public": public.id}

    alice = signed_in(app, "alice@example.com")
    listing = alice.get("/creator/campaigns?closed=y").get_data(as_text=True)
    assert "Public" in listing
    assert "Secret draft" not in listing and "Y draft" not in listing and "VIP" not in listing
    assert "Secret draft" not in alice.get("/creator/campaigns/mine").get_data(as_text=True)
    for key in ("draft", "other", "vip"):
        assert alice.get(f"/creator/campaigns/{ids[key]}").status_code == 404
        assert post(alice, f"/creator/campaigns/{ids[key]}/join").status_code == 404
    assert alice.get(f"/creator/campaigns/{ids['public']}").status_code == 200

    bob = signed_in(app, "bob@example.com")
    listing = bob.get("/creator/campaigns").get_data(as_text=True)
    assert "VIP" in listing and "You have 1 invitation" in listing
    assert bob.get(f"/creator/campaigns/{ids['vip']}").status_code == 200


# --- invitations and applications -----------------------------------------------------------


def test_brand_invites_and_creator_accepts(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        vip = make_campaign(world["x"], "VIP", visibility=Visibility.INVITE, countries=["PL"]).id
        db.session.commit()
    staff = signed_in(app, X_STAFF)
    base = f"/brand/xbrand/campaigns/{vip}"

    search = staff.get(f"{base}/creators?language=pl&min_audience=100000").get_data(as_text=True)
    assert "Carol" in search and "Bob" not in search  # bob: audience 1000, speaks fr
    assert "Alice" not in staff.get(f"{base}/creators").get_data(as_text=True)  # FR: not targeted
    tier_search = staff.get(f"{base}/creators?min_tier_id={world['pro']}").get_data(as_text=True)
    assert "Carol" in tier_search and "Bob" not in tier_search

    assert post(staff, f"{base}/invite", {"creator_id": world["carol"]}).status_code == 302
    # alice is outside the campaign's countries: refused, nothing written
    refused = post(staff, f"{base}/invite", {"creator_id": world["alice"]})
    assert refused.status_code == 422
    assert "outside the campaign" in refused.get_data(as_text=True)
    assert post(staff, f"{base}/invite", {"creator_id": world["carol"]}).status_code == 422
    with app.app_context():
        assert member(vip, world["carol"]) == MemberStatus.INVITED
        assert member(vip, world["alice"]) is None

    carol = signed_in(app, "carol@example.com")
    page = carol.get(f"/creator/campaigns/{vip}").get_data(as_text=True)
    assert "invited you" in page and "Accept invitation" in page
    assert post(carol, f"/creator/campaigns/{vip}/join").status_code == 302
    with app.app_context():
        assert member(vip, world["carol"]) == MemberStatus.APPROVED
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {"campaign_member.invite", "campaign_member.accept"} <= actions
    members = staff.get(f"{base}/creators?members=approved").get_data(as_text=True)
    assert "Carol" in members

    # bob (not invited) cannot see it; the brand withdraws nothing it did not send
    bob = signed_in(app, "bob@example.com")
    assert bob.get(f"/creator/campaigns/{vip}").status_code == 404


def test_declining_an_invitation(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        vip = make_campaign(world["x"], "VIP", visibility=Visibility.INVITE).id
        db.session.add(
            CampaignMember(campaign_id=vip, creator_id=world["bob"], status=MemberStatus.INVITED)
        )
        db.session.commit()
    bob = signed_in(app, "bob@example.com")
    assert post(bob, f"/creator/campaigns/{vip}/decline").status_code == 302
    assert bob.get(f"/creator/campaigns/{vip}").status_code == 404
    with app.app_context():
        assert member(vip, world["bob"]) is None
        assert count(AuditEvent, AuditEvent.action == "campaign_member.decline") == 1


def test_creator_applies_and_brand_approves_or_rejects(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        reviewed = make_campaign(world["x"], "Reviewed", approval_required=True).id
        instant = make_campaign(world["x"], "Instant").id
        db.session.commit()

    bob = signed_in(app, "bob@example.com")
    assert post(bob, f"/creator/campaigns/{instant}/join").status_code == 302
    resp = post(bob, f"/creator/campaigns/{reviewed}/join", {"note": "My <b>audience</b> loves it"})
    assert resp.status_code == 302
    carol = signed_in(app, "carol@example.com")
    assert post(carol, f"/creator/campaigns/{reviewed}/join").status_code == 302
    with app.app_context():
        from connect.creators.models import Creator

        assert member(instant, world["bob"]) == MemberStatus.APPROVED
        assert member(reviewed, world["bob"]) == MemberStatus.APPLIED
        # an applicant may not link through the campaign until approved
        campaign = db.session.get(Campaign, reviewed)
        bob_row = db.session.get(Creator, world["bob"])
        assert "waiting" in campaign_open_to(db.session, campaign, bob_row, TODAY)
        ids = dict(
            db.session.execute(
                select(CampaignMember.creator_id, CampaignMember.id).where(
                    CampaignMember.campaign_id == reviewed
                )
            ).all()
        )
    # applying twice is refused
    again = post(bob, f"/creator/campaigns/{reviewed}/join")
    assert again.status_code == 422 and "waiting" in again.get_data(as_text=True)

    staff = signed_in(app, X_STAFF)
    base = f"/brand/xbrand/campaigns/{reviewed}"
    queue = staff.get(f"{base}/creators").get_data(as_text=True)
    assert "My &lt;b&gt;audience&lt;/b&gt; loves it" in queue  # the note, escaped
    assert (
        post(staff, f"{base}/members/{ids[world['bob']]}", {"decision": "approve"}).status_code
        == 302
    )
    assert (
        post(staff, f"{base}/members/{ids[world['carol']]}", {"decision": "reject"}).status_code
        == 302
    )
    # a decided application cannot be decided again the other way
    assert (
        post(staff, f"{base}/members/{ids[world['carol']]}", {"decision": "approve"}).status_code
        == 409
    )
    with app.app_context():
        assert member(reviewed, world["bob"]) == MemberStatus.APPROVED
        assert member(reviewed, world["carol"]) == MemberStatus.REJECTED
        campaign = db.session.get(Campaign, reviewed)
        assert (
            campaign_open_to(db.session, campaign, db.session.get(Creator, world["bob"]), TODAY)
            == ""
        )
    rejected = post(carol, f"/creator/campaigns/{reviewed}/join")
    assert rejected.status_code == 422
    assert "The brand declined your application." in carol.get(
        f"/creator/campaigns/{reviewed}"
    ).get_data(as_text=True)
    # another brand's member ids are unreachable from this campaign
    with app.app_context():
        other = make_campaign(world["x"], "Other").id
        db.session.commit()
    resp = post(
        staff,
        f"/brand/xbrand/campaigns/{other}/members/{ids[world['bob']]}",
        {"decision": "remove"},
    )
    assert resp.status_code == 404


def test_ended_or_exhausted_campaigns_cannot_be_joined_and_creators_are_told(
    app: Flask, world: dict[str, Any]
) -> None:
    with app.app_context():
        exhausted = make_campaign(world["x"], "Spent", budget_minor=1000, spent_minor=1000)
        ended = make_campaign(
            world["x"],
            "Over",
            starts_on=TODAY - timedelta(days=20),
            ends_on=TODAY - timedelta(days=2),
        )
        closed = make_campaign(
            world["x"], "Closed by hand", status=CampaignStatus.ENDED, ended_at=utcnow()
        )
        live = make_campaign(world["x"], "Still going")
        for c in (exhausted, ended, closed, live):
            db.session.add(
                CampaignMember(
                    campaign_id=c.id, creator_id=world["bob"], status=MemberStatus.APPROVED
                )
            )
        db.session.commit()
        ids = {"exhausted": exhausted.id, "ended": ended.id, "closed": closed.id}

    alice = signed_in(app, "alice@example.com")
    for key, reason in (
        ("exhausted", "used up its budget"),
        ("ended", "has ended"),
        ("closed", "has ended"),
    ):
        page = alice.get(f"/creator/campaigns/{ids[key]}").get_data(as_text=True)
        assert reason in page and "Join campaign" not in page
        resp = post(alice, f"/creator/campaigns/{ids[key]}/join")
        assert resp.status_code == 422 and reason in resp.get_data(as_text=True)
    with app.app_context():
        assert count(CampaignMember, CampaignMember.creator_id == world["alice"]) == 0
    # not joinable: hidden from discovery unless asked for, then labelled
    listing = alice.get("/creator/campaigns").get_data(as_text=True)
    assert "Still going" in listing and "Spent" not in listing and "Over" not in listing
    listing = alice.get("/creator/campaigns?closed=y").get_data(as_text=True)
    assert "Spent" in listing and "budget used up" in listing

    bob = signed_in(app, "bob@example.com")
    for path in ("/creator/campaigns", "/creator/campaigns/mine"):
        page = bob.get(path).get_data(as_text=True)
        notice = page.split("Campaigns that stopped earning", 1)[1].split("</article>", 1)[0]
        assert "Spent" in notice and "Over" in notice and "Closed by hand" in notice
        assert "Still going" not in notice


# --- the brand's workspace ------------------------------------------------------------------


def test_brand_creates_edits_and_launches_a_campaign(app: Flask, world: dict[str, Any]) -> None:
    staff = signed_in(app, X_STAFF)
    assert staff.get("/brand/xbrand/campaigns/new").status_code == 200
    resp = post(staff, "/brand/xbrand/campaigns/new", form_data())
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.status == CampaignStatus.DRAFT
        assert campaign.default_rate_bps == 800 and campaign.budget_minor == 50_000
        assert campaign.countries == ["FR", "PL"] and campaign.ends_on == TODAY + timedelta(30)
        rates = {(r.product_id, r.category): r.rate_bps for r in campaign.rates}
        assert rates == {(world["headset"], None): 1250, (None, "home"): 1000}
        covered = set(
            db.session.scalars(
                select(CampaignProduct.product_id).where(CampaignProduct.campaign_id == campaign.id)
            )
        )
        assert covered == {world["headset"], world["speaker"]}
        cid = campaign.id
    base = f"/brand/xbrand/campaigns/{cid}"

    # drafts are invisible to creators
    alice = signed_in(app, "alice@example.com")
    assert alice.get(f"/creator/campaigns/{cid}").status_code == 404

    edit = staff.get(f"{base}/edit").get_data(as_text=True)
    assert 'value="X-1"' in edit and 'value="12.5"' in edit and "500.00" in edit
    changed = form_data(
        **{
            "product_rates-0-rate": "15",
            "category_rates-0-category": "",
            "category_rates-0-rate": "",
            "covered_skus": "",
            "covered_categories": ["audio"],
            "budget": "750",
        }
    )
    assert post(staff, f"{base}/edit", changed).status_code == 302
    with app.app_context():
        campaign = db.session.get(Campaign, cid)
        assert {(r.product_id, r.category): r.rate_bps for r in campaign.rates} == {
            (world["headset"], None): 1500
        }
        assert campaign.budget_minor == 75_000
        covered = set(
            db.session.scalars(
                select(CampaignProduct.product_id).where(CampaignProduct.campaign_id == cid)
            )
        )
        assert covered == {world["headset"]}
        update = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "campaign.update"))
        assert {"budget_minor", "rates", "covered"} <= set(update.data["changes"])

    assert post(staff, f"{base}/status", {"status": "active"}).status_code == 302
    page = alice.get(f"/creator/campaigns/{cid}").get_data(as_text=True)
    assert "Headset" in page and "Speaker" not in page  # only covered products
    # open, no review: a creator who fits may link through it straight away
    assert "15\u00a0%" in page and f"/creator/links/new?product={world['headset']}" in page
    listing = staff.get("/brand/xbrand/campaigns").get_data(as_text=True)
    assert "Back to school" in listing and "live" in listing


def test_illegal_status_transitions_are_refused(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        ended = make_campaign(world["x"], "Done", status=CampaignStatus.ENDED).id
        draft = make_campaign(world["x"], "Draft", status=CampaignStatus.DRAFT).id
        db.session.commit()
    staff = signed_in(app, X_STAFF)
    for cid, wanted in ((ended, "active"), (ended, "paused"), (draft, "paused"), (draft, "ended")):
        resp = post(staff, f"/brand/xbrand/campaigns/{cid}/status", {"status": wanted})
        assert resp.status_code == 409
        assert "cannot become" in resp.get_data(as_text=True)
    assert (
        post(staff, f"/brand/xbrand/campaigns/{draft}/status", {"status": "bogus"}).status_code
        == 400
    )
    with app.app_context():
        assert db.session.get(Campaign, ended).status == CampaignStatus.ENDED
        assert db.session.get(Campaign, draft).status == CampaignStatus.DRAFT
        assert count(AuditEvent, AuditEvent.action.like("campaign.%")) == 0
    # going live is refused while the budget is used up
    with app.app_context():
        spent = make_campaign(
            world["x"], "Spent", status=CampaignStatus.PAUSED, budget_minor=100, spent_minor=100
        ).id
        db.session.commit()
    resp = post(staff, f"/brand/xbrand/campaigns/{spent}/status", {"status": "active"})
    assert resp.status_code == 422 and "budget is used up" in resp.get_data(as_text=True)
    assert (
        post(staff, f"/brand/xbrand/campaigns/{spent}/status", {"status": "ended"}).status_code
        == 302
    )
    with app.app_context():
        closed = db.session.get(Campaign, spent)
        assert closed.status == CampaignStatus.ENDED and closed.ended_at is not None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ends_on": (TODAY - timedelta(days=1)).isoformat()}, "on or after the start date"),
        ({"default_rate": "101"}, "between 0 and 100"),
        ({"default_rate": "12.345"}, "two decimals"),
        ({"default_rate": "eight"}, "percentage"),
        ({"product_rates-0-rate": "-5"}, "between 0 and 100"),
        ({"product_rates-0-rate": ""}, "both the SKU and the rate"),
        ({"product_rates-0-sku": "Y-1"}, "Not in your catalogue: Y-1"),
        ({"covered_skus": "X-1\nNOPE"}, "Not in your catalogue: NOPE"),
        ({"covered_skus": "X-2"}, "have a rate but are not covered: X-1"),
        ({"category_rates-0-category": "weapons"}, "No product of yours is in: weapons"),
        ({"budget": "0"}, "more than zero"),
        ({"budget": "12.345"}, "decimal places"),
        ({"budget": "lots"}, "not an amount"),
        ({"currency": "XXX"}, "currency from the list"),
        ({"attribution_window_days": "0"}, "between 1 and 365"),
        ({"attribution_window_days": "366"}, "between 1 and 365"),
        ({"countries": ["FR", "ZZ"]}, "countries from the list"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_invalid_campaigns_are_refused_and_nothing_is_written(
    app: Flask, world: dict[str, Any], overrides: dict[str, Any], message: str
) -> None:
    staff = signed_in(app, X_STAFF)
    resp = post(staff, "/brand/xbrand/campaigns/new", form_data(**overrides))
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    with app.app_context():
        assert count(Campaign) == 0 and count(CampaignRate) == 0 and count(CampaignProduct) == 0
        assert count(AuditEvent, AuditEvent.action.like("campaign%")) == 0


def test_edits_that_break_the_money_are_refused(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        cid = make_campaign(world["x"], "Running", budget_minor=100_000, spent_minor=40_000).id
        db.session.commit()
    staff = signed_in(app, X_STAFF)
    for overrides, message in (
        ({"budget": "399.99"}, "below what is already spent"),
        ({"currency": "USD"}, "currency cannot change"),
    ):
        resp = post(staff, f"/brand/xbrand/campaigns/{cid}/edit", form_data(**overrides))
        assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    with app.app_context():
        campaign = db.session.get(Campaign, cid)
        assert (campaign.name, campaign.budget_minor, campaign.currency) == (
            "Running",
            100_000,
            "EUR",
        )
        assert count(CampaignRate) == 0 and count(CampaignProduct) == 0


def test_brief_is_escaped_on_every_page(app: Flask, world: dict[str, Any]) -> None:
    brief = (
        "Hi <script>alert('x')</script> [win](javascript:alert(1)) "
        '<a href="javascript:alert(2)">raw</a>'
    )
    with app.app_context():
        cid = make_campaign(world["x"], "Scripted", brief=brief).id
        db.session.commit()
    for client, path in (
        (signed_in(app, X_STAFF), f"/brand/xbrand/campaigns/{cid}"),
        (signed_in(app, "alice@example.com"), f"/creator/campaigns/{cid}"),
    ):
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "&lt;script&gt;" in page
        assert 'href="javascript:' not in page


# --- tenants and roles ----------------------------------------------------------------------


def test_another_brands_staff_can_neither_see_nor_edit(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        cid = make_campaign(world["x"], "X only", status=CampaignStatus.DRAFT).id
        db.session.add(
            CampaignMember(campaign_id=cid, creator_id=world["bob"], status=MemberStatus.APPLIED)
        )
        db.session.commit()
        member_id = db.session.scalar(select(CampaignMember.id))
    y = signed_in(app, Y_STAFF)
    for path in (
        f"/brand/xbrand/campaigns/{cid}",
        f"/brand/xbrand/campaigns/{cid}/edit",
        f"/brand/xbrand/campaigns/{cid}/creators",
        "/brand/xbrand/campaigns",
        "/brand/xbrand/campaigns/new",
        # their own slug with X's campaign id
        f"/brand/ybrand/campaigns/{cid}",
        f"/brand/ybrand/campaigns/{cid}/edit",
        f"/brand/ybrand/campaigns/{cid}/creators",
    ):
        assert y.get(path).status_code == 404, path
    for path, data in (
        (f"/brand/xbrand/campaigns/{cid}/status", {"status": "active"}),
        (f"/brand/ybrand/campaigns/{cid}/status", {"status": "active"}),
        (f"/brand/ybrand/campaigns/{cid}/edit", form_data()),
        (f"/brand/ybrand/campaigns/{cid}/invite", {"creator_id": world["carol"]}),
        (f"/brand/ybrand/campaigns/{cid}/members/{member_id}", {"decision": "approve"}),
    ):
        assert post(y, path, data).status_code == 404, path
    assert "X only" not in y.get("/brand/ybrand/campaigns").get_data(as_text=True)
    with app.app_context():
        campaign = db.session.get(Campaign, cid)
        assert campaign.status == CampaignStatus.DRAFT and campaign.name == "X only"
        assert member(cid, world["bob"]) == MemberStatus.APPLIED
        assert member(cid, world["carol"]) is None


def test_viewers_read_but_do_not_change(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        cid = make_campaign(world["x"], "Viewable", status=CampaignStatus.DRAFT).id
        db.session.commit()
    viewer = signed_in(app, VIEWER)
    assert viewer.get("/brand/xbrand/campaigns").status_code == 200
    page = viewer.get(f"/brand/xbrand/campaigns/{cid}").get_data(as_text=True)
    assert "Viewable" in page and "Launch" not in page and "/edit" not in page
    creators = viewer.get(f"/brand/xbrand/campaigns/{cid}/creators").get_data(as_text=True)
    assert "Carol" in creators and "/invite" not in creators
    assert viewer.get("/brand/xbrand/campaigns/new").status_code == 403
    assert viewer.get(f"/brand/xbrand/campaigns/{cid}/edit").status_code == 403
    assert (
        post(viewer, f"/brand/xbrand/campaigns/{cid}/status", {"status": "active"}).status_code
        == 403
    )
    assert (
        post(
            viewer, f"/brand/xbrand/campaigns/{cid}/invite", {"creator_id": world["carol"]}
        ).status_code
        == 403
    )
    with app.app_context():
        assert db.session.get(Campaign, cid).status == CampaignStatus.DRAFT


# --- discovery ------------------------------------------------------------------------------


def test_discover_search_and_filters(app: Flask, world: dict[str, Any]) -> None:
    with app.app_context():
        audio = make_campaign(world["x"], "Audio week")
        db.session.add(CampaignProduct(campaign_id=audio.id, product_id=world["headset"]))
        home = make_campaign(world["x"], "Home deals", default_rate_bps=500)
        db.session.add(CampaignProduct(campaign_id=home.id, product_id=world["speaker"]))
        db.session.add(CampaignRate(campaign_id=home.id, category="home", rate_bps=1500))
        make_campaign(world["y"], "Yoyo month", default_rate_bps=300)  # whole catalogue: audio
        db.session.commit()
    alice = signed_in(app, "alice@example.com")

    def names(query: str) -> set[str]:
        page = alice.get(f"/creator/campaigns?{query}").get_data(as_text=True)
        return {n for n in ("Audio week", "Home deals", "Yoyo month") if n in page}

    assert names("") == {"Audio week", "Home deals", "Yoyo month"}
    assert names("q=week") == {"Audio week"}
    assert names("q=ybrand") == {"Yoyo month"}  # brand names match too
    assert names("category=home") == {"Home deals"}
    assert names("category=audio") == {"Audio week", "Yoyo month"}
    assert names("min_rate=10") == {"Home deals"}  # its home rate, 15 %
    assert names("min_rate=8") == {"Audio week", "Home deals"}
    assert names("min_rate=8&category=audio") == {"Audio week"}
    page = alice.get("/creator/campaigns").get_data(as_text=True)
    assert "5\u00a0%, up to 15\u00a0%" in page
    bad = alice.get("/creator/campaigns?min_rate=lots")
    assert bad.status_code == 200 and "percentage" in bad.get_data(as_text=True)


@pytest.fixture
def sqlite_app(tmp_path: Any) -> Iterator[Flask]:
    """The zero-setup first run: SQLite built by the migrations."""
    from flask_migrate import upgrade

    application = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/first-run.db"})
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.mark.sqlite
def test_discovery_sql_runs_on_sqlite(sqlite_app: Flask) -> None:
    pro = tier("Pro", 3)
    alice = factories.creator(handle="alice", country="FR")
    carol = factories.creator(handle="carol", country="PL")
    carol.tier_id = pro.id
    x = factories.brand("xbrand")
    factories.product(x, "X-1")
    make_campaign(x.id, "PL Pro", countries=["PL", "CZ"], min_tier_id=pro.id)
    make_campaign(x.id, "Everywhere")
    make_campaign(x.id, "France", countries=["FR"])
    db.session.commit()

    def names(creator: Any, **kw: Any) -> set[str]:
        cards, total = discover(db.session, creator, DiscoverFilters(**kw), TODAY, page=1)
        assert total == len(cards)
        return {c.campaign.name for c in cards}

    assert names(alice) == {"Everywhere", "France"}
    assert names(carol) == {"Everywhere", "PL Pro"}
    assert names(carol, category="audio", min_rate_bps=800) == {"Everywhere", "PL Pro"}
    assert names(carol, min_rate_bps=801) == set()


def test_dates_are_ordered_in_the_database(app: Flask, world: dict[str, Any]) -> None:
    # the last line of defence behind the form and the service
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        with pytest.raises(IntegrityError):
            make_campaign(world["x"], starts_on=date(2026, 5, 2), ends_on=date(2026, 5, 1))
        db.session.rollback()


def test_link_picker_agrees_with_the_link_rule(app: Flask, world: dict[str, Any]) -> None:
    """`linkable_campaigns` (SQL, for the link form) and `campaign_open_to` (per campaign) are
    one rule: on every mix of status, dates, budget, visibility, review, targeting and
    membership they give the same answer."""
    from connect.creators.models import Creator

    with app.app_context():
        cases: list[Campaign] = [
            make_campaign(world["x"], "open"),
            make_campaign(world["x"], "draft", status=CampaignStatus.DRAFT),
            make_campaign(world["x"], "paused", status=CampaignStatus.PAUSED),
            make_campaign(world["x"], "ended", status=CampaignStatus.ENDED),
            make_campaign(world["x"], "future", starts_on=TODAY + timedelta(days=3)),
            make_campaign(
                world["x"], "past", starts_on=TODAY - timedelta(9), ends_on=TODAY - timedelta(1)
            ),
            make_campaign(world["x"], "spent", budget_minor=10, spent_minor=10),
            make_campaign(world["x"], "budget left", budget_minor=10, spent_minor=9),
            make_campaign(world["x"], "invite", visibility=Visibility.INVITE),
            make_campaign(world["x"], "reviewed", approval_required=True),
            make_campaign(world["x"], "PL", countries=["PL"]),
            make_campaign(world["x"], "Pro", min_tier_id=world["pro"]),
            make_campaign(world["x"], "Rising", min_tier_id=world["rising"]),
        ]
        for status in MemberStatus:
            for name in ("open", "invite", "reviewed", "PL", "Pro"):
                cases.append(make_campaign(world["x"], f"{name} + {status.value}"))
                base = next(c for c in cases if c.name == name)
                c = cases[-1]
                c.visibility, c.approval_required = base.visibility, base.approval_required
                c.countries, c.min_tier_id = base.countries, base.min_tier_id
                for who in ("alice", "bob", "carol"):
                    db.session.add(
                        CampaignMember(campaign_id=c.id, creator_id=world[who], status=status)
                    )
        db.session.flush()
        for who in ("alice", "bob", "carol"):
            creator = db.session.get(Creator, world[who])
            by_rule = {
                c.name for c in cases if campaign_open_to(db.session, c, creator, TODAY) == ""
            }
            by_sql = {name for _, name, _ in linkable_campaigns(db.session, creator, TODAY)}
            assert by_sql == by_rule, who
            assert "open" in by_rule and "draft" not in by_rule and "spent" not in by_rule
        db.session.rollback()
