/* SPDX-License-Identifier: MIT */
/* Reference core: which RFLAGS bits an instruction leaves architecturally undefined. */
#ifndef HVT_CORE_FLAGS_UNDEF_H
#define HVT_CORE_FLAGS_UNDEF_H

#include <stdint.h>

/* RFLAGS bits (CF PF AF ZF SF OF) that the SDM leaves undefined after the instruction with
 * capstone x86_insn id INSN_ID, operand size OPSIZE (bytes: 1, 2, 4, 8) and, for shifts and
 * rotates, the raw COUNT operand (masked here as the hardware does; ignored otherwise).
 * A differential harness masks these bits before comparing with another emulator; what the
 * reference core writes into them is documented in docs/CORE.md. 0 for instructions whose
 * flags are all defined (or untouched) and for ids this core does not know. */
uint64_t hvt_core_undef_flags(unsigned insn_id, unsigned opsize, unsigned count);

#endif
