/*
 * test_reload.c -- sluice_runtime_reload: a new configuration applied to a
 * running runtime. Under load from four threads, twenty reloads between two
 * valid files and an invalid one write every record exactly once, in each
 * thread's order, to the sink that stays; the invalid file is reported with
 * its lines and changes nothing. Then one behaviour at a time: an unchanged
 * sink keeps its backlog while it is down, an added sink gets the records,
 * a removed one drains and closes (or is counted after the timeout), a
 * changed logger drains its old queue first, a level changes in place, a
 * sink's level changes with its new instance (a level the host set on a
 * kept sink's binding stays), a changed dead letter takes what is rejected
 * after the reload, the logger pointer stays valid, a removed logger's is a husk, and reload and
 * close, in both orders. Runs under ASan (no leak across the reloads) and
 * TSan (suite 'threads').
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sluice/sluice.h>

#include "helpers.h"
#include "runtime_internal.h"

/* ---- probe: an in-process sink a test can read, stop and hold ---------- */

/* One per instance opened (a reload that changes a sink opens a new one). */
typedef struct probe {
    char name[64];
    pthread_mutex_t mu;
    char **lines;            /* the messages written, in order */
    size_t count, cap;
    atomic_int closed;
    long first_write, last_write; /* write_clock at its first and last write */
} probe;

#define PROBES_MAX 512
static probe probes[PROBES_MAX];
static atomic_int probe_count;
/* the probe named down_name fails every write while down is set */
static char down_name[64];
static atomic_int down;
/* ticks once per write() of any probe */
static atomic_long write_clock;
/* the probe named hold_name waits inside write() while hold is set */
static char hold_name[64];
static atomic_int hold, held;

static int probe_open(const sluice_options *o, void **state, sluice_error *e)
{
    int at = atomic_fetch_add(&probe_count, 1);
    if (at >= PROBES_MAX)
        return sluice_error_set(e, "probe: too many instances");
    probe *p = &probes[at];
    snprintf(p->name, sizeof p->name, "%s", o->sink_name);
    pthread_mutex_init(&p->mu, NULL);
    *state = p;
    return 0;
}

static int probe_write(void *state, const sluice_record *const *batch, size_t n,
                       size_t *written, sluice_error *e)
{
    probe *p = state;
    if (atomic_load(&hold) && strcmp(p->name, hold_name) == 0) {
        atomic_store(&held, 1);
        while (atomic_load(&hold))
            nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    if (atomic_load(&down) && strcmp(p->name, down_name) == 0) {
        *written = 0;
        return sluice_error_set(e, "probe: down");
    }
    pthread_mutex_lock(&p->mu);
    long tick = atomic_fetch_add(&write_clock, 1) + 1;
    if (!p->first_write)
        p->first_write = tick;
    p->last_write = tick;
    for (size_t i = 0; i < n; i++) {
        if (p->count == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 256;
            p->lines = realloc(p->lines, p->cap * sizeof *p->lines);
        }
        p->lines[p->count++] = strndup(batch[i]->message, batch[i]->message_len);
    }
    pthread_mutex_unlock(&p->mu);
    *written = n;
    return 0;
}

static void probe_close(void *state)
{
    atomic_store(&((probe *)state)->closed, 1);
}

static const char *const probe_options[] = {"tag", NULL}; /* changes nothing */
static const sluice_sink_api probe_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "probe",
    .description = "test sink",
    .option_names = probe_options,
    .open = probe_open,
    .write = probe_write,
    .close = probe_close,
};

/* refuser: a sink that rejects every record for good (dead_letter). */
static int refuser_open(const sluice_options *o, void **state, sluice_error *e)
{
    (void)e;
    *state = (void *)o->host;
    return 0;
}

static int refuser_write(void *state, const sluice_record *const *batch,
                         size_t n, size_t *written, sluice_error *e)
{
    (void)batch;
    (void)e;
    for (size_t i = 0; i < n; i++)
        sluice_record_reject(state, i, "refuser: never");
    *written = n;
    return 0;
}

static void refuser_close(void *state) { (void)state; }

static const char *const refuser_options[] = {NULL};
static const sluice_sink_api refuser_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "refuser",
    .description = "test sink that rejects every record",
    .option_names = refuser_options,
    .open = refuser_open,
    .write = refuser_write,
    .close = refuser_close,
};

/* The latest instance of sink NAME (NULL if none opened). */
static probe *probe_find(const char *name)
{
    for (int i = atomic_load(&probe_count) - 1; i >= 0; i--)
        if (strcmp(probes[i].name, name) == 0)
            return &probes[i];
    return NULL;
}

static size_t probe_lines(probe *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->count;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static void probes_reset(void)
{
    int n = atomic_load(&probe_count);
    for (int i = 0; i < n && i < PROBES_MAX; i++) {
        for (size_t k = 0; k < probes[i].count; k++)
            free(probes[i].lines[k]);
        free(probes[i].lines);
        pthread_mutex_destroy(&probes[i].mu);
        memset(&probes[i], 0, sizeof probes[i]);
    }
    atomic_store(&probe_count, 0);
    atomic_store(&down, 0);
    atomic_store(&hold, 0);
    atomic_store(&held, 0);
}

static void suite_init(void)
{
    init_capture();
}

static void suite_fini(void)
{
    probes_reset();
    fini_capture();
}

TestSuite(reload, .init = suite_init, .fini = suite_fini, .timeout = 240);

/* ---- helpers ------------------------------------------------------------- */

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Write text into DIR/NAME; returns the path (static buffer per slot). */
static const char *put_file(const char *dir, const char *name, const char *text)
{
    static char paths[8][600];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, 600, "%s/%s", dir, name);
    write_text(path, text);
    return path;
}

/* Start from a file, with the probe and capture sinks registered. */
static sluice_runtime *start_file(const char *path)
{
    sluice_error err;
    sluice_builder *b = sluice_builder_from_file(path, &err);
    cr_assert_not_null(b, "%s", err.message);
    cr_assert_eq(sluice_builder_add_sink_api(b, &probe_api, &err), 0, "%s", err.message);
    cr_assert_eq(sluice_builder_add_sink_api(b, &capture_api, &err), 0, "%s", err.message);
    cr_assert_eq(sluice_builder_add_sink_api(b, &refuser_api, &err), 0, "%s", err.message);
    sluice_runtime *rt = NULL;
    cr_assert_eq(sluice_builder_start(b, &rt, &err), 0, "start: %s", err.message);
    return rt;
}

/* Reload a file that must be valid; returns what the reload counted. */
static int reload_ok(sluice_runtime *rt, const char *path)
{
    sluice_error err;
    int rc = sluice_runtime_reload(rt, path, &err);
    cr_assert_geq(rc, 0, "reload %s: %s", path, err.message);
    return rc;
}

