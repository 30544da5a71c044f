"""A small blocking Kafka client over our own codecs, for `streamhouse groups` and for tests.

It speaks the Kafka protocol as any admin client does, so it works against any broker: it asks
each broker's API versions and uses the highest version both sides know, lists groups at every
broker, finds a group's coordinator with FindCoordinator, and reads high watermarks from each
partition's leader.
"""

from __future__ import annotations

import socket
import struct
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from streamhouse.protocol import consumer_protocol, wire
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.consumer_group_describe import CONSUMER_GROUP_DESCRIBE
from streamhouse.protocol.apis.describe_groups import DESCRIBE_GROUPS
from streamhouse.protocol.apis.find_coordinator import FIND_COORDINATOR
from streamhouse.protocol.apis.list_groups import LIST_GROUPS
from streamhouse.protocol.apis.list_offsets import LIST_OFFSETS
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.offset_fetch import OFFSET_FETCH
from streamhouse.protocol.codec import ApiCodec
from streamhouse.protocol.errors import ErrorCode, ProtocolError
from streamhouse.protocol.messages.list_offsets import ListOffsetsPartition, ListOffsetsTopic

_SIZE = struct.Struct(">i")
LATEST_OFFSET = -1  # ListOffsets' timestamp for the high watermark
GROUP_KEY_TYPE = 0


class ClientError(Exception):
    """The broker refused a request, answered with an error, or could not be reached."""


class BrokerConnection:
    """One blocking connection to one broker; requests go one at a time."""

    def __init__(
        self, address: str, timeout: float = 10.0, client_id: str = "streamhouse-cli", source_host: str | None = None
    ) -> None:
        host, _, port = address.rpartition(":")
        source = None if source_host is None else (source_host, 0)
        try:
            self.sock = socket.create_connection((host, int(port)), timeout=timeout, source_address=source)
        except (OSError, ValueError) as exc:
            raise ClientError(f"cannot connect to {address}: {exc}") from None
        self.address = address
        self.client_id = client_id
        self.correlation_id = 0
        self._versions: dict[int, tuple[int, int]] | None = None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> BrokerConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive_frame(self) -> bytes:
        size = _SIZE.unpack(self._read(_SIZE.size))[0]
        return self._read(size)

    def request(self, api: ApiCodec, version: int, body: Any) -> Any:
        """Send one request at this version and read its response."""
        self.correlation_id += 1
        self.send_raw(wire.encode_request(api, version, self.correlation_id, self.client_id, body))
        correlation_id, response = wire.decode_response(api, version, self.receive_frame())
        if correlation_id != self.correlation_id:
            raise ProtocolError(f"response to request {correlation_id}, expected {self.correlation_id}")
        return response

    def call(self, api: ApiCodec, body: Any) -> tuple[int, Any]:
        """Send at the highest version both sides serve: (that version, the response)."""
        version = self.version_for(api)
        return version, self.request(api, version, body)

    def version_for(self, api: ApiCodec) -> int:
        if self._versions is None:
            # v0 is the one every broker answers; its response lists every API's versions.
            answer = self.request(API_VERSIONS, 0, API_VERSIONS.Request())
            _check(answer.error_code, "ApiVersions")
            self._versions = {v.api_key: (v.min_version, v.max_version) for v in answer.api_keys}
        low, high = self._versions.get(api.key, (0, -1))
        version = min(high, api.max_version)
        if version < max(low, api.min_version):
            raise ClientError(f"{self.address} serves no version of {api.name} this client speaks")
        return version

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            try:
                chunk = self.sock.recv(size)
            except OSError as exc:
                raise ClientError(f"{self.address}: {exc}") from None
            if not chunk:
                raise ClientError(f"{self.address} closed the connection")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)


def _check(error_code: int, what: str) -> None:
    if error_code:
        raise ClientError(f"{what}: {ErrorCode(error_code).name}")


# -- groups ----------------------------------------------------------------------

TopicPartition = tuple[str, int]


@dataclass(frozen=True)
class GroupListing:
    group_id: str
    protocol_type: str
    state: str


