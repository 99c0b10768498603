/* SPDX-License-Identifier: MIT */
/* hvtrace: HVT_API, the one export macro: it marks every public declaration in these headers. */
#ifndef HVTRACE_EXPORT_H
#define HVTRACE_EXPORT_H

/* The libraries build with -fvisibility=hidden and a version script: only declarations marked
 * HVT_API leave the shared objects (docs/DESIGN.md, "Shared libraries and symbols"). */
#if defined(__GNUC__) || defined(__clang__)
#define HVT_API __attribute__((visibility("default")))
#else
#define HVT_API
#endif

#endif /* HVTRACE_EXPORT_H */
