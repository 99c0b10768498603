/* SPDX-License-Identifier: MIT */
/* hvtrace format tests: random events through writer and reader, compared field by field,
 * across chunk sizes and compression levels; header, call sites, lost markers, load_chunk. */
#include "gen.h"

#include <inttypes.h>
#include <pthread.h>

#define N_EVENTS 2500

struct item {
    int lost;
    struct hvt_event *ev;
    struct hvt_lost l;
};

static struct item items[N_EVENTS + N_EVENTS / 8 + 8];
static size_t n_items;

static const struct hvt_frame frames_a[] = {
    {0x401000, 0x10, "x86_emulate", "xen"}, {0x402000, 0, NULL, "xen"}, {0x403000, 8, "hvm", NULL}};
static const struct hvt_frame frames_b[] = {{0x7fff0000, 4, "mmio_read", "qemu"}};

static void make_items(void)
{
    struct hvt_event *last[4] = {0};
    uint64_t id = rndn(1000);
    n_items = 0;
    for (int i = 0; i < N_EVENTS; i++) {
        if (!rndn(10)) {
            struct item *it = &items[n_items++];
            memset(it, 0, sizeof(*it));
            it->lost = 1;
            it->l.vcpu = (uint32_t)rndn(4);
            it->l.count = 1 + rndn(1000);
            it->l.event_id = rndn(2) ? id : HVT_NO_EVENT;
            it->l.pass = (uint32_t)rndn(3);
            it->l.access = (uint32_t)rndn(50);
        }
        uint32_t vcpu = rndn(20) ? (uint32_t)rndn(4) : (uint32_t)(100 + rndn(200));
        struct hvt_event *prev = vcpu < 4 ? last[vcpu] : NULL;
        struct hvt_event *ev = gen_event(id, prev, vcpu);
        if (vcpu < 4)
            last[vcpu] = ev;
        items[n_items].lost = 0;
        items[n_items++].ev = ev;
        id += 1 + (rndn(4) ? 0 : rndn(1000));
    }
}

static void free_items(void)
{
    for (size_t i = 0; i < n_items; i++)
        if (!items[i].lost)
            gen_free(items[i].ev);
}

static int write_trace(const char *path, size_t chunk_bytes, int level, uint64_t *chunks)
{
    static const struct hvt_kv opts[] = {{"policy", "drop"}, {"seed", "42"}};
    struct hvt_fmt_header h = {
        .producer = "test_roundtrip",
        .producer_version = "1.2.3",
        .cpu_vendor = "GenuineIntel",
        .cpu_family = 6,
        .cpu_model = 85,
        .cpu_stepping = 7,
        .cpu_features = "avx2 smep smap",
        .hypervisor = "hvtrace-sim",
        .hypervisor_version = "0.1",
        .core_name = "ref",
        .core_version = "0.1",
        .core_build_id = "abcdef",
        .n_options = 2,
        .options = opts,
        .start_time_ns = 1234567890123456789ull,
        .cpu_profile = "amd-zen4 -avx512f gather-fault-upper=zero",
    };
    struct hvt_fmt_writer_options o;
    hvt_fmt_writer_options_init(&o);
    o.chunk_bytes = chunk_bytes;
    o.level = level;
    o.flags = HVT_FMT_W_OVERWRITE;
    struct hvt_fmt_writer *w;
    int rc = hvt_fmt_writer_open(&w, path, &h, &o);
    CHECK_EQ(rc, 0);
    if (rc)
        return rc;
    struct hvt_callsite a = {1, 3, frames_a}, b = {2, 1, frames_b}, c = {3, 0, NULL};
    CHECK_EQ(hvt_fmt_writer_add_callsite(w, &a), 0);
    CHECK_EQ(hvt_fmt_writer_add_callsite(w, &b), 0);
    CHECK_EQ(hvt_fmt_writer_add_callsite(w, &c), 0);
    CHECK_EQ(hvt_fmt_writer_add_callsite(w, &a), 0); /* same again: fine */
    struct hvt_callsite a2 = {1, 1, frames_b};
    CHECK_EQ(hvt_fmt_writer_add_callsite(w, &a2), -HVT_E_INVALID); /* redefined differently */
    for (size_t i = 0; i < n_items; i++) {
        if (items[i].lost)
            rc = hvt_fmt_writer_append_lost(w, &items[i].l);
        else
            rc = hvt_fmt_writer_append(w, items[i].ev);
        if (rc) {
            CHECK_EQ(rc, 0);
            break;
        }
    }
    struct hvt_fmt_writer_stats st;
    CHECK_EQ(hvt_fmt_writer_close(w, &st), 0);
    CHECK_EQ(st.events, N_EVENTS);
    *chunks = st.chunks;
    return 0;
}

