/*
 * test_sinks_e2e.c -- the shipped sink plugins end to end: `sluice check`
 * reports bad option values with file and line (each plugin's check()),
 * and records go through the whole runtime (producers, lanes, workers, the
 * supervisor's retries) into a rotating file, a file renamed away by
 * logrotate, a FIFO whose reader leaves (with SIGPIPE's default action in
 * force), a real rsyslogd over RELP that is killed mid-stream, a real
 * rsyslogd over TCP restarted gracefully ten times under load, a kafka
 * mock cluster whose broker goes down mid-stream, and the console.
 *
 * Built with:
 *   SE_RSYSLOGD="/usr/sbin/rsyslogd"  when rsyslogd and librelp were found
 *   SE_KAFKA                         when the kafka plugin was built (and
 *                                    not under ThreadSanitizer)
 */
#include "helpers.h"

#include <dlfcn.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#if defined(SE_KAFKA) && defined(__SANITIZE_THREAD__)
#undef SE_KAFKA /* librdkafka's C11 threads crash TSan's runtime */
#endif
#ifdef SE_KAFKA
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
#ifdef SE_RSYSLOGD
#define RSYSLOGD SE_RSYSLOGD
#include "rsyslog_fixture.h"
#endif

static void suite_init(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE a sink let through kills us */
    init_capture();
}

static void suite_fini(void)
{
#ifdef SE_RSYSLOGD
    collector_kill_leftover();
#endif
    fini_capture();
}

TestSuite(sinks_e2e, .init = suite_init, .fini = suite_fini, .timeout = 120);

/* ---- helpers ------------------------------------------------------------ */

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static sluice_binding_stats stats_of(sluice_logger *lg, size_t i)
{
    sluice_binding_stats st;
    cr_assert_eq(sluice_binding_stats_get(sluice_logger_binding(lg, i), &st), 0);
    return st;
}

/* ---- sluice check: every plugin validates its values -------------------- */

/* Write ini into dir/name.ini; `sluice check` must fail naming
 * FILE:LINE: sink 'NAME': option 'KEY'. */
static void check_refuses(const char *dir, const char *name, const char *ini,
                          int line, const char *sink, const char *key,
                          const char *also)
{
    char conf[512];
    snprintf(conf, sizeof conf, "%s/%s.ini", dir, name);
    write_text(conf, ini);
    char *out;
    int rc = sh(&out, "%s check -c %s", cli(), conf);
    cr_assert_eq(rc, 1, "%s: check exited %d:\n%s", name, rc, out);
    char want[800];
    snprintf(want, sizeof want, "%s:%d: sink '%s': option '%s': ", conf, line,
             sink, key);
    cr_assert(strstr(out, want), "%s: missing '%s' in:\n%s", name, want, out);
    if (also)
        cr_assert(strstr(out, also), "%s: missing '%s' in:\n%s", name, also,
                  out);
    free(out);
}

Test(sinks_e2e, check_reports_bad_file_values)
{
    char *dir = tmpdir_make();
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s/app.log\nrotate_bytes = -5\n"
             "[logger.a]\nsinks = f\n", dir);
    check_refuses(dir, "rotate", ini, 4, "f", "rotate_bytes", "'-5' is not a size");
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s/app.log\nmode = 0999\n"
             "[logger.a]\nsinks = f\n", dir);
    check_refuses(dir, "mode", ini, 4, "f", "mode", "'0999'");
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s/app.log\nrotate = weekly\n"
             "[logger.a]\nsinks = f\n", dir);
    check_refuses(dir, "weekly", ini, 4, "f", "rotate", "'weekly'");
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s/app.log\nrotate = daily\n"
             "rotate_bytes = 1000\n[logger.a]\nsinks = f\n", dir);
    check_refuses(dir, "both", ini, 5, "f", "rotate_bytes", "cannot be combined");
    tmpdir_remove(dir);
}

Test(sinks_e2e, check_reports_bad_console_syslog_journald_values)
{
    char *dir = tmpdir_make();
    check_refuses(dir, "color",
                  "[sink.c]\nplugin = console\ncolor = sometimes\n"
                  "[logger.a]\nsinks = c\n",
                  3, "c", "color", "'sometimes'");
    check_refuses(dir, "stream",
                  "[sink.c]\nplugin = console\n\nstream = stdlog\n"
                  "[logger.a]\nsinks = c\n",
                  4, "c", "stream", "'stdlog'");
    check_refuses(dir, "transport",
                  "[sink.s]\nplugin = syslog\ntransport = carrier-pigeon\n"
                  "[logger.a]\nsinks = s\n",
                  3, "s", "transport", "'carrier-pigeon'");
    check_refuses(dir, "facility",
                  "[sink.s]\nplugin = syslog\ntransport = tcp\nhost = 127.0.0.1\n"
                  "facility = local9\n[logger.a]\nsinks = s\n",
                  5, "s", "facility", "'local9'");
    check_refuses(dir, "window",
                  "[sink.s]\nplugin = syslog\ntransport = udp\nrelp_window = 10\n"
                  "[logger.a]\nsinks = s\n",
                  4, "s", "relp_window", "only applies to transport = relp");
    check_refuses(dir, "journald",
                  "[sink.j]\nplugin = journald\nuse_libsystemd = maybe\n"
                  "[logger.a]\nsinks = j\n",
                  3, "j", "use_libsystemd", "'maybe'");
    check_refuses(dir, "journald_t",
                  "[sink.j]\nplugin = journald\ntimeout_ms = 0\n"
                  "[logger.a]\nsinks = j\n",
                  3, "j", "timeout_ms", "out of range");
    tmpdir_remove(dir);
}

