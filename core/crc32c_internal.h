/*
 * crc32c_internal.h -- CRC-32C (Castagnoli, the polynomial of iSCSI, ext4
 * and SSE4.2's crc32 instruction), the checksum of durable queue files
 * (crc32c.c). Knows nothing of what it checks.
 */
#ifndef SLUICE_CRC32C_INTERNAL_H
#define SLUICE_CRC32C_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of len bytes at data, continued from crc (0 to start), as
 * zlib's crc32() chains: sluice_crc32c(sluice_crc32c(0, a, n), b, m) is
 * the CRC of a followed by b. The crc32 instruction when the processor
 * has it, else tables (slicing by 8). Any thread. */
uint32_t sluice_crc32c(uint32_t crc, const void *data, size_t len);
/* The same from tables only (the tests compare both ways). */
uint32_t sluice_crc32c_soft_(uint32_t crc, const void *data, size_t len);
/* The processor has SSE4.2's crc32 instruction (x86 only). */
bool sluice_crc32c_hw_(void);

#endif
