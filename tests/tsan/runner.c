/*
 * tests/tsan/runner.c -- main() of a test executable in the
 * ThreadSanitizer build: runs the tests that criterion.h's Test() macros
 * registered, each in a forked child, and reports them the way Criterion
 * does (same [FAIL]/[----] lines, same Synthesis line, exit status 1 when
 * a test failed).
 *
 * It owns the registry, the command line, the child's life (suite and test
 * init, body, fini; a failed cr_assert ends the body), the parent's verdict
 * (assertions, expected exit code or signal, timeout, ThreadSanitizer
 * reports) and the summary. It knows nothing of sluice.
 *
 * Parent and child share one anonymous MAP_SHARED page (struct outcome):
 * the child writes what the parent cannot see in a wait status (failed
 * checks, skip, last check's location, TSan's report summary); the parent
 * reads it only after waitpid(). Test threads may fail checks concurrently,
 * hence the atomics.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- registry (filled by constructors before main) --------------------- */

static struct crs_test_ *tests;
static struct crs_suite_ *suites;
static size_t ntests;

void crs_register_test_(struct crs_test_ *t)
{
    t->next = tests;
    tests = t;
    ntests++;
}

void crs_register_suite_(struct crs_suite_ *s)
{
    s->next = suites;
    suites = s;
}

static const struct criterion_test_extra_data *suite_opts(const char *name)
{
    for (struct crs_suite_ *s = suites; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s->opts;
    return NULL;
}

/* ---- what the child tells the parent ------------------------------------ */

struct outcome {
    atomic_int failed;      /* checks that failed */
    atomic_int skipped;     /* cr_skip_test was called */
    atomic_int finished;    /* init, body and fini all returned */
    atomic_int last_line;   /* last check evaluated */
    _Atomic(const char *) last_file;
    atomic_int tsan_reports;
    char tsan_summary[512]; /* the first report's SUMMARY line */
    char skip_msg[512];
};

static struct outcome *shared;
static int verbosity;

/* In the child: the thread that runs init/body/fini, and where a failed
 * cr_assert in that thread returns to. */
static pthread_t test_thread;
static jmp_buf test_abort;
static int in_test_child;

void crs_at_(const char *file, int line)
{
    if (!shared)
        return;
    atomic_store_explicit(&shared->last_file, file, memory_order_relaxed);
    atomic_store_explicit(&shared->last_line, line, memory_order_relaxed);
}

static void end_test_now(void)
{
    if (!in_test_child) {
        fflush(NULL);
        exit(1);
    }
    if (pthread_equal(pthread_self(), test_thread))
        longjmp(test_abort, 1);
    /* another thread of the test: the body cannot be unwound from here,
     * so the child ends (exit, not _exit: TSan reports at exit) */
    fflush(NULL);
    exit(0);
}

void crs_fail_(int abort_test, const char *file, int line, const char *dflt,
               const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *m = msg[0] == ' ' ? msg + 1 : msg; /* the macros' " " */
    if (!*m)
        m = dflt;

    /* one write per line group so concurrent failures do not interleave */
    char out[8192];
    int n = snprintf(out, sizeof out, "[----] %s:%d: Assertion Failed\n"
                     "[----]   \n", file, line);
    for (const char *p = m; n < (int)sizeof out;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        n += snprintf(out + n, sizeof out - (size_t)n, "[----]   %.*s\n", len,
                      p);
        if (!nl)
            break;
        p = nl + 1;
    }
    if (n < (int)sizeof out)
        n += snprintf(out + n, sizeof out - (size_t)n, "[----]   \n");
    if (n > (int)sizeof out - 1)
        n = (int)sizeof out - 1;
    fflush(stdout);
    fwrite(out, 1, (size_t)n, stderr);
    fflush(stderr);

    if (shared)
        atomic_fetch_add(&shared->failed, 1);
    if (abort_test)
        end_test_now();
}

static _Thread_local char msgbuf[4096];

const char *crs_str_msg_(const char *expr, const char *a, const char *b)
{
    snprintf(msgbuf, sizeof msgbuf,
             "The expression (as strings) %s is false: actual=`%s` "
             "expected=`%s`.", expr, a ? a : "(null)", b ? b : "(null)");
    return msgbuf;
}

const char *crs_empty_msg_(const char *expr, const char *s, int want_empty)
{
    snprintf(msgbuf, sizeof msgbuf, "%s (`%s`) is %s.", expr,
             s ? s : "(null)", want_empty ? "not empty" : "empty");
    return msgbuf;
}

int crs_str_cmp_(const char *a, const char *b)
{
    return strcmp(a, b);
}

void crs_skip_(const char *fmt, ...)
{
    if (shared) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(shared->skip_msg, sizeof shared->skip_msg, fmt, ap);
        va_end(ap);
        atomic_store(&shared->skipped, 1);
    }
    end_test_now();
    abort(); /* not reached */
}

