/* SPDX-License-Identifier: MIT */
/* lint: traces written with the format writer, each with one thing wrong, fire the check that
 * names it (at the right pass and access), a good one lints clean, bad arguments are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvt_test.h"
#include "hvtrace/format.h"
#include "hvtrace/lint.h"

#define NPROB 64

struct got {
    unsigned n;
    struct {
        char check[16];
        uint64_t event;
        int64_t pass, access;
        char reason[256];
    } p[NPROB];
};

static int collect(void *arg, const struct hvt_lint_problem *p)
{
    struct got *g = arg;
    if (g->n < NPROB) {
        snprintf(g->p[g->n].check, sizeof(g->p[0].check), "%s", p->check);
        g->p[g->n].event = p->event;
        g->p[g->n].pass = p->pass;
        g->p[g->n].access = p->access;
        snprintf(g->p[g->n].reason, sizeof(g->p[0].reason), "%s", p->reason);
    }
    g->n++;
    return 0;
}

/* ---- a good event: MOV EAX, [RBX] on MMIO, 64-bit, 4-level paging, RETRY then OKAY -------- */

#define CODE_LA 0x401000ull
#define DATA_LA 0x7f0000005000ull
#define MMIO_PA 0xfe000000ull

struct tev {
    struct hvt_event ev;
    struct hvt_pass passes[4];
    struct hvt_access acc[4][40];
};

static struct hvt_access *add(struct tev *t, unsigned p, unsigned kind, unsigned cls,
                              unsigned level, unsigned seg, uint64_t la, uint64_t pa, unsigned size)
{
    struct hvt_pass *ps = &t->passes[p];
    struct hvt_access *a = &t->acc[p][ps->n_accesses++];
    memset(a, 0, sizeof(*a));
    a->kind = (uint8_t)kind;
    a->space = kind == HVT_ACC_IO_IN || kind == HVT_ACC_IO_OUT ? HVT_SPACE_PORT
               : pa >= MMIO_PA                                 ? HVT_SPACE_MMIO
                                                               : HVT_SPACE_RAM;
    a->seg = (uint8_t)seg;
    a->tag.cls = (uint8_t)cls;
    a->tag.level = (uint8_t)level;
    a->size = size;
    a->flags = kind == HVT_ACC_IO_IN || kind == HVT_ACC_IO_OUT ? 0 : HVT_AF_LINEAR_VALID;
    a->linear = la;
    a->phys = pa;
    return a;
}

/* The 4-level walk of LA: entries present, the leaf maps LA's page to frame PA. */
static void walk(struct tev *t, unsigned p, uint64_t la, uint64_t pa)
{
    for (unsigned lv = 4; lv >= 1; lv--) {
        struct hvt_access *a =
            add(t, p, HVT_ACC_READ, HVT_TAG_WALK, lv, HVT_SEG_NONE, la, 0x1000 * (6 - lv), 8);
        uint64_t e = (lv == 1 ? (pa & ~0xfffull) : 0x1000 * (7 - lv)) | 0x67;
        memcpy(a->data, &e, 8);
    }
}

static void fetch(struct tev *t, unsigned p, unsigned off, unsigned size)
{
    struct hvt_access *a =
        add(t, p, HVT_ACC_FETCH, HVT_TAG_FETCH, 0, HVT_SEG_CS, CODE_LA + off, 0x9000 + off, size);
    memcpy(a->data, t->ev.insn + off, size);
}

static void state(struct hvt_vcpu_state *s)
{
    memset(s, 0, sizeof(*s));
    for (unsigned i = 0; i < 6; i++)
        s->seg[i].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | 3;
    s->seg[HVT_SEG_CS].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_L | 0xb;
    s->cr0 = HVT_CR0_PE | HVT_CR0_PG;
    s->cr4 = HVT_CR4_PAE;
    s->efer = HVT_EFER_LME | HVT_EFER_LMA;
    s->cr3 = 0x1000;
    s->rip = CODE_LA;
    s->rflags = 2;
    s->gpr[HVT_RBX] = DATA_LA;
}

