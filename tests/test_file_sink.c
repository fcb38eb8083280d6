/*
 * test_file_sink.c -- the file sink plugin on its own: dlopen the built
 * file.so (FILE_PLUGIN) and drive its api with records made here. Checks
 * what a user would look at: the files, their names, modes and lines.
 * Knows nothing of the runtime: where the runtime would serialise calls on
 * one instance, the tests hold a mutex.
 */
#include <sluice/sink.h>

#include <criterion/criterion.h>

#include "plugin_fixture.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FILE_PLUGIN
#error "build with -DFILE_PLUGIN=\"/path/to/file.so\""
#endif

/* ---- helpers ---------------------------------------------------------- */

static const sluice_sink_api *api(void)
{
    static const sluice_sink_api *a;
    if (!a) {
        void *h = dlopen(FILE_PLUGIN, RTLD_NOW | RTLD_LOCAL);
        cr_assert(h, "dlopen %s: %s", FILE_PLUGIN, dlerror());
        sluice_sink_entry_fn entry =
            (sluice_sink_entry_fn)dlsym(h, SLUICE_SINK_ENTRY_SYMBOL);
        cr_assert(entry);
        a = entry();
        cr_assert_eq(a->abi_version, SLUICE_SINK_ABI_VERSION);
        cr_assert_str_eq(a->name, "file");
    }
    return a;
}

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/sluice-file-XXXXXX");
    cr_assert(mkdtemp(tmpdir));
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void remove_tmpdir(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* "<tmpdir>/<name>" in a static ring of buffers. */
static const char *in_tmp(const char *fmt, ...)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    int n = snprintf(b, 512, "%s/", tmpdir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + n, (size_t)(512 - n), fmt, ap);
    va_end(ap);
    return b;
}

/* Open the sink with "key", "value", ... NULL; option i is on line 10+i of
 * test.ini. */
static int open_kv(void **st, sluice_error *err, ...)
{
    sluice_option items[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, err);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        items[n].key = k;
        items[n].value = va_arg(ap, const char *);
        items[n].line = 10 + (int)n;
        n++;
    }
    va_end(ap);
    sluice_options o = {0};
    o.sink_name = "f";
    o.source = "test.ini";
    o.items = items;
    o.count = n;
    o.line = 1;
    return plugin_call_open(api(), &o, st, err);
}

/* A record whose line is printf(fmt, ...) and whose time is t (ns). */
static sluice_record *rec(int64_t t, const char *fmt, ...)
{
    sluice_record *r = calloc(1, sizeof *r);
    char *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    cr_assert(r && n >= 0);
    r->time_ns = t;
    r->level = SLUICE_LEVEL_INFO;
    r->logger = "test";
    r->message = line;
    r->message_len = (size_t)n;
    r->line = line;
    r->line_len = (size_t)n;
    return r;
}

static void free_recs(sluice_record **rs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)rs[i]->line);
        free(rs[i]);
    }
}

/* Write all of rs[0..n) in one call; must succeed. */
static void write_ok(void *st, sluice_record **rs, size_t n)
{
    size_t w = 99999;
    sluice_error err = {{0}};
    int rc = api()->write(st, (const sluice_record *const *)rs, n, &w, &err);
    cr_assert_eq(rc, 0, "write: %s", err.message);
    cr_assert_eq(w, n);
}

static void write_line(void *st, int64_t t, const char *line)
{
    sluice_record *r = rec(t, "%s", line);
    write_ok(st, &r, 1);
    free_recs(&r, 1);
}

/* The whole file, NUL-terminated; NULL when it does not exist. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            cr_assert(buf);
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static size_t count_lines(const char *path)
{
    size_t n = 0;
    char *b = slurp(path, NULL);
    for (char *p = b; p && *p; p++)
        n += *p == '\n';
    free(b);
    return n;
}

/* Names in tmpdir, sorted, joined by spaces. */
static char *listing(void)
{
    struct dirent **ents;
    int n = scandir(tmpdir, &ents, NULL, alphasort);
    cr_assert(n >= 0);
    char *out = calloc(1, 8192);
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.') {
            if (out[0])
                strcat(out, " ");
            strcat(out, ents[i]->d_name);
        }
        free(ents[i]);
    }
    free(ents);
    return out;
}

/* Midnight UTC of 2026-11-(20+d), in ns, plus some seconds. */
#define DAY_NS (86400LL * 1000000000LL)
#define HOUR_NS (3600LL * 1000000000LL)
static int64_t day(int d, int secs)
{
    /* 2026-11-20T00:00:00Z */
    return (1795132800LL + 86400LL * d + secs) * 1000000000LL;
}

/* Numbered-record checking: every record "<writer> <seq> ..." must be in
 * the files exactly once, on its own whole line. */
#define WRITERS 4
#define PER_WRITER 3000
static unsigned char seen[WRITERS][PER_WRITER];

