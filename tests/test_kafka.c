/*
 * test_kafka.c -- the kafka sink, loaded from the built kafka.so, producing
 * to librdkafka's built-in mock cluster. A real librdkafka consumer reads
 * the topic back and checks every record arrived with its key. With the
 * broker taken down mid-stream the test plays the runtime's supervisor
 * (keep the records from *written on, back off, write again) and checks
 * nothing was lost and any duplicate is one the sink could not avoid.
 */
#include <criterion/criterion.h>

#include "plugin_fixture.h"

#include <sluice/sink.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef KAFKA_PLUGIN
#error "KAFKA_PLUGIN must name the built kafka.so"
#endif

#define TOPIC "app-logs"
#define PARTITIONS 3

static void *handle;
static const sluice_sink_api *api;
static rd_kafka_t *mock_rk;          /* owns the mock cluster */
static rd_kafka_mock_cluster_t *mock;
static char bootstraps[256];

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk, (void)level, (void)fac, (void)buf;
}

static void setup(void)
{
    /* SIGPIPE's default action is death: a broker that goes down must be
     * a failed write, never a signal that ends the host */
    signal(SIGPIPE, SIG_DFL);
    api = plugin_load(KAFKA_PLUGIN, "kafka", &handle);

    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    cr_assert_not_null(mock_rk, "%s", errstr);
    mock = rd_kafka_mock_cluster_new(mock_rk, 2);
    cr_assert_not_null(mock);
    cr_assert_eq(rd_kafka_mock_topic_create(mock, TOPIC, PARTITIONS, 1), 0);
    /* partitions 0 and 2 on broker 1, partition 1 on broker 2 */
    for (int p = 0; p < PARTITIONS; p++)
        cr_assert_eq(rd_kafka_mock_partition_set_leader(mock, TOPIC, p,
                                                        p == 1 ? 2 : 1),
                     0);
    snprintf(bootstraps, sizeof bootstraps, "%s",
             rd_kafka_mock_cluster_bootstraps(mock));
}

static void teardown(void)
{
    if (mock)
        rd_kafka_mock_cluster_destroy(mock);
    mock = NULL;
    if (mock_rk)
        rd_kafka_destroy(mock_rk);
    mock_rk = NULL;
    if (handle)
        dlclose(handle);
    handle = NULL;
}

/* ---- options ---- */

/* The options of a sink on the mock cluster, with short timeouts. */
static void opts_mock(optset *s, const char *timeout_ms)
{
    optset_init(s, "k");
    optset_add(s, "brokers", bootstraps);
    optset_add(s, "topic", TOPIC);
    optset_add(s, "key_field", "user");
    optset_add(s, "timeout_ms", timeout_ms);
    optset_add(s, "rdkafka.linger.ms", "1");
    optset_add(s, "rdkafka.reconnect.backoff.ms", "50");
    optset_add(s, "rdkafka.reconnect.backoff.max.ms", "200");
    optset_add(s, "rdkafka.retry.backoff.ms", "50");
}

static void *open_sink(optset *s)
{
    void *st = plugin_open(api, s);
    cr_assert_not_null(st);
    return st;
}

/* ---- a numbered stream of records ---- */

typedef struct numbered {
    sluice_record r;
    sluice_field f[2];
    char line[96];
    char msg[32];
    char user[16];
} numbered;

