/*
 * The kill loop: a process logging into a durable logger is killed with
 * SIGKILL at a random moment, 100 times in a row, restarted each time
 * (each start replays what the file sink had not confirmed), then run to
 * a clean close; nothing accepted may be missing from the output.
 *
 * What the test knows was accepted never comes from the logger:
 *   - the host program (tests/hosts/durable_host.c) says, in a file of its
 *     own that it maps, the number it is about to log and the last one
 *     whose logging call returned; the test reads it after the kill;
 *   - `sluice run` cannot say so (a line written into its standard input
 *     is accepted only once sluice logged it), so that variant gives the
 *     logger two sinks: a slow one (the output under test) and a fast
 *     file, the witness. A line in the witness's file was in the queue:
 *     the witness wrote it in the live process. The output must end up
 *     with every line the witness saw, so the lines the slow sink had not
 *     confirmed at a kill must come back from the file. And since sluice
 *     logs its input in order, what either sink got of one run must be a
 *     prefix of the lines fed to it, with no hole: a hole is a record lost
 *     after a later one was accepted.
 * Each run's part of the output (the bytes it added) holds numbers in
 * increasing order: first what was replayed, then the new ones. A number
 * may appear twice only across runs (written, not yet confirmed at the
 * kill: replayed); the test reports how many did.
 */
#include "helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

extern char **environ;

TestSuite(kill_loop, .timeout = 600);

#define KILLS 100

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* The numbers of one file, by run: parts[k] = [bound[k], bound[k + 1]). */
typedef struct tally {
    unsigned char *count;      /* times each number was seen (capped) */
    size_t max;                /* numbers 0..max-1 */
    uint64_t duplicates;       /* numbers seen more than once */
    uint64_t lines;
    /* run k's own numbers are [own_from[k], own_from[k + 1]); own[k]
     * counts those its part holds: written before its kill */
    const unsigned long long *own_from;
    uint64_t *own;
} tally;

/* Count the "n=N" numbers of path's parts: in each part they increase (a
 * torn last line, cut by the kill, is left out). */
static void tally_file(const char *path, const off_t *bound, size_t parts,
                       const char *prefix, tally *t)
{
    size_t len;
    char *text = read_file(path, &len);
    cr_assert_eq((off_t)len, bound[parts], "%s: %zu bytes, expected %lld", path,
                 len, (long long)bound[parts]);
    for (size_t k = 0; k < parts; k++) {
        const char *p = text + bound[k], *end = text + bound[k + 1];
        unsigned long long last = 0;
        bool any = false;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl)
                break; /* a line the kill cut: its record was not confirmed */
            /* by hand: sscanf would measure the whole rest of the text */
            unsigned long long n = 0;
            const char *digit = p + strlen(prefix);
            bool good = strncmp(p, prefix, strlen(prefix)) == 0 &&
                        digit < nl && *digit >= '0' && *digit <= '9';
            for (; good && digit < nl && *digit >= '0' && *digit <= '9'; digit++)
                n = n * 10 + (unsigned long long)(*digit - '0');
            cr_assert(good && (digit == nl || *digit == ' '),
                      "%s, run %zu: bad line '%.*s'", path, k, (int)(nl - p), p);
            cr_assert(!any || n > last,
                      "%s, run %zu: %llu after %llu (a run writes what it "
                      "replays, then its own, in order)",
                      path, k, n, last);
            cr_assert_lt(n, t->max, "%s: %llu is out of range", path, n);
            any = true;
            last = n;
            if (n >= t->own_from[k] && n < t->own_from[k + 1])
                t->own[k]++;
            if (t->count[n] == 1)
                t->duplicates++;
            if (t->count[n] < 255)
                t->count[n]++;
            t->lines++;
            p = nl + 1;
        }
    }
    free(text);
}

static pid_t spawn(char *const argv[], int stdin_fd)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (stdin_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, stdin_fd, STDIN_FILENO);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    cr_assert_eq(rc, 0, "posix_spawn %s: %s", argv[0], strerror(rc));
    return pid;
}

static int wait_exit(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return st;
}

/* ---- the host program -------------------------------------------------- */

