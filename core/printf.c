/*
 * printf.c -- renders a deferred logging call: the call site's printf format
 * plus the arguments the producer encoded (SLUICE_ARG_* in sluice.h), with
 * the bytes snprintf would have produced had it been called with the
 * original, typed arguments. Knows nothing of queues, records or sinks.
 *
 * A format is compiled once into a program (literal runs and pre-decoded
 * conversions, see "compiled programs" below) that is run per record; the
 * worker keeps one per call site in a sluice_printf_cache. A one-pass
 * interpreter is the out-of-memory fallback; it shares the spec parser
 * (parse_spec) and the renderers with the programs.
 *
 * How it stays exact. The producer only kept promoted values (every signed
 * integer as int64, every unsigned one as uint64, float as double), so the
 * length modifier of each conversion says which C type the value had: the
 * value is narrowed to that type exactly as vfprintf would (%hhd of 300 is
 * 44, %u of -1 is 4294967295). An integer's printed form then depends only
 * on its value, so:
 *   - plain conversions (no flags, width or precision) of d i u o x X b,
 *     c, s and p, and integers with only a width and '-' / '0' flags
 *     ("%5d", "%08x"; '+' and ' ' too for d i), are written by hand here
 *     (the hot case, no snprintf);
 *   - %f / %F of a finite double whose integer part fits in 64 bits, with
 *     precision 0..17 and the flags '-' '0' '+' ' ', is written by hand
 *     too, exactly: integer arithmetic on the binary value, rounded
 *     half-to-even as glibc does (see render_f_exact), when the rounding
 *     mode is to-nearest and the locale's decimal point is ".";
 *   - everything else is handed to snprintf through a rebuilt one-conversion
 *     format ("%-08.3lld") with the narrowed value passed as long long /
 *     unsigned long long / double / void * / int, so flags, widths,
 *     precisions and the other floating-point forms are glibc's own.
 *   - %s is always done here: the encoded bytes are not NUL-terminated; as
 *     with snprintf, output stops at an embedded NUL, the precision cuts, the
 *     width pads with spaces (glibc ignores '0' for %s). A NULL string
 *     (length UINT32_MAX) prints "(null)" when the precision is absent or
 *     >= 6 and nothing otherwise, then pads, as glibc does.
 *
 * Deterministic answers where snprintf has none (a well-typed SLUICE_LOG
 * call, checked by the compiler's format attribute, never reaches these):
 *   - Missing argument (the format wants more than were encoded): that
 *     conversion renders nothing (and so does every later one).
 *   - Encoding shorter than the types say, or an unknown type code: stop and
 *     return -1; what was rendered before stays appended. The whole encoding
 *     is checked even when the format uses fewer arguments.
 *   - Type mismatch: an integer conversion (d i u o x X b B c) or %p given a
 *     DOUBLE uses the value converted to long long (truncated toward zero,
 *     saturated, NaN is 0); given a POINTER, its address as an integer; %p
 *     given INT/UINT uses that value as the address. A floating conversion
 *     given INT/UINT/POINTER uses the value converted to double. A STRING
 *     given to any conversion but %s prints as %s with only that spec's
 *     width and '-' flag. %s given a non-string prints the value's natural
 *     form (INT %lld, UINT %llu, DOUBLE %g, POINTER %p) with only the width
 *     and '-' flag.
 *   - 'L' (long double) is not supported: the argument is consumed and
 *     nothing is printed.
 *   - %n consumes its argument and prints nothing; %m prints nothing (the
 *     caller's errno is not captured). %% prints "%" whatever its flags.
 *   - %lc / %C go through snprintf with a wint_t; if the worker's locale
 *     cannot encode the character (snprintf fails), nothing is printed.
 *     %ls / %S print the encoded bytes as %s (wide strings are not copied by
 *     the producer; a wchar_t * arrives as a POINTER and prints as %p).
 *   - Positional arguments (%1$d) are not supported: the text is copied
 *     literally. An unknown conversion character is copied literally with
 *     its spec ("%y", "%-5y", as glibc does); a spec cut off by the end of
 *     the format prints nothing (glibc fails the whole call).
 *   - Widths and precisions are clamped to SLUICE_PRINTF_FIELD_MAX (a
 *     larger one is a bug in a log call; glibc fails beyond INT_MAX).
 */
#include "printf_internal.h"

#include <fenv.h>
#include <langinfo.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>
#include <wchar.h>

#include <sluice/sluice.h>

#define SLUICE_PRINTF_FIELD_MAX 65536

enum {
    F_MINUS = 1,
    F_PLUS = 2,
    F_SPACE = 4,
    F_HASH = 8,
    F_ZERO = 16,
    F_QUOTE = 32, /* glibc: thousands grouping */
    F_I = 64      /* glibc: locale's digits */
};

enum { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_J, LEN_Z, LEN_T, LEN_BIGL };

typedef struct spec {
    unsigned flags;
    int width; /* -1: none */
    int prec;  /* -1: none */
    int len;   /* LEN_* */
    char conv;
} spec;

/* One decoded argument. */
typedef struct arg {
    int type;
    uint64_t v;      /* INT, UINT, DOUBLE (bits), POINTER */
    const char *s;   /* STRING bytes, NULL for a NULL string */
    size_t slen;
} arg;

typedef struct cursor {
    const unsigned char *types;
    size_t ntypes, i;
    const unsigned char *p;
    size_t left;
} cursor;

/* 1: *a filled; 0: no more arguments; -1: the encoding is short or has an
 * unknown type code. */
static int next_arg(cursor *c, arg *a)
{
    if (c->i >= c->ntypes)
        return 0;
    a->type = c->types[c->i];
    switch (a->type) {
    case SLUICE_ARG_INT:
    case SLUICE_ARG_UINT:
    case SLUICE_ARG_DOUBLE:
    case SLUICE_ARG_POINTER:
        if (c->left < 8)
            return -1;
        memcpy(&a->v, c->p, 8);
        c->p += 8;
        c->left -= 8;
        break;
    case SLUICE_ARG_STRING: {
        uint32_t n;
        if (c->left < 4)
            return -1;
        memcpy(&n, c->p, 4);
        c->p += 4;
        c->left -= 4;
        if (n == UINT32_MAX) {
            a->s = NULL;
            a->slen = 0;
        } else {
            if (c->left < n)
                return -1;
            a->s = (const char *)c->p;
            a->slen = n;
            c->p += n;
            c->left -= n;
        }
        break;
    }
    default:
        return -1;
    }
    c->i++;
    return 1;
}

