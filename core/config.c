/*
 * config.c -- reads an INI file and feeds every section and key = value to
 * the builder, with its line number.
 *
 * The reader is our own, over the whole text in memory, so no line, key,
 * value or section name is ever cut, whatever its length. It reads the
 * syntax inih reads with Debian's default settings (docs/configuration.md
 * has the rules; docs/design.md says why inih itself cannot be used safely
 * inside a host). Every line it cannot read is reported with its number and
 * skipped, and the lines around it are read as if it were not there, so one
 * mistake gives one error. sluice_open and sluice_builder_from_file are
 * here too: an INI file into a builder, then (open) started.
 * Knows nothing of plugins, queues or threads.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

#define UTF8_BOM "\xef\xbb\xbf"

typedef struct reader {
    sluice_builder *builder;
    char *section;             /* the current section's name; NULL before one */
    size_t section_cap;
    int skip_keys;             /* the last header named nothing: skip its keys */
    char *scratch;             /* key '\0' value '\0' of the line being read */
    size_t scratch_cap;
} reader;

/* isspace() in the C locale, whatever locale the host has set (in some,
 * bytes of UTF-8 text such as 0xa0 would count as white space). */
static int is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Make *buf hold at least need bytes. 0, or -1 when out of memory. */
static int reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t grown_cap = *cap ? *cap : 256;
    while (grown_cap < need)
        grown_cap *= 2;
    char *grown = realloc(*buf, grown_cap);
    if (!grown)
        return -1;
    *buf = grown;
    *cap = grown_cap;
    return 0;
}

/* The first of s[0..n) that is one of stops (none if stops is NULL) or
 * starts an inline comment (';' right after white space); n if none. */
static size_t find_stop(const char *s, size_t n, const char *stops)
{
    int was_space = 0;
    for (size_t i = 0; i < n; i++) {
        if (stops && strchr(stops, s[i]))
            return i;
        if (was_space && s[i] == ';')
            return i;
        was_space = is_space(s[i]);
    }
    return n;
}

static size_t trim_end(const char *s, size_t n)
{
    while (n && is_space(s[n - 1]))
        n--;
    return n;
}

static void declare_section(reader *r, const char *name, size_t len, int number)
{
    if (reserve(&r->section, &r->section_cap, len + 1) != 0) {
        sluice_builder_error_(r->builder, number, "out of memory");
        r->skip_keys = 1;
        return;
    }
    memcpy(r->section, name, len);
    r->section[len] = '\0';
    r->skip_keys = 0;
    sluice_builder_section(r->builder, r->section, number, NULL);
}

/* "[name]", then nothing but white space or a comment. */
static void read_section(reader *r, const char *line, size_t len, int number)
{
    size_t close = 1 + find_stop(line + 1, len - 1, "]");
    if (close < len && line[close] == ']') {
        size_t rest = close + 1;
        while (rest < len && is_space(line[rest]))
            rest++;
        if (rest < len && line[rest] != ';' && line[rest] != '#')
            sluice_builder_error_(r->builder, number,
                                  "unexpected text after ']' (only a comment "
                                  "starting with ; or # may follow)");
        declare_section(r, line + 1, close - 1, number);
        return;
    }
    sluice_builder_error_(r->builder, number,
                          "missing ']' after the section name");
    /* Read the keys below as the section that was meant, so that they do
     * not each cause an error of their own. */
    size_t name_len = trim_end(line + 1, close - 1);
    if (name_len)
        declare_section(r, line + 1, name_len, number);
    else
        r->skip_keys = 1;
}

/* "key = value" (or "key: value"), the value ending before an inline
 * comment; white space around both is not part of them. */
