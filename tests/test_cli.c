/*
 * The `sluice` command end to end, and a plugin built the way
 * docs/writing-a-sink.md says.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static pid_t running = -1; /* killed by fini if a test stopped early */

static void kill_running(void)
{
    if (running > 0) {
        kill(running, SIGKILL);
        waitpid(running, NULL, 0);
        running = -1;
    }
}

TestSuite(cli, .timeout = 120, .fini = kill_running);

static const char *src(void)
{
    const char *p = getenv("SLUICE_SOURCE_ROOT");
    cr_assert_not_null(p, "SLUICE_SOURCE_ROOT is not set");
    return p;
}

Test(cli, help_and_version)
{
    char *out;
    cr_assert_eq(sh(&out, "%s --help", cli()), 0);
    cr_assert(strstr(out, "run [-c FILE]") && strstr(out, "check -c FILE") &&
              strstr(out, "plugins"), "%s", out);
    free(out);
    cr_assert_eq(sh(&out, "%s --version", cli()), 0);
    cr_assert(strstr(out, "sluice " SLUICE_VERSION " (plugin ABI 2)"), "%s", out);
    free(out);
    cr_assert_eq(sh(&out, "%s frobnicate", cli()), 2);
    cr_assert(strstr(out, "unknown command 'frobnicate'"), "%s", out);
    free(out);
}

Test(cli, run_writes_stdin_lines_through_the_logger)
{
    char *dir = tmpdir_make();
    char ini[2048], conf[512], log[512];
    snprintf(log, sizeof log, "%s/out.log", dir);
    snprintf(conf, sizeof conf, "%s/app.ini", dir);
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\n[logger.default]\nsinks = f\n", log);
    write_text(conf, ini);
    char *out;
    int rc = sh(&out, "printf 'hello\\nsecond line\\nforged\\033[31m\\n' | %s run -c %s", cli(), conf);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char *text = read_file(log, NULL);
    cr_assert_eq(count_lines(text), 3, "%s", text);
    cr_assert(strstr(text, "INFO [default] hello\n"), "%s", text);
    cr_assert(strstr(text, "INFO [default] second line\n"), "%s", text);
    cr_assert(strstr(text, "forged\\x1b[31m\n"), "control characters escaped: %s", text);
    free(text);
    tmpdir_remove(dir);
}

Test(cli, run_sends_a_line_to_the_sinks_whose_level_it_reaches)
{
    /* conf/examples/levels.ini with a file for syslog */
    char *dir = tmpdir_make();
    char ini[2048], conf[512], all[512], warn[512];
    snprintf(all, sizeof all, "%s/debug.log", dir);
    snprintf(warn, sizeof warn, "%s/warn.log", dir);
    snprintf(conf, sizeof conf, "%s/levels.ini", dir);
    snprintf(ini, sizeof ini,
             "[sink.debug]\nplugin = file\npath = %s\npattern = %%l %%m\n"
             "[sink.warnings]\nplugin = file\npath = %s\npattern = %%l %%m\n"
             "level = warn\n"
             "[logger.default]\nsinks = debug, warnings\nlevel = debug\n",
             all, warn);
    write_text(conf, ini);
    char *out;
    cr_assert_eq(sh(&out, "printf 'one\\ntwo\\n' | %s run -c %s -L debug", cli(), conf), 0,
                 "below a sink's level is not undelivered: %s", out);
    free(out);
    cr_assert_eq(sh(&out, "printf 'three\\n' | %s run -c %s -L warn", cli(), conf), 0,
                 "%s", out);
    free(out);
    char *text = read_file(all, NULL);
    cr_assert_str_eq(text, "debug one\ndebug two\nwarn three\n");
    free(text);
    text = read_file(warn, NULL);
    cr_assert_str_eq(text, "warn three\n");
    free(text);
    tmpdir_remove(dir);
}

