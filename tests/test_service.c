/*
 * `sluice run` fed the way conf/sluice.service feeds it: standard input is
 * a FIFO that another process (there, systemd's sluice.socket; here, the
 * test) holds open for reading and writing. Writers come and go without
 * ending the input, lines written while sluice is stopped wait in the FIFO
 * for the next start, SIGHUP after logrotate's rename reopens the file and
 * the run goes on, SIGHUP after an edit reloads the file (an invalid one is
 * reported with its lines and changes nothing), SIGTERM drains and exits 0.
 * With Type=notify, systemd hears READY=1, WATCHDOG=1, RELOADING=1 and
 * STOPPING=1 on its notification socket (here, one the test binds).
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

TestSuite(service, .timeout = 180, .fini = kill_running);

typedef struct service {
    char *dir;
    char conf[512], log[512], fifo[512];
    int fifo_fd; /* the socket unit's descriptor: read and write */
} service;

static void service_setup(service *s)
{
    s->dir = tmpdir_make();
    snprintf(s->conf, sizeof s->conf, "%s/sluice.ini", s->dir);
    snprintf(s->log, sizeof s->log, "%s/out.log", s->dir);
    snprintf(s->fifo, sizeof s->fifo, "%s/input", s->dir);
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\npattern = %%m\n"
             "[logger.default]\nsinks = f\n",
             s->log);
    write_text(s->conf, ini);
    cr_assert_eq(mkfifo(s->fifo, 0600), 0, "mkfifo: %s", strerror(errno));
    /* as systemd opens a ListenFIFO=: O_RDWR, so it never blocks and the
     * reader never sees an end of input when a writer closes */
    s->fifo_fd = open(s->fifo, O_RDWR | O_CLOEXEC);
    cr_assert_geq(s->fifo_fd, 0, "open %s: %s", s->fifo, strerror(errno));
}

static void service_teardown(service *s)
{
    close(s->fifo_fd);
    tmpdir_remove(s->dir);
}

/* StandardInput=socket: the FIFO's descriptor becomes standard input;
 * standard error goes to errors (StandardError=journal) when it is set. */
static pid_t start_sluice_logging(const service *s, const char *errors)
{
    const char *path = cli();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        if (errors) {
            int fd = open(errors, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                _exit(126);
        }
        dup2(s->fifo_fd, STDIN_FILENO);
        execl(path, "sluice", "run", "-c", s->conf, "-t", "5000", (char *)NULL);
        _exit(127);
    }
    running = pid;
    return pid;
}

static pid_t start_sluice(const service *s)
{
    return start_sluice_logging(s, NULL);
}

/* One writer: opens the FIFO, writes "line FIRST".."line LAST", closes. */
static void write_lines(const service *s, int first, int last)
{
    int fd = open(s->fifo, O_WRONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0, "open %s for writing: %s", s->fifo, strerror(errno));
    for (int i = first; i <= last; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "line %d\n", i);
        cr_assert_eq(write(fd, line, (size_t)n), n);
    }
    close(fd);
}

/* Lines in path, once it holds at least want (or 60 s went by: an upper
 * bound for a hang, not a timing assertion). */
