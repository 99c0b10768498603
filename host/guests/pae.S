/* SPDX-License-Identifier: MIT */
/* Guest "pae-pdpte": a 32-bit PAE guest writing and reading MMIO through PDPTE 2, whose copy in
 * memory another vCPU (an agent) rewrites between passes (32-bit).
 * In: ebx = pointer into the window at 0x80000000, ebp = scratch RAM. */
1:
    mov dword ptr [ebx], eax
    inc eax
    mov ecx, dword ptr [ebx + 8]
    add dword ptr [ebp], ecx
    jmp 1b
