/* SPDX-License-Identifier: MIT */
/* The one effective-address routine: every ModRM/SIB/displacement/RIP-relative/address-size/
 * segment-override combination addresses the same bytes for a plain MOV, for an extension-path
 * form (MOVD), for a gather element and for a string op's implicit operand; and the byte-level
 * parse agrees with capstone's memory operands on random encodings. */
#include "insn_fixture.h"
#include "decode.h"
#include "parse_check.h"

#define CR4_OSFXSR (1ull << 9)

static struct ix f;

/* Segment bases in 32-bit mode (64-bit mode: only FS and GS have one; CS's stays 0, where the
 * code is). */
static const uint64_t seg_base[6] = {0x100000, 0, 0x120000, 0x130000, 0x140000, 0x150000};
static const uint8_t seg_pfx[6] = {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65};

/* GPR values for which every combination stays inside RAM (RSI and RCX: KEEP them). */
static void reset_gprs(int keep)
{
    for (unsigned r = 0; r < 16; r++)
        if (!keep || (r != HVT_RSI && r != HVT_RCX))
            f.st.gpr[r] = 0x20000 + r * 0x1010 + r;
}

static void setup(int long64)
{
    ix_setup(&f, long64);
    reset_gprs(0);
    for (unsigned s = 0; s < 6; s++)
        if (!long64 || s >= HVT_SEG_FS)
            f.st.seg[s].base = seg_base[s];
    f.st.flags |= HVT_STATE_SIMD_VALID;
    f.st.cr4 |= CR4_OSFXSR | HVT_CR4_OSXSAVE;
    f.st.xcr0 = 7;
}

/* What the test expects, computed from the SDM's tables independently of the core. */
struct want {
    uint64_t la;
    unsigned seg;
};

static const uint8_t b16[8] = {HVT_RBX, HVT_RBX, HVT_RBP, HVT_RBP,
                               HVT_RSI, HVT_RDI, HVT_RBP, HVT_RBX};
static const int i16[8] = {HVT_RSI, HVT_RDI, HVT_RSI, HVT_RDI, -1, -1, -1, -1};

/* One addressing form: ModRM mod/rm, SIB, displacement, REX.X/B, 67, segment prefix. */
struct form {
    int long64, a67, segp; /* segp: index into seg_pfx, -1 none */
    unsigned mod, rm, sib, rexx, rexb;
    int64_t disp;
};

static unsigned dispsize(const struct form *m, unsigned asz)
{
    if (asz == 2)
        return m->mod == 1 ? 1 : m->mod == 2 || (m->mod == 0 && m->rm == 6) ? 2 : 0;
    if (m->mod == 1)
        return 1;
    if (m->mod == 2 || (m->mod == 0 && m->rm == 5) ||
        (m->mod == 0 && m->rm == 4 && (m->sib & 7) == 5))
        return 4;
    return 0;
}

/* Encodes prefixes + OPC (NOPC bytes, REX after the legacy prefixes) + ModRM(reg 0) + SIB +
 * displacement into OUT; returns the length, *DL the displacement's offset. */
static unsigned encode(const struct form *m, const uint8_t *pre, unsigned npre, const uint8_t *opc,
                       unsigned nopc, uint8_t *out, unsigned asz)
{
    unsigned n = 0, ds = dispsize(m, asz);
    if (m->segp >= 0)
        out[n++] = seg_pfx[m->segp];
    if (m->a67)
        out[n++] = 0x67;
    for (unsigned i = 0; i < npre; i++)
        out[n++] = pre[i];
    if (m->long64 && (m->rexx || m->rexb))
        out[n++] = (uint8_t)(0x40 | (m->rexx << 1) | m->rexb);
    for (unsigned i = 0; i < nopc; i++)
        out[n++] = opc[i];
    out[n++] = (uint8_t)((m->mod << 6) | m->rm);
    if (asz != 2 && m->rm == 4)
        out[n++] = (uint8_t)m->sib;
    for (unsigned i = 0; i < ds; i++)
        out[n++] = (uint8_t)((uint64_t)m->disp >> (8 * i));
    return n;
}