static size_t wait_lines(const char *path, size_t want)
{
    size_t have = 0;
    for (int i = 0; i < 6000; i++) {
        char *text = read_file(path, NULL);
        have = count_lines(text);
        free(text);
        if (have >= want)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    return have;
}

static void wait_exists(const char *path)
{
    struct stat st;
    for (int i = 0; i < 6000 && stat(path, &st) != 0; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
}

/* SIGTERM, then the exit status (the close timeout is 5 s). */
static int stop_sluice(pid_t pid)
{
    cr_assert_eq(kill(pid, SIGTERM), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    running = -1;
    cr_assert(WIFEXITED(status), "sluice ended by signal %d", WTERMSIG(status));
    return WEXITSTATUS(status);
}

/* The text of "line FIRST\n".."line LAST\n". */
static char *expected_lines(int first, int last)
{
    size_t cap = (size_t)(last - first + 1) * 24 + 1, len = 0;
    char *text = malloc(cap);
    text[0] = '\0';
    for (int i = first; i <= last; i++)
        len += (size_t)snprintf(text + len, cap - len, "line %d\n", i);
    return text;
}

static void assert_file_holds(const char *path, int first, int last)
{
    char *text = read_file(path, NULL);
    char *want = expected_lines(first, last);
    cr_assert_str_eq(text, want, "%s", path);
    free(want);
    free(text);
}

Test(service, writers_come_and_go_and_sigterm_drains_and_exits_0)
{
    service s;
    service_setup(&s);
    pid_t pid = start_sluice(&s);
    write_lines(&s, 1, 100);   /* a writer that closes */
    write_lines(&s, 101, 200); /* and another */
    cr_assert_eq(wait_lines(s.log, 200), 200);
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0,
                 "sluice ended when its writers closed the FIFO");
    cr_assert_eq(stop_sluice(pid), 0);
    assert_file_holds(s.log, 1, 200);
    service_teardown(&s);
}

Test(service, lines_written_while_sluice_is_stopped_wait_for_the_next_start)
{
    service s;
    service_setup(&s);
    write_lines(&s, 1, 50); /* before the first start */
    pid_t pid = start_sluice(&s);
    cr_assert_eq(wait_lines(s.log, 50), 50);
    cr_assert_eq(stop_sluice(pid), 0);
    write_lines(&s, 51, 100); /* while it is stopped */
    pid = start_sluice(&s);
    cr_assert_eq(wait_lines(s.log, 100), 100);
    cr_assert_eq(stop_sluice(pid), 0);
    assert_file_holds(s.log, 1, 100);
    service_teardown(&s);
}

Test(service, sighup_after_a_rename_reopens_the_file_and_the_run_goes_on)
{
    service s;
    service_setup(&s);
    pid_t pid = start_sluice(&s);
    write_lines(&s, 1, 100);
    cr_assert_eq(wait_lines(s.log, 100), 100);
    char rotated[600];
    snprintf(rotated, sizeof rotated, "%s.1", s.log);
    cr_assert_eq(rename(s.log, rotated), 0); /* logrotate's move */
    cr_assert_eq(kill(pid, SIGHUP), 0);      /* its postrotate */
    wait_exists(s.log);                      /* reopened: a new file */
    write_lines(&s, 101, 200);
    cr_assert_eq(wait_lines(s.log, 100), 100);
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "SIGHUP ended sluice");
    cr_assert_eq(stop_sluice(pid), 0);
    assert_file_holds(rotated, 1, 100);
    assert_file_holds(s.log, 101, 200);
    service_teardown(&s);
}

/* path holds text (or 60 s went by: a bound for a hang). */
static bool wait_text(const char *path, const char *text)
{
    for (int i = 0; i < 6000; i++) {
        char *have = read_file(path, NULL);
        bool found = strstr(have, text) != NULL;
        free(have);
        if (found)
            return true;
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    return false;
}

/* How many times text is in path. */
static int count_text(const char *path, const char *text)
{
    char *have = read_file(path, NULL);
    int n = 0;
    for (const char *at = have; (at = strstr(at, text)); at += strlen(text))
        n++;
    free(have);
    return n;
}

Test(service, sighup_reloads_the_file_and_an_invalid_one_changes_nothing)
{
    service s;
    service_setup(&s);
    char errors[600], second[600], ini[2048];
    snprintf(errors, sizeof errors, "%s/stderr", s.dir);
    snprintf(second, sizeof second, "%s/second.log", s.dir);
    pid_t pid = start_sluice_logging(&s, errors);
    write_lines(&s, 1, 50);
    cr_assert_eq(wait_lines(s.log, 50), 50);

    /* a second sink for the logger: it gets the lines from now on */
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\npattern = %%m\n"
             "[sink.g]\nplugin = file\npath = %s\npattern = %%m\n"
             "[logger.default]\nsinks = f, g\n",
             s.log, second);
    write_text(s.conf, ini);
    cr_assert_eq(kill(pid, SIGHUP), 0);
    cr_assert(wait_text(errors, "SIGHUP: reloaded"), "no reload said");
    write_lines(&s, 51, 100);
    cr_assert_eq(wait_lines(second, 50), 50);
    cr_assert_eq(wait_lines(s.log, 100), 100);

    /* two mistakes (lines 7 and 8): both reported, nothing changes */
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\npattern = %%m\n"  /* 1-4 */
             "[sink.g]\nplugin = file\npath = %s\n"                  /* 5-7 */
             "colour = blue\n"                                        /* 8 */
             "[logger.default]\nsinks = f\nlevel = loud\n",          /* 9-11 */
             s.log, second);
    write_text(s.conf, ini);
    cr_assert_eq(kill(pid, SIGHUP), 0);
    cr_assert(wait_text(errors, "is not valid: kept the configuration that runs"),
              "no invalid file said");
    char where[700];
    snprintf(where, sizeof where, "%s:8: ", s.conf);
    cr_assert_eq(count_text(errors, where), 1, "line 8 not reported");
    snprintf(where, sizeof where, "%s:11: ", s.conf);
    cr_assert_eq(count_text(errors, where), 1, "line 11 not reported");
    write_lines(&s, 101, 150); /* still to both */
    cr_assert_eq(wait_lines(second, 100), 100);
    cr_assert_eq(wait_lines(s.log, 150), 150);
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "SIGHUP ended sluice");
    cr_assert_eq(stop_sluice(pid), 0);
    assert_file_holds(s.log, 1, 150);
    assert_file_holds(second, 51, 150);
    service_teardown(&s);
}

