/* A C load generator for `streamhouse bench` (client "c"), against librdkafka.
 *
 * produce BOOTSTRAP TOPIC SIZE COUNT ACKS LATENCY_FILE
 *   sends COUNT copies of one SIZE-byte value (null keys, linger 5 ms, no compression) as fast as
 *   librdkafka takes them; writes each delivery's latency in microseconds (uint32, send to report)
 *   to LATENCY_FILE; prints one line:
 *   started=<s> ended=<s> delivered=<n> errors=<n> first_error=<text> partitions=<p>:<count>:<dense>,...
 *   where started/ended are CLOCK_MONOTONIC seconds (the clock starts after the connection is up) and
 *   dense is 1 when that partition's offsets were exactly 0..count-1.
 * consume BOOTSTRAP TOPIC SIZE PARTITIONS COUNTS
 *   assigns every partition at offset 0 (a new topic) and reads until each has given COUNTS (comma-separated,
 *   one per partition) records, checking that each carries the next offset and the produced value;
 *   prints started=<s> ended=<s> consumed=<n> errors=<n> first_error=<text>.
 * The value is bytes i % 251, as benchmarks/throughput.py's payload_of makes it.
 */
#include "rdkafka.h" /* librdkafka's src/, built by compat/librdkafka from its npm package */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PARTITIONS 1024
#define STALL_SECONDS 120.0

typedef struct {
    long count;
    long max_offset;
    long double offset_sum;
    int below_zero;
} partition_seen;

static partition_seen seen[MAX_PARTITIONS];
static uint32_t *latencies;
static long delivered, errors;
static char first_error[256];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *what, const char *why) {
    fprintf(stderr, "cload: %s: %s\n", what, why);
    exit(2);
}

static void note_error(const char *text) {
    if (errors++ == 0) {
        snprintf(first_error, sizeof first_error, "%s", text);
        for (char *c = first_error; *c; c++) /* one word, for the key=value report */
            if (*c == ' ')
                *c = '_';
    }
}

static void set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char why[512];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK)
        fail(name, why);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) {
        note_error(rd_kafka_err2str(m->err));
        return;
    }
    if (m->partition < 0 || m->partition >= MAX_PARTITIONS || m->offset < 0) {
        note_error("delivery report without a partition or offset");
        return;
    }
    partition_seen *p = &seen[m->partition];
    p->count++;
    p->offset_sum += m->offset;
    if (m->offset > p->max_offset)
        p->max_offset = m->offset;
    int64_t latency = rd_kafka_message_latency(m);
    latencies[delivered++] = latency < 0 ? 0 : (uint32_t)latency;
}

static void make_value(char *value, long size) {
    for (long i = 0; i < size; i++)
        value[i] = (char)(i % 251);
}

static void connect_to(rd_kafka_t *rk, rd_kafka_topic_t *topic) {
    const struct rd_kafka_metadata *metadata;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, topic, &metadata, 30000);
    if (err)
        fail("metadata", rd_kafka_err2str(err));
    rd_kafka_metadata_destroy(metadata);
}

static int produce(const char *bootstrap, const char *topic_name, long size, long count, const char *acks,
                   const char *latency_file) {
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "acks", acks);
    set(conf, "linger.ms", "5");
    set(conf, "compression.type", "none");
    set(conf, "queue.buffering.max.messages", "1000000");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!rk)
        fail("producer", why);
    rd_kafka_topic_t *topic = rd_kafka_topic_new(rk, topic_name, NULL);
    latencies = calloc(count > 0 ? count : 1, sizeof *latencies);
    char *value = malloc(size > 0 ? size : 1);
    make_value(value, size);
    for (int i = 0; i < MAX_PARTITIONS; i++)
        seen[i].max_offset = -1;
    connect_to(rk, topic);
    double started = now();
    for (long sent = 0; sent < count;) {
        if (rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, value, size, NULL, 0, NULL) == 0) {
            sent++;
            rd_kafka_poll(rk, 0);
        } else if (rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 10);
        } else {
            fail("produce", rd_kafka_err2str(rd_kafka_last_error()));
        }
    }
    double deadline = now() + STALL_SECONDS;
    while (rd_kafka_outq_len(rk) > 0 && now() < deadline)
        rd_kafka_poll(rk, 50);
    double ended = now();
    if (rd_kafka_outq_len(rk) > 0)
        note_error("records still undelivered at the deadline");
    FILE *out = fopen(latency_file, "wb");
    if (!out || fwrite(latencies, sizeof *latencies, delivered, out) != (size_t)delivered || fclose(out))
        fail("latency file", latency_file);
    printf("started=%.6f ended=%.6f delivered=%ld errors=%ld first_error=%s partitions=", started, ended, delivered,
           errors, errors ? first_error : "-");
    const char *comma = "";
    for (int i = 0; i < MAX_PARTITIONS; i++) {
        partition_seen *p = &seen[i];
        if (!p->count)
            continue;
        long double n = p->count;
        int dense = p->max_offset == p->count - 1 && p->offset_sum == n * (n - 1) / 2;
        printf("%s%d:%ld:%d", comma, i, p->count, dense);
        comma = ",";
    }
    printf("\n");
    rd_kafka_topic_destroy(topic);
    rd_kafka_destroy(rk);
    return 0;
}

