"""`connect fx-import FILE`: load an ECB reference-rates file (daily or history) into fx_rates."""

from __future__ import annotations

from typing import BinaryIO

import click
from flask import Flask
from flask.cli import with_appcontext

from connect.extensions import db
from connect.fx.services import FxError, import_rates, parse_ecb_xml


@click.command("fx-import")
@click.argument("file", type=click.File("rb"))
@with_appcontext
def fx_import(file: BinaryIO) -> None:
    """Import ECB reference rates from FILE (eurofxref-daily.xml or eurofxref-hist.xml; - reads
    stdin). Safe to repeat: rates already stored are left alone, corrected ones are updated."""
    try:
        quotes = parse_ecb_xml(file.read())
        result = import_rates(db.session, quotes)
    except FxError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(
        f"{result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged "
        f"(days {result.first_day}..{result.last_day})"
    )


def register(app: Flask) -> None:
    """Add the FX commands to `app.cli`; calling it again just re-adds the same command."""
    app.cli.add_command(fx_import)
