/*
 * test_printf.c -- sluice_printf_render against snprintf.
 *
 * The property: for a call SLUICE_INFO(lg, fmt, x...) whose arguments have
 * the types fmt asks for, rendering the producer's encoding of x... gives
 * the same bytes as snprintf(buf, n, fmt, x...). Each case picks a random
 * typed value of the C type the conversion's length modifier names, encodes
 * it by hand the way sluice.h's _Generic encoders do (signed -> INT int64,
 * unsigned -> UINT uint64, float/double -> DOUBLE, char * -> STRING,
 * other pointers -> POINTER), renders, and compares with snprintf.
 * The seed is printed in every failure message; set SLUICE_TEST_SEED to
 * replay one.
 *
 * Also the documented error behaviours: truncated encodings return -1
 * without reading past args_len (buffers are malloc'd to the exact size so
 * AddressSanitizer catches an overread), mismatched types and missing
 * arguments render deterministically.
 */
#include <criterion/criterion.h>

#include <fenv.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <wchar.h>

#include <sluice/sluice.h>

#include "printf_internal.h"

/* ---- random numbers (splitmix64: small, seeded, reproducible) ---------- */

static uint64_t seed_used;
static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned rnd_below(unsigned n) { return (unsigned)(rnd() % n); }

static void seed_init(void)
{
    const char *e = getenv("SLUICE_TEST_SEED");
    seed_used = e ? strtoull(e, NULL, 0)
                  : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    rng_state = seed_used;
}

/* ---- encoding, as the producer does it ----------------------------------- */

typedef struct enc {
    unsigned char types[64];
    size_t n;
    unsigned char bytes[8192];
    size_t len;
} enc;

static void enc_raw(enc *e, int type, uint64_t v)
{
    e->types[e->n++] = (unsigned char)type;
    memcpy(e->bytes + e->len, &v, 8);
    e->len += 8;
}
static void enc_i(enc *e, long long v) { enc_raw(e, SLUICE_ARG_INT, (uint64_t)v); }
static void enc_u(enc *e, unsigned long long v) { enc_raw(e, SLUICE_ARG_UINT, v); }
static void enc_d(enc *e, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    enc_raw(e, SLUICE_ARG_DOUBLE, u);
}
static void enc_p(enc *e, const void *p) { enc_raw(e, SLUICE_ARG_POINTER, (uintptr_t)p); }
static void enc_sn(enc *e, const char *s, size_t n)
{
    uint32_t l = s ? (uint32_t)n : UINT32_MAX;
    e->types[e->n++] = SLUICE_ARG_STRING;
    memcpy(e->bytes + e->len, &l, 4);
    e->len += 4;
    if (s) {
        memcpy(e->bytes + e->len, s, n);
        e->len += n;
    }
}
static void enc_s(enc *e, const char *s) { enc_sn(e, s, s ? strlen(s) : 0); }

/* Render e with fmt; returns the rendered text (static buffer) and length. */
static sluice_buf rbuf;

static int render(const char *fmt, const enc *e)
{
    sluice_buf_reset(&rbuf);
    /* An exact-size heap copy so that ASan sees any overread. */
    unsigned char *copy = malloc(e->len ? e->len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, e->bytes, e->len);
    int r = sluice_printf_render(&rbuf, fmt, e->types, e->n, copy, e->len);
    free(copy);
    cr_assert_eq(rbuf.failed, 0);
    return r;
}

static void show(char *dst, size_t cap, const char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 32 && ch < 127)
            dst[o++] = (char)ch;
        else
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", ch);
    }
    dst[o] = '\0';
}

/* Render and compare with the snprintf result exp/explen. */
static void check(const char *fmt, const enc *e, const char *exp, int explen)
{
    cr_assert_geq(explen, 0, "seed %llu: snprintf failed for \"%s\"",
                  (unsigned long long)seed_used, fmt);
    int r = render(fmt, e);
    char a[2048], b[2048], f[256];
    if (r != 0 || rbuf.len != (size_t)explen ||
        (explen > 0 && memcmp(rbuf.data, exp, (size_t)explen) != 0)) {
        show(a, sizeof a, exp, (size_t)explen);
        show(b, sizeof b, rbuf.data ? rbuf.data : "", rbuf.len);
        show(f, sizeof f, fmt, strlen(fmt));
        cr_assert_fail("seed %llu (SLUICE_TEST_SEED to replay): format \"%s\"\n"
                       "  snprintf: [%s] (%d bytes)\n"
                       "  rendered: [%s] (%zu bytes, r=%d)",
                       (unsigned long long)seed_used, f, a, explen, b,
                       rbuf.len, r);
    }
}

static void init(void)
{
    seed_init();
    sluice_buf_init(&rbuf);
}
static void fini(void) { sluice_buf_free(&rbuf); }

TestSuite(printf, .init = init, .fini = fini);

/* ---- random format pieces ----------------------------------------------- */

static char expbuf[16384];

/* A random spec prefix: "%" flags [width|*] [.prec|.*]. *w, *p get the
 * star values (and *hasw, *hasp say whether they are used). */
typedef struct prefix {
    char text[64];
    int hasw, hasp, w, p;
} prefix;

static void rand_prefix(prefix *x, const char *flagset, int maxprec)
{
    char *q = x->text;
    *q++ = '%';
    size_t nf = strlen(flagset);
    for (size_t i = 0; i < nf; i++)
        if (rnd_below(3) == 0)
            *q++ = flagset[i];
    x->hasw = x->hasp = 0;
    switch (rnd_below(4)) {
    case 0: break;
    case 1: q += sprintf(q, "%u", 1 + rnd_below(9)); break;
    case 2: q += sprintf(q, "%u", 1 + rnd_below(60)); break;
    default:
        *q++ = '*';
        x->hasw = 1;
        x->w = (int)rnd_below(81) - 40;
        break;
    }
    switch (rnd_below(5)) {
    case 0: case 1: break;
    case 2: *q++ = '.'; break;
    case 3: q += sprintf(q, ".%u", rnd_below((unsigned)maxprec + 1)); break;
    default:
        q += sprintf(q, ".*");
        x->hasp = 1;
        x->p = (int)rnd_below((unsigned)maxprec + 12) - 10;
        break;
    }
    *q = '\0';
}

static void enc_stars(enc *e, const prefix *x)
{
    if (x->hasw)
        enc_i(e, x->w);
    if (x->hasp)
        enc_i(e, x->p);
}

/* snprintf(fmt, [w], [p], v) with v of any type. */
#define EXPECT(x, fmt, v)                                                      \
    ((x)->hasw ? ((x)->hasp ? snprintf(expbuf, sizeof expbuf, fmt, (x)->w,     \
                                       (x)->p, v)                              \
                            : snprintf(expbuf, sizeof expbuf, fmt, (x)->w, v)) \
               : ((x)->hasp ? snprintf(expbuf, sizeof expbuf, fmt, (x)->p, v)  \
                            : snprintf(expbuf, sizeof expbuf, fmt, v)))

/* A random 64-bit pattern biased to edges: 0, +-1, small, extremes, any. */
static uint64_t rand_bits(void)
{
    switch (rnd_below(8)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return UINT64_MAX; /* -1 */
    case 3: return (uint64_t)INT64_MIN;
    case 4: return (uint64_t)INT64_MAX;
    case 5: return rnd() >> rnd_below(64);
    case 6: return 0 - (rnd() >> rnd_below(64));
    default: return rnd();
    }
}

