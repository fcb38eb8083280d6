/*
 * fuzz_config.c -- libFuzzer target: any text through the INI loader and
 * the whole validation (sections, core keys, a plugin's typed options of
 * every type, its check() reporting through the host), as `sluice check`
 * runs it, with no sink opened and no plugin file loaded. It must never
 * crash, leak or hang, and every error it reports names the source.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/sluice.h>

#include "config_internal.h"

static const char *const fz_choices[] = {"one", "two", "three", NULL};

static const sluice_option_spec fz_options[] = {
    {.name = "s", .type = SLUICE_OPTION_STRING, .default_value = "x",
     .min = 1, .max = 16},
    {.name = "t", .type = SLUICE_OPTION_STRING, .flags = SLUICE_OPTION_TOKEN},
    {.name = "b", .type = SLUICE_OPTION_BOOL, .default_value = "no"},
    {.name = "i", .type = SLUICE_OPTION_INT, .default_value = "0",
     .min = -1000, .max = 1000},
    {.name = "o", .type = SLUICE_OPTION_INT, .default_value = "0640",
     .min = 0, .max = 07777, .flags = SLUICE_OPTION_OCTAL},
    {.name = "z", .type = SLUICE_OPTION_SIZE, .default_value = "1M",
     .min = 0, .max = 1LL << 40},
    {.name = "d", .type = SLUICE_OPTION_DURATION, .default_value = "1s",
     .min = 0, .max = 86400000},
    {.name = "e", .type = SLUICE_OPTION_ENUM, .default_value = "one",
     .choices = fz_choices},
    {.name = "l", .type = SLUICE_OPTION_LIST, .min = 1, .max = 8},
    {.name = "p", .type = SLUICE_OPTION_PATH},
    {.name = "w", .type = SLUICE_OPTION_PATH, .flags = SLUICE_OPTION_WRITABLE_DIR},
    {.name = "h", .type = SLUICE_OPTION_HOST},
    {.name = "a", .type = SLUICE_OPTION_HOSTPORT},
    {.name = "r", .type = SLUICE_OPTION_STRING, .flags = SLUICE_OPTION_REQUIRED},
    {.name = "x.*", .type = SLUICE_OPTION_STRING},
    {0}};

/* Rules across options, reported one by one, and every value read back. */
static int fz_check(const sluice_options *o, sluice_error *err)
{
    int bad = 0;
    const char *const *items;
    size_t n = sluice_options_get_list(o, "l", &items);
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i], "bad") == 0)
            bad |= sluice_options_report(o, "l", err, "item %zu is bad", i);
    if (sluice_options_get_int(o, "i") == 13)
        bad |= sluice_options_report(o, "i", err, "unlucky");
    const char *s = sluice_options_get_string(o, "a");
    if (s && sluice_options_get_int(o, "a") == 1)
        bad |= sluice_options_report(o, NULL, err, "port 1 on %s", s);
    for (size_t i = 0; i < o->count; i++)
        if (strncmp(o->items[i].key, "x.", 2) == 0 && !o->items[i].value[0])
            bad |= sluice_options_report(o, o->items[i].key, err, "empty");
    return bad ? -1 : 0;
}

static int fz_open(const sluice_options *o, void **state, sluice_error *err)
{
    (void)o;
    (void)err;
    *state = NULL;
    return 0;
}

static int fz_write(void *state, const sluice_record *const *batch, size_t n,
                    size_t *written, sluice_error *err)
{
    (void)state;
    (void)batch;
    (void)err;
    *written = n;
    return 0;
}

static void fz_close(void *state) { (void)state; }

static const sluice_sink_api fz_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "fz",
    .open = fz_open,
    .write = fz_write,
    .close = fz_close,
    .check = fz_check,
    .options = fz_options,
};

/* A version-1 table too: names only. */
static const char *const old_names[] = {"path", "prefix.*", NULL};
static const sluice_sink_api old_api = {
    .abi_version = 1,
    .struct_size = sizeof(sluice_sink_api),
    .name = "old",
    .option_names = old_names,
    .open = fz_open,
    .write = fz_write,
    .close = fz_close,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    sluice_error err;
    sluice_builder *b = sluice_config_load_string(text, &err);
    free(text);
    if (!b)
        return 0;
    sluice_builder_host_sinks_only_(b);
    if (sluice_builder_add_sink_api(b, &fz_api, &err) != 0 ||
        sluice_builder_add_sink_api(b, &old_api, &err) != 0)
        abort(); /* the tables above are valid */
    size_t n = sluice_builder_check_(b);
    for (size_t i = 0; i < n; i++) {
        const char *e = sluice_builder_error_at_(b, i);
        if (!e || strncmp(e, "<string>", 8) != 0) {
            fprintf(stderr, "an error without its source: %s\n", e ? e : "(null)");
            abort();
        }
    }
    sluice_builder_free(b);
    return 0;
}
