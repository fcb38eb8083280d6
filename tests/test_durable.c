/*
 * Durable queues (`durable = PATH`): each error at open is clear, names
 * the key's FILE:LINE and starts nothing; a process that dies (SIGKILL,
 * in a child here) leaves a file whose next open replays to each sink
 * exactly what it had not confirmed -- several sinks at different
 * cursors, a new sink, a removed one, call sites and times included; a
 * file truncated or with bytes flipped in a record, a cursor, the call
 * sites or the header reopens with a clear error or with the damage
 * skipped and counted, never a crash (this suite runs under ASan too).
 *
 * Some tests change bytes of the file at offsets of its layout
 * (docs/design.md, "The durable file"): the constants below.
 */
#include "helpers.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "crc32c_internal.h"

TestSuite(durable, .init = init_capture, .fini = fini_capture, .timeout = 120);

/* the file's layout (durable.c) */
#define HEADER_CHECKED 252
#define VERSION_AT 8
#define CURSOR_AT 8192
#define CURSOR_SLOT_BYTES 1024
#define COPY_A_AT 256
#define COPY_B_AT 512
#define SITE_AT (CURSOR_AT + 64 * CURSOR_SLOT_BYTES)
#define RING_AT (SITE_AT + (1 << 20))

static sluice_binding_stats binding_stats(sluice_logger *lg, size_t i)
{
    sluice_binding_stats st;
    cr_assert_eq(sluice_binding_stats_get(sluice_logger_binding(lg, i), &st), 0);
    return st;
}