/* A configuration that names libraries for librdkafka to load: sluice
 * check refuses each with its line, and nothing gets loaded. */
Test(sinks_e2e, check_loads_no_library_a_kafka_section_names)
{
#ifndef SE_KAFKA_PLUGIN
    cr_skip_test("the kafka plugin was not built");
#else
    char *dir = tmpdir_make();
    char conf[512], marker[512], ini[2048];
    snprintf(conf, sizeof conf, "%s/evil.ini", dir);
    snprintf(marker, sizeof marker, "%s/loaded", dir);
    const char *lib_dir = getenv("SLUICE_BROKEN_PLUGIN_DIR");
    cr_assert_not_null(lib_dir);
    snprintf(ini, sizeof ini,
             "[sink.k]\nplugin = kafka\nbrokers = 127.0.0.1:1\ntopic = t\n"
             "rdkafka.plugin.library.paths = %s/marker_lib.so\n"
             "rdkafka.ssl.engine.location = %s/marker_lib.so\n"
             "rdkafka.acks = 0\n[logger.a]\nsinks = k\n", lib_dir, lib_dir);
    write_text(conf, ini);
    char *out;
    int rc = sh(&out, "SLUICE_MARKER=%s %s check -c %s", marker, cli(), conf);
    cr_assert_eq(rc, 1, "%s", out);
    char want[700];
    snprintf(want, sizeof want, "%s:5: sink 'k': option "
             "'rdkafka.plugin.library.paths': cannot be set: loads shared "
             "libraries", conf);
    cr_assert(strstr(out, want), "missing '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, "%s:6: sink 'k': option "
             "'rdkafka.ssl.engine.location': cannot be set", conf);
    cr_assert(strstr(out, want), "missing '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, "%s:7: sink 'k': option 'rdkafka.acks': "
             "cannot be set: the sink's own acks option", conf);
    cr_assert(strstr(out, want), "missing '%s' in:\n%s", want, out);
    free(out);
    struct stat st;
    cr_assert_neq(stat(marker, &st), 0, "sluice check loaded the library");
    /* and the marker works: loading the library does create it */
    setenv("SLUICE_MARKER", marker, 1);
    snprintf(ini, sizeof ini, "%s/marker_lib.so", lib_dir);
    void *h = dlopen(ini, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(h, "%s", dlerror());
    cr_assert_eq(stat(marker, &st), 0, "the marker library made no marker");
    dlclose(h);
    tmpdir_remove(dir);
#endif
}

Test(sinks_e2e, check_reports_bad_kafka_values)
{
#ifndef SE_KAFKA_PLUGIN
    cr_skip_test("the kafka plugin was not built");
#else
    char *dir = tmpdir_make();
    check_refuses(dir, "linger",
                  "[sink.k]\nplugin = kafka\nbrokers = 127.0.0.1:1\ntopic = t\n"
                  "rdkafka.linger.ms = -3\n[logger.a]\nsinks = k\n",
                  5, "k", "rdkafka.linger.ms", "linger.ms");
    check_refuses(dir, "noprop",
                  "[sink.k]\nplugin = kafka\nbrokers = 127.0.0.1:1\ntopic = t\n"
                  "rdkafka.no.such.property = 1\n[logger.a]\nsinks = k\n",
                  5, "k", "rdkafka.no.such.property", NULL);
    check_refuses(dir, "acks",
                  "[sink.k]\nplugin = kafka\nbrokers = 127.0.0.1:1\ntopic = t\n"
                  "acks = 1\n[logger.a]\nsinks = k\n",
                  5, "k", "acks", "idempotence = false");
    tmpdir_remove(dir);
#endif
}

Test(sinks_e2e, check_reports_every_bad_sink_and_opens_nothing)
{
    char *dir = tmpdir_make();
    char ini[2048], conf[512], log[512];
    snprintf(log, sizeof log, "%s/never.log", dir);
    snprintf(conf, sizeof conf, "%s/two.ini", dir);
    /* two bad sinks: both reported, in one run */
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\nkeep = lots\n"
             "[sink.s]\nplugin = syslog\ntransport = relp\nport = 70000\n"
             "[logger.a]\nsinks = f, s\n", log);
    write_text(conf, ini);
    char *out;
    cr_assert_eq(sh(&out, "%s check -c %s", cli(), conf), 1, "%s", out);
    char want[700];
    snprintf(want, sizeof want, "%s:4: sink 'f': option 'keep': 'lots' is not a decimal integer", conf);
    cr_assert(strstr(out, want), "missing '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, "%s:8: sink 's': option 'port': 70000 is out of range", conf);
    cr_assert(strstr(out, want), "missing '%s' in:\n%s", want, out);
    free(out);
    struct stat st;
    cr_assert_neq(stat(log, &st), 0, "check created %s", log);

    /* good values: check passes, and still creates no file and connects
     * to no collector (nothing listens on port 1) */
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\nrotate_bytes = 1000\n"
             "[sink.s]\nplugin = syslog\ntransport = relp\nhost = 127.0.0.1\n"
             "port = 1\nconnect_timeout_ms = 100\n"
             "[sink.c]\nplugin = console\ncolor = always\n"
             "[sink.n]\nplugin = null\n"
             "[logger.a]\nsinks = f, s, c, n\n", log);
    write_text(conf, ini);
    cr_assert_eq(sh(&out, "%s check -c %s", cli(), conf), 0, "%s", out);
    free(out);
    cr_assert_neq(stat(log, &st), 0, "check created %s", log);
    tmpdir_remove(dir);
}

