"""The OpenAPI 3.1 description of the public API, built from the same pydantic models that
validate requests, so the document cannot drift from the code."""

from __future__ import annotations

from functools import cache
from typing import Any

from connect.conversions.schemas import OrderIn, RefundIn

REF = "#/components/schemas/{model}"


@cache
def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (OrderIn, RefundIn):
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    error = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A stable code (invalid, conflict, ...)."},
            "message": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }
    commission = {
        "type": ["object", "null"],
        "properties": {
            "amount": {"type": "integer", "description": "Net of reversals, minor units."},
            "currency": {"type": "string"},
            "status": {"type": "string"},
        },
    }
    order = {
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "status": {"type": "string", "enum": ["received", "attributed", "unattributed"]},
            "ordered_at": {"type": "string", "format": "date-time"},
            "currency": {"type": "string"},
            "total": {"type": "integer"},
            "attributed": {"type": "boolean"},
            "attributed_by": {
                "type": ["string", "null"],
                "enum": ["click", "promo_code", "visitor", None],
                "description": "Which rule attributed the order (see OrderIn.promo_code).",
            },
            "promo_code": {"type": ["string", "null"], "description": "As stored: normalised."},
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "line_no": {"type": "integer"},
                        "sku": {"type": "string"},
                        "quantity": {"type": "integer"},
                        "unit_price": {"type": "integer"},
                        "refunded_quantity": {"type": "integer"},
                        "commission": commission,
                    },
                },
            },
        },
    }
    schemas |= {"Error": error, "Order": order}
    return schemas


def _response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=schema)}}},
    }


ERRORS = {
    "400": _response("Not JSON.", "Error"),
    "401": _response("Missing or wrong key, bad signature, stale or future timestamp.", "Error"),
    "409": _response("Same id with another body, or an exact replay.", "Error"),
    "422": _response("The body breaks a rule; `errors` lists each field.", "Error"),
    "429": _response("Too many requests.", "Error"),
}
SIGNED = [{"brandKey": []}]
SIGNATURE_HEADERS = [
    {
        "name": "X-Connect-Timestamp",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
        "description": "Unix time in seconds; refused when more than 5 minutes off.",
    },
    {
        "name": "X-Connect-Signature",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": 'v1=hex(HMAC-SHA256(key=SHA-256(api key), "<timestamp>." + body)).',
    },
]
ORDER_REF = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:\\-]{1,100}$"},
}


def openapi_document(server: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Connect API",
            "version": "1",
            "description": (
                "Brands report orders and refunds server to server. Every request carries the "
                "brand API key as a bearer token and an HMAC-SHA256 signature of the timestamp "
                "and body. Orders are idempotent on order_id, refunds on idempotency_key."
            ),
        },
        "servers": [{"url": server}],
        "components": {
            "securitySchemes": {
                "brandKey": {"type": "http", "scheme": "bearer", "description": "cxk_..."},
                "creatorToken": {"type": "http", "scheme": "bearer", "description": "cxt_..."},
            },
            "schemas": _schemas(),
        },
        "paths": {
            "/api/v1/conversions": {
                "post": {
                    "summary": "Report an order",
                    "security": SIGNED,
                    "parameters": SIGNATURE_HEADERS,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="OrderIn")}}
                        },
                    },
                    "responses": {
                        "201": _response("Stored; attribution follows in the background.", "Order"),
                        "200": _response(
                            "Already stored with this body; nothing changed.", "Order"
                        ),
                        **ERRORS,
                    },
                }
            },
            "/api/v1/conversions/{order_id}": {
                "get": {
                    "summary": "Read an order and its commissions",
                    "security": SIGNED,
                    "parameters": [ORDER_REF, *SIGNATURE_HEADERS],
                    "responses": {
                        "200": _response("The order.", "Order"),
                        "404": _response("Unknown order.", "Error"),
                        "401": ERRORS["401"],
                    },
                }
            },
            "/api/v1/conversions/{order_id}/refunds": {
                "post": {
                    "summary": "Report a refund or cancellation (whole order or lines)",
                    "security": SIGNED,
                    "parameters": [ORDER_REF, *SIGNATURE_HEADERS],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="RefundIn")}}
                        },
                    },
                    "responses": {
                        "201": {"description": "Recorded; affected commissions are reversed."},
                        "200": {"description": "Already recorded with this body."},
                        "404": _response("Unknown order: send the order first.", "Error"),
                        **ERRORS,
                    },
                }
            },
            "/api/v1/links": {
                "post": {
                    "summary": "Create a tracked link (creators)",
                    "security": [{"creatorToken": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["product_id"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "product_id": {"type": "integer", "minimum": 1},
                                        "campaign_id": {"type": ["integer", "null"], "minimum": 1},
                                        "content_id": {"type": ["integer", "null"], "minimum": 1},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {"description": "The link, with its short URL."},
                        "401": ERRORS["401"],
                        "403": _response("Not allowed (campaign, account status).", "Error"),
                        "404": _response("No such product, campaign or content.", "Error"),
                        "422": ERRORS["422"],
                    },
                },
                "get": {
                    "summary": "List my links with click counts (creators)",
                    "security": [{"creatorToken": []}],
                    "parameters": [
                        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}
                    ],
                    "responses": {"200": {"description": "A page of links."}, "401": ERRORS["401"]},
                },
            },
        },
    }
