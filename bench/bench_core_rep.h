/* SPDX-License-Identifier: MIT */
/* hvtrace benchmark piece (core extensions): REP MOVSB throughput of the reference core. */
#ifndef HVT_BENCH_CORE_REP_H
#define HVT_BENCH_CORE_REP_H

/* Measures the bytes per second REP MOVSB moves on the reference core over RAM-to-RAM 4 KiB
 * copies (RCX = 4096, 64-bit mode, 4-level paging, every byte read and written through the ops
 * table), running for at least MIN_SECONDS of process CPU time. Stores the rate in
 * *BYTES_PER_S. Returns 0, -HVT_E_INVALID (NULL pointer), the core's open error, or
 * -HVT_E_INTERNAL when an emulation does not complete. For `hvtrace bench core --json`, key
 * "rep_bytes_per_s". */
int hvt_core_bench_rep_movsb(double min_seconds, double *bytes_per_s);

#endif