/* ---- numbered records from several threads ------------------------------ */

#define E2E_THREADS 4
#define E2E_PER_THREAD 20000

typedef struct producer {
    sluice_logger *lg;
    int id, count, pause_every;
    atomic_int *done;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    for (int i = 0; i < p->count; i++) {
        SLUICE_INFO(p->lg, "t=%d i=%d", p->id, i);
        if (p->done)
            atomic_fetch_add(p->done, 1);
        if (p->pause_every && i % p->pause_every == p->pause_every - 1)
            sleep_ms(1);
    }
    return NULL;
}

static void run_producers(producer *p, int n)
{
    pthread_t th[E2E_THREADS];
    cr_assert_leq(n, E2E_THREADS);
    for (int i = 0; i < n; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, produce, &p[i]), 0);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

/* Tally "t=T i=I" lines of text (whole lines only): each record exactly
 * once, per thread in order. Returns the lines. */
static size_t tally_once(const char *text, unsigned char (*seen)[E2E_PER_THREAD],
                         int *last, const char *what)
{
    size_t lines = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl, "%s: a line without its newline: %.60s", what, p);
        int t, i, used = 0;
        cr_assert(sscanf(p, "t=%d i=%d%n", &t, &i, &used) == 2 && p + used == nl,
                  "%s: bad line: %.*s", what, (int)(nl - p), p);
        cr_assert(t >= 0 && t < E2E_THREADS && i >= 0 && i < E2E_PER_THREAD,
                  "%s: %.*s", what, (int)(nl - p), p);
        cr_assert_eq(seen[t][i], 0, "%s: t=%d i=%d twice", what, t, i);
        seen[t][i] = 1;
        cr_assert_gt(i, last[t], "%s: thread %d's record %d after %d", what, t,
                     i, last[t]);
        last[t] = i;
        lines++;
        p = nl + 1;
    }
    return lines;
}

static void assert_all_seen(unsigned char (*seen)[E2E_PER_THREAD], int threads,
                            int per_thread)
{
    for (int t = 0; t < threads; t++)
        for (int i = 0; i < per_thread; i++)
            cr_assert_eq(seen[t][i], 1, "t=%d i=%d missing", t, i);
}

/* ---- file: size rotation under load -------------------------------------- */

