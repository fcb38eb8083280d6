/*
 * format.c -- text (with a pattern), JSON and logfmt renderings of a record.
 *
 * Every byte of untrusted text (message, logger name, field keys and
 * values) goes through an escaper: control characters become \n, \t, \r or
 * \xHH in text and logfmt, and \uXXXX in JSON, where invalid UTF-8 becomes
 * U+FFFD, so a line stays one line and a JSON document stays valid.
 * Knows nothing of queues, workers or sinks.
 */
#include "format_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char hexdigits[] = "0123456789abcdef";

void sluice_time_cache_init(sluice_time_cache *tc)
{
    tc->second = INT64_MIN;
    tc->text[0] = '\0';
}

int sluice_format_parse(const char *name, sluice_format_kind *out)
{
    if (strcmp(name, "text") == 0)
        *out = SLUICE_FORMAT_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = SLUICE_FORMAT_JSON;
    else if (strcmp(name, "logfmt") == 0)
        *out = SLUICE_FORMAT_LOGFMT;
    else
        return -1;
    return 0;
}

int sluice_pattern_check(const char *pattern, sluice_error *err)
{
    sluice_format f;
    f.kind = SLUICE_FORMAT_TEXT;
    f.pattern = pattern;
    return sluice_format_compile(&f, err);
}

int sluice_format_compile(sluice_format *f, sluice_error *err)
{
    f->op_count = 0;
    if (f->kind != SLUICE_FORMAT_TEXT)
        return 0;
    const char *pattern = f->pattern ? f->pattern : SLUICE_DEFAULT_PATTERN;
    if (strlen(pattern) > 1024)
        return sluice_error_set(err, "pattern is longer than 1024 characters");
    const char *p = pattern, *run = pattern;
    for (;; p++) {
        if (*p && *p != '%')
            continue;
        if (p > run) {
            if (f->op_count == SLUICE_PATTERN_OPS_MAX)
                goto too_many;
            f->ops[f->op_count++] = (sluice_pattern_op){
                0, (unsigned short)(run - pattern), (unsigned short)(p - run)};
        }
        if (!*p)
            break;
        p++;
        if (!*p)
            return sluice_error_set(err, "pattern ends with a lone '%%'");
        if (!strchr("tlLnmfsFT%", *p))
            return sluice_error_set(err,
                                    "unknown directive '%%%c' in pattern "
                                    "(known: %%t %%l %%L %%n %%m %%f %%s %%F %%T %%%%)",
                                    *p);
        if (f->op_count == SLUICE_PATTERN_OPS_MAX)
            goto too_many;
        if (*p == '%')
            f->ops[f->op_count++] = (sluice_pattern_op){
                0, (unsigned short)(p - pattern), 1};
        else
            f->ops[f->op_count++] = (sluice_pattern_op){*p, 0, 0};
        run = p + 1;
    }
    return 0;
too_many:
    return sluice_error_set(err, "pattern has more than %d parts",
                            SLUICE_PATTERN_OPS_MAX);
}

static void put_uint(sluice_buf *out, uint64_t v)
{
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sluice_buf_append(out, tmp + i, sizeof tmp - (size_t)i);
}

