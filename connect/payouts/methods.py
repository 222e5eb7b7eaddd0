"""A creator's payout method: which rails reach them, and setting one up.

Stripe Connect does not reach every country, SEPA is euro only, bank files need an IBAN: the
rails on offer depend on the creator's country and payout currency (`rail_options`). Bank details
are validated with schwifty (IBAN checksum and format, BIC format, BIC country = IBAN country)
and stored compact and upper-case. Every change leaves an audit row; a full IBAN never goes into
one (`mask_iban`).

The functions take a session and explicit arguments, flush, and never commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from schwifty import BIC, IBAN, registry
from sqlalchemy import select
from sqlalchemy.orm import Session

from connect.accounts.services import AccountError, normalize_email
from connect.audit.services import record
from connect.core.geo import country_names
from connect.creators.models import Creator
from connect.payouts.files import sepa_clean
from connect.payouts.gateway import AccountState, StripeGateway
from connect.payouts.models import PayoutMethod, Rail
from connect.payouts.services import STRIPE_COUNTRIES

#: The pain.001.001.03 XSD's BICIdentifier (as in `connect.payouts.files`): schwifty alone
#: accepts a few codes the SEPA file would then refuse.
_BIC_PATTERN = re.compile(r"[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?")
#: Territories whose banks have their own BIC country code but use the IBANs of another
#: country (French overseas, Crown Dependencies, Åland).
_BIC_COUNTRIES = {
    "FR": frozenset({"FR", "GF", "GP", "MQ", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF"}),
    "GB": frozenset({"GB", "JE", "GG", "IM"}),
    "FI": frozenset({"FI", "AX"}),
}
HOLDER_MAX = 140  # PayoutMethod.account_holder


class MethodError(ValueError):
    """Payout details the rules refuse. The message is safe to show (a lazy string, translated
    when the view turns it into text); `field` names the form field it belongs to (None: the
    rail itself is refused)."""

    def __init__(self, message: object, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __str__(self) -> str:
        return str(self.args[0])


# --- which rails reach a creator ----------------------------------------------------------


@dataclass(frozen=True)
class RailOption:
    rail: Rail
    available: bool
    #: Why the rail is not offered (empty when it is); a lazy string, translated when shown.
    reason: str | LazyString = ""


def country_name(code: str) -> str:
    return country_names().get(code, code)


def in_sepa_zone(country: str) -> bool:
    """Whether `country` (ISO 3166 alpha-2) is in the Single Euro Payments Area."""
    try:
        return registry.get_iban_spec(country).in_sepa_zone
    except ValueError:  # schwifty.exceptions.InvalidCountryCode: no IBANs there at all
        return False


def rail_options(creator: Creator, *, stripe_configured: bool) -> dict[Rail, RailOption]:
    """Every rail, in display order, with whether it is offered to `creator` and why not."""
    where = country_name(creator.country)
    if creator.country not in STRIPE_COUNTRIES:
        stripe = RailOption(
            Rail.STRIPE,
            False,
            _l("Stripe Connect does not pay out to creators in %(country)s.", country=where),
        )
    elif not stripe_configured:
        stripe = RailOption(Rail.STRIPE, False, _l("Stripe payouts are not set up on Connect yet."))
    else:
        stripe = RailOption(Rail.STRIPE, True)
    if creator.payout_currency != "EUR":
        sepa = RailOption(
            Rail.SEPA,
            False,
            _l(
                "SEPA transfers are in euro only; your payout currency is %(currency)s.",
                currency=creator.payout_currency,
            ),
        )
    else:
        sepa = RailOption(Rail.SEPA, True)
    if sepa.available and in_sepa_zone(creator.country):
        bank = RailOption(
            Rail.CSV,
            False,
            _l(
                "%(country)s is in the SEPA zone and you are paid in euro: use a SEPA transfer.",
                country=where,
            ),
        )
    else:
        bank = RailOption(Rail.CSV, True)
    return {
        Rail.STRIPE: stripe,
        Rail.SEPA: sepa,
        Rail.PAYPAL: RailOption(Rail.PAYPAL, True),
        Rail.CSV: bank,
    }


def _require(creator: Creator, rail: Rail, *, stripe_configured: bool = True) -> None:
    option = rail_options(creator, stripe_configured=stripe_configured)[rail]
    if not option.available:
        raise MethodError(option.reason)


# --- bank accounts ------------------------------------------------------------------------


@dataclass(frozen=True)
class BankAccount:
    iban: str  # compact, upper-case
    bic: str  # compact, upper-case; "" when none was given and none can be derived
    holder: str
    country: str  # the IBAN's


def mask_iban(iban: str) -> str:
    """`DE89 **** 3000`: enough to recognise an account, not enough to use it."""
    compact = "".join(iban.split()).upper()
    if len(compact) < 12:
        return "****"
    return f"{compact[:4]} **** {compact[-4:]}"


def parse_bank_account(iban: str, bic: str, holder: str, *, sepa: bool) -> BankAccount:
    """Validate and normalize bank details, or MethodError naming the field.

    `sepa`: the IBAN must be from the SEPA zone, and the holder's name writable in the SEPA
    character set (Latin script). Without a BIC, the BIC is derived from the IBAN when
    schwifty's bank registry knows the bank; SEPA needs none, any other bank transfer does.
    """
    holder = " ".join(holder.split())
    if not holder:
        raise MethodError(_l("Enter the account holder's name."), "account_holder")
    if len(holder) > HOLDER_MAX:
        raise MethodError(_l("Use at most %(max)s characters.", max=HOLDER_MAX), "account_holder")
    if sepa and not any(c.isalnum() for c in sepa_clean(holder, 70)):
        raise MethodError(
            _l("Enter the holder's name in Latin letters, as your bank writes it."),
            "account_holder",
        )
    try:
        parsed = IBAN(iban)
    except ValueError as exc:  # every schwifty error is a ValueError
        # schwifty's own reason (English) stays in the parentheses: it names the exact fault.
        raise MethodError(
            _l("This is not a valid IBAN (%(error)s).", error=str(exc)), "iban"
        ) from exc
    if sepa and not parsed.in_sepa_zone:
        raise MethodError(
            _l(
                "IBANs from %(country)s are outside the SEPA zone: "
                "choose a bank transfer by file or PayPal instead.",
                country=country_name(parsed.country_code),
            ),
            "iban",
        )
    return BankAccount(
        iban=parsed.compact,
        bic=_bic_for(parsed, bic, required=not sepa),
        holder=holder,
        country=parsed.country_code,
    )


def _bic_for(iban: IBAN, raw: str, *, required: bool) -> str:
    if not raw.strip():
        derived = iban.bic
        if derived is not None and _BIC_PATTERN.fullmatch(derived.compact):
            return derived.compact
        if required:
            raise MethodError(_l("Enter your bank's BIC (SWIFT code)."), "bic")
        return ""
    try:
        bic = BIC(raw)
    except ValueError as exc:
        raise MethodError(
            _l("This is not a valid BIC (%(error)s).", error=str(exc)), "bic"
        ) from exc
    if not _BIC_PATTERN.fullmatch(bic.compact):
        raise MethodError(_l("This is not a valid BIC."), "bic")
    allowed = _BIC_COUNTRIES.get(iban.country_code, frozenset({iban.country_code}))
    if bic.country_code not in allowed:
        raise MethodError(
            _l(
                "This BIC is for a bank in %(bic_country)s, the IBAN for one in %(iban_country)s.",
                bic_country=country_name(bic.country_code),
                iban_country=country_name(iban.country_code),
            ),
            "bic",
        )
    return bic.compact


# --- setting the method -------------------------------------------------------------------


def method_of(session: Session, creator_id: int) -> PayoutMethod | None:
    return session.scalar(select(PayoutMethod).where(PayoutMethod.creator_id == creator_id))


def _switch(session: Session, creator: Creator, rail: Rail) -> tuple[PayoutMethod, Rail | None]:
    """The creator's method (created if missing) switched to `rail`, the details of the other
    rails cleared. The Stripe account is kept: it is reused on coming back to Stripe, and its
    `account.updated` webhooks keep `payouts_enabled` current."""
    method = method_of(session, creator.id)
    previous = method.rail if method is not None else None
    if method is None:
        method = PayoutMethod(creator_id=creator.id, rail=rail)
        session.add(method)
    method.rail = rail
    method.iban = method.bic = method.account_holder = method.paypal_email = ""
    return method, previous


def _audit(
    session: Session,
    method: PayoutMethod,
    previous: Rail | None,
    actor_id: int,
    **extra: object,
) -> None:
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action="payout_method.set",
        target=method,
        data={"rail": method.rail.value, "previous_rail": previous and previous.value, **extra},
    )
    session.flush()


def set_bank_account(
    session: Session, creator: Creator, account: BankAccount, *, rail: Rail, actor_id: int
) -> PayoutMethod:
    """Pay `creator` by SEPA credit transfer (`rail` SEPA) or in a plain bank file (CSV)."""
    if rail not in (Rail.SEPA, Rail.CSV):
        raise ValueError(f"not a bank rail: {rail}")
    _require(creator, rail)
    if rail == Rail.SEPA and not in_sepa_zone(account.country):
        raise MethodError(_l("This IBAN is outside the SEPA zone."), "iban")
    method, previous = _switch(session, creator, rail)
    method.iban, method.bic, method.account_holder = account.iban, account.bic, account.holder
    _audit(session, method, previous, actor_id, iban=mask_iban(account.iban), bic=account.bic)
    return method


def set_paypal(session: Session, creator: Creator, email: str, *, actor_id: int) -> PayoutMethod:
    try:
        address = normalize_email(email)
    except AccountError as exc:
        raise MethodError(
            _l("Enter a valid e-mail address (%(error)s).", error=exc), "email"
        ) from exc
    method, previous = _switch(session, creator, Rail.PAYPAL)
    method.paypal_email = address
    _audit(session, method, previous, actor_id)
    return method


def choose_stripe(
    session: Session,
    creator: Creator,
    stripe: StripeGateway,
    *,
    email: str,
    actor_id: int,
) -> PayoutMethod:
    """Make Stripe Connect the creator's rail, creating their Express account the first time
    (a known account is reused, and its state fetched). Onboarding is finished when
    `payouts_enabled` is set: here, on the return URL, or by the `account.updated` webhook."""
    _require(creator, Rail.STRIPE)
    method = method_of(session, creator.id)
    if method is not None and method.stripe_account_id:
        account_id, created = method.stripe_account_id, False
        enabled = stripe.account_state(account_id).payouts_enabled
    else:
        account_id = stripe.create_account(
            country=creator.country, email=email, creator_id=creator.id
        )
        created, enabled = True, False
    method, previous = _switch(session, creator, Rail.STRIPE)
    method.stripe_account_id, method.payouts_enabled = account_id, enabled
    _audit(session, method, previous, actor_id, stripe_account_id=account_id, created=created)
    return method


def record_stripe_state(
    session: Session, method: PayoutMethod, state: AccountState, *, actor_id: int | None
) -> bool:
    """Store whether Stripe pays out to the method's account; True when that changed."""
    if state.account_id != method.stripe_account_id:
        raise ValueError("the state of another Stripe account")
    if method.payouts_enabled == state.payouts_enabled:
        return False
    method.payouts_enabled = state.payouts_enabled
    record(
        session,
        actor_id=actor_id,
        action="payout_method.stripe_state",
        target=method,
        data={
            "stripe_account_id": state.account_id,
            "payouts_enabled": state.payouts_enabled,
            "details_submitted": state.details_submitted,
        },
    )
    session.flush()
    return True
