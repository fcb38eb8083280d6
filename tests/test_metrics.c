/*
 * test_metrics.c -- the counters as Prometheus metrics: the text rendered
 * for a known set of counters, line for line; label values escaped;
 * promtool's linter on the text; sluice_runtime_metrics_write on a running
 * runtime and during close; and the [runtime] metrics_listen server: GET
 * /metrics, 404 and 405 elsewhere, stopped (its port closed) once close
 * began, a port in use or a bad value an error with FILE:LINE that leaves
 * nothing started, a scraper hanging up mid-answer harmless, and a fork's
 * child not keeping the port.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#include <sluice/sluice.h>

#include "helpers.h"
#include "http_client.h"
#include "metrics_internal.h"
#include "runtime_internal.h"

TestSuite(metrics, .init = init_capture, .fini = fini_capture, .timeout = 120);

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *render(const sluice_metrics_logger *loggers, size_t n)
{
    sluice_buf out;
    sluice_buf_init(&out);
    sluice_metrics_render_(loggers, n, &out);
    sluice_buf_putc(&out, '\0');
    cr_assert(!out.failed);
    return out.data;
}

/* promtool's verdict on text: 0 when it passes; skipped (with the reason)
 * when promtool is not installed, except in CI, which must have it. */
static int promtool_check(const char *text, char **report)
{
    const char *promtool = PROMTOOL;
    if (!promtool[0]) {
        if (getenv("CI"))
            cr_assert_fail("promtool is not installed (Debian's prometheus package; "
                    "scripts/install-deps installs it)");
        cr_skip_test("promtool is not installed (Debian's prometheus package)");
    }
    char *dir = tmpdir_make();
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.txt", dir);
    write_text(path, text);
    int rc = sh(report, "%s check metrics < %s", promtool, path);
    tmpdir_remove(dir);
    return rc;
}

/* The server tests need a sluice built with libmicrohttpd; CI's is. */
static void need_server(void)
{
#ifndef SLUICE_HAVE_MICROHTTPD
    if (getenv("CI"))
        cr_assert_fail("sluice was built without libmicrohttpd "
                       "(scripts/install-deps installs libmicrohttpd-dev)");
    cr_skip_test("sluice was built without libmicrohttpd");
#endif
}

/* ---- the text, from known counters ----------------------------------- */

/* Every counter a different number, so that a row reading the wrong field
 * shows. */
static void known_logger(sluice_metrics_logger *lg, sluice_binding_stats *b)
{
    memset(lg, 0, sizeof *lg);
    memset(b, 0, sizeof *b);
    lg->name = "app";
    lg->lanes = 1;
    lg->queue_capacity = 1024;
    static const uint64_t used[] = {640};
    lg->lane_used = used;
    lg->stats = (sluice_logger_stats){.attempted = 21, .accepted = 11,
                                      .dropped = 10, .overflowed = 4,
                                      .closed = 3, .rejected = 2, .forked = 1,
                                      .evicted = 14, .pending = 5,
                                      .replayed = 15, .corrupt = 16,
                                      .binding_count = 1};
    snprintf(b->sink, sizeof b->sink, "out");
    b->lane = 0;
    b->state = SLUICE_STATE_BACKOFF;
    b->pending = 5;
    b->written = 6;
    b->failures = 7;
    b->restarts = 8;
    b->given_up = 9;
    b->diverted = 12;
    b->evicted = 13;
    b->rejected = 15;
    b->dead_lettered = 16;
    b->filtered = 17;
    b->replayed = 18;
    lg->bindings = b;
}

