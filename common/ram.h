/* SPDX-License-Identifier: MIT */
/* hvtrace common: guest RAM as one flat buffer behind the phys ops (benches, oracle, tests). */
#ifndef HVT_COMMON_RAM_H
#define HVT_COMMON_RAM_H

#include <stdint.h>
#include <string.h>

#include "hvtrace/core.h"

/* SIZE bytes of guest-physical memory at MEM, from address 0. */
struct hvt_ram {
    uint8_t *mem;
    uint64_t size;
    uint64_t ops;  /* op calls served through hvt_ram_ops */
    int io_result; /* what hvt_ram_ops' io_in/io_out answer (io_in reads 0xff on OKAY) */
};

/* The plain RAM cases: HVT_OP_OKAY, or HVT_OP_UNHANDLEABLE outside [0, size); cmpxchg also
 * HVT_OP_CMPXCHG_FAILED with what memory held copied into OLD. A harness with MMIO, logging
 * or injected failures does its part and calls these for the rest. */
int hvt_ram_read(const struct hvt_ram *r, uint64_t gpa, void *buf, uint32_t size);
int hvt_ram_write(struct hvt_ram *r, uint64_t gpa, const void *buf, uint32_t size);
int hvt_ram_cmpxchg(struct hvt_ram *r, uint64_t gpa, void *old, const void *new_, uint32_t size);

/* An ops table over a struct hvt_ram (the context): memory ops as above, counted in ops. */
extern const struct hvt_core_ops hvt_ram_ops;

/* Little-endian stores and loads, for building page tables and checking memory. */
static inline void hvt_ram_put64(struct hvt_ram *r, uint64_t gpa, uint64_t v)
{
    memcpy(r->mem + gpa, &v, 8);
}
static inline uint64_t hvt_ram_get64(const struct hvt_ram *r, uint64_t gpa)
{
    uint64_t v;
    memcpy(&v, r->mem + gpa, 8);
    return v;
}

#endif
