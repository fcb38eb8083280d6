/* Must NOT compile with -Werror=format: %d given a std::string (checked as
 * the const char * that is copied). */
#include <string>

#include <sluice/sluice.h>

void f(sluice_logger *lg, const std::string &s);
void f(sluice_logger *lg, const std::string &s)
{
    SLUICE_WARN_KV(lg, SLUICE_KV({"k", "v"}), "count %d", s);
}
