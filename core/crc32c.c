/*
 * crc32c.c -- CRC-32C (reflected polynomial 0x82F63B78, initial value and
 * final xor ~0): with SSE4.2's crc32 instruction when the processor has
 * it, else from eight tables of 256 entries built once (slicing by 8: one
 * table look-up per byte, eight bytes a step). Both give the same value
 * for the same bytes however they are split, so a producer may feed a
 * record's words from registers and the reader check it from memory.
 * Knows nothing of files or records.
 */
#include "crc32c_internal.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_build(void)
{
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t c = byte;
        for (int bit = 0; bit < 8; bit++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        table[0][byte] = c;
    }
    for (uint32_t byte = 0; byte < 256; byte++)
        for (int k = 1; k < 8; k++)
            table[k][byte] = (table[k - 1][byte] >> 8) ^
                             table[0][table[k - 1][byte] & 0xff];
}

uint32_t sluice_crc32c_soft_(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&table_once, table_build);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    while (len >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= c;
        c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
            table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
            table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
            table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
    return ~c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const unsigned char *p, size_t len)
{
    uint64_t c = ~crc;
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}

static int hw_known = -1; /* -1: not asked yet */

bool sluice_crc32c_hw_(void)
{
    int known = __atomic_load_n(&hw_known, __ATOMIC_RELAXED);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        __atomic_store_n(&hw_known, known, __ATOMIC_RELAXED);
    }
    return known == 1;
}

uint32_t sluice_crc32c(uint32_t crc, const void *data, size_t len)
{
    if (sluice_crc32c_hw_())
        return crc_hw(crc, data, len);
    return sluice_crc32c_soft_(crc, data, len);
}
#else
bool sluice_crc32c_hw_(void)
{
    return false;
}

uint32_t sluice_crc32c(uint32_t crc, const void *data, size_t len)
{
    return sluice_crc32c_soft_(crc, data, len);
}
#endif
