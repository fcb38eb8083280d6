/*
 * options.c -- typed plugin options: a version-2 plugin declares its keys
 * as a table of sluice_option_spec (sluice/sink.h); here the table is
 * checked once when the plugin is loaded, a section's keys are parsed into
 * sluice_value's (every mistake reported, none hiding the next), defaults
 * applied, relative paths resolved against the configuration's folder and
 * a PATH's folder checked without creating anything, and the table is
 * described for `sluice plugins NAME`. The scalar parsers are values.c's.
 * Knows nothing of INI syntax, the builder's key store, or sink instances.
 */
#include "options_internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder_internal.h"

#define WHY_MAX 400

enum {
    KNOWN_FLAGS = SLUICE_OPTION_REQUIRED | SLUICE_OPTION_OCTAL |
                  SLUICE_OPTION_WRITABLE_DIR | SLUICE_OPTION_TOKEN
};

/* How a value is parsed: from a table's default (no file-system checks), or
 * from a configuration. */
typedef enum parse_mode { PARSE_DEFAULT_CHECK, PARSE_CONFIG } parse_mode;

const char *sluice_option_type_name_(sluice_option_type type)
{
    switch (type) {
    case SLUICE_OPTION_STRING: return "string";
    case SLUICE_OPTION_BOOL: return "bool";
    case SLUICE_OPTION_INT: return "int";
    case SLUICE_OPTION_SIZE: return "size";
    case SLUICE_OPTION_DURATION: return "duration";
    case SLUICE_OPTION_ENUM: return "enum";
    case SLUICE_OPTION_LIST: return "list";
    case SLUICE_OPTION_PATH: return "path";
    case SLUICE_OPTION_HOST: return "host";
    case SLUICE_OPTION_HOSTPORT: return "host:port";
    }
    return "?";
}

static bool is_wildcard(const char *name)
{
    size_t n = strlen(name);
    return n >= 2 && strcmp(name + n - 2, ".*") == 0;
}

static bool has_range(const sluice_option_spec *spec)
{
    return spec->min < spec->max;
}

size_t sluice_option_spec_count_(const sluice_option_spec *specs)
{
    size_t n = 0;
    while (specs && n < SLUICE_OPTION_SPECS_MAX && specs[n].name)
        n++;
    return n;
}

const sluice_option_spec *sluice_option_spec_find_(const sluice_option_spec *specs,
                                                   const char *key)
{
    size_t n = sluice_option_spec_count_(specs);
    for (size_t i = 0; i < n; i++)
        if (!is_wildcard(specs[i].name) && strcmp(specs[i].name, key) == 0)
            return &specs[i];
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(specs[i].name);
        if (is_wildcard(specs[i].name) &&
            strncmp(key, specs[i].name, len - 1) == 0 && key[len - 1])
            return &specs[i]; /* "prefix.*" accepts prefix.anything */
    }
    return NULL;
}

/* ---- showing amounts --------------------------------------------------- */

/* v as the type writes it: 16M, 10s, 0640, 42. */
static void amount(const sluice_option_spec *spec, long long v, char *out,
                   size_t cap)
{
    if (v == 0) {
        snprintf(out, cap, "0");
        return;
    }
    if (spec->type == SLUICE_OPTION_SIZE && v > 0) {
        static const char units[] = "KMGT";
        int unit = -1;
        long long x = v;
        while (unit < 3 && x % 1024 == 0) {
            x /= 1024;
            unit++;
        }
        if (unit >= 0) {
            snprintf(out, cap, "%lld%c", x, units[unit]);
            return;
        }
    } else if (spec->type == SLUICE_OPTION_DURATION && v > 0) {
        static const struct {
            long long ms;
            const char *unit;
        } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (v % units[i].ms == 0) {
                snprintf(out, cap, "%lld%s", v / units[i].ms, units[i].unit);
                return;
            }
        snprintf(out, cap, "%lldms", v);
        return;
    } else if (spec->type == SLUICE_OPTION_DURATION) {
        snprintf(out, cap, "%lldms", v);
        return;
    } else if (spec->flags & SLUICE_OPTION_OCTAL) {
        snprintf(out, cap, v ? "0%llo" : "0", v);
        return;
    }
    snprintf(out, cap, "%lld", v);
}

static void range_text(const sluice_option_spec *spec, char *out, size_t cap)
{
    char lo[32], hi[32];
    amount(spec, spec->min, lo, sizeof lo);
    amount(spec, spec->max, hi, sizeof hi);
    snprintf(out, cap, "%s..%s", lo, hi);
}