static void account_file(const char *path)
{
    char *b = slurp(path, NULL);
    if (!b)
        return;
    char *save = NULL;
    cr_assert(b[0] == '\0' || b[strlen(b) - 1] == '\n',
              "%s does not end with a newline", path);
    for (char *ln = strtok_r(b, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        int w, q, len;
        char tail[8];
        cr_assert_eq(sscanf(ln, "w%d n%d len%d %7s", &w, &q, &len, tail), 4,
                     "bad line in %s: '%s'", path, ln);
        cr_assert(w >= 0 && w < WRITERS && q >= 0 && q < PER_WRITER);
        cr_assert_eq((int)strlen(ln), len, "split line in %s: '%s'", path, ln);
        cr_assert_eq(seen[w][q], 0, "record w%d n%d twice", w, q);
        seen[w][q] = 1;
    }
    free(b);
}

static void assert_all_seen(int writers, int per)
{
    for (int w = 0; w < writers; w++)
        for (int q = 0; q < per; q++)
            cr_assert_eq(seen[w][q], 1, "record w%d n%d lost", w, q);
}

/* A numbered record line of varying length that states its own length. */
static sluice_record *numbered_rec(int w, int q)
{
    char pad[64];
    int padn = (q * 7 + w) % 40;
    memset(pad, 'x', (size_t)padn);
    pad[padn] = '\0';
    char head[64];
    snprintf(head, sizeof head, "w%d n%d len", w, q);
    /* the length excludes the newline; solve for the digits */
    int base = (int)strlen(head) + 1 + 3 + padn; /* " end" + pad */
    int len = base + 2;
    while ((int)snprintf(NULL, 0, "%d", len) + base != len)
        len++;
    return rec(0, "%s%d end%s\n", head, len, pad);
}

/* ---- basic writing ----------------------------------------------------- */

TestSuite(file_sink, .init = make_tmpdir, .fini = remove_tmpdir,
          .timeout = 20);

Test(file_sink, lines_are_written_intact_in_order)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("app.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, NULL), 0, "%s", err.message);
    /* batches of 1, of 7, and larger than one writev chunk */
    size_t sizes[] = {1, 7, 700, 3};
    size_t total = 0;
    char *expect = calloc(1, 1 << 20);
    for (size_t b = 0; b < 4; b++) {
        sluice_record *rs[700];
        for (size_t i = 0; i < sizes[b]; i++) {
            rs[i] = rec(0, "line %zu of batch %zu: \"quoted\" text\n", total,
                        b);
            strcat(expect, rs[i]->line);
            total++;
        }
        write_ok(st, rs, sizes[b]);
        free_recs(rs, sizes[b]);
    }
    cr_assert_eq(api()->flush(st, &err), 0, "%s", err.message);
    api()->close(st);
    char *got = slurp(path, NULL);
    cr_assert_str_eq(got, expect);
    free(got);
    free(expect);
}

Test(file_sink, appends_to_an_existing_file)
{
    const char *path = in_tmp("app.log");
    FILE *f = fopen(path, "w");
    fputs("earlier\n", f);
    fclose(f);
    void *st;
    sluice_error err;
    cr_assert_eq(open_kv(&st, &err, "path", path, NULL), 0, "%s", err.message);
    write_line(st, 0, "later\n");
    api()->close(st);
    char *got = slurp(path, NULL);
    cr_assert_str_eq(got, "earlier\nlater\n");
    free(got);
}

Test(file_sink, a_record_without_newline_still_ends_its_line)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("app.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, NULL), 0, "%s", err.message);
    sluice_record *rs[2] = {rec(0, "no newline"), rec(0, "next\n")};
    write_ok(st, rs, 2);
    free_recs(rs, 2);
    api()->close(st);
    char *got = slurp(path, NULL);
    cr_assert_str_eq(got, "no newline\nnext\n");
    free(got);
}

Test(file_sink, new_file_mode_is_0640_by_default_whatever_the_umask)
{
    umask(077);
    void *st;
    sluice_error err;
    const char *path = in_tmp("app.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, NULL), 0, "%s", err.message);
    api()->close(st);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 07777, 0640, "mode is %o", sb.st_mode & 07777);
}

Test(file_sink, mode_option_is_honoured_for_a_new_file_only)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("secret.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, "mode", "0600", NULL), 0,
                 "%s", err.message);
    api()->close(st);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 07777, 0600, "mode is %o", sb.st_mode & 07777);

    /* an existing file keeps the mode someone gave it */
    cr_assert_eq(chmod(path, 0644), 0);
    cr_assert_eq(open_kv(&st, &err, "path", path, "mode", "0600", NULL), 0,
                 "%s", err.message);
    api()->close(st);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 07777, 0644);
}

/* The fd of the open sink, found through /proc/self/fd. */
static int fd_of(const char *path)
{
    char real[4096];
    cr_assert(realpath(path, real));
    DIR *d = opendir("/proc/self/fd");
    cr_assert(d);
    int found = -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char link[320], target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, real) == 0)
            found = atoi(de->d_name);
    }
    closedir(d);
    return found;
}

