/* SPDX-License-Identifier: MIT */
/* The command line's helpers: paging-entry decoding, selections, "did you mean", redaction. */
#include "hvt_test.h"

#include "filter.h"
#include "print.h"
#include "redact.h"
#include "util.h"

static void test_entry_decoding(void)
{
    char b[96];
    struct hvt_access a;
    uint64_t v = 0;
    /* a 4 KiB PTE: frame, P RW US A D and NX; bit 7 is PAT there, not PS */
    CHECK(!strcmp(hvt_print_entry_text(b, sizeof(b), 0x80000000002010e7ull, 1, 8),
                  "frame 0x201000 P RW US A D NX"));
    /* a 2 MiB page (PS at level 2): the frame is 2 MiB aligned, bit 12 (PAT) is not in it */
    CHECK(!strcmp(hvt_print_entry_text(b, sizeof(b), 0x0000000040201083ull, 2, 8),
                  "frame 0x40200000 P RW PS"));
    CHECK_U64(hvt_print_entry_frame(0x0000000040201083ull, 2, 8), 0x40200000ull);
    /* a 1 GiB page at level 3 */
    CHECK_U64(hvt_print_entry_frame(0x00000000c0000081ull, 3, 8), 0xc0000000ull);
    /* 32-bit paging: 4 MiB pages keep bits 22..31; no NX bit in a 4-byte entry */
    CHECK_U64(hvt_print_entry_frame(0xffc00083ull, 2, 4), 0xffc00000ull);
    CHECK(!strcmp(hvt_print_entry_text(b, sizeof(b), 0x00401003ull, 1, 4), "frame 0x401000 P RW"));
    CHECK(!strcmp(hvt_print_entry_text(b, sizeof(b), 0x8000000000201002ull, 1, 8), "not present"));
    /* only page-walk reads and A/D updates of 4 or 8 bytes are entries */
    memset(&a, 0, sizeof(a));
    a.tag.cls = HVT_TAG_WALK;
    a.size = 8;
    a.data[0] = 0x63;
    a.data[1] = 0x20;
    CHECK(hvt_print_entry_value(&a, &v) && v == 0x2063);
    a.size = 2;
    CHECK(!hvt_print_entry_value(&a, &v));
    a.size = 8;
    a.tag.cls = HVT_TAG_DATA;
    CHECK(!hvt_print_entry_value(&a, &v));
}

static int parse(struct hvt_filter *f, const char *opt, const char *val)
{
    char o[32], v[128];
    char *argv[] = {"x", o, v};
    int i = 1;
    snprintf(o, sizeof(o), "%s", opt);
    snprintf(v, sizeof(v), "%s", val);
    return hvt_filter_parse(f, "test", 3, argv, &i);
}