static void good_mov(struct tev *t, uint64_t id)
{
    static const uint8_t insn[] = {0x8b, 0x03};
    memset(t, 0, sizeof(*t));
    t->ev.id = id;
    state(&t->ev.init);
    t->ev.insn_len = sizeof(insn);
    memcpy(t->ev.insn, insn, sizeof(insn));
    t->ev.n_passes = 2;
    t->ev.passes = t->passes;
    for (unsigned p = 0; p < 2; p++) {
        struct hvt_access *a;
        t->passes[p].index = p;
        t->passes[p].accesses = t->acc[p];
        t->passes[p].end = t->ev.init;
        walk(t, p, CODE_LA, 0x9000);
        fetch(t, p, 0, 2);
        walk(t, p, DATA_LA, MMIO_PA);
        a = add(t, p, HVT_ACC_READ, HVT_TAG_DATA, 0, HVT_SEG_DS, DATA_LA, MMIO_PA, 4);
        a->outcome = p ? HVT_OP_OKAY : HVT_OP_RETRY;
    }
    t->passes[0].out.kind = HVT_OUT_RETRY;
    t->passes[0].out.retry_cause = HVT_RETRY_MMIO;
    t->passes[1].end.rip = CODE_LA + 2;
}

/* A REP MOVSB (RAM to RAM) of N iterations in one pass, elements as given. */
static void rep_movsb(struct tev *t, uint64_t id, unsigned n, const uint32_t *elements)
{
    static const uint8_t insn[] = {0xf3, 0xa4};
    memset(t, 0, sizeof(*t));
    t->ev.id = id;
    state(&t->ev.init);
    t->ev.insn_len = 2;
    memcpy(t->ev.insn, insn, 2);
    t->ev.n_passes = 1;
    t->ev.passes = t->passes;
    t->passes[0].accesses = t->acc[0];
    t->passes[0].end = t->ev.init;
    t->passes[0].out.iterations = n;
    walk(t, 0, CODE_LA, 0x9000);
    fetch(t, 0, 0, 2);
    walk(t, 0, 0x600000, 0x600000);
    walk(t, 0, 0x700000, 0x700000);
    for (unsigned i = 0; i < n; i++) {
        struct hvt_access *a =
            add(t, 0, HVT_ACC_READ, HVT_TAG_DATA, 0, HVT_SEG_DS, 0x600000 + i, 0x600000 + i, 1);
        a->tag.element = elements[i];
        a = add(t, 0, HVT_ACC_WRITE, HVT_TAG_DATA, 0, HVT_SEG_ES, 0x700000 + i, 0x700000 + i, 1);
        a->tag.operand = 1;
        a->tag.element = elements[i];
    }
}

static char path[256];

/* Writes the records (events E[0..NE), lost marker L before event LAT, or after the last
 * event when LAT == NE) and lints them into G. Returns hvt_lint_file's result. */
static int64_t lint_trace(struct tev *const *e, unsigned ne, const struct hvt_lost *l, unsigned lat,
                          struct got *g)
{
    struct hvt_fmt_header h;
    struct hvt_fmt_writer *w;
    struct hvt_fmt_writer_options o;
    struct hvt_lint_stats st;
    struct hvt_fmt_error_info err;
    memset(&h, 0, sizeof(h));
    h.producer = "test_lint";
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, &h, &o), 0);
    for (unsigned i = 0; i <= ne; i++) {
        if (l && lat == i)
            CHECK_EQ(hvt_fmt_writer_append_lost(w, l), 0);
        if (i < ne)
            CHECK_EQ(hvt_fmt_writer_append(w, &e[i]->ev), 0);
    }
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    memset(g, 0, sizeof(*g));
    return hvt_lint_file(path, collect, g, &st, &err);
}

/* One event, no marker. */
static int64_t lint1(struct tev *t, struct got *g)
{
    struct tev *e[1] = {t};
    return lint_trace(e, 1, NULL, 0, g);
}

/* Exactly one problem, of CHECK at PASS/ACCESS. */
static void expect1(const struct got *g, const char *check, int64_t pass, int64_t access)
{
    CHECK_EQ(g->n, 1);
    if (g->n < 1)
        return;
    if (strcmp(g->p[0].check, check) || g->p[0].pass != pass || g->p[0].access != access)
        fprintf(stderr, "got [%s] pass %lld access %lld: %s\n", g->p[0].check,
                (long long)g->p[0].pass, (long long)g->p[0].access, g->p[0].reason);
    CHECK_STR(g->p[0].check, check);
    CHECK_EQ(g->p[0].pass, pass);
    CHECK_EQ(g->p[0].access, access);
}

