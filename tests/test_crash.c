/*
 * test_crash.c -- [runtime] crash_flush.
 *
 * Real crashes: tests/hosts/exit_host logs numbered records into a file
 * (and the console), from one thread or from four into four rings, and
 * then dereferences NULL or calls abort(); the host must die by that very
 * signal, and the file must hold every record once, in order (each
 * thread's); a sink's level (its own, or a fallback's behind a sink that
 * hangs) keeps what is below it out of what the handler writes, as the
 * worker does. Then, in process, what the handler does without the signal
 * (sluice_crash_flush_now_), with each interleaving with a worker's batch
 * forced by a sink whose write() waits at a gate: a batch that ends while
 * the handler waits, one still in flight when the wait ends, a crash
 * inside the worker's own batch, a batch partly confirmed, a batch whose
 * rejected records wait for a dead letter that hangs (none of it is
 * written to its sink again), a batch that ends after the wait while
 * producers reuse its room. The queue's rings: several threads' records
 * come out in the worker's order; a record still being filled is passed;
 * drop_oldest evicts nothing while the handler writes. And: the crash path
 * renders each record as the worker does, allocates nothing, leaves a
 * logger with post-hooks alone (its post-hook stage hooks nothing more
 * once the crash began), writes a failing sink's backlog to a crash-safe
 * fallback, and writes nothing of a parent's runtime in a fork child.
 * Reloads: a crash after one writes what the old generation still holds,
 * then the new one's; a reload's file turns crash_flush on and off, and
 * makes room for more base fields.
 *
 * In suite 'threads' too. The malloc count interposes malloc, which the
 * sanitizers' runtimes own: skipped in their builds. Under a sanitizer the
 * hosts run with its own SEGV and abort handlers off (handle_segv=0, ...),
 * so that sluice's handler is the one the crash meets, as in a normal
 * build, and a report of the sanitizer in a host's output fails the test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <sluice/sluice.h>

#include "crash_internal.h"
#include "helpers.h"

TestSuite(crash, .init = init_capture, .fini = fini_capture, .timeout = 240);

static void nap_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Text split into lines (without their '\n'); *n of them. */
static char **split_lines(const char *text, size_t *n)
{
    size_t count = count_lines(text), i = 0;
    char **lines = calloc(count + 1, sizeof *lines);
    for (const char *p = text; *p && i < count; i++) {
        const char *end = strchr(p, '\n');
        lines[i] = strndup(p, (size_t)(end - p));
        p = end + 1;
    }
    *n = i;
    return lines;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/* lines[0..n) are "record FROM" ... "record FROM+n-1"; else why not. */
static void assert_numbered(char **lines, size_t n, long from, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof want, "record %ld", from + (long)i);
        cr_assert_str_eq(lines[i], want, "%s: line %zu is '%s', not '%s'",
                         what, i + 1, lines[i], want);
    }
}

/* ---- real crashes: tests/hosts/exit_host ---------------------------------- */

typedef struct host_result {
    int status;      /* from waitpid */
    char *out;       /* its stdout and stderr */
    char *file;      /* the file sink's contents */
} host_result;

/* Run exit_host in dir (a tmpdir_make, removed here) on dir/app.ini
 * holding ini, and with reload_ini (or NULL) as dir/reload.ini for
 * segv_after_reload; the file sink's is dir/out.log. No core file;
 * sanitizers' own crash handlers off. */
static host_result run_host_at(const char *dir, const char *ini,
                               const char *reload_ini, long count,
                               const char *mode);

static host_result run_host_in(char *dir, const char *ini,
                               const char *reload_ini, long count,
                               const char *mode)
{
    host_result r = run_host_at(dir, ini, reload_ini, count, mode);
    tmpdir_remove(dir);
    return r;
}

/* run_host_in, the directory kept (a durable queue's file is there). */
static host_result run_host_at(const char *dir, const char *ini,
                               const char *reload_ini, long count,
                               const char *mode)
{
    const char *host = getenv("SLUICE_EXIT_HOST");
    cr_assert_not_null(host, "SLUICE_EXIT_HOST is not set");
    char ini_path[600], reload_path[600], out_path[600], file_path[600];
    snprintf(file_path, sizeof file_path, "%s/out.log", dir);
    snprintf(ini_path, sizeof ini_path, "%s/app.ini", dir);
    write_text(ini_path, ini);
    snprintf(reload_path, sizeof reload_path, "%s/reload.ini", dir);
    if (reload_ini)
        write_text(reload_path, reload_ini);
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);

    /* everything the child needs, made before fork */
    char count_text[32];
    snprintf(count_text, sizeof count_text, "%ld", count);
    char *const argv[] = {(char *)host, ini_path, count_text, (char *)mode,
                          reload_ini ? reload_path : NULL, NULL};
    extern char **environ;
    size_t env_count = 0;
    while (environ[env_count])
        env_count++;
    char **envp = calloc(env_count + 3, sizeof *envp);
    static const char handlers_off[] =
        "handle_segv=0:handle_sigbus=0:handle_sigill=0:handle_sigfpe=0:"
        "handle_abort=0";
    const char *asan = getenv("ASAN_OPTIONS");
    const char *tsan = getenv("TSAN_OPTIONS");
    char asan_options[2048], tsan_options[2048];
    snprintf(asan_options, sizeof asan_options,
             "ASAN_OPTIONS=%s%s%s:abort_on_error=0:detect_leaks=0",
             asan ? asan : "", asan && asan[0] ? ":" : "", handlers_off);
    snprintf(tsan_options, sizeof tsan_options, "TSAN_OPTIONS=%s%s%s",
             tsan ? tsan : "", tsan && tsan[0] ? ":" : "", handlers_off);
    size_t k = 0;
    for (size_t i = 0; i < env_count; i++)
        if (strncmp(environ[i], "ASAN_OPTIONS=", 13) != 0 &&
            strncmp(environ[i], "TSAN_OPTIONS=", 13) != 0)
            envp[k++] = environ[i];
    envp[k++] = asan_options;
    envp[k++] = tsan_options;
    envp[k] = NULL;
    int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(out_fd, 0);

    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(out_fd, STDOUT_FILENO);
        dup2(out_fd, STDERR_FILENO);
        execve(host, argv, envp);
        _exit(127);
    }
    close(out_fd);
    host_result r;
    cr_assert_eq(waitpid(pid, &r.status, 0), pid);
    free(envp);
    r.out = read_file(out_path, NULL);
    r.file = read_file(file_path, NULL);
    return r;
}

/* run_host_in on an INI made of runtime_keys, a file sink (pattern %m),
 * optionally a console sink on stdout, and logger.app with logger_keys. */
static host_result run_host(const char *runtime_keys, const char *logger_keys,
                            bool console, long count, const char *mode)
{
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[runtime]\n%s\nflush_on_exit_ms = 0\n"
             "[sink.f]\nplugin = file\npath = %s/out.log\npattern = %%m\n"
             "[sink.c]\nplugin = console\nstream = stdout\npattern = %%m\n"
             "[logger.app]\nsinks = f%s\n%s\n",
             runtime_keys, dir, console ? ", c" : "", logger_keys);
    return run_host_in(dir, ini, NULL, count, mode);
}

static void host_result_free(host_result *r)
{
    free(r->out);
    free(r->file);
}

/* A sanitizer's report in the host's output (a signal-unsafe call in the
 * handler, a race, a bad access) fails the test, though the host died as
 * it should. */
static void assert_no_sanitizer_report(const host_result *r)
{
    static const char *const reports[] = {"ThreadSanitizer", "AddressSanitizer",
                                          "LeakSanitizer", "runtime error:"};
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
        cr_assert(!strstr(r->out, reports[i]), "the host said:\n%s", r->out);
}

static void assert_killed_by(const host_result *r, int sig)
{
    assert_no_sanitizer_report(r);
    cr_assert(WIFSIGNALED(r->status),
              "the host should have been killed by signal %d; it exited "
              "with %d; it said:\n%s",
              sig, WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1, r->out);
    cr_assert_eq(WTERMSIG(r->status), sig,
                 "killed by signal %d, not %d; it said:\n%s",
                 WTERMSIG(r->status), sig, r->out);
}