static void read_pair(reader *r, const char *line, size_t len, int number)
{
    size_t sep = find_stop(line, len, "=:");
    if (sep == len || (line[sep] != '=' && line[sep] != ':')) {
        sluice_builder_error_(r->builder, number,
                              "cannot parse this line (expected [section], "
                              "key = value, or a comment starting with ; or #)");
        return;
    }
    size_t key_len = trim_end(line, sep);
    if (key_len == 0) {
        sluice_builder_error_(r->builder, number, "missing key before '%c'",
                              line[sep]);
        return;
    }
    size_t value_at = sep + 1;
    size_t value_end = value_at + find_stop(line + value_at, len - value_at, NULL);
    while (value_at < value_end && is_space(line[value_at]))
        value_at++;
    size_t value_len = trim_end(line + value_at, value_end - value_at);
    if (reserve(&r->scratch, &r->scratch_cap, key_len + value_len + 2) != 0) {
        sluice_builder_error_(r->builder, number, "out of memory");
        return;
    }
    char *key = r->scratch;
    char *value = key + key_len + 1;
    memcpy(key, line, key_len);
    key[key_len] = '\0';
    memcpy(value, line + value_at, value_len);
    value[value_len] = '\0';
    if (r->skip_keys)
        return; /* the header above was reported */
    if (!r->section) {
        sluice_builder_error_(r->builder, number,
                              "key '%s' outside any section", key);
        return;
    }
    /* errors are collected in the builder; reading goes on to find them all */
    sluice_builder_set(r->builder, r->section, key, value, number, NULL);
}

static void read_line(reader *r, const char *line, size_t len, int number)
{
    if (memchr(line, '\0', len)) {
        sluice_builder_error_(r->builder, number, "line contains a NUL byte");
        return;
    }
    size_t start = 0;
    while (start < len && is_space(line[start]))
        start++;
    if (start == len || line[start] == ';' || line[start] == '#')
        return; /* blank, or a comment */
    if (start > 0) {
        /* inih and Python read it as the continuation of the previous
         * value; refused rather than read in a way of our own */
        sluice_builder_error_(r->builder, number,
                              "line starts with white space (indented lines "
                              "and continuation values are not supported)");
        return;
    }
    if (line[0] == '[')
        read_section(r, line, len, number);
    else
        read_pair(r, line, len, number);
}

static sluice_builder *load_text(const char *text, size_t len,
                                 const char *source, sluice_error *err)
{
    sluice_builder *b = sluice_builder_new(source);
    if (!b) {
        sluice_error_set(err, "out of memory");
        return NULL;
    }
    reader r = {.builder = b};
    size_t pos = 0;
    if (len >= 3 && memcmp(text, UTF8_BOM, 3) == 0)
        pos = 3;
    int number = 0;
    while (pos < len) {
        if (number == INT_MAX) {
            sluice_builder_error_(b, number, "more than %d lines", INT_MAX);
            break;
        }
        number++;
        const char *line = text + pos;
        const char *newline = memchr(line, '\n', len - pos);
        size_t line_len = newline ? (size_t)(newline - line) : len - pos;
        pos += line_len + (newline ? 1 : 0);
        if (line_len && line[line_len - 1] == '\r')
            line_len--;
        read_line(&r, line, line_len, number);
    }
    free(r.section);
    free(r.scratch);
    return b;
}

sluice_builder *sluice_config_load_string(const char *text, sluice_error *err)
{
    return load_text(text, strlen(text), "<string>", err);
}

sluice_builder *sluice_config_load_file(const char *path, sluice_error *err)
{
    FILE *f = fopen(path, "rbe");
    if (!f) {
        sluice_error_set(err, "%s: cannot open configuration: %s", path,
                         strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(text, cap);
            if (!grown) {
                free(text);
                fclose(f);
                sluice_error_set(err, "%s: out of memory", path);
                return NULL;
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(text);
        sluice_error_set(err, "%s: cannot read configuration", path);
        return NULL;
    }
    text[len] = '\0';
    sluice_builder *b = load_text(text, len, path, err);
    free(text);
    if (b) {
        char copy[PATH_MAX];
        snprintf(copy, sizeof copy, "%s", path);
        sluice_builder_set_base_dir_(b, dirname(copy));
    }
    return b;
}

/* ---- opening from INI ----------------------------------------------------- */

int sluice_open(const char *ini_path, sluice_runtime **rt, sluice_error *err)
{
    *rt = NULL;
    sluice_builder *b = sluice_config_load_file(ini_path, err);
    if (!b)
        return -1;
    return sluice_builder_start(b, rt, err);
}

int sluice_open_string(const char *ini_text, sluice_runtime **rt,
                       sluice_error *err)
{
    *rt = NULL;
    sluice_builder *b = sluice_config_load_string(ini_text, err);
    if (!b)
        return -1;
    return sluice_builder_start(b, rt, err);
}

sluice_builder *sluice_builder_from_file(const char *ini_path, sluice_error *err)
{
    return sluice_config_load_file(ini_path, err);
}

sluice_builder *sluice_builder_from_string(const char *ini_text, sluice_error *err)
{
    return sluice_config_load_string(ini_text, err);
}
