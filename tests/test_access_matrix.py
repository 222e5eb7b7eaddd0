"""Every route, every kind of user: who gets what, and no tenant ever sees another's rows.

Adding a route without a row here fails `test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from connect import create_app
from connect.accounts.models import Role, User
from connect.bounties.models import (
    AssignmentOrigin,
    AssignmentStatus,
    Task,
    TaskAssignment,
    TaskKind,
    TaskStatus,
)
from connect.campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignStatus,
    MemberStatus,
    Visibility,
)
from connect.content.models import Content, ContentKind, ContentProduct, ContentStatus
from connect.core.policy import public
from connect.core.time import utcnow
from connect.extensions import db
from connect.tracking.services import create_link
from tests import factories
from tests.conftest import login

ACTORS = ["anon", "creator_a", "creator_b", "brand_x", "brand_y", "finance", "admin"]
EMAILS = {
    "creator_a": "alice@example.com",
    "creator_b": "bob@example.com",
    "brand_x": "staff@x.example",
    "brand_y": "staff@y.example",
    "finance": "fin@example.com",
    "admin": "root@example.com",
}
L = 302  # redirect to the login page (anonymous), or to the user's home
ALL = dict.fromkeys(ACTORS, 200)


def only(allowed: dict[str, int], others: int = 403) -> dict[str, int]:
    out = dict.fromkeys(ACTORS, others)
    out["anon"] = L
    out.update(allowed)
    return out


# rule -> (path template, {actor: status}); {x}, {a} are filled with brand X's slug and
# creator A's id, so the rows for brand Y and creator B test cross-tenant reads.
MATRIX: dict[str, tuple[str, dict[str, int]]] = {
    "/": ("/", {a: (200 if a == "anon" else L) for a in ACTORS}),
    "/login": ("/login", {a: (200 if a == "anon" else L) for a in ACTORS}),
    "/signup": ("/signup", {a: (200 if a == "anon" else L) for a in ACTORS}),
    "/logout": ("/logout", dict.fromkeys(ACTORS, 405)),
    "/password/forgot": ("/password/forgot", ALL),
    "/password/reset/<token>": ("/password/reset/not-a-token", dict.fromkeys(ACTORS, L)),
    "/healthz": ("/healthz", ALL),
    "/creator/": ("/creator/", only({"creator_a": 200, "creator_b": 200})),
    "/creator/profile": ("/creator/profile", only({"creator_a": 200, "creator_b": 200})),
    "/brand/": ("/brand/", only({"brand_x": L, "brand_y": L})),
    "/brand/<brand_slug>/": ("/brand/{x}/", only({"brand_x": 200, "brand_y": 404})),
    "/brand/<brand_slug>/products": ("/brand/{x}/products", only({"brand_x": 200, "brand_y": 404})),
    "/finance/": ("/finance/", only({"finance": 200, "admin": 200})),
    "/admin/": ("/admin/", only({"admin": 200})),
    "/admin/creators": ("/admin/creators", only({"admin": 200})),
    "/admin/creators/<int:creator_id>": ("/admin/creators/{a}", only({"admin": 200})),
    "/admin/creators/<int:creator_id>/status": (
        "/admin/creators/{a}/status",
        dict.fromkeys(ACTORS, 405),
    ),
    "/admin/brands": ("/admin/brands", only({"admin": 200})),
    "/admin/audit": ("/admin/audit", only({"admin": 200})),
    "/r/<code>": ("/r/{code}", dict.fromkeys(ACTORS, 302)),
    "/creator/links": ("/creator/links", only({"creator_a": 200, "creator_b": 200})),
    "/creator/links/new": ("/creator/links/new", only({"creator_a": 200, "creator_b": 200})),
    "/creator/links/<int:link_id>": (
        "/creator/links/{link}",
        only({"creator_a": 200, "creator_b": 404}),
    ),
    "/creator/links/<int:link_id>/status": (
        "/creator/links/{link}/status",
        dict.fromkeys(ACTORS, 405),
    ),
    "/creator/links/<int:link_id>/qr.<fmt>": (
        "/creator/links/{link}/qr.png",
        only({"creator_a": 200, "creator_b": 404}),
    ),
    "/creator/api-tokens": ("/creator/api-tokens", only({"creator_a": 200, "creator_b": 200})),
    "/creator/api-tokens/<int:token_id>/revoke": (
        "/creator/api-tokens/1/revoke",
        dict.fromkeys(ACTORS, 405),
    ),
    # The API takes tokens, not portal sessions: a logged-in browser gets 401 too.
    "/api/v1/links": ("/api/v1/links", dict.fromkeys(ACTORS, 401)),
    "/api/v1/conversions": ("/api/v1/conversions", dict.fromkeys(ACTORS, 405)),
    "/api/v1/conversions/<order_ref>": ("/api/v1/conversions/SO-1", dict.fromkeys(ACTORS, 401)),
    "/api/v1/conversions/<order_ref>/refunds": (
        "/api/v1/conversions/SO-1/refunds",
        dict.fromkeys(ACTORS, 405),
    ),
    "/api/v1/openapi.json": ("/api/v1/openapi.json", ALL),
    "/brand/<brand_slug>/api-keys": ("/brand/{x}/api-keys", only({"brand_x": 200, "brand_y": 404})),
    "/brand/<brand_slug>/api-keys/<int:key_id>/revoke": (
        "/brand/{x}/api-keys/1/revoke",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/orders": ("/brand/{x}/orders", only({"brand_x": 200, "brand_y": 404})),
    "/brand/<brand_slug>/imports": ("/brand/{x}/imports", only({"brand_x": 200, "brand_y": 404})),
    "/brand/<brand_slug>/imports/<int:import_id>": (
        "/brand/{x}/imports/1",
        only({"brand_x": 404, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/imports/<int:import_id>/errors.csv": (
        "/brand/{x}/imports/1/errors.csv",
        only({"brand_x": 404, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/imports/<int:import_id>/progress": (
        "/brand/{x}/imports/1/progress",
        only({"brand_x": 404, "brand_y": 404}),
    ),
    "/creator/commissions": ("/creator/commissions", only({"creator_a": 200, "creator_b": 200})),
    "/admin/holds": ("/admin/holds", only({"admin": 200})),
    "/brand/<brand_slug>/campaigns": (
        "/brand/{x}/campaigns",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/campaigns/new": (
        "/brand/{x}/campaigns/new",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/campaigns/<int:campaign_id>": (
        "/brand/{x}/campaigns/{campaign}",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/campaigns/<int:campaign_id>/edit": (
        "/brand/{x}/campaigns/{campaign}/edit",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/campaigns/<int:campaign_id>/status": (
        "/brand/{x}/campaigns/{campaign}/status",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/campaigns/<int:campaign_id>/creators": (
        "/brand/{x}/campaigns/{campaign}/creators",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/campaigns/<int:campaign_id>/invite": (
        "/brand/{x}/campaigns/{campaign}/invite",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/campaigns/<int:campaign_id>/members/<int:member_id>": (
        "/brand/{x}/campaigns/{campaign}/members/1",
        dict.fromkeys(ACTORS, 405),
    ),
    "/creator/campaigns": ("/creator/campaigns", only({"creator_a": 200, "creator_b": 200})),
    "/creator/campaigns/mine": (
        "/creator/campaigns/mine",
        only({"creator_a": 200, "creator_b": 200}),
    ),
    "/creator/campaigns/<int:campaign_id>": (
        "/creator/campaigns/{campaign}",
        only({"creator_a": 200, "creator_b": 404}),
    ),
    "/creator/campaigns/<int:campaign_id>/join": (
        "/creator/campaigns/{campaign}/join",
        dict.fromkeys(ACTORS, 405),
    ),
    "/creator/campaigns/<int:campaign_id>/decline": (
        "/creator/campaigns/{campaign}/decline",
        dict.fromkeys(ACTORS, 405),
    ),
    "/creator/content": ("/creator/content", only({"creator_a": 200, "creator_b": 200})),
    "/creator/content/new": ("/creator/content/new", only({"creator_a": 200, "creator_b": 200})),
    "/creator/content/<int:content_id>": (
        "/creator/content/{piece}",
        only({"creator_a": 200, "creator_b": 404}),
    ),
    "/creator/content/<int:content_id>/edit": (
        "/creator/content/{piece}/edit",
        only({"creator_a": 200, "creator_b": 404}),
    ),
    "/creator/content/<int:content_id>/publish": (
        "/creator/content/{piece}/publish",
        dict.fromkeys(ACTORS, 405),
    ),
    "/creator/content/<int:content_id>/delete": (
        "/creator/content/{piece}/delete",
        dict.fromkeys(ACTORS, 405),
    ),
    # the piece has no photo or video: nothing to serve to anyone
    "/content/<int:content_id>/media": ("/content/{piece}/media", dict.fromkeys(ACTORS, 404)),
    "/brand/<brand_slug>/content": ("/brand/{x}/content", only({"brand_x": 200, "brand_y": 404})),
    "/brand/<brand_slug>/content/<int:content_id>/decision": (
        "/brand/{x}/content/{piece}/decision",
        dict.fromkeys(ACTORS, 405),
    ),
    "/admin/moderation": ("/admin/moderation", only({"admin": 200})),
    "/admin/moderation/<int:flag_id>": ("/admin/moderation/1", dict.fromkeys(ACTORS, 405)),
    "/c/<handle>": ("/c/alice", ALL),
    "/c/<handle>/<int:content_id>": ("/c/alice/{piece}", ALL),
    "/brand/<brand_slug>/settings": ("/brand/{x}/settings", only({"brand_x": 200, "brand_y": 404})),
    "/brand/<brand_slug>/settings/profile": (
        "/brand/{x}/settings/profile",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/settings/tracking": (
        "/brand/{x}/settings/tracking",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/domains": ("/brand/{x}/domains", only({"brand_x": 200, "brand_y": 404})),
    "/brand/<brand_slug>/domains/<int:domain_id>/remove": (
        "/brand/{x}/domains/1/remove",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/team": ("/brand/{x}/team", only({"brand_x": 200, "brand_y": 404})),
    "/brand/<brand_slug>/team/<int:member_id>/role": (
        "/brand/{x}/team/1/role",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/team/<int:member_id>/remove": (
        "/brand/{x}/team/1/remove",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/integration": (
        "/brand/{x}/integration",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/products/new": (
        "/brand/{x}/products/new",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/products/<int:product_id>": (
        "/brand/{x}/products/1",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/products/<int:product_id>/archive": (
        "/brand/{x}/products/1/archive",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/products/<int:product_id>/restore": (
        "/brand/{x}/products/1/restore",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/products/import": (
        "/brand/{x}/products/import",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/products/import/template.csv": (
        "/brand/{x}/products/import/template.csv",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/products/imports/<int:import_id>": (
        "/brand/{x}/products/imports/1",
        only({"brand_x": 404, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/products/imports/<int:import_id>/errors.csv": (
        "/brand/{x}/products/imports/1/errors.csv",
        only({"brand_x": 404, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/products/imports/<int:import_id>/progress": (
        "/brand/{x}/products/imports/1/progress",
        only({"brand_x": 404, "brand_y": 404}),
    ),
    "/admin/domains": ("/admin/domains", only({"admin": 200})),
    "/admin/domains/<int:domain_id>/verify": (
        "/admin/domains/1/verify",
        dict.fromkeys(ACTORS, 405),
    ),
    "/admin/domains/<int:domain_id>/reject": (
        "/admin/domains/1/reject",
        dict.fromkeys(ACTORS, 405),
    ),
    "/finance/audit": ("/finance/audit", only({"finance": 200, "admin": 200})),
    "/language": ("/language", dict.fromkeys(ACTORS, 405)),  # POST only (the footer switcher)
    "/webhooks/stripe": ("/webhooks/stripe", dict.fromkeys(ACTORS, 405)),
    "/creator/statements": ("/creator/statements", only({"creator_a": 200, "creator_b": 200})),
    # no ledger history in this world: there is no statement to show for any month
    "/creator/statements/<month>": (
        "/creator/statements/2025-01",
        only({"creator_a": 404, "creator_b": 404}),
    ),
    "/creator/statements/<month>.csv": (
        "/creator/statements/2025-01.csv",
        only({"creator_a": 404, "creator_b": 404}),
    ),
    "/finance/ledger-export": ("/finance/ledger-export", only({"finance": 200, "admin": 200})),
    "/finance/ledger-exports/<int:export_id>": (
        "/finance/ledger-exports/1",
        only({"finance": 404, "admin": 404}),
    ),
    "/finance/ledger-exports/<int:export_id>/progress": (
        "/finance/ledger-exports/1/progress",
        only({"finance": 404, "admin": 404}),
    ),
    "/finance/ledger-exports/<int:export_id>/download": (
        "/finance/ledger-exports/1/download",
        only({"finance": 404, "admin": 404}),
    ),
    "/finance/ledger-export.csv": (
        "/finance/ledger-export.csv?start=2025-01-01&end=2025-01-31",
        only({"finance": 200, "admin": 200}),
    ),
    "/creator/payout-method": (
        "/creator/payout-method",
        only({"creator_a": 200, "creator_b": 200}),
    ),
    "/creator/payout-method/stripe": ("/creator/payout-method/stripe", dict.fromkeys(ACTORS, 405)),
    # no Stripe account in this world: the creator is sent back to the page with a message
    "/creator/payout-method/stripe/return": (
        "/creator/payout-method/stripe/return",
        only({"creator_a": L, "creator_b": L}),
    ),
    "/creator/payout-method/stripe/refresh": (
        "/creator/payout-method/stripe/refresh",
        only({"creator_a": L, "creator_b": L}),
    ),
    "/creator/payout-method/sepa": ("/creator/payout-method/sepa", dict.fromkeys(ACTORS, 405)),
    "/creator/payout-method/bank": ("/creator/payout-method/bank", dict.fromkeys(ACTORS, 405)),
    "/creator/payout-method/paypal": ("/creator/payout-method/paypal", dict.fromkeys(ACTORS, 405)),
    "/finance/batches": ("/finance/batches", only({"finance": 200, "admin": 200})),
    # no batch exists in this world: staff who may look get 404, everyone else 403 first
    "/finance/batches/<int:batch_id>": ("/finance/batches/1", only({"finance": 404, "admin": 404})),
    "/finance/batches/<int:batch_id>/progress": (
        "/finance/batches/1/progress",
        only({"finance": 404, "admin": 404}),
    ),
    "/finance/batches/<int:batch_id>/approve": (
        "/finance/batches/1/approve",
        dict.fromkeys(ACTORS, 405),
    ),
    "/finance/batches/<int:batch_id>/cancel": (
        "/finance/batches/1/cancel",
        dict.fromkeys(ACTORS, 405),
    ),
    "/finance/batches/<int:batch_id>/execute": (
        "/finance/batches/1/execute",
        dict.fromkeys(ACTORS, 405),
    ),
    "/finance/failures": ("/finance/failures", only({"finance": 200, "admin": 200})),
    "/finance/batches/<int:batch_id>/files/<int:file_id>": (
        "/finance/batches/1/files/1",
        only({"finance": 404, "admin": 404}),
    ),
    "/finance/batches/<int:batch_id>/files/<int:file_id>/paid": (
        "/finance/batches/1/files/1/paid",
        dict.fromkeys(ACTORS, 405),
    ),
    "/finance/batches/<int:batch_id>/returns": (
        "/finance/batches/1/returns",
        dict.fromkeys(ACTORS, 405),
    ),
    "/admin/holds/<int:commission_id>": ("/admin/holds/1", dict.fromkeys(ACTORS, 405)),
    # Samples: no request exists in this world (tests/test_samples.py checks the rows of
    # real requests, tenant by tenant); creator A is only invited to the campaign.
    "/creator/samples": ("/creator/samples", only({"creator_a": 200, "creator_b": 200})),
    "/creator/campaigns/<int:campaign_id>/samples/new": (
        "/creator/campaigns/{campaign}/samples/new",
        only({"creator_a": 200, "creator_b": 404}),
    ),
    "/creator/samples/<int:sample_id>": (
        "/creator/samples/1",
        only({"creator_a": 404, "creator_b": 404}),
    ),
    "/creator/samples/<int:sample_id>/cancel": (
        "/creator/samples/1/cancel",
        dict.fromkeys(ACTORS, 405),
    ),
    "/creator/samples/<int:sample_id>/extend": (
        "/creator/samples/1/extend",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/samples": ("/brand/{x}/samples", only({"brand_x": 200, "brand_y": 404})),
    "/brand/<brand_slug>/samples/<int:sample_id>": (
        "/brand/{x}/samples/1",
        only({"brand_x": 404, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/samples/<int:sample_id>/decision": (
        "/brand/{x}/samples/1/decision",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/samples/<int:sample_id>/shipment": (
        "/brand/{x}/samples/1/shipment",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/samples/<int:sample_id>/delivered": (
        "/brand/{x}/samples/1/delivered",
        dict.fromkeys(ACTORS, 405),
    ),
    # Paid tasks: brand X's task, creator A assigned to it (POST-only routes: see test_bounties).
    "/brand/<brand_slug>/tasks": ("/brand/{x}/tasks", only({"brand_x": 200, "brand_y": 404})),
    "/brand/<brand_slug>/tasks/new": (
        "/brand/{x}/tasks/new",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/tasks/<int:task_id>": (
        "/brand/{x}/tasks/{task}",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/tasks/<int:task_id>/edit": (
        "/brand/{x}/tasks/{task}/edit",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/tasks/<int:task_id>/status": (
        "/brand/{x}/tasks/{task}/status",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/tasks/<int:task_id>/assign": (
        "/brand/{x}/tasks/{task}/assign",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/tasks/<int:task_id>/assignments/<int:assignment_id>/decide": (
        "/brand/{x}/tasks/{task}/assignments/{assignment}/decide",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/tasks/<int:task_id>/assignments/<int:assignment_id>/review": (
        "/brand/{x}/tasks/{task}/assignments/{assignment}/review",
        dict.fromkeys(ACTORS, 405),
    ),
    "/creator/tasks": ("/creator/tasks", only({"creator_a": 200, "creator_b": 200})),
    "/creator/tasks/<int:task_id>": (
        "/creator/tasks/{task}",
        only({"creator_a": 200, "creator_b": 404}),
    ),
    "/creator/tasks/<int:task_id>/apply": (
        "/creator/tasks/{task}/apply",
        dict.fromkeys(ACTORS, 405),
    ),
    "/creator/tasks/<int:task_id>/submit": (
        "/creator/tasks/{task}/submit",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/webhooks": ("/brand/{x}/webhooks", only({"brand_x": 200, "brand_y": 404})),
    # no endpoint or delivery in this world (tests/test_webhooks.py covers the 200s and tenants)
    "/brand/<brand_slug>/webhooks/<int:endpoint_id>": (
        "/brand/{x}/webhooks/1",
        only({"brand_x": 404, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/webhooks/<int:endpoint_id>/events": (
        "/brand/{x}/webhooks/1/events",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/webhooks/<int:endpoint_id>/status": (
        "/brand/{x}/webhooks/1/status",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/webhooks/<int:endpoint_id>/rotate": (
        "/brand/{x}/webhooks/1/rotate",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/webhooks/<int:endpoint_id>/delete": (
        "/brand/{x}/webhooks/1/delete",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/webhooks/<int:endpoint_id>/test": (
        "/brand/{x}/webhooks/1/test",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/webhooks/deliveries/<int:delivery_id>": (
        "/brand/{x}/webhooks/deliveries/1",
        only({"brand_x": 404, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/webhooks/deliveries/<int:delivery_id>/replay": (
        "/brand/{x}/webhooks/deliveries/1/replay",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/promo-codes": (
        "/brand/{x}/promo-codes",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/promo-codes/campaigns/<int:campaign_id>": (
        "/brand/{x}/promo-codes/campaigns/{campaign}",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/promo-codes/campaigns/<int:campaign_id>/issue": (
        "/brand/{x}/promo-codes/campaigns/{campaign}/issue",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/promo-codes/campaigns/<int:campaign_id>/settings": (
        "/brand/{x}/promo-codes/campaigns/{campaign}/settings",
        dict.fromkeys(ACTORS, 405),
    ),
    # no code exists in this world (tests/test_promos.py reads real ones across tenants)
    "/brand/<brand_slug>/promo-codes/<int:code_id>": (
        "/brand/{x}/promo-codes/1",
        only({"brand_x": 404, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/promo-codes/<int:code_id>/edit": (
        "/brand/{x}/promo-codes/1/edit",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/promo-codes/<int:code_id>/disable": (
        "/brand/{x}/promo-codes/1/disable",
        dict.fromkeys(ACTORS, 405),
    ),
    "/brand/<brand_slug>/promo-codes/<int:code_id>/enable": (
        "/brand/{x}/promo-codes/1/enable",
        dict.fromkeys(ACTORS, 405),
    ),
    "/creator/promo-codes": ("/creator/promo-codes", only({"creator_a": 200, "creator_b": 200})),
    "/creator/promo-codes/campaigns/<int:campaign_id>": (
        "/creator/promo-codes/campaigns/{campaign}",
        dict.fromkeys(ACTORS, 405),
    ),
    "/creator/dashboard": ("/creator/dashboard", only({"creator_a": 200, "creator_b": 200})),
    "/brand/<brand_slug>/dashboard": (
        "/brand/{x}/dashboard",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/dashboard/<table>.csv": (
        "/brand/{x}/dashboard/campaigns.csv",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/dashboard/campaigns/<int:campaign_id>": (
        "/brand/{x}/dashboard/campaigns/{campaign}",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/brand/<brand_slug>/dashboard/campaigns/<int:campaign_id>/<table>.csv": (
        "/brand/{x}/dashboard/campaigns/{campaign}/creator.csv",
        only({"brand_x": 200, "brand_y": 404}),
    ),
    "/finance/dashboard": ("/finance/dashboard", only({"finance": 200, "admin": 200})),
    "/admin/tiers": ("/admin/tiers", only({"admin": 200})),
    "/admin/tiers/new": ("/admin/tiers/new", only({"admin": 200})),
    "/admin/tiers/<int:tier_id>": ("/admin/tiers/1", only({"admin": 404})),
    "/admin/tiers/<int:tier_id>/retire": ("/admin/tiers/1/retire", dict.fromkeys(ACTORS, 405)),
    "/admin/tiers/<int:tier_id>/restore": ("/admin/tiers/1/restore", dict.fromkeys(ACTORS, 405)),
    "/admin/tiers/settings": ("/admin/tiers/settings", dict.fromkeys(ACTORS, 405)),
    "/admin/tiers/recompute": ("/admin/tiers/recompute", dict.fromkeys(ACTORS, 405)),
    "/leaderboard": ("/leaderboard", ALL),
    "/creator/leaderboard": ("/creator/leaderboard", dict.fromkeys(ACTORS, 405)),
}


@pytest.fixture
def world(app: Flask) -> dict[str, object]:
    with app.app_context():
        a = factories.creator(handle="alice")
        factories.creator(handle="bob")
        x = factories.brand("xbrand", staff_email=EMAILS["brand_x"])
        y = factories.brand("ybrand", staff_email=EMAILS["brand_y"])
        xp = factories.product(x, "X-SKU-1", "Xylophone")
        factories.product(y, "Y-SKU-1", "Yoyo")
        factories.user(Role.FINANCE, email=EMAILS["finance"])
        factories.user(Role.ADMIN, email=EMAILS["admin"])
        link = create_link(db.session, a, product_id=xp.id)
        piece = Content(
            creator_id=a.id,
            kind=ContentKind.REVIEW,
            title="Xylophone review",
            language="en",
            status=ContentStatus.PUBLISHED,
            published_at=utcnow(),
            products=[ContentProduct(product_id=xp.id)],
        )
        db.session.add(piece)
        db.session.flush()
        create_link(db.session, a, product_id=xp.id, content_id=piece.id)
        campaign = Campaign(
            brand_id=x.id,
            name="X invite-only",
            starts_on=utcnow().date(),
            status=CampaignStatus.ACTIVE,
            visibility=Visibility.INVITE,
            default_rate_bps=500,
            currency="EUR",
        )
        db.session.add(campaign)
        db.session.flush()
        db.session.add(
            CampaignMember(campaign_id=campaign.id, creator_id=a.id, status=MemberStatus.INVITED)
        )
        task = Task(
            brand_id=x.id,
            campaign_id=campaign.id,
            kind=TaskKind.REVIEW,
            title="Review the xylophone",
            fee_minor=15000,
            currency="EUR",
            slots=2,
            taken_slots=1,
            deadline=utcnow().date(),
            status=TaskStatus.OPEN,
            created_by_id=db.session.scalar(select(User.id).where(User.email == EMAILS["brand_x"])),
        )
        db.session.add(task)
        db.session.flush()
        assignment = TaskAssignment(
            task_id=task.id,
            creator_id=a.id,
            origin=AssignmentOrigin.ASSIGNED,
            status=AssignmentStatus.ACCEPTED,
        )
        db.session.add(assignment)
        db.session.commit()
        return {
            "x": x.slug,
            "a": a.id,
            "link": link.id,
            "code": link.code,
            "campaign": campaign.id,
            "piece": piece.id,
            "task": task.id,
            "assignment": assignment.id,
        }


def test_every_route_is_in_the_matrix(app: Flask) -> None:
    rules = {r.rule for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert rules == set(MATRIX), "add new routes to MATRIX with every actor's expected status"


def test_every_view_declares_an_access_rule(app: Flask) -> None:
    missing = [
        name
        for name, view in app.view_functions.items()
        if name != "static" and not hasattr(view, "access_rule")
    ]
    assert missing == []


@pytest.mark.parametrize("actor", ACTORS)
def test_access_matrix(app: Flask, world: dict[str, object], actor: str) -> None:
    client = app.test_client()
    if actor != "anon":
        assert login(client, EMAILS[actor], factories.PASSWORD).status_code == 302
    failures = []
    for template, expected in MATRIX.values():
        path = template.format(**world)
        got = client.get(path).status_code
        if got != expected[actor]:
            failures.append(f"{actor} GET {path}: {got}, expected {expected[actor]}")
    assert failures == []


def test_no_cross_tenant_reads(app: Flask, world: dict[str, object]) -> None:
    x_staff = app.test_client()
    login(x_staff, EMAILS["brand_x"], factories.PASSWORD)
    page = x_staff.get("/brand/xbrand/products").get_data(as_text=True)
    assert "X-SKU-1" in page
    assert "Y-SKU-1" not in page
    assert x_staff.get("/brand/ybrand/products").status_code == 404
    assert x_staff.get("/brand/ybrand/").status_code == 404
    assert x_staff.get("/brand/").headers["Location"] == "/brand/xbrand/"

    alice = app.test_client()
    login(alice, EMAILS["creator_a"], factories.PASSWORD)
    assert world["code"] in alice.get("/creator/links").get_data(as_text=True)
    bob = app.test_client()
    login(bob, EMAILS["creator_b"], factories.PASSWORD)
    assert world["code"] not in bob.get("/creator/links").get_data(as_text=True)
    for path in ("/creator/", "/creator/profile"):
        page = alice.get(path).get_data(as_text=True)
        assert "Alice" in page
        assert "Bob" not in page and "bob@example.com" not in page


def test_error_pages_do_not_leak_internals(app: Flask, client) -> None:
    resp = client.get("/no/such/page")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 404
    assert "This page does not exist." in body
    assert "Traceback" not in body and "werkzeug" not in body.lower()

    fresh = create_app(dict(app.config))

    @fresh.get("/_boom")
    @public
    def boom() -> str:
        raise RuntimeError("secret internal detail s3cr3t")

    resp = fresh.test_client().get("/_boom")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 500
    assert "s3cr3t" not in body and "RuntimeError" not in body
    assert "Something went wrong on our side" in body
