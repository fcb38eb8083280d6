/*
 * helpers.h -- shared by the runtime test suites: temporary directories,
 * reading files, and `capture`, an in-process sink (registered with
 * sluice_builder_add_sink_api) that keeps every line it is given and whose
 * failures a test scripts directly.
 *
 * With SLUICE_TEST_DURABLE set (tests/meson.build runs some suites a
 * second time so), start_ini gives every logger `durable = FILE`, a fresh
 * file per start in a folder of the test process: the same suites then
 * check the durable mode.
 */
#ifndef SLUICE_TEST_HELPERS_H
#define SLUICE_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sluice/sluice.h>

#include "config_internal.h"

static inline char *tmpdir_make(void)
{
    char *d = strdup("/tmp/sluice-test-XXXXXX");
    cr_assert_not_null(mkdtemp(d), "mkdtemp failed");
    return d;
}

static int rm_one(const char *p, const struct stat *s, int flag, struct FTW *f)
{
    (void)s;
    (void)flag;
    (void)f;
    return remove(p);
}

static inline void tmpdir_remove(char *d)
{
    if (d)
        nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

static inline char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (len)
            *len = 0;
        return strdup("");
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static inline size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* ---- running commands ---------------------------------------------------- */

/* The sluice binary under test (meson sets SLUICE_CLI). */
static inline const char *cli(void)
{
    const char *p = getenv("SLUICE_CLI");
    cr_assert_not_null(p, "SLUICE_CLI is not set");
    return p;
}

/* Run a shell command line; its exit status, stdout and stderr in *out. */
__attribute__((format(printf, 2, 3))) static inline int sh(char **out,
                                                           const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[8300];
    snprintf(full, sizeof full, "( %s ) 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n - 1 == 0)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static inline void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- capture: an in-process sink a test can inspect ------------------- */

typedef struct capture {
    pthread_mutex_t mu;
    char **lines;
    sluice_record *records; /* copies of the scalar parts */
    size_t count, cap;
    atomic_int fail;        /* nonzero: write() fails (after partial) */
    atomic_int partial;     /* on failure, confirm this many first */
    atomic_int writes;      /* write() calls */
    atomic_int flushes;     /* flush() calls */
    atomic_int hang_ms;     /* each write() sleeps this long first */
    /* what the binding looked like from inside write() */
    sluice_binding *watch;
    atomic_int saw_running, saw_failed_cleared;
} capture;

static capture capture_sink; /* one per test process */

static inline void capture_reset(void)
{
    pthread_mutex_lock(&capture_sink.mu);
    for (size_t i = 0; i < capture_sink.count; i++)
        free(capture_sink.lines[i]);
    free(capture_sink.lines);
    free(capture_sink.records);
    capture_sink.lines = NULL;
    capture_sink.records = NULL;
    capture_sink.count = capture_sink.cap = 0;
    pthread_mutex_unlock(&capture_sink.mu);
    atomic_store(&capture_sink.fail, 0);
    atomic_store(&capture_sink.partial, 0);
    atomic_store(&capture_sink.writes, 0);
    atomic_store(&capture_sink.flushes, 0);
    atomic_store(&capture_sink.hang_ms, 0);
    atomic_store(&capture_sink.saw_running, 0);
    atomic_store(&capture_sink.saw_failed_cleared, 0);
    capture_sink.watch = NULL;
}

static inline size_t capture_count(void)
{
    pthread_mutex_lock(&capture_sink.mu);
    size_t n = capture_sink.count;
    pthread_mutex_unlock(&capture_sink.mu);
    return n;
}

static int capture_open(const sluice_options *o, void **state, sluice_error *e)
{
    (void)o;
    (void)e;
    *state = &capture_sink;
    return 0;
}

static void capture_keep(const sluice_record *r)
{
    capture *c = &capture_sink;
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->lines = realloc(c->lines, c->cap * sizeof *c->lines);
        c->records = realloc(c->records, c->cap * sizeof *c->records);
    }
    c->lines[c->count] = strndup(r->line, r->line_len);
    c->records[c->count] = *r;
    c->records[c->count].line = c->lines[c->count];
    c->records[c->count].message = NULL;
    c->records[c->count].fields = NULL;
    c->count++;
}

static int capture_write(void *state, const sluice_record *const *batch,
                         size_t n, size_t *written, sluice_error *e)
{
    capture *c = state;
    atomic_fetch_add(&c->writes, 1);
    if (c->watch) {
        sluice_binding_stats st;
        sluice_binding_stats_get(c->watch, &st);
        if (st.is_running)
            atomic_store(&c->saw_running, 1);
        if (!st.has_failed && st.last_error[0] == '\0')
            atomic_store(&c->saw_failed_cleared, 1);
    }
    int hang = atomic_load(&c->hang_ms);
    if (hang)
        usleep((useconds_t)hang * 1000);
    size_t ok = n;
    int failing = atomic_load(&c->fail);
    if (failing) {
        ok = (size_t)atomic_load(&c->partial);
        if (ok > n)
            ok = n;
    }
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < ok; i++)
        capture_keep(batch[i]);
    pthread_mutex_unlock(&c->mu);
    *written = ok;
    if (failing)
        return sluice_error_set(e, "capture: scripted failure");
    return 0;
}

static int capture_flush(void *state, sluice_error *e)
{
    (void)e;
    atomic_fetch_add(&((capture *)state)->flushes, 1);
    return 0;
}

static void capture_close(void *state) { (void)state; }

static const char *const capture_options[] = {NULL};
static const sluice_sink_api capture_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "capture",
    .description = "test sink",
    .option_names = capture_options,
    .open = capture_open,
    .write = capture_write,
    .flush = capture_flush,
    .close = capture_close,
};

