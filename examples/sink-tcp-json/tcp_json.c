/*
 * tcp_json.c -- a fuller example plugin (ABI 2): JSON lines over TCP, as a
 * log collector (Fluent Bit's tcp input, Vector's socket source, Logstash's
 * json_lines codec) takes them. It shows:
 *
 *   - an option table with a host:port, durations, a bool and a string;
 *   - default_format = SLUICE_LINE_JSON: `line` is a JSON object without
 *     the operator writing `format = json`;
 *   - the host services (opts->host): with `envelope = true` each record is
 *     wrapped as {"time":"<RFC 3339>","source":"<escaped>","event":{...}}
 *     using format_time, escape_json and render, with no JSON code here;
 *   - honest accounting: a record counts as written once the kernel took
 *     every byte of its line; a connection that fails midway is dropped and
 *     the records from the first incomplete one on stay queued.
 *
 * It connects lazily (a collector that is down does not stop the runtime
 * from starting) and sends with MSG_NOSIGNAL (a collector that went away
 * is an error, never a SIGPIPE). Build it like any plugin:
 *     cc -shared -fPIC -I<sluice>/include -o tcp_json.so tcp_json.c
 */
#include <sluice/sink.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static const sluice_option_spec tcp_json_options[] = {
    {.name = "address", .type = SLUICE_OPTION_HOSTPORT,
     .flags = SLUICE_OPTION_REQUIRED,
     .description = "the collector, HOST:PORT ([v6]:PORT for IPv6)"},
    {.name = "connect_timeout_ms", .type = SLUICE_OPTION_DURATION,
     .default_value = "5s", .min = 1, .max = 600000,
     .description = "how long connecting may take"},
    {.name = "timeout_ms", .type = SLUICE_OPTION_DURATION,
     .default_value = "10s", .min = 1, .max = 600000,
     .description = "how long one send may block"},
    {.name = "envelope", .type = SLUICE_OPTION_BOOL, .default_value = "false",
     .description = "wrap each record: {\"time\", \"source\", \"event\"}"},
    {.name = "source", .type = SLUICE_OPTION_STRING, .default_value = "sluice",
     .min = 1, .max = 256, .description = "the envelope's source"},
    {0}};

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

typedef struct tcp_json {
    char host[256];
    char port[8];
    int connect_ms, timeout_ms;
    int envelope;
    char *source;                /* JSON-escaped already */
    const sluice_host *services; /* the runtime's, valid until close */
    int fd;                      /* -1 while not connected */
    buf out;                     /* the batch's bytes */
    size_t *ends;                /* where each record's bytes end in out */
    size_t ends_cap;
} tcp_json;

