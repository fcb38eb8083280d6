/*
 * The example plugins of examples/, built and run through the whole
 * runtime as a user would: the template appends to its file (a relative
 * path resolved against the INI file's folder), and tcp_json sends JSON
 * lines, with or without its envelope, to a listener on 127.0.0.1.
 */
#include "helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

TestSuite(examples, .timeout = 60);

Test(examples, template_appends_to_a_path_beside_its_configuration)
{
    char *dir = tmpdir_make();
    char conf[512], logs[512];
    snprintf(conf, sizeof conf, "%s/app.ini", dir);
    snprintf(logs, sizeof logs, "%s/logs", dir);
    cr_assert_eq(mkdir(logs, 0755), 0);
    write_text(conf, "[sink.mine]\nplugin = template\npath = logs/mine.log\n"
                     "prefix = >\npattern = %m\n[logger.app]\nsinks = mine\n");
    char *out;
    cr_assert_eq(sh(&out, "cd / && %s check -c %s", cli(), conf), 0, "%s", out);
    free(out);
    sluice_runtime *rt;
    sluice_error err;
    cr_assert_eq(sluice_open(conf, &rt, &err), 0, "%s", err.message);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO(lg, "one %d", 1);
    SLUICE_INFO(lg, "two %d", 2);
    cr_assert_eq(sluice_close(rt, 2000), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/mine.log", logs);
    char *text = read_file(path, NULL);
    cr_assert_str_eq(text, ">one 1\n>two 2\n");
    free(text);
    /* a folder that does not exist is reported by sluice check */
    write_text(conf, "[sink.mine]\nplugin = template\npath = nowhere/mine.log\n"
                     "[logger.app]\nsinks = mine\n");
    cr_assert_eq(sh(&out, "%s check -c %s", cli(), conf), 1, "%s", out);
    cr_assert(strstr(out, ":3: sink 'mine': option 'path': the folder") &&
                  strstr(out, "does not exist"),
              "%s", out);
    free(out);
    tmpdir_remove(dir);
}

/* ---- a collector on 127.0.0.1 ------------------------------------------- */

typedef struct listener {
    int fd;
    int port;
    pthread_t thread;
    char *got;                 /* everything received, until EOF */
    size_t len;
} listener;

static void *collect(void *arg)
{
    listener *l = arg;
    int c = accept(l->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    size_t cap = 65536;
    l->got = malloc(cap);
    for (;;) {
        if (cap - l->len < 4096)
            l->got = realloc(l->got, cap *= 2);
        ssize_t n = recv(c, l->got + l->len, cap - l->len - 1, 0);
        if (n <= 0)
            break;
        l->len += (size_t)n;
    }
    l->got[l->len] = '\0';
    close(c);
    return NULL;
}

static void listener_start(listener *l)
{
    memset(l, 0, sizeof *l);
    l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(l->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(l->fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(l->fd, 1), 0);
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(l->fd, (struct sockaddr *)&a, &len), 0);
    l->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&l->thread, NULL, collect, l), 0);
}

/* Wait for the sender to close (the runtime closed the sink). */
static void listener_join(listener *l)
{
    pthread_join(l->thread, NULL);
    close(l->fd);
    cr_assert_not_null(l->got, "no connection came");
}

static void send_records(const char *extra, listener *l)
{
    listener_start(l);
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[sink.t]\nplugin = tcp_json\naddress = 127.0.0.1:%d\n%s"
             "[logger.app]\nsinks = t\n", l->port, extra);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 0; i < 50; i++)
        SLUICE_INFO_KV(lg, SLUICE_KV({"order", "o\"1"}), "record %d", i);
    cr_assert_eq(sluice_close(rt, 5000), 0, "records left undelivered");
    listener_join(l);
}

Test(examples, tcp_json_sends_json_lines_without_being_told_format_json)
{
    listener l;
    send_records("", &l);
    cr_assert_eq(count_lines(l.got), 50, "%s", l.got);
    char *line = l.got;
    for (int i = 0; i < 50; i++) {
        char *end = strchr(line, '\n');
        cr_assert_not_null(end);
        *end = '\0';
        char want[64];
        snprintf(want, sizeof want, "\"message\":\"record %d\"", i);
        cr_assert(strncmp(line, "{\"time\":\"", 9) == 0, "%s", line);
        cr_assert(strstr(line, want), "%s", line);
        cr_assert(strstr(line, "\"order\":\"o\\\"1\""), "%s", line);
        cr_assert_eq(end[-1], '}', "%s", line);
        line = end + 1;
    }
    free(l.got);
}

Test(examples, tcp_json_envelope_is_built_with_the_host_services)
{
    listener l;
    send_records("envelope = true\nsource = sh\"op\n", &l);
    cr_assert_eq(count_lines(l.got), 50, "%s", l.got);
    char *end = strchr(l.got, '\n');
    *end = '\0';
    /* {"time":"2026-...Z","source":"sh\"op","event":{"time":...}} */
    cr_assert(strncmp(l.got, "{\"time\":\"", 9) == 0, "%s", l.got);
    cr_assert_eq(l.got[9 + 26], 'Z', "RFC 3339 with microseconds: %s", l.got);
    cr_assert(strncmp(l.got + 9 + 27, "\",\"source\":\"sh\\\"op\",\"event\":{\"time\":",
                      strlen("\",\"source\":\"sh\\\"op\",\"event\":{\"time\":")) == 0,
              "%s", l.got);
    cr_assert(strstr(l.got, "\"message\":\"record 0\""), "%s", l.got);
    cr_assert(strcmp(end - 2, "}}") == 0, "%s", l.got);
    free(l.got);
}

Test(examples, tcp_json_options_are_checked_by_the_runtime)
{
    char *msg = start_ini_fails("[sink.t]\nplugin = tcp_json\n"
                                "address = localhost\nconnect_timeout_ms = 0\n"
                                "[logger.app]\nsinks = t\n");
    cr_assert(strstr(msg, "<string>:3: sink 't': option 'address': "
                          "'localhost' is not HOST:PORT (the port is missing)"),
              "%s", msg);
    cr_assert(strstr(msg, "<string>:4: sink 't': option 'connect_timeout_ms': "
                          "0 is out of range 1ms..10m"),
              "%s", msg);
    free(msg);
}
