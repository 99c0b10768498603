/* SPDX-License-Identifier: MIT */
/* Guest "clean": MMIO reads/writes, port I/O and RAM work with no racing agent (64-bit).
 * In: rbx = DEV0 MMIO page, rbp = this vCPU's scratch RAM, r15 = vCPU id. */
1:
    mov eax, dword ptr [rbx]            /* MMIO read: one request */
    add eax, r15d
    mov dword ptr [rbx + 8], eax        /* MMIO write */
    mov qword ptr [rbp], rax            /* RAM only: runs unrecorded */
    add rax, qword ptr [rbp + 8]
    mov edx, 0xe4
    mov rdi, rbp
    add rdi, 32
    insd                                /* port read into RAM */
    mov edx, 0xe8
    mov rsi, rbp
    add rsi, 32
    outsb                               /* port write from RAM */
    add qword ptr [rbx + 16], 1         /* MMIO read-modify-write: two requests, three passes */
    mov rcx, qword ptr [rbp + 16]
    inc rcx
    mov qword ptr [rbp + 16], rcx
    jmp 1b
