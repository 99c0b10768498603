/* SPDX-License-Identifier: MIT */
/* hvtrace common: size-versioned structs across versions (libipt's pt_config_from_user). */
#ifndef HVT_COMMON_SIZED_H
#define HVT_COMMON_SIZED_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A public struct that grows carries its size (the caller's sizeof) in a field of its own:
 *   - an older, smaller struct is accepted: its fields are copied and the missing tail reads
 *     as zero (every field added later means "as before" when zero);
 *   - a size below MIN (the smallest struct this library has ever defined, which always ends
 *     after the size field) is refused;
 *   - a newer, larger struct is accepted when every byte this build does not know is zero
 *     (nothing asked for that this build cannot do), else refused.
 * hvt_sized_in copies the caller's struct USER of USER_SIZE bytes into DST, CUR bytes (this
 * build's sizeof); returns 0 or -1 (refused). DST's size field still holds USER_SIZE: callers
 * set it to CUR. */
static inline int hvt_sized_in(void *dst, size_t cur, const void *user, size_t user_size,
                               size_t min)
{
    const uint8_t *u = (const uint8_t *)user;
    if (user_size < min)
        return -1;
    for (size_t i = cur; i < user_size; i++)
        if (u[i])
            return -1;
    memset(dst, 0, cur);
    memcpy(dst, user, user_size < cur ? user_size : cur);
    return 0;
}

/* Output structs (statistics): fills the caller's USER of USER_SIZE bytes from SRC (CUR
 * bytes): an older caller gets the fields it knows, a newer one zeros after ours. The size
 * field is left as the caller set it. Returns 0, or -1 when USER_SIZE is below MIN. */
static inline int hvt_sized_out(void *user, size_t user_size, const void *src, size_t cur,
                                size_t min, size_t size_field_end)
{
    if (user_size < min)
        return -1;
    memcpy((uint8_t *)user + size_field_end, (const uint8_t *)src + size_field_end,
           (user_size < cur ? user_size : cur) - size_field_end);
    if (user_size > cur)
        memset((uint8_t *)user + cur, 0, user_size - cur);
    return 0;
}

#endif
