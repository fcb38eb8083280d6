/*
 * test_console.c -- the console sink plugin on its own (CONSOLE_PLUGIN,
 * loaded by path): a stream that is a pipe whose reader has gone, as in
 * `prog | head`. Each case runs in a forked child whose stdout or stderr is
 * such a pipe and whose SIGPIPE has its default action (death), and reports
 * back what write() said; the parent checks the child lived. Knows nothing
 * of the runtime.
 */
#include <criterion/criterion.h>

#include "plugin_fixture.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CONSOLE_PLUGIN
#error "CONSOLE_PLUGIN must name the built console.so"
#endif

static const sluice_sink_api *api;
static void *handle;

static void setup(void)
{
    api = plugin_load(CONSOLE_PLUGIN, "console", &handle);
}

TestSuite(console, .init = setup, .timeout = 30);

/* What the child's write() returned, sent back through a pipe. */
typedef struct verdict {
    int rc;
    size_t written;
    char message[SLUICE_ERROR_MAX];
} verdict;

/* In a child: make `stream` (stdout or stderr) a pipe with no reader,
 * write two records through the sink, and send the verdict on report. */
static void child_writes_into_a_broken_pipe(const char *stream, int fd,
                                            int report)
{
    signal(SIGPIPE, SIG_DFL);
    int fds[2];
    if (pipe(fds) != 0 || dup2(fds[1], fd) < 0)
        _exit(2);
    close(fds[0]); /* the reader is gone */
    close(fds[1]);

    sluice_option items[2] = {{"stream", stream, 10}, {"color", "never", 11}};
    sluice_options opts;
    memset(&opts, 0, sizeof opts);
    opts.sink_name = "out";
    opts.source = "test.ini";
    opts.items = items;
    opts.count = 2;
    void *st = NULL;
    verdict v = {0};
    sluice_error err = {{0}};
    /* parsed as the runtime parses them, then opened */
    if (plugin_call_open(api, &opts, &st, &err) != 0)
        _exit(3);
    sluice_record r = {.level = SLUICE_LEVEL_INFO, .logger = "t",
                       .message = "hello", .message_len = 5,
                       .line = "hello\n", .line_len = 6};
    const sluice_record *batch[] = {&r, &r};
    v.written = 99;
    v.rc = api->write(st, batch, 2, &v.written, &err);
    memcpy(v.message, err.message, sizeof v.message);
    api->close(st);
    if (write(report, &v, sizeof v) != (ssize_t)sizeof v)
        _exit(4);
    _exit(0);
}

static void expect_failure_not_death(const char *stream, int fd)
{
    int report[2];
    cr_assert_eq(pipe(report), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(report[0]);
        child_writes_into_a_broken_pipe(stream, fd, report[1]);
    }
    close(report[1]);
    verdict v;
    ssize_t got = read(report[0], &v, sizeof v);
    close(report[0]);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(!WIFSIGNALED(status), "writing to %s killed the host: %s",
              stream, strsignal(WTERMSIG(status)));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child exit status %d", WEXITSTATUS(status));
    cr_assert_eq(got, (ssize_t)sizeof v);
    cr_assert_neq(v.rc, 0, "a write into a closed pipe succeeded");
    cr_assert_eq(v.written, 0);
    cr_assert(strstr(v.message, stream) && strstr(v.message, strerror(EPIPE)),
              "%s", v.message);
}

Test(console, stdout_into_a_pipe_whose_reader_left_is_a_failure_not_death)
{
    expect_failure_not_death("stdout", STDOUT_FILENO);
}

Test(console, stderr_into_a_pipe_whose_reader_left_is_a_failure_not_death)
{
    expect_failure_not_death("stderr", STDERR_FILENO);
}
