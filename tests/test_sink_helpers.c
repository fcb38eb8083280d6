/*
 * test_sink_helpers.c -- the SIGPIPE helpers of sluice/sink.h on their own
 * (sluice_write_nosigpipe, sluice_writev_nosigpipe, sluice_sigpipe_block /
 * _unblock), against pipes whose reader has gone, with SIGPIPE's default
 * action (death) in force: a SIGPIPE that got through kills the test. Checks
 * what a host would: it lives, the write says EPIPE, and its own signal mask
 * and pending signals are as they were. Knows nothing of plugins or the
 * runtime.
 */
#include <sluice/sink.h>

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

static void die_of_sigpipe(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE the helpers let through kills us */
}

TestSuite(sink_helpers, .init = die_of_sigpipe, .timeout = 30);

/* ---- helpers ------------------------------------------------------------ */

/* A pipe whose read end is already closed: writing to it is EPIPE. */
static int broken_pipe(void)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    close(fds[0]);
    return fds[1];
}

static int sigpipe_blocked(void)
{
    sigset_t now;
    cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &now), 0);
    return sigismember(&now, SIGPIPE) == 1;
}

static int sigpipe_pending(void)
{
    sigset_t pending;
    sigemptyset(&pending);
    cr_assert_eq(sigpending(&pending), 0);
    return sigismember(&pending, SIGPIPE) == 1;
}

static void block_sigpipe(int how)
{
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    cr_assert_eq(pthread_sigmask(how, &pipe_only, NULL), 0);
}

/* Take one pending SIGPIPE; 1 if there was one. */
static int take_sigpipe(void)
{
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    const struct timespec zero = {0, 0};
    return sigtimedwait(&pipe_only, NULL, &zero) == SIGPIPE;
}

/* ---- EPIPE is an error, never a signal --------------------------------- */

Test(sink_helpers, write_to_a_pipe_without_reader_is_epipe_and_leaves_the_mask)
{
    int fd = broken_pipe();
    errno = 0;
    cr_assert_eq(sluice_write_nosigpipe(fd, "x\n", 2), -1);
    cr_assert_eq(errno, EPIPE, "errno %s", strerror(errno));
    cr_assert(!sigpipe_blocked(), "the thread's mask was not restored");
    cr_assert(!sigpipe_pending(), "a SIGPIPE is left pending");

    struct iovec iov[2] = {{(void *)"a", 1}, {(void *)"b\n", 2}};
    errno = 0;
    cr_assert_eq(sluice_writev_nosigpipe(fd, iov, 2), -1);
    cr_assert_eq(errno, EPIPE, "errno %s", strerror(errno));
    cr_assert(!sigpipe_blocked());
    cr_assert(!sigpipe_pending());
    close(fd);
}

Test(sink_helpers, a_thread_that_blocks_sigpipe_keeps_it_blocked_and_clean)
{
    block_sigpipe(SIG_BLOCK);
    int fd = broken_pipe();
    cr_assert_eq(sluice_write_nosigpipe(fd, "x\n", 2), -1);
    cr_assert_eq(errno, EPIPE);
    cr_assert(sigpipe_blocked(), "the helper unblocked the host's SIGPIPE");
    /* the SIGPIPE the write raised is the helper's: taken back, or the
     * host would die of it the day it unblocks SIGPIPE */
    cr_assert(!sigpipe_pending(), "the write's SIGPIPE is left pending");
    close(fd);
    block_sigpipe(SIG_UNBLOCK);
}

Test(sink_helpers, a_sigpipe_pending_before_is_the_hosts_and_stays)
{
    block_sigpipe(SIG_BLOCK);
    cr_assert_eq(pthread_kill(pthread_self(), SIGPIPE), 0);
    cr_assert(sigpipe_pending());
    int fd = broken_pipe();
    cr_assert_eq(sluice_write_nosigpipe(fd, "x\n", 2), -1);
    cr_assert_eq(errno, EPIPE);
    cr_assert(sigpipe_blocked());
    cr_assert(sigpipe_pending(), "the host's pending SIGPIPE was taken");
    cr_assert(take_sigpipe());
    cr_assert(!sigpipe_pending(), "two SIGPIPEs where the host had one");
    close(fd);
    block_sigpipe(SIG_UNBLOCK);
}

Test(sink_helpers, a_successful_write_touches_nothing)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(sluice_write_nosigpipe(fds[1], "hello\n", 6), 6);
    char got[8] = "";
    cr_assert_eq(read(fds[0], got, sizeof got), 6);
    cr_assert_eq(memcmp(got, "hello\n", 6), 0);
    cr_assert(!sigpipe_blocked());
    cr_assert(!sigpipe_pending());
    close(fds[0]);
    close(fds[1]);
}

/* ---- a reader that leaves in the middle of a write ----------------------- */

/* The kernel raises SIGPIPE also for a write that returns short: part of
 * it went into the pipe before the reader left. */
typedef struct big_write {
    int fd;
    char buf[3 * 4096];
    ssize_t result;
    int error;
} big_write;

static void *write_big(void *arg)
{
    big_write *w = arg;
    w->result = sluice_write_nosigpipe(w->fd, w->buf, sizeof w->buf);
    w->error = errno;
    return NULL;
}

Test(sink_helpers, a_short_write_cut_by_a_departing_reader_raises_nothing)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(fcntl(fds[1], F_SETPIPE_SZ, 4096), 4096);
    static big_write w;
    w.fd = fds[1];
    memset(w.buf, 'x', sizeof w.buf);
    pthread_t writer;
    cr_assert_eq(pthread_create(&writer, NULL, write_big, &w), 0);
    /* the pipe is full: the writer sits in write() with 4096 bytes in */
    int queued = 0;
    while (queued < 4096) {
        cr_assert_eq(ioctl(fds[0], FIONREAD, &queued), 0);
        if (queued < 4096)
            usleep(1000);
    }
    close(fds[0]); /* the reader leaves */
    pthread_join(writer, NULL); /* alive: its SIGPIPE was taken back */
    cr_assert_eq(w.result, 4096, "write returned %zd (%s)", w.result,
                 strerror(w.error));
    close(fds[1]);
}

/* ---- the guard, for code that writes without MSG_NOSIGNAL ---------------- */

Test(sink_helpers, a_guard_takes_back_what_the_code_inside_raised)
{
    int fd = broken_pipe();
    sluice_sigpipe_guard guard;
    sluice_sigpipe_block(&guard);
    cr_assert(sigpipe_blocked());
    cr_assert_eq(write(fd, "x\n", 2), -1); /* raw: raises SIGPIPE */
    cr_assert_eq(errno, EPIPE);
    sluice_sigpipe_unblock(&guard);
    cr_assert_eq(errno, EPIPE, "unblock changed errno");
    cr_assert(!sigpipe_blocked());
    cr_assert(!sigpipe_pending());

    /* nested, as the runtime's guard around a plugin's helper call */
    sluice_sigpipe_guard outer;
    sluice_sigpipe_block(&outer);
    cr_assert_eq(sluice_write_nosigpipe(fd, "x\n", 2), -1);
    cr_assert(sigpipe_blocked(), "the inner call unblocked the outer guard");
    cr_assert(!sigpipe_pending());
    sluice_sigpipe_unblock(&outer);
    cr_assert(!sigpipe_blocked());
    close(fd);
}
