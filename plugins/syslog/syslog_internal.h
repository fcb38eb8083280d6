/*
 * syslog_internal.h -- what the files of the syslog sink share: a growable
 * byte buffer, the message renderer (format.c), connecting a socket
 * (syslog.c), the TCP transport (tcp.c) and the RELP transport (relp.c,
 * built only with librelp). Nothing here is visible outside the .so.
 */
#ifndef SLUICE_SYSLOG_INTERNAL_H
#define SLUICE_SYSLOG_INTERNAL_H

#include <sluice/sink.h>

#include <stddef.h>

/* A growable byte buffer; len bytes used, never NUL-terminated by contract. */
typedef struct sl_buf {
    char *p;
    size_t len, cap;
} sl_buf;

int sl_buf_reserve(sl_buf *b, size_t more);
int sl_buf_put(sl_buf *b, const void *p, size_t n);
void sl_buf_free(sl_buf *b);

/* How messages are rendered. Strings are validated by syslog.c. */
typedef struct syslog_fmt {
    int rfc3164;            /* 0: RFC 5424, 1: RFC 3164 */
    int facility;           /* 0..23 */
    int omit_host;          /* RFC 3164 on a local socket, as syslog(3) does */
    char hostname[256];
    char app_name[49];      /* "" : the record's logger name */
    char procid[24];
    char msgid[33];
    char sd_id[33];
    size_t max_size;        /* whole message, octets */
} syslog_fmt;

/* The syslog severity (RFC 5424 6.2.1) of a sluice level. */
int syslog_severity(sluice_level l);

/* Append one message for r to out. Returns 0, or -1 when out of memory. */
int syslog_format(const syslog_fmt *f, const sluice_record *r, sl_buf *out);

/* Connect a socket of socktype (SOCK_DGRAM, SOCK_STREAM) to host:port, the
 * connect bounded by connect_timeout_ms, sends by timeout_ms (SO_SNDTIMEO).
 * 0 and *fd set, or -1 with err naming host, port and the reason. */
int syslog_connect_inet(const char *host, const char *port, int socktype,
                        int connect_timeout_ms, int timeout_ms, int *fd,
                        sluice_error *err);

/* TCP transport (tcp.c): octet-counted frames on one connection, made on
 * the first write and again after a failure. */
typedef struct syslog_tcp syslog_tcp;
int syslog_tcp_new(syslog_tcp **out, const char *host, const char *port,
                   int connect_timeout_ms, int timeout_ms, sluice_error *err);
/* Send batch[0..n); *written: the leading records the collector's kernel
 * acknowledged with no sign of a close after them (see tcp.c for what
 * that does and does not prove, and the replay window that covers the
 * rest). 0 when all n count. */
int syslog_tcp_write(syslog_tcp *t, const syslog_fmt *fmt,
                     const sluice_record *const *batch, size_t n,
                     size_t *written, sluice_error *err);
/* End the stream gracefully, waiting (bounded by timeout_ms) for the
 * collector to read it all, and free. */
void syslog_tcp_free(syslog_tcp *t);

/* RELP transport (relp.c). */
typedef struct syslog_relp syslog_relp;
int syslog_relp_new(syslog_relp **out, const char *host, const char *port,
                    int connect_timeout_ms, int timeout_ms, int window,
                    sluice_error *err);
/* Send one message; 0 once librelp has sent the whole frame and holds it in
 * its retransmission list until the collector acknowledges it. Call it
 * inside sluice_sigpipe_block() / sluice_sigpipe_unblock(): librelp sends
 * without MSG_NOSIGNAL. The other calls guard themselves. */
int syslog_relp_send(syslog_relp *r, const char *msg, size_t len,
                     sluice_error *err);
/* Re-establish a broken session (which resends the unacknowledged frames). */
int syslog_relp_flush(syslog_relp *r, sluice_error *err);
void syslog_relp_free(syslog_relp *r);

#endif
