/*
 * config.c -- reads an INI file with inih and feeds every section and
 * key = value to the builder, with its line number.
 *
 * inih is handed lines by our own reader, which counts them (Debian's inih
 * does not pass line numbers to the handler), notes section headers (so an
 * empty [sink.x] is still seen, with its line), refuses lines longer than
 * inih's buffer (Debian's inih would silently split such a line in two) and
 * refuses indented lines, which inih would take as the continuation of the
 * previous value. Knows nothing of plugins, queues or threads.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

typedef struct reader {
    const char *text;          /* whole file */
    size_t len;
    size_t pos;
    int line;                  /* number of the line last handed to inih */
    int stopped;               /* we refused a line: stop parsing */
    sluice_builder *b;
} reader;

/* inih's fgets-style callback: hand over one line. */
static char *read_line(char *str, int num, void *stream)
{
    reader *r = stream;
    if (r->stopped || r->pos >= r->len)
        return NULL;
    const char *start = r->text + r->pos;
    const char *nl = memchr(start, '\n', r->len - r->pos);
    size_t n = nl ? (size_t)(nl - start) + 1 : r->len - r->pos;
    r->pos += n;
    r->line++;
    /* inih needs room for '\r', '\n' and '\0' besides the text */
    size_t text = n - (nl ? 1 : 0);
    if (text && start[text - 1] == '\r')
        text--;
    if (num < 4 || text > (size_t)num - 3) {
        sluice_builder_error_(r->b, r->line,
                              "line is %zu characters long; at most %d are "
                              "supported",
                              text, num > 3 ? num - 3 : 0);
        r->stopped = 1;
        return NULL;
    }
    if (memchr(start, '\0', text)) {
        sluice_builder_error_(r->b, r->line, "line contains a NUL byte");
        r->stopped = 1;
        return NULL;
    }
    /* an indented non-comment line would be taken as a continuation */
    if (text && (start[0] == ' ' || start[0] == '\t')) {
        size_t i = 0;
        while (i < text && (start[i] == ' ' || start[i] == '\t'))
            i++;
        if (i < text && start[i] != ';' && start[i] != '#') {
            sluice_builder_error_(r->b, r->line,
                                  "line starts with white space (indented "
                                  "lines and continuation values are not "
                                  "supported)");
            r->stopped = 1;
            return NULL;
        }
    }
    /* a section header: declare it here, where we know its line */
    size_t i = 0;
    while (i < text && isspace((unsigned char)start[i]))
        i++;
    if (i < text && start[i] == '[') {
        const char *close = memchr(start + i, ']', text - i);
        if (close) {
            char name[256];
            size_t len = (size_t)(close - start - i - 1);
            if (len >= sizeof name)
                len = sizeof name - 1;
            memcpy(name, start + i + 1, len);
            name[len] = '\0';
            sluice_builder_section(r->b, name, r->line, NULL);
        }
    }
    memcpy(str, start, n);
    str[n] = '\0';
    return str;
}

static int handle(void *user, const char *section, const char *name,
                  const char *value)
{
    reader *r = user;
    if (!section || !section[0]) {
        sluice_builder_error_(r->b, r->line,
                              "key '%s' outside any section", name);
        return 1;
    }
    sluice_builder_set(r->b, section, name, value, r->line, NULL);
    return 1; /* errors are collected; keep parsing to report them all */
}

static sluice_builder *load_text(const char *text, size_t len,
                                 const char *source, sluice_error *err)
{
    sluice_builder *b = sluice_builder_new(source);
    if (!b) {
        sluice_error_set(err, "out of memory");
        return NULL;
    }
    reader r = {text, len, 0, 0, 0, b};
    int rc = ini_parse_stream(read_line, &r, handle, &r);
    if (rc > 0 && !r.stopped)
        sluice_builder_error_(b, rc,
                              "cannot parse this line (expected [section], "
                              "key = value, or a comment starting with ; or #)");
    else if (rc == -2)
        sluice_builder_error_(b, 0, "out of memory while parsing");
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
