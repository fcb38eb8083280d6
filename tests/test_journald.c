/*
 * test_journald.c -- the journald sink, loaded from the built journald.so,
 * talking to a datagram socket this test owns in place of journald. The
 * test parses the journal's native protocol itself (both the KEY=value and
 * the length-prefixed binary form) and checks each field, the memfd path
 * for entries too large for a datagram, and that a missing socket, or a
 * journal that went away, is a write error the runtime can retry, not a
 * crash and not a SIGPIPE.
 */
#include <criterion/criterion.h>

#include "plugin_fixture.h"

#include <sluice/sink.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef JOURNALD_PLUGIN
#error "JOURNALD_PLUGIN must name the built journald.so"
#endif

static void *handle;
static const sluice_sink_api *api;
static char dir[64];
static char sock_path[128];
static int rx = -1;

static void load_plugin(void)
{
    api = plugin_load(JOURNALD_PLUGIN, "journald", &handle);
}

static int bind_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0, "bind: %s",
                 strerror(errno));
    struct timeval tv = {5, 0}; /* a missing datagram fails, not hangs */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void setup(void)
{
    load_plugin();
    snprintf(dir, sizeof dir, "/tmp/sluice-jd-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sock_path, sizeof sock_path, "%s/socket", dir);
    rx = bind_socket(sock_path);
}

static void teardown(void)
{
    if (rx >= 0)
        close(rx);
    rx = -1;
    unlink(sock_path);
    rmdir(dir);
    if (handle)
        dlclose(handle);
    handle = NULL;
}

/* ---- options ---- */

static void *open_sink(optset *s)
{
    void *st = plugin_open(api, s);
    cr_assert_not_null(st);
    return st;
}

/* ---- the native protocol, parsed ---- */

#define MAX_FIELDS 64
typedef struct jfield {
    char name[80];
    char *value;
    size_t len;
} jfield;

typedef struct jentry {
    jfield f[MAX_FIELDS];
    size_t n;
    int via_memfd;
} jentry;

static void entry_free(jentry *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->f[i].value);
    e->n = 0;
}

static void parse_native(const char *p, size_t len, jentry *e)
{
    size_t i = 0;
    while (i < len) {
        cr_assert_lt(e->n, MAX_FIELDS);
        jfield *f = &e->f[e->n];
        size_t start = i;
        while (i < len && p[i] != '=' && p[i] != '\n')
            i++;
        cr_assert_lt(i, len, "field name runs off the end");
        size_t nl = i - start;
        cr_assert(nl > 0 && nl < sizeof f->name, "bad name length %zu", nl);
        memcpy(f->name, p + start, nl);
        f->name[nl] = '\0';
        if (p[i] == '=') {
            i++;
            size_t vs = i;
            while (i < len && p[i] != '\n')
                i++;
            cr_assert_lt(i, len, "%s: value without newline", f->name);
            f->len = i - vs;
            f->value = malloc(f->len + 1);
            memcpy(f->value, p + vs, f->len);
            i++;
        } else {
            i++;
            cr_assert_leq(i + 8, len, "%s: no length", f->name);
            uint64_t l = 0;
            for (int b = 0; b < 8; b++)
                l |= (uint64_t)(unsigned char)p[i + b] << (8 * b);
            i += 8;
            cr_assert_leq(l, len - i, "%s: length %llu past the end", f->name,
                          (unsigned long long)l);
            f->len = (size_t)l;
            f->value = malloc(f->len + 1);
            memcpy(f->value, p + i, f->len);
            i += f->len;
            cr_assert(i < len && p[i] == '\n', "%s: no newline after value",
                      f->name);
            i++;
        }
        f->value[f->len] = '\0';
        e->n++;
    }
}