/* Every problem is of CHECK (at least one). */
static void expect_all(const struct got *g, const char *check)
{
    CHECK(g->n >= 1);
    for (unsigned i = 0; i < g->n && i < NPROB; i++) {
        if (strcmp(g->p[i].check, check))
            fprintf(stderr, "got [%s] %s\n", g->p[i].check, g->p[i].reason);
        CHECK_STR(g->p[i].check, check);
    }
}

static struct tev t1, t2;
static struct got g;

static void test_good(void)
{
    static const uint32_t el[4] = {0, 1, 2, 3};
    good_mov(&t1, 1);
    CHECK_EQ(lint1(&t1, &g), 0);
    CHECK_EQ(g.n, 0);
    rep_movsb(&t1, 1, 4, el);
    CHECK_EQ(lint1(&t1, &g), 0);
    CHECK_EQ(g.n, 0);
    /* a walk may name the operand it translates for */
    good_mov(&t1, 1);
    t1.acc[0][5].tag.operand = 1;
    CHECK_EQ(lint1(&t1, &g), 0);
    /* a second pass that walks nothing: the first pass's walks translated its pages */
    good_mov(&t1, 1);
    t1.passes[1].n_accesses = 0;
    fetch(&t1, 1, 0, 2);
    add(&t1, 1, HVT_ACC_READ, HVT_TAG_DATA, 0, HVT_SEG_DS, DATA_LA, MMIO_PA, 4);
    CHECK_EQ(lint1(&t1, &g), 0);
    CHECK_EQ(g.n, 0);
    /* ... and one that does not even fetch (a core that keeps the bytes across passes) */
    t1.passes[1].n_accesses = 0;
    add(&t1, 1, HVT_ACC_READ, HVT_TAG_DATA, 0, HVT_SEG_DS, DATA_LA, MMIO_PA, 4);
    CHECK_EQ(lint1(&t1, &g), 0);
    CHECK_EQ(g.n, 0);
}

static void test_tag(void)
{
    good_mov(&t1, 1);
    t1.acc[0][0].tag.level = 0; /* a walk without a level */
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "tag", 0, 0);
    good_mov(&t1, 1);
    t1.acc[1][2].tag.level = 5; /* level 5 in 4-level paging */
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "tag", 1, 2);
    good_mov(&t1, 1);
    t1.acc[0][3].size = 4; /* a 4-byte entry in 4-level paging */
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "tag", 0, 3);
    CHECK(strstr(g.p[0].reason, "4 bytes") != NULL);
    good_mov(&t1, 1);
    t1.acc[0][1].tag.element = 2; /* an element on a walk */
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "tag", 0, 1);
    good_mov(&t1, 1);
    t1.acc[1][9].tag.operand = 2; /* a third memory operand */
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "tag", 1, 9);
    good_mov(&t1, 1);
    t1.acc[0][4].tag.operand = 1; /* an operand on a fetch */
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "tag", 0, 4);
    good_mov(&t1, 1);
    t1.acc[1][5].kind = HVT_ACC_WRITE; /* a walk that writes */
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "tag", 1, 5);
}

static void test_kind_space_segment(void)
{
    struct hvt_access *a;
    good_mov(&t1, 1);
    t1.acc[0][4].space = HVT_SPACE_PORT; /* a fetch in PORT space */
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "tag", 0, 4);
    /* an OUT DX, AL with a segment, and one with a linear address */
    good_mov(&t1, 1);
    t1.ev.insn[0] = 0xee;
    t1.ev.insn_len = 1;
    t1.ev.n_passes = 1;
    t1.passes[0].n_accesses = 4;
    t1.passes[0].out.kind = HVT_OUT_OKAY;
    t1.passes[0].out.retry_cause = 0;
    fetch(&t1, 0, 0, 1);
    a = add(&t1, 0, HVT_ACC_IO_OUT, HVT_TAG_IO, 0, HVT_SEG_DS, 0, 0x80, 1);
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "segment", 0, 5);
    a->seg = HVT_SEG_NONE;
    a->flags = HVT_AF_LINEAR_VALID;
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "segment", 0, 5);
    a->flags = 0;
    a->size = 3;
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "segment", 0, 5);
    a->size = 1;
    CHECK_EQ(lint1(&t1, &g), 0);
    /* data through no segment, a walk through DS, a fetch through DS */
    good_mov(&t1, 1);
    t1.acc[1][9].seg = HVT_SEG_NONE;
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "segment", 1, 9);
    good_mov(&t1, 1);
    t1.acc[0][6].seg = HVT_SEG_DS;
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "segment", 0, 6);
    good_mov(&t1, 1);
    t1.acc[1][4].seg = HVT_SEG_DS;
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "segment", 1, 4);
}

