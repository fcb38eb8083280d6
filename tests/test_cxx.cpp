/*
 * test_cxx.cpp -- the logging macros from C++ (include/sluice/sluice_cxx.h):
 * every macro form with every accepted argument type renders what snprintf
 * renders; the C++ call sites carry the type codes, sizes and bytes the C
 * macros produce for the same calls (tests/twin_calls.h compiled as both);
 * fields, levels, SLUICE_ACTIVE_LEVEL, strings copied at the call. Uses
 * only the public API: an in-process sink given to the builder.
 */
#include <criterion/criterion.h>

#include <cinttypes>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <sluice/sluice.h>

#define TWIN_CALLS twin_calls_cxx
#include "twin_calls.h"

extern "C" void twin_calls_c(sluice_logger *lg);

namespace {

/* ---- the capture sink ------------------------------------------------- */

struct captured {
    sluice_level level;
    std::string message;
    std::vector<std::pair<std::string, std::string>> fields;
    std::string function;
    int line;
};

std::mutex capture_mutex;
std::vector<captured> records;
std::vector<const sluice_callsite *> callsites; /* seen by the pre-hook */

int capture_open(const sluice_options *, void **state, sluice_error *)
{
    *state = &records;
    return 0;
}

int capture_write(void *, const sluice_record *const *batch, size_t n,
                  size_t *written, sluice_error *)
{
    std::lock_guard<std::mutex> hold(capture_mutex);
    for (size_t i = 0; i < n; i++) {
        const sluice_record *r = batch[i];
        captured c{r->level, std::string(r->message, r->message_len), {},
                   r->function ? r->function : "", r->source_line};
        /* the logger's own field (service) comes first; keep the call's */
        for (size_t k = 0; k < r->field_count; k++)
            c.fields.emplace_back(
                std::string(r->fields[k].key, r->fields[k].key_len),
                std::string(r->fields[k].value, r->fields[k].value_len));
        records.push_back(std::move(c));
    }
    *written = n;
    return 0;
}

void capture_close(void *) {}

const char *const capture_options[] = {nullptr};

const sluice_sink_api *capture_api()
{
    static sluice_sink_api api;
    api.abi_version = SLUICE_SINK_ABI_VERSION;
    api.struct_size = sizeof api;
    api.name = "capture";
    api.description = "test sink";
    api.option_names = capture_options;
    api.open = capture_open;
    api.write = capture_write;
    api.close = capture_close;
    return &api;
}

bool keep_callsite(void *, sluice_hook_record *r)
{
    callsites.push_back(r->callsite);
    return true;
}

void set(sluice_builder *b, const char *section, const char *key,
         const char *value)
{
    sluice_error err;
    cr_assert_eq(sluice_builder_set(b, section, key, value, 0, &err), 0, "%s",
                 err.message);
}

/* A runtime with one logger "app" at `level` into the capture sink. */
sluice_runtime *start(const char *level = "trace")
{
    records.clear();
    callsites.clear();
    sluice_error err;
    sluice_builder *b = sluice_builder_new("<test_cxx>");
    cr_assert_not_null(b);
    set(b, "sink.c", "plugin", "capture");
    set(b, "logger.app", "sinks", "c");
    set(b, "logger.app", "level", level);
    cr_assert_eq(sluice_builder_add_sink_api(b, capture_api(), &err), 0, "%s",
                 err.message);
    sluice_runtime *rt = nullptr;
    cr_assert_eq(sluice_builder_start(b, &rt, &err), 0, "%s", err.message);
    return rt;
}

sluice_logger *app(sluice_runtime *rt)
{
    sluice_logger *lg = sluice_logger_get(rt, "app");
    cr_assert_not_null(lg);
    return lg;
}

void close(sluice_runtime *rt)
{
    cr_assert_eq(sluice_close(rt, 5000), 0, "records left undelivered");
}

/* ---- what snprintf renders for the same arguments --------------------- */

/* The argument as printf takes it: a std::string as its c_str(), nullptr
 * as a void * (what the macros copy); a NULL string as the "(null)" glibc
 * prints for a plain %s (said here: the compiler warns of a NULL %s). */
template <class T> T printable(T v) { return v; }
const char *printable(const std::string &s) { return s.c_str(); }
const char *printable(const char *s) { return s ? s : "(null)"; }
void *printable(std::nullptr_t) { return nullptr; }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"
template <class... A> std::string like_snprintf(const char *fmt, const A &...args)
{
    int n = std::snprintf(nullptr, 0, fmt, printable(args)...);
    cr_assert_geq(n, 0);
    std::string out(static_cast<size_t>(n) + 1, '\0');
    std::snprintf(&out[0], out.size(), fmt, printable(args)...);
    out.resize(static_cast<size_t>(n));
    return out;
}
#pragma GCC diagnostic pop

/* Log through the macro and remember what snprintf says it must render. */
#define EXPECT_LIKE_SNPRINTF(want, lg, fmt, ...)                               \
    do {                                                                       \
        SLUICE_INFO(lg, fmt, __VA_ARGS__);                                     \
        (want).push_back(like_snprintf(fmt, __VA_ARGS__));                     \
    } while (0)

void assert_messages(const std::vector<std::string> &want)
{
    cr_assert_eq(records.size(), want.size(), "%zu records, %zu expected",
                 records.size(), want.size());
    for (size_t i = 0; i < want.size(); i++)
        cr_expect_str_eq(records[i].message.c_str(), want[i].c_str(),
                         "call %zu", i);
}

enum plain_enum { PLAIN_A = 3, PLAIN_B = 70000 };
enum signed_enum : short { SIGNED_LOW = -2, SIGNED_HIGH = 2 };
enum wide_enum : unsigned long long { WIDE = 0xFFFFFFFFFFFFFFF0ull };

struct bits {
    unsigned small : 3;
    int negative : 5;
    unsigned long long wide : 40;
};

int answer() { return 42; }

} // namespace

