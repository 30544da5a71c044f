"""Hypothesis strategies derived from the declarations: any valid message for a version."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from streamhouse.protocol.codec import MessageCodec, nested_classes
from streamhouse.protocol.schema import Field, VersionRange

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "bool": st.booleans(),
    "int8": st.integers(-(2**7), 2**7 - 1),
    "int16": st.integers(-(2**15), 2**15 - 1),
    "uint16": st.integers(0, 2**16 - 1),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "uint32": st.integers(0, 2**32 - 1),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "float64": st.floats(allow_nan=False),
    "string": _TEXT,
    "bytes": st.binary(max_size=12),
    "records": st.binary(max_size=40),
    "uuid": st.uuids(),
}
# Tags no declaration uses, to exercise unknown-tag preservation.
_UNKNOWN_TAGS = st.none() | st.dictionaries(st.integers(90, 120), st.binary(max_size=6), min_size=1, max_size=3)


def _field_value(owner: type, field: Field, version: int, flexible: VersionRange) -> st.SearchStrategy[Any]:
    if field.is_struct:
        element = struct_value(nested_classes(owner)[field.element_type], field.fields, version, flexible)
    else:
        element = _SCALARS[field.element_type]
    value = st.lists(element, max_size=3) if field.is_array else element
    if version in field.nullable or field.type == "records":
        value = st.none() | value
    return value


def struct_value(cls: type, fields: tuple[Field, ...], version: int, flexible: VersionRange) -> st.SearchStrategy[Any]:
    """Instances of `cls` whose every field is either carried by `version` or left at its default."""
    values = {field.name: _field_value(cls, field, version, flexible) for field in fields if version in field.versions}
    if version in flexible:
        values["unknown_tags"] = _UNKNOWN_TAGS
    return st.builds(cls, **values)


def message_value(codec: MessageCodec, version: int) -> st.SearchStrategy[Any]:
    return struct_value(codec.cls, codec.fields, version, codec.flexible)
