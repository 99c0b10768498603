/* SPDX-License-Identifier: MIT */
/* Recorder tests: checked calls (a bad record is refused at the call, with a detail, counted,
 * and the recording goes on, read back from a real trace) and size-versioned structs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvt_test.h"
#include "hvtrace/recorder.h"

static char dir[64];

/* What a trace holds, read back. */
struct back {
    int events, lost;
    uint64_t lost_count;
    uint32_t accesses[4]; /* of the first pass of the first four events */
    uint32_t flags[4];
};

static struct hvt_rec *open_rec(const char *name, char *path, size_t len)
{
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;
    snprintf(path, len, "%s/%s.hvt", dir, name);
    hvt_rec_options_init(&o);
    o.flags = HVT_REC_OVERWRITE | HVT_REC_NO_TIME;
    CHECK_EQ(hvt_rec_open(&rec, path, NULL, &o), 0);
    return rec;
}

static void read_back(const char *path, struct back *b)
{
    struct hvt_fmt_reader *r = NULL;
    struct hvt_record rec;
    memset(b, 0, sizeof(*b));
    CHECK_EQ(hvt_fmt_reader_open(&r, path, NULL), 0);
    if (!r)
        return;
    while (hvt_fmt_reader_next(r, &rec) == 1) {
        if (rec.type == HVT_REC_LOST) {
            b->lost++;
            b->lost_count += rec.u.lost->count;
        } else if (rec.type == HVT_REC_EVENT) {
            if (b->events < 4) {
                b->flags[b->events] = rec.u.event->flags;
                b->accesses[b->events] =
                    rec.u.event->n_passes ? rec.u.event->passes[0].n_accesses : 0;
            }
            b->events++;
        }
    }
    hvt_fmt_reader_close(r);
}

static void good_read(struct hvt_access *a, uint64_t gpa)
{
    memset(a, 0, sizeof(*a));
    a->kind = HVT_ACC_READ;
    a->space = HVT_SPACE_RAM;
    a->seg = HVT_SEG_DS;
    a->tag.cls = HVT_TAG_DATA;
    a->size = 8;
    a->phys = gpa;
}

/* Records: event 0 with a good access, BAD (expected refused with a detail containing WHY),
 * a good access; then a good event 1. Checks that the recording went on and what the trace
 * holds. */
static void refused_but_kept(const char *name, const struct hvt_access *bad, const char *why)
{
    char path[128];
    struct hvt_rec *rec = open_rec(name, path, sizeof(path));
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome out = {0};
    struct hvt_access a;
    struct back b;

    if (!rec)
        return;
    memset(&s, 0, sizeof(s));
    s.rip = 0x1000;
    CHECK_EQ(hvt_rec_event_begin(rec, 0, &s, NULL, 0), 0);
    CHECK_EQ(hvt_rec_pass_begin(rec, 0), 0);
    CHECK_STR(hvt_rec_last_error(rec, 0), "");
    good_read(&a, 0x1000);
    CHECK_EQ(hvt_rec_access(rec, 0, &a), 0);
    CHECK_EQ(hvt_rec_access(rec, 0, bad), -HVT_E_INVALID);
    if (!strstr(hvt_rec_last_error(rec, 0), why)) {
        fprintf(stderr, "%s: detail \"%s\" lacks \"%s\"\n", name, hvt_rec_last_error(rec, 0),
                why);
        CHECK(0);
    }
    good_read(&a, 0x2000);
    CHECK_EQ(hvt_rec_access(rec, 0, &a), 0);
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), 0);
    CHECK_EQ(hvt_rec_event_end(rec, 0), 0);
    CHECK_EQ(hvt_rec_event_begin(rec, 0, &s, NULL, 0), 0);
    CHECK_EQ(hvt_rec_pass_begin(rec, 0), 0);
    CHECK_EQ(hvt_rec_access(rec, 0, &a), 0);
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), 0);
    CHECK_EQ(hvt_rec_event_end(rec, 0), 0);
    CHECK_EQ(hvt_rec_stats(rec, &st), 0);
    CHECK_U64(st.refused, 1);
    CHECK_EQ(hvt_rec_close(rec, &st), 0); /* the recording never stopped */
    CHECK_U64(st.refused, 1);
    CHECK_U64(st.events, 2);
    CHECK_U64(st.accesses, 3);
    read_back(path, &b);
    CHECK_EQ(b.events, 2);
    CHECK_EQ(b.lost, 1); /* the refused access's place */
    CHECK_U64(b.lost_count, 1);
    CHECK_EQ(b.accesses[0], 2);
    CHECK_EQ(b.flags[0], HVT_EV_INCOMPLETE);
    CHECK_EQ(b.accesses[1], 1);
    CHECK_EQ(b.flags[1], 0);
    unlink(path);
}

