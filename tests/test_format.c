/*
 * test_format.c -- the renderers (core/format.c) on records built by hand:
 * what each class of hostile text is escaped as in text, logfmt and JSON;
 * that a field can never pass for one of the record's own members; that a
 * later field with the same key replaces an earlier one; and a property
 * test over random byte strings, judged by a validator written here and by
 * python3's json module. The seed is printed in every failure message; set
 * SLUICE_TEST_SEED to replay one.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "format_internal.h"

/* ---- rendering ----------------------------------------------------------- */

typedef void (*escaper)(sluice_buf *, const char *, size_t);

static char *take(sluice_buf *b)
{
    cr_assert(!b->failed);
    char *s = malloc(b->len + 1);
    if (b->len)
        memcpy(s, b->data, b->len);
    s[b->len] = '\0';
    cr_assert_eq(strlen(s), b->len, "a NUL byte in the output");
    sluice_buf_free(b);
    return s;
}

static char *escaped(escaper fn, const char *s, size_t n)
{
    sluice_buf b;
    sluice_buf_init(&b);
    fn(&b, s, n);
    return take(&b);
}

static char *render(sluice_format_kind kind, const char *pattern,
                    const sluice_record *r)
{
    sluice_format f = {.kind = kind, .pattern = pattern};
    sluice_error err;
    cr_assert_eq(sluice_format_compile(&f, &err), 0, "%s", err.message);
    sluice_time_cache tc;
    sluice_time_cache_init(&tc);
    sluice_buf b;
    sluice_buf_init(&b);
    sluice_format_render(&b, &f, r, &tc);
    return take(&b);
}

static sluice_record record(const char *message, const sluice_field *fields,
                            size_t count)
{
    sluice_record r;
    memset(&r, 0, sizeof r);
    r.time_ns = 1795000000123456789LL;
    r.level = SLUICE_LEVEL_INFO;
    r.logger = "app";
    r.message = message;
    r.message_len = strlen(message);
    r.thread_id = 42;
    r.fields = fields;
    r.field_count = count;
    return r;
}

#define FIELD(k, v) {(k), sizeof(k) - 1, (v), sizeof(v) - 1}

/* ---- python3's json module as the judge -------------------------------- */