Test(file_sink, fd_is_close_on_exec_and_append_only)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("app.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, NULL), 0, "%s", err.message);
    int fd = fd_of(path);
    cr_assert(fd >= 0, "the sink has no fd on %s", path);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fd %d is not O_CLOEXEC", fd);
    cr_assert(fcntl(fd, F_GETFL) & O_APPEND, "fd %d is not O_APPEND", fd);
    api()->close(st);
    cr_assert_eq(fd_of(path), -1, "close() left the fd open");
}

Test(file_sink, missing_directory_is_an_error_naming_the_path)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("no/such/dir/app.log");
    cr_assert_neq(open_kv(&st, &err, "path", path, NULL), 0);
    /* the runtime refuses it before open(), with the key's line */
    cr_assert(strstr(err.message, "test.ini:10: sink 'f': option 'path': "),
              "message: %s", err.message);
    cr_assert(strstr(err.message, path), "message: %s", err.message);
    cr_assert(strstr(err.message, "does not exist (it is not created for you)"),
              "message: %s", err.message);
    cr_assert(!exists(in_tmp("no")), "the directory was created");

    const char *dated = in_tmp("nodir/app.log");
    cr_assert_neq(open_kv(&st, &err, "path", dated, "rotate", "daily", NULL),
                  0);
    cr_assert(strstr(err.message, dated), "message: %s", err.message);
}

Test(file_sink, unusable_targets_are_errors_not_hangs)
{
    void *st;
    sluice_error err;
    const char *link = in_tmp("dangling.log");
    cr_assert_eq(symlink(in_tmp("nowhere/x.log"), link), 0);
    cr_assert_neq(open_kv(&st, &err, "path", link, NULL), 0);
    cr_assert(strstr(err.message, link), "%s", err.message);

    const char *fifo = in_tmp("fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_neq(open_kv(&st, &err, "path", fifo, NULL), 0,
                  "a FIFO without a reader was opened");
    cr_assert(strstr(err.message, fifo), "%s", err.message);

    const char *dir = in_tmp("adir");
    cr_assert_eq(mkdir(dir, 0755), 0);
    cr_assert_neq(open_kv(&st, &err, "path", dir, NULL), 0);
    cr_assert(strstr(err.message, dir), "%s", err.message);
}

Test(file_sink, bad_options_are_refused_with_file_and_line)
{
    const char *path = in_tmp("app.log");
    struct {
        const char *key, *value, *says;
    } bad[] = {
        {"mode", "rw-r-----", "octal"},
        {"mode", "0999", "octal"},
        {"mode", "017777", "017777 is out of range 0..07777"},
        {"mode", "-0640", "octal"},
        {"rotate_bytes", "0xA00000", "not a size"},
        {"rotate_bytes", "-1", "'-1' is not a size"},
        {"rotate_bytes", "10 MB", "not a size"},
        {"rotate_bytes", "2P", "not a size"},
        {"keep", "five", "not a decimal integer"},
        {"keep", "-1", "out of range"},
        {"rotate", "weekly", "not one of none, daily, hourly"},
        {"fsync_interval_ms", "-5", "not a duration"},
        {"fsync_interval_ms", "", "not a duration"},
        {"fsync_interval_ms", "2d", "2d is out of range 0..1d"},
        {"keep", "010", "leading zeros are not allowed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *st;
        sluice_error err;
        /* path is on line 10, the bad option on line 11 */
        cr_assert_neq(open_kv(&st, &err, "path", path, bad[i].key,
                              bad[i].value, NULL),
                      0, "%s = %s accepted", bad[i].key, bad[i].value);
        char want[128];
        snprintf(want, sizeof want, "test.ini:11: sink 'f': option '%s'",
                 bad[i].key);
        cr_assert(strstr(err.message, want), "%s = %s: %s", bad[i].key,
                  bad[i].value, err.message);
        cr_assert(strstr(err.message, bad[i].says), "%s = %s: %s",
                  bad[i].key, bad[i].value, err.message);
    }
    void *st;
    sluice_error err;
    cr_assert_neq(open_kv(&st, &err, "mode", "0600", NULL), 0);
    cr_assert(strstr(err.message, "test.ini") && strstr(err.message, "path"),
              "%s", err.message);
    cr_assert_neq(open_kv(&st, &err, "path", "", NULL), 0);
    cr_assert(strstr(err.message, "test.ini:10:"), "%s", err.message);
    cr_assert_neq(open_kv(&st, &err, "path", path, "rotate", "daily",
                          "rotate_bytes", "1000", NULL),
                  0);
    cr_assert(strstr(err.message, "test.ini:12:") &&
                  strstr(err.message, "rotate = daily"),
              "%s", err.message);
    cr_assert_neq(open_kv(&st, &err, "path", "/dev/null", "rotate_bytes",
                          "1000", NULL),
                  0);
    cr_assert(strstr(err.message, "cannot be rotated"), "%s", err.message);
    cr_assert(!exists(path), "a refused sink created its file");
}

Test(file_sink, a_write_that_fails_half_way_keeps_whole_records_only)
{
    /* the file may grow to 1000 bytes: the 16th 64-byte record is cut */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1000;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);

    void *st;
    sluice_error err;
    const char *path = in_tmp("app.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, NULL), 0, "%s", err.message);
    sluice_record *rs[20];
    for (int i = 0; i < 20; i++)
        rs[i] = rec(0, "record %02d %053d\n", i, 0); /* 64 bytes */
    cr_assert_eq(rs[0]->line_len, 64);
    size_t w = 0;
    int rc = api()->write(st, (const sluice_record *const *)rs, 20, &w, &err);
    cr_assert_neq(rc, 0);
    cr_assert_eq(w, 15);
    cr_assert(strstr(err.message, path), "%s", err.message);
    cr_assert(strstr(err.message, strerror(EFBIG)), "%s", err.message);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_size, 15 * 64, "half a record left: size %lld",
                 (long long)sb.st_size);

    /* the runtime offers the rest again later: nothing doubled */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    write_ok(st, rs + w, 20 - w);
    api()->close(st);
    char *got = slurp(path, NULL);
    char expect[20 * 64 + 1] = "";
    for (int i = 0; i < 20; i++)
        strcat(expect, rs[i]->line);
    cr_assert_str_eq(got, expect);
    free(got);
    free_recs(rs, 20);
}