static void test_walk(void)
{
    /* the data page never walked: both passes' data accesses */
    good_mov(&t1, 1);
    for (unsigned p = 0; p < 2; p++) {
        memmove(&t1.acc[p][5], &t1.acc[p][9], sizeof(t1.acc[p][9]));
        t1.passes[p].n_accesses = 6;
    }
    CHECK_EQ(lint1(&t1, &g), 2);
    expect_all(&g, "walk");
    CHECK_EQ(g.p[0].pass, 0);
    CHECK_EQ(g.p[0].access, 5);
    CHECK_EQ(g.p[1].pass, 1);
    CHECK(strstr(g.p[0].reason, "0x7f0000005000") != NULL);
    /* a walk that found the leaf not present translates nothing */
    good_mov(&t1, 1);
    t1.acc[0][8].data[0] &= (uint8_t)~1;
    t1.acc[1][8].data[0] &= (uint8_t)~1;
    CHECK_EQ(lint1(&t1, &g), 2);
    expect_all(&g, "walk");
    /* the walk of another page does not cover it */
    good_mov(&t1, 1);
    for (unsigned p = 0; p < 2; p++)
        for (unsigned i = 5; i < 9; i++)
            t1.acc[p][i].linear = DATA_LA + 0x1000;
    CHECK_EQ(lint1(&t1, &g), 2);
    expect_all(&g, "walk");
    /* an access that runs into the next page needs that page's walk too */
    good_mov(&t1, 1);
    t1.acc[1][9].linear = DATA_LA + 0xffe;
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "walk", 1, 9);
    CHECK(strstr(g.p[0].reason, "0x7f0000006001") != NULL);
    /* walks recorded without a linear address cover the frame their leaf names */
    good_mov(&t1, 1);
    for (unsigned p = 0; p < 2; p++)
        for (unsigned i = 0; i < 9; i++)
            if (i != 4)
                t1.acc[p][i].flags = 0;
    CHECK_EQ(lint1(&t1, &g), 0);
    t1.acc[0][9].phys = t1.acc[1][9].phys = MMIO_PA + 0x1000; /* another frame */
    CHECK_EQ(lint1(&t1, &g), 2);
    expect_all(&g, "walk");
    /* walks with paging off */
    good_mov(&t1, 1);
    t1.ev.init.cr0 &= ~HVT_CR0_PG;
    t1.ev.init.efer = 0;
    t1.ev.init.seg[HVT_SEG_CS].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_DB | 0xb;
    CHECK_EQ(lint1(&t1, &g), 16);
    expect_all(&g, "walk");
}

static void test_fetch(void)
{
    good_mov(&t1, 1);
    t1.acc[0][4].size = 1;
    t1.acc[1][4].size = 1;
    CHECK_EQ(lint1(&t1, &g), 2); /* both passes executed the instruction (a data access) */
    expect_all(&g, "fetch");
    CHECK_EQ(g.p[0].pass, 0);
    CHECK_EQ(g.p[0].access, -1);
    CHECK(strstr(g.p[0].reason, "byte 1 never fetched") != NULL);
    /* one pass's missing byte, fetched by the earlier pass: fine */
    t1.acc[0][4].size = 2;
    CHECK_EQ(lint1(&t1, &g), 0);
    /* fetched bytes that are not the instruction's */
    good_mov(&t1, 1);
    t1.acc[1][4].data[1] = 0x0b;
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "fetch", 1, 4);
    /* a pass that stopped at the fetch (RETRY on code in MMIO) need not cover it */
    good_mov(&t1, 1);
    t1.passes[0].n_accesses = 5;
    t1.acc[0][4].size = 1;
    t1.acc[0][4].outcome = HVT_OP_RETRY;
    CHECK_EQ(lint1(&t1, &g), 0);
}