static void put_digits(char *dst, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        dst[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void sluice_format_time(sluice_buf *out, int64_t time_ns, sluice_time_cache *tc)
{
    int64_t sec = time_ns / 1000000000;
    int64_t sub = time_ns % 1000000000;
    if (sub < 0) {
        sub += 1000000000;
        sec--;
    }
    if (sec != tc->second) {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        put_digits(tc->text, (unsigned)(tm.tm_year + 1900) % 10000, 4);
        tc->text[4] = '-';
        put_digits(tc->text + 5, (unsigned)tm.tm_mon + 1, 2);
        tc->text[7] = '-';
        put_digits(tc->text + 8, (unsigned)tm.tm_mday, 2);
        tc->text[10] = 'T';
        put_digits(tc->text + 11, (unsigned)tm.tm_hour, 2);
        tc->text[13] = ':';
        put_digits(tc->text + 14, (unsigned)tm.tm_min, 2);
        tc->text[16] = ':';
        put_digits(tc->text + 17, (unsigned)tm.tm_sec, 2);
        tc->text[19] = '\0';
        tc->second = sec;
    }
    char tail[9];
    tail[0] = '.';
    put_digits(tail + 1, (unsigned)(sub / 1000), 6);
    tail[7] = 'Z';
    sluice_buf_append(out, tc->text, 19);
    sluice_buf_append(out, tail, 8);
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
/* Nonzero when some byte of w is below n (n <= 128); exact, no false hits. */
#define HAS_LESS(w, n) (((w) - ONES * (n)) & ~(w) & HIGHS)
#define HAS_BYTE(w, b) HAS_LESS((w) ^ (ONES * (b)), 1)

/* The first byte of s[0..n) that is a control character (< 0x20 or DEL). */
static size_t first_control(const char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (HAS_LESS(w, 0x20) | HAS_BYTE(w, 0x7f))
            break;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return i;
    }
    return n;
}

/* The first byte JSON cannot take as it is: a control character, '"',
 * '\\', DEL, or any byte >= 0x80 (checked as UTF-8 by the caller). */
static size_t first_json_special(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (HAS_LESS(w, 0x20) | HAS_BYTE(w, 0x7f) | HAS_BYTE(w, '"') |
            HAS_BYTE(w, '\\') | (w & HIGHS))
            break;
    }
    for (; i < n; i++) {
        unsigned char c = s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return i;
    }
    return n;
}

void sluice_escape_text(sluice_buf *out, const char *s, size_t n)
{
    size_t run = 0;
    for (;;) {
        size_t i = run + first_control(s + run, n - run);
        sluice_buf_append(out, s + run, i - run);
        if (i >= n)
            return;
        unsigned char c = (unsigned char)s[i];
        char e[4] = {'\\', 0, 0, 0};
        size_t len = 2;
        switch (c) {
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            e[1] = 'x';
            e[2] = hexdigits[c >> 4];
            e[3] = hexdigits[c & 15];
            len = 4;
        }
        sluice_buf_append(out, e, len);
        run = i + 1;
    }
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void sluice_escape_json(sluice_buf *out, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, i = 0;
    while (i < n) {
        i += first_json_special(u + i, n - i);
        if (i >= n)
            break;
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t len = utf8_valid(u + i, n - i);
            if (len) {
                i += len;
                continue;
            }
        }
        sluice_buf_append(out, s + run, i - run);
        if (c == '"') {
            sluice_buf_append(out, "\\\"", 2);
        } else if (c == '\\') {
            sluice_buf_append(out, "\\\\", 2);
        } else if (c == '\n') {
            sluice_buf_append(out, "\\n", 2);
        } else if (c == '\r') {
            sluice_buf_append(out, "\\r", 2);
        } else if (c == '\t') {
            sluice_buf_append(out, "\\t", 2);
        } else if (c >= 0x80) {
            sluice_buf_append(out, "\\ufffd", 6);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hexdigits[c >> 4], hexdigits[c & 15]};
            sluice_buf_append(out, e, 6);
        }
        i++;
        run = i;
    }
    sluice_buf_append(out, s + run, n - run);
}

static int logfmt_needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
            return 1;
    }
    return 0;
}

void sluice_escape_logfmt(sluice_buf *out, const char *s, size_t n)
{
    if (!logfmt_needs_quotes(s, n)) {
        sluice_buf_append(out, s, n);
        return;
    }
    sluice_buf_putc(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"' && s[i] != '\\')
            continue;
        /* control characters in the run: \n, \xHH via the text escaper */
        sluice_escape_text(out, s + run, i - run);
        sluice_buf_putc(out, '\\');
        sluice_buf_putc(out, s[i]);
        run = i + 1;
    }
    sluice_escape_text(out, s + run, n - run);
    sluice_buf_putc(out, '"');
}

/* A field key in text or logfmt: never empty, never a space or '='. */
static void put_key(sluice_buf *out, const char *k, size_t n)
{
    if (n == 0) {
        sluice_buf_putc(out, '_');
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        sluice_buf_putc(out, (c <= ' ' || c == '=' || c == '"' || c == 0x7f) ? '_' : (char)c);
    }
}

static void put_fields_logfmt(sluice_buf *out, const sluice_record *r)
{
    for (size_t i = 0; i < r->field_count; i++) {
        const sluice_field *f = &r->fields[i];
        sluice_buf_putc(out, ' ');
        put_key(out, f->key, f->key_len);
        sluice_buf_putc(out, '=');
        sluice_escape_logfmt(out, f->value, f->value_len);
    }
}

static void put_level_upper(sluice_buf *out, sluice_level l)
{
    static const char *const up[] = {"TRACE", "DEBUG", "INFO", "WARN",
                                     "ERROR", "FATAL", "OFF"};
    sluice_buf_puts(out, (unsigned)l <= SLUICE_LEVEL_OFF ? up[l] : "?");
}

