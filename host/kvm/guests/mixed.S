/* SPDX-License-Identifier: MIT */
/* KVM guest "mixed": the clean workload, and one iteration in 16 in turn a pageout REP OUTSB,
 * a REP MOVSB from the pageout buffer to a device, or a CMPSQ on the cmps register (64-bit; no
 * gather: KVM's emulator has no AVX2 gathers). In: rbx = DEV0, rbp = scratch RAM,
 * r9 = cmps register, r12 = pageout buffer, r13 = MMIO sink, r15 = vCPU id; r14 counts. */
1:
    mov eax, dword ptr [rbx]
    add eax, r15d
    mov dword ptr [rbx + 8], eax
    mov qword ptr [rbp], rax
    add rax, qword ptr [rbp + 8]
    mov edx, 0xe4
    in eax, dx
    add dword ptr [rbp + 24], eax
    out 0xe8, al
    mov rdi, rbp
    add rdi, 32
    insd
    mov edx, 0xe8
    out dx, ax
    add qword ptr [rbx + 16], 1
    inc r14
    mov ecx, r14d
    and ecx, 15
    cmp ecx, 3
    je 2f
    cmp ecx, 8
    je 3f
    cmp ecx, 13
    je 4f
    jmp 1b
2:
    mov rsi, r12
    mov ecx, 4
    mov edx, 0xe0
    rep outsb
    jmp 1b
3:
    mov rsi, r12
    add rsi, 64
    mov rdi, r13
    mov ecx, 2
    rep movsb
    jmp 1b
4:
    mov rsi, r9
    mov rdi, r9
    cmpsq
    jmp 1b