static const char *const int_lens[] = {"hh", "h", "", "l", "ll", "j", "z", "t"};

/* One signed conversion: value of the type the length modifier names. */
static void one_signed(const char *len, char conv)
{
    prefix x;
    char fmt[96];
    enc e = {.n = 0};
    int n;
    rand_prefix(&x, "-+ #0'", 40);
    snprintf(fmt, sizeof fmt, "<%s%s%c>", x.text, len, conv);
    enc_stars(&e, &x);
    uint64_t b = rand_bits();
    if (!strcmp(len, "hh")) {
        if (rnd_below(2)) { /* what the user passed was a signed char */
            signed char v = (signed char)b;
            enc_i(&e, v);
            n = EXPECT(&x, fmt, v);
        } else { /* or an int: printf narrows it (%hhd of 300 is 44) */
            int v = (int)b;
            enc_i(&e, v);
            n = EXPECT(&x, fmt, v);
        }
    } else if (!strcmp(len, "h")) {
        short v = (short)b;
        enc_i(&e, v);
        n = EXPECT(&x, fmt, v);
    } else if (!strcmp(len, "")) {
        int v = (int)b;
        enc_i(&e, v);
        n = EXPECT(&x, fmt, v);
    } else if (!strcmp(len, "l")) {
        long v = (long)b;
        enc_i(&e, v);
        n = EXPECT(&x, fmt, v);
    } else if (!strcmp(len, "ll")) {
        long long v = (long long)b;
        enc_i(&e, v);
        n = EXPECT(&x, fmt, v);
    } else if (!strcmp(len, "j")) {
        intmax_t v = (intmax_t)b;
        enc_i(&e, v);
        n = EXPECT(&x, fmt, v);
    } else if (!strcmp(len, "z")) {
        ssize_t v = (ssize_t)b;
        enc_i(&e, v);
        n = EXPECT(&x, fmt, v);
    } else {
        ptrdiff_t v = (ptrdiff_t)b;
        enc_i(&e, v);
        n = EXPECT(&x, fmt, v);
    }
    check(fmt, &e, expbuf, n);
}

static void one_unsigned(const char *len, char conv)
{
    prefix x;
    char fmt[96];
    enc e = {.n = 0};
    int n;
    rand_prefix(&x, "-+ #0'", 40);
    snprintf(fmt, sizeof fmt, "<%s%s%c>", x.text, len, conv);
    enc_stars(&e, &x);
    uint64_t b = rand_bits();
    if (!strcmp(len, "hh")) {
        unsigned char v = (unsigned char)b;
        enc_u(&e, v);
        n = EXPECT(&x, fmt, v);
    } else if (!strcmp(len, "h")) {
        unsigned short v = (unsigned short)b;
        enc_u(&e, v);
        n = EXPECT(&x, fmt, v);
    } else if (!strcmp(len, "")) {
        if (rnd_below(2)) {
            unsigned v = (unsigned)b;
            enc_u(&e, v);
            n = EXPECT(&x, fmt, v);
        } else { /* %u of a negative int: its unsigned int conversion */
            int v = (int)b;
            enc_i(&e, v);
            n = EXPECT(&x, fmt, v);
        }
    } else if (!strcmp(len, "l")) {
        unsigned long v = (unsigned long)b;
        enc_u(&e, v);
        n = EXPECT(&x, fmt, v);
    } else if (!strcmp(len, "ll")) {
        unsigned long long v = (unsigned long long)b;
        enc_u(&e, v);
        n = EXPECT(&x, fmt, v);
    } else if (!strcmp(len, "j")) {
        uintmax_t v = (uintmax_t)b;
        enc_u(&e, v);
        n = EXPECT(&x, fmt, v);
    } else if (!strcmp(len, "z")) {
        size_t v = (size_t)b;
        enc_u(&e, v);
        n = EXPECT(&x, fmt, v);
    } else {
        ptrdiff_t v = (ptrdiff_t)b;
        enc_i(&e, v);
        n = EXPECT(&x, fmt, v);
    }
    check(fmt, &e, expbuf, n);
}

Test(printf, signed_integers_every_length_and_flag)
{
    const char convs[] = "di";
    for (int it = 0; it < 20000; it++) {
        const char *len = int_lens[rnd_below(8)];
        one_signed(len, convs[rnd_below(2)]);
    }
}

Test(printf, unsigned_integers_every_length_and_flag)
{
    const char convs[] = "uoxXbB";
    for (int it = 0; it < 30000; it++) {
        const char *len = int_lens[rnd_below(8)];
        one_unsigned(len, convs[rnd_below(6)]);
    }
}