void cr_log(enum criterion_logging_level level, const char *fmt, ...)
{
    if (level == CR_LOG_INFO && verbosity < 1)
        return;
    const char *tag = level == CR_LOG_ERROR     ? "[ERR ] "
                      : level == CR_LOG_WARNING ? "[WARN] "
                                                : "[----] ";
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "%s%s\n", tag, msg);
    fflush(stderr);
}

/* ---- ThreadSanitizer hooks ----------------------------------------------- */

/* Defaults only: TSAN_OPTIONS from the environment still wins. exitcode 66
 * is TSan's own default, restated because the verdict below relies on it
 * when the summary hook was not reached. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "exitcode=66:second_deadlock_stack=1";
}

/* Called by the sanitizer runtime once per report (races, lock misuse,
 * deadly signals, thread leaks...) with its "SUMMARY: ..." line. Replaces
 * the runtime's default, which only prints that line, so print it too. */
void __sanitizer_report_error_summary(const char *summary);
__attribute__((no_sanitize_thread)) void
__sanitizer_report_error_summary(const char *summary)
{
    size_t len = strlen(summary);
    ssize_t w = write(2, summary, len);
    w = write(2, "\n", 1);
    (void)w;
    if (!shared)
        return;
    if (atomic_fetch_add(&shared->tsan_reports, 1) == 0) {
        size_t n = len < sizeof shared->tsan_summary - 1
                       ? len
                       : sizeof shared->tsan_summary - 1;
        memcpy(shared->tsan_summary, summary, n);
        shared->tsan_summary[n] = '\0';
    }
}

/* ---- the child ----------------------------------------------------------- */

struct plan {
    struct crs_test_ *t;
    const struct criterion_test_extra_data *so; /* suite options or NULL */
    double timeout;
    int exit_code;
    int signal;
};

static void run_child(const struct plan *p)
{
    in_test_child = 1;
    test_thread = pthread_self();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (p->signal) /* let it kill us, not the sanitizer's report-and-exit */
        signal(p->signal, SIG_DFL);

    const struct criterion_test_extra_data *to = p->t->opts, *so = p->so;
    volatile int stage = 0;
    if (setjmp(test_abort) == 0) {
        if (so && so->init)
            so->init();
        stage = 1;
        if (to->init)
            to->init();
        stage = 2;
        p->t->fn();
    }
    /* teardown of what was set up, also after a failed assertion or a
     * skip; a failed assertion in a fini ends the child */
    if (stage >= 2 && setjmp(test_abort) == 0 && to->fini)
        to->fini();
    if (stage >= 1 && setjmp(test_abort) == 0 && so && so->fini)
        so->fini();
    atomic_store(&shared->finished, 1);
    fflush(NULL);
    exit(0);
}

/* ---- the parent ---------------------------------------------------------- */

