/* Must compile cleanly: C++ hosts often include a C library's header
 * inside extern "C" { }; the C++ half of sluice.h keeps C++ linkage. */
#include <string>

extern "C" {
#include <sluice/sluice.h>
}

void f(sluice_logger *lg, const std::string &s);
void f(sluice_logger *lg, const std::string &s)
{
    SLUICE_INFO(lg, "%s %d", s, 1);
    SLUICE_INFO_KV(lg, SLUICE_KV({"k", "v"}), "fields %u", 2u);
}