Test(sinks_e2e, file_rotation_under_load_keeps_every_record_once_in_order)
{
    char *dir = tmpdir_make();
    char ini[2048], log[512];
    snprintf(log, sizeof log, "%s/app.log", dir);
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\nrotate_bytes = 20000\n"
             "keep = 1000\npattern = %%m\n"
             "[logger.rot]\nsinks = f\nworkers = 2\nscheduler = thread\n"
             "queue_capacity = 16384\noverflow = block\n",
             log);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "rot");
    cr_assert_not_null(lg);
    producer p[E2E_THREADS];
    for (int i = 0; i < E2E_THREADS; i++)
        p[i] = (producer){lg, i, E2E_PER_THREAD, 0, NULL};
    run_producers(p, E2E_THREADS);
    cr_assert_eq(sluice_close(rt, 30000), 0);

    /* app.log.N ... app.log.1, app.log: oldest first */
    int highest = 0;
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    size_t files = 0;
    while ((e = readdir(d))) {
        int n;
        char tail;
        if (sscanf(e->d_name, "app.log.%d%c", &n, &tail) == 1) {
            files++;
            if (n > highest)
                highest = n;
        }
    }
    closedir(d);
    cr_assert_eq(files, (size_t)highest, "numbered files have a gap: %zu of %d",
                 files, highest);
    cr_assert_gt(highest, 20, "only %d rotations for ~1 MB at 20000 bytes", highest);

    static unsigned char seen[E2E_THREADS][E2E_PER_THREAD];
    memset(seen, 0, sizeof seen);
    int last[E2E_THREADS];
    for (int t = 0; t < E2E_THREADS; t++)
        last[t] = -1;
    size_t lines = 0;
    for (int n = highest; n >= 0; n--) {
        char path[600];
        if (n)
            snprintf(path, sizeof path, "%s.%d", log, n);
        else
            snprintf(path, sizeof path, "%s", log);
        size_t len;
        char *text = read_file(path, &len);
        cr_assert_leq(len, 20000, "%s holds %zu bytes", path, len);
        cr_assert(n == 0 || len > 19000, "%s rotated early at %zu bytes", path, len);
        lines += tally_once(text, seen, last, path);
        free(text);
    }
    cr_assert_eq(lines, (size_t)E2E_THREADS * E2E_PER_THREAD);
    assert_all_seen(seen, E2E_THREADS, E2E_PER_THREAD);
    tmpdir_remove(dir);
}

/* ---- file: logrotate through sluice_runtime_reopen ------------------------ */

Test(sinks_e2e, logrotate_rename_and_reopen_loses_and_repeats_nothing)
{
    char *dir = tmpdir_make();
    char ini[2048], log[512], old[600];
    snprintf(log, sizeof log, "%s/app.log", dir);
    snprintf(old, sizeof old, "%s/app.log.1", dir);
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\npattern = %%m\n"
             "[logger.lr]\nsinks = f\nworkers = 2\nscheduler = thread\n"
             "queue_capacity = 16384\noverflow = block\n",
             log);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "lr");
    enum { THREADS = 2 };
    atomic_int done = 0;
    producer p[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        p[i] = (producer){lg, i, E2E_PER_THREAD, 100, &done};
        cr_assert_eq(pthread_create(&th[i], NULL, produce, &p[i]), 0);
    }
    /* rotate while both producers are in the middle of their streams */
    double until = now_s() + 30;
    while (atomic_load(&done) < THREADS * E2E_PER_THREAD / 3) {
        cr_assert_lt(now_s(), until, "producers stalled");
        sleep_ms(1);
    }
    cr_assert_eq(rename(log, old), 0);
    sluice_error err = {""};
    cr_assert_eq(sluice_runtime_reopen(rt, &err), 0, "reopen: %s", err.message);
    int at_reopen = atomic_load(&done);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(sluice_close(rt, 30000), 0);
    cr_assert_lt(at_reopen, THREADS * E2E_PER_THREAD,
                 "the producers finished before the reopen: nothing tested");

    static unsigned char seen[E2E_THREADS][E2E_PER_THREAD];
    memset(seen, 0, sizeof seen);
    int last[E2E_THREADS] = {-1, -1, -1, -1};
    char *a = read_file(old, NULL), *b = read_file(log, NULL);
    size_t na = tally_once(a, seen, last, "rotated"),
           nb = tally_once(b, seen, last, "new");
    cr_assert_gt(na, 0);
    cr_assert_gt(nb, 0, "nothing went to the reopened file");
    cr_assert_eq(na + nb, (size_t)THREADS * E2E_PER_THREAD);
    assert_all_seen(seen, THREADS, E2E_PER_THREAD);
    free(a);
    free(b);
    tmpdir_remove(dir);
}

/* ---- file: a FIFO whose reader leaves ------------------------------------ */

