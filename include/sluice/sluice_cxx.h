/*
 * sluice/sluice_cxx.h -- the C++ half of the deferred logging macros
 * (SLUICE_TRACE..SLUICE_FATAL, SLUICE_LOG, the _KV forms, SLUICE_KV), for
 * C++17 and later. sluice.h includes it when compiled as C++; it owns only
 * what C does with _Generic and compound literals: the type code and the
 * 8-byte encoding of each argument, the per-call-site descriptor, and the
 * choice of entry point. It funnels into the very entry points the C macros
 * call (sluice_log_a0_..a3_, sluice_log_args_, sluice_log_args_kv_) with the
 * same type codes and bytes, so a worker cannot tell a C++ record from a C
 * one. It knows nothing of queues, records or sinks.
 *
 * What a call costs is what it costs in C: the level check inline, then one
 * call with up to three fixed-size arguments in registers. The descriptor
 * is a function-local static constexpr object: constant-initialised, no
 * guard variable, no code at run time. The format is checked by the
 * compiler as in C (printf's format attribute): a wrong type is a -Wformat
 * warning, an error under -Werror=format.
 *
 * Arguments, and how each is encoded (the C mapping wherever C has one):
 *   bool, char                                 SLUICE_ARG_INT (int64), as
 *                                              C's _Bool and char
 *   every other integer type up to 64 bits
 *   (signed char .. unsigned long long,
 *   wchar_t, char8_t, char16_t, char32_t)      SLUICE_ARG_INT or _UINT by
 *                                              its signedness, as in C
 *   an unscoped enum                           as its underlying type, as a
 *                                              C variable of that enum type
 *   float, double                              SLUICE_ARG_DOUBLE
 *   char *, const char * (and char arrays)     SLUICE_ARG_STRING, copied at
 *                                              the call, at most
 *                                              SLUICE_STRING_MAX bytes;
 *                                              NULL prints "(null)"
 *   std::string                                SLUICE_ARG_STRING: its
 *                                              c_str(), exactly as "%s" of
 *                                              s.c_str() (an embedded NUL
 *                                              ends it); checked as a
 *                                              const char *
 *   any other object or function pointer,
 *   std::nullptr_t                             SLUICE_ARG_POINTER (%p)
 * Refused at compile time with a static_assert saying why: scoped enums
 * (cast them: compilers disagree whether "%d" accepts one), long double,
 * integers wider than 64 bits, std::string_view (not NUL-terminated:
 * pass std::string(view) or use sluice_logf with "%.*s"), member pointers
 * and every class type but std::string.
 * NULL is an integer in C++ (the format check says so for "%p"): write
 * nullptr. Before C++20, an argument may not contain a lambda expression
 * (its type is taken with decltype); name the lambda's result first.
 *
 *     SLUICE_INFO(lg, "user %s paid %.2f", user_name, amount);
 *     SLUICE_WARN_KV(lg, SLUICE_KV({"order", id.c_str()}), "slow: %d ms", ms);
 *
 * SLUICE_KV's keys and values are const char * as in C (the strings are
 * copied); an existing array goes as (array, count).
 */
#ifndef SLUICE_CXX_H
#define SLUICE_CXX_H

#ifndef __cplusplus
#error "sluice_cxx.h is the C++ half of sluice.h; include <sluice/sluice.h>"
#endif
#if __cplusplus < 201703L
#error "sluice's logging macros need C++17 or later"
#endif

#include <sluice/sluice.h>