Test(cli, check_reports_every_error_with_file_and_line)
{
    char *dir = tmpdir_make();
    char conf[512];
    snprintf(conf, sizeof conf, "%s/bad.ini", dir);
    write_text(conf, "[sink.f]\nplugin = file\npath = /tmp/x\nbogus = 1\n"
                     "[logger.a]\nsinks = f, g\nlevel = chatty\n");
    char *out;
    cr_assert_eq(sh(&out, "%s check -c %s", cli(), conf), 1);
    char want[600];
    snprintf(want, sizeof want, "%s:4: [sink.f]: unknown key 'bogus'", conf);
    cr_assert(strstr(out, want), "missing '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, "%s:6: [logger.a] sinks: no sink named 'g'", conf);
    cr_assert(strstr(out, want), "missing '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, "%s:7: [logger.a] level: 'chatty'", conf);
    cr_assert(strstr(out, want), "missing '%s' in:\n%s", want, out);
    free(out);
    tmpdir_remove(dir);
}

/* The copy of a configuration with its /var/log/ moved under root (sluice
 * check insists that a file sink's folder exists; the examples name the
 * folders a real host would have). */
static void copy_under(const char *from, const char *root, const char *to)
{
    char *text = read_file(from, NULL);
    FILE *f = fopen(to, "w");
    cr_assert_not_null(f);
    for (const char *p = text; *p;) {
        const char *hit = strstr(p, "/var/log/");
        if (!hit) {
            fputs(p, f);
            break;
        }
        fprintf(f, "%.*s%s/var/log/", (int)(hit - p), p, root);
        p = hit + strlen("/var/log/");
    }
    fclose(f);
    free(text);
}

Test(cli, every_shipped_configuration_checks)
{
    char pattern[4096];
    const char *dirs[] = {"conf/*.ini", "conf/examples/*.ini"};
    size_t checked = 0;
    char *root = tmpdir_make();
    char *out;
    cr_assert_eq(sh(&out, "mkdir -p %s/var/log/app %s/var/log/myapp", root,
                    root), 0, "%s", out);
    free(out);
    for (size_t d = 0; d < 2; d++) {
        glob_t g;
        snprintf(pattern, sizeof pattern, "%s/%s", src(), dirs[d]);
        if (glob(pattern, 0, NULL, &g) != 0)
            continue;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            char copy[4096];
            snprintf(copy, sizeof copy, "%s/%s", root,
                     strrchr(g.gl_pathv[i], '/') + 1);
            copy_under(g.gl_pathv[i], root, copy);
            int rc = sh(&out, "%s check -c %s", cli(), copy);
            cr_assert_eq(rc, 0, "%s does not check:\n%s", g.gl_pathv[i], out);
            free(out);
            checked++;
        }
        globfree(&g);
    }
    cr_assert_geq(checked, 2, "no configuration found under %s/conf", src());
    tmpdir_remove(root);
}

Test(cli, plugins_lists_what_it_finds)
{
    char *out;
    cr_assert_eq(sh(&out, "%s plugins", cli()), 0);
    cr_assert(strstr(out, "file ") && strstr(out, "console ") && strstr(out, "null "),
              "%s", out);
    cr_assert(strstr(out, "/file.so"), "paths are shown: %s", out);
    free(out);
}

Test(cli, sighup_reopens_for_logrotate)
{
    char *dir = tmpdir_make();
    char ini[2048], conf[512], log[512], fifo[512];
    snprintf(log, sizeof log, "%s/app.log", dir);
    snprintf(conf, sizeof conf, "%s/app.ini", dir);
    snprintf(fifo, sizeof fifo, "%s/in", dir);
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\n[logger.default]\nsinks = f\n"
             "flush_interval_ms = 10\n", log);
    write_text(conf, ini);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    pid_t pid = fork();
    if (pid == 0) {
        freopen(fifo, "r", stdin);
        execl(cli(), "sluice", "run", "-c", conf, (char *)NULL);
        _exit(127);
    }
    FILE *in = fopen(fifo, "w");
    cr_assert_not_null(in);
    for (int i = 0; i < 100; i++)
        fprintf(in, "before %d\n", i);
    fflush(in);
    /* wait until all 100 are in the file, then rotate like logrotate */
    for (int t = 0; t < 5000; t++) {
        char *text = read_file(log, NULL);
        size_t n = count_lines(text);
        free(text);
        if (n == 100)
            break;
        usleep(1000);
    }
    char rotated[600];
    snprintf(rotated, sizeof rotated, "%s.1", log);
    cr_assert_eq(rename(log, rotated), 0);
    cr_assert_eq(kill(pid, SIGHUP), 0);
    struct stat st;
    for (int t = 0; t < 5000 && stat(log, &st) != 0; t++)
        usleep(1000);
    cr_assert_eq(stat(log, &st), 0, "SIGHUP did not reopen %s", log);
    for (int i = 0; i < 100; i++)
        fprintf(in, "after %d\n", i);
    fclose(in);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *old = read_file(rotated, NULL), *cur = read_file(log, NULL);
    cr_assert_eq(count_lines(old), 100, "rotated file: %s", old);
    cr_assert_eq(count_lines(cur), 100, "new file: %s", cur);
    cr_assert(strstr(old, "before 99\n") && strstr(cur, "after 0\n") && strstr(cur, "after 99\n"));
    free(old);
    free(cur);
    tmpdir_remove(dir);
}

