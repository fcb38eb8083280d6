/*
 * format_internal.h -- renders a decoded record as one line of text, JSON
 * or logfmt, escaping controls (C0, DEL, C1, U+2028/2029) and invalid UTF-8
 * so that no record can forge a second line or break a JSON document, and
 * merging fields so that none can pass for one of the record's members or
 * appear twice. Knows nothing of queues or sinks.
 */
#ifndef SLUICE_FORMAT_INTERNAL_H
#define SLUICE_FORMAT_INTERNAL_H

#include <stdint.h>

#include <sluice/sink.h>

#include "buf_internal.h"

typedef enum sluice_format_kind {
    SLUICE_FORMAT_TEXT = 0,
    SLUICE_FORMAT_JSON,
    SLUICE_FORMAT_LOGFMT
} sluice_format_kind;

#define SLUICE_DEFAULT_PATTERN "%t %L [%n] %m%f"

#define SLUICE_PATTERN_OPS_MAX 48

/* A pattern compiled once: literal runs and directives. */
typedef struct sluice_pattern_op {
    char directive;            /* 't', 'l', ...; 0 for a literal run */
    unsigned short offset;     /* literal: where in the pattern */
    unsigned short length;
} sluice_pattern_op;

typedef struct sluice_format {
    sluice_format_kind kind;
    const char *pattern;       /* text only; owned elsewhere; NULL: default */
    sluice_pattern_op ops[SLUICE_PATTERN_OPS_MAX];
    unsigned op_count;
} sluice_format;

/* Compile f->pattern (or the default) for rendering. 0, or -1 with err. */
int sluice_format_compile(sluice_format *f, sluice_error *err);

/* Per-thread cache of the date part of the last second rendered. */
typedef struct sluice_time_cache {
    int64_t second;
    char text[24];             /* "YYYY-MM-DDTHH:MM:SS" */
} sluice_time_cache;

void sluice_time_cache_init(sluice_time_cache *tc);

/* "text", "json", "logfmt": 0 and *out set, or -1. */
int sluice_format_parse(const char *name, sluice_format_kind *out);
/* A pattern's directives are all known: 0, or -1 with err naming the bad one. */
int sluice_pattern_check(const char *pattern, sluice_error *err);

/* Append the line for r (ending in '\n') to out. */
void sluice_format_render(sluice_buf *out, const sluice_format *f,
                          const sluice_record *r, sluice_time_cache *tc);

/* Escapers, shared with anyone who writes untrusted text (the forms are in
 * docs/configuration.md). text: for a line of text; logfmt: a value, quoted
 * when it must be; json: the inside of a JSON string, always valid UTF-8. */
void sluice_escape_text(sluice_buf *out, const char *s, size_t n);
void sluice_escape_json(sluice_buf *out, const char *s, size_t n);
void sluice_escape_logfmt(sluice_buf *out, const char *s, size_t n);
/* RFC 3339 UTC with microseconds: 2026-11-23T18:25:11.123456Z. Takes no
 * lock and allocates nothing (no gmtime_r): safe in a signal handler. */
void sluice_format_time(sluice_buf *out, int64_t time_ns, sluice_time_cache *tc);

/* Rendering on a thread that must not allocate (the crash path): with a
 * fixed sluice_buf, sluice_format_render allocates nothing except to merge
 * the repeated keys of a record with more than 16 fields, for which it
 * then uses mem[0..words) instead (the calling thread's only; NULL, 0
 * goes back to malloc). A record needing more than that is rendered with
 * every field, repeats included. words for up to n fields:
 * sluice_format_plan_words_(n). */
void sluice_format_plan_arena_(size_t *mem, size_t words);
size_t sluice_format_plan_words_(size_t fields);

#endif