struct totals {
    int tested, passing, failing, crashing;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_one(const struct plan *p, struct totals *tot)
{
    const struct crs_test_ *t = p->t;
    memset(shared, 0, sizeof *shared);
    if (verbosity >= 1) {
        fprintf(stderr, "[RUN ] %s::%s\n", t->suite, t->name);
        if (t->opts->description)
            fprintf(stderr, "[----]   %s\n", t->opts->description);
    }
    fflush(NULL);

    double start = now();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "[FAIL] %s::%s: fork: %s\n", t->suite, t->name,
                strerror(errno));
        tot->tested++;
        tot->failing++;
        return;
    }
    if (pid == 0)
        run_child(p);

    int status = 0, timed_out = 0;
    long nap_ns = 100000;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            status = 0;
            break;
        }
        if (p->timeout > 0 && now() - start >= p->timeout && !timed_out) {
            kill(pid, SIGKILL);
            timed_out = 1;
        }
        struct timespec ts = {0, nap_ns};
        nanosleep(&ts, NULL);
        if (nap_ns < 10000000)
            nap_ns *= 2;
    }
    double secs = now() - start;

    if (atomic_load(&shared->skipped) && !timed_out) {
        if (verbosity >= 1) {
            const char *m = shared->skip_msg[0] == ' ' ? shared->skip_msg + 1
                                                        : shared->skip_msg;
            fprintf(stderr, "[SKIP] %s::%s: %s\n", t->suite, t->name,
                    *m ? m : "Test was skipped");
        }
        return;
    }

    tot->tested++;
    const char *file = atomic_load(&shared->last_file);
    int line = atomic_load(&shared->last_line);
    int failed = atomic_load(&shared->failed) > 0;
    int crashed = 0;
    int reports = atomic_load(&shared->tsan_reports);

    if (timed_out) {
        fprintf(stderr, "[FAIL] %s::%s: Timed out. (%.2fs)\n", t->suite,
                t->name, secs);
        tot->failing++;
        return;
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig != p->signal) {
            if (file)
                fprintf(stderr, "[----] %s:%d: Unexpected signal caught "
                        "below this line!\n", file, line);
            fprintf(stderr, "[----] %s::%s: killed by signal %d (%s)\n",
                    t->suite, t->name, sig, strsignal(sig));
            crashed = 1;
        }
    } else if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (p->signal) {
            fprintf(stderr, "[----] %s::%s: exited with status %d instead "
                    "of being killed by signal %d (%s)\n", t->suite, t->name,
                    code, p->signal, strsignal(p->signal));
            failed = 1;
        }
        if (reports > 0 || (code == 66 && p->exit_code != 66)) {
            if (reports > 0)
                fprintf(stderr, "[----] %s::%s: ThreadSanitizer: %d "
                        "report(s), the first: %s\n", t->suite, t->name,
                        reports, shared->tsan_summary);
            else
                fprintf(stderr, "[----] %s::%s: exit status 66: "
                        "ThreadSanitizer stopped the test (see its output "
                        "above)\n", t->suite, t->name);
            if (strstr(shared->tsan_summary, "SEGV") ||
                strstr(shared->tsan_summary, "signal"))
                crashed = 1;
            else
                failed = 1;
        } else if (code != p->exit_code) {
            fprintf(stderr, "[----] %s::%s: exit status %d, expected %d%s\n",
                    t->suite, t->name, code, p->exit_code,
                    atomic_load(&shared->finished)
                        ? ""
                        : " (the child exited before the test returned)");
            failed = 1;
        }
    }

    if (crashed) {
        if (file && !WIFSIGNALED(status))
            fprintf(stderr, "[----] %s:%d: Unexpected signal caught below "
                    "this line!\n", file, line);
        fprintf(stderr, "[FAIL] %s::%s: CRASH!\n", t->suite, t->name);
        tot->crashing++;
        tot->failing++;
    } else if (failed) {
        fprintf(stderr, "[FAIL] %s::%s: (%.2fs)\n", t->suite, t->name, secs);
        tot->failing++;
    } else {
        if (verbosity >= 1)
            fprintf(stderr, "[PASS] %s::%s: (%.2fs)\n", t->suite, t->name,
                    secs);
        tot->passing++;
    }
}

static int by_suite_then_name(const void *a, const void *b)
{
    const struct crs_test_ *x = *(struct crs_test_ *const *)a;
    const struct crs_test_ *y = *(struct crs_test_ *const *)b;
    int c = strcmp(x->suite, y->suite);
    return c ? c : strcmp(x->name, y->name);
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [OPTIONS]\n"
            "Criterion stand-in for the ThreadSanitizer build "
            "(tests/tsan/README.md).\n"
            "    -h, --help             this message\n"
            "    -l, --list             list the tests\n"
            "    --filter PATTERN       run suite/name matching the glob\n"
            "    --timeout SECONDS      timeout for tests that set none\n"
            "    --verbose[=LEVEL]      print every test, cr_log_info\n"
            "    -q, --quiet            only the summary line\n"
            "    -f, --fail-fast        stop after the first failure\n"
            "    --always-succeed       exit 0 whatever the results\n"
            "    -jN, --jobs N          accepted; tests run one at a time\n"
            "Other options are ignored.\n",
            prog);
}

/* value of "--opt=V" or "--opt V" (advancing *i); NULL if absent */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

