/* SPDX-License-Identifier: MIT */
/* Native oracle: the host's CPU profile, CPUID plus one small instruction per implementation
 * choice, run in the sandbox to see which alternative this CPU takes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/textbuf.h"
#include "hvtrace/cpu.h"
#include "hvtrace/oracle.h"
#include "native.h"

#define PR_CODE 0x20000000ull
#define PR_DATA 0x20100000ull
#define PR_HI 0xabcd000100000000ull /* bits 63:32 a 32-bit address size must not reach */

static void probe_init(struct hvt_native_case *c, const uint8_t *insn, unsigned len)
{
    memset(c, 0, sizeof(*c));
    c->code_addr = PR_CODE + 0x10;
    memcpy(c->insn, insn, len);
    c->insn_len = (uint8_t)len;
    c->in.rflags = 2;
}

static struct hvt_native_page *probe_page(struct hvt_native_case *c, uint64_t addr, uint32_t prot)
{
    struct hvt_native_page *p = &c->pages[c->n_pages++];
    p->addr = addr;
    p->prot = prot;
    return p;
}

/* rep-a32-no-progress: `67 f3 ac` (rep lodsb, ECX addressing) with a zero count, and again
 * with a fault on the first iteration. Returns the alternative, or -1 when the two runs
 * disagree with each other (a CPU this model does not describe). */
static int probe_rep_a32(struct hvt_native_case *c, struct hvt_native_result *r, char *rep,
                         size_t len)
{
    static const uint8_t rep_lodsb_a32[] = {0x67, 0xf3, 0xac};
    int v[2];
    for (int run = 0; run < 2; run++) {
        probe_init(c, rep_lodsb_a32, sizeof(rep_lodsb_a32));
        probe_page(c, PR_DATA, HVT_NATIVE_RW);
        probe_page(c, PR_DATA + 4096, HVT_NATIVE_NONE);
        c->in.gpr[HVT_RCX] = PR_HI | (run ? 5u : 0u);
        c->in.gpr[HVT_RSI] = PR_HI | (PR_DATA + 4096); /* the PROT_NONE page */
        if (hvt_native_run(c, r) < 0)
            return -2;
        if (r->out.gpr[HVT_RCX] == c->in.gpr[HVT_RCX])
            v[run] = 1; /* keep */
        else if (r->out.gpr[HVT_RCX] == (uint32_t)c->in.gpr[HVT_RCX])
            v[run] = 0; /* write */
        else
            v[run] = -1;
        hvt_text_append(rep, len, NULL,
                        "  rep-a32-no-progress: 67 f3 ac, %s: RCX %#" PRIx64 " -> %#" PRIx64 "\n",
                        run ? "fault on the first iteration" : "count 0", c->in.gpr[HVT_RCX],
                        r->out.gpr[HVT_RCX]);
    }
    return v[0] == v[1] ? v[0] : -1;
}

/* rep-cmps-fault-flags: `f2 48 af` (repne scasq) compares two unequal qwords, then faults on
 * the next page. RFLAGS in are chosen to differ from the comparisons' (CF PF AF ZF SF OF). */
