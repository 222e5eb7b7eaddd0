#!/usr/bin/env python3
"""A small Stripe-compatible HTTP server for tests (Connect: accounts, transfers, payouts).

The official ``stripe`` Python SDK talks to it unchanged when pointed at it::

    client = stripe.StripeClient("sk_test_x", base_addresses={"api": url})
    # or, with the global API: stripe.api_base = url

Run it as ``python tests/support/stripe_server.py --port 12111`` (``--port 0`` picks a free
port); it prints ``ready http://HOST:PORT`` on stdout once it accepts connections, and answers
``GET /_test/health``. ``start_in_thread()`` runs it inside the current process instead.

Wire format, as Stripe's v1 API: form-encoded request bodies with nested keys
(``metadata[k]=v``, ``capabilities[transfers][requested]=true``, ``expand[0]=x``), bearer
(or basic) auth with keys starting ``sk_test_``, JSON answers with ``object`` fields and
Stripe id prefixes, Stripe error bodies ``{"error": {"type", "message", "code", "param"}}``.

Idempotency works like Stripe's: a POST's ``Idempotency-Key`` (the SDK sends a random one on
every POST, and reuses it on its own retries) is scoped to the API key and ``Stripe-Account``.
A repeat with the same parameters replays the stored status and body (header
``Idempotent-Replayed: true``) and creates nothing; a repeat with other parameters or on
another endpoint answers 400 ``idempotency_error``; a repeat while the first is still
running answers 409 (the SDK retries 409 by itself). As on Stripe, results are stored once an
endpoint starts executing, errors included (for example ``balance_insufficient`` or a failure
armed with ``/_test/fail_next``), but not when parameters fail validation.

Deliberately like Stripe, so the app meets the same rules in tests:
- transfers need the destination's ``transfers`` capability to be requested and active
  (``POST /_test/accounts/{id}/enable_payouts`` activates the requested capabilities);
- connected accounts can only be created in SUPPORTED_COUNTRIES (US, GB, CA, CH and the EEA
  by default, which is where self-serve cross-border payouts reach; ``--countries`` changes it);
- transfers move money from the platform balance (default: plenty in every currency, see
  ``/_test/set_balance``) to the connected account's balance; payouts made with the
  ``Stripe-Account`` header take it from there and need ``payouts_enabled``.

Test controls (not in Stripe), all under ``/_test/``; no auth needed, parameters as form or
JSON body or query string:

    GET  /_test/health                       {"object": "health", "ok": true}
    POST /_test/reset                        forget everything (accounts, transfers, keys, log)
    GET  /_test/state                        dump of the whole state
    GET  /_test/requests                     log of /v1 requests (?method=POST&path=/v1/transfers)
    POST /_test/accounts/{id}/enable_payouts payouts/charges enabled, details submitted,
                                             requested capabilities active, account.updated
    POST /_test/accounts/{id}/disable_payouts payouts_enabled false (disabled_reason=...)
    POST /_test/fail_next_transfer           next executing POST /v1/transfers fails; optional
                                             status (400), type, code (balance_insufficient),
                                             message, decline_code, count (1), store (true)
    POST /_test/fail_next                    same, for any operation=... (see OPERATIONS)
    POST /_test/drop_next_response           the next executing operation (default
                                             transfers.create) runs, its result is stored under
                                             its idempotency key, then the connection is
                                             closed without an answer
    POST /_test/delay_next                   operation=..., seconds=...: hold the next one
                                             in flight (to provoke concurrent duplicates)
    POST /_test/set_balance                  amount, currency, account (omit for the platform)
    POST /_test/payouts/{id}/paid            payout.paid
    POST /_test/payouts/{id}/failed          failure_code, failure_message; payout.failed
    GET  /_test/onboarding/{token}           where account links point: completes onboarding
                                             (?action=abandon does not) and redirects to the
                                             return_url; used or expired links redirect to
                                             refresh_url
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import re
import secrets
import signal
import string
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_API_VERSION = "2025-01-27.acacia"
PLATFORM_ACCOUNT_ID = "acct_1TestPlatform0001"
DEFAULT_PLATFORM_BALANCE = 10_000_000_000  # minor units, per currency, until set_balance
ACCOUNT_LINK_TTL = 300
IDEMPOTENCY_KEY_MAX = 255
MAX_BODY = 1_000_000

EEA = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IS",
        "IE",
        "IT",
        "LV",
        "LI",
        "LT",
        "LU",
        "MT",
        "NL",
        "NO",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    }
)
SUPPORTED_COUNTRIES = frozenset({"US", "GB", "CA", "CH", *EEA})
COUNTRY_CURRENCY = {
    "US": "usd", "GB": "gbp", "CA": "cad", "CH": "chf", "LI": "chf", "BG": "bgn", "CZ": "czk",
    "DK": "dkk", "HU": "huf", "IS": "isk", "NO": "nok", "PL": "pln", "RO": "ron", "SE": "sek",
}  # fmt: skip
PAYOUT_REQUIREMENTS = [
    "business_profile.url",
    "business_type",
    "external_account",
    "individual.dob.day",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]

# Write operations that the /_test/fail_next, drop_next_response and delay_next controls accept.
OPERATIONS = (
    "accounts.create",
    "accounts.update",
    "accounts.delete",
    "account_links.create",
    "transfers.create",
    "transfers.update",
    "transfer_reversals.create",
    "payouts.create",
    "payouts.cancel",
)

_ALNUM = string.ascii_letters + string.digits
_ID = r"(?P<id>[^/]+)"

ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(f"^{pattern}$"), operation)
    for method, pattern, operation in [
        ("POST", "/v1/accounts", "accounts.create"),
        ("GET", "/v1/accounts", "accounts.list"),
        ("GET", f"/v1/accounts/{_ID}", "accounts.retrieve"),
        ("POST", f"/v1/accounts/{_ID}", "accounts.update"),
        ("DELETE", f"/v1/accounts/{_ID}", "accounts.delete"),
        ("GET", "/v1/account", "account.retrieve"),
        ("POST", "/v1/account_links", "account_links.create"),
        ("POST", "/v1/transfers", "transfers.create"),
        ("GET", "/v1/transfers", "transfers.list"),
        ("GET", f"/v1/transfers/{_ID}", "transfers.retrieve"),
        ("POST", f"/v1/transfers/{_ID}", "transfers.update"),
        ("POST", f"/v1/transfers/{_ID}/reversals", "transfer_reversals.create"),
        ("GET", f"/v1/transfers/{_ID}/reversals", "transfer_reversals.list"),
        ("GET", f"/v1/transfers/{_ID}/reversals/(?P<sub>[^/]+)", "transfer_reversals.retrieve"),
        ("GET", "/v1/balance", "balance.retrieve"),
        ("POST", "/v1/payouts", "payouts.create"),
        ("GET", "/v1/payouts", "payouts.list"),
        ("GET", f"/v1/payouts/{_ID}", "payouts.retrieve"),
        ("POST", f"/v1/payouts/{_ID}/cancel", "payouts.cancel"),
        ("GET", "/v1/events", "events.list"),
        ("GET", f"/v1/events/{_ID}", "events.retrieve"),
    ]
]


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def _now() -> int:
    return int(time.time())


class StripeError(Exception):
    """An error answered in Stripe's format. ``stored``: kept under the idempotency key."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        stored: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.stored = stored

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        for name in ("code", "param", "decline_code"):
            if getattr(self, name) is not None:
                error[name] = getattr(self, name)
        if self.code:
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        return {"error": error}