/* Run a python3 script over a file; 0 when it exits 0. */
static int python(const char *script, const char *data, size_t len, char *why,
                  size_t why_size)
{
    char dir[] = "/tmp/sluice-format-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char script_path[64], data_path[64], out_path[64], cmd[256];
    snprintf(script_path, sizeof script_path, "%s/check.py", dir);
    snprintf(data_path, sizeof data_path, "%s/data", dir);
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    FILE *f = fopen(script_path, "w");
    fputs(script, f);
    fclose(f);
    f = fopen(data_path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "python3 %s %s >%s 2>&1", script_path, data_path,
             out_path);
    int st = system(cmd);
    why[0] = '\0';
    f = fopen(out_path, "r");
    if (f) {
        size_t got = fread(why, 1, why_size - 1, f);
        why[got] = '\0';
        fclose(f);
    }
    unlink(script_path);
    unlink(data_path);
    unlink(out_path);
    rmdir(dir);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The JSON line must parse, and `expr` (over the object d) hold. */
static void json_holds(const char *line, const char *expr)
{
    char script[2048], why[4096];
    snprintf(script, sizeof script,
             "import json, sys\n"
             "line = open(sys.argv[1], encoding='utf-8').read()\n"
             "pairs = json.loads(line, object_pairs_hook=lambda p: p)\n"
             "keys = [k for k, v in pairs]\n"
             "assert len(keys) == len(set(keys)), 'repeated key in %%r' %% keys\n"
             "d = dict(pairs)\n"
             "assert %s, d\n",
             expr);
    int rc = python(script, line, strlen(line), why, sizeof why);
    cr_assert_eq(rc, 0, "python3 says no to (%s) for:\n%s\n%s", expr, line, why);
}

/* ---- each class of text, in each format --------------------------------- */

typedef struct escape_case {
    const char *name;
    const char *in;
    size_t len;
    const char *text;          /* sluice_escape_text */
    const char *logfmt;        /* sluice_escape_logfmt */
    const char *json;          /* sluice_escape_json, without the quotes */
} escape_case;

#define CASE(name, in, text, logfmt, json) {name, in, sizeof(in) - 1, text, logfmt, json}

static const escape_case cases[] = {
    CASE("C0 and DEL", "a\n\r\t\x01\x1f\x7f", "a\\n\\r\\t\\x01\\x1f\\x7f",
         "\"a\\n\\r\\t\\x01\\x1f\\x7f\"", "a\\n\\r\\t\\u0001\\u001f\\u007f"),
    CASE("U+0080, first C1", "a\xc2\x80z", "a\\u0080z", "\"a\\u0080z\"", "a\\u0080z"),
    CASE("U+0085, NEL", "a\xc2\x85z", "a\\u0085z", "\"a\\u0085z\"", "a\\u0085z"),
    CASE("U+009B, CSI", "a\xc2\x9b[2J", "a\\u009b[2J", "\"a\\u009b[2J\"", "a\\u009b[2J"),
    CASE("U+009F, last C1", "\xc2\x9f", "\\u009f", "\"\\u009f\"", "\\u009f"),
    CASE("U+2028", "a\xe2\x80\xa8z", "a\\u2028z", "\"a\\u2028z\"", "a\\u2028z"),
    CASE("U+2029", "a\xe2\x80\xa9z", "a\\u2029z", "\"a\\u2029z\"", "a\\u2029z"),
    CASE("raw 0x9b", "a\x9b[2J", "a\\x9b[2J", "\"a\\x9b[2J\"", "a\\ufffd[2J"),
    CASE("lone continuation bytes", "\x80\xbf", "\\x80\\xbf", "\"\\x80\\xbf\"",
         "\\ufffd\\ufffd"),
    CASE("overlong NUL", "\xc0\x80", "\\xc0\\x80", "\"\\xc0\\x80\"", "\\ufffd\\ufffd"),
    CASE("overlong '/'", "\xc1\xaf", "\\xc1\\xaf", "\"\\xc1\\xaf\"", "\\ufffd\\ufffd"),
    CASE("overlong 3 bytes", "\xe0\x80\xaf", "\\xe0\\x80\\xaf", "\"\\xe0\\x80\\xaf\"",
         "\\ufffd\\ufffd\\ufffd"),
    CASE("overlong 4 bytes", "\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf",
         "\"\\xf0\\x80\\x80\\xaf\"", "\\ufffd\\ufffd\\ufffd\\ufffd"),
    CASE("surrogate U+D800", "\xed\xa0\x80", "\\xed\\xa0\\x80", "\"\\xed\\xa0\\x80\"",
         "\\ufffd\\ufffd\\ufffd"),
    CASE("surrogate U+DFFF", "\xed\xbf\xbf", "\\xed\\xbf\\xbf", "\"\\xed\\xbf\\xbf\"",
         "\\ufffd\\ufffd\\ufffd"),
    CASE("above U+10FFFF", "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80",
         "\"\\xf4\\x90\\x80\\x80\"", "\\ufffd\\ufffd\\ufffd\\ufffd"),
    CASE("truncated at the end", "ab\xe2\x82", "ab\\xe2\\x82", "\"ab\\xe2\\x82\"",
         "ab\\ufffd\\ufffd"),
    CASE("truncated before ASCII", "\xe2\x82z\xf0\x9f\x98z", "\\xe2\\x82z\\xf0\\x9f\\x98z",
         "\"\\xe2\\x82z\\xf0\\x9f\\x98z\"", "\\ufffd\\ufffdz\\ufffd\\ufffd\\ufffdz"),
    CASE("bytes F5..FF", "\xf5\xf8\xfe\xff", "\\xf5\\xf8\\xfe\\xff",
         "\"\\xf5\\xf8\\xfe\\xff\"", "\\ufffd\\ufffd\\ufffd\\ufffd"),
    CASE("valid: accents, CJK, emoji, U+FFFD, U+10FFFF, NBSP",
         "caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80 \xef\xbf\xbd \xf4\x8f\xbf\xbf \xc2\xa0",
         "caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80 \xef\xbf\xbd \xf4\x8f\xbf\xbf \xc2\xa0",
         "\"caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80 \xef\xbf\xbd \xf4\x8f\xbf\xbf \xc2\xa0\"",
         "caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80 \xef\xbf\xbd \xf4\x8f\xbf\xbf \xc2\xa0"),
    CASE("valid, no space: logfmt leaves it bare", "\xc3\xa9t\xc3\xa9\xe2\x80\xa7",
         "\xc3\xa9t\xc3\xa9\xe2\x80\xa7", "\xc3\xa9t\xc3\xa9\xe2\x80\xa7",
         "\xc3\xa9t\xc3\xa9\xe2\x80\xa7"),
    CASE("quotes and backslashes", "say \"hi\" \\o/", "say \"hi\" \\o/",
         "\"say \\\"hi\\\" \\\\o/\"", "say \\\"hi\\\" \\\\o/"),
    CASE("long ASCII with one escape far in",
         "0123456789abcdef0123456789abcdef0123456789\xc2\x85tail",
         "0123456789abcdef0123456789abcdef0123456789\\u0085tail",
         "\"0123456789abcdef0123456789abcdef0123456789\\u0085tail\"",
         "0123456789abcdef0123456789abcdef0123456789\\u0085tail"),
    CASE("escape in the last, overlapping word", "0123456789\x7f",
         "0123456789\\x7f", "\"0123456789\\x7f\"", "0123456789\\u007f"),
    CASE("plain ASCII of every length class", "abcdefghijk", "abcdefghijk",
         "abcdefghijk", "abcdefghijk"),
};

Test(format, each_class_is_escaped_the_documented_way_in_every_format)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const escape_case *c = &cases[i];
        char *text = escaped(sluice_escape_text, c->in, c->len);
        char *logfmt = escaped(sluice_escape_logfmt, c->in, c->len);
        char *json = escaped(sluice_escape_json, c->in, c->len);
        cr_expect_str_eq(text, c->text, "%s: text", c->name);
        cr_expect_str_eq(logfmt, c->logfmt, "%s: logfmt", c->name);
        cr_expect_str_eq(json, c->json, "%s: json", c->name);
        free(text);
        free(logfmt);
        free(json);
    }
}

