/* A plugin that lacks its write entry point. */
#include <sluice/sink.h>
static int o(const sluice_options *a, void **s, sluice_error *e) { (void)a; (void)s; (void)e; return 0; }
static void c(void *s) { (void)s; }
static const sluice_sink_api api = {
    .abi_version = SLUICE_SINK_ABI_VERSION, .struct_size = sizeof(sluice_sink_api), .name = "no_write",
    .open = o, .close = c};
const sluice_sink_api *sluice_sink_entry(void) { return &api; }