Test(cli, a_plugin_built_as_the_docs_say_runs)
{
    char *dir = tmpdir_make();
    char *out;
    /* the one line from docs/writing-a-sink.md */
    int rc = sh(&out, "cd %s && cc -shared -fPIC -I include -o %s/template.so "
                      "examples/sink-template/template.c",
                src(), dir);
    cr_assert_eq(rc, 0, "the documented build line failed:\n%s", out);
    free(out);
    char ini[1024], conf[512], log[512];
    snprintf(log, sizeof log, "%s/mine.log", dir);
    snprintf(conf, sizeof conf, "%s/app.ini", dir);
    snprintf(ini, sizeof ini,
             "[sink.mine]\nplugin = ./template.so\npath = %s\nprefix = >>\n"
             "[logger.default]\nsinks = mine\n", log);
    write_text(conf, ini);
    rc = sh(&out, "echo 'from a plugin' | %s run -c %s", cli(), conf);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char *text = read_file(log, NULL);
    cr_assert(strncmp(text, ">>", 2) == 0 && strstr(text, "[default] from a plugin\n"), "%s", text);
    free(text);
    tmpdir_remove(dir);
}

Test(cli, sigusr1_resumes_a_given_up_sink)
{
    char *dir = tmpdir_make();
    char ini[2048], conf[512], out[512], fifo[512];
    snprintf(out, sizeof out, "%s/out.log", dir);
    snprintf(conf, sizeof conf, "%s/app.ini", dir);
    snprintf(fifo, sizeof fifo, "%s/in", dir);
    /* the sink fails for its first 400 ms; one restart allowed: given up */
    snprintf(ini, sizeof ini,
             "[runtime]\nrestart_backoff_ms = 1..2\nrestart_intensity = 1/10s\n"
             "[sink.f]\nplugin = fault\npath = %s\nfail_first_ms = 400\n"
             "[logger.default]\nsinks = f\n", out);
    write_text(conf, ini);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    pid_t pid = fork();
    if (pid == 0) {
        freopen(fifo, "r", stdin);
        execl(cli(), "sluice", "run", "-c", conf, "-t", "2000", (char *)NULL);
        _exit(127);
    }
    FILE *in = fopen(fifo, "w");
    cr_assert_not_null(in);
    for (int i = 0; i < 20; i++)
        fprintf(in, "line %d\n", i);
    fflush(in);
    usleep(600000); /* given up by now, and the sink is healthy again */
    char *text = read_file(out, NULL);
    cr_assert_eq(count_lines(text), 0, "nothing should be written while given up: %s", text);
    free(text);
    cr_assert_eq(kill(pid, SIGUSR1), 0);
    for (int t = 0; t < 5000; t++) {
        text = read_file(out, NULL);
        size_t n = count_lines(text);
        free(text);
        if (n == 20)
            break;
        usleep(1000);
    }
    fclose(in);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sluice run exited %d",
              WEXITSTATUS(status));
    text = read_file(out, NULL);
    cr_assert_eq(count_lines(text), 20, "%s", text);
    free(text);
    tmpdir_remove(dir);
}

