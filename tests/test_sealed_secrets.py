"""Secrets the platform must read back (webhook signing secrets) are sealed at rest."""

from __future__ import annotations

import dataclasses

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from connect.config import DEV_DATA_KEY, ConfigError, Settings
from connect.core.security import SealError, seal, unseal
from connect.core.time import utcnow
from connect.extensions import db
from connect.webhooks.models import WebhookEndpoint
from connect.webhooks.services import create_endpoint, rotate_secret
from tests import factories

NEW_KEY = "n" * 40
OLD_KEY = "o" * 40


def _endpoint() -> tuple[WebhookEndpoint, str]:
    brand = factories.brand("sealshop")
    return create_endpoint(
        db.session,
        brand.id,
        url="http://127.0.0.1:9/connect",  # resolvable without a network; never called
        events=["conversion.attributed"],
        actor_id=None,
        allow_private=True,
    )


def _stored(endpoint_id: int) -> tuple[str, str]:
    return db.session.execute(
        text("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = :id"),
        {"id": endpoint_id},
    ).one()


def test_the_database_holds_the_secret_sealed_and_the_app_reads_it_back(app, ctx) -> None:
    endpoint, secret = _endpoint()
    db.session.commit()
    stored, previous = _stored(endpoint.id)
    assert secret not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert previous == ""
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).secret == secret
    # Sealing is randomised: the same secret never gives the same stored text twice.
    assert seal(secret) != seal(secret)


def test_a_rotated_key_still_opens_what_the_old_one_sealed(app, ctx) -> None:
    keys = app.config["DATA_KEYS"]
    try:
        app.config["DATA_KEYS"] = (OLD_KEY,)
        endpoint, secret = _endpoint()
        untouched, untouched_secret = create_endpoint(
            db.session,
            endpoint.brand_id,
            url="http://127.0.0.1:9/other",
            events=["conversion.attributed"],
            actor_id=None,
            allow_private=True,
        )
        db.session.commit()
        app.config["DATA_KEYS"] = (NEW_KEY, OLD_KEY)  # the new key first, the old one behind
        db.session.expire_all()
        endpoint = db.session.get(WebhookEndpoint, endpoint.id)
        assert endpoint.secret == secret
        assert db.session.get(WebhookEndpoint, untouched.id).secret == untouched_secret
        fresh = rotate_secret(db.session, endpoint, actor_id=None, now=utcnow())
        db.session.commit()
        # What was written since is sealed under the new key alone; what was not, under the old.
        app.config["DATA_KEYS"] = (NEW_KEY,)
        assert [unseal(v) for v in _stored(endpoint.id)] == [fresh, secret]
        with pytest.raises(SealError, match="none of DATA_KEYS"):
            unseal(_stored(untouched.id)[0])
        # The end of a rotation: `connect reseal-secrets` writes everything under the new key.
        app.config["DATA_KEYS"] = (NEW_KEY, OLD_KEY)
        result = app.test_cli_runner().invoke(args=["reseal-secrets"])
        assert result.exit_code == 0 and "2 webhook endpoints" in result.output
        app.config["DATA_KEYS"] = (NEW_KEY,)
        assert unseal(_stored(untouched.id)[0]) == untouched_secret
        assert [unseal(v) for v in _stored(endpoint.id)] == [fresh, secret]
    finally:
        app.config["DATA_KEYS"] = keys


def test_production_refuses_the_development_data_key() -> None:
    def settings(data_keys: tuple[str, ...]) -> Settings:
        return dataclasses.replace(
            Settings.from_env(),
            **{
                "env": "production",
                "secret_key": "s" * 40,
                "ip_hash_key": "i" * 40,
                "stripe_webhook_secret": "whsec_live_" + "w" * 30,
                "database_url": "postgresql://db/connect",
                "redis_url": "redis://redis:6379/0",
                "data_keys": data_keys,
            },
        )

    for bad in [(DEV_DATA_KEY,), (), ("short",), (NEW_KEY, DEV_DATA_KEY)]:
        with pytest.raises(ConfigError, match="DATA_KEYS"):
            settings(bad).validate()
    settings((NEW_KEY, OLD_KEY)).validate()


def test_the_migration_seals_existing_secrets_and_unseals_them_going_back(app, ctx) -> None:
    endpoint, secret = _endpoint()
    db.session.commit()
    endpoint_id = endpoint.id
    db.session.remove()
    try:
        downgrade(revision="5e2b8d4f1a67")
        assert (
            db.session.execute(
                text("SELECT secret FROM webhook_endpoints WHERE id = :id"), {"id": endpoint_id}
            ).scalar_one()
            == secret
        )  # in clear, as before this change
        db.session.remove()
    finally:
        upgrade()
    stored, _ = _stored(endpoint_id)
    assert stored != secret and unseal(stored) == secret
    assert db.session.scalar(select(WebhookEndpoint.secret)) == secret