/* "a, b, c" of an enum's words, cut to cap. */
static void choice_list(const sluice_option_spec *spec, char *out, size_t cap,
                        bool markdown)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; spec->choices && spec->choices[i]; i++) {
        int w = snprintf(out + used, cap - used, markdown ? "%s`%s`" : "%s%s",
                         i ? ", " : "", spec->choices[i]);
        if (w < 0 || (size_t)w >= cap - used)
            return;
        used += (size_t)w;
    }
}

void sluice_option_describe_type_(const sluice_option_spec *spec, char *out,
                                  size_t cap, bool markdown)
{
    char range[80] = "";
    if (has_range(spec))
        range_text(spec, range, sizeof range);
    switch (spec->type) {
    case SLUICE_OPTION_ENUM: {
        char words[400];
        choice_list(spec, words, sizeof words, markdown);
        snprintf(out, cap, "one of %s", words);
        return;
    }
    case SLUICE_OPTION_INT:
        snprintf(out, cap, "%s%s%s",
                 spec->flags & SLUICE_OPTION_OCTAL ? "octal int" : "int",
                 range[0] ? " " : "", range);
        return;
    case SLUICE_OPTION_SIZE:
    case SLUICE_OPTION_DURATION:
        snprintf(out, cap, "%s%s%s", sluice_option_type_name_(spec->type),
                 range[0] ? " " : "", range);
        return;
    case SLUICE_OPTION_STRING:
    case SLUICE_OPTION_PATH:
        snprintf(out, cap, "%s%s%s%s%s", sluice_option_type_name_(spec->type),
                 spec->flags & SLUICE_OPTION_TOKEN ? " (no spaces)" : "",
                 range[0] ? ", " : "", range, range[0] ? " bytes" : "");
        return;
    case SLUICE_OPTION_LIST:
        snprintf(out, cap, "list%s%s%s", range[0] ? ", " : "", range,
                 range[0] ? " items" : "");
        return;
    default:
        snprintf(out, cap, "%s", sluice_option_type_name_(spec->type));
    }
}

void sluice_option_describe_default_(const sluice_option_spec *spec,
                                     char *out, size_t cap)
{
    if (spec->flags & SLUICE_OPTION_REQUIRED)
        snprintf(out, cap, "required");
    else if (spec->default_value)
        snprintf(out, cap, "%s", spec->default_value);
    else
        out[0] = '\0';
}

void sluice_option_error_format_(char *out, size_t cap, const char *source,
                                 int line, const char *sink, const char *key,
                                 const char *message)
{
    char where[64] = "";
    if (line > 0)
        snprintf(where, sizeof where, ":%d", line);
    if (key)
        snprintf(out, cap, "%s%s: sink '%s': option '%s': %s", source, where,
                 sink, key, message);
    else
        snprintf(out, cap, "%s%s: sink '%s': %s", source, where, sink,
                 message);
}

/* ---- parsing one value ------------------------------------------------- */

static char *keep(sluice_parsed_options *store, char *p)
{
    if (!p)
        return NULL;
    if (store->owned_count == store->owned_cap) {
        size_t cap = store->owned_cap ? store->owned_cap * 2 : 8;
        char **grown = realloc(store->owned, cap * sizeof *grown);
        if (!grown) {
            free(p);
            return NULL;
        }
        store->owned = grown;
        store->owned_cap = cap;
    }
    store->owned[store->owned_count++] = p;
    return p;
}

static int fail(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, WHY_MAX, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_range(const sluice_option_spec *spec, long long v,
                       const char *what, char *why)
{
    if (!has_range(spec) || (v >= spec->min && v <= spec->max))
        return 0;
    char range[80], shown[32];
    range_text(spec, range, sizeof range);
    amount(spec, v, shown, sizeof shown);
    if (what)
        return fail(why, "%lld %s, but %s are allowed", v, what, range);
    return fail(why, "%s is out of range %s", shown, range);
}

/* A host name or an IP literal: letters, digits, '.', '-', '_', ':' and '%'
 * (IPv6 scope), 1..253 of them; "[v6]" brackets removed. The host, or NULL
 * with why. */
static char *parse_host(const char *v, size_t n, char *why)
{
    if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
        v++;
        n -= 2;
        if (!memchr(v, ':', n)) {
            fail(why, "only an IPv6 address goes in brackets");
            return NULL;
        }
    }
    if (n == 0 || n > 253) {
        fail(why, "a host name or an IP address has 1 to 253 characters");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!isalnum(c) && !strchr(".-_:%", c)) {
            fail(why, "'%.*s' is not a host name or an IP address", (int)n, v);
            return NULL;
        }
    }
    return strndup(v, n);
}

