/*
 * exit_host.c -- a host that leaves without sluice_close, for the exit and
 * crash tests: it opens INI_FILE, logs COUNT numbered records through the
 * logger "app", then ends as MODE says:
 *   return   returns from main
 *   exit     calls exit(0) from a thread of its own
 *   close    closes properly (the control)
 *   fork     forks; the child calls exit(0) (its exit flush must not wait
 *            for the parent's queues); the parent waits up to 20 s for it,
 *            says how it ended, and closes
 *   segv     dereferences a NULL pointer
 *   segv_threads
 *            logs from HOST_THREADS threads at once (thread t logs the
 *            records numbered t, t + HOST_THREADS, ...), joins them, then
 *            dereferences a NULL pointer
 *   abort    calls abort()
 *   segv_host_handler
 *            installs a SIGSEGV handler of its own before opening (it
 *            writes "host handler\n" to stdout and _exits with 3), then
 *            dereferences a NULL pointer
 *   segv_after_reload
 *            reloads RELOAD_FILE once the COUNT records are logged (and
 *            prints "reload: RC", with the error if any), logs COUNT more
 *            (numbered on), then dereferences a NULL pointer
 * Before segv and abort it prints "SIGSEGV: handler" or "SIGSEGV: default"
 * (whether someone installed a handler for it) on stdout.
 * Usage: exit_host INI_FILE COUNT MODE [RELOAD_FILE]
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sluice/sluice.h>

#define HOST_THREADS 4

typedef struct numbered {
    pthread_t thread;
    sluice_logger *lg;
    long first, count;
} numbered;

static void *log_numbered(void *arg)
{
    numbered *job = arg;
    for (long i = job->first; i < job->count; i += HOST_THREADS)
        SLUICE_INFO(job->lg, "record %ld", i);
    return NULL;
}

static void *exit_now(void *arg)
{
    (void)arg;
    exit(0);
}

static void host_handler(int sig)
{
    (void)sig;
    static const char says[] = "host handler\n";
    if (write(STDOUT_FILENO, says, sizeof says - 1) < 0)
        _exit(4);
    _exit(3);
}

/* A real fault (not a check UBSan would catch first in its build). */
__attribute__((noinline, no_sanitize("undefined"))) static void crash(void)
{
    volatile int *volatile nowhere = NULL;
    *nowhere = 1;
}

static void say_disposition(void)
{
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    printf("SIGSEGV: %s\n", now.sa_handler == SIG_DFL ? "default" : "handler");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    bool reloads = argc == 5 && strcmp(argv[3], "segv_after_reload") == 0;
    if (argc != 4 && !reloads) {
        fprintf(stderr, "usage: exit_host INI_FILE COUNT MODE [RELOAD_FILE]\n");
        return 2;
    }
    if (strcmp(argv[3], "segv_host_handler") == 0)
        signal(SIGSEGV, host_handler);
    sluice_runtime *rt;
    sluice_error err;
    if (sluice_open(argv[1], &rt, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    sluice_logger *lg = sluice_logger_get(rt, "app");
    long count = strtol(argv[2], NULL, 10);
    if (strcmp(argv[3], "segv_threads") == 0) {
        numbered jobs[HOST_THREADS];
        for (long t = 0; t < HOST_THREADS; t++) {
            jobs[t] = (numbered){.lg = lg, .first = t, .count = count};
            pthread_create(&jobs[t].thread, NULL, log_numbered, &jobs[t]);
        }
        for (long t = 0; t < HOST_THREADS; t++)
            pthread_join(jobs[t].thread, NULL);
    } else {
        for (long i = 0; i < count; i++)
            SLUICE_INFO(lg, "record %ld", i);
    }
    if (reloads) {
        int rc = sluice_runtime_reload(rt, argv[4], &err);
        printf("reload: %d%s%s\n", rc, rc < 0 ? " " : "",
               rc < 0 ? err.message : "");
        fflush(stdout);
        for (long i = count; i < 2 * count; i++)
            SLUICE_INFO(lg, "record %ld", i);
    }
    if (strncmp(argv[3], "segv", 4) == 0) {
        say_disposition();
        crash();
    } else if (strcmp(argv[3], "abort") == 0) {
        say_disposition();
        abort();
    } else if (strcmp(argv[3], "exit") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, exit_now, NULL);
        pthread_join(t, NULL);
    } else if (strcmp(argv[3], "fork") == 0) {
        pid_t pid = fork();
        if (pid == 0)
            exit(0);
        int st = 0;
        struct timespec nap = {0, 10000000};
        int i = 0;
        for (; i < 2000 && waitpid(pid, &st, WNOHANG) != pid; i++)
            nanosleep(&nap, NULL);
        if (i == 2000) {
            kill(pid, SIGKILL);
            printf("child hung\n");
        } else {
            printf("child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        }
        sluice_close(rt, 0);
        return 0;
    } else if (strcmp(argv[3], "close") == 0) {
        return sluice_close(rt, 5000) == 0 ? 0 : 1;
    }
    return 0; /* without close */
}