/* The file holds exactly records 0..count-1, once each, in order. */
static void assert_file_has_all(const host_result *r, long count)
{
    size_t n;
    char **lines = split_lines(r->file, &n);
    cr_assert_eq(n, (size_t)count, "the file has %zu lines, not %ld", n, count);
    assert_numbered(lines, n, 0, "the file");
    free_lines(lines, n);
}

Test(crash, a_segv_after_1001_records_leaves_each_in_the_file_once_in_order)
{
    host_result r = run_host("crash_flush = true", "queue_capacity = 4096",
                             true, 1001, "segv");
    assert_killed_by(&r, SIGSEGV);
    cr_assert(strstr(r.out, "SIGSEGV: handler\n"), "%s", r.out);
    assert_file_has_all(&r, 1001);
    /* the console is crash-safe too: stdout has them all, in order */
    size_t n;
    char **lines = split_lines(r.out, &n);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(lines[i], "SIGSEGV: ", 9) == 0) {
            free(lines[i]);
            continue;
        }
        lines[kept++] = lines[i];
    }
    cr_assert_eq(kept, 1001, "stdout has %zu records:\n%s", kept, r.out);
    assert_numbered(lines, kept, 0, "stdout");
    free_lines(lines, kept);
    host_result_free(&r);
}

Test(crash, every_one_of_200000_records_queued_with_no_run_loop_is_written_at_a_segv)
{
    /* nobody drains the queue: the whole backlog is the handler's */
    host_result r = run_host("crash_flush = true",
                             "queue_capacity = 262144\nautostart = false",
                             false, 200000, "segv");
    assert_killed_by(&r, SIGSEGV);
    assert_file_has_all(&r, 200000);
    host_result_free(&r);
}

Test(crash, 200000_records_racing_a_worker_are_each_written_once_in_order_at_a_segv)
{
    host_result r = run_host("crash_flush = true", "queue_capacity = 262144",
                             false, 200000, "segv");
    assert_killed_by(&r, SIGSEGV);
    assert_file_has_all(&r, 200000);
    host_result_free(&r);
}

/* ---- durable queues: the handler writes them too, the file replays ------- */

/* An INI with crash_flush, the file sink and logger.app in a durable
 * queue in dir, with logger_keys. */
static void durable_ini(char *ini, size_t size, const char *dir,
                        const char *logger_keys)
{
    snprintf(ini, size,
             "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
             "[sink.f]\nplugin = file\npath = %s/out.log\npattern = %%m\n"
             "[logger.app]\nsinks = f\ndurable = %s/queue\n"
             "queue_size = 32M\n%s\n",
             dir, dir, logger_keys);
}

/* Every record 0..count-1 is in lines[0..n) at least once. */
static void assert_none_missing(char **lines, size_t n, long count)
{
    unsigned char *seen = calloc((size_t)count, 1);
    cr_assert_not_null(seen);
    for (size_t i = 0; i < n; i++) {
        long k = -1;
        cr_assert_eq(sscanf(lines[i], "record %ld", &k), 1, "line %zu: '%s'",
                     i + 1, lines[i]);
        cr_assert(k >= 0 && k < count, "line %zu: '%s'", i + 1, lines[i]);
        seen[k] = 1;
    }
    for (long k = 0; k < count; k++)
        cr_assert(seen[k], "record %ld is missing", k);
    free(seen);
}

Test(crash, a_durable_backlog_is_written_at_a_segv_and_replayed_again_at_the_next_start)
{
    /* nobody drains the queue: the handler renders every record from the
     * file's rings (call sites by id, ticks of the file's era); the cursor
     * does not move, so the next start gives the sink all of them again */
    enum { COUNT = 20000 };
    char *dir = tmpdir_make();
    char ini[2048];
    durable_ini(ini, sizeof ini, dir, "autostart = false");
    host_result r = run_host_at(dir, ini, NULL, COUNT, "segv");
    assert_killed_by(&r, SIGSEGV);
    assert_file_has_all(&r, COUNT);
    host_result_free(&r);

    durable_ini(ini, sizeof ini, dir, "");
    r = run_host_at(dir, ini, NULL, 0, "close");
    cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
              "the restart failed; it said:\n%s", r.out);
    size_t n;
    char **lines = split_lines(r.file, &n);
    cr_assert_eq(n, 2 * (size_t)COUNT, "the file has %zu lines, not %d", n,
                 2 * COUNT);
    assert_numbered(lines, COUNT, 0, "the handler's part");
    assert_numbered(lines + COUNT, COUNT, 0, "the replayed part");
    free_lines(lines, n);
    host_result_free(&r);
    tmpdir_remove(dir);
}

Test(crash, a_durable_logger_racing_its_worker_loses_nothing_across_a_segv_and_a_restart)
{
    enum { COUNT = 200000 };
    char *dir = tmpdir_make();
    char ini[2048];
    durable_ini(ini, sizeof ini, dir, "");
    host_result r = run_host_at(dir, ini, NULL, COUNT, "segv");
    assert_killed_by(&r, SIGSEGV);
    /* what the worker wrote, then the handler the rest: once each, in order */
    assert_file_has_all(&r, COUNT);
    host_result_free(&r);

    r = run_host_at(dir, ini, NULL, 0, "close");
    cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
              "the restart failed; it said:\n%s", r.out);
    /* the replay adds what the worker had not confirmed (written by the
     * handler already: duplicates, in order), never a hole */
    size_t n;
    char **lines = split_lines(r.file, &n);
    cr_assert_geq(n, (size_t)COUNT);
    assert_numbered(lines, COUNT, 0, "the crashed run's part");
    if (n > COUNT) {
        long first = -1;
        cr_assert_eq(sscanf(lines[COUNT], "record %ld", &first), 1);
        assert_numbered(lines + COUNT, n - COUNT, first, "the replayed part");
        cr_assert_eq(first + (long)(n - COUNT), (long)COUNT,
                     "the replay does not end with the last record");
    }
    assert_none_missing(lines, n, COUNT);
    cr_log_info("durable crash: %zu records replayed after the restart",
                n - (size_t)COUNT);
    free_lines(lines, n);
    host_result_free(&r);
    tmpdir_remove(dir);
}

Test(crash, records_of_4_threads_in_4_rings_racing_a_worker_are_each_written_once_at_a_segv)
{
    enum { THREADS = 4 }; /* exit_host's HOST_THREADS */
    long count = 200000;
    host_result r = run_host("crash_flush = true",
                             "queue_size = 32M\nproducer_rings = 4", false,
                             count, "segv_threads");
    assert_killed_by(&r, SIGSEGV);
    size_t n;
    char **lines = split_lines(r.file, &n);
    cr_assert_eq(n, (size_t)count, "the file has %zu lines, not %ld", n, count);
    /* thread t's records, numbered t, t + 4, ...: each once, in order */
    long due[THREADS] = {0, 1, 2, 3};
    for (size_t i = 0; i < n; i++) {
        long k;
        cr_assert_eq(sscanf(lines[i], "record %ld", &k), 1, "line %zu: '%s'",
                     i + 1, lines[i]);
        cr_assert(k >= 0 && k < count && k == due[k % THREADS],
                  "line %zu: record %ld, where %ld was due from its thread",
                  i + 1, k, k >= 0 ? due[k % THREADS] : -1);
        due[k % THREADS] += THREADS;
    }
    free_lines(lines, n);
    host_result_free(&r);
}

/* The file holds exactly the records of exit_host's segv_levels mode
 * (record i at debug, info, warn, error as i % 4 says) at warn and above,
 * of 0..count-1: once each, in order. */
static void assert_file_has_warn_and_above(const host_result *r, long count)
{
    size_t n;
    char **lines = split_lines(r->file, &n);
    size_t want_n = 0;
    for (long i = 0; i < count; i++)
        want_n += i % 4 >= 2;
    cr_assert_eq(n, want_n, "the file has %zu lines, not the %zu at warn and "
                 "above", n, want_n);
    long due = 2;
    for (size_t i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof want, "record %ld", due);
        cr_assert_str_eq(lines[i], want, "line %zu is '%s', not '%s'", i + 1,
                         lines[i], want);
        due += due % 4 == 2 ? 1 : 3;
    }
    free_lines(lines, n);
}

