/* SPDX-License-Identifier: MIT */
/* hvtrace format: encoding and checking of the fixed container structures. */
#include "layout.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crc32c.h"
#include "hvtrace/error.h"
#include "internal.h"

void hvt_file_hdr_encode(uint8_t out[HVT_FILE_HDR_SIZE], const struct hvt_file_hdr *h)
{
    memcpy(out, HVT_FILE_MAGIC, 8);
    hvt_put16(out + 8, h->major);
    hvt_put16(out + 10, h->minor);
    hvt_put16(out + 12, h->min_reader_major);
    hvt_put16(out + 14, HVT_FILE_HDR_SIZE);
    hvt_put32(out + 16, h->msg_len);
    hvt_put32(out + 20, h->msg_crc);
    hvt_put32(out + 24, h->flags);
    hvt_put32(out + 28, hvt_crc32c(0, out, 28));
}

int hvt_file_hdr_decode(const uint8_t in[HVT_FILE_HDR_SIZE], struct hvt_file_hdr *h)
{
    if (memcmp(in, HVT_FILE_MAGIC, 8))
        return -HVT_E_BAD_MAGIC;
    if (hvt_get32(in + 28) != hvt_crc32c(0, in, 28))
        return -HVT_E_CHECKSUM;
    h->major = hvt_get16(in + 8);
    h->minor = hvt_get16(in + 10);
    h->min_reader_major = hvt_get16(in + 12);
    h->hdr_size = hvt_get16(in + 14);
    h->msg_len = hvt_get32(in + 16);
    h->msg_crc = hvt_get32(in + 20);
    h->flags = hvt_get32(in + 24);
    return 0;
}

void hvt_chunk_hdr_encode(uint8_t out[HVT_CHUNK_HDR_SIZE], const struct hvt_chunk_hdr *h)
{
    memcpy(out, h->magic, 4);
    hvt_put16(out + 4, HVT_CHUNK_HDR_SIZE);
    hvt_put16(out + 6, h->version ? h->version : HVT_CHUNK_HDR_VERSION);
    hvt_put32(out + 8, h->compressed_size);
    hvt_put32(out + 12, h->raw_size);
    hvt_put64(out + 16, h->first_event_id);
    hvt_put32(out + 24, h->n_events);
    hvt_put32(out + 28, h->n_records);
    hvt_put64(out + 32, h->last_event_id);
    hvt_put32(out + 40, h->payload_crc);
    hvt_put32(out + 44, hvt_crc32c(0, out, 44));
}

int hvt_chunk_hdr_decode(const uint8_t in[HVT_CHUNK_HDR_SIZE], struct hvt_chunk_hdr *h)
{
    if (memcmp(in, HVT_CHUNK_MAGIC, 4) && memcmp(in, HVT_INDEX_MAGIC, 4))
        return -HVT_E_BAD_MAGIC;
    if (hvt_get32(in + 44) != hvt_crc32c(0, in, 44))
        return -HVT_E_CHECKSUM;
    memcpy(h->magic, in, 4);
    h->hdr_size = hvt_get16(in + 4);
    h->version = hvt_get16(in + 6);
    if (h->hdr_size != HVT_CHUNK_HDR_SIZE || h->version < HVT_CHUNK_HDR_VERSION ||
        h->version > HVT_CHUNK_HDR_VERSION_MAX)
        return -HVT_E_BAD_VERSION;
    h->compressed_size = hvt_get32(in + 8);
    h->raw_size = hvt_get32(in + 12);
    h->first_event_id = hvt_get64(in + 16);
    h->n_events = hvt_get32(in + 24);
    h->n_records = hvt_get32(in + 28);
    h->last_event_id = hvt_get64(in + 32);
    h->payload_crc = hvt_get32(in + 40);
    return 0;
}

void hvt_footer_encode(uint8_t out[HVT_FOOTER_SIZE], const struct hvt_footer *f)
{
    hvt_put64(out, f->index_offset);
    hvt_put32(out + 8, f->index_size);
    hvt_put32(out + 12, f->n_chunks);
    hvt_put32(out + 16, 0);
    hvt_put32(out + 20, hvt_crc32c(0, out, 20));
    memcpy(out + 24, HVT_FOOTER_MAGIC, 8);
}

int hvt_footer_decode(const uint8_t in[HVT_FOOTER_SIZE], struct hvt_footer *f)
{
    if (memcmp(in + 24, HVT_FOOTER_MAGIC, 8))
        return -HVT_E_BAD_MAGIC;
    if (hvt_get32(in + 20) != hvt_crc32c(0, in, 20))
        return -HVT_E_CHECKSUM;
    f->index_offset = hvt_get64(in);
    f->index_size = hvt_get32(in + 8);
    f->n_chunks = hvt_get32(in + 12);
    return 0;
}

int hvt_fmt_seterr(struct hvt_fmt_error_info *e, int code, uint64_t offset, int64_t chunk,
                   int64_t record, const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    e->offset = offset;
    e->chunk = chunk;
    e->record = record;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return code;
}
