"""The KIP-848 consumer group APIs under the ACL authorizer, as Kafka checks them.

ConsumerGroupHeartbeat: READ on the group, DESCRIBE on each topic subscribed by name.
ConsumerGroupDescribe: DESCRIBE on the group, and on every topic its assignments name.
"""

from __future__ import annotations

from streamhouse.broker.app import Broker
from streamhouse.protocol.apis.consumer_group_describe import CONSUMER_GROUP_DESCRIBE
from streamhouse.protocol.apis.consumer_group_heartbeat import CONSUMER_GROUP_HEARTBEAT
from tests.broker.test_acl_handlers import ADMIN, ALICE, GROUP, TOPIC, E, Op, Peer, broker, grant, send

__all__ = ["broker"]  # the fixture: a broker with --authorizer acl and topics orders and secret


async def heartbeat(broker: Broker, who: Peer, topics: list[str], group: str = "g", member: str = "m") -> int:
    response = await send(
        broker, CONSUMER_GROUP_HEARTBEAT, who, group_id=group, member_id=member, member_epoch=0,
        rebalance_timeout_ms=1000, subscribed_topic_names=topics, topic_partitions=[],
    )  # fmt: skip
    return int(response.error_code)


async def test_heartbeat_needs_read_on_the_group_and_describe_on_its_topics(broker: Broker) -> None:
    assert await heartbeat(broker, ALICE, ["orders"]) == E.GROUP_AUTHORIZATION_FAILED
    await grant(broker, GROUP, "g", Op.READ)
    assert await heartbeat(broker, ALICE, ["orders"]) == E.TOPIC_AUTHORIZATION_FAILED
    await grant(broker, TOPIC, "orders", Op.DESCRIBE)
    assert await heartbeat(broker, ALICE, ["orders"]) == E.NONE
    assert await heartbeat(broker, ALICE, ["orders", "secret"], member="m2") == E.TOPIC_AUTHORIZATION_FAILED


async def test_describe_needs_describe_on_the_group_and_on_the_assigned_topics(broker: Broker) -> None:
    assert await heartbeat(broker, ADMIN, ["secret"]) == E.NONE
    await heartbeat(broker, ADMIN, ["orders"], group="visible")

    async def described(group: str) -> tuple[int, int]:
        answer = await send(
            broker, CONSUMER_GROUP_DESCRIBE, ALICE, group_ids=[group], include_authorized_operations=True
        )
        return answer.groups[0].error_code, len(answer.groups[0].members)

    assert await described("g") == (E.GROUP_AUTHORIZATION_FAILED, 0)
    await grant(broker, GROUP, "g", Op.DESCRIBE)
    await grant(broker, GROUP, "visible", Op.DESCRIBE)
    assert await described("g") == (E.TOPIC_AUTHORIZATION_FAILED, 0)  # its members read "secret"
    await grant(broker, TOPIC, "orders", Op.DESCRIBE)
    assert await described("visible") == (E.NONE, 1)