static void walk(struct hvt_access *a, unsigned level)
{
    memset(a, 0, sizeof(*a));
    a->kind = HVT_ACC_READ;
    a->seg = HVT_SEG_NONE;
    a->tag.cls = HVT_TAG_WALK;
    a->tag.level = (uint8_t)level;
    a->size = 8;
    a->phys = 0x5000;
}

static void io(struct hvt_access *a, unsigned kind, unsigned space, uint64_t port)
{
    memset(a, 0, sizeof(*a));
    a->kind = (uint8_t)kind;
    a->space = (uint8_t)space;
    a->seg = HVT_SEG_NONE;
    a->tag.cls = HVT_TAG_IO;
    a->size = 1;
    a->phys = port;
}

/* A walk at level 9 used to reach the writer, which stopped the whole recording. */
static void test_walk_level_9_refused_recording_kept(void)
{
    struct hvt_access a;
    walk(&a, 9);
    refused_but_kept("walk9", &a, "walk level 9");
}

static void test_walk_level_0_refused(void)
{
    struct hvt_access a;
    walk(&a, 0);
    refused_but_kept("walk0", &a, "walk level 0");
}

static void test_walk_that_writes_refused(void)
{
    struct hvt_access a;
    walk(&a, 1);
    a.kind = HVT_ACC_WRITE;
    refused_but_kept("walkwrite", &a, "a page walk reads");
}

static void test_ad_level_6_refused(void)
{
    struct hvt_access a;
    walk(&a, 6);
    a.kind = HVT_ACC_CMPXCHG;
    a.tag.cls = HVT_TAG_AD;
    refused_but_kept("ad6", &a, "a/d level 6");
}

static void test_level_on_data_access_refused(void)
{
    struct hvt_access a;
    good_read(&a, 0x3000);
    a.tag.level = 2;
    refused_but_kept("datalevel", &a, "only walk and a/d have a level");
}

static void test_io_in_space_ram_refused(void)
{
    struct hvt_access a;
    io(&a, HVT_ACC_IO_IN, HVT_SPACE_RAM, 0x60);
    refused_but_kept("ioram", &a, "io-in in space ram");
}

static void test_port_above_ffff_refused(void)
{
    struct hvt_access a;
    io(&a, HVT_ACC_IO_OUT, HVT_SPACE_PORT, 0x12345);
    refused_but_kept("port", &a, "port 0x12345 above 0xffff");
}

static void test_io_not_tagged_io_refused(void)
{
    struct hvt_access a;
    io(&a, HVT_ACC_IO_IN, HVT_SPACE_PORT, 0x60);
    a.tag.cls = HVT_TAG_DATA;
    refused_but_kept("iotag", &a, "port I/O is tagged io");
}

static void test_read_in_space_port_refused(void)
{
    struct hvt_access a;
    good_read(&a, 0x60);
    a.space = HVT_SPACE_PORT;
    refused_but_kept("readport", &a, "read in space port");
}

static void test_fetch_not_tagged_fetch_refused(void)
{
    struct hvt_access a;
    good_read(&a, 0x1000);
    a.kind = HVT_ACC_FETCH;
    refused_but_kept("fetchtag", &a, "fetch with tag class data");
}

static void test_cmpxchg_failed_on_read_refused(void)
{
    struct hvt_access a;
    good_read(&a, 0x1000);
    a.outcome = HVT_OP_CMPXCHG_FAILED;
    refused_but_kept("cxfail", &a, "cmpxchg-failed on a read");
}

static void test_out_of_range_fields_refused(void)
{
    struct hvt_access a;
    good_read(&a, 0x1000);
    a.space = 7;
    refused_but_kept("space7", &a, "space 7 out of range");
    good_read(&a, 0x1000);
    a.size = 0;
    refused_but_kept("size0", &a, "size 0 out of range");
}

/* The interposer: a core (here, the test) that passes a bad tag through the wrapped ops gets
 * its op forwarded but the access refused; the recording goes on. */
static int ok_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    memset(buf, 0xab, size);
    return HVT_OP_OKAY;
}

