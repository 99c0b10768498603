/* SPDX-License-Identifier: MIT */
/* hvtrace common: printing of accesses and tags, shared by the tools and the replayer. */
#ifndef HVT_COMMON_PRINT_H
#define HVT_COMMON_PRINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hvtrace/types.h"

/* Writes S (from a trace: never trusted) so that no byte can move the terminal: control
 * bytes, bytes above 0x7e and backslashes as \xNN. NULL writes "?". */
void hvt_text_str(FILE *f, const char *s);
/* Writes N bytes as lowercase hex digits. */
void hvt_text_hex(FILE *f, const uint8_t *p, size_t n);
/* The short text of a tag into BUF: "walk:L4", "data:op1:el3", "walk:pdpte"; returns BUF. */
const char *hvt_tag_text(char *buf, size_t size, const struct hvt_tag *t);
/* Whether A's data field holds a value: reads return one only when they succeeded; writes
 * (and cmpxchg, io-out) always carry what was written. */
int hvt_access_data_valid(const struct hvt_access *a);
/* The JSON members every printed access has, without braces: "kind", "space", "tag", "seg",
 * "linear" (null without HVT_AF_LINEAR_VALID), "phys", "size", "data" (null when not
 * valid). */
void hvt_json_access_fields(FILE *f, const struct hvt_access *a);

#endif