static sluice_logger_stats logger_stats(sluice_logger *lg)
{
    sluice_logger_stats st;
    cr_assert_eq(sluice_logger_stats_get(lg, &st), 0);
    return st;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- the checksum ---------------------------------------------------------- */

Test(durable, crc32c_is_the_castagnoli_crc_however_the_bytes_are_split)
{
    /* the check value of CRC-32C (RFC 3720, B.4) */
    cr_assert_eq(sluice_crc32c(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(sluice_crc32c_soft_(0, "123456789", 9), 0xE3069283u);
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    uint32_t whole = sluice_crc32c_soft_(0, data, sizeof data);
    cr_assert_eq(sluice_crc32c(0, data, sizeof data), whole);
    for (size_t cut = 0; cut <= sizeof data; cut += 37) {
        uint32_t first = sluice_crc32c(0, data, cut);
        cr_assert_eq(sluice_crc32c(first, data + cut, sizeof data - cut), whole,
                     "split at %zu", cut);
        cr_assert_eq(sluice_crc32c_soft_(sluice_crc32c_soft_(0, data, cut),
                                         data + cut, sizeof data - cut),
                     whole);
    }
}

/* ---- a process that dies ------------------------------------------------ */

/* In a child: wait (at most 10 s) until sink's bindings (all lanes) of lg
 * have written n records and have none pending (so their cursors moved,
 * in the file too), else leave with status 3 (a failed setup, not a
 * crash). */
static void child_wait_written(sluice_logger *lg, const char *sink, uint64_t n)
{
    for (int t = 0; t < 10000; t++) {
        uint64_t written = 0, pending = 0;
        for (size_t i = 0; i < sluice_logger_binding_count(lg); i++) {
            sluice_binding_stats st;
            if (sluice_binding_stats_get(sluice_logger_binding(lg, i), &st) == 0 &&
                strcmp(st.sink, sink) == 0) {
                written += st.written;
                pending += st.pending;
            }
        }
        if (written >= n && pending == 0)
            return;
        usleep(1000);
    }
    _exit(3);
}

/* In a child: start ini (with the capture sink), as the host would. */
static sluice_runtime *child_start(const char *ini)
{
    sluice_error err;
    sluice_builder *b = sluice_config_load_string(ini, &err);
    if (!b || sluice_builder_add_sink_api(b, &capture_api, &err) != 0)
        _exit(4);
    sluice_runtime *rt = NULL;
    if (sluice_builder_start(b, &rt, &err) != 0) {
        fprintf(stderr, "child: %s\n", err.message);
        _exit(5);
    }
    return rt;
}

typedef void (*child_fn)(const char *ini, void *arg);

/* Run fn in a child that then dies by SIGKILL, as a crashing host would:
 * its queue's file is left as the kill found it. */
static void crash_after(child_fn fn, const char *ini, void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        fn(ini, arg);
        raise(SIGKILL);
        _exit(99);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "the child did not get as far as its crash (status %d)", st);
}

/* b confirms the first `confirmed` of `total` records "r%03d", a writes
 * them all; then the crash. */
typedef struct split {
    int confirmed, total;
    bool deferred; /* deferred calls (written inline), not text */
} split;

/* Record i: text, or (sp->deferred) a deferred call, which the inline
 * claim writes (sluice/fast.h) once the thread knows the call site. */
static void log_one(sluice_logger *lg, const split *sp, int i)
{
    if (sp->deferred)
        SLUICE_INFO(lg, "r%03d", i);
    else
        sluice_logf(lg, SLUICE_LEVEL_INFO, "r%03d", i);
}

static void log_split(const char *ini, void *arg)
{
    const split *sp = arg;
    sluice_runtime *rt = child_start(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 0; i < sp->confirmed; i++)
        log_one(lg, sp, i);
    child_wait_written(lg, "b", (uint64_t)sp->confirmed);
    atomic_store(&capture_sink.fail, 1); /* b confirms nothing from here */
    for (int i = sp->confirmed; i < sp->total; i++)
        log_one(lg, sp, i);
    child_wait_written(lg, "a", (uint64_t)sp->total);
}

/* The capture sink's first n lines are records "r%03d" first, first + 1... */
static void assert_captured_from(int first, int n)
{
    for (int i = 0; i < n; i++) {
        char want[16];
        snprintf(want, sizeof want, "r%03d", first + i);
        cr_assert(strstr(capture_sink.lines[i], want), "line %d: %s, not %s", i,
                  capture_sink.lines[i], want);
    }
}

static char *ini_two_sinks(const char *dir, const char *second, const char *extra)
{
    static char ini[2048];
    snprintf(ini, sizeof ini,
             "[sink.a]\nplugin = file\npath = %s/a.log\npattern = %%m\n"
             "%s"
             "[logger.app]\nsinks = a%s\ndurable = %s/app.queue\n"
             "queue_size = 128K\n%s",
             dir, second, second[0] ? ", b" : "", dir, extra);
    return ini;
}

/* ---- replay ---------------------------------------------------------------- */

Test(durable, replay_gives_each_sink_exactly_what_it_had_not_confirmed)
{
    char *dir = tmpdir_make();
    const char *ini = ini_two_sinks(dir, "[sink.b]\nplugin = capture\n",
                                    "durable_sync = batch\n");
    split sp = {40, 100, false};
    crash_after(log_split, ini, &sp);
    char path[600];
    snprintf(path, sizeof path, "%s/a.log", dir);
    size_t before_len;
    free(read_file(path, &before_len));

    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_logger_stats ls = logger_stats(lg);
    cr_assert_eq(ls.replayed, 60, "found %llu to replay",
                 (unsigned long long)ls.replayed);
    cr_assert_eq(ls.accepted, 0, "replayed records were not accepted here");
    cr_assert_eq(ls.attempted, 0);
    cr_assert_eq(ls.corrupt, 0, "corrupt %llu, replayed %llu", (unsigned long long)ls.corrupt, (unsigned long long)ls.replayed);
    cr_assert_eq(binding_stats(lg, 0).replayed, 0);
    cr_assert_eq(binding_stats(lg, 1).replayed, 60);
    sluice_logf(lg, SLUICE_LEVEL_INFO, "new");
    cr_assert_eq(sluice_logger_flush(lg, 10000), 0);
    sluice_binding_stats a = binding_stats(lg, 0), b = binding_stats(lg, 1);
    cr_assert_eq(a.written, 1, "a had confirmed everything: only the new one");
    cr_assert_eq(b.written, 61);
    /* written + evicted + pending == accepted + replayed */
    cr_assert_eq(b.written + b.evicted + b.pending, logger_stats(lg).accepted + b.replayed);
    cr_assert_eq(sluice_close(rt, 5000), 0);

    cr_assert_eq(capture_count(), 61);
    assert_captured_from(40, 60);
    cr_assert(strstr(capture_sink.lines[60], "new"), "%s", capture_sink.lines[60]);
    char *text = read_file(path, NULL);
    cr_assert_eq(count_lines(text), 101, "a: every record once, then the new one");
    cr_assert(strstr(text, "r099\nnew\n"), "%s", text + (before_len > 40 ? before_len - 40 : 0));
    free(text);
    tmpdir_remove(dir);
}

/* The same with deferred calls, which the inline claim seals with their
 * CRC-32C at the call site: none is damaged, each replays whole. */
Test(durable, records_sealed_at_the_call_site_replay_whole)
{
    char *dir = tmpdir_make();
    const char *ini = ini_two_sinks(dir, "[sink.b]\nplugin = capture\n",
                                    "durable_sync = batch\n");
    split sp = {40, 100, true};
    crash_after(log_split, ini, &sp);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_logger_stats ls = logger_stats(lg);
    cr_assert_eq(ls.corrupt, 0, "corrupt %llu", (unsigned long long)ls.corrupt);
    cr_assert_eq(ls.replayed, 60, "found %llu to replay", (unsigned long long)ls.replayed);
    cr_assert_eq(sluice_logger_flush(lg, 10000), 0);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(capture_count(), 60);
    assert_captured_from(40, 60);
    tmpdir_remove(dir);
}

/* A post-hook that marks each record it saw (its buffer lives until its
 * next call on the thread, as sluice.h allows). */
static void mark_hooked(void *user, sluice_record *r)
{
    (void)user;
    static _Thread_local char line[256];
    int n = snprintf(line, sizeof line, "hooked %.*s", (int)r->message_len,
                     r->message);
    r->message = line;
    r->message_len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
}

static void log_split_hooked(const char *ini, void *arg)
{
    sluice_runtime *rt = child_start(ini);
    sluice_error err;
    if (sluice_logger_add_post_hook(sluice_logger_get(rt, "app"), mark_hooked,
                                    NULL, &err) != 0)
        _exit(6);
    const split *sp = arg;
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 0; i < sp->confirmed; i++)
        sluice_logf(lg, SLUICE_LEVEL_INFO, "r%03d", i);
    child_wait_written(lg, "b", (uint64_t)sp->confirmed);
    atomic_store(&capture_sink.fail, 1);
    for (int i = sp->confirmed; i < sp->total; i++)
        sluice_logf(lg, SLUICE_LEVEL_INFO, "r%03d", i);
    child_wait_written(lg, "a", (uint64_t)sp->total);
}

/* The post-hook stage's cursor is no sink's: it runs ahead of a sink that
 * is down, and must not stand in the file for that sink's (b is the first
 * sink, whose place in the file the stage's would take). After the kill b
 * gets what it had not confirmed, and, the hook added before b takes
 * anything, hooked. */
Test(durable, post_hooks_leave_a_lagging_sinks_cursor_and_hook_its_replay)
{
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[runtime]\nrestart_backoff_ms = 300\nrestart_intensity = unlimited\n"
             "[sink.a]\nplugin = file\npath = %s/a.log\npattern = %%m\n"
             "[sink.b]\nplugin = capture\n"
             "[logger.app]\nsinks = b, a\ndurable = %s/app.queue\n"
             "queue_size = 128K\ndurable_sync = batch\n",
             dir, dir);
    split sp = {40, 100, false};
    crash_after(log_split_hooked, ini, &sp);

    atomic_store(&capture_sink.fail, 1); /* b down at the start */
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    cr_assert_eq(binding_stats(lg, 0).replayed, 60,
                 "b had confirmed 40 of 100: 60 to replay, not %llu",
                 (unsigned long long)binding_stats(lg, 0).replayed);
    /* b failed once and waits for its restart: nothing of it in flight */
    for (int i = 0; i < 10000 && binding_stats(lg, 0).failures == 0; i++)
        usleep(1000);
    cr_assert_geq(binding_stats(lg, 0).failures, 1);
    sluice_error err;
    cr_assert_eq(sluice_logger_add_post_hook(lg, mark_hooked, NULL, &err), 0,
                 "%s", err.message);
    atomic_store(&capture_sink.fail, 0);
    cr_assert_eq(sluice_logger_flush(lg, 20000), 0);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(capture_count(), 60, "b got %zu", (size_t)capture_count());
    for (int i = 0; i < 60; i++) {
        char want[32];
        snprintf(want, sizeof want, "hooked r%03d", 40 + i);
        cr_assert(strstr(capture_sink.lines[i], want), "line %d: %s, not %s", i,
                  capture_sink.lines[i], want);
    }
    tmpdir_remove(dir);
}

