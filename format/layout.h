/* SPDX-License-Identifier: MIT */
/* hvtrace format: the fixed little-endian structures of the container (docs/FORMAT.md). */
#ifndef HVT_FMT_LAYOUT_H
#define HVT_FMT_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* File header: magic, versions, length and CRC of the Header message, CRC of itself. */
#define HVT_FILE_MAGIC "\x89HVT\r\n\x1a\n"
#define HVT_FILE_MAGIC_LEN 8
#define HVT_FILE_HDR_SIZE 32
#define HVT_MAX_HEADER_MSG (1u << 20)

/* Chunk header (also used, with another magic, before the index). */
#define HVT_CHUNK_MAGIC "HVTC"
#define HVT_INDEX_MAGIC "HVTI"
#define HVT_CHUNK_HDR_SIZE 48
/* hdr_version: the payload's encoding (chunkenc.h), 1 or 2; index blocks are version 1. */
#define HVT_CHUNK_HDR_VERSION 1
#define HVT_CHUNK_HDR_VERSION_MAX 2

/* Footer: the last 32 bytes of a cleanly closed file. */
#define HVT_FOOTER_MAGIC "HVTEND\r\n"
#define HVT_FOOTER_SIZE 32

/* Fixed limits a reader enforces whatever the file says. */
#define HVT_MAX_VCPU_SLOTS 64 /* vCPUs whose init state can be a delta, per chunk */
#define HVT_MAX_INDEX_ENTRIES (1u << 24)

struct hvt_file_hdr {
    uint16_t major, minor, min_reader_major, hdr_size;
    uint32_t msg_len, msg_crc, flags;
};

struct hvt_chunk_hdr {
    char magic[4];
    uint16_t hdr_size, version;
    uint32_t compressed_size, raw_size;
    uint64_t first_event_id;
    uint32_t n_events, n_records;
    uint64_t last_event_id;
    uint32_t payload_crc;
};

struct hvt_footer {
    uint64_t index_offset;
    uint32_t index_size; /* chunk header + payload of the index block */
    uint32_t n_chunks;
};

static inline void hvt_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void hvt_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void hvt_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t hvt_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t hvt_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t hvt_get64(const uint8_t *p)
{
    return (uint64_t)hvt_get32(p) | (uint64_t)hvt_get32(p + 4) << 32;
}

void hvt_file_hdr_encode(uint8_t out[HVT_FILE_HDR_SIZE], const struct hvt_file_hdr *h);
/* 0, -HVT_E_BAD_MAGIC or -HVT_E_CHECKSUM (self CRC). Versions are checked by the caller. */
int hvt_file_hdr_decode(const uint8_t in[HVT_FILE_HDR_SIZE], struct hvt_file_hdr *h);

void hvt_chunk_hdr_encode(uint8_t out[HVT_CHUNK_HDR_SIZE], const struct hvt_chunk_hdr *h);
/* 0, -HVT_E_BAD_MAGIC (neither chunk nor index magic), -HVT_E_CHECKSUM (self CRC), or
 * -HVT_E_BAD_VERSION (header size/version this reader does not know). Encoding: H->version, or
 * HVT_CHUNK_HDR_VERSION when 0. */
int hvt_chunk_hdr_decode(const uint8_t in[HVT_CHUNK_HDR_SIZE], struct hvt_chunk_hdr *h);

void hvt_footer_encode(uint8_t out[HVT_FOOTER_SIZE], const struct hvt_footer *f);
/* 0, -HVT_E_BAD_MAGIC or -HVT_E_CHECKSUM. */
int hvt_footer_decode(const uint8_t in[HVT_FOOTER_SIZE], struct hvt_footer *f);

#endif