Test(kill_loop, host_killed_100_times_loses_nothing_it_had_accepted)
{
    const char *host = getenv("SLUICE_DURABLE_HOST");
    cr_assert_not_null(host, "SLUICE_DURABLE_HOST is not set");
    char *dir = tmpdir_make();
    char ini[1024], ini_text[1024], out[600], counter_path[600];
    snprintf(ini, sizeof ini, "%s/host.ini", dir);
    snprintf(out, sizeof out, "%s/out.log", dir);
    snprintf(counter_path, sizeof counter_path, "%s/counter", dir);
    snprintf(ini_text, sizeof ini_text,
             "[sink.out]\nplugin = file\npath = %s\npattern = %%m\n"
             "[logger.kill]\nsinks = out\ndurable = %s/queue\n"
             "queue_size = 256K\nproducer_rings = 2\n",
             out, dir);
    write_text(ini, ini_text);
    int fd = open(counter_path, O_RDWR | O_CREAT, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 2 * sizeof(uint64_t)), 0);
    _Atomic uint64_t *counter = mmap(NULL, 2 * sizeof(uint64_t),
                                     PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    cr_assert_neq(counter, MAP_FAILED);

    unsigned seed = (unsigned)time(NULL);
    cr_log_info("kill loop seed %u", seed);
    srand(seed);
    /* run k logs from first[k]; accepted[k] is the last number whose call
     * returned before the kill, first[k + 1] - 1 the last it began */
    static unsigned long long first[KILLS + 2], accepted[KILLS + 1];
    static uint64_t own[KILLS + 1];
    static off_t bound[KILLS + 2];
    unsigned long long next = 1;
    double start = now_s();
    for (int k = 0; k <= KILLS; k++) {
        first[k] = next;
        bound[k] = file_size(out);
        atomic_store(&counter[0], next - 1);
        atomic_store(&counter[1], next - 1);
        char first_arg[32], last_arg[32];
        bool final = k == KILLS;
        snprintf(first_arg, sizeof first_arg, "%llu", next);
        snprintf(last_arg, sizeof last_arg, "%llu",
                 final ? next + 20000 : next + 100000000ull);
        char *argv[] = {(char *)host, ini, "kill", counter_path, first_arg,
                        last_arg, NULL};
        pid_t pid = spawn(argv, -1);
        if (final) {
            int st = wait_exit(pid);
            cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "the last run did not close cleanly (status %d)", st);
        } else {
            sleep_ms(5 + rand() % 300);
            kill(pid, SIGKILL);
            int st = wait_exit(pid);
            cr_assert(WIFSIGNALED(st), "run %d ended by itself (status %d)", k, st);
        }
        accepted[k] = atomic_load(&counter[1]);
        next = atomic_load(&counter[0]) + 1;
    }
    bound[KILLS + 1] = file_size(out);
    first[KILLS + 1] = next + 1;
    double took = now_s() - start;

    tally t = {calloc(next + 1, 1), next + 1, 0, 0, first, own};
    cr_assert_not_null(t.count);
    tally_file(out, bound, KILLS + 1, "n=", &t);
    uint64_t lost = 0, maybe = 0, accepted_total = 0, replayed = 0;
    for (int k = 0; k <= KILLS; k++) {
        /* accepted, not yet written when it was killed: the file kept it */
        uint64_t mine = accepted[k] + 1 - first[k];
        replayed += mine > own[k] ? mine - own[k] : 0;
        for (unsigned long long n = first[k]; n <= accepted[k]; n++) {
            accepted_total++;
            if (!t.count[n]) {
                if (lost < 10)
                    cr_log_error("run %d: record %llu was accepted and is "
                                 "missing", k, n);
                lost++;
            }
        }
        /* the call the kill interrupted: accepted or not, either is right */
        unsigned long long end = k < KILLS ? first[k + 1] - 1 : accepted[k];
        maybe += end > accepted[k];
    }
    cr_log_info("kill loop: %d kills in %.1f s, %llu records accepted, %llu "
                "of them written only after a restart (replayed), %llu lines "
                "written, %llu duplicates (written, not yet confirmed at a "
                "kill), %llu interrupted calls",
                KILLS, took, (unsigned long long)accepted_total,
                (unsigned long long)replayed, (unsigned long long)t.lines,
                (unsigned long long)t.duplicates, (unsigned long long)maybe);
    cr_assert_eq(lost, 0, "%llu accepted records lost", (unsigned long long)lost);
    /* every line is an accepted record, or the one interrupted call, or a
     * replayed copy of one */
    cr_assert_leq(t.lines, accepted_total + maybe + t.duplicates);
    free(t.count);
    munmap(counter, 2 * sizeof(uint64_t));
    close(fd);
    tmpdir_remove(dir);
}

/* ---- sluice run ---------------------------------------------------------- */

/* run k feeds k * RUN_SPAN + 1, + 2, ...: far more than one feeds in its
 * at most ~0.3 s at ~128,000 lines a second */
#define RUN_SPAN 1000000ull

/* Write numbered lines into fd until it breaks (sluice was killed) or
 * count lines are written; a pause every 64 lines keeps the files small. */
static void feed(int fd, unsigned long long from, unsigned long long count)
{
    signal(SIGPIPE, SIG_IGN);
    char buf[64 * 24];
    for (unsigned long long n = from; n < from + count;) {
        size_t len = 0;
        for (int i = 0; i < 64 && n < from + count; i++, n++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "n=%llu\n", n);
        for (size_t at = 0; at < len;) {
            ssize_t w = write(fd, buf + at, len - at);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                _exit(0);
            }
            at += (size_t)w;
        }
        usleep(500);
    }
    _exit(0);
}