/* Wait until cond() holds; 60 s is a bound for a hang, not a timing test. */
#define WAIT_FOR(cond)                                                        \
    do {                                                                      \
        int waited_ = 0;                                                      \
        while (!(cond)) {                                                     \
            cr_assert_lt(waited_++, 60000, "timed out waiting for " #cond);   \
            nap_ms(1);                                                        \
        }                                                                     \
    } while (0)

static sluice_binding_stats binding_of(sluice_logger *lg, size_t i)
{
    sluice_binding_stats st;
    cr_assert_eq(sluice_binding_stats_get(sluice_logger_binding(lg, i), &st), 0);
    return st;
}

static sluice_logger_stats stats_of(sluice_logger *lg)
{
    sluice_logger_stats st;
    cr_assert_eq(sluice_logger_stats_get(lg, &st), 0);
    return st;
}

/* p holds "r 0" .. "r N-1", in order. */
static void assert_numbered(probe *p, const char *prefix, int first, int count)
{
    cr_assert_not_null(p);
    cr_assert_eq(probe_lines(p), (size_t)count, "%s: %zu lines, not %d", p->name,
                 probe_lines(p), count);
    for (int i = 0; i < count; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s %d", prefix, first + i);
        cr_assert_str_eq(p->lines[i], want, "%s: line %d", p->name, i);
    }
}

static void log_numbered(sluice_logger *lg, const char *prefix, int first, int count)
{
    for (int i = first; i < first + count; i++)
        SLUICE_INFO(lg, "%s %d", prefix, i);
}

typedef struct reloader {
    sluice_runtime *rt;
    const char *path;
    int rc;
    sluice_error err;
} reloader;

static void *do_reload(void *arg)
{
    reloader *r = arg;
    r->rc = sluice_runtime_reload(r->rt, r->path, &r->err);
    return NULL;
}

/* ---- the acceptance: twenty reloads under load ------------------------- */

#define PRODUCERS 4

typedef struct producer {
    sluice_logger *lg;
    int id;
    atomic_int *stop;
    atomic_long written;     /* records logged so far */
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    long i = 0;
    while (!atomic_load(p->stop)) {
        for (int k = 0; k < 16; k++, i++)
            SLUICE_INFO(p->lg, "t%d %ld", p->id, i);
        atomic_store(&p->written, i);
        nap_ms(0); /* a yield's worth: the reloads run meanwhile */
        sched_yield();
    }
    return NULL;
}

static long total_written(producer *p)
{
    long n = 0;
    for (int t = 0; t < PRODUCERS; t++)
        n += atomic_load(&p[t].written);
    return n;
}

/* Each thread's records in path: in order and each once (exactly: the
 * counts say how many each logged), or, with at_most_once, in order and
 * none twice (a sink that did not exist throughout). */
static void check_file(const char *path, producer *p, bool at_most_once)
{
    char *text = read_file(path, NULL);
    long next[PRODUCERS] = {0};
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        int t;
        long i;
        cr_assert_eq(sscanf(line, "t%d %ld", &t, &i), 2, "%s: bad line '%s'", path, line);
        cr_assert(t >= 0 && t < PRODUCERS, "%s: line '%s'", path, line);
        if (at_most_once)
            cr_assert_geq(i, next[t], "%s: thread %d: %ld after %ld (twice, or out "
                          "of order)", path, t, i, next[t] - 1);
        else
            cr_assert_eq(i, next[t], "%s: thread %d: record %ld where %ld was due",
                         path, t, i, next[t]);
        next[t] = i + 1;
    }
    if (!at_most_once)
        for (int t = 0; t < PRODUCERS; t++)
            cr_assert_eq(next[t], atomic_load(&p[t].written),
                         "%s: thread %d: %ld records written, %ld logged", path, t,
                         next[t], atomic_load(&p[t].written));
    free(text);
}

/* The error callback's calls. */
typedef struct errors {
    char text[8][SLUICE_ERROR_MAX + 300];
    size_t count;
} errors;

static void collect_error(void *user, const char *message)
{
    errors *e = user;
    if (e->count < 8)
        snprintf(e->text[e->count], sizeof e->text[0], "%s", message);
    e->count++;
}

/* What an invalid reload must not touch. */
typedef struct picture {
    size_t logger_count, sink_count;
    sluice_logger *loggers[8], *gens[8];
    sluice_sink_instance *sinks[8];
    sluice_level level;
} picture;

static picture take_picture(sluice_runtime *rt, sluice_logger *app)
{
    picture pic;
    memset(&pic, 0, sizeof pic);
    pthread_mutex_lock(&rt->roster_lock);
    pic.logger_count = rt->logger_count;
    pic.sink_count = rt->sink_count;
    for (size_t i = 0; i < rt->logger_count && i < 8; i++) {
        pic.loggers[i] = rt->loggers[i];
        pic.gens[i] = sluice_logger_gen_(rt->loggers[i]);
    }
    for (size_t i = 0; i < rt->sink_count && i < 8; i++)
        pic.sinks[i] = rt->sinks[i];
    pthread_mutex_unlock(&rt->roster_lock);
    pic.level = sluice_get_level(app);
    return pic;
}

static const char config_a[] =
    "[runtime]\n"
    "reload_timeout_ms = 30000\n"
    "[sink.keep]\nplugin = file\npath = keep.log\npattern = %m\n"
    "[sink.extra]\nplugin = file\npath = extra.log\npattern = %m\n"
    "[sink.side_out]\nplugin = file\npath = side.log\npattern = %m\n"
    "[logger.app]\nsinks = keep, extra\nlevel = info\nqueue_size = 1M\n"
    "[logger.side]\nsinks = side_out\nlevel = info\nqueue_size = 1M\n";
/* B: extra removed from app, app's level debug; side's level warn */
static const char config_b[] =
    "[runtime]\n"
    "reload_timeout_ms = 30000\n"
    "[sink.keep]\nplugin = file\npath = keep.log\npattern = %m\n"
    "[sink.side_out]\nplugin = file\npath = side.log\npattern = %m\n"
    "[logger.app]\nsinks = keep\nlevel = debug\nqueue_size = 1M\n"
    "[logger.side]\nsinks = side_out\nlevel = warn\nqueue_size = 1M\n";
/* bad: B with four mistakes (lines 7, 11, 14, 17) and a new sink that
 * must not be opened */
static const char config_bad[] =
    "[runtime]\n"                                        /* 1 */
    "reload_timeout_ms = 30000\n"                        /* 2 */
    "[sink.keep]\nplugin = file\npath = keep.log\n"      /* 3-5 */
    "pattern = %m\n"                                     /* 6 */
    "level_of_detail = high\n"                           /* 7: unknown key */
    "[sink.new]\nplugin = file\n"                        /* 8-9 */
    "path = never.log\nbogus = 1\n"                      /* 10-11 */
    "[logger.app]\nsinks = keep, new\n"                  /* 12-13 */
    "level = loud\nqueue_size = 1M\n"                    /* 14-15 */
    "[logger.side]\nsinks = side_out\nlevel = warn\n";   /* 16-18: 17 no side_out */

