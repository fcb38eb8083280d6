/*
 * format.c -- renders one record as a syslog message: RFC 5424 (header,
 * STRUCTURED-DATA built from the record's fields, MSG) or the traditional
 * RFC 3164 line. Also owns the small byte buffer. Knows nothing of sockets,
 * transports or options parsing.
 */
#include "syslog_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sl_buf_reserve(sl_buf *b, size_t more)
{
    if (b->cap - b->len >= more)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int sl_buf_put(sl_buf *b, const void *p, size_t n)
{
    if (sl_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

void sl_buf_free(sl_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int syslog_severity(sluice_level l)
{
    switch (l) {
    case SLUICE_LEVEL_TRACE:
    case SLUICE_LEVEL_DEBUG: return 7; /* debug */
    case SLUICE_LEVEL_INFO: return 6;  /* informational */
    case SLUICE_LEVEL_WARN: return 4;  /* warning */
    case SLUICE_LEVEL_ERROR: return 3; /* error */
    default: return 2;                 /* fatal: critical */
    }
}

/* RFC 5424 header fields are PRINTUSASCII (33..126); anything else becomes
 * '_'. extra lists further bytes to replace (3164 TAG, SD-NAME). */
static int put_token(sl_buf *b, const char *s, size_t n, size_t max,
                     const char *extra)
{
    if (n > max)
        n = max;
    if (n == 0)
        return sl_buf_put(b, "-", 1);
    if (sl_buf_reserve(b, n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126 || (extra && strchr(extra, c)))
            c = '_';
        b->p[b->len++] = (char)c;
    }
    return 0;
}

/* PARAM-VALUE: UTF-8 with '"', '\' and ']' escaped by a backslash
 * (RFC 5424 6.3.3). */
static int put_param_value(sl_buf *b, const char *s, size_t n)
{
    if (sl_buf_reserve(b, 2 * n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"' || c == '\\' || c == ']')
            b->p[b->len++] = '\\';
        b->p[b->len++] = c;
    }
    return 0;
}

/* [SD-ID key="value" ...], or "-" without fields. */
static int put_sd(const syslog_fmt *f, const sluice_record *r, sl_buf *b)
{
    if (r->field_count == 0)
        return sl_buf_put(b, "-", 1);
    if (sl_buf_put(b, "[", 1) || sl_buf_put(b, f->sd_id, strlen(f->sd_id)))
        return -1;
    for (size_t i = 0; i < r->field_count; i++) {
        const sluice_field *fd = &r->fields[i];
        /* SD-NAME: 1..32 PRINTUSASCII except '=', SP, ']' and '"' */
        if (sl_buf_put(b, " ", 1) ||
            put_token(b, fd->key, fd->key_len, 32, "=]\"") ||
            sl_buf_put(b, "=\"", 2) ||
            put_param_value(b, fd->value, fd->value_len) ||
            sl_buf_put(b, "\"", 1))
            return -1;
    }
    return sl_buf_put(b, "]", 1);
}

static void split_time(int64_t ns, time_t *sec, long *usec)
{
    int64_t s = ns / 1000000000;
    int64_t rem = ns % 1000000000;
    if (rem < 0) {
        rem += 1000000000;
        s--;
    }
    *sec = (time_t)s;
    *usec = (long)(rem / 1000);
}

/* Append msg, cut so that the message from start stays within max octets,
 * never in the middle of a UTF-8 sequence. */
static int put_msg(const syslog_fmt *f, sl_buf *b, size_t start,
                   const char *msg, size_t n)
{
    size_t used = b->len - start;
    if (used >= f->max_size)
        return 0;
    size_t room = f->max_size - used;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80)
            n--;
    }
    return sl_buf_put(b, msg, n);
}

static int format_5424(const syslog_fmt *f, const sluice_record *r,
                       sl_buf *b)
{
    size_t start = b->len;
    time_t sec;
    long usec;
    struct tm tm;
    split_time(r->time_ns, &sec, &usec);
    gmtime_r(&sec, &tm);
    char head[96];
    int n = snprintf(head, sizeof head,
                     "<%d>1 %04d-%02d-%02dT%02d:%02d:%02d.%06ldZ ",
                     f->facility * 8 + syslog_severity(r->level),
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, usec);
    const char *app = f->app_name[0] ? f->app_name : r->logger;
    if (!app)
        app = "";
    if (sl_buf_put(b, head, (size_t)n) ||
        put_token(b, f->hostname, strlen(f->hostname), 255, NULL) ||
        sl_buf_put(b, " ", 1) || put_token(b, app, strlen(app), 48, NULL) ||
        sl_buf_put(b, " ", 1) ||
        put_token(b, f->procid, strlen(f->procid), 128, NULL) ||
        sl_buf_put(b, " ", 1) ||
        put_token(b, f->msgid, strlen(f->msgid), 32, NULL) ||
        sl_buf_put(b, " ", 1))
        return -1;
    size_t sd_at = b->len;
    if (put_sd(f, r, b))
        return -1;
    if (b->len - start > f->max_size) {
        /* the fields alone do not fit: keep header and message */
        b->len = sd_at;
        if (sl_buf_put(b, "-", 1))
            return -1;
    }
    if (r->message_len == 0 || b->len - start + 1 >= f->max_size)
        return 0;
    if (sl_buf_put(b, " ", 1))
        return -1;
    return put_msg(f, b, start, r->message, r->message_len);
}

static int format_3164(const syslog_fmt *f, const sluice_record *r,
                       sl_buf *b)
{
    static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    size_t start = b->len;
    time_t sec;
    long usec;
    struct tm tm;
    split_time(r->time_ns, &sec, &usec);
    localtime_r(&sec, &tm); /* RFC 3164 has no zone: local time, by custom */
    char head[64];
    int n = snprintf(head, sizeof head, "<%d>%s %2d %02d:%02d:%02d ",
                     f->facility * 8 + syslog_severity(r->level),
                     mon[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
    const char *app = f->app_name[0] ? f->app_name : r->logger;
    if (!app)
        app = "";
    if (sl_buf_put(b, head, (size_t)n))
        return -1;
    if (!f->omit_host &&
        (put_token(b, f->hostname, strlen(f->hostname), 255, NULL) ||
         sl_buf_put(b, " ", 1)))
        return -1;
    /* TAG: at most 32 characters, none of ':' '[' ']' */
    char pid[40];
    n = snprintf(pid, sizeof pid, "[%s]: ", f->procid);
    if (put_token(b, app, strlen(app), 32, ":[]") ||
        sl_buf_put(b, pid, (size_t)n))
        return -1;
    if (put_msg(f, b, start, r->message, r->message_len))
        return -1;
    if (r->field_count == 0)
        return 0;
    /* no structured data in RFC 3164: the same element after the message,
     * only if it fits whole */
    size_t at = b->len;
    if (sl_buf_put(b, " ", 1) || put_sd(f, r, b))
        return -1;
    if (b->len - start > f->max_size)
        b->len = at;
    return 0;
}

int syslog_format(const syslog_fmt *f, const sluice_record *r, sl_buf *out)
{
    return f->rfc3164 ? format_3164(f, r, out) : format_5424(f, r, out);
}