static const char known_text[] =
    "# HELP sluice_logger_attempted_total Logging calls at an enabled level "
    "(calls made after close began are not counted).\n"
    "# TYPE sluice_logger_attempted_total counter\n"
    "sluice_logger_attempted_total{logger=\"app\"} 21\n"
    "# HELP sluice_logger_accepted_total Records queued: attempted minus dropped.\n"
    "# TYPE sluice_logger_accepted_total counter\n"
    "sluice_logger_accepted_total{logger=\"app\"} 11\n"
    "# HELP sluice_logger_dropped_total Logging calls dropped, never queued, "
    "by reason: overflowed (refused by the overflow policy), closed (waiting "
    "for room when close began), rejected (by a pre-hook), forked (made in a "
    "forked child).\n"
    "# TYPE sluice_logger_dropped_total counter\n"
    "sluice_logger_dropped_total{logger=\"app\",reason=\"overflowed\"} 4\n"
    "sluice_logger_dropped_total{logger=\"app\",reason=\"closed\"} 3\n"
    "sluice_logger_dropped_total{logger=\"app\",reason=\"rejected\"} 2\n"
    "sluice_logger_dropped_total{logger=\"app\",reason=\"forked\"} 1\n"
    "# HELP sluice_logger_evicted_total Accepted records drop_oldest took "
    "out of the queue before every sink had them.\n"
    "# TYPE sluice_logger_evicted_total counter\n"
    "sluice_logger_evicted_total{logger=\"app\"} 14\n"
    "# HELP sluice_logger_replayed_total Records a durable queue's file held "
    "at open that some sink had not confirmed (not in attempted or "
    "accepted).\n"
    "# TYPE sluice_logger_replayed_total counter\n"
    "sluice_logger_replayed_total{logger=\"app\"} 15\n"
    "# HELP sluice_logger_corrupt_total Damaged records (or gaps before a "
    "later one) a durable queue's file held at open, skipped.\n"
    "# TYPE sluice_logger_corrupt_total counter\n"
    "sluice_logger_corrupt_total{logger=\"app\"} 16\n"
    "# HELP sluice_logger_pending The largest backlog of the logger's "
    "bindings, in records.\n"
    "# TYPE sluice_logger_pending gauge\n"
    "sluice_logger_pending{logger=\"app\"} 5\n"
    "# HELP sluice_queue_size_bytes Bytes of records one lane's queue holds "
    "(its rings).\n"
    "# TYPE sluice_queue_size_bytes gauge\n"
    "sluice_queue_size_bytes{logger=\"app\",lane=\"0\"} 1024\n"
    "# HELP sluice_queue_used_bytes Bytes of one lane's queue in use: what "
    "its slowest binding has not finished.\n"
    "# TYPE sluice_queue_used_bytes gauge\n"
    "sluice_queue_used_bytes{logger=\"app\",lane=\"0\"} 640\n"
    "# HELP sluice_queue_fill Records in one lane's queue: the backlog of its "
    "slowest binding.\n"
    "# TYPE sluice_queue_fill gauge\n"
    "sluice_queue_fill{logger=\"app\",lane=\"0\"} 5\n"
    "# HELP sluice_binding_pending Records accepted and not yet written by "
    "this sink (its backlog).\n"
    "# TYPE sluice_binding_pending gauge\n"
    "sluice_binding_pending{logger=\"app\",sink=\"out\",lane=\"0\"} 5\n"
    "# HELP sluice_binding_written_total Records the sink confirmed as written.\n"
    "# TYPE sluice_binding_written_total counter\n"
    "sluice_binding_written_total{logger=\"app\",sink=\"out\",lane=\"0\"} 6\n"
    "# HELP sluice_binding_failures_total Run loops that ended in a sink error.\n"
    "# TYPE sluice_binding_failures_total counter\n"
    "sluice_binding_failures_total{logger=\"app\",sink=\"out\",lane=\"0\"} 7\n"
    "# HELP sluice_binding_restarts_total Run loops started after the first "
    "(restarts and resumes).\n"
    "# TYPE sluice_binding_restarts_total counter\n"
    "sluice_binding_restarts_total{logger=\"app\",sink=\"out\",lane=\"0\"} 8\n"
    "# HELP sluice_binding_given_up_total Times the supervisor gave up on the "
    "binding.\n"
    "# TYPE sluice_binding_given_up_total counter\n"
    "sluice_binding_given_up_total{logger=\"app\",sink=\"out\",lane=\"0\"} 9\n"
    "# HELP sluice_binding_diverted_total Records handed to the logger's "
    "fallback sink.\n"
    "# TYPE sluice_binding_diverted_total counter\n"
    "sluice_binding_diverted_total{logger=\"app\",sink=\"out\",lane=\"0\"} 12\n"
    "# HELP sluice_binding_evicted_total Records drop_oldest took from this "
    "binding's backlog.\n"
    "# TYPE sluice_binding_evicted_total counter\n"
    "sluice_binding_evicted_total{logger=\"app\",sink=\"out\",lane=\"0\"} 13\n"
    "# HELP sluice_binding_rejected_total Records the sink rejected for good: "
    "never written, never retried.\n"
    "# TYPE sluice_binding_rejected_total counter\n"
    "sluice_binding_rejected_total{logger=\"app\",sink=\"out\",lane=\"0\"} 15\n"
    "# HELP sluice_binding_dead_lettered_total Of the rejected records, those "
    "the logger's dead_letter sink took.\n"
    "# TYPE sluice_binding_dead_lettered_total counter\n"
    "sluice_binding_dead_lettered_total{logger=\"app\",sink=\"out\",lane=\"0\"} 16\n"
    "# HELP sluice_binding_filtered_total Records below the sink's level: "
    "never written there.\n"
    "# TYPE sluice_binding_filtered_total counter\n"
    "sluice_binding_filtered_total{logger=\"app\",sink=\"out\",lane=\"0\"} 17\n"
    "# HELP sluice_binding_replayed_total Records this sink had not confirmed "
    "when its durable queue's file was opened, delivered first.\n"
    "# TYPE sluice_binding_replayed_total counter\n"
    "sluice_binding_replayed_total{logger=\"app\",sink=\"out\",lane=\"0\"} 18\n"
    "# HELP sluice_binding_state The binding's state: 1 for the state it is "
    "in, 0 for the others.\n"
    "# TYPE sluice_binding_state gauge\n"
    "sluice_binding_state{logger=\"app\",sink=\"out\",lane=\"0\",state=\"idle\"} 0\n"
    "sluice_binding_state{logger=\"app\",sink=\"out\",lane=\"0\",state=\"running\"} 0\n"
    "sluice_binding_state{logger=\"app\",sink=\"out\",lane=\"0\",state=\"stopped\"} 0\n"
    "sluice_binding_state{logger=\"app\",sink=\"out\",lane=\"0\",state=\"failed\"} 0\n"
    "sluice_binding_state{logger=\"app\",sink=\"out\",lane=\"0\",state=\"backoff\"} 1\n"
    "sluice_binding_state{logger=\"app\",sink=\"out\",lane=\"0\",state=\"given_up\"} 0\n";

