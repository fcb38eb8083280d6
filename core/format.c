/*
 * format.c -- text (with a pattern), JSON and logfmt renderings of a record.
 *
 * Every byte of untrusted text (message, logger name, call site, field keys
 * and values) goes through an escaper, so that a record stays one line and
 * a JSON document stays valid UTF-8: C0 controls, DEL, C1 controls
 * (U+0080..U+009F), U+2028, U+2029 and invalid UTF-8 are escaped in every
 * format (docs/configuration.md lists the forms); valid UTF-8 passes as it
 * is. Plain ASCII is scanned eight bytes at a time. A field can neither
 * pass for one of the record's own members (its key gets a '_' in front)
 * nor appear twice (a later one with the same key replaces it).
 * Knows nothing of queues, workers or sinks.
 */
#include "format_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The civil (proleptic Gregorian, UTC) date of a day counted from
 * 1970-01-01. Plain integer arithmetic: no table, no lock, no time zone,
 * so it can run in a signal handler (gmtime_r takes glibc's time-zone
 * lock). The count is shifted to start on 0000-03-01, so that a leap day
 * is the last day of its year, and split into 400-year eras of 146097
 * days; inside an era, the year comes from the day (minus the leap days
 * before it), and the month from the day of the year in 153-day runs of
 * five months (31 30 31 30 31). */
static void civil_from_days(int64_t days, int64_t *year, unsigned *month,
                            unsigned *day)
{
    int64_t z = days + 719468; /* days from 0000-03-01 to 1970-01-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned day_of_era = (unsigned)(z - era * 146097);        /* 0..146096 */
    unsigned year_of_era = (day_of_era - day_of_era / 1460 +
                            day_of_era / 36524 - day_of_era / 146096) /
                           365;                                /* 0..399 */
    unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 -
                                         year_of_era / 100);   /* 0..365 */
    unsigned month_from_march = (5 * day_of_year + 2) / 153;   /* 0..11 */
    *day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    *month = month_from_march < 10 ? month_from_march + 3 : month_from_march - 9;
    *year = (int64_t)year_of_era + era * 400 + (*month <= 2);
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
        int64_t days = sec / 86400, in_day = sec % 86400;
        if (in_day < 0) {
            in_day += 86400;
            days--;
        }
        int64_t year;
        unsigned month, day;
        civil_from_days(days, &year, &month, &day);
        put_digits(tc->text, (unsigned)year % 10000, 4);
        tc->text[4] = '-';
        put_digits(tc->text + 5, month, 2);
        tc->text[7] = '-';
        put_digits(tc->text + 8, day, 2);
        tc->text[10] = 'T';
        put_digits(tc->text + 11, (unsigned)(in_day / 3600), 2);
        tc->text[13] = ':';
        put_digits(tc->text + 14, (unsigned)(in_day / 60 % 60), 2);
        tc->text[16] = ':';
        put_digits(tc->text + 17, (unsigned)(in_day % 60), 2);
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

/* ---- finding what needs escaping, eight bytes at a time ------------------
 *
 * Each test below sets the high bit of exactly those bytes of a word that
 * match (no carry crosses a byte), so the first match is found from the
 * word itself. Plain ASCII text never leaves the word loop. */

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define LOWS 0x7f7f7f7f7f7f7f7fULL

/* Bytes below limit (limit <= 0x80), DEL, and every byte >= 0x80. */
static inline uint64_t bytes_outside(uint64_t w, unsigned limit)
{
    uint64_t low7 = w & LOWS;
    return (w | ~(low7 + ONES * (0x80 - limit)) | (low7 + ONES)) & HIGHS;
}

/* Bytes equal to b (b < 0x80). */
static inline uint64_t bytes_equal(uint64_t w, unsigned char b)
{
    uint64_t x = w ^ (ONES * b);
    return ~(((x & LOWS) + LOWS) | x) & HIGHS;
}