static void test_interposer_refuses_bad_tag(void)
{
    char path[128];
    struct hvt_rec *rec = open_rec("wrap", path, sizeof(path));
    struct hvt_core_ops inner = {.size = sizeof(inner), .read = ok_read}, w;
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome out = {0};
    struct hvt_op_info info;
    uint64_t v = 0;
    void *ctx = NULL;
    struct back b;

    if (!rec)
        return;
    memset(&s, 0, sizeof(s));
    CHECK_EQ(hvt_rec_wrap_ops(rec, 0, &inner, NULL, &w, &ctx), 0);
    CHECK_EQ(hvt_rec_event_begin(rec, 0, &s, NULL, 0), 0);
    CHECK_EQ(hvt_rec_pass_begin(rec, 0), 0);
    memset(&info, 0, sizeof(info));
    info.kind = HVT_ACC_READ;
    info.seg = HVT_SEG_NONE;
    info.tag.cls = HVT_TAG_WALK;
    info.tag.level = 9;
    CHECK_EQ(w.read(ctx, 0x5000, &v, 8, &info), HVT_OP_OKAY); /* forwarded all the same */
    CHECK_U64(v, 0xababababababababull);
    CHECK(strstr(hvt_rec_last_error(rec, 0), "walk level 9") != NULL);
    info.tag.level = 4;
    CHECK_EQ(w.read(ctx, 0x5000, &v, 8, &info), HVT_OP_OKAY);
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), 0);
    CHECK_EQ(hvt_rec_event_end(rec, 0), 0);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.refused, 1);
    CHECK_U64(st.accesses, 1);
    read_back(path, &b);
    CHECK_EQ(b.events, 1);
    CHECK_EQ(b.accesses[0], 1);
    unlink(path);
}

/* A pass outcome the writer would refuse (or that cannot be right) is refused at the call, and
 * the pass stays open so the host can end it properly. */
static void test_bad_pass_outcome_refused_pass_stays_open(void)
{
    char path[128];
    struct hvt_rec *rec = open_rec("outcome", path, sizeof(path));
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome out;
    struct back b;

    if (!rec)
        return;
    memset(&s, 0, sizeof(s));
    CHECK_EQ(hvt_rec_event_begin(rec, 0, &s, NULL, 0), 0);
    CHECK_EQ(hvt_rec_pass_begin(rec, 0), 0);
    memset(&out, 0, sizeof(out));
    out.kind = 9;
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), -HVT_E_INVALID);
    CHECK(strstr(hvt_rec_last_error(rec, 0), "outcome kind 9 out of range") != NULL);
    out.kind = HVT_OUT_OKAY;
    out.retry_cause = HVT_RETRY_MMIO;
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), -HVT_E_INVALID);
    CHECK(strstr(hvt_rec_last_error(rec, 0), "retry cause mmio on a pass that ended okay"));
    out.retry_cause = 0;
    out.kind = HVT_OUT_EXCEPTION;
    out.vector = 40;
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), -HVT_E_INVALID);
    CHECK(strstr(hvt_rec_last_error(rec, 0), "vector 40") != NULL);
    out.vector = 14;
    out.flags = HVT_PO_HAS_ERROR_CODE;
    out.error_code = 2;
    /* retire flags belong to an instruction that retired, and only the known ones */
    out.retire = HVT_RETIRE_REPORTED | HVT_RETIRE_STI_SHADOW;
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), -HVT_E_INVALID);
    CHECK(strstr(hvt_rec_last_error(rec, 0), "retire flags 0x1 on a pass that ended exception"));
    out.retire = 1u << 20;
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), -HVT_E_INVALID);
    CHECK(strstr(hvt_rec_last_error(rec, 0), "unknown retire flags 0x100000"));
    out.retire = HVT_RETIRE_REPORTED;
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), 0);
    CHECK_EQ(hvt_rec_event_end(rec, 0), 0);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.refused, 5);
    CHECK_U64(st.passes, 1);
    read_back(path, &b);
    CHECK_EQ(b.events, 1);
    CHECK_EQ(b.flags[0], 0);
    unlink(path);
}

/* More passes than the format allows in one event: the extra pass is refused at its begin
 * (the writer would have refused the whole event and stopped the recording). */
static void test_too_many_passes_refused(void)
{
    char path[128];
    struct hvt_rec *rec = open_rec("passes", path, sizeof(path));
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome out = {.kind = HVT_OUT_RETRY, .retry_cause = HVT_RETRY_MMIO};

    if (!rec)
        return;
    memset(&s, 0, sizeof(s));
    CHECK_EQ(hvt_rec_event_begin(rec, 0, &s, NULL, 0), 0);
    for (unsigned p = 0; p < HVT_FMT_MAX_PASSES; p++) {
        CHECK_EQ(hvt_rec_pass_begin(rec, 0), 0);
        CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), 0);
    }
    CHECK_EQ(hvt_rec_pass_begin(rec, 0), -HVT_E_INVALID);
    CHECK(strstr(hvt_rec_last_error(rec, 0), "at most 1024 passes") != NULL);
    CHECK_EQ(hvt_rec_event_end(rec, 0), 0);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.events, 1);
    CHECK_U64(st.passes, HVT_FMT_MAX_PASSES);
    CHECK_U64(st.refused, 1);
    unlink(path);
}

