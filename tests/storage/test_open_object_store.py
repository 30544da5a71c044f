"""open_object_store: which URLs name which store."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.objects import FilesystemObjectStore, FsyncPolicy, MemoryObjectStore, open_object_store


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


@pytest.mark.parametrize("url", ["s3://bucket/prefix", "gs://bucket", "http://example.com/objects", "S3://bucket"])
def test_unsupported_schemes_name_the_supported_ones(url: str) -> None:
    with pytest.raises(ValueError, match=r"unsupported .*memory://.*file:///") as error:
        open_object_store(url)
    assert url in str(error.value)


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