Test(cli, plugins_name_prints_the_options_with_types_defaults_and_ranges)
{
    char *out;
    cr_assert_eq(sh(&out, "%s plugins file", cli()), 0, "%s", out);
    cr_assert(strstr(out, "file: append to a file"), "%s", out);
    cr_assert(strstr(out, "ABI:  2"), "%s", out);
    /* name, type with range, default, description on one line */
    const char *rows[] = {"path ", "required", "mode ", "octal int 0..07777",
                          "0640", "keep ", "int 0..100000", "rotate ",
                          "one of none, daily, hourly", "fsync_interval_ms",
                          "duration 0..1d", "rotate_bytes", "size 0..1024T"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cr_assert(strstr(out, rows[i]), "missing '%s' in:\n%s", rows[i], out);
    free(out);
    cr_assert_eq(sh(&out, "%s plugins --markdown console", cli()), 0, "%s", out);
    cr_assert(strstr(out, "| `stream` | one of `stdout`, `stderr` | `stderr` | "),
              "%s", out);
    free(out);
    cr_assert_eq(sh(&out, "%s plugins syslog", cli()), 0, "%s", out);
    cr_assert(strstr(out, "line: none (the plugin builds its own messages)"),
              "%s", out);
    free(out);
    cr_assert_eq(sh(&out, "%s plugins no-such-plugin", cli()), 1, "%s", out);
    cr_assert(strstr(out, "plugin 'no-such-plugin' not found"), "%s", out);
    free(out);
}

/* The acceptance case: five different mistakes across two sinks, five
 * FILE:LINE errors in one `sluice check`. */
Test(cli, check_prints_every_mistake_of_two_sinks_with_its_line)
{
    char *dir = tmpdir_make();
    char conf[512], ini[1024];
    snprintf(conf, sizeof conf, "%s/five.ini", dir);
    snprintf(ini, sizeof ini,
             "[sink.f]\n"              /* 1 */
             "plugin = file\n"         /* 2: path is missing */
             "keep = 010\n"            /* 3 */
             "rotate = weekly\n"       /* 4 */
             "[sink.c]\n"              /* 5 */
             "plugin = console\n"      /* 6 */
             "stream = stdin\n"        /* 7 */
             "colour = red\n"          /* 8 */
             "[logger.a]\nsinks = f, c\n");
    write_text(conf, ini);
    char *out;
    cr_assert_eq(sh(&out, "%s check -c %s", cli(), conf), 1, "%s", out);
    char want[5][1200];
    snprintf(want[0], sizeof want[0], "%s:3: sink 'f': option 'keep': '010' "
             "is not a decimal integer: leading zeros are not allowed", conf);
    snprintf(want[1], sizeof want[1], "%s:4: sink 'f': option 'rotate': "
             "'weekly' is not one of none, daily, hourly", conf);
    snprintf(want[2], sizeof want[2], "%s:1: sink 'f': option 'path': is "
             "required", conf);
    snprintf(want[3], sizeof want[3], "%s:7: sink 'c': option 'stream': "
             "'stdin' is not one of stdout, stderr", conf);
    snprintf(want[4], sizeof want[4], "%s:8: [sink.c]: unknown key 'colour' "
             "for plugin 'console'", conf);
    for (int i = 0; i < 5; i++)
        cr_assert(strstr(out, want[i]), "missing '%s' in:\n%s", want[i], out);
    cr_assert_eq(count_lines(out), 5, "five errors, no more:\n%s", out);
    free(out);
    tmpdir_remove(dir);
}

/* ---- `sluice run` stopping: a child with its stdin a pipe we hold ------- */

typedef struct run_child {
    pid_t pid;
    int in;             /* the write end of its standard input */
    char err[600];      /* its standard error, a file */
} run_child;

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

/* Start `sluice run -c conf -t timeout_ms`; its stderr is err_fd, or the
 * file ch->err when err_fd is -1. */
static void run_start_err(run_child *ch, const char *dir, const char *conf,
                          const char *timeout_ms, int err_fd)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20); /* room for every line we write */
    snprintf(ch->err, sizeof ch->err, "%s/stderr", dir);
    const char *path = cli();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int err = err_fd >= 0 ? err_fd
                              : open(ch->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fds[0], STDIN_FILENO);
        dup2(err, STDERR_FILENO);
        execl(path, "sluice", "run", "-c", conf, "-t", timeout_ms, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    ch->pid = running = pid;
    ch->in = fds[1];
}