Test(format, every_text_of_a_record_is_escaped_in_every_format)
{
    sluice_field field = {"k\xc2\x85 y", 5, "v\x9b\xe2\x80\xa8", 5};
    sluice_record r = record("m\xc2\x85", &field, 1);
    r.logger = "lg\xc2\x9f";
    r.file = "f\x9b.c";
    r.source_line = 3;
    r.function = "fn\xe2\x80\xa9";
    char *text = render(SLUICE_FORMAT_TEXT, "%n|%m|%s|%F|%f", &r);
    cr_assert_str_eq(text, "lg\\u009f|m\\u0085|f\\x9b.c:3|fn\\u2029| k__y=\"v\\x9b\\u2028\"\n");
    char *logfmt = render(SLUICE_FORMAT_LOGFMT, NULL, &r);
    const char *tail = strstr(logfmt, " level=");
    cr_assert_not_null(tail, "%s", logfmt);
    cr_assert_str_eq(tail, " level=info logger=\"lg\\u009f\" msg=\"m\\u0085\" "
                           "k__y=\"v\\x9b\\u2028\"\n");
    char *json = render(SLUICE_FORMAT_JSON, NULL, &r);
    tail = strstr(json, ",\"level\"");
    cr_assert_not_null(tail, "%s", json);
    cr_assert_str_eq(tail, ",\"level\":\"info\",\"logger\":\"lg\\u009f\",\"message\":\"m\\u0085\","
                           "\"thread\":42,\"file\":\"f\\ufffd.c\",\"line\":3,"
                           "\"function\":\"fn\\u2029\",\"k\\u0085 y\":\"v\\ufffd\\u2028\"}\n");
    free(text);
    free(logfmt);
    free(json);
}

Test(format, every_prefix_of_a_hostile_string_stays_safe)
{
    /* each length 0..n, so every byte lands in the word loop, the last
     * overlapping word and the short-string paths of every escaper */
    static const char s[] = "abc\xc2\x85" "defghij\xe2\x80\xa8klmnop\x9bqrstuvwxyz\x01";
    const escaper escapers[] = {sluice_escape_text, sluice_escape_logfmt, sluice_escape_json};
    for (size_t n = 0; n <= sizeof s - 1; n++) {
        for (size_t e = 0; e < 3; e++) {
            char *out = escaped(escapers[e], s, n);
            for (const unsigned char *p = (const unsigned char *)out; *p; p++)
                cr_assert(*p >= 0x20 && *p < 0x7f, "escaper %zu, length %zu: raw byte 0x%02x in %s",
                          e, n, *p, out);
            free(out);
        }
    }
}