Test(sinks_e2e, file_sink_on_a_fifo_whose_reader_left_fails_and_the_host_lives)
{
    /* SIGPIPE has its default action here (suite_init): before, the
     * worker's write into the FIFO killed the whole host with it */
    char *dir = tmpdir_make();
    char ini[2048], fifo[512];
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int reader = open(fifo, O_RDONLY | O_NONBLOCK); /* so the sink opens */
    cr_assert(reader >= 0);
    snprintf(ini, sizeof ini,
             "[runtime]\nrestart_backoff_ms = 10..100\n"
             "restart_intensity = unlimited\n"
             "[sink.pipe]\nplugin = file\npath = %s\npattern = %%m\n"
             "[logger.fifo]\nsinks = pipe\n",
             fifo);
    sluice_runtime *rt = NULL;
    sluice_error err = {""};
    cr_assert_eq(sluice_open_string(ini, &rt, &err), 0, "%s", err.message);
    sluice_logger *lg = sluice_logger_get(rt, "fifo");
    cr_assert_not_null(lg);
    close(reader); /* the reader leaves */
    SLUICE_INFO(lg, "record %d", 1);

    /* the binding fails with the reason, again at each retry */
    sluice_binding_stats st;
    double until = now_s() + 60;
    for (;;) {
        st = stats_of(lg, 0);
        if (st.has_failed && st.last_error[0])
            break;
        cr_assert_lt(now_s(), until, "no failure recorded");
        sleep_ms(5);
    }
    cr_assert(strstr(st.last_error, fifo) &&
                  strstr(st.last_error, strerror(EPIPE)),
              "%s", st.last_error);
    cr_assert_eq(st.written, 0);

    /* a reader comes back: the supervisor's retry delivers it, once */
    reader = open(fifo, O_RDONLY | O_NONBLOCK);
    cr_assert(reader >= 0);
    while ((st = stats_of(lg, 0)).written < 1) {
        cr_assert_lt(now_s(), until, "not delivered after the reader came "
                     "back: %s", st.last_error);
        sleep_ms(5);
    }
    cr_assert_eq(sluice_close(rt, 10000), 0);
    char got[64] = "";
    ssize_t n = read(reader, got, sizeof got - 1);
    cr_assert_eq(n, (ssize_t)strlen("record 1\n"), "read %zd", n);
    cr_assert_str_eq(got, "record 1\n");
    close(reader);
    tmpdir_remove(dir);
}

/* ---- syslog: RELP to a real rsyslogd killed mid-stream ------------------- */

#define RELP_COUNT 6000
#define RELP_KILL_AT 2000

Test(sinks_e2e, relp_collector_killed_and_restarted_supervisor_retries)
{
#ifndef SE_RSYSLOGD
    cr_skip_test("rsyslogd or librelp is missing");
#else
    if (access(SE_RSYSLOGD, X_OK) != 0)
        cr_skip_test("%s is missing", SE_RSYSLOGD);
    char *dir = tmpdir_make();
    collector c;
    collector_setup(&c, dir);
    collector_start(&c);
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[runtime]\nrestart_backoff_ms = 50..500\nrestart_intensity = unlimited\n"
             "[sink.s]\nplugin = syslog\ntransport = relp\nhost = 127.0.0.1\n"
             "port = %d\nconnect_timeout_ms = 1000\ntimeout_ms = 3000\n"
             "app_name = e2e\n"
             "[logger.relp]\nsinks = s\nqueue_capacity = 16384\noverflow = block\n",
             c.relp_port);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "relp");
    for (int i = 0; i < RELP_COUNT; i++) {
        SLUICE_INFO(lg, "seq=%06d", i);
        if (i % 100 == 99)
            sleep_ms(2);
        if (i == RELP_KILL_AT) {
            /* kill once the collector has written some of it */
            double until = now_s() + 20;
            FILE *f;
            size_t n = 0;
            while (n < RELP_KILL_AT / 2) {
                cr_assert_lt(now_s(), until, "rsyslogd wrote %zu lines", n);
                sleep_ms(5);
                n = 0;
                if ((f = fopen(c.raw, "r"))) {
                    int ch;
                    while ((ch = getc(f)) != EOF)
                        n += ch == '\n';
                    fclose(f);
                }
            }
            collector_stop(&c, SIGKILL);
        }
        if (i == RELP_KILL_AT + 500) {
            sleep_ms(1000);
            collector_start(&c); /* same ports, same files */
        }
    }
    cr_assert_eq(sluice_logger_flush(lg, 60000), 0, "backlog not written in 60 s");
    sluice_binding_stats st = stats_of(lg, 0);
    cr_assert_eq(sluice_close(rt, 10000), 0);
    collector_stop(&c, SIGTERM);
    cr_assert_eq(st.written, RELP_COUNT);
    cr_assert_gt(st.failures, 0, "the kill went unnoticed");
    cr_assert_geq(st.restarts, 1, "the supervisor restarted the sink");

    static unsigned char seen[RELP_COUNT];
    memset(seen, 0, sizeof seen);
    size_t len, dups = 0;
    char *text = read_file(c.raw, &len);
    long first_dup = -1, last_dup = -1;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        cr_assert_not_null(nl);
        *nl = '\0';
        char *s = strstr(p, "seq=");
        cr_assert_not_null(s, "unexpected line: %s", p);
        long k = strtol(s + 4, NULL, 10);
        cr_assert(k >= 0 && k < RELP_COUNT, "%s", p);
        if (seen[k]++) {
            dups++;
            if (first_dup < 0)
                first_dup = k;
            last_dup = k;
            /* only what was unacknowledged at the kill: after what the
             * collector had written before it, within a RELP window */
            cr_assert(k >= RELP_KILL_AT / 2 - 200 && k <= RELP_KILL_AT + 200,
                      "seq %ld duplicated, far from the kill at %d", k,
                      RELP_KILL_AT);
        }
        p = nl + 1;
    }
    for (int k = 0; k < RELP_COUNT; k++)
        cr_assert(seen[k], "seq=%06d lost", k);
    cr_log_info("relp e2e: %llu failures, %llu restarts, %zu duplicates (%ld..%ld)",
                (unsigned long long)st.failures, (unsigned long long)st.restarts,
                dups, first_dup, last_dup);
    free(text);
    tmpdir_remove(dir);