static void test_selection(void)
{
    struct hvt_filter f;
    struct hvt_event ev;
    struct hvt_pass p;
    struct hvt_access acc[2];

    memset(&ev, 0, sizeof(ev));
    memset(&p, 0, sizeof(p));
    memset(acc, 0, sizeof(acc));
    ev.id = 7;
    ev.vcpu = 3;
    ev.init.rip = 0x1005;
    ev.n_passes = 1;
    ev.passes = &p;
    p.n_accesses = 2;
    p.accesses = acc;
    acc[0].tag.cls = HVT_TAG_WALK;
    acc[0].tag.level = 1;
    acc[1].tag.cls = HVT_TAG_DATA;
    acc[1].tag.operand = 1;
    acc[1].tag.element = 3;

    hvt_filter_init(&f, 0);
    CHECK(hvt_filter_event(&f, &ev, "mov"));
    CHECK(!hvt_filter_narrows(&f));
    CHECK_EQ(parse(&f, "--vcpu", "0,2..4"), 1);
    CHECK(hvt_filter_event(&f, &ev, "mov"));
    CHECK_EQ(parse(&f, "--rip", "0x1000..0x1004"), 1);
    CHECK(!hvt_filter_event(&f, &ev, "mov")); /* every option must hold */
    hvt_filter_init(&f, 0);
    CHECK_EQ(parse(&f, "--mnemonic", "REP MOVSB,mov"), 1);
    CHECK(hvt_filter_event(&f, &ev, "mov"));
    CHECK(hvt_filter_event(&f, &ev, "rep movsb"));
    CHECK(!hvt_filter_event(&f, &ev, "add"));
    /* tags match exactly or as a ':'-prefix; classes by name */
    hvt_filter_init(&f, 0);
    CHECK_EQ(parse(&f, "--tag", "data:op1"), 1);
    CHECK(hvt_filter_event(&f, &ev, NULL));
    CHECK(!hvt_filter_access(&f, &acc[0]) && hvt_filter_access(&f, &acc[1]));
    hvt_filter_init(&f, 0);
    CHECK_EQ(parse(&f, "--tag", "data:op"), 1); /* not a prefix at a ':' */
    CHECK(!hvt_filter_event(&f, &ev, NULL));
    hvt_filter_init(&f, 0);
    CHECK_EQ(parse(&f, "--class", "io,walk"), 1);
    CHECK(hvt_filter_access(&f, &acc[0]) && !hvt_filter_access(&f, &acc[1]));
    CHECK(hvt_filter_by_access(&f));
    /* events */
    hvt_filter_init(&f, 0);
    CHECK_EQ(parse(&f, "--events", "8.."), 1);
    CHECK(f.ranged && !hvt_filter_event(&f, &ev, NULL));
    /* bad values; finding classes only where the command knows them */
    hvt_filter_init(&f, 0);
    CHECK_EQ(parse(&f, "--vcpu", "1,,2"), -1);
    CHECK_EQ(parse(&f, "--vcpu", "3..1"), -1);
    CHECK_EQ(parse(&f, "--rip", "0xg"), -1);
    CHECK_EQ(parse(&f, "--class", "translation_changed"), -1);
    CHECK_EQ(parse(&f, "--mnemonic", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"), -1); /* 17 items */
    CHECK_EQ(parse(&f, "--nonsense", "1"), 0);
    hvt_filter_init(&f, 1);
    CHECK_EQ(parse(&f, "--class", "translation_changed,walk"), 1);
    CHECK(f.finding_classes == (1u << HVT_RPL_TRANSLATION_CHANGED) &&
          f.tag_classes == (1u << HVT_TAG_WALK));
}

static void test_nearest(void)
{
    static const char *const cmds[] = {"dump", "stats", "extract", "replay", "report", NULL};
    static const char *const opts[] = {"--events", "--vcpu", "--analysis-only", NULL};
    CHECK(hvt_tool_nearest("dmup", cmds) && !strcmp(hvt_tool_nearest("dmup", cmds), "dump"));
    CHECK(!strcmp(hvt_tool_nearest("extrct", cmds), "extract"));
    CHECK(!strcmp(hvt_tool_nearest("reprot", cmds), "report"));
    CHECK(hvt_tool_nearest("zzzzzz", cmds) == NULL);
    CHECK(!strcmp(hvt_tool_nearest("--evnts", opts), "--events"));
    CHECK(!strcmp(hvt_tool_nearest("--analysis", opts), "--analysis-only")); /* a prefix */
    CHECK(hvt_tool_nearest("--x", opts) == NULL);
    CHECK(hvt_tool_nearest(NULL, opts) == NULL);
}

static void test_core_option(void)
{
    struct hvt_kv kv[2];
    size_t n = 0;
    char a[] = "k=v", b[] = "=v", c[] = "novalue", d[] = "x=", e[] = "y=1";
    CHECK_EQ(hvt_tool_core_option("t", a, kv, &n, 2), 0);
    CHECK(n == 1 && !strcmp(kv[0].key, "k") && !strcmp(kv[0].value, "v"));
    CHECK_EQ(hvt_tool_core_option("t", b, kv, &n, 2), -1);
    CHECK_EQ(hvt_tool_core_option("t", c, kv, &n, 2), -1);
    CHECK_EQ(hvt_tool_core_option("t", d, kv, &n, 2), 0);  /* an empty value is a value */
    CHECK_EQ(hvt_tool_core_option("t", e, kv, &n, 2), -1); /* at most 2 */
    CHECK_EQ(n, 2);
}

int main(void)
{
    RUN(test_entry_decoding);
    RUN(test_selection);
    RUN(test_nearest);
    RUN(test_core_option);
    CHECK(!strcmp(hvt_redact_why_key(HVT_KEPT_WALK), "walk"));
    CHECK(!strcmp(hvt_redact_why_name(HVT_KEPT__COUNT), "?"));
    TEST_DONE();
}
