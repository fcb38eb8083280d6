/*
 * fuzz_printf.c -- libFuzzer target: the deferred printf against snprintf.
 * The input describes up to eight conversions (conversion, flags, width,
 * precision, length modifier, the argument's bits or bytes) with literal
 * text between them; each is well defined C, so glibc's snprintf is the
 * oracle: the interpreter, the compiled program and sluice_printf_render
 * must each give exactly what snprintf gives for the pieces, joined.
 * Then the raw input is used as a format with arbitrary argument types
 * and encodings, where the program must equal the interpreter. Any
 * difference aborts, so CI fails on it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <sluice/sluice.h>

#include "printf_internal.h"

typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

static uint8_t byte(input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static uint64_t bits(input *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | byte(in);
    return v;
}

typedef struct enc {
    unsigned char types[16];
    size_t n;
    unsigned char bytes[1024];
    size_t len;
} enc;

static void enc_raw(enc *e, int type, uint64_t v)
{
    e->types[e->n++] = (unsigned char)type;
    memcpy(e->bytes + e->len, &v, 8);
    e->len += 8;
}

static void enc_str(enc *e, const char *s, size_t n)
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

static void mismatch(const char *who, const char *fmt, const char *want,
                     size_t wlen, const sluice_buf *got)
{
    fprintf(stderr, "%s differs from snprintf for \"%s\":\n  want [%.*s]\n  "
            "got  [%.*s]\n", who, fmt, (int)wlen, want, (int)got->len,
            got->data ? got->data : "");
    abort();
}

static const char *const int_lens[] = {"hh", "h", "", "l", "ll", "j", "z", "t"};

/* snprintf of one signed conversion spec with bits cast to its type; the
 * value as the producer would encode it in *as. */
static int one_signed(char *out, size_t cap, const char *spec, int len,
                      uint64_t b, int64_t *as)
{
    switch (len) {
    case 0: { signed char v = (signed char)b; *as = v; return snprintf(out, cap, spec, v); }
    case 1: { short v = (short)b; *as = v; return snprintf(out, cap, spec, v); }
    case 2: { int v = (int)b; *as = v; return snprintf(out, cap, spec, v); }
    case 3: { long v = (long)b; *as = v; return snprintf(out, cap, spec, v); }
    case 4: { long long v = (long long)b; *as = v; return snprintf(out, cap, spec, v); }
    case 5: { intmax_t v = (intmax_t)b; *as = v; return snprintf(out, cap, spec, v); }
    case 6: { ssize_t v = (ssize_t)b; *as = v; return snprintf(out, cap, spec, v); }
    default: { ptrdiff_t v = (ptrdiff_t)b; *as = v; return snprintf(out, cap, spec, v); }
    }
}

static int one_unsigned(char *out, size_t cap, const char *spec, int len,
                        uint64_t b, uint64_t *as)
{
    switch (len) {
    case 0: { unsigned char v = (unsigned char)b; *as = v; return snprintf(out, cap, spec, v); }
    case 1: { unsigned short v = (unsigned short)b; *as = v; return snprintf(out, cap, spec, v); }
    case 2: { unsigned v = (unsigned)b; *as = v; return snprintf(out, cap, spec, v); }
    case 3: { unsigned long v = (unsigned long)b; *as = v; return snprintf(out, cap, spec, v); }
    case 4: { unsigned long long v = b; *as = v; return snprintf(out, cap, spec, v); }
    case 5: { uintmax_t v = b; *as = v; return snprintf(out, cap, spec, v); }
    case 6: { size_t v = (size_t)b; *as = v; return snprintf(out, cap, spec, v); }
    default: { size_t v = (size_t)b; *as = v; return snprintf(out, cap, spec, v); }
    }
}