static void run_start(run_child *ch, const char *dir, const char *conf,
                      const char *timeout_ms)
{
    run_start_err(ch, dir, conf, timeout_ms, -1);
}

static void run_feed(run_child *ch, int first, int last)
{
    for (int i = first; i <= last; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "line %d\n", i);
        cr_assert_eq(write(ch->in, line, (size_t)n), n);
    }
}

/* Its exit status (as waitpid says it), waiting at most limit_ms: an upper
 * bound for a hang, after which it is killed and the test fails. */
static int run_wait(run_child *ch, int limit_ms, int64_t *took_ms)
{
    int64_t start = ms_now();
    int status;
    for (;;) {
        pid_t got = waitpid(ch->pid, &status, WNOHANG);
        cr_assert_neq(got, -1, "waitpid: %s", strerror(errno));
        if (got == ch->pid)
            break;
        if (ms_now() - start > limit_ms) {
            kill_running();
            cr_assert_fail("sluice run did not exit within %d ms", limit_ms);
        }
        sleep_ms(10);
    }
    running = -1;
    if (took_ms)
        *took_ms = ms_now() - start;
    close(ch->in);
    return status;
}

/* Wait (60 s at most: a bound for a hang) until file holds text. */
static bool wait_text(const char *file, const char *text)
{
    for (int i = 0; i < 6000; i++) {
        char *got = read_file(file, NULL);
        bool found = got && strstr(got, text);
        free(got);
        if (found)
            return true;
        sleep_ms(10);
    }
    return false;
}

static size_t wait_count(const char *file, size_t want)
{
    size_t have = 0;
    for (int i = 0; i < 6000; i++) {
        char *text = read_file(file, NULL);
        have = count_lines(text);
        free(text);
        if (have >= want)
            break;
        sleep_ms(10);
    }
    return have;
}

/* A healthy file sink and a dead one (every write fails), one small queue
 * that blocks when full: once 64 lines are in, the dead sink's cursor holds
 * the queue full and the next logging call waits for ever. */
static void write_dead_sink_conf(const char *dir, char *conf, size_t size,
                                 char *good, size_t good_size)
{
    snprintf(conf, size, "%s/app.ini", dir);
    snprintf(good, good_size, "%s/good.log", dir);
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[sink.good]\nplugin = file\npath = %s\n"
             "[sink.dead]\nplugin = fault\nfail_every = 1\n"
             "[logger.default]\nsinks = good, dead\nqueue_capacity = 64\n"
             "overflow = block\nflush_interval_ms = 10\n",
             good);
    write_text(conf, ini);
}

typedef struct run_summary {
    unsigned long long read, accepted, dropped, overflowed, closed, unlogged;
    long undelivered;
} run_summary;

static bool parse_summary(const char *err, run_summary *sum)
{
    const char *at = strstr(err, " lines read, ");
    if (!at)
        return false;
    while (at > err && at[-1] != '\n' && at[-1] != ' ')
        at--;
    return sscanf(at, "%llu lines read, %llu accepted, %llu dropped (overflowed %llu, "
                      "closed %llu, unlogged %llu), %ld undelivered",
                  &sum->read, &sum->accepted, &sum->dropped, &sum->overflowed,
                  &sum->closed, &sum->unlogged, &sum->undelivered) == 7;
}

