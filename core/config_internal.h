/*
 * config_internal.h -- what the CLI and the runtime need beyond the public
 * builder API: the INI loader and the list of collected errors.
 */
#ifndef SLUICE_CONFIG_INTERNAL_H
#define SLUICE_CONFIG_INTERNAL_H

#include <stddef.h>

#include <sluice/sluice.h>

/* Parse an INI file (or text) into a new builder. Returns NULL only when out
 * of memory or the file cannot be read (err says why); syntax errors are
 * collected in the builder with their line numbers. */
sluice_builder *sluice_config_load_file(const char *path, sluice_error *err);
sluice_builder *sluice_config_load_string(const char *text, sluice_error *err);

/* Let `plugin =` name only sinks registered with sluice_builder_add_sink_api:
 * no plugin file is loaded (for the fuzzer, which feeds it any text). */
void sluice_builder_host_sinks_only_(sluice_builder *b);
/* Set the directory that relative plugin paths are resolved against. */
void sluice_builder_set_base_dir_(sluice_builder *b, const char *dir);
/* Record an error "SOURCE:LINE: message" (line 0: "SOURCE: message"). */
void sluice_builder_error_(sluice_builder *b, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Validate everything without opening sinks or starting threads: loads the
 * plugins, checks option names and (where the plugin can) option values.
 * Returns the number of errors collected so far. */
size_t sluice_builder_check_(sluice_builder *b);
size_t sluice_builder_error_count_(const sluice_builder *b);
const char *sluice_builder_error_at_(const sluice_builder *b, size_t i);

#endif
