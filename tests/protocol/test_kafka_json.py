"""Every served API's declaration against Kafka's own message definitions, field by field.

The JSON files are pinned in tests/protocol/kafka_messages/ (their source is in the README there).
For every version we serve, the fields present at that version must match Kafka's in order, name
(Kafka's CamelCase in snake_case), type, nullability, tag and flexibility.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import streamhouse.protocol.apis  # noqa: F401  (registers every API)
from streamhouse.protocol.registry import APIS
from streamhouse.protocol.schema import Api, Field, VersionRange

MESSAGES = Path(__file__).parent / "kafka_messages"

# Served versions newer than the pinned definitions, which therefore cannot be checked here:
# (api key) -> the versions left unchecked. Kept exact so the list shrinks when the JSON is renewed.
BEYOND_PINNED: dict[int, tuple[int, ...]] = {
    2: (11,),  # ListOffsets v11 is newer than the pinned trunk
    45: (1,),  # AlterPartitionReassignments v1 (KIP-1101) likewise
    74: (0, 1),  # ListConfigResources: Kafka 4.1's rename of ListClientMetricsResources, not pinned
    15: (6,),  # DescribeGroups v6 (KIP-1043, Kafka 4.0: ErrorMessage per group) likewise
    69: (1,),  # ConsumerGroupDescribe v1 (KIP-1099, Kafka 4.1: MemberType) likewise
    # Share groups (KIP-932) at the v1 that Kafka 4.1 and librdkafka 2.16 speak; the pinned trunk has v0 only
    76: (1,),
    77: (1,),
    78: (1,),
    79: (1,),
    90: (0, 1),  # DescribeShareGroupOffsets, AlterShareGroupOffsets, DeleteShareGroupOffsets: not in the trunk
    91: (0,),
    92: (0,),
}


def strip_comments(text: str) -> str:
    """Kafka's message JSON allows // comments; drop them outside string literals."""
    out: list[str] = []
    in_string = False
    index = 0
    while index < len(text):
        char = text[index]
        if in_string:
            out.append(char)
            if char == "\\":
                out.append(text[index + 1])
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif text.startswith("//", index):
            index = text.find("\n", index)
            if index < 0:
                break
            continue
        else:
            out.append(char)
        index += 1
    return "".join(out)


def load_messages() -> dict[tuple[int, str], dict[str, Any]]:
    """(api key, "request"|"response") -> Kafka's message definition."""
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for path in sorted(MESSAGES.glob("*.json")):
        message = json.loads(strip_comments(path.read_text()))
        found[(message["apiKey"], message["type"])] = message
    return found


KAFKA = load_messages()


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def version_range(text: str | None) -> VersionRange:
    return VersionRange.parse(text or "none")


@dataclass(frozen=True)
class Shape:
    """What the wire format of one field at one version depends on."""

    name: str
    type: str
    nullable: bool
    tag: int | None
    fields: tuple[Shape, ...]


def kafka_shapes(
    fields: list[dict[str, Any]], version: int, flexible: bool, common: dict[str, list[dict[str, Any]]]
) -> tuple[Shape, ...]:
    shapes = []
    for field in fields:
        if version not in version_range(field["versions"]):
            continue
        tagged = flexible and version in version_range(field.get("taggedVersions"))
        element = field["type"].removeprefix("[]")
        children = field.get("fields") or common.get(element) or []
        shapes.append(
            Shape(
                name=snake(field["name"]),
                type=field["type"],
                nullable=version in version_range(field.get("nullableVersions")),
                tag=field["tag"] if tagged else None,
                fields=kafka_shapes(children, version, flexible, common),
            )
        )
    return tuple(shapes)


def our_shapes(fields: tuple[Field, ...], version: int, flexible: bool) -> tuple[Shape, ...]:
    return tuple(
        Shape(
            name=field.name,
            type=field.type,
            nullable=version in field.nullable,
            tag=field.tag if flexible and version in field.tagged else None,
            fields=our_shapes(field.fields, version, flexible),
        )
        for field in fields
        if version in field.versions
    )