Test(file_sink, flush_and_fsync_interval)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("app.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, "fsync_interval_ms", "1",
                         NULL),
                 0, "%s", err.message);
    for (int i = 0; i < 20; i++)
        write_line(st, 0, "synced\n");
    cr_assert_eq(api()->flush(st, &err), 0, "%s", err.message);
    api()->close(st);
    cr_assert_eq(count_lines(path), 20);
    /* a device without fdatasync is not an error */
    cr_assert_eq(open_kv(&st, &err, "path", "/dev/null", "fsync_interval_ms",
                         "1", NULL),
                 0, "%s", err.message);
    write_line(st, 0, "gone\n");
    cr_assert_eq(api()->flush(st, &err), 0, "%s", err.message);
    api()->close(st);
}

/* ---- size rotation ----------------------------------------------------- */

Test(file_sink, size_rotation_keeps_the_newest_keep_files)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("app.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, "rotate_bytes", "1000",
                         "keep", "3", NULL),
                 0, "%s", err.message);
    /* 100-byte records: 10 to a file; written in batches of 7 */
    sluice_record *rs[100];
    for (int i = 0; i < 100; i++)
        rs[i] = rec(0, "r%03d %094d\n", i, 0);
    cr_assert_eq(rs[0]->line_len, 100);
    for (int i = 0; i < 100; i += 7)
        write_ok(st, rs + i, i + 7 <= 100 ? 7 : 100 - (size_t)i);
    api()->close(st);
    char *names = listing();
    cr_assert_str_eq(names, "app.log app.log.1 app.log.2 app.log.3");
    free(names);
    /* app.log.3 holds 60..69, ... app.log holds 90..99 */
    const char *files[] = {in_tmp("app.log.3"), in_tmp("app.log.2"),
                           in_tmp("app.log.1"), in_tmp("app.log")};
    for (int f = 0; f < 4; f++) {
        char *got = slurp(files[f], NULL);
        char expect[1001] = "";
        for (int i = 0; i < 10; i++)
            strcat(expect, rs[60 + f * 10 + i]->line);
        cr_assert_str_eq(got, expect, "%s", files[f]);
        free(got);
    }
    free_recs(rs, 100);
}

Test(file_sink, rotate_bytes_takes_a_size_with_a_unit)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("app.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, "rotate_bytes", "1K",
                         "keep", "1", NULL),
                 0, "%s", err.message);
    /* 100-byte records: 10 fit in 1024 bytes, the 11th starts app.log */
    sluice_record *rs[11];
    for (int i = 0; i < 11; i++)
        rs[i] = rec(0, "r%03d %094d\n", i, 0);
    write_ok(st, rs, 11);
    api()->close(st);
    size_t len;
    free(slurp(in_tmp("app.log.1"), &len));
    cr_assert_eq(len, 1000, "app.log.1 holds %zu bytes", len);
    free(slurp(path, &len));
    cr_assert_eq(len, 100);
    free_recs(rs, 11);
}

Test(file_sink, every_bad_value_of_a_section_is_reported_at_once)
{
    void *st;
    sluice_error err;
    cr_assert_neq(open_kv(&st, &err, "path", in_tmp("app.log"), "mode", "999",
                          "keep", "010", "rotate", "weekly", NULL),
                  0);
    cr_assert(strstr(err.message, "test.ini:11: sink 'f': option 'mode': "
                                  "'999' is not an octal number"),
              "%s", err.message);
    cr_assert(strstr(err.message, "test.ini:12: sink 'f': option 'keep': "
                                  "'010' is not a decimal integer: leading "
                                  "zeros are not allowed"),
              "%s", err.message);
    cr_assert(strstr(err.message, "test.ini:13: sink 'f': option 'rotate': "
                                  "'weekly' is not one of none, daily, hourly"),
              "%s", err.message);
}