Test(metrics, known_counters_render_line_for_line)
{
    sluice_metrics_logger lg;
    sluice_binding_stats b;
    known_logger(&lg, &b);
    char *text = render(&lg, 1);
    /* line by line first, so a difference names its line */
    const char *got = text, *want = known_text;
    for (int line = 1; *want; line++) {
        size_t got_len = strcspn(got, "\n"), want_len = strcspn(want, "\n");
        cr_assert(got_len == want_len && memcmp(got, want, want_len) == 0,
                  "line %d:\n got: %.*s\nwant: %.*s", line, (int)got_len, got,
                  (int)want_len, want);
        got += got_len + (got[got_len] == '\n');
        want += want_len + 1;
    }
    cr_assert_str_eq(text, known_text);
    free(text);
}

/* Two loggers, three lanes, two sinks: each family is one group (its HELP
 * and TYPE once, before its samples), the lanes' fill is the slowest
 * binding's backlog. */
Test(metrics, each_family_is_one_group_over_loggers_lanes_and_sinks)
{
    sluice_binding_stats b[7];
    memset(b, 0, sizeof b);
    const char *sinks[] = {"f", "g", "f", "g", "f", "g"};
    uint64_t pending[] = {1, 9, 4, 2, 0, 0};
    for (int i = 0; i < 6; i++) {
        snprintf(b[i].sink, sizeof b[i].sink, "%s", sinks[i]);
        b[i].lane = (unsigned)(i / 2);
        b[i].pending = pending[i];
        b[i].state = SLUICE_STATE_RUNNING;
    }
    snprintf(b[6].sink, sizeof b[6].sink, "h");
    sluice_metrics_logger lg[2] = {
        {.name = "a", .lanes = 3, .queue_capacity = 8, .bindings = b,
         .stats = {.binding_count = 6}},
        {.name = "b", .lanes = 1, .queue_capacity = 2, .bindings = b + 6,
         .stats = {.binding_count = 1}}};
    char *text = render(lg, 2);
    cr_assert(strstr(text, "sluice_queue_fill{logger=\"a\",lane=\"0\"} 9\n"
                           "sluice_queue_fill{logger=\"a\",lane=\"1\"} 4\n"
                           "sluice_queue_fill{logger=\"a\",lane=\"2\"} 0\n"
                           "sluice_queue_fill{logger=\"b\",lane=\"0\"} 0\n"),
              "%s", text);
    cr_assert(strstr(text, "sluice_binding_written_total{logger=\"a\",sink=\"g\",lane=\"2\"} 0\n"
                           "sluice_binding_written_total{logger=\"b\",sink=\"h\",lane=\"0\"} 0\n"),
              "%s", text);
    /* a name's samples never resume after another family began */
    char last[128] = "";
    char seen[64][128];
    size_t nseen = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char name[128];
        if (sscanf(line, "# TYPE %127s", name) == 1) {
            for (size_t i = 0; i < nseen; i++)
                cr_assert_str_neq(seen[i], name, "TYPE %s twice", name);
            snprintf(seen[nseen++], sizeof seen[0], "%s", name);
            snprintf(last, sizeof last, "%s", name);
        } else if (line[0] != '#') {
            size_t n = strcspn(line, "{ ");
            cr_assert(strlen(last) == n && strncmp(line, last, n) == 0,
                      "sample '%s' outside its family (%s)", line, last);
        }
    }
    cr_assert_eq(nseen, 22, "%zu families", nseen);
    free(text);
}

