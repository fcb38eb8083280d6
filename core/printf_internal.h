/*
 * printf_internal.h -- renders a deferred call: a printf format plus the
 * arguments the producer encoded (see SLUICE_ARG_* in sluice.h), with output
 * byte-for-byte identical to snprintf's. Knows nothing of queues or sinks.
 */
#ifndef SLUICE_PRINTF_INTERNAL_H
#define SLUICE_PRINTF_INTERNAL_H

#include <stddef.h>

#include "buf_internal.h"

/* Append the rendering of fmt with the encoded arguments to out.
 * types[i] is the SLUICE_ARG_* of argument i (ntypes of them); args/args_len
 * is the encoding: 8 bytes per INT/UINT/DOUBLE/POINTER (native endian,
 * unaligned), and for STRING a uint32_t length (UINT32_MAX for NULL)
 * followed by that many bytes. Returns 0, or -1 if the encoding is shorter
 * than the types say (what could be rendered is appended). A conversion
 * without a matching argument renders as nothing; %n renders as nothing. */
int sluice_printf_render(sluice_buf *out, const char *fmt,
                         const unsigned char *types, size_t ntypes,
                         const unsigned char *args, size_t args_len);

#endif
