/*
 * The `sluice` command end to end, and a plugin built the way
 * docs/writing-a-sink.md says.
 */
#include "helpers.h"

#include <glob.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

TestSuite(cli, .timeout = 120);

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
    cr_assert(strstr(out, "sluice " SLUICE_VERSION " (plugin ABI 1)"), "%s", out);
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

Test(cli, every_shipped_configuration_checks)
{
    char pattern[4096];
    const char *dirs[] = {"conf/*.ini", "conf/examples/*.ini"};
    size_t checked = 0;
    for (size_t d = 0; d < 2; d++) {
        glob_t g;
        snprintf(pattern, sizeof pattern, "%s/%s", src(), dirs[d]);
        if (glob(pattern, 0, NULL, &g) != 0)
            continue;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            char *out;
            int rc = sh(&out, "%s check -c %s", cli(), g.gl_pathv[i]);
            cr_assert_eq(rc, 0, "%s does not check:\n%s", g.gl_pathv[i], out);
            free(out);
            checked++;
        }
        globfree(&g);
    }
    cr_assert_geq(checked, 2, "no configuration found under %s/conf", src());
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
