/* SPDX-License-Identifier: MIT */
/* Guest "ptwrite": plain MOVs to and from MMIO through a pointer whose translation goes
 * through a PML4E, PDPTE and PDE that another vCPU (an agent) rewrites (64-bit).
 * In: r8 = pointer into the ptwrite window, rbp = scratch RAM. */
1:
    mov dword ptr [r8], eax             /* MMIO write through the window */
    inc eax
    mov ecx, dword ptr [r8 + 8]         /* MMIO read through the window */
    add qword ptr [rbp], rcx
    jmp 1b
