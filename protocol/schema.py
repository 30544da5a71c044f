"""The declaration form for Kafka messages.

Each API is declared once, as data shaped like Kafka's message definitions:
fields with version ranges, nullable versions, defaults, nested structs,
flexible versions and tagged fields. `protocol.codec` derives from a
declaration one message class per struct and one compiled construct per
(api, version, request|response).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamhouse.protocol.errors import ProtocolError


class _Missing:
    """Sentinel for "no explicit default: use the type's default"."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

PRIMITIVE_TYPES = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "float64",
        "string",
        "bytes",
        "records",
        "uuid",
    }
)


@dataclass(frozen=True)
class VersionRange:
    """An inclusive version range as Kafka writes it: "0+", "3-5", "7", "none"."""

    low: int
    high: int  # inclusive; -1 with low 0 means "none"

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        text = text.strip()
        if text == "none":
            return cls(0, -1)
        if text.endswith("+"):
            return cls(int(text[:-1]), 2**15 - 1)
        if "-" in text:
            low, high = text.split("-", 1)
            return cls(int(low), int(high))
        return cls(int(text), int(text))

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.low <= version <= self.high


@dataclass(frozen=True)
class Field:
    """One field of a message or struct, as in Kafka's message definitions.

    `type` is Kafka's type name: a primitive (see PRIMITIVE_TYPES), "[]<primitive>",
    "[]<StructName>" or "<StructName>"; struct types carry their `fields`.
    """

    name: str
    type: str
    versions: VersionRange
    nullable: VersionRange
    default: Any
    tag: int | None
    tagged: VersionRange
    fields: tuple[Field, ...]
    flexible: VersionRange | None  # a field-level override of the message's flexible versions
    ignorable: bool  # a version without the field drops its value silently instead of failing

    @property
    def is_array(self) -> bool:
        return self.type.startswith("[]")

    @property
    def element_type(self) -> str:
        return self.type[2:] if self.is_array else self.type

    @property
    def is_struct(self) -> bool:
        return self.element_type not in PRIMITIVE_TYPES


def F(
    name: str,
    type: str,
    versions: str = "0+",
    *fields: Field,
    nullable: str = "none",
    default: Any = MISSING,
    tag: int | None = None,
    tagged: str | None = None,
    flexible: str | None = None,
    ignorable: bool = False,
) -> Field:
    """Declare a field. Positional arguments after `versions` are the fields of a struct type."""
    element = type[2:] if type.startswith("[]") else type
    if element in PRIMITIVE_TYPES and fields:
        raise ValueError(f"field {name}: primitive type {type} cannot have fields")
    if element not in PRIMITIVE_TYPES and not fields:
        raise ValueError(f"field {name}: struct type {type} needs fields")
    if tagged is not None and tag is None:
        raise ValueError(f"field {name}: tagged versions without a tag")
    return Field(
        name=name,
        type=type,
        versions=VersionRange.parse(versions),
        nullable=VersionRange.parse(nullable),
        default=default,
        tag=tag,
        tagged=VersionRange.parse(tagged if tagged is not None else (versions if tag is not None else "none")),
        fields=tuple(fields),
        flexible=None if flexible is None else VersionRange.parse(flexible),
        ignorable=ignorable,
    )


@dataclass(frozen=True)
class Api:
    """One Kafka API: its key, the versions we serve, and its request and response fields."""

    key: int
    name: str
    min_version: int
    max_version: int
    flexible: VersionRange
    request: tuple[Field, ...]
    response: tuple[Field, ...]

    def is_flexible(self, version: int) -> bool:
        return version in self.flexible


def declare(
    key: int,
    name: str,
    versions: tuple[int, int],
    flexible: str,
    request: list[Field],
    response: list[Field],
) -> Api:
    """Declare an API; `versions` is the (min, max) we serve, `flexible` Kafka's flexibleVersions."""
    low, high = versions
    if not 0 <= low <= high:
        raise ProtocolError(f"{name}: bad version range {versions}")
    return Api(key, name, low, high, VersionRange.parse(flexible), tuple(request), tuple(response))


def node_endpoints(since: str) -> Field:
    """KIP-951's tagged NodeEndpoints of Produce and Fetch responses (tag 0, from version `since`)."""
    versions = f"{since}+"
    return F(
        "node_endpoints",
        "[]NodeEndpoint",
        versions,
        F("node_id", "int32", versions),
        F("host", "string", versions),
        F("port", "int32", versions),
        F("rack", "string", versions, nullable=versions, default=None),
        tag=0,
        ignorable=True,
    )