static int consume(const char *bootstrap, const char *topic_name, long size, int partitions, const char *counts) {
    char why[512];
    long expected[MAX_PARTITIONS] = {0}, next_offset[MAX_PARTITIONS] = {0}, total = 0, consumed = 0;
    if (partitions < 1 || partitions > MAX_PARTITIONS)
        fail("partitions", "out of range");
    const char *cursor = counts;
    for (int i = 0; i < partitions; i++) {
        char *end;
        expected[i] = strtol(cursor, &end, 10);
        total += expected[i];
        cursor = *end == ',' ? end + 1 : end;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "group.id", "streamhouse-benchmark"); /* required by librdkafka, never joined */
    set(conf, "enable.auto.commit", "false");
    set(conf, "fetch.queue.backoff.ms", "10");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk)
        fail("consumer", why);
    rd_kafka_topic_t *topic = rd_kafka_topic_new(rk, topic_name, NULL);
    connect_to(rk, topic);
    rd_kafka_topic_destroy(topic);
    char *value = malloc(size > 0 ? size : 1);
    make_value(value, size);
    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; i++)
        rd_kafka_topic_partition_list_add(assignment, topic_name, i)->offset = 0; /* the topic is new: no ListOffsets */
    double started = now(), last_progress = started;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, assignment);
    if (err)
        fail("assign", rd_kafka_err2str(err));
    while (consumed < total && errors == 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) {
            if (now() - last_progress > STALL_SECONDS) {
                note_error("stalled");
                break;
            }
            continue;
        }
        last_progress = now();
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                note_error(rd_kafka_message_errstr(m));
        } else if (m->partition < 0 || m->partition >= partitions || m->offset != next_offset[m->partition]) {
            char what[128];
            snprintf(what, sizeof what, "partition %d gave offset %lld where %ld was next", (int)m->partition,
                     (long long)m->offset, m->partition >= 0 && m->partition < partitions ? next_offset[m->partition] : -1L);
            note_error(what);
        } else if ((long)m->len != size || memcmp(m->payload, value, size) != 0) {
            note_error("a value differs from the produced one");
        } else {
            next_offset[m->partition]++;
            consumed++;
        }
        rd_kafka_message_destroy(m);
    }
    double ended = now();
    for (int i = 0; i < partitions && errors == 0; i++)
        if (next_offset[i] != expected[i])
            note_error("a partition gave other than the records produced");
    printf("started=%.6f ended=%.6f consumed=%ld errors=%ld first_error=%s\n", started, ended, consumed, errors,
           errors ? first_error : "-");
    rd_kafka_topic_partition_list_destroy(assignment);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return errors ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 8 && strcmp(argv[1], "produce") == 0)
        return produce(argv[2], argv[3], atol(argv[4]), atol(argv[5]), argv[6], argv[7]);
    if (argc == 7 && strcmp(argv[1], "consume") == 0)
        return consume(argv[2], argv[3], atol(argv[4]), atoi(argv[5]), argv[6]);
    fprintf(stderr, "usage: cload produce BOOTSTRAP TOPIC SIZE COUNT ACKS LATENCY_FILE\n"
                    "       cload consume BOOTSTRAP TOPIC SIZE PARTITIONS COUNTS\n");
    return 2;
}
