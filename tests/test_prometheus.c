/*
 * test_prometheus.c -- the acceptance test of [runtime] metrics_listen: a
 * real Prometheus server (Debian's prometheus package) on loopback scrapes
 * `sluice run` every second while records stream into it; its HTTP API
 * must come to show written equal to the records sent, and promtool must
 * pass the text sluice serves. Both processes get free loopback ports and
 * a scratch directory; each wait is bounded (generously: the machine may
 * be loaded), and both are killed if the test dies (PR_SET_PDEATHSIG).
 * Skipped with its reason where Prometheus is not installed, except in CI,
 * which must have it (scripts/install-deps installs it).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "helpers.h"
#include "http_client.h"

static pid_t children[2] = {-1, -1}; /* sluice run, prometheus */

static void kill_children(void)
{
    for (int i = 0; i < 2; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = -1;
        }
    }
}

TestSuite(prometheus, .timeout = 300, .fini = kill_children);

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *need(const char *path, const char *what)
{
    if (!path[0]) {
        if (getenv("CI"))
            cr_assert_fail("%s is not installed (Debian's prometheus package; "
                    "scripts/install-deps installs it)", what);
        cr_skip_test("%s is not installed (Debian's prometheus package)", what);
    }
    return path;
}

/* argv[0] with stdin from stdin_fd (-1: /dev/null), stdout and stderr into
 * log; killed when this process dies. */
static pid_t spawn(char *const argv[], int stdin_fd, const char *log)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0)
            _exit(127);
        dup2(in, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Has pid ended? Its status in *status. */
static bool ended(pid_t pid, int *status)
{
    return waitpid(pid, status, WNOHANG) == pid;
}

/* Wait up to timeout_ms for pid to end; then kill it. Its exit status, or
 * -1 if it had to be killed. */
static int wait_or_kill(pid_t *pid, int timeout_ms)
{
    int status;
    int64_t deadline = now_ms() + timeout_ms;
    while (!ended(*pid, &status)) {
        if (now_ms() > deadline) {
            kill(*pid, SIGKILL);
            waitpid(*pid, NULL, 0);
            *pid = -1;
            return -1;
        }
        nap_ms(20);
    }
    *pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The value of an instant query's single sample, or -1 while there is none. */
static double query(unsigned web_port, const char *promql_encoded)
{
    char path[1024];
    snprintf(path, sizeof path, "/api/v1/query?query=%s", promql_encoded);
    char *response = http_request(web_port, "GET", path, 10000);
    double value = -1;
    const char *v = strstr(http_body(response), "\"value\":[");
    if (v && (v = strstr(v, ",\"")))
        value = strtod(v + 2, NULL);
    free(response);
    return value;
}

typedef struct scene {
    char *dir;
    char conf[600], log[600], sluice_log[600];
    char prom_conf[600], prom_data[600], prom_log[600];
    unsigned metrics_port, web_port;
    int input;               /* sluice run's standard input, held open */
} scene;

/* `sluice run` with metrics on a free port, its input a pipe we hold;
 * retried when another process took the port first. */
static void start_sluice(scene *s)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        s->metrics_port = free_port();
        char ini[2048];
        snprintf(ini, sizeof ini,
                 "[runtime]\nmetrics_listen = 127.0.0.1:%u\n"
                 "[sink.out]\nplugin = file\npath = %s\npattern = %%m\n"
                 "[logger.default]\nsinks = out\nworkers = 2\n",
                 s->metrics_port, s->log);
        write_text(s->conf, ini);
        int input[2];
        cr_assert_eq(pipe2(input, O_CLOEXEC), 0);
        char *argv[] = {(char *)cli(), "run", "-c", s->conf, NULL};
        children[0] = spawn(argv, input[0], s->sluice_log);
        close(input[0]);
        s->input = input[1];
        int64_t deadline = now_ms() + 60000;
        int status;
        for (;;) {
            char *response = http_request(s->metrics_port, "GET", "/metrics", 10000);
            int code = http_status(response);
            free(response);
            if (code == 200)
                return;
            if (ended(children[0], &status)) {
                children[0] = -1;
                close(s->input);
                char *log = read_file(s->sluice_log, NULL);
                cr_assert(strstr(log, "Address already in use"),
                          "sluice run exited (status %d):\n%s", status, log);
                free(log);
                break; /* the port was taken: another one */
            }
            cr_assert_lt(now_ms(), deadline, "sluice run never served /metrics");
            nap_ms(50);
        }
    }
    cr_assert_fail("no free port for sluice run in 10 tries");
}

/* Prometheus scraping sluice every second, its API on a free port;
 * retried when another process took the port first. */
