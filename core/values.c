/*
 * values.c -- parsers of single configuration values: decimal integers
 * (no leading zeros, no trailing junk), sizes (10M), durations (5s),
 * booleans, levels, MIN..MAX ranges, restart intensities, comma-separated
 * lists. Each says only whether the text is well formed; the caller names
 * the key and line. Knows nothing of sinks, loggers or queues.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "builder_internal.h"

int sluice_value_ll_(const char *v, long long *out)
{
    return sluice_int_parse(v, out);
}

/* The leading decimal digits of v as a non-negative number (no leading
 * zero but 0 itself); *rest points after them. 0, or -1. */
static int leading_number(const char *v, long long *out, const char **rest)
{
    const char *p = v;
    while (*p >= '0' && *p <= '9')
        p++;
    size_t n = (size_t)(p - v);
    char digits[24];
    if (n == 0 || n >= sizeof digits)
        return -1;
    memcpy(digits, v, n);
    digits[n] = '\0';
    if (sluice_int_parse(digits, out) != 0)
        return -1;
    *rest = p;
    return 0;
}

int sluice_value_size_(const char *v, long long *out)
{
    static const struct {
        const char *suffix;
        int shift;
    } units[] = {
        {"", 0},     {"b", 0},    {"k", 10},   {"kb", 10},  {"kib", 10},
        {"m", 20},   {"mb", 20},  {"mib", 20}, {"g", 30},   {"gb", 30},
        {"gib", 30}, {"t", 40},   {"tb", 40},  {"tib", 40},
    };
    long long x;
    const char *rest;
    if (leading_number(v, &x, &rest) != 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(rest, units[i].suffix) != 0)
            continue;
        if (x > (LLONG_MAX >> units[i].shift))
            return -1;
        *out = x << units[i].shift;
        return 0;
    }
    return -1;
}

int sluice_value_duration_(const char *v, long long *ms)
{
    static const struct {
        const char *unit;
        long long ms;
    } units[] = {
        {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
        {"d", 86400000},
    };
    long long x;
    const char *rest;
    if (leading_number(v, &x, &rest) != 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(rest, units[i].unit) != 0)
            continue;
        if (x > LLONG_MAX / units[i].ms)
            return -1;
        *ms = x * units[i].ms;
        return 0;
    }
    return -1;
}

int sluice_value_int_key_(sluice_builder *b, const bsection *s,
                          const char *key, long long def, long long min,
                          long long max, long long *out)
{
    const bkey *k = sluice_section_key_(s, key);
    if (!k) {
        *out = def;
        return 0;
    }
    long long x;
    if (sluice_value_ll_(k->value, &x) != 0) {
        sluice_builder_error_(b, k->line, "[%s] %s: '%s' is not an integer",
                              s->name, key, k->value);
        return -1;
    }
    if (x < min || x > max) {
        sluice_builder_error_(b, k->line,
                              "[%s] %s: %lld is out of range %lld..%lld",
                              s->name, key, x, min, max);
        return -1;
    }
    *out = x;
    return 0;
}

int sluice_value_bool_(const char *v, bool *out)
{
    int b;
    if (sluice_bool_parse(v, &b) != 0)
        return -1;
    *out = b != 0;
    return 0;
}

int sluice_level_parse(const char *name, sluice_level *out)
{
    static const struct {
        const char *name;
        sluice_level level;
    } names[] = {
        {"trace", SLUICE_LEVEL_TRACE}, {"debug", SLUICE_LEVEL_DEBUG},
        {"info", SLUICE_LEVEL_INFO},   {"warn", SLUICE_LEVEL_WARN},
        {"warning", SLUICE_LEVEL_WARN}, {"error", SLUICE_LEVEL_ERROR},
        {"err", SLUICE_LEVEL_ERROR},   {"fatal", SLUICE_LEVEL_FATAL},
        {"critical", SLUICE_LEVEL_FATAL}, {"off", SLUICE_LEVEL_OFF},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

int sluice_value_range_(const char *v, long long *lo, long long *hi)
{
    const char *dots = strstr(v, "..");
    if (!dots) {
        if (sluice_value_ll_(v, lo) != 0)
            return -1;
        *hi = *lo;
        return 0;
    }
    char a[32];
    size_t n = (size_t)(dots - v);
    if (n == 0 || n >= sizeof a)
        return -1;
    memcpy(a, v, n);
    a[n] = '\0';
    return (sluice_value_ll_(a, lo) == 0 && sluice_value_ll_(dots + 2, hi) == 0) ? 0 : -1;
}

int sluice_value_intensity_(const char *v, long long *n, long long *period_ms)
{
    if (strcmp(v, "unlimited") == 0) {
        *n = 0;
        *period_ms = 0;
        return 0;
    }
    const char *slash = strchr(v, '/');
    if (!slash)
        return -1;
    char a[32];
    size_t len = (size_t)(slash - v);
    if (len == 0 || len >= sizeof a)
        return -1;
    memcpy(a, v, len);
    a[len] = '\0';
    if (sluice_value_ll_(a, n) != 0 || *n < 1 || *n > 100000)
        return -1;
    char *end = NULL;
    errno = 0;
    long long p = strtoll(slash + 1, &end, 10);
    if (errno || end == slash + 1 || p < 1)
        return -1;
    long long mult;
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    if (p > INT_MAX / mult)
        return -1;
    *period_ms = p * mult;
    return 0;
}

bool sluice_value_in_list_(const char *const *list, const char *key)
{
    for (; list && *list; list++) {
        size_t n = strlen(*list);
        if (n >= 2 && strcmp(*list + n - 2, ".*") == 0) {
            if (strncmp(key, *list, n - 1) == 0 && key[n - 1])
                return 1; /* "prefix.*" accepts prefix.anything */
        } else if (strcmp(*list, key) == 0) {
            return 1;
        }
    }
    return 0;
}

void sluice_value_list_names_(char *out, size_t cap, const char *const *a,
                              const char *const *b)
{
    size_t used = 0;
    out[0] = '\0';
    for (int pass = 0; pass < 2; pass++)
        for (const char *const *p = pass ? b : a; p && *p; p++) {
            int w = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", *p);
            if (w < 0 || (size_t)w >= cap - used)
                return;
            used += (size_t)w;
        }
}

size_t sluice_value_list_(const char *v, char names[][128], size_t max)
{
    size_t n = 0;
    const char *p = v;
    while (*p && n < max) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        size_t len = (size_t)(t - p);
        if (len >= 128)
            len = 127;
        memcpy(names[n], p, len);
        names[n][len] = '\0';
        n++;
        p = e;
    }
    return n;
}
