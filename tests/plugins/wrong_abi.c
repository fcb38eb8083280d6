/* A plugin built for an ABI version this runtime does not speak. */
#include <sluice/sink.h>
static int o(const sluice_options *a, void **s, sluice_error *e) { (void)a; (void)s; (void)e; return 0; }
static int w(void *s, const sluice_record *const *b, size_t n, size_t *wr, sluice_error *e) { (void)s; (void)b; (void)e; *wr = n; return 0; }
static void c(void *s) { (void)s; }
static const sluice_sink_api api = {
    .abi_version = 99, .struct_size = sizeof(sluice_sink_api), .name = "wrong_abi",
    .open = o, .write = w, .close = c};
const sluice_sink_api *sluice_sink_entry(void) { return &api; }