static void test_elements(void)
{
    static const uint32_t gap[4] = {0, 1, 3, 4}, back[4] = {0, 1, 1, 0}, late[4] = {1, 2, 3, 4};
    static const uint32_t ok[4] = {0, 1, 2, 3};
    /* accesses 13, 14 are iteration 0's read and write, 15, 16 iteration 1's, ... */
    rep_movsb(&t1, 1, 4, gap);
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "element", 0, 17);
    rep_movsb(&t1, 1, 4, back);
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "element", 0, 19);
    CHECK(strstr(g.p[0].reason, "backwards") != NULL);
    rep_movsb(&t1, 1, 4, late);
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "element", 0, 13);
    rep_movsb(&t1, 1, 4, ok);
    t1.passes[0].out.iterations = 2; /* more iterations than the pass says it completed */
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "element", 0, 19);
    /* a second pass may go on from the first's numbering, or start again at 0 */
    rep_movsb(&t1, 1, 4, ok);
    t1.passes[0].out.kind = HVT_OUT_RETRY;
    t1.passes[0].out.retry_cause = HVT_RETRY_REP_PARTIAL;
    t1.ev.n_passes = 2;
    t1.passes[1] = t1.passes[0];
    t1.passes[1].index = 1;
    t1.passes[1].out.kind = HVT_OUT_OKAY;
    t1.passes[1].out.retry_cause = 0;
    t1.passes[1].accesses = t1.acc[1];
    memcpy(t1.acc[1], t1.acc[0], sizeof(t1.acc[0]));
    for (unsigned i = 13; i < 21; i++)
        t1.acc[1][i].tag.element += 4;
    CHECK_EQ(lint1(&t1, &g), 0);
    for (unsigned i = 13; i < 21; i++)
        t1.acc[1][i].tag.element += 1; /* 5..8: neither */
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "element", 1, 13);
}

static void test_outcome(void)
{
    good_mov(&t1, 1);
    t1.passes[0].out.kind = HVT_OUT_OKAY; /* OKAY, then re-executed */
    t1.passes[0].out.retry_cause = 0;
    t1.acc[0][9].outcome = HVT_OP_OKAY;
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "outcome", 0, -1);
    good_mov(&t1, 1);
    t1.passes[1].index = 5;
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "outcome", 1, -1);
    /* an access answered RETRY, and the pass went on */
    good_mov(&t1, 1);
    t1.acc[0][2].outcome = HVT_OP_RETRY; /* a walk read that is not the leaf */
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "outcome", 0, 2);
    /* ... or ended OKAY */
    good_mov(&t1, 1);
    t1.acc[1][9].outcome = HVT_OP_RETRY;
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "outcome", 1, 9);
    /* a retry cause without RETRY */
    good_mov(&t1, 1);
    t1.passes[1].out.retry_cause = HVT_RETRY_MMIO;
    CHECK_EQ(lint1(&t1, &g), 1);
    expect1(&g, "outcome", 1, -1);
}

static void test_lost(void)
{
    struct tev *e[2] = {&t1, &t2};
    struct hvt_lost l = {.vcpu = 0, .count = 2, .event_id = 1, .pass = 1, .access = 3};
    good_mov(&t1, 1);
    good_mov(&t2, 2);
    t1.passes[1].lost = 2;
    t1.ev.flags = HVT_EV_INCOMPLETE;
    /* before its event, or after it: clean */
    CHECK_EQ(lint_trace(e, 2, &l, 0, &g), 0);
    CHECK_EQ(lint_trace(e, 2, &l, 1, &g), 0);
    /* not flagged incomplete */
    t1.ev.flags = 0;
    CHECK_EQ(lint_trace(e, 2, &l, 1, &g), 1);
    expect1(&g, "lost", -1, -1);
    CHECK_EQ(g.p[0].event, 1);
    t1.ev.flags = HVT_EV_INCOMPLETE;
    /* counts that do not add up: the marker says 3, the pass 2 */
    l.count = 3;
    CHECK_EQ(lint_trace(e, 2, &l, 0, &g), 1);
    expect1(&g, "lost", 1, -1);
    /* a pass's lost accesses that no marker names */
    CHECK_EQ(lint_trace(e, 2, NULL, 0, &g), 1);
    expect1(&g, "lost", 1, -1);
    l.count = 2;
    /* a marker of a pass the event does not have */
    l.pass = 7;
    CHECK_EQ(lint_trace(e, 2, &l, 1, &g), 2); /* and pass 1's 2 lost are unmarked */
    expect_all(&g, "lost");
    l.pass = 1;
    /* a marker past the pass's accesses */
    l.access = 40;
    CHECK_EQ(lint_trace(e, 2, &l, 0, &g), 1);
    expect1(&g, "lost", 1, 40);
    l.access = 3;
    /* naming an event that is not the vCPU's next one, or one that never comes */
    l.event_id = 2;
    CHECK_EQ(lint_trace(e, 2, &l, 0, &g), 2); /* and event 1's pass is unmarked */
    expect_all(&g, "lost");
    l.event_id = 9;
    CHECK_EQ(lint_trace(e, 2, &l, 2, &g), 2);
    expect_all(&g, "lost");
    CHECK(strstr(g.p[0].reason, "does not follow") != NULL ||
          strstr(g.p[1].reason, "does not follow"));
    /* a count of 0 (between events: no event to match) */
    l.event_id = HVT_NO_EVENT;
    l.count = 0;
    t1.passes[1].lost = 0;
    t1.ev.flags = 0;
    CHECK_EQ(lint_trace(e, 2, &l, 1, &g), 1);
    expect1(&g, "lost", -1, -1);
    CHECK_EQ(g.p[0].event, HVT_NO_EVENT);
}