Test(reload, twenty_reloads_under_load_write_every_record_once_to_the_sink_that_stays)
{
    char *dir = tmpdir_make();
    char a[600], b[600], bad[600], keep[600], extra[600], never[600];
    snprintf(a, sizeof a, "%s", put_file(dir, "a.ini", config_a));
    snprintf(b, sizeof b, "%s", put_file(dir, "b.ini", config_b));
    snprintf(bad, sizeof bad, "%s", put_file(dir, "bad.ini", config_bad));
    snprintf(keep, sizeof keep, "%s/keep.log", dir);
    snprintf(extra, sizeof extra, "%s/extra.log", dir);
    snprintf(never, sizeof never, "%s/never.log", dir);

    sluice_runtime *rt = start_file(a);
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_logger *side = sluice_logger_get(rt, "side");
    sluice_logger *side_gen = sluice_logger_gen_(side);
    cr_assert_not_null(app);

    atomic_int stop = 0;
    producer p[PRODUCERS];
    pthread_t threads[PRODUCERS];
    for (int t = 0; t < PRODUCERS; t++) {
        p[t] = (producer){app, t, &stop, 0};
        pthread_create(&threads[t], NULL, produce, &p[t]);
    }
    /* A, bad, B, bad, A, bad, B, ... : 20 reloads, each while records come */
    const char *order[] = {bad, b, bad, a};
    bool in_a = true;
    int invalid = 0;
    for (int n = 0; n < 20; n++) {
        long before = total_written(p);
        WAIT_FOR(total_written(p) >= before + 2000);
        const char *file = order[n % 4];
        if (file == bad) {
            picture was = take_picture(rt, app);
            sluice_logger_stats st_was = stats_of(app);
            sluice_error err;
            errors all = {0};
            if (n % 8 == 0) { /* from the file: err holds what fits */
                cr_assert_eq(sluice_runtime_reload(rt, bad, &err), -1,
                             "reload %d: the invalid file was taken", n);
                char first[700];
                snprintf(first, sizeof first, "%s:7: ", bad);
                cr_assert_eq(strncmp(err.message, first, strlen(first)), 0, "%s",
                             err.message);
                cr_assert_not_null(strstr(err.message, "more)"), "%s", err.message);
            } else { /* from a builder with the error callback: every one */
                sluice_builder *builder = sluice_builder_from_file(bad, &err);
                cr_assert_not_null(builder, "%s", err.message);
                sluice_builder_set_error_fn(builder, collect_error, &all, &err);
                cr_assert_eq(sluice_runtime_reload_builder(rt, builder, &err), -1,
                             "reload %d: the invalid file was taken", n);
                static const int lines[] = {7, 11, 14, 17};
                cr_assert_eq(all.count, 4, "%zu errors", all.count);
                for (size_t k = 0; k < 4; k++) {
                    char where[700];
                    snprintf(where, sizeof where, "%s:%d: ", bad, lines[k]);
                    cr_assert_eq(strncmp(all.text[k], where, strlen(where)), 0,
                                 "error %zu is not at line %d: %s", k, lines[k],
                                 all.text[k]);
                }
            }
            picture is = take_picture(rt, app);
            cr_assert_eq(memcmp(&was, &is, sizeof was), 0,
                         "reload %d: the invalid file changed the runtime", n);
            sluice_logger_stats st_is = stats_of(app);
            cr_assert_geq(st_is.accepted, st_was.accepted, "counters went back");
            cr_assert_eq(st_is.dropped, 0);
            cr_assert_eq(sluice_logger_get(rt, "app"), app);
            cr_assert_eq(access(never, F_OK), -1, "the invalid file's sink opened");
            invalid++;
        } else {
            cr_assert_eq(reload_ok(rt, file), 0, "reload %d: records lost", n);
            in_a = file == a;
            cr_assert_eq(sluice_logger_get(rt, "app"), app, "the pointer changed");
            cr_assert_eq(sluice_get_level(app),
                         in_a ? SLUICE_LEVEL_INFO : SLUICE_LEVEL_DEBUG);
            cr_assert_eq(sluice_logger_binding_count(app), in_a ? 2u : 1u);
            /* side: only its level changed, in place */
            cr_assert_eq(sluice_logger_get(rt, "side"), side);
            cr_assert_eq(sluice_logger_gen_(side), side_gen,
                         "a level change replaced the logger");
            cr_assert_eq(sluice_get_level(side),
                         in_a ? SLUICE_LEVEL_INFO : SLUICE_LEVEL_WARN);
        }
    }
    cr_assert_eq(invalid, 10);
    atomic_store(&stop, 1);
    for (int t = 0; t < PRODUCERS; t++)
        pthread_join(threads[t], NULL);
    sluice_logger_stats st = stats_of(app);
    cr_assert_eq(st.attempted, (uint64_t)total_written(p));
    cr_assert_eq(st.accepted, st.attempted, "nothing dropped");
    cr_assert_eq(sluice_close(rt, -1), 0, "everything delivered");
    check_file(keep, p, false);
    check_file(extra, p, true);
    tmpdir_remove(dir);
}

/* One lane and two, back and forth, while four threads log: the straight
 * path must never put a thread's record in the wrong lane (each thread's
 * records stay in order), and none is lost or doubled. */
Test(reload, reloads_between_one_lane_and_two_keep_every_threads_order)
{
    char *dir = tmpdir_make();
    char one[600], two[600], out[600];
    snprintf(one, sizeof one, "%s",
             put_file(dir, "one.ini", "[sink.out]\nplugin = file\npath = out.log\n"
                                      "pattern = %m\n[logger.app]\nsinks = out\n"
                                      "queue_size = 1M\n"));
    snprintf(two, sizeof two, "%s",
             put_file(dir, "two.ini", "[sink.out]\nplugin = file\npath = out.log\n"
                                      "pattern = %m\n[logger.app]\nsinks = out\n"
                                      "queue_size = 1M\nworkers = 2\n"));
    snprintf(out, sizeof out, "%s/out.log", dir);
    sluice_runtime *rt = start_file(one);
    sluice_logger *app = sluice_logger_get(rt, "app");
    atomic_int stop = 0;
    producer p[PRODUCERS];
    pthread_t threads[PRODUCERS];
    for (int t = 0; t < PRODUCERS; t++) {
        p[t] = (producer){app, t, &stop, 0};
        pthread_create(&threads[t], NULL, produce, &p[t]);
    }
    for (int n = 0; n < 10; n++) {
        long before = total_written(p);
        WAIT_FOR(total_written(p) >= before + 2000);
        cr_assert_eq(reload_ok(rt, n % 2 ? one : two), 0);
        cr_assert_eq(sluice_logger_gen_(app)->lanes, n % 2 ? 1u : 2u, "reload %d: %u lanes", n, sluice_logger_gen_(app)->lanes);
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < PRODUCERS; t++)
        pthread_join(threads[t], NULL);
    cr_assert_eq(sluice_close(rt, -1), 0);
    check_file(out, p, false);
    tmpdir_remove(dir);
}

/* ---- an unchanged sink keeps its backlog -------------------------------- */

static const char down_config[] =
    "[runtime]\nrestart_backoff_ms = 5..20\nrestart_intensity = unlimited\n"
    "[sink.c]\nplugin = capture\npattern = %m\n"
    "[logger.app]\nsinks = c\n";

Test(reload, an_unchanged_sink_that_is_down_keeps_its_backlog_and_delivers_it_later)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini", down_config));
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_logger *gen = sluice_logger_gen_(app);
    sluice_binding *binding = sluice_logger_binding(app, 0);
    atomic_store(&capture_sink.fail, 1);
    log_numbered(app, "r", 0, 100);
    WAIT_FOR(binding_of(app, 0).failures > 0);
    cr_assert_eq(binding_of(app, 0).pending, 100);
    /* another logger and sink come; app and c stay as they are */
    char more[1024];
    snprintf(more, sizeof more,
             "%s[sink.p]\nplugin = probe\n[logger.other]\nsinks = p\n", down_config);
    cr_assert_eq(reload_ok(rt, put_file(dir, "b.ini", more)), 0);
    cr_assert_eq(sluice_logger_gen_(app), gen, "app was replaced");
    cr_assert_eq(sluice_logger_binding(app, 0), binding);
    cr_assert_eq(binding_of(app, 0).pending, 100, "the backlog went");
    atomic_store(&capture_sink.fail, 0); /* it recovers */
    WAIT_FOR(binding_of(app, 0).written == 100);
    cr_assert_eq(capture_count(), 100);
    for (int i = 0; i < 100; i++) {
        char want[32];
        snprintf(want, sizeof want, "r %d\n", i);
        cr_assert_str_eq(capture_sink.lines[i], want);
    }
    SLUICE_INFO(sluice_logger_get(rt, "other"), "r %d", 0);
    cr_assert_eq(sluice_close(rt, -1), 0);
    assert_numbered(probe_find("p"), "r", 0, 1);
    tmpdir_remove(dir);
}