static void check_header(struct hvt_fmt_reader *r)
{
    const struct hvt_fmt_header *h = hvt_fmt_reader_header(r);
    CHECK(h != NULL);
    if (!h)
        return;
    CHECK_EQ(h->format_major, HVT_FMT_VERSION_MAJOR);
    CHECK_EQ(h->format_minor, HVT_FMT_VERSION_MINOR);
    CHECK_STR(h->producer, "test_roundtrip");
    CHECK_STR(h->producer_version, "1.2.3");
    CHECK_STR(h->cpu_vendor, "GenuineIntel");
    CHECK_EQ(h->cpu_model, 85);
    CHECK_EQ(h->cpu_stepping, 7);
    CHECK_STR(h->cpu_features, "avx2 smep smap");
    CHECK_STR(h->core_build_id, "abcdef");
    /* the CPU profile text comes back as written, and means the same profile */
    CHECK_STR(h->cpu_profile, "amd-zen4 -avx512f gather-fault-upper=zero");
    {
        struct hvt_cpu_profile p;
        char warn[128];
        CHECK_EQ(hvt_fmt_header_cpu(h, &p, warn, sizeof(warn)), HVT_FMT_CPU_RECORDED);
        CHECK_STR(p.name, "amd-zen4");
        CHECK(!HVT_CPU_HAS(&p, HVT_CPUF_AVX512F) && HVT_CPU_HAS(&p, HVT_CPUF_LA57));
        CHECK_EQ(p.choice[HVT_CPUC_GATHER_FAULT_UPPER], 0);
        CHECK_EQ(p.choice[HVT_CPUC_GATHER_FAULT_MASK], 1);
    }
    CHECK_EQ(h->n_options, 2);
    if (h->n_options == 2) {
        CHECK_STR(h->options[1].key, "seed");
        CHECK_STR(h->options[1].value, "42");
    }
    CHECK_U64(h->start_time_ns, 1234567890123456789ull);
    static const uint8_t zero[16];
    CHECK(memcmp(h->uuid, zero, 16) != 0);
    CHECK_EQ(h->uuid[6] >> 4, 4);
}

static void check_callsites(const struct hvt_callsite *cs1, const struct hvt_callsite *cs2)
{
    CHECK(cs1 && cs1->n_frames == 3);
    if (cs1 && cs1->n_frames == 3) {
        CHECK_STR(cs1->frames[0].function, "x86_emulate");
        CHECK_STR(cs1->frames[0].module, "xen");
        CHECK(cs1->frames[1].function == NULL);
        CHECK(cs1->frames[2].module == NULL);
        CHECK_U64(cs1->frames[2].ip, 0x403000);
        CHECK_U64(cs1->frames[0].offset, 0x10);
    }
    CHECK(cs2 && cs2->n_frames == 1 && cs2->frames[0].ip == 0x7fff0000);
}