int main(int argc, char **argv)
{
    const char *filter = getenv("CRITERION_TEST_PATTERN");
    const char *env_v = getenv("CRITERION_VERBOSITY_LEVEL");
    double default_timeout = 0;
    int list = 0, quiet = 0, fail_fast = 0, always_succeed = 0;
    if (env_v)
        verbosity = atoi(env_v);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(argv[0]);
            return 0;
        } else if (!strcmp(a, "-l") || !strcmp(a, "--list")) {
            list = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--fail-fast")) {
            fail_fast = 1;
        } else if (!strcmp(a, "--always-succeed")) {
            always_succeed = 1;
        } else if (!strcmp(a, "--verbose")) {
            verbosity = 1;
        } else if (!strncmp(a, "--verbose=", 10)) {
            verbosity = atoi(a + 10);
        } else if (!strncmp(a, "-j", 2) && a[2]) {
            /* -jN: accepted, see usage */
        } else if ((v = opt_value(argc, argv, &i, "--jobs"))) {
            (void)v;
        } else if ((v = opt_value(argc, argv, &i, "--filter"))) {
            filter = v;
        } else if ((v = opt_value(argc, argv, &i, "--timeout"))) {
            default_timeout = atof(v);
        } else if (!strcmp(a, "-v") || !strcmp(a, "--version")) {
            fprintf(stderr, "Criterion stand-in for ThreadSanitizer "
                    "(sluice tests/tsan)\n");
            return 0;
        }
        /* anything else (--color, --ascii, --tap, -S ...) is ignored */
    }
    if (quiet)
        verbosity = -1;

    struct crs_test_ **order = calloc(ntests ? ntests : 1, sizeof *order);
    if (!order)
        return 1;
    size_t k = 0;
    for (struct crs_test_ *t = tests; t; t = t->next)
        order[k++] = t;
    qsort(order, ntests, sizeof *order, by_suite_then_name);

    if (list) {
        for (size_t i = 0; i < ntests; i++)
            printf("%s::%s\n", order[i]->suite, order[i]->name);
        free(order);
        return 0;
    }

    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        perror("mmap");
        return 1;
    }

    if (verbosity >= 1)
        fprintf(stderr, "[----] Criterion stand-in for ThreadSanitizer\n");

    struct totals tot = {0, 0, 0, 0};
    const char *cur_suite = NULL;
    for (size_t i = 0; i < ntests; i++) {
        struct crs_test_ *t = order[i];
        char full[512];
        snprintf(full, sizeof full, "%s/%s", t->suite, t->name);
        if (filter && fnmatch(filter, full, 0) != 0)
            continue;

        const struct criterion_test_extra_data *so = suite_opts(t->suite);
        if (verbosity >= 1 && (!cur_suite || strcmp(cur_suite, t->suite))) {
            size_t n = 0;
            for (size_t j = i; j < ntests && !strcmp(order[j]->suite,
                                                     t->suite); j++) {
                char f[512];
                snprintf(f, sizeof f, "%s/%s", order[j]->suite,
                         order[j]->name);
                n += !filter || fnmatch(filter, f, 0) == 0;
            }
            fprintf(stderr, "[====] Running %zu tests from %s:\n", n,
                    t->suite);
            cur_suite = t->suite;
        }
        if (t->opts->disabled || (so && so->disabled)) {
            if (verbosity >= 1)
                fprintf(stderr, "[SKIP] %s::%s: Test is disabled\n", t->suite,
                        t->name);
            continue;
        }

        struct plan p = {.t = t, .so = so};
        p.timeout = t->opts->timeout > 0        ? t->opts->timeout
                    : so && so->timeout > 0     ? so->timeout
                                                : default_timeout;
        p.exit_code = t->opts->exit_code ? t->opts->exit_code
                      : so               ? so->exit_code
                                         : 0;
        p.signal = t->opts->signal ? t->opts->signal : so ? so->signal : 0;

        int before = tot.failing;
        run_one(&p, &tot);
        if (fail_fast && tot.failing > before)
            break;
    }

    fprintf(stderr,
            "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | "
            "Crashing: %d \n",
            tot.tested, tot.passing, tot.failing, tot.crashing);
    munmap(shared, sizeof *shared);
    free(order);
    return tot.failing && !always_succeed ? 1 : 0;
}
