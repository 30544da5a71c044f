"""open_object_store: which URLs name which store."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamhouse.storage.objects import FilesystemObjectStore, FsyncPolicy, MemoryObjectStore, open_object_store
from streamhouse.storage.objects.s3 import S3ObjectStore


def test_memory() -> None:
    assert isinstance(open_object_store("memory://"), MemoryObjectStore)


def test_file_url(tmp_path: Path) -> None:
    store = open_object_store(f"file://{tmp_path}/objects", fsync="never")
    assert isinstance(store, FilesystemObjectStore)
    assert store.root == tmp_path / "objects"
    assert store.fsync is FsyncPolicy.NEVER


def test_file_url_is_percent_decoded_and_may_name_localhost(tmp_path: Path) -> None:
    store = open_object_store(f"file://localhost{tmp_path}/my%20objects")
    assert isinstance(store, FilesystemObjectStore)
    assert store.root == tmp_path / "my objects"
    assert store.fsync is FsyncPolicy.ALWAYS


def test_plain_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_object_store(str(tmp_path / "abs"))
    assert isinstance(absolute, FilesystemObjectStore)
    assert absolute.root == tmp_path / "abs"
    monkeypatch.chdir(tmp_path)
    relative = open_object_store("streamhouse-data/objects")
    assert isinstance(relative, FilesystemObjectStore)
    assert relative.root == tmp_path / "streamhouse-data/objects"


@pytest.mark.parametrize("url", ["gs://bucket", "http://example.com/objects", "az://container"])
def test_unsupported_schemes_name_the_supported_ones(url: str) -> None:
    with pytest.raises(ValueError, match=r"unsupported .*memory://.*file:///.*s3://") as error:
        open_object_store(url)
    assert url in str(error.value)


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://bucket", "bucket", ""),
        ("s3://bucket/", "bucket", ""),
        ("s3://bucket/data", "bucket", "data/"),
        ("S3://my.bucket/cluster/a/", "my.bucket", "cluster/a/"),
        ("s3://bucket/with%20space", "bucket", "with space/"),
    ],
)
def test_s3_urls(url: str, bucket: str, prefix: str) -> None:
    store = open_object_store(url)
    assert isinstance(store, S3ObjectStore)
    assert (store.bucket, store.prefix, store.endpoint, store.region) == (bucket, prefix, None, "us-east-1")


def test_s3_endpoint_and_region() -> None:
    store = open_object_store("s3://bucket/p", s3_endpoint="http://127.0.0.1:9000", s3_region="eu-central-1")
    assert isinstance(store, S3ObjectStore)
    assert (store.endpoint, store.region) == ("http://127.0.0.1:9000", "eu-central-1")
    assert isinstance(open_object_store("s3://bucket", s3_endpoint=""), S3ObjectStore)  # empty: AWS


@pytest.mark.parametrize(
    "url", ["s3://", "s3:///prefix", "s3://bucket?region=x", "s3://key@bucket/p", "s3://bucket:9000/p", "s3://b/a//b"]
)
def test_malformed_s3_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"s3://bucket|prefix"):
        open_object_store(url)


@pytest.mark.parametrize("endpoint", ["minio:9000", "ftp://host", "http://"])
def test_malformed_s3_endpoints(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        open_object_store("s3://bucket", s3_endpoint=endpoint)


@pytest.mark.parametrize("url", ["file://relative/path", "file://", "file://otherhost/abs", "file:///abs?x=1"])
def test_malformed_file_urls(url: str) -> None:
    with pytest.raises(ValueError, match="file:///absolute/path"):
        open_object_store(url)


@pytest.mark.parametrize("url", ["memory://name", "memory:///path"])
def test_malformed_memory_urls(url: str) -> None:
    with pytest.raises(ValueError, match="memory://"):
        open_object_store(url)


def test_empty_url() -> None:
    with pytest.raises(ValueError, match="empty"):
        open_object_store("")


def test_unknown_fsync_policy() -> None:
    with pytest.raises(ValueError, match="always, never"):
        open_object_store("memory://", fsync="sometimes")