static int reserve(buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int append(buf *b, const char *p, size_t n)
{
    if (reserve(b, n))
        return -1;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

/* Append what a host service writes (snprintf's contract: on a short
 * buffer it says how much it needs, and is called again). */
typedef size_t (*emit_fn)(tcp_json *s, const sluice_record *r, char *out,
                          size_t cap);

static int append_from(tcp_json *s, buf *b, emit_fn emit, const sluice_record *r)
{
    size_t room = b->cap - b->len;
    size_t need = emit(s, r, b->p ? b->p + b->len : NULL, room);
    if (need >= room) {
        if (reserve(b, need + 1))
            return -1;
        emit(s, r, b->p + b->len, need + 1);
    }
    b->len += need;
    return 0;
}

static size_t emit_time(tcp_json *s, const sluice_record *r, char *out, size_t cap)
{
    return s->services->format_time(r->time_ns, out, cap);
}

static size_t emit_json(tcp_json *s, const sluice_record *r, char *out, size_t cap)
{
    return s->services->render(s->services, r, SLUICE_LINE_JSON, out, cap);
}

/* The bytes of one record: its line, or the envelope around it. */
static int frame(tcp_json *s, const sluice_record *r)
{
    buf *b = &s->out;
    if (!s->envelope) {
        if (append(b, r->line, r->line_len))
            return -1;
        if (!r->line_len || r->line[r->line_len - 1] != '\n')
            return append(b, "\n", 1);
        return 0;
    }
    if (append(b, "{\"time\":\"", 9) || append_from(s, b, emit_time, r) ||
        append(b, "\",\"source\":\"", 12) ||
        append(b, s->source, strlen(s->source)) ||
        append(b, "\",\"event\":", 10) || append_from(s, b, emit_json, r))
        return -1;
    /* the rendered object ends in '\n': close the envelope before it */
    if (b->len && b->p[b->len - 1] == '\n')
        b->len--;
    return append(b, "}\n", 2);
}

static void drop(tcp_json *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static int connect_now(tcp_json *s, sluice_error *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(s->host, s->port, &hints, &res);
    if (g != 0)
        return sluice_error_set(err, "tcp_json: %s:%s: %s", s->host, s->port,
                                gai_strerror(g));
    int e = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && s->fd < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family,
                        ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            do
                rc = poll(&p, 1, s->connect_ms);
            while (rc < 0 && errno == EINTR);
            int so = rc == 0 ? ETIMEDOUT : 0;
            socklen_t len = sizeof so;
            if (rc > 0)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len);
            rc = so ? -1 : 0;
            errno = so;
        }
        if (rc != 0) {
            e = errno;
            close(fd);
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        s->fd = fd;
    }
    freeaddrinfo(res);
    if (s->fd < 0)
        return sluice_error_set(err, "tcp_json: connect to %s:%s: %s", s->host,
                                s->port, strerror(e));
    return 0;
}

static int tcp_json_write(void *state, const sluice_record *const *batch,
                          size_t n, size_t *written, sluice_error *err)
{
    tcp_json *s = state;
    *written = 0;
    if (n > s->ends_cap) {
        size_t *e = realloc(s->ends, n * sizeof *e);
        if (!e)
            return sluice_error_set(err, "tcp_json: out of memory");
        s->ends = e;
        s->ends_cap = n;
    }
    s->out.len = 0;
    for (size_t i = 0; i < n; i++) {
        if (frame(s, batch[i]))
            return sluice_error_set(err, "tcp_json: out of memory");
        s->ends[i] = s->out.len;
    }
    if (s->fd < 0 && connect_now(s, err))
        return -1;
    size_t off = 0;
    while (off < s->out.len) {
        ssize_t w = send(s->fd, s->out.p + off, s->out.len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EPIPE;
            while (*written < n && s->ends[*written] <= off)
                (*written)++;
            drop(s); /* a line may be cut: start a fresh stream next time */
            return sluice_error_set(err, "tcp_json: send to %s:%s: %s",
                                    s->host, s->port,
                                    e == EAGAIN ? "timed out" : strerror(e));
        }
        off += (size_t)w;
    }
    *written = n;
    return 0;
}

static void tcp_json_close(void *state)
{
    tcp_json *s = state;
    drop(s);
    free(s->out.p);
    free(s->ends);
    free(s->source);
    free(s);
}

static int tcp_json_open(const sluice_options *opts, void **state,
                         sluice_error *err)
{
    tcp_json *s = calloc(1, sizeof *s);
    if (!s)
        return sluice_error_set(err, "tcp_json: out of memory");
    s->fd = -1;
    s->services = opts->host;
    snprintf(s->host, sizeof s->host, "%s", sluice_options_get_string(opts, "address"));
    snprintf(s->port, sizeof s->port, "%lld", sluice_options_get_int(opts, "address"));
    s->connect_ms = (int)sluice_options_get_int(opts, "connect_timeout_ms");
    s->timeout_ms = (int)sluice_options_get_int(opts, "timeout_ms");
    s->envelope = sluice_options_get_bool(opts, "envelope");
    /* the source goes into every envelope: escape it once */
    const char *source = sluice_options_get_string(opts, "source");
    size_t need = opts->host->escape_json(source, strlen(source), NULL, 0);
    s->source = malloc(need + 1);
    if (!s->source) {
        tcp_json_close(s);
        return sluice_error_set(err, "tcp_json: out of memory");
    }
    opts->host->escape_json(source, strlen(source), s->source, need + 1);
    *state = s;
    return 0;
}

static const sluice_sink_api tcp_json_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "tcp_json",
    .description = "example: JSON lines to a collector over TCP",
    .open = tcp_json_open,
    .write = tcp_json_write,
    .close = tcp_json_close,
    .options = tcp_json_options,
    .default_format = SLUICE_LINE_JSON,
};

const sluice_sink_api *sluice_sink_entry(void) { return &tcp_json_api; }