Test(file_sink, size_rotation_a_big_record_gets_a_file_of_its_own)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("app.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, "rotate_bytes", "100",
                         "keep", "0", NULL),
                 0, "%s", err.message);
    sluice_record *rs[3] = {rec(0, "small\n"), rec(0, "%0299d\n", 0),
                            rec(0, "after\n")};
    write_ok(st, rs, 2);
    cr_assert_eq(count_lines(path), 1, "the big record was not kept whole");
    write_ok(st, rs + 2, 1);
    api()->close(st);
    free_recs(rs, 3);
    char *names = listing();
    cr_assert_str_eq(names, "app.log", "keep = 0 keeps no old file");
    free(names);
    char *got = slurp(path, NULL);
    cr_assert_str_eq(got, "after\n");
    free(got);
}

static struct {
    pthread_mutex_t lock; /* the runtime's serialisation of calls */
    void *st;
    atomic_int progress;
    int failed;
} shared = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    for (int q = 0; q < PER_WRITER;) {
        int n = 1 + (q * 13 + w * 5) % 50; /* batches of 1..50 */
        if (q + n > PER_WRITER)
            n = PER_WRITER - q;
        sluice_record *rs[50];
        for (int i = 0; i < n; i++)
            rs[i] = numbered_rec(w, q + i);
        size_t done = 0;
        sluice_error err = {{0}};
        pthread_mutex_lock(&shared.lock);
        int rc = shared.st ? api()->write(shared.st,
                                          (const sluice_record *const *)rs,
                                          (size_t)n, &done, &err)
                           : -1;
        pthread_mutex_unlock(&shared.lock);
        free_recs(rs, (size_t)n);
        if (rc != 0 || done != (size_t)n) {
            shared.failed = 1;
            return NULL;
        }
        q += n;
        atomic_fetch_add(&shared.progress, n);
    }
    return NULL;
}

Test(file_sink, size_rotation_under_load_loses_and_splits_nothing)
{
    sluice_error err;
    const char *path = in_tmp("load.log");
    cr_assert_eq(open_kv(&shared.st, &err, "path", path, "rotate_bytes",
                         "16384", "keep", "1000", NULL),
                 0, "%s", err.message);
    pthread_t t[WRITERS];
    for (int w = 0; w < WRITERS; w++)
        pthread_create(&t[w], NULL, writer, (void *)(intptr_t)w);
    for (int w = 0; w < WRITERS; w++)
        pthread_join(t[w], NULL);
    cr_assert(!shared.failed, "a write failed");
    api()->close(shared.st);

    int files = 0;
    account_file(path);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_leq(sb.st_size, 16384);
    for (int i = 1;; i++) {
        const char *p = in_tmp("load.log.%d", i);
        if (!exists(p))
            break;
        cr_assert_eq(stat(p, &sb), 0);
        cr_assert_leq(sb.st_size, 16384, "%s is %lld bytes", p,
                      (long long)sb.st_size);
        cr_assert_gt(sb.st_size, 16384 - 100, "%s rotated early", p);
        account_file(p);
        files++;
    }
    cr_assert_gt(files, 10, "only %d rotations", files);
    assert_all_seen(WRITERS, PER_WRITER);
}

/* ---- time rotation ----------------------------------------------------- */

Test(file_sink, daily_rotation_names_files_by_day_and_keeps_keep)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("app.log");
    /* unrelated neighbours that must survive pruning */
    const char *others[] = {"app.log.1", "app.notadate.log",
                            "other.2026-01-01.log", "app.2026-01-01.txt"};
    for (int i = 0; i < 4; i++)
        fclose(fopen(in_tmp("%s", others[i]), "w"));

    cr_assert_eq(open_kv(&st, &err, "path", path, "rotate", "daily", "keep",
                         "2", NULL),
                 0, "%s", err.message);
    /* one batch crossing six days, three records a day */
    sluice_record *rs[18];
    for (int i = 0; i < 18; i++)
        rs[i] = rec(day(i / 3, 3600 * 7 * (i % 3)), "day %d rec %d\n", i / 3,
                    i % 3);
    write_ok(st, rs, 18);
    /* a late record of day 4 goes into the live day-5 file */
    write_line(st, day(4, 100), "late\n");
    api()->close(st);

    char *names = listing();
    cr_assert_str_eq(names,
                     "app.2026-01-01.txt app.2026-11-23.log "
                     "app.2026-11-24.log app.2026-11-25.log app.log.1 "
                     "app.notadate.log other.2026-01-01.log");
    free(names);
    cr_assert(!exists(path), "the undated path was created");
    char *got = slurp(in_tmp("app.2026-11-23.log"), NULL);
    cr_assert_str_eq(got, "day 3 rec 0\nday 3 rec 1\nday 3 rec 2\n");
    free(got);
    got = slurp(in_tmp("app.2026-11-25.log"), NULL);
    cr_assert_str_eq(got, "day 5 rec 0\nday 5 rec 1\nday 5 rec 2\nlate\n");
    free(got);
    free_recs(rs, 18);
}