Test(durable, a_sink_new_to_the_file_starts_at_its_end)
{
    char *dir = tmpdir_make();
    split sp = {0, 30, false};
    /* a alone writes everything; the kill; then b joins */
    crash_after(log_split, ini_two_sinks(dir, "[sink.b]\nplugin = capture\n", ""), &sp);
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[sink.a]\nplugin = file\npath = %s/a.log\npattern = %%m\n"
             "[sink.b]\nplugin = capture\n[sink.c]\nplugin = capture\n"
             "[logger.app]\nsinks = a, b, c\ndurable = %s/app.queue\n"
             "queue_size = 128K\n",
             dir, dir);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    cr_assert_eq(binding_stats(lg, 1).replayed, 30, "b had confirmed nothing");
    cr_assert_eq(binding_stats(lg, 2).replayed, 0, "c is new: nothing for it");
    cr_assert_eq(sluice_logger_flush(lg, 10000), 0);
    cr_assert_eq(binding_stats(lg, 2).written, 0);
    cr_assert_eq(binding_stats(lg, 1).written, 30);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    tmpdir_remove(dir);
}

Test(durable, a_sink_that_left_holds_no_room)
{
    char *dir = tmpdir_make();
    split sp = {0, 50, false};
    crash_after(log_split, ini_two_sinks(dir, "[sink.b]\nplugin = capture\n", ""), &sp);
    /* without b: its 50 unconfirmed records hold nothing back; a full
     * ring's worth (128 KiB of 64-byte records) fits without a drop */
    const char *alone = ini_two_sinks(dir, "", "overflow = drop_newest\n"
                                               "producer_rings = 1\n"
                                               "autostart = false\n");
    sluice_runtime *rt = start_ini(alone);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_logger_stats ls = logger_stats(lg);
    cr_assert_eq(ls.replayed, 0, "a had confirmed all; b is gone");
    for (int i = 0; i < 2048; i++)
        SLUICE_INFO(lg, "fill %d", i);
    ls = logger_stats(lg);
    cr_assert_eq(ls.accepted, 2048);
    cr_assert_eq(ls.dropped, 0, "the departed sink's cursor still held room");
    sluice_close(rt, 0);
    /* and when b comes back, it is new to the file */
    rt = start_ini(ini_two_sinks(dir, "[sink.b]\nplugin = capture\n", ""));
    lg = sluice_logger_get(rt, "app");
    cr_assert_eq(binding_stats(lg, 1).replayed, 0);
    cr_assert_eq(binding_stats(lg, 0).replayed, 2048, "a's backlog was kept: %llu", (unsigned long long)binding_stats(lg, 0).replayed);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    tmpdir_remove(dir);
}