TestSuite(cxx, .timeout = 60);

Test(cxx, every_argument_type_renders_like_snprintf)
{
    sluice_runtime *rt = start();
    sluice_logger *lg = app(rt);
    std::vector<std::string> want;

    /* integers of every width and signedness, and the char types */
    EXPECT_LIKE_SNPRINTF(want, lg, "%d %d", true, false);
    EXPECT_LIKE_SNPRINTF(want, lg, "%c %d %hhd %hhu", 'z', 'z', static_cast<signed char>(-128),
                         static_cast<unsigned char>(255));
    EXPECT_LIKE_SNPRINTF(want, lg, "%hd %hu", static_cast<short>(SHRT_MIN),
                         static_cast<unsigned short>(USHRT_MAX));
    EXPECT_LIKE_SNPRINTF(want, lg, "%d %u %x %o", INT_MIN, UINT_MAX, 0xbeefu, 8u);
    EXPECT_LIKE_SNPRINTF(want, lg, "%ld %lu", LONG_MIN, ULONG_MAX);
    EXPECT_LIKE_SNPRINTF(want, lg, "%lld %llu", LLONG_MIN, ULLONG_MAX);
    EXPECT_LIKE_SNPRINTF(want, lg, "%" PRId8 " %" PRIu8 " %" PRId16 " %" PRIu16, int8_t{-8},
                         uint8_t{200}, int16_t{-16}, uint16_t{60000});
    EXPECT_LIKE_SNPRINTF(want, lg, "%" PRId32 " %" PRIu32 " %" PRId64 " %" PRIu64,
                         int32_t{-32}, uint32_t{4000000000u}, int64_t{INT64_MIN},
                         uint64_t{UINT64_MAX});
    EXPECT_LIKE_SNPRINTF(want, lg, "%zu %zd %td %" PRIdPTR " %" PRIuPTR, sizeof(bits),
                         static_cast<ssize_t>(-1), static_cast<ptrdiff_t>(-7),
                         static_cast<intptr_t>(-9), static_cast<uintptr_t>(9));
    EXPECT_LIKE_SNPRINTF(want, lg, "%d %d %u", static_cast<wchar_t>(L'w'), u'c', U'\U0001F600');
    /* enums: unscoped, as their underlying type */
    plain_enum plain = PLAIN_B;
    EXPECT_LIKE_SNPRINTF(want, lg, "%d %u %d", PLAIN_A, plain, plain);
    EXPECT_LIKE_SNPRINTF(want, lg, "%d %d", SIGNED_LOW, SIGNED_HIGH);
    EXPECT_LIKE_SNPRINTF(want, lg, "%llu %llx", WIDE, WIDE);
    /* floating point */
    EXPECT_LIKE_SNPRINTF(want, lg, "%f %f %.10g %a", 0.1f, -0.0, 1e300, 3.5);
    EXPECT_LIKE_SNPRINTF(want, lg, "%e %G %08.3f %+.0f", 12345.678, 1e-20, -3.14159, 2.5);
    /* strings: pointers, arrays, literals, std::string of every kind */
    const char *literal_ptr = "pointer";
    char array[16] = "array";
    char *mutable_ptr = array;
    const char *none = nullptr;
    std::string owned = "std::string";
    const std::string &ref = owned;
    std::string empty;
    EXPECT_LIKE_SNPRINTF(want, lg, "%s %s %s %s", literal_ptr, array, mutable_ptr, "literal");
    EXPECT_LIKE_SNPRINTF(want, lg, "%s|%s|%s|%s", owned, ref, empty, std::string("temporary"));
    EXPECT_LIKE_SNPRINTF(want, lg, "[%s] [%.3s] [%10s] [%-10s]", none, owned, owned, ref);
    /* pointers and nullptr */
    int local = 0;
    const volatile int *cv = &local;
    void (*function)() = nullptr;
    EXPECT_LIKE_SNPRINTF(want, lg, "%p %p %p", static_cast<void *>(&local),
                         static_cast<const void *>(array), nullptr);
    EXPECT_LIKE_SNPRINTF(want, lg, "%p %p", reinterpret_cast<const volatile void *>(cv),
                         reinterpret_cast<void *>(function));
    /* expressions: references, const and volatile, bit-fields, calls */
    bits b{5, -9, 0xABCDEF1234ull};
    volatile int vol = -77;
    const long &lref = LONG_MAX;
    EXPECT_LIKE_SNPRINTF(want, lg, "%u %d %llx", b.small, b.negative,
                         static_cast<unsigned long long>(b.wide));
    EXPECT_LIKE_SNPRINTF(want, lg, "%d %ld %d %d", vol, lref, answer(), local + 1);

    close(rt);
    assert_messages(want);
}