/* Receive one entry: a datagram, or an empty one passing a memfd. */
static void receive(jentry *e)
{
    memset(e, 0, sizeof *e);
    char peek;
    ssize_t size = recv(rx, &peek, 1, MSG_PEEK | MSG_TRUNC);
    cr_assert(size >= 0, "no datagram arrived: %s", strerror(errno));
    char *buf = malloc((size_t)size + 1);
    struct iovec iov = {buf, (size_t)size + 1};
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int) * 4)];
    } ctl;
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.b;
    mh.msg_controllen = sizeof ctl.b;
    ssize_t r = recvmsg(rx, &mh, MSG_CMSG_CLOEXEC);
    cr_assert_eq(r, size);
    int fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            cr_assert_eq(c->cmsg_len, CMSG_LEN(sizeof(int)),
                         "exactly one descriptor is passed");
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
        }
    if (fd >= 0) {
        cr_assert_eq(r, 0, "a memfd comes in an empty datagram");
        struct stat st;
        cr_assert_eq(fstat(fd, &st), 0);
        int seals = fcntl(fd, F_GET_SEALS);
        cr_assert(seals >= 0 && (seals & F_SEAL_WRITE) && (seals & F_SEAL_SHRINK),
                  "the memfd is sealed (journald insists)");
        free(buf);
        buf = malloc((size_t)st.st_size + 1);
        ssize_t got = pread(fd, buf, (size_t)st.st_size, 0);
        cr_assert_eq(got, st.st_size);
        close(fd);
        parse_native(buf, (size_t)got, e);
        e->via_memfd = 1;
    } else {
        parse_native(buf, (size_t)r, e);
    }
    free(buf);
}

static const jfield *field(const jentry *e, const char *name)
{
    const jfield *hit = NULL;
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->f[i].name, name) == 0) {
            cr_assert_null(hit, "field %s appears twice", name);
            hit = &e->f[i];
        }
    return hit;
}

static void expect(const jentry *e, const char *name, const char *value)
{
    const jfield *f = field(e, name);
    cr_assert_not_null(f, "field %s missing", name);
    cr_assert_eq(f->len, strlen(value), "%s: length %zu, want %zu", name,
                 f->len, strlen(value));
    cr_assert(memcmp(f->value, value, f->len) == 0, "%s = '%s', want '%s'",
              name, f->value, value);
}