/* ---- the record's own members -------------------------------------------- */

Test(format, json_fields_cannot_pass_for_the_records_members)
{
    sluice_field fields[] = {
        FIELD("level", "fatal"),   FIELD("message", "forged message"),
        FIELD("time", "1970"),     FIELD("logger", "root"),
        FIELD("thread", "1"),      FIELD("file", "x.c"),
        FIELD("line", "9"),        FIELD("function", "evil"),
        FIELD("_level", "one"),    FIELD("__level", "two"),
        FIELD("msg", "not a json member"), FIELD("levels", "as is"),
    };
    sluice_record r = record("the real message", fields, sizeof fields / sizeof fields[0]);
    r.file = "app.c";
    r.source_line = 12;
    r.function = "main";
    char *line = render(SLUICE_FORMAT_JSON, NULL, &r);
    json_holds(line, "d['level'] == 'info' and d['message'] == 'the real message' and "
                     "d['logger'] == 'app' and d['thread'] == 42 and "
                     "d['file'] == 'app.c' and d['line'] == 12 and d['function'] == 'main' and "
                     "d['time'].startswith('2026-') and "
                     "d['_level'] == 'fatal' and d['_message'] == 'forged message' and "
                     "d['_time'] == '1970' and d['_logger'] == 'root' and "
                     "d['_thread'] == '1' and d['_file'] == 'x.c' and d['_line'] == '9' and "
                     "d['_function'] == 'evil' and d['__level'] == 'one' and "
                     "d['___level'] == 'two' and d['msg'] == 'not a json member' and "
                     "d['levels'] == 'as is'");
    free(line);
    /* a record without a call site still keeps those names for itself */
    r.file = NULL;
    r.function = NULL;
    line = render(SLUICE_FORMAT_JSON, NULL, &r);
    json_holds(line, "'file' not in d and 'line' not in d and d['_file'] == 'x.c' and "
                     "d['_line'] == '9'");
    free(line);
}

Test(format, logfmt_fields_cannot_pass_for_the_records_keys)
{
    sluice_field fields[] = {
        FIELD("level", "fatal"), FIELD("msg", "forged"), FIELD("time", "0"),
        FIELD("logger", "root"), FIELD("_msg", "a"), FIELD("\x01level", "b"),
        FIELD("message", "as is"),
    };
    sluice_record r = record("real", fields, sizeof fields / sizeof fields[0]);
    char *line = render(SLUICE_FORMAT_LOGFMT, NULL, &r);
    const char *tail = strstr(line, " msg=real ");
    cr_assert_not_null(tail, "%s", line);
    cr_assert_str_eq(tail, " msg=real _level=fatal _msg=forged _time=0 _logger=root "
                           "__msg=a __level=b message=\"as is\"\n");
    cr_assert_eq(strncmp(line, "time=2026-", 10), 0, "%s", line);
    cr_assert(strstr(line, " level=info logger=app msg=real "), "%s", line);
    free(line);
}

/* ---- repeated keys ------------------------------------------------------ */

Test(format, a_later_field_replaces_an_earlier_one_in_every_format)
{
    /* base fields, then the call's: the key stays where it first was */
    sluice_field fields[] = {
        FIELD("service", "billing"), FIELD("region", "eu"),
        FIELD("user", "ann"),        FIELD("service", "override"),
        FIELD("user", "bob"),        FIELD("user", "cy"),
    };
    sluice_record r = record("hi", fields, sizeof fields / sizeof fields[0]);
    char *text = render(SLUICE_FORMAT_TEXT, "%m%f", &r);
    cr_assert_str_eq(text, "hi service=override region=eu user=cy\n");
    char *logfmt = render(SLUICE_FORMAT_LOGFMT, NULL, &r);
    cr_assert(strstr(logfmt, " msg=hi service=override region=eu user=cy\n"), "%s", logfmt);
    char *json = render(SLUICE_FORMAT_JSON, NULL, &r);
    cr_assert(strstr(json, "\"service\":\"override\",\"region\":\"eu\",\"user\":\"cy\"}\n"),
              "%s", json);
    json_holds(json, "d['service'] == 'override' and d['user'] == 'cy'");
    free(text);
    free(logfmt);
    free(json);
}

