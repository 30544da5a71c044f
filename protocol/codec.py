"""From declarations to message classes and compiled construct codecs.

Every struct in a declaration becomes one dataclass holding the union of its fields
over all versions (a field a version lacks keeps its default). For each version,
`StructCodec` is a construct that emits one parse and one build function; a message
is compiled once per version and cached.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from io import BytesIO
from typing import Any

import construct as c

from streamhouse.protocol.errors import EncodeError
from streamhouse.protocol.primitives import (
    ZERO_UUID,
    Array,
    FixedWidth,
    NullableStruct,
    SelfCompiled,
    Stream,
    link,
    primitive,
)
from streamhouse.protocol.schema import MISSING, Api, Field, VersionRange

_TYPE_DEFAULTS: dict[str, Any] = {
    "bool": False,
    "int8": 0,
    "int16": 0,
    "uint16": 0,
    "int32": 0,
    "uint32": 0,
    "int64": 0,
    "float64": 0.0,
    "string": "",
    "bytes": b"",
    "records": None,
    "uuid": ZERO_UUID,
}
_LITERAL_TYPES = (bool, int, float, str, bytes, type(None))


def message_class(name: str, fields: tuple[Field, ...]) -> type:
    """A slotted dataclass for one struct; nested struct classes hang off it by type name."""
    nested: dict[str, type] = {}
    nested_fields: dict[str, tuple[Field, ...]] = {}
    members: list[tuple[str, Any, Any]] = []
    for field in fields:
        if field.is_struct:
            known = nested_fields.get(field.element_type)
            if known is None:
                nested[field.element_type] = message_class(field.element_type, field.fields)
                nested_fields[field.element_type] = field.fields
            elif known != field.fields:  # a common struct (Kafka's commonStructs) may serve several fields
                raise ValueError(f"{name}: struct type {field.element_type} declared twice")
        factory = _default_factory(field, nested.get(field.element_type))
        if factory is None:
            members.append((field.name, Any, dataclasses.field(default=default_value(field))))
        else:
            members.append((field.name, Any, dataclasses.field(default_factory=factory)))
    members.append(("unknown_tags", Any, dataclasses.field(default=None, repr=False)))
    # A docstring given spares dataclasses building one from the signature, a cost at every import.
    cls = dataclasses.make_dataclass(name, members, slots=True, namespace={"__doc__": f"Kafka's {name}."})
    cls.__module__ = "streamhouse.protocol.messages"
    for type_name, sub in nested.items():
        setattr(cls, type_name, sub)
    cls.nested_classes = nested  # type: ignore[attr-defined]
    return cls


def nested_classes(cls: type) -> dict[str, type]:
    """The classes of the structs nested in a message class, by struct type name."""
    nested: dict[str, type] = cls.nested_classes  # type: ignore[attr-defined]
    return nested


def _default_factory(field: Field, struct_class: type | None) -> Callable[[], Any] | None:
    """Arrays and structs without a declared default get a fresh empty value each time."""
    if field.default is not MISSING:
        return None
    if field.is_array:
        return list
    return struct_class


def default_value(field: Field) -> Any:
    """The default of a scalar field: the declared one, else the type's."""
    if field.default is not MISSING:
        return field.default
    return _TYPE_DEFAULTS[field.type]