@dataclass(frozen=True)
class MemberView:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    partitions: tuple[TopicPartition, ...]  # decoded when the group runs the consumer protocol


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: no committed offset
    high_watermark: int | None  # None: the partition could not be read
    member_id: str | None  # the member it is assigned to

    @property
    def lag(self) -> int | None:
        if self.committed is None or self.high_watermark is None:
            return None
        return max(self.high_watermark - self.committed, 0)


@dataclass(frozen=True)
class GroupView:
    group_id: str
    state: str
    protocol_type: str
    protocol: str
    members: tuple[MemberView, ...]
    partitions: tuple[PartitionLag, ...]  # by topic and partition: assigned or committed


def list_groups(bootstrap: str) -> list[GroupListing]:
    """Every group of the cluster, by group id: each broker lists the groups it coordinates."""
    listed: list[GroupListing] = []
    with BrokerConnection(bootstrap) as connection:
        _, metadata = connection.call(METADATA, METADATA.Request(topics=[], allow_auto_topic_creation=False))
        for address in sorted({f"{b.host}:{b.port}" for b in metadata.brokers}):
            if address == connection.address:
                listed += _coordinated_groups(connection)
            else:
                with BrokerConnection(address) as other:
                    listed += _coordinated_groups(other)
    return sorted(listed, key=lambda g: g.group_id)


def _coordinated_groups(connection: BrokerConnection) -> list[GroupListing]:
    _, response = connection.call(LIST_GROUPS, LIST_GROUPS.Request())
    _check(response.error_code, f"ListGroups at {connection.address}")
    return [GroupListing(g.group_id, g.protocol_type, g.group_state) for g in response.groups]


def describe_group(bootstrap: str, group_id: str) -> GroupView:
    """A group's members and assignments, with committed offset, high watermark and lag per partition."""
    with BrokerConnection(bootstrap) as connection:
        address = find_coordinator(connection, group_id)
        if address == connection.address:
            (state, protocol_type, protocol, members), committed = _describe_and_fetch(connection, group_id)
        else:
            with BrokerConnection(address) as coordinator:
                (state, protocol_type, protocol, members), committed = _describe_and_fetch(coordinator, group_id)
        owners = {tp: member.member_id for member in members for tp in member.partitions}
        partitions = sorted(set(owners) | set(committed))
        watermarks = high_watermarks(connection, partitions)
    return GroupView(
        group_id,
        state,
        protocol_type,
        protocol,
        members,
        tuple(PartitionLag(*tp, committed.get(tp), watermarks.get(tp), owners.get(tp)) for tp in partitions),
    )


def find_coordinator(connection: BrokerConnection, group_id: str) -> str:
    """The host:port of the group's coordinator."""
    version = connection.version_for(FIND_COORDINATOR)
    if version >= 4:  # a batch of keys replaces the single key
        request = FIND_COORDINATOR.Request(key_type=GROUP_KEY_TYPE, coordinator_keys=[group_id])
        [found] = connection.request(FIND_COORDINATOR, version, request).coordinators
    else:
        found = connection.request(FIND_COORDINATOR, version, FIND_COORDINATOR.Request(key=group_id))
    _check(found.error_code, f"FindCoordinator for group {group_id!r}")
    return f"{found.host}:{found.port}"


# A group's state, protocol type, protocol (a KIP-848 group's: its assignor) and members.
Described = tuple[str, str, str, tuple["MemberView", ...]]


def _describe(connection: BrokerConnection, group_id: str) -> Described:
    _, response = connection.call(DESCRIBE_GROUPS, DESCRIBE_GROUPS.Request(groups=[group_id]))
    [described] = response.groups
    if described.error_code == ErrorCode.GROUP_ID_NOT_FOUND:  # unknown, or (Kafka 4) a KIP-848 consumer group
        return _describe_consumer_group(connection, group_id)
    _check(described.error_code, f"DescribeGroups {group_id!r}")
    members = tuple(_member_view(member, described.protocol_type) for member in described.members)
    return described.group_state, described.protocol_type, described.protocol_data, members