/* A file sink at level = warn, the fallback of a sink whose write() hangs
 * (the fault plugin, not crash-safe): its worker sits in its first batch,
 * every record of four levels is queued behind it, and the handler writes
 * them to the file, which takes only those at warn and above. */
Test(crash, a_hung_sinks_backlog_of_four_levels_reaches_a_warn_file_fallback_as_warn_and_above_once)
{
    enum { COUNT = 2000 };
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
             "[sink.f]\nplugin = file\npath = %s/out.log\npattern = %%m\n"
             "level = warn\n"
             "[sink.h]\nplugin = fault\nhang_ms = 3600000\n"
             "[logger.app]\nsinks = h\nfallback = f\nlevel = trace\n"
             "queue_capacity = 4096\n",
             dir);
    host_result r = run_host_in(dir, ini, NULL, COUNT, "segv_levels");
    assert_killed_by(&r, SIGSEGV);
    assert_file_has_warn_and_above(&r, COUNT);
    host_result_free(&r);
}

/* The same level on the file sink itself: its cursor's level. No run loop,
 * so the whole backlog, of four levels, is the handler's. */
Test(crash, a_warn_file_sink_gets_only_the_warn_and_above_records_of_its_backlog_once_at_a_segv)
{
    enum { COUNT = 2000 };
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
             "[sink.f]\nplugin = file\npath = %s/out.log\npattern = %%m\n"
             "level = warn\n"
             "[logger.app]\nsinks = f\nlevel = trace\nautostart = false\n"
             "queue_capacity = 4096\n",
             dir);
    host_result r = run_host_in(dir, ini, NULL, COUNT, "segv_levels");
    assert_killed_by(&r, SIGSEGV);
    assert_file_has_warn_and_above(&r, COUNT);
    host_result_free(&r);
}

Test(crash, abort_writes_the_backlog_and_the_host_dies_by_sigabrt)
{
    host_result r = run_host("crash_flush = true",
                             "queue_capacity = 4096\nautostart = false", false,
                             1001, "abort");
    assert_killed_by(&r, SIGABRT);
    assert_file_has_all(&r, 1001);
    host_result_free(&r);
}

Test(crash, a_handler_the_host_installed_first_still_runs_after_the_backlog_is_written)
{
    host_result r = run_host("crash_flush = true",
                             "queue_capacity = 4096\nautostart = false", false,
                             1001, "segv_host_handler");
    cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 3,
              "the host's handler should have ended it with 3 (status %d):\n%s",
              r.status, r.out);
    cr_assert(strstr(r.out, "host handler\n"), "%s", r.out);
    assert_no_sanitizer_report(&r);
    assert_file_has_all(&r, 1001);
    host_result_free(&r);
}

/* The control: no crash_flush, no handler; the crash is the host's. */
Test(crash, without_crash_flush_no_handler_is_installed_and_the_segv_kills_as_before)
{
    host_result r = run_host("", "queue_capacity = 4096", false, 1001, "segv");
    assert_killed_by(&r, SIGSEGV);
    cr_assert(strstr(r.out, "SIGSEGV: default\n"), "%s", r.out);
    size_t n;
    char **lines = split_lines(r.file, &n);
    cr_assert_leq(n, 1001);
    assert_numbered(lines, n, 0, "the file"); /* whatever the worker wrote */
    free_lines(lines, n);
    host_result_free(&r);
}

/* A reload replaces logger.app (a new generation) while the old one still
 * holds records: its sink hangs in write() for an hour (the fault plugin,
 * not crash-safe: its backlog goes to the crash-safe fallback, the file),
 * and the new generation's run loop for that sink waits for the old one
 * to end. The crash must write both generations, the old one's first:
 * each record once, in order. Whether the old run loop took its first
 * batch before the reload or not, the file is the same. */
Test(crash, a_segv_after_a_reload_writes_the_old_generation_then_the_new_once_each_in_order)
{
    enum { EACH = 1000 };
    char *dir = tmpdir_make();
    char ini[2][1024];
    for (int i = 0; i < 2; i++)
        snprintf(ini[i], sizeof ini[i],
                 "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
                 "[sink.slow]\nplugin = fault\nhang_ms = 3600000\n"
                 "[sink.f]\nplugin = file\npath = %s/out.log\npattern = %%m\n"
                 "[logger.app]\nsinks = slow\nfallback = f\n"
                 "queue_capacity = %d\n",
                 dir, i == 0 ? 4096 : 8192); /* changed: a new generation */
    host_result r = run_host_in(dir, ini[0], ini[1], EACH, "segv_after_reload");
    assert_killed_by(&r, SIGSEGV);
    cr_assert(strstr(r.out, "reload: 0\n"), "the reload: %s", r.out);
    assert_file_has_all(&r, 2 * EACH);
    host_result_free(&r);
}

/* ---- in process: the gate sink ------------------------------------------- */

/* A sink with crash_write whose write() a test drives: it waits while the
 * gate is held, confirms `confirm` records (-1: all) and fails if fewer,
 * or simulates a crash inside itself (calls the handler's flush). Lines
 * from write() and from crash_write are kept apart. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int hold;             /* write() waits while set */
    int waiting;          /* a write() is at the gate */
    int confirm;          /* -1: all */
    int refuse;           /* every write() fails, confirming nothing */
    int crash_inside;     /* the next write() "crashes" */
    int reject_every;     /* write() rejects every Nth record of a batch */
    const sluice_host *host; /* for sluice_record_reject */
    int latch_hold;       /* the latch's write() waits while set */
    int latch_waiting;    /* a write() is at the latch */
    int crash_hold;       /* crash_write waits while set */
    int crash_waiting;    /* a crash_write is at the gate */
    size_t crash_first_n; /* lines the first crash_write got */
    size_t crash_records; /* what that flush wrote */
    char **written, **crashed;
    size_t written_n, crashed_n, written_cap, crashed_cap;
} gate;

static gate the_gate;

static void gate_reset(void)
{
    for (size_t i = 0; i < the_gate.written_n; i++)
        free(the_gate.written[i]);
    for (size_t i = 0; i < the_gate.crashed_n; i++)
        free(the_gate.crashed[i]);
    free(the_gate.written);
    free(the_gate.crashed);
    the_gate.written = the_gate.crashed = NULL;
    the_gate.written_n = the_gate.crashed_n = 0;
    the_gate.written_cap = the_gate.crashed_cap = 0;
    the_gate.crash_records = 0;
    pthread_mutex_init(&the_gate.mu, NULL);
    pthread_cond_init(&the_gate.cv, NULL);
    the_gate.hold = the_gate.waiting = the_gate.refuse = 0;
    the_gate.crash_inside = 0;
    the_gate.reject_every = 0;
    the_gate.host = NULL;
    the_gate.latch_hold = the_gate.latch_waiting = 0;
    the_gate.crash_hold = the_gate.crash_waiting = 0;
    the_gate.crash_first_n = 0;
    the_gate.confirm = -1;
}

static void keep_line(char ***lines, size_t *n, size_t *cap, const char *p,
                      size_t len)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *lines = realloc(*lines, *cap * sizeof **lines);
    }
    (*lines)[(*n)++] = strndup(p, len);
}

static int gate_open(const sluice_options *o, void **state, sluice_error *e)
{
    (void)e;
    the_gate.host = o->host;
    *state = &the_gate;
    return 0;
}

