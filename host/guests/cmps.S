/* SPDX-License-Identifier: MIT */
/* Guest "cmps": CMPSQ with both operands at one device register, which another vCPU (an
 * agent) writes between passes (64-bit).
 * In: r9 = the register (MMIO). */
1:
    mov rsi, r9
    mov rdi, r9
    cmpsq                               /* operand 0 and operand 1: two requests */
    jmp 1b
