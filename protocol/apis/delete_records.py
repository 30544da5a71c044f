"""DeleteRecords (key 21), versions 0-2.

Our declaration of Kafka's DeleteRecordsRequest/Response fields. The wire shape is the same in
every version; v2 is the first flexible one.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DELETE_RECORDS = register(
    declare(
        21,
        "DeleteRecords",
        versions=(0, 2),
        flexible="2+",
        request=[
            F(
                "topics",
                "[]DeleteRecordsTopic",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]DeleteRecordsPartition",
                    "0+",
                    F("partition_index", "int32"),
                    F("offset", "int64"),
                ),
            ),
            F("timeout_ms", "int32"),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F(
                "topics",
                "[]DeleteRecordsTopicResult",
                "0+",
                F("name", "string"),
                F(
                    "partitions",
                    "[]DeleteRecordsPartitionResult",
                    "0+",
                    F("partition_index", "int32"),
                    F("low_watermark", "int64"),
                    F("error_code", "int16"),
                ),
            ),
        ],
    )
)