static void expect_valid_names(const jentry *e)
{
    for (size_t i = 0; i < e->n; i++) {
        const char *n = e->f[i].name;
        cr_assert(n[0] != '_' && !(n[0] >= '0' && n[0] <= '9'),
                  "field name '%s' starts with '_' or a digit", n);
        cr_assert_leq(strlen(n), 64, "field name '%s' too long", n);
        for (const char *p = n; *p; p++)
            cr_assert((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                          *p == '_',
                      "field name '%s' has '%c'", n, *p);
    }
}

static sluice_record make_record(sluice_level lvl, const char *msg)
{
    sluice_record r = {0};
    r.time_ns = 1700000000123456789LL;
    r.level = lvl;
    r.logger = "app.db";
    r.message = msg;
    r.message_len = strlen(msg);
    r.line = "rendered\n";
    r.line_len = 9;
    r.file = "src/db.c";
    r.function = "db_open";
    r.source_line = 42;
    r.thread_id = 4242;
    r.sequence = 1;
    return r;
}

static void write_ok(void *st, const sluice_record *const *b, size_t n)
{
    size_t written = 99;
    sluice_error err = {{0}};
    int rc = api->write(st, b, n, &written, &err);
    cr_assert_eq(rc, 0, "write: %s", err.message);
    cr_assert_eq(written, n);
}

TestSuite(journald, .init = setup, .fini = teardown, .timeout = 60);

Test(journald, native_fields_multiline_message_and_odd_names)
{
    optset os;
    optset_init(&os, "jd");
    optset_add(&os, "socket", sock_path);
    void *st = open_sink(&os);

    const sluice_field fields[] = {
        {"user id", 7, "42", 2},
        {"_secret", 7, "x", 1},
        {"9lives", 6, "cat", 3},
        {"message", 7, "not the real one", 16},
        {"sql", 3, "SELECT 1\nFROM t", 15},
        {"k\xc3\xa9y.with-dash", 14, "v", 1},
        {"__", 2, "empty name", 10},
    };
    sluice_record r = make_record(SLUICE_LEVEL_ERROR,
                                  "first line\nsecond line\n\tthird=3");
    r.fields = fields;
    r.field_count = sizeof fields / sizeof fields[0];
    const sluice_record *b[] = {&r};
    write_ok(st, b, 1);

    jentry e;
    receive(&e);
    cr_assert_eq(e.via_memfd, 0);
    expect_valid_names(&e);
    expect(&e, "MESSAGE", "first line\nsecond line\n\tthird=3");
    expect(&e, "PRIORITY", "3");
    expect(&e, "CODE_FILE", "src/db.c");
    expect(&e, "CODE_LINE", "42");
    expect(&e, "CODE_FUNC", "db_open");
    expect(&e, "SYSLOG_IDENTIFIER", "app.db");
    expect(&e, "SLUICE_LOGGER", "app.db");
    expect(&e, "TID", "4242");
    expect(&e, "USER_ID", "42");
    expect(&e, "SECRET", "x");
    expect(&e, "FIELD_9LIVES", "cat");
    expect(&e, "FIELD_MESSAGE", "not the real one");
    expect(&e, "SQL", "SELECT 1\nFROM t");
    expect(&e, "K__Y_WITH_DASH", "v");
    expect(&e, "FIELD_", "empty name");
    entry_free(&e);
    api->close(st);
}

Test(journald, every_level_maps_to_its_syslog_priority_in_order)
{
    optset os;
    optset_init(&os, "jd");
    optset_add(&os, "socket", sock_path);
    optset_add(&os, "identifier", "myapp");
    void *st = open_sink(&os);

    static const char *const want[] = {"7", "7", "6", "4", "3", "2"};
    sluice_record rs[6];
    const sluice_record *b[6];
    char msgs[6][32];
    for (int i = 0; i < 6; i++) {
        snprintf(msgs[i], sizeof msgs[i], "record %d", i);
        rs[i] = make_record((sluice_level)i, msgs[i]);
        rs[i].file = NULL;
        rs[i].function = NULL;
        rs[i].source_line = 0;
        b[i] = &rs[i];
    }
    write_ok(st, b, 6);
    for (int i = 0; i < 6; i++) {
        jentry e;
        receive(&e);
        expect(&e, "MESSAGE", msgs[i]);
        expect(&e, "PRIORITY", want[i]);
        expect(&e, "SYSLOG_IDENTIFIER", "myapp");
        expect(&e, "SLUICE_LOGGER", "app.db");
        cr_assert_null(field(&e, "CODE_FILE"), "no call site, no CODE_FILE");
        cr_assert_null(field(&e, "CODE_LINE"));
        entry_free(&e);
    }
    api->close(st);
}

static size_t too_large_size(void)
{
    /* The kernel caps SO_SNDBUF at net.core.wmem_max and doubles it; the
     * sink asks for 8 MiB. Anything past that cannot be one datagram. */
    long long wmax = 212992;
    FILE *f = fopen("/proc/sys/net/core/wmem_max", "r");
    if (f) {
        if (fscanf(f, "%lld", &wmax) != 1)
            wmax = 212992;
        fclose(f);
    }
    if (wmax > 8 * 1024 * 1024)
        wmax = 8 * 1024 * 1024;
    return (size_t)wmax * 2 + 65536;
}

Test(journald, too_large_entry_goes_through_a_sealed_memfd)
{
    optset os;
    optset_init(&os, "jd");
    optset_add(&os, "socket", sock_path);
    void *st = open_sink(&os);

    size_t big = too_large_size();
    char *msg = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        msg[i] = (char)('a' + i % 26);
    msg[big / 2] = '\n'; /* the binary form, inside the memfd */
    msg[big] = '\0';
    sluice_record r1 = make_record(SLUICE_LEVEL_WARN, msg);
    sluice_record r2 = make_record(SLUICE_LEVEL_INFO, "small one after");
    const sluice_record *b[] = {&r1, &r2};
    write_ok(st, b, 2);

    jentry e;
    receive(&e);
    cr_assert_eq(e.via_memfd, 1, "a %zu-byte entry is passed in a memfd", big);
    expect(&e, "MESSAGE", msg);
    expect(&e, "PRIORITY", "4");
    expect(&e, "CODE_LINE", "42");
    entry_free(&e);
    receive(&e);
    cr_assert_eq(e.via_memfd, 0);
    expect(&e, "MESSAGE", "small one after");
    entry_free(&e);
    free(msg);
    api->close(st);
}

Test(journald, missing_socket_is_a_write_error_then_recovers)
{
    char gone[160];
    snprintf(gone, sizeof gone, "%s/later", dir);
    optset os;
    optset_init(&os, "jd");
    optset_add(&os, "socket", gone);
    void *st = open_sink(&os); /* open does not need the journal up */

    sluice_record r1 = make_record(SLUICE_LEVEL_INFO, "one");
    sluice_record r2 = make_record(SLUICE_LEVEL_INFO, "two");
    const sluice_record *b[] = {&r1, &r2};
    size_t written = 99;
    sluice_error err = {{0}};
    cr_assert_neq(api->write(st, b, 2, &written, &err), 0);
    cr_assert_eq(written, 0);
    cr_assert(strstr(err.message, gone) != NULL,
              "the error names the socket: %s", err.message);

    /* journald comes (back) up: the runtime's retry goes through */
    int later = bind_socket(gone);
    write_ok(st, b, 2);
    int saved = rx;
    rx = later;
    jentry e;
    receive(&e);
    expect(&e, "MESSAGE", "one");
    entry_free(&e);
    receive(&e);
    expect(&e, "MESSAGE", "two");
    entry_free(&e);
    rx = saved;
    close(later);
    unlink(gone);
    api->close(st);
}

Test(journald, a_journal_that_went_away_is_a_write_error_not_death)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE the sink let through kills us */
    char path[160];
    snprintf(path, sizeof path, "%s/going", dir);
    int journal = bind_socket(path);
    optset os;
    optset_init(&os, "jd");
    optset_add(&os, "socket", path);
    void *st = open_sink(&os);
    sluice_record r = make_record(SLUICE_LEVEL_INFO, "one");
    const sluice_record *b[] = {&r};
    write_ok(st, b, 1);
    close(journal); /* journald stops; its socket file stays */

    size_t written = 99;
    sluice_error err = {{0}};
    cr_assert_neq(api->write(st, b, 1, &written, &err), 0);
    cr_assert_eq(written, 0);
    cr_assert(strstr(err.message, path) &&
                  strstr(err.message, strerror(ECONNREFUSED)),
              "%s", err.message);
    unlink(path);
    api->close(st);
}

