"""The creator's payout method in the portal: Stripe Connect Express onboarding against the
Stripe-compatible test server (through the official SDK), SEPA and other bank accounts validated
with schwifty, PayPal; who may see and change what; the audit trail.

Portal requests run outside any app context: Flask reuses an active one, and with it `g` and the
logged-in user.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from connect import create_app
from connect.accounts.models import Role
from connect.audit.models import AuditEvent
from connect.extensions import db
from connect.payouts.method_routes import bp as payout_methods_bp
from connect.payouts.methods import (
    MethodError,
    choose_stripe,
    mask_iban,
    parse_bank_account,
    rail_options,
)
from connect.payouts.models import PayoutMethod, Rail
from tests import factories
from tests.conftest import csrf_token, login
from tests.support.services import ensure_stripe

KEY = "sk_test_connect_payout_methods"
PAGE = "/creator/payout-method"
IBAN_DE = "DE89370400440532013000"
BIC_DE = "COBADEFFXXX"
IBAN_BR = "BR1800360305000010009795493C1"
RETURN_URL = "http://connect.test/creator/payout-method/stripe/return"
REFRESH_URL = "http://connect.test/creator/payout-method/stripe/refresh"


# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture(scope="module")
def portal(app: Flask) -> Iterator[Flask]:
    """The app with the payout-method blueprint: the session app once it is registered in
    `register_blueprints`, else a twin of it (same database) with the blueprint added."""
    if "payout_methods" in app.blueprints:
        yield app
        return
    twin = create_app(dict(app.config))
    twin.register_blueprint(payout_methods_bp)
    yield twin
    with twin.app_context():
        db.engine.dispose()


@pytest.fixture
def stripe_base(portal: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    base = ensure_stripe()
    _control(base, "/_test/reset")
    monkeypatch.setitem(portal.config, "STRIPE_SECRET_KEY", KEY)
    monkeypatch.setitem(portal.config, "STRIPE_API_BASE", base)
    portal.extensions.pop("connect_stripe", None)
    yield base
    portal.extensions.pop("connect_stripe", None)


@pytest.fixture
def no_stripe(portal: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(portal.config, "STRIPE_SECRET_KEY", None)
    portal.extensions.pop("connect_stripe", None)


# ruff: noqa: S310 - the test server is local and the URLs are built here
def _control(base: str, path: str) -> dict[str, Any]:
    req = urllib.request.Request(base + path, data=b"{}", method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def _account_creations(base: str) -> int:
    url = f"{base}/_test/requests?method=POST&path=/v1/accounts"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return len(json.loads(resp.read())["data"])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _visit_link(url: str, action: str = "") -> str:
    """Open an account link as the creator's browser would; where the test server sends them."""
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(url + (f"?action={action}" if action else ""), timeout=10)
    error = redirected.value
    error.close()  # the redirect answer holds the connection open
    assert error.code == 302
    return error.headers["Location"]


def _creator(portal: Flask, handle: str, country: str = "DE", currency: str = "EUR") -> int:
    with portal.app_context():
        creator = factories.creator(handle=handle, country=country, currency=currency)
        db.session.commit()
        return creator.id


def _signed_in(portal: Flask, handle: str) -> FlaskClient:
    client = portal.test_client()
    assert login(client, f"{handle}@example.com", factories.PASSWORD).status_code == 302
    return client


def _post(client: FlaskClient, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, PAGE), **data})


def _method(portal: Flask, creator_id: int) -> dict[str, Any] | None:
    with portal.app_context():
        method = db.session.scalar(
            select(PayoutMethod).where(PayoutMethod.creator_id == creator_id)
        )
        if method is None:
            return None
        return {
            "rail": method.rail,
            "stripe_account_id": method.stripe_account_id,
            "payouts_enabled": method.payouts_enabled,
            "iban": method.iban,
            "bic": method.bic,
            "account_holder": method.account_holder,
            "paypal_email": method.paypal_email,
        }


def _audit(portal: Flask) -> list[tuple[str, dict[str, Any]]]:
    with portal.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        return [(r.action, dict(r.data)) for r in rows]


def _flashes(client: FlaskClient) -> str:
    return client.get(PAGE).get_data(as_text=True)


# --- Stripe Connect Express -----------------------------------------------------------------