class StructCodec(SelfCompiled):
    """One struct at one version: regular fields in order, then (flexible) tagged fields."""

    def __init__(self, cls: type, fields: tuple[Field, ...], version: int, flexible: VersionRange) -> None:
        super().__init__()
        self.cls = cls
        self.fields = fields
        self.version = version
        self.flexible = flexible
        self.is_flexible = version in flexible
        self.parts: list[tuple[Field, c.Construct | None, int | None]] = []
        for field in fields:
            present = version in field.versions
            tag = field.tag if (present and self.is_flexible and version in field.tagged) else None
            self.parts.append((field, self._field_construct(field) if present else None, tag))

    def _field_construct(self, field: Field) -> c.Construct:
        flexible = field.flexible if field.flexible is not None else self.flexible
        compact = self.version in flexible
        nullable = self.version in field.nullable
        if field.is_struct:
            element: c.Construct = StructCodec(
                nested_classes(self.cls)[field.element_type], field.fields, self.version, self.flexible
            )
            if not field.is_array:
                return NullableStruct(element) if nullable else element
        elif field.is_array:
            element = primitive(field.element_type, compact, False)
        else:
            return primitive(field.type, compact, nullable)
        return Array(element, compact, nullable)

    def _default_source(self, code: Any, field: Field) -> str:
        factory = _default_factory(field, nested_classes(self.cls).get(field.element_type))
        if factory is list:
            return "[]"
        if factory is not None:
            return f"{link(code, factory, 'default')}()"
        value = default_value(field)
        if isinstance(value, _LITERAL_TYPES):
            return repr(value)
        return link(code, value, "default")

    def _fixed_runs(self) -> dict[int, list[int]]:
        """Runs of two or more adjacent fixed-width fields, packed and unpacked with one struct call.

        The first index of a run maps to the whole run, the others to an empty list."""
        runs: dict[int, list[int]] = {}
        run: list[int] = []
        for index, (_, construct, tag) in enumerate([*self.parts, (None, None, None)]):
            if isinstance(construct, FixedWidth) and tag is None:
                run.append(index)
                continue
            if len(run) > 1:
                runs.update({i: [] for i in run})
                runs[run[0]] = run
            run = []
        return runs

    def _formats(self, run: list[int]) -> str:
        return "".join(self.parts[i][1].fmt[1:] for i in run)  # type: ignore[union-attr]

    def _emitparse(self, code: Any) -> str:
        uid = code.allocateId()
        name = f"parse_{self.cls.__name__}_{uid}"
        cls_name = link(code, self.cls, "cls")
        lines = [f"def {name}(io):"]
        arguments = []
        tag_parsers = []
        runs = self._fixed_runs()
        for index, (field, construct, tag) in enumerate(self.parts):
            if construct is None:
                arguments.append(self._default_source(code, field))
            elif index in runs:
                run = runs[index]
                if run:
                    packer = _run_packer(code, self._formats(run))
                    names = ", ".join(f"v{i}" for i in run)
                    lines.append(f"    {names}, = {packer}.unpack(io.read({packer}.size))")
                arguments.append(f"v{index}")
            elif tag is None:
                lines.append(f"    v{index} = {construct._compileparse(code)}")
                arguments.append(f"v{index}")
            else:
                tag_parsers.append(f"{tag}: lambda io: {construct._compileparse(code)}")
                arguments.append(f"(tags[{tag}] if {tag} in tags else {self._default_source(code, field)})")
        if self.is_flexible:
            parsers = f"tag_parsers_{uid}"
            code.append(
                "from streamhouse.protocol.primitives import READERS\nread_tagged_fields = READERS['read_tagged_fields']"  # noqa: E501
            )
            code.append(f"{parsers} = {{{', '.join(tag_parsers)}}}")
            lines.append(f"    tags, unknown = read_tagged_fields(io, {parsers})")
            arguments.append("unknown")
        else:
            arguments.append("None")
        lines.append(f"    return {cls_name}({', '.join(arguments)})")
        code.append("\n".join(lines))
        return f"{name}(io)"

    def _emitbuild(self, code: Any) -> str:
        uid = code.allocateId()
        name = f"build_{self.cls.__name__}_{uid}"
        code.append("from streamhouse.protocol.errors import EncodeError\nfrom io import BytesIO")
        lines = [f"def {name}(message, io):"]
        tagged: list[tuple[int, str]] = []
        runs = self._fixed_runs()
        for index, (field, construct, tag) in enumerate(self.parts):
            if construct is None:
                if field.ignorable:
                    continue
                lines.append(
                    f"    if message.{field.name} != {self._default_source(code, field)}:\n"
                    f"        raise EncodeError({_cannot_carry(self.cls, field, self.version)!r})"
                )
            elif index in runs:
                run = runs[index]
                if run:
                    values = ", ".join(f"message.{self.parts[i][0].name}" for i in run)
                    lines.append(f"    io.write({_run_packer(code, self._formats(run))}.pack({values}))")
            elif tag is None:
                lines.append(f"    obj = message.{field.name}\n    {construct._compilebuild(code)}")
            else:
                encoder = f"encode_tag_{uid}_{tag}"
                code.append(
                    f"def {encoder}(obj):\n    io = BytesIO()\n    {construct._compilebuild(code)}\n"
                    "    return io.getvalue()"
                )
                tagged.append(
                    (
                        tag,
                        f"    obj = message.{field.name}\n"
                        f"    if obj != {self._default_source(code, field)}:\n"
                        f"        tagged.append(({tag}, {encoder}(obj)))",
                    )
                )
        if self.is_flexible:
            code.append(
                "from streamhouse.protocol.primitives import WRITERS\nwrite_tagged_fields = WRITERS['write_tagged_fields']"  # noqa: E501
            )
            if tagged:
                lines.append("    tagged = []")
                lines.extend(statement for _, statement in sorted(tagged))
                lines.append("    write_tagged_fields(io, tagged, message.unknown_tags)")
            else:  # no tagged field in this version: an empty section unless unknown tags came in
                lines.append("    if message.unknown_tags:\n        write_tagged_fields(io, [], message.unknown_tags)")
                lines.append("    else:\n        io.write(b'\\x00')")
        lines.append("    return message")
        code.append("\n".join(lines))
        return f"{name}(obj, io)"


