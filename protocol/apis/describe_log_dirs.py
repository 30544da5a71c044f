"""DescribeLogDirs (key 35), versions 1-4.

Our declaration of Kafka's DescribeLogDirsRequest/Response fields, from v1 (Kafka 4's floor) to
v4 (Kafka 4.2's ceiling; v5 adds IsCordoned). v2 is the first flexible version; v3 adds the
top-level error code, v4 each log dir's volume total and usable bytes.
"""

from streamhouse.protocol.registry import register
from streamhouse.protocol.schema import F, declare

DESCRIBE_LOG_DIRS = register(
    declare(
        35,
        "DescribeLogDirs",
        versions=(1, 4),
        flexible="2+",
        request=[
            F(
                "topics",
                "[]DescribableLogDirTopic",
                "0+",
                F("topic", "string"),
                F("partitions", "[]int32"),
                nullable="0+",
            ),
        ],
        response=[
            F("throttle_time_ms", "int32"),
            F("error_code", "int16", "3+", ignorable=True),
            F(
                "results",
                "[]DescribeLogDirsResult",
                "0+",
                F("error_code", "int16"),
                F("log_dir", "string"),
                F(
                    "topics",
                    "[]DescribeLogDirsTopic",
                    "0+",
                    F("name", "string"),
                    F(
                        "partitions",
                        "[]DescribeLogDirsPartition",
                        "0+",
                        F("partition_index", "int32"),
                        F("partition_size", "int64"),
                        F("offset_lag", "int64"),
                        F("is_future_key", "bool"),
                    ),
                ),
                F("total_bytes", "int64", "4+", default=-1, ignorable=True),
                F("usable_bytes", "int64", "4+", default=-1, ignorable=True),
            ),
        ],
    )
)