static int gate_write(void *state, const sluice_record *const *batch, size_t n,
                      size_t *written, sluice_error *e)
{
    gate *g = state;
    pthread_mutex_lock(&g->mu);
    g->waiting = 1;
    pthread_cond_broadcast(&g->cv);
    while (g->hold)
        pthread_cond_wait(&g->cv, &g->mu);
    g->waiting = 0;
    int crash = g->crash_inside;
    g->crash_inside = 0;
    pthread_mutex_unlock(&g->mu);
    if (crash) {
        /* as if the crash struck here, on the worker inside its batch */
        size_t records = sluice_crash_flush_now_(INT64_MAX);
        pthread_mutex_lock(&g->mu);
        g->crash_records = records;
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_lock(&g->mu);
    size_t ok = g->refuse ? 0 : g->confirm < 0 ? n
                : (size_t)g->confirm < n ? (size_t)g->confirm : n;
    for (size_t i = 0; i < ok; i++) {
        if (g->reject_every && (i + 1) % (size_t)g->reject_every == 0) {
            sluice_record_reject(g->host, i, "gate: scripted rejection");
            continue;
        }
        keep_line(&g->written, &g->written_n, &g->written_cap, batch[i]->line,
                  batch[i]->line_len - 1);
    }
    pthread_mutex_unlock(&g->mu);
    *written = ok;
    return ok == n ? 0 : sluice_error_set(e, "gate: scripted failure");
}

static int gate_crash_write(void *state, const char *data, size_t len)
{
    gate *g = state;
    pthread_mutex_lock(&g->mu);
    g->crash_waiting = 1;
    pthread_cond_broadcast(&g->cv);
    while (g->crash_hold)
        pthread_cond_wait(&g->cv, &g->mu);
    g->crash_waiting = 0;
    while (len > 0) {
        const char *end = memchr(data, '\n', len);
        cr_assert_not_null(end, "crash_write got a line without its newline");
        keep_line(&g->crashed, &g->crashed_n, &g->crashed_cap, data,
                  (size_t)(end - data));
        len -= (size_t)(end - data) + 1;
        data = end + 1;
    }
    if (!g->crash_first_n)
        g->crash_first_n = g->crashed_n;
    pthread_mutex_unlock(&g->mu);
    return 0;
}

static void gate_close(void *state) { (void)state; }

/* The latch: a sink whose write() waits while the gate's latch_hold is
 * set, then takes the whole batch (a dead letter that is slow). */
static int latch_open(const sluice_options *o, void **state, sluice_error *e)
{
    (void)o;
    (void)e;
    *state = &the_gate;
    return 0;
}

static int latch_write(void *state, const sluice_record *const *batch,
                       size_t n, size_t *written, sluice_error *e)
{
    (void)batch;
    (void)e;
    gate *g = state;
    pthread_mutex_lock(&g->mu);
    g->latch_waiting = 1;
    pthread_cond_broadcast(&g->cv);
    while (g->latch_hold)
        pthread_cond_wait(&g->cv, &g->mu);
    g->latch_waiting = 0;
    pthread_mutex_unlock(&g->mu);
    *written = n;
    return 0;
}

static const char *const gate_options[] = {NULL};
static const sluice_sink_api gate_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "gate",
    .description = "a crash-safe test sink whose write() waits at a gate",
    .option_names = gate_options,
    .open = gate_open,
    .write = gate_write,
    .close = gate_close,
    .crash_write = gate_crash_write,
};

static const sluice_sink_api latch_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "latch",
    .description = "a test sink whose write() waits at a latch",
    .option_names = gate_options,
    .open = latch_open,
    .write = latch_write,
    .close = gate_close,
};

static sluice_runtime *start_with_gate(const char *ini)
{
    gate_reset();
    sluice_error err;
    sluice_builder *b = sluice_config_load_string(ini, &err);
    cr_assert_not_null(b, "%s", err.message);
    cr_assert_eq(sluice_builder_add_sink_api(b, &capture_api, &err), 0, "%s",
                 err.message);
    cr_assert_eq(sluice_builder_add_sink_api(b, &gate_api, &err), 0, "%s",
                 err.message);
    cr_assert_eq(sluice_builder_add_sink_api(b, &latch_api, &err), 0, "%s",
                 err.message);
    sluice_runtime *rt = NULL;
    cr_assert_eq(sluice_builder_start(b, &rt, &err), 0, "%s", err.message);
    return rt;
}

/* One host-driven logger "app" on the gate, records logged before its run
 * loop starts, so that the first batch is exactly those. */
static const char gate_ini[] =
    "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
    "[sink.g]\nplugin = gate\npattern = %m\n"
    "[logger.app]\nsinks = g\nautostart = false\nqueue_capacity = 1024\n";

typedef struct run_loop {
    pthread_t thread;
    sluice_binding *binding;
    int rc;
} run_loop;

static void *run_binding(void *arg)
{
    run_loop *r = arg;
    sluice_error err;
    r->rc = sluice_binding_run(r->binding, &err);
    return NULL;
}

static void start_run_loop(run_loop *r, sluice_logger *lg)
{
    r->binding = sluice_logger_binding(lg, 0);
    cr_assert_eq(pthread_create(&r->thread, NULL, run_binding, r), 0);
}

static void log_records(sluice_logger *lg, int from, int to)
{
    for (int i = from; i < to; i++)
        SLUICE_INFO(lg, "record %d", i);
}

/* Wait until a write() is at the gate. */
static void wait_at_gate(void)
{
    pthread_mutex_lock(&the_gate.mu);
    while (!the_gate.waiting)
        pthread_cond_wait(&the_gate.cv, &the_gate.mu);
    pthread_mutex_unlock(&the_gate.mu);
}

static void open_gate(int confirm)
{
    pthread_mutex_lock(&the_gate.mu);
    the_gate.confirm = confirm;
    the_gate.hold = 0;
    pthread_cond_broadcast(&the_gate.cv);
    pthread_mutex_unlock(&the_gate.mu);
}

typedef struct flusher {
    pthread_t thread;
    int64_t wait_ns;
    size_t records;
} flusher;

static void *flush_thread(void *arg)
{
    flusher *f = arg;
    f->records = sluice_crash_flush_now_(f->wait_ns);
    return NULL;
}

/* The workers stopped (the flush set the flag): let everything end. */
static void finish(sluice_runtime *rt, run_loop *loop)
{
    sluice_crash_resume_();
    pthread_mutex_lock(&the_gate.mu);
    the_gate.latch_hold = 0;
    pthread_cond_broadcast(&the_gate.cv);
    pthread_mutex_unlock(&the_gate.mu);
    open_gate(-1);
    sluice_close(rt, 500);
    if (loop)
        pthread_join(loop->thread, NULL);
}

