"""A KIP-848 consumer group as its coordinator keeps it: epochs, members, target and current assignments.

The group epoch grows with every change of membership, subscriptions or subscribed topics' partitions;
the target assignment is computed at once for that epoch (the assignment epoch). Each member then
reconciles towards its target one heartbeat at a time, as Kafka's CurrentAssignmentBuilder:

- STABLE: the member owns its target at the assignment epoch;
- UNREVOKED_PARTITIONS: it must first give up partitions that left its target; it keeps its epoch,
  and the partitions stay its own (nobody else gets them) until a heartbeat no longer lists them;
- UNRELEASED_PARTITIONS: it is at the assignment epoch, but some of its target is still owned by
  members that have not yet released it; it gets them at a later heartbeat.

The whole group serialises to one JSON document (the metadata store's consumer_groups role), so any
broker can continue it; timers are not part of it and restart where it is loaded.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from streamhouse.broker.groups.assignors import Assignment
from streamhouse.broker.groups.clock import Timer
from streamhouse.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamhouse.broker.topics import TopicCache
    from streamhouse.metadata.base import TopicInfo

LEAVE_EPOCH = -1  # a member leaving for good
STATIC_LEAVE_EPOCH = -2  # a static member leaving, its instance id to rejoin


class MemberState(enum.Enum):
    STABLE = "stable"
    UNREVOKED_PARTITIONS = "unrevoked_partitions"
    UNRELEASED_PARTITIONS = "unreleased_partitions"


def partitions_of(assignment: Mapping[UUID, Iterable[int]]) -> set[tuple[UUID, int]]:
    return {(topic, partition) for topic, partitions in assignment.items() for partition in partitions}


def assignment_of(partitions: Iterable[tuple[UUID, int]]) -> Assignment:
    grouped: dict[UUID, set[int]] = {}
    for topic, partition in partitions:
        grouped.setdefault(topic, set()).add(partition)
    return {topic: frozenset(found) for topic, found in grouped.items()}


@dataclass(eq=False)
class ConsumerMember:
    member_id: str
    instance_id: str | None
    rack_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: MemberState = MemberState.STABLE
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    # A classic member (JoinGroup/SyncGroup/Heartbeat) of a group being migrated: its protocols, in order,
    # and its own session timeout; None for a consumer-protocol member.
    classic_protocols: list[tuple[str, bytes]] | None = None
    classic_session_timeout_ms: int = 0
    session_timer: Timer | None = None
    rebalance_timer: Timer | None = None

    def owned(self) -> set[tuple[UUID, int]]:
        """Partitions nobody else may get yet: those assigned and those not yet revoked."""
        return partitions_of(self.assigned) | partitions_of(self.pending_revocation)

    def cancel_timers(self) -> None:
        for timer in (self.session_timer, self.rebalance_timer):
            if timer is not None:
                timer.cancel()
        self.session_timer = self.rebalance_timer = None

    def reconcile(
        self, target: Assignment, target_epoch: int, owned_by_others: set[tuple[UUID, int]], reported: Assignment | None
    ) -> None:
        """Move one step towards the target; `reported` is what the member's heartbeat says it owns, if it said."""
        if self.state is MemberState.UNREVOKED_PARTITIONS:
            if reported is None or partitions_of(reported) & partitions_of(self.pending_revocation):
                return  # still revoking
            self.pending_revocation = {}
            self.state = MemberState.STABLE
        if self.state is MemberState.STABLE and self.member_epoch == target_epoch:
            return
        current, wanted = partitions_of(self.assigned), partitions_of(target)
        if current - wanted:
            self.assigned = assignment_of(current & wanted)
            self.pending_revocation = assignment_of(current - wanted)
            self.state = MemberState.UNREVOKED_PARTITIONS
            return
        free = {key for key in wanted - current if key not in owned_by_others}
        self.assigned = assignment_of(current | free)
        if self.member_epoch != target_epoch:
            self.previous_member_epoch, self.member_epoch = self.member_epoch, target_epoch
        complete = current | free == wanted
        self.state = MemberState.STABLE if complete else MemberState.UNRELEASED_PARTITIONS

    def to_json(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "instance_id": self.instance_id,
            "rack_id": self.rack_id,
            "client_id": self.client_id,
            "client_host": self.client_host,
            "rebalance_timeout_ms": self.rebalance_timeout_ms,
            "subscribed_topic_names": list(self.subscribed_topic_names),
            "subscribed_topic_regex": self.subscribed_topic_regex,
            "server_assignor": self.server_assignor,
            "member_epoch": self.member_epoch,
            "previous_member_epoch": self.previous_member_epoch,
            "state": self.state.value,
            "assigned": _assignment_json(self.assigned),
            "pending_revocation": _assignment_json(self.pending_revocation),
            "classic_protocols": None
            if self.classic_protocols is None
            else [[name, base64.b64encode(metadata).decode()] for name, metadata in self.classic_protocols],
            "classic_session_timeout_ms": self.classic_session_timeout_ms,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConsumerMember:
        return cls(
            member_id=data["member_id"],
            instance_id=data["instance_id"],
            rack_id=data["rack_id"],
            client_id=data["client_id"],
            client_host=data["client_host"],
            rebalance_timeout_ms=data["rebalance_timeout_ms"],
            subscribed_topic_names=tuple(data["subscribed_topic_names"]),
            subscribed_topic_regex=data["subscribed_topic_regex"],
            server_assignor=data["server_assignor"],
            member_epoch=data["member_epoch"],
            previous_member_epoch=data["previous_member_epoch"],
            state=MemberState(data["state"]),
            assigned=_assignment_from(data["assigned"]),
            pending_revocation=_assignment_from(data["pending_revocation"]),
            classic_protocols=None
            if data["classic_protocols"] is None
            else [(name, base64.b64decode(metadata)) for name, metadata in data["classic_protocols"]],
            classic_session_timeout_ms=data["classic_session_timeout_ms"],
        )


def _assignment_json(assignment: Assignment) -> dict[str, list[int]]:
    return {str(topic): sorted(partitions) for topic, partitions in sorted(assignment.items())}


def _assignment_from(data: Mapping[str, list[int]]) -> Assignment:
    return {UUID(topic): frozenset(partitions) for topic, partitions in data.items()}


# The subscribed topics as the target was computed for: name -> (topic id, partition count)
TopicView = dict[str, tuple[UUID, int]]


async def topic_view(topics: TopicCache) -> TopicView:
    """Every topic by name, with its id and partition count, kept until a topic changes."""

    def build(listed: list[TopicInfo], last: TopicView | None) -> TopicView:
        return {t.name: (t.topic_id, t.partitions) for t in listed}

    return await topics.derived("consumer-group-topic-view", build)


@dataclass(eq=False)
class ConsumerGroup:
    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    assignor: str = ""
    members: dict[str, ConsumerMember] = field(default_factory=dict)
    target: dict[str, Assignment] = field(default_factory=dict)
    topics: TopicView = field(default_factory=dict)
    regex_matches: dict[str, tuple[str, ...]] = field(default_factory=dict)
    saved: str = ""  # the document last queued for the store

    @property
    def state(self) -> str:
        """Kafka's consumer group state names."""
        if not self.members:
            return "Empty"
        if self.assignment_epoch < self.group_epoch:
            return "Assigning"
        if any(
            m.member_epoch != self.assignment_epoch or m.state is not MemberState.STABLE for m in self.members.values()
        ):
            return "Reconciling"
        return "Stable"

    @property
    def has_consumer_members(self) -> bool:
        return any(member.classic_protocols is None for member in self.members.values())

    def static_member(self, instance_id: str) -> ConsumerMember | None:
        return next((m for m in self.members.values() if m.instance_id == instance_id), None)

    def owned_by_others(self, member_id: str) -> set[tuple[UUID, int]]:
        owned: set[tuple[UUID, int]] = set()
        for other in self.members.values():
            if other.member_id != member_id:
                owned |= other.owned()
        return owned

    def subscribed_names(self) -> set[str]:
        """Every topic name the members subscribe to, by name or through a regex's last resolution."""
        names: set[str] = set()
        for member in self.members.values():
            names.update(member.subscribed_topic_names)
            if member.subscribed_topic_regex is not None:
                names.update(self.regex_matches.get(member.subscribed_topic_regex, ()))
        return names

    def member_topics(self, member: ConsumerMember) -> frozenset[UUID]:
        names = set(member.subscribed_topic_names)
        if member.subscribed_topic_regex is not None:
            names.update(self.regex_matches.get(member.subscribed_topic_regex, ()))
        return frozenset(self.topics[name][0] for name in names if name in self.topics)

    def document(self) -> str:
        return json.dumps(
            {
                "group_epoch": self.group_epoch,
                "assignment_epoch": self.assignment_epoch,
                "assignor": self.assignor,
                "members": [member.to_json() for member in self.members.values()],
                "target": {m: _assignment_json(a) for m, a in sorted(self.target.items())},
                "topics": {name: [str(tid), count] for name, (tid, count) in sorted(self.topics.items())},
                "regex_matches": {regex: list(names) for regex, names in sorted(self.regex_matches.items())},
            },
            sort_keys=True,
        )

    @classmethod
    def from_document(cls, group_id: str, document: str) -> ConsumerGroup:
        data = json.loads(document)
        members = [ConsumerMember.from_json(m) for m in data["members"]]
        return cls(
            group_id=group_id,
            group_epoch=data["group_epoch"],
            assignment_epoch=data["assignment_epoch"],
            assignor=data["assignor"],
            members={m.member_id: m for m in members},
            target={m: _assignment_from(a) for m, a in data["target"].items()},
            topics={name: (UUID(tid), count) for name, (tid, count) in data["topics"].items()},
            regex_matches={regex: tuple(names) for regex, names in data["regex_matches"].items()},
            saved=document,
        )

    def commit_error(self, member_id: str, member_epoch: int) -> ErrorCode | None:
        """Why a member may not commit offsets now (Kafka's validateOffsetCommit), or None."""
        if member_epoch < 0 and not self.members:
            return None  # the admin client, or a consumer assigning partitions itself, on an empty group
        member = self.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch > member.member_epoch:
            return ErrorCode.FENCED_MEMBER_EPOCH
        if member_epoch < member.member_epoch:
            return ErrorCode.STALE_MEMBER_EPOCH
        return None

    def fetch_error(self, member_id: str | None, member_epoch: int) -> ErrorCode | None:
        """Why a member's OffsetFetch (v9+) may not read (Kafka's validateOffsetFetch), or None."""
        if member_epoch < 0 and member_id is None:
            return None
        member = self.members.get(member_id or "")
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            return ErrorCode.STALE_MEMBER_EPOCH
        return None
