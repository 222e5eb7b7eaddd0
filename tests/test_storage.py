"""Blob storage: S3 against a real moto server over HTTP, and the local folder."""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from connect.core.storage import LocalStorage, S3Storage, content_disposition, storage
from tests.support import services

DATA = bytes(range(256)) * 40 + "é, ü, 🙂\r\n".encode()  # every byte value, and some UTF-8


@pytest.fixture
def s3_config(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    endpoint = services.ensure_moto()
    # Dummy credentials: moto accepts any. No profile or instance metadata is consulted.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return {
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": "us-east-1",
        "S3_BUCKET": f"connect-test-{uuid.uuid4().hex[:12]}",
    }


@pytest.fixture
def s3(s3_config: dict[str, str]) -> S3Storage:
    store = S3Storage.from_config(s3_config)
    store.ensure_bucket()
    store.ensure_bucket()  # twice: an existing bucket is fine
    return store


def download(url: str) -> tuple[bytes, dict[str, str]]:
    assert url.startswith("http://127.0.0.1:")  # the moto server, never the internet
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - checked just above
        return answer.read(), dict(answer.headers)


def test_s3_round_trip_returns_exact_bytes_and_sha256(s3: S3Storage) -> None:
    digest = s3.put("imports/1/a.csv", DATA, "text/csv")
    assert digest == hashlib.sha256(DATA).hexdigest()
    assert s3.get("imports/1/a.csv") == DATA
    head = s3.client.head_object(Bucket=s3.bucket, Key="imports/1/a.csv")
    assert head["ContentType"] == "text/csv"
    assert head["ContentLength"] == len(DATA)

    # A file object works too, and a second put replaces the first.
    assert s3.put("imports/1/a.csv", io.BytesIO(b"second"), "text/csv") == (
        hashlib.sha256(b"second").hexdigest()
    )
    with s3.open_stream("imports/1/a.csv") as stream:
        assert stream.read() == b"second"


def test_s3_missing_key_is_file_not_found(s3: S3Storage) -> None:
    with pytest.raises(FileNotFoundError):
        s3.get("imports/1/nope.csv")
    with pytest.raises(FileNotFoundError):
        s3.open_stream("nope")
    s3.put("gone.bin", b"x", "application/octet-stream")
    s3.delete("gone.bin")
    s3.delete("gone.bin")  # deleting twice is fine
    with pytest.raises(FileNotFoundError):
        s3.get("gone.bin")


def test_s3_missing_bucket_is_not_a_missing_file(s3_config: dict[str, str]) -> None:
    store = S3Storage.from_config(s3_config)  # bucket never created: a configuration error
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        store.get("anything")
    assert info.value.response["Error"]["Code"] == "NoSuchBucket"


def test_s3_presigned_url_downloads_the_bytes_with_the_file_name(s3: S3Storage) -> None:
    s3.put("reports/r.csv", DATA, "text/csv")
    url = s3.presigned_url("reports/r.csv", expires_in=120, filename="import 7 errors.csv")
    body, headers = download(url)
    assert body == DATA
    assert headers["Content-Disposition"] == content_disposition("import 7 errors.csv")
    assert 'filename="import 7 errors.csv"' in headers["Content-Disposition"]
    query = parse_qs(urlsplit(url).query)
    # moto does not check signatures or expiry: only the URL's own claims are tested here.
    assert query["X-Amz-Expires"] == ["120"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]

    plain = s3.presigned_url("reports/r.csv", expires_in=60)
    assert "response-content-disposition" not in plain
    assert download(plain)[0] == DATA


def test_content_disposition_survives_any_file_name() -> None:
    value = content_disposition('rapport "été"\r\n.csv')
    assert "\r" not in value and "\n" not in value
    assert value.startswith('attachment; filename="rapport __t____.csv"')
    assert value.endswith("filename*=UTF-8''rapport%20%22%C3%A9t%C3%A9%22%0D%0A.csv")


