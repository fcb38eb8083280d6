/*
 * metrics_http.c -- [runtime] metrics_listen: the address, parsed when the
 * configuration is validated (plan.c), and the HTTP server that answers
 * GET /metrics with sluice_runtime_metrics_write's text from the time the
 * runtime starts until its close begins (lifecycle.c calls start and
 * stop). The server is libmicrohttpd's, on one thread of its own; this
 * file opens the listening socket itself, so that a port in use is an
 * error that says so, with the key's FILE:LINE. The server reads the
 * runtime only through sluice_runtime_metrics_write, and stop returns only
 * once no request is being answered, so nothing is read after close began
 * freeing. libmicrohttpd logs nothing (no MHD_USE_ERROR_LOG) and keeps
 * SIGPIPE out of its thread (MHD_FEATURE_AUTOSUPPRESS_SIGPIPE, checked).
 * Built without libmicrohttpd, the key is refused at validation.
 * Knows nothing of INI syntax, of how the counters are kept or rendered.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics_internal.h"
#include "runtime_internal.h"

/* ---- the address --------------------------------------------------------- */

#define LISTEN_FORMS "HOST:PORT (like 127.0.0.1:9464, [::1]:9464 or :9464)"

static int refuse(char *why, size_t cap, const char *value, const char *what)
{
    snprintf(why, cap, "'%s' %s", value, what);
    return -1;
}

int sluice_metrics_listen_parse_(const char *value, sluice_metrics_listen *out,
                                 char *why, size_t why_cap)
{
    memset(out, 0, sizeof *out);
    if (!sluice_metrics_http_available_()) {
        snprintf(why, why_cap, "this sluice was built without libmicrohttpd, "
                               "which the metrics server needs");
        return -1;
    }
    char host[64];
    const char *port_text;
    int family = AF_INET;
    if (value[0] == '[') {
        const char *close = strchr(value, ']');
        if (!close || close[1] != ':')
            return refuse(why, why_cap, value, "is not " LISTEN_FORMS);
        size_t n = (size_t)(close - value - 1);
        if (n >= sizeof host)
            return refuse(why, why_cap, value, "is not an IPv6 address in brackets");
        memcpy(host, value + 1, n);
        host[n] = '\0';
        port_text = close + 2;
        family = AF_INET6;
    } else {
        const char *colon = strrchr(value, ':');
        if (!colon)
            return refuse(why, why_cap, value, "is not " LISTEN_FORMS);
        if (strchr(value, ':') != colon)
            return refuse(why, why_cap, value,
                          "is not " LISTEN_FORMS ": an IPv6 address goes in "
                          "brackets");
        size_t n = (size_t)(colon - value);
        if (n >= sizeof host)
            return refuse(why, why_cap, value, "is not " LISTEN_FORMS);
        memcpy(host, value, n);
        host[n] = '\0';
        port_text = colon + 1;
    }
    size_t digits = strspn(port_text, "0123456789");
    unsigned long port = digits && digits <= 5 ? strtoul(port_text, NULL, 10) : 0;
    if (!digits || port_text[digits] != '\0' || port < 1 || port > 65535)
        return refuse(why, why_cap, value, "has no port 1..65535 after the ':'");
    /* no host, or "localhost": loopback; any other address only as written */
    if (family == AF_INET && (host[0] == '\0' || strcmp(host, "localhost") == 0))
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(family, host, out->address) != 1)
        return refuse(why, why_cap, value,
                      family == AF_INET6
                          ? "is not an IPv6 address in brackets"
                          : "is not an IP address (host names other than "
                            "localhost are not resolved)");
    out->family = family;
    out->port = (unsigned)port;
    char shown[INET6_ADDRSTRLEN];
    inet_ntop(family, out->address, shown, sizeof shown);
    snprintf(out->text, sizeof out->text, family == AF_INET6 ? "[%s]:%u" : "%s:%u",
             shown, out->port);
    return 0;
}

/* ---- the server ------------------------------------------------------------- */

#ifdef SLUICE_HAVE_MICROHTTPD

#include <microhttpd.h>

struct sluice_metrics_http {
    struct MHD_Daemon *daemon;
    int listen_fd;             /* the daemon's; closed by MHD_stop_daemon */
};

bool sluice_metrics_http_available_(void)
{
    return true;
}

/* The listening socket: bound, listening, close-on-exec. -1 with err. */
static int listen_on(const sluice_metrics_listen *where, sluice_error *err)
{
    struct sockaddr_storage address;
    socklen_t address_len;
    memset(&address, 0, sizeof address);
    if (where->family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&address;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)where->port);
        memcpy(&in6->sin6_addr, where->address, 16);
        address_len = sizeof *in6;
    } else {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&address;
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)where->port);
        memcpy(&in4->sin_addr, where->address, 4);
        address_len = sizeof *in4;
    }
    int fd = socket(where->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sluice_error_set(err, "%s: [runtime] metrics_listen: socket: %s",
                                where->where, strerror(errno));
    int one = 1;
    /* a restart may bind while the last run's connections linger */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (where->family == AF_INET6) /* [::] means IPv6 only, as written */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&address, address_len) != 0 ||
        listen(fd, 16) != 0) {
        int saved = errno;
        close(fd);
        return sluice_error_set(err, "%s: [runtime] metrics_listen: cannot "
                                     "listen on %s: %s",
                                where->where, where->text, strerror(saved));
    }
    return fd;
}