static double rand_double(void)
{
    static const double special[] = {
        0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, -2.5, 0.1, 1e-5, 123456.789,
        1e15, 1e16, 1e17, 9.999999e22, 1e300, -1e300, DBL_MAX, -DBL_MAX,
        DBL_MIN, DBL_TRUE_MIN, -DBL_TRUE_MIN, 4.9e-320, 2.2250738585072009e-308,
        0.999999999, 9.5, 99.5, 0.05, 0.15, 0.25, 1e-300};
    switch (rnd_below(6)) {
    case 0: return special[rnd_below(sizeof special / sizeof special[0])];
    case 1: {
        static const double nonfinite[] = {INFINITY, -INFINITY, NAN, -NAN};
        return nonfinite[rnd_below(4)];
    }
    case 2: { /* any bit pattern: denormals, NaN payloads, everything */
        uint64_t u = rnd();
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    case 3: return (double)(int64_t)rand_bits();
    default:
        return ldexp((double)(rnd() >> 11) / 9007199254740992.0,
                     (int)rnd_below(200) - 100) *
               (rnd_below(2) ? 1 : -1);
    }
}

Test(printf, floating_point_every_conversion_and_flag)
{
    const char convs[] = "fFeEgGaA";
    for (int it = 0; it < 30000; it++) {
        prefix x;
        char fmt[96];
        enc e = {.n = 0};
        rand_prefix(&x, "-+ #0'", 40);
        char conv = convs[rnd_below(8)];
        /* %lf is %f; L (long double) is documented as unsupported. */
        snprintf(fmt, sizeof fmt, "<%s%s%c>", x.text, rnd_below(4) ? "" : "l",
                 conv);
        enc_stars(&e, &x);
        double v;
        if (rnd_below(4) == 0) { /* a float, promoted at the call */
            float f = (float)rand_double();
            v = f;
        } else {
            v = rand_double();
        }
        enc_d(&e, v);
        int n = EXPECT(&x, fmt, v);
        check(fmt, &e, expbuf, n);
    }
}

/* ---- %f / %F: the hand-written exact path --------------------------------
 * Values chosen where a shortcut would go wrong: ties and near-ties of the
 * decimal rounding (made from decimal strings with strtod, and exact binary
 * ties a + b / 2^j), integers up to and beyond 2^64, values just below
 * 10^k, the boundaries of the shifts (2^-64, 2^-127, 2^-128, ...),
 * denormals, signed zeros and tiny negatives. */

static double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* A random decimal string "[-]I.FFF5[DDD]" parsed by strtod: the nearest
 * double to (or exactly) a tie at precision = number of F digits. */
static double near_tie_from_string(void)
{
    char s[96];
    char *q = s;
    if (rnd_below(2))
        *q++ = '-';
    unsigned idig = rnd_below(21); /* up to 20 integer digits */
    if (idig == 0)
        *q++ = '0';
    for (unsigned i = 0; i < idig; i++)
        *q++ = (char)((i == 0 ? '1' + rnd_below(9) : '0' + rnd_below(10)));
    *q++ = '.';
    unsigned fdig = rnd_below(18);
    for (unsigned i = 0; i < fdig; i++)
        *q++ = (char)(rnd_below(3) ? '0' + rnd_below(10)
                                   : (rnd_below(2) ? '9' : '0'));
    *q++ = '5';
    switch (rnd_below(4)) {
    case 0: /* a tie as written */
        break;
    case 1:
        *q++ = '0';
        *q++ = '0';
        *q++ = '1';
        break;
    case 2:
        for (unsigned i = 0; i < 3; i++)
            *q++ = '9';
        break;
    default:
        for (unsigned i = 0; i < 1 + rnd_below(8); i++)
            *q++ = (char)('0' + rnd_below(10));
        break;
    }
    *q = '\0';
    double d = strtod(s, NULL);
    switch (rnd_below(4)) {
    case 0: return nextafter(d, INFINITY);
    case 1: return nextafter(d, -INFINITY);
    default: return d;
    }
}

static double rand_f_double(void)
{
    static const char *const strings[] = {
        "0.0000005", "2.5e-7", "1.0000005", "0.5", "1.5", "2.5", "0.125",
        "0.375", "9.9999999", "99.9999995", "999999.9999995", "0.05",
        "0.15", "0.25", "0.35", "1e-9", "-1e-9", "5e-18", "4.9999999e-18",
        "5.0000001e-18", "5e-17", "5e-7", "4.5", "-0.5", "-2.5",
        "18446744073709551615", "18446744073709549568",
        "9223372036854775807", "9223372036854775808", "1e19", "1.8e19",
        "4503599627370495.5", "4503599627370496.5", "2251799813685247.75",
        "0.000000000000000005", "0.999999999999999944"};
    switch (rnd_below(14)) {
    case 0: /* any bit pattern */
        return bits_double(rnd());
    case 1:
        return near_tie_from_string();
    case 2:
    case 3: { /* an exact binary tie: a + b / 2^j, b odd */
        unsigned j = 1 + rnd_below(24);
        uint64_t a = rnd() >> (11 + rnd_below(53)); /* < 2^53 */
        uint64_t b = (rnd() & ((1ULL << j) - 1)) | 1;
        double d = ldexp((double)b, -(int)j) + (double)a;
        return rnd_below(2) ? -d : d;
    }
    case 4: { /* integers up to and around 2^64 and 2^63 */
        double base = rnd_below(2) ? 18446744073709551616.0
                                   : 9223372036854775808.0;
        switch (rnd_below(4)) {
        case 0: return (double)rnd();
        case 1: return nextafter(base, 0);
        case 2: return nextafter(base, INFINITY);
        default: return base;
        }
    }
    case 5: { /* just below / above 10^k */
        double p = pow(10, (int)rnd_below(21));
        double d = rnd_below(2) ? nextafter(p, 0) : nextafter(p, INFINITY);
        return rnd_below(4) ? d : -d;
    }
    case 6: { /* around the 64 / 71 / 124-bit shift boundaries */
        static const int es[] = {-52, -53, -63, -64, -65, -70, -71, -72,
                                 -73, -126, -127, -128, -129, -180};
        uint64_t m = (rnd() >> 11) | (1ULL << 52);
        return ldexp((double)m, es[rnd_below(sizeof es / sizeof es[0])]);
    }
    case 7: /* denormals, both signs */
        return bits_double((rnd() & ((1ULL << 52) - 1)) |
                           (rnd_below(2) ? 1ULL << 63 : 0));
    case 8: { /* signed zeros and tiny negatives */
        static const double z[] = {0.0, -0.0, -1e-9, -4e-7, -5e-7, -6e-7,
                                   -DBL_TRUE_MIN, -DBL_MIN, -1e-300};
        return z[rnd_below(sizeof z / sizeof z[0])];
    }
    case 9:
        return strtod(strings[rnd_below(sizeof strings / sizeof strings[0])],
                      NULL) * (rnd_below(3) ? 1 : -1);
    case 10: /* random magnitude 2^-80 .. 2^70 */
        return ldexp((double)(rnd() >> 11), (int)rnd_below(150) - 133) *
               (rnd_below(2) ? 1 : -1);
    case 11: /* a float promoted at the call */
        return (float)bits_double(rnd());
    case 12: { /* a few ulps around a decimal with few digits */
        double d = (double)(rnd() % 1000000) / pow(10, rnd_below(8));
        int k = (int)rnd_below(5) - 2;
        for (; k > 0; k--)
            d = nextafter(d, INFINITY);
        for (; k < 0; k++)
            d = nextafter(d, 0);
        return d;
    }
    default:
        return rand_double(); /* NaN, infinities, huge: the fallback */
    }
}

/* One %f / %F conversion of v, random flags, width and precision 0..17. */
static void one_f(double v)
{
    char fmt[96];
    char *q = fmt;
    enc e = {.n = 0};
    int hasw = 0, hasp = 0, w = 0, p = 0;
    *q++ = '<';
    *q++ = '%';
    for (const char *fl = "-+ 0"; *fl; fl++)
        if (rnd_below(3) == 0)
            *q++ = *fl;
    if (rnd_below(40) == 0)
        *q++ = '#'; /* snprintf's path, compared all the same */
    switch (rnd_below(4)) {
    case 0: break;
    case 1: q += sprintf(q, "%u", 1 + rnd_below(30)); break;
    case 2: q += sprintf(q, "%u", 1 + rnd_below(70)); break;
    default:
        *q++ = '*';
        hasw = 1;
        w = (int)rnd_below(81) - 40;
        break;
    }
    switch (rnd_below(6)) {
    case 0: break; /* 6 */
    case 1: *q++ = '.'; break;
    case 2:
        *q++ = '.';
        *q++ = '*';
        hasp = 1;
        p = (int)rnd_below(21) - 2; /* negative: as if absent */
        break;
    default: q += sprintf(q, ".%u", rnd_below(18)); break;
    }
    q += sprintf(q, "%s%c>", rnd_below(4) ? "" : "l", rnd_below(3) ? 'f' : 'F');
    if (hasw)
        enc_i(&e, w);
    if (hasp)
        enc_i(&e, p);
    enc_d(&e, v);
    int n = hasw ? (hasp ? snprintf(expbuf, sizeof expbuf, fmt, w, p, v)
                         : snprintf(expbuf, sizeof expbuf, fmt, w, v))
                 : (hasp ? snprintf(expbuf, sizeof expbuf, fmt, p, v)
                         : snprintf(expbuf, sizeof expbuf, fmt, v));
    check(fmt, &e, expbuf, n);
}

Test(printf, fixed_point_f_exact_against_snprintf)
{
    for (int it = 0; it < 200000; it++)
        one_f(rand_f_double());
}

/* Every precision 0..17 for each value, no flags: the rounding itself. */
Test(printf, fixed_point_f_every_precision)
{
    for (int it = 0; it < 20000; it++) {
        double v = rand_f_double();
        for (int prec = 0; prec <= 17; prec++) {
            enc e = {.n = 0};
            enc_i(&e, prec);
            enc_d(&e, v);
            int n = snprintf(expbuf, sizeof expbuf, "%.*f", prec, v);
            check("%.*f", &e, expbuf, n);
        }
    }
}

static void render_is(const char *fmt, const enc *e, const char *want);

static void f_is(const char *fmt, double v, const char *want)
{
    enc e = {.n = 0};
    enc_d(&e, v);
    int n = snprintf(expbuf, sizeof expbuf, fmt, v);
    check(fmt, &e, expbuf, n);
    render_is(fmt, &e, want);
}

Test(printf, fixed_point_f_known_answers)
{
    f_is("%f", 9.9999999, "10.000000");
    f_is("%f", -0.0, "-0.000000");
    f_is("%f", -1e-9, "-0.000000");
    f_is("%+f", 0.0, "+0.000000");
    f_is("% .0f", 0.0, " 0");
    f_is("%.0f", 0.5, "0");
    f_is("%.0f", 1.5, "2");
    f_is("%.0f", 2.5, "2");
    f_is("%.0f", -2.5, "-2");
    f_is("%.1f", 0.25, "0.2");
    f_is("%.1f", 0.35, "0.3"); /* 0.35 is 0.34999999999999997... */
    f_is("%.2f", 0.125, "0.12");
    f_is("%.2f", 0.375, "0.38");
    f_is("%.6f", 0.0000005, "0.000000"); /* 4.99999999999999977e-7 */
    f_is("%.6f", 2.5e-7, "0.000000");
    f_is("%.6f", 1.0000005, "1.000001");
    f_is("%010.3f", -3.14159, "-00003.142");
    f_is("%-10.1fX", 3.25, "3.2       X");
    f_is("%F", 1e19, "10000000000000000000.000000");
    f_is("%.0f", 18446744073709549568.0, "18446744073709549568");
    f_is("%.0f", 18446744073709551616.0, "18446744073709551616"); /* 2^64 */
    f_is("%.17f", DBL_TRUE_MIN, "0.00000000000000000");
    f_is("%.17f", 5e-18, "0.00000000000000001");

    /* The hot format of the worker, with many values. */
    for (int it = 0; it < 20000; it++) {
        enc e = {.n = 0};
        unsigned long a = (unsigned long)rnd(), b = (unsigned long)rand_bits();
        double d = rand_f_double();
        enc_u(&e, a);
        enc_u(&e, b);
        enc_d(&e, d);
        const char *fmt = "Iteration: %lu int: %lu double: %f";
        int n = snprintf(expbuf, sizeof expbuf, fmt, a, b, d);
        check(fmt, &e, expbuf, n);
    }
}

/* glibc's printf rounds in the current rounding mode: the exact path must
 * step aside for snprintf then. */
Test(printf, fixed_point_f_follows_the_rounding_mode)
{
    static const int modes[] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    volatile double tenth = 0.1;
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        cr_assert_eq(fesetround(modes[k]), 0);
        for (int it = 0; it < 5000; it++)
            one_f(rand_f_double());
        enc e = {.n = 0};
        enc_d(&e, tenth);
        int n = snprintf(expbuf, sizeof expbuf, "%.1f", tenth);
        check("%.1f", &e, expbuf, n);
        cr_assert_str_eq(expbuf, modes[k] == FE_UPWARD ? "0.2" : "0.1");
        fesetround(FE_TONEAREST);
    }
}

