#!/bin/sh
# One-shot Kafka set-up for deploy/docker-compose.yml: the wire topics with the partition count the
# worker expects (WIREWATCH_TOPIC_PARTITIONS). Partitions bound the worker replicas that share the
# work. Idempotent (--if-not-exists); Faust creates its own internal topics.
set -eu

BOOTSTRAP=${WIREWATCH_KAFKA_BOOTSTRAP:-kafka:9092}
PARTITIONS=${WIREWATCH_TOPIC_PARTITIONS:-4}
TOPICS=/opt/kafka/bin/kafka-topics.sh

for topic in "${WIREWATCH_TOPIC_RAW:-wire.stories.raw}" \
             "${WIREWATCH_TOPIC_TAGGED:-wire.stories.tagged}" \
             "${WIREWATCH_TOPIC_ALERTS:-wire.alerts}" \
             "${WIREWATCH_TOPIC_DEADLETTER:-wire.deadletter}"; do
  "$TOPICS" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$topic" \
    --partitions "$PARTITIONS" --replication-factor 1
done
"$TOPICS" --bootstrap-server "$BOOTSTRAP" --describe --topic "${WIREWATCH_TOPIC_RAW:-wire.stories.raw}"
