/*
 * twin_calls.h -- one list of logging calls compiled twice, as C
 * (tests/cxx_twin.c) and as C++ (tests/test_cxx.cpp), so that the C++
 * suite can hold what the C++ macros produce against what the C macros
 * produce for the very same source text: each call site's type codes,
 * sizes, format and line, and each rendered message. Only argument types
 * the two languages share; the C++-only ones are tested in test_cxx.cpp.
 * Define TWIN_CALLS to the function's name before including it. Each
 * call stays on one line: compilers disagree on the __LINE__ of a macro
 * call spanning lines, and the C half may be built by another compiler.
 */
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/sluice.h>

enum twin_colour { TWIN_RED, TWIN_GREEN };

void TWIN_CALLS(sluice_logger *lg);
void TWIN_CALLS(sluice_logger *lg)
{
    bool yes = true;
    char ch = 'q';
    signed char sc = -5;
    unsigned char uc = 250;
    short sh = -300;
    unsigned short us = 65000;
    int i = -123456;
    unsigned u = 4000000000u;
    long l = -9000000000L;
    unsigned long ul = 18000000000000000000ul;
    long long ll = LLONG_MIN;
    unsigned long long ull = ULLONG_MAX;
    int8_t i8 = -8;
    uint16_t u16 = 16;
    int32_t i32 = -32;
    uint64_t u64 = 64;
    size_t sz = 77;
    ptrdiff_t pd = -88;
    intptr_t ip = -99;
    wchar_t wc = L'w';
    float f = 1.25f;
    double d = -2.5e-3;
    const char *cs = "const";
    char buf[] = "array";
    char *ms = buf;
    const char *nul = NULL;
    void *p = (void *)(uintptr_t)0x1234;
    const int *cp = (const int *)(uintptr_t)0x5678;
    enum twin_colour colour = TWIN_GREEN;

    SLUICE_INFO(lg, "no arguments");
    SLUICE_INFO(lg, "bool %d, char %c %d", yes, ch, ch);
    SLUICE_INFO(lg, "%hhd %hhu %hd %hu", sc, uc, sh, us);
    SLUICE_INFO(lg, "%d %u %ld %lu", i, u, l, ul);
    SLUICE_INFO(lg, "%lld %llu", ll, ull);
    SLUICE_INFO(lg, "%" PRId8 " %" PRIu16 " %" PRId32 " %" PRIu64, i8, u16, i32, u64);
    SLUICE_INFO(lg, "%zu %td %" PRIdPTR " %d", sz, pd, ip, wc);
    SLUICE_INFO(lg, "%f %.3e %g %a", f, d, d, d);
    SLUICE_INFO(lg, "%s %s %s %s", cs, buf, ms, nul);
    SLUICE_INFO(lg, "%p %p %p", p, cp, (void *)0);
    SLUICE_INFO(lg, "colour %u %d", colour, colour);
    SLUICE_INFO(lg, "one %d", i);
    SLUICE_INFO(lg, "one %s", cs);
    SLUICE_INFO(lg, "two %lu %s", ul, cs);
    SLUICE_WARN(lg, "[%5d|%-6s|%08.3f|%x|%#o|%+.2e]", -42, cs, 3.14159, 255u, 8u, 12345.678);
    SLUICE_ERROR(lg, "%d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23);
    SLUICE_FATAL(lg, "%s=%d %s=%f %s=%p", "a", 1, "b", 2.5, "c", p);
    SLUICE_DEBUG(lg, "%c%c", 'o', 'k');
    SLUICE_TRACE(lg, "trace %u", u);
    SLUICE_LOG(lg, SLUICE_LEVEL_DEBUG, "%%%d%%", 50);
    SLUICE_TRACE_KV(lg, SLUICE_KV({"k", "v"}), "kv, no arguments");
    SLUICE_DEBUG_KV(lg, SLUICE_KV({"user", cs}, {"n", "2"}), "kv %d %s", i, buf);
    SLUICE_INFO_KV(lg, SLUICE_KV({"a", "1"}), "kv %f %p", d, p);
    SLUICE_WARN_KV(lg, SLUICE_KV({"a", "1"}, {"b", "2"}, {"c", "3"}), "kv %d %d %d %d", 1, 2, 3, 4);
    SLUICE_ERROR_KV(lg, SLUICE_KV({"none", nul ? nul : "-"}), "kv %s", nul);
    SLUICE_FATAL_KV(lg, SLUICE_KV({"x", "y"}), "kv %llu", ull);
    SLUICE_LOG_KV(lg, SLUICE_LEVEL_INFO, SLUICE_KV({"lvl", "info"}), "kv %hhu", uc);
}