/* A locale whose decimal point is not ".": snprintf's answer. Uses
 * whichever such locale is installed (LOCPATH may point at one). */
Test(printf, fixed_point_f_follows_the_decimal_point)
{
    static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8",
                                        "fr_FR.UTF-8", "fr_FR.utf8", "de_DE",
                                        "fr_FR"};
    locale_t loc = (locale_t)0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !loc; i++)
        loc = newlocale(LC_NUMERIC_MASK, names[i], (locale_t)0);
    if (!loc)
        cr_skip_test("no locale with a decimal comma installed");
    locale_t old = uselocale(loc);
    enc e = {.n = 0};
    enc_d(&e, 2.5);
    int n = snprintf(expbuf, sizeof expbuf, "%.2f", 2.5);
    check("%.2f", &e, expbuf, n);
    int comma = strcmp(expbuf, "2,50") == 0;
    for (int it = 0; it < 2000; it++)
        one_f(rand_f_double());
    uselocale(old);
    freelocale(loc);
    cr_assert(comma, "the locale printed %s", expbuf);
}

Test(printf, chars)
{
    for (int it = 0; it < 5000; it++) {
        prefix x;
        char fmt[96];
        enc e = {.n = 0};
        rand_prefix(&x, "-0", 10);
        /* hh/h make no difference to %c */
        snprintf(fmt, sizeof fmt, "<%s%sc>", x.text,
                 (const char *[]){"", "", "hh", "h"}[rnd_below(4)]);
        enc_stars(&e, &x);
        int v;
        if (rnd_below(2)) {
            char c = (char)rnd(); /* includes '\0' and bytes >= 0x80 */
            v = c;
        } else {
            v = (int)rand_bits(); /* an int: printf prints (unsigned char) */
        }
        enc_i(&e, v);
        int n = EXPECT(&x, fmt, v);
        check(fmt, &e, expbuf, n);
    }
    /* %lc in the C locale: ASCII prints, others fail in snprintf (and so
     * render nothing). */
    enc e = {.n = 0};
    enc_u(&e, (wint_t)'A');
    int n = snprintf(expbuf, sizeof expbuf, "[%lc|%-3lc]", (wint_t)'A',
                     (wint_t)'A');
    enc_u(&e, (wint_t)'A');
    check("[%lc|%-3lc]", &e, expbuf, n);
}

static void rand_string(char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (rnd_below(4)) {
        case 0: s[i] = (char)(1 + rnd_below(31)); break;  /* controls */
        case 1: s[i] = (char)(0x80 + rnd_below(128)); break; /* high bytes */
        default: s[i] = (char)(' ' + rnd_below(95)); break;
        }
    }
    s[len] = '\0';
}

Test(printf, strings_lengths_0_to_300_and_null)
{
    static char s[400];
    for (int it = 0; it < 20000; it++) {
        prefix x;
        char fmt[96];
        enc e = {.n = 0};
        rand_prefix(&x, "-0", 320);
        snprintf(fmt, sizeof fmt, "<%s%s>", x.text, rnd_below(8) ? "s" : "hhs");
        enc_stars(&e, &x);
        const char *v = NULL;
        if (rnd_below(6)) {
            rand_string(s, rnd_below(301));
            v = s;
        }
        enc_s(&e, v);
        int n = EXPECT(&x, fmt, v);
        check(fmt, &e, expbuf, n);
    }
}

/* glibc prints NULL strings; hidden from gcc's null-argument warning. */
static const char *volatile null_str = NULL;

Test(printf, null_string_every_precision)
{
    for (int prec = -3; prec <= 10; prec++) {
        for (int width = -12; width <= 12; width += 3) {
            enc e = {.n = 0};
            enc_i(&e, width);
            enc_i(&e, prec);
            enc_s(&e, NULL);
            int n = snprintf(expbuf, sizeof expbuf, "[%*.*s]", width, prec,
                             null_str);
            check("[%*.*s]", &e, expbuf, n);
        }
        char fmt[32];
        snprintf(fmt, sizeof fmt, "[%%.%ds|%%-9.%ds]", prec < 0 ? 0 : prec,
                 prec < 0 ? 0 : prec);
        enc e = {.n = 0};
        enc_s(&e, NULL);
        enc_s(&e, NULL);
        int n = snprintf(expbuf, sizeof expbuf, fmt, null_str, null_str);
        check(fmt, &e, expbuf, n);
    }
    enc e = {.n = 0};
    enc_s(&e, NULL);
    int n = snprintf(expbuf, sizeof expbuf, "%s", null_str);
    check("%s", &e, expbuf, n);
}