/* The format's access limits (per pass and per event) are checked at the call: an access past
 * either is refused, the event is still written. Refused indices count against the event's
 * limit, which must saturate rather than wrap (a wrapped limit let the writer see too many). */
static void test_access_limits_refused_event_kept(void)
{
    char path[128];
    struct hvt_rec *rec = open_rec("limits", path, sizeof(path));
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome out = {.kind = HVT_OUT_RETRY, .retry_cause = HVT_RETRY_MMIO};
    struct hvt_access a;
    uint64_t refused = 0;

    if (!rec)
        return;
    memset(&s, 0, sizeof(s));
    good_read(&a, 0x1000);
    CHECK_EQ(hvt_rec_event_begin(rec, 0, &s, NULL, 0), 0);
    for (unsigned p = 0; p < 5; p++) {
        CHECK_EQ(hvt_rec_pass_begin(rec, 0), 0);
        for (unsigned i = 0; i < HVT_FMT_MAX_ACCESSES + 1; i++)
            refused += hvt_rec_access(rec, 0, &a) != 0;
        if (p == 4)
            out.kind = HVT_OUT_OKAY, out.retry_cause = 0;
        CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), 0);
    }
    CHECK(strstr(hvt_rec_last_error(rec, 0), "more than 65536 accesses") != NULL);
    CHECK_EQ(hvt_rec_event_end(rec, 0), 0);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.events, 1);
    CHECK_U64(st.refused, refused);
    CHECK(st.accesses <= HVT_FMT_MAX_EVENT_ACCESSES);
    CHECK_U64(st.accesses + refused, 5ull * (HVT_FMT_MAX_ACCESSES + 1));
    unlink(path);
}

/* Calls naming a vCPU the recording does not have are refused, counted, and say so. */
static void test_unknown_vcpu_refused_with_detail(void)
{
    char path[128];
    struct hvt_rec *rec = open_rec("vcpu", path, sizeof(path));
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_access a;

    if (!rec)
        return;
    good_read(&a, 0);
    CHECK_EQ(hvt_rec_access(rec, 5000, &a), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_pass_begin(rec, 7), -HVT_E_INVALID);
    CHECK(strstr(hvt_rec_last_error(rec, 5000), "out of range") != NULL);
    CHECK(strstr(hvt_rec_last_error(rec, 7), "not registered") != NULL);
    CHECK(hvt_rec_last_error(NULL, 0) != NULL);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.refused, 2);
    unlink(path);
}

/* ---- size versioning ------------------------------------------------------------------- */

/* An older caller's statistics (the first version, before the call-site memo figures): filled
 * as far as its size goes, not a byte further. */
static void test_older_stats_struct_accepted(void)
{
    char path[128];
    struct hvt_rec *rec = open_rec("oldstats", path, sizeof(path));
    union {
        struct hvt_rec_stats st;
        uint8_t bytes[sizeof(struct hvt_rec_stats)];
    } u;
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome out = {0};

    if (!rec)
        return;
    memset(&s, 0, sizeof(s));
    hvt_rec_event_begin(rec, 0, &s, NULL, 0);
    hvt_rec_pass_begin(rec, 0);
    hvt_rec_pass_end(rec, 0, &out, &s);
    hvt_rec_event_end(rec, 0);
    memset(&u, 0xee, sizeof(u));
    u.st.size = HVT_REC_STATS_SIZE_V1;
    CHECK_EQ(hvt_rec_stats(rec, &u.st), 0);
    CHECK_U64(u.st.size, HVT_REC_STATS_SIZE_V1);
    for (size_t i = HVT_REC_STATS_SIZE_V1; i < sizeof(u); i++)
        CHECK_EQ(u.bytes[i], 0xee);
    u.st.size = HVT_REC_STATS_SIZE_V1 - 1;
    CHECK_EQ(hvt_rec_stats(rec, &u.st), -HVT_E_INVALID);
    u.st.size = HVT_REC_STATS_SIZE_V1;
    CHECK_EQ(hvt_rec_close(rec, &u.st), 0);
    CHECK_U64(u.st.events, 1);
    for (size_t i = HVT_REC_STATS_SIZE_V1; i < sizeof(u); i++)
        CHECK_EQ(u.bytes[i], 0xee);
    unlink(path);
}