/* Reads the trace back with _next and compares every record. */
static void read_back(const char *path, unsigned flags)
{
    struct hvt_fmt_reader_options ro;
    hvt_fmt_reader_options_init(&ro);
    ro.flags = flags;
    struct hvt_fmt_reader *r;
    int rc = hvt_fmt_reader_open(&r, path, &ro);
    CHECK_EQ(rc, 0);
    if (rc) {
        fprintf(stderr, "open: %s\n", hvt_fmt_reader_error(r)->message);
        hvt_fmt_reader_close(r);
        return;
    }
    CHECK_EQ(hvt_fmt_reader_has_index(r), !(flags & HVT_FMT_R_SCAN));
    check_header(r);
    struct hvt_record rec;
    size_t i = 0;
    int saw_cs = 0;
    while ((rc = hvt_fmt_reader_next(r, &rec)) == 1) {
        if (i >= n_items) {
            CHECK(0);
            break;
        }
        CHECK_EQ(rec.type, items[i].lost ? HVT_REC_LOST : HVT_REC_EVENT);
        if (rec.type == HVT_REC_LOST && items[i].lost) {
            CHECK(!memcmp(rec.u.lost, &items[i].l, sizeof(items[i].l)));
        } else if (rec.type == HVT_REC_EVENT && !items[i].lost) {
            if (!event_eq(items[i].ev, rec.u.event)) {
                CHECK(0);
                break;
            }
            for (uint32_t p = 0; p < rec.u.event->n_passes; p++)
                for (uint32_t k = 0; k < rec.u.event->passes[p].n_accesses; k++) {
                    uint32_t id = rec.u.event->passes[p].accesses[k].callsite;
                    if (id == 1 && !saw_cs) {
                        saw_cs = 1;
                        check_callsites(hvt_fmt_reader_callsite(r, 1),
                                        hvt_fmt_reader_callsite(r, 2));
                    }
                    if (id >= 4) /* used, never defined */
                        CHECK(hvt_fmt_reader_callsite(r, id) == NULL);
                    if (id == 3) {
                        const struct hvt_callsite *c3 = hvt_fmt_reader_callsite(r, 3);
                        CHECK(c3 && c3->n_frames == 0);
                    }
                }
        }
        i++;
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(i, n_items);
    CHECK(saw_cs);
    CHECK_EQ(hvt_fmt_reader_next(r, &rec), 0); /* stays at the end */
    hvt_fmt_reader_close(r);
}

/* load_chunk: every chunk alone, records in the same order as the whole trace. */
static void read_chunks(const char *path, uint64_t n_chunks)
{
    struct hvt_fmt_reader *r;
    CHECK_EQ(hvt_fmt_reader_open(&r, path, NULL), 0);
    CHECK_EQ(hvt_fmt_reader_chunk_count(r), (int64_t)n_chunks);
    size_t i = 0;
    for (uint64_t k = 0; k < n_chunks; k++) {
        struct hvt_fmt_chunk_info info;
        CHECK_EQ(hvt_fmt_reader_chunk_info(r, k, &info), 0);
        struct hvt_fmt_chunk *c;
        int rc = hvt_fmt_reader_load_chunk(r, k, &c);
        CHECK_EQ(rc, 0);
        if (rc)
            break;
        CHECK_EQ(hvt_fmt_chunk_records(c), info.n_records);
        for (size_t j = 0; j < hvt_fmt_chunk_records(c); j++, i++) {
            struct hvt_record rec;
            CHECK_EQ(hvt_fmt_chunk_record(c, j, &rec), 0);
            if (i >= n_items || rec.type != (items[i].lost ? HVT_REC_LOST : HVT_REC_EVENT)) {
                CHECK(0);
                break;
            }
            if (rec.type == HVT_REC_EVENT && !event_eq(items[i].ev, rec.u.event))
                CHECK(0);
            if (rec.type == HVT_REC_EVENT && j == 0)
                CHECK_U64(rec.u.event->id, info.first_event_id);
        }
        struct hvt_record rec;
        CHECK_EQ(hvt_fmt_chunk_record(c, hvt_fmt_chunk_records(c), &rec), -HVT_E_NOT_FOUND);
        hvt_fmt_chunk_free(c);
    }
    CHECK_EQ(i, n_items);
    struct hvt_fmt_chunk_info info;
    CHECK_EQ(hvt_fmt_reader_chunk_info(r, n_chunks, &info), -HVT_E_NOT_FOUND);
    hvt_fmt_reader_close(r);
}

static void test_configs(void)
{
    static const struct {
        size_t chunk;
        int level;
    } cfg[] = {{4096, 1}, {65536, 3}, {1u << 20, -5}, {300000, 9}};
    char path[512];
    tmp_path(path, sizeof(path), "roundtrip");
    for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
        uint64_t chunks = 0;
        if (write_trace(path, cfg[c].chunk, cfg[c].level, &chunks))
            continue;
        if (cfg[c].chunk == 4096)
            CHECK(chunks > 20);
        read_back(path, 0);
        read_back(path, HVT_FMT_R_SCAN);
        read_chunks(path, chunks);
        struct hvt_fmt_verify_report rep;
        CHECK_EQ(hvt_fmt_verify(path, &rep, NULL, NULL), 0);
        CHECK_EQ(rep.events, N_EVENTS);
        CHECK_EQ(rep.chunks_good, chunks);
        CHECK_EQ(rep.chunks_bad, 0);
        CHECK(rep.has_index && rep.index_consistent && !rep.truncated_tail);
    }
    unlink(path);
}