static double bits_to_double(uint64_t v)
{
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

static long long double_to_ll(double d)
{
    if (d != d)
        return 0;
    if (d >= 9223372036854775807.0) /* rounds to 2^63 */
        return INT64_MAX;
    if (d <= -9223372036854775807.0 - 1.0)
        return INT64_MIN;
    return (long long)d;
}

/* The raw 64 bits an integer conversion works on (mismatches documented). */
static uint64_t arg_int_bits(const arg *a)
{
    if (a->type == SLUICE_ARG_DOUBLE)
        return (uint64_t)double_to_ll(bits_to_double(a->v));
    return a->v;
}

static double arg_double(const arg *a)
{
    switch (a->type) {
    case SLUICE_ARG_DOUBLE:
        return bits_to_double(a->v);
    case SLUICE_ARG_INT:
        return (double)(int64_t)a->v;
    default:
        return (double)a->v;
    }
}

/* What a '*' argument (an int at the call) is worth. */
static long long arg_star(const arg *a)
{
    if (a->type == SLUICE_ARG_STRING)
        return 0;
    return (int)arg_int_bits(a);
}

/* ---- output ------------------------------------------------------------ */

/* Signal-safe rendering (the crash path, sluice_printf_signal_safe_):
 * everything in this file is done by hand except what emit_f hands to
 * vsnprintf: integers with a precision or the flags '#' '\'' 'I' (or '+'
 * ' ' on unsigned ones), %c and %p with flags or a width, %s of a
 * non-string, and the floating forms render_f_exact does not cover (%e %g
 * %a, %f beyond 2^64, NaN and infinities, precision > 17, '#'). glibc's
 * vsnprintf into a buffer takes no lock and, for widths and precisions of
 * a few hundred, allocates nothing (its work buffer and printf_fp's digits
 * live on the stack): tests/test_crash.c renders those paths with a
 * counting malloc, at sizes up to SIGNAL_SAFE_FIELD_MAX. POSIX does not
 * list it as async-signal-safe all the same. So in this mode a conversion whose
 * width or precision is larger than that, which has the '\'' or 'I' flag
 * (locale grouping and digits), or which is a wide character (%lc, %C:
 * wcrtomb may load a charset converter) is not rendered: its rebuilt spec
 * is written instead ("%lc", "%'lld", "%1000.3f": integers carry the ll
 * they are handed over with). */
#define SIGNAL_SAFE_FIELD_MAX 256

static _Thread_local __attribute__((tls_model("initial-exec"))) int signal_safe;

void sluice_printf_signal_safe_(int on) { signal_safe = on; }

/* May f (from build_spec) go to vsnprintf in signal-safe mode? */
static int safe_for_vsnprintf(const char *f)
{
    const char *q = f + 1;
    for (; *q && strchr("-+ #0'I", *q); q++)
        if (*q == '\'' || *q == 'I')
            return 0;
    for (int field = 0; field < 2; field++) {
        long v = 0;
        while (*q >= '0' && *q <= '9') {
            v = v * 10 + (*q++ - '0');
            if (v > SIGNAL_SAFE_FIELD_MAX)
                return 0;
        }
        if (*q != '.')
            break;
        q++;
    }
    return !(q[0] == 'l' && q[1] == 'c');
}

static void emit_f(sluice_buf *out, const char *f, ...)
{
    va_list ap;
    if (signal_safe && !safe_for_vsnprintf(f)) {
        sluice_buf_puts(out, f);
        return;
    }
    if (sluice_buf_reserve(out, 64) != 0)
        return;
    size_t avail = out->cap - out->len;
    va_start(ap, f);
    int n = vsnprintf(out->data + out->len, avail, f, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= avail) {
        if (sluice_buf_reserve(out, (size_t)n + 1) != 0)
            return;
        va_start(ap, f);
        n = vsnprintf(out->data + out->len, out->cap - out->len, f, ap);
        va_end(ap);
        if (n < 0)
            return;
    }
    out->len += (size_t)n;
}

static void emit_pad(sluice_buf *out, size_t n)
{
    if (n == 0 || sluice_buf_reserve(out, n) != 0)
        return;
    memset(out->data + out->len, ' ', n);
    out->len += n;
}

/* %s of len bytes (or a NULL string), honouring width, '-' and precision. */
static void emit_string(sluice_buf *out, const char *s, size_t len,
                        const spec *sp, int use_prec)
{
    int prec = use_prec ? sp->prec : -1;
    if (!s) {
        if (prec < 0 || prec >= 6) {
            s = "(null)";
            len = 6;
        } else {
            len = 0;
        }
    } else {
        const char *nul = memchr(s, '\0', len);
        if (nul)
            len = (size_t)(nul - s);
        if (prec >= 0 && (size_t)prec < len)
            len = (size_t)prec;
    }
    size_t w = sp->width > 0 ? (size_t)sp->width : 0;
    size_t pad = w > len ? w - len : 0;
    if (!(sp->flags & F_MINUS))
        emit_pad(out, pad);
    sluice_buf_append(out, s, len);
    if (sp->flags & F_MINUS)
        emit_pad(out, pad);
}

/* The decimal digits of v (0..SLUICE_PRINTF_FIELD_MAX) at q; past them. */
static char *put_field(char *q, int v)
{
    char digits[12];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0)
        *q++ = digits[--n];
    return q;
}

/* Rebuild "%<flags><width>.<prec><lenmod><conv>" into f (>= 48 bytes). */
static void build_spec(char *f, const spec *sp, unsigned flagmask,
                       int use_prec, const char *lenmod, char conv)
{
    unsigned fl = sp->flags & flagmask;
    char *q = f;
    *q++ = '%';
    if (fl & F_MINUS)
        *q++ = '-';
    if (fl & F_PLUS)
        *q++ = '+';
    if (fl & F_SPACE)
        *q++ = ' ';
    if (fl & F_HASH)
        *q++ = '#';
    if (fl & F_ZERO)
        *q++ = '0';
    if (fl & F_QUOTE)
        *q++ = '\'';
    if (fl & F_I)
        *q++ = 'I';
    if (sp->width >= 0)
        q = put_field(q, sp->width);
    if (use_prec && sp->prec >= 0) {
        *q++ = '.';
        q = put_field(q, sp->prec);
    }
    while (*lenmod)
        *q++ = *lenmod++;
    *q++ = conv;
    *q = '\0';
}

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536"
    "37383940414243444546474849505152535455565758596061626364656667686970717273"
    "7475767778798081828384858687888990919293949596979899";