#endif
}

/* ---- syslog: TCP to a real rsyslogd restarted gracefully, ten times ------ */

#define TCP_RESTARTS 10

#ifdef SE_RSYSLOGD
typedef struct tcp_producer {
    sluice_logger *lg;
    atomic_int stop;
    atomic_long produced;
} tcp_producer;

/* Numbered records, a short pause every 50, until told to stop. */
static void *produce_numbered(void *arg)
{
    tcp_producer *p = arg;
    long i = 0;
    while (!atomic_load(&p->stop)) {
        SLUICE_INFO(p->lg, "seq=%07ld", i);
        atomic_store(&p->produced, ++i);
        if (i % 50 == 0)
            sleep_ms(1);
    }
    return NULL;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Wait until path has grown by more bytes past from. */
static void wait_growth(const char *path, off_t from, off_t more)
{
    double until = now_s() + 30;
    while (file_size(path) < from + more) {
        cr_assert_lt(now_s(), until, "%s did not grow by %lld bytes in 30 s",
                     path, (long long)more);
        sleep_ms(5);
    }
}
#endif

Test(sinks_e2e, tcp_collector_restarted_ten_times_under_load_loses_nothing)
{
#ifndef SE_RSYSLOGD
    cr_skip_test("rsyslogd or librelp is missing");
#else
    if (access(SE_RSYSLOGD, X_OK) != 0)
        cr_skip_test("%s is missing", SE_RSYSLOGD);
    char *dir = tmpdir_make();
    collector c;
    collector_setup(&c, dir);
    collector_start(&c);
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[runtime]\nrestart_backoff_ms = 20..200\nrestart_intensity = unlimited\n"
             "[sink.s]\nplugin = syslog\ntransport = tcp\nhost = 127.0.0.1\n"
             "port = %d\nconnect_timeout_ms = 1000\ntimeout_ms = 3000\n"
             "app_name = e2e\n"
             "[logger.tcp]\nsinks = s\nqueue_capacity = 65536\noverflow = block\n",
             c.tcp_port);
    sluice_runtime *rt = NULL;
    sluice_error err = {""};
    cr_assert_eq(sluice_open_string(ini, &rt, &err), 0, "%s", err.message);
    static tcp_producer prod;
    prod.lg = sluice_logger_get(rt, "tcp");
    cr_assert_not_null(prod.lg);
    atomic_store(&prod.stop, 0);
    atomic_store(&prod.produced, 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, produce_numbered, &prod), 0);

    /* a graceful stop (SIGTERM) while records stream in, then the same
     * ports again; each time only once rsyslog has written more. rsyslog
     * leaves what is in its socket buffers at a stop (a reset): the sink's
     * replay window must bring it back */
    for (int r = 0; r < TCP_RESTARTS; r++) {
        wait_growth(c.raw, file_size(c.raw), 64 * 1024);
        collector_stop(&c, SIGTERM);
        sleep_ms(50 + 20 * r);
        collector_start(&c);
    }
    wait_growth(c.raw, file_size(c.raw), 64 * 1024);
    atomic_store(&prod.stop, 1);
    pthread_join(th, NULL);
    long produced = atomic_load(&prod.produced);
    cr_assert_eq(sluice_logger_flush(prod.lg, 60000), 0,
                 "backlog not written in 60 s");
    sluice_binding_stats st = stats_of(prod.lg, 0);
    /* close() returns once rsyslog has read it all (its FIN); with its
     * Direct queue, what it read is in the file */
    cr_assert_eq(sluice_close(rt, 10000), 0);
    collector_stop(&c, SIGTERM);
    cr_assert_eq(st.written, (uint64_t)produced);
    cr_assert_geq(st.failures, 1, "the restarts went unnoticed");

    unsigned char *seen = calloc((size_t)produced, 1);
    cr_assert_not_null(seen);
    size_t len, lines = 0, dups = 0, dup_bytes = 0;
    char *text = read_file(c.raw, &len);
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        cr_assert_not_null(nl);
        *nl = '\0';
        char *s = strstr(p, "seq=");
        cr_assert_not_null(s, "unexpected line: %s", p);
        long k = strtol(s + 4, NULL, 10);
        cr_assert(k >= 0 && k < produced, "%s", p);
        if (seen[k]++) {
            dups++;
            dup_bytes += (size_t)(nl - p) + 5; /* the frame: "LEN " too */
        }
        lines++;
        p = nl + 1;
    }
    long lost = 0, first_lost = -1;
    for (long k = 0; k < produced; k++)
        if (!seen[k] && lost++ == 0)
            first_lost = k;
    cr_log_info("tcp e2e: %ld records, %d graceful restarts, %llu failures, "
                "%llu sink restarts, %zu lines, %zu duplicates (%zu KiB), "
                "%ld lost",
                produced, TCP_RESTARTS, (unsigned long long)st.failures,
                (unsigned long long)st.restarts, lines, dups,
                dup_bytes / 1024, lost);
    cr_assert_eq(lost, 0, "%ld of %ld records lost (the first: seq=%07ld)",
                 lost, produced, first_lost);
    /* what comes twice is at most, per connection that ended without a
     * FIN, the replay window (1 MiB) and the chunk in flight (256 KiB) */
    size_t ends = TCP_RESTARTS + (size_t)st.failures;
    cr_assert_leq(dup_bytes, ends * (1024 + 256) * 1024,
                  "%zu bytes came twice, more than the replay window "
                  "allows for %zu connections", dup_bytes, ends);
    free(seen);
    free(text);
    tmpdir_remove(dir);
