/* SPDX-License-Identifier: MIT */
/* Reference core extensions: string ops, SIMD moves, CMPXCHG8B/16B and AVX2 gathers. */
#ifndef HVT_CORE_EXEC_EXT_H
#define HVT_CORE_EXEC_EXT_H

#include <stdint.h>

#include "decode.h"
#include "emu.h"

/*
 * These instructions come with the same decoded form as every other (decode.h): the encoding
 * fields of the one byte-level parse (hvt_dinsn.enc: map, opcode, VEX fields, ModRM, the
 * memory operand) select the form, and hvt_dec_ea gives the memory operand's address. The
 * executor's dispatcher hands them over with hvt_exec_ext() when hvt_exec_ext_owns() says the
 * capstone id is one of them.
 *
 * Contract with the executor (core.c): hvt_exec_ext() updates e->st (the working copy),
 * including RIP (advanced on completion; left at the instruction when a REP op stops early).
 * When an instruction commits partial progress (REP iterations, gather elements) and then
 * ends with RETRY or EXCEPTION, it sets e->partial: the working copy must then be committed to
 * the caller's state as on OKAY. res->out.iterations counts the iterations / elements this
 * pass completed.
 */

/* Most REP iterations one pass makes. A longer REP op ends OKAY with RIP still at the
 * instruction and the registers of the completed iterations (as an interrupt window between
 * iterations would leave them); the guest re-executes it. */
#define HVT_EXT_REP_MAX 65536u

/* 1 when capstone instruction id ID (x86_insn) is handled by hvt_exec_ext. */
int hvt_exec_ext_owns(unsigned id);

/* Emulates decoded instruction D (decoded for e->mode). Returns an HVT_OUT_* value with e->res
 * filled as emu.h describes; UNIMPLEMENTED (with a detail) for forms it does not model or
 * encodings the parse did not know, #UD for a VEX prefix after 66/F2/F3/LOCK/REX. */
int hvt_exec_ext(struct hvt_emu *e, const struct hvt_dinsn *d);

/* The same from the instruction's bytes alone, parsed with hvt_dec_parse (no capstone): LEN
 * bytes (0 lets the parse decide; else the parse must find exactly LEN, or UNHANDLEABLE). For
 * tests of these forms without a decoder. */
int hvt_exec_ext_bytes(struct hvt_emu *e, const uint8_t *bytes, unsigned len);

/* ---- shared between exec_ext.c, exec_string.c, exec_simd.c, exec_gather.c ---------------- */

/* Effective address of D's memory operand (hvt_dec_ea with RIP after the instruction). */
uint64_t hvt_xi_ea(const struct hvt_emu *e, const struct hvt_dinsn *d);
/* Advances RIP past the instruction (wrapping per mode). */
void hvt_xi_next(struct hvt_emu *e, const struct hvt_dinsn *d);
/* GPR write of SIZE bytes: 1/2 merge, 4 zero-extends, 8 whole. */
void hvt_xi_set_gpr(struct hvt_emu *e, unsigned reg, unsigned size, uint64_t v);
uint64_t hvt_xi_get_gpr(const struct hvt_emu *e, unsigned reg, unsigned size);
/* Ends the pass UNIMPLEMENTED with "WHAT" as detail. */
int hvt_xi_unimpl(struct hvt_emu *e, const char *what);
/* Ends the pass UNHANDLEABLE with "WHAT" as detail. */
int hvt_xi_unhandleable(struct hvt_emu *e, const char *what);
/* #UD */
int hvt_xi_ud(struct hvt_emu *e);
/* #UD unless the CPU profile has feature F (enum hvt_cpu_feature); 0 when it has. */
int hvt_xi_need(struct hvt_emu *e, unsigned f);

/* Flags of DST - SRC at SIZE bytes (CMP semantics) merged into RFLAGS. */
uint64_t hvt_xi_sub_flags(uint64_t rflags, uint64_t dst, uint64_t src, unsigned size);

int hvt_exec_string(struct hvt_emu *e, const struct hvt_dinsn *d);
int hvt_exec_simd(struct hvt_emu *e, const struct hvt_dinsn *d);
int hvt_exec_cmpxchg8b(struct hvt_emu *e, const struct hvt_dinsn *d);
int hvt_exec_gather(struct hvt_emu *e, const struct hvt_dinsn *d);

/* SIMD availability: #UD / #NM per CR0.EM/TS, CR4.OSFXSR (SSE) or CR4.OSXSAVE + XCR0 (AVX);
 * UNHANDLEABLE when the state carries no SIMD registers. HVT_OUT_OKAY when usable. */
int hvt_xi_simd_check(struct hvt_emu *e, int avx);

#endif
