/* A plugin whose table claims to be smaller than ABI 1 needs. */
#include <sluice/sink.h>
static int o(const sluice_options *a, void **s, sluice_error *e) { (void)a; (void)s; (void)e; return 0; }
static int w(void *s, const sluice_record *const *b, size_t n, size_t *wr, sluice_error *e) { (void)s; (void)b; (void)e; *wr = n; return 0; }
static void c(void *s) { (void)s; }
static const sluice_sink_api api = {
    .abi_version = SLUICE_SINK_ABI_VERSION, .struct_size = 16, .name = "too_small",
    .open = o, .write = w, .close = c};
const sluice_sink_api *sluice_sink_entry(void) { return &api; }