Test(cxx, every_macro_form_renders_like_snprintf_at_its_level)
{
    sluice_runtime *rt = start();
    sluice_logger *lg = app(rt);
    const std::string user = "ann";
    const char *fmt_word = "fields";
    int level_number = SLUICE_LEVEL_ERROR;

    SLUICE_TRACE(lg, "trace %d", 0);
    SLUICE_DEBUG(lg, "debug %s", user);
    SLUICE_INFO(lg, "info");
    SLUICE_WARN(lg, "warn %u %s", 3u, "x");
    SLUICE_ERROR(lg, "error %f %p %s", 0.5, nullptr, user);
    SLUICE_FATAL(lg, "fatal %d %d %d %d %d", 1, 2, 3, 4, 5);
    SLUICE_LOG(lg, SLUICE_LEVEL_WARN, "log %c", 'w');
    SLUICE_LOG(lg, level_number, "log at a run-time %s", "level");
    SLUICE_TRACE_KV(lg, SLUICE_KV({"k", "trace"}), "trace kv");
    SLUICE_DEBUG_KV(lg, SLUICE_KV({"user", user.c_str()}), "debug kv %s", user);
    SLUICE_INFO_KV(lg, SLUICE_KV(), "info kv, no %s", fmt_word);
    SLUICE_WARN_KV(lg, SLUICE_KV({"a", "1"}, {"b", "2"}), "warn kv %d %d %d %d", 1, 2, 3, 4);
    sluice_kv fields[3] = {{"x", "1"}, {"y", "2"}, {"z", "3"}};
    SLUICE_ERROR_KV(lg, (fields, 3), "error kv from an array %lu", 7ul);
    SLUICE_FATAL_KV(lg, (fields + 1, 1), "fatal kv %p", nullptr);
    SLUICE_LOG_KV(lg, SLUICE_LEVEL_INFO, SLUICE_KV({"lvl", "info"}), "log kv %.1f", 2.25);
    close(rt);

    struct expect {
        sluice_level level;
        std::string message;
        std::vector<std::pair<std::string, std::string>> fields;
    };
    const std::vector<expect> want = {
        {SLUICE_LEVEL_TRACE, like_snprintf("trace %d", 0), {}},
        {SLUICE_LEVEL_DEBUG, like_snprintf("debug %s", user), {}},
        {SLUICE_LEVEL_INFO, "info", {}},
        {SLUICE_LEVEL_WARN, like_snprintf("warn %u %s", 3u, "x"), {}},
        {SLUICE_LEVEL_ERROR, like_snprintf("error %f %p %s", 0.5, nullptr, user), {}},
        {SLUICE_LEVEL_FATAL, like_snprintf("fatal %d %d %d %d %d", 1, 2, 3, 4, 5), {}},
        {SLUICE_LEVEL_WARN, like_snprintf("log %c", 'w'), {}},
        {SLUICE_LEVEL_ERROR, "log at a run-time level", {}},
        {SLUICE_LEVEL_TRACE, "trace kv", {{"k", "trace"}}},
        {SLUICE_LEVEL_DEBUG, "debug kv ann", {{"user", "ann"}}},
        {SLUICE_LEVEL_INFO, "info kv, no fields", {}},
        {SLUICE_LEVEL_WARN, "warn kv 1 2 3 4", {{"a", "1"}, {"b", "2"}}},
        {SLUICE_LEVEL_ERROR, "error kv from an array 7", {{"x", "1"}, {"y", "2"}, {"z", "3"}}},
        {SLUICE_LEVEL_FATAL, like_snprintf("fatal kv %p", nullptr), {{"y", "2"}}},
        {SLUICE_LEVEL_INFO, like_snprintf("log kv %.1f", 2.25), {{"lvl", "info"}}},
    };
    cr_assert_eq(records.size(), want.size(), "%zu records", records.size());
    for (size_t i = 0; i < want.size(); i++) {
        cr_expect_eq(records[i].level, want[i].level, "call %zu", i);
        cr_expect_str_eq(records[i].message.c_str(), want[i].message.c_str(), "call %zu", i);
        cr_expect(records[i].fields == want[i].fields, "call %zu: fields differ", i);
        cr_expect_str_eq(records[i].function.c_str(), __func__, "call %zu", i);
    }
}