Test(format, keys_that_render_the_same_are_the_same_key)
{
    /* logfmt: ' ' and '_' render alike, and so do "" and "_"; JSON: an
     * invalid byte reads as U+FFFD, like U+FFFD itself */
    sluice_field bare[] = {
        FIELD("a b", "1"), FIELD("a_b", "2"), FIELD("", "3"), FIELD("_", "4"),
        FIELD("k\xc2\x85", "5"), FIELD("k\xff", "6"), FIELD("k_", "7"),
    };
    sluice_record r = record("hi", bare, sizeof bare / sizeof bare[0]);
    char *text = render(SLUICE_FORMAT_TEXT, "%m%f", &r);
    cr_assert_str_eq(text, "hi a_b=2 _=4 k_=7\n");
    free(text);
    sluice_field json_keys[] = {
        FIELD("k\xff", "1"), FIELD("k\xfe", "2"), FIELD("k\xef\xbf\xbd", "3"),
        FIELD("a b", "4"), FIELD("a_b", "5"),
    };
    r = record("hi", json_keys, sizeof json_keys / sizeof json_keys[0]);
    char *json = render(SLUICE_FORMAT_JSON, NULL, &r);
    json_holds(json, "d['k\\ufffd'] == '3' and d['a b'] == '4' and d['a_b'] == '5'");
    free(json);
}

Test(format, many_fields_with_repeats_keep_first_places_and_last_values)
{
    /* more fields than are compared pairwise: the table path */
    enum { KEYS = 60, ROUNDS = 3 };
    static char keys[KEYS][8], values[KEYS * ROUNDS][16];
    sluice_field fields[KEYS * ROUNDS];
    size_t n = 0;
    for (int round = 0; round < ROUNDS; round++)
        for (int k = 0; k < KEYS; k++) {
            snprintf(keys[k], sizeof keys[k], "k%d", k);
            snprintf(values[n], sizeof values[n], "r%dk%d", round, k);
            fields[n] = (sluice_field){keys[k], strlen(keys[k]), values[n], strlen(values[n])};
            n++;
        }
    sluice_record r = record("hi", fields, n);
    char *text = render(SLUICE_FORMAT_TEXT, "%m%f", &r);
    char want[4096] = "hi";
    for (int k = 0; k < KEYS; k++) {
        char one[32];
        snprintf(one, sizeof one, " k%d=r%dk%d", k, ROUNDS - 1, k);
        strcat(want, one);
    }
    strcat(want, "\n");
    cr_assert_str_eq(text, want);
    free(text);
    char *json = render(SLUICE_FORMAT_JSON, NULL, &r);
    json_holds(json, "all(d['k%d' % k] == 'r2k%d' % k for k in range(60))");
    free(json);
}

/* ---- property: random bytes never break a line or a document ------------ */

static uint64_t seed_used, rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void seed_init(void)
{
    const char *e = getenv("SLUICE_TEST_SEED");
    seed_used = e ? strtoull(e, NULL, 0)
                  : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    rng_state = seed_used;
}

/* Random bytes, mostly the interesting ones: pieces of valid and invalid
 * UTF-8, C0, C1, DEL, U+2028/9, quotes, separators, plain ASCII. */
static size_t random_bytes(char *out, size_t cap)
{
    static const char *const pieces[] = {
        "\xc2\x85", "\xc2\x80", "\xc2\x9f", "\xc2\xa0", "\xe2\x80\xa8", "\xe2\x80\xa9",
        "\xc3\xa9", "\xe6\x9d\xb1", "\xf0\x9f\x98\x80", "\xef\xbf\xbd", "\xed\xa0\x80",
        "\xc0\x80", "\xe0\x80\xaf", "\xf4\x90\x80\x80", "\xe2\x82", "\xf0\x9f",
        "\"", "\\", "=", " ", "\n", "\r", "\t", "\x7f", "\x00", "level", "_",
    };
    size_t len = (size_t)(rnd() % 48), n = 0;
    while (n < len && n + 4 < cap) {
        uint64_t pick = rnd() % 4;
        if (pick == 0) {
            out[n++] = (char)(rnd() & 0xff);
        } else if (pick == 1) {
            const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
            size_t plen = p[0] ? strlen(p) : 1;
            if (n + plen >= cap)
                break;
            memcpy(out + n, p, plen);
            n += plen;
        } else {
            out[n++] = (char)(0x20 + rnd() % 0x5f);
        }
    }
    return n;
}

