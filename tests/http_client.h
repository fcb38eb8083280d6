/*
 * http_client.h -- what the metrics suites need of HTTP, on loopback only:
 * a free port, a one-shot HTTP/1.0 request (the whole response read until
 * the server closes, each wait bounded), a status line and body picked out
 * of it, and whether a port still takes connections. No curl needed.
 */
#ifndef SLUICE_TEST_HTTP_CLIENT_H
#define SLUICE_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* A port nothing listens on just now (the kernel's pick; another process
 * may take it before us, so callers that start a server retry). */
static inline unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    unsigned port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* A socket connected to 127.0.0.1:port, or -1 with errno (ECONNREFUSED:
 * nothing listens there). */
static inline int connect_loopback(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static inline bool port_refuses(unsigned port)
{
    int fd = connect_loopback(port);
    if (fd >= 0) {
        close(fd);
        return false;
    }
    return errno == ECONNREFUSED;
}

/* METHOD PATH over HTTP/1.0 to 127.0.0.1:port: the whole response (status
 * line, headers, body), NUL-terminated; "" when the connection failed or a
 * read waited more than timeout_ms. free() it. */
static inline char *http_request(unsigned port, const char *method,
                                 const char *path, int timeout_ms)
{
    int fd = connect_loopback(port);
    if (fd < 0)
        return strdup("");
    char request[1024];
    int n = snprintf(request, sizeof request,
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\n\r\n", method,
                     path, port);
    if (send(fd, request, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return strdup("");
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) != 1) {
            free(buf);
            close(fd);
            return strdup("");
        }
        if (cap - len < 4096)
            buf = realloc(buf, cap *= 2);
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

/* The status code of a response (0 if it has none). */
static inline int http_status(const char *response)
{
    int status = 0;
    if (sscanf(response, "HTTP/%*d.%*d %d", &status) != 1)
        return 0;
    return status;
}

/* The body: what follows the blank line after the headers. */
static inline const char *http_body(const char *response)
{
    const char *end = strstr(response, "\r\n\r\n");
    return end ? end + 4 : "";
}

/* The value of header name (case as sent), copied into out; false if none. */
static inline bool http_header(const char *response, const char *name,
                               char *out, size_t cap)
{
    const char *body = http_body(response);
    size_t name_len = strlen(name);
    for (const char *line = strstr(response, "\r\n"); line && line < body;
         line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp(start, name, name_len) == 0 && start[name_len] == ':') {
            start += name_len + 1;
            while (*start == ' ')
                start++;
            size_t n = strcspn(start, "\r");
            if (n >= cap)
                n = cap - 1;
            memcpy(out, start, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

#endif