def test_local_round_trip_is_atomic_and_exact(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "storage")
    assert store.put("imports/3/x.csv", DATA, "text/csv") == hashlib.sha256(DATA).hexdigest()
    assert store.get("imports/3/x.csv") == DATA
    assert store.put("imports/3/x.csv", io.BytesIO(b"v2"), "text/csv") == (
        hashlib.sha256(b"v2").hexdigest()
    )
    with store.open_stream("imports/3/x.csv") as stream:
        assert stream.read() == b"v2"
    # No temporary file is left behind.
    assert sorted(p.name for p in (tmp_path / "storage" / "imports" / "3").iterdir()) == ["x.csv"]
    with pytest.raises(FileNotFoundError):
        store.get("imports/3/missing.csv")
    store.delete("imports/3/x.csv")
    store.delete("imports/3/x.csv")
    with pytest.raises(FileNotFoundError):
        store.get("imports/3/x.csv")
    # Local files have no URL of their own: the app serves them.
    assert store.presigned_url("imports/3/x.csv", 60, "x.csv") is None


def test_local_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    store.put("a/b.bin", b"old", "application/octet-stream")

    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        store.put("a/b.bin", Broken(), "application/octet-stream")
    assert store.get("a/b.bin") == b"old"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.bin"]


@pytest.mark.parametrize(
    "key",
    [
        "../escape",
        "imports/../../etc/passwd",
        "a/../b",
        "/etc/passwd",
        "C:/windows",
        "a\\..\\b",
        "a\\b",
        "a//b",
        "./a",
        "a/.",
        "",
        "a\x00b",
        "a\nb",
        "x" * 1025,
    ],
)
def test_local_refuses_keys_that_could_escape(tmp_path: Path, key: str) -> None:
    store = LocalStorage(tmp_path / "storage")
    for attempt in (
        lambda: store.put(key, b"x", "text/plain"),
        lambda: store.get(key),
        lambda: store.delete(key),
    ):
        with pytest.raises(ValueError, match="storage key"):
            attempt()
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "storage").exists() or not any((tmp_path / "storage").rglob("*"))


def test_local_refuses_a_symlink_out_of_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "storage"
    root.mkdir()
    os.symlink(outside, root / "link")
    store = LocalStorage(root)
    with pytest.raises(ValueError, match="leaves the storage folder"):
        store.put("link/x.txt", b"x", "text/plain")
    assert list(outside.iterdir()) == []


def test_s3_refuses_unsafe_keys_too(s3: S3Storage) -> None:
    with pytest.raises(ValueError, match="storage key"):
        s3.put("../x", b"x", "text/plain")


def _app(tmp_path: Path, **config: object) -> Flask:
    app = Flask("storage-test", instance_path=str(tmp_path))
    app.config.update(config)
    return app


def test_backend_choice(tmp_path: Path, s3_config: dict[str, str]) -> None:
    local_app = _app(tmp_path, S3_ENDPOINT_URL=None, S3_BUCKET="connect")
    with local_app.app_context():
        store = storage()
        assert isinstance(store, LocalStorage)
        assert store.root == (tmp_path / "storage").resolve()
        assert storage() is store  # cached per app
        assert local_app.extensions["connect_storage"] is store

    assert isinstance(storage(_app(tmp_path, **s3_config)), S3Storage)
    forced_s3 = _app(tmp_path, STORAGE_BACKEND="s3", S3_ENDPOINT_URL=None, S3_BUCKET="b")
    assert isinstance(storage(forced_s3), S3Storage)
    forced_local = _app(tmp_path, STORAGE_BACKEND="local", **s3_config)
    assert isinstance(storage(forced_local), LocalStorage)
    with pytest.raises(RuntimeError, match="STORAGE_BACKEND"):
        storage(_app(tmp_path, STORAGE_BACKEND="ftp"))


def test_the_app_storage_talks_to_s3_end_to_end(tmp_path: Path, s3_config: dict[str, str]) -> None:
    app = _app(tmp_path, **s3_config)
    store = storage(app)
    assert isinstance(store, S3Storage)
    store.ensure_bucket()
    store.put("k", b"hello", "text/plain")
    assert storage(app).get("k") == b"hello"