/* deferred calls: the call site comes back from the file */
static void log_deferred(const char *ini, void *arg)
{
    (void)arg;
    sluice_runtime *rt = child_start(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    atomic_store(&capture_sink.fail, 1);
    for (int i = 0; i < 20; i++)
        SLUICE_WARN(lg, "deferred %d of %s, %.2f", i, "twenty", i / 4.0);
    for (int i = 0; i < 20; i++)
        SLUICE_INFO(lg, "straight %d %d", i, -i);
    child_wait_written(lg, "a", 40);
}

Test(durable, deferred_records_replay_with_their_call_sites_and_times)
{
    char *dir = tmpdir_make();
    const char *ini = ini_two_sinks(dir, "[sink.b]\nplugin = capture\n", "");
    int64_t before = (int64_t)time(NULL) * 1000000000LL - 1000000000LL;
    crash_after(log_deferred, ini, NULL);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    cr_assert_eq(sluice_logger_flush(lg, 10000), 0);
    int64_t after = (int64_t)time(NULL) * 1000000000LL + 1000000000LL;
    /* (before close: the call sites read from the file live as long as
     * its queue, like a record's strings live for the write) */
    cr_assert_eq(capture_count(), 40);
    for (int i = 0; i < 40; i++) {
        char want[64];
        if (i < 20)
            snprintf(want, sizeof want, "deferred %d of twenty, %.2f", i, i / 4.0);
        else
            snprintf(want, sizeof want, "straight %d %d", i - 20, 20 - i);
        cr_assert(strstr(capture_sink.lines[i], want), "line %d: '%s', not '%s'",
                  i, capture_sink.lines[i], want);
        const sluice_record *r = &capture_sink.records[i];
        cr_assert_eq(r->level, i < 20 ? SLUICE_LEVEL_WARN : SLUICE_LEVEL_INFO);
        cr_assert(r->file && strstr(r->file, "test_durable.c"), "%s", r->file);
        cr_assert_str_eq(r->function, "log_deferred");
        cr_assert_gt(r->source_line, 0);
        cr_assert(r->time_ns > before && r->time_ns < after,
                  "record %d's time %lld is not between %lld and %lld", i,
                  (long long)r->time_ns, (long long)before, (long long)after);
    }
    cr_assert_eq(sluice_close(rt, 5000), 0);
    tmpdir_remove(dir);
}

/* the file survives a clean close too: what was left is replayed (run
 * loops the host drives, never run here: close frees the runtime, and
 * releases the file, before it returns) */
Test(durable, undelivered_at_close_is_delivered_by_the_next_open)
{
    char *dir = tmpdir_make();
    const char *ini = ini_two_sinks(dir, "[sink.b]\nplugin = capture\n",
                                    "autostart = false\n");
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 0; i < 25; i++)
        sluice_logf(lg, SLUICE_LEVEL_INFO, "left %d", i);
    cr_assert_eq(sluice_close(rt, 0), 50, "both sinks' 25 are undelivered");
    rt = start_ini(ini_two_sinks(dir, "[sink.b]\nplugin = capture\n",
                                 "durable_sync = batch\n"));
    lg = sluice_logger_get(rt, "app");
    cr_assert_eq(binding_stats(lg, 0).replayed, 25);
    cr_assert_eq(binding_stats(lg, 1).replayed, 25);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(capture_count(), 25);
    cr_assert(strstr(capture_sink.lines[24], "left 24"), "%s", capture_sink.lines[24]);
    char path[600];
    snprintf(path, sizeof path, "%s/a.log", dir);
    char *text = read_file(path, NULL);
    cr_assert_eq(count_lines(text), 25);
    free(text);
    tmpdir_remove(dir);
}

Test(durable, interval_sync_and_several_lanes_replay_too)
{
    char *dir = tmpdir_make();
    const char *ini = ini_two_sinks(dir, "[sink.b]\nplugin = capture\n",
                                    "durable_sync = interval:5\nworkers = 2\n");
    split sp = {0, 64, false};
    crash_after(log_split, ini, &sp);
    char lane[700];
    snprintf(lane, sizeof lane, "%s/app.queue.1", dir);
    cr_assert(exists(lane), "lane 1's file is PATH.1");
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    cr_assert_eq(logger_stats(lg).replayed, 64);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(capture_count(), 64);
    tmpdir_remove(dir);
}

/* ---- errors at open ---------------------------------------------------- */

/* Starting ini fails; the error names the durable key's line (7 in the
 * INIs below) and says `what`; nothing was started (a.log not made). */
static void refused(const char *dir, const char *ini, const char *what)
{
    char *msg = start_ini_fails(ini);
    cr_assert(strstr(msg, "<string>:7: [logger.app] durable"),
              "no FILE:LINE of the key in: %s", msg);
    cr_assert(strstr(msg, what), "'%s' not in: %s", what, msg);
    char path[600];
    snprintf(path, sizeof path, "%s/a.log", dir);
    cr_assert_not(exists(path), "a sink was opened: %s", msg);
    free(msg);
}

static const char *ini_at(const char *dir, const char *file, const char *extra)
{
    static char ini[1024];
    snprintf(ini, sizeof ini,
             "[sink.a]\nplugin = file\npath = %s/a.log\npattern = %%m\n"
             "[logger.app]\nsinks = a\ndurable = %s\nqueue_size = 128K\n%s",
             dir, file, extra);
    return ini;
}

Test(durable, a_missing_directory_is_refused_with_its_line)
{
    char *dir = tmpdir_make();
    char file[600];
    snprintf(file, sizeof file, "%s/no/such/dir/q", dir);
    refused(dir, ini_at(dir, file, ""), "does not exist");
    /* and `sluice check` says so too */
    char ini[700];
    snprintf(ini, sizeof ini, "%s/app.ini", dir);
    write_text(ini, ini_at(dir, file, ""));
    char *out;
    int rc = sh(&out, "'%s' check -c '%s'", cli(), ini);
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "app.ini:7:") && strstr(out, "does not exist"), "%s", out);
    free(out);
    tmpdir_remove(dir);
}

Test(durable, bad_durable_keys_are_refused_with_their_lines)
{
    char *dir = tmpdir_make();
    char file[600];
    snprintf(file, sizeof file, "%s/q", dir);
    char *msg = start_ini_fails(ini_at(dir, file, "durable_sync = sometimes\n"));
    cr_assert(strstr(msg, "<string>:9: [logger.app] durable_sync: 'sometimes'"), "%s", msg);
    free(msg);
    msg = start_ini_fails(ini_at(dir, file, "durable_sync = interval:0\n"));
    cr_assert(strstr(msg, "<string>:9:"), "%s", msg);
    free(msg);
    msg = start_ini_fails("[sink.a]\nplugin = capture\n[logger.app]\nsinks = a\n"
                          "durable_sync = batch\n");
    cr_assert(strstr(msg, "<string>:5:") && strstr(msg, "no 'durable'"), "%s", msg);
    free(msg);
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[sink.a]\nplugin = capture\n"
             "[logger.one]\nsinks = a\ndurable = %s\n"
             "[logger.two]\nsinks = a\ndurable = %s\n",
             file, file);
    msg = start_ini_fails(ini);
    cr_assert(strstr(msg, "<string>:8: [logger.two] durable:") &&
                  strstr(msg, "already the file of [logger.one]"),
              "%s", msg);
    free(msg);
    cr_assert_not(exists(file));
    tmpdir_remove(dir);
}