/* A newer caller's larger options: accepted when the fields this build does not know are
 * zero, refused when one is set (something asked for that this build cannot do). */
static void test_newer_options_struct_zero_tail_accepted(void)
{
    char path[128];
    struct {
        struct hvt_rec_options o;
        uint64_t future[2];
    } big;
    struct hvt_rec *rec = NULL;

    snprintf(path, sizeof(path), "%s/newer.hvt", dir);
    memset(&big, 0, sizeof(big));
    hvt_rec_options_init(&big.o);
    big.o.size = sizeof(big);
    big.o.flags = HVT_REC_OVERWRITE;
    CHECK_EQ(hvt_rec_open(&rec, path, NULL, &big.o), 0);
    CHECK_EQ(hvt_rec_close(rec, NULL), 0);
    rec = NULL;
    big.future[1] = 1;
    CHECK_EQ(hvt_rec_open(&rec, path, NULL, &big.o), -HVT_E_INVALID);
    CHECK(rec == NULL);
    big.o.size = HVT_REC_OPTIONS_SIZE_V1 - 1;
    CHECK_EQ(hvt_rec_open(&rec, path, NULL, &big.o), -HVT_E_INVALID);
    unlink(path);
}

/* The interposer and the core take an ops table by its size too: a larger table whose extra
 * ops are NULL is accepted, one with an op this build does not know is refused. */
static void test_newer_ops_table_accepted(void)
{
    char path[128];
    struct hvt_rec *rec = open_rec("ops", path, sizeof(path));
    struct {
        struct hvt_core_ops ops;
        void (*future)(void);
    } big;
    struct hvt_core_ops w;
    void *ctx;

    if (!rec)
        return;
    memset(&big, 0, sizeof(big));
    big.ops.size = sizeof(big);
    big.ops.read = ok_read;
    CHECK_EQ(hvt_rec_wrap_ops(rec, 0, &big.ops, NULL, &w, &ctx), 0);
    CHECK(w.read != NULL && w.write == NULL);
    big.future = (void (*)(void))ok_read;
    CHECK_EQ(hvt_rec_wrap_ops(rec, 0, &big.ops, NULL, &w, &ctx), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_close(rec, NULL), 0);
    unlink(path);
}

int main(int argc, char **argv)
{
    static const struct hvt_named_test tests[] = {
        {"walk_level_9_refused_recording_kept", test_walk_level_9_refused_recording_kept},
        {"walk_level_0_refused", test_walk_level_0_refused},
        {"walk_that_writes_refused", test_walk_that_writes_refused},
        {"ad_level_6_refused", test_ad_level_6_refused},
        {"level_on_data_access_refused", test_level_on_data_access_refused},
        {"io_in_space_ram_refused", test_io_in_space_ram_refused},
        {"port_above_ffff_refused", test_port_above_ffff_refused},
        {"io_not_tagged_io_refused", test_io_not_tagged_io_refused},
        {"read_in_space_port_refused", test_read_in_space_port_refused},
        {"fetch_not_tagged_fetch_refused", test_fetch_not_tagged_fetch_refused},
        {"cmpxchg_failed_on_read_refused", test_cmpxchg_failed_on_read_refused},
        {"out_of_range_fields_refused", test_out_of_range_fields_refused},
        {"interposer_refuses_bad_tag", test_interposer_refuses_bad_tag},
        {"bad_pass_outcome_refused_pass_stays_open", test_bad_pass_outcome_refused_pass_stays_open},
        {"too_many_passes_refused", test_too_many_passes_refused},
        {"access_limits_refused_event_kept", test_access_limits_refused_event_kept},
        {"unknown_vcpu_refused_with_detail", test_unknown_vcpu_refused_with_detail},
        {"older_stats_struct_accepted", test_older_stats_struct_accepted},
        {"newer_options_struct_zero_tail_accepted", test_newer_options_struct_zero_tail_accepted},
        {"newer_ops_table_accepted", test_newer_ops_table_accepted},
    };
    snprintf(dir, sizeof(dir), "/tmp/hvt_checked_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (!hvt_run_named(tests, sizeof(tests) / sizeof(tests[0]), argc, argv)) {
        fprintf(stderr, "no test named %s\n", argv[1]);
        return 2;
    }
    rmdir(dir);
    printf("%d checks, %d failures\n", hvt_test_checks, hvt_test_failures);
    return hvt_test_failures != 0;
}