Test(metrics, label_values_are_escaped)
{
    sluice_metrics_logger lg;
    sluice_binding_stats b;
    known_logger(&lg, &b);
    lg.name = "back\\slash \"quoted\"\nnext";
    snprintf(b.sink, sizeof b.sink, "s\"\\\n");
    char *text = render(&lg, 1);
    cr_assert(strstr(text, "sluice_logger_attempted_total{logger=\"back\\\\slash "
                           "\\\"quoted\\\"\\nnext\"} 21\n"),
              "%s", text);
    cr_assert(strstr(text, "sluice_binding_written_total{logger=\"back\\\\slash "
                           "\\\"quoted\\\"\\nnext\",sink=\"s\\\"\\\\\\n\",lane=\"0\"} 6\n"),
              "%s", text);
    /* no raw line feed inside a sample: every line starts a sample or a
     * comment of a family */
    for (const char *line = text; *line; line = strchr(line, '\n') + 1)
        cr_assert(strncmp(line, "sluice_", 7) == 0 || strncmp(line, "# ", 2) == 0,
                  "a line that is neither a sample nor HELP/TYPE: %.40s", line);
    char *report;
    cr_assert_eq(promtool_check(text, &report), 0, "promtool:\n%s\n%s", report, text);
    free(report);
    free(text);
}

Test(metrics, promtool_passes_the_known_text)
{
    char *report;
    cr_assert_eq(promtool_check(known_text, &report), 0, "promtool:\n%s", report);
    free(report);
    /* and it does fail on a lint problem, so the pass above means something */
    cr_assert_neq(promtool_check("# HELP x_written y\n# TYPE x_written counter\n"
                                 "x_written 1\n", &report),
                  0, "promtool passed a counter without _total");
    free(report);
}

/* ---- sluice_runtime_metrics_write ---------------------------------------- */

/* The value of the sample whose line starts with prefix (name and labels). */
static uint64_t sample(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *line = text; *line;) {
        if (strncmp(line, prefix, n) == 0 && line[n] == ' ')
            return strtoull(line + n + 1, NULL, 10);
        const char *next = strchr(line, '\n');
        if (!next)
            break;
        line = next + 1;
    }
    cr_assert_fail("no sample %s in:\n%s", prefix, text);
    return 0;
}

Test(metrics, metrics_write_renders_a_running_runtime_as_its_stats_say)
{
    sluice_runtime *rt = start_ini("[sink.out]\nplugin = capture\npattern = %m\n"
                                   "[logger.app]\nsinks = out\nworkers = 2\n"
                                   "queue_capacity = 64\n");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 0; i < 300; i++)
        sluice_log_str(lg, SLUICE_LEVEL_INFO, "x", 1);
    sluice_log_str(lg, SLUICE_LEVEL_DEBUG, "below the level", 15);
    cr_assert_eq(sluice_logger_flush(lg, 30000), 0);
    char *text;
    size_t len;
    sluice_error err;
    cr_assert_eq(sluice_runtime_metrics_write(rt, &text, &len, &err), 0, "%s",
                 err.message);
    cr_assert_eq(len, strlen(text));
    cr_assert_eq(text[len - 1], '\n', "the last line ends with a line feed");
    sluice_logger_stats st;
    sluice_logger_stats_get(lg, &st);
    cr_assert_eq(sample(text, "sluice_logger_attempted_total{logger=\"app\"}"), 300);
    cr_assert_eq(sample(text, "sluice_logger_accepted_total{logger=\"app\"}"), 300);
    uint64_t written = 0;
    for (size_t i = 0; i < sluice_logger_binding_count(lg); i++) {
        sluice_binding_stats bs;
        sluice_binding_stats_get(sluice_logger_binding(lg, i), &bs);
        char prefix[128];
        snprintf(prefix, sizeof prefix,
                 "sluice_binding_written_total{logger=\"app\",sink=\"out\",lane=\"%u\"}",
                 bs.lane);
        cr_assert_eq(sample(text, prefix), bs.written);
        written += sample(text, prefix);
        /* one state at a time (which one may change: a lane's worker may
         * not have started yet) */
        uint64_t states = 0;
        for (int state = SLUICE_STATE_IDLE; state <= SLUICE_STATE_GIVEN_UP; state++) {
            snprintf(prefix, sizeof prefix,
                     "sluice_binding_state{logger=\"app\",sink=\"out\",lane=\"%u\",state=\"%s\"}",
                     bs.lane, sluice_binding_state_name((sluice_binding_state)state));
            states += sample(text, prefix);
        }
        cr_assert_eq(states, 1, "lane %u is in %llu states", bs.lane,
                     (unsigned long long)states);
    }
    cr_assert_eq(written, 300);
    /* 64 records of 128 bytes ask for 8 KiB: each lane gets its smallest
     * ring, 64 KiB, and 4 KiB of slack beyond it */
    cr_assert_eq(sample(text, "sluice_queue_size_bytes{logger=\"app\",lane=\"1\"}"),
                 64 * 1024);
    cr_assert_eq(sample(text, "sluice_queue_fill{logger=\"app\",lane=\"1\"}"), 0);
    char *report;
    cr_assert_eq(promtool_check(text, &report), 0, "promtool:\n%s\n%s", report, text);
    free(report);
    free(text);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