/* Valid UTF-8 with no C0 but '\n' at the end, no DEL, no C1, no U+2028/9:
 * nothing a reader could take as a line break or a control. NULL if so,
 * else what is wrong. */
static const char *unsafe_byte(const unsigned char *s, size_t n, size_t *at)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        *at = i;
        if (c == '\n')
            return i == n - 1 ? NULL : "a newline before the end";
        if (c < 0x20 || c == 0x7f)
            return "a raw C0 control or DEL";
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c < 0xc2 || c > 0xf4 || i + len > n)
            return "invalid UTF-8";
        uint32_t cp = c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return "invalid UTF-8";
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return "invalid UTF-8";
        if (cp <= 0x9f)
            return "a raw C1 control";
        if (cp == 0x2028 || cp == 0x2029)
            return "a raw U+2028 or U+2029";
        i += len;
    }
    return n && s[n - 1] == '\n' ? NULL : "no newline at the end";
}

static void hex(char *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", (unsigned char)s[i]);
    out[2 * n] = '\0';
}

/* For each data line "MSG KEY VALUE<tab>JSON<tab>LOGFMT" (hex bytes): the
 * JSON line parses, and reads back as the bytes with each invalid byte as
 * U+FFFD (surrogateescape decodes byte by byte, independently of the C
 * code), the key with a '_' more when it names a member; the logfmt msg
 * and value unquote back to the very bytes. */
static const char property_script[] =
    "import json, sys\n"
    "MEMBERS = {'time', 'level', 'logger', 'message', 'thread', 'file', 'line', 'function'}\n"
    "def as_json_reads(b):\n"
    "    s = b.decode('utf-8', 'surrogateescape')\n"
    "    return ''.join('\\ufffd' if 0xdc80 <= ord(c) <= 0xdcff else c for c in s)\n"
    "def unquote(t, i):\n"
    "    if t[i:i + 1] != b'\"':\n"
    "        j = t.find(b' ', i)\n"
    "        j = len(t) if j < 0 else j\n"
    "        return t[i:j], j\n"
    "    out, i = bytearray(), i + 1\n"
    "    simple = {ord('n'): 10, ord('r'): 13, ord('t'): 9, ord('\"'): 34, ord('\\\\'): 92}\n"
    "    while t[i] != ord('\"'):\n"
    "        if t[i] != ord('\\\\'):\n"
    "            out.append(t[i]); i += 1; continue\n"
    "        e = t[i + 1]\n"
    "        if e in simple:\n"
    "            out.append(simple[e]); i += 2\n"
    "        elif e == ord('x'):\n"
    "            out.append(int(t[i + 2:i + 4], 16)); i += 4\n"
    "        elif e == ord('u'):\n"
    "            out += chr(int(t[i + 2:i + 6], 16)).encode(); i += 6\n"
    "        else:\n"
    "            raise ValueError('bad escape %r' % t[i:i + 2])\n"
    "    return bytes(out), i + 1\n"
    "for n, row in enumerate(open(sys.argv[1], 'rb')):\n"
    "    inputs, jline, lline = row.rstrip(b'\\n').split(b'\\t')\n"
    "    msg, key, value = (bytes.fromhex(x.decode()) for x in inputs.split(b' '))\n"
    "    d = json.loads(jline.decode('utf-8'))\n"
    "    want_key = as_json_reads(key)\n"
    "    if want_key.lstrip('_') in MEMBERS:\n"
    "        want_key = '_' + want_key\n"
    "    assert d['message'] == as_json_reads(msg), (n, jline, msg)\n"
    "    assert d[want_key] == as_json_reads(value), (n, jline, key, value)\n"
    "    at = lline.index(b' msg=') + 5\n"
    "    got_msg, at = unquote(lline, at)\n"
    "    assert got_msg == msg, (n, lline, msg, got_msg)\n"
    "    got_value, at = unquote(lline, lline.index(b'=', at + 1) + 1)\n"
    "    assert got_value == value, (n, lline, value, got_value)\n"
    "    assert lline[at:] == b'', (n, lline)\n"
    "print('ok', n + 1)\n";