Test(printf, pointers)
{
    for (int it = 0; it < 5000; it++) {
        prefix x;
        char fmt[96];
        enc e = {.n = 0};
        rand_prefix(&x, "-0+ #", 30);
        snprintf(fmt, sizeof fmt, "<%sp>", x.text);
        enc_stars(&e, &x);
        void *v = rnd_below(5) ? (void *)(uintptr_t)rand_bits() : NULL;
        enc_p(&e, v);
        int n = EXPECT(&x, fmt, v);
        check(fmt, &e, expbuf, n);
    }
}

Test(printf, literals_and_percent)
{
    static const char *const fmts[] = {
        "", "plain text", "100%%", "%%%%", "a%%b%%c", "tab\there\nnewline",
        "\x01\x7f\xc3\xa9\xff", "%5%|", "%-5%|", "%%d"};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        enc e = {.n = 0};
        /* the dummy argument is never consumed by these formats */
        int n = snprintf(expbuf, sizeof expbuf, fmts[i], 0);
        check(fmts[i], &e, expbuf, n);
    }
}

/* Several conversions in one format: build with random typed pieces and
 * compare with one snprintf call per piece concatenated (printf is
 * compositional for non-positional formats) -- and hand-written ones below
 * with a single snprintf call. */
Test(printf, many_conversions_in_one_format)
{
    static char s[400];
    for (int it = 0; it < 5000; it++) {
        char fmt[1024] = "";
        static char exp[65536];
        int explen = 0;
        enc e = {.n = 0};
        unsigned pieces = 1 + rnd_below(8);
        for (unsigned k = 0; k < pieces; k++) {
            char lit[16];
            rand_string(lit, rnd_below(6));
            for (char *q = lit; *q; q++)
                if (*q == '%')
                    *q = '#';
            strcat(fmt, lit);
            memcpy(exp + explen, lit, strlen(lit));
            explen += (int)strlen(lit);
            prefix x;
            char piece[96];
            int n;
            switch (rnd_below(5)) {
            case 0: {
                rand_prefix(&x, "-+ 0", 20);
                snprintf(piece, sizeof piece, "%sd", x.text);
                enc_stars(&e, &x);
                int v = (int)rand_bits();
                enc_i(&e, v);
                n = EXPECT(&x, piece, v);
                break;
            }
            case 1: {
                rand_prefix(&x, "-#0", 20);
                snprintf(piece, sizeof piece, "%sllx", x.text);
                enc_stars(&e, &x);
                unsigned long long v = rand_bits();
                enc_u(&e, v);
                n = EXPECT(&x, piece, v);
                break;
            }
            case 2: {
                rand_prefix(&x, "-", 20);
                snprintf(piece, sizeof piece, "%ss", x.text);
                enc_stars(&e, &x);
                rand_string(s, rnd_below(40));
                const char *v = rnd_below(8) ? s : NULL;
                enc_s(&e, v);
                n = EXPECT(&x, piece, v);
                break;
            }
            case 3: {
                rand_prefix(&x, "-+ #0", 20);
                snprintf(piece, sizeof piece, "%s%c", x.text,
                         rnd_below(2) ? 'g' : 'f');
                enc_stars(&e, &x);
                double v = rand_double();
                enc_d(&e, v);
                n = EXPECT(&x, piece, v);
                break;
            }
            default:
                snprintf(piece, sizeof piece, "%%%%");
                n = snprintf(expbuf, sizeof expbuf, "%%");
                break;
            }
            cr_assert_geq(n, 0);
            strcat(fmt, piece);
            memcpy(exp + explen, expbuf, (size_t)n);
            explen += n;
        }
        check(fmt, &e, exp, explen);
    }
}

Test(printf, fixed_multi_argument_calls)
{
    enc e = {.n = 0};
    const char *f1 = "user %s logged in after %d tries (%5.2f s, id %#llx, %p)";
    void *ptr = (void *)(uintptr_t)0x7ffde000;
    enc_s(&e, "alice");
    enc_i(&e, 3);
    enc_d(&e, 0.125);
    enc_u(&e, 0xdeadbeefULL);
    enc_p(&e, ptr);
    int n = snprintf(expbuf, sizeof expbuf, f1, "alice", 3, 0.125,
                     0xdeadbeefULL, ptr);
    check(f1, &e, expbuf, n);

    enc e2 = {.n = 0};
    const char *f2 = "%-*.*s|%0*d|%+.*e|%hhu|%zu|%jd|%td|%%|%c";
    enc_i(&e2, -10);
    enc_i(&e2, 3);
    enc_s(&e2, "abcdef");
    enc_i(&e2, 8);
    enc_i(&e2, -42);
    enc_i(&e2, -1);
    enc_d(&e2, -0.0);
    enc_u(&e2, (unsigned char)250);
    enc_u(&e2, (size_t)SIZE_MAX);
    enc_i(&e2, (intmax_t)INT64_MIN);
    enc_i(&e2, (ptrdiff_t)-7);
    enc_i(&e2, 'Z');
    n = snprintf(expbuf, sizeof expbuf, f2, -10, 3, "abcdef", 8, -42, -1,
                 -0.0, (unsigned char)250, (size_t)SIZE_MAX,
                 (intmax_t)INT64_MIN, (ptrdiff_t)-7, 'Z');
    check(f2, &e2, expbuf, n);

    enc e3 = {.n = 0};
    const char *f3 = "%lld %llu %d %u %f %f %f %a";
    enc_i(&e3, INT64_MIN);
    enc_u(&e3, UINT64_MAX);
    enc_i(&e3, INT32_MIN);
    enc_u(&e3, UINT32_MAX);
    enc_d(&e3, NAN);
    enc_d(&e3, -INFINITY);
    enc_d(&e3, DBL_MAX);
    enc_d(&e3, DBL_TRUE_MIN);
    n = snprintf(expbuf, sizeof expbuf, f3, (long long)INT64_MIN,
                 (unsigned long long)UINT64_MAX, INT32_MIN, UINT32_MAX, NAN,
                 -INFINITY, DBL_MAX, DBL_TRUE_MIN);
    check(f3, &e3, expbuf, n);
}

Test(printf, narrowing_follows_the_length_modifier)
{
    enc e = {.n = 0};
    enc_i(&e, 300);
    enc_i(&e, -1);
    enc_i(&e, 70000);
    enc_i(&e, -1);
    int n = snprintf(expbuf, sizeof expbuf, "%hhd %u %hd %hhx", 300, -1,
                     70000, -1);
    check("%hhd %u %hd %hhx", &e, expbuf, n);
    cr_assert_str_eq(expbuf, "44 4294967295 4464 ff");
}