/* Decimal digits of v ending at end, two at a time; returns the start. */
static inline char *u10_rev(char *end, uint64_t v)
{
    char *q = end;
    while (v >= 100) {
        uint64_t d = v / 100;
        unsigned r = (unsigned)(v - d * 100);
        v = d;
        q -= 2;
        memcpy(q, digit_pairs + 2 * r, 2);
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, digit_pairs + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    return q;
}

static const uint64_t pow10_all[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
    10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
    100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL,
    10000000000000000000ULL};

/* How many decimal digits v has (1 for 0). */
static inline unsigned dec_digits(uint64_t v)
{
#if defined(__GNUC__)
    /* bits * log10(2), then one comparison settles it. */
    unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
    unsigned n = (bits * 1233) >> 12;
    return n + (n < 20 && (v | 1) >= pow10_all[n]); /* 0 has 1 digit */
#else
    unsigned n = 1;
    while (n < 20 && v >= pow10_all[n])
        n++;
    return n;
#endif
}

/* Digits of v in base (8, 10, 16 or 2) ending at end; returns the start. */
static char *utoa_rev(char *end, uint64_t v, int base, int upper)
{
    char *q = end;
    if (base == 10)
        return u10_rev(end, v);
    const char *xd = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    unsigned shift = base == 16 ? 4 : base == 8 ? 3 : 1;
    uint64_t mask = (uint64_t)base - 1;
    do {
        *--q = xd[v & mask];
        v >>= shift;
    } while (v);
    return q;
}

/* Narrow the raw bits to the C type the length modifier names. */
static long long narrow_signed(uint64_t raw, int len)
{
    switch (len) {
    case LEN_HH:
        return (signed char)raw;
    case LEN_H:
        return (short)raw;
    case LEN_NONE:
        return (int)raw;
    case LEN_L:
        return (long)raw;
    case LEN_J:
        return (long long)(intmax_t)raw;
    case LEN_Z:
        return (long long)(ssize_t)raw;
    case LEN_T:
        return (long long)(ptrdiff_t)raw;
    default:
        return (long long)raw;
    }
}

static unsigned long long narrow_unsigned(uint64_t raw, int len)
{
    switch (len) {
    case LEN_HH:
        return (unsigned char)raw;
    case LEN_H:
        return (unsigned short)raw;
    case LEN_NONE:
        return (unsigned int)raw;
    case LEN_L:
        return (unsigned long)raw;
    case LEN_J:
        return (uintmax_t)raw;
    case LEN_Z:
        return (size_t)raw;
    case LEN_T:
        return (unsigned long long)(size_t)(ptrdiff_t)raw;
    default:
        return (unsigned long long)raw;
    }
}

#define ALL_FLAGS (F_MINUS | F_PLUS | F_SPACE | F_HASH | F_ZERO | F_QUOTE | F_I)

static int is_plain(const spec *sp)
{
    return sp->flags == 0 && sp->width < 0 && sp->prec < 0;
}

static void render_string_mismatch(sluice_buf *out, const arg *a,
                                   const spec *sp)
{
    emit_string(out, a->s, a->slen, sp, 0);
}

/* Sign (or none: 0), digits, padded to the width: the '-' / '0' / width
 * cases, exact by the C standard's rules ('0' is ignored with '-'; zeros go
 * between the sign and the digits). */
static void emit_padded_digits(sluice_buf *out, const spec *sp, char sign,
                               const char *digits, size_t nd)
{
    size_t body = nd + (sign ? 1 : 0);
    size_t w = sp->width > 0 ? (size_t)sp->width : 0;
    size_t pad = w > body ? w - body : 0;
    if (sluice_buf_reserve(out, body + pad) != 0)
        return;
    char *q = out->data + out->len;
    if (sp->flags & F_MINUS) {
        if (sign)
            *q++ = sign;
        memcpy(q, digits, nd);
        q += nd;
        memset(q, ' ', pad);
        q += pad;
    } else if (sp->flags & F_ZERO) {
        if (sign)
            *q++ = sign;
        memset(q, '0', pad);
        q += pad;
        memcpy(q, digits, nd);
        q += nd;
    } else {
        memset(q, ' ', pad);
        q += pad;
        if (sign)
            *q++ = sign;
        memcpy(q, digits, nd);
        q += nd;
    }
    out->len = (size_t)(q - out->data);
}

/* The sign character of a signed conversion: '-', or '+' / ' ' by flag. */
static char sign_char(int neg, unsigned flags)
{
    return neg ? '-' : (flags & F_PLUS) ? '+' : (flags & F_SPACE) ? ' ' : 0;
}

static void render_int(sluice_buf *out, const arg *a, const spec *sp)
{
    if (a->type == SLUICE_ARG_STRING) {
        render_string_mismatch(out, a, sp);
        return;
    }
    uint64_t raw = arg_int_bits(a);
    char conv = sp->conv;
    char f[48];
    char tmp[72];
    char *end = tmp + sizeof tmp;
    /* By hand: no precision and no flag but '-' and '0' ('+' and ' ' too
     * for the signed conversions). */
    int simple = sp->prec < 0 && (sp->flags & ~(unsigned)(F_MINUS | F_ZERO)) == 0;
    if (conv == 'd' || conv == 'i') {
        long long v = narrow_signed(raw, sp->len);
        if (sp->prec < 0 &&
            (sp->flags & ~(unsigned)(F_MINUS | F_ZERO | F_PLUS | F_SPACE)) == 0) {
            uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            char *q = utoa_rev(end, m, 10, 0);
            char sign = sign_char(v < 0, sp->flags);
            if (sp->width < 0) {
                if (sign)
                    *--q = sign;
                sluice_buf_append(out, q, (size_t)(end - q));
            } else {
                emit_padded_digits(out, sp, sign, q, (size_t)(end - q));
            }
            return;
        }
        build_spec(f, sp, ALL_FLAGS, 1, "ll", conv);
        emit_f(out, f, v);
        return;
    }
    unsigned long long v = narrow_unsigned(raw, sp->len);
    if (simple) {
        int base = conv == 'u' ? 10 : conv == 'o' ? 8 : (conv == 'x' || conv == 'X') ? 16 : 2;
        char *q = utoa_rev(end, v, base, conv == 'X');
        if (sp->width < 0)
            sluice_buf_append(out, q, (size_t)(end - q));
        else
            emit_padded_digits(out, sp, 0, q, (size_t)(end - q));
        return;
    }
    build_spec(f, sp, ALL_FLAGS, 1, "ll", conv);
    emit_f(out, f, v);
}

static void render_char(sluice_buf *out, const arg *a, const spec *sp)
{
    if (a->type == SLUICE_ARG_STRING) {
        render_string_mismatch(out, a, sp);
        return;
    }
    uint64_t raw = arg_int_bits(a);
    char f[48];
    if (sp->len == LEN_L || sp->conv == 'C') {
        build_spec(f, sp, ALL_FLAGS, 1, "l", 'c');
        emit_f(out, f, (wint_t)raw);
        return;
    }
    if (is_plain(sp)) {
        sluice_buf_putc(out, (char)(unsigned char)raw);
        return;
    }
    build_spec(f, sp, ALL_FLAGS, 1, "", 'c');
    emit_f(out, f, (int)raw);
}

static void render_pointer(sluice_buf *out, const arg *a, const spec *sp)
{
    if (a->type == SLUICE_ARG_STRING) {
        render_string_mismatch(out, a, sp);
        return;
    }
    uint64_t raw = arg_int_bits(a);
    if (is_plain(sp)) {
        if (raw == 0) {
            sluice_buf_append(out, "(nil)", 5);
        } else {
            char tmp[24];
            char *end = tmp + sizeof tmp;
            char *q = utoa_rev(end, (uintptr_t)raw, 16, 0);
            *--q = 'x';
            *--q = '0';
            sluice_buf_append(out, q, (size_t)(end - q));
        }
        return;
    }
    char f[48];
    build_spec(f, sp, ALL_FLAGS, 1, "", 'p');
    emit_f(out, f, (void *)(uintptr_t)raw);
}

/* ---- %f by hand ----------------------------------------------------------
 * The double is m * 2^e exactly (m the 53-bit significand as an integer).
 * With s = -e > 0 the integer part is m >> s and the fraction is
 * f / 2^s, f = m mod 2^s; its first prec decimal digits are
 * floor(f * 10^prec / 2^s) and the remainder r = f * 10^prec mod 2^s says
 * how to round: up if r > 2^(s-1), down if below, and on an exact tie
 * (r == 2^(s-1)) to the even last digit -- round-half-even on the exact
 * binary value, which is what glibc does in the default rounding mode.
 * Everything is integer arithmetic in unsigned __int128: f < 2^53, so
 * f * 10^17 < 2^110 and a shift s <= 127 is exact. A value with s > 127
 * (below 2^53 * 2^-128 = 2^-75: every denormal) is below half of 10^-17,
 * so it rounds to zero at any precision handled here. Anything else (precision > 17, '#', '\'', 'I',
 * an integer part beyond 2^64, NaN, infinities, a rounding mode other than
 * to-nearest, a decimal point other than ".") goes to snprintf. */

#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 u128;
#define SLUICE_HAVE_U128 1
#else
#define SLUICE_HAVE_U128 0
#endif

#if SLUICE_HAVE_U128
static const uint64_t pow10_u64[18] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
    10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
    100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL};