Test(durable, a_file_of_another_version_or_layout_is_refused)
{
    char *dir = tmpdir_make();
    char file[600];
    snprintf(file, sizeof file, "%s/q", dir);
    sluice_runtime *rt = start_ini(ini_at(dir, file, "producer_rings = 1\n"));
    sluice_close(rt, 1000);
    char path[600];
    snprintf(path, sizeof path, "%s/a.log", dir);
    unlink(path);
    /* another size, another count of rings (given, not auto) */
    char other[1024];
    snprintf(other, sizeof other, "%s", ini_at(dir, file, ""));
    char *at = strstr(other, "128K");
    memcpy(at, "256K", 4);
    refused(dir, other, "holds a queue of 1 ring of 128 KiB, and the "
                        "configuration asks for 1 ring of 256 KiB");
    refused(dir, ini_at(dir, file, "producer_rings = 2\n"), "asks for 2 rings of 64 KiB");
    /* producer_rings = auto takes the file's count */
    rt = start_ini(ini_at(dir, file, ""));
    sluice_close(rt, 1000);
    unlink(path);
    /* another format version (the header's checksum made right again) */
    int fd = open(file, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char header[256];
    cr_assert_eq(pread(fd, header, sizeof header, 0), (ssize_t)sizeof header);
    uint32_t version = 9;
    memcpy(header + VERSION_AT, &version, 4);
    uint32_t crc = sluice_crc32c(0, header, HEADER_CHECKED);
    memcpy(header + HEADER_CHECKED, &crc, 4);
    cr_assert_eq(pwrite(fd, header, sizeof header, 0), (ssize_t)sizeof header);
    close(fd);
    refused(dir, ini_at(dir, file, ""), "format version 9; this sluice reads version 1");
    /* not a queue file at all */
    write_text(file, "hello, I am a text file\n");
    refused(dir, ini_at(dir, file, ""), "is not a sluice queue file");
    tmpdir_remove(dir);
}

Test(durable, a_file_in_use_by_another_process_is_refused_with_its_pid)
{
    char *dir = tmpdir_make();
    char file[600];
    snprintf(file, sizeof file, "%s/q", dir);
    const char *ini = ini_at(dir, file, "");
    int ready[2], go[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(go), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        sluice_runtime *rt = child_start(ini);
        char c = 'r';
        if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(6);
        sluice_close(rt, 1000);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1, "the other process did not start");
    char path[600];
    snprintf(path, sizeof path, "%s/a.log", dir);
    unlink(path); /* the child's sink */
    char want[64];
    snprintf(want, sizeof want, "is in use by another process (pid %d)", (int)pid);
    refused(dir, ini, want);
    cr_assert_eq(write(go[1], "g", 1), 1);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* free again once the other process closed it */
    sluice_runtime *rt = start_ini(ini);
    /* and a second queue of this same process is refused too */
    char second[1024];
    snprintf(second, sizeof second,
             "[sink.a]\nplugin = file\npath = %s/b.log\npattern = %%m\n"
             "[logger.app]\nsinks = a\ndurable = %s\nqueue_size = 128K\n",
             dir, file);
    char *msg = start_ini_fails(second);
    cr_assert(strstr(msg, "in use by another queue of this process"), "%s", msg);
    free(msg);
    sluice_close(rt, 1000);
    tmpdir_remove(dir);
}

Test(durable, no_space_to_create_the_file_is_an_error_at_open)
{
    char *dir = tmpdir_make();
    char file[600];
    snprintf(file, sizeof file, "%s/q", dir);
    /* a file-size limit stands in for a full disk: posix_fallocate meets
     * it at open, as it would meet ENOSPC, instead of a SIGBUS later */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = {64 * 1024, 64 * 1024}, old;
    getrlimit(RLIMIT_FSIZE, &old);
    small.rlim_max = old.rlim_max;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    refused(dir, ini_at(dir, file, ""), "cannot allocate 1");
    setrlimit(RLIMIT_FSIZE, &old);
    cr_assert_not(exists(file), "the failed try is removed");
    tmpdir_remove(dir);
}

/* A full file system, for real: a 512 KiB tmpfs mounted in a user and
 * mount namespace of a child (where the kernel lets it). */
static int full_disk_child(const char *dir, int report)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return 10; /* no user namespaces here */
    char map[64];
    int n = snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    int fd = open("/proc/self/setgroups", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "deny", 4) != 4)
            return 11;
        close(fd);
    }
    fd = open("/proc/self/uid_map", O_WRONLY);
    if (fd < 0 || write(fd, map, (size_t)n) != n)
        return 11;
    close(fd);
    n = snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
    fd = open("/proc/self/gid_map", O_WRONLY);
    if (fd < 0 || write(fd, map, (size_t)n) != n)
        return 11;
    close(fd);
    if (mount("none", dir, "tmpfs", 0, "size=512k") != 0)
        return 10;
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[sink.a]\nplugin = capture\n[logger.app]\nsinks = a\n"
             "durable = %s/q\nqueue_size = 128K\n",
             dir);
    sluice_error err;
    sluice_builder *b = sluice_config_load_string(ini, &err);
    if (!b || sluice_builder_add_sink_api(b, &capture_api, &err) != 0)
        return 12;
    sluice_runtime *rt = NULL;
    if (sluice_builder_start(b, &rt, &err) == 0)
        return 13;
    if (write(report, err.message, strlen(err.message)) < 0)
        return 12;
    char path[600];
    snprintf(path, sizeof path, "%s/q", dir);
    return exists(path) ? 14 : 0;
}