/* hvt_fmt_header_set_cpu fills every CPU field from a profile; hvt_fmt_header_cpu reads it
 * back, and says when a header records none. */
static void test_header_cpu(void)
{
    struct hvt_fmt_header h;
    struct hvt_fmt_cpu_strings s;
    struct hvt_cpu_profile p, q;
    char warn[256];
    memset(&h, 0, sizeof(h));
    CHECK_EQ(hvt_cpu_profile_named(&p, "intel-sandybridge"), 0);
    CHECK_EQ(hvt_fmt_header_set_cpu(&h, &p, &s), 0);
    CHECK_STR(h.cpu_vendor, "GenuineIntel");
    CHECK_EQ(h.cpu_family, 6);
    CHECK_EQ(h.cpu_model, 42);
    CHECK(strstr(h.cpu_features, "avx") && !strstr(h.cpu_features, "avx2"));
    CHECK_EQ(hvt_fmt_header_cpu(&h, &q, warn, sizeof(warn)), HVT_FMT_CPU_RECORDED);
    CHECK(hvt_cpu_profile_equal(&p, &q));
    CHECK_STR(warn, "");
    h.cpu_profile = "";
    CHECK_EQ(hvt_fmt_header_cpu(&h, &q, warn, sizeof(warn)), HVT_FMT_CPU_DEFAULT);
    CHECK_STR(q.name, HVT_CPU_DEFAULT);
    CHECK(strstr(warn, "no CPU profile") != NULL);
    h.cpu_profile = "family=x";
    CHECK_EQ(hvt_fmt_header_cpu(&h, &q, warn, sizeof(warn)), HVT_FMT_CPU_UNREADABLE);
    CHECK(strstr(warn, "family") != NULL);
    h.cpu_profile = "vendor=V new-thing=1";
    CHECK_EQ(hvt_fmt_header_cpu(&h, &q, warn, sizeof(warn)), HVT_FMT_CPU_PARTIAL);
    CHECK_STR(q.name, "recorded");
    CHECK_EQ(hvt_fmt_header_set_cpu(NULL, &p, &s), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_header_cpu(NULL, &q, NULL, 0), -HVT_E_INVALID);
}

static void test_clone(void)
{
    struct hvt_event *c = NULL;
    const struct hvt_event *src = items[1].lost ? items[2].ev : items[1].ev;
    CHECK_EQ(hvt_event_clone(&c, src), 0);
    CHECK(c && event_eq(src, c));
    CHECK(c && (c->n_passes == 0 || c->passes != src->passes));
    hvt_event_free(c);
    hvt_event_free(NULL);
    CHECK_EQ(hvt_event_clone(NULL, src), -HVT_E_INVALID);
    CHECK_EQ(hvt_event_clone(&c, NULL), -HVT_E_INVALID);
    CHECK(c == NULL);
}

int main(void)
{
    make_items();
    RUN(test_configs);
    RUN(test_clone);
    RUN(test_header_cpu);
    free_items();
    TEST_DONE();
}
