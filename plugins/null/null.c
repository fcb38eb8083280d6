/*
 * null.c -- the null sink: accepts every record and writes nothing.
 * Useful to measure the runtime alone, and as the smallest plugin there is.
 */
#include <sluice/sink.h>

static const sluice_option_spec null_options[] = {{0}}; /* none */

static int null_open(const sluice_options *opts, void **state, sluice_error *err)
{
    (void)opts;
    (void)err;
    *state = NULL;
    return 0;
}

static int null_write(void *state, const sluice_record *const *batch, size_t n,
                      size_t *written, sluice_error *err)
{
    (void)state;
    (void)batch;
    (void)err;
    *written = n;
    return 0;
}

static void null_close(void *state) { (void)state; }

static const sluice_sink_api null_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "null",
    .description = "discards every record (for measuring the runtime)",
    .open = null_open,
    .write = null_write,
    .close = null_close,
    .options = null_options,
    .flags = SLUICE_SINK_NO_LINE, /* it reads nothing */
};

const sluice_sink_api *sluice_sink_entry(void) { return &null_api; }