Test(reload, a_sink_kept_by_a_changed_logger_gets_its_old_backlog_first_when_it_recovers)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini", down_config));
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_logger *gen = sluice_logger_gen_(app);
    atomic_store(&capture_sink.fail, 1);
    log_numbered(app, "r", 0, 50);
    WAIT_FOR(binding_of(app, 0).failures > 0);
    /* app now writes to c and p: a new queue; c's old records wait for it */
    char more[1024];
    snprintf(more, sizeof more,
             "[runtime]\nrestart_backoff_ms = 5..20\nrestart_intensity = unlimited\n"
             "[sink.c]\nplugin = capture\npattern = %%m\n"
             "[sink.p]\nplugin = probe\n[logger.app]\nsinks = c, p\n");
    cr_assert_eq(reload_ok(rt, put_file(dir, "b.ini", more)), 0,
                 "a backlog that waits for its sink is not lost");
    cr_assert_neq(sluice_logger_gen_(app), gen, "app was not replaced");
    cr_assert_eq(sluice_logger_get(rt, "app"), app);
    log_numbered(app, "r", 50, 50);
    /* p has the new records; c has none yet */
    WAIT_FOR(probe_find("p") && probe_lines(probe_find("p")) == 50);
    assert_numbered(probe_find("p"), "r", 50, 50);
    cr_assert_eq(capture_count(), 0);
    sluice_logger_stats st = stats_of(app);
    cr_assert_eq(st.accepted, 100);
    cr_assert_eq(st.pending, 50, "c's old backlog, then its new one");
    atomic_store(&capture_sink.fail, 0);
    WAIT_FOR(capture_count() == 100);
    for (int i = 0; i < 100; i++) {
        char want[32];
        snprintf(want, sizeof want, "r %d\n", i);
        cr_assert_str_eq(capture_sink.lines[i], want, "c: line %d", i);
    }
    cr_assert_eq(sluice_close(rt, -1), 0);
    tmpdir_remove(dir);
}

/* ---- added, removed, changed --------------------------------------------- */

Test(reload, an_added_sink_gets_the_records_logged_after_the_reload)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.a]\nplugin = probe\n"
                                             "[logger.app]\nsinks = a\n"));
    sluice_logger *app = sluice_logger_get(rt, "app");
    log_numbered(app, "r", 0, 100);
    cr_assert_eq(reload_ok(rt, put_file(dir, "b.ini",
                                        "[sink.a]\nplugin = probe\n"
                                        "[sink.b]\nplugin = probe\n"
                                        "[logger.app]\nsinks = a, b\n")),
                 0);
    cr_assert_eq(sluice_logger_binding_count(app), 2);
    log_numbered(app, "r", 100, 100);
    cr_assert_eq(sluice_close(rt, -1), 0);
    assert_numbered(probe_find("a"), "r", 0, 200);
    assert_numbered(probe_find("b"), "r", 100, 100);
    cr_assert_eq(atomic_load(&probe_find("a")->closed), 1);
    tmpdir_remove(dir);
}

Test(reload, a_removed_sink_drains_what_it_had_and_closes)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.a]\nplugin = probe\n"
                                             "[sink.b]\nplugin = probe\n"
                                             "[logger.app]\nsinks = a, b\n"));
    sluice_logger *app = sluice_logger_get(rt, "app");
    probe *b = probe_find("b");
    /* b is held inside a write: its backlog is still there at the reload,
     * which waits for it */
    snprintf(hold_name, sizeof hold_name, "b");
    atomic_store(&hold, 1);
    log_numbered(app, "r", 0, 1000);
    WAIT_FOR(atomic_load(&held));
    char path[600];
    snprintf(path, sizeof path, "%s",
             put_file(dir, "b.ini", "[sink.a]\nplugin = probe\n"
                                    "[logger.app]\nsinks = a\n"));
    reloader r = {rt, path, -2, {{0}}};
    pthread_t t;
    pthread_create(&t, NULL, do_reload, &r);
    WAIT_FOR(sluice_logger_binding_count(app) == 1); /* committed */
    cr_assert_eq(atomic_load(&b->closed), 0);
    atomic_store(&hold, 0);
    pthread_join(t, NULL);
    cr_assert_eq(r.rc, 0, "b's backlog was written before it closed: %s", r.err.message);
    assert_numbered(b, "r", 0, 1000);
    cr_assert_eq(atomic_load(&b->closed), 1, "the removed sink is still open");
    cr_assert_eq(rt->old_sink_count, 0);
    cr_assert_eq(sluice_logger_binding_count(app), 1);
    log_numbered(app, "r", 1000, 10);
    cr_assert_eq(sluice_close(rt, -1), 0);
    assert_numbered(probe_find("a"), "r", 0, 1010);
    cr_assert_eq(probe_lines(b), 1000);
    tmpdir_remove(dir);
}

Test(reload, a_removed_sink_that_is_down_is_counted_after_reload_timeout_ms_and_closed)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[runtime]\nrestart_backoff_ms = 5..20\n"
                                             "restart_intensity = unlimited\n"
                                             "[sink.a]\nplugin = probe\n"
                                             "[sink.b]\nplugin = probe\n"
                                             "[logger.app]\nsinks = a, b\n"));
    sluice_logger *app = sluice_logger_get(rt, "app");
    probe *b = probe_find("b");
    snprintf(down_name, sizeof down_name, "b");
    atomic_store(&down, 1);
    log_numbered(app, "r", 0, 100);
    WAIT_FOR(binding_of(app, 1).failures > 0);
    int lost = reload_ok(rt, put_file(dir, "b.ini",
                                      "[runtime]\nrestart_backoff_ms = 5..20\n"
                                      "restart_intensity = unlimited\n"
                                      "reload_timeout_ms = 100\n"
                                      "[sink.a]\nplugin = probe\n"
                                      "[logger.app]\nsinks = a\n"));
    cr_assert_eq(lost, 100, "what b could not deliver");
    cr_assert_eq(atomic_load(&b->closed), 1);
    cr_assert_eq(probe_lines(b), 0);
    /* counted once: close does not count them again */
    cr_assert_eq(sluice_close(rt, -1), 0);
    assert_numbered(probe_find("a"), "r", 0, 100);
    tmpdir_remove(dir);
}

Test(reload, a_changed_logger_drains_its_old_queue_first_and_keeps_its_pointer)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.a]\nplugin = probe\n"
                                             "[logger.app]\nsinks = a\n"
                                             "queue_size = 1M\nfield.v = 1\n"));
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_logger *gen = sluice_logger_gen_(app);
    sluice_binding *old_binding = sluice_logger_binding(app, 0);
    /* a held in its write: the old queue is full of records at the reload */
    snprintf(hold_name, sizeof hold_name, "a");
    atomic_store(&hold, 1);
    log_numbered(app, "r", 0, 1000);
    WAIT_FOR(atomic_load(&held));
    cr_assert_eq(reload_ok(rt, put_file(dir, "b.ini",
                                        "[sink.a]\nplugin = probe\n"
                                        "[logger.app]\nsinks = a\nworkers = 2\n"
                                        "queue_size = 2M\nfield.v = 2\n")),
                 0);
    cr_assert_eq(sluice_logger_get(rt, "app"), app);
    sluice_logger *now = sluice_logger_gen_(app);
    cr_assert_neq(now, gen);
    cr_assert_eq(now->lanes, 2);
    cr_assert_eq(sluice_logger_binding_count(app), 2);
    log_numbered(app, "r", 1000, 1000); /* into the new queue */
    atomic_store(&hold, 0);
    cr_assert_eq(sluice_close(rt, -1), 0);
    assert_numbered(probe_find("a"), "r", 0, 2000);
    /* the old binding reads its counters as they ended */
    sluice_binding_stats st;
    cr_assert_eq(sluice_binding_stats_get(old_binding, &st), 0);
    cr_assert_eq(st.written, 1000);
    cr_assert_eq(st.pending, 0);
    sluice_logger_stats ls = stats_of(app);
    cr_assert_eq(ls.accepted, 2000, "the counters go on across generations");
    tmpdir_remove(dir);
}