Test(durable, a_full_disk_is_an_error_at_open)
{
    char *dir = tmpdir_make();
    int report[2];
    cr_assert_eq(pipe(report), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(report[0]);
        _exit(full_disk_child(dir, report[1]));
    }
    close(report[1]);
    char msg[SLUICE_ERROR_MAX + 1];
    ssize_t got = read(report[0], msg, sizeof msg - 1);
    msg[got > 0 ? got : 0] = '\0';
    close(report[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st));
    if (WEXITSTATUS(st) == 10) {
        cr_log_info("no user namespace for a small tmpfs here: the file-size "
                    "limit above stands in for a full disk");
    } else {
        cr_assert_eq(WEXITSTATUS(st), 0, "child status %d: %s", WEXITSTATUS(st), msg);
        cr_assert(strstr(msg, "<string>:5: [logger.app] durable") &&
                      strstr(msg, "no space to create it") &&
                      strstr(msg, "No space left on device"),
                  "%s", msg);
    }
    tmpdir_remove(dir);
}

Test(durable, a_relative_path_is_relative_to_the_ini_file)
{
    char *dir = tmpdir_make();
    char ini[700];
    snprintf(ini, sizeof ini, "%s/app.ini", dir);
    write_text(ini, "[sink.a]\nplugin = null\n[logger.app]\nsinks = a\n"
                    "durable = app.queue\nqueue_size = 128K\n");
    sluice_runtime *rt;
    sluice_error err;
    cr_assert_eq(sluice_open(ini, &rt, &err), 0, "%s", err.message);
    char path[700];
    snprintf(path, sizeof path, "%s/app.queue", dir);
    cr_assert(exists(path), "not made beside its INI file");
    sluice_close(rt, 1000);
    tmpdir_remove(dir);
}

/* ---- a damaged file ------------------------------------------------------ */

