/* Must NOT compile: types the deferred macros cannot encode are refused by
 * a static_assert that says why ("sluice: ..."), never encoded as
 * something else. */
#include <string_view>
#include <vector>

#include <sluice/sluice.h>

enum class scoped { A };
struct point {
    int x, y;
};

void f(sluice_logger *lg, std::string_view view, long double wide, scoped s,
       point p, std::vector<int> v, int point::*member);
void f(sluice_logger *lg, std::string_view view, long double wide, scoped s,
       point p, std::vector<int> v, int point::*member)
{
    SLUICE_INFO(lg, "%s", view);
    SLUICE_INFO(lg, "%Lf", wide);
    SLUICE_INFO(lg, "%d", s);
    SLUICE_INFO(lg, "%p", p);
    SLUICE_INFO(lg, "%p", v);
    SLUICE_INFO(lg, "%p", member);
}