#endif

/* 1 if written, 0 if the caller must use snprintf. */
static int render_f_exact(sluice_buf *out, double d, const spec *sp)
{
#if !SLUICE_HAVE_U128
    (void)out;
    (void)d;
    (void)sp;
    return 0;
#else
    int prec = sp->prec < 0 ? 6 : sp->prec;
    if (prec > 17 || (sp->flags & (F_HASH | F_QUOTE | F_I)))
        return 0;
    uint64_t bits;
    memcpy(&bits, &d, 8);
    int neg = (int)(bits >> 63);
    int bexp = (int)((bits >> 52) & 0x7ff);
    uint64_t m = bits & ((1ULL << 52) - 1);
    if (bexp == 0x7ff)
        return 0; /* NaN, infinities */
    int e;
    if (bexp == 0) {
        e = -1074;
    } else {
        m |= 1ULL << 52;
        e = bexp - 1075;
    }
    if (e > 11)
        return 0; /* m * 2^e >= 2^64 */
    if (fegetround() != FE_TONEAREST)
        return 0;
    const char *radix = nl_langinfo(RADIXCHAR);
    if (radix[0] != '.' || radix[1] != '\0')
        return 0;

    uint64_t ip;     /* integer part */
    uint64_t dp = 0; /* the prec fraction digits, as an integer */
    if (m == 0) {
        ip = 0;
    } else if (e >= 0) {
        ip = m << e;
    } else if (-e > 127) {
        ip = 0; /* < 2^-75: rounds to zero */
    } else {
        unsigned s = (unsigned)-e;
        u128 mask = ((u128)1 << s) - 1;
        u128 half = (u128)1 << (s - 1);
        u128 p = ((u128)m & mask) * pow10_u64[prec]; /* < 2^110 */
        u128 r = p & mask;
        ip = s >= 64 ? 0 : m >> s;
        dp = (uint64_t)(p >> s);
        uint64_t last = prec ? dp : ip;
        if (r > half || (r == half && (last & 1))) {
            if (++dp == pow10_u64[prec]) { /* carry into the integer part */
                dp = 0;
                ip++; /* ip < 2^52 here: no overflow */
            }
        }
    }

    char sign = sign_char(neg, sp->flags);
    if (sp->width < 0) { /* straight into out: sign, integer, '.', prec */
        unsigned nip = dec_digits(ip);
        size_t total = (sign ? 1 : 0) + nip + (prec ? 1 + (size_t)prec : 0);
        if (out->cap - out->len < total && sluice_buf_reserve(out, total) != 0)
            return 1;
        char *q = out->data + out->len;
        if (sign)
            *q++ = sign;
        u10_rev(q + nip, ip);
        q += nip;
        if (prec) {
            *q++ = '.';
            char *e = q + prec;
            for (int k = prec; k >= 2; k -= 2) {
                uint64_t dd = dp / 100;
                unsigned r = (unsigned)(dp - dd * 100);
                dp = dd;
                e -= 2;
                memcpy(e, digit_pairs + 2 * r, 2);
            }
            if (prec & 1)
                *--e = (char)('0' + dp);
            q += prec;
        }
        out->len = (size_t)(q - out->data);
        return 1;
    }
    char tmp[48];
    char *end = tmp + sizeof tmp;
    char *q = end;
    if (prec > 0) {
        char *fs = utoa_rev(end, dp, 10, 0);
        q = end - prec;
        memset(q, '0', (size_t)(fs - q));
        *--q = '.';
    }
    q = utoa_rev(q, ip, 10, 0);
    emit_padded_digits(out, sp, sign, q, (size_t)(end - q));
    return 1;
#endif
}