/* C++ linkage even when a host includes sluice.h inside extern "C" { }. */
extern "C++" {

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace sluice {
namespace detail {

template <class T> struct always_false : std::false_type {};

/* The SLUICE_ARG_* code of an argument whose declared type is A. */
template <class A> constexpr unsigned char type_code()
{
    using T = std::decay_t<A>; /* drops references and cv, arrays decay */
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, char>) {
        return SLUICE_ARG_INT; /* as C's _Bool and plain char */
    } else if constexpr (std::is_integral_v<T>) {
        static_assert(sizeof(T) <= 8,
                      "sluice: integers wider than 64 bits cannot be logged "
                      "by the deferred macros");
        return std::is_signed_v<T> ? SLUICE_ARG_INT : SLUICE_ARG_UINT;
    } else if constexpr (std::is_enum_v<T>) {
        static_assert(std::is_convertible_v<T, std::underlying_type_t<T>>,
                      "sluice: a scoped enum (enum class) cannot be logged "
                      "as it is: cast it to its underlying type");
        return type_code<std::underlying_type_t<T>>();
    } else if constexpr (std::is_same_v<T, float> ||
                         std::is_same_v<T, double>) {
        return SLUICE_ARG_DOUBLE;
    } else if constexpr (std::is_same_v<T, long double>) {
        static_assert(always_false<T>::value,
                      "sluice: long double cannot be logged by the deferred "
                      "macros (nor in C): cast it to double");
        return 0;
    } else if constexpr (std::is_same_v<T, char *> ||
                         std::is_same_v<T, const char *> ||
                         std::is_same_v<T, std::string>) {
        return SLUICE_ARG_STRING;
    } else if constexpr (std::is_same_v<T, std::string_view>) {
        static_assert(always_false<T>::value,
                      "sluice: std::string_view is not NUL-terminated: pass "
                      "std::string(view), or use sluice_logf with \"%.*s\"");
        return 0;
    } else if constexpr (std::is_pointer_v<T> || std::is_null_pointer_v<T>) {
        return SLUICE_ARG_POINTER;
    } else {
        static_assert(always_false<T>::value,
                      "sluice: this argument type cannot be logged by the "
                      "deferred macros; they take integers, bool, enums, "
                      "float, double, char pointers, std::string, other "
                      "pointers and nullptr");
        return 0;
    }
}

/* The argument's 8 bytes, through the very functions the C macros use. */
template <class A> inline uint64_t enc(const A &v)
{
    using T = std::decay_t<A>;
    constexpr unsigned char code = type_code<A>();
    if constexpr (std::is_same_v<T, std::string>) {
        return sluice_enc_p_(v.c_str());
    } else if constexpr (code == SLUICE_ARG_INT) {
        return sluice_enc_i_(static_cast<long long>(v));
    } else if constexpr (code == SLUICE_ARG_UINT) {
        return sluice_enc_u_(static_cast<unsigned long long>(v));
    } else if constexpr (code == SLUICE_ARG_DOUBLE) {
        return sluice_enc_d_(static_cast<double>(v));
    } else if constexpr (std::is_function_v<std::remove_pointer_t<T>>) {
        return reinterpret_cast<uintptr_t>(v);
    } else if constexpr (code == SLUICE_ARG_STRING ||
                         code == SLUICE_ARG_POINTER) {
        return sluice_enc_p_(v);
    } else {
        return 0; /* refused above */
    }
}

/* What the format check sees: the argument itself; a std::string as the
 * const char * that is copied, nullptr as the void * that is. */
template <class A> constexpr const A &check(const A &v) { return v; }
inline const char *check(const std::string &v) { return v.c_str(); }
constexpr void *check(std::nullptr_t) { return nullptr; }

/* A level given to SLUICE_LOG as the enum or as an int (no cast of an
 * enum to itself, which -Wuseless-cast would flag in the caller). */
constexpr sluice_level level(sluice_level lvl) { return lvl; }
constexpr sluice_level level(int lvl) { return static_cast<sluice_level>(lvl); }
constexpr int level_number(sluice_level lvl) { return static_cast<int>(lvl); }
constexpr int level_number(int lvl) { return lvl; }

/* fixed_size of a call site: 8 per argument, 0 when one is a string. */
constexpr unsigned fixed_size(const unsigned char *types, unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        if (types[i] == SLUICE_ARG_STRING)
            return 0;
    return 8 * count;
}

/* The call C's SLUICE_CALLn_ makes: up to three fixed-size arguments in
 * registers (sluice_log_aN_), otherwise the array form. */
template <bool Fixed, class... U>
[[gnu::always_inline]] inline void log(sluice_logger *lg, sluice_level lvl,
                                       const sluice_callsite *cs, U... args)
{
    constexpr std::size_t count = sizeof...(U);
    if constexpr (count == 0) {
        sluice_call_a0_(lg, lvl, cs);
    } else if constexpr (Fixed && count == 1) {
        sluice_call_a1_(lg, lvl, cs, args...);
    } else if constexpr (Fixed && count == 2) {
        sluice_call_a2_(lg, lvl, cs, args...);
    } else if constexpr (Fixed && count == 3) {
        sluice_call_a3_(lg, lvl, cs, args...);
    } else {
        const uint64_t encoded[] = {args...};
        sluice_call_args_(lg, lvl, cs, encoded);
    }
}

/* The fields of a _KV call: SLUICE_KV's list, or (array, count). */
struct kv_list {
    const sluice_kv *items;
    std::size_t count;
};
[[gnu::always_inline]] inline kv_list kvs(std::initializer_list<sluice_kv> l)
{
    return kv_list{l.begin(), l.size()};
}
[[gnu::always_inline]] inline kv_list kvs(const sluice_kv *items,
                                          std::size_t count)
{
    return kv_list{items, count};
}

template <class... U>
[[gnu::always_inline]] inline void log_kv(sluice_logger *lg, sluice_level lvl,
                                          const sluice_callsite *cs,
                                          kv_list kv, U... args)
{
    const uint64_t encoded[] = {0, args...}; /* C's layout, 0 first */
    sluice_log_args_kv_(lg, lvl, cs, encoded + 1, kv.items, kv.count);
}

} // namespace detail
} // namespace sluice

} // extern "C++"