Test(reload, a_changed_sink_writes_the_new_records_after_the_old_instance_is_done)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.a]\nplugin = probe\ntag = 1\n"
                                             "[logger.app]\nsinks = a\n"));
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_logger *gen = sluice_logger_gen_(app);
    probe *old = probe_find("a");
    snprintf(hold_name, sizeof hold_name, "a");
    atomic_store(&hold, 1);
    log_numbered(app, "r", 0, 1000);
    WAIT_FOR(atomic_load(&held));
    char path[600];
    snprintf(path, sizeof path, "%s",
             put_file(dir, "b.ini", "[sink.a]\nplugin = probe\ntag = 2\n"
                                    "[logger.app]\nsinks = a\n"));
    reloader r = {rt, path, -2, {{0}}};
    pthread_t t;
    pthread_create(&t, NULL, do_reload, &r);
    WAIT_FOR(sluice_logger_gen_(app) != gen); /* committed */
    cr_assert_neq(probe_find("a"), old, "no new instance");
    log_numbered(app, "r", 1000, 1000);
    atomic_store(&hold, 0); /* both are named a: the old one is let go */
    pthread_join(t, NULL);
    cr_assert_eq(r.rc, 0, "%s", r.err.message);
    probe *now = probe_find("a");
    cr_assert_eq(atomic_load(&old->closed), 1, "the old instance is still open");
    cr_assert_eq(sluice_close(rt, -1), 0);
    assert_numbered(old, "r", 0, 1000);
    assert_numbered(now, "r", 1000, 1000);
    cr_assert_lt(old->last_write, now->first_write,
                 "the new instance wrote before the old one was done");
    tmpdir_remove(dir);
}

/* ---- levels ---------------------------------------------------------------- */

Test(reload, a_level_change_alone_applies_at_once_in_place)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.a]\nplugin = probe\n"
                                             "[logger.app]\nsinks = a\nlevel = info\n"));
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_logger *gen = sluice_logger_gen_(app);
    sluice_binding *binding = sluice_logger_binding(app, 0);
    SLUICE_INFO(app, "r %d", 0);
    cr_assert_eq(reload_ok(rt, put_file(dir, "b.ini",
                                        "[sink.a]\nplugin = probe\n"
                                        "[logger.app]\nsinks = a\nlevel = warn\n")),
                 0);
    cr_assert_eq(sluice_get_level(app), SLUICE_LEVEL_WARN);
    cr_assert_eq(sluice_logger_gen_(app), gen, "the logger was replaced");
    cr_assert_eq(sluice_logger_binding(app, 0), binding);
    SLUICE_INFO(app, "r %d", 1); /* below the level now */
    SLUICE_WARN(app, "r %d", 2);
    cr_assert_eq(stats_of(app).attempted, 2);
    cr_assert_eq(sluice_close(rt, -1), 0);
    probe *a = probe_find("a");
    cr_assert_eq(probe_lines(a), 2);
    cr_assert_str_eq(a->lines[0], "r 0");
    cr_assert_str_eq(a->lines[1], "r 2");
    tmpdir_remove(dir);
}

Test(reload, a_level_the_host_set_stays_until_the_files_level_changes)
{
    char *dir = tmpdir_make();
    const char *a_ini = put_file(dir, "a.ini", "[sink.a]\nplugin = probe\n"
                                               "[logger.app]\nsinks = a\nlevel = info\n");
    char a_path[600];
    snprintf(a_path, sizeof a_path, "%s", a_ini);
    sluice_runtime *rt = start_file(a_path);
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_set_level(app, SLUICE_LEVEL_DEBUG);
    /* something else changes, app's level in the file does not */
    reload_ok(rt, put_file(dir, "b.ini", "[sink.a]\nplugin = probe\n"
                                         "[sink.b]\nplugin = probe\n"
                                         "[logger.app]\nsinks = a\nlevel = info\n"
                                         "[logger.other]\nsinks = b\n"));
    cr_assert_eq(sluice_get_level(app), SLUICE_LEVEL_DEBUG);
    reload_ok(rt, put_file(dir, "c.ini", "[sink.a]\nplugin = probe\n"
                                         "[logger.app]\nsinks = a\nlevel = error\n"));
    cr_assert_eq(sluice_get_level(app), SLUICE_LEVEL_ERROR);
    cr_assert_eq(sluice_close(rt, -1), 0);
    tmpdir_remove(dir);
}

/* A sink's level is part of its settings: a reload that changes it gives
 * the sink a new instance and the logger new bindings at that level. */
Test(reload, a_sinks_level_changed_by_a_reload_applies_to_the_records_after_it)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.a]\nplugin = probe\nlevel = info\n"
                                             "[logger.app]\nsinks = a\nlevel = debug\n"));
    sluice_logger *app = sluice_logger_get(rt, "app");
    SLUICE_DEBUG(app, "r %d", 0); /* below a's level */
    SLUICE_INFO(app, "r %d", 1);
    cr_assert_eq(sluice_logger_flush(app, 10000), 0);
    probe *old = probe_find("a");
    reload_ok(rt, put_file(dir, "b.ini", "[sink.a]\nplugin = probe\nlevel = error\n"
                                         "[logger.app]\nsinks = a\nlevel = debug\n"));
    cr_assert_eq(sluice_binding_get_level(sluice_logger_binding(app, 0)),
                 SLUICE_LEVEL_ERROR);
    SLUICE_INFO(app, "r %d", 2); /* below a's new level */
    SLUICE_WARN(app, "r %d", 3);
    SLUICE_ERROR(app, "r %d", 4);
    cr_assert_eq(sluice_logger_flush(app, 10000), 0);
    sluice_binding_stats st = binding_of(app, 0);
    cr_assert_eq(st.filtered, 2);
    cr_assert_eq(st.written, 1);
    cr_assert_eq(sluice_close(rt, -1), 0);
    probe *now = probe_find("a");
    cr_assert_neq(now, old, "the changed sink kept its instance");
    assert_numbered(old, "r", 1, 1);
    assert_numbered(now, "r", 4, 1);
    tmpdir_remove(dir);
}

/* A replaced logger's binding to a sink the reload keeps keeps the level
 * the host set on it. */
Test(reload, a_binding_level_the_host_set_stays_when_its_sink_is_kept)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.a]\nplugin = probe\n"
                                             "[logger.app]\nsinks = a\n"));
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_logger *gen = sluice_logger_gen_(app);
    cr_assert_eq(sluice_binding_set_level(sluice_logger_binding(app, 0),
                                          SLUICE_LEVEL_WARN), 0);
    reload_ok(rt, put_file(dir, "b.ini", "[sink.a]\nplugin = probe\n"
                                         "[logger.app]\nsinks = a\nqueue_size = 2M\n"));
    cr_assert_neq(sluice_logger_gen_(app), gen, "the logger was kept");
    cr_assert_eq(sluice_binding_get_level(sluice_logger_binding(app, 0)),
                 SLUICE_LEVEL_WARN);
    SLUICE_INFO(app, "r %d", 0);
    SLUICE_WARN(app, "r %d", 1);
    cr_assert_eq(sluice_close(rt, -1), 0);
    assert_numbered(probe_find("a"), "r", 1, 1);
    tmpdir_remove(dir);
}

