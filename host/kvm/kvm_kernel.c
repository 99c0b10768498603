/* SPDX-License-Identifier: MIT */
/* KVM host: kernel boot (placeholder). */
#include "kvm_int.h"
int hvt_kvm_boot_kernel(const struct hvt_kvm_options *o, const char *path, struct hvt_kvm_stats *st,
                        char *err, size_t len);
int hvt_kvm_boot_kernel(const struct hvt_kvm_options *o, const char *path, struct hvt_kvm_stats *st,
                        char *err, size_t len)
{
    (void)o, (void)path, (void)st, (void)err, (void)len;
    return -HVT_E_UNSUPPORTED;
}