/* The same source text through the C and the C++ macros: the call sites
 * say the same (format, line, argument count, type codes, fixed size), so
 * the worker decodes the same bytes, and the messages are the same. */
Test(cxx, call_sites_and_messages_equal_the_c_macros)
{
    sluice_error err;
    std::vector<captured> from_c, from_cxx;
    std::vector<const sluice_callsite *> sites_c, sites_cxx;
    for (int lang = 0; lang < 2; lang++) {
        sluice_runtime *rt = start();
        sluice_logger *lg = app(rt);
        cr_assert_eq(sluice_logger_add_pre_hook(lg, keep_callsite, nullptr, &err), 0);
        if (lang == 0)
            twin_calls_c(lg);
        else
            twin_calls_cxx(lg);
        close(rt);
        (lang == 0 ? from_c : from_cxx) = records;
        (lang == 0 ? sites_c : sites_cxx) = callsites;
    }
    cr_assert_eq(from_c.size(), 27u, "the twin calls: %zu records", from_c.size());
    cr_assert_eq(from_cxx.size(), from_c.size());
    cr_assert_eq(sites_c.size(), from_c.size());
    cr_assert_eq(sites_cxx.size(), from_c.size());
    for (size_t i = 0; i < from_c.size(); i++) {
        const sluice_callsite *c = sites_c[i], *cxx = sites_cxx[i];
        cr_expect_str_eq(cxx->format, c->format, "call %zu", i);
        cr_expect_str_eq(cxx->file, c->file, "call %zu", i);
        cr_expect_str_eq(c->function, "twin_calls_c");
        cr_expect_str_eq(cxx->function, "twin_calls_cxx");
        cr_expect_eq(cxx->line, c->line, "call %zu", i);
        cr_expect_eq(cxx->arg_count, c->arg_count, "call %zu (%s)", i, c->format);
        cr_expect_eq(cxx->fixed_size, c->fixed_size, "call %zu (%s)", i, c->format);
        cr_expect_arr_eq(cxx->arg_types, c->arg_types, c->arg_count, "call %zu (%s)", i,
                         c->format);
        cr_expect_eq(from_cxx[i].level, from_c[i].level, "call %zu", i);
        cr_expect_str_eq(from_cxx[i].message.c_str(), from_c[i].message.c_str(), "call %zu", i);
        cr_expect(from_cxx[i].fields == from_c[i].fields, "call %zu: fields differ", i);
        cr_expect_eq(from_cxx[i].line, from_c[i].line, "call %zu", i);
    }
}