Test(file_sink, daily_rotation_prunes_after_a_restart_and_a_quiet_spell)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("app.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, "rotate", "daily", "keep",
                         "5", NULL),
                 0, "%s", err.message);
    for (int d = 0; d < 4; d++)
        write_line(st, day(d, 60), "before restart\n");
    api()->close(st);
    /* files left by an older run with a longer keep */
    fclose(fopen(in_tmp("app.2026-10-01.log"), "w"));
    fclose(fopen(in_tmp("app.2026-10-02.log"), "w"));

    /* restart with keep = 1: pruned at open already, keeping the newest
     * (which the next record may continue) and one more */
    cr_assert_eq(open_kv(&st, &err, "path", path, "rotate", "daily", "keep",
                         "1", NULL),
                 0, "%s", err.message);
    char *names = listing();
    cr_assert_str_eq(names, "app.2026-11-22.log app.2026-11-23.log");
    free(names);

    /* the same day continues its file */
    write_line(st, day(3, 120), "after restart\n");
    char *got = slurp(in_tmp("app.2026-11-23.log"), NULL);
    cr_assert_str_eq(got, "before restart\nafter restart\n");
    free(got);

    /* a week of silence, then a record */
    write_line(st, day(10, 0), "a week later\n");
    api()->close(st);
    names = listing();
    cr_assert_str_eq(names, "app.2026-11-23.log app.2026-11-30.log");
    free(names);
}

Test(file_sink, hourly_rotation_names_files_by_hour)
{
    void *st;
    sluice_error err;
    const char *path = in_tmp("trace");
    cr_assert_eq(open_kv(&st, &err, "path", path, "rotate", "hourly", "keep",
                         "2", NULL),
                 0, "%s", err.message);
    for (int h = 0; h < 5; h++)
        write_line(st, day(0, 0) + (h + 20) * HOUR_NS, "tick\n");
    api()->close(st);
    char *names = listing();
    cr_assert_str_eq(names, "trace.2026-11-20T22 trace.2026-11-20T23 "
                            "trace.2026-11-21T00");
    free(names);
}

/* ---- reopen (logrotate) ------------------------------------------------ */

Test(file_sink, logrotate_rename_and_reopen_loses_and_doubles_nothing)
{
    sluice_error err;
    const char *path = in_tmp("app.log");
    cr_assert_eq(open_kv(&shared.st, &err, "path", path, NULL), 0, "%s",
                 err.message);
    pthread_t t[2];
    for (int w = 0; w < 2; w++)
        pthread_create(&t[w], NULL, writer, (void *)(intptr_t)w);
    /* play logrotate three times while the writers go on: move the file
     * away (outside the sink's lock, as another process would), then ask
     * for a reopen (under it, as the runtime would) */
    for (int r = 1; r <= 3; r++) {
        while (atomic_load(&shared.progress) < r * 1000 && !shared.failed)
            sched_yield();
        cr_assert_eq(rename(path, in_tmp("app.log.rotated%d", r)), 0);
        pthread_mutex_lock(&shared.lock);
        int rc = api()->reopen(shared.st, &err);
        pthread_mutex_unlock(&shared.lock);
        cr_assert_eq(rc, 0, "reopen: %s", err.message);
    }
    for (int w = 0; w < 2; w++)
        pthread_join(t[w], NULL);
    cr_assert(!shared.failed, "a write failed");
    /* keep writing after the last reopen: it lands in the new file */
    sluice_record *last = numbered_rec(2, 0);
    write_ok(shared.st, &last, 1);
    free_recs(&last, 1);
    api()->close(shared.st);

    account_file(path);
    for (int r = 1; r <= 3; r++)
        account_file(in_tmp("app.log.rotated%d", r));
    assert_all_seen(2, PER_WRITER);
    cr_assert_eq(seen[2][0], 1);
    char *tail = slurp(path, NULL);
    cr_assert(strstr(tail, "w2 n0 "), "the new file did not get the record");
    free(tail);
}

Test(file_sink, a_failed_reopen_is_reported_and_recovers)
{
    void *st;
    sluice_error err;
    cr_assert_eq(mkdir(in_tmp("logs"), 0755), 0);
    const char *path = in_tmp("logs/app.log");
    cr_assert_eq(open_kv(&st, &err, "path", path, NULL), 0, "%s", err.message);
    write_line(st, 0, "one\n");
    cr_assert_eq(rename(in_tmp("logs"), in_tmp("moved")), 0);
    cr_assert_neq(api()->reopen(st, &err), 0);
    cr_assert(strstr(err.message, path), "%s", err.message);

    sluice_record *r = rec(0, "two\n");
    size_t w = 7;
    cr_assert_neq(api()->write(st, (const sluice_record *const *)&r, 1, &w,
                               &err),
                  0);
    cr_assert_eq(w, 0);
    cr_assert(strstr(err.message, path), "%s", err.message);

    cr_assert_eq(mkdir(in_tmp("logs"), 0755), 0);
    write_ok(st, &r, 1); /* offered again: now it goes through */
    free_recs(&r, 1);
    api()->close(st);
    char *got = slurp(path, NULL);
    cr_assert_str_eq(got, "two\n");
    free(got);
    got = slurp(in_tmp("moved/app.log"), NULL);
    cr_assert_str_eq(got, "one\n");
    free(got);
}

