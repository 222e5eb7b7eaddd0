"""The in-repo Stripe test server, driven through the official stripe SDK only.

Self-contained: does not import the ``connect`` package. The ``/_test/*`` controls are not in
the SDK; they are called with ``StripeClient.raw_request`` so that every request still goes
through the SDK's own wire format. Only the onboarding redirect (a browser's job) uses
http.client.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe

try:
    from support.services import ensure_stripe
except ImportError:  # tests/ became a package
    from tests.support.services import ensure_stripe

KEY = "sk_test_connect_suite"
TRANSFER = {
    "amount": 1000,
    "currency": "usd",
    "transfer_group": "payout_batch_1",
    "metadata": {"payout_id": "42", "creator": "ana"},
}


def _client(url: str, key: str = KEY, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": url},
        http_client=stripe.RequestsClient(),
        max_network_retries=retries,
    )


def _close(client: stripe.StripeClient) -> None:
    client._requestor._get_http_client().close()


@pytest.fixture(scope="module")
def stripe_url() -> str:
    return ensure_stripe()


@pytest.fixture
def client(stripe_url: str) -> Iterator[stripe.StripeClient]:
    client = _client(stripe_url)
    control(client, "/_test/reset")
    yield client
    _close(client)


def control(
    client: stripe.StripeClient, endpoint: str, /, verb: str = "post", **params: Any
) -> dict[str, Any]:
    response = client.raw_request(verb, endpoint, **params)
    assert response.code == 200, response.body
    return response.data


def express_account(
    client: stripe.StripeClient, *, enabled: bool = True, country: str = "US"
) -> str:
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "country": country,
            "email": "creator@example.com",
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    if enabled:
        control(client, f"/_test/accounts/{account.id}/enable_payouts")
    return account.id


def transfers(client: stripe.StripeClient) -> list[stripe.Transfer]:
    return list(client.v1.transfers.list(params={"limit": 100}).data)


# ---------------------------------------------------------------------------------------------


def test_health_and_reset(client: stripe.StripeClient) -> None:
    assert control(client, "/_test/health", verb="get") == {"object": "health", "ok": True}
    express_account(client)
    assert len(client.v1.accounts.list().data) == 1
    control(client, "/_test/reset")
    assert client.v1.accounts.list().data == []


def test_create_express_account(client: stripe.StripeClient) -> None:
    metadata = {"creator_id": "17", "note": "a&b=c [x] ünï"}
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "country": "gb",
            "email": "ana@example.com",
            "capabilities": {
                "transfers": {"requested": True},
                "card_payments": {"requested": True},
            },
            "metadata": metadata,
        }
    )
    assert isinstance(account, stripe.Account)
    assert account.id.startswith("acct_")
    assert account.object == "account"
    assert (account.type, account.country, account.email) == ("express", "GB", "ana@example.com")
    assert account.default_currency == "gbp"
    assert account.capabilities.to_dict() == {"transfers": "inactive", "card_payments": "inactive"}
    assert (account.payouts_enabled, account.charges_enabled, account.details_submitted) == (
        False,
        False,
        False,
    )
    assert account.metadata.to_dict() == metadata
    assert "external_account" in account.requirements.currently_due

    fetched = client.v1.accounts.retrieve(account.id)
    assert fetched.to_dict() == account.to_dict()
    updated = client.v1.accounts.update(
        account.id, params={"metadata": {"note": "", "tier": "gold"}}
    )
    assert updated.metadata.to_dict() == {"creator_id": "17", "tier": "gold"}
    assert [a.id for a in client.v1.accounts.list().data] == [account.id]


def test_account_validation(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.accounts.create(params={"country": "US"})
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "type")
    with pytest.raises(stripe.InvalidRequestError) as unsupported:
        client.v1.accounts.create(params={"type": "express", "country": "BR"})
    assert unsupported.value.code == "country_unsupported"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.accounts.create(params={"type": "express", "colour": "red"})  # type: ignore[typeddict-unknown-key]
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "colour")
    with pytest.raises(stripe.InvalidRequestError) as absent:
        client.v1.accounts.retrieve("acct_doesnotexist")
    assert (absent.value.http_status, absent.value.code) == (404, "resource_missing")


def test_account_link_onboarding(client: stripe.StripeClient, stripe_url: str) -> None:
    account_id = express_account(client, enabled=False)
    before = int(time.time())
    link = client.v1.account_links.create(
        params={
            "account": account_id,
            "type": "account_onboarding",
            "refresh_url": "https://connect.example/onboarding/refresh",
            "return_url": "https://connect.example/onboarding/done",
        }
    )
    assert isinstance(link, stripe.AccountLink)
    assert link.object == "account_link"
    assert link.url.startswith(stripe_url + "/_test/onboarding/")
    assert before <= link.created < link.expires_at
    assert not client.v1.accounts.retrieve(account_id).payouts_enabled

    # What the creator's browser does: the link completes onboarding and sends them back.
    assert _redirect(link.url) == "https://connect.example/onboarding/done"
    account = client.v1.accounts.retrieve(account_id)
    assert account.payouts_enabled and account.details_submitted
    assert account.capabilities.to_dict() == {"transfers": "active"}
    assert _redirect(link.url) == "https://connect.example/onboarding/refresh"  # single use

    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.account_links.create(params={"account": account_id, "type": "account_onboarding"})
    assert missing.value.param == "refresh_url"


def _redirect(url: str) -> str:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request("GET", parts.path)
        response = conn.getresponse()
        response.read()
        assert response.status == 302
        return response.getheader("Location") or ""
    finally:
        conn.close()


def test_enable_payouts_control(client: stripe.StripeClient) -> None:
    account_id = express_account(client, enabled=False)
    control(client, f"/_test/accounts/{account_id}/enable_payouts")
    account = client.v1.accounts.retrieve(account_id)
    assert (account.payouts_enabled, account.charges_enabled, account.details_submitted) == (
        True,
        True,
        True,
    )
    assert account.capabilities.to_dict() == {"transfers": "active"}
    assert account.requirements.currently_due == []
    events = client.v1.events.list(params={"type": "account.updated"}).data
    assert len(events) == 1
    assert events[0].id.startswith("evt_")
    assert events[0].account == account_id
    assert events[0].data.object.payouts_enabled is True
    assert events[0].data.previous_attributes.payouts_enabled is False

    control(client, f"/_test/accounts/{account_id}/disable_payouts")
    assert client.v1.accounts.retrieve(account_id).payouts_enabled is False


def test_transfer(client: stripe.StripeClient) -> None:
    account_id = express_account(client)
    transfer = client.v1.transfers.create(params={**TRANSFER, "destination": account_id})
    assert isinstance(transfer, stripe.Transfer)
    assert transfer.id.startswith("tr_")
    assert (transfer.object, transfer.amount, transfer.currency) == ("transfer", 1000, "usd")
    assert (transfer.destination, transfer.transfer_group) == (account_id, "payout_batch_1")
    assert transfer.metadata.to_dict() == {"payout_id": "42", "creator": "ana"}
    assert (transfer.amount_reversed, transfer.reversed) == (0, False)
    assert client.v1.transfers.retrieve(transfer.id).to_dict() == transfer.to_dict()
    assert [t.id for t in transfers(client)] == [transfer.id]

    balance = client.v1.balance.retrieve(options={"stripe_account": account_id})
    assert [(b.amount, b.currency) for b in balance.available] == [(1000, "usd")]
    assert [e.type for e in client.v1.events.list(params={"type": "transfer.created"}).data] == [
        "transfer.created"
    ]


def test_transfer_needs_active_transfers_capability(client: stripe.StripeClient) -> None:
    account_id = express_account(client, enabled=False)
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.transfers.create(params={**TRANSFER, "destination": account_id})
    assert error.value.code == "insufficient_capabilities_for_transfer"
    assert transfers(client) == []


def test_transfer_to_unknown_account(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.transfers.create(params={**TRANSFER, "destination": "acct_1Missing"})
    assert error.value.http_status == 400
    assert (error.value.code, error.value.param) == ("resource_missing", "destination")
    assert "acct_1Missing" in str(error.value.user_message)
    assert error.value.json_body["error"]["type"] == "invalid_request_error"
    assert transfers(client) == []


def test_transfer_validation(client: stripe.StripeClient) -> None:
    account_id = express_account(client)
    bad = [
        ({"amount": 0}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"currency": None}, "currency"),
    ]
    for override, param in bad:
        params = {**TRANSFER, "destination": account_id, **override}
        with pytest.raises(stripe.InvalidRequestError) as error:
            client.v1.transfers.create(params=params)  # type: ignore[arg-type]
        assert error.value.param == param
    assert transfers(client) == []


def test_idempotent_repeat_returns_the_same_transfer(client: stripe.StripeClient) -> None:
    account_id = express_account(client)
    params = {**TRANSFER, "destination": account_id}
    first = client.v1.transfers.create(params=params, options={"idempotency_key": "payout-42"})
    again = client.v1.transfers.create(params=params, options={"idempotency_key": "payout-42"})
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert [t.id for t in transfers(client)] == [first.id]
    balance = client.v1.balance.retrieve(options={"stripe_account": account_id})
    assert balance.available[0].amount == 1000  # paid once

    # A key is scoped to the API key (and Stripe-Account): another key is another request.
    other = _client(client._requestor._options.base_addresses["api"], key="sk_test_other")
    try:
        third = other.v1.transfers.create(params=params, options={"idempotency_key": "payout-42"})
    finally:
        _close(other)
    assert third.id != first.id
    assert len(transfers(client)) == 2


def test_same_key_with_other_params_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    account_id = express_account(client)
    params = {**TRANSFER, "destination": account_id}
    client.v1.transfers.create(params=params, options={"idempotency_key": "payout-7"})
    with pytest.raises(stripe.IdempotencyError) as error:
        client.v1.transfers.create(
            params={**params, "amount": 999}, options={"idempotency_key": "payout-7"}
        )
    assert error.value.http_status == 400
    assert error.value.json_body["error"]["type"] == "idempotency_error"
    with pytest.raises(stripe.IdempotencyError):  # same key on another endpoint
        client.v1.payouts.create(
            params={"amount": 5, "currency": "usd"}, options={"idempotency_key": "payout-7"}
        )
    assert [t.amount for t in transfers(client)] == [1000]


def test_validation_errors_are_not_stored_under_the_key(client: stripe.StripeClient) -> None:
    account_id = express_account(client, enabled=False)
    params = {**TRANSFER, "destination": account_id}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.create(params=params, options={"idempotency_key": "payout-9"})
    control(client, f"/_test/accounts/{account_id}/enable_payouts")
    transfer = client.v1.transfers.create(params=params, options={"idempotency_key": "payout-9"})
    assert [t.id for t in transfers(client)] == [transfer.id]


def test_reversal(client: stripe.StripeClient) -> None:
    account_id = express_account(client)
    transfer = client.v1.transfers.create(params={**TRANSFER, "destination": account_id})
    reversal = client.v1.transfers.reversals.create(transfer.id, params={"amount": 300})
    assert isinstance(reversal, stripe.TransferReversal)
    assert reversal.id.startswith("trr_")
    assert (reversal.object, reversal.amount, reversal.transfer) == (
        "transfer_reversal",
        300,
        transfer.id,
    )
    after = client.v1.transfers.retrieve(transfer.id)
    assert (after.amount_reversed, after.reversed) == (300, False)
    assert [r.id for r in after.reversals.data] == [reversal.id]

    rest = client.v1.transfers.reversals.create(transfer.id)  # no amount: all that is left
    assert rest.amount == 700
    after = client.v1.transfers.retrieve(transfer.id)
    assert (after.amount_reversed, after.reversed) == (1000, True)
    assert after.reversals.total_count == 2
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.create(transfer.id, params={"amount": 1})
    balance = client.v1.balance.retrieve(options={"stripe_account": account_id})
    assert balance.available[0].amount == 0
    listed = client.v1.transfers.reversals.list(transfer.id)
    assert {r.id for r in listed.data} == {reversal.id, rest.id}


def test_fail_next_transfer(client: stripe.StripeClient) -> None:
    account_id = express_account(client)
    params = {**TRANSFER, "destination": account_id}
    control(client, "/_test/fail_next_transfer")
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.transfers.create(params=params, options={"idempotency_key": "payout-1"})
    assert (error.value.http_status, error.value.code) == (400, "balance_insufficient")
    assert transfers(client) == []
    # As on Stripe, a failure after the endpoint started is stored under its key ...
    with pytest.raises(stripe.InvalidRequestError) as replayed:
        client.v1.transfers.create(params=params, options={"idempotency_key": "payout-1"})
    assert replayed.value.headers["Idempotent-Replayed"] == "true"
    # ... and a new attempt needs a new key.
    transfer = client.v1.transfers.create(params=params, options={"idempotency_key": "payout-1b"})
    assert [t.id for t in transfers(client)] == [transfer.id]

    control(
        client,
        "/_test/fail_next_transfer",
        status=402,
        code="card_declined",
        decline_code="insufficient_funds",
    )
    with pytest.raises(stripe.CardError) as card:
        client.v1.transfers.create(params=params)
    assert (card.value.http_status, card.value.code) == (402, "card_declined")
    assert len(transfers(client)) == 1


def test_insufficient_platform_balance(client: stripe.StripeClient) -> None:
    account_id = express_account(client)
    control(client, "/_test/set_balance", amount=1500, currency="usd")
    client.v1.transfers.create(params={**TRANSFER, "destination": account_id})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.transfers.create(params={**TRANSFER, "destination": account_id})
    assert error.value.code == "balance_insufficient"
    platform = client.v1.balance.retrieve()
    assert [(b.amount, b.currency) for b in platform.available] == [(500, "usd")]


def test_drop_next_response_then_retry_with_the_same_key(client: stripe.StripeClient) -> None:
    account_id = express_account(client)
    params = {**TRANSFER, "destination": account_id}
    control(client, "/_test/drop_next_response")
    with pytest.raises(stripe.APIConnectionError):
        client.v1.transfers.create(params=params, options={"idempotency_key": "payout-5"})
    performed = transfers(client)
    assert len(performed) == 1  # the server paid, then "crashed" before answering

    retried = client.v1.transfers.create(params=params, options={"idempotency_key": "payout-5"})
    assert retried.id == performed[0].id
    assert [t.id for t in transfers(client)] == [retried.id]
    balance = client.v1.balance.retrieve(options={"stripe_account": account_id})
    assert balance.available[0].amount == 1000

    log = control(client, "/_test/requests", verb="get", path="/v1/transfers")["data"]
    posts = [
        (r["method"], r["idempotency_key"], r["dropped"], r["replayed"])
        for r in log
        if r["method"] == "POST"
    ]
    assert posts == [("POST", "payout-5", True, False), ("POST", "payout-5", False, True)]


def test_sdk_retries_reuse_its_idempotency_key(
    client: stripe.StripeClient, stripe_url: str
) -> None:
    account_id = express_account(client)
    control(client, "/_test/drop_next_response")
    retrying = _client(stripe_url, retries=2)
    try:  # no explicit key: the SDK makes one up and keeps it for its own retries
        transfer = retrying.v1.transfers.create(params={**TRANSFER, "destination": account_id})
    finally:
        _close(retrying)
    assert [t.id for t in transfers(client)] == [transfer.id]
    keys = [
        r["idempotency_key"]
        for r in control(client, "/_test/requests", verb="get", path="/v1/transfers")["data"]
        if r["method"] == "POST"
    ]
    assert len(keys) == 2
    assert keys[0] == keys[1]


def test_concurrent_duplicate_answers_409(client: stripe.StripeClient, stripe_url: str) -> None:
    account_id = express_account(client)
    params = {**TRANSFER, "destination": account_id}
    control(client, "/_test/delay_next", operation="transfers.create", seconds="0.5")
    results: dict[str, Any] = {}

    def first() -> None:
        own = _client(stripe_url)
        try:
            results["first"] = own.v1.transfers.create(
                params=params, options={"idempotency_key": "dup"}
            )
        finally:
            _close(own)

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 5
    while not control(client, "/_test/requests", verb="get", path="/v1/transfers", method="POST")[
        "data"
    ]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with pytest.raises(stripe.APIError) as conflict:
        client.v1.transfers.create(params=params, options={"idempotency_key": "dup"})
    assert conflict.value.http_status == 409
    thread.join(timeout=5)
    again = client.v1.transfers.create(params=params, options={"idempotency_key": "dup"})
    assert again.id == results["first"].id
    assert len(transfers(client)) == 1


def test_payouts(client: stripe.StripeClient) -> None:
    account_id = express_account(client)
    client.v1.transfers.create(params={**TRANSFER, "destination": account_id})
    on_account = {"stripe_account": account_id}
    payout = client.v1.payouts.create(params={"amount": 600, "currency": "usd"}, options=on_account)
    assert isinstance(payout, stripe.Payout)
    assert payout.id.startswith("po_")
    assert (payout.object, payout.amount, payout.status) == ("payout", 600, "pending")
    assert client.v1.payouts.retrieve(payout.id, options=on_account).id == payout.id
    with pytest.raises(stripe.InvalidRequestError):  # not the platform's payout
        client.v1.payouts.retrieve(payout.id)
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payouts.create(params={"amount": 600, "currency": "usd"}, options=on_account)
    assert error.value.code == "balance_insufficient"
    control(client, f"/_test/payouts/{payout.id}/paid")
    assert client.v1.payouts.retrieve(payout.id, options=on_account).status == "paid"
    event = client.v1.events.list(params={"type": "payout.paid"}).data[0]
    assert (event.account, event.data.object.id) == (account_id, payout.id)

    not_enabled = express_account(client, enabled=False)
    with pytest.raises(stripe.InvalidRequestError) as disabled:
        client.v1.payouts.create(
            params={"amount": 1, "currency": "usd"}, options={"stripe_account": not_enabled}
        )
    assert disabled.value.code == "payouts_not_allowed"


def test_list_pagination(client: stripe.StripeClient) -> None:
    account_id = express_account(client)
    made = [
        client.v1.transfers.create(params={**TRANSFER, "destination": account_id}).id
        for _ in range(5)
    ]
    page = client.v1.transfers.list(params={"limit": 2})
    assert [t.id for t in page.data] == made[::-1][:2]
    assert page.has_more
    assert [t.id for t in page.auto_paging_iter()] == made[::-1]
    assert client.v1.transfers.list(params={"destination": "acct_other"}).data == []


def test_bad_api_key(stripe_url: str) -> None:
    for key in ("sk_live_123456789", "pk_test_123", "sk_test_"):
        bad = _client(stripe_url, key=key)
        try:
            with pytest.raises(stripe.AuthenticationError) as error:
                bad.v1.balance.retrieve()
        finally:
            _close(bad)
        assert error.value.http_status == 401
        assert error.value.json_body["error"]["type"] == "invalid_request_error"


def test_global_api_base_works_too(stripe_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    http = stripe.RequestsClient()
    monkeypatch.setattr(stripe, "api_base", stripe_url)
    monkeypatch.setattr(stripe, "api_key", KEY)
    monkeypatch.setattr(stripe, "default_http_client", http)
    try:
        account = stripe.Account.create(type="express", country="CA")
        assert stripe.Account.retrieve(account.id).default_currency == "cad"
    finally:
        http.close()
