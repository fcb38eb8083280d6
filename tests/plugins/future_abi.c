/* A plugin built for an ABI version newer than the runtime knows: its
 * table is larger than ours and its version is ours + 1. */
#include <sluice/sink.h>
static int o(const sluice_options *a, void **s, sluice_error *e) { (void)a; (void)s; (void)e; return 0; }
static int w(void *s, const sluice_record *const *b, size_t n, size_t *wr, sluice_error *e) { (void)s; (void)b; (void)e; *wr = n; return 0; }
static void c(void *s) { (void)s; }
static const struct {
    sluice_sink_api known;
    void *added_later[4];
} api = {{.abi_version = SLUICE_SINK_ABI_VERSION + 1,
          .struct_size = sizeof(sluice_sink_api) + 4 * sizeof(void *),
          .name = "future_abi", .open = o, .write = w, .close = c},
         {0}};
const sluice_sink_api *sluice_sink_entry(void) { return &api.known; }
