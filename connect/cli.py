"""The `connect` command: Flask's CLI plus Connect's own commands.

connect db upgrade          create or migrate the schema (Alembic)
connect create-admin EMAIL  create an admin user (asks for the password)
connect seed-demo           load deterministic demo data and print logins
connect worker              run an RQ worker
connect dev                 serve the portal with a worker and Redis (first run)
connect reseal-secrets      seal stored secrets again under the newest DATA_KEYS key
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from connect.extensions import db
from connect.fx.cli import register as register_fx


def register_commands(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(cron_command)
    app.cli.add_command(reseal_secrets_command)
    register_fx(app)
    app.cli.add_command(dev_command)


@click.command("create-admin")
@click.argument("email")
@click.option("--name", default="Administrator")
@click.password_option(help="At least 10 characters.")
@with_appcontext
def create_admin(email: str, name: str, password: str) -> None:
    """Create an admin user."""
    from connect.accounts.models import Role
    from connect.accounts.services import AccountError, create_user

    try:
        user = create_user(db.session, email=email, password=password, name=name, role=Role.ADMIN)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"admin {user.email} created (id {user.id})")


@click.command("reseal-secrets")
@with_appcontext
def reseal_secrets_command() -> None:
    """Seal stored secrets again under the first of DATA_KEYS (the end of a key rotation)."""
    from connect.webhooks.services import reseal_secrets

    count = reseal_secrets(db.session)
    db.session.commit()
    click.echo(f"{count} webhook endpoints sealed under the newest key")


@click.command("seed-demo")
@click.option("--seed", default=7, show_default=True, help="Random seed; same seed, same data.")
@click.option("--if-empty", is_flag=True, help="Do nothing when data is already there.")
@with_appcontext
def seed_demo_command(seed: int, if_empty: bool) -> None:
    """Load the demo data set and print one login per role."""
    from sqlalchemy import func, select

    from connect.accounts.models import User
    from connect.demo.seed import seed_demo

    if if_empty and db.session.scalar(select(func.count()).select_from(User)):
        click.echo("demo data already present; nothing to do")
        return
    from connect.conversions.tasks import approve_commissions, attribute_orders
    from connect.core.time import utcnow

    try:
        logins = seed_demo(db.session, seed=seed)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    # The same jobs the workers run, so the demo shows commissions from its first page.
    result = attribute_orders(db.session, utcnow())
    approved = approve_commissions(db.session, utcnow())
    click.echo(
        f"attributed {result.attributed} orders ({result.commissions} commissions, "
        f"{result.held} held, {result.unattributed} unattributed); approved {approved}"
    )
    password = logins.pop("password")
    click.echo(f"Demo logins (password for all: {password})")
    for role, email in logins.items():
        click.echo(f"  {role:<8} {email}")


@click.command("worker")
@click.option("--queue", "queues", multiple=True, help="Queue to work; repeat. Default: all.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@with_appcontext
def worker_command(queues: tuple[str, ...], burst: bool) -> None:
    """Run an RQ worker."""
    from flask import current_app

    from connect.core.jobs import QUEUES
    from workers.run import run_worker

    run_worker(current_app._get_current_object(), queues or QUEUES, burst=burst)


@click.command("cron")
@with_appcontext
def cron_command() -> None:
    """Enqueue the periodic jobs (click drain, spool drain, retention) on schedule."""
    from connect.core.jobs import redis_connection
    from workers.cron import build_scheduler

    build_scheduler(redis_connection()).start()


@click.command("dev")
@click.option("--port", default=5000, show_default=True)
def dev_command(port: int) -> None:
    """Serve the portal on 127.0.0.1 with a worker and a Redis for background jobs."""
    from connect.devserver import run_dev

    run_dev(port)


def main() -> None:
    from connect import create_app

    FlaskGroup(create_app=create_app, help=__doc__)()
