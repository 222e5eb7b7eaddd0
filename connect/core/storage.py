"""Blob storage behind a small interface: S3 (or any S3-compatible server) in production, a folder
under the instance path for the zero-setup first run.

Keys are relative, slash-separated names (``imports/12/3f2a….csv``). Both backends refuse keys
that could escape their root, so a key built from user input can never name another file.

Vendor errors are translated: a missing key is ``FileNotFoundError`` whichever backend answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol
from urllib.parse import quote

from flask import Flask, current_app

MAX_KEY_LENGTH = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Storage(Protocol):
    """What the app needs from blob storage."""

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> str:
        """Store `data` under `key` (replacing it); returns the SHA-256 hex of the bytes."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under `key`; raises FileNotFoundError when there are none."""
        ...

    def open_stream(self, key: str) -> IO[bytes]:
        """A readable binary stream of `key` (close it); raises FileNotFoundError."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error."""
        ...

    def presigned_url(self, key: str, expires_in: int, filename: str | None = None) -> str | None:
        """A time-limited download URL, or None when the backend has none (serve the bytes
        through the app instead). `filename` asks the browser to save under that name."""
        ...


def check_key(key: str) -> str:
    """`key` if it is a safe relative name; ValueError otherwise."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError("storage key must be a non-empty string of at most 1024 characters")
    if "\\" in key or _CONTROL.search(key):
        raise ValueError(f"storage key {key!r} contains a backslash or a control character")
    if key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        raise ValueError(f"storage key {key!r} must be relative")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"storage key {key!r} has an empty, '.' or '..' segment")
    return key


def _read_all(data: bytes | BinaryIO) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    return data.read()


def content_disposition(filename: str) -> str:
    """An `attachment` header value that survives any file name (RFC 6266 / 5987)."""
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", filename).strip() or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# -- S3 ---------------------------------------------------------------------------------------


class S3Storage:
    """One bucket of an S3-compatible service. Credentials come from boto3's usual sources
    (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> S3Storage:
        import boto3
        from botocore.config import Config

        endpoint = config.get("S3_ENDPOINT_URL") or None
        options: dict[str, Any] = {"signature_version": "s3v4"}
        if endpoint:
            # Local and self-hosted servers (moto, MinIO) rarely have wildcard DNS per bucket.
            options["s3"] = {"addressing_style": "path"}
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=config.get("S3_REGION") or "us-east-1",
            config=Config(**options),
        )
        return cls(client, config["S3_BUCKET"])

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (tests and first runs; production buckets are
        made by infrastructure, with their own policies)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) not in _MISSING_BUCKET:
                raise
            region = self.client.meta.region_name
            extra = (
                {}
                if region in (None, "us-east-1")
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            self.client.create_bucket(Bucket=self.bucket, **extra)

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> str:
        body = _read_all(data)
        self.client.put_object(
            Bucket=self.bucket, Key=check_key(key), Body=body, ContentType=content_type
        )
        return hashlib.sha256(body).hexdigest()

    def get(self, key: str) -> bytes:
        stream = self.open_stream(key)
        try:
            return stream.read()
        finally:
            stream.close()

    def open_stream(self, key: str) -> IO[bytes]:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as exc:
            # A missing bucket is a configuration error, not a missing file: it stays loud.
            if _error_code(exc) in _MISSING_KEY:
                raise FileNotFoundError(f"no stored object {key!r}") from None
            raise
        return answer["Body"]  # type: ignore[no-any-return]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))

    def presigned_url(self, key: str, expires_in: int, filename: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": check_key(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return self.client.generate_presigned_url(  # type: ignore[no-any-return]
            "get_object", Params=params, ExpiresIn=int(expires_in)
        )


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# HEAD requests carry no error body: botocore reports their status code as the error code.
_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
_MISSING_BUCKET = {"NoSuchBucket", "404", "NotFound"}


# -- local folder -----------------------------------------------------------------------------


class LocalStorage:
    """Files under one folder. Writes are atomic (temporary file, then `os.replace`), so a reader
    never sees half a file. There are no URLs: the app serves the bytes itself."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def path_for(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # A symlink inside the folder must not lead out of it either.
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"storage key {key!r} leaves the storage folder")
        return path

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> str:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, bytes | bytearray | memoryview):
                    digest.update(data)
                    out.write(data)
                else:
                    while chunk := data.read(1024 * 1024):
                        digest.update(chunk)
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return digest.hexdigest()

    def get(self, key: str) -> bytes:
        with self.open_stream(key) as stream:
            return stream.read()

    def open_stream(self, key: str) -> IO[bytes]:
        path = self.path_for(key)
        if not path.is_file():
            raise FileNotFoundError(f"no stored object {key!r}")
        return path.open("rb")

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def presigned_url(self, key: str, expires_in: int, filename: str | None = None) -> None:
        """Local files have no URL of their own: serve them through a view."""
        self.path_for(key)
        return


# -- the app's instance -----------------------------------------------------------------------


def build_storage(app: Flask) -> Storage:
    """S3 when STORAGE_BACKEND is "s3", or when it is unset and S3_ENDPOINT_URL is configured;
    otherwise the folder `<instance>/storage`. STORAGE_BACKEND="local" forces the folder."""
    backend = (app.config.get("STORAGE_BACKEND") or "").strip().lower()
    if backend not in ("", "s3", "local"):
        raise RuntimeError(f"STORAGE_BACKEND must be 's3' or 'local', not {backend!r}")
    if backend == "s3" or (not backend and app.config.get("S3_ENDPOINT_URL")):
        return S3Storage.from_config(app.config)
    return LocalStorage(Path(app.instance_path) / "storage")


def storage(app: Flask | None = None) -> Storage:
    """The app's storage, built on first use and kept in `app.extensions`."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    store = app.extensions.get("connect_storage")
    if store is None:
        store = app.extensions["connect_storage"] = build_storage(app)
    return store  # type: ignore[no-any-return]