Test(printf, string_bytes_are_not_nul_terminated)
{
    /* The encoding has no NUL; a NUL inside it ends %s as in snprintf. */
    const char bytes[] = {'a', 'b', '\0', 'c', 'd'};
    int n = snprintf(expbuf, sizeof expbuf, "[%s|%-6s|%.2s]", bytes, bytes,
                     "xyz");
    enc e3 = {.n = 0};
    enc_sn(&e3, bytes, sizeof bytes);
    enc_sn(&e3, bytes, sizeof bytes);
    enc_sn(&e3, "xyz", 3);
    check("[%s|%-6s|%.2s]", &e3, expbuf, n);
    cr_assert_str_eq(expbuf, "[ab|ab    |xy]");
}

/* ---- error behaviours ------------------------------------------------------ */

Test(printf, truncated_encoding_returns_minus_one)
{
    enc e = {.n = 0};
    enc_i(&e, 12345);
    enc_s(&e, "hello world");
    enc_d(&e, 2.5);
    enc_s(&e, NULL);
    enc_p(&e, &e);
    const char *fmt = "a=%d s=%s d=%g n=%s p=%p";
    cr_assert_eq(render(fmt, &e), 0);
    size_t full = e.len;
    for (size_t cut = 0; cut < full; cut++) {
        enc t = e;
        t.len = cut;
        cr_assert_eq(render(fmt, &t), -1, "cut at %zu of %zu", cut, full);
    }
    /* Unused arguments are still checked. */
    for (size_t cut = 0; cut < full; cut++) {
        enc t = e;
        t.len = cut;
        cr_assert_eq(render("no conversions", &t), -1);
        cr_assert_eq(rbuf.len, strlen("no conversions"));
    }
    /* A string length beyond the buffer, and UINT32_MAX-1. */
    enc t = {.n = 0};
    enc_sn(&t, "abc", 3);
    uint32_t huge = UINT32_MAX - 1;
    memcpy(t.bytes, &huge, 4);
    cr_assert_eq(render("%s", &t), -1);
    cr_assert_eq(rbuf.len, 0);
    /* Rendering what came before the short argument. */
    enc u = {.n = 0};
    enc_i(&u, 7);
    enc_i(&u, 8);
    u.len = 12;
    cr_assert_eq(render("x=%d y=%d", &u), -1);
    cr_assert_eq(rbuf.len, 6);
    cr_assert_eq(memcmp(rbuf.data, "x=7 y=", 6), 0);
    /* An unknown type code. */
    enc v = {.n = 0};
    enc_raw(&v, 99, 1);
    cr_assert_eq(render("%d", &v), -1);
    enc w = {.n = 0};
    enc_raw(&w, 0, 1);
    cr_assert_eq(render("x", &w), -1);
}

static void render_is(const char *fmt, const enc *e, const char *want)
{
    int r = render(fmt, e);
    cr_assert_eq(r, 0, "\"%s\" returned %d", fmt, r);
    cr_assert_eq(rbuf.len, strlen(want), "\"%s\" gave %zu bytes, want \"%s\"",
                 fmt, rbuf.len, want);
    cr_assert(rbuf.len == 0 || memcmp(rbuf.data, want, rbuf.len) == 0,
                 "\"%s\" gave \"%.*s\", want \"%s\"", fmt, (int)rbuf.len,
                 rbuf.data, want);
}

Test(printf, missing_arguments_render_nothing)
{
    enc e = {.n = 0};
    enc_i(&e, 5);
    render_is("a=%d b=%s c=%f d=%p e=%c end", &e, "a=5 b= c= d= e= end");
    enc none = {.n = 0};
    render_is("%*d|%.*f|%s|%%", &none, "|||%");
    enc w = {.n = 0};
    enc_i(&w, 6);
    render_is("[%*d]", &w, "[]");
}

Test(printf, mismatched_types_do_not_crash_and_are_documented)
{
    static const char *const convs[] = {
        "%d", "%i", "%u", "%o", "%x", "%X", "%b", "%c", "%s", "%p", "%f",
        "%e", "%g", "%a", "%n", "%hhd", "%lu", "%zx", "%Lf", "%ls", "%lc",
        "%-12.5d", "%+#012x", "%-10.3s", "%08p", "%+.3e", "%5c", "%*d",
        "%.*s"};
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
        for (int t = SLUICE_ARG_INT; t <= SLUICE_ARG_POINTER + 1; t++) {
            enc e = {.n = 0};
            switch (t) {
            case SLUICE_ARG_INT: enc_i(&e, -123456789); break;
            case SLUICE_ARG_UINT: enc_u(&e, UINT64_MAX); break;
            case SLUICE_ARG_DOUBLE: enc_d(&e, -3.75e30); break;
            case SLUICE_ARG_STRING: enc_s(&e, "str"); break;
            case SLUICE_ARG_POINTER: enc_p(&e, &e); break;
            default: enc_s(&e, NULL); break;
            }
            enc_d(&e, NAN); /* a second, for the * conversions */
            cr_assert_eq(render(convs[i], &e), 0);
        }
    }
    enc e = {.n = 0};
    enc_d(&e, 3.9);
    enc_d(&e, -1e300);
    enc_d(&e, NAN);
    render_is("%d %lld %x", &e, "3 -9223372036854775808 0");
    enc f = {.n = 0};
    enc_s(&f, "abc");
    enc_s(&f, "abc");
    enc_s(&f, NULL);
    render_is("[%d|%-5.1x|%8f]", &f, "[abc|abc  |  (null)]");
    enc g = {.n = 0};
    enc_i(&g, -42);
    enc_u(&g, 42);
    enc_d(&g, 0.5);
    enc_p(&g, (void *)(uintptr_t)0x10);
    render_is("[%s|%-4s|%5.1s|%s]", &g, "[-42|42  |  0.5|0x10]");
    enc h = {.n = 0};
    enc_i(&h, 2);
    enc_i(&h, 16);
    enc_u(&h, 0);
    render_is("%.1f %p %p", &h, "2.0 0x10 (nil)");
}

Test(printf, unsupported_and_special_conversions)
{
    enc e = {.n = 0};
    enc_d(&e, 1.5);
    enc_i(&e, 7);
    enc_i(&e, 8);
    enc_u(&e, 9);
    render_is("[%Lf|%d|%n|%u]", &e, "[|7||9]");
    enc f = {.n = 0};
    enc_i(&f, 1);
    render_is("%y %-5y %1$d %d%m.", &f, "%y %-5y %1$d 1.");
    enc g = {.n = 0};
    enc_i(&g, 1);
    render_is("%d tail %", &g, "1 tail ");
    render_is("%d tail %-08.", &g, "1 tail ");
    /* Huge widths are clamped rather than allocating gigabytes. */
    enc h = {.n = 0};
    enc_i(&h, 1);
    cr_assert_eq(render("%999999999999d", &h), 0);
    cr_assert_eq(rbuf.len, 65536);
}

/* ---- compiled programs and the cache -------------------------------------
 * The worker compiles each call site's format once and runs the program
 * for every record. The program must give what the one-pass interpreter
 * gives, byte for byte and with the same return value, for any format
 * (well-typed or not: missing and mismatched arguments, short encodings,
 * unknown type codes, %n, stars, cut-off specs), and a program must not
 * remember anything of the arguments it rendered last. */

