/* SPDX-License-Identifier: MIT */
/* Guest "adbits": MMIO accesses through a window whose paging entries have their accessed and
 * dirty bits cleared by the guest OS (an agent aging pages) after every event (64-bit).
 * In: r11 = pointer into the adbits window. */
1:
    mov dword ptr [r11], eax            /* walk sets A (and D on the leaf), then RETRY */
    mov ecx, dword ptr [r11 + 8]
    inc eax
    jmp 1b
