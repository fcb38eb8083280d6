/*
 * fuzz_format.c -- libFuzzer target: a record made of hostile bytes (the
 * message, the logger name, call site, fields' keys and values, a text
 * pattern) rendered as text, JSON and logfmt. Whatever the bytes, each
 * rendering is exactly one line (one '\n', at the end, and no other
 * control character), and the JSON one is a valid JSON object in valid
 * UTF-8. A violation aborts, so CI fails on it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format_internal.h"

/* ---- input ---------------------------------------------------------------- */

typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

static size_t take_len(input *in, size_t max)
{
    if (!in->n)
        return 0;
    size_t v = in->p[0] % (max + 1);
    in->p++;
    in->n--;
    return v < in->n ? v : in->n;
}

/* The next piece of the input as a malloc'd NUL-terminated string of
 * *got bytes (NULs inside become 'x' when nul_free). */
static char *take_bytes(input *in, size_t max, int nul_free, size_t *got)
{
    size_t len = take_len(in, max);
    *got = len;
    char *s = malloc(len + 1);
    if (!s)
        abort();
    memcpy(s, in->p, len);
    s[len] = '\0';
    for (size_t i = 0; nul_free && i < len; i++)
        if (!s[i])
            s[i] = 'x';
    in->p += len;
    in->n -= len;
    return s;
}

static char *take_str(input *in, size_t max)
{
    size_t len;
    return take_bytes(in, max, 1, &len);
}

/* ---- the checks --------------------------------------------------------- */

static void fail(const char *what, const sluice_buf *b)
{
    fprintf(stderr, "%s in: %.*s\n", what, (int)b->len, b->data);
    abort();
}

static void one_line(const sluice_buf *b)
{
    if (b->len == 0 || b->data[b->len - 1] != '\n')
        fail("no final newline", b);
    for (size_t i = 0; i + 1 < b->len; i++) {
        unsigned char c = (unsigned char)b->data[i];
        if (c < 0x20)
            fail("a control character", b);
    }
}

typedef struct json {
    const unsigned char *p, *end;
} json;

static int json_value(json *j, int depth);

static void ws(json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t'))
        j->p++;
}

static int hex4(const unsigned char *p)
{
    for (int i = 0; i < 4; i++)
        if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
            return 0;
    return 1;
}

/* A JSON string whose bytes are valid UTF-8. */
static int json_string(json *j)
{
    if (j->p >= j->end || *j->p != '"')
        return 0;
    j->p++;
    while (j->p < j->end) {
        unsigned char c = *j->p;
        if (c == '"') {
            j->p++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (j->end - j->p < 2)
                return 0;
            unsigned char e = j->p[1];
            if (e == 'u') {
                if (j->end - j->p < 6 || !hex4(j->p + 2))
                    return 0;
                j->p += 6;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                j->p += 2;
            } else {
                return 0;
            }
            continue;
        }
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2
                                   : (c & 0xf0) == 0xe0 ? 3
                                   : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!len || (size_t)(j->end - j->p) < len)
            return 0;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
        for (size_t i = 1; i < len; i++) {
            if ((j->p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (j->p[i] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        j->p += len;
    }
    return 0;
}

static int json_number(json *j)
{
    const unsigned char *start = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > start;
}

static int json_object(json *j, int depth)
{
    if (depth > 8 || j->p >= j->end || *j->p != '{')
        return 0;
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 1;
    }
    for (;;) {
        ws(j);
        if (!json_string(j))
            return 0;
        ws(j);
        if (j->p >= j->end || *j->p != ':')
            return 0;
        j->p++;
        ws(j);
        if (!json_value(j, depth + 1))
            return 0;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return 1;
        }
        return 0;
    }
}

static int json_value(json *j, int depth)
{
    if (j->p >= j->end)
        return 0;
    if (*j->p == '"')
        return json_string(j);
    if (*j->p == '{')
        return json_object(j, depth);
    return json_number(j);
}

static void valid_json(const sluice_buf *b)
{
    json j = {(const unsigned char *)b->data,
              (const unsigned char *)b->data + b->len - 1};
    if (!json_object(&j, 0) || j.p != j.end)
        fail("not one valid JSON object", b);
}

/* ---- the target --------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    sluice_record r;
    memset(&r, 0, sizeof r);
    uint64_t t = 0;
    for (int i = 0; i < 8 && in.n; i++, in.p++, in.n--)
        t = (t << 8) | in.p[0];
    r.time_ns = (int64_t)t; /* any time at all, also before 1970 */
    r.level = (sluice_level)(in.n ? in.p[0] % 8 : 0); /* also out of range */
    char *pattern = take_str(&in, 64);
    for (char *p = pattern; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '_'; /* a pattern is the operator's text, not a record's */
    char *logger = take_str(&in, 32);
    char *file = take_str(&in, 32);
    char *function = take_str(&in, 32);
    size_t message_len;
    char *message = take_bytes(&in, 255, 0, &message_len); /* NULs too */
    r.logger = logger;
    r.message = message;
    r.message_len = message_len;
    r.file = file[0] ? file : NULL;
    r.function = function[0] ? function : NULL;
    r.source_line = file[0] ? (int)strlen(file) : 0;
    r.thread_id = t * 31;
    sluice_field fields[8];
    char *keep[16];
    size_t nf = in.n ? in.p[0] % 9 : 0;
    for (size_t i = 0; i < nf; i++) {
        size_t kl, vl;
        keep[2 * i] = take_bytes(&in, 16, 0, &kl);
        keep[2 * i + 1] = take_bytes(&in, 64, 0, &vl);
        fields[i] = (sluice_field){keep[2 * i], kl, keep[2 * i + 1], vl};
    }
    r.fields = fields;
    r.field_count = nf;

    sluice_time_cache tc;
    sluice_time_cache_init(&tc);
    sluice_buf b;
    sluice_buf_init(&b);
    sluice_format f;
    memset(&f, 0, sizeof f);
    const sluice_format_kind kinds[] = {SLUICE_FORMAT_TEXT, SLUICE_FORMAT_JSON,
                                        SLUICE_FORMAT_LOGFMT, SLUICE_FORMAT_TEXT};
    for (int k = 0; k < 4; k++) {
        f.kind = kinds[k];
        f.pattern = k == 3 ? pattern : NULL; /* the default, then the input's */
        if (sluice_format_compile(&f, NULL) != 0)
            continue; /* a pattern the configuration would refuse */
        sluice_buf_reset(&b);
        sluice_format_render(&b, &f, &r, &tc);
        if (b.failed)
            abort();
        one_line(&b);
        if (f.kind == SLUICE_FORMAT_JSON)
            valid_json(&b);
    }
    sluice_buf_free(&b);
    for (size_t i = 0; i < 2 * nf; i++)
        free(keep[i]);
    free(pattern);
    free(logger);
    free(file);
    free(function);
    free(message);
    return 0;
}
