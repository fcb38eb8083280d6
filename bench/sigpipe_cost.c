/*
 * sigpipe_cost.c -- what sluice_write_nosigpipe() (sluice/sink.h) costs on
 * top of a plain write(2): ns per call, from a tight loop, writing 64 bytes
 * to /dev/null (no SIGPIPE to take back: the common case), with SIGPIPE
 * already blocked by the caller, and into a pipe whose reader has gone (the
 * EPIPE path, with the SIGPIPE taken back). A sink pays it once per batch.
 * Not a test: prints figures only. Usage: sigpipe_cost [calls]
 */
#include <sluice/sink.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef ssize_t (*write_fn)(int, const void *, size_t);

static double per_call(write_fn fn, int fd, long calls)
{
    static const char buf[64] = "a record of sixty-four bytes, as a sink would write it.......\n";
    double best = 0;
    for (int round = 0; round < 5; round++) { /* best of 5: least noise */
        double start = now_ns();
        for (long i = 0; i < calls; i++)
            (void)fn(fd, buf, sizeof buf);
        double ns = (now_ns() - start) / (double)calls;
        if (round == 0 || ns < best)
            best = ns;
    }
    return best;
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 200000;
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE let through ends the run */
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int fds[2];
    if (null_fd < 0 || pipe(fds) != 0)
        return 1;
    close(fds[0]);

    double plain = per_call(write, null_fd, calls);
    double guarded = per_call(sluice_write_nosigpipe, null_fd, calls);
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, NULL);
    double blocked = per_call(sluice_write_nosigpipe, null_fd, calls);
    pthread_sigmask(SIG_UNBLOCK, &pipe_only, NULL);
    double epipe = per_call(sluice_write_nosigpipe, fds[1], calls);

    printf("write(2) to /dev/null                     %7.1f ns/call\n", plain);
    printf("sluice_write_nosigpipe to /dev/null       %7.1f ns/call (+%.1f)\n",
           guarded, guarded - plain);
    printf("  the same, SIGPIPE already blocked       %7.1f ns/call (+%.1f)\n",
           blocked, blocked - plain);
    printf("  into a pipe without reader (EPIPE)      %7.1f ns/call\n", epipe);
    return 0;
}