/* What stops the scan: the escapers look at each byte found. */
typedef enum scan_kind {
    SCAN_TEXT,                 /* C0, DEL, >= 0x80 */
    SCAN_QUOTED,               /* also '"' and '\\' (logfmt quotes, JSON) */
    SCAN_BARE                  /* also ' ' and '=' (a logfmt value as is) */
} scan_kind;

static inline __attribute__((always_inline)) uint64_t
stops_in(uint64_t w, scan_kind kind)
{
    if (kind == SCAN_TEXT)
        return bytes_outside(w, 0x20);
    uint64_t hits = bytes_outside(w, kind == SCAN_BARE ? 0x21 : 0x20) |
                    bytes_equal(w, '"') | bytes_equal(w, '\\');
    if (kind == SCAN_BARE)
        hits |= bytes_equal(w, '=');
    return hits;
}

static inline __attribute__((always_inline)) int stops_at(unsigned char c,
                                                          scan_kind kind)
{
    if (c < (kind == SCAN_BARE ? 0x21 : 0x20) || c >= 0x7f)
        return 1;
    if (kind == SCAN_TEXT)
        return 0;
    return c == '"' || c == '\\' || (kind == SCAN_BARE && c == '=');
}

/* Index of the first byte of a nonzero stops_in() result. */
static inline size_t first_hit(uint64_t hits)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (size_t)__builtin_clzll(hits) / 8;
#else
    return (size_t)__builtin_ctzll(hits) / 8;
#endif
}

/* The first byte of s[0..n) that stops a scan of this kind, or n. */
static inline __attribute__((always_inline)) size_t
scan(const unsigned char *s, size_t n, scan_kind kind)
{
    if (n < 8) {
        if (n >= 4) {
            /* two four-byte loads that may overlap: is anything there? */
            uint32_t head, tail;
            memcpy(&head, s, 4);
            memcpy(&tail, s + n - 4, 4);
            if (!stops_in(head | (uint64_t)tail << 32, kind))
                return n;
        }
        for (size_t i = 0; i < n; i++)
            if (stops_at(s[i], kind))
                return i;
        return n;
    }
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t hits = stops_in(w, kind);
        if (hits)
            return i + first_hit(hits);
    }
    if (i < n) {
        /* the last eight bytes: those before i are known not to stop */
        uint64_t w;
        memcpy(&w, s + n - 8, 8);
        uint64_t hits = stops_in(w, kind);
        if (hits)
            return n - 8 + first_hit(hits);
    }
    return n;
}

/* ---- UTF-8 -------------------------------------------------------------- */

/* The valid UTF-8 sequence at s (a lead byte >= 0x80): its length (2..4),
 * with its code point in *cp; 0 for an invalid byte (a lone continuation
 * byte, an overlong form, a surrogate, a code point above U+10FFFF, a lead
 * byte F5..FF or C0/C1, a truncated sequence). */
static inline size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c >= 0xc2 && c <= 0xdf) {
        if (n < 2 || (s[1] & 0xc0) != 0x80)
            return 0;
        *cp = (uint32_t)(c & 0x1f) << 6 | (s[1] & 0x3f);
        return 2;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        uint32_t v = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 |
                     (s[2] & 0x3f);
        if (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))
            return 0;
        *cp = v;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
            (s[3] & 0xc0) != 0x80)
            return 0;
        uint32_t v = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
                     (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
        if (v < 0x10000 || v > 0x10ffff)
            return 0;
        *cp = v;
        return 4;
    }
    return 0;
}

/* Valid code points that are escaped all the same: the C1 controls
 * (U+0080..U+009F, NEL among them) and the line and paragraph separators,
 * which some readers take as the end of a line. */
static inline int escaped_code_point(uint32_t cp)
{
    return cp <= 0x9f || cp == 0x2028 || cp == 0x2029;
}

/* ---- the escapers ------------------------------------------------------- */

typedef enum escape_kind {
    ESCAPE_TEXT,               /* \n \r \t \xHH \uXXXX */
    ESCAPE_QUOTED,             /* the same, and \" \\ (inside logfmt quotes) */
    ESCAPE_JSON                /* \n \r \t \" \\ \uXXXX, U+FFFD for invalid */
} escape_kind;

