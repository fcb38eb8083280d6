/* Must compile cleanly with -Werror: the control for wrong_type.c. */
#include <sluice/sluice.h>

void f(sluice_logger *lg);
void f(sluice_logger *lg)
{
    unsigned long u = 3;
    SLUICE_INFO(lg, "count %d of %lu %s %.2f %p", 1, u, "x", 2.5, (void *)lg);
    SLUICE_INFO_KV(lg, SLUICE_KV({"k", "v"}), "with fields %d", 1);
}
