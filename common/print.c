/* SPDX-License-Identifier: MIT */
/* hvtrace common: printing of accesses and tags (print.h). */
#include "common/print.h"

#include <inttypes.h>

#include "common/json.h"

void hvt_text_str(FILE *f, const char *s)
{
    if (!s) {
        fputc('?', f);
        return;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f || c == '\\')
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}

void hvt_text_hex(FILE *f, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", p[i]);
}

const char *hvt_tag_text(char *buf, size_t size, const struct hvt_tag *t)
{
    size_t n = (size_t)snprintf(buf, size, "%s", hvt_tag_class_name(t->cls));
    if (n < size && (t->operand || t->cls == HVT_TAG_DATA))
        n += (size_t)snprintf(buf + n, size - n, ":op%u", t->operand);
    if (n < size && t->element)
        n += (size_t)snprintf(buf + n, size - n, ":el%" PRIu32, t->element);
    if (n < size && t->level == HVT_WALK_PAE_PDPTE)
        snprintf(buf + n, size - n, ":pdpte");
    else if (n < size && t->level)
        snprintf(buf + n, size - n, ":L%u", t->level);
    return buf;
}

int hvt_access_data_valid(const struct hvt_access *a)
{
    if (a->kind == HVT_ACC_READ || a->kind == HVT_ACC_FETCH || a->kind == HVT_ACC_IO_IN)
        return a->outcome == HVT_OP_OKAY;
    return 1;
}

void hvt_json_access_fields(FILE *f, const struct hvt_access *a)
{
    size_t n = a->size <= HVT_DATA_MAX ? a->size : HVT_DATA_MAX;
    fprintf(f,
            "\"kind\":\"%s\",\"space\":\"%s\",\"tag\":{\"class\":\"%s\",\"operand\":%u,"
            "\"element\":%" PRIu32 ",\"level\":%u},\"seg\":\"%s\",\"linear\":",
            hvt_access_kind_name(a->kind), hvt_space_name(a->space),
            hvt_tag_class_name(a->tag.cls), a->tag.operand, a->tag.element, a->tag.level,
            hvt_seg_name(a->seg));
    if (a->flags & HVT_AF_LINEAR_VALID)
        fprintf(f, "\"0x%" PRIx64 "\"", a->linear);
    else
        fputs("null", f);
    fprintf(f, ",\"phys\":\"0x%" PRIx64 "\",\"size\":%" PRIu32 ",\"data\":", a->phys, a->size);
    if (hvt_access_data_valid(a))
        hvt_json_hex(f, a->data, n);
    else
        fputs("null", f);
}