/* A dead letter whose settings change gets a new instance, and the logger
 * (its own section unchanged) hands it the records rejected after the
 * reload; the old instance got the earlier ones. */
Test(reload, a_changed_dead_letter_takes_the_rejected_records_after_the_reload)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.r]\nplugin = refuser\n"
                                             "[sink.d]\nplugin = probe\ntag = 1\n"
                                             "[logger.app]\nsinks = r\ndead_letter = d\n"));
    sluice_logger *app = sluice_logger_get(rt, "app");
    SLUICE_INFO(app, "r %d", 0);
    cr_assert_eq(sluice_logger_flush(app, 10000), 0);
    probe *old = probe_find("d");
    reload_ok(rt, put_file(dir, "b.ini", "[sink.r]\nplugin = refuser\n"
                                         "[sink.d]\nplugin = probe\ntag = 2\n"
                                         "[logger.app]\nsinks = r\ndead_letter = d\n"));
    SLUICE_INFO(app, "r %d", 1);
    cr_assert_eq(sluice_logger_flush(app, 10000), 0);
    sluice_binding_stats st = binding_of(app, 0);
    cr_assert_eq(st.rejected, 1);
    cr_assert_eq(st.dead_lettered, 1);
    cr_assert_eq(sluice_close(rt, -1), 0);
    probe *now = probe_find("d");
    cr_assert_neq(now, old, "the changed dead letter kept its instance");
    assert_numbered(old, "r", 0, 1);
    assert_numbered(now, "r", 1, 1);
    tmpdir_remove(dir);
}

/* ---- pointers ---------------------------------------------------------------- */

Test(reload, a_removed_loggers_pointer_is_a_husk)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.a]\nplugin = probe\n"
                                             "[sink.g]\nplugin = probe\n"
                                             "[logger.app]\nsinks = a\n"
                                             "[logger.gone]\nsinks = g\n"));
    sluice_logger *gone = sluice_logger_get(rt, "gone");
    sluice_binding *gone_binding = sluice_logger_binding(gone, 0);
    log_numbered(gone, "r", 0, 10);
    cr_assert_eq(reload_ok(rt, put_file(dir, "b.ini",
                                        "[sink.a]\nplugin = probe\n"
                                        "[logger.app]\nsinks = a\n")),
                 0);
    cr_assert_null(sluice_logger_get(rt, "gone"));
    assert_numbered(probe_find("g"), "r", 0, 10);
    cr_assert_eq(atomic_load(&probe_find("g")->closed), 1);
    /* every call on it returns at once, as after close */
    SLUICE_INFO(gone, "r %d", 10);
    sluice_log_str(gone, SLUICE_LEVEL_ERROR, "x", 1);
    cr_assert_eq(sluice_get_level(gone), SLUICE_LEVEL_OFF);
    sluice_set_level(gone, SLUICE_LEVEL_TRACE);
    cr_assert_eq(sluice_get_level(gone), SLUICE_LEVEL_OFF);
    sluice_error err;
    cr_assert_eq(sluice_logger_flush(gone, 100), -1);
    cr_assert_eq(sluice_logger_add_pre_hook(gone, NULL, NULL, &err), -1);
    cr_assert_eq(sluice_binding_resume(gone_binding, &err), -1);
    sluice_logger_stats st = stats_of(gone);
    cr_assert_eq(st.attempted, 10, "its counters as they ended");
    cr_assert_eq(st.accepted, 10);
    sluice_binding_stats bs;
    cr_assert_eq(sluice_binding_stats_get(gone_binding, &bs), 0);
    cr_assert_eq(bs.written, 10);
    cr_assert_eq(probe_lines(probe_find("g")), 10);
    cr_assert_eq(sluice_close(rt, -1), 0);
    cr_assert_eq(stats_of(gone).attempted, 10);
    tmpdir_remove(dir);
}

/* A logger that comes back after it was removed is a new one: the old
 * pointer stays a husk. */
Test(reload, a_logger_added_again_is_a_new_logger)
{
    char *dir = tmpdir_make();
    const char *with = "[sink.a]\nplugin = probe\n[logger.app]\nsinks = a\n"
                       "[logger.x]\nsinks = a\n";
    const char *without = "[sink.a]\nplugin = probe\n[logger.app]\nsinks = a\n";
    sluice_runtime *rt = start_file(put_file(dir, "a.ini", with));
    sluice_logger *x = sluice_logger_get(rt, "x");
    reload_ok(rt, put_file(dir, "b.ini", without));
    reload_ok(rt, put_file(dir, "c.ini", with));
    sluice_logger *again = sluice_logger_get(rt, "x");
    cr_assert_not_null(again);
    cr_assert_neq(again, x);
    SLUICE_INFO(x, "r %d", 0);     /* the husk: nothing */
    SLUICE_INFO(again, "r %d", 1); /* the new one */
    cr_assert_eq(sluice_close(rt, -1), 0);
    assert_numbered(probe_find("a"), "r", 1, 1);
    tmpdir_remove(dir);
}

/* ---- what a reload refuses -------------------------------------------------- */

Test(reload, what_a_reload_cannot_change_is_an_error_with_its_line)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.a]\nplugin = probe\n"
                                             "[logger.app]\nsinks = a\n"
                                             "[logger.host]\nsinks = a\nautostart = false\n"));
    sluice_logger *host = sluice_logger_get(rt, "host");
    const char *path = put_file(dir, "b.ini",
                                "[runtime]\n"                      /* 1 */
                                "restart_backoff_ms = 1..2\n"       /* 2 */
                                "[sink.a]\nplugin = probe\n"        /* 3-4 */
                                "[logger.app]\nsinks = a\n"         /* 5-6 */
                                "[logger.host]\nsinks = a\n"        /* 7-8 */
                                "autostart = false\nworkers = 2\n"); /* 9-10 */
    sluice_error err;
    cr_assert_eq(sluice_runtime_reload(rt, path, &err), -1);
    char want[700];
    snprintf(want, sizeof want, "%s:2: [runtime] restart_backoff_ms: a reload cannot", path);
    cr_assert_not_null(strstr(err.message, want), "%s", err.message);
    snprintf(want, sizeof want, "%s:7: [logger.host]: autostart = false", path);
    cr_assert_not_null(strstr(err.message, want), "%s", err.message);
    /* removing it is refused too; a level change is fine */
    cr_assert_eq(sluice_runtime_reload(rt, put_file(dir, "c.ini",
                                                    "[sink.a]\nplugin = probe\n"
                                                    "[logger.app]\nsinks = a\n"),
                                       &err),
                 -1);
    cr_assert_not_null(strstr(err.message, "[logger.host] is gone"), "%s", err.message);
    reload_ok(rt, put_file(dir, "d.ini",
                           "[sink.a]\nplugin = probe\n[logger.app]\nsinks = a\n"
                           "[logger.host]\nsinks = a\nautostart = false\nlevel = error\n"));
    cr_assert_eq(sluice_get_level(host), SLUICE_LEVEL_ERROR);
    cr_assert_eq(sluice_close(rt, 100), 0);
    tmpdir_remove(dir);
}

