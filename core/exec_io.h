/* SPDX-License-Identifier: MIT */
/* Reference core: port I/O shared by IN/OUT and INS/OUTS (permission check, port ops). */
#ifndef HVT_CORE_EXEC_IO_H
#define HVT_CORE_EXEC_IO_H

#include <stdint.h>

#include "emu.h"

/* Offset of the 16-bit I/O map base in a 32/64-bit TSS, and the smallest TSS limit that holds
 * it (a 32-bit TSS is 104 bytes). */
#define HVT_TSS_IOMAP_BASE 0x66u
#define HVT_TSS_MIN_LIMIT 103u

/* Tags of the two TSS reads of the permission check: class DESC, segment TR, operand index
 * saying which read it is (element and level 0). */
#define HVT_IO_DESC_MAPBASE 0u /* the I/O map base word at TSS + 0x66 */
#define HVT_IO_DESC_BITMAP 1u  /* the two bitmap bytes covering the ports */

/* I/O permission of SIZE (1, 2 or 4) bytes at PORT, as protected mode checks it before any
 * port access: with CPL <= IOPL (RFLAGS 13:12) every port is allowed and nothing is read.
 * Otherwise TR must hold a present 32/64-bit available or busy TSS (type 9 or 11) whose limit
 * is at least 103, else #GP(0). The I/O map base is read at TSS + 0x66 (2 bytes), then the 2
 * bitmap bytes at TSS + base + PORT/8 (hardware reads 2 bytes so that a range straddling two
 * bytes is covered); those 2 bytes must lie within the TSS limit, else #GP(0) without a read.
 * Any set bit among PORT..PORT+SIZE-1 is #GP(0). Both reads go through the MMU as implicit
 * supervisor accesses tagged HVT_TAG_DESC, segment TR (see HVT_IO_DESC_*).
 * Returns HVT_OUT_OKAY, HVT_OUT_EXCEPTION, or RETRY/UNHANDLEABLE when a read's op said so
 * (e->res filled). */
int hvt_io_check(struct hvt_emu *e, uint16_t port, unsigned size);

/* One port access: the io_in (IN nonzero) or io_out op for SIZE bytes at PORT, kind
 * IO_IN/IO_OUT, tag HVT_TAG_IO with element ELEM, segment NONE, space preset to PORT, no
 * linear address. BUF receives (IN) or holds (OUT) the little-endian value.
 * Returns HVT_OUT_OKAY, or RETRY (cause from the space the op left, PIO unless it changed it)
 * / UNHANDLEABLE as the op answered (e->res filled). */
int hvt_io_port(struct hvt_emu *e, int in, uint16_t port, void *buf, unsigned size, uint32_t elem);

#endif
