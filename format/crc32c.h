/* SPDX-License-Identifier: MIT */
/* hvtrace format: CRC32C (Castagnoli), as used by every checksum in the trace format. */
#ifndef HVT_FMT_CRC32C_H
#define HVT_FMT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C of LEN bytes at P, continuing from CRC (0 to start). Standard CRC-32C: reflected
 * polynomial 0x82f63b78, initial value and final XOR 0xffffffff; crc("123456789") = 0xe3069283. */
uint32_t hvt_crc32c(uint32_t crc, const void *p, size_t len);

/* The table-driven implementation alone (for tests of both paths). */
uint32_t hvt_crc32c_sw(uint32_t crc, const void *p, size_t len);

#endif