/* A list of fields for the _KV macros; the initializer_list's array lives
 * until the end of the logging statement, which copies it. */
#define SLUICE_KV(...) (std::initializer_list<sluice_kv>{__VA_ARGS__})

#define SLUICE_CXX_TYPE_(x) sluice::detail::type_code<decltype(x)>()
#define SLUICE_CXX_ENC_(x) sluice::detail::enc(x)
#define SLUICE_CXX_CHECK_(x) sluice::detail::check(x)
#define SLUICE_CXX_MAP_(M, n, ...)                                             \
    SLUICE_CAT_(SLUICE_MAP, SLUICE_CAT_(n, _))(M, __VA_ARGS__)
/* The call site (constant-initialised: no guard, no code), the format
 * check (never run), then `call`. */
#define SLUICE_CXX_SITE_(n, call, ...)                                         \
    do {                                                                       \
        static constexpr unsigned char sluice_types_[] = {                     \
            0 SLUICE_CXX_MAP_(SLUICE_CXX_TYPE_, n, __VA_ARGS__)};              \
        static constexpr sluice_callsite sluice_site_ = {                      \
            SLUICE_FIRST_(__VA_ARGS__, 0), __FILE__, __func__, __LINE__,       \
            (n) - 1, sluice_types_ + 1,                                        \
            sluice::detail::fixed_size(sluice_types_ + 1, (n) - 1)};           \
        if (false)                                                             \
            sluice_format_check_(SLUICE_FIRST_(__VA_ARGS__, 0)                 \
                SLUICE_CXX_MAP_(SLUICE_CXX_CHECK_, n, __VA_ARGS__));           \
        call;                                                                  \
    } while (0)
#define SLUICE_CXX_ENABLED_(lg, lvl)                                           \
    (sluice::detail::level_number(lvl) >=                                      \
         sluice::detail::level_number(SLUICE_ACTIVE_LEVEL) &&                  \
     sluice_logger_enabled_((lg), sluice::detail::level_number(lvl)))
#define SLUICE_LOG_I_(lg, lvl, n, ...)                                         \
    do {                                                                       \
        if (SLUICE_CXX_ENABLED_(lg, lvl))                                      \
            SLUICE_CXX_SITE_(n,                                                \
                sluice::detail::log<sluice_site_.fixed_size != 0>(             \
                    (lg), sluice::detail::level(lvl), &sluice_site_            \
                    SLUICE_CXX_MAP_(SLUICE_CXX_ENC_, n, __VA_ARGS__)),         \
                __VA_ARGS__);                                                  \
    } while (0)
#define SLUICE_LOG_KV_I_(lg, lvl, n, kv, ...)                                  \
    do {                                                                       \
        if (SLUICE_CXX_ENABLED_(lg, lvl))                                      \
            SLUICE_CXX_SITE_(n,                                                \
                sluice::detail::log_kv(                                        \
                    (lg), sluice::detail::level(lvl), &sluice_site_,           \
                    sluice::detail::kvs(SLUICE_EXPAND_ kv)                     \
                    SLUICE_CXX_MAP_(SLUICE_CXX_ENC_, n, __VA_ARGS__)),         \
                __VA_ARGS__);                                                  \
    } while (0)

#endif /* SLUICE_CXX_H */
