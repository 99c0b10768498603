/* SPDX-License-Identifier: MIT */
/* hvtrace: error texts. */
#include "hvtrace/error.h"

static const char *const texts[HVT_E__COUNT] = {
    [HVT_OK] = "success",
    [HVT_E_INVALID] = "invalid argument",
    [HVT_E_INTERNAL] = "internal error (a bug in hvtrace)",
    [HVT_E_NOMEM] = "out of memory",
    [HVT_E_IO] = "input/output error",
    [HVT_E_EXISTS] = "file exists (overwrite not requested)",
    [HVT_E_NOSPACE] = "no space left on device or file size limit reached",
    [HVT_E_BAD_MAGIC] = "bad magic number (not an hvtrace trace or chunk)",
    [HVT_E_BAD_VERSION] = "unsupported trace format version",
    [HVT_E_TRUNCATED] = "truncated input",
    [HVT_E_CHECKSUM] = "checksum mismatch",
    [HVT_E_BAD_RECORD] = "malformed record",
    [HVT_E_LIMIT] = "length or count exceeds limit",
    [HVT_E_NO_INDEX] = "trace has no valid index",
    [HVT_E_NOT_FOUND] = "not found",
    [HVT_E_END] = "end of input",
    [HVT_E_UNSUPPORTED] = "not supported",
    [HVT_E_CLOSED] = "stopped by an earlier error",
    [HVT_E_BAD_PLUGIN] = "core plugin cannot be loaded or has a different ABI",
    [HVT_E_SAME_FILE] = "the output is the input file",
};

const char *hvt_strerror(int err)
{
    if (err < 0)
        err = -err;
    if (err >= HVT_E__COUNT || !texts[err])
        return "unknown error";
    return texts[err];
}
