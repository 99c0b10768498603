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
    in eax, dx                          /* port read: the counter register (DX port) */
    add dword ptr [rbp + 24], eax       /* RAM only */
    out 0xe8, al                        /* port write of a command byte (imm8 port) */
    mov rdi, rbp
    add rdi, 32
    insd                                /* string port I/O: one FIFO dword into RAM */
    mov edx, 0xe8
    out dx, ax                          /* 16-bit port write (DX port) */
    add qword ptr [rbx + 16], 1         /* MMIO read-modify-write: two requests, three passes */
    mov rcx, qword ptr [rbp + 16]
    inc rcx
    mov qword ptr [rbp + 16], rcx
    jmp 1b