Test(cli, sigterm_stops_run_within_its_timeout_with_a_dead_sink_and_a_full_queue)
{
    char *dir = tmpdir_make();
    char conf[512], good[512];
    write_dead_sink_conf(dir, conf, sizeof conf, good, sizeof good);
    run_child ch;
    run_start(&ch, dir, conf, "1000");
    run_feed(&ch, 1, 5000); /* far more than fit */
    cr_assert_geq(wait_count(good, 64), 64, "the healthy sink did not get the first 64");
    sleep_ms(200); /* the main thread is in the blocked logging call by now */
    cr_assert_eq(kill(ch.pid, SIGTERM), 0);
    int64_t took;
    int status = run_wait(&ch, 30000, &took);
    /* -t 1000 plus a generous margin: the point is that it does not hang */
    cr_assert_leq(took, 10000, "SIGTERM took %lld ms with -t 1000", (long long)took);
    cr_assert(WIFEXITED(status), "ended by signal %d", WTERMSIG(status));
    cr_assert_eq(WEXITSTATUS(status), 3, "exit status 3: lines not delivered");
    char *err = read_file(ch.err, NULL);
    run_summary sum;
    cr_assert(parse_summary(err, &sum), "no summary on stderr:\n%s", err);
    char *text = read_file(good, NULL);
    size_t written = count_lines(text);
    free(text);
    cr_assert_eq(sum.accepted, written, "accepted = what the healthy sink wrote:\n%s", err);
    cr_assert_eq((unsigned long long)sum.undelivered, sum.accepted,
                 "the dead sink's backlog is undelivered:\n%s", err);
    cr_assert_gt(sum.read, sum.accepted, "%s", err);
    cr_assert_eq(sum.read, sum.accepted + sum.dropped, "%s", err);
    cr_assert_eq(sum.dropped, sum.overflowed + sum.closed + sum.unlogged, "%s", err);
    cr_assert_eq(sum.closed, 1, "the blocked call was refused at the stop:\n%s", err);
    cr_assert(strstr(err, "sink 'dead' (logger 'default'): 0 written, "), "%s", err);
    free(err);
    tmpdir_remove(dir);
}

Test(cli, a_second_sigterm_exits_at_once)
{
    char *dir = tmpdir_make();
    char conf[512], good[512];
    write_dead_sink_conf(dir, conf, sizeof conf, good, sizeof good);
    run_child ch;
    run_start(&ch, dir, conf, "600000"); /* the first SIGTERM would take long */
    run_feed(&ch, 1, 500);
    cr_assert_geq(wait_count(good, 64), 64);
    cr_assert_eq(kill(ch.pid, SIGTERM), 0);
    cr_assert(wait_text(ch.err, "SIGTERM: stopping"), "the first SIGTERM was not taken");
    cr_assert_eq(waitpid(ch.pid, NULL, WNOHANG), 0, "the first SIGTERM did not wait");
    cr_assert_eq(kill(ch.pid, SIGTERM), 0);
    int status = run_wait(&ch, 10000, NULL);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 4,
              "a second SIGTERM exits 4 (status %#x)", status);
    char *err = read_file(ch.err, NULL);
    cr_assert(strstr(err, "SIGTERM again: exiting at once"), "%s", err);
    free(err);
    tmpdir_remove(dir);
}

