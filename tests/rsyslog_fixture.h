/*
 * rsyslog_fixture.h -- a real rsyslogd for tests, shared by test_syslog.c
 * and test_sinks_e2e.c: started in the foreground with its own work
 * directory and configuration, listening on loopback ports picked free
 * (tcp, udp, relp; no imuxsock, so the system's /dev/log is never touched),
 * writing every message it takes to raw.log (the raw message) and
 * fields.log (the parsed header fields). Stopped by pid; started again on
 * the same ports and files. Knows nothing of sluice.
 *
 * Header only (static functions): the including suite defines RSYSLOGD or
 * gets /usr/sbin/rsyslogd.
 */
#ifndef SLUICE_TEST_RSYSLOG_FIXTURE_H
#define SLUICE_TEST_RSYSLOG_FIXTURE_H

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RSYSLOGD
#define RSYSLOGD "/usr/sbin/rsyslogd"
#endif

typedef struct collector {
    char dir[64];
    char conf[128], pidfile[128], raw[128], fld[128], out[128];
    int tcp_port, udp_port, relp_port;
    pid_t pid;
} collector;

/* The rsyslogd running now, killed by the suite's fini whatever happened. */
static volatile pid_t collector_live_pid;

static inline void collector_sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static inline double collector_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline int collector_free_port(int type, int *keep_fd)
{
    int fd = socket(AF_INET, type, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *keep_fd = fd;
    return ntohs(a.sin_port);
}

static inline int collector_can_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Start rsyslogd; returns once its tcp and relp ports accept. */
static inline void collector_start(collector *c)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        int fd = open(c->out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(RSYSLOGD, "rsyslogd", "-n", "-f", c->conf, "-i", c->pidfile,
              (char *)NULL);
        _exit(127);
    }
    c->pid = pid;
    collector_live_pid = pid;
    double until = collector_now_s() + 15;
    while (!(collector_can_connect(c->tcp_port) &&
             collector_can_connect(c->relp_port))) {
        int st;
        cr_assert_eq(waitpid(pid, &st, WNOHANG), 0,
                     "rsyslogd exited at start (see %s)", c->out);
        cr_assert_lt(collector_now_s(), until,
                     "rsyslogd not ready after 15 s");
        collector_sleep_ms(20);
    }
    collector_sleep_ms(100); /* imudp starts alongside; give it a moment */
}

/* Stop it with sig (SIGTERM: gracefully; SIGKILL: mid-stream) and reap. */
static inline void collector_stop(collector *c, int sig)
{
    if (c->pid <= 0)
        return;
    kill(c->pid, sig);
    int st;
    while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
        ;
    c->pid = 0;
    collector_live_pid = 0;
    /* the pid file of a killed rsyslogd would stop the next start */
    unlink(c->pidfile);
}

/* For the suite's fini: kill whatever rsyslogd a failed test left. */
static inline void collector_kill_leftover(void)
{
    if (collector_live_pid > 0) {
        kill(collector_live_pid, SIGKILL);
        while (waitpid(collector_live_pid, NULL, 0) < 0 && errno == EINTR)
            ;
        collector_live_pid = 0;
    }
}

/* Pick ports and write the configuration into dir (which must exist). */
static inline void collector_setup(collector *c, const char *dir)
{
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    snprintf(c->conf, sizeof c->conf, "%s/rsyslog.conf", c->dir);
    snprintf(c->pidfile, sizeof c->pidfile, "%s/rsyslogd.pid", c->dir);
    snprintf(c->raw, sizeof c->raw, "%s/raw.log", c->dir);
    snprintf(c->fld, sizeof c->fld, "%s/fields.log", c->dir);
    snprintf(c->out, sizeof c->out, "%s/rsyslogd.out", c->dir);
    int f1, f2, f3;
    c->tcp_port = collector_free_port(SOCK_STREAM, &f1);
    c->udp_port = collector_free_port(SOCK_DGRAM, &f2);
    c->relp_port = collector_free_port(SOCK_STREAM, &f3);
    close(f1);
    close(f2);
    close(f3);
    FILE *f = fopen(c->conf, "w");
    cr_assert_not_null(f);
    /* A Direct queue and a flush at the end of each transaction: what
     * rsyslog acknowledges over RELP is already in the file. */
    fprintf(f,
            "global(workDirectory=\"%s\" maxMessageSize=\"64k\")\n"
            "module(load=\"imtcp\")\n"
            "module(load=\"imudp\")\n"
            "module(load=\"imrelp\")\n"
            "template(name=\"raw\" type=\"string\" string=\"%%rawmsg%%\\n\")\n"
            "template(name=\"fld\" type=\"string\" string=\"%%pri%%|"
            "%%hostname%%|%%app-name%%|%%procid%%|%%msgid%%|"
            "%%structured-data%%|%%msg%%\\n\")\n"
            "ruleset(name=\"r\" queue.type=\"Direct\") {\n"
            "  action(type=\"omfile\" file=\"%s\" template=\"raw\" "
            "flushOnTXEnd=\"on\" asyncWriting=\"off\")\n"
            "  action(type=\"omfile\" file=\"%s\" template=\"fld\" "
            "flushOnTXEnd=\"on\" asyncWriting=\"off\")\n"
            "}\n"
            "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\" "
            "ruleset=\"r\")\n"
            "input(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\" "
            "ruleset=\"r\")\n"
            "input(type=\"imrelp\" address=\"127.0.0.1\" port=\"%d\" "
            "ruleset=\"r\")\n",
            c->dir, c->raw, c->fld, c->tcp_port, c->udp_port, c->relp_port);
    fclose(f);
}

#endif