static void render_float_snprintf(sluice_buf *out, double d, const spec *sp)
{
    char f[48];
    build_spec(f, sp, ALL_FLAGS, 1, "", sp->conv);
    emit_f(out, f, d);
}

static void render_float(sluice_buf *out, const arg *a, const spec *sp)
{
    if (a->type == SLUICE_ARG_STRING) {
        render_string_mismatch(out, a, sp);
        return;
    }
    if ((sp->conv == 'f' || sp->conv == 'F') &&
        render_f_exact(out, arg_double(a), sp))
        return;
    render_float_snprintf(out, arg_double(a), sp);
}

/* Plain %s of a STRING: up to an embedded NUL; "(null)" for NULL. */
static inline void put_plain_s(sluice_buf *out, const arg *a)
{
    if (!a->s) {
        sluice_buf_append(out, "(null)", 6);
    } else {
        const char *nul = memchr(a->s, '\0', a->slen);
        sluice_buf_append(out, a->s, nul ? (size_t)(nul - a->s) : a->slen);
    }
}

static void render_s(sluice_buf *out, const arg *a, const spec *sp)
{
    char f[48];
    switch (a->type) {
    case SLUICE_ARG_STRING:
        if (is_plain(sp)) {
            put_plain_s(out, a);
            return;
        }
        emit_string(out, a->s, a->slen, sp, 1);
        return;
    case SLUICE_ARG_INT:
        build_spec(f, sp, F_MINUS, 0, "ll", 'd');
        emit_f(out, f, (long long)a->v);
        return;
    case SLUICE_ARG_UINT:
        build_spec(f, sp, F_MINUS, 0, "ll", 'u');
        emit_f(out, f, (unsigned long long)a->v);
        return;
    case SLUICE_ARG_DOUBLE:
        build_spec(f, sp, F_MINUS, 0, "", 'g');
        emit_f(out, f, bits_to_double(a->v));
        return;
    default:
        build_spec(f, sp, F_MINUS, 0, "", 'p');
        emit_f(out, f, (void *)(uintptr_t)a->v);
        return;
    }
}

/* Parse a decimal field, clamped; *s is left after the digits. */
static int parse_num(const char **s)
{
    long long v = 0;
    const char *q = *s;
    while (*q >= '0' && *q <= '9') {
        if (v <= SLUICE_PRINTF_FIELD_MAX)
            v = v * 10 + (*q - '0');
        q++;
    }
    *s = q;
    return v > SLUICE_PRINTF_FIELD_MAX ? SLUICE_PRINTF_FIELD_MAX : (int)v;
}

static int clamp_field(long long v)
{
    return v > SLUICE_PRINTF_FIELD_MAX ? SLUICE_PRINTF_FIELD_MAX : (int)v;
}

/* ---- parsing a conversion spec -------------------------------------------
 * The one parser of formats: the compiler and the interpreter both call it.
 * A spec consumes its arguments in order (a '*' width, a '*' precision,
 * then its value); when they run out it consumes what there is and renders
 * nothing ("missing"). What it renders otherwise: */
enum {
    SPEC_VALUE,   /* its value, converted */
    SPEC_NOTHING, /* %m; %n and 'L' conversions (they consume a value) */
    SPEC_PERCENT, /* "%%", "%-5%": "%" */
    SPEC_TEXT,    /* positional ("%1$d") or unknown ("%-5y"): its own text */
    SPEC_CUT      /* cut off by the end of the format: nothing, and stop */
};

typedef struct conv_spec {
    spec sp;                /* width / prec -1 if absent or a '*' */
    int what;               /* SPEC_* */
    unsigned wstar, pstar;  /* 1: the width / precision is an argument */
    unsigned nargs;         /* arguments it consumes */
    const char *end;        /* just after the spec (at the NUL if cut off) */
} conv_spec;

/* Parse the spec that starts at pct (a '%'). */
static void parse_spec(const char *pct, conv_spec *cs)
{
    const char *s = pct + 1;
    spec sp = {0, -1, -1, LEN_NONE, 0};
    cs->wstar = cs->pstar = 0;

    const char *d = s;
    while (*d >= '0' && *d <= '9')
        d++;
    if (d > s && *d == '$') { /* positional: not supported, copied */
        cs->sp = sp;
        cs->what = SPEC_TEXT;
        cs->nargs = 0;
        cs->end = d + 1;
        return;
    }

    for (;; s++) {
        unsigned fl = *s == '-'    ? F_MINUS
                      : *s == '+'  ? F_PLUS
                      : *s == ' '  ? F_SPACE
                      : *s == '#'  ? F_HASH
                      : *s == '0'  ? F_ZERO
                      : *s == '\'' ? F_QUOTE
                      : *s == 'I'  ? F_I
                                   : 0;
        if (!fl)
            break;
        sp.flags |= fl;
    }
    if (*s == '*') {
        s++;
        cs->wstar = 1;
    } else if (*s >= '1' && *s <= '9') {
        sp.width = parse_num(&s);
    }
    if (*s == '.') {
        s++;
        if (*s == '*') {
            s++;
            cs->pstar = 1;
        } else {
            sp.prec = parse_num(&s);
        }
    }
    switch (*s) {
    case 'h':
        s++;
        sp.len = LEN_H;
        if (*s == 'h') {
            s++;
            sp.len = LEN_HH;
        }
        break;
    case 'l':
        s++;
        sp.len = LEN_L;
        if (*s == 'l') {
            s++;
            sp.len = LEN_LL;
        }
        break;
    case 'q': s++; sp.len = LEN_LL; break;
    case 'j': s++; sp.len = LEN_J; break;
    case 'z':
    case 'Z': s++; sp.len = LEN_Z; break;
    case 't': s++; sp.len = LEN_T; break;
    case 'L': s++; sp.len = LEN_BIGL; break;
    default: break;
    }
    sp.conv = *s;
    cs->sp = sp;
    cs->nargs = cs->wstar + cs->pstar;
    cs->end = *s ? s + 1 : s;
    switch (sp.conv) {
    case '\0':
        cs->what = SPEC_CUT;
        break;
    case 'd': case 'i': case 'u': case 'o': case 'x': case 'X':
    case 'b': case 'B': case 'c': case 'C': case 's': case 'S':
    case 'p': case 'f': case 'F': case 'e': case 'E': case 'g':
    case 'G': case 'a': case 'A': case 'n':
        cs->what = sp.conv == 'n' || sp.len == LEN_BIGL ? SPEC_NOTHING
                                                        : SPEC_VALUE;
        cs->nargs++;
        break;
    case '%':
        cs->what = SPEC_PERCENT;
        break;
    case 'm':
        cs->what = SPEC_NOTHING;
        break;
    default: /* unknown conversion: copied as glibc does */
        cs->what = SPEC_TEXT;
        break;
    }
}

