"""Client telemetry (KIP-714): GetTelemetrySubscriptions v0 and PushTelemetry v0.

GetTelemetrySubscriptions gives a client without an instance id (the zero UUID) a new one, and
answers the subscription: with --client-telemetry-push-interval-ms 0 (the default) no metrics
(an empty requested_metrics, so clients push nothing), else all of them (one empty prefix) every
that many milliseconds, as deltas, up to telemetry_max_bytes, compressed as Kafka accepts (zstd,
lz4, gzip, snappy). The subscription id is derived from the subscription and the instance id, as
Kafka does, so that any broker recognises it without shared state.

PushTelemetry is accepted and its content dropped; pushes and their bytes are counted on /metrics
(streamhouse_client_telemetry_pushes by outcome, streamhouse_client_telemetry_bytes).
Errors: INVALID_REQUEST (42) for the zero instance id; UNKNOWN_SUBSCRIPTION_ID (117) for a
subscription id that is not the current one (the client asks for the subscription again);
UNSUPPORTED_COMPRESSION_TYPE (76) for a compression type Kafka does not know; TELEMETRY_TOO_LARGE
(118) for metrics above telemetry_max_bytes. Neither API checks the authorizer, as Kafka.
Not kept, unlike Kafka: per-instance state (pushes ahead of the interval are not throttled, and a
push after a terminating one is accepted).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from streamhouse.protocol.apis.get_telemetry_subscriptions import GET_TELEMETRY_SUBSCRIPTIONS
from streamhouse.protocol.apis.push_telemetry import PUSH_TELEMETRY
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.get_telemetry_subscriptions import (
    GetTelemetrySubscriptionsRequest,
    GetTelemetrySubscriptionsResponse,
)
from streamhouse.protocol.messages.push_telemetry import PushTelemetryRequest, PushTelemetryResponse
from streamhouse.protocol.records import Compression

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.handlers import Handler
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

ZERO_UUID = UUID(int=0)
TELEMETRY_MAX_BYTES = 1024 * 1024  # Kafka's telemetry.max.bytes
UNSUBSCRIBED_INTERVAL_MS = 300_000  # Kafka's default interval: how often a client asks again
ACCEPTED_COMPRESSION = [Compression.ZSTD, Compression.LZ4, Compression.GZIP, Compression.SNAPPY]
ALL_METRICS = [""]  # one empty prefix matches every metric


def _subscription(broker: Broker) -> tuple[list[str], int]:
    """(requested metric prefixes, push interval) from the broker's configuration."""
    interval = broker.config.client_telemetry_push_interval_ms
    return (ALL_METRICS, interval) if interval > 0 else ([], UNSUBSCRIBED_INTERVAL_MS)


def subscription_id(metrics: list[str], interval_ms: int, instance: UUID) -> int:
    """A signed 32-bit id that changes with the subscription, different per client instance."""
    digest = zlib.crc32(f"{metrics}{interval_ms}".encode()) ^ zlib.crc32(instance.bytes)
    return digest - (1 << 32) if digest >= 1 << 31 else digest


async def handle_get_telemetry_subscriptions(
    broker: Broker, request: Request[GetTelemetrySubscriptionsRequest], connection: Connection
) -> GetTelemetrySubscriptionsResponse:
    instance = request.body.client_instance_id
    if instance == ZERO_UUID:
        instance = uuid4()
    metrics, interval = _subscription(broker)
    return GetTelemetrySubscriptionsResponse(
        client_instance_id=instance,
        subscription_id=subscription_id(metrics, interval, instance),
        accepted_compression_types=[int(kind) for kind in ACCEPTED_COMPRESSION],
        push_interval_ms=interval,
        telemetry_max_bytes=TELEMETRY_MAX_BYTES,
        delta_temporality=True,
        requested_metrics=metrics,
    )


async def handle_push_telemetry(
    broker: Broker, request: Request[PushTelemetryRequest], connection: Connection
) -> PushTelemetryResponse:
    body = request.body
    error = _push_error(broker, body)
    if broker.metrics is not None:
        broker.metrics.stats.telemetry_pushed(error, len(body.metrics))
    return PushTelemetryResponse(error_code=error)


def _push_error(broker: Broker, body: PushTelemetryRequest) -> ErrorCode:
    if body.client_instance_id == ZERO_UUID:
        return ErrorCode.INVALID_REQUEST
    if body.subscription_id != subscription_id(*_subscription(broker), body.client_instance_id):
        return ErrorCode.UNKNOWN_SUBSCRIPTION_ID
    if body.compression_type not in {int(kind) for kind in Compression}:
        return ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
    if len(body.metrics) > TELEMETRY_MAX_BYTES:
        return ErrorCode.TELEMETRY_TOO_LARGE
    return ErrorCode.NONE


HANDLES: dict[int, Handler] = {
    GET_TELEMETRY_SUBSCRIPTIONS.key: handle_get_telemetry_subscriptions,
    PUSH_TELEMETRY.key: handle_push_telemetry,
}