static void rand_piece(char *f, size_t *at, size_t cap)
{
    static const char *const lens[] = {"", "", "", "hh", "h", "l", "ll", "q",
                                       "j", "z", "Z", "t", "L"};
    static const char convs[] = "diuoxXbBcCsSpfFeEgGaAnm%yk";
    char p[64];
    size_t n = 0;
    switch (rnd_below(8)) {
    case 0: /* literal text, sometimes with "%%" */
        for (unsigned i = rnd_below(6); i > 0; i--)
            p[n++] = (char)('a' + rnd_below(26));
        if (rnd_below(3) == 0) {
            p[n++] = '%';
            p[n++] = '%';
        }
        break;
    case 1: /* positional: copied as text */
        n = (size_t)snprintf(p, sizeof p, "%%%u$d", 1 + rnd_below(3));
        break;
    default:
        p[n++] = '%';
        for (unsigned i = rnd_below(3); i > 0; i--)
            p[n++] = "-+ #0'I"[rnd_below(7)];
        switch (rnd_below(4)) {
        case 1: n += (size_t)snprintf(p + n, sizeof p - n, "%u", 1 + rnd_below(20)); break;
        case 2: p[n++] = '*'; break;
        default: break;
        }
        switch (rnd_below(5)) {
        case 1: n += (size_t)snprintf(p + n, sizeof p - n, ".%u", rnd_below(20)); break;
        case 2: p[n++] = '.'; p[n++] = '*'; break;
        case 3: p[n++] = '.'; break;
        default: break;
        }
        const char *l = lens[rnd_below(sizeof lens / sizeof lens[0])];
        memcpy(p + n, l, strlen(l));
        n += strlen(l);
        p[n++] = convs[rnd_below(sizeof convs - 1)];
        break;
    }
    if (*at + n < cap) {
        memcpy(f + *at, p, n);
        *at += n;
    }
    f[*at] = '\0';
}

static void rand_format(char *f, size_t cap)
{
    size_t at = 0;
    f[0] = '\0';
    for (unsigned i = rnd_below(8); i > 0; i--)
        rand_piece(f, &at, cap);
    if (rnd_below(8) == 0 && at + 4 < cap) { /* a spec cut off by the end */
        static const char *const cuts[] = {"%", "%-0", "%*", "%.*", "%5.", "%ll"};
        const char *c = cuts[rnd_below(6)];
        memcpy(f + at, c, strlen(c) + 1);
    }
}

/* Random types: mostly the five known ones, sometimes an unknown code. */
static size_t rand_types(unsigned char *t, size_t cap)
{
    size_t n = rnd_below(9);
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++)
        t[i] = rnd_below(40) == 0 ? (unsigned char)(rnd_below(2) ? 0 : 99)
                                  : (unsigned char)(1 + rnd_below(5));
    return n;
}

/* An encoding of values for the given types (unknown codes get 8 bytes). */
static void rand_encoding(enc *e, const unsigned char *t, size_t n)
{
    static const char *const strs[] = {"", "x", "hello", "a\0b", "%d%s", NULL};
    e->n = 0;
    e->len = 0;
    for (size_t i = 0; i < n; i++) {
        switch (t[i]) {
        case SLUICE_ARG_INT:
            enc_i(e, rnd_below(4) == 0 ? (long long)(rnd_below(41)) - 20
                                       : (long long)rand_bits());
            break;
        case SLUICE_ARG_UINT: enc_u(e, rand_bits()); break;
        case SLUICE_ARG_DOUBLE: enc_d(e, rand_double()); break;
        case SLUICE_ARG_POINTER: enc_p(e, (void *)(uintptr_t)rand_bits()); break;
        case SLUICE_ARG_STRING: {
            unsigned k = rnd_below(6);
            enc_sn(e, strs[k], k == 3 ? 3 : strs[k] ? strlen(strs[k]) : 0);
            break;
        }
        default: enc_raw(e, t[i], rand_bits()); break;
        }
    }
}

static sluice_buf ibuf;

/* Run p on e (and e cut at cut bytes) and compare with the interpreter. */
static void compare_run(const sluice_printf_program *p, const char *fmt,
                        const unsigned char *types, size_t ntypes,
                        const enc *e, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1); /* exact size, for ASan */
    cr_assert_not_null(copy);
    memcpy(copy, e->bytes, len);
    sluice_buf_reset(&rbuf);
    sluice_buf_reset(&ibuf);
    int rr = sluice_printf_run(&rbuf, p, copy, len);
    int ri = sluice_printf_render_interp(&ibuf, fmt, types, ntypes, copy, len);
    free(copy);
    if (rr != ri || rbuf.len != ibuf.len ||
        (rbuf.len && memcmp(rbuf.data, ibuf.data, rbuf.len) != 0)) {
        char a[2048], b[2048], f[512];
        show(a, sizeof a, ibuf.data ? ibuf.data : "", ibuf.len);
        show(b, sizeof b, rbuf.data ? rbuf.data : "", rbuf.len);
        show(f, sizeof f, fmt, strlen(fmt));
        cr_assert_fail("seed %llu (SLUICE_TEST_SEED to replay): format \"%s\", "
                       "%zu types, %zu of %zu bytes\n"
                       "  interpreter: [%s] r=%d\n"
                       "  program:     [%s] r=%d",
                       (unsigned long long)seed_used, f, ntypes, len, e->len,
                       a, ri, b, rr);
    }
}

Test(printf, compiled_program_matches_the_interpreter)
{
    sluice_buf_init(&ibuf);
    char fmt[256];
    unsigned char types[16];
    for (int iter = 0; iter < 20000; iter++) {
        rand_format(fmt, sizeof fmt);
        size_t nt = rand_types(types, sizeof types);
        sluice_printf_program *p = NULL;
        cr_assert_eq(sluice_printf_compile(fmt, types, nt, &p), 0);
        /* One program, several encodings: nothing carries over. */
        for (int k = 0; k < 4; k++) {
            enc e;
            rand_encoding(&e, types, nt);
            compare_run(p, fmt, types, nt, &e, e.len);
            size_t cut = e.len ? rnd() % e.len : 0;
            compare_run(p, fmt, types, nt, &e, cut);
            /* sluice_printf_render (compile + run + free) agrees too. */
            sluice_buf_reset(&ibuf);
            int ri = sluice_printf_render_interp(&ibuf, fmt, types, nt,
                                                 e.bytes, e.len);
            int r = render(fmt, &e);
            cr_assert_eq(r, ri);
            cr_assert_eq(rbuf.len, ibuf.len);
            cr_assert(rbuf.len == 0 ||
                      memcmp(rbuf.data, ibuf.data, rbuf.len) == 0);
        }
        sluice_printf_program_free(p);
    }
    sluice_buf_free(&ibuf);
}

Test(printf, compiled_program_edge_cases)
{
    sluice_buf_init(&ibuf);
    static const char *const fmts[] = {
        "", "plain", "%%", "%d", "%s%d", "%*d", "%.*s", "%*.*f", "%*%",
        "%*m", "%*y", "%n%d", "%Lf%d", "%d%", "%*", "%.*", "%1$d %d",
        "a%sb%sc%sd", "%lu %lu %f", "%s %lu", "%-*s|", "%ls %S %lc %C"};
    unsigned char types[8];
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        for (int iter = 0; iter < 300; iter++) {
            size_t nt = rand_types(types, sizeof types);
            sluice_printf_program *p = NULL;
            cr_assert_eq(sluice_printf_compile(fmts[i], types, nt, &p), 0);
            enc e;
            rand_encoding(&e, types, nt);
            for (size_t cut = 0; cut <= e.len; cut++)
                compare_run(p, fmts[i], types, nt, &e, cut);
            sluice_printf_program_free(p);
        }
    }
    /* The program owns its text: the format may go away after compiling. */
    char *f = strdup("x=%d y=%s z");
    unsigned char t2[2] = {SLUICE_ARG_INT, SLUICE_ARG_STRING};
    sluice_printf_program *p = NULL;
    cr_assert_eq(sluice_printf_compile(f, t2, 2, &p), 0);
    memset(f, '?', strlen(f));
    free(f);
    enc e = {.n = 0};
    enc_i(&e, -7);
    enc_s(&e, "ok");
    sluice_buf_reset(&rbuf);
    cr_assert_eq(sluice_printf_run(&rbuf, p, e.bytes, e.len), 0);
    cr_assert_eq(rbuf.len, strlen("x=-7 y=ok z"));
    cr_assert_eq(memcmp(rbuf.data, "x=-7 y=ok z", rbuf.len), 0);
    sluice_printf_program_free(p);
    sluice_buf_free(&ibuf);
}

