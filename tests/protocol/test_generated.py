"""The typed message modules in protocol/messages/ match the declarations they are generated from."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest

from streamhouse.protocol.codec import ApiCodec
from streamhouse.protocol.generate import declarations, generated_files, stale_files, typed_classes

FILES = generated_files()
DECLARATIONS = list(declarations())


@pytest.mark.parametrize("path", sorted(FILES), ids=lambda path: path.name)
def test_committed_file_matches_the_declarations(path: Path) -> None:
    committed = path.read_text() if path.exists() else None
    assert committed == FILES[path], f"{path.name} is stale: run `python -m streamhouse.protocol.generate`"


def test_no_file_left_of_an_api_no_longer_declared() -> None:
    assert stale_files() == [], "run `python -m streamhouse.protocol.generate`"


@pytest.mark.parametrize(("module", "api", "constant"), DECLARATIONS, ids=[module for module, _, _ in DECLARATIONS])
def test_each_typed_name_is_the_codec_class_with_those_fields(module: str, api: ApiCodec, constant: str) -> None:
    messages = importlib.import_module(f"streamhouse.protocol.messages.{module}")
    assert getattr(messages, f"{api.name}Request") is api.Request
    assert getattr(messages, f"{api.name}Response") is api.Response
    for typed in typed_classes(api, constant):
        cls = getattr(messages, typed.name)
        names = [field.name for field in dataclasses.fields(cls)]
        assert names == [*(field.name for field in typed.fields), "unknown_tags"], typed.name