static inline __attribute__((always_inline)) void
escape(sluice_buf *out, const char *s, size_t n, escape_kind kind)
{
    const unsigned char *u = (const unsigned char *)s;
    scan_kind scanning = kind == ESCAPE_TEXT ? SCAN_TEXT : SCAN_QUOTED;
    size_t run = 0, i = 0;
    for (;;) {
        i += scan(u + i, n - i, scanning);
        if (i >= n)
            break;
        unsigned char c = u[i];
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t len = 2, used = 1;
        if (c >= 0x80) {
            uint32_t cp;
            size_t seq = utf8_decode(u + i, n - i, &cp);
            if (seq && !escaped_code_point(cp)) {
                i += seq; /* valid text: stays in the run */
                continue;
            }
            if (seq) {
                e[1] = 'u';
                e[2] = hexdigits[cp >> 12];
                e[3] = hexdigits[(cp >> 8) & 15];
                e[4] = hexdigits[(cp >> 4) & 15];
                e[5] = hexdigits[cp & 15];
                len = 6;
                used = seq;
            } else if (kind == ESCAPE_JSON) {
                memcpy(e, "\\ufffd", 6);
                len = 6;
            } else {
                e[1] = 'x';
                e[2] = hexdigits[c >> 4];
                e[3] = hexdigits[c & 15];
                len = 4;
            }
        } else if (c == '"' || c == '\\') {
            e[1] = (char)c;
        } else if (c == '\n') {
            e[1] = 'n';
        } else if (c == '\r') {
            e[1] = 'r';
        } else if (c == '\t') {
            e[1] = 't';
        } else if (kind == ESCAPE_JSON) {
            memcpy(e, "\\u00", 4);
            e[4] = hexdigits[c >> 4];
            e[5] = hexdigits[c & 15];
            len = 6;
        } else {
            e[1] = 'x';
            e[2] = hexdigits[c >> 4];
            e[3] = hexdigits[c & 15];
            len = 4;
        }
        sluice_buf_append(out, s + run, i - run);
        sluice_buf_append(out, e, len);
        i += used;
        run = i;
    }
    sluice_buf_append(out, s + run, n - run);
}

void sluice_escape_text(sluice_buf *out, const char *s, size_t n)
{
    escape(out, s, n, ESCAPE_TEXT);
}

void sluice_escape_json(sluice_buf *out, const char *s, size_t n)
{
    escape(out, s, n, ESCAPE_JSON);
}

/* A logfmt value goes as it is unless it is empty or holds white space,
 * '=', '"', '\\' or anything the escapers escape. */
static int logfmt_needs_quotes(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 1;
    size_t i = scan(s, n, SCAN_BARE);
    while (i < n) {
        uint32_t cp;
        size_t seq = s[i] >= 0x80 ? utf8_decode(s + i, n - i, &cp) : 0;
        if (!seq || escaped_code_point(cp))
            return 1;
        i += seq;
        i += scan(s + i, n - i, SCAN_BARE);
    }
    return 0;
}

void sluice_escape_logfmt(sluice_buf *out, const char *s, size_t n)
{
    if (!logfmt_needs_quotes((const unsigned char *)s, n)) {
        sluice_buf_append(out, s, n);
        return;
    }
    sluice_buf_putc(out, '"');
    escape(out, s, n, ESCAPE_QUOTED);
    sluice_buf_putc(out, '"');
}

/* ---- field keys ----------------------------------------------------------
 *
 * Two keys are the same key when they are rendered the same: a JSON reader
 * sees the code points of the escaped key (an invalid byte becomes U+FFFD);
 * a text or logfmt key is written bare, with '_' for each character that
 * cannot stand in it (white space, '=', '"', controls, invalid bytes) and
 * "_" for the empty key. key_unit() yields those rendered characters one
 * at a time, so rendering, comparing and hashing keys agree by
 * construction. */

typedef enum key_style {
    KEY_JSON,
    KEY_BARE                   /* text and logfmt */
} key_style;