/* ---- the durable mode of the suites ------------------------------------ */

static char *durable_dir;

static void durable_dir_remove(void)
{
    tmpdir_remove(durable_dir);
    durable_dir = NULL;
}

/* With SLUICE_TEST_DURABLE: `durable = DIR/NAME.N` for every [logger.NAME]
 * of ini, N counting the starts of this process. */
static inline void durable_if_asked(sluice_builder *b, const char *ini)
{
    static unsigned starts;
    if (!getenv("SLUICE_TEST_DURABLE"))
        return;
    if (!durable_dir) {
        durable_dir = tmpdir_make();
        atexit(durable_dir_remove);
    }
    starts++;
    for (const char *p = strstr(ini, "[logger."); p; p = strstr(p + 1, "[logger.")) {
        const char *end = strchr(p, ']');
        if (!end || (p != ini && p[-1] != '\n'))
            continue;
        char section[160], path[400];
        snprintf(section, sizeof section, "%.*s", (int)(end - p - 1), p + 1);
        snprintf(path, sizeof path, "%s/%s.%u", durable_dir, section + 7, starts);
        sluice_error err;
        cr_assert_eq(sluice_builder_set(b, section, "durable", path, 0, &err), 0,
                     "%s", err.message);
    }
}

/* Start a runtime from INI text, with the capture sink available. */
static inline sluice_runtime *start_ini(const char *ini)
{
    sluice_error err;
    sluice_builder *b = sluice_config_load_string(ini, &err);
    cr_assert_not_null(b, "%s", err.message);
    durable_if_asked(b, ini);
    cr_assert_eq(sluice_builder_add_sink_api(b, &capture_api, &err), 0, "%s",
                 err.message);
    sluice_runtime *rt = NULL;
    int rc = sluice_builder_start(b, &rt, &err);
    cr_assert_eq(rc, 0, "start failed: %s", err.message);
    return rt;
}

/* Start from INI text expecting failure; returns the error text. */
static inline char *start_ini_fails(const char *ini)
{
    sluice_error err;
    sluice_builder *b = sluice_config_load_string(ini, &err);
    cr_assert_not_null(b, "%s", err.message);
    durable_if_asked(b, ini);
    sluice_builder_add_sink_api(b, &capture_api, &err);
    sluice_runtime *rt = NULL;
    int rc = sluice_builder_start(b, &rt, &err);
    cr_assert_neq(rc, 0, "start should have failed");
    cr_assert_null(rt);
    return strdup(err.message);
}

static inline void init_capture(void)
{
    pthread_mutex_init(&capture_sink.mu, NULL);
    capture_reset();
}

static inline void fini_capture(void)
{
    capture_reset();
    pthread_mutex_destroy(&capture_sink.mu);
}

#endif