/* Append "<flags><width><.precision>" for the allowed flags. */
static void spec_prefix(char *spec, input *in, const char *allowed, int may_prec)
{
    size_t at = strlen(spec);
    uint8_t f = byte(in);
    for (size_t i = 0; allowed[i]; i++)
        if (f & (1u << i))
            spec[at++] = allowed[i];
    uint8_t w = byte(in), pr = byte(in);
    if (w >= 128)
        at += (size_t)sprintf(spec + at, "%d", (w - 128) % 48);
    if (may_prec && pr >= 128)
        at += (size_t)sprintf(spec + at, ".%d", (pr - 128) % 48);
    spec[at] = '\0';
}

/* The structured half: conversions that are well defined C. */
static void against_snprintf(input *in)
{
    char fmt[1024] = "";
    char want[16384];
    size_t wlen = 0;
    enc e = {.n = 0};
    static char strings[8][80];
    int count = 1 + byte(in) % 8;
    for (int k = 0; k < count && in->n; k++) {
        /* literal text: no '%', no NUL */
        size_t lit = byte(in) % 8;
        char text[16];
        size_t tl = 0;
        for (size_t i = 0; i < lit && in->n; i++) {
            char c = (char)byte(in);
            if (c && c != '%')
                text[tl++] = c;
        }
        text[tl] = '\0';
        strcat(fmt, text);
        memcpy(want + wlen, text, tl);
        wlen += tl;

        char spec[64] = "%";
        int n = 0;
        char piece[512];
        uint8_t kind = byte(in) % 7;
        if (kind == 0) { /* d, i */
            spec_prefix(spec, in, "-+ 0'", 1);
            int len = byte(in) % 8;
            strcat(spec, int_lens[len]);
            strcat(spec, byte(in) & 1 ? "d" : "i");
            int64_t as;
            n = one_signed(piece, sizeof piece, spec, len, bits(in), &as);
            enc_raw(&e, SLUICE_ARG_INT, (uint64_t)as);
        } else if (kind == 1) { /* u, o, x, X */
            static const char convs[] = "uoxX";
            char conv = convs[byte(in) % 4];
            spec_prefix(spec, in, conv == 'u' ? "-0'" : "-0#", 1);
            int len = byte(in) % 8;
            strcat(spec, int_lens[len]);
            size_t at = strlen(spec);
            spec[at] = conv;
            spec[at + 1] = '\0';
            uint64_t as;
            n = one_unsigned(piece, sizeof piece, spec, len, bits(in), &as);
            enc_raw(&e, SLUICE_ARG_UINT, as);
        } else if (kind == 2) { /* floating point */
            static const char convs[] = "fFeEgGaA";
            spec_prefix(spec, in, "-+ #0'", 1);
            if (byte(in) & 1)
                strcat(spec, "l");
            size_t at = strlen(spec);
            spec[at] = convs[byte(in) % 8];
            spec[at + 1] = '\0';
            uint64_t b = bits(in);
            double v;
            memcpy(&v, &b, 8);
            n = snprintf(piece, sizeof piece, spec, v);
            enc_raw(&e, SLUICE_ARG_DOUBLE, b);
        } else if (kind == 3) { /* c */
            spec_prefix(spec, in, "-", 0);
            strcat(spec, "c");
            int v = (int)bits(in);
            n = snprintf(piece, sizeof piece, spec, v);
            enc_raw(&e, SLUICE_ARG_INT, (uint64_t)(int64_t)v);
        } else if (kind == 4) { /* s, NULL too */
            spec_prefix(spec, in, "-", 1);
            strcat(spec, "s");
            uint8_t l = byte(in);
            char *s = strings[k];
            if (l == 255) {
                const char *volatile none = NULL;
                n = snprintf(piece, sizeof piece, spec, none);
                enc_str(&e, NULL, 0);
            } else {
                size_t len = l % 64;
                for (size_t i = 0; i < len; i++) {
                    char c = (char)byte(in);
                    s[i] = c ? c : 'x';
                }
                s[len] = '\0';
                n = snprintf(piece, sizeof piece, spec, s);
                enc_str(&e, s, len);
            }
        } else if (kind == 5) { /* p */
            spec_prefix(spec, in, "-", 0);
            strcat(spec, "p");
            uintptr_t v = (uintptr_t)bits(in);
            n = snprintf(piece, sizeof piece, spec, (void *)v);
            enc_raw(&e, SLUICE_ARG_POINTER, (uint64_t)v);
        } else { /* %% */
            strcpy(spec, "%%");
            n = snprintf(piece, sizeof piece, "%s", "%");
        }
        if (n < 0 || (size_t)n >= sizeof piece || wlen + (size_t)n >= sizeof want)
            abort(); /* widths and precisions are bounded: cannot happen */
        memcpy(want + wlen, piece, (size_t)n);
        wlen += (size_t)n;
        strcat(fmt, spec);
    }

    sluice_buf out;
    sluice_buf_init(&out);
    /* an exact-size heap copy, so that ASan sees any overread */
    unsigned char *args = malloc(e.len ? e.len : 1);
    if (!args)
        abort();
    memcpy(args, e.bytes, e.len);
    if (sluice_printf_render(&out, fmt, e.types, e.n, args, e.len) != 0 ||
        out.len != wlen || (wlen && memcmp(out.data, want, wlen) != 0))
        mismatch("sluice_printf_render", fmt, want, wlen, &out);
    sluice_buf_reset(&out);
    if (sluice_printf_render_interp(&out, fmt, e.types, e.n, args, e.len) != 0 ||
        out.len != wlen || (wlen && memcmp(out.data, want, wlen) != 0))
        mismatch("the interpreter", fmt, want, wlen, &out);
    sluice_printf_program *prog;
    if (sluice_printf_compile(fmt, e.types, e.n, &prog) == 0) {
        for (int run = 0; run < 2; run++) { /* it keeps nothing of a run */
            sluice_buf_reset(&out);
            if (sluice_printf_run(&out, prog, args, e.len) != 0 ||
                out.len != wlen || (wlen && memcmp(out.data, want, wlen) != 0))
                mismatch("the compiled program", fmt, want, wlen, &out);
        }
        sluice_printf_program_free(prog);
    }
    free(args);
    sluice_buf_free(&out);
}