#endif
}

/* ---- kafka: mock cluster, broker down and up mid-stream ----------------- */

#ifdef SE_KAFKA
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk, (void)level, (void)fac, (void)buf;
}
#endif

#define KAFKA_COUNT 3000

Test(sinks_e2e, kafka_broker_down_and_up_supervisor_retries)
{
#ifndef SE_KAFKA
    cr_skip_test("the kafka plugin was not built, or this is a TSan build");
#else
    char errstr[256];
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(mconf, quiet_log);
    rd_kafka_t *mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, errstr, sizeof errstr);
    cr_assert_not_null(mock_rk, "%s", errstr);
    rd_kafka_mock_cluster_t *mock = rd_kafka_mock_cluster_new(mock_rk, 1);
    cr_assert_not_null(mock);
    cr_assert_eq(rd_kafka_mock_topic_create(mock, "e2e", 1, 1), 0);
    char boot[256];
    snprintf(boot, sizeof boot, "%s", rd_kafka_mock_cluster_bootstraps(mock));

    char ini[2048];
    snprintf(ini, sizeof ini,
             "[runtime]\nrestart_backoff_ms = 50..500\nrestart_intensity = unlimited\n"
             "[sink.k]\nplugin = kafka\nbrokers = %s\ntopic = e2e\ntimeout_ms = 1000\n"
             "rdkafka.linger.ms = 1\nrdkafka.reconnect.backoff.ms = 50\n"
             "rdkafka.reconnect.backoff.max.ms = 200\nrdkafka.retry.backoff.ms = 50\n"
             "pattern = %%m\n"
             "[logger.k]\nsinks = k\nqueue_capacity = 8192\noverflow = block\n",
             boot);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "k");
    for (int i = 0; i < KAFKA_COUNT; i++) {
        SLUICE_INFO(lg, "k=%d", i);
        if (i % 50 == 49)
            sleep_ms(2);
        if (i == KAFKA_COUNT / 3)
            cr_assert_eq(rd_kafka_mock_broker_set_down(mock, -1), 0);
        if (i == KAFKA_COUNT / 2) {
            sleep_ms(1000);
            cr_assert_eq(rd_kafka_mock_broker_set_up(mock, -1), 0);
        }
    }
    cr_assert_eq(sluice_logger_flush(lg, 60000), 0, "backlog not written in 60 s");
    sluice_binding_stats st = stats_of(lg, 0);
    cr_assert_eq(sluice_close(rt, 10000), 0);
    cr_assert_eq(st.written, KAFKA_COUNT);
    cr_assert_gt(st.failures, 0, "the broker outage went unnoticed");

    /* read the topic back */
    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(cconf, quiet_log);
    cr_assert_eq(rd_kafka_conf_set(cconf, "bootstrap.servers", boot, errstr,
                                   sizeof errstr), RD_KAFKA_CONF_OK);
    cr_assert_eq(rd_kafka_conf_set(cconf, "group.id", "e2e", errstr, sizeof errstr),
                 RD_KAFKA_CONF_OK);
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof errstr);
    cr_assert_not_null(cons, "%s", errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, "e2e", 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    cr_assert_eq(rd_kafka_assign(cons, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    static unsigned char seen[KAFKA_COUNT];
    memset(seen, 0, sizeof seen);
    int got = 0, distinct = 0;
    double bound = now_s() + 20, quiet_since = now_s();
    while (now_s() < bound && !(distinct == KAFKA_COUNT && now_s() - quiet_since > 1)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);
        if (!m)
            continue;
        if (!m->err) {
            quiet_since = now_s();
            char head[32] = "";
            memcpy(head, m->payload, m->len < 31 ? m->len : 31);
            int k = -1;
            cr_assert_eq(sscanf(head, "k=%d", &k), 1, "unexpected value %s", head);
            cr_assert(k >= 0 && k < KAFKA_COUNT);
            if (seen[k]++ == 0)
                distinct++;
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
    for (int k = 0; k < KAFKA_COUNT; k++)
        cr_assert(seen[k], "k=%d never arrived", k);
    cr_log_info("kafka e2e: %llu failures, %d messages for %d records",
                (unsigned long long)st.failures, got, KAFKA_COUNT);
#endif
}

/* ---- console: colour ---------------------------------------------------- */

static char *console_conf(const char *dir, const char *color)
{
    char ini[512], *conf = malloc(512);
    snprintf(conf, 512, "%s/console-%s.ini", dir, color);
    snprintf(ini, sizeof ini,
             "[sink.c]\nplugin = console\nstream = stdout\ncolor = %s\n"
             "[logger.default]\nsinks = c\n", color);
    write_text(conf, ini);
    return conf;
}

Test(sinks_e2e, console_color_always_wraps_the_line_in_ansi_codes)
{
    char *dir = tmpdir_make();
    char *conf = console_conf(dir, "always");
    char *out;
    /* NO_COLOR=1 is set for every test: always means always */
    cr_assert_eq(sh(&out, "echo hello | %s run -c %s | cat", cli(), conf), 0, "%s", out);
    const char *at = strstr(out, "\033[32m");
    cr_assert_not_null(at, "no green INFO colour: %s", out);
    const char *line = strstr(at, "INFO [default] hello\033[0m\n");
    cr_assert_not_null(line, "the line is not wrapped in colour and reset: %s", out);
    free(out);
    free(conf);
    tmpdir_remove(dir);
}

Test(sinks_e2e, console_color_auto_is_plain_in_a_pipe_or_with_no_color)
{
    char *dir = tmpdir_make();
    char *conf = console_conf(dir, "auto");
    char *out;
    cr_assert_eq(sh(&out, "echo hello | env -u NO_COLOR %s run -c %s | cat", cli(), conf),
                 0, "%s", out);
    cr_assert(strstr(out, "INFO [default] hello\n"), "%s", out);
    cr_assert_null(strchr(out, '\033'), "colour in a pipe: %s", out);
    free(out);
    cr_assert_eq(sh(&out, "echo hello | NO_COLOR=1 %s run -c %s | cat", cli(), conf),
                 0, "%s", out);
    cr_assert(strstr(out, "INFO [default] hello\n"), "%s", out);
    cr_assert_null(strchr(out, '\033'), "colour with NO_COLOR: %s", out);
    free(out);
    free(conf);
    tmpdir_remove(dir);
}

/* Run `sluice run -c conf` with stdout on a pseudo-terminal; stdin gets
 * one line. Returns what the terminal showed. */
static char *run_on_pty(const char *conf, int no_color)
{
    int in[2];
    cr_assert_eq(pipe(in), 0);
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_geq(pid, 0, "forkpty: %s", strerror(errno));
    if (pid == 0) {
        dup2(in[0], 0);
        close(in[0]);
        close(in[1]);
        if (no_color)
            setenv("NO_COLOR", "1", 1);
        else
            unsetenv("NO_COLOR");
        execl(cli(), "sluice", "run", "-c", conf, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    cr_assert_eq(write(in[1], "hello\n", 6), 6);
    close(in[1]);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        ssize_t r = read(master, buf + n, cap - n - 1);
        if (r <= 0) /* EIO once the child closed the terminal */
            break;
        n += (size_t)r;
        if (cap - n - 1 == 0)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    close(master);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sluice run: %s", buf);
    return buf;
}

Test(sinks_e2e, console_color_auto_colours_a_terminal_unless_no_color)
{
    char *dir = tmpdir_make();
    char *conf = console_conf(dir, "auto");
    char *out = run_on_pty(conf, 0);
    cr_assert(strstr(out, "\033[32m") && strstr(out, "INFO [default] hello\033[0m"),
              "no colour on a terminal: %s", out);
    free(out);
    out = run_on_pty(conf, 1);
    cr_assert(strstr(out, "INFO [default] hello"), "%s", out);
    cr_assert_null(strchr(out, '\033'), "colour on a terminal with NO_COLOR: %s", out);
    free(out);
    free(conf);
    tmpdir_remove(dir);
}