Test(cli, sigquit_from_outside_leaves_sigterm_working)
{
    char *dir = tmpdir_make();
    char conf[512], log[512], ini[1024];
    snprintf(conf, sizeof conf, "%s/app.ini", dir);
    snprintf(log, sizeof log, "%s/out.log", dir);
    snprintf(ini, sizeof ini, "[sink.f]\nplugin = file\npath = %s\n"
                              "[logger.default]\nsinks = f\nflush_interval_ms = 10\n", log);
    write_text(conf, ini);
    run_child ch;
    run_start(&ch, dir, conf, "5000");
    run_feed(&ch, 1, 100);
    cr_assert_eq(wait_count(log, 100), 100);
    cr_assert_eq(kill(ch.pid, SIGQUIT), 0);
    run_feed(&ch, 101, 200);
    cr_assert_eq(wait_count(log, 200), 200, "it stopped reading after SIGQUIT");
    cr_assert_eq(waitpid(ch.pid, NULL, WNOHANG), 0, "SIGQUIT ended sluice run");
    /* pending together, SIGQUIT is taken first: it must not end the
     * handling of the SIGTERM that follows */
    cr_assert_eq(kill(ch.pid, SIGTERM), 0);
    int status = run_wait(&ch, 10000, NULL);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    char *err = read_file(ch.err, NULL);
    cr_assert(strstr(err, "SIGQUIT ignored: SIGTERM or SIGINT stops sluice"), "%s", err);
    free(err);
    tmpdir_remove(dir);
}

Test(cli, sigterm_during_a_slow_open_ends_it_promptly)
{
    char *dir = tmpdir_make();
    char conf[512], marker[512], ini[1024];
    snprintf(conf, sizeof conf, "%s/app.ini", dir);
    snprintf(marker, sizeof marker, "%s/opening", dir);
    /* the sink's open creates the marker, then takes a minute */
    snprintf(ini, sizeof ini, "[sink.slow]\nplugin = fault\npath = %s\nopen_delay_ms = 60000\n"
                              "[logger.default]\nsinks = slow\n", marker);
    write_text(conf, ini);
    run_child ch;
    run_start(&ch, dir, conf, "5000");
    struct stat st;
    for (int i = 0; i < 6000 && stat(marker, &st) != 0; i++)
        sleep_ms(10);
    cr_assert_eq(stat(marker, &st), 0, "open never began");
    cr_assert_eq(kill(ch.pid, SIGTERM), 0);
    int status = run_wait(&ch, 10000, NULL);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    char *err = read_file(ch.err, NULL);
    cr_assert(strstr(err, "SIGTERM while starting: exiting; nothing was read yet"), "%s", err);
    free(err);
    tmpdir_remove(dir);
}

/* The count an event line gives for failures: "failed: " is one, "failed N
 * times" is N. */
static unsigned long long failures_in(const char *line)
{
    unsigned long long n;
    if (strncmp(line, "failed: ", 8) == 0)
        return 1;
    if (sscanf(line, "failed %llu times in the last", &n) == 1)
        return n;
    return 0;
}

Test(cli, a_failing_sink_is_reported_on_stderr_rate_limited_and_counted_in_full)
{
    char *dir = tmpdir_make();
    char conf[512], ini[1024];
    snprintf(conf, sizeof conf, "%s/app.ini", dir);
    /* restarted every 1-2 ms, never given up: hundreds of failures a second */
    snprintf(ini, sizeof ini, "[runtime]\nrestart_backoff_ms = 1..2\nrestart_intensity = unlimited\n"
                              "[sink.dead]\nplugin = fault\nfail_every = 1\n"
                              "[logger.default]\nsinks = dead\n");
    write_text(conf, ini);
    int64_t start = ms_now();
    run_child ch;
    run_start(&ch, dir, conf, "200");
    run_feed(&ch, 1, 10);
    /* a summary of held failures comes once the first quiet second is over */
    cr_assert(wait_text(ch.err, "times in the last"), "no summary line");
    cr_assert_eq(kill(ch.pid, SIGTERM), 0);
    int status = run_wait(&ch, 10000, NULL);
    int64_t seconds = (ms_now() - start) / 1000 + 1;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3, "status %#x", status);
    char *err = read_file(ch.err, NULL);
    const char *prefix = "sluice: sink 'dead' (logger 'default'): ";
    unsigned long long lines = 0, counted = 0, total = 0;
    for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, prefix, strlen(prefix)) != 0)
            continue;
        const char *rest = line + strlen(prefix);
        unsigned long long n = failures_in(rest);
        if (n) {
            lines++;
            counted += n;
            /* the sink's own error, or (the last one) close cutting its
             * run short, which counts as a failure too */
            cr_assert(strstr(rest, "fault: scripted failure at call ") ||
                          strstr(rest, "cancelled by close before the backlog"),
                      "%s", line);
        }
        sscanf(rest, "0 written, 10 undelivered, %llu failures", &total);
    }
    cr_assert_gt(total, 0, "no per-sink totals on stderr");
    cr_assert_eq(counted, total, "the event lines count %llu failures of %llu", counted, total);
    /* one line per second at most, plus the first and the last one */
    cr_assert_leq(lines, (unsigned long long)seconds + 2, "%llu lines in %lld s", lines,
                  (long long)seconds);
    cr_assert_gt(total, lines, "rate-limited: fewer lines than failures");
    free(err);
    tmpdir_remove(dir);
}