/* Without hooks the same calls take the straight path (up to three
 * fixed-size arguments in registers) and render the same. */
Test(cxx, twin_messages_equal_on_the_straight_path)
{
    std::vector<captured> from_c;
    for (int lang = 0; lang < 2; lang++) {
        sluice_runtime *rt = start();
        if (lang == 0)
            twin_calls_c(app(rt));
        else
            twin_calls_cxx(app(rt));
        close(rt);
        if (lang == 0)
            from_c = records;
    }
    cr_assert_eq(records.size(), from_c.size());
    for (size_t i = 0; i < from_c.size(); i++)
        cr_expect_str_eq(records[i].message.c_str(), from_c[i].message.c_str(), "call %zu", i);
}

Test(cxx, type_codes_of_cxx_only_arguments)
{
    sluice_error err;
    sluice_runtime *rt = start();
    sluice_logger *lg = app(rt);
    cr_assert_eq(sluice_logger_add_pre_hook(lg, keep_callsite, nullptr, &err), 0);
    std::string s = "s";
    plain_enum plain = PLAIN_A;
    bits b{1, -1, 1};
    SLUICE_INFO(lg, "%d %d %u %u %d", true, 'c', u'c', U'c', static_cast<wchar_t>(L'c'));
    SLUICE_INFO(lg, "%d %u %d %llu", PLAIN_A, plain, SIGNED_LOW, WIDE);
    SLUICE_INFO(lg, "%s %s %p %p", s, std::string("t"), nullptr, static_cast<void *>(&s));
    SLUICE_INFO(lg, "%u %d %llu", b.small, b.negative, static_cast<unsigned long long>(b.wide));
    close(rt);
    const unsigned char I = SLUICE_ARG_INT, U = SLUICE_ARG_UINT, S = SLUICE_ARG_STRING,
                        P = SLUICE_ARG_POINTER;
    const std::vector<std::vector<unsigned char>> want = {
        {I, I, U, U, I}, /* bool and char as C's _Bool and char; char16/32_t unsigned */
        {U, U, I, U},    /* an enum as its underlying type */
        {S, S, P, P},    /* std::string is a string, nullptr a pointer */
        {U, I, U},       /* a bit-field as its declared type */
    };
    const std::vector<unsigned> fixed = {40, 32, 0, 24};
    /* function pointers too (g++'s format check wants a void * for %p) */
    cr_expect_eq(sluice::detail::type_code<void (*)()>(), SLUICE_ARG_POINTER);
    cr_expect_eq(sluice::detail::enc(&answer), reinterpret_cast<uintptr_t>(&answer));
    cr_assert_eq(callsites.size(), want.size());
    for (size_t i = 0; i < want.size(); i++) {
        cr_expect_eq(callsites[i]->arg_count, want[i].size(), "call %zu", i);
        cr_expect_arr_eq(callsites[i]->arg_types, want[i].data(), want[i].size(), "call %zu", i);
        cr_expect_eq(callsites[i]->fixed_size, fixed[i], "call %zu", i);
    }
}