static int probe_cmps_flags(struct hvt_native_case *c, struct hvt_native_result *r, char *rep,
                            size_t len)
{
    static const uint8_t repne_scasq[] = {0xf2, 0x48, 0xaf};
    struct hvt_native_page *p;
    uint64_t fl_in = 0x8d4u | 2u, last, q = 0x1111111111111111ull;
    probe_init(c, repne_scasq, sizeof(repne_scasq));
    p = probe_page(c, PR_DATA, HVT_NATIVE_RW);
    probe_page(c, PR_DATA + 4096, HVT_NATIVE_NONE);
    memset(p->data, 0x11, sizeof(p->data));
    c->in.gpr[HVT_RAX] = 0;
    c->in.gpr[HVT_RCX] = 10;
    c->in.gpr[HVT_RDI] = PR_DATA + 4096 - 16;
    c->in.rflags = fl_in;
    if (hvt_native_run(c, r) < 0)
        return -2;
    /* 0 - 0x1111111111111111: CF (borrow), PF of 0xef, AF, SF; ZF and OF clear */
    last = 0;
    {
        uint64_t res = 0 - q;
        last |= 1u;                                                        /* CF */
        last |= (__builtin_popcount((unsigned)(res & 0xff)) & 1) ? 0 : 4u; /* PF */
        last |= ((0 ^ q ^ res) & 0x10) ? 0x10u : 0;                        /* AF */
        last |= (res >> 63) ? 0x80u : 0;                                   /* SF */
    }
    hvt_text_append(
        rep, len, NULL,
        "  rep-cmps-fault-flags: f2 48 af after 2 iterations, then #PF: RFLAGS %#" PRIx64
        " -> %#" PRIx64 " (stop %u, RCX %" PRIu64 ")\n",
        (uint64_t)(fl_in & HVT_NATIVE_RFLAGS_MASK), r->out.rflags, r->stop, r->out.gpr[HVT_RCX]);
    if (r->stop != HVT_NATIVE_FAULT || r->out.gpr[HVT_RCX] != 8)
        return -1;
    if (r->out.rflags == (fl_in & HVT_NATIVE_RFLAGS_MASK))
        return 0;
    if (r->out.rflags == ((last | (fl_in & 0x400u)) & HVT_NATIVE_RFLAGS_MASK))
        return 1;
    return -1;
}

/* The gather choices: vpgatherdd with element 1 on a PROT_NONE page, element 0 gathering.
 * gather-fault-upper: the VEX.128 form, bits 255:128 of mask and destination watched.
 * gather-fault-mask: the VEX.256 form with elements 2..7 active and only their sign bit set:
 * all ones left is sign-extend, the sign bit alone is keep; an element the CPU gathered ahead
 * of the fault (0) says nothing and is skipped. MASK_V / UPPER_V get the alternatives seen. */
static int probe_gather(struct hvt_native_case *c, struct hvt_native_result *r, int *mask_v,
                        int *upper_v, char *rep, size_t len)
{
    /* vpgatherdd xmm1/ymm1, [rax + xmm3/ymm3 * 4], xmm2/ymm2 */
    uint8_t insn[] = {0xc4, 0xe2, 0x69, 0x90, 0x0c, 0x98};
    static const uint32_t idx[8] = {0, 1024, 2, 3, 4, 5, 6, 7};
    static const uint32_t mask[8] = {0x80000000u, 0x80000000u, 0x80000000u, 0x00005555u,
                                     0x80000004u, 0x80000005u, 0x80000006u, 0x80000007u};
    uint32_t m2, m3, m_hi, d_hi;
    struct hvt_native_page *p;
    probe_init(c, insn, sizeof(insn));
    p = probe_page(c, PR_DATA, HVT_NATIVE_RW);
    probe_page(c, PR_DATA + 4096, HVT_NATIVE_NONE);
    for (unsigned i = 0; i < 1024; i++) {
        uint32_t v = 0x01010101u * (i & 0xff);
        memcpy(p->data + 4 * i, &v, 4);
    }
    c->in.flags = HVT_STATE_SIMD_VALID;
    c->in.mxcsr = 0x1f80;
    c->in.gpr[HVT_RAX] = PR_DATA;
    for (unsigned j = 0; j < 8; j++) {
        uint32_t d = 0xa0000000u + j;
        memcpy(c->in.ymm[3] + 4 * j, &idx[j], 4);
        memcpy(c->in.ymm[2] + 4 * j, &mask[j], 4);
        memcpy(c->in.ymm[1] + 4 * j, &d, 4);
    }
    if (hvt_native_run(c, r) < 0)
        return -2;
    memcpy(&m2, r->out.ymm[2] + 8, 4);
    memcpy(&m3, r->out.ymm[2] + 12, 4);
    memcpy(&m_hi, r->out.ymm[2] + 16, 4);
    memcpy(&d_hi, r->out.ymm[1] + 16, 4);
    hvt_text_append(
        rep, len, NULL,
        "  gather-fault-upper: vpgatherdd xmm, element 1 faults (stop %u vector %u): "
        "mask[4] 0x80000004 -> %#x, dst[4] 0xa0000004 -> %#x (mask[2] 0x80000000 -> %#x, "
        "mask[3] 0x5555 -> %#x)\n",
        r->stop, r->vector, m_hi, d_hi, m2, m3);
    if (r->stop != HVT_NATIVE_FAULT || r->vector != HVT_VEC_PF)
        return -1;
    *upper_v = m_hi == 0 && d_hi == 0 ? 0 : m_hi == 0x80000004u && d_hi == 0xa0000004u ? 1 : -1;

    /* the VEX.256 form for the mask: elements 2..7 active, sign bit only */
    c->insn[2] = 0x6d; /* VEX.L = 1 */
    for (unsigned j = 2; j < 8; j++)
        memcpy(c->in.ymm[2] + 4 * j, &(uint32_t){0x80000000u}, 4);
    if (hvt_native_run(c, r) < 0)
        return -2;
    {
        unsigned ones = 0, sign = 0, zero = 0;
        for (unsigned j = 2; j < 8; j++) {
            uint32_t m;
            memcpy(&m, r->out.ymm[2] + 4 * j, 4);
            ones += m == 0xffffffffu;
            sign += m == 0x80000000u;
            zero += m == 0;
        }
        hvt_text_append(
            rep, len, NULL,
            "  gather-fault-mask: vpgatherdd ymm, element 1 faults (stop %u vector %u): of "
            "mask[2..7] = 0x80000000, %u all ones, %u unchanged, %u zero (gathered ahead)\n",
            r->stop, r->vector, ones, sign, zero);
        if (r->stop != HVT_NATIVE_FAULT || r->vector != HVT_VEC_PF || ones + sign + zero != 6)
            return -1;
        *mask_v = ones && !sign ? 0 : sign && !ones ? 1 : -1;
    }
    return 0;
}

