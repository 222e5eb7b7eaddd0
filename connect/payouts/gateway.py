"""Stripe Connect behind a small interface. The real SDK talks over HTTP (to Stripe, or to the
in-repo test server in tests); nothing else in the code imports stripe."""

from __future__ import annotations

from dataclasses import dataclass

import stripe
from flask import current_app

# Failures Stripe will answer the same way again: the payout fails and its money returns.
PERMANENT_ERRORS = (stripe.InvalidRequestError, stripe.CardError, stripe.PermissionError)


class StripeNotConfigured(RuntimeError):
    """STRIPE_SECRET_KEY is not set: the Stripe rail is unavailable."""


@dataclass(frozen=True)
class AccountState:
    account_id: str
    payouts_enabled: bool
    details_submitted: bool


class StripeGateway:
    def __init__(self, api_key: str, api_base: str | None) -> None:
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else {},
            # Retries reuse the idempotency key, so a dropped answer never pays twice.
            max_network_retries=2,
        )

    def create_account(self, *, country: str, email: str, creator_id: int) -> str:
        account = self.client.v1.accounts.create(
            params={
                "type": "express",
                "country": country,
                "email": email,
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"creator_id": str(creator_id)},
            },
            options={"idempotency_key": f"connect-account-creator-{creator_id}"},
        )
        return account.id

    def onboarding_link(self, account_id: str, *, refresh_url: str, return_url: str) -> str:
        link = self.client.v1.account_links.create(
            params={
                "account": account_id,
                "refresh_url": refresh_url,
                "return_url": return_url,
                "type": "account_onboarding",
            }
        )
        return link.url

    def account_state(self, account_id: str) -> AccountState:
        account = self.client.v1.accounts.retrieve(account_id)
        return AccountState(
            account.id, bool(account.payouts_enabled), bool(account.details_submitted)
        )

    def transfer(
        self,
        *,
        amount_minor: int,
        currency: str,
        destination: str,
        idempotency_key: str,
        payout_id: int,
    ) -> str:
        transfer = self.client.v1.transfers.create(
            params={
                "amount": amount_minor,
                "currency": currency.lower(),
                "destination": destination,
                "metadata": {"payout_id": str(payout_id)},
            },
            options={"idempotency_key": idempotency_key},
        )
        return transfer.id


def gateway() -> StripeGateway:
    key = current_app.config["STRIPE_SECRET_KEY"]
    if not key:
        raise StripeNotConfigured("Stripe is not configured (STRIPE_SECRET_KEY)")
    cached = current_app.extensions.get("connect_stripe")
    if cached is None:
        cached = StripeGateway(key, current_app.config["STRIPE_API_BASE"])
        current_app.extensions["connect_stripe"] = cached
    return cached