static int parse_hostport(const char *v, sluice_value *out,
                          sluice_parsed_options *store, char *why)
{
    const char *colon;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close[1] != ':')
            return fail(why, "'%s' is not [IPV6]:PORT", v);
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon)
            return fail(why, "'%s' is not HOST:PORT (the port is missing)", v);
        if (memchr(v, ':', (size_t)(colon - v)))
            return fail(why, "'%s': write an IPv6 address in brackets, as in "
                             "[::1]:514", v);
    }
    long long port;
    if (sluice_int_parse(colon + 1, &port) != 0 || port < 1 || port > 65535)
        return fail(why, "'%s': the port '%s' is not a number in 1..65535", v,
                    colon + 1);
    char host_why[WHY_MAX];
    char *host = parse_host(v, (size_t)(colon - v), host_why);
    if (!host)
        return fail(why, "'%s': %s", v, host_why);
    out->string = keep(store, host);
    out->number = port;
    return out->string ? 0 : fail(why, "out of memory");
}

static int parse_list(const sluice_option_spec *spec, const char *v,
                      sluice_value *out, sluice_parsed_options *store,
                      char *why)
{
    size_t commas = 0;
    for (const char *p = v; *p; p++)
        commas += *p == ',';
    size_t n = commas + 1, len = strlen(v);
    /* the pointers, then one copy of the text cut into items */
    char *block = malloc((n + 1) * sizeof(char *) + len + 1);
    if (!keep(store, block))
        return fail(why, "out of memory");
    const char **items = (const char **)(void *)block;
    char *text = block + (n + 1) * sizeof(char *);
    memcpy(text, v, len + 1);
    size_t count = 0;
    for (char *p = text;;) {
        char *end = strchr(p, ',');
        if (end)
            *end = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        char *t = p + strlen(p);
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            *--t = '\0';
        if (!*p)
            return fail(why, "item %zu of '%s' is empty", count + 1, v);
        items[count++] = p;
        if (!end)
            break;
        p = end + 1;
    }
    items[count] = NULL;
    if (check_range(spec, (long long)count, count == 1 ? "item" : "items", why))
        return -1;
    out->items = items;
    out->number = (long long)count;
    out->string = v;
    return 0;
}

/* The folder of a file must exist and be writable; nothing is created. */
static int check_folder(const char *path, char *why)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return fail(why, "the folder '%s' of '%s' does not exist (it is "
                             "not created for you)", dir, path);
        return fail(why, "the folder '%s' of '%s': %s", dir, path,
                    strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return fail(why, "'%s' (in '%s') is not a folder", dir, path);
    if (access(dir, W_OK | X_OK) != 0)
        return fail(why, "the folder '%s' of '%s' is not writable: %s", dir,
                    path, strerror(errno));
    return 0;
}

static int parse_path(const sluice_option_spec *spec, const char *v,
                      const char *base_dir, parse_mode mode, sluice_value *out,
                      sluice_parsed_options *store, char *why)
{
    if (!v[0])
        return fail(why, "the path is empty");
    char *resolved;
    if (base_dir && v[0] != '/') {
        size_t n = strlen(base_dir) + strlen(v) + 2;
        resolved = malloc(n);
        if (resolved)
            snprintf(resolved, n, "%s/%s", base_dir, v);
    } else {
        resolved = strdup(v);
    }
    if (!keep(store, resolved))
        return fail(why, "out of memory");
    if (has_range(spec)) {
        long long n = (long long)strlen(resolved);
        if (n < spec->min || n > spec->max)
            return fail(why, "'%s' is %lld bytes long; %lld to %lld are allowed",
                        resolved, n, spec->min, spec->max);
    }
    if (spec->flags & SLUICE_OPTION_WRITABLE_DIR) {
        size_t n = strlen(resolved);
        if (resolved[n - 1] == '/')
            return fail(why, "'%s' names a folder, not a file", v);
        if (mode == PARSE_CONFIG && check_folder(resolved, why) != 0)
            return -1;
    }
    out->string = resolved;
    return 0;
}

static int parse_octal(const char *v, long long *out)
{
    if (!*v || strlen(v) > 21)
        return -1;
    long long x = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '7')
            return -1;
        x = x * 8 + (*p - '0');
    }
    *out = x;
    return 0;
}