/* Takes a probe's answer V for choice CH into P; an answer no alternative describes (-1)
 * keeps the vendor's default and is counted in *ODD. */
static void take(struct hvt_cpu_profile *p, unsigned ch, int v, int *odd)
{
    if (v >= 0)
        p->choice[ch] = (uint8_t)v;
    else
        (*odd)++;
}

int hvt_orc_cpu_host(struct hvt_cpu_profile *out, char *report, size_t len)
{
    struct hvt_native_case *c;
    struct hvt_native_result *r;
    struct hvt_cpu_profile p;
    int rc, v, mv = -1, uv = -1, odd = 0;

    if (report && len)
        report[0] = 0;
    if (!out)
        return -HVT_E_INVALID;
    rc = hvt_cpu_profile_cpuid(&p);
    if (rc < 0)
        return rc;
    c = malloc(sizeof(*c));
    r = malloc(sizeof(*r));
    if (!c || !r) {
        free(c);
        free(r);
        return -HVT_E_NOMEM;
    }
    snprintf(p.name, sizeof(p.name), "host");

    if ((v = probe_rep_a32(c, r, report, len)) == -2)
        goto io;
    take(&p, HVT_CPUC_REP_A32_NO_PROGRESS, v, &odd);
    if ((v = probe_cmps_flags(c, r, report, len)) == -2)
        goto io;
    take(&p, HVT_CPUC_REP_CMPS_FAULT_FLAGS, v, &odd);
    if (HVT_CPU_HAS(&p, HVT_CPUF_AVX2)) {
        if ((v = probe_gather(c, r, &mv, &uv, report, len)) == -2)
            goto io;
        take(&p, HVT_CPUC_GATHER_FAULT_MASK, v == 0 ? mv : -1, &odd);
        take(&p, HVT_CPUC_GATHER_FAULT_UPPER, v == 0 ? uv : -1, &odd);
    } else {
        hvt_text_append(report, len, NULL,
                        "  gather-fault-mask/upper: not probed (no AVX2): %s's default\n",
                        p.vendor);
    }
    for (unsigned ch = 0; ch < HVT_CPUC__COUNT; ch++)
        hvt_text_append(report, len, NULL, "  => %s=%s\n", hvt_cpu_choice_name(ch),
                        hvt_cpu_choice_value_name(ch, p.choice[ch]));
    if (odd)
        hvt_text_append(
            report, len, NULL,
            "  %d probe(s) saw a behaviour no alternative describes: the vendor's default "
            "is kept for them\n",
            odd);
    free(c);
    free(r);
    *out = p;
    return odd;
io:
    free(c);
    free(r);
    return -HVT_E_IO;
}