Test(cli, a_bad_timeout_is_refused)
{
    char *dir = tmpdir_make();
    char conf[512], log[512], ini[1024];
    snprintf(conf, sizeof conf, "%s/app.ini", dir);
    snprintf(log, sizeof log, "%s/out.log", dir);
    snprintf(ini, sizeof ini, "[sink.f]\nplugin = file\npath = %s\n"
                              "[logger.default]\nsinks = f\n", log);
    write_text(conf, ini);
    const char *bad[] = {"abc", "10x", "''", "99999999999", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out;
        int rc = sh(&out, "echo hi | %s run -c %s -t %s", cli(), conf, bad[i]);
        cr_assert_eq(rc, 2, "-t %s: exit %d\n%s", bad[i], rc, out);
        cr_assert(strstr(out, ": not a number of milliseconds"), "-t %s: %s", bad[i], out);
        free(out);
    }
    struct stat st;
    cr_assert_neq(stat(log, &st), 0, "nothing ran");
    char *out;
    cr_assert_eq(sh(&out, "echo hi | %s run -c %s -t -1", cli(), conf), 0, "%s", out);
    free(out);
    tmpdir_remove(dir);
}

/* Its stderr a pipe whose reader is gone (closed) or that is full and never
 * read (full): the event lines and the final count must neither kill
 * sluice (SIGPIPE) nor stall it; SIGTERM still ends it within -t. */
static void run_with_bad_stderr(bool closed)
{
    char *dir = tmpdir_make();
    char conf[512], good[512];
    write_dead_sink_conf(dir, conf, sizeof conf, good, sizeof good);
    int err[2];
    cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
    if (closed) {
        close(err[0]);
    } else { /* fill it: every write to it would block */
        fcntl(err[1], F_SETFL, O_NONBLOCK);
        char junk[4096];
        memset(junk, 'x', sizeof junk);
        while (write(err[1], junk, sizeof junk) > 0 || errno == EINTR)
            ;
        cr_assert_eq(errno, EAGAIN);
        fcntl(err[1], F_SETFL, 0); /* sluice gets a blocking descriptor */
    }
    run_child ch;
    run_start_err(&ch, dir, conf, "1000", err[1]);
    close(err[1]);
    run_feed(&ch, 1, 500);
    cr_assert_geq(wait_count(good, 64), 64);
    sleep_ms(200);
    cr_assert_eq(kill(ch.pid, SIGTERM), 0);
    int64_t took;
    int status = run_wait(&ch, 30000, &took);
    cr_assert(WIFEXITED(status), "ended by signal %d", WTERMSIG(status));
    cr_assert_eq(WEXITSTATUS(status), 3);
    cr_assert_leq(took, 10000, "SIGTERM took %lld ms with -t 1000", (long long)took);
    if (!closed)
        close(err[0]);
    tmpdir_remove(dir);
}

Test(cli, a_closed_stderr_does_not_kill_run)
{
    run_with_bad_stderr(true);
}

Test(cli, a_full_stderr_nobody_reads_does_not_stall_run)
{
    run_with_bad_stderr(false);
}
