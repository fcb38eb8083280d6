/*
 * syslog.c -- the syslog sink: options, the plugin table, connecting
 * sockets, and the datagram transports udp (RFC 5426, one message per
 * datagram) and unix (a local datagram socket such as /dev/log). The tcp
 * transport (RFC 6587 octet counting) lives in tcp.c, relp in relp.c and
 * message rendering in format.c.
 *
 * Connections are made lazily, on the first write, so that a collector that
 * is down does not stop the runtime from starting; after a failure the
 * connection is dropped and made again on the next write. What counts as
 * written: udp/unix, the datagram was accepted by the kernel; tcp, see
 * tcp.c; relp, see relp.c. Sockets are written with MSG_NOSIGNAL: a
 * collector that closed or reset the connection is a failed write (EPIPE,
 * ECONNRESET), never a SIGPIPE.
 * Knows nothing of queues, workers or retries: the runtime re-offers what
 * write() did not count.
 */
#include "syslog_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *const syslog_options[] = {
    "transport", "host", "port", "socket", "facility", "hostname",
    "app_name", "msgid", "sd_id", "format", "connect_timeout_ms",
    "timeout_ms", "max_message_size", "relp_window", NULL};

enum transport { T_UDP, T_TCP, T_UNIX, T_RELP };

typedef struct syslog_state {
    enum transport transport;
    char host[256];
    char port[8];
    char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int connect_timeout_ms;
    int timeout_ms;
    syslog_fmt fmt;
    int fd;               /* udp/unix; -1 when not connected */
    syslog_tcp *tcp;      /* made by the first tcp write */
    syslog_relp *relp;
    sl_buf buf;
} syslog_state;

/* ------------------------------------------------------------------ */
/* options                                                              */

static const struct {
    const char *name;
    int code;
} facilities[] = {
    {"kern", 0},    {"user", 1},     {"mail", 2},    {"daemon", 3},
    {"auth", 4},    {"syslog", 5},   {"lpr", 6},     {"news", 7},
    {"uucp", 8},    {"cron", 9},     {"authpriv", 10}, {"ftp", 11},
    {"ntp", 12},    {"security", 13}, {"console", 14}, {"solaris-cron", 15},
    {"local0", 16}, {"local1", 17},  {"local2", 18}, {"local3", 19},
    {"local4", 20}, {"local5", 21},  {"local6", 22}, {"local7", 23},
};

static int parse_facility(const sluice_options *o, int *out, sluice_error *err)
{
    const char *v = sluice_options_get(o, "facility", "user");
    for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
        if (strcasecmp(v, facilities[i].name) == 0) {
            *out = facilities[i].code;
            return 0;
        }
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (end != v && *end == '\0' && x >= 0 && x <= 23) {
        *out = (int)x;
        return 0;
    }
    return sluice_options_error(o, "facility", err,
                                "'%s' is not a facility (kern, user, mail, "
                                "daemon, auth, syslog, ..., local0..local7, "
                                "or 0..23)", v);
}

/* A header token: 1..max PRINTUSASCII, minus the bytes in extra. */
static int check_token(const sluice_options *o, const char *key,
                       const char *v, size_t max, const char *extra,
                       sluice_error *err)
{
    size_t n = strlen(v);
    if (n == 0 || n > max)
        return sluice_options_error(o, key, err,
                                    "must be 1 to %zu characters long", max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 33 || c > 126 || (extra && strchr(extra, c)))
            return sluice_options_error(o, key, err,
                                        "'%s' has a character not allowed "
                                        "here (position %zu)", v, i + 1);
    }
    return 0;
}

/* Host names and IP literals: letters, digits, '.', '-', '_', ':' and '%'
 * (IPv6 scope); "[v6]" brackets are accepted and removed. */
static int parse_host(const sluice_options *o, char *out, size_t cap,
                      sluice_error *err)
{
    const char *v = sluice_options_get(o, "host", "localhost");
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
        v++;
        n -= 2;
    }
    if (n == 0 || n >= cap || n > 253)
        return sluice_options_error(o, "host", err,
                                    "must be a host name or an IP address");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!isalnum(c) && !strchr(".-_:%", c))
            return sluice_options_error(o, "host", err,
                                        "'%s' is not a host name or an IP "
                                        "address", sluice_options_get(o, "host", ""));
    }
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

