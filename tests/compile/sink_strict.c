/* sluice/sink.h in strict ISO C11 without any feature-test macro: the
 * header compiles (its SIGPIPE helpers, which need POSIX, are left out). */
#include <sluice/sink.h>

int plugin_option_count(const sluice_options *o);
int plugin_option_count(const sluice_options *o)
{
    return o && sluice_options_find(o, "path") ? 1 : 0;
}
