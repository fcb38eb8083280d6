/*
 * test_syslog.c -- the syslog sink against a real rsyslogd that each test
 * starts itself (foreground, own work directory, loopback ports picked free,
 * no imuxsock: the system's /dev/log is never touched; see
 * rsyslog_fixture.h, shared with test_sinks_e2e.c), or against collectors
 * of its own where a test must script what the collector reads and how it
 * leaves. The plugin is loaded by full path and driven directly
 * (open/write/close); where the runtime's supervisor would retry a failed
 * write, the tests play that part.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <sluice/sink.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYSLOG_PLUGIN
#error "SYSLOG_PLUGIN must name the built syslog.so"
#endif

#include "plugin_fixture.h"
#include "rsyslog_fixture.h"

/* ------------------------------------------------------------------ */
/* the plugin                                                          */

static const sluice_sink_api *api;
static void *plugin_handle;

static void load_plugin(void)
{
    plugin_handle = dlopen(SYSLOG_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(plugin_handle, "dlopen %s: %s", SYSLOG_PLUGIN,
                       dlerror());
    sluice_sink_entry_fn entry =
        (sluice_sink_entry_fn)dlsym(plugin_handle, SLUICE_SINK_ENTRY_SYMBOL);
    cr_assert_not_null(entry);
    api = entry();
    cr_assert_eq(api->abi_version, SLUICE_SINK_ABI_VERSION);
    cr_assert_str_eq(api->name, "syslog");
}

/* options as "key=value" strings; line i+2 of "test.ini" */
static sluice_option opt_items[32];
static sluice_options make_opts(const char *const *kv)
{
    static char store[32][256];
    size_t n = 0;
    for (; kv[n]; n++) {
        cr_assert_lt(n, 32);
        snprintf(store[n], sizeof store[n], "%s", kv[n]);
        char *eq = strchr(store[n], '=');
        cr_assert_not_null(eq);
        *eq = '\0';
        opt_items[n] = (sluice_option){store[n], eq + 1, (int)n + 2};
    }
    sluice_options o = {0};
    o.sink_name = "collector";
    o.source = "test.ini";
    o.items = opt_items;
    o.count = n;
    o.line = 1;
    return o;
}

static sluice_record make_rec(sluice_level lvl, const char *msg,
                              const sluice_field *f, size_t nf)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (sluice_record){
        .time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec,
        .level = lvl,
        .logger = "orders",
        .message = msg,
        .message_len = strlen(msg),
        .line = msg,
        .line_len = strlen(msg),
        .fields = f,
        .field_count = nf,
    };
}

/* write all of batch, or fail with the sink's error */
static void write_all(void *st, const sluice_record *const *b, size_t n)
{
    size_t written = 99;
    sluice_error err = {""};
    int rc = api->write(st, b, n, &written, &err);
    cr_assert_eq(rc, 0, "write: %s", err.message);
    cr_assert_eq(written, n);
}

/* ------------------------------------------------------------------ */
/* rsyslogd (tests/rsyslog_fixture.h)                                  */

static char tmpdir[64];

static void sleep_ms(int ms) { collector_sleep_ms(ms); }
static double now_s(void) { return collector_now_s(); }
static int free_port(int type, int *keep_fd)
{
    return collector_free_port(type, keep_fd);
}

/* read the lines of path (at most cap), returns the count */
static size_t read_lines(const char *path, char **lines, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    char *line = NULL;
    size_t sz = 0;
    ssize_t len;
    while ((len = getline(&line, &sz, f)) > 0) {
        if (line[len - 1] != '\n')
            break; /* partial: not yet flushed */
        line[len - 1] = '\0';
        if (n < cap)
            lines[n] = strdup(line);
        n++;
    }
    free(line);
    fclose(f);
    return n < cap ? n : cap;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
}