/* Record n; every fifth has no user field and so no key. */
static numbered *make_stream(int count)
{
    numbered *v = calloc((size_t)count, sizeof *v);
    cr_assert_not_null(v);
    for (int n = 0; n < count; n++) {
        numbered *x = &v[n];
        snprintf(x->msg, sizeof x->msg, "hello %d", n);
        snprintf(x->line, sizeof x->line, "{\"n\":%d,\"msg\":\"hello %d\"}\n",
                 n, n);
        snprintf(x->user, sizeof x->user, "u%d", n % 7);
        x->r.time_ns = (1700000000000LL + n) * 1000000LL;
        x->r.level = (sluice_level)(n % 6);
        x->r.logger = "app";
        x->r.message = x->msg;
        x->r.message_len = strlen(x->msg);
        x->r.line = x->line;
        x->r.line_len = strlen(x->line);
        x->r.sequence = (uint64_t)n;
        x->f[0] = (sluice_field){"req", 3, "r1", 2};
        x->f[1] = (sluice_field){"user", 4, x->user, strlen(x->user)};
        x->r.fields = x->f;
        x->r.field_count = n % 5 == 4 ? 1 : 2;
    }
    return v;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- reading the topic back ---- */

/* Consume the whole topic: seen[n] counts copies of record n. Stops once
 * `expect` messages arrived and nothing more came for a while (so a
 * duplicate is seen too), or after a bound. Checks every message. */
static void consume_all(const numbered *v, int count, int *seen, int expect)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps,
                                   errstr, sizeof errstr),
                 RD_KAFKA_CONF_OK);
    cr_assert_eq(rd_kafka_conf_set(conf, "group.id", "test", errstr,
                                   sizeof errstr),
                 RD_KAFKA_CONF_OK);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    cr_assert_not_null(c, "%s", errstr);
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(parts, TOPIC, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    cr_assert_eq(rd_kafka_assign(c, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);

    int got = 0;
    int64_t bound = mono_ms() + 20000, quiet_since = mono_ms();
    while (mono_ms() < bound) {
        if (got >= expect && mono_ms() - quiet_since > 1000)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        quiet_since = mono_ms();
        int n = -1;
        char head[32] = ""; /* the payload is not NUL-terminated */
        memcpy(head, m->payload, m->len < 31 ? m->len : 31);
        cr_assert_eq(sscanf(head, "{\"n\":%d,", &n), 1,
                     "unexpected value %.*s", (int)m->len,
                     (const char *)m->payload);
        cr_assert(n >= 0 && n < count, "record %d out of range", n);
        const numbered *x = &v[n];
        /* the value is the rendered line without its newline */
        cr_assert_eq(m->len, x->r.line_len - 1, "record %d: value length", n);
        cr_assert(memcmp(m->payload, x->line, m->len) == 0,
                  "record %d: value %.*s", n, (int)m->len,
                  (const char *)m->payload);
        if (x->r.field_count == 2) {
            cr_assert_not_null(m->key, "record %d has no key", n);
            cr_assert(m->key_len == strlen(x->user) &&
                          memcmp(m->key, x->user, m->key_len) == 0,
                      "record %d: key %.*s, want %s", n, (int)m->key_len,
                      (const char *)m->key, x->user);
        } else {
            cr_assert_null(m->key, "record %d has no user field: no key", n);
        }
        rd_kafka_timestamp_type_t tt;
        cr_assert_eq(rd_kafka_message_timestamp(m, &tt),
                     x->r.time_ns / 1000000, "record %d: timestamp", n);
        rd_kafka_headers_t *h = NULL;
        const void *hv = NULL;
        size_t hlen = 0;
        cr_assert_eq(rd_kafka_message_headers(m, &h), 0);
        cr_assert_eq(rd_kafka_header_get_last(h, "level", &hv, &hlen), 0);
        const char *lvl = sluice_level_name(x->r.level);
        cr_assert(hlen == strlen(lvl) && memcmp(hv, lvl, hlen) == 0,
                  "record %d: level header", n);
        seen[n]++;
        got++;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

TestSuite(kafka, .init = setup, .fini = teardown, .timeout = 90);

Test(kafka, numbered_stream_arrives_once_each_with_its_key)
{
    optset os;
    opts_mock(&os, "10000");
    void *st = open_sink(&os);
    enum { COUNT = 200, BATCH = 25 };
    numbered *v = make_stream(COUNT);
    const sluice_record *b[BATCH];
    for (int at = 0; at < COUNT; at += BATCH) {
        for (int i = 0; i < BATCH; i++)
            b[i] = &v[at + i].r;
        size_t written = 0;
        sluice_error err = {{0}};
        int rc = api->write(st, b, BATCH, &written, &err);
        cr_assert_eq(rc, 0, "write at %d: %s", at, err.message);
        cr_assert_eq(written, (size_t)BATCH);
    }
    sluice_error err = {{0}};
    cr_assert_eq(api->flush(st, &err), 0);
    api->close(st);

    int seen[COUNT] = {0};
    consume_all(v, COUNT, seen, COUNT);
    for (int n = 0; n < COUNT; n++)
        cr_assert_eq(seen[n], 1, "record %d arrived %d times", n, seen[n]);
    free(v);
}

/* Plays the runtime's supervisor: offers records from its cursor in
 * batches; on a write error keeps the records from *written on, backs off
 * and offers them again, until all are written (bounded in time).
 * hook(ctx, next, failures) runs before every write. */
typedef struct supervised {
    int failures;
    int offered[1000];
    size_t first_written;     /* *written of the first failed write */
    int first_batch_at;       /* where that batch started */
    char first_error[SLUICE_ERROR_MAX];
} supervised;

static void supervise(void *st, const numbered *v, int count, int batch,
                      supervised *sv,
                      void (*hook)(void *ctx, int next, int failures),
                      void *ctx)
{
    cr_assert_leq(count, 1000);
    const sluice_record *b[64];
    cr_assert_leq(batch, 64);
    int next = 0; /* the runtime's cursor: first record not yet written */
    int64_t bound = mono_ms() + 45000;
    while (next < count) {
        cr_assert_lt(mono_ms(), bound,
                     "not all written in time: %d of %d, %d failures, "
                     "first error: %s",
                     next, count, sv->failures, sv->first_error);
        if (hook)
            hook(ctx, next, sv->failures);
        int m = count - next < batch ? count - next : batch;
        for (int i = 0; i < m; i++) {
            b[i] = &v[next + i].r;
            sv->offered[next + i]++;
        }
        size_t written = 999;
        sluice_error err = {{0}};
        int rc = api->write(st, b, (size_t)m, &written, &err);
        cr_assert_leq(written, (size_t)m);
        if (rc == 0) {
            cr_assert_eq(written, (size_t)m);
            next += m;
            continue;
        }
        cr_assert_lt(written, (size_t)m, "an error leaves records over");
        cr_assert(strncmp(err.message, "kafka: ", 7) == 0, "error text: %s",
                  err.message);
        if (sv->failures == 0) {
            snprintf(sv->first_error, sizeof sv->first_error, "%s",
                     err.message);
            sv->first_written = written;
            sv->first_batch_at = next;
        }
        next += (int)written;
        sv->failures++;
        sleep_ms(100); /* the supervisor's backoff */
    }
}

/* Every record arrived; a record arrived more than once only if it was
 * offered again after a failed write (its report was lost in flight). */
static int check_at_least_once(const numbered *v, int count,
                               const supervised *sv, int *seen)
{
    consume_all(v, count, seen, count);
    int dups = 0, retried = 0;
    for (int n = 0; n < count; n++) {
        if (sv->offered[n] > 1)
            retried++;
        cr_assert_geq(seen[n], 1, "record %d lost (offered %d times)", n,
                      sv->offered[n]);
        if (seen[n] > 1) {
            dups += seen[n] - 1;
            cr_assert_leq(seen[n], sv->offered[n],
                          "record %d arrived %d times but was offered only "
                          "%d times (%d duplicates so far, %d records "
                          "retried)",
                          n, seen[n], sv->offered[n], dups, retried);
        }
    }
    cr_log_info("%d failed writes, %d records offered again, %d duplicates; "
                "first error: %s",
                sv->failures, retried, dups, sv->first_error);
    return dups;
}

typedef struct down_ctx {
    int down_at, up_after;
    int down, up;
} down_ctx;

static void down_between_writes(void *ctx, int next, int failures)
{
    down_ctx *d = ctx;
    if (!d->down && next >= d->down_at) {
        cr_assert_eq(rd_kafka_mock_broker_set_down(mock, -1), 0);
        d->down = 1;
    }
    if (d->down && !d->up && failures >= d->up_after) {
        cr_assert_eq(rd_kafka_mock_broker_set_up(mock, -1), 0);
        d->up = 1;
    }
}

Test(kafka, broker_down_mid_stream_loses_nothing)
{
    optset os;
    opts_mock(&os, "1000");
    void *st = open_sink(&os);
    enum { COUNT = 300 };
    numbered *v = make_stream(COUNT);
    static supervised sv;
    memset(&sv, 0, sizeof sv);
    down_ctx d = {.down_at = 100, .up_after = 3};
    supervise(st, v, COUNT, 20, &sv, down_between_writes, &d);
    cr_assert(d.up, "the broker went down and up again");
    cr_assert_geq(sv.failures, 3, "writes fail while the broker is down");
    cr_assert(strstr(sv.first_error, "not confirmed within timeout_ms"),
              "error says why: %s", sv.first_error);
    api->close(st);
    int seen[COUNT] = {0};
    check_at_least_once(v, COUNT, &sv, seen);
    free(v);
}

/* Broker down while a write waits for its reports: responses are delayed,
 * so produce requests are in flight when the connections drop. */
typedef struct inflight_ctx {
    int down_at, up_after;
    int started, up;
    pthread_t thread;
} inflight_ctx;

static void *take_down_soon(void *arg)
{
    (void)arg;
    sleep_ms(100);
    rd_kafka_mock_broker_set_down(mock, -1);
    return NULL;
}

static void down_during_write(void *ctx, int next, int failures)
{
    inflight_ctx *d = ctx;
    if (!d->started && next >= d->down_at) {
        cr_assert_eq(pthread_create(&d->thread, NULL, take_down_soon, NULL),
                     0);
        d->started = 1;
    }
    if (d->started && !d->up && failures >= d->up_after) {
        pthread_join(d->thread, NULL);
        cr_assert_eq(rd_kafka_mock_broker_set_up(mock, -1), 0);
        d->up = 1;
    }
}

Test(kafka, broker_down_during_a_write_loses_nothing)
{
    for (int b = 1; b <= 2; b++)
        cr_assert_eq(rd_kafka_mock_broker_set_rtt(mock, b, 200), 0);
    optset os;
    opts_mock(&os, "3000");
    void *st = open_sink(&os);
    enum { COUNT = 200 };
    numbered *v = make_stream(COUNT);
    static supervised sv;
    memset(&sv, 0, sizeof sv);
    inflight_ctx d = {.down_at = 60, .up_after = 2};
    supervise(st, v, COUNT, 20, &sv, down_during_write, &d);
    if (d.started && !d.up)
        pthread_join(d.thread, NULL);
    cr_assert(d.up, "the broker went down and up again (%d failures)",
              sv.failures);
    api->close(st);
    for (int b = 1; b <= 2; b++)
        rd_kafka_mock_broker_set_rtt(mock, b, 0);
    int seen[COUNT] = {0};
    check_at_least_once(v, COUNT, &sv, seen);
    free(v);
}

/* One partition's produce request fails for good while the others go
 * through: the write reports the prefix before the first failed record,
 * and the retry does not produce again what was already delivered. */
Test(kafka, partial_failure_retry_sends_no_duplicates)
{
    optset os;
    opts_mock(&os, "5000");
    optset_add(&os, "rdkafka.linger.ms", "50"); /* one request per broker */
    void *st = open_sink(&os);
    enum { COUNT = 40 };
    numbered *v = make_stream(COUNT);
    for (int n = 0; n < COUNT; n++)
        v[n].r.field_count = 2; /* all keyed: partitions are fixed */
    /* broker 1 leads partitions 0 and 2: its next produce fails for good */
    cr_assert_eq(rd_kafka_mock_broker_push_request_error_rtts(
                     mock, 1, 0 /* Produce */, 1,
                     RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 0),
                 0);
    static supervised sv;
    memset(&sv, 0, sizeof sv);
    supervise(st, v, COUNT, COUNT, &sv, NULL, NULL);
    cr_assert_eq(sv.failures, 1, "exactly the first write fails: %s",
                 sv.first_error);
    cr_assert(strstr(sv.first_error, "delivery failed"), "error: %s",
              sv.first_error);
    api->close(st);
    int seen[COUNT] = {0};
    consume_all(v, COUNT, seen, COUNT);
    for (int n = 0; n < COUNT; n++)
        cr_assert_eq(seen[n], 1,
                     "record %d arrived %d times (first write: %zu of %d "
                     "written)",
                     n, seen[n], sv.first_written, COUNT);
    free(v);
}

Test(kafka, unreachable_cluster_is_a_write_error_after_timeout)
{
    optset os;
    optset_init(&os, "k");
    optset_add(&os, "brokers", "127.0.0.1:1");
    optset_add(&os, "topic", TOPIC);
    optset_add(&os, "timeout_ms", "500");
    optset_add(&os, "rdkafka.reconnect.backoff.ms", "50");
    void *st = open_sink(&os);
    numbered *v = make_stream(3);
    const sluice_record *b[] = {&v[0].r, &v[1].r, &v[2].r};
    size_t written = 99;
    sluice_error err = {{0}};
    cr_assert_neq(api->write(st, b, 3, &written, &err), 0);
    cr_assert_eq(written, 0);
    cr_assert(strstr(err.message, "3 of 3 records not confirmed"),
              "error: %s", err.message);
    api->close(st);
    free(v);
}

static void expect_refused(optset *os, const char *want)
{
    plugin_expect_refused(api, os, want);
}

Test(kafka, bad_options_name_file_and_line)
{
    optset os;
    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    expect_refused(&os, "test.ini:1: sink 'k': option 'topic': is required");

    optset_init(&os, "k");
    optset_add(&os, "topic", TOPIC);
    expect_refused(&os, "test.ini:1: sink 'k': option 'brokers': is required");

    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    optset_add(&os, "topic", "no spaces please");
    expect_refused(&os, "test.ini:11: sink 'k': option 'topic'");

    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    optset_add(&os, "topic", TOPIC);
    optset_add(&os, "rdkafka.no.such.property", "1");
    expect_refused(&os, "test.ini:12: sink 'k': option "
                        "'rdkafka.no.such.property': No such configuration "
                        "property");

    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    optset_add(&os, "topic", TOPIC);
    optset_add(&os, "rdkafka.linger.ms", "soon");
    expect_refused(&os, "test.ini:12: sink 'k': option 'rdkafka.linger.ms'");

    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    optset_add(&os, "topic", TOPIC);
    optset_add(&os, "acks", "1");
    expect_refused(&os, "test.ini:12: sink 'k': option 'acks': '1' needs "
                        "idempotence = false");

    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    optset_add(&os, "topic", TOPIC);
    optset_add(&os, "acks", "most");
    expect_refused(&os, "test.ini:12: sink 'k': option 'acks'");

    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    optset_add(&os, "topic", TOPIC);
    optset_add(&os, "timeout_ms", "0");
    expect_refused(&os, "test.ini:12: sink 'k': option 'timeout_ms'");

    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    optset_add(&os, "topic", TOPIC);
    optset_add(&os, "idempotence", "perhaps");
    expect_refused(&os, "test.ini:12: sink 'k': option 'idempotence'");

    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    optset_add(&os, "topic", TOPIC);
    optset_add(&os, "rdkafka.delivery.report.only.error", "true");
    expect_refused(&os, "test.ini:12: sink 'k': option "
                        "'rdkafka.delivery.report.only.error'");

    /* acks = 1 is fine once idempotence is off */
    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    optset_add(&os, "topic", TOPIC);
    optset_add(&os, "acks", "1");
    optset_add(&os, "idempotence", "false");
    void *st = open_sink(&os);
    api->close(st);
}

Test(kafka, the_option_table_takes_the_rdkafka_prefix)
{
    cr_assert(sluice_option_spec_find_(api->options, "rdkafka.linger.ms"),
              "the table has \"rdkafka.*\"");
    cr_assert_null(sluice_option_spec_find_(api->options, "rdkafka."));
}

/* Every property that loads code, runs a command, installs a signal
 * handler or weakens delivery is refused, each on its own line, and none
 * reaches librdkafka. */
Test(kafka, properties_that_load_code_or_weaken_delivery_are_refused)
{
    static const char *const refused[][3] = {
        {"rdkafka.plugin.library.paths", "/tmp/evil.so", "loads shared libraries"},
        {"rdkafka.interceptor.test.config1", "x", "interceptors load and run code"},
        {"rdkafka.ssl.engine.location", "/tmp/engine.so", "loads an OpenSSL engine"},
        {"rdkafka.ssl.providers", "legacy", "loads OpenSSL provider modules"},
        {"rdkafka.sasl.kerberos.kinit.cmd", "touch /tmp/x", "runs a shell command"},
        {"rdkafka.internal.termination.signal", "10", "installs a signal handler"},
        {"rdkafka.acks", "0", "the sink's own acks option"},
        {"rdkafka.request.required.acks", "1", "the sink's own acks option"},
        {"rdkafka.enable.idempotence", "false", "idempotence option"},
        {"rdkafka.max.in.flight", "10", "at most 5 requests in flight"},
        {"rdkafka.retries", "0", "an idempotent producer needs retries"},
        {"rdkafka.queuing.strategy", "lifo", "reorders the records"},
        {"rdkafka.transactional.id", "t1", "runs no transactions"},
        {"rdkafka.dr_msg_cb", "x", "only through librdkafka's API"},
    };
    size_t n = sizeof refused / sizeof refused[0];
    cr_assert_leq(n + 2, OPTSET_MAX);
    optset os;
    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    optset_add(&os, "topic", TOPIC);
    for (size_t i = 0; i < n; i++)
        optset_add(&os, refused[i][0], refused[i][1]);
    void *st = NULL;
    sluice_error err;
    cr_assert_neq(plugin_call_open(api, &os.o, &st, &err), 0);
    for (size_t i = 0; i < n; i++) {
        char want[300];
        snprintf(want, sizeof want, "test.ini:%zu: sink 'k': option '%s': "
                 "cannot be set: ", 12 + i, refused[i][0]);
        cr_assert(strstr(plugin_errors, want), "missing '%s' in:\n%s", want,
                  plugin_errors);
        cr_assert(strstr(plugin_errors, refused[i][2]), "missing '%s' in:\n%s",
                  refused[i][2], plugin_errors);
    }
    /* without idempotence, more in flight and no retries are the
     * operator's choice */
    optset_init(&os, "k");
    optset_add(&os, "brokers", "localhost:9092");
    optset_add(&os, "topic", TOPIC);
    optset_add(&os, "idempotence", "false");
    optset_add(&os, "rdkafka.max.in.flight", "10");
    optset_add(&os, "rdkafka.retries", "0");
    optset_add(&os, "rdkafka.queuing.strategy", "fifo");
    st = open_sink(&os);
    api->close(st);
}