static int only_for(const sluice_options *o, const char *key, int ok,
                    const char *which, sluice_error *err)
{
    if (!ok && sluice_options_find(o, key))
        return sluice_options_error(o, key, err,
                                    "only applies to transport = %s", which);
    return 0;
}

/* The options, validated: shared by open() and check(). */
typedef struct syslog_config {
    enum transport transport;
    char host[256];
    char port[8];
    char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int connect_timeout_ms;
    int timeout_ms;
    int relp_window;
    syslog_fmt fmt;
} syslog_config;

static int syslog_parse(const sluice_options *o, syslog_config *c,
                        sluice_error *err)
{
    memset(c, 0, sizeof *c);
    long long x = 0;
    const char *t = sluice_options_get(o, "transport", "udp");
    if (strcmp(t, "udp") == 0)
        c->transport = T_UDP;
    else if (strcmp(t, "tcp") == 0)
        c->transport = T_TCP;
    else if (strcmp(t, "unix") == 0)
        c->transport = T_UNIX;
    else if (strcmp(t, "relp") == 0) {
#ifdef SYSLOG_HAVE_RELP
        c->transport = T_RELP;
#else
        return sluice_options_error(o, "transport", err,
                                    "relp is not available: this syslog.so "
                                    "was built without librelp (install "
                                    "librelp-dev and rebuild with "
                                    "-Dsyslog_relp=enabled)");
#endif
    } else {
        return sluice_options_error(o, "transport", err,
                                    "'%s' is not udp, tcp, unix or relp", t);
    }
    int net = c->transport != T_UNIX;
    if (only_for(o, "host", net, "udp, tcp or relp", err) ||
        only_for(o, "port", net, "udp, tcp or relp", err) ||
        only_for(o, "socket", !net, "unix", err) ||
        only_for(o, "relp_window", c->transport == T_RELP, "relp", err))
        return -1;
    if (net) {
        if (parse_host(o, c->host, sizeof c->host, err) ||
            sluice_options_int(o, "port", c->transport == T_RELP ? 2514 : 514,
                               1, 65535, &x, err))
            return -1;
        snprintf(c->port, sizeof c->port, "%d", (int)x);
    } else {
        const char *p = sluice_options_get(o, "socket", "/dev/log");
        if (p[0] == '\0' || strlen(p) >= sizeof c->socket_path)
            return sluice_options_error(o, "socket", err,
                                        "must be a path of 1 to %zu bytes",
                                        sizeof c->socket_path - 1);
        strcpy(c->socket_path, p);
    }
    if (sluice_options_int(o, "connect_timeout_ms", 5000, 1, 600000, &x, err))
        return -1;
    c->connect_timeout_ms = (int)x;
    if (sluice_options_int(o, "timeout_ms", 10000, 1, 600000, &x, err))
        return -1;
    c->timeout_ms = (int)x;
    /* RFC 5426: a datagram carries at most 65507 octets over IPv4 */
    if (sluice_options_int(o, "max_message_size", 8192, 480,
                           c->transport == T_UDP ? 65507 : 16777216, &x, err))
        return -1;
    c->fmt.max_size = (size_t)x;
    long long window = 128;
    if (c->transport == T_RELP &&
        sluice_options_int(o, "relp_window", 128, 2, 65535, &window, err))
        return -1;
    c->relp_window = (int)window;

    const char *f = sluice_options_get(o, "format", "rfc5424");
    if (strcmp(f, "rfc5424") == 0)
        c->fmt.rfc3164 = 0;
    else if (strcmp(f, "rfc3164") == 0)
        c->fmt.rfc3164 = 1;
    else
        return sluice_options_error(o, "format", err,
                                    "'%s' is neither rfc5424 nor rfc3164", f);
    c->fmt.omit_host = c->fmt.rfc3164 && c->transport == T_UNIX;
    if (parse_facility(o, &c->fmt.facility, err))
        return -1;

    const char *v = sluice_options_get(o, "hostname", NULL);
    if (v) {
        if (check_token(o, "hostname", v, 255, NULL, err))
            return -1;
        strcpy(c->fmt.hostname, v);
    } else {
        char h[256] = "";
        if (gethostname(h, sizeof h - 1) != 0 || h[0] == '\0')
            strcpy(h, "-");
        strcpy(c->fmt.hostname, h); /* format.c replaces unusable bytes */
    }
    v = sluice_options_get(o, "app_name", NULL);
    if (v) {
        if (check_token(o, "app_name", v, c->fmt.rfc3164 ? 32 : 48,
                        c->fmt.rfc3164 ? ":[]" : NULL, err))
            return -1;
        strcpy(c->fmt.app_name, v);
    }
    v = sluice_options_get(o, "msgid", "-");
    if (check_token(o, "msgid", v, 32, NULL, err))
        return -1;
    strcpy(c->fmt.msgid, v);
    v = sluice_options_get(o, "sd_id", "fields@32473");
    if (check_token(o, "sd_id", v, 32, "=]\"", err))
        return -1;
    if (!strchr(v, '@'))
        return sluice_options_error(o, "sd_id", err,
                                    "'%s' must have the form name@<private "
                                    "enterprise number> (RFC 5424 7.2.2)", v);
    strcpy(c->fmt.sd_id, v);
    snprintf(c->fmt.procid, sizeof c->fmt.procid, "%ld", (long)getpid());
    return 0;
}