Test(printf, cache_keeps_one_program_per_call_site)
{
    sluice_buf_init(&ibuf);
    enum { NKEYS = 3000 };
    static char sites[NKEYS]; /* the keys: one address per call site */
    static char fmts[NKEYS][40];
    static const sluice_printf_program *progs[NKEYS];
    unsigned char types[2] = {SLUICE_ARG_INT, SLUICE_ARG_STRING};
    sluice_printf_cache c;
    sluice_printf_cache_init(&c);
    cr_assert_null(sluice_printf_cache_get(&c, NULL, "x", types, 0));
    for (int i = 0; i < NKEYS; i++) {
        snprintf(fmts[i], sizeof fmts[i], "site %d: %%d %%s %s", i,
                 i % 2 ? "odd" : "even");
        progs[i] = sluice_printf_cache_get(&c, &sites[i], fmts[i], types, 2);
        cr_assert_not_null(progs[i]);
        cr_assert_eq(sluice_printf_cache_get(&c, &sites[i], fmts[i], types, 2),
                     progs[i]);
    }
    cr_assert_eq(c.count, NKEYS);
    cr_assert_geq(c.cap, 2 * NKEYS, "the table grew");
    /* After all the growth every key still finds its own program, in any
     * order, and it renders its own format. */
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < NKEYS; k++) {
            int i = round == 0 ? k : round == 1 ? NKEYS - 1 - k
                                                : (int)rnd_below(NKEYS);
            const sluice_printf_program *p =
                sluice_printf_cache_get(&c, &sites[i], fmts[i], types, 2);
            cr_assert_eq(p, progs[i], "key %d", i);
            for (int j = 0; j < i; j += 997)
                cr_assert_neq(progs[j], p);
            enc e = {.n = 0};
            enc_i(&e, (long long)rand_bits());
            enc_s(&e, i % 3 ? "str" : NULL);
            compare_run(p, fmts[i], types, 2, &e, e.len);
        }
    }
    /* A key that comes back with another format (a call site at the
     * address of an unloaded one) gets a program for the new format. */
    static const char other[] = "other %d [%s]";
    const sluice_printf_program *q =
        sluice_printf_cache_get(&c, &sites[5], other, types, 2);
    cr_assert_not_null(q);
    enc e = {.n = 0};
    enc_i(&e, 42);
    enc_s(&e, "x");
    sluice_buf_reset(&rbuf);
    cr_assert_eq(sluice_printf_run(&rbuf, q, e.bytes, e.len), 0);
    cr_assert_eq(rbuf.len, strlen("other 42 [x]"));
    cr_assert_eq(memcmp(rbuf.data, "other 42 [x]", rbuf.len), 0);
    cr_assert_eq(sluice_printf_cache_get(&c, &sites[5], other, types, 2), q);
    cr_assert_eq(c.count, NKEYS);
    sluice_printf_cache_free(&c);
    cr_assert_eq(c.count, 0);
    /* A freed cache can be used again. */
    const sluice_printf_program *p =
        sluice_printf_cache_get(&c, &sites[0], fmts[0], types, 2);
    cr_assert_not_null(p);
    sluice_printf_cache_free(&c);
    sluice_buf_free(&ibuf);
}

/* ---- the signal-safe mode (the crash path) --------------------------------
 * What would go to vsnprintf with a width or precision above 256, the '
 * or I flag, or a wide character, prints its rebuilt spec; the rest is
 * snprintf's, as ever (tests/test_crash.c checks that none of it
 * allocates). */

static void check_safe(const char *fmt, const enc *e, const char *want)
{
    char storage[8192];
    sluice_buf out;
    sluice_buf_init_fixed(&out, storage, sizeof storage);
    sluice_printf_signal_safe_(1);
    int r = sluice_printf_render_interp(&out, fmt, e->types, e->n, e->bytes,
                                        e->len);
    sluice_printf_signal_safe_(0);
    cr_assert_eq(r, 0, "%s", fmt);
    cr_assert_not(out.failed, "%s", fmt);
    cr_assert_eq(out.len, strlen(want), "%s: [%.*s] is not [%s]", fmt,
                 (int)out.len, storage, want);
    cr_assert(memcmp(storage, want, out.len) == 0, "%s: [%.*s] is not [%s]",
              fmt, (int)out.len, storage, want);
}

Test(printf, signal_safe_mode_prints_the_spec_of_what_it_will_not_hand_to_snprintf)
{
    setlocale(LC_ALL, "C");
    enc e = {.n = 0};
    enc_u(&e, (unsigned long long)L'x');
    check_safe("[%lc]", &e, "[%lc]");
    e = (enc){.n = 0};
    enc_i(&e, 1234567);
    check_safe("[%'d]", &e, "[%'lld]");
    e = (enc){.n = 0};
    enc_i(&e, 1);
    check_safe("[%.257d]", &e, "[%.257lld]");
    e = (enc){.n = 0};
    enc_d(&e, 1.0);
    check_safe("[%257.2e]", &e, "[%257.2e]");
    e = (enc){.n = 0};
    enc_d(&e, 1.0);
    check_safe("[%.300f]", &e, "[%.300f]");
}

Test(printf, signal_safe_mode_renders_the_rest_as_snprintf_does)
{
    char want[8192];
    enc e = {.n = 0};
    enc_d(&e, DBL_MAX);
    snprintf(want, sizeof want, "%.256f", DBL_MAX);
    check_safe("%.256f", &e, want);
    e = (enc){.n = 0};
    enc_d(&e, -DBL_MAX);
    snprintf(want, sizeof want, "%256.200e", -DBL_MAX);
    check_safe("%256.200e", &e, want);
    e = (enc){.n = 0};
    enc_d(&e, 0.1);
    enc_d(&e, 1.0 / 3);
    enc_d(&e, NAN);
    snprintf(want, sizeof want, "%.17g %a %f", 0.1, 1.0 / 3, NAN);
    check_safe("%.17g %a %f", &e, want);
    e = (enc){.n = 0};
    enc_i(&e, 5);
    enc_u(&e, 255);
    enc_i(&e, 'q');
    enc_p(&e, (void *)0xbeef);
    snprintf(want, sizeof want, "%+.3d %#x %5c %-20p|", 5, 255u, 'q',
             (void *)0xbeef);
    check_safe("%+.3d %#x %5c %-20p|", &e, want);
    e = (enc){.n = 0};
    enc_i(&e, 42);
    snprintf(want, sizeof want, "%300d", 42); /* by hand, any width */
    check_safe("%300d", &e, want);
}