static void expect_refused(optset *os, const char *want)
{
    plugin_expect_refused(api, os, want);
}

Test(journald, bad_options_name_file_and_line)
{
    optset os;
    optset_init(&os, "jd");
    optset_add(&os, "timeout_ms", "soon");
    expect_refused(&os, "test.ini:10: sink 'jd': option 'timeout_ms'");

    optset_init(&os, "jd");
    optset_add(&os, "socket", sock_path);
    optset_add(&os, "use_libsystemd", "maybe");
    expect_refused(&os, "test.ini:11: sink 'jd': option 'use_libsystemd'");

    optset_init(&os, "jd");
    optset_add(&os, "use_libsystemd", "true");
    optset_add(&os, "socket", sock_path);
    expect_refused(&os, "test.ini:11: sink 'jd': option 'socket'");

    char longpath[200];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    optset_init(&os, "jd");
    optset_add(&os, "socket", longpath);
    expect_refused(&os, "test.ini:10: sink 'jd': option 'socket'");

    optset_init(&os, "jd");
    optset_add(&os, "identifier", "two\nlines");
    expect_refused(&os, "test.ini:10: sink 'jd': option 'identifier'");

    optset_init(&os, "jd");
    optset_add(&os, "identifier", "");
    expect_refused(&os, "test.ini:10: sink 'jd': option 'identifier'");
}