static struct want expect(const struct form *m, unsigned len)
{
    unsigned asz = m->long64 ? (m->a67 ? 4 : 8) : (m->a67 ? 2 : 4);
    unsigned ds = dispsize(m, asz);
    int64_t disp = ds == 1 ? (int8_t)m->disp : ds == 2 ? (int16_t)m->disp : (int32_t)m->disp;
    uint64_t ea = ds ? (uint64_t)disp : 0;
    int base = -1;
    struct want w;
    if (asz == 2) {
        if (!(m->mod == 0 && m->rm == 6)) {
            base = b16[m->rm];
            ea += f.st.gpr[base];
            if (i16[m->rm] >= 0)
                ea += f.st.gpr[i16[m->rm]];
        }
        ea &= 0xffff;
    } else {
        if (m->rm == 4) {
            unsigned idx = ((m->sib >> 3) & 7) | (m->rexx << 3);
            if ((m->sib & 7) != 5 || m->mod != 0)
                base = (int)((m->sib & 7) | (m->rexb << 3));
            if (idx != 4)
                ea += f.st.gpr[idx] << (m->sib >> 6);
        } else if (m->rm == 5 && m->mod == 0) {
            if (m->long64)
                ea += IX_CODE + len; /* RIP-relative */
        } else {
            base = (int)(m->rm | (m->rexb << 3));
        }
        if (base >= 0)
            ea += f.st.gpr[base];
        if (asz == 4)
            ea &= 0xffffffffull;
    }
    /* the override, unless 64-bit mode ignores it; else SS for rBP/rSP bases */
    if (m->segp >= 0 && (!m->long64 || m->segp >= HVT_SEG_FS))
        w.seg = (unsigned)m->segp;
    else
        w.seg = base == HVT_RBP || base == HVT_RSP ? HVT_SEG_SS : HVT_SEG_DS;
    w.la = ea + f.st.seg[w.seg].base;
    if (!m->long64)
        w.la &= 0xffffffffull;
    return w;
}

/* Runs BYTES and returns its first data access (NULL with a failed check when none). */
static const struct ram_log_entry *first_data(const uint8_t *b, unsigned n)
{
    const struct ram_log_entry *ops[4];
    char hex[64] = "";
    reset_gprs(1);
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", b[i]);
    f.st.rip = IX_CODE;
    if (ix_run(&f, hex) != HVT_OUT_OKAY || f.res.insn_len != n || ix_data_ops(&f, ops, 4) < 1) {
        fprintf(stderr, "bytes %s: outcome %u (%s), length %u\n", hex, f.res.out.kind, f.res.detail,
                f.res.insn_len);
        return NULL;
    }
    return ops[0];
}

static unsigned cases, mismatches;

static void check_form(const struct form *m)
{
    static const uint8_t mov[] = {0x8b};      /* mov eax, r/m32 */
    static const uint8_t movd_pre[] = {0x66}; /* movd xmm0, r/m32 */
    static const uint8_t movd[] = {0x0f, 0x6e};
    uint8_t b1[16], b2[16];
    unsigned asz = m->long64 ? (m->a67 ? 4 : 8) : (m->a67 ? 2 : 4);
    unsigned n1 = encode(m, NULL, 0, mov, 1, b1, asz);
    unsigned n2 = encode(m, movd_pre, 1, movd, 2, b2, asz);
    struct want w1 = expect(m, n1), w2 = expect(m, n2);
    const uint8_t *bytes[2] = {b1, b2};
    unsigned lens[2] = {n1, n2};
    uint64_t la[2];
    unsigned sg[2];

    cases++;
    for (unsigned k = 0; k < 2; k++) {
        const struct ram_log_entry *a = first_data(bytes[k], lens[k]);
        if (!a) {
            mismatches++;
            return;
        }
        la[k] = a->info.linear;
        sg[k] = a->info.seg;
    }
    if (la[0] != w1.la || sg[0] != w1.seg || la[1] != w2.la || sg[1] != w2.seg) {
        fprintf(stderr,
                "form long64=%d a67=%d seg=%d mod=%u rm=%u sib=%02x rex.x=%u rex.b=%u disp=%llx: "
                "mov %llx/%u movd %llx/%u want %llx/%u and %llx/%u\n",
                m->long64, m->a67, m->segp, m->mod, m->rm, m->sib, m->rexx, m->rexb,
                (unsigned long long)m->disp, (unsigned long long)la[0], sg[0],
                (unsigned long long)la[1], sg[1], (unsigned long long)w1.la, w1.seg,
                (unsigned long long)w2.la, w2.seg);
        mismatches++;
    }
}

/* Every mod/rm (and for 32/64-bit addressing a spread of SIB bytes), both address sizes, every
 * segment prefix, REX.X/B: MOV and MOVD address the same bytes, the ones the SDM says. */