/* The raw half: any format, any types (also unknown ones), any bytes. */
static void program_against_interpreter(input *in)
{
    size_t ntypes = in->n ? byte(in) % 12 : 0;
    unsigned char types[12];
    for (size_t i = 0; i < ntypes; i++)
        types[i] = byte(in) % 7; /* 0 and 6: no such type */
    size_t args_len = in->n ? byte(in) % 97 : 0;
    if (args_len > in->n)
        args_len = in->n;
    unsigned char *args = malloc(args_len ? args_len : 1);
    if (!args)
        abort();
    memcpy(args, in->p, args_len);
    in->p += args_len;
    in->n -= args_len;
    char *fmt = malloc(in->n + 1);
    if (!fmt)
        abort();
    memcpy(fmt, in->p, in->n);
    fmt[in->n] = '\0';

    sluice_buf a, b;
    sluice_buf_init(&a);
    sluice_buf_init(&b);
    int ra = sluice_printf_render_interp(&a, fmt, types, ntypes, args, args_len);
    sluice_printf_program *prog;
    if (sluice_printf_compile(fmt, types, ntypes, &prog) == 0) {
        int rb = sluice_printf_run(&b, prog, args, args_len);
        if (ra != rb || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len))) {
            fprintf(stderr, "program and interpreter differ for \"%s\": "
                    "[%.*s] %d vs [%.*s] %d\n", fmt, (int)a.len,
                    a.data ? a.data : "", ra, (int)b.len, b.data ? b.data : "", rb);
            abort();
        }
        sluice_printf_program_free(prog);
    }
    sluice_buf_free(&a);
    sluice_buf_free(&b);
    free(fmt);
    free(args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    if (size && (data[0] & 1)) {
        in.p++;
        in.n--;
        program_against_interpreter(&in);
    } else {
        if (size) {
            in.p++;
            in.n--;
        }
        against_snprintf(&in);
    }
    return 0;
}
