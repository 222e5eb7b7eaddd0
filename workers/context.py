from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

from connect import create_app
from connect.extensions import db

_app: Flask | None = None


def worker_app() -> Flask:
    """One app per worker process, built on first use (never at import)."""
    global _app
    if _app is None:
        _app = create_app()
    return _app


@contextmanager
def job_context() -> Iterator[None]:
    """The job owns the transaction: commit on success, roll back on any error."""
    app = worker_app()
    with app.app_context():
        try:
            yield
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        finally:
            db.session.remove()