/* The callback can stop; records in a stream; the API refuses bad arguments. */
static void test_api(void)
{
    struct hvt_lint *l = NULL;
    struct hvt_lint_stats st;
    struct hvt_record rec = {.type = HVT_REC_EVENT};
    CHECK_EQ(hvt_lint_new(NULL, NULL, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_lint_new(&l, NULL, NULL), 0);
    CHECK_EQ(hvt_lint_record(NULL, &rec), -HVT_E_INVALID);
    CHECK_EQ(hvt_lint_record(l, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_lint_record(l, &rec), -HVT_E_INVALID); /* no event */
    rec.type = (enum hvt_record_type)9;
    CHECK_EQ(hvt_lint_record(l, &rec), -HVT_E_INVALID);
    CHECK_EQ(hvt_lint_finish(NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_lint_get_stats(NULL, &st), -HVT_E_INVALID);
    CHECK_EQ(hvt_lint_get_stats(l, NULL), -HVT_E_INVALID);
    good_mov(&t1, 1);
    t1.acc[0][0].tag.level = 0;
    t1.acc[1][0].tag.level = 0;
    rec.type = HVT_REC_EVENT;
    rec.u.event = &t1.ev;
    CHECK_EQ(hvt_lint_record(l, &rec), 2); /* counted without a callback */
    CHECK_EQ(hvt_lint_finish(l), 0);
    CHECK_EQ(hvt_lint_get_stats(l, &st), 0);
    CHECK_EQ(st.events, 1);
    CHECK_EQ(st.passes, 2);
    CHECK_EQ(st.accesses, 20);
    CHECK_EQ(st.problems, 2);
    hvt_lint_free(l);
    hvt_lint_free(NULL);
    CHECK_EQ(hvt_lint_file(NULL, NULL, NULL, NULL, NULL), -HVT_E_INVALID);
    {
        struct hvt_fmt_error_info err;
        char missing[300];
        snprintf(missing, sizeof(missing), "%s.missing", path);
        CHECK(hvt_lint_file(missing, NULL, NULL, &st, &err) < 0);
        CHECK(err.code < 0);
    }
}

static int stop_first(void *arg, const struct hvt_lint_problem *p)
{
    (void)p;
    ++*(unsigned *)arg;
    return 1;
}

static void test_stop(void)
{
    struct hvt_lint *l;
    struct hvt_record rec = {.type = HVT_REC_EVENT};
    unsigned calls = 0;
    CHECK_EQ(hvt_lint_new(&l, stop_first, &calls), 0);
    good_mov(&t1, 1);
    t1.acc[0][0].tag.level = 0;
    t1.acc[1][0].tag.level = 0;
    rec.u.event = &t1.ev;
    CHECK_EQ(hvt_lint_record(l, &rec), 1);
    CHECK_EQ(hvt_lint_record(l, &rec), 0);
    CHECK_EQ(calls, 1);
    hvt_lint_free(l);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/test_lint.%d.hvt", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    RUN(test_good);
    RUN(test_tag);
    RUN(test_kind_space_segment);
    RUN(test_walk);
    RUN(test_fetch);
    RUN(test_elements);
    RUN(test_outcome);
    RUN(test_lost);
    RUN(test_api);
    RUN(test_stop);
    unlink(path);
    TEST_DONE();
}