/* ---- compiled programs ----------------------------------------------------
 * A call site's format never changes, so the worker parses it once into a
 * program and runs that for every record. A program is a list of ops; each
 * op appends a literal run, then consumes its arguments (0 to 3: a '*'
 * width, a '*' precision, the value, in that order), then renders its
 * conversion. Everything decided from the format alone is decided at
 * compile time: the spec (parse_spec), which arguments each op consumes
 * (arguments are consumed in order, so op k's are the ones after op k-1's),
 * which conversions are missing their argument (they consume what there is
 * and render nothing), and, since the types are known too, which fast path
 * applies. Arguments before the first STRING have fixed offsets (8 * i),
 * so those are read in place with one length check per run; the rest are
 * decoded with the interpreter's cursor, which fails at the same argument
 * the interpreter would, so a short encoding stops the output at the same
 * byte. The literal text is copied into the program: it does not depend on
 * fmt staying alive. */

enum {
    OPK_NONE,    /* literal, then consume nargs arguments, render nothing */
    OPK_GENERIC, /* any conversion, rendered as the interpreter does */
    OPK_U10,     /* plain %u of INT/UINT/POINTER */
    OPK_D10,     /* plain %d / %i of INT/UINT/POINTER */
    OPK_F,       /* %f / %F of a DOUBLE, no '*' */
    OPK_S        /* plain %s of a STRING */
};

typedef struct pf_op {
    uint32_t lit_off, lit_len; /* into the program's text */
    uint32_t arg;              /* index of the first argument consumed */
    unsigned char kind;        /* OPK_* */
    unsigned char nargs;       /* arguments consumed: 0..3 */
    unsigned char wstar, pstar;/* width / precision from an argument */
    spec sp;                   /* the spec, but for what '*' brings */
} pf_op;

struct sluice_printf_program {
    size_t nops;
    size_t ntypes;
    size_t nfixed;   /* leading arguments of a known fixed-size type */
    size_t consumed; /* arguments the ops consume, in order */
    const unsigned char *types; /* copy, after the ops */
    const char *text;           /* the literal runs, after the types */
    const char *src_fmt; /* what it was compiled from: only compared,
                            never read */
    const unsigned char *src_types;
    pf_op ops[];
};

static int program_is_for(const sluice_printf_program *p, const char *fmt,
                          const unsigned char *types, size_t ntypes)
{
    return p->src_fmt == fmt && p->src_types == types && p->ntypes == ntypes;
}

static int is_fixed_type(unsigned char t)
{
    return t == SLUICE_ARG_INT || t == SLUICE_ARG_UINT ||
           t == SLUICE_ARG_DOUBLE || t == SLUICE_ARG_POINTER;
}

/* The fast path an op can take, from its spec and its value's type. */
static unsigned char op_kind(const spec *sp, unsigned char atype, int stars)
{
    int intlike = atype == SLUICE_ARG_INT || atype == SLUICE_ARG_UINT ||
                  atype == SLUICE_ARG_POINTER;
    if (stars)
        return OPK_GENERIC;
    if (sp->len == LEN_BIGL)
        return OPK_GENERIC;
    if (is_plain(sp) && intlike && sp->conv == 'u')
        return OPK_U10;
    if (is_plain(sp) && intlike && (sp->conv == 'd' || sp->conv == 'i'))
        return OPK_D10;
    if (is_plain(sp) && atype == SLUICE_ARG_STRING &&
        (sp->conv == 's' || sp->conv == 'S'))
        return OPK_S;
    if (atype == SLUICE_ARG_DOUBLE && (sp->conv == 'f' || sp->conv == 'F'))
        return OPK_F;
    return OPK_GENERIC;
}

/* Building state: text grows at the end of the program's text area; the
 * pending literal is text[pend, tlen). */
typedef struct builder {
    sluice_printf_program *p;
    char *text;
    size_t tlen, pend;
} builder;

static void b_text(builder *b, const char *s, size_t n)
{
    memcpy(b->text + b->tlen, s, n);
    b->tlen += n;
}

static pf_op *b_op(builder *b, unsigned char kind, size_t arg, size_t nargs)
{
    pf_op *op = &b->p->ops[b->p->nops++];
    memset(op, 0, sizeof *op);
    op->lit_off = (uint32_t)b->pend;
    op->lit_len = (uint32_t)(b->tlen - b->pend);
    op->arg = (uint32_t)arg;
    op->kind = kind;
    op->nargs = (unsigned char)nargs;
    b->pend = b->tlen;
    return op;
}