/* Parse text as spec says into out. 0, or -1 with why. */
static int parse_value(const sluice_option_spec *spec, const char *text,
                       const char *base_dir, parse_mode mode,
                       sluice_value *out, sluice_parsed_options *store,
                       char *why)
{
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return fail(why, "the value contains a control character "
                             "(position %zu)", (size_t)(p - text) + 1);
    out->text = text;
    out->string = text;
    switch (spec->type) {
    case SLUICE_OPTION_STRING: {
        long long n = (long long)strlen(text);
        if (has_range(spec) && (n < spec->min || n > spec->max))
            return fail(why, spec->min == spec->max - 1
                                 ? "'%s' is %lld bytes long; %lld or %lld are "
                                   "allowed"
                                 : "'%s' is %lld bytes long; %lld to %lld are "
                                   "allowed",
                        text, n, spec->min, spec->max);
        if (spec->flags & SLUICE_OPTION_TOKEN)
            for (const char *p = text; *p; p++)
                if ((unsigned char)*p < 33 || (unsigned char)*p > 126)
                    return fail(why, "'%s' has a character not allowed here "
                                     "(position %zu): printable ASCII without "
                                     "spaces", text, (size_t)(p - text) + 1);
        return 0;
    }
    case SLUICE_OPTION_BOOL: {
        int b;
        if (sluice_bool_parse(text, &b) != 0)
            return fail(why, "'%s' is not a boolean (true or false)", text);
        out->number = b;
        return 0;
    }
    case SLUICE_OPTION_INT: {
        long long x;
        if (spec->flags & SLUICE_OPTION_OCTAL) {
            if (parse_octal(text, &x) != 0)
                return fail(why, "'%s' is not an octal number (digits 0 to 7, "
                                 "as in 0640)", text);
        } else if (sluice_int_parse(text, &x) != 0) {
            const char *d = text + (text[0] == '-');
            bool zeros = d[0] == '0' && d[1] >= '0' && d[1] <= '9';
            for (const char *p = d; zeros && *p; p++)
                zeros = *p >= '0' && *p <= '9';
            if (zeros)
                return fail(why, "'%s' is not a decimal integer: leading "
                                 "zeros are not allowed", text);
            return fail(why, "'%s' is not a decimal integer", text);
        }
        out->number = x;
        return check_range(spec, x, NULL, why);
    }
    case SLUICE_OPTION_SIZE:
        if (sluice_value_size_(text, &out->number) != 0)
            return fail(why, "'%s' is not a size (bytes, or with K, M, G or "
                             "T: 64K, 10M, 1G)", text);
        return check_range(spec, out->number, NULL, why);
    case SLUICE_OPTION_DURATION:
        if (sluice_value_duration_(text, &out->number) != 0)
            return fail(why, "'%s' is not a duration (250ms, 5s, 2m, 1h, 1d; "
                             "a bare number is milliseconds)", text);
        return check_range(spec, out->number, NULL, why);
    case SLUICE_OPTION_ENUM:
        for (size_t i = 0; spec->choices[i]; i++)
            if (strcasecmp(text, spec->choices[i]) == 0) {
                out->number = (long long)i;
                out->string = spec->choices[i];
                return 0;
            }
        {
            char words[400];
            choice_list(spec, words, sizeof words, false);
            return fail(why, "'%s' is not one of %s", text, words);
        }
    case SLUICE_OPTION_LIST:
        return parse_list(spec, text, out, store, why);
    case SLUICE_OPTION_PATH:
        return parse_path(spec, text, base_dir, mode, out, store, why);
    case SLUICE_OPTION_HOST: {
        char *host = parse_host(text, strlen(text), why);
        if (!host)
            return -1;
        out->string = keep(store, host);
        return out->string ? 0 : fail(why, "out of memory");
    }
    case SLUICE_OPTION_HOSTPORT:
        return parse_hostport(text, out, store, why);
    }
    return fail(why, "unknown option type %d", (int)spec->type);
}

/* ---- the table --------------------------------------------------------- */