Test(reload, a_sink_that_fails_to_open_undoes_the_reload)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.a]\nplugin = probe\n"
                                             "[logger.app]\nsinks = a\n"));
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_logger *gen = sluice_logger_gen_(app);
    char ini[1024];
    /* a file sink in a folder that is a file: open() fails */
    char blocker[600];
    snprintf(blocker, sizeof blocker, "%s/notadir", dir);
    write_text(blocker, "");
    snprintf(ini, sizeof ini,
             "[sink.a]\nplugin = probe\n[sink.b]\nplugin = probe\n"
             "[sink.f]\nplugin = fault\npath = %s/out.log\nopen_delay_ms = 0\n"
             "[logger.app]\nsinks = a, b, f\n",
             blocker);
    const char *path = put_file(dir, "b.ini", ini);
    sluice_error err;
    cr_assert_eq(sluice_runtime_reload(rt, path, &err), -1);
    cr_assert_not_null(strstr(err.message, path), "%s", err.message);
    cr_assert_eq(sluice_logger_gen_(app), gen);
    probe *b = probe_find("b");
    if (b) /* b opened before f failed: closed again */
        cr_assert_eq(atomic_load(&b->closed), 1);
    SLUICE_INFO(app, "r %d", 0);
    cr_assert_eq(sluice_close(rt, -1), 0);
    assert_numbered(probe_find("a"), "r", 0, 1);
    tmpdir_remove(dir);
}

/* ---- reload and close --------------------------------------------------------- */

typedef struct closer {
    sluice_runtime *rt;
    int timeout_ms;
    long undelivered;
} closer;

static void *do_close(void *arg)
{
    closer *c = arg;
    c->undelivered = sluice_close(c->rt, c->timeout_ms);
    return NULL;
}

Test(reload, a_reload_while_close_runs_is_refused)
{
    char *dir = tmpdir_make();
    const char *a = "[sink.a]\nplugin = probe\n[logger.app]\nsinks = a\n";
    char b_path[600];
    snprintf(b_path, sizeof b_path, "%s",
             put_file(dir, "b.ini", "[sink.a]\nplugin = probe\n"
                                    "[sink.b]\nplugin = probe\n"
                                    "[logger.app]\nsinks = a, b\n"));
    for (int round = 0; round < 5; round++) {
        probes_reset();
        sluice_runtime *rt = start_file(put_file(dir, "a.ini", a));
        sluice_logger *app = sluice_logger_get(rt, "app");
        /* close is held draining a's write */
        snprintf(hold_name, sizeof hold_name, "a");
        atomic_store(&hold, 1);
        SLUICE_INFO(app, "r %d", 0);
        WAIT_FOR(atomic_load(&held));
        closer c = {rt, -1, -1};
        pthread_t t;
        pthread_create(&t, NULL, do_close, &c);
        WAIT_FOR(sluice_runtime_state_(rt) >= SLUICE_RUNTIME_CLOSING);
        sluice_error err;
        cr_assert_eq(sluice_runtime_reload(rt, b_path, &err), -1, "round %d", round);
        cr_assert_not_null(strstr(err.message, "closing"), "%s", err.message);
        cr_assert_null(probe_find("b"), "the refused reload opened a sink");
        atomic_store(&hold, 0);
        pthread_join(t, NULL);
        cr_assert_eq(c.undelivered, 0);
        assert_numbered(probe_find("a"), "r", 0, 1);
    }
    tmpdir_remove(dir);
}

Test(reload, close_during_a_reload_waits_for_it_and_drains_what_it_left)
{
    char *dir = tmpdir_make();
    const char *a = "[sink.a]\nplugin = probe\n[sink.b]\nplugin = probe\n"
                    "[logger.app]\nsinks = a, b\n";
    char b_path[600];
    snprintf(b_path, sizeof b_path, "%s",
             put_file(dir, "b.ini", "[sink.a]\nplugin = probe\n"
                                    "[logger.app]\nsinks = a\n"));
    for (int round = 0; round < 5; round++) {
        probes_reset();
        sluice_runtime *rt = start_file(put_file(dir, "a.ini", a));
        sluice_logger *app = sluice_logger_get(rt, "app");
        /* the reload waits for b, held in its write */
        snprintf(hold_name, sizeof hold_name, "b");
        atomic_store(&hold, 1);
        log_numbered(app, "r", 0, 10);
        WAIT_FOR(atomic_load(&held));
        reloader r = {rt, b_path, -2, {{0}}};
        pthread_t t;
        pthread_create(&t, NULL, do_reload, &r);
        /* it committed: app writes to a only, b's old run loop drains */
        WAIT_FOR(sluice_logger_binding_count(app) == 1);
        closer c = {rt, -1, -1};
        pthread_t tc;
        pthread_create(&tc, NULL, do_close, &c);
        /* close waits for the reload, which stops waiting for b */
        pthread_join(t, NULL);
        cr_assert_eq(r.rc, 0, "round %d: %s", round, r.err.message);
        atomic_store(&hold, 0);
        pthread_join(tc, NULL);
        cr_assert_eq(c.undelivered, 0, "round %d: close drained b", round);
        assert_numbered(probe_find("a"), "r", 0, 10);
        assert_numbered(probe_find("b"), "r", 0, 10);
    }
    tmpdir_remove(dir);
}

/* ---- hooks ------------------------------------------------------------------ */

static atomic_int post_calls;

static void count_post(void *user, sluice_record *r)
{
    (void)user;
    (void)r;
    atomic_fetch_add(&post_calls, 1);
}

static bool tag_pre(void *user, sluice_hook_record *r)
{
    (void)user;
    r->extra[r->extra_count++] = (sluice_kv){"tag", "x"};
    return true;
}

Test(reload, hooks_stay_with_a_replaced_logger)
{
    char *dir = tmpdir_make();
    sluice_runtime *rt = start_file(put_file(dir, "a.ini",
                                             "[sink.a]\nplugin = probe\n"
                                             "[logger.app]\nsinks = a\n"));
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_error err;
    cr_assert_eq(sluice_logger_add_post_hook(app, count_post, NULL, &err), 0);
    cr_assert_eq(sluice_logger_add_pre_hook(app, tag_pre, NULL, &err), 0);
    SLUICE_INFO(app, "r %d", 0);
    cr_assert_eq(sluice_logger_flush(app, 10000), 0);
    reload_ok(rt, put_file(dir, "b.ini", "[sink.a]\nplugin = probe\n"
                                         "[logger.app]\nsinks = a\nqueue_size = 2M\n"));
    SLUICE_INFO(app, "r %d", 1);
    cr_assert_eq(sluice_logger_flush(app, 10000), 0);
    cr_assert_eq(atomic_load(&post_calls), 2, "the post-hook runs on the new queue");
    cr_assert_eq(stats_of(app).accepted, 2);
    cr_assert_eq(sluice_close(rt, -1), 0);
    assert_numbered(probe_find("a"), "r", 0, 2);
    tmpdir_remove(dir);
}

/* A builder-made configuration reloads the same way; its sinks may be the
 * host's own. */