def _run_packer(code: Any, formats: str) -> str:
    name = f"fixed_run_{formats}"
    code.append(f"import struct\n{name} = struct.Struct('>{formats}')")
    return name


def _cannot_carry(cls: type, field: Field, version: int) -> str:
    return f"{cls.__name__}.{field.name} has no place in version {version} and is not its default"


class MessageCodec:
    """A top-level message (request, response or header): its class and a compiled codec per version."""

    def __init__(self, name: str, fields: tuple[Field, ...], flexible: VersionRange) -> None:
        self.cls = message_class(name, fields)
        self.fields = fields
        self.flexible = flexible
        self._compiled: dict[int, Any] = {}
        self._element_builds: dict[tuple[str, int], Any] = {}

    def compiled(self, version: int) -> Any:
        """The compiled construct for one version, built on first use."""
        compiled = self._compiled.get(version)
        if compiled is None:
            compiled = StructCodec(self.cls, self.fields, version, self.flexible).compile()
            self._compiled[version] = compiled
        return compiled

    def element_encoder(self, field_name: str, version: int) -> Callable[[Any], bytes]:
        """Encodes one element of this message's struct array `field_name` as the whole message at
        `version` would: the pieces of an EncodedElements."""
        build = self._element_builds.get((field_name, version))
        if build is None:
            field = next(field for field in self.fields if field.name == field_name and field.is_struct)
            element = StructCodec(nested_classes(self.cls)[field.element_type], field.fields, version, self.flexible)
            build = self._element_builds[(field_name, version)] = element.compile().buildfunc

        def encode(message: Any) -> bytes:
            io = BytesIO()
            build(message, io, None)
            return io.getvalue()

        return encode

    def parse(self, io: Stream, version: int) -> Any:
        return self.compiled(version).parsefunc(io, None)

    def build(self, message: Any, io: Stream, version: int) -> None:
        if not isinstance(message, self.cls):
            raise EncodeError(f"expected {self.cls.__name__}, got {type(message).__name__}")
        self.compiled(version).buildfunc(message, io, None)


class ApiCodec:
    """One registered API: its declaration, request and response classes and codecs."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.key = api.key
        self.name = api.name
        self.min_version = api.min_version
        self.max_version = api.max_version
        self.request = MessageCodec(f"{api.name}Request", api.request, api.flexible)
        self.response = MessageCodec(f"{api.name}Response", api.response, api.flexible)
        self.Request: Any = self.request.cls
        self.Response: Any = self.response.cls

    def supports(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version

    def is_flexible(self, version: int) -> bool:
        return self.api.is_flexible(version)

    def __repr__(self) -> str:
        return f"ApiCodec({self.name}, key={self.key}, versions={self.min_version}-{self.max_version})"