Test(metrics, metrics_write_refuses_without_a_runtime_or_a_place_for_the_text)
{
    char *text = (char *)"untouched";
    sluice_error err;
    cr_assert_eq(sluice_runtime_metrics_write(NULL, &text, NULL, &err), -1);
    cr_assert_null(text);
    cr_assert(strstr(err.message, "metrics:"), "%s", err.message);
    sluice_runtime *rt = start_ini("[sink.out]\nplugin = capture\n"
                                   "[logger.app]\nsinks = out\n");
    cr_assert_eq(sluice_runtime_metrics_write(rt, NULL, NULL, &err), -1);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

/* ---- the server ------------------------------------------------------------- */

/* A runtime serving metrics on a free port (retried: another process may
 * take the port first). ini_tail follows the [runtime] section. */
static sluice_runtime *start_serving(const char *ini_tail, unsigned *port)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        *port = free_port();
        char ini[4096];
        snprintf(ini, sizeof ini, "[runtime]\nmetrics_listen = 127.0.0.1:%u\n%s",
                 *port, ini_tail);
        sluice_error err;
        sluice_builder *b = sluice_config_load_string(ini, &err);
        cr_assert_not_null(b, "%s", err.message);
        sluice_builder_add_sink_api(b, &capture_api, &err);
        sluice_runtime *rt = NULL;
        if (sluice_builder_start(b, &rt, &err) == 0)
            return rt;
        cr_assert(strstr(err.message, "Address already in use"), "%s", err.message);
    }
    cr_assert_fail("no free port in 20 tries");
    return NULL;
}

static const char serving_tail[] = "[sink.out]\nplugin = capture\npattern = %m\n"
                                   "[logger.app]\nsinks = out\n";

Test(metrics, server_answers_get_metrics_and_only_that)
{
    need_server();
    unsigned port;
    sluice_runtime *rt = start_serving(serving_tail, &port);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 0; i < 7; i++)
        sluice_log_str(lg, SLUICE_LEVEL_INFO, "x", 1);
    cr_assert_eq(sluice_logger_flush(lg, 30000), 0);

    char *response = http_request(port, "GET", "/metrics", 30000);
    cr_assert_eq(http_status(response), 200, "port %u: %s", port, response);
    char type[128];
    cr_assert(http_header(response, "Content-Type", type, sizeof type), "%s", response);
    cr_assert_str_eq(type, SLUICE_METRICS_CONTENT_TYPE);
    const char *body = http_body(response);
    cr_assert_eq(sample(body, "sluice_binding_written_total{logger=\"app\",sink=\"out\",lane=\"0\"}"), 7);
    char *direct;
    sluice_error err;
    cr_assert_eq(sluice_runtime_metrics_write(rt, &direct, NULL, &err), 0);
    cr_assert_str_eq(body, direct, "the server serves what metrics_write renders");
    free(direct);
    free(response);

    response = http_request(port, "GET", "/metrics?name[]=x", 30000);
    cr_assert_eq(http_status(response), 200, "a query string is ignored: %s", response);
    free(response);
    response = http_request(port, "HEAD", "/metrics", 30000);
    cr_assert_eq(http_status(response), 200, "%s", response);
    cr_assert_str_eq(http_body(response), "", "HEAD has no body");
    free(response);
    const char *elsewhere[] = {"/", "/metrics/", "/metricsx", "/favicon.ico"};
    for (size_t i = 0; i < 4; i++) {
        response = http_request(port, "GET", elsewhere[i], 30000);
        cr_assert_eq(http_status(response), 404, "%s: %s", elsewhere[i], response);
        free(response);
    }
    response = http_request(port, "POST", "/metrics", 30000);
    cr_assert_eq(http_status(response), 405, "%s", response);
    char allow[64];
    cr_assert(http_header(response, "Allow", allow, sizeof allow), "%s", response);
    cr_assert_str_eq(allow, "GET, HEAD");
    free(response);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

/* Close waits for a host-driven binding (autostart = false) until the test
 * runs it: in between, close has begun, the port is closed, and
 * metrics_write still answers with the live counters. */
typedef struct closer {
    sluice_runtime *rt;
    long result;
    atomic_int done;
} closer;

static void *close_it(void *arg)
{
    closer *c = arg;
    c->result = sluice_close(c->rt, 60000);
    atomic_store(&c->done, 1);
    return NULL;
}