def test_stripe_onboarding_round_trip(portal: Flask, stripe_base: str) -> None:
    anna = _creator(portal, "anna", country="DE")
    client = _signed_in(portal, "anna")
    assert "Set up Stripe payouts" in client.get(PAGE).get_data(as_text=True)

    resp = _post(client, "/creator/payout-method/stripe")
    assert resp.status_code == 303
    link = resp.headers["Location"]
    assert link.startswith(f"{stripe_base}/_test/onboarding/")
    stored = _method(portal, anna)
    assert stored is not None
    assert stored["rail"] == Rail.STRIPE
    assert stored["stripe_account_id"].startswith("acct_")
    assert stored["payouts_enabled"] is False

    # The test server completes onboarding and sends the browser to our return URL.
    assert _visit_link(link) == RETURN_URL
    back = client.get(urlsplit(RETURN_URL).path, follow_redirects=True)
    assert back.status_code == 200
    assert "Your Stripe account is ready" in back.get_data(as_text=True)
    stored = _method(portal, anna)
    assert stored is not None and stored["payouts_enabled"] is True
    assert "Ready for your next payout." in client.get(PAGE).get_data(as_text=True)

    # Choosing Stripe again reuses the account, which is ready: no new onboarding.
    again = _post(client, "/creator/payout-method/stripe")
    assert (again.status_code, again.headers["Location"]) == (303, PAGE)
    assert _account_creations(stripe_base) == 1
    actions = [a for a, _ in _audit(portal)]
    assert actions == ["payout_method.set", "payout_method.stripe_state", "payout_method.set"]


def test_abandoned_onboarding_and_refresh_url(portal: Flask, stripe_base: str) -> None:
    bea = _creator(portal, "bea", country="FR")
    client = _signed_in(portal, "bea")
    link = _post(client, "/creator/payout-method/stripe").headers["Location"]

    assert _visit_link(link, action="abandon") == RETURN_URL
    page = client.get(urlsplit(RETURN_URL).path, follow_redirects=True).get_data(as_text=True)
    assert "onboarding is not finished" in page
    assert "Continue Stripe onboarding" in page
    stored = _method(portal, bea)
    assert stored is not None and stored["payouts_enabled"] is False

    # A used link sends the browser to the refresh URL, which makes a fresh link.
    assert _visit_link(link) == REFRESH_URL
    refreshed = client.get(urlsplit(REFRESH_URL).path)
    assert refreshed.status_code == 302
    new_link = refreshed.headers["Location"]
    assert new_link.startswith(f"{stripe_base}/_test/onboarding/") and new_link != link

    # Continuing later reuses the same account too.
    continued = _post(client, "/creator/payout-method/stripe")
    assert continued.headers["Location"].startswith(f"{stripe_base}/_test/onboarding/")
    assert _account_creations(stripe_base) == 1

    assert _visit_link(new_link) == RETURN_URL
    client.get(urlsplit(RETURN_URL).path)
    stored = _method(portal, bea)
    assert stored is not None and stored["payouts_enabled"] is True


@pytest.mark.parametrize(
    ("country", "currency", "name"), [("RU", "RUB", "Russia"), ("BR", "BRL", "Brazil")]
)
def test_stripe_refused_where_it_does_not_reach(
    portal: Flask, stripe_base: str, country: str, currency: str, name: str
) -> None:
    creator_id = _creator(portal, "far", country=country, currency=currency)
    client = _signed_in(portal, "far")
    page = client.get(PAGE).get_data(as_text=True)
    assert "Set up Stripe payouts" not in page
    assert "Stripe Connect does not pay out to creators in" in page and name in page

    resp = _post(client, "/creator/payout-method/stripe")
    assert (resp.status_code, resp.headers["Location"]) == (303, PAGE)
    assert "Stripe Connect does not pay out" in _flashes(client)
    assert _method(portal, creator_id) is None
    assert _account_creations(stripe_base) == 0
    assert _audit(portal) == []


def test_stripe_not_configured(portal: Flask, no_stripe: None) -> None:
    creator_id = _creator(portal, "carl", country="DE")
    client = _signed_in(portal, "carl")
    assert "Stripe payouts are not set up on Connect yet" in client.get(PAGE).get_data(as_text=True)
    resp = _post(client, "/creator/payout-method/stripe")
    assert resp.status_code == 303
    assert "not set up on Connect yet" in _flashes(client)
    # return/refresh without an account: a message, no Stripe call
    assert client.get("/creator/payout-method/stripe/return").status_code == 302
    assert "no Stripe account with us yet" in _flashes(client)
    assert _method(portal, creator_id) is None