/* The next rendered character of key[*pos..n), advancing *pos. */
static uint32_t key_unit(const unsigned char *key, size_t n, size_t *pos,
                         key_style style)
{
    unsigned char c = key[*pos];
    if (c < 0x80) {
        (*pos)++;
        if (style == KEY_BARE && (c <= ' ' || c == '=' || c == '"' || c == 0x7f))
            return '_';
        return c;
    }
    uint32_t cp;
    size_t seq = utf8_decode(key + *pos, n - *pos, &cp);
    if (!seq) {
        (*pos)++;
        return style == KEY_JSON ? 0xfffd : '_';
    }
    *pos += seq;
    if (style == KEY_BARE && escaped_code_point(cp))
        return '_';
    return cp;
}

static const unsigned char empty_bare_key[] = "_";

static void key_bytes(const sluice_field *f, key_style style,
                      const unsigned char **key, size_t *len)
{
    *key = (const unsigned char *)f->key;
    *len = f->key_len;
    if (style == KEY_BARE && *len == 0) {
        *key = empty_bare_key;
        *len = 1;
    }
}

/* A byte that every style renders as itself. */
static inline int plain_key_byte(unsigned char c)
{
    return c > ' ' && c < 0x7f && c != '=' && c != '"';
}

/* Character by character, as rendered. */
static __attribute__((noinline)) int keys_render_same(const sluice_field *a,
                                                      const sluice_field *b,
                                                      key_style style)
{
    const unsigned char *x, *y;
    size_t xn, yn, i = 0, j = 0;
    key_bytes(a, style, &x, &xn);
    key_bytes(b, style, &y, &yn);
    while (i < xn && j < yn)
        if (key_unit(x, xn, &i, style) != key_unit(y, yn, &j, style))
            return 0;
    return i == xn && j == yn;
}

static inline int keys_same(const sluice_field *a, const sluice_field *b,
                            key_style style)
{
    if (a->key_len && b->key_len && a->key[0] != b->key[0] &&
        plain_key_byte((unsigned char)a->key[0]) &&
        plain_key_byte((unsigned char)b->key[0]))
        return 0; /* most different keys differ from their first byte */
    if (a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0)
        return 1;
    return keys_render_same(a, b, style);
}