Test(metrics, server_stops_as_close_begins_and_metrics_write_answers_during_close)
{
    need_server();
    unsigned port;
    sluice_runtime *rt = start_serving("[sink.out]\nplugin = capture\npattern = %m\n"
                                       "[logger.app]\nsinks = out\nautostart = false\n",
                                       &port);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_log_str(lg, SLUICE_LEVEL_INFO, "held", 4);
    char *response = http_request(port, "GET", "/metrics", 30000);
    cr_assert_eq(http_status(response), 200, "%s", response);
    cr_assert_eq(sample(http_body(response), "sluice_binding_pending{logger=\"app\",sink=\"out\",lane=\"0\"}"), 1);
    free(response);

    closer c = {.rt = rt};
    pthread_t thread;
    pthread_create(&thread, NULL, close_it, &c);
    for (int i = 0; i < 30000 && sluice_get_level(lg) != SLUICE_LEVEL_OFF; i++)
        nap_ms(1);
    cr_assert_eq(sluice_get_level(lg), SLUICE_LEVEL_OFF, "close did not begin");
    cr_assert(port_refuses(port), "the port still takes connections once close began");
    char *text;
    sluice_error err;
    cr_assert_eq(sluice_runtime_metrics_write(rt, &text, NULL, &err), 0, "%s", err.message);
    cr_assert_eq(sample(text, "sluice_binding_pending{logger=\"app\",sink=\"out\",lane=\"0\"}"), 1,
                 "the live backlog during close:\n%s", text);
    free(text);
    cr_assert_eq(atomic_load(&c.done), 0, "close waits for the host's run loop");
    /* the run loop drains during close and returns 0; then close ends */
    cr_assert_eq(sluice_binding_run(sluice_logger_binding(lg, 0), &err), 0, "%s", err.message);
    pthread_join(thread, NULL);
    cr_assert_eq(c.result, 0);
    cr_assert_eq(capture_count(), 1);
    cr_assert(port_refuses(port), "the port is closed after close returned");
}