/* ---- FIFOs: a reader that leaves --------------------------------------- */

/* Open a reader of fifo (so the sink can open it), blocking from then on. */
static int fifo_reader(const char *fifo)
{
    int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    cr_assert(fd >= 0, "open %s: %s", fifo, strerror(errno));
    int fl = fcntl(fd, F_GETFL);
    cr_assert_eq(fcntl(fd, F_SETFL, fl & ~O_NONBLOCK), 0);
    return fd;
}

/* A reader thread: reads up to limit bytes (0: until end of file), then
 * closes its end, leaving whatever else is in the pipe. */
typedef struct fifo_take {
    int fd;
    size_t limit;
    char *got;
    size_t len;
} fifo_take;

static void *take_then_leave(void *arg)
{
    fifo_take *t = arg;
    size_t cap = 1 << 16;
    t->got = malloc(cap + 1);
    t->len = 0;
    for (;;) {
        size_t want = cap - t->len;
        if (t->limit && t->limit - t->len < want)
            want = t->limit - t->len;
        if (want == 0) {
            if (t->limit)
                break;
            cap *= 2;
            t->got = realloc(t->got, cap + 1);
            continue;
        }
        ssize_t r = read(t->fd, t->got + t->len, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        t->len += (size_t)r;
    }
    t->got[t->len] = '\0';
    close(t->fd);
    return NULL;
}

/* One write() of the sink, and what it said. */
typedef struct sink_call {
    void *st;
    const sluice_record *const *batch;
    size_t n, written;
    int rc;
    sluice_error err;
} sink_call;

static void *call_write(void *arg)
{
    sink_call *c = arg;
    c->rc = api()->write(c->st, c->batch, c->n, &c->written, &c->err);
    return NULL;
}

Test(file_sink, a_fifo_whose_reader_left_fails_the_write_and_the_process_lives)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE the sink let through kills us */
    const char *fifo = in_tmp("fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int reader = fifo_reader(fifo);
    void *st;
    sluice_error err;
    cr_assert_eq(open_kv(&st, &err, "path", fifo, NULL), 0, "%s", err.message);
    close(reader); /* the reader leaves */

    sluice_record *rs[3] = {rec(0, "one\n"), rec(0, "two\n"), rec(0, "three\n")};
    size_t w = 99;
    cr_assert_neq(api()->write(st, (const sluice_record *const *)rs, 3, &w,
                               &err),
                  0, "a write into a FIFO without a reader succeeded");
    cr_assert_eq(w, 0);
    cr_assert(strstr(err.message, fifo) && strstr(err.message, strerror(EPIPE)),
              "%s", err.message);

    /* a reader again: the records offered again arrive, whole and once */
    reader = fifo_reader(fifo);
    write_ok(st, rs, 3);
    api()->close(st);
    fifo_take all = {reader, 0, NULL, 0};
    take_then_leave(&all);
    cr_assert_str_eq(all.got, "one\ntwo\nthree\n");
    free(all.got);
    free_recs(rs, 3);
}

Test(file_sink, what_a_departing_reader_left_in_the_fifo_reaches_the_next_once)
{
    signal(SIGPIPE, SIG_DFL);
    const char *fifo = in_tmp("fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int reader = fifo_reader(fifo);
    void *st;
    sluice_error err;
    cr_assert_eq(open_kv(&st, &err, "path", fifo, NULL), 0, "%s", err.message);
    sluice_record *a[2] = {rec(0, "a1\n"), rec(0, "a2\n")};
    write_ok(st, a, 2); /* in the pipe: counted as written */
    close(reader);      /* ... and its reader leaves without reading them */

    sluice_record *b = rec(0, "b1\n");
    size_t w = 99;
    cr_assert_neq(api()->write(st, (const sluice_record *const *)&b, 1, &w,
                               &err),
                  0);
    cr_assert_eq(w, 0);
    /* SIGHUP while nobody reads: the FIFO is kept, and with it the pipe's
     * contents (closing the last writer would throw a1 and a2 away) */
    cr_assert_eq(api()->reopen(st, &err), 0, "reopen: %s", err.message);

    reader = fifo_reader(fifo);
    write_ok(st, &b, 1);
    api()->close(st);
    fifo_take all = {reader, 0, NULL, 0};
    take_then_leave(&all);
    cr_assert_str_eq(all.got, "a1\na2\nb1\n");
    free(all.got);
    free_recs(a, 2);
    free_recs(&b, 1);
}

/* The pipe of fifo (through a descriptor of it) holds one page only. */
static void shrink_pipe(int fd)
{
    cr_assert_eq(fcntl(fd, F_SETPIPE_SZ, 4096), 4096, "F_SETPIPE_SZ: %s",
                 strerror(errno));
}

Test(file_sink, records_up_to_pipe_buf_are_never_torn_by_a_departing_reader)
{
    signal(SIGPIPE, SIG_DFL);
    const char *fifo = in_tmp("fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int reader = fifo_reader(fifo);
    shrink_pipe(reader);
    void *st;
    sluice_error err;
    cr_assert_eq(open_kv(&st, &err, "path", fifo, NULL), 0, "%s", err.message);

    /* 100 records of 100 bytes; the reader takes 50 and leaves while the
     * other 50 cannot all be in the one-page pipe: the write fails */
    enum { N = 100 };
    sluice_record *rs[N];
    char expect[N * 100 + 1] = "";
    for (int i = 0; i < N; i++) {
        rs[i] = rec(0, "record %03d %088d\n", i, 0);
        cr_assert_eq(rs[i]->line_len, 100);
        strcat(expect, rs[i]->line);
    }
    fifo_take first = {reader, 50 * 100, NULL, 0};
    pthread_t leaver;
    cr_assert_eq(pthread_create(&leaver, NULL, take_then_leave, &first), 0);
    sink_call call = {st, (const sluice_record *const *)rs, N, 99, 0, {{0}}};
    call_write(&call);
    pthread_join(leaver, NULL);
    cr_assert_neq(call.rc, 0, "the reader left, yet all %d were written", N);
    cr_assert(strstr(call.err.message, strerror(EPIPE)), "%s",
              call.err.message);
    cr_assert_lt(call.written, N);

    /* the next reader gets what the kernel took, then the retry */
    fifo_take rest = {fifo_reader(fifo), 0, NULL, 0};
    pthread_t drainer;
    cr_assert_eq(pthread_create(&drainer, NULL, take_then_leave, &rest), 0);
    write_ok(st, rs + call.written, N - call.written);
    api()->close(st); /* end of file for the reader */
    pthread_join(drainer, NULL);

    /* every record exactly once, each on a line of its own: none was cut
     * (a count beyond what the kernel took would lose records, one short
     * of it would repeat them) */
    size_t total = first.len + rest.len;
    char *both = malloc(total + 1);
    memcpy(both, first.got, first.len);
    memcpy(both + first.len, rest.got, rest.len + 1);
    cr_assert_str_eq(both, expect);
    free(both);
    free(first.got);
    free(rest.got);
    free_recs(rs, N);
}

Test(file_sink, a_record_torn_by_a_departing_reader_is_ended_and_written_whole)
{
    signal(SIGPIPE, SIG_DFL);
    const char *fifo = in_tmp("fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int reader = fifo_reader(fifo);
    shrink_pipe(reader);
    void *st;
    sluice_error err;
    cr_assert_eq(open_kv(&st, &err, "path", fifo, NULL), 0, "%s", err.message);

    /* A record larger than PIPE_BUF cannot be written atomically: the
     * reader leaves after 5000 bytes, when at most 5000 + 4096 of its
     * 12289 can have gone in. */
    enum { BIG = 3 * 4096 };
    static char body[BIG + 1];
    memset(body, 'x', BIG);
    sluice_record *rs[2] = {rec(0, "small\n"), rec(0, "%s\n", body)};
    fifo_take first = {reader, 5000, NULL, 0};
    pthread_t leaver;
    cr_assert_eq(pthread_create(&leaver, NULL, take_then_leave, &first), 0);
    sink_call call = {st, (const sluice_record *const *)rs, 2, 99, 0, {{0}}};
    call_write(&call);
    pthread_join(leaver, NULL);
    cr_assert_neq(call.rc, 0);
    cr_assert_eq(call.written, 1, "the torn record was counted as written");
    cr_assert(strstr(call.err.message, strerror(EPIPE)), "%s",
              call.err.message);

    fifo_take rest = {fifo_reader(fifo), 0, NULL, 0};
    pthread_t drainer;
    cr_assert_eq(pthread_create(&drainer, NULL, take_then_leave, &rest), 0);
    write_ok(st, rs + 1, 1); /* offered again, whole */
    api()->close(st);
    pthread_join(drainer, NULL);

    /* "small", the torn part ended by a newline, then the record whole on
     * its own line (before: the retry was glued to the torn part) */
    size_t total = first.len + rest.len;
    char *both = malloc(total + 1);
    memcpy(both, first.got, first.len);
    memcpy(both + first.len, rest.got, rest.len + 1);
    cr_assert(strncmp(both, "small\n", 6) == 0, "%.20s", both);
    size_t torn = strspn(both + 6, "x");
    cr_assert(torn > 0 && torn < BIG, "torn part of %zu bytes", torn);
    cr_assert_eq(both[6 + torn], '\n', "the torn part's line is not ended");
    const char *whole = both + 6 + torn + 1;
    cr_assert_eq(strlen(whole), (size_t)BIG + 1, "after the torn part: %zu "
                 "bytes, want the record's %d", strlen(whole), BIG + 1);
    cr_assert_eq(strspn(whole, "x"), (size_t)BIG);
    cr_assert_eq(whole[BIG], '\n');
    free(both);
    free(first.got);
    free(rest.got);
    free_recs(rs, 2);
}