static void start_prometheus(scene *s, const char *prometheus)
{
    snprintf(s->prom_conf, sizeof s->prom_conf, "%s/prometheus.yml", s->dir);
    char yml[1024];
    snprintf(yml, sizeof yml,
             "global:\n"
             "  scrape_interval: 1s\n"
             "  scrape_timeout: 1s\n"
             "scrape_configs:\n"
             "  - job_name: sluice\n"
             "    static_configs:\n"
             "      - targets: ['127.0.0.1:%u']\n",
             s->metrics_port);
    write_text(s->prom_conf, yml);
    for (int attempt = 0; attempt < 10; attempt++) {
        s->web_port = free_port();
        snprintf(s->prom_data, sizeof s->prom_data, "%s/tsdb-%d", s->dir, attempt);
        char config_flag[700], data_flag[700], listen_flag[64];
        snprintf(config_flag, sizeof config_flag, "--config.file=%s", s->prom_conf);
        snprintf(data_flag, sizeof data_flag, "--storage.tsdb.path=%s", s->prom_data);
        snprintf(listen_flag, sizeof listen_flag, "--web.listen-address=127.0.0.1:%u",
                 s->web_port);
        char *argv[] = {(char *)prometheus, config_flag, data_flag, listen_flag, NULL};
        children[1] = spawn(argv, -1, s->prom_log);
        int64_t deadline = now_ms() + 120000;
        int status;
        for (;;) {
            char *response = http_request(s->web_port, "GET", "/-/ready", 10000);
            int code = http_status(response);
            free(response);
            if (code == 200)
                return;
            if (ended(children[1], &status)) {
                children[1] = -1;
                char *log = read_file(s->prom_log, NULL);
                cr_assert(strstr(log, "address already in use"),
                          "prometheus exited (status %d):\n%s", status, log);
                free(log);
                break;
            }
            if (now_ms() > deadline) {
                char *log = read_file(s->prom_log, NULL);
                cr_assert_fail("prometheus was not ready in 120 s:\n%s", log);
            }
            nap_ms(100);
        }
    }
    cr_assert_fail("no free port for prometheus in 10 tries");
}

Test(prometheus, a_real_prometheus_scrapes_sluice_run_and_sees_every_record_written)
{
#ifndef SLUICE_HAVE_MICROHTTPD
    if (getenv("CI"))
        cr_assert_fail("sluice was built without libmicrohttpd "
                       "(scripts/install-deps installs libmicrohttpd-dev)");
    cr_skip_test("sluice was built without libmicrohttpd");
#endif
    const char *prometheus = need(PROMETHEUS, "prometheus");
    const char *promtool = need(PROMTOOL, "promtool");
    signal(SIGPIPE, SIG_IGN);
    scene s = {.dir = tmpdir_make()};
    snprintf(s.conf, sizeof s.conf, "%s/sluice.ini", s.dir);
    snprintf(s.log, sizeof s.log, "%s/out.log", s.dir);
    snprintf(s.sluice_log, sizeof s.sluice_log, "%s/sluice.stderr", s.dir);
    snprintf(s.prom_log, sizeof s.prom_log, "%s/prometheus.stderr", s.dir);

    start_sluice(&s);
    enum { RECORDS = 5000 };
    FILE *input = fdopen(s.input, "w");
    for (int i = 0; i < RECORDS; i++)
        fprintf(input, "record %d\n", i);
    fflush(input); /* and held open: sluice run keeps running */

    /* promtool on what sluice serves */
    char *response = http_request(s.metrics_port, "GET", "/metrics", 10000);
    cr_assert_eq(http_status(response), 200, "%s", response);
    char served[700];
    snprintf(served, sizeof served, "%s/served.txt", s.dir);
    write_text(served, http_body(response));
    free(response);
    char *report;
    int rc = sh(&report, "%s check metrics < %s", promtool, served);
    cr_assert_eq(rc, 0, "promtool check metrics:\n%s", report);
    free(report);

    start_prometheus(&s, prometheus);
    /* sum(sluice_binding_written_total{job="sluice",logger="default"}) */
    const char *written_query =
        "sum%28sluice_binding_written_total%7Bjob%3D%22sluice%22%2C"
        "logger%3D%22default%22%7D%29";
    double written = -1;
    int64_t deadline = now_ms() + 90000;
    while ((written = query(s.web_port, written_query)) != RECORDS) {
        if (now_ms() > deadline) {
            char *log = read_file(s.prom_log, NULL);
            cr_assert_fail("Prometheus saw written = %.0f, not %d, after 90 s\n%s",
                    written, RECORDS, log);
        }
        nap_ms(250);
    }
    /* the same scrape's other counters agree */
    cr_assert_eq(query(s.web_port,
                       "sluice_logger_accepted_total%7Bjob%3D%22sluice%22%7D"),
                 RECORDS);
    cr_assert_eq(query(s.web_port, "sum%28sluice_logger_dropped_total%29"), 0);
    cr_assert_eq(query(s.web_port, "up%7Bjob%3D%22sluice%22%7D"), 1);

    /* the end of input ends sluice run: everything delivered, exit 0 */
    fclose(input);
    int sluice_rc = wait_or_kill(&children[0], 60000);
    char *log = read_file(s.sluice_log, NULL);
    cr_assert_eq(sluice_rc, 0, "sluice run: %d\n%s", sluice_rc, log);
    free(log);
    char *text = read_file(s.log, NULL);
    cr_assert_eq(count_lines(text), RECORDS);
    free(text);
    kill(children[1], SIGTERM);
    cr_assert_eq(wait_or_kill(&children[1], 60000), 0, "prometheus did not stop on SIGTERM");
    tmpdir_remove(s.dir);
}