/* A thread in this process, as /proc/self/task counts them. */
static int thread_count(void)
{
    DIR *dir = opendir("/proc/self/task");
    cr_assert_not_null(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

static int open_fd_count(void)
{
    DIR *dir = opendir("/proc/self/fd");
    cr_assert_not_null(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

Test(metrics, a_port_in_use_is_an_error_with_file_and_line_and_nothing_starts)
{
    need_server();
    /* somebody else listens there */
    int taken = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    cr_assert_eq(bind(taken, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(taken, 4), 0);
    getsockname(taken, (struct sockaddr *)&a, &alen);
    unsigned port = ntohs(a.sin_port);

    char *dir = tmpdir_make();
    char conf[600], log[600], ini[2048];
    snprintf(conf, sizeof conf, "%s/app.ini", dir);
    snprintf(log, sizeof log, "%s/out.log", dir);
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\n[logger.app]\nsinks = f\n"
             "workers = 2\n; metrics last, so its line is not the first\n"
             "[runtime]\nmetrics_listen = 127.0.0.1:%u\n",
             log, port);
    write_text(conf, ini);
    /* a runtime started and closed first: whatever the process keeps
     * once (plugins stay mapped) is there before we count */
    sluice_runtime *rt = start_ini(serving_tail);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    int threads = thread_count(), fds = open_fd_count();
    sluice_error err;
    cr_assert_eq(sluice_open(conf, &rt, &err), -1);
    cr_assert_null(rt);
    /* a joined thread may linger in /proc for a moment */
    for (int i = 0; i < 5000 && thread_count() != threads; i++)
        nap_ms(1);
    char want[800];
    snprintf(want, sizeof want,
             "%s:9: [runtime] metrics_listen: cannot listen on 127.0.0.1:%u: "
             "Address already in use",
             conf, port);
    cr_assert_str_eq(err.message, want);
    cr_assert_eq(thread_count(), threads, "a thread was left running");
    cr_assert_eq(open_fd_count(), fds, "a descriptor was left open");
    /* the port is still the other listener's */
    int client = connect_loopback(port);
    cr_assert_geq(client, 0);
    int accepted = accept(taken, NULL, NULL);
    cr_assert_geq(accepted, 0, "the other listener lost its port");
    close(accepted);
    close(client);
    close(taken);
    tmpdir_remove(dir);
}

/* Every bad value is refused with its line, by `sluice check` as by start. */
Test(metrics, bad_addresses_are_refused_with_their_line)
{
    static const struct {
        const char *value, *why;
    } bad[] = {
        {"127.0.0.1", "is not HOST:PORT (like 127.0.0.1:9464, [::1]:9464 or :9464)"},
        {"9464", "is not HOST:PORT"},
        {"", "is not HOST:PORT"},
        {"127.0.0.1:", "has no port 1..65535 after the ':'"},
        {"127.0.0.1:0", "has no port 1..65535"},
        {"127.0.0.1:65536", "has no port 1..65535"},
        {"127.0.0.1:123456", "has no port 1..65535"},
        {"127.0.0.1:+80", "has no port 1..65535"},
        {"127.0.0.1:94x", "has no port 1..65535"},
        {"127.0.0.1: 9464", "has no port 1..65535"},
        {"example.com:9464", "is not an IP address (host names other than localhost are not resolved)"},
        {"127.0.0.256:9464", "is not an IP address"},
        {"::1:9464", "an IPv6 address goes in brackets"},
        {"[::1]9464", "is not HOST:PORT"},
        {"[::1:9464", "is not HOST:PORT"},
        {"[127.0.0.1]:9464", "is not an IPv6 address in brackets"},
        {"[localhost]:9464", "is not an IPv6 address in brackets"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char ini[512];
        snprintf(ini, sizeof ini,
                 "[sink.out]\nplugin = capture\n[logger.app]\nsinks = out\n"
                 "[runtime]\nmetrics_listen = %s\n",
                 bad[i].value);
        char *message = start_ini_fails(ini);
#ifdef SLUICE_HAVE_MICROHTTPD
        char want[256];
        snprintf(want, sizeof want, "<string>:6: [runtime] metrics_listen: '%s' ",
                 bad[i].value);
        cr_assert(strncmp(message, want, strlen(want)) == 0 && strstr(message, bad[i].why),
                  "'%s': %s", bad[i].value, message);
#else
        cr_assert(strstr(message, "<string>:6: [runtime] metrics_listen: this sluice "
                                  "was built without libmicrohttpd"),
                  "%s", message);
#endif
        free(message);
    }
    /* all of them at once, with `sluice check`: one per file here, since a
     * key appears once in a section */
    char *dir = tmpdir_make();
    char conf[600];
    snprintf(conf, sizeof conf, "%s/bad.ini", dir);
    write_text(conf, "[runtime]\nmetrics_listen = 0.0.0.0:99999\nbogus = 1\n"
                     "[sink.out]\nplugin = null\n[logger.app]\nsinks = out\n");
    char *out;
    cr_assert_eq(sh(&out, "%s check -c %s", cli(), conf), 1, "%s", out);
    char want[800];
#ifdef SLUICE_HAVE_MICROHTTPD
    snprintf(want, sizeof want, "%s:2: [runtime] metrics_listen: '0.0.0.0:99999' has no port", conf);
#else
    snprintf(want, sizeof want, "%s:2: [runtime] metrics_listen: this sluice was built without", conf);
#endif
    cr_assert(strstr(out, want), "missing '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, "%s:3: [runtime]: unknown key 'bogus'", conf);
    cr_assert(strstr(out, want), "missing '%s' in:\n%s", want, out);
    free(out);
    tmpdir_remove(dir);
}

#ifdef SLUICE_HAVE_MICROHTTPD
/* What each accepted form listens on: loopback unless an address is
 * written out. */
Test(metrics, addresses_mean_loopback_unless_written_out)
{
    static const struct {
        const char *value, *listens;
    } good[] = {
        {":9464", "127.0.0.1:9464"},
        {"localhost:9464", "127.0.0.1:9464"},
        {"127.0.0.1:1", "127.0.0.1:1"},
        {"127.0.0.2:65535", "127.0.0.2:65535"},
        {"[::1]:9464", "[::1]:9464"},
        {"0.0.0.0:9464", "0.0.0.0:9464"},
        {"[::]:9464", "[::]:9464"},
        {"192.0.2.7:9464", "192.0.2.7:9464"},
        {"127.0.0.1:09464", "127.0.0.1:9464"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        sluice_metrics_listen where;
        char why[256] = "";
        cr_assert_eq(sluice_metrics_listen_parse_(good[i].value, &where, why, sizeof why),
                     0, "'%s': %s", good[i].value, why);
        cr_assert_str_eq(where.text, good[i].listens, "'%s'", good[i].value);
    }
}

/* [::1] too: the server is not IPv4 only. */
Test(metrics, server_listens_on_ipv6_loopback)
{
    int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (probe < 0 || bind(probe, (struct sockaddr *)&a, sizeof a) != 0) {
        if (probe >= 0)
            close(probe);
        cr_skip_test("no IPv6 loopback on this machine");
    }
    socklen_t alen = sizeof a;
    getsockname(probe, (struct sockaddr *)&a, &alen);
    unsigned port = ntohs(a.sin6_port);
    close(probe);
    char ini[512];
    snprintf(ini, sizeof ini, "[runtime]\nmetrics_listen = [::1]:%u\n%s", port, serving_tail);
    sluice_runtime *rt = start_ini(ini);
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    a.sin6_port = htons((uint16_t)port);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
    const char request[] = "GET /metrics HTTP/1.0\r\n\r\n";
    cr_assert_eq(send(fd, request, sizeof request - 1, MSG_NOSIGNAL), (ssize_t)sizeof request - 1);
    char reply[64] = "";
    cr_assert_gt(recv(fd, reply, sizeof reply - 1, MSG_WAITALL), 12);
    cr_assert(strncmp(reply, "HTTP/1.1 200", 12) == 0, "%s", reply);
    close(fd);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}
#else
Test(metrics, without_libmicrohttpd_the_key_is_refused)
{
    char *message = start_ini_fails("[runtime]\nmetrics_listen = :9464\n"
                                    "[sink.out]\nplugin = capture\n"
                                    "[logger.app]\nsinks = out\n");
    cr_assert(strstr(message, "<string>:2: [runtime] metrics_listen: this sluice "
                              "was built without libmicrohttpd"),
              "%s", message);
    free(message);
}
#endif

/* A scraper that hangs up before reading its answer (a reset, many times
 * over, with an answer larger than the socket buffers) is no SIGPIPE for
 * the host, whose SIGPIPE is left at its default: death. */
Test(metrics, a_scraper_hanging_up_mid_answer_does_not_kill_the_host)
{
    need_server();
    signal(SIGPIPE, SIG_DFL);
    char tail[16384];
    size_t used = 0;
    used += (size_t)snprintf(tail + used, sizeof tail - used,
                             "[sink.out]\nplugin = capture\n");
    for (int i = 0; i < 40; i++)
        used += (size_t)snprintf(tail + used, sizeof tail - used,
                                 "[logger.l%02d_with_a_rather_long_name]\nsinks = out\n"
                                 "workers = 4\nqueue_capacity = 16\n", i);
    unsigned port;
    sluice_runtime *rt = start_serving(tail, &port);
    char *text;
    size_t len;
    sluice_error err;
    cr_assert_eq(sluice_runtime_metrics_write(rt, &text, &len, &err), 0);
    free(text);
    cr_assert_gt(len, 100000, "the answer is larger than a socket buffer: %zu", len);
    for (int i = 0; i < 30; i++) {
        int fd = connect_loopback(port);
        cr_assert_geq(fd, 0);
        int small = 1024;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        const char request[] = "GET /metrics HTTP/1.0\r\n\r\n";
        send(fd, request, sizeof request - 1, MSG_NOSIGNAL);
        char some[256];
        recv(fd, some, sizeof some, 0); /* the answer has begun */
        struct linger reset = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        close(fd);
    }
    char *response = http_request(port, "GET", "/metrics", 30000);
    cr_assert_eq(http_status(response), 200, "the server still answers");
    free(response);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

/* A fork's child that closes its copy of the runtime releases nothing of
 * the parent's: the parent's server goes on answering. */
Test(metrics, a_forked_child_closing_its_copy_leaves_the_server_to_the_parent)
{
    need_server();
    unsigned port;
    sluice_runtime *rt = start_serving(serving_tail, &port);
    pid_t child = fork();
    cr_assert_neq(child, -1);
    if (child == 0)
        _exit(sluice_close(rt, 0) == 0 ? 0 : 1); /* the parent's: returns 0 */
    int status;
    waitpid(child, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *response = http_request(port, "GET", "/metrics", 30000);
    cr_assert_eq(http_status(response), 200, "the parent's server: %s", response);
    free(response);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert(port_refuses(port));
}

/* A fork's child does not keep the port: when the parent dies without
 * closing (killed), nothing listens there any more although the child
 * lives on (else connections would queue on a socket nobody serves). */
Test(metrics, a_forked_child_does_not_keep_the_port)
{
    need_server();
    int ready[2], hold[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(hold), 0);
    pid_t host = fork();
    cr_assert_neq(host, -1);
    if (host == 0) {
        /* the host: serves metrics, forks a child that waits on hold,
         * says its port, and waits to be killed */
        close(ready[0]);
        close(hold[1]);
        unsigned port = 0;
        sluice_runtime *rt = NULL;
        for (int attempt = 0; attempt < 20 && !rt; attempt++) {
            port = free_port();
            char ini[1024];
            snprintf(ini, sizeof ini,
                     "[runtime]\nmetrics_listen = 127.0.0.1:%u\n"
                     "[sink.out]\nplugin = null\n[logger.app]\nsinks = out\n",
                     port);
            sluice_error err;
            if (sluice_open_string(ini, &rt, &err) != 0)
                rt = NULL;
        }
        if (!rt)
            _exit(1);
        int started[2];
        if (pipe(started) != 0)
            _exit(1);
        pid_t child = fork();
        if (child == 0) {
            /* past fork(): the atfork handler has closed the port here */
            char c = 1;
            if (write(started[1], &c, 1) != 1)
                _exit(1);
            while (read(hold[0], &c, 1) < 0 && errno == EINTR)
                ;
            _exit(0);
        }
        close(hold[0]);
        close(started[1]);
        char c;
        /* the child may not have run yet: wait until fork() returned there */
        if (child < 0 || read(started[0], &c, 1) != 1)
            _exit(1);
        if (write(ready[1], &port, sizeof port) != sizeof port)
            _exit(1);
        for (;;)
            pause();
    }
    close(ready[1]);
    close(hold[0]);
    unsigned port = 0;
    cr_assert_eq(read(ready[0], &port, sizeof port), (ssize_t)sizeof port,
                 "the host did not start");
    close(ready[0]);
    char *response = http_request(port, "GET", "/metrics", 30000);
    cr_assert_eq(http_status(response), 200, "the host serves: %s", response);
    free(response);
    kill(host, SIGKILL);
    waitpid(host, NULL, 0);
    bool refused = port_refuses(port);
    close(hold[1]); /* the child ends */
    cr_assert(refused, "port %u still takes connections: the child kept it", port);
}