static void log_unconfirmed(const char *ini, void *arg)
{
    int n = *(const int *)arg;
    sluice_runtime *rt = child_start(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    atomic_store(&capture_sink.fail, 1);
    for (int i = 0; i < n; i++)
        sluice_logf(lg, SLUICE_LEVEL_INFO, "record-%03d", i);
    child_wait_written(lg, "a", (uint64_t)n);
}

/* Flip one byte of the file at off. */
static void flip(const char *file, off_t off)
{
    int fd = open(file, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char byte;
    cr_assert_eq(pread(fd, &byte, 1, off), 1);
    byte ^= 0x5a;
    cr_assert_eq(pwrite(fd, &byte, 1, off), 1);
    close(fd);
}

/* Where text first is in the file. */
static off_t find_in(const char *file, const char *text)
{
    size_t len;
    char *data = read_file(file, &len);
    off_t at = -1;
    for (size_t i = 0; i + strlen(text) <= len; i++)
        if (memcmp(data + i, text, strlen(text)) == 0) {
            at = (off_t)i;
            break;
        }
    free(data);
    cr_assert_geq(at, 0, "'%s' is not in %s", text, file);
    return at;
}

/* A crashed queue of n records b had not confirmed; returns its INI. */
static const char *crashed(const char *dir, char *file, size_t cap, int n)
{
    static char ini[2048];
    snprintf(file, cap, "%s/app.queue", dir);
    snprintf(ini, sizeof ini, "%s",
             ini_two_sinks(dir, "[sink.b]\nplugin = capture\n", "producer_rings = 1\n"));
    crash_after(log_unconfirmed, ini, &n);
    return ini;
}

/* Reopen; b gets what is left; returns the logger's stats at open. */
static sluice_logger_stats reopen_and_drain(const char *ini)
{
    capture_reset();
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_logger_stats ls = logger_stats(lg);
    cr_assert_eq(sluice_logger_flush(lg, 10000), 0);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    return ls;
}

Test(durable, a_flipped_byte_in_a_record_skips_that_record_and_counts_it)
{
    char *dir = tmpdir_make();
    char file[600];
    const char *ini = crashed(dir, file, sizeof file, 100);
    flip(file, find_in(file, "record-050") + 8);
    sluice_logger_stats ls = reopen_and_drain(ini);
    cr_assert_eq(ls.corrupt, 1, "corrupt %llu, replayed %llu", (unsigned long long)ls.corrupt, (unsigned long long)ls.replayed);
    cr_assert_eq(ls.replayed, 99);
    cr_assert_eq(capture_count(), 99);
    for (size_t i = 0; i < capture_count(); i++)
        cr_assert_not(strstr(capture_sink.lines[i], "record-050"));
    cr_assert(strstr(capture_sink.lines[50], "record-051"), "%s", capture_sink.lines[50]);
    /* the mended file opens clean */
    ls = reopen_and_drain(ini);
    cr_assert_eq(ls.corrupt, 0, "corrupt %llu, replayed %llu", (unsigned long long)ls.corrupt, (unsigned long long)ls.replayed);
    cr_assert_eq(ls.replayed, 0);
    tmpdir_remove(dir);
}

Test(durable, damage_to_a_record_header_or_the_ring_end_never_misreads)
{
    char *dir = tmpdir_make();
    char file[600];
    const char *ini = crashed(dir, file, sizeof file, 100);
    off_t rec = find_in(file, "record-020") - 48;
    /* the header's units: a record whose size lies is skipped, not
     * followed into the next ones */
    flip(file, rec + 8);
    /* the publish word of the last record: it is gone (absent, not
     * counted: a record the disk never got looks like one never made) */
    flip(file, find_in(file, "record-099") - 48);
    sluice_logger_stats ls = reopen_and_drain(ini);
    cr_assert_eq(ls.corrupt, 1, "corrupt %llu, replayed %llu", (unsigned long long)ls.corrupt, (unsigned long long)ls.replayed);
    cr_assert_eq(ls.replayed, 98);
    cr_assert_eq(capture_count(), 98);
    tmpdir_remove(dir);
}

/* The child of a_word_inside_a_record_that_reads_as_a_publish_word_...:
 * record 0, then one whose first payload unit reads as the publish word of
 * a later offset at that unit's position, then records 2..n-1, none
 * confirmed by b. */
static void log_lookalike(const char *ini, void *arg)
{
    int n = *(const int *)arg;
    sluice_runtime *rt = child_start(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    atomic_store(&capture_sink.fail, 1);
    sluice_logf(lg, SLUICE_LEVEL_INFO, "record-%03d", 0);
    child_wait_written(lg, "a", 1);
    /* a fresh file: record 0 is at offset 0, its publish word 1 ^ secret */
    char file[700];
    snprintf(file, sizeof file, "%s", strstr(ini, "durable = ") + 10);
    *strchr(file, '\n') = '\0';
    int fd = open(file, O_RDONLY);
    uint64_t word = 0;
    if (fd < 0 || pread(fd, &word, 8, RING_AT) != 8)
        _exit(6);
    close(fd);
    uint64_t secret = word ^ 1;
    /* record 1 at offset 8 (record 0 takes 8 units), its payload at 14:
     * there, the word of offset 14 + the ring's units (128K: 16384), past
     * the head */
    uint64_t lookalike = (14 + 16384 + 1) ^ secret;
    char text[32];
    memcpy(text, &lookalike, 8);
    memcpy(text + 8, "|lookalike", 10);
    sluice_log_str(lg, SLUICE_LEVEL_INFO, text, 18);
    for (int i = 2; i < n; i++)
        sluice_logf(lg, SLUICE_LEVEL_INFO, "record-%03d", i);
    child_wait_written(lg, "a", (uint64_t)n);
}

Test(durable, a_word_inside_a_record_that_reads_as_a_publish_word_is_kept)
{
    char *dir = tmpdir_make();
    int n = 20;
    const char *ini =
        ini_two_sinks(dir, "[sink.b]\nplugin = capture\n", "producer_rings = 1\n");
    crash_after(log_lookalike, ini, &n);
    sluice_logger_stats ls = reopen_and_drain(ini);
    cr_assert_eq(ls.corrupt, 0, "corrupt %llu, replayed %llu",
                 (unsigned long long)ls.corrupt, (unsigned long long)ls.replayed);
    cr_assert_eq(ls.replayed, (uint64_t)n);
    cr_assert_eq(capture_count(), (size_t)n);
    /* (record 1's line holds binary bytes: a NUL may cut its copy) */
    cr_assert(strstr(capture_sink.lines[0], "record-000"), "%s", capture_sink.lines[0]);
    cr_assert_not(strstr(capture_sink.lines[1], "record-"), "%s", capture_sink.lines[1]);
    cr_assert(strstr(capture_sink.lines[2], "record-002"), "%s", capture_sink.lines[2]);
    tmpdir_remove(dir);
}

Test(durable, a_torn_cursor_falls_back_to_its_other_copy_or_the_start)
{
    char *dir = tmpdir_make();
    char file[600];
    split sp = {30, 60, false};
    char ini[2048];
    snprintf(file, sizeof file, "%s/app.queue", dir);
    snprintf(ini, sizeof ini, "%s",
             ini_two_sinks(dir, "[sink.b]\nplugin = capture\n", "producer_rings = 1\n"));
    crash_after(log_split, ini, &sp);
    /* b (slot 1) confirmed 30: both copies are b's, the newer says 30;
     * tear the newer: the older one says less, so more is replayed */
    int fd = open(file, O_RDONLY);
    cr_assert_geq(fd, 0);
    uint64_t gen_a, gen_b;
    off_t slot = CURSOR_AT + CURSOR_SLOT_BYTES;
    cr_assert_eq(pread(fd, &gen_a, 8, slot + COPY_A_AT), 8);
    cr_assert_eq(pread(fd, &gen_b, 8, slot + COPY_B_AT), 8);
    close(fd);
    cr_assert(gen_a && gen_b, "b's slot has two copies (%llu, %llu)",
              (unsigned long long)gen_a, (unsigned long long)gen_b);
    flip(file, slot + (gen_a > gen_b ? COPY_A_AT : COPY_B_AT) + 12);
    sluice_logger_stats ls = reopen_and_drain(ini);
    cr_assert_eq(ls.corrupt, 0, "corrupt %llu, replayed %llu", (unsigned long long)ls.corrupt, (unsigned long long)ls.replayed);
    cr_assert_geq(ls.replayed, 30, "at least what b had not confirmed");
    cr_assert_lt(ls.replayed, 60 + 1);
    size_t seen = capture_count();
    cr_assert(strstr(capture_sink.lines[seen - 1], "r059"), "%s", capture_sink.lines[seen - 1]);
    /* a second kill, then both copies of a's slot (slot 0) torn: a starts
     * over from the ring's oldest record (duplicates, nothing lost) */
    crash_after(log_split, ini, &sp);
    flip(file, CURSOR_AT + COPY_A_AT + 12);
    flip(file, CURSOR_AT + COPY_B_AT + 12);
    char path[600];
    snprintf(path, sizeof path, "%s/a.log", dir);
    size_t before = 0;
    free(read_file(path, &before));
    ls = reopen_and_drain(ini);
    char *text = read_file(path, NULL);
    cr_assert_geq(count_lines(text), 60 + 60 + 60, "a got the whole ring again");
    free(text);
    /* a damaged name: the slot belongs to no sink, b starts at the end */
    crash_after(log_split, ini, &sp);
    flip(file, slot);
    ls = reopen_and_drain(ini);
    cr_assert_eq(capture_count(), 0);
    tmpdir_remove(dir);
}

Test(durable, damaged_call_sites_skip_the_records_that_name_them)
{
    char *dir = tmpdir_make();
    const char *ini = ini_two_sinks(dir, "[sink.b]\nplugin = capture\n", "");
    crash_after(log_deferred, ini, NULL);
    char file[600];
    snprintf(file, sizeof file, "%s/app.queue", dir);
    /* the second call site's format */
    flip(file, find_in(file, "straight %d") + 3);
    sluice_logger_stats ls = reopen_and_drain(ini);
    cr_assert_eq(ls.corrupt, 20, "the 20 records of the lost call site: %llu", (unsigned long long)ls.corrupt);
    cr_assert_eq(capture_count(), 20);
    for (size_t i = 0; i < 20; i++)
        cr_assert(strstr(capture_sink.lines[i], "deferred"), "%s", capture_sink.lines[i]);
    tmpdir_remove(dir);
}

Test(durable, a_damaged_or_cut_header_is_a_clear_error)
{
    char *dir = tmpdir_make();
    char file[600];
    const char *ini = crashed(dir, file, sizeof file, 10);
    char path[600];
    snprintf(path, sizeof path, "%s/a.log", dir);
    unlink(path);
    flip(file, 40); /* the secret */
    char *msg = start_ini_fails(ini);
    cr_assert(strstr(msg, "<string>:9: [logger.app] durable") &&
                  strstr(msg, "header is damaged"),
              "%s", msg);
    free(msg);
    cr_assert_not(exists(path));
    cr_assert_eq(truncate(file, 100), 0);
    msg = start_ini_fails(ini);
    cr_assert(strstr(msg, "too short"), "%s", msg);
    free(msg);
    tmpdir_remove(dir);
}

Test(durable, a_file_cut_short_in_its_rings_reopens_with_what_is_left)
{
    char *dir = tmpdir_make();
    char file[600];
    const char *ini = crashed(dir, file, sizeof file, 100);
    /* cut inside record 60: what follows reads as zeros */
    cr_assert_eq(truncate(file, find_in(file, "record-060")), 0);
    sluice_logger_stats ls = reopen_and_drain(ini);
    cr_assert_eq(ls.replayed, 60);
    cr_assert_eq(capture_count(), 60);
    cr_assert(strstr(capture_sink.lines[59], "record-059"), "%s", capture_sink.lines[59]);
    struct stat st;
    cr_assert_eq(stat(file, &st), 0);
    cr_assert_gt(st.st_size, RING_AT, "the file is whole again");
    /* and new records go on from there */
    capture_reset();
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_logf(lg, SLUICE_LEVEL_INFO, "after the cut");
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(capture_count(), 1);
    tmpdir_remove(dir);
}

Test(durable, random_damage_never_crashes_and_never_misreads)
{
    char *dir = tmpdir_make();
    char file[600];
    const char *ini = crashed(dir, file, sizeof file, 200);
    struct stat st;
    cr_assert_eq(stat(file, &st), 0);
    unsigned seed = (unsigned)time(NULL);
    cr_log_info("random damage seed %u", seed);
    srand(seed);
    char path[600];
    snprintf(path, sizeof path, "%s/a.log", dir);
    for (int round = 0; round < 20; round++) {
        /* bytes flipped anywhere past the header: eras, cursors, call
         * sites, rings */
        for (int k = 0; k < 50; k++)
            flip(file, 4096 + (off_t)((unsigned)rand() % (unsigned)(st.st_size - 4096)));
        /* a few in the records themselves */
        off_t first = find_in(file, "record-") - 48;
        for (int k = 0; k < 5; k++)
            flip(file, first + rand() % (200 * 64));
        capture_reset();
        sluice_runtime *rt = start_ini(ini);
        sluice_logger *lg = sluice_logger_get(rt, "app");
        sluice_logf(lg, SLUICE_LEVEL_INFO, "record-%03d", 999);
        cr_assert_eq(sluice_logger_flush(lg, 10000), 0);
        cr_assert_eq(sluice_close(rt, 5000), 0);
        for (size_t i = 0; i < capture_count(); i++) {
            const char *m = strstr(capture_sink.lines[i], "record-");
            int n = -1, end = 0;
            cr_assert(m && sscanf(m, "record-%3d%n", &n, &end) == 1 &&
                          (m[end] == '\n' || m[end] == '\0') &&
                          ((n >= 0 && n < 200) || n == 999),
                      "round %d: a misread record: '%s'", round,
                      capture_sink.lines[i]);
        }
        cr_assert(strstr(capture_sink.lines[capture_count() - 1], "record-999"));
    }
    tmpdir_remove(dir);
}