/* `sluice check`: the values only; no socket, no relp client. */
static int syslog_check(const sluice_options *o, sluice_error *err)
{
    syslog_config *c = malloc(sizeof *c);
    if (!c)
        return sluice_error_set(err, "syslog: out of memory");
    int rc = syslog_parse(o, c, err);
    free(c);
    return rc;
}

static void syslog_close(void *state);

static int syslog_open(const sluice_options *o, void **state,
                       sluice_error *err)
{
    syslog_config *c = malloc(sizeof *c);
    if (!c)
        return sluice_error_set(err, "syslog: out of memory");
    if (syslog_parse(o, c, err)) {
        free(c);
        return -1;
    }
    syslog_state *s = calloc(1, sizeof *s);
    if (!s) {
        free(c);
        return sluice_error_set(err, "syslog: out of memory");
    }
    s->fd = -1;
    s->transport = c->transport;
    memcpy(s->host, c->host, sizeof s->host);
    memcpy(s->port, c->port, sizeof s->port);
    memcpy(s->socket_path, c->socket_path, sizeof s->socket_path);
    s->connect_timeout_ms = c->connect_timeout_ms;
    s->timeout_ms = c->timeout_ms;
    s->fmt = c->fmt;
    int window = c->relp_window;
    free(c);
    (void)window;
#ifdef SYSLOG_HAVE_RELP
    if (s->transport == T_RELP &&
        syslog_relp_new(&s->relp, s->host, s->port, s->connect_timeout_ms,
                        s->timeout_ms, window, err)) {
        syslog_close(s);
        return -1;
    }
#endif
    *state = s;
    return 0;
}

/* ------------------------------------------------------------------ */
/* sockets                                                              */

static void drop(syslog_state *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static void set_timeouts(int fd, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* connect() bounded by ms; fd is non-blocking on entry, blocking on return */
static int connect_timed(int fd, const struct sockaddr *a, socklen_t len,
                         int ms)
{
    if (connect(fd, a, len) != 0) {
        if (errno != EINPROGRESS)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r;
        do
            r = poll(&p, 1, ms);
        while (r < 0 && errno == EINTR);
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (r < 0)
            return -1;
        int e = 0;
        socklen_t el = sizeof e;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
            return -1;
        if (e) {
            errno = e;
            return -1;
        }
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return -1;
    return 0;
}

int syslog_connect_inet(const char *host, const char *port, int socktype,
                        int connect_timeout_ms, int timeout_ms, int *out,
                        sluice_error *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0)
        return sluice_error_set(err, "syslog: %s:%s: %s", host, port,
                                gai_strerror(g));
    int e = 0, connected = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family,
                        ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect_timed(fd, ai->ai_addr, ai->ai_addrlen,
                          connect_timeout_ms) != 0) {
            e = errno;
            close(fd);
            continue;
        }
        set_timeouts(fd, timeout_ms);
        connected = fd;
        break;
    }
    freeaddrinfo(res);
    if (connected < 0)
        return sluice_error_set(err, "syslog: connect to %s:%s (%s): %s",
                                host, port,
                                socktype == SOCK_DGRAM ? "udp" : "tcp",
                                strerror(e ? e : ECONNREFUSED));
    *out = connected;
    return 0;
}

