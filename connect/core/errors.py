"""Error pages: the same friendly page for every error, never a traceback or internal detail."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def _titles() -> dict[int, str]:
    return {
        400: _("That request could not be understood."),
        403: _("You do not have access to this page."),
        404: _("This page does not exist."),
        405: _("That action is not allowed here."),
        413: _("That upload is too large."),
        422: _("Some of what you sent is not valid."),
        429: _("Too many attempts. Please wait a minute and try again."),
        500: _("Something went wrong on our side. It has been logged."),
    }


def render_error(code: int, detail: str | None = None) -> tuple[str, int]:
    title = _titles().get(code, _("Something went wrong."))
    return render_template("errors/error.html", code=code, title=title, detail=detail), code


def wants_json() -> bool:
    return request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        detail = _("Your form expired or was sent from elsewhere. Reload the page and try again.")
        if wants_json():
            return {"error": "csrf", "message": detail}, 400
        return render_error(400, detail)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if wants_json():
            return {"error": exc.name.lower().replace(" ", "_"), "message": exc.description}, code
        return render_error(code)

    @app.errorhandler(Exception)
    def unhandled(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return http_error(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return {"error": "internal_error", "message": "internal error"}, 500
        return render_error(InternalServerError.code)