Test(format, random_bytes_never_break_a_line_or_a_json_document, .timeout = 120)
{
    seed_init();
    enum { ROUNDS = 20000 };
    sluice_buf data;
    sluice_buf_init(&data);
    for (int round = 0; round < ROUNDS; round++) {
        char msg[64], key[64], value[64];
        size_t msg_len = random_bytes(msg, sizeof msg);
        size_t key_len = random_bytes(key, sizeof key);
        size_t value_len = random_bytes(value, sizeof value);
        sluice_field field = {key, key_len, value, value_len};
        sluice_record r = record("", &field, 1);
        r.message = msg;
        r.message_len = msg_len;
        char function[64]; /* a NUL-terminated text: the value's bytes */
        memcpy(function, value, value_len);
        function[value_len] = '\0';
        r.function = function;
        const sluice_format_kind kinds[] = {SLUICE_FORMAT_TEXT, SLUICE_FORMAT_LOGFMT,
                                            SLUICE_FORMAT_JSON};
        const char *patterns[] = {"%t %L [%n] %m%f %F", NULL, NULL};
        char *lines[3];
        for (int k = 0; k < 3; k++) {
            sluice_format f = {.kind = kinds[k], .pattern = patterns[k]};
            sluice_error err;
            cr_assert_eq(sluice_format_compile(&f, &err), 0);
            sluice_time_cache tc;
            sluice_time_cache_init(&tc);
            sluice_buf b;
            sluice_buf_init(&b);
            sluice_format_render(&b, &f, &r, &tc);
            size_t at = 0;
            const char *wrong = unsafe_byte((const unsigned char *)b.data, b.len, &at);
            if (wrong) {
                char h[200];
                hex(h, b.data, b.len < 90 ? b.len : 90);
                cr_assert_fail("seed %llu (SLUICE_TEST_SEED to replay), round %d, "
                               "format %d: %s at byte %zu of (hex) %s",
                               (unsigned long long)seed_used, round, k, wrong, at, h);
            }
            cr_assert_null(memchr(b.data, '\t', b.len), "a raw tab");
            lines[k] = take(&b);
        }
        char hm[200], hk[200], hv[200];
        hex(hm, msg, msg_len);
        hex(hk, key, key_len);
        hex(hv, value, value_len);
        char row[8192];
        int len = snprintf(row, sizeof row, "%s %s %s\t%.*s\t%s", hm, hk, hv,
                           (int)strlen(lines[2]) - 1, lines[2], lines[1]);
        cr_assert_lt((size_t)len, sizeof row);
        sluice_buf_append(&data, row, (size_t)len);
        for (int k = 0; k < 3; k++)
            free(lines[k]);
    }
    char why[8192];
    int rc = python(property_script, data.data, data.len, why, sizeof why);
    cr_assert_eq(rc, 0, "seed %llu (SLUICE_TEST_SEED to replay): python3 says:\n%s",
                 (unsigned long long)seed_used, why);
    cr_assert(strstr(why, "ok 20000"), "%s", why);
    sluice_buf_free(&data);
}

/* ---- the time, without gmtime_r ------------------------------------------- */

/* What gmtime_r says time_ns is, in sluice_format_time's form. */
static void time_by_gmtime(int64_t time_ns, char *out, size_t cap)
{
    int64_t sec = time_ns / 1000000000, sub = time_ns % 1000000000;
    if (sub < 0) {
        sub += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    cr_assert_not_null(gmtime_r(&t, &tm));
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(sub / 1000));
}

static void check_time(int64_t time_ns)
{
    char want[64];
    time_by_gmtime(time_ns, want, sizeof want);
    sluice_time_cache tc;
    sluice_time_cache_init(&tc);
    sluice_buf b;
    sluice_buf_init(&b);
    sluice_format_time(&b, time_ns, &tc);
    char *got = take(&b);
    cr_assert_str_eq(got, want, "seed %llu: %lld ns", (unsigned long long)seed_used,
                     (long long)time_ns);
    free(got);
}