def _describe_consumer_group(connection: BrokerConnection, group_id: str) -> Described:
    request = CONSUMER_GROUP_DESCRIBE.Request(group_ids=[group_id])
    [described] = connection.call(CONSUMER_GROUP_DESCRIBE, request)[1].groups
    if described.error_code == ErrorCode.GROUP_ID_NOT_FOUND:
        return "Dead", "", "", ()  # no such group: described as DescribeGroups did before v6
    _check(described.error_code, f"ConsumerGroupDescribe {group_id!r}")
    members = tuple(
        MemberView(
            m.member_id,
            m.instance_id,
            m.client_id,
            m.client_host,
            tuple(sorted((tp.topic_name, p) for tp in m.assignment.topic_partitions for p in tp.partitions)),
        )
        for m in described.members
    )
    return described.group_state, consumer_protocol.PROTOCOL_TYPE, described.assignor_name, members


def _describe_and_fetch(connection: BrokerConnection, group_id: str) -> tuple[Described, dict[TopicPartition, int]]:
    described = _describe(connection, group_id)
    version = connection.version_for(OFFSET_FETCH)
    if version >= 8:  # a batch of groups replaces the single group
        request = OFFSET_FETCH.Request(
            groups=[OFFSET_FETCH.Request.OffsetFetchRequestGroup(group_id=group_id, topics=None)]
        )
        [response] = connection.request(OFFSET_FETCH, version, request).groups
    else:
        response = connection.request(OFFSET_FETCH, version, OFFSET_FETCH.Request(group_id=group_id, topics=None))
    _check(response.error_code, f"OffsetFetch {group_id!r}")
    committed = {
        (topic.name, p.partition_index): p.committed_offset
        for topic in response.topics
        for p in topic.partitions
        if p.error_code == ErrorCode.NONE and p.committed_offset >= 0
    }
    return described, committed


def _member_view(member: Any, protocol_type: str) -> MemberView:
    partitions: tuple[TopicPartition, ...] = ()
    if protocol_type == consumer_protocol.PROTOCOL_TYPE and member.member_assignment:
        _, assignment = consumer_protocol.decode(consumer_protocol.ASSIGNMENT, bytes(member.member_assignment))
        partitions = tuple(sorted((tp.topic, p) for tp in assignment.assigned_partitions for p in tp.partitions))
    return MemberView(member.member_id, member.group_instance_id, member.client_id, member.client_host, partitions)


def high_watermarks(connection: BrokerConnection, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """The high watermark of each partition, asked of its leader; unreadable partitions are left out."""
    wanted = list(partitions)
    if not wanted:
        return {}
    topics = sorted({topic for topic, _ in wanted})
    _, metadata = connection.call(
        METADATA,
        METADATA.Request(
            topics=[METADATA.Request.MetadataRequestTopic(name=topic) for topic in topics],
            allow_auto_topic_creation=False,
        ),
    )
    brokers = {b.node_id: f"{b.host}:{b.port}" for b in metadata.brokers}
    leaders = {(t.name, p.partition_index): p.leader_id for t in metadata.topics for p in t.partitions}
    by_leader: dict[str, list[TopicPartition]] = defaultdict(list)
    for tp in wanted:
        if tp in leaders and leaders[tp] in brokers:
            by_leader[brokers[leaders[tp]]].append(tp)
    found: dict[TopicPartition, int] = {}
    for address, leading in by_leader.items():
        if address == connection.address:
            found.update(_latest_offsets(connection, leading))
        else:
            with BrokerConnection(address) as leader:
                found.update(_latest_offsets(leader, leading))
    return found


def _latest_offsets(connection: BrokerConnection, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    by_topic: dict[str, list[int]] = defaultdict(list)
    for topic, partition in partitions:
        by_topic[topic].append(partition)
    _, response = connection.call(
        LIST_OFFSETS,
        LIST_OFFSETS.Request(
            replica_id=-1,
            isolation_level=0,
            topics=[
                ListOffsetsTopic(
                    name=topic,
                    partitions=[ListOffsetsPartition(partition_index=p, timestamp=LATEST_OFFSET) for p in indexes],
                )
                for topic, indexes in by_topic.items()
            ],
        ),
    )
    return {
        (topic.name, p.partition_index): p.offset
        for topic in response.topics
        for p in topic.partitions
        if p.error_code == ErrorCode.NONE
    }