def test_choose_stripe_service_refuses_unsupported_country(portal: Flask, stripe_base: str) -> None:
    with portal.app_context():
        creator = factories.creator(handle="ivan", country="RU", currency="RUB")
        from connect.payouts.gateway import gateway

        with pytest.raises(MethodError, match="does not pay out"):
            choose_stripe(db.session, creator, gateway(), email="i@x.test", actor_id=1)
        db.session.rollback()
    assert _account_creations(stripe_base) == 0


# --- SEPA and other bank accounts -----------------------------------------------------------


def test_sepa_account_is_validated_normalized_masked_and_audited(portal: Flask) -> None:
    dora = _creator(portal, "dora", country="DE")
    client = _signed_in(portal, "dora")
    resp = _post(
        client,
        "/creator/payout-method/sepa",
        **{
            "sepa-account_holder": "  Dora   Müller ",
            "sepa-iban": "de89 3704 0044 0532 0130 00",
            "sepa-bic": "",
        },
    )
    assert (resp.status_code, resp.headers["Location"]) == (303, PAGE)
    assert _method(portal, dora) == {
        "rail": Rail.SEPA,
        "stripe_account_id": "",
        "payouts_enabled": False,
        "iban": IBAN_DE,
        "bic": BIC_DE,  # derived from the IBAN's bank code
        "account_holder": "Dora Müller",
        "paypal_email": "",
    }
    page = client.get(PAGE).get_data(as_text=True)
    assert "DE89 **** 3000" in page
    assert IBAN_DE not in page and "0532 0130" not in page

    [(action, data)] = _audit(portal)
    assert action == "payout_method.set"
    assert data == {"rail": "sepa", "previous_rail": None, "iban": "DE89 **** 3000", "bic": BIC_DE}

    # An explicit BIC is kept, normalized.
    _post(
        client,
        "/creator/payout-method/sepa",
        **{"sepa-account_holder": "Dora", "sepa-iban": IBAN_DE, "sepa-bic": "cobadeff"},
    )
    stored = _method(portal, dora)
    assert stored is not None and stored["bic"] == "COBADEFF"
    assert all(IBAN_DE not in json.dumps(d) for _, d in _audit(portal))


@pytest.mark.parametrize(
    ("holder", "iban", "bic", "error"),
    [
        ("Eve", "DE00370400440532013000", "", "Invalid checksum digits"),
        ("Eve", "DE8937040044053201300", "", "Invalid IBAN length"),
        ("Eve", IBAN_BR, "", "outside the SEPA zone"),
        ("Eve", IBAN_DE, "BNPAFRPPXXX", "This BIC is for a bank in France"),
        ("Eve", IBAN_DE, "COBADE", "This is not a valid BIC"),
        ("", IBAN_DE, "", "This field is required."),
        ("李小龙", IBAN_DE, "", "Latin letters"),
    ],
)
def test_invalid_sepa_details_change_nothing(
    portal: Flask, holder: str, iban: str, bic: str, error: str
) -> None:
    eve = _creator(portal, "eve", country="DE")
    client = _signed_in(portal, "eve")
    assert _post(client, "/creator/payout-method/paypal", **{"paypal-email": "eve@pay.example"})
    before = _method(portal, eve)
    audit_before = _audit(portal)

    resp = _post(
        client,
        "/creator/payout-method/sepa",
        **{"sepa-account_holder": holder, "sepa-iban": iban, "sepa-bic": bic},
    )
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert error in page
    assert "Please correct the marked fields." in page
    assert _method(portal, eve) == before
    assert _audit(portal) == audit_before