static void render_pattern(sluice_buf *out, const sluice_format *f,
                           const sluice_record *r, sluice_time_cache *tc)
{
    const char *pattern = f->pattern ? f->pattern : SLUICE_DEFAULT_PATTERN;
    for (unsigned i = 0; i < f->op_count; i++) {
        const sluice_pattern_op *op = &f->ops[i];
        switch (op->directive) {
        case 0: sluice_buf_append(out, pattern + op->offset, op->length); break;
        case 't': sluice_format_time(out, r->time_ns, tc); break;
        case 'l': sluice_buf_puts(out, sluice_level_name(r->level)); break;
        case 'L': put_level_upper(out, r->level); break;
        case 'n': sluice_escape_text(out, r->logger, strlen(r->logger)); break;
        case 'm': sluice_escape_text(out, r->message, r->message_len); break;
        case 'f': put_fields_logfmt(out, r); break;
        case 's':
            if (r->file) {
                sluice_escape_text(out, r->file, strlen(r->file));
                sluice_buf_putc(out, ':');
                put_uint(out, (uint64_t)(r->source_line > 0 ? r->source_line : 0));
            } else {
                sluice_buf_putc(out, '-');
            }
            break;
        case 'F':
            if (r->function)
                sluice_escape_text(out, r->function, strlen(r->function));
            else
                sluice_buf_putc(out, '-');
            break;
        case 'T': put_uint(out, r->thread_id); break;
        default: break;
        }
    }
    sluice_buf_putc(out, '\n');
}

static void json_key(sluice_buf *out, const char *k, int first)
{
    if (!first)
        sluice_buf_putc(out, ',');
    sluice_buf_putc(out, '"');
    sluice_buf_puts(out, k);
    sluice_buf_append(out, "\":", 2);
}

static void json_string(sluice_buf *out, const char *s, size_t n)
{
    sluice_buf_putc(out, '"');
    sluice_escape_json(out, s, n);
    sluice_buf_putc(out, '"');
}

static void render_json(sluice_buf *out, const sluice_record *r,
                        sluice_time_cache *tc)
{
    sluice_buf_putc(out, '{');
    json_key(out, "time", 1);
    sluice_buf_putc(out, '"');
    sluice_format_time(out, r->time_ns, tc);
    sluice_buf_putc(out, '"');
    json_key(out, "level", 0);
    json_string(out, sluice_level_name(r->level), strlen(sluice_level_name(r->level)));
    json_key(out, "logger", 0);
    json_string(out, r->logger, strlen(r->logger));
    json_key(out, "message", 0);
    json_string(out, r->message, r->message_len);
    json_key(out, "thread", 0);
    put_uint(out, r->thread_id);
    if (r->file) {
        json_key(out, "file", 0);
        json_string(out, r->file, strlen(r->file));
        json_key(out, "line", 0);
        put_uint(out, (uint64_t)(r->source_line > 0 ? r->source_line : 0));
    }
    if (r->function) {
        json_key(out, "function", 0);
        json_string(out, r->function, strlen(r->function));
    }
    for (size_t i = 0; i < r->field_count; i++) {
        const sluice_field *f = &r->fields[i];
        sluice_buf_putc(out, ',');
        json_string(out, f->key, f->key_len);
        sluice_buf_putc(out, ':');
        json_string(out, f->value, f->value_len);
    }
    sluice_buf_append(out, "}\n", 2);
}

static void render_logfmt(sluice_buf *out, const sluice_record *r,
                          sluice_time_cache *tc)
{
    sluice_buf_puts(out, "time=");
    sluice_format_time(out, r->time_ns, tc);
    sluice_buf_puts(out, " level=");
    sluice_buf_puts(out, sluice_level_name(r->level));
    sluice_buf_puts(out, " logger=");
    sluice_escape_logfmt(out, r->logger, strlen(r->logger));
    sluice_buf_puts(out, " msg=");
    sluice_escape_logfmt(out, r->message, r->message_len);
    put_fields_logfmt(out, r);
    sluice_buf_putc(out, '\n');
}

void sluice_format_render(sluice_buf *out, const sluice_format *f,
                          const sluice_record *r, sluice_time_cache *tc)
{
    switch (f->kind) {
    case SLUICE_FORMAT_JSON: render_json(out, r, tc); break;
    case SLUICE_FORMAT_LOGFMT: render_logfmt(out, r, tc); break;
    default:
        render_pattern(out, f, r, tc);
    }
}