Test(cxx, strings_are_copied_at_the_call_and_cut_at_the_maximum)
{
    sluice_runtime *rt = start();
    sluice_logger *lg = app(rt);
    std::string changing = "before";
    char buffer[16] = "first";
    SLUICE_INFO(lg, "%s %s", changing, buffer);
    changing = "after, and long enough to need a new allocation";
    std::strcpy(buffer, "second");
    std::string huge(SLUICE_STRING_MAX + 100, 'x');
    SLUICE_INFO(lg, "%s", huge);
    SLUICE_INFO(lg, "%s", huge.c_str());
    const std::string with_nul("ab\0cd", 5);
    SLUICE_INFO(lg, "[%s]", with_nul); /* what "%s" of with_nul.c_str() prints */
    close(rt);
    cr_assert_eq(records.size(), 4u);
    cr_expect_str_eq(records[3].message.c_str(), "[ab]");
    cr_expect_str_eq(records[0].message.c_str(), "before first");
    cr_expect_eq(records[1].message, std::string(SLUICE_STRING_MAX, 'x'));
    cr_expect_eq(records[2].message, records[1].message, "as C does with a char pointer");
}

Test(cxx, levels_filter_as_in_c)
{
    sluice_runtime *rt = start("warn");
    sluice_logger *lg = app(rt);
    int evaluated = 0;
    SLUICE_INFO(lg, "dropped %d", ++evaluated); /* not evaluated when disabled */
    SLUICE_WARN(lg, "kept %d", evaluated);
    sluice_set_level(lg, SLUICE_LEVEL_TRACE);
    SLUICE_TRACE_KV(lg, SLUICE_KV({"k", "v"}), "kept too %d", 2);
    close(rt);
    cr_expect_eq(evaluated, 0);
    cr_assert_eq(records.size(), 2u);
    cr_expect_str_eq(records[0].message.c_str(), "kept 0");
    cr_expect_str_eq(records[1].message.c_str(), "kept too 2");
}

/* SLUICE_ACTIVE_LEVEL is read where a macro is expanded: these calls are
 * compiled with it at WARN, so INFO and below vanish. */
#undef SLUICE_ACTIVE_LEVEL
#define SLUICE_ACTIVE_LEVEL SLUICE_LEVEL_WARN
static void log_around_active_level(sluice_logger *lg)
{
    SLUICE_INFO(lg, "compiled out %d", 1);
    SLUICE_DEBUG_KV(lg, SLUICE_KV({"k", "v"}), "compiled out %d", 2);
    SLUICE_LOG(lg, SLUICE_LEVEL_TRACE, "compiled out %d", 3);
    SLUICE_WARN(lg, "kept %d", 4);
    SLUICE_ERROR_KV(lg, SLUICE_KV({"k", "v"}), "kept %d", 5);
}
#undef SLUICE_ACTIVE_LEVEL
#define SLUICE_ACTIVE_LEVEL SLUICE_LEVEL_TRACE

Test(cxx, active_level_compiles_lower_calls_out)
{
    sluice_runtime *rt = start();
    log_around_active_level(app(rt));
    close(rt);
    cr_assert_eq(records.size(), 2u);
    cr_expect_str_eq(records[0].message.c_str(), "kept 4");
    cr_expect_str_eq(records[1].message.c_str(), "kept 5");
}
