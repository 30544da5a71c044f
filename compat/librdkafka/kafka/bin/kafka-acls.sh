#!/bin/sh
# Kafka's kafka-acls.sh for librdkafka's tests (KAFKA_PATH points at the folder above bin/): the
# subset they use, through compat/librdkafka/kafka_acls.py.
exec "${STREAMHOUSE_PYTHON:-python3}" -m compat.librdkafka.kafka_acls "$@"