def differences(ours: tuple[Shape, ...], kafka: tuple[Shape, ...], path: str) -> list[str]:
    """Readable differences; tagged fields are compared by tag since they are written in tag order."""
    found: list[str] = []
    our_fixed = [shape for shape in ours if shape.tag is None]
    kafka_fixed = [shape for shape in kafka if shape.tag is None]
    pairs = list(zip(our_fixed, kafka_fixed, strict=False))
    if [s.name for s in our_fixed] != [s.name for s in kafka_fixed]:
        found.append(f"{path}: fields {[s.name for s in our_fixed]} != Kafka's {[s.name for s in kafka_fixed]}")
        return found
    our_tagged = {shape.tag: shape for shape in ours if shape.tag is not None}
    kafka_tagged = {shape.tag: shape for shape in kafka if shape.tag is not None}
    if our_tagged.keys() != kafka_tagged.keys():
        found.append(f"{path}: tags {sorted(our_tagged)} != Kafka's {sorted(kafka_tagged)}")
        return found
    pairs += [(our_tagged[tag], kafka_tagged[tag]) for tag in sorted(our_tagged)]  # type: ignore[index]
    for our, theirs in pairs:
        where = f"{path}.{theirs.name}"
        if our.name != theirs.name:
            found.append(f"{where}: named {our.name}")
        if our.type != theirs.type:
            found.append(f"{where}: type {our.type} != Kafka's {theirs.type}")
        if our.nullable != theirs.nullable:
            found.append(f"{where}: nullable {our.nullable} != Kafka's {theirs.nullable}")
        found += differences(our.fields, theirs.fields, where)
    return found


def served() -> list[tuple[Api, int]]:
    return [
        (codec.api, version)
        for key, codec in sorted(APIS.items())
        for version in range(codec.min_version, codec.max_version + 1)
        if version not in BEYOND_PINNED.get(key, ())
    ]


@pytest.mark.parametrize(("api", "version"), served(), ids=lambda value: getattr(value, "name", value))
def test_declaration_matches_kafka(api: Api, version: int) -> None:
    problems: list[str] = []
    for kind, fields in (("request", api.request), ("response", api.response)):
        message = KAFKA.get((api.key, kind))
        assert message is not None, f"no pinned Kafka {kind} JSON for API {api.key} ({api.name})"
        assert version in version_range(message["validVersions"]), (
            f"{api.name} v{version} is not in Kafka's validVersions {message['validVersions']}"
        )
        kafka_flexible = version in version_range(message.get("flexibleVersions"))
        if api.is_flexible(version) != kafka_flexible:
            problems.append(f"{kind}: flexible {api.is_flexible(version)} != Kafka's {kafka_flexible}")
        common = {struct["name"]: struct["fields"] for struct in message.get("commonStructs", [])}
        kafka = kafka_shapes(message["fields"], version, kafka_flexible, common)
        problems += differences(our_shapes(fields, version, kafka_flexible), kafka, f"{kind} v{version}")
    assert not problems, f"{api.name} v{version}:\n" + "\n".join(problems)


def test_versions_beyond_the_pinned_json_are_listed_exactly() -> None:
    """An entry of BEYOND_PINNED that the pinned JSON now covers, or that we no longer serve, is stale."""
    for key, versions in BEYOND_PINNED.items():
        codec = APIS[key]
        message = KAFKA.get((key, "request"))
        for version in versions:
            assert codec.min_version <= version <= codec.max_version, f"API {key} v{version} is not served"
            covered = message is not None and version in version_range(message["validVersions"])
            assert not covered or message["name"] != f"{codec.api.name}Request", (
                f"API {key} v{version} is in the pinned JSON now: check it"
            )


def test_every_served_api_but_those_newer_than_the_pinned_json_is_pinned() -> None:
    pinned = {key for key, _ in KAFKA}
    assert set(APIS) - pinned == {74, 90, 91, 92}
    assert pinned <= set(APIS)


def test_the_checker_reports_a_renamed_field_and_a_wrong_nullability() -> None:
    produce = APIS[0].api
    message = KAFKA[(0, "response")]
    kafka = kafka_shapes(message["fields"], 9, True, {})
    ours = our_shapes(produce.response, 9, True)
    renamed = (ours[0], Shape("throttle_ms", "int32", False, None, ()))
    assert differences(renamed, kafka, "v9") == [
        "v9: fields ['responses', 'throttle_ms'] != Kafka's ['responses', 'throttle_time_ms']"
    ]
    nullable = (ours[0], Shape("throttle_time_ms", "int32", True, None, ()))
    assert differences(nullable, kafka, "v9") == ["v9.throttle_time_ms: nullable True != Kafka's False"]
