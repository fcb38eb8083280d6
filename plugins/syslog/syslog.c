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

/* in the order of enum transport: the option's value is the index */
static const char *const transport_choices[] = {"udp", "tcp", "unix", "relp",
                                                NULL};
enum transport { T_UDP, T_TCP, T_UNIX, T_RELP };

/* the facility codes 0..23 by name, then by number: code = index % 24 */
static const char *const facility_choices[] = {
    "kern",   "user",   "mail",   "daemon", "auth",     "syslog",
    "lpr",    "news",   "uucp",   "cron",   "authpriv", "ftp",
    "ntp",    "security", "console", "solaris-cron", "local0", "local1",
    "local2", "local3", "local4", "local5", "local6",   "local7",
    "0",  "1",  "2",  "3",  "4",  "5",  "6",  "7",  "8",  "9",  "10", "11",
    "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23",
    NULL};
#define FACILITY_COUNT 24

static const char *const format_choices[] = {"rfc5424", "rfc3164", NULL};

/* RFC 5426: a datagram carries at most 65507 octets over IPv4 */
#define UDP_MESSAGE_MAX 65507

static const sluice_option_spec syslog_options[] = {
    {.name = "transport", .type = SLUICE_OPTION_ENUM, .default_value = "udp",
     .choices = transport_choices,
     .description = "udp (RFC 5426), tcp (RFC 6587 octet counting), unix (a "
                    "local datagram socket) or relp (librelp)"},
    {.name = "host", .type = SLUICE_OPTION_HOST, .default_value = "localhost",
     .description = "the collector's host name or IP address; udp, tcp, relp"},
    {.name = "port", .type = SLUICE_OPTION_INT, .min = 1, .max = 65535,
     .description = "the collector's port; udp, tcp, relp (default 514, relp "
                    "2514)"},
    {.name = "socket", .type = SLUICE_OPTION_PATH, .default_value = "/dev/log",
     .min = 1, .max = 107,
     .description = "the local datagram socket; unix only"},
    {.name = "format", .type = SLUICE_OPTION_ENUM, .default_value = "rfc5424",
     .choices = format_choices,
     .description = "the message format (this plugin owns the key)"},
    {.name = "facility", .type = SLUICE_OPTION_ENUM, .default_value = "user",
     .choices = facility_choices,
     .description = "the facility, by name or by its number 0..23"},
    {.name = "hostname", .type = SLUICE_OPTION_STRING, .min = 1, .max = 255,
     .flags = SLUICE_OPTION_TOKEN,
     .description = "the HOSTNAME field (default: gethostname())"},
    {.name = "app_name", .type = SLUICE_OPTION_STRING, .min = 1, .max = 48,
     .flags = SLUICE_OPTION_TOKEN,
     .description = "APP-NAME (RFC 3164: the TAG, at most 32, no ':', '[', "
                    "']'); default: the record's logger name"},
    {.name = "msgid", .type = SLUICE_OPTION_STRING, .default_value = "-",
     .min = 1, .max = 32, .flags = SLUICE_OPTION_TOKEN,
     .description = "the MSGID field"},
    {.name = "sd_id", .type = SLUICE_OPTION_STRING,
     .default_value = "fields@32473", .min = 1, .max = 32,
     .flags = SLUICE_OPTION_TOKEN,
     .description = "SD-ID of the element holding the fields: name@<private "
                    "enterprise number>, without '=', ']', '\"'"},
    {.name = "connect_timeout_ms", .type = SLUICE_OPTION_DURATION,
     .default_value = "5000", .min = 1, .max = 600000,
     .description = "how long connecting may take (relp: rounded up to "
                    "seconds)"},
    {.name = "timeout_ms", .type = SLUICE_OPTION_DURATION,
     .default_value = "10000", .min = 1, .max = 600000,
     .description = "how long one send (tcp, udp, unix), one wait for the "
                    "collector's acknowledgement of a chunk and, at close, "
                    "for it to read the rest (tcp), or one wait for the RELP "
                    "window or an ack (relp, rounded up to seconds) may "
                    "block"},
    {.name = "max_message_size", .type = SLUICE_OPTION_SIZE,
     .default_value = "8192", .min = 480, .max = 16777216,
     .description = "the whole message in octets (udp: at most 65507)"},
    {.name = "relp_window", .type = SLUICE_OPTION_INT, .default_value = "128",
     .min = 2, .max = 65535,
     .description = "unacknowledged RELP frames in flight; relp only"},
    {0}};

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
/* options: each value is parsed and checked by the runtime (the table
 * above); here are the rules across options, and the values gathered.  */

static int only_for(const sluice_options *o, const char *key, int ok,
                    const char *which, sluice_error *err)
{
    if (!ok && sluice_options_given(o, key))
        return sluice_options_report(o, key, err,
                                     "only applies to transport = %s", which);
    return 0;
}