static void test_modrm_forms(void)
{
    static const unsigned sibs[] = {0x00, 0x05, 0x24, 0x25, 0x4d, 0x63,
                                    0x8c, 0x9e, 0xe5, 0xff, 0x2c, 0x34};
    static const int64_t disps[] = {0x12, 0x7f, 0x80, 0xff, 0x1234, 0xfffc, 0x8000};
    unsigned di = 0;
    for (int long64 = 0; long64 <= 1; long64++) {
        for (int a67 = 0; a67 <= 1; a67++) {
            for (int segp = -1; segp < 6; segp++) {
                for (unsigned rex = 0; rex < (long64 ? 4u : 1u); rex++) {
                    setup(long64);
                    for (unsigned mod = 0; mod < 3; mod++) {
                        for (unsigned rm = 0; rm < 8; rm++) {
                            unsigned asz = long64 ? (a67 ? 4 : 8) : (a67 ? 2 : 4);
                            unsigned ns = asz != 2 && rm == 4 ? sizeof(sibs) / sizeof(sibs[0]) : 1;
                            for (unsigned s = 0; s < ns; s++) {
                                struct form m = {long64,
                                                 a67,
                                                 segp,
                                                 mod,
                                                 rm,
                                                 sibs[s],
                                                 rex >> 1,
                                                 rex & 1,
                                                 disps[di++ % (sizeof(disps) / sizeof(disps[0]))]};
                                check_form(&m);
                            }
                        }
                    }
                }
            }
        }
    }
    CHECK(cases > 1000);
    CHECK_EQ(mismatches, 0);
}

/* A gather element addresses what a MOV with the element's index in a GPR does. */
static void test_gather_element(void)
{
    static const unsigned sibs[] = {0x08, 0x48, 0x88, 0xc8, 0x0d, 0xcd, 0x0c, 0x4e};
    for (unsigned s = 0; s < sizeof(sibs) / sizeof(sibs[0]); s++) {
        for (unsigned mod = 0; mod < 3; mod++) {
            /* vpgatherdd xmm2, [base + xmm1*scale + disp], xmm3 */
            uint8_t g[12] = {
                0xc4, 0xe2, 0x61, 0x90, (uint8_t)((mod << 6) | (2 << 3) | 4), (uint8_t)sibs[s]};
            /* mov eax, [base + rcx*scale + disp] */
            uint8_t mv[12] = {0x8b, (uint8_t)((mod << 6) | 4), (uint8_t)sibs[s]};
            unsigned ng = 6, nm = 3, ds = mod == 1 ? 1 : mod == 2 || (sibs[s] & 7) == 5 ? 4 : 0;
            const struct ram_log_entry *a;
            uint64_t la;
            /* negative indexes too, where a base keeps the address in RAM */
            int32_t iv = mod == 0 && (sibs[s] & 7) == 5 ? 0x340 : (int32_t)(0x340 - 0x100 * (int)s);
            for (unsigned i = 0; i < ds; i++)
                g[ng++] = mv[nm++] = i ? 0 : 0x44;
            setup(1);
            f.st.gpr[HVT_RCX] = (uint64_t)(int64_t)iv;
            a = first_data(mv, nm);
            CHECK(a != NULL);
            if (!a)
                continue;
            la = a->info.linear;
            setup(1);
            memset(f.st.ymm[3], 0, 32);
            f.st.ymm[3][3] = 0x80; /* only element 0 active */
            memcpy(f.st.ymm[1], &iv, 4);
            a = first_data(g, ng);
            CHECK(a != NULL);
            if (a)
                CHECK_U64(a->info.linear, la);
        }
    }
}

/* A string op's implicit source (seg:rSI by address size, the override where 64-bit mode keeps
 * it) is what MOV AL, [rSI] with the same prefixes reads. */
static void test_string_operand(void)
{
    for (int long64 = 0; long64 <= 1; long64++) {
        for (int a67 = 0; a67 <= 1; a67++) {
            for (int segp = -1; segp < 6; segp++) {
                uint8_t s[4], m[5];
                unsigned ns = 0, nm = 0;
                const struct ram_log_entry *a;
                uint64_t la;
                unsigned seg;
                /* bits the address size drops are set */
                uint64_t rsi = (a67 || !long64 ? 0xffffffff00000000ull : 0) | 0x31234;
                if (a67 && !long64)
                    rsi |= 0xffff0000;
                if (segp >= 0)
                    s[ns++] = m[nm++] = seg_pfx[segp];
                if (a67)
                    s[ns++] = m[nm++] = 0x67;
                s[ns++] = 0xa4; /* movsb */
                m[nm++] = 0x8a; /* mov al, [rsi] / [si] */
                m[nm++] = !long64 && a67 ? 0x04 : 0x06;
                setup(long64);
                f.st.gpr[HVT_RSI] = rsi;
                a = first_data(m, nm);
                CHECK(a != NULL);
                if (!a)
                    continue;
                la = a->info.linear;
                seg = a->info.seg;
                setup(long64);
                f.st.gpr[HVT_RSI] = rsi;
                a = first_data(s, ns);
                CHECK(a != NULL);
                if (!a)
                    continue;
                CHECK_U64(a->info.linear, la);
                CHECK_EQ(a->info.seg, seg);
            }
        }
    }
}