/* ---- systemd's notification protocol (Type=notify, WatchdogSec=) -------- */

/* The next datagram on sock, as text; NULL after 60 s (a bound for a hang). */
static char *next_notification(int sock, char *buf, size_t size)
{
    for (int waited = 0; waited < 60; waited++) {
        ssize_t n = recv(sock, buf, size - 1, 0);
        if (n >= 0) {
            buf[n] = '\0';
            return buf;
        }
        cr_assert(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR,
                  "recv: %s", strerror(errno));
    }
    return NULL;
}

/* Does a notification hold the assignment (one per line)? */
static bool says(const char *message, const char *assignment)
{
    size_t len = strlen(assignment);
    for (const char *line = message; line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp(line, assignment, len) == 0 && (line[len] == '\n' || line[len] == '\0'))
            return true;
    }
    return false;
}

Test(service, notifies_ready_watchdog_and_stopping)
{
#ifndef SLUICE_HAVE_SD_NOTIFY
    cr_skip_test("built without libsystemd: sluice run does not notify");
#endif
    service s;
    service_setup(&s);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/notify", s.dir);
    int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(sock, 0);
    cr_assert_eq(bind(sock, (struct sockaddr *)&addr, sizeof addr), 0, "bind: %s",
                 strerror(errno));
    struct timeval second = {1, 0};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof second);

    const char *path = cli();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        char self[32];
        snprintf(self, sizeof self, "%d", (int)getpid()); /* exec keeps it */
        setenv("NOTIFY_SOCKET", addr.sun_path, 1);
        setenv("WATCHDOG_USEC", "200000", 1); /* WATCHDOG=1 every 100 ms */
        setenv("WATCHDOG_PID", self, 1);
        dup2(s.fifo_fd, STDIN_FILENO);
        execl(path, "sluice", "run", "-c", s.conf, "-t", "5000", (char *)NULL);
        _exit(127);
    }
    running = pid;

    char buf[4096], *message;
    while ((message = next_notification(sock, buf, sizeof buf)) && !says(message, "READY=1"))
        cr_assert(!says(message, "WATCHDOG=1"), "WATCHDOG=1 before READY=1");
    cr_assert_not_null(message, "no READY=1");
    write_lines(&s, 1, 10); /* ready means reading */
    cr_assert_eq(wait_lines(s.log, 10), 10);
    int pings = 0;
    while (pings < 5 && (message = next_notification(sock, buf, sizeof buf))) {
        cr_assert(!says(message, "STOPPING=1"), "STOPPING=1 before SIGTERM");
        pings += says(message, "WATCHDOG=1");
    }
    cr_assert_eq(pings, 5, "WATCHDOG=1 did not keep coming");
    /* systemctl reload: RELOADING=1, then READY=1 once it is done */
    cr_assert_eq(kill(pid, SIGHUP), 0);
    while ((message = next_notification(sock, buf, sizeof buf)) && !says(message, "RELOADING=1"))
        cr_assert(!says(message, "READY=1"), "READY=1 before RELOADING=1");
    cr_assert_not_null(message, "no RELOADING=1 after SIGHUP");
    cr_assert(strstr(message, "MONOTONIC_USEC=") != NULL, "%s", message);
    while ((message = next_notification(sock, buf, sizeof buf)) && !says(message, "READY=1"))
        ;
    cr_assert_not_null(message, "no READY=1 after the reload");
    cr_assert_eq(kill(pid, SIGTERM), 0);
    while ((message = next_notification(sock, buf, sizeof buf)) && !says(message, "STOPPING=1"))
        ;
    cr_assert_not_null(message, "no STOPPING=1 after SIGTERM");
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    running = -1;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    assert_file_holds(s.log, 1, 10);
    close(sock);
    service_teardown(&s);
}
