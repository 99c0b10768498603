/* SPDX-License-Identifier: MIT */
/* Guest "pageout": REP OUTSB and REP MOVSB from a RAM buffer to a device, while the guest OS
 * (an agent) pages the buffer out and back in elsewhere by rewriting its leaf PTE (64-bit).
 * In: r12 = buffer (pageout window), r13 = MMIO sink register, rbp = scratch RAM. */
1:
    mov rsi, r12
    mov ecx, 4
    mov edx, 0xe0
    rep outsb                           /* one port request per byte */
    mov rax, qword ptr [rbp]
    add rax, 1
    mov qword ptr [rbp], rax
    mov rsi, r12
    add rsi, 64
    mov rdi, r13
    mov ecx, 2
    rep movsb                           /* RAM -> MMIO, one request per byte */
    jmp 1b