/* 64-bit mode ignores ES/CS/SS/DS overrides (natively: 36 on a non-canonical [rax] is #GP,
 * not #SS; 3E on [rbp] still #SS), for plain and extension forms alike. */
static void test_ignored_overrides(void)
{
    static const char *const cases_gp[] = {"36 8b 00", "36 66 0f 6e 00", "26 8b 00"};
    static const char *const cases_ss[] = {"3e 8b 45 00", "3e 66 0f 6e 45 00", "8b 45 00"};
    for (unsigned i = 0; i < 3; i++) {
        setup(1);
        f.st.gpr[HVT_RAX] = 0x8000000000000000ull;
        CHECK_EQ(ix_run(&f, cases_gp[i]), HVT_OUT_EXCEPTION);
        CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
        setup(1);
        f.st.gpr[HVT_RBP] = 0x8000000000000000ull;
        CHECK_EQ(ix_run(&f, cases_ss[i]), HVT_OUT_EXCEPTION);
        CHECK_EQ(f.res.out.vector, HVT_VEC_SS);
    }
}

/* ---- the parse against capstone ------------------------------------------------------- */

/* Random encodings (prefixes, REX, VEX, the three maps, every ModRM/SIB): wherever capstone
 * decodes an instruction with one memory operand that the parse reads whole, both give the
 * same length, base, index, scale and displacement (the displacement modulo the address
 * size); and the parse reads whole every such instruction outside EVEX, XOP and 3DNow!. */
static void test_parse_vs_capstone(void)
{
    static const uint8_t pre[] = {0x66, 0x67, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0xf0};
    static const cs_mode modes[3] = {CS_MODE_16, CS_MODE_32, CS_MODE_64};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    unsigned count[PC_DIFFER + 1] = {0};
    for (unsigned mi = 0; mi < 3; mi++) {
        csh h;
        cs_insn *ci;
        enum hvt_emu_mode mode = (enum hvt_emu_mode)(HVT_MODE_PROT16 + mi);
        CHECK_EQ(cs_open(CS_ARCH_X86, modes[mi], &h), CS_ERR_OK);
        cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
        ci = cs_malloc(h);
        for (unsigned t = 0; t < 60000; t++) {
            uint8_t b[15];
            unsigned n = 0, k;
            char why[256];
            enum pc_result r;
            for (unsigned i = 0; i < 15; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                b[i] = (uint8_t)(seed >> 56);
            }
            k = b[14] & 3; /* a few prefixes, then a map */
            for (unsigned i = 0; i < k; i++)
                b[n++] = pre[b[13 - i] % sizeof(pre)];
            if (mi == 2 && (b[10] & 1))
                b[n++] = (uint8_t)(0x40 | (b[9] & 15));
            switch (b[11] % 6) {
            case 0:
                b[n++] = 0x0f;
                break;
            case 1:
                b[n++] = 0x0f;
                b[n++] = 0x38;
                break;
            case 2:
                b[n++] = 0x0f;
                b[n++] = 0x3a;
                break;
            case 3:
                b[n] = b[n] & 1 ? 0xc4 : 0xc5;
                break;
            default:
                break;
            }
            r = pc_check(h, ci, mode, b, 15, why, sizeof(why));
            if ((r == PC_DIFFER || r == PC_NOTWHOLE) && count[r] < 10)
                fprintf(stderr, "%s\n", why);
            count[r]++;
        }
        cs_free(ci, 1);
        cs_close(&h);
    }
    CHECK(count[PC_AGREE] > 20000);
    CHECK_EQ(count[PC_DIFFER], 0);
    CHECK_EQ(count[PC_NOTWHOLE], 0);
}

int main(void)
{
    RUN(test_modrm_forms);
    RUN(test_gather_element);
    RUN(test_string_operand);
    RUN(test_ignored_overrides);
    RUN(test_parse_vs_capstone);
    ix_free(&f);
    TEST_DONE();
}
