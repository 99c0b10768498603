/* SPDX-License-Identifier: MIT */
/* Guest "gather": VPGATHERDD whose element 4 lies in MMIO: elements 0..3 complete, the mask is
 * written back, the pass ends RETRY, and the next pass finishes the rest (64-bit, AVX2).
 * In: r10 = gather base (RAM), rbp + 64 = all-ones mask, rbp + 96 = the eight indices. */
1:
    vmovdqu ymm2, ymmword ptr [rbp + 64]
    vmovdqu ymm1, ymmword ptr [rbp + 96]
    vpgatherdd ymm0, [r10 + ymm1 * 4], ymm2
    add rax, 1
    jmp 1b
