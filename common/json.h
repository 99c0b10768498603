/* SPDX-License-Identifier: MIT */
/* hvtrace common: JSON output helpers shared by the tools and the replayer's reports. */
#ifndef HVT_COMMON_JSON_H
#define HVT_COMMON_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Writes S as a JSON string literal (quotes included), escaping quotes, backslashes and every
 * byte outside printable ASCII. NULL writes null. */
void hvt_json_str(FILE *f, const char *s);
/* Writes LEN bytes as a JSON string of lowercase hex digits. */
void hvt_json_hex(FILE *f, const uint8_t *p, size_t len);

#endif