def test_bank_transfer_for_creators_outside_sepa(portal: Flask) -> None:
    fabio = _creator(portal, "fabio", country="BR", currency="BRL")
    client = _signed_in(portal, "fabio")
    page = client.get(PAGE).get_data(as_text=True)
    assert "SEPA transfers are in euro only; your payout currency is BRL." in page
    assert 'action="/creator/payout-method/bank"' in page

    # SEPA is refused outright, whatever the IBAN.
    refused = _post(
        client,
        "/creator/payout-method/sepa",
        **{"sepa-account_holder": "Fabio", "sepa-iban": IBAN_DE},
    )
    assert refused.status_code == 303
    assert "euro only" in _flashes(client)
    assert _method(portal, fabio) is None

    # Outside SEPA a BIC is needed, and schwifty cannot look this one up.
    no_bic = _post(
        client,
        "/creator/payout-method/bank",
        **{"bank-account_holder": "Fabio Souza", "bank-iban": IBAN_BR},
    )
    assert no_bic.status_code == 422
    assert "Enter your bank&#39;s BIC" in no_bic.get_data(as_text=True)
    assert _method(portal, fabio) is None

    ok = _post(
        client,
        "/creator/payout-method/bank",
        **{"bank-account_holder": "Fabio Souza", "bank-iban": IBAN_BR, "bank-bic": "BRASBRRJ"},
    )
    assert ok.status_code == 303
    stored = _method(portal, fabio)
    assert stored is not None
    assert (stored["rail"], stored["iban"], stored["bic"]) == (Rail.CSV, IBAN_BR, "BRASBRRJ")
    assert "BR18 **** 93C1" in client.get(PAGE).get_data(as_text=True)


def test_bank_file_rail_is_not_offered_inside_sepa_in_euro(portal: Flask) -> None:
    gina = _creator(portal, "gina", country="FR")
    client = _signed_in(portal, "gina")
    page = client.get(PAGE).get_data(as_text=True)
    assert "use a SEPA transfer" in page
    resp = _post(
        client,
        "/creator/payout-method/bank",
        **{"bank-account_holder": "Gina", "bank-iban": IBAN_DE, "bank-bic": BIC_DE},
    )
    assert resp.status_code == 303
    assert _method(portal, gina) is None


def test_refusals_reach_a_spanish_creator_in_spanish(portal: Flask) -> None:
    """The rules' refusals are lazy strings: the page and the flash speak the reader's language.
    (Needs the integrated catalogues: the Spanish texts come from the i18n hand-off.)"""
    with portal.app_context():
        lola = factories.creator(handle="lola", country="BR", currency="BRL")
        lola.user.locale = "es"
        db.session.commit()
    client = _signed_in(portal, "lola")
    spanish = "Las transferencias SEPA son solo en euros; tu moneda de pago es BRL."
    assert spanish in client.get(PAGE).get_data(as_text=True)

    refused = _post(
        client,
        "/creator/payout-method/sepa",
        **{"sepa-account_holder": "Lola", "sepa-iban": IBAN_DE},
    )
    assert refused.status_code == 303
    page = _flashes(client)
    assert spanish in page
    assert "euro only" not in page

    # A field error of the bank-account rules, on the form.
    no_bic = _post(
        client,
        "/creator/payout-method/bank",
        **{"bank-account_holder": "Lola Souza", "bank-iban": IBAN_BR},
    )
    assert no_bic.status_code == 422
    assert "Escribe el BIC (código SWIFT) de tu banco." in no_bic.get_data(as_text=True)


# --- PayPal ---------------------------------------------------------------------------------


def test_paypal(portal: Flask) -> None:
    hugo = _creator(portal, "hugo", country="RU", currency="RUB")
    client = _signed_in(portal, "hugo")
    bad = _post(client, "/creator/payout-method/paypal", **{"paypal-email": "hugo@"})
    assert bad.status_code == 422
    assert "Enter a valid e-mail address." in bad.get_data(as_text=True)
    assert _method(portal, hugo) is None

    ok = _post(client, "/creator/payout-method/paypal", **{"paypal-email": " Hugo@Pay.Example "})
    assert ok.status_code == 303
    stored = _method(portal, hugo)
    assert stored is not None
    assert (stored["rail"], stored["paypal_email"]) == (Rail.PAYPAL, "hugo@pay.example")
    assert _audit(portal) == [("payout_method.set", {"rail": "paypal", "previous_rail": None})]


def test_switching_rails_drops_the_old_details(portal: Flask) -> None:
    iris = _creator(portal, "iris", country="DE")
    client = _signed_in(portal, "iris")
    _post(
        client,
        "/creator/payout-method/sepa",
        **{"sepa-account_holder": "Iris", "sepa-iban": IBAN_DE},
    )
    _post(client, "/creator/payout-method/paypal", **{"paypal-email": "iris@pay.example"})
    stored = _method(portal, iris)
    assert stored is not None
    assert (stored["rail"], stored["iban"], stored["bic"], stored["account_holder"]) == (
        Rail.PAYPAL,
        "",
        "",
        "",
    )
    assert _audit(portal)[-1] == (
        "payout_method.set",
        {"rail": "paypal", "previous_rail": "sepa"},
    )