static size_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    int ch;
    while ((ch = getc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static void wait_lines(const char *path, size_t want, double secs)
{
    double until = now_s() + secs;
    while (count_lines(path) < want) {
        cr_assert_lt(now_s(), until, "%s: %zu lines after %.0f s, want %zu",
                     path, count_lines(path), secs, want);
        sleep_ms(20);
    }
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void suite_init(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE the sink let through kills us */
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sluice-syslog-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    load_plugin();
}

static void suite_fini(void)
{
    collector_kill_leftover();
    if (tmpdir[0])
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    /* syslog.so (and librelp with it) stays loaded until exit: LeakSanitizer
     * names the frames of a leak at exit, and tests/lsan.supp matches
     * librelp's known leak of a frame whose send failed by those names;
     * unloading it also took librelp's TLS libraries, after which the leak
     * check's tracer crashed at exit */
    (void)plugin_handle;
}

TestSuite(syslog, .init = suite_init, .fini = suite_fini, .timeout = 60);

static void *open_sink(const char *const *kv)
{
    sluice_options o = make_opts(kv);
    void *st = NULL;
    sluice_error err = {""};
    cr_assert_eq(plugin_call_open(api, &o, &st, &err), 0, "open: %s",
                 err.message);
    return st;
}

static const char *open_error(const char *const *kv)
{
    static sluice_error err;
    sluice_options o = make_opts(kv);
    void *st = NULL;
    err.message[0] = '\0';
    cr_assert_neq(plugin_call_open(api, &o, &st, &err), 0,
                  "open accepted bad options");
    return plugin_errors[0] ? plugin_errors : err.message;
}

/* ------------------------------------------------------------------ */
/* options                                                             */

Test(syslog, bad_options_name_file_line_and_key)
{
    const char *m;
    m = open_error((const char *const[]){"transport=smoke", NULL});
    cr_expect(strstr(m, "test.ini:2") && strstr(m, "'transport'"), "%s", m);
    m = open_error((const char *const[]){"transport=tcp", "host=bad host",
                                         NULL});
    cr_expect(strstr(m, "test.ini:3") && strstr(m, "'host'"), "%s", m);
    m = open_error((const char *const[]){"port=70000", NULL});
    cr_expect(strstr(m, "test.ini:2") && strstr(m, "'port'"), "%s", m);
    m = open_error((const char *const[]){"facility=local9", NULL});
    cr_expect(strstr(m, "'facility'"), "%s", m);
    m = open_error((const char *const[]){"format=json", NULL});
    cr_expect(strstr(m, "'format'"), "%s", m);
    m = open_error((const char *const[]){"msgid=has space", NULL});
    cr_expect(strstr(m, "'msgid'"), "%s", m);
    m = open_error((const char *const[]){"sd_id=fields", NULL});
    cr_expect(strstr(m, "'sd_id'"), "%s", m);
    m = open_error((const char *const[]){"socket=/tmp/x", NULL});
    cr_expect(strstr(m, "'socket'") && strstr(m, "unix"), "%s", m);
    m = open_error((const char *const[]){"transport=unix", "host=a", NULL});
    cr_expect(strstr(m, "'host'"), "%s", m);
    m = open_error((const char *const[]){"connect_timeout_ms=0", NULL});
    cr_expect(strstr(m, "'connect_timeout_ms'"), "%s", m);
    m = open_error((const char *const[]){"max_message_size=100000", NULL});
    cr_expect(strstr(m, "'max_message_size'"), "%s", m);
    cr_expect(sluice_option_spec_find_(api->options, "format"),
              "the plugin owns the format key");
    cr_expect(api->flags & SLUICE_SINK_NO_LINE,
              "the plugin renders its own messages: no line for it");
}

Test(syslog, every_mistake_of_the_section_is_reported_in_one_go)
{
    /* three values the runtime refuses, then (once they are fixed) three
     * rules across options that check() reports one by one */
    const char *m = open_error((const char *const[]){
        "port=010", "facility=local9", "max_message_size=64", NULL});
    cr_expect(strstr(m, "test.ini:2: sink 'collector': option 'port': '010' "
                        "is not a decimal integer: leading zeros"), "%s", m);
    cr_expect(strstr(m, "test.ini:3: sink 'collector': option 'facility': "
                        "'local9' is not one of kern, user"), "%s", m);
    cr_expect(strstr(m, "test.ini:4: sink 'collector': option "
                        "'max_message_size': 64 is out of range 480..16M"),
              "%s", m);
    m = open_error((const char *const[]){"transport=unix", "host=a",
                                         "port=1", "relp_window=5", NULL});
    cr_expect(strstr(m, "test.ini:3: sink 'collector': option 'host': only "
                        "applies to transport = udp, tcp or relp"), "%s", m);
    cr_expect(strstr(m, "test.ini:4: sink 'collector': option 'port': only "
                        "applies"), "%s", m);
    cr_expect(strstr(m, "test.ini:5: sink 'collector': option 'relp_window': "
                        "only applies to transport = relp"), "%s", m);
}

Test(syslog, open_succeeds_while_collector_is_down_and_write_fails_cleanly)
{
    int keep;
    int port = free_port(SOCK_STREAM, &keep);
    close(keep); /* nobody listens there now */
    char p[32];
    snprintf(p, sizeof p, "port=%d", port);
    void *st = open_sink((const char *const[]){"transport=tcp",
                                               "host=127.0.0.1", p, NULL});
    sluice_record r = make_rec(SLUICE_LEVEL_INFO, "nobody hears", NULL, 0);
    const sluice_record *b[] = {&r};
    size_t written = 99;
    sluice_error err = {""};
    cr_expect_neq(api->write(st, b, 1, &written, &err), 0);
    cr_expect_eq(written, 0);
    cr_expect(strstr(err.message, "refused") != NULL, "%s", err.message);
    api->close(st);
}

/* A collector that goes away in the middle of a write: the write fails
 * with what it could count and says why, and SIGPIPE (default action:
 * death, see suite_init) never reaches us. (Linux reports a reset on the
 * first send as ECONNRESET, without a signal, and the sink drops the
 * connection at its first error; sends carry MSG_NOSIGNAL for the rest. A
 * datagram socket cannot raise SIGPIPE at all.) */
typedef struct big_write {
    void *st;
    const sluice_record *const *batch;
    size_t n, written;
    int rc;
    sluice_error err;
} big_write;

static void *call_write(void *arg)
{
    big_write *w = arg;
    w->rc = api->write(w->st, w->batch, w->n, &w->written, &w->err);
    return NULL;
}

Test(syslog, tcp_collector_that_resets_mid_batch_is_a_failure_not_death)
{
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(listener >= 0);
    /* a fixed receive buffer (no autotuning): the batch below cannot fit
     * in the two socket buffers, so the write is still going on when the
     * collector resets */
    int small = 64 * 1024;
    setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    cr_assert_eq(bind(listener, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(listener, 1), 0);
    cr_assert_eq(getsockname(listener, (struct sockaddr *)&a, &alen), 0);
    char p[32], where[64];
    snprintf(p, sizeof p, "port=%d", ntohs(a.sin_port));
    snprintf(where, sizeof where, "127.0.0.1:%d", ntohs(a.sin_port));
    void *st = open_sink((const char *const[]){
        "transport=tcp", "host=127.0.0.1", p, "timeout_ms=30000", NULL});
    sluice_record hello = make_rec(SLUICE_LEVEL_INFO, "hello", NULL, 0);
    const sluice_record *one[] = {&hello};
    write_all(st, one, 1); /* connected */
    int conn = accept(listener, NULL, NULL);
    cr_assert(conn >= 0);
    close(listener); /* and nobody to reconnect to */

    enum { N = 4000, SIZE = 4000 }; /* 16 MB */
    static char body[SIZE + 1];
    memset(body, 'x', SIZE);
    static sluice_record recs[N];
    static const sluice_record *batch[N];
    for (int i = 0; i < N; i++) {
        recs[i] = make_rec(SLUICE_LEVEL_INFO, body, NULL, 0);
        batch[i] = &recs[i];
    }
    static big_write w;
    w = (big_write){st, batch, N, 99, 0, {""}};
    pthread_t writer;
    cr_assert_eq(pthread_create(&writer, NULL, call_write, &w), 0);
    static char sink_hole[64 * 1024];
    size_t got = 0;
    while (got < sizeof sink_hole) {
        ssize_t r = read(conn, sink_hole, sizeof sink_hole - got);
        cr_assert_gt(r, 0, "the stream ended early");
        got += (size_t)r;
    }
    struct linger reset = {1, 0};
    setsockopt(conn, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(conn); /* RST, with the sink in the middle of its batch */
    pthread_join(writer, NULL);

    cr_assert_neq(w.rc, 0, "a write into a reset connection succeeded");
    /* what it did not read is not counted: at most the records wholly in
     * the 64 KiB it read ("hello" came first), however much its kernel
     * had acknowledged before the reset */
    cr_assert_leq(w.written * SIZE, sizeof sink_hole,
                  "%zu records counted; the collector read %zu bytes",
                  w.written, sizeof sink_hole);
    cr_assert(strstr(w.err.message, where) &&
                  (strstr(w.err.message, strerror(ECONNRESET)) ||
                   strstr(w.err.message, strerror(EPIPE))),
              "%s", w.err.message);
    cr_log_info("tcp reset after %zu of %d records: %s", w.written, N,
                w.err.message);
    api->close(st);
}

/* A TCP collector of our own, scripted by each test: reads whole
 * octet-counted frames, byte-exact, so that what it leaves unread stays in
 * its socket, and closes the way the test says (a close() with unread data
 * is a reset, without it a FIN). */
typedef struct fake_collector {
    int listener;
    int port;
    pthread_t thread;
    void *(*script)(struct fake_collector *);
    atomic_int step;          /* the script's progress, for the test */
    atomic_int go;            /* the test's go-ahead, for the script */
    char got[2][64][32];      /* "rec=N" of each frame, per connection */
    atomic_int frames[2];
} fake_collector;

static void *fake_run(void *arg)
{
    fake_collector *f = arg;
    return f->script(f);
}

static void fake_start(fake_collector *f, void *(*script)(fake_collector *))
{
    f->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(f->listener >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    cr_assert_eq(bind(f->listener, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(f->listener, 4), 0);
    cr_assert_eq(getsockname(f->listener, (struct sockaddr *)&a, &alen), 0);
    f->port = ntohs(a.sin_port);
    f->script = script;
    cr_assert_eq(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

/* accept, for at most 10 s: a sink that never comes fails the test
 * rather than hanging it */
static int fake_accept(fake_collector *f)
{
    struct pollfd p = {.fd = f->listener, .events = POLLIN};
    if (poll(&p, 1, 10000) != 1)
        return -1;
    return accept(f->listener, NULL, NULL);
}

static void fake_wait_step(fake_collector *f, int step)
{
    double until = now_s() + 20;
    while (atomic_load(&f->step) < step) {
        cr_assert_lt(now_s(), until, "the collector is stuck before step %d",
                     step);
        sleep_ms(1);
    }
}

static void fake_await_go(fake_collector *f, int go)
{
    double until = now_s() + 20;
    while (atomic_load(&f->go) < go && now_s() < until)
        sleep_ms(1);
}

static int read_exact(int fd, char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Read one frame from fd on connection c and note its "rec=N"; 0, or -1
 * at the end of the stream. */
static int fake_read_frame(fake_collector *f, int fd, int c)
{
    char digits[16];
    size_t nd = 0;
    for (;;) {
        if (read_exact(fd, digits + nd, 1))
            return -1;
        if (digits[nd] == ' ')
            break;
        cr_assert(nd + 1 < sizeof digits && digits[nd] >= '0' &&
                  digits[nd] <= '9', "not octet counting");
        nd++;
    }
    digits[nd] = '\0';
    size_t len = (size_t)strtoul(digits, NULL, 10);
    char msg[1024];
    cr_assert_lt(len, sizeof msg);
    if (read_exact(fd, msg, len))
        return -1;
    msg[len] = '\0';
    const char *rec = strstr(msg, "rec=");
    cr_assert_not_null(rec, "%s", msg);
    int at = atomic_load(&f->frames[c]);
    cr_assert_lt(at, 64);
    snprintf(f->got[c][at], sizeof f->got[c][at], "%s", rec);
    atomic_store(&f->frames[c], at + 1);
    return 0;
}

static sluice_record recs_tcp[64];
static char recs_text[64][16];
static const sluice_record *recs_ptr[64];

/* records "rec=first" .. "rec=first+n-1" */
static const sluice_record *const *numbered(int first, int n)
{
    for (int i = 0; i < n; i++) {
        snprintf(recs_text[first + i], sizeof recs_text[0], "rec=%d",
                 first + i);
        recs_tcp[first + i] =
            make_rec(SLUICE_LEVEL_INFO, recs_text[first + i], NULL, 0);
        recs_ptr[first + i] = &recs_tcp[first + i];
    }
    return recs_ptr + first;
}

/* write all of batch, failing at most twice, as the runtime would retry */
static void write_retrying(void *st, const sluice_record *const *b, size_t n)
{
    size_t done = 0;
    sluice_error err = {""};
    for (int attempt = 0; attempt < 3 && done < n; attempt++) {
        size_t w = 0;
        int rc = api->write(st, b + done, n - done, &w, &err);
        done += w;
        cr_assert(rc != 0 || done == n);
    }
    cr_assert_eq(done, n, "not written after three tries: %s", err.message);
}

static void *open_tcp_to(const fake_collector *f)
{
    char p[32];
    snprintf(p, sizeof p, "port=%d", f->port);
    return open_sink((const char *const[]){"transport=tcp", "host=127.0.0.1",
                                           p, "connect_timeout_ms=2000",
                                           "timeout_ms=5000", NULL});
}

/* every record in got[c][0..n) is "rec=first+i" */
static void expect_frames(const fake_collector *f, int c, int first, int n)
{
    cr_assert_eq(atomic_load(&f->frames[c]), n,
                 "connection %d: %d frames, want %d", c + 1,
                 atomic_load(&f->frames[c]), n);
    for (int i = 0; i < n; i++) {
        char want[16];
        snprintf(want, sizeof want, "rec=%d", first + i);
        cr_expect_str_eq(f->got[c][i], want, "connection %d, frame %d", c + 1,
                         i);
    }
}

/* Connection 1: read five frames, all there was, and close: a FIN, which
 * the sink's kernel has acknowledged (FIN_WAIT2) before the test goes on.
 * Connection 2: read until the sink closes. */
static void *close_after_five(fake_collector *f)
{
    int conn = fake_accept(f);
    if (conn < 0)
        return NULL;
    for (int i = 0; i < 5; i++)
        if (fake_read_frame(f, conn, 0))
            break;
    shutdown(conn, SHUT_WR);
    struct tcp_info info = {0};
    socklen_t len = sizeof info;
    double until = now_s() + 10;
    while (getsockopt(conn, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
           info.tcpi_state != TCP_FIN_WAIT2 && now_s() < until)
        sleep_ms(1);
    close(conn);
    atomic_store(&f->step, 1);
    if ((conn = fake_accept(f)) < 0)
        return NULL;
    while (fake_read_frame(f, conn, 1) == 0)
        ;
    close(conn);
    atomic_store(&f->step, 2);
    return NULL;
}

Test(syslog, tcp_closed_between_batches_the_next_goes_on_a_new_connection)
{
    static fake_collector f;
    fake_start(&f, close_after_five);
    void *st = open_tcp_to(&f);
    write_all(st, numbered(0, 5), 5);
    fake_wait_step(&f, 1); /* it read all five and closed */
    /* before writing, the sink sees the FIN and connects again: nothing
     * fails, nothing is lost, and nothing is sent twice (the FIN says the
     * five were read) */
    write_all(st, numbered(5, 5), 5);
    api->close(st);
    pthread_join(f.thread, NULL);
    close(f.listener);
    expect_frames(&f, 0, 0, 5);
    expect_frames(&f, 1, 5, 5);
}

/* Connection 1: read two frames of five and close with three unread: a
 * reset, which throws those three away. Connection 2: read until the sink
 * closes. */
static void *reset_with_three_unread(fake_collector *f)
{
    int conn = fake_accept(f);
    if (conn < 0)
        return NULL;
    fake_await_go(f, 1); /* once all five are in its socket */
    for (int i = 0; i < 2; i++)
        fake_read_frame(f, conn, 0);
    close(conn);
    atomic_store(&f->step, 1);
    if ((conn = fake_accept(f)) < 0)
        return NULL;
    while (fake_read_frame(f, conn, 1) == 0)
        ;
    close(conn);
    atomic_store(&f->step, 2);
    return NULL;
}

Test(syslog, tcp_collector_that_reset_with_records_unread_gets_them_again)
{
    static fake_collector f;
    fake_start(&f, reset_with_three_unread);
    void *st = open_tcp_to(&f);
    /* all five acknowledged by its kernel, so counted: TCP cannot tell
     * that the collector will never read three of them */
    write_all(st, numbered(0, 5), 5);
    atomic_store(&f.go, 1);
    fake_wait_step(&f, 1); /* it read two and reset */
    /* the next write sees the reset (before it sends, or from the reset
     * its send draws, then failing: the runtime's retry, played here) and,
     * on the new connection, sends the replay window (the five) before
     * the new records */
    write_retrying(st, numbered(5, 3), 3);
    api->close(st);
    pthread_join(f.thread, NULL);
    close(f.listener);
    expect_frames(&f, 0, 0, 2);
    expect_frames(&f, 1, 0, 8);
    cr_log_info("tcp reset with 3 unread: 2 read twice, none lost");
}

/* Connection 1: read two frames of five, reset. Connection 2: read until
 * the sink closes. The sink closes right after the reset. */
Test(syslog, tcp_close_after_a_reset_replays_what_the_collector_dropped)
{
    static fake_collector f;
    fake_start(&f, reset_with_three_unread);
    void *st = open_tcp_to(&f);
    write_all(st, numbered(0, 5), 5);
    atomic_store(&f.go, 1);
    fake_wait_step(&f, 1);
    api->close(st); /* no more writes: close() itself replays */
    pthread_join(f.thread, NULL);
    close(f.listener);
    expect_frames(&f, 1, 0, 5);
}

/* Read slowly, until the end of the stream, then close. */
static void *read_slowly_to_the_end(fake_collector *f)
{
    int conn = fake_accept(f);
    if (conn < 0)
        return NULL;
    sleep_ms(300);
    while (fake_read_frame(f, conn, 0) == 0)
        sleep_ms(5);
    atomic_store(&f->step, 1);
    close(conn);
    return NULL;
}

Test(syslog, tcp_close_returns_once_the_collector_has_read_everything)
{
    static fake_collector f;
    fake_start(&f, read_slowly_to_the_end);
    void *st = open_tcp_to(&f);
    write_all(st, numbered(0, 20), 20);
    api->close(st);
    /* its FIN comes after it read the last frame and our end of stream */
    cr_assert_eq(atomic_load(&f.step), 1, "close() returned before the "
                 "collector had read everything");
    pthread_join(f.thread, NULL);
    close(f.listener);
    expect_frames(&f, 0, 0, 20);
}

Test(syslog, unix_receiver_that_went_away_is_a_failure_not_death)
{
    char path[108];
    snprintf(path, sizeof path, "%s/going.sock", tmpdir);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    char opt[160];
    snprintf(opt, sizeof opt, "socket=%s", path);
    void *st = open_sink((const char *const[]){"transport=unix", opt, NULL});
    sluice_record r = make_rec(SLUICE_LEVEL_INFO, "one", NULL, 0);
    const sluice_record *b[] = {&r};
    write_all(st, b, 1);
    close(fd); /* the receiver stops; its socket file stays */

    size_t written = 99;
    sluice_error err = {""};
    cr_assert_neq(api->write(st, b, 1, &written, &err), 0);
    cr_assert_eq(written, 0);
    cr_assert(strstr(err.message, path) &&
                  strstr(err.message, strerror(ECONNREFUSED)),
              "%s", err.message);
    unlink(path);
    api->close(st);
}

/* A RELP collector of our own that does just enough: answers the "open"
 * offer, reads one frame without acknowledging it, and resets the
 * connection (and stops listening). librelp then sends into the reset
 * connection without MSG_NOSIGNAL: unguarded, that killed this process
 * with SIGPIPE. */
typedef struct relp_hangup {
    int listener;
} relp_hangup;

/* Read one RELP frame ("TXNR SP COMMAND SP DATALEN [SP DATA] LF") from fd
 * into buf; its transaction number into *txnr. 0, or -1 at end of file. */
static int relp_read_frame(int fd, char *buf, size_t cap, long *txnr)
{
    size_t len = 0;
    for (;;) {
        buf[len] = '\0';
        long nr = 0, datalen = -1;
        char command[32];
        int head = 0;
        if (sscanf(buf, "%ld %31s %ld%n", &nr, command, &datalen, &head) == 3 &&
            datalen >= 0) {
            size_t need = (size_t)head + (datalen ? (size_t)datalen + 1 : 0) + 1;
            if (len >= need) {
                *txnr = nr;
                return 0;
            }
        }
        if (len + 1 >= cap)
            return -1;
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
}

static void *relp_hang_up(void *arg)
{
    relp_hangup *h = arg;
    int conn = accept(h->listener, NULL, NULL);
    close(h->listener); /* no reconnecting either */
    if (conn < 0)
        return NULL;
    static char buf[65536];
    long txnr = 0;
    if (relp_read_frame(conn, buf, sizeof buf, &txnr) == 0) {
        static const char offers[] = "200 OK\nrelp_version=0\n"
                                     "relp_software=test\ncommands=syslog";
        char rsp[256];
        int n = snprintf(rsp, sizeof rsp, "%ld rsp %zu %s\n", txnr,
                         sizeof offers - 1, offers);
        if (write(conn, rsp, (size_t)n) == n)
            relp_read_frame(conn, buf, sizeof buf, &txnr); /* one syslog */
    }
    /* gone with a reset, that frame unacknowledged: librelp's next call
     * reads ECONNRESET, carries on, and sends into the dead socket */
    struct linger reset = {1, 0};
    setsockopt(conn, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(conn);
    return NULL;
}

Test(syslog, relp_collector_that_hangs_up_is_a_failure_not_death)
{
    static relp_hangup h;
    h.listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(h.listener >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    cr_assert_eq(bind(h.listener, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(h.listener, 1), 0);
    cr_assert_eq(getsockname(h.listener, (struct sockaddr *)&a, &alen), 0);
    pthread_t collector_thread;
    cr_assert_eq(pthread_create(&collector_thread, NULL, relp_hang_up, &h), 0);
    char p[32];
    snprintf(p, sizeof p, "port=%d", ntohs(a.sin_port));
    void *st = open_sink((const char *const[]){
        "transport=relp", "host=127.0.0.1", p, "connect_timeout_ms=1000",
        "timeout_ms=2000", NULL});
    sluice_record r = make_rec(SLUICE_LEVEL_INFO, "hello", NULL, 0);
    const sluice_record *b[] = {&r};
    write_all(st, b, 1); /* sent: librelp holds it until an ack */
    pthread_join(collector_thread, NULL);

    /* the runtime's retries, played here: each one fails, none kills */
    int failed = 0;
    sluice_error err = {""};
    for (int i = 0; i < 10; i++) {
        size_t written = 99;
        if (api->write(st, b, 1, &written, &err) != 0) {
            cr_assert_eq(written, 0);
            failed++;
        }
        sleep_ms(5);
    }
    cr_assert_gt(failed, 0, "every write to a collector that left succeeded");
    cr_assert(strstr(err.message, "relp 127.0.0.1:"), "%s", err.message);
    cr_log_info("relp after the hang-up: %d of 10 writes failed: %s", failed,
                err.message);
    api->close(st);
}

/* ------------------------------------------------------------------ */
/* delivery over each transport                                        */

/* the records every transport test sends, and what rsyslog must show */
#define FIELD(k, v) {k, sizeof k - 1, v, sizeof v - 1}
static const sluice_field tricky[] = {
    FIELD("user", "ann"),
    FIELD("quote", "say \"hi\" \\ [x] done"),
    FIELD("bad key=x", "v"),
};

static void send_three(void *st)
{
    sluice_record a = make_rec(SLUICE_LEVEL_INFO, "first message", NULL, 0);
    sluice_record b = make_rec(SLUICE_LEVEL_WARN, "second, with fields",
                               tricky, 3);
    sluice_record c = make_rec(SLUICE_LEVEL_FATAL, "third", NULL, 0);
    const sluice_record *batch[] = {&a, &b, &c};
    write_all(st, batch, 3);
}

static void check_three(const collector *c, const char *app)
{
    wait_lines(c->fld, 3, 10);
    char *l[3];
    cr_assert_eq(read_lines(c->fld, l, 3), 3);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    char want[512];
    /* local3 = 19: 19*8+6 = 158 (info), +4 = 156 (warning), +2 = 154 */
    snprintf(want, sizeof want, "158|testhost|%s|%s|ORD|-|first message", app,
             pid);
    cr_expect_str_eq(l[0], want);
    snprintf(want, sizeof want,
             "156|testhost|%s|%s|ORD|[fields@32473 user=\"ann\" "
             "quote=\"say \\\"hi\\\" \\\\ [x\\] done\" bad_key_x=\"v\"]|"
             "second, with fields",
             app, pid);
    cr_expect_str_eq(l[1], want);
    snprintf(want, sizeof want, "154|testhost|%s|%s|ORD|-|third", app, pid);
    cr_expect_str_eq(l[2], want);
    free_lines(l, 3);
}

Test(syslog, udp_delivers_rfc5424)
{
    collector c;
    collector_setup(&c, tmpdir);
    collector_start(&c);
    char p[32];
    snprintf(p, sizeof p, "port=%d", c.udp_port);
    void *st = open_sink((const char *const[]){
        "transport=udp", "host=127.0.0.1", p, "facility=local3",
        "hostname=testhost", "app_name=shop", "msgid=ORD", NULL});
    send_three(st);
    api->close(st);
    check_three(&c, "shop");
    collector_stop(&c, SIGTERM);
}

Test(syslog, tcp_delivers_with_octet_counting)
{
    collector c;
    collector_setup(&c, tmpdir);
    collector_start(&c);
    char p[32];
    snprintf(p, sizeof p, "port=%d", c.tcp_port);
    /* no app_name: the logger's name is the APP-NAME */
    void *st = open_sink((const char *const[]){
        "transport=tcp", "host=127.0.0.1", p, "facility=local3",
        "hostname=testhost", "msgid=ORD", NULL});
    send_three(st);
    /* a newline inside a message must not split it: octet counting */
    sluice_record nl = make_rec(SLUICE_LEVEL_INFO, "line one\nline two", NULL,
                                0);
    char big[6000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sluice_record lg = make_rec(SLUICE_LEVEL_INFO, big, NULL, 0);
    const sluice_record *b[] = {&nl, &lg};
    write_all(st, b, 2);
    api->close(st);
    check_three(&c, "orders");
    wait_lines(c.fld, 5, 10);
    char *l[5];
    cr_assert_eq(read_lines(c.fld, l, 5), 5);
    /* rsyslog escapes control characters on receipt: one record */
    cr_expect(strstr(l[3], "|line one#012line two") != NULL, "%s", l[3]);
    const char *m = strrchr(l[4], '|');
    cr_expect_eq(strlen(m + 1), sizeof big - 1, "long message cut");
    free_lines(l, 5);
    collector_stop(&c, SIGTERM);
}

Test(syslog, relp_delivers)
{
    collector c;
    collector_setup(&c, tmpdir);
    collector_start(&c);
    char p[32];
    snprintf(p, sizeof p, "port=%d", c.relp_port);
    void *st = open_sink((const char *const[]){
        "transport=relp", "host=127.0.0.1", p, "facility=local3",
        "hostname=testhost", "app_name=shop", "msgid=ORD", NULL});
    send_three(st);
    api->close(st); /* a graceful RELP close waits for every ack */
    check_three(&c, "shop");
    collector_stop(&c, SIGTERM);
}

Test(syslog, rfc3164_for_old_receivers)
{
    collector c;
    collector_setup(&c, tmpdir);
    collector_start(&c);
    char p[32];
    snprintf(p, sizeof p, "port=%d", c.tcp_port);
    void *st = open_sink((const char *const[]){
        "transport=tcp", "host=127.0.0.1", p, "format=rfc3164",
        "facility=daemon", "hostname=testhost", NULL});
    sluice_record r = make_rec(SLUICE_LEVEL_ERROR, "disk full", tricky, 1);
    const sluice_record *b[] = {&r};
    write_all(st, b, 1);
    api->close(st);
    wait_lines(c.raw, 1, 10);
    char *l[1];
    cr_assert_eq(read_lines(c.raw, l, 1), 1);
    /* <27>Mmm dd hh:mm:ss testhost orders[PID]: disk full [...] */
    char tail[128];
    snprintf(tail, sizeof tail, " testhost orders[%d]: disk full "
             "[fields@32473 user=\"ann\"]", (int)getpid());
    cr_expect(strncmp(l[0], "<27>", 4) == 0, "%s", l[0]);
    cr_expect(strlen(l[0]) > 19 && l[0][7] == ' ' && l[0][13] == ':' &&
                  l[0][16] == ':', "%s", l[0]);
    cr_expect(strlen(l[0]) > 19 && strcmp(l[0] + 19, tail) == 0,
              "%s (want ...%s)", l[0], tail);
    free_lines(l, 1);
    collector_stop(&c, SIGTERM);
}

Test(syslog, unix_datagram_socket)
{
    char path[108];
    snprintf(path, sizeof path, "%s/log.sock", tmpdir);
    char opt[160];
    snprintf(opt, sizeof opt, "socket=%s", path);
    void *st = open_sink((const char *const[]){"transport=unix", opt,
                                               "format=rfc3164", NULL});
    sluice_record r = make_rec(SLUICE_LEVEL_WARN, "two\nlines", NULL, 0);
    const sluice_record *b[] = {&r};
    size_t written = 99;
    sluice_error err = {""};
    /* nobody listens yet: an error, nothing counted */
    cr_expect_neq(api->write(st, b, 1, &written, &err), 0);
    cr_expect_eq(written, 0);

    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    write_all(st, b, 1); /* reconnects */
    char got[512];
    ssize_t n = recv(fd, got, sizeof got - 1, 0);
    cr_assert_gt(n, 0);
    got[n] = '\0';
    /* syslog(3) style on a local socket: no HOSTNAME; one datagram holds
     * the whole message, newline and all */
    char tail[64];
    snprintf(tail, sizeof tail, " orders[%d]: two\nlines", (int)getpid());
    cr_expect(strncmp(got, "<12>", 4) == 0, "%s", got);
    cr_expect(n > 19 && strcmp(got + 19, tail) == 0, "%s", got);
    api->close(st);
    close(fd);
}

/* ------------------------------------------------------------------ */
/* the collector dies mid-stream                                       */

enum { STREAM = 20000, BATCH = 50, STOP_AT = 5000 };

/* The collector is stopped by another thread while the stream runs. */
typedef struct stopper {
    collector *c;
    int hard;                 /* SIGKILL at once, else drain and SIGTERM */
    atomic_size_t done;       /* records written so far (the writer's) */
    atomic_int stopping;
    atomic_int paused;        /* the writer waits for the stop (graceful) */
    size_t at_stop;
    pthread_t thread;
} stopper;

static void *stop_thread(void *arg)
{
    stopper *sp = arg;
    double until = now_s() + 20;
    if (sp->hard) {
        /* mid-stream: once the collector has written STOP_AT records */
        while (count_lines(sp->c->raw) < STOP_AT && now_s() < until)
            sleep_ms(2);
    } else {
        /* plain TCP has no acknowledgements: what sits in the collector's
         * socket buffer at a stop is gone. So the writer pauses at STOP_AT
         * and the collector writes what it got before it is stopped; what
         * this tests is that the sink notices the closed connection before
         * writing into it, and loses and repeats nothing after it. */
        while (!atomic_load(&sp->paused) && now_s() < until)
            sleep_ms(1);
        while (count_lines(sp->c->raw) < atomic_load(&sp->done) &&
               now_s() < until)
            sleep_ms(5);
    }
    atomic_store(&sp->stopping, 1);
    sp->at_stop = atomic_load(&sp->done);
    collector_stop(sp->c, sp->hard ? SIGKILL : SIGTERM);
    return NULL;
}

/* "seq=NNNNNN" records, written as the runtime would: on an error keep the
 * records from *written on, wait, offer them again. The collector is stopped
 * mid-stream and started again (same ports, same files) after the first
 * failed writes. Returns the number of failed writes. */
static int stream(collector *c, void *st, stopper *sp)
{
    static char text[STREAM][24];
    static sluice_record recs[STREAM];
    static const sluice_record *ptrs[STREAM];
    for (int i = 0; i < STREAM; i++) {
        snprintf(text[i], sizeof text[i], "seq=%06d", i);
        recs[i] = make_rec(SLUICE_LEVEL_INFO, text[i], NULL, 0);
        ptrs[i] = &recs[i];
    }
    sp->c = c;
    cr_assert_eq(pthread_create(&sp->thread, NULL, stop_thread, sp), 0);
    size_t done = 0;
    int failures = 0, joined = 0;
    double until = now_s() + 30;
    while (done < STREAM) {
        cr_assert_lt(now_s(), until, "not all written after 30 s (%zu)",
                     done);
        if (!sp->hard && done >= STOP_AT && !joined) {
            atomic_store(&sp->paused, 1);
            pthread_join(sp->thread, NULL); /* the collector is down now */
            joined = 1;
        }
        size_t n = STREAM - done < BATCH ? STREAM - done : BATCH;
        size_t w = 0;
        sluice_error err = {""};
        int rc = api->write(st, ptrs + done, n, &w, &err);
        cr_assert_leq(w, n);
        done += w;
        atomic_store(&sp->done, done);
        if (rc == 0) {
            cr_assert_eq(w, n, "success must mean all written");
            continue;
        }
        cr_assert(atomic_load(&sp->stopping),
                  "write failed before the stop: %s", err.message);
        failures++;
        cr_log_info("write failed (%zu of %zu taken): %s", w, n, err.message);
        if (failures == 3) {
            if (!joined)
                pthread_join(sp->thread, NULL);
            joined = 1;
            collector_start(c);
        }
        sleep_ms(50); /* the supervisor's backoff */
    }
    if (!joined)
        pthread_join(sp->thread, NULL);
    cr_assert_geq(failures, 3, "the stop went unnoticed (at %zu of %d)",
                  sp->at_stop, STREAM);
    return failures;
}

/* every seq once or more; returns how many duplicates, checks where */
static size_t check_stream(const collector *c, size_t at_stop, size_t window)
{
    static unsigned char seen[STREAM];
    memset(seen, 0, sizeof seen);
    size_t cap = 2 * STREAM;
    char **l = calloc(cap, sizeof *l);
    size_t n = read_lines(c->raw, l, cap);
    size_t dups = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = strstr(l[i], "seq=");
        cr_assert_not_null(s, "unexpected line %s", l[i]);
        long k = strtol(s + 4, NULL, 10);
        cr_assert(k >= 0 && k < STREAM);
        if (seen[k]++) {
            dups++;
            /* only what was in flight, unacknowledged, at the kill */
            cr_expect((size_t)k + window + BATCH >= at_stop &&
                          (size_t)k < at_stop + BATCH,
                      "seq %ld duplicated, far from the stop at %zu", k,
                      at_stop);
        }
    }
    for (int k = 0; k < STREAM; k++)
        cr_expect(seen[k], "seq=%06d lost", k);
    free_lines(l, n);
    free(l);
    return dups;
}

Test(syslog, relp_loses_nothing_when_the_collector_is_killed)
{
    collector c;
    collector_setup(&c, tmpdir);
    collector_start(&c);
    char p[32];
    snprintf(p, sizeof p, "port=%d", c.relp_port);
    void *st = open_sink((const char *const[]){
        "transport=relp", "host=127.0.0.1", p, "connect_timeout_ms=1000",
        "timeout_ms=5000", NULL});
    static stopper sp = {.hard = 1};
    int failures = stream(&c, st, &sp);
    api->close(st); /* a graceful close waits for the last acks */
    collector_stop(&c, SIGTERM);
    size_t dups = check_stream(&c, sp.at_stop, 128);
    cr_log_info("relp: killed at %zu, %d failed writes, %zu duplicates",
                sp.at_stop, failures, dups);
    cr_expect_leq(dups, 128, "more duplicates than the RELP window");
}

Test(syslog, tcp_survives_a_graceful_collector_restart)
{
    collector c;
    collector_setup(&c, tmpdir);
    collector_start(&c);
    char p[32];
    snprintf(p, sizeof p, "port=%d", c.tcp_port);
    void *st = open_sink((const char *const[]){
        "transport=tcp", "host=127.0.0.1", p, "connect_timeout_ms=1000",
        NULL});
    static stopper sp = {.hard = 0};
    int failures = stream(&c, st, &sp);
    api->close(st);
    wait_lines(c.raw, STREAM, 10);
    collector_stop(&c, SIGTERM);
    size_t dups = check_stream(&c, sp.at_stop, 0);
    cr_log_info("tcp: stopped at %zu, %d failed writes", sp.at_stop,
                failures);
    cr_expect_eq(dups, 0, "tcp repeated %zu records", dups);
}
