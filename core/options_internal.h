/*
 * options_internal.h -- typed plugin options (options.c): a version-2
 * plugin's table of sluice_option_spec checked once when it is loaded, the
 * keys of a [sink.NAME] section parsed into sluice_value's against it, and
 * the table described for `sluice plugins NAME` and the generated docs.
 * Knows nothing of INI syntax, of the builder's key store or of sinks'
 * instances.
 */
#ifndef SLUICE_OPTIONS_INTERNAL_H
#define SLUICE_OPTIONS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <sluice/sink.h>

/* A table is cut off here: one that long has lost its terminating entry. */
#define SLUICE_OPTION_SPECS_MAX 256

/* Is the table well formed (names, types, ranges, choices, defaults that
 * parse)? 0, or -1 with err "option 'NAME': why". */
int sluice_option_specs_check_(const sluice_option_spec *specs,
                               sluice_error *err);
/* The entry of the table that accepts key (its own name, or a "prefix.*"
 * entry), or NULL. */
const sluice_option_spec *sluice_option_spec_find_(const sluice_option_spec *specs,
                                                   const char *key);
size_t sluice_option_spec_count_(const sluice_option_spec *specs);

/* One sink's parsed values, and the memory they point into. */
typedef struct sluice_parsed_options {
    sluice_value *values;      /* one per entry of the table */
    size_t count;
    char **owned;              /* strings and arrays made while parsing */
    size_t owned_count, owned_cap;
} sluice_parsed_options;

/* Called once per mistake: line (0: none known; the caller may use the
 * section's), the key, and what is wrong with its value. */
typedef void (*sluice_option_error_fn)(void *user, int line, const char *key,
                                       const char *message);

/* Parse items[0..count) (the section's plugin keys, in file order) against
 * specs into out, defaults applied, relative paths resolved against
 * base_dir (NULL: left as they are). Every mistake goes to on_error; the
 * number of mistakes is returned. A key the table does not have is the
 * caller's to refuse. out must be freed in every case. */
size_t sluice_options_parse_(const sluice_option_spec *specs,
                             const sluice_option *items, size_t count,
                             const char *base_dir, sluice_parsed_options *out,
                             sluice_option_error_fn on_error, void *user);
void sluice_parsed_options_free_(sluice_parsed_options *p);

/* The one shape of a mistake in a plugin's options, whoever found it:
 * "SOURCE:LINE: sink 'NAME': option 'KEY': MESSAGE" (no ":LINE" when line
 * is 0, no option part when key is NULL). */
void sluice_option_error_format_(char *out, size_t cap, const char *source,
                                 int line, const char *sink, const char *key,
                                 const char *message);

/* "int 1..65535", "duration 1ms..10m", "one of udp, tcp, unix", ... for one
 * entry; markdown puts the words in backquotes. */
void sluice_option_describe_type_(const sluice_option_spec *spec, char *out,
                                  size_t cap, bool markdown);
/* The default as shown ("0640", "required", "" when none). */
void sluice_option_describe_default_(const sluice_option_spec *spec,
                                     char *out, size_t cap);
/* The name of a type: "string", "int", "host:port", ... */
const char *sluice_option_type_name_(sluice_option_type type);

#endif