int sluice_printf_compile(const char *fmt, const unsigned char *types,
                          size_t ntypes, sluice_printf_program **out)
{
    *out = NULL;
    size_t flen = strlen(fmt), npct = 0;
    for (const char *q = fmt; (q = strchr(q, '%')) != NULL; q++)
        npct++;
    if (flen > UINT32_MAX - 16 || ntypes > UINT32_MAX - 4)
        return -1;
    /* Every op but the last ends with a conversion that begins with '%'. */
    size_t nops_max = npct + 1;
    size_t size = sizeof(sluice_printf_program) + nops_max * sizeof(pf_op) +
                  ntypes + flen + 16; /* 16: slack for put_lit */
    sluice_printf_program *p = malloc(size);
    if (!p)
        return -1;
    unsigned char *tcopy = (unsigned char *)(p->ops + nops_max);
    if (ntypes)
        memcpy(tcopy, types, ntypes);
    builder b = {p, (char *)tcopy + ntypes, 0, 0};
    memset(b.text, 0, flen + 16);
    p->nops = 0;
    p->ntypes = ntypes;
    p->src_fmt = fmt;
    p->src_types = types;
    p->types = tcopy;
    p->text = b.text;
    p->nfixed = 0;
    while (p->nfixed < ntypes && is_fixed_type(types[p->nfixed]))
        p->nfixed++;

    size_t next = 0; /* the next argument to consume */
    const char *s0 = fmt;
    for (;;) {
        const char *pct = strchr(s0, '%');
        if (!pct) {
            b_text(&b, s0, strlen(s0));
            break;
        }
        b_text(&b, s0, (size_t)(pct - s0));
        conv_spec cs;
        parse_spec(pct, &cs);
        s0 = cs.end;
        size_t first = next;
        int missing = ntypes - next < cs.nargs;
        next = missing ? ntypes : next + cs.nargs; /* what there is */
        if (cs.what == SPEC_VALUE && !missing) {
            pf_op *op = b_op(&b, op_kind(&cs.sp, types[next - 1],
                                         cs.wstar || cs.pstar),
                             first, cs.nargs);
            op->wstar = (unsigned char)cs.wstar;
            op->pstar = (unsigned char)cs.pstar;
            op->sp = cs.sp;
        } else if (next > first) { /* consumed, renders nothing */
            b_op(&b, OPK_NONE, first, next - first);
        }
        if (cs.what == SPEC_CUT)
            break;
        if (cs.what == SPEC_TEXT)
            b_text(&b, pct, (size_t)(cs.end - pct));
        else if (cs.what == SPEC_PERCENT && !missing)
            b_text(&b, "%", 1);
    }
    if (b.tlen > b.pend)
        b_op(&b, OPK_NONE, next, 0);
    p->consumed = next;
    *out = p;
    return 0;
}

void sluice_printf_program_free(sluice_printf_program *p) { free(p); }

/* A literal run: 16 bytes at a time when there is room (the program's
 * text has 16 bytes of slack after its end, so reading past n is safe). */
static inline void put_lit(sluice_buf *out, const char *s, size_t n)
{
    if (out->cap - out->len >= n + 16) {
        char *d = out->data + out->len;
        for (size_t i = 0; i < n; i += 16)
            memcpy(d + i, s + i, 16);
        out->len += n;
        return;
    }
    sluice_buf_append(out, s, n);
}

/* Plain decimal of v, written straight into out. */
static void emit_u10(sluice_buf *out, char sign, uint64_t v)
{
    if (out->cap - out->len < 21 && sluice_buf_reserve(out, 21) != 0)
        return;
    unsigned n = dec_digits(v);
    char *q = out->data + out->len;
    if (sign)
        *q++ = sign;
    u10_rev(q + n, v);
    out->len = (size_t)(q + n - out->data);
}

/* Decode op's arguments through the cursor (the slow way: after a STRING,
 * or when the fixed-size prefix is short). -1 where the interpreter fails. */
static int fetch_slow(cursor *c, const sluice_printf_program *p,
                      const pf_op *op, const unsigned char *args,
                      size_t args_len, arg *a)
{
    if (op->arg <= p->nfixed) { /* fixed offsets up to here */
        size_t at = (size_t)op->arg * 8;
        c->i = op->arg;
        c->p = args + (at < args_len ? at : args_len);
        c->left = at < args_len ? args_len - at : 0;
    }
    for (unsigned k = 0; k < op->nargs; k++)
        if (next_arg(c, &a[k]) <= 0)
            return -1; /* 0 cannot happen: the op's arguments exist */
    return 0;
}

/* Render a conversion: a[] holds its '*' arguments, then its value. */
static void render_generic(sluice_buf *out, const spec *sp0, unsigned wstar,
                           unsigned pstar, const arg *a)
{
    spec sp = *sp0;
    unsigned k = 0;
    if (wstar) {
        long long w = arg_star(&a[k++]);
        if (w < 0) {
            sp.flags |= F_MINUS;
            w = -w;
        }
        sp.width = clamp_field(w);
    }
    if (pstar) {
        long long pr = arg_star(&a[k++]);
        sp.prec = pr < 0 ? -1 : clamp_field(pr);
    }
    const arg *v = &a[k];
    switch (sp.conv) {
    case 'c':
    case 'C':
        render_char(out, v, &sp);
        break;
    case 's':
    case 'S':
        render_s(out, v, &sp);
        break;
    case 'p':
        render_pointer(out, v, &sp);
        break;
    case 'f': case 'F': case 'e': case 'E': case 'g': case 'G':
    case 'a': case 'A':
        render_float(out, v, &sp);
        break;
    default:
        render_int(out, v, &sp);
        break;
    }
}

int sluice_printf_run(sluice_buf *out, const sluice_printf_program *p,
                      const unsigned char *args, size_t args_len)
{
    /* How many leading fixed-size arguments are whole: their bytes are at
     * 8 * i and need no further check. */
    size_t nok = args_len / 8 >= p->nfixed ? p->nfixed : args_len / 8;
    cursor c = {p->types, p->ntypes, 0, args, args_len};
    arg a[3];

    for (size_t i = 0; i < p->nops; i++) {
        const pf_op *op = &p->ops[i];
        put_lit(out, p->text + op->lit_off, op->lit_len);
        int fast = (size_t)op->arg + op->nargs <= nok;
        uint64_t v;
        switch (op->kind) {
        case OPK_NONE:
            if (op->nargs == 0 || fast)
                continue;
            if (fetch_slow(&c, p, op, args, args_len, a) < 0)
                return -1;
            continue;
        case OPK_U10:
            if (!fast)
                break;
            memcpy(&v, args + 8 * (size_t)op->arg, 8);
            emit_u10(out, 0, narrow_unsigned(v, op->sp.len));
            continue;
        case OPK_D10:
            if (!fast)
                break;
            memcpy(&v, args + 8 * (size_t)op->arg, 8);
            {
                long long sv = narrow_signed(v, op->sp.len);
                emit_u10(out, sv < 0 ? '-' : 0,
                         sv < 0 ? 0 - (uint64_t)sv : (uint64_t)sv);
            }
            continue;
        case OPK_F:
            if (!fast)
                break;
            memcpy(&v, args + 8 * (size_t)op->arg, 8);
            if (!render_f_exact(out, bits_to_double(v), &op->sp))
                render_float_snprintf(out, bits_to_double(v), &op->sp);
            continue;
        default:
            break;
        }
        /* The general way: decode, then render as the interpreter does. */
        if (fast) {
            for (unsigned k = 0; k < op->nargs; k++) {
                a[k].type = p->types[op->arg + k];
                memcpy(&a[k].v, args + 8 * ((size_t)op->arg + k), 8);
            }
        } else if (fetch_slow(&c, p, op, args, args_len, a) < 0) {
            return -1;
        }
        if (op->kind == OPK_S) {
            put_plain_s(out, &a[0]);
            continue;
        }
        render_generic(out, &op->sp, op->wstar, op->pstar, a);
    }

    /* The rest of the encoding must still be whole. */
    if (p->nfixed == p->ntypes)
        return args_len / 8 >= p->ntypes ? 0 : -1;
    if (p->consumed <= p->nfixed) {
        size_t at = p->consumed * 8;
        if (at > args_len)
            return -1;
        c.i = p->consumed;
        c.p = args + at;
        c.left = args_len - at;
    }
    int r;
    while ((r = next_arg(&c, &a[0])) > 0)
        ;
    return r < 0 ? -1 : 0;
}

