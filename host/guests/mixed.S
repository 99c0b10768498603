/* SPDX-License-Identifier: MIT */
/* Guest "mixed": mostly the clean workload; one iteration in 32 in turn does a pageout REP
 * OUTSB, a ptwrite MOV, a CMPSQ, an adbits MOV or a gather (64-bit, AVX2).
 * In: rbx = DEV0, rbp = scratch RAM, r8 = ptwrite pointer, r9 = cmps register, r10 = gather
 * base, r11 = adbits pointer, r12 = pageout buffer, r15 = vCPU id; r14 counts iterations. */
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
    and ecx, 31
    cmp ecx, 3
    je 2f
    cmp ecx, 9
    je 3f
    cmp ecx, 15
    je 4f
    cmp ecx, 21
    je 5f
    cmp ecx, 27
    je 6f
    jmp 1b
2:
    mov rsi, r12
    mov ecx, 4
    mov edx, 0xe0
    rep outsb
    jmp 1b
3:
    mov dword ptr [r8], eax
    jmp 1b
4:
    mov rsi, r9
    mov rdi, r9
    cmpsq
    jmp 1b
5:
    mov dword ptr [r11], eax
    jmp 1b
6:
    vmovdqu ymm2, ymmword ptr [rbp + 64]
    vmovdqu ymm1, ymmword ptr [rbp + 96]
    vpgatherdd ymm0, [r10 + ymm1 * 4], ymm2
    jmp 1b