static uint64_t key_hash(const sluice_field *f, key_style style)
{
    const unsigned char *key;
    size_t n, pos = 0;
    key_bytes(f, style, &key, &n);
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a over the rendered characters */
    while (pos < n) {
        h ^= key_unit(key, n, &pos, style);
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A bare key that needs characters replaced, or the empty key. */
static __attribute__((noinline)) void put_bare_key_replaced(sluice_buf *out,
                                                           const char *k,
                                                           size_t n)
{
    const unsigned char *key = (const unsigned char *)k;
    if (n == 0) {
        sluice_buf_putc(out, '_');
        return;
    }
    size_t pos = 0;
    while (pos < n) {
        size_t start = pos;
        uint32_t unit = key_unit(key, n, &pos, KEY_BARE);
        if (unit < 0x80)
            sluice_buf_putc(out, (char)unit);
        else
            sluice_buf_append(out, k + start, pos - start);
    }
}

/* A bare key: as it is when nothing in it needs replacing. */
static inline __attribute__((always_inline)) void
put_bare_key(sluice_buf *out, const char *k, size_t n)
{
    if (n && scan((const unsigned char *)k, n, SCAN_BARE) == n)
        sluice_buf_append(out, k, n);
    else
        put_bare_key_replaced(out, k, n);
}

/* The record's own members in each format. A field whose rendered key is
 * one of them, after any number of leading '_', is written with one more
 * '_' in front ("level" as "_level", "_level" as "__level"): no field can
 * stand for a member of the record, and no two keys become one. */
static const char *const json_members[] = {"time", "level", "logger", "message",
                                           "thread", "file", "line", "function",
                                           NULL};
static const char *const logfmt_members[] = {"time", "level", "logger", "msg",
                                             NULL};

/* After any leading '_' (as rendered), the key is one of members. */
static __attribute__((noinline)) int is_member_after_underscores(
    const sluice_field *f, key_style style, const char *const *members)
{
    const unsigned char *key = (const unsigned char *)f->key;
    size_t n = f->key_len, pos = 0;
    while (pos < n) {
        size_t before = pos;
        if (key_unit(key, n, &pos, style) != '_') {
            pos = before;
            break;
        }
    }
    /* member names are letters, and only a letter renders as that letter */
    for (const char *const *m = members; *m; m++)
        if (strlen(*m) == n - pos && memcmp(key + pos, *m, n - pos) == 0)
            return 1;
    return 0;
}

static inline __attribute__((always_inline)) int
is_member_name(const sluice_field *f, key_style style, const char *const *members)
{
    if (f->key_len == 0)
        return 0;
    /* most keys start with a letter or digit no member starts with */
    unsigned char first = (unsigned char)f->key[0], folded = first | 0x20;
    if (((folded >= 'a' && folded <= 'z') || (first >= '0' && first <= '9')) &&
        first != 't' && first != 'l' && first != 'm' && first != 'f')
        return 0;
    return is_member_after_underscores(f, style, members);
}

/* ---- repeated keys ------------------------------------------------------
 *
 * Fields come in merge order (base fields, then the call's); a later field
 * with the same key replaces an earlier one, as a dictionary update would:
 * the key stays where it first appeared, with the last value. */

#define FIELDS_COMPARED_PAIRWISE 16
#define FIELD_REPLACED SIZE_MAX

typedef struct field_plan {
    size_t *value_of;          /* per position: whose value, or FIELD_REPLACED;
                                  NULL: every field as it is */
    size_t small[FIELDS_COMPARED_PAIRWISE];
    size_t *heap;
} field_plan;

/* No two of the fields can have the same key: each key starts with a byte
 * that renders as itself, and no two with the same one (nor with two that
 * share their low six bits: a cheap test that may say no for nothing).
 * The usual case, found in one pass. */
static inline int keys_surely_distinct(const sluice_field *fields, size_t n)
{
    uint64_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (fields[i].key_len == 0)
            return 0;
        unsigned char first = (unsigned char)fields[i].key[0];
        uint64_t bit = 1ULL << (first & 63);
        if (!plain_key_byte(first) || (seen & bit))
            return 0;
        seen |= bit;
    }
    return 1;
}

/* Memory for the table below on a thread that must not allocate (the
 * crash path, from a signal handler): set by sluice_format_plan_arena_. */
static _Thread_local __attribute__((tls_model("initial-exec"))) struct {
    size_t *mem;
    size_t words;
} plan_arena;

void sluice_format_plan_arena_(size_t *mem, size_t words)
{
    plan_arena.mem = words ? mem : NULL;
    plan_arena.words = mem ? words : 0;
}

size_t sluice_format_plan_words_(size_t fields)
{
    size_t buckets = 64;
    while (buckets < 2 * fields)
        buckets *= 2;
    return fields + buckets;
}

static void plan_fields(field_plan *plan, const sluice_field *fields, size_t n,
                        key_style style)
{
    plan->value_of = NULL;
    plan->heap = NULL;
    if (n < 2)
        return;
    if (n <= FIELDS_COMPARED_PAIRWISE) {
        size_t *value_of = plan->small;
        for (size_t i = 0; i < n; i++) {
            value_of[i] = i;
            for (size_t j = 0; j < i; j++) {
                if (value_of[j] != FIELD_REPLACED &&
                    keys_same(&fields[j], &fields[i], style)) {
                    value_of[j] = i;
                    value_of[i] = FIELD_REPLACED;
                    break;
                }
            }
        }
        plan->value_of = value_of;
        return;
    }
    /* many fields: an open-addressing table of first positions */
    size_t buckets = 64;
    while (buckets < 2 * n && buckets < SIZE_MAX / 4 / sizeof(size_t))
        buckets *= 2;
    if (buckets < 2 * n)
        return;
    size_t *heap = NULL, *value_of;
    if (plan_arena.words) { /* no allocation on this thread */
        if (n + buckets > plan_arena.words)
            return; /* beyond the arena: every field, repeats included */
        value_of = plan_arena.mem;
    } else {
        heap = malloc((n + buckets) * sizeof *heap);
        if (!heap)
            return; /* out of memory: every field, repeats included */
        value_of = heap;
    }
    size_t *table = value_of + n;
    for (size_t b = 0; b < buckets; b++)
        table[b] = FIELD_REPLACED;
    for (size_t i = 0; i < n; i++) {
        size_t b = (size_t)key_hash(&fields[i], style) & (buckets - 1);
        value_of[i] = i;
        for (; table[b] != FIELD_REPLACED; b = (b + 1) & (buckets - 1)) {
            size_t first = table[b];
            if (keys_same(&fields[first], &fields[i], style)) {
                value_of[first] = i;
                value_of[i] = FIELD_REPLACED;
                break;
            }
        }
        if (value_of[i] != FIELD_REPLACED)
            table[b] = i;
    }
    plan->value_of = value_of;
    plan->heap = heap;
}

static inline size_t plan_value(const field_plan *plan, size_t i)
{
    return plan->value_of ? plan->value_of[i] : i;
}

static inline int fields_may_repeat(const sluice_record *r)
{
    return r->field_count >= 2 &&
           (r->field_count > 64 || !keys_surely_distinct(r->fields, r->field_count));
}

/* " key=value" for one field of text's %f or logfmt (members renamed). */
static inline __attribute__((always_inline)) void
put_bare_field(sluice_buf *out, const sluice_field *key,
               const sluice_field *value, const char *const *members)
{
    sluice_buf_putc(out, ' ');
    if (members && is_member_name(key, KEY_BARE, members))
        sluice_buf_putc(out, '_');
    put_bare_key(out, key->key, key->key_len);
    sluice_buf_putc(out, '=');
    sluice_escape_logfmt(out, value->value, value->value_len);
}

static __attribute__((noinline)) void
put_bare_fields_merged(sluice_buf *out, const sluice_record *r,
                       const char *const *members)
{
    field_plan plan;
    plan_fields(&plan, r->fields, r->field_count, KEY_BARE);
    for (size_t i = 0; i < r->field_count; i++) {
        size_t v = plan_value(&plan, i);
        if (v != FIELD_REPLACED)
            put_bare_field(out, &r->fields[i], &r->fields[v], members);
    }
    free(plan.heap);
}

static void put_bare_fields(sluice_buf *out, const sluice_record *r,
                            const char *const *members)
{
    if (fields_may_repeat(r)) {
        put_bare_fields_merged(out, r, members);
        return;
    }
    for (size_t i = 0; i < r->field_count; i++)
        put_bare_field(out, &r->fields[i], &r->fields[i], members);
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
        case 'f':
            if (r->field_count)
                put_bare_fields(out, r, NULL);
            break;
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

static inline __attribute__((always_inline)) void
put_json_field(sluice_buf *out, const sluice_field *key,
               const sluice_field *value)
{
    sluice_buf_append(out, ",\"", 2);
    if (is_member_name(key, KEY_JSON, json_members))
        sluice_buf_putc(out, '_');
    sluice_escape_json(out, key->key, key->key_len);
    sluice_buf_append(out, "\":", 2);
    json_string(out, value->value, value->value_len);
}

static __attribute__((noinline)) void
put_json_fields_merged(sluice_buf *out, const sluice_record *r)
{
    field_plan plan;
    plan_fields(&plan, r->fields, r->field_count, KEY_JSON);
    for (size_t i = 0; i < r->field_count; i++) {
        size_t v = plan_value(&plan, i);
        if (v != FIELD_REPLACED)
            put_json_field(out, &r->fields[i], &r->fields[v]);
    }
    free(plan.heap);
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
    if (fields_may_repeat(r)) {
        put_json_fields_merged(out, r);
    } else {
        for (size_t i = 0; i < r->field_count; i++)
            put_json_field(out, &r->fields[i], &r->fields[i]);
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
    if (r->field_count)
        put_bare_fields(out, r, logfmt_members);
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