/* ---- the one-pass interpreter --------------------------------------------
 * Parses (parse_spec) and renders (render_generic) spec by spec, without a
 * program: what sluice_printf_render falls back to when there is no memory
 * to compile, and what the tests run programs against (literal runs, which
 * arguments each spec consumes, where a short encoding stops the output). */

int sluice_printf_render_interp(sluice_buf *out, const char *fmt,
                                const unsigned char *types, size_t ntypes,
                                const unsigned char *args, size_t args_len)
{
    cursor c = {types, ntypes, 0, args, args_len};
    const char *p = fmt;
    arg a[3];
    int r = 1;

    for (;;) {
        const char *pct = strchr(p, '%');
        if (!pct) {
            sluice_buf_append(out, p, strlen(p));
            break;
        }
        sluice_buf_append(out, p, (size_t)(pct - p));
        conv_spec cs;
        parse_spec(pct, &cs);
        p = cs.end;
        unsigned k = 0;
        while (k < cs.nargs && (r = next_arg(&c, &a[k])) > 0)
            k++;
        if (r < 0)
            return -1;
        int missing = k < cs.nargs;
        if (cs.what == SPEC_CUT)
            break;
        if (cs.what == SPEC_TEXT)
            sluice_buf_append(out, pct, (size_t)(cs.end - pct));
        else if (cs.what == SPEC_PERCENT && !missing)
            sluice_buf_putc(out, '%');
        else if (cs.what == SPEC_VALUE && !missing)
            render_generic(out, &cs.sp, cs.wstar, cs.pstar, a);
    }

    /* The rest of the encoding must still be whole. */
    while ((r = next_arg(&c, &a[0])) > 0)
        ;
    return r < 0 ? -1 : 0;
}

int sluice_printf_render(sluice_buf *out, const char *fmt,
                         const unsigned char *types, size_t ntypes,
                         const unsigned char *args, size_t args_len)
{
    sluice_printf_program *p;
    if (sluice_printf_compile(fmt, types, ntypes, &p) != 0)
        return sluice_printf_render_interp(out, fmt, types, ntypes, args,
                                           args_len);
    int r = sluice_printf_run(out, p, args, args_len);
    sluice_printf_program_free(p);
    return r;
}

/* ---- the per-worker cache -------------------------------------------------
 * Open addressing with linear probing on the call-site pointer; grows at
 * half full. One per worker thread: no locking. */

static size_t cache_slot(const void *key, size_t mask)
{
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 32) & mask;
}

void sluice_printf_cache_init(sluice_printf_cache *c)
{
    c->keys = NULL;
    c->progs = NULL;
    c->cap = c->count = 0;
    c->last_key = NULL;
    c->last_fmt = NULL;
    c->last_types = NULL;
    c->last_ntypes = 0;
    c->last_prog = NULL;
}

/* The last hit, checked inline by sluice_printf_cache_get. */
static void remember(sluice_printf_cache *c, const void *key,
                     const sluice_printf_program *p)
{
    c->last_key = key;
    c->last_fmt = p->src_fmt;
    c->last_types = p->src_types;
    c->last_ntypes = p->ntypes;
    c->last_prog = p;
}

void sluice_printf_cache_free(sluice_printf_cache *c)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->keys[i])
            sluice_printf_program_free(c->progs[i]);
    free(c->keys);
    free(c->progs);
    sluice_printf_cache_init(c);
}

static int cache_grow(sluice_printf_cache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    const void **keys = calloc(cap, sizeof *keys);
    sluice_printf_program **progs = calloc(cap, sizeof *progs);
    if (!keys || !progs) {
        free(keys);
        free(progs);
        return -1;
    }
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->keys[i])
            continue;
        size_t j = cache_slot(c->keys[i], cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = c->keys[i];
        progs[j] = c->progs[i];
    }
    free(c->keys);
    free(c->progs);
    c->keys = keys;
    c->progs = progs;
    c->cap = cap;
    return 0;
}

const sluice_printf_program *
sluice_printf_cache_lookup_(sluice_printf_cache *c, const void *key,
                            const char *fmt, const unsigned char *types,
                            size_t ntypes)
{
    if (!key)
        return NULL;
    size_t j = 0;
    if (c->cap) {
        j = cache_slot(key, c->cap - 1);
        while (c->keys[j]) {
            if (c->keys[j] == key) {
                if (!program_is_for(c->progs[j], fmt, types, ntypes)) {
                    /* Another call site at a freed one's address (a
                     * library unloaded, another loaded): recompile. */
                    sluice_printf_program *p;
                    if (sluice_printf_compile(fmt, types, ntypes, &p) != 0)
                        return NULL;
                    sluice_printf_program_free(c->progs[j]);
                    c->progs[j] = p;
                }
                remember(c, key, c->progs[j]);
                return c->progs[j];
            }
            j = (j + 1) & (c->cap - 1);
        }
    }
    if ((c->count + 1) * 2 > c->cap) {
        if (cache_grow(c) != 0)
            return NULL;
        j = cache_slot(key, c->cap - 1);
        while (c->keys[j])
            j = (j + 1) & (c->cap - 1);
    }
    sluice_printf_program *p;
    if (sluice_printf_compile(fmt, types, ntypes, &p) != 0)
        return NULL;
    c->keys[j] = key;
    c->progs[j] = p;
    c->count++;
    remember(c, key, p);
    return p;
}