Test(reload, a_builder_reloads_too)
{
    sluice_error err;
    sluice_builder *b = sluice_builder_new("<api>");
    cr_assert_eq(sluice_builder_add_sink_api(b, &probe_api, &err), 0);
    sluice_builder_set(b, "sink.a", "plugin", "probe", 0, &err);
    sluice_builder_set(b, "logger.app", "sinks", "a", 0, &err);
    sluice_runtime *rt = NULL;
    cr_assert_eq(sluice_builder_start(b, &rt, &err), 0, "%s", err.message);
    sluice_logger *app = sluice_logger_get(rt, "app");
    SLUICE_INFO(app, "r %d", 0);
    b = sluice_builder_new("<api>");
    sluice_builder_set(b, "sink.a", "plugin", "probe", 0, &err);
    sluice_builder_set(b, "sink.b", "plugin", "probe", 0, &err);
    sluice_builder_set(b, "logger.app", "sinks", "a, b", 0, &err);
    cr_assert_eq(sluice_runtime_reload_builder(rt, b, &err), 0, "%s", err.message);
    SLUICE_INFO(app, "r %d", 1);
    /* a broken one changes nothing */
    b = sluice_builder_new("<api>");
    sluice_builder_set(b, "logger.app", "sinks", "nothing", 0, &err);
    cr_assert_eq(sluice_runtime_reload_builder(rt, b, &err), -1);
    cr_assert_not_null(strstr(err.message, "no sink named 'nothing'"), "%s", err.message);
    SLUICE_INFO(app, "r %d", 2);
    cr_assert_eq(sluice_close(rt, -1), 0);
    assert_numbered(probe_find("a"), "r", 0, 3);
    assert_numbered(probe_find("b"), "r", 1, 2);
}

/* ---- durable loggers: their queue is their file ---------------------------- */

/* [logger.app] in a durable queue at DIR/QUEUE with a file sink, then
 * extra lines. Line 1 [sink.out], 5 [logger.app], 6 sinks, 7 level, 8
 * durable, 9 queue_size, 10 on: extra. */
static const char *durable_file(const char *dir, const char *name,
                                const char *sinks, const char *level,
                                const char *queue, const char *size,
                                const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text,
             "[sink.out]\nplugin = file\npath = %s/out.log\npattern = %%m\n"
             "[logger.app]\nsinks = %s\nlevel = %s\ndurable = %s/%s\n"
             "queue_size = %s\n%s",
             dir, sinks, level, dir, queue, size, extra);
    return put_file(dir, name, text);
}

/* A reload of path that must fail, its message holding every one of
 * wants (NULL-terminated); nothing changed. */
static void reload_refused(sluice_runtime *rt, sluice_logger *app,
                           const char *path, const char *const *wants)
{
    sluice_logger *gen = atomic_load(&app->gen);
    sluice_level level = sluice_get_level(app);
    sluice_error err;
    cr_assert_lt(sluice_runtime_reload(rt, path, &err), 0, "%s was accepted", path);
    for (; *wants; wants++)
        cr_assert(strstr(err.message, *wants), "'%s' not in: %s", *wants,
                  err.message);
    cr_assert_eq(atomic_load(&app->gen), gen, "the generation changed");
    cr_assert_eq(sluice_get_level(app), level, "the level changed");
}

Test(reload, a_durable_logger_takes_a_new_level_in_place_and_refuses_a_new_queue_with_file_line)
{
    char *dir = tmpdir_make();
    const char *start = durable_file(dir, "a.ini", "out", "info", "queue", "1M", "");
    sluice_runtime *rt = start_file(start);
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_logger *gen = atomic_load(&app->gen);
    log_numbered(app, "r", 0, 100);

    /* the level: in place, the queue, its backlog and run loops kept */
    const char *warn = durable_file(dir, "b.ini", "out", "warn", "queue", "1M", "");
    cr_assert_eq(reload_ok(rt, warn), 0);
    cr_assert_eq(atomic_load(&app->gen), gen);
    cr_assert_eq(sluice_get_level(app), SLUICE_LEVEL_WARN);
    log_numbered(app, "dropped", 0, 10); /* info: below the level */
    for (int i = 100; i < 200; i++)
        SLUICE_WARN(app, "r %d", i);

    /* what needs a new queue: refused, each at its key's line, all at once */
    char want_path[700], want_size[700];
    const char *moved = durable_file(dir, "c.ini", "out", "warn", "elsewhere",
                                     "2M", "");
    snprintf(want_path, sizeof want_path, "%s:8: [logger.app] durable", moved);
    snprintf(want_size, sizeof want_size, "%s:9: [logger.app] queue size", moved);
    reload_refused(rt, app, moved,
                   (const char *const[]){want_path, want_size, NULL});
    const char *synced = durable_file(dir, "d.ini", "out", "warn", "queue", "1M",
                                      "workers = 1\ndurable_sync = batch\n");
    char want_sync[700];
    snprintf(want_sync, sizeof want_sync, "%s:11: [logger.app] durable_sync", synced);
    reload_refused(rt, app, synced, (const char *const[]){want_sync, NULL});
    char memory[1024], want_gone[700];
    snprintf(memory, sizeof memory,
             "[sink.out]\nplugin = file\npath = %s/out.log\npattern = %%m\n"
             "[logger.app]\nsinks = out\nlevel = warn\n",
             dir);
    const char *gone = put_file(dir, "e.ini", memory);
    snprintf(want_gone, sizeof want_gone, "%s:5: [logger.app] durable removed", gone);
    reload_refused(rt, app, gone, (const char *const[]){want_gone, NULL});
    /* a sink more: a new generation, which cannot open the file (yet) */
    char more[1024], want_sinks[700];
    snprintf(more, sizeof more,
             "[sink.out]\nplugin = file\npath = %s/out.log\npattern = %%m\n"
             "[sink.more]\nplugin = file\npath = %s/more.log\npattern = %%m\n"
             "[logger.app]\nsinks = out, more\nlevel = warn\ndurable = %s/queue\n"
             "queue_size = 1M\n",
             dir, dir, dir);
    const char *added = put_file(dir, "f.ini", more);
    snprintf(want_sinks, sizeof want_sinks,
             "%s:9: [logger.app]: a reload can change only the level", added);
    reload_refused(rt, app, added, (const char *const[]){want_sinks, NULL});

    for (int i = 200; i < 300; i++)
        SLUICE_WARN(app, "r %d", i);
    cr_assert_eq(sluice_close(rt, 10000), 0);
    size_t len;
    char path[700];
    snprintf(path, sizeof path, "%s/out.log", dir);
    char *text = read_file(path, &len);
    const char *p = text;
    for (int i = 0; i < 300; i++) {
        char want[32];
        int n = snprintf(want, sizeof want, "r %d\n", i);
        cr_assert(strncmp(p, want, (size_t)n) == 0, "record %d: '%.20s'", i, p);
        p += n;
    }
    cr_assert_eq(*p, '\0', "more in the file: '%.40s'", p);
    free(text);

    /* the file was let go: the same configuration opens it again */
    rt = start_file(start);
    cr_assert_eq(sluice_close(rt, 10000), 0);
    tmpdir_remove(dir);
}

Test(reload, a_logger_in_memory_cannot_move_into_a_durable_file_by_a_reload)
{
    char *dir = tmpdir_make();
    char memory[1024], want[700];
    snprintf(memory, sizeof memory,
             "[sink.out]\nplugin = file\npath = %s/out.log\npattern = %%m\n"
             "[logger.app]\nsinks = out\nlevel = info\n",
             dir);
    sluice_runtime *rt = start_file(put_file(dir, "a.ini", memory));
    sluice_logger *app = sluice_logger_get(rt, "app");
    const char *durable = durable_file(dir, "b.ini", "out", "info", "queue", "1M", "");
    snprintf(want, sizeof want, "%s:8: [logger.app] durable (it was in memory)",
             durable);
    reload_refused(rt, app, durable, (const char *const[]){want, NULL});
    cr_assert_eq(sluice_close(rt, 10000), 0);
    struct stat st;
    snprintf(want, sizeof want, "%s/queue", dir);
    cr_assert_neq(stat(want, &st), 0, "the reload made the file");
    tmpdir_remove(dir);
}