int sluice_option_specs_check_(const sluice_option_spec *specs,
                               sluice_error *err)
{
    size_t n = 0;
    while (n < SLUICE_OPTION_SPECS_MAX && specs[n].name)
        n++;
    if (n == SLUICE_OPTION_SPECS_MAX)
        return sluice_error_set(err, "the option table has %d entries or "
                                     "more (is its last entry's name NULL?)",
                                SLUICE_OPTION_SPECS_MAX);
    for (size_t i = 0; i < n; i++) {
        const sluice_option_spec *spec = &specs[i];
        const char *name = spec->name;
        if (!name[0])
            return sluice_error_set(err, "option %zu has an empty name", i + 1);
        if (strcmp(name, "level") == 0)
            return sluice_error_set(err, "option 'level' is the runtime's (a "
                                         "sink's level): name yours "
                                         "otherwise");
        for (size_t j = 0; j < i; j++)
            if (strcmp(specs[j].name, name) == 0)
                return sluice_error_set(err, "option '%s' is declared twice",
                                        name);
        if (spec->type < SLUICE_OPTION_STRING || spec->type > SLUICE_OPTION_HOSTPORT)
            return sluice_error_set(err, "option '%s': unknown type %d", name,
                                    (int)spec->type);
        if (spec->flags & ~(unsigned)KNOWN_FLAGS)
            return sluice_error_set(err, "option '%s': unknown flags 0x%x",
                                    name, spec->flags & ~(unsigned)KNOWN_FLAGS);
        if (((spec->flags & SLUICE_OPTION_OCTAL) && spec->type != SLUICE_OPTION_INT) ||
            ((spec->flags & SLUICE_OPTION_WRITABLE_DIR) && spec->type != SLUICE_OPTION_PATH) ||
            ((spec->flags & SLUICE_OPTION_TOKEN) && spec->type != SLUICE_OPTION_STRING))
            return sluice_error_set(err, "option '%s': a flag that its type "
                                         "%s does not take", name,
                                    sluice_option_type_name_(spec->type));
        if (is_wildcard(name) &&
            (spec->type != SLUICE_OPTION_STRING || spec->default_value ||
             spec->flags))
            return sluice_error_set(err, "option '%s': a \"prefix.*\" entry is "
                                         "a string without default or flags",
                                    name);
        if (spec->type == SLUICE_OPTION_ENUM &&
            (!spec->choices || !spec->choices[0]))
            return sluice_error_set(err, "option '%s': an enum without choices",
                                    name);
        for (size_t c = 0; spec->type == SLUICE_OPTION_ENUM && spec->choices[c]; c++)
            if (!spec->choices[c][0])
                return sluice_error_set(err, "option '%s': an empty choice",
                                        name);
        if ((spec->flags & SLUICE_OPTION_REQUIRED) && spec->default_value)
            return sluice_error_set(err, "option '%s': required, yet it has a "
                                         "default", name);
        if (spec->default_value) {
            sluice_parsed_options scratch = {0};
            sluice_value v = {0};
            char why[WHY_MAX];
            int rc = parse_value(spec, spec->default_value, NULL,
                                 PARSE_DEFAULT_CHECK, &v, &scratch, why);
            sluice_parsed_options_free_(&scratch);
            if (rc != 0)
                return sluice_error_set(err, "option '%s': the default: %s",
                                        name, why);
        }
    }
    return 0;
}

/* ---- a section ----------------------------------------------------------- */

size_t sluice_options_parse_(const sluice_option_spec *specs,
                             const sluice_option *items, size_t count,
                             const char *base_dir, sluice_parsed_options *out,
                             sluice_option_error_fn on_error, void *user)
{
    memset(out, 0, sizeof *out);
    size_t n = sluice_option_spec_count_(specs);
    size_t errors = 0;
    out->values = calloc(n ? n : 1, sizeof *out->values);
    if (!out->values) {
        on_error(user, 0, NULL, "out of memory");
        return 1;
    }
    out->count = n;
    char why[WHY_MAX];
    for (size_t i = 0; i < n; i++) {
        const sluice_option_spec *spec = &specs[i];
        if (is_wildcard(spec->name))
            continue; /* their keys stay in items */
        sluice_value *v = &out->values[i];
        const sluice_option *given = NULL;
        for (size_t k = 0; k < count && !given; k++)
            if (strcmp(items[k].key, spec->name) == 0)
                given = &items[k];
        if (given) {
            if (parse_value(spec, given->value, base_dir, PARSE_CONFIG, v, out,
                            why) != 0) {
                on_error(user, given->line, spec->name, why);
                errors++;
                memset(v, 0, sizeof *v); /* absent, not half parsed */
                continue;
            }
            v->line = given->line;
            v->given = 1;
        } else if (spec->flags & SLUICE_OPTION_REQUIRED) {
            on_error(user, 0, spec->name, "is required");
            errors++;
        } else if (spec->default_value) {
            if (parse_value(spec, spec->default_value, base_dir, PARSE_CONFIG,
                            v, out, why) != 0) {
                /* only a PATH's folder can fail here */
                on_error(user, 0, spec->name, why);
                errors++;
                memset(v, 0, sizeof *v);
            }
        }
    }
    return errors;
}

void sluice_parsed_options_free_(sluice_parsed_options *p)
{
    for (size_t i = 0; i < p->owned_count; i++)
        free(p->owned[i]);
    free(p->owned);
    free(p->values);
    memset(p, 0, sizeof *p);
}
