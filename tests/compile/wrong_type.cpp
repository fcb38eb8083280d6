/* Must NOT compile with -Werror=format: %d given a string, from C++. */
#include <sluice/sluice.h>

void f(sluice_logger *lg);
void f(sluice_logger *lg)
{
    SLUICE_INFO(lg, "count %d", "not a number");
}
