"""File rails: SEPA, PayPal and plain CSV files in S3 (moto over HTTP), confirmed or returned."""

from __future__ import annotations

import hashlib
import io
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from lxml import etree
from sqlalchemy import select

from connect.core.money import Money
from connect.core.storage import S3Storage
from connect.extensions import db
from connect.payouts.models import Payout, PayoutFile, PayoutMethod, PayoutStatus, Rail
from connect.payouts.services import approve_batch, mark_file_paid, record_returns
from connect.payouts.tasks import execute_batch
from tests.support.services import ensure_moto
from tests.test_payouts import NOW, World, approved

XSD = Path(__file__).parent / "data" / "pain.001.001.03.xsd"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}


@pytest.fixture
def s3(app: Flask, monkeypatch) -> S3Storage:
    endpoint = ensure_moto()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    store = S3Storage.from_config(
        {"S3_ENDPOINT_URL": endpoint, "S3_BUCKET": "connect-payouts", "S3_REGION": "us-east-1"}
    )
    store.ensure_bucket()
    monkeypatch.setitem(app.extensions, "connect_storage", store)
    return store


@pytest.fixture
def world(app: Flask, s3: S3Storage) -> Iterator[World]:
    with app.app_context():
        yield World(None)
        db.session.remove()


def _file_world(world: World):
    sepa = world.creator_with_approved(
        "Łukasz Wóźniak".lower().replace(" ", "")[:10] or "lukasz", 61, rail=Rail.SEPA, country="PL"
    )
    paypal = world.creator_with_approved("maria", 75, rail=None, country="BR")
    db.session.add(
        PayoutMethod(creator_id=paypal.id, rail=Rail.PAYPAL, paypal_email="maria@example.com")
    )
    other = world.creator_with_approved("ivan", 90, rail=None, country="RU")
    db.session.add(
        PayoutMethod(
            creator_id=other.id,
            rail=Rail.CSV,
            account_holder="Иван Петров",
            iban="DE89370400440532013000",
            bic="COBADEFFXXX",
        )
    )
    db.session.commit()
    world.settle()
    batch = world.batch()
    approve_batch(db.session, batch, world.approver, NOW)
    db.session.commit()
    return batch, (sepa, paypal, other)


def test_files_are_stored_valid_and_downloadable(world: World, s3: S3Storage, app: Flask):
    batch, creators = _file_world(world)
    result = execute_batch(db.session, batch.id, NOW)
    assert result["files"] == 3
    files = {f.rail: f for f in db.session.scalars(select(PayoutFile))}
    assert set(files) == {Rail.SEPA, Rail.PAYPAL, Rail.CSV}
    assert db.session.scalars(select(Payout.status)).all() == [PayoutStatus.EXPORTED] * 3
    assert execute_batch(db.session, batch.id, NOW)["files"] == 0  # a re-run writes nothing
    for payout_file in files.values():
        url = s3.presigned_url(payout_file.storage_key, expires_in=300, filename="x")
        assert "X-Amz-Expires=300" in url
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - local moto
            body = resp.read()
        assert hashlib.sha256(body).hexdigest() == payout_file.sha256
    sepa = s3.get(files[Rail.SEPA].storage_key)
    document = etree.parse(io.BytesIO(sepa))
    etree.XMLSchema(etree.parse(str(XSD))).assertValid(document)
    control_sum = Decimal(document.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS))
    assert control_sum == Decimal("61.00") == Decimal(files[Rail.SEPA].total_minor) / 100
    month = f"{batch.period_end:%Y-%m}"
    ids = dict(db.session.execute(select(Payout.creator_id, Payout.id)).all())
    maria, ivan = creators[1].id, creators[2].id
    assert s3.get(files[Rail.PAYPAL].storage_key).decode() == (
        f"maria@example.com,75.00,EUR,CONNECT-{ids[maria]},Connect payout {month} "
        f"#{ids[maria]},PAYPAL\r\n"
    )
    assert s3.get(files[Rail.CSV].storage_key).decode() == (
        "payout_id,reference,creator_name,country,currency,amount,iban,bic,paypal_email\r\n"
        f"{ids[ivan]},Connect payout {month} #{ids[ivan]},Иван Петров,RU,EUR,90.00,"
        "DE89370400440532013000,COBADEFFXXX,\r\n"
    )


def test_file_paid_then_bank_return_returns_money_once(world: World):
    batch, (sepa, _, _) = _file_world(world)
    execute_batch(db.session, batch.id, NOW)
    sepa_file = db.session.scalar(select(PayoutFile).where(PayoutFile.rail == Rail.SEPA))
    assert mark_file_paid(db.session, sepa_file, world.approver, NOW) == 1
    db.session.commit()
    sepa_payout = db.session.scalar(select(Payout).where(Payout.creator_id == sepa.id))
    assert sepa_payout.status == PayoutStatus.PAID
    assert approved(sepa.id) == Money(0, "EUR")
    failed, problems = record_returns(
        db.session, batch, {sepa_payout.id: "account closed", 999: "x"}, world.approver
    )
    db.session.commit()
    assert failed == 1 and problems == ["payout 999 is not in this batch"]
    again, problems = record_returns(db.session, batch, {sepa_payout.id: "again"}, world.approver)
    db.session.commit()
    assert again == 0
    assert problems == [f"payout {sepa_payout.id} is failed"]
    assert approved(sepa.id) == Money(6100, "EUR")  # returned exactly once


def test_paypal_batches_over_the_file_limit_are_split_into_parts(world: World, monkeypatch):
    monkeypatch.setattr("connect.payouts.services.PAYPAL_MAX_ROWS", 2)
    for n in range(3):
        creator = world.creator_with_approved(f"pp{n}", 60 + n, rail=None, country="BR")
        db.session.add(
            PayoutMethod(creator_id=creator.id, rail=Rail.PAYPAL, paypal_email=f"pp{n}@example.com")
        )
    db.session.commit()
    world.settle()
    batch = world.batch()
    approve_batch(db.session, batch, world.approver, NOW)
    db.session.commit()
    assert execute_batch(db.session, batch.id, NOW)["files"] == 2
    first, second = db.session.scalars(select(PayoutFile).order_by(PayoutFile.part)).all()
    assert (first.part, first.payments, second.part, second.payments) == (1, 2, 2, 1)
    assert first.storage_key.endswith("paypal-EUR-part1.csv")
    assert first.total_minor + second.total_minor == 6000 + 6100 + 6200
    assert mark_file_paid(db.session, first, world.approver, NOW) == 2
    db.session.commit()
    statuses = dict(db.session.execute(select(Payout.file_id, Payout.status)).all())
    assert db.session.scalars(select(Payout.status).where(Payout.file_id == second.id)).all() == [
        PayoutStatus.EXPORTED
    ]
    assert statuses[first.id] == PayoutStatus.PAID
