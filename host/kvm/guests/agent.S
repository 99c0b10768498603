/* SPDX-License-Identifier: MIT */
/* KVM guest "agent": the racing writer as guest code on its own vCPU. It waits for a request
 * in the mailbox (a new sequence number), stores the requested 8-byte value at the requested
 * address (a PTE in RAM, or a device register: then an MMIO exit), and acknowledges; request
 * kind 3 stops it (OUT to port 0xef). In: rdi = mailbox (+0 request seq, +4 ack seq, +8 kind, +16 value,
 * +24 address), r14 = 0. */
1:
    pause
    mov eax, dword ptr [rdi]
    cmp eax, r14d
    je 1b
    mov r14d, eax
    mov ecx, dword ptr [rdi + 8]
    cmp ecx, 3
    je 2f
    mov rax, qword ptr [rdi + 16]
    mov rdx, qword ptr [rdi + 24]
    mov qword ptr [rdx], rax
    mov dword ptr [rdi + 4], r14d
    jmp 1b
2:
    mov dword ptr [rdi + 4], r14d
    out 0xef, al                        /* stopped: an I/O exit (HLT may block in KVM_RUN) */
    jmp 2b