def _missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def _no_such(kind: str, ident: str, *, status: int = 404, param: str | None = None) -> StripeError:
    return StripeError(status, f"No such {kind}: '{ident}'", code="resource_missing", param=param)


# ---------------------------------------------------------------------------------------------
# Form decoding and parameter checks


_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART_RE = re.compile(r"\[([^\[\]]*)\]")


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Decode Stripe's form encoding: ``a[b][c]=v`` nests, ``a[0]=x`` / ``a[]=x`` make lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY_RE.match(key)
        if not match:
            raise StripeError(400, f"Invalid parameter name: {key}", param=key)
        parts = [match.group(1), *_PART_RE.findall(match.group(2))]
        node = root
        for i, part in enumerate(parts):
            name = part if part != "" else str(len(node))
            if i == len(parts) - 1:
                if isinstance(node.get(name), dict):
                    raise StripeError(400, f"Invalid hash: {key}", param=parts[0])
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise StripeError(400, f"Invalid hash: {key}", param=parts[0])
                node = child
    return _listify(root)


def _listify(node: Any, parent: str | None = None) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v, k) for k, v in node.items()}
    if parent != "metadata" and items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _check_allowed(params: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = {*allowed, "expand"}
    for key in params:
        if key not in allowed:
            raise StripeError(
                400, f"Received unknown parameter: {key}", code="parameter_unknown", param=key
            )


def _str(params: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise _missing(name)
        return None
    if not isinstance(value, str):
        raise StripeError(
            400, f"Invalid string: {name}", code="parameter_invalid_string", param=name
        )
    return value


def _int(
    params: Mapping[str, Any], name: str, *, required: bool = False, minimum: int | None = None
) -> int | None:
    raw = _str(params, name, required=required)
    if raw is None:
        return None
    if not re.fullmatch(r"-?\d+", raw):
        raise StripeError(
            400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name
        )
    value = int(raw)
    if minimum is not None and value < minimum:
        raise StripeError(
            400,
            f"This value must be greater than or equal to {minimum}.",
            code="parameter_invalid_integer",
            param=name,
        )
    return value


def _bool(params: Mapping[str, Any], name: str) -> bool | None:
    raw = _str(params, name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise StripeError(
            400, f"Invalid boolean: {raw}", code="parameter_invalid_boolean", param=name
        )
    return raw == "true"


def _currency(params: Mapping[str, Any], *, required: bool = True) -> str | None:
    raw = _str(params, "currency", required=required)
    if raw is None:
        return None
    if not re.fullmatch(r"[A-Za-z]{3}", raw):
        raise StripeError(
            400, f"Invalid currency: {raw.lower()}", code="parameter_invalid", param="currency"
        )
    return raw.lower()


def _url(params: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    raw = _str(params, name, required=required)
    if raw is not None and not re.match(r"^https?://[^\s/]+", raw):
        raise StripeError(400, "Not a valid URL", code="url_invalid", param=name)
    return raw


def _dict(params: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise StripeError(400, f"Invalid object: {name}", code="parameter_invalid", param=name)
    return value


def _metadata(
    params: Mapping[str, Any], current: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Stripe's metadata rules: merge into ``current``; "" unsets a key (or all of it)."""
    result = dict(current or {})
    if "metadata" not in params:
        return result
    raw = params["metadata"]
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise StripeError(
            400, "Invalid object: metadata", code="parameter_invalid", param="metadata"
        )
    for key, value in raw.items():
        if not isinstance(value, str):
            raise StripeError(
                400, f"Invalid metadata value for key {key}", param=f"metadata[{key}]"
            )
        if len(key) > 40:
            raise StripeError(
                400, "Metadata keys can have at most 40 characters.", param=f"metadata[{key}]"
            )
        if len(value) > 500:
            raise StripeError(
                400, "Metadata values can have at most 500 characters.", param=f"metadata[{key}]"
            )
        if value == "":
            result.pop(key, None)
        else:
            result[key] = value
    if len(result) > 50:
        raise StripeError(400, "You can have at most 50 metadata keys.", param="metadata")
    return result


# ---------------------------------------------------------------------------------------------
# State and API


@dataclass
class _Stored:
    fingerprint: str
    status: int
    body: bytes
    request_id: str


@dataclass
class _Request:
    method: str
    path: str
    operation: str
    params: dict[str, Any]
    path_args: dict[str, str]
    api_key: str
    account: str | None
    base_url: str
    request_id: str
    idempotency_key: str | None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def _json_response(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(obj, indent=2).encode()
    return Response(status, body, {"Content-Type": "application/json", **(headers or {})})


def _list_object(
    items: list[dict[str, Any]], params: Mapping[str, Any], url: str
) -> dict[str, Any]:
    """A Stripe list page over ``items`` (newest first), honouring limit/starting_after/..."""
    limit = _int(params, "limit", minimum=1)
    limit = 10 if limit is None else limit
    if limit > 100:
        raise StripeError(
            400,
            "This value must be less than or equal to 100.",
            code="parameter_invalid_integer",
            param="limit",
        )
    ids = [item["id"] for item in items]
    after, before = _str(params, "starting_after"), _str(params, "ending_before")
    if after is not None:
        if after not in ids:
            raise _no_such("object", after, status=400, param="starting_after")
        window = items[ids.index(after) + 1 :]
        page, has_more = window[:limit], len(window) > limit
    elif before is not None:
        if before not in ids:
            raise _no_such("object", before, status=400, param="ending_before")
        window = items[: ids.index(before)]
        page, has_more = window[-limit:], len(window) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": copy.deepcopy(page), "has_more": has_more, "url": url}


class StripeApp:
    """The server's logic, independent of HTTP. Thread-safe: one lock guards all state."""

    def __init__(self, supported_countries: Iterable[str] = SUPPORTED_COUNTRIES) -> None:
        self.lock = threading.RLock()
        self.supported_countries = frozenset(c.upper() for c in supported_countries)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.accounts: dict[str, dict[str, Any]] = {}
            self.account_links: dict[str, dict[str, Any]] = {}
            self.transfers: dict[str, dict[str, Any]] = {}
            self.reversals: dict[str, dict[str, Any]] = {}
            self.payouts: dict[str, dict[str, Any]] = {}
            self.payout_accounts: dict[str, str | None] = {}
            self.events: dict[str, dict[str, Any]] = {}
            self.balances: dict[str | None, dict[str, int]] = {}
            self.idempotency: dict[tuple[str, str, str], _Stored] = {}
            self.in_flight: set[tuple[str, str, str]] = set()
            self.failures: dict[str, list[dict[str, Any]]] = {}
            self.drops: dict[str, int] = {}
            self.delays: dict[str, list[float]] = {}
            self.requests: list[dict[str, Any]] = []

    # -- HTTP entry point ---------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes, base_url: str
    ) -> Response:
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        request_id = new_id("req_", 14)
        version = headers.get("Stripe-Version") or DEFAULT_API_VERSION
        common = {"Request-Id": request_id, "Stripe-Version": version}
        try:
            if path.startswith("/_test/"):
                response = self._handle_test(method, path, split.query, headers, body)
            else:
                response = self._handle_api(
                    method, path, split.query, headers, body, base_url, request_id
                )
        except StripeError as exc:
            response = _json_response(exc.status, exc.body())
        except Exception as exc:  # a bug in this server: answer like Stripe's 500
            traceback.print_exc()
            response = _json_response(
                500, StripeError(500, f"Test server error: {exc!r}", type_="api_error").body()
            )
        response.headers = {**common, **response.headers}
        return response

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        auth = headers.get("Authorization") or ""
        key = ""
        if auth.startswith("Bearer "):
            key = auth[len("Bearer ") :].strip()
        elif auth.startswith("Basic "):
            try:
                key = base64.b64decode(auth[len("Basic ") :]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API "
                "key in the Authorization header, using Bearer auth (e.g. "
                "'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if not key.startswith("sk_test_") or len(key) <= len("sk_test_"):
            shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key
            raise StripeError(401, f"Invalid API Key provided: {shown}", code="api_key_invalid")
        return key

    def _handle_api(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        base_url: str,
        request_id: str,
    ) -> Response:
        entry: dict[str, Any] = {
            "id": request_id, "method": method, "path": path, "query": query,
            "idempotency_key": headers.get("Idempotency-Key") if method == "POST" else None,
            "stripe_account": headers.get("Stripe-Account"), "status": None,
            "replayed": False, "dropped": False, "created": time.time(),
        }  # fmt: skip
        with self.lock:
            self.requests.append(entry)
        try:
            response = self._api(method, path, query, headers, body, base_url, request_id, entry)
        except StripeError as exc:
            response = _json_response(exc.status, exc.body())
        with self.lock:
            entry["status"] = None if response.drop else response.status
            entry["dropped"] = response.drop
        return response

    def _api(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        base_url: str,
        request_id: str,
        entry: dict[str, Any],
    ) -> Response:
        api_key = self._authenticate(headers)
        for route_method, pattern, route_operation in ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                operation = route_operation
                break
        else:
            raise StripeError(
                404,
                f"Unrecognized request URL ({method}: {path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            )
        pairs = parse_qsl(query, keep_blank_values=True)
        if method == "POST":
            content_type = headers.get("Content-Type") or ""
            if body and not content_type.startswith("application/x-www-form-urlencoded"):
                raise StripeError(
                    400,
                    "Invalid request: the v1 API takes form-encoded bodies "
                    f"(Content-Type was {content_type!r}).",
                )
            pairs += parse_qsl(body.decode(), keep_blank_values=True)
        params = parse_form(pairs)
        entry["operation"] = operation
        entry["params"] = params
        account = headers.get("Stripe-Account") or None
        key = headers.get("Idempotency-Key") if method == "POST" else None
        request = _Request(
            method,
            path,
            operation,
            params,
            {k: unquote(v) for k, v in match.groupdict().items()},
            api_key,
            account,
            base_url,
            request_id,
            key,
        )
        handler: Callable[[_Request], Any] = getattr(self, "op_" + operation.replace(".", "_"))
        if key is None:
            return self._execute(handler, request, None, "")
        if len(key) > IDEMPOTENCY_KEY_MAX:
            raise StripeError(
                400,
                f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX} characters long.",
                param="Idempotency-Key",
            )
        scope = (api_key, account or "", key)
        fingerprint = json.dumps([method, path, params], sort_keys=True)
        with self.lock:
            stored = self.idempotency.get(scope)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                        type_="idempotency_error",
                    )
                entry["replayed"] = True
                return Response(
                    stored.status,
                    stored.body,
                    {
                        "Content-Type": "application/json",
                        "Idempotency-Key": key,
                        "Idempotent-Replayed": "true",
                        "Original-Request": stored.request_id,
                    },
                )
            if scope in self.in_flight:
                raise StripeError(
                    409,
                    "There is currently another in-progress request using this "
                    f"Idempotent Key (that probably means you submitted twice, and "
                    f"the other request is still going through): {key}. Please try "
                    "again later.",
                    type_="idempotency_error",
                    code="idempotency_key_in_use",
                )
            self.in_flight.add(scope)
            delays = self.delays.get(operation)
            delay = delays.pop(0) if delays else 0.0
        try:
            if delay:
                time.sleep(delay)
            return self._execute(handler, request, scope, fingerprint)
        finally:
            with self.lock:
                self.in_flight.discard(scope)

    def _execute(
        self,
        handler: Callable[[_Request], Any],
        request: _Request,
        scope: tuple[str, str, str] | None,
        fingerprint: str,
    ) -> Response:
        with self.lock:
            try:
                response = _json_response(200, handler(request))
                store = request.method != "GET"
            except StripeError as exc:
                response = _json_response(exc.status, exc.body())
                store = exc.stored
            if request.idempotency_key:
                response.headers["Idempotency-Key"] = request.idempotency_key
            if store and scope is not None:
                self.idempotency[scope] = _Stored(
                    fingerprint, response.status, response.body, request.request_id
                )
            if store and self.drops.get(request.operation):
                self.drops[request.operation] -= 1
                response.drop = True
            return response

    def _maybe_fail(self, operation: str) -> None:
        queue = self.failures.get(operation)
        if not queue:
            return
        spec = queue.pop(0)
        raise StripeError(
            spec["status"],
            spec["message"],
            type_=spec["type"],
            code=spec["code"],
            decline_code=spec.get("decline_code"),
            stored=spec["store"],
        )

    # -- events and balances ------------------------------------------------------------------

    def _emit(
        self,
        type_: str,
        obj: Mapping[str, Any],
        request: _Request | None = None,
        account: str | None = None,
        previous: Mapping[str, Any] | None = None,
    ) -> None:
        data: dict[str, Any] = {"object": copy.deepcopy(dict(obj))}
        if previous:
            data["previous_attributes"] = copy.deepcopy(dict(previous))
        event = {
            "id": new_id("evt_"), "object": "event", "api_version": DEFAULT_API_VERSION,
            "created": _now(), "data": data, "livemode": False, "pending_webhooks": 0,
            "request": {"id": request.request_id if request else None,
                        "idempotency_key": request.idempotency_key if request else None},
            "type": type_,
        }  # fmt: skip
        if account:
            event["account"] = account
        self.events[event["id"]] = event

    def _balance(self, account: str | None) -> dict[str, int]:
        return self.balances.setdefault(account, {})

    def _available(self, account: str | None, currency: str) -> int:
        balance = self._balance(account)
        if account is None and currency not in balance:
            balance[currency] = DEFAULT_PLATFORM_BALANCE
        return balance.get(currency, 0)

    def _move(self, account: str | None, currency: str, amount: int) -> None:
        self._available(account, currency)
        balance = self._balance(account)
        balance[currency] = balance.get(currency, 0) + amount

    # -- accounts -----------------------------------------------------------------------------

    def _account(
        self, ident: str, *, status: int = 404, param: str | None = None
    ) -> dict[str, Any]:
        account = self.accounts.get(ident)
        if account is None:
            raise _no_such("account", ident, status=status, param=param)
        return account

    def _scoped_account(self, request: _Request) -> str | None:
        if request.account is None or request.account == PLATFORM_ACCOUNT_ID:
            return None
        if request.account not in self.accounts:
            raise StripeError(
                403,
                f"The provided key '{request.api_key[:8]}***' does not have "
                f"access to account '{request.account}' (or that account does not "
                "exist). Application access may have been revoked.",
                code="account_invalid",
            )
        return request.account

    _ACCOUNT_UPDATABLE = (
        "business_profile",
        "business_type",
        "capabilities",
        "company",
        "default_currency",
        "email",
        "external_account",
        "individual",
        "metadata",
        "settings",
        "tos_acceptance",
    )

    def _apply_account_params(self, account: dict[str, Any], params: Mapping[str, Any]) -> None:
        email = _str(params, "email")
        if email is not None:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                raise StripeError(
                    400, f"Invalid email address: {email}", code="email_invalid", param="email"
                )
            account["email"] = email
        business_type = _str(params, "business_type")
        if business_type is not None:
            if business_type not in ("individual", "company", "non_profit", "government_entity"):
                raise StripeError(
                    400, f"Invalid business_type: {business_type}", param="business_type"
                )
            account["business_type"] = business_type
        currency = _str(params, "default_currency")
        if currency is not None:
            account["default_currency"] = currency.lower()
        for name in ("business_profile", "settings", "tos_acceptance", "individual", "company"):
            value = _dict(params, name)
            if value is not None:
                account.setdefault(name, {}).update(value)
        capabilities = _dict(params, "capabilities") or {}
        for name, spec in capabilities.items():
            requested = _bool(spec, "requested") if isinstance(spec, dict) else None
            if requested is None:
                raise StripeError(
                    400,
                    f"Invalid capabilities[{name}]: requested is required",
                    param=f"capabilities[{name}][requested]",
                )
            if requested:
                status = "active" if account["payouts_enabled"] else "inactive"
                account["capabilities"].setdefault(name, status)
            else:
                account["capabilities"].pop(name, None)
        account["metadata"] = _metadata(params, account["metadata"])

    def op_accounts_create(self, request: _Request) -> dict[str, Any]:
        params = request.params
        _check_allowed(params, ("type", "country", "controller", *self._ACCOUNT_UPDATABLE))
        account_type = _str(params, "type")
        if account_type is None:
            if _dict(params, "controller") is None:
                raise _missing("type")
            account_type = "express"
        if account_type not in ("express", "standard", "custom"):
            raise StripeError(
                400,
                f"Invalid type: must be one of express, standard, or custom (got {account_type!r})",
                param="type",
            )
        country = (_str(params, "country") or "US").upper()
        if country not in self.supported_countries:
            raise StripeError(
                400,
                f"Connected accounts cannot be created in {country} by this "
                "platform (self-serve cross-border payouts reach the US, UK, EEA, "
                "Canada and Switzerland).",
                code="country_unsupported",
                param="country",
            )
        ident = new_id("acct_1", 15)
        account: dict[str, Any] = {
            "id": ident, "object": "account",
            "business_profile": {"mcc": None, "name": None, "product_description": None,
                                 "support_email": None, "url": None},
            "business_type": None, "capabilities": {}, "charges_enabled": False,
            "country": country, "created": _now(),
            "default_currency": COUNTRY_CURRENCY.get(country, "eur"),
            "details_submitted": False, "email": None,
            "external_accounts": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                                  "url": f"/v1/accounts/{ident}/external_accounts"},
            "metadata": {}, "payouts_enabled": False,
            "requirements": {"alternatives": [], "current_deadline": None,
                             "currently_due": list(PAYOUT_REQUIREMENTS),
                             "disabled_reason": "requirements.past_due", "errors": [],
                             "eventually_due": list(PAYOUT_REQUIREMENTS),
                             "past_due": list(PAYOUT_REQUIREMENTS), "pending_verification": []},
            "settings": {"payouts": {"debit_negative_balances": True,
                                     "schedule": {"delay_days": 2, "interval": "daily"},
                                     "statement_descriptor": None}},
            "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
            "type": account_type,
        }  # fmt: skip
        self._apply_account_params(account, params)
        self.accounts[ident] = account
        self._balance(ident)
        return copy.deepcopy(account)

    def op_accounts_list(self, request: _Request) -> dict[str, Any]:
        _check_allowed(request.params, ("limit", "starting_after", "ending_before", "created"))
        return _list_object(list(reversed(self.accounts.values())), request.params, "/v1/accounts")

    def op_accounts_retrieve(self, request: _Request) -> dict[str, Any]:
        return copy.deepcopy(self._account(request.path_args["id"]))

    def op_account_retrieve(self, request: _Request) -> dict[str, Any]:
        scoped = self._scoped_account(request)
        if scoped is not None:
            return copy.deepcopy(self.accounts[scoped])
        return {
            "id": PLATFORM_ACCOUNT_ID,
            "object": "account",
            "business_type": "company",
            "charges_enabled": True,
            "country": "US",
            "default_currency": "usd",
            "details_submitted": True,
            "email": "platform@example.com",
            "metadata": {},
            "payouts_enabled": True,
            "type": "standard",
        }

    def op_accounts_update(self, request: _Request) -> dict[str, Any]:
        account = self._account(request.path_args["id"])
        _check_allowed(request.params, self._ACCOUNT_UPDATABLE)
        before = copy.deepcopy(account)
        self._apply_account_params(account, request.params)
        previous = {k: v for k, v in before.items() if account.get(k) != v}
        if previous:
            self._emit("account.updated", account, request, account["id"], previous)
        return copy.deepcopy(account)

    def op_accounts_delete(self, request: _Request) -> dict[str, Any]:
        account = self._account(request.path_args["id"])
        del self.accounts[account["id"]]
        return {"id": account["id"], "object": "account", "deleted": True}

    def set_payouts_enabled(
        self,
        ident: str,
        enabled: bool,
        disabled_reason: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            account = self._account(ident)
            before = copy.deepcopy(account)
            account["payouts_enabled"] = enabled
            account["charges_enabled"] = enabled
            requirements = account["requirements"]
            if enabled:
                account["details_submitted"] = True
                account["tos_acceptance"]["date"] = account["tos_acceptance"]["date"] or _now()
                account["capabilities"] = dict.fromkeys(account["capabilities"], "active")
                for name in ("currently_due", "eventually_due", "past_due"):
                    requirements[name] = []
                requirements["disabled_reason"] = None
                if not account["external_accounts"]["data"]:
                    account["external_accounts"]["data"].append(
                        {
                            "id": new_id("ba_"),
                            "object": "bank_account",
                            "account": ident,
                            "bank_name": "STRIPE TEST BANK",
                            "country": account["country"],
                            "currency": account["default_currency"],
                            "default_for_currency": True,
                            "last4": "6789",
                            "status": "new",
                        }
                    )
                    account["external_accounts"]["total_count"] = 1
            else:
                account["capabilities"] = dict.fromkeys(account["capabilities"], "inactive")
                requirements["currently_due"] = ["external_account"]
                requirements["past_due"] = ["external_account"]
                requirements["disabled_reason"] = disabled_reason or "requirements.past_due"
            previous = {k: v for k, v in before.items() if account.get(k) != v}
            if previous:
                self._emit("account.updated", account, None, ident, previous)
            return copy.deepcopy(account)

    # -- account links ------------------------------------------------------------------------

    def op_account_links_create(self, request: _Request) -> dict[str, Any]:
        params = request.params
        _check_allowed(
            params,
            ("account", "refresh_url", "return_url", "type", "collect", "collection_options"),
        )
        ident = _str(params, "account", required=True)
        link_type = _str(params, "type", required=True)
        if link_type not in ("account_onboarding", "account_update"):
            raise StripeError(400, f"Invalid type: {link_type}", param="type")
        refresh_url = _url(params, "refresh_url", required=True)
        return_url = _url(params, "return_url", required=True)
        account = self._account(ident or "", status=400, param="account")
        if link_type == "account_update" and account["type"] != "custom":
            raise StripeError(
                400,
                "You cannot create `account_update` type Account Links for "
                f"{account['type']} accounts.",
                param="type",
            )
        token = secrets.token_urlsafe(18)
        created = _now()
        self.account_links[token] = {
            "account": ident,
            "refresh_url": refresh_url,
            "return_url": return_url,
            "expires_at": created + ACCOUNT_LINK_TTL,
            "used": False,
            "type": link_type,
        }
        return {
            "object": "account_link",
            "created": created,
            "expires_at": created + ACCOUNT_LINK_TTL,
            "url": f"{request.base_url}/_test/onboarding/{token}",
        }

    # -- transfers ----------------------------------------------------------------------------

    def _transfer(self, ident: str) -> dict[str, Any]:
        transfer = self.transfers.get(ident)
        if transfer is None:
            raise _no_such("transfer", ident)
        return transfer

    def _render_transfer(self, transfer: Mapping[str, Any]) -> dict[str, Any]:
        rendered = copy.deepcopy(dict(transfer))
        reversals = [
            r for r in reversed(self.reversals.values()) if r["transfer"] == rendered["id"]
        ]
        rendered["reversals"] = {
            "object": "list",
            "data": copy.deepcopy(reversals[:10]),
            "has_more": len(reversals) > 10,
            "total_count": len(reversals),
            "url": f"/v1/transfers/{rendered['id']}/reversals",
        }
        return rendered

    def op_transfers_create(self, request: _Request) -> dict[str, Any]:
        params = request.params
        _check_allowed(
            params,
            (
                "amount",
                "currency",
                "destination",
                "description",
                "metadata",
                "source_transaction",
                "source_type",
                "transfer_group",
            ),
        )
        amount = _int(params, "amount", required=True, minimum=1)
        currency = _currency(params)
        destination = _str(params, "destination", required=True) or ""
        account = self.accounts.get(destination)
        if account is None:
            raise _no_such("destination", destination, status=400, param="destination")
        if account["capabilities"].get("transfers") != "active":
            raise StripeError(
                400,
                "Your destination account needs to have at least one of the "
                "following capabilities enabled: transfers, crypto_transfers, "
                "legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
            )
        metadata = _metadata(params)
        assert amount is not None and currency is not None
        # Validation passed: the endpoint "executes" from here on (results are stored).
        self._maybe_fail(request.operation)
        if self._available(None, currency) < amount:
            raise StripeError(
                400,
                "You have insufficient available funds in your Stripe account. "
                "Try adding funds directly to your available balance by creating "
                "Charges using the 4000000000000077 test card. See: "
                "https://stripe.com/docs/testing#available-balance",
                code="balance_insufficient",
                stored=True,
            )
        self._move(None, currency, -amount)
        self._move(destination, currency, amount)
        transfer = {
            "id": new_id("tr_"), "object": "transfer", "amount": amount, "amount_reversed": 0,
            "balance_transaction": new_id("txn_"), "created": _now(), "currency": currency,
            "description": _str(params, "description"), "destination": destination,
            "destination_payment": new_id("py_"), "livemode": False, "metadata": metadata,
            "reversed": False, "source_transaction": _str(params, "source_transaction"),
            "source_type": _str(params, "source_type") or "card",
            "transfer_group": _str(params, "transfer_group"),
        }  # fmt: skip
        self.transfers[transfer["id"]] = transfer
        rendered = self._render_transfer(transfer)
        self._emit("transfer.created", rendered, request)
        return rendered

    def op_transfers_list(self, request: _Request) -> dict[str, Any]:
        params = request.params
        _check_allowed(
            params,
            (
                "limit",
                "starting_after",
                "ending_before",
                "created",
                "destination",
                "transfer_group",
            ),
        )
        destination, group = _str(params, "destination"), _str(params, "transfer_group")
        items = [
            self._render_transfer(t)
            for t in reversed(self.transfers.values())
            if (destination is None or t["destination"] == destination)
            and (group is None or t["transfer_group"] == group)
        ]
        return _list_object(items, params, "/v1/transfers")

    def op_transfers_retrieve(self, request: _Request) -> dict[str, Any]:
        return self._render_transfer(self._transfer(request.path_args["id"]))

    def op_transfers_update(self, request: _Request) -> dict[str, Any]:
        transfer = self._transfer(request.path_args["id"])
        _check_allowed(request.params, ("description", "metadata"))
        description = _str(request.params, "description")
        if description is not None:
            transfer["description"] = description
        transfer["metadata"] = _metadata(request.params, transfer["metadata"])
        return self._render_transfer(transfer)

    def op_transfer_reversals_create(self, request: _Request) -> dict[str, Any]:
        transfer = self._transfer(request.path_args["id"])
        params = request.params
        _check_allowed(params, ("amount", "description", "metadata", "refund_application_fee"))
        remaining = transfer["amount"] - transfer["amount_reversed"]
        amount = _int(params, "amount", minimum=1)
        if remaining <= 0:
            raise StripeError(
                400,
                f"Transfer {transfer['id']} is already fully reversed.",
                code="transfer_already_reversed",
            )
        if amount is None:
            amount = remaining
        if amount > remaining:
            raise StripeError(
                400,
                f"Reversal amount ({amount}) is greater than the amount left "
                f"to reverse on transfer {transfer['id']} ({remaining}).",
                code="amount_too_large",
                param="amount",
            )
        metadata = _metadata(params)
        self._maybe_fail(request.operation)
        self._move(transfer["destination"], transfer["currency"], -amount)
        self._move(None, transfer["currency"], amount)
        reversal = {
            "id": new_id("trr_"), "object": "transfer_reversal", "amount": amount,
            "balance_transaction": new_id("txn_"), "created": _now(),
            "currency": transfer["currency"], "destination_payment_refund": new_id("pyr_"),
            "metadata": metadata, "source_refund": None, "transfer": transfer["id"],
        }  # fmt: skip
        self.reversals[reversal["id"]] = reversal
        before = {"amount_reversed": transfer["amount_reversed"], "reversed": transfer["reversed"]}
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
        self._emit("transfer.reversed", self._render_transfer(transfer), request, previous=before)
        return copy.deepcopy(reversal)

    def op_transfer_reversals_list(self, request: _Request) -> dict[str, Any]:
        transfer = self._transfer(request.path_args["id"])
        _check_allowed(request.params, ("limit", "starting_after", "ending_before"))
        items = [r for r in reversed(self.reversals.values()) if r["transfer"] == transfer["id"]]
        return _list_object(items, request.params, f"/v1/transfers/{transfer['id']}/reversals")

    def op_transfer_reversals_retrieve(self, request: _Request) -> dict[str, Any]:
        transfer = self._transfer(request.path_args["id"])
        reversal = self.reversals.get(request.path_args["sub"])
        if reversal is None or reversal["transfer"] != transfer["id"]:
            raise _no_such("transfer reversal", request.path_args["sub"])
        return copy.deepcopy(reversal)

    # -- balance and payouts ------------------------------------------------------------------

    def op_balance_retrieve(self, request: _Request) -> dict[str, Any]:
        _check_allowed(request.params, ())
        account = self._scoped_account(request)
        if account is None:
            self._available(None, "usd")
        else:
            self._available(account, self.accounts[account]["default_currency"])
        balance = self._balance(account)
        return {
            "object": "balance",
            "available": [
                {"amount": amount, "currency": currency, "source_types": {"card": amount}}
                for currency, amount in sorted(balance.items())
            ],
            "connect_reserved": [{"amount": 0, "currency": c} for c in sorted(balance)],
            "livemode": False,
            "pending": [
                {"amount": 0, "currency": currency, "source_types": {"card": 0}}
                for currency in sorted(balance)
            ],
        }

    def _payout(self, request: _Request) -> dict[str, Any]:
        account = self._scoped_account(request)
        ident = request.path_args["id"]
        payout = self.payouts.get(ident)
        if payout is None or self.payout_accounts[ident] != account:
            raise _no_such("payout", ident)
        return payout

    def op_payouts_create(self, request: _Request) -> dict[str, Any]:
        params = request.params
        _check_allowed(
            params,
            (
                "amount",
                "currency",
                "description",
                "destination",
                "metadata",
                "method",
                "source_type",
                "statement_descriptor",
            ),
        )
        account = self._scoped_account(request)
        amount = _int(params, "amount", required=True, minimum=1)
        currency = _currency(params)
        method = _str(params, "method") or "standard"
        if method not in ("standard", "instant"):
            raise StripeError(400, f"Invalid method: {method}", param="method")
        metadata = _metadata(params)
        assert amount is not None and currency is not None
        destination = _str(params, "destination")
        if account is not None:
            acct = self.accounts[account]
            if not acct["payouts_enabled"]:
                raise StripeError(
                    400,
                    "Payouts are not enabled for this account: requirements are past due.",
                    code="payouts_not_allowed",
                )
            destination = destination or acct["external_accounts"]["data"][0]["id"]
        self._maybe_fail(request.operation)
        if self._available(account, currency) < amount:
            raise StripeError(
                400,
                "You have insufficient funds in your Stripe account for this "
                "transfer. Your card balance is too low.",
                code="balance_insufficient",
                stored=True,
            )
        self._move(account, currency, -amount)
        created = _now()
        payout = {
            "id": new_id("po_"), "object": "payout", "amount": amount,
            "arrival_date": created + 2 * 86400, "automatic": False,
            "balance_transaction": new_id("txn_"), "created": created, "currency": currency,
            "description": _str(params, "description"),
            "destination": destination or "ba_platform0000000000000000",
            "failure_balance_transaction": None, "failure_code": None, "failure_message": None,
            "livemode": False, "metadata": metadata, "method": method,
            "source_type": _str(params, "source_type") or "card",
            "statement_descriptor": _str(params, "statement_descriptor"),
            "status": "pending", "type": "bank_account",
        }  # fmt: skip
        self.payouts[payout["id"]] = payout
        self.payout_accounts[payout["id"]] = account
        self._emit("payout.created", payout, request, account)
        return copy.deepcopy(payout)

    def op_payouts_list(self, request: _Request) -> dict[str, Any]:
        _check_allowed(
            request.params,
            (
                "limit",
                "starting_after",
                "ending_before",
                "status",
                "created",
                "arrival_date",
                "destination",
            ),
        )
        account = self._scoped_account(request)
        status = _str(request.params, "status")
        items = [
            p
            for p in reversed(self.payouts.values())
            if self.payout_accounts[p["id"]] == account
            and (status is None or p["status"] == status)
        ]
        return _list_object(items, request.params, "/v1/payouts")

    def op_payouts_retrieve(self, request: _Request) -> dict[str, Any]:
        return copy.deepcopy(self._payout(request))

    def op_payouts_cancel(self, request: _Request) -> dict[str, Any]:
        payout = self._payout(request)
        _check_allowed(request.params, ())
        if payout["status"] != "pending":
            raise StripeError(
                400,
                f"Payouts can only be canceled while pending (this one is {payout['status']}).",
                code="payout_not_cancelable",
            )
        self._maybe_fail(request.operation)
        account = self.payout_accounts[payout["id"]]
        self._move(account, payout["currency"], payout["amount"])
        payout["status"] = "canceled"
        self._emit("payout.canceled", payout, request, account, {"status": "pending"})
        return copy.deepcopy(payout)

    def settle_payout(
        self,
        ident: str,
        paid: bool,
        failure_code: str | None = None,
        failure_message: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            payout = self.payouts.get(ident)
            if payout is None:
                raise _no_such("payout", ident)
            if payout["status"] not in ("pending", "in_transit"):
                raise StripeError(400, f"Payout {ident} is already {payout['status']}.")
            account = self.payout_accounts[ident]
            before = {"status": payout["status"]}
            if paid:
                payout["status"] = "paid"
            else:
                payout["status"] = "failed"
                payout["failure_code"] = failure_code or "account_closed"
                payout["failure_message"] = failure_message or "The bank account has been closed."
                payout["failure_balance_transaction"] = new_id("txn_")
                self._move(account, payout["currency"], payout["amount"])
            self._emit(f"payout.{payout['status']}", payout, None, account, before)
            return copy.deepcopy(payout)

    # -- events -------------------------------------------------------------------------------

    def op_events_list(self, request: _Request) -> dict[str, Any]:
        params = request.params
        _check_allowed(
            params,
            (
                "limit",
                "starting_after",
                "ending_before",
                "created",
                "type",
                "types",
                "delivery_success",
            ),
        )
        types = set(params.get("types") or [])
        if _str(params, "type"):
            types.add(params["type"])
        items = [e for e in reversed(self.events.values()) if not types or e["type"] in types]
        return _list_object(items, params, "/v1/events")

    def op_events_retrieve(self, request: _Request) -> dict[str, Any]:
        event = self.events.get(request.path_args["id"])
        if event is None:
            raise _no_such("event", request.path_args["id"])
        return copy.deepcopy(event)

    # -- test controls ------------------------------------------------------------------------

    def _handle_test(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        params: dict[str, Any] = parse_form(parse_qsl(query, keep_blank_values=True))
        if body:
            if (headers.get("Content-Type") or "").startswith("application/json"):
                params.update(json.loads(body))
            else:
                params.update(parse_form(parse_qsl(body.decode(), keep_blank_values=True)))
        params = {
            k: v if isinstance(v, (str, dict, list)) else json.dumps(v) for k, v in params.items()
        }  # JSON bodies: true/3 -> "true"/"3"
        parts = path.split("/")[2:]
        route = (method, *parts)
        if route == ("GET", "health"):
            return _json_response(200, {"object": "health", "ok": True})
        if route == ("POST", "reset"):
            self.reset()
            return _json_response(200, {"object": "test_control", "reset": True})
        if route == ("GET", "state"):
            return _json_response(200, self._dump())
        if route == ("GET", "requests"):
            with self.lock:
                data = [
                    copy.deepcopy(r)
                    for r in self.requests
                    if params.get("method", r["method"]) == r["method"]
                    and params.get("path", r["path"]) == r["path"]
                ]
            return _json_response(
                200, {"object": "list", "data": data, "has_more": False, "url": "/_test/requests"}
            )
        if method == "POST" and len(parts) == 3 and parts[0] == "accounts":
            if parts[2] == "enable_payouts":
                return _json_response(200, self.set_payouts_enabled(parts[1], True))
            if parts[2] == "disable_payouts":
                return _json_response(
                    200, self.set_payouts_enabled(parts[1], False, _str(params, "disabled_reason"))
                )
        if (
            method == "POST"
            and len(parts) == 3
            and parts[0] == "payouts"
            and parts[2] in ("paid", "failed")
        ):
            return _json_response(
                200,
                self.settle_payout(
                    parts[1],
                    parts[2] == "paid",
                    _str(params, "failure_code"),
                    _str(params, "failure_message"),
                ),
            )
        if route in (("POST", "fail_next_transfer"), ("POST", "fail_next")):
            operation = (
                "transfers.create"
                if parts[0] == "fail_next_transfer"
                else (self._operation(params, required=True))
            )
            spec = self._failure_spec(params)
            count = _int(params, "count", minimum=1) or 1
            with self.lock:
                self.failures.setdefault(operation, []).extend(dict(spec) for _ in range(count))
                armed = len(self.failures[operation])
            return _json_response(
                200,
                {"object": "test_control", "operation": operation, "failure": spec, "armed": armed},
            )
        if route == ("POST", "drop_next_response"):
            operation = self._operation(params)
            with self.lock:
                self.drops[operation] = self.drops.get(operation, 0) + 1
                armed = self.drops[operation]
            return _json_response(
                200, {"object": "test_control", "operation": operation, "armed": armed}
            )
        if route == ("POST", "delay_next"):
            operation = self._operation(params)
            seconds = float(_str(params, "seconds") or "1")
            with self.lock:
                self.delays.setdefault(operation, []).append(seconds)
            return _json_response(
                200, {"object": "test_control", "operation": operation, "seconds": seconds}
            )
        if route == ("POST", "set_balance"):
            account = _str(params, "account")
            amount = _int(params, "amount", required=True)
            currency = _currency(params)
            assert amount is not None and currency is not None
            with self.lock:
                if account is not None:
                    self._account(account)
                self._balance(account)[currency] = amount
            return _json_response(
                200,
                {
                    "object": "test_control",
                    "account": account,
                    "currency": currency,
                    "amount": amount,
                },
            )
        if method == "GET" and len(parts) == 2 and parts[0] == "onboarding":
            return self._onboarding(parts[1], _str(params, "action") or "complete")
        raise StripeError(404, f"Unrecognized test control ({method}: {path}).")

    def _operation(self, params: Mapping[str, Any], *, required: bool = False) -> str:
        operation = _str(params, "operation", required=required) or "transfers.create"
        if operation not in OPERATIONS:
            raise StripeError(
                400,
                f"Unknown operation {operation!r}; one of: " + ", ".join(OPERATIONS),
                param="operation",
            )
        return operation

    @staticmethod
    def _failure_spec(params: Mapping[str, Any]) -> dict[str, Any]:
        status = _int(params, "status") or 400
        type_ = _str(params, "type") or (
            "card_error"
            if status == 402
            else "api_error"
            if status >= 500
            else "invalid_request_error"
        )
        code = _str(params, "code") or (
            "card_declined" if status == 402 else "balance_insufficient"
        )
        message = _str(params, "message") or (
            "You have insufficient available funds in your Stripe account."
            if code == "balance_insufficient"
            else f"Simulated failure ({code})."
        )
        store = _bool(params, "store")
        return {
            "status": status,
            "type": type_,
            "code": code,
            "message": message,
            "decline_code": _str(params, "decline_code"),
            "store": True if store is None else store,
        }

    def _onboarding(self, token: str, action: str) -> Response:
        with self.lock:
            link = self.account_links.get(token)
            if link is None:
                return Response(
                    404, b"Unknown or expired account link.\n", {"Content-Type": "text/plain"}
                )
            if link["used"] or link["expires_at"] < _now():
                return Response(302, b"", {"Location": link["refresh_url"]})
            link["used"] = True
            if action == "complete":
                self.set_payouts_enabled(link["account"], True)
            return Response(302, b"", {"Location": link["return_url"]})

    def _dump(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(
                {
                    "accounts": self.accounts,
                    "transfers": self.transfers,
                    "reversals": self.reversals,
                    "payouts": self.payouts,
                    "events": self.events,
                    "balances": {k or "platform": v for k, v in self.balances.items()},
                    "idempotency_keys": [k[2] for k in self.idempotency],
                    "armed": {
                        "failures": self.failures,
                        "drops": self.drops,
                        "delays": self.delays,
                    },
                }
            )


# ---------------------------------------------------------------------------------------------
# HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stripe-test-server/1"
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every keep-alive request
    server: StripeTestServer

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        if self.headers.get("Transfer-Encoding"):
            self._send(
                Response(
                    411,
                    b'{"error": {"type": "invalid_request_error", "message": '
                    b'"Content-Length is required."}}',
                    {"Content-Type": "application/json"},
                )
            )
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._send(Response(413, b"", {}))
            return
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        response = self.server.app.handle(method, self.path, self.headers, body, f"http://{host}")
        if response.drop:
            # Simulate a crash after the work is done: no status line, connection closed.
            self.close_connection = True
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        # One write for headers and body (end_headers() would flush the headers on their own).
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(response.body)
        self.flush_headers()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class StripeTestServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], app: StripeApp | None = None, verbose: bool = False
    ) -> None:
        self.app = app or StripeApp()
        self.verbose = verbose
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_in_thread(host: str = "127.0.0.1", port: int = 0) -> StripeTestServer:
    """Start a server in a daemon thread.

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    server = StripeTestServer((host, port))
    thread = threading.Thread(target=server.serve_forever, name="stripe-test-server", daemon=True)
    thread.start()
    return server


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111, help="0 picks a free port")
    parser.add_argument("--countries", help="comma-separated ISO codes accounts may be created in")
    parser.add_argument(
        "--parent-pid", type=int, help="exit when this process (the one that started us) goes away"
    )
    parser.add_argument("--verbose", action="store_true", help="log each request on stderr")
    args = parser.parse_args(argv)
    countries = args.countries.split(",") if args.countries else SUPPORTED_COUNTRIES
    server = StripeTestServer((args.host, args.port), StripeApp(countries), args.verbose)
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()

    def _stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    print(f"ready {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