Test(crash, a_batch_that_ends_while_the_handler_waits_is_not_written_again)
{
    sluice_runtime *rt = start_with_gate(gate_ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    the_gate.hold = 1;
    log_records(lg, 0, 10);
    run_loop loop;
    start_run_loop(&loop, lg);
    wait_at_gate();             /* records 0..9 are in flight */
    log_records(lg, 10, 20);
    flusher f = {.wait_ns = INT64_MAX};
    pthread_create(&f.thread, NULL, flush_thread, &f);
    while (!atomic_load(&sluice_crash_pending_))
        nap_us(100);            /* the crash began ... */
    open_gate(-1);              /* ... and then the batch ends */
    pthread_join(f.thread, NULL);
    cr_assert_eq(the_gate.written_n, 10);
    assert_numbered(the_gate.written, 10, 0, "write()");
    cr_assert_eq(f.records, 10);
    cr_assert_eq(the_gate.crashed_n, 10, "crash_write got %zu lines",
                 the_gate.crashed_n);
    assert_numbered(the_gate.crashed, 10, 10, "crash_write");
    finish(rt, &loop);
}

Test(crash, a_batch_still_in_flight_when_the_wait_ends_is_written_again_from_its_start)
{
    sluice_runtime *rt = start_with_gate(gate_ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    the_gate.hold = 1;
    log_records(lg, 0, 10);
    run_loop loop;
    start_run_loop(&loop, lg);
    wait_at_gate();             /* 0..9 in flight, and they stay there */
    log_records(lg, 10, 20);
    size_t records = sluice_crash_flush_now_(1000000); /* waits 1 ms */
    cr_assert_eq(records, 20, "a duplicate rather than a loss");
    assert_numbered(the_gate.crashed, the_gate.crashed_n, 0, "crash_write");
    cr_assert_eq(the_gate.crashed_n, 20);
    cr_assert_eq(the_gate.written_n, 0);
    finish(rt, &loop);
}

Test(crash, a_crash_inside_the_workers_own_batch_writes_that_batch_without_waiting_for_it)
{
    sluice_runtime *rt = start_with_gate(gate_ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    the_gate.crash_inside = 1;
    log_records(lg, 0, 20);
    run_loop loop;
    start_run_loop(&loop, lg);
    /* the flush runs on the worker inside its write() of 0..19; waiting
     * for that batch to end would never end (the test would time out) */
    for (;;) {
        pthread_mutex_lock(&the_gate.mu);
        size_t records = the_gate.crash_records;
        pthread_mutex_unlock(&the_gate.mu);
        if (records)
            break;
        nap_us(1000);
    }
    cr_assert_eq(the_gate.crash_records, 20);
    cr_assert_eq(the_gate.crashed_n, 20);
    assert_numbered(the_gate.crashed, 20, 0, "crash_write");
    finish(rt, &loop);
}

Test(crash, a_batch_partly_confirmed_while_the_handler_waits_is_written_from_the_first_unconfirmed)
{
    sluice_runtime *rt = start_with_gate(gate_ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    the_gate.hold = 1;
    log_records(lg, 0, 10);
    run_loop loop;
    start_run_loop(&loop, lg);
    wait_at_gate();
    log_records(lg, 10, 20);
    flusher f = {.wait_ns = INT64_MAX};
    pthread_create(&f.thread, NULL, flush_thread, &f);
    while (!atomic_load(&sluice_crash_pending_))
        nap_us(100);
    open_gate(4);               /* 0..3 confirmed, then write() fails */
    pthread_join(f.thread, NULL);
    cr_assert_eq(the_gate.written_n, 4);
    assert_numbered(the_gate.written, 4, 0, "write()");
    cr_assert_eq(the_gate.crashed_n, 16);
    assert_numbered(the_gate.crashed, 16, 4, "crash_write");
    finish(rt, &loop);
}

Test(crash, records_a_sink_rejected_while_its_dead_letter_hangs_are_not_written_to_it_again)
{
    sluice_runtime *rt = start_with_gate(
        "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
        "[sink.g]\nplugin = gate\npattern = %m\n"
        "[sink.d]\nplugin = latch\n"
        "[logger.app]\nsinks = g\ndead_letter = d\nautostart = false\n"
        "queue_capacity = 1024\n");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    the_gate.reject_every = 3; /* of 0..9: 2, 5 and 8 */
    the_gate.latch_hold = 1;
    log_records(lg, 0, 10);
    run_loop loop;
    start_run_loop(&loop, lg);
    /* the sink took 0..9 (seven written, three rejected), and the worker
     * hands the rejected ones to the dead letter, which hangs: the batch
     * stays in flight */
    pthread_mutex_lock(&the_gate.mu);
    while (!the_gate.latch_waiting)
        pthread_cond_wait(&the_gate.cv, &the_gate.mu);
    pthread_mutex_unlock(&the_gate.mu);
    log_records(lg, 10, 20);
    size_t records = sluice_crash_flush_now_(1000000); /* waits 1 ms */
    cr_assert_eq(the_gate.written_n, 7);
    cr_assert_eq(records, 10, "%zu records", records);
    cr_assert_eq(the_gate.crashed_n, 10, "crash_write got %zu lines",
                 the_gate.crashed_n);
    assert_numbered(the_gate.crashed, 10, 10, "crash_write");
    finish(rt, &loop);
}

/* ---- in process: reloads -------------------------------------------------- */

static int reload_string(sluice_runtime *rt, const char *ini)
{
    sluice_error err;
    sluice_builder *b = sluice_config_load_string(ini, &err);
    cr_assert_not_null(b, "%s", err.message);
    int rc = sluice_runtime_reload_builder(rt, b, &err);
    cr_assert_geq(rc, 0, "the reload: %s", err.message);
    return rc;
}

/* The gate held: what the old generation's run loop took stays in flight,
 * and the new generation's run loop waits for it; flushes that wait for
 * nothing write both, from their cursors. */
Test(crash, a_reload_turns_crash_flush_on_and_off)
{
    static const char ini[] =
        "[runtime]\ncrash_flush = %s\nflush_on_exit_ms = 0\n"
        "[sink.g]\nplugin = gate\npattern = %%m\n"
        "[logger.app]\nsinks = g\nqueue_capacity = %d\n";
    char text[512];
    snprintf(text, sizeof text, ini, "false", 1024);
    sluice_runtime *rt = start_with_gate(text);
    the_gate.hold = 1;
    sluice_logger *lg = sluice_logger_get(rt, "app");
    log_records(lg, 0, 10);
    cr_assert_eq(sluice_crash_flush_now_(0), 0, "crash_flush is off");
    sluice_crash_resume_();
    snprintf(text, sizeof text, ini, "true", 2048); /* and a new generation */
    cr_assert_eq(reload_string(rt, text), 0);
    log_records(lg, 10, 20);
    cr_assert_eq(sluice_crash_flush_now_(0), 20);
    cr_assert_eq(the_gate.crashed_n, 20);
    assert_numbered(the_gate.crashed, 20, 0, "crash_write");
    sluice_crash_resume_();
    snprintf(text, sizeof text, ini, "false", 2048); /* the logger kept */
    cr_assert_eq(reload_string(rt, text), 0);
    cr_assert_eq(sluice_crash_flush_now_(0), 0, "crash_flush is off again");
    cr_assert_eq(the_gate.crashed_n, 20);
    finish(rt, NULL);
}

/* The handler sets aside room for the base fields the runtime's loggers
 * have, and 1,024 of a record's own: a reload that gives a logger more
 * must make room before its records can be queued (else the flush writes
 * past that room: the sanitizers' build sees it). */
Test(crash, a_reload_that_adds_more_base_fields_than_there_was_room_for_writes_them_all)
{
    enum { BASE = 1100 };
    sluice_runtime *rt = start_with_gate(
        "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
        "[sink.g]\nplugin = gate\nformat = logfmt\n"
        "[logger.app]\nsinks = g\n");
    the_gate.hold = 1;
    size_t cap = 256 + BASE * 32;
    char *text = malloc(cap);
    size_t len = (size_t)snprintf(
        text, cap,
        "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
        "[sink.g]\nplugin = gate\nformat = logfmt\n"
        "[logger.app]\nsinks = g\n");
    for (int i = 0; i < BASE; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "field.f%04d = v%04d\n", i, i);
    cr_assert_eq(reload_string(rt, text), 0);
    free(text);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO_KV(lg, SLUICE_KV({"own", "x"}), "with %d base fields", BASE);
    cr_assert_eq(sluice_crash_flush_now_(0), 1);
    cr_assert_eq(the_gate.crashed_n, 1);
    const char *line = the_gate.crashed[0];
    cr_assert(strstr(line, " f0000=v0000 ") && strstr(line, " f1099=v1099 ") &&
                  strstr(line, " own=x"),
              "%.200s ... %s", line, line + strlen(line) - 100);
    finish(rt, NULL);
}

/* ---- in process: the rings ------------------------------------------------ */

/* The queue of lg's first lane, and the cursor of its binding at index. */
static sluice_queue *lane_queue(sluice_logger *lg)
{
    return sluice_logger_gen_(lg)->queues[0]; /* its only generation */
}

typedef struct producer {
    pthread_t thread;
    sluice_logger *lg;
    int id, count;
    atomic_int *go;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    while (!atomic_load(p->go))
        nap_us(50);
    for (int i = 0; i < p->count; i++)
        SLUICE_INFO(p->lg, "t%d record %d", p->id, i);
    return NULL;
}

Test(crash, records_of_threads_in_several_rings_come_out_in_the_order_the_worker_takes_them)
{
    enum { THREADS = 4, EACH = 2000 };
    sluice_runtime *rt = start_with_gate(
        "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
        "[sink.w]\nplugin = capture\npattern = %m\n"
        "[sink.g]\nplugin = gate\npattern = %m\n"
        "[logger.app]\nsinks = w, g\nautostart = false\n"
        "queue_size = 4M\nproducer_rings = 4\n");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    atomic_int go = 0;
    producer producers[THREADS];
    for (int t = 0; t < THREADS; t++) {
        producers[t] = (producer){.lg = lg, .id = t, .count = EACH, .go = &go};
        cr_assert_eq(pthread_create(&producers[t].thread, NULL, produce,
                                    &producers[t]), 0);
    }
    atomic_store(&go, 1);
    for (int t = 0; t < THREADS; t++)
        pthread_join(producers[t].thread, NULL);
    sluice_queue *q = lane_queue(lg);
    unsigned used = 0;
    for (unsigned i = 0; i < q->rings; i++)
        used += atomic_load(&q->ring[i].head) != 0;
    cr_assert_geq(used, 2, "the threads should have written into several rings");

    size_t records = sluice_crash_flush_now_(INT64_MAX);
    cr_assert_eq(records, THREADS * EACH);
    cr_assert_eq(the_gate.crashed_n, THREADS * EACH);
    int due[THREADS] = {0};
    for (size_t i = 0; i < the_gate.crashed_n; i++) {
        int t, k;
        cr_assert_eq(sscanf(the_gate.crashed[i], "t%d record %d", &t, &k), 2,
                     "line %zu: '%s'", i + 1, the_gate.crashed[i]);
        cr_assert(t >= 0 && t < THREADS && k == due[t],
                  "line %zu: '%s' where thread %d's record %d was due", i + 1,
                  the_gate.crashed[i], t, t >= 0 && t < THREADS ? due[t] : -1);
        due[t]++;
    }

    /* the worker takes them, all logged before it starts: the same order */
    sluice_crash_resume_();
    run_loop loop;
    start_run_loop(&loop, lg); /* binding 0: the capture sink */
    while (capture_count() < THREADS * EACH)
        nap_us(1000);
    for (size_t i = 0; i < the_gate.crashed_n; i++) {
        size_t len = strlen(capture_sink.lines[i]);
        cr_assert(len > 0 && strncmp(capture_sink.lines[i], the_gate.crashed[i],
                                     len - 1) == 0 &&
                      the_gate.crashed[i][len - 1] == '\0',
                  "line %zu: the worker wrote '%s', the crash path '%s'", i + 1,
                  capture_sink.lines[i], the_gate.crashed[i]);
    }
    finish(rt, &loop);
}

Test(crash, a_record_its_producer_is_still_filling_is_passed_and_those_after_it_are_written)
{
    sluice_runtime *rt = start_with_gate(gate_ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_queue *q = lane_queue(lg);
    cr_assert_eq(q->rings, 1, "one ring: the records after it are in its ring");
    sluice_ring *ring = &q->ring[0];
    log_records(lg, 0, 5);
    /* a producer claimed room and is filling it (or crashed doing so):
     * what it wrote so far is garbage, its publish word not yet stored */
    uint32_t units = sluice_rec_units(200);
    uint64_t off;
    sluice_rec *stuck = sluice_queue_claim(q, ring, units, SLUICE_OVERFLOW_BLOCK,
                                           0, &off);
    cr_assert_not_null(stuck);
    memset((char *)stuck + sizeof stuck->publish, 0x5a,
           (size_t)units * SLUICE_UNIT - sizeof stuck->publish);
    log_records(lg, 5, 10);

    size_t records = sluice_crash_flush_now_(INT64_MAX);
    cr_assert_eq(records, 10);
    cr_assert_eq(the_gate.crashed_n, 10);
    assert_numbered(the_gate.crashed, 10, 0, "crash_write");

    /* its producer ends it, as padding, so that close finds the queue quiet */
    stuck->units = units;
    stuck->length = 0;
    stuck->callsite = NULL;
    stuck->ticks = 0;
    stuck->thread_id = 0;
    sluice_rec_set_meta(stuck, 0, SLUICE_KIND_PAD, 0);
    stuck->args_length = 0;
    stuck->check = 0;
    sluice_queue_publish(q, ring, stuck, off);
    finish(rt, NULL);
}

/* A logger "app" on the gate whose lines carry a base field of width
 * bytes, so that the handler hands a run of lines to crash_write every
 * 256 KiB / width records, long before the end of its 64 KiB queue. */
static sluice_runtime *start_wide(const char *overflow, size_t width)
{
    char *ini = malloc(width + 1024);
    int at = snprintf(ini, 1024,
                      "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
                      "[sink.g]\nplugin = gate\npattern = %%m%%f\n"
                      "[logger.app]\nsinks = g\nautostart = false\n"
                      "queue_size = 64K\noverflow = %s\nfield.pad = ",
                      overflow);
    memset(ini + at, 'x', width);
    strcpy(ini + at + width, "\n");
    sluice_runtime *rt = start_with_gate(ini);
    free(ini);
    return rt;
}

/* lines[i] is "record want[i]" with the pad field of width bytes. */
static void assert_wide(char **lines, size_t n, const long *want, size_t width,
                        const char *what)
{
    char *expect = malloc(width + 64);
    for (size_t i = 0; i < n; i++) {
        int at = snprintf(expect, 64, "record %ld pad=", want[i]);
        memset(expect + at, 'x', width);
        expect[at + (int)width] = '\0';
        cr_assert(strcmp(lines[i], expect) == 0,
                  "%s: line %zu is not record %ld: '%.60s...'", what, i + 1,
                  want[i], lines[i]);
    }
    free(expect);
}

Test(crash, drop_oldest_evicts_nothing_the_handler_is_still_to_write)
{
    enum { QUEUED = 500, WIDTH = 1000 };
    sluice_runtime *rt = start_wide("drop_oldest", WIDTH);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    cr_assert_eq(lane_queue(lg)->rings, 1);
    log_records(lg, 0, QUEUED);
    sluice_logger_stats st;
    sluice_logger_stats_get(lg, &st);
    cr_assert_eq(st.evicted, 0, "the backlog fits");

    /* the handler hands its first run of lines over, the rest of the
     * backlog still to read, and a producer needs room meanwhile */
    the_gate.crash_hold = 1;
    flusher f = {.wait_ns = INT64_MAX};
    pthread_create(&f.thread, NULL, flush_thread, &f);
    pthread_mutex_lock(&the_gate.mu);
    while (!the_gate.crash_waiting)
        pthread_cond_wait(&the_gate.cv, &the_gate.mu);
    pthread_mutex_unlock(&the_gate.mu);
    atomic_int go = 1;
    producer more = {.lg = lg, .id = 9, .count = 5000, .go = &go};
    pthread_create(&more.thread, NULL, produce, &more);
    do { /* until it has filled the room there was (not needed to pass) */
        nap_us(1000);
        sluice_logger_stats_get(lg, &st);
    } while (st.attempted < QUEUED + 200);
    nap_us(50000);
    pthread_mutex_lock(&the_gate.mu);
    the_gate.crash_hold = 0;
    pthread_cond_broadcast(&the_gate.cv);
    pthread_mutex_unlock(&the_gate.mu);
    pthread_join(f.thread, NULL);

    sluice_logger_stats_get(lg, &st);
    cr_assert_eq(st.evicted, 0, "drop_oldest evicted %" PRIu64 " while the "
                 "handler wrote", st.evicted);
    cr_assert_eq(f.records, QUEUED);
    cr_assert_eq(the_gate.crashed_n, QUEUED);
    long want[QUEUED];
    for (long i = 0; i < QUEUED; i++)
        want[i] = i;
    assert_wide(the_gate.crashed, QUEUED, want, WIDTH, "crash_write");
    sluice_crash_resume_(); /* the producer may evict again */
    pthread_join(more.thread, NULL);
    finish(rt, NULL);
}

Test(crash, a_batch_that_ends_after_the_wait_while_its_room_is_reused_is_neither_torn_nor_lost)
{
    enum { QUEUED = 500, WIDTH = 2000, BATCH = 256 };
    sluice_runtime *rt = start_wide("drop_newest", WIDTH);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_queue *q = lane_queue(lg);
    cr_assert_eq(q->rings, 1);
    /* text records: a line's message is read from the queue itself */
    for (int i = 0; i < QUEUED; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "record %d", i);
        sluice_log_str(lg, SLUICE_LEVEL_INFO, text, (size_t)len);
    }
    the_gate.hold = 1;
    run_loop loop;
    start_run_loop(&loop, lg);
    wait_at_gate(); /* records 0..255 in flight */

    /* the wait gives up on that batch; the handler writes from its start
     * and hands its first run of lines over */
    the_gate.crash_hold = 1;
    flusher f = {.wait_ns = 1000000};
    pthread_create(&f.thread, NULL, flush_thread, &f);
    pthread_mutex_lock(&the_gate.mu);
    while (!the_gate.crash_waiting)
        pthread_cond_wait(&the_gate.cv, &the_gate.mu);
    pthread_mutex_unlock(&the_gate.mu);
    /* then the batch ends after all, and producers take its room */
    open_gate(-1);
    while (sluice_queue_in_flight(q, loop.binding->cursor) ||
           atomic_load(&q->ring[0].cursor[loop.binding->cursor].done) == 0)
        nap_us(1000);
    for (int i = 0; i < 2000; i++)
        SLUICE_INFO(lg, "more %d", i); /* drop_newest: those with no room go */
    pthread_mutex_lock(&the_gate.mu);
    the_gate.crash_hold = 0;
    pthread_cond_broadcast(&the_gate.cv);
    pthread_mutex_unlock(&the_gate.mu);
    pthread_join(f.thread, NULL);

    cr_assert_eq(the_gate.written_n, BATCH);
    long want[QUEUED];
    for (long i = 0; i < QUEUED; i++)
        want[i] = i;
    assert_wide(the_gate.written, BATCH, want, WIDTH, "write()");
    /* crash_write: its first run (records 0..k-1, duplicates), then the
     * records the worker did not write; record k, read before the run was
     * handed over and claimed over since, not from its reused room:
     * nothing torn, nothing else */
    size_t n = the_gate.crashed_n;
    size_t first_run = the_gate.crash_first_n;
    cr_assert(first_run > 0 && first_run < BATCH,
              "the first run has %zu lines", first_run);
    cr_assert_eq(n, first_run + (QUEUED - BATCH), "%zu lines", n);
    long got[QUEUED];
    for (size_t i = 0; i < n; i++)
        got[i] = i < first_run ? (long)i : (long)(BATCH + i - first_run);
    assert_wide(the_gate.crashed, n, got, WIDTH, "crash_write");
    cr_assert_eq(f.records, n);
    finish(rt, &loop);
}

/* ---- in process: what is written, and what is not ---------------------------- */

/* Log a bit of everything the worker renders: conversions done by hand and
 * by snprintf, strings with escapes, NULL, fields (base, the call's, more
 * than 16 with repeats), text records. */
static int log_variety(sluice_logger *lg)
{
    int n = 0;
    const char *null_text = NULL;
    SLUICE_INFO(lg, "plain %d %u %x %o %ld %lld %zu", -5, 7u, 255u, 8u, -1L,
                123456789012LL, (size_t)42);
    n++;
    SLUICE_WARN(lg, "flags [%+d] [% d] [%08d] [%-6d] [%#x] [%.5d] [%+.3d]", 5, 6,
                -7, 8, 255u, 9, 10);
    n++;
    SLUICE_ERROR(lg, "floats %f %.3f %.0f %e %g %a %.17e %10.4f", 3.14159, 2.5,
                 0.5, 1e300, 1e-5, 1.0, DBL_MIN, -2.75);
    n++;
    SLUICE_DEBUG(lg, "odd floats %f %f %f %.20f %.256f", NAN, INFINITY,
                 -INFINITY, 1.0 / 3, DBL_MAX);
    n++;
    SLUICE_INFO(lg, "sizes [%256.200e] [%256d] [%.256s]", DBL_MAX, 3, "short");
    n++;
    SLUICE_INFO(lg, "chars [%c] [%5c] [%-3c] ptr %p %p [%20p]", 'a', 'b', 'c',
                (void *)0x1234, (void *)NULL, (void *)0xbeef);
    n++;
    SLUICE_INFO(lg, "strings [%s] [%10s] [%-10s] [%.2s] [%s]", "x", "right",
                "left", "cut", null_text);
    n++;
    SLUICE_INFO(lg, "escapes %s", "tab\there\nnewline \x01 \x7f \xc2\x85 "
                                   "\xe2\x80\xa8 \xff caf\xc3\xa9");
    n++;
    SLUICE_INFO_KV(lg, SLUICE_KV({"user", "ann"}, {"level", "fatal"},
                                 {"msg", "forged"}, {"k y", "v=\"q\""}),
                   "with fields %d", 1);
    n++;
    SLUICE_INFO_KV(lg,
                   SLUICE_KV({"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"},
                             {"e", "5"}, {"f", "6"}, {"g", "7"}, {"h", "8"},
                             {"i", "9"}, {"j", "10"}, {"k", "11"}, {"l", "12"},
                             {"m", "13"}, {"n", "14"}, {"o", "15"}, {"p", "16"},
                             {"a", "17"}, {"c", "18"}, {"host", "19"}, {"", "20"}),
                   "many fields, repeated keys %s", "too");
    n++;
    sluice_log_str(lg, SLUICE_LEVEL_INFO, "text 100% as is\n", 16);
    n++;
    sluice_kv kv[] = {{"t", "1"}, {"t", "2"}};
    sluice_log_str_kv(lg, SLUICE_LEVEL_FATAL, "text with fields", 16, kv, 2);
    n++;
    for (int i = 0; i < 200; i++, n++)
        SLUICE_INFO(lg, "record %d of %s %.2f", i, "many", i / 7.0);
    return n;
}

/* Where the time is in a line of json, logfmt or "<%t> ...", or NULL. */
static char *time_in(char *line)
{
    char *t;
    if ((t = strstr(line, "\"time\":\"")))
        return t + 8;
    if ((t = strstr(line, "time=")))
        return t + 5;
    return line[0] == '<' ? line + 1 : NULL;
}

/* Seconds since the epoch of the RFC 3339 time in line, or -1. */
static double time_of(char *line)
{
    const char *t = time_in(line);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int micro = 0;
    if (!t || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ", &tm.tm_year, &tm.tm_mon,
                     &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                     &micro) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + micro / 1e6;
}

/* Renderings of a record differ in its time only by the clock's anchor
 * (compared apart): blank it. */
static void blank_time(char *line)
{
    char *t = time_in(line);
    for (; t && *t && *t != '"' && *t != ' ' && *t != '>'; t++)
        *t = '#';
}

/* Each format: the same logger writes to capture (by its worker) and to
 * the gate, which refuses every write(), so the handler writes the gate's
 * whole backlog; line by line the two must be equal. */
Test(crash, the_crash_path_renders_each_record_exactly_as_the_worker_does)
{
    static const char *const formats[] = {
        "format = text\npattern = %l %L [%n] %m%f %s %F %T",
        "format = json",
        "format = logfmt",
        "format = text\npattern = <%t> %m",
    };
    for (size_t fi = 0; fi < sizeof formats / sizeof formats[0]; fi++) {
        capture_reset();
        char ini[1024];
        snprintf(ini, sizeof ini,
                 "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
                 "restart_backoff_ms = 1..2\nrestart_intensity = unlimited\n"
                 "[sink.w]\nplugin = capture\n%s\n"
                 "[sink.g]\nplugin = gate\n%s\n"
                 "[logger.app]\nsinks = w, g\nlevel = trace\n"
                 "field.host = h1\nfield.a = base\n",
                 formats[fi], formats[fi]);
        sluice_runtime *rt = start_with_gate(ini);
        the_gate.refuse = 1;
        sluice_logger *lg = sluice_logger_get(rt, "app");
        size_t n = (size_t)log_variety(lg);
        while (capture_count() < n)
            nap_us(1000);
        size_t records = sluice_crash_flush_now_(INT64_MAX);
        cr_assert_eq(records, n, "%s: %zu of %zu", formats[fi], records, n);
        cr_assert_eq(the_gate.crashed_n, n);
        for (size_t i = 0; i < n; i++) {
            char *worker = strdup(capture_sink.lines[i]);
            worker[strlen(worker) - 1] = '\0'; /* its '\n' */
            char *crashed = strdup(the_gate.crashed[i]);
            double tw = time_of(worker), tc = time_of(crashed);
            if (tw >= 0) /* the same instant, give or take the anchor */
                cr_assert(tc >= 0 && fabs(tw - tc) < 1.0, "%s\n%s", worker, crashed);
            blank_time(worker);
            blank_time(crashed);
            cr_assert_str_eq(crashed, worker, "%s: record %zu", formats[fi], i);
            free(worker);
            free(crashed);
        }
        finish(rt, NULL);
    }
}

static void redact(void *user, sluice_record *r)
{
    (void)user;
    r->message = "[redacted]";
    r->message_len = 10;
}

Test(crash, a_logger_with_post_hooks_is_not_written_since_its_hooks_cannot_run)
{
    sluice_runtime *rt = start_with_gate(gate_ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_error err;
    cr_assert_eq(sluice_logger_add_post_hook(lg, redact, NULL, &err), 0);
    log_records(lg, 0, 10);
    cr_assert_eq(sluice_crash_flush_now_(INT64_MAX), 0);
    cr_assert_eq(the_gate.crashed_n, 0, "a secret would have been written");
    finish(rt, NULL);
}

static atomic_int hook_calls, hook_calls_in_crash;

static void count_hook(void *user, sluice_record *r)
{
    (void)user;
    (void)r;
    atomic_fetch_add(&hook_calls, 1);
    if (atomic_load(&sluice_crash_pending_))
        atomic_fetch_add(&hook_calls_in_crash, 1);
}

static size_t gate_written(void)
{
    pthread_mutex_lock(&the_gate.mu);
    size_t n = the_gate.written_n;
    pthread_mutex_unlock(&the_gate.mu);
    return n;
}

Test(crash, the_post_hook_stage_hooks_nothing_once_a_crash_began)
{
    sluice_runtime *rt = start_with_gate(gate_ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_error err;
    atomic_store(&hook_calls, 0);
    atomic_store(&hook_calls_in_crash, 0);
    cr_assert_eq(sluice_logger_add_post_hook(lg, count_hook, NULL, &err), 0);
    the_gate.hold = 1;
    log_records(lg, 0, 10);
    run_loop loop;
    start_run_loop(&loop, lg);
    wait_at_gate(); /* 0..9 hooked; the sink's batch of them in flight */
    cr_assert_eq(atomic_load(&hook_calls), 10);
    log_records(lg, 10, 20);
    cr_assert_eq(sluice_crash_flush_now_(0), 0, "post-hooks: nothing written");
    /* the batch ends; the worker's next take is the post-hook stage's,
     * which must let 10..19 go unhooked and stop there */
    open_gate(-1);
    while (gate_written() < 10)
        nap_us(1000);
    nap_us(200000); /* time for a wrong hook to run (none must) */
    cr_assert_eq(atomic_load(&hook_calls_in_crash), 0,
                 "%d records were hooked after the crash began",
                 atomic_load(&hook_calls_in_crash));
    cr_assert_eq(atomic_load(&hook_calls), 10);
    cr_assert_eq(gate_written(), 10);
    /* the process did not end (a test): once resumed, all goes on */
    sluice_crash_resume_();
    cr_assert_eq(sluice_logger_flush(lg, -1), 0);
    cr_assert_eq(atomic_load(&hook_calls), 20);
    cr_assert_eq(gate_written(), 20);
    finish(rt, &loop);
}

Test(crash, the_backlog_of_a_sink_that_is_not_crash_safe_goes_to_a_crash_safe_fallback)
{
    sluice_runtime *rt = start_with_gate(
        "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
        "[sink.w]\nplugin = capture\npattern = %m\n"
        "[sink.g]\nplugin = gate\npattern = %m\n"
        "[logger.app]\nsinks = w\nfallback = g\nautostart = false\n");
    log_records(sluice_logger_get(rt, "app"), 0, 30);
    cr_assert_eq(sluice_crash_flush_now_(INT64_MAX), 30);
    cr_assert_eq(the_gate.crashed_n, 30);
    assert_numbered(the_gate.crashed, 30, 0, "the fallback");
    finish(rt, NULL);
}

Test(crash, a_fork_child_writes_nothing_of_its_parents_runtime)
{
    sluice_runtime *rt = start_with_gate(gate_ini);
    log_records(sluice_logger_get(rt, "app"), 0, 10);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit((int)sluice_crash_flush_now_(0)); /* the parent writes those */
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child wrote %d",
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    cr_assert_eq(sluice_crash_flush_now_(0), 10, "the parent does");
    finish(rt, NULL);
}

Test(crash, more_runtimes_with_crash_flush_than_the_handler_knows_are_refused_with_why)
{
    enum { MANY = 64 };
    sluice_runtime *rts[MANY];
    const char *ini = "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
                      "[sink.c]\nplugin = capture\n"
                      "[logger.app]\nsinks = c\nautostart = false\n"
                      "queue_capacity = 4\n";
    for (int i = 0; i < MANY; i++)
        rts[i] = start_ini(ini);
    char *msg = start_ini_fails(ini);
    cr_assert(strstr(msg, "crash_flush: more than 64 runtimes"), "%s", msg);
    free(msg);
    sluice_close(rts[0], 1000); /* a place comes free */
    sluice_runtime *again = start_ini(ini);
    sluice_close(again, 1000);
    for (int i = 1; i < MANY; i++)
        sluice_close(rts[i], 1000);
}

/* ---- the crash path allocates nothing ------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNTING_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define COUNTING_MALLOC 0
#endif
#endif
#ifndef COUNTING_MALLOC
#define COUNTING_MALLOC 1
#endif

#if COUNTING_MALLOC
/* glibc's own allocator under our malloc: counted on the thread that asks. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t size);
static _Thread_local int counting;
static _Thread_local long allocations;

void *malloc(size_t size)
{
    allocations += counting;
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size)
{
    allocations += counting;
    return __libc_calloc(count, size);
}

void *realloc(void *p, size_t size)
{
    allocations += counting;
    return __libc_realloc(p, size);
}
#endif

Test(crash, the_crash_path_allocates_nothing_whatever_it_renders)
{
#if !COUNTING_MALLOC
    cr_skip_test("the sanitizer's runtime owns malloc in this build");
#else
    char *dir = tmpdir_make();
    char ini[1024];
    for (int format = 0; format < 3; format++) {
        snprintf(ini, sizeof ini,
                 "[runtime]\ncrash_flush = true\nflush_on_exit_ms = 0\n"
                 "[sink.f]\nplugin = file\npath = %s/out%d.log\nformat = %s\n"
                 "[logger.app]\nsinks = f\nautostart = false\nlevel = trace\n"
                 "field.host = h1\nfield.a = base\n",
                 dir, format, format == 0 ? "text" : format == 1 ? "json" : "logfmt");
        sluice_runtime *rt = start_ini(ini);
        sluice_logger *lg = sluice_logger_get(rt, "app");
        size_t n = (size_t)log_variety(lg);
        /* what the signal-safe mode refuses to hand to snprintf */
        SLUICE_INFO(lg, "refused [%lc] [%'d] [%.300d] [%.257f]", (wint_t)L'x',
                    1234567, 1, 1.0);
        n++;
        counting = 1;
        size_t records = sluice_crash_flush_now_(INT64_MAX);
        counting = 0;
        cr_assert_eq(allocations, 0, "the flush allocated %ld times", allocations);
        cr_assert_eq(records, n);
        char path[700];
        snprintf(path, sizeof path, "%s/out%d.log", dir, format);
        char *text = read_file(path, NULL);
        cr_assert_eq(count_lines(text), n);
        /* each as its spec, rebuilt (integers carry ll) */
        cr_assert(strstr(text, "refused [%lc] [%'lld] [%.300lld] [%.257f]"),
                  "%s", text);
        free(text);
        sluice_crash_resume_();
        sluice_close(rt, 1000);
    }
    tmpdir_remove(dir);
#endif
}