Test(format, the_time_is_the_civil_date_gmtime_r_gives_over_the_whole_range)
{
    seed_init();
    /* every day from 1968 to 2104 at a few instants: leap years, the
     * century rule (2100 is no leap year, 2000 is), the epoch, before it */
    for (int64_t day = -730; day < 49000; day++)
        for (int64_t at = 0; at < 86400; at += 86399 / 2)
            check_time((day * 86400 + at) * 1000000000 + 999999999);
    /* the ends of what an int64 of ns holds (1677 and 2262), and about */
    check_time(INT64_MIN);
    check_time(INT64_MAX);
    check_time(-1);
    check_time(0);
    for (int i = 0; i < 200000; i++)
        check_time((int64_t)rnd());
}

Test(format, the_time_cache_gives_each_second_its_own_date)
{
    sluice_time_cache tc;
    sluice_time_cache_init(&tc);
    sluice_buf b;
    sluice_buf_init(&b);
    /* a second apart across the midnights that begin and end 2024-02-29 */
    static const int64_t midnights[] = {1709164800LL, 1709251200LL};
    for (int64_t i = 0; i < 12; i++) {
        int64_t s = midnights[i / 6] - 3 + i % 6;
        sluice_buf_reset(&b);
        sluice_format_time(&b, s * 1000000000 + 5000, &tc);
        char want[64];
        time_by_gmtime(s * 1000000000 + 5000, want, sizeof want);
        cr_assert_eq(b.len, strlen(want));
        cr_assert(memcmp(b.data, want, b.len) == 0, "%.*s vs %s", (int)b.len,
                  b.data, want);
    }
    sluice_buf_free(&b);
}

/* ---- rendering without allocating (the crash path) ------------------------- */

Test(format, a_fixed_buffer_never_grows_and_cuts_what_does_not_fit)
{
    char storage[16];
    sluice_buf b;
    sluice_buf_init_fixed(&b, storage, sizeof storage);
    sluice_buf_append(&b, "0123456789", 10);
    cr_assert_eq(b.len, 10);
    cr_assert_not(b.failed);
    sluice_buf_append(&b, "abcdefghij", 10); /* 6 fit */
    cr_assert_eq(b.len, 16);
    cr_assert(b.failed);
    cr_assert(b.data == storage, "it never moved");
    cr_assert(memcmp(storage, "0123456789abcdef", 16) == 0);
    sluice_buf_putc(&b, 'x');
    cr_assert_eq(b.len, 16);
    cr_assert_eq(sluice_buf_reserve(&b, 1), -1);
    sluice_buf_reset(&b);
    cr_assert_not(b.failed);
    cr_assert_eq(sluice_buf_reserve(&b, 16), 0);
    cr_assert_eq(sluice_buf_reserve(&b, 17), -1);
    sluice_buf_free(&b); /* empties it; the storage is the caller's */
    cr_assert(b.data == storage && b.len == 0 && b.fixed);
}

Test(format, a_line_into_a_fixed_buffer_is_the_same_line_or_marked_cut)
{
    sluice_field fields[40];
    char keys[40][8];
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i % 25);
        fields[i] = (sluice_field){keys[i], strlen(keys[i]), "v", 1};
    }
    sluice_record r = record("a message\twith a tab", fields, 40);
    for (int kind = 0; kind < 3; kind++) {
        char *want = render((sluice_format_kind)kind, NULL, &r);
        sluice_format f = {.kind = (sluice_format_kind)kind};
        sluice_error err;
        cr_assert_eq(sluice_format_compile(&f, &err), 0);
        sluice_time_cache tc;
        sluice_time_cache_init(&tc);
        /* the repeated keys of 40 fields are merged in the arena */
        size_t words = sluice_format_plan_words_(40);
        size_t *arena = calloc(words, sizeof *arena);
        sluice_format_plan_arena_(arena, words);
        char storage[4096];
        sluice_buf b;
        sluice_buf_init_fixed(&b, storage, sizeof storage);
        sluice_format_render(&b, &f, &r, &tc);
        cr_assert_not(b.failed);
        cr_assert_eq(b.len, strlen(want));
        cr_assert(memcmp(storage, want, b.len) == 0, "%s\n%.*s", want, (int)b.len,
                  storage);
        sluice_buf_init_fixed(&b, storage, 20);
        sluice_format_render(&b, &f, &r, &tc);
        cr_assert(b.failed && b.len == 20 && memcmp(storage, want, 20) == 0);
        sluice_format_plan_arena_(NULL, 0);
        free(arena);
        free(want);
    }
}
