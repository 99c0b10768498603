/* SPDX-License-Identifier: MIT */
/* hvtrace: error codes shared by every component. Functions return >= 0 or -enum hvt_error. */
#ifndef HVTRACE_ERROR_H
#define HVTRACE_ERROR_H

#include "hvtrace/export.h"

#ifdef __cplusplus
extern "C" {
#endif

enum hvt_error {
    HVT_OK = 0,
    HVT_E_INVALID = 1,     /* bad argument to a public function */
    HVT_E_INTERNAL = 2,    /* a broken internal invariant (a bug in hvtrace) */
    HVT_E_NOMEM = 3,       /* out of memory */
    HVT_E_IO = 4,          /* a system call failed; errno-level detail is in the error info */
    HVT_E_EXISTS = 5,      /* the output exists and overwriting was not requested */
    HVT_E_NOSPACE = 6,     /* the device is full (ENOSPC, EFBIG, RLIMIT_FSIZE) */
    HVT_E_BAD_MAGIC = 7,   /* not an hvtrace file, or not a chunk where one was expected */
    HVT_E_BAD_VERSION = 8, /* the trace needs a newer reader */
    HVT_E_TRUNCATED = 9,   /* the input ends inside a structure */
    HVT_E_CHECKSUM = 10,   /* a checksum does not match */
    HVT_E_BAD_RECORD = 11, /* a record does not decode or breaks the format's rules */
    HVT_E_LIMIT = 12,      /* a length or count exceeds a limit */
    HVT_E_NO_INDEX = 13,   /* the trace has no valid index (use scanning or salvage) */
    HVT_E_NOT_FOUND = 14,  /* the requested event, chunk or item does not exist */
    HVT_E_END = 15,        /* no more items */
    HVT_E_UNSUPPORTED = 16,/* a valid request this build or core cannot serve */
    HVT_E_CLOSED = 17,     /* the object was stopped by an earlier error */
    HVT_E_BAD_PLUGIN = 18, /* a core plugin does not load or has the wrong ABI */
    HVT_E_SAME_FILE = 19,  /* the output is the input (same device and inode) */
    HVT_E__COUNT
};

/* A human-readable text for an error code, positive or negated. Never NULL. */
HVT_API const char *hvt_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* HVTRACE_ERROR_H */