/* udp and unix */
static int ensure_connected(syslog_state *s, sluice_error *err)
{
    if (s->fd >= 0)
        return 0;
    if (s->transport == T_UNIX) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strcpy(a.sun_path, s->socket_path);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return sluice_error_set(err, "syslog: socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            int e = errno;
            close(fd);
            return sluice_error_set(err, "syslog: connect to %s: %s",
                                    s->socket_path, strerror(e));
        }
        set_timeouts(fd, s->timeout_ms);
        s->fd = fd;
        return 0;
    }
    return syslog_connect_inet(s->host, s->port, SOCK_DGRAM,
                               s->connect_timeout_ms, s->timeout_ms, &s->fd,
                               err);
}

static int write_datagrams(syslog_state *s, const sluice_record *const *batch,
                           size_t n, size_t *written, sluice_error *err)
{
    for (size_t i = 0; i < n; i++) {
        s->buf.len = 0;
        if (syslog_format(&s->fmt, batch[i], &s->buf))
            return sluice_error_set(err, "syslog: out of memory");
        ssize_t w;
        do
            w = send(s->fd, s->buf.p, s->buf.len, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0) {
            int e = errno;
            drop(s);
            return sluice_error_set(err, "syslog: send to %s: %s",
                                    s->transport == T_UNIX ? s->socket_path
                                                           : s->host,
                                    e == EAGAIN ? "timed out" : strerror(e));
        }
        *written = i + 1;
    }
    return 0;
}

static int syslog_write(void *state, const sluice_record *const *batch,
                        size_t n, size_t *written, sluice_error *err)
{
    syslog_state *s = state;
    *written = 0;
    if (n == 0)
        return 0;
#ifdef SYSLOG_HAVE_RELP
    if (s->transport == T_RELP) {
        /* librelp sends without MSG_NOSIGNAL: one guard for the batch */
        int rc = 0;
        sluice_sigpipe_guard guard;
        sluice_sigpipe_block(&guard);
        for (size_t i = 0; i < n && rc == 0; i++) {
            s->buf.len = 0;
            if (syslog_format(&s->fmt, batch[i], &s->buf))
                rc = sluice_error_set(err, "syslog: out of memory");
            else if (syslog_relp_send(s->relp, s->buf.p, s->buf.len, err))
                rc = -1;
            else
                *written = i + 1;
        }
        sluice_sigpipe_unblock(&guard);
        return rc;
    }
#endif
    if (s->transport == T_TCP) {
        if (!s->tcp && syslog_tcp_new(&s->tcp, s->host, s->port,
                                      s->connect_timeout_ms, s->timeout_ms,
                                      err))
            return -1;
        return syslog_tcp_write(s->tcp, &s->fmt, batch, n, written, err);
    }
    if (ensure_connected(s, err))
        return -1;
    return write_datagrams(s, batch, n, written, err);
}

static int syslog_flush(void *state, sluice_error *err)
{
    syslog_state *s = state;
#ifdef SYSLOG_HAVE_RELP
    if (s->transport == T_RELP)
        return syslog_relp_flush(s->relp, err);
#else
    (void)s;
    (void)err;
#endif
    return 0;
}

static void syslog_close(void *state)
{
    syslog_state *s = state;
    if (!s)
        return;
#ifdef SYSLOG_HAVE_RELP
    syslog_relp_free(s->relp);
#endif
    syslog_tcp_free(s->tcp); /* waits for the collector to read it all */
    drop(s);
    sl_buf_free(&s->buf);
    free(s);
}

static const sluice_sink_api syslog_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "syslog",
    .description = "RFC 5424/3164 to a collector over udp, tcp, unix or relp",
    .option_names = syslog_options,
    .open = syslog_open,
    .write = syslog_write,
    .flush = syslog_flush,
    .close = syslog_close,
    .check = syslog_check,
};

const sluice_sink_api *sluice_sink_entry(void) { return &syslog_api; }