/* The run's numbers in a tally form one prefix of what was fed to it: a
 * hole before a later number is a lost record. Returns the prefix's
 * length. */
static unsigned long long prefix_of(const tally *t, unsigned long long from,
                                    const char *what, int run)
{
    unsigned long long end = from;
    while (end < t->max && t->count[end])
        end++;
    for (unsigned long long n = end; n < t->max && n < from + RUN_SPAN; n++)
        cr_assert_eq(t->count[n], 0,
                     "%s, run %d: %llu is there but %llu is missing", what,
                     run, n, end);
    return end - from;
}

Test(kill_loop, sluice_run_killed_100_times_loses_nothing_it_had_accepted)
{
    char *dir = tmpdir_make();
    char ini[1024], ini_text[2048], out[600], witness[600];
    snprintf(ini, sizeof ini, "%s/run.ini", dir);
    snprintf(out, sizeof out, "%s/out.log", dir);
    snprintf(witness, sizeof witness, "%s/witness.log", dir);
    snprintf(ini_text, sizeof ini_text,
             "[sink.slow]\nplugin = fault\npath = %s\nhang_ms = 3\n"
             "pattern = %%m\n"
             "[sink.witness]\nplugin = file\npath = %s\npattern = %%m\n"
             "[logger.default]\nsinks = slow, witness\ndurable = %s/queue\n"
             "queue_size = 1M\n",
             out, witness, dir);
    write_text(ini, ini_text);
    unsigned seed = (unsigned)time(NULL) ^ 0x5eed;
    cr_log_info("sluice run kill loop seed %u", seed);
    srand(seed);
    static off_t out_bound[KILLS + 2], witness_bound[KILLS + 2];
    static unsigned long long own_from[KILLS + 2];
    static uint64_t out_own[KILLS + 1], witness_own[KILLS + 1];
    for (int k = 0; k <= KILLS + 1; k++)
        own_from[k] = (unsigned long long)k * RUN_SPAN + 1;
    double start = now_s();
    for (int k = 0; k <= KILLS; k++) {
        out_bound[k] = file_size(out);
        witness_bound[k] = file_size(witness);
        bool final = k == KILLS;
        int pipe_fd[2];
        cr_assert_eq(pipe2(pipe_fd, O_CLOEXEC), 0);
        char *argv[] = {(char *)cli(), "run", "-c", ini, "-t", "-1", NULL};
        pid_t pid = spawn(argv, pipe_fd[0]);
        close(pipe_fd[0]);
        pid_t feeder = fork();
        cr_assert_geq(feeder, 0);
        if (feeder == 0)
            feed(pipe_fd[1], (unsigned long long)k * RUN_SPAN + 1,
                 final ? 5000 : RUN_SPAN - 1);
        close(pipe_fd[1]);
        if (final) {
            int st = wait_exit(pid);
            cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "the last run did not deliver everything (status %d)", st);
        } else {
            sleep_ms(5 + rand() % 300);
            kill(pid, SIGKILL);
            int st = wait_exit(pid);
            cr_assert(WIFSIGNALED(st), "run %d ended by itself (status %d)", k, st);
        }
        kill(feeder, SIGKILL);
        wait_exit(feeder);
    }
    out_bound[KILLS + 1] = file_size(out);
    witness_bound[KILLS + 1] = file_size(witness);
    double took = now_s() - start;

    size_t max = (size_t)(KILLS + 1) * RUN_SPAN;
    tally o = {calloc(max, 1), max, 0, 0, own_from, out_own},
          w = {calloc(max, 1), max, 0, 0, own_from, witness_own};
    cr_assert(o.count && w.count);
    tally_file(out, out_bound, KILLS + 1, "n=", &o);
    tally_file(witness, witness_bound, KILLS + 1, "n=", &w);
    unsigned long long fed_kept = 0, replayed = 0;
    for (int k = 0; k <= KILLS; k++) {
        unsigned long long from = (unsigned long long)k * RUN_SPAN + 1;
        unsigned long long in_out = prefix_of(&o, from, "output", k);
        unsigned long long in_witness = prefix_of(&w, from, "witness", k);
        cr_assert_eq(in_out, in_witness,
                     "run %d: the witness saw %llu of its lines, the output "
                     "has %llu",
                     k, in_witness, in_out);
        fed_kept += in_out;
        replayed += in_out > out_own[k] ? in_out - out_own[k] : 0;
    }
    cr_log_info("sluice run kill loop: %d kills in %.1f s, %llu lines kept, "
                "%llu of them written to the output only after a restart "
                "(replayed), %llu duplicates in the output, %llu in the "
                "witness",
                KILLS, took, fed_kept, replayed,
                (unsigned long long)o.duplicates,
                (unsigned long long)w.duplicates);
    free(o.count);
    free(w.count);
    tmpdir_remove(dir);
}
