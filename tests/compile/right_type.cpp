/* Must compile cleanly with -Werror: the control for wrong_type.cpp, and
 * every macro form with every accepted C++ argument type (no_guard.sh
 * also checks that none of these call sites needs a guard variable). */
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <string>

#include <sluice/sluice.h>

enum colour { RED, GREEN };

struct flags {
    unsigned small : 3;
    int signed_bits : 5;
};

void f(sluice_logger *lg, const std::string &name, flags bits);
void f(sluice_logger *lg, const std::string &name, flags bits)
{
    unsigned long u = 3;
    char buf[8] = "abc";
    const char *none = nullptr;
    volatile int v = 4;
    colour c = GREEN;
    SLUICE_INFO(lg, "count %d of %lu %s %.2f %p", 1, u, "x", 2.5, static_cast<void *>(lg));
    SLUICE_INFO_KV(lg, SLUICE_KV({"k", "v"}), "with fields %d", 1);
    SLUICE_TRACE(lg, "no arguments");
    SLUICE_DEBUG(lg, "%d %hhd %hhu %hd %hu %u %ld %lld %llu", true, static_cast<signed char>(-1),
                 static_cast<unsigned char>(1), static_cast<short>(2),
                 static_cast<unsigned short>(3), 4u, 5l, 6ll, 7ull);
    SLUICE_WARN(lg, "%c %d %u %f %f", 'x', c, bits.small, 1.5f, 2.5);
    SLUICE_ERROR(lg, "%d %d %zu %td", bits.signed_bits, v, sizeof buf, std::ptrdiff_t{-1});
    SLUICE_FATAL(lg, "%s %s %s %s %p %p", name, buf, none, std::string("temp"), nullptr,
                 static_cast<const void *>(buf));
    SLUICE_LOG(lg, SLUICE_LEVEL_INFO, "%" PRIu64 " %" PRId32, uint64_t{1}, int32_t{-2});
    SLUICE_LOG(lg, 2, "level given as an int %d", 1);
    SLUICE_TRACE_KV(lg, SLUICE_KV(), "no fields, no arguments");
    SLUICE_DEBUG_KV(lg, SLUICE_KV({"user", name.c_str()}, {"a", "b"}), "%s", name);
    sluice_kv fields[2] = {{"a", "1"}, {"b", "2"}};
    SLUICE_WARN_KV(lg, (fields, 2), "%d %d %d %d", 1, 2, 3, 4);
    SLUICE_ERROR_KV(lg, SLUICE_KV({"k", "v"}), "%lu %lu %lu", u, u, u);
    SLUICE_FATAL_KV(lg, SLUICE_KV({"k", "v"}), "%p", nullptr);
    SLUICE_LOG_KV(lg, SLUICE_LEVEL_WARN, SLUICE_KV({"k", "v"}), "%c", buf[0]);
    auto in_lambda = [lg](int x) { SLUICE_INFO(lg, "in a lambda %d", x); };
    in_lambda(1);
}

template <class T> void g(sluice_logger *lg, T value)
{
    SLUICE_INFO(lg, "in a template %d", value);
}
template void g<int>(sluice_logger *, int);

inline void h(sluice_logger *lg) { SLUICE_INFO(lg, "in an inline function %d", 1); }
void call_h(sluice_logger *lg);
void call_h(sluice_logger *lg) { h(lg); }
