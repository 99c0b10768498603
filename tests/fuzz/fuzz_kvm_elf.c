/* SPDX-License-Identifier: MIT */
/* Fuzz target for the KVM host's kernel loader (host/kvm/kvm_kernel.c), which reads the vmlinux
 * ELF given to `record --host kvm --kernel`: any input loads within the guest RAM or is
 * refused with a message, never read or written out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/kvm/kvm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    uint64_t entry = 0;
    char err[256] = "";
    if (!ram && !(ram = calloc(1, RAM)))
        abort();
    int rc = hvt_kvm_load_elf(ram, RAM, data, size, &entry, err, sizeof(err));
    if (rc == 0 && entry >= RAM)
        abort(); /* an entry outside the RAM must be refused */
    if (rc < 0 && !err[0])
        abort(); /* a refusal names what is wrong */
    return 0;
}