# --- who may see and change what ------------------------------------------------------------


def test_a_creator_only_sees_and_changes_their_own_method(portal: Flask) -> None:
    alice = _creator(portal, "alice", country="DE")
    bob = _creator(portal, "bob", country="DE")
    a = _signed_in(portal, "alice")
    _post(
        a,
        "/creator/payout-method/sepa",
        **{"sepa-account_holder": "Alice Secret", "sepa-iban": IBAN_DE},
    )

    b = _signed_in(portal, "bob")
    page = b.get(PAGE).get_data(as_text=True)
    assert "You have not told us how to pay you yet." in page
    assert "Alice Secret" not in page and "DE89" not in page and BIC_DE not in page
    _post(b, "/creator/payout-method/paypal", **{"paypal-email": "bob@pay.example"})
    assert b.get("/creator/payout-method/stripe/refresh").status_code == 302

    alice_method = _method(portal, alice)
    assert alice_method is not None
    assert (alice_method["rail"], alice_method["iban"]) == (Rail.SEPA, IBAN_DE)
    bob_method = _method(portal, bob)
    assert bob_method is not None and bob_method["rail"] == Rail.PAYPAL


@pytest.mark.parametrize(
    "path",
    [
        PAGE,
        "/creator/payout-method/stripe/return",
        "/creator/payout-method/stripe/refresh",
    ],
)
def test_only_creators(portal: Flask, path: str) -> None:
    with portal.app_context():
        for role in (Role.BRAND, Role.FINANCE, Role.ADMIN):
            factories.user(role, email=f"{role.value}@staff.example")
        db.session.commit()
    anon = portal.test_client().get(path)
    assert anon.status_code == 302 and "/login" in anon.headers["Location"]
    for role in (Role.BRAND, Role.FINANCE, Role.ADMIN):
        client = portal.test_client()
        login(client, f"{role.value}@staff.example", factories.PASSWORD)
        assert client.get(path).status_code == 403
        token = csrf_token(client, "/password/forgot")
        for rail in ("stripe", "sepa", "bank", "paypal"):
            resp = client.post(f"/creator/payout-method/{rail}", data={"csrf_token": token})
            assert resp.status_code == 403
    with portal.app_context():
        assert db.session.scalars(select(PayoutMethod)).all() == []


def test_posts_need_the_csrf_token(portal: Flask) -> None:
    creator_id = _creator(portal, "jo", country="DE")
    client = _signed_in(portal, "jo")
    resp = client.post("/creator/payout-method/paypal", data={"paypal-email": "jo@pay.example"})
    assert resp.status_code == 400
    assert _method(portal, creator_id) is None


# --- the rules, without HTTP ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("iban", "masked"),
    [(IBAN_DE, "DE89 **** 3000"), ("de89 3704 0044 0532 0130 00", "DE89 **** 3000"), ("", "****")],
)
def test_mask_iban(iban: str, masked: str) -> None:
    assert mask_iban(iban) == masked


def test_bic_of_a_french_overseas_bank_matches_a_french_iban() -> None:
    account = parse_bank_account(
        "FR1420041010050500013M02606", "BNPARERXXXX", "Lea Payet", sepa=True
    )
    assert (account.iban, account.bic, account.country) == (
        "FR1420041010050500013M02606",
        "BNPARERXXXX",
        "FR",
    )


@pytest.mark.parametrize(
    ("country", "currency", "offered"),
    [
        ("DE", "EUR", {Rail.STRIPE, Rail.SEPA, Rail.PAYPAL}),
        ("GB", "GBP", {Rail.STRIPE, Rail.PAYPAL, Rail.CSV}),
        ("RU", "RUB", {Rail.PAYPAL, Rail.CSV}),
        ("RU", "EUR", {Rail.SEPA, Rail.PAYPAL, Rail.CSV}),
        ("BR", "BRL", {Rail.PAYPAL, Rail.CSV}),
        ("US", "USD", {Rail.STRIPE, Rail.PAYPAL, Rail.CSV}),
    ],
)
def test_rails_by_country_and_currency(country: str, currency: str, offered: set[Rail]) -> None:
    from connect.creators.models import Creator

    creator = Creator(country=country, payout_currency=currency)
    options = rail_options(creator, stripe_configured=True)
    assert {r for r, o in options.items() if o.available} == offered
    assert all(o.reason for o in options.values() if not o.available)