static enum MHD_Result reply(struct MHD_Connection *connection,
                             unsigned status, const char *body,
                             const char *allow)
{
    struct MHD_Response *response = MHD_create_response_from_buffer(
        strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
    if (allow)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result queued = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return queued;
}

/* Every request: GET (or HEAD) /metrics, else 404 or 405. On the server's
 * thread; rt is valid, since close stops the server before anything else.
 * A GET is answered once its request is read whole (the second call), so
 * the connection can stay open for the next scrape; a body is skipped. */
static enum MHD_Result answer(void *cls, struct MHD_Connection *connection,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **request_state)
{
    static int request_seen;
    sluice_runtime *rt = cls;
    (void)version;
    (void)upload_data;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                     "only GET and HEAD\n", "GET, HEAD");
    if (*request_state == NULL) {
        *request_state = &request_seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0)
        return reply(connection, MHD_HTTP_NOT_FOUND,
                     "not found: the metrics are at /metrics\n", NULL);
    char *text;
    size_t len;
    sluice_error err;
    if (sluice_runtime_metrics_write(rt, &text, &len, &err) != 0) {
        char body[SLUICE_ERROR_MAX + 1];
        snprintf(body, sizeof body, "%s\n", err.message);
        return reply(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, body, NULL);
    }
    struct MHD_Response *response =
        MHD_create_response_from_buffer_with_free_callback(len, text, free);
    if (!response) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            SLUICE_METRICS_CONTENT_TYPE);
    enum MHD_Result queued = MHD_queue_response(connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return queued;
}

int sluice_metrics_http_start_(sluice_runtime *rt, sluice_error *err)
{
    const sluice_metrics_listen *where = &rt->metrics_listen;
    if (where->family == 0)
        return 0;
    if (MHD_is_feature_supported(MHD_FEATURE_AUTOSUPPRESS_SIGPIPE) != MHD_YES)
        return sluice_error_set(err, "%s: [runtime] metrics_listen: this "
                                     "libmicrohttpd cannot keep SIGPIPE from "
                                     "the host",
                                where->where);
    struct sluice_metrics_http *server = calloc(1, sizeof *server);
    if (!server)
        return sluice_error_set(err, "%s: [runtime] metrics_listen: out of memory",
                                where->where);
    server->listen_fd = listen_on(where, err);
    if (server->listen_fd < 0) {
        free(server);
        return -1;
    }
    /* one thread polling; a few connections at a time, idle ones cut */
    server->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, answer, rt,
        MHD_OPTION_LISTEN_SOCKET, server->listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, 16u,
        MHD_OPTION_CONNECTION_TIMEOUT, 10u,
        MHD_OPTION_END);
    if (!server->daemon) {
        /* The socket is not closed here: libmicrohttpd closes it on every
         * failure once it has taken it, and only running out of memory or
         * descriptors before that leaves it open; closing it again could
         * close a descriptor another thread has just opened. */
        free(server);
        return sluice_error_set(err, "%s: [runtime] metrics_listen: the HTTP "
                                     "server (libmicrohttpd) could not start on %s",
                                where->where, where->text);
    }
    rt->metrics_http = server;
    return 0;
}

void sluice_metrics_http_stop_(sluice_runtime *rt)
{
    struct sluice_metrics_http *server = rt->metrics_http;
    if (!server)
        return;
    rt->metrics_http = NULL;
    /* joins the server's thread (a request being answered finishes first),
     * closes its connections and the listening socket */
    MHD_stop_daemon(server->daemon);
    free(server);
}

void sluice_metrics_http_forked_(sluice_runtime *rt)
{
    if (rt->metrics_http)
        close(rt->metrics_http->listen_fd);
}

#else /* !SLUICE_HAVE_MICROHTTPD: metrics_listen is refused at validation */

bool sluice_metrics_http_available_(void)
{
    return false;
}

int sluice_metrics_http_start_(sluice_runtime *rt, sluice_error *err)
{
    if (rt->metrics_listen.family == 0)
        return 0;
    return sluice_error_set(err, "%s: [runtime] metrics_listen: this sluice was "
                                 "built without libmicrohttpd",
                            rt->metrics_listen.where);
}

void sluice_metrics_http_stop_(sluice_runtime *rt)
{
    (void)rt;
}

void sluice_metrics_http_forked_(sluice_runtime *rt)
{
    (void)rt;
}

#endif
