/* A plugin that declares ABI 2 but whose table ends where version 1's did:
 * it lacks the members version 2 defines. */
#include <stddef.h>
#include <sluice/sink.h>
static int o(const sluice_options *a, void **s, sluice_error *e) { (void)a; (void)s; (void)e; return 0; }
static int w(void *s, const sluice_record *const *b, size_t n, size_t *wr, sluice_error *e) { (void)s; (void)b; (void)e; *wr = n; return 0; }
static void c(void *s) { (void)s; }
static const sluice_sink_api api = {
    .abi_version = 2, .struct_size = offsetof(sluice_sink_api, options),
    .name = "too_small_v2", .open = o, .write = w, .close = c};
const sluice_sink_api *sluice_sink_entry(void) { return &api; }