/* `sluice check`, and before open(): no socket, no relp client. */
static int syslog_check(const sluice_options *o, sluice_error *err)
{
    int bad = 0;
    int transport = sluice_options_get_enum(o, "transport");
#ifndef SYSLOG_HAVE_RELP
    if (transport == T_RELP)
        bad |= sluice_options_report(o, "transport", err,
                                     "relp is not available: this syslog.so "
                                     "was built without librelp (install "
                                     "librelp-dev and rebuild with "
                                     "-Dsyslog_relp=enabled)");
#endif
    int net = transport != T_UNIX;
    bad |= only_for(o, "host", net, "udp, tcp or relp", err);
    bad |= only_for(o, "port", net, "udp, tcp or relp", err);
    bad |= only_for(o, "socket", !net, "unix", err);
    bad |= only_for(o, "relp_window", transport == T_RELP, "relp", err);
    if (transport == T_UDP &&
        sluice_options_get_int(o, "max_message_size") > UDP_MESSAGE_MAX)
        bad |= sluice_options_report(o, "max_message_size", err,
                                     "%lld is more than a UDP datagram holds "
                                     "(%d)",
                                     sluice_options_get_int(o, "max_message_size"),
                                     UDP_MESSAGE_MAX);
    int rfc3164 = sluice_options_get_enum(o, "format") == 1;
    const char *app = sluice_options_get_string(o, "app_name");
    if (app && rfc3164 && (strlen(app) > 32 || strpbrk(app, ":[]")))
        bad |= sluice_options_report(o, "app_name", err,
                                     "'%s': an RFC 3164 TAG has at most 32 "
                                     "characters, none of ':', '[', ']'",
                                     app);
    const char *sd_id = sluice_options_get_string(o, "sd_id");
    if (sd_id && strpbrk(sd_id, "=]\""))
        bad |= sluice_options_report(o, "sd_id", err,
                                     "'%s' has a character not allowed in an "
                                     "SD-ID ('=', ']' or '\"')", sd_id);
    else if (sd_id && !strchr(sd_id, '@'))
        bad |= sluice_options_report(o, "sd_id", err,
                                     "'%s' must have the form name@<private "
                                     "enterprise number> (RFC 5424 7.2.2)",
                                     sd_id);
    return bad ? -1 : 0;
}

/* The options gathered for open(). */
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

static void syslog_gather(const sluice_options *o, syslog_config *c)
{
    memset(c, 0, sizeof *c);
    c->transport = (enum transport)sluice_options_get_enum(o, "transport");
    const char *host = sluice_options_get_string(o, "host");
    snprintf(c->host, sizeof c->host, "%s", host ? host : "localhost");
    long long port = sluice_options_given(o, "port")
                         ? sluice_options_get_int(o, "port")
                         : c->transport == T_RELP ? 2514 : 514;
    snprintf(c->port, sizeof c->port, "%d", (int)port);
    const char *socket_path = sluice_options_get_string(o, "socket");
    snprintf(c->socket_path, sizeof c->socket_path, "%s",
             socket_path ? socket_path : "/dev/log");
    c->connect_timeout_ms = (int)sluice_options_get_int(o, "connect_timeout_ms");
    c->timeout_ms = (int)sluice_options_get_int(o, "timeout_ms");
    c->relp_window = (int)sluice_options_get_int(o, "relp_window");
    c->fmt.max_size = (size_t)sluice_options_get_int(o, "max_message_size");
    c->fmt.rfc3164 = sluice_options_get_enum(o, "format") == 1;
    c->fmt.omit_host = c->fmt.rfc3164 && c->transport == T_UNIX;
    c->fmt.facility = sluice_options_get_enum(o, "facility") % FACILITY_COUNT;
    const char *v = sluice_options_get_string(o, "hostname");
    if (v) {
        snprintf(c->fmt.hostname, sizeof c->fmt.hostname, "%s", v);
    } else {
        char h[256] = "";
        if (gethostname(h, sizeof h - 1) != 0 || h[0] == '\0')
            strcpy(h, "-");
        strcpy(c->fmt.hostname, h); /* format.c replaces unusable bytes */
    }
    if ((v = sluice_options_get_string(o, "app_name")))
        snprintf(c->fmt.app_name, sizeof c->fmt.app_name, "%s", v);
    v = sluice_options_get_string(o, "msgid");
    snprintf(c->fmt.msgid, sizeof c->fmt.msgid, "%s", v ? v : "-");
    v = sluice_options_get_string(o, "sd_id");
    snprintf(c->fmt.sd_id, sizeof c->fmt.sd_id, "%s", v ? v : "fields@32473");
    snprintf(c->fmt.procid, sizeof c->fmt.procid, "%ld", (long)getpid());
}

static void syslog_close(void *state);

static int syslog_open(const sluice_options *o, void **state,
                       sluice_error *err)
{
    syslog_config *c = malloc(sizeof *c);
    if (!c)
        return sluice_error_set(err, "syslog: out of memory");
    syslog_gather(o, c);
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
    .open = syslog_open,
    .write = syslog_write,
    .flush = syslog_flush,
    .close = syslog_close,
    .check = syslog_check,
    .options = syslog_options,
    .flags = SLUICE_SINK_NO_LINE, /* it renders its own messages */
};

const sluice_sink_api *sluice_sink_entry(void) { return &syslog_api; }
