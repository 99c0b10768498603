/* SPDX-License-Identifier: MIT */
/* Reference core decoder: capstone (x86, detail mode) for the instruction, the byte-level parse
 * of its encoding, the one decoded form and its cache. */
#include "decode.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <capstone/capstone.h>

/* One cache slot: the key (mode, bytes) and the decoded form. */
struct dslot {
    uint32_t hash; /* 0 = empty */
    uint8_t mode;
    uint8_t len;
    uint8_t bytes[HVT_INSN_MAX];
    struct hvt_dinsn d;
};

struct hvt_decoder {
    csh cs[4];       /* per enum hvt_emu_mode; 0 = not opened yet */
    cs_insn *csi[4]; /* cs_malloc'ed buffers for cs_disasm_iter: no malloc per decode */
    int use_cache;
    uint32_t mask;
    struct dslot *slots;
    struct hvt_dec_stats stats;
};

struct hvt_decoder *hvt_dec_new(unsigned cache_entries)
{
    unsigned n = 64;
    struct hvt_decoder *dec;
    while (n < cache_entries && n < (1u << 20))
        n <<= 1;
    dec = calloc(1, sizeof(*dec));
    if (!dec)
        return NULL;
    dec->slots = calloc(n, sizeof(*dec->slots));
    if (!dec->slots) {
        free(dec);
        return NULL;
    }
    dec->mask = n - 1;
    dec->use_cache = 1;
    return dec;
}

void hvt_dec_free(struct hvt_decoder *dec)
{
    if (!dec)
        return;
    for (unsigned i = 0; i < 4; i++) {
        if (dec->csi[i])
            cs_free(dec->csi[i], 1);
        if (dec->cs[i])
            cs_close(&dec->cs[i]);
    }
    free(dec->slots);
    free(dec);
}

void hvt_dec_set_cache(struct hvt_decoder *dec, int on)
{
    dec->use_cache = on != 0;
}

void hvt_dec_stats(const struct hvt_decoder *dec, struct hvt_dec_stats *out)
{
    *out = dec->stats;
}

/* FNV-1a, seeded with the mode; the hash of a prefix of the bytes extends byte by byte, so a
 * lookup can probe every candidate length with one pass over the fetched bytes. */
#define HASH_SEED 2166136261u
#define HASH_STEP(h, b) (((h) ^ (b)) * 16777619u)

static uint32_t hash_fix(uint32_t h)
{
    return h ? h : 1; /* 0 marks an empty slot */
}

const struct hvt_dinsn *hvt_dec_lookup(struct hvt_decoder *dec, enum hvt_emu_mode mode,
                                       const uint8_t *bytes, size_t n)
{
    uint32_t h = HASH_STEP(HASH_SEED, (uint32_t)mode);
    if (!dec->use_cache)
        return NULL;
    if (n > HVT_INSN_MAX)
        n = HVT_INSN_MAX;
    /* x86 encodings are prefix-free: at most one length L <= N is a whole instruction, so the
     * first slot whose full key matches is the instruction at BYTES. */
    for (size_t l = 1; l <= n; l++) {
        const struct dslot *s;
        h = HASH_STEP(h, bytes[l - 1]);
        s = &dec->slots[hash_fix(h) & dec->mask];
        if (s->hash == hash_fix(h) && s->len == l && s->mode == mode &&
            !memcmp(s->bytes, bytes, l)) {
            dec->stats.hits++;
            return &s->d;
        }
    }
    dec->stats.misses++;
    return NULL;
}

/* ---- capstone detail -> decoded form ------------------------------------------------- */

/* Register class, number and size of a capstone register. */
static int map_reg(unsigned r, uint8_t *cls, uint8_t *num, uint8_t *high)
{
    static const uint16_t gpr64[16] = {X86_REG_RAX, X86_REG_RCX, X86_REG_RDX, X86_REG_RBX,
                                       X86_REG_RSP, X86_REG_RBP, X86_REG_RSI, X86_REG_RDI,
                                       X86_REG_R8,  X86_REG_R9,  X86_REG_R10, X86_REG_R11,
                                       X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15};
    static const uint16_t gpr32[16] = {X86_REG_EAX,  X86_REG_ECX,  X86_REG_EDX,  X86_REG_EBX,
                                       X86_REG_ESP,  X86_REG_EBP,  X86_REG_ESI,  X86_REG_EDI,
                                       X86_REG_R8D,  X86_REG_R9D,  X86_REG_R10D, X86_REG_R11D,
                                       X86_REG_R12D, X86_REG_R13D, X86_REG_R14D, X86_REG_R15D};
    static const uint16_t gpr16[16] = {X86_REG_AX,   X86_REG_CX,   X86_REG_DX,   X86_REG_BX,
                                       X86_REG_SP,   X86_REG_BP,   X86_REG_SI,   X86_REG_DI,
                                       X86_REG_R8W,  X86_REG_R9W,  X86_REG_R10W, X86_REG_R11W,
                                       X86_REG_R12W, X86_REG_R13W, X86_REG_R14W, X86_REG_R15W};
    static const uint16_t gpr8[16] = {X86_REG_AL,   X86_REG_CL,   X86_REG_DL,   X86_REG_BL,
                                      X86_REG_SPL,  X86_REG_BPL,  X86_REG_SIL,  X86_REG_DIL,
                                      X86_REG_R8B,  X86_REG_R9B,  X86_REG_R10B, X86_REG_R11B,
                                      X86_REG_R12B, X86_REG_R13B, X86_REG_R14B, X86_REG_R15B};
    static const uint16_t seg[6] = {X86_REG_ES, X86_REG_CS, X86_REG_SS,
                                    X86_REG_DS, X86_REG_FS, X86_REG_GS};
    *high = 0;
    for (unsigned i = 0; i < 16; i++) {
        if (r == gpr64[i] || r == gpr32[i] || r == gpr16[i] || r == gpr8[i]) {
            *cls = HVT_RC_GPR;
            *num = (uint8_t)i;
            return 1;
        }
    }
    switch (r) {
    case X86_REG_AH:
    case X86_REG_CH:
    case X86_REG_DH:
    case X86_REG_BH:
        *cls = HVT_RC_GPR;
        *num = r == X86_REG_AH ? 0 : r == X86_REG_CH ? 1 : r == X86_REG_DH ? 2 : 3;
        *high = 1;
        return 1;
    case X86_REG_RIP:
    case X86_REG_EIP:
    case X86_REG_IP:
        *cls = HVT_RC_OTHER;
        *num = HVT_DREG_RIP;
        return 1;
    default:
        break;
    }
    for (unsigned i = 0; i < 6; i++) {
        if (r == seg[i]) {
            *cls = HVT_RC_SEG;
            *num = (uint8_t)i;
            return 1;
        }
    }
    if (r >= X86_REG_CR0 && r <= X86_REG_CR15) {
        *cls = HVT_RC_CR;
        *num = (uint8_t)(r - X86_REG_CR0);
        return 1;
    }
    if (r >= X86_REG_XMM0 && r <= X86_REG_XMM15) {
        *cls = HVT_RC_XMM;
        *num = (uint8_t)(r - X86_REG_XMM0);
        return 1;
    }
    if (r >= X86_REG_YMM0 && r <= X86_REG_YMM15) {
        *cls = HVT_RC_YMM;
        *num = (uint8_t)(r - X86_REG_YMM0);
        return 1;
    }
    *cls = HVT_RC_OTHER;
    *num = 0xff;
    return 0;
}

/* A memory base/index register as a GPR number (or RIP / NONE). 0 when it is not one. */
static int map_addr_reg(unsigned r, uint8_t *out, int *vector)
{
    uint8_t cls, num, high;
    *vector = 0;
    if (r == X86_REG_INVALID || r == X86_REG_EIZ || r == X86_REG_RIZ) {
        *out = HVT_DREG_NONE;
        return 1;
    }
    if (!map_reg(r, &cls, &num, &high) || high)
        return 0;
    if (cls == HVT_RC_GPR || num == HVT_DREG_RIP) {
        *out = num;
        return 1;
    }
    if (cls == HVT_RC_XMM || cls == HVT_RC_YMM) {
        *out = num;
        *vector = 1;
        return 1;
    }
    return 0;
}

static int seg_of_capstone(unsigned r)
{
    switch (r) {
    case X86_REG_ES:
        return HVT_SEG_ES;
    case X86_REG_CS:
        return HVT_SEG_CS;
    case X86_REG_SS:
        return HVT_SEG_SS;
    case X86_REG_DS:
        return HVT_SEG_DS;
    case X86_REG_FS:
        return HVT_SEG_FS;
    case X86_REG_GS:
        return HVT_SEG_GS;
    default:
        return -1;
    }
}

/* Instructions that accept LOCK (with a memory destination). */
static int lockable(unsigned id)
{
    switch (id) {
    case X86_INS_ADD:
    case X86_INS_ADC:
    case X86_INS_AND:
    case X86_INS_BTC:
    case X86_INS_BTR:
    case X86_INS_BTS:
    case X86_INS_CMPXCHG:
    case X86_INS_CMPXCHG8B:
    case X86_INS_CMPXCHG16B:
    case X86_INS_DEC:
    case X86_INS_INC:
    case X86_INS_NEG:
    case X86_INS_NOT:
    case X86_INS_OR:
    case X86_INS_SBB:
    case X86_INS_SUB:
    case X86_INS_XOR:
    case X86_INS_XADD:
    case X86_INS_XCHG:
        return 1;
    default:
        return 0;
    }
}

/* ---- the byte-level parse of the encoding ------------------------------------------ */

/* One-byte opcodes that take a ModRM byte (C4/C5 as LES/LDS; 62 as BOUND outside 64-bit mode;
 * 8F as POP r/m), one bit per opcode. */
static const uint32_t modrm_map1[8] = {
    0x0f0f0f0fu, /* 00-1f: ALU r/m forms */
    0x0f0f0f0fu, /* 20-3f */
    0x00000000u, /* 40-5f */
    0x00000a0cu, /* 60-7f: 62 63 69 6b */
    0x0000ffffu, /* 80-9f: 80-8f */
    0x00000000u, /* a0-bf */
    0xff0f00f3u, /* c0-df: c0 c1 c4 c5 c6 c7 d0-d3 d8-df */
    0xc0c00000u, /* e0-ff: f6 f7 fe ff */
};

/* Two-byte (0F) opcodes without a ModRM byte: SYSCALL, CLTS, SYSRET, INVD, WBINVD, UD2, FEMMS,
 * WRMSR..GETSEC, EMMS, Jcc rel, PUSH/POP FS/GS, CPUID, RSM, BSWAP. */
static int no_modrm_map2(uint8_t op)
{
    return (op >= 0x05 && op <= 0x09) || op == 0x0b || op == 0x0e || (op >= 0x30 && op <= 0x37) ||
           op == 0x77 || (op >= 0x80 && op <= 0x8f) || op == 0xa0 || op == 0xa1 || op == 0xa2 ||
           op == 0xa8 || op == 0xa9 || op == 0xaa || (op >= 0xc8 && op <= 0xcf);
}

/* 16-bit ModRM bases/indexes: BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP, BX. */
static const uint8_t base16[8] = {HVT_RBX, HVT_RBX, HVT_RBP, HVT_RBP,
                                  HVT_RSI, HVT_RDI, HVT_RBP, HVT_RBX};
static const uint8_t index16[8] = {HVT_RSI,       HVT_RDI,       HVT_RSI,       HVT_RDI,
                                   HVT_DREG_NONE, HVT_DREG_NONE, HVT_DREG_NONE, HVT_DREG_NONE};

/* Reads N (1, 2, 4, 8) little-endian bytes at *P (bounded by END), sign-extended, advancing
 * *P; -1 when out of bytes. */
static int take(const uint8_t **p, const uint8_t *end, unsigned n, int64_t *v)
{
    uint64_t x = 0;
    if ((size_t)(end - *p) < n)
        return -1;
    for (unsigned i = 0; i < n; i++)
        x |= (uint64_t)(*p)[i] << (8 * i);
    *p += n;
    *v = n == 1 ? (int8_t)x : n == 2 ? (int16_t)x : n == 4 ? (int32_t)x : (int64_t)x;
    return 0;
}

int hvt_dec_legacy_prefix(uint8_t b)
{
    switch (b) {
    case 0xf0:
    case 0xf2:
    case 0xf3:
    case 0x66:
    case 0x67:
    case 0x26:
    case 0x2e:
    case 0x36:
    case 0x3e:
    case 0x64:
    case 0x65:
        return 1;
    default:
        return 0;
    }
}

/* ModRM, SIB and displacement at *P into D->enc (REX/VEX extension bits in D->rex form). */
static int parse_modrm(struct hvt_dinsn *d, unsigned rex, const uint8_t **p, const uint8_t *end)
{
    struct hvt_denc *c = &d->enc;
    struct hvt_dop *m = &c->mem;
    unsigned modrm, rm3;
    int64_t disp = 0;

    if (*p >= end)
        return -1;
    modrm = *(*p)++;
    c->has_modrm = 1;
    c->mod = (uint8_t)(modrm >> 6);
    c->reg = (uint8_t)(((modrm >> 3) & 7) | ((rex & 4) << 1));
    c->rm = (uint8_t)((modrm & 7) | ((rex & 1) << 3));
    rm3 = modrm & 7;
    if (d->enc.map == 2 && d->enc.opcode >= 0x20 && d->enc.opcode <= 0x26)
        c->mod = 3; /* MOV to/from CRn/DRn/TRn: always a register, whatever mod says */
    if (c->mod == 3)
        return 0;
    m->kind = HVT_DOP_MEM;
    m->base = HVT_DREG_NONE;
    m->index = HVT_DREG_NONE;
    m->scale = 1;
    if (d->addrsize == 2) {
        if (c->mod == 0 && rm3 == 6) {
            if (take(p, end, 2, &disp))
                return -1;
        } else {
            m->base = base16[rm3];
            m->index = index16[rm3];
            if (c->mod && take(p, end, c->mod == 1 ? 1 : 2, &disp))
                return -1;
        }
    } else {
        if (rm3 == 4) {
            unsigned sib;
            if (*p >= end)
                return -1;
            sib = *(*p)++;
            c->has_sib = 1;
            m->scale = (uint8_t)(1u << (sib >> 6));
            c->vindex = (uint8_t)(((sib >> 3) & 7) | ((rex & 2) << 2));
            /* index 100 without REX.X is none (VSIB reads it as the vector register) */
            if (c->vindex != 4)
                m->index = c->vindex;
            if ((sib & 7) == 5 && c->mod == 0) {
                if (take(p, end, 4, &disp))
                    return -1;
            } else {
                m->base = (uint8_t)((sib & 7) | ((rex & 1) << 3));
            }
        } else if (rm3 == 5 && c->mod == 0) {
            if (d->mode == HVT_MODE_LONG64)
                m->base = HVT_DREG_RIP;
            if (take(p, end, 4, &disp))
                return -1;
        } else {
            m->base = c->rm;
        }
        if (c->mod == 1 && take(p, end, 1, &disp))
            return -1;
        if (c->mod == 2 && take(p, end, 4, &disp))
            return -1;
    }
    m->val = disp;
    c->has_mem = 1;
    return 0;
}

/* VEX (C4/C5 at P[0]) into D->enc; *REX receives R/X/B in REX form. */
static int parse_vex(struct hvt_dinsn *d, unsigned *rex, const uint8_t **pp, const uint8_t *end)
{
    struct hvt_denc *c = &d->enc;
    const uint8_t *p = *pp;
    unsigned r, x = 1, b = 1, mmmmm = 1, v;
    int long64 = d->mode == HVT_MODE_LONG64;

    c->vex = 1;
    if (*p == 0xc5) {
        if (end - p < 3)
            return -1;
        r = p[1] >> 7;
        v = p[1];
        p += 2;
    } else {
        if (end - p < 4)
            return -1;
        r = p[1] >> 7;
        x = (p[1] >> 6) & 1;
        b = (p[1] >> 5) & 1;
        mmmmm = p[1] & 0x1f;
        c->vw = p[2] >> 7;
        v = p[2];
        p += 3;
    }
    c->vvvv = (uint8_t)((~v >> 3) & (long64 ? 15 : 7));
    c->vl = (v >> 2) & 1;
    c->pp = v & 3;
    *rex = long64 ? ((!r) << 2) | ((!x) << 1) | (!b) : 0;
    if (mmmmm < 1 || mmmmm > 3)
        return -1;
    c->map = (uint8_t)(mmmmm + 1);
    *pp = p;
    return 0;
}

unsigned hvt_dec_parse(enum hvt_emu_mode mode, const uint8_t *bytes, size_t n, struct hvt_dinsn *d)
{
    struct hvt_denc *c = &d->enc;
    const uint8_t *p = bytes, *end = bytes + (n > HVT_INSN_MAX ? HVT_INSN_MAX : n);
    int long64 = mode == HVT_MODE_LONG64;
    unsigned rex = 0, modrm;

    memset(c, 0, sizeof(*c));
    d->mode = (uint8_t)mode;
    d->pfx = 0;
    d->rex = 0;
    d->seg_ovr = 0;
    c->status = HVT_DENC_UNKNOWN;
    for (; p < end; p++) {
        static const uint8_t segs[6] = {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65};
        if (long64 && (*p & 0xf0) == 0x40) {
            /* REX counts only right before the opcode: a later prefix voids it */
            d->rex = *p;
            continue;
        }
        if (!hvt_dec_legacy_prefix(*p))
            break;
        d->rex = 0;
        switch (*p) {
        case 0xf0:
            d->pfx |= HVT_PFX_LOCK;
            continue;
        case 0xf2:
        case 0xf3:
            c->rep = *p;
            continue;
        case 0x66:
            d->pfx |= HVT_PFX_OPSZ;
            continue;
        case 0x67:
            d->pfx |= HVT_PFX_ADSZ;
            continue;
        default:
            break;
        }
        for (unsigned s = 0; s < 6; s++) {
            if (*p != segs[s])
                continue;
            if (long64 && s < HVT_SEG_FS) {
                /* 64-bit mode ignores ES/CS/SS/DS overrides (seen natively: 36 on a
                 * non-canonical [rax] is #GP, 3E on [rbp] still #SS) */
                d->pfx &= (uint8_t)~HVT_PFX_SEG;
            } else {
                d->seg_ovr = (uint8_t)s;
                d->pfx |= HVT_PFX_SEG;
            }
        }
    }
    if (c->rep == 0xf3)
        d->pfx |= HVT_PFX_REP;
    else if (c->rep == 0xf2)
        d->pfx |= HVT_PFX_REPNE;
    if (d->rex)
        d->pfx |= HVT_PFX_REX;
    rex = d->rex;
    c->vw = (rex >> 3) & 1;
    if (long64) {
        d->opsize = (rex & 8) ? 8 : (d->pfx & HVT_PFX_OPSZ) ? 2 : 4;
        d->addrsize = (d->pfx & HVT_PFX_ADSZ) ? 4 : 8;
    } else if (mode == HVT_MODE_PROT32) {
        d->opsize = (d->pfx & HVT_PFX_OPSZ) ? 2 : 4;
        d->addrsize = (d->pfx & HVT_PFX_ADSZ) ? 2 : 4;
    } else {
        d->opsize = (d->pfx & HVT_PFX_OPSZ) ? 4 : 2;
        d->addrsize = (d->pfx & HVT_PFX_ADSZ) ? 4 : 2;
    }
    if (p >= end)
        return c->status;

    if ((*p == 0xc4 || *p == 0xc5) && end - p > 1 && (long64 || (p[1] & 0xc0) == 0xc0)) {
        if (rex || (d->pfx & (HVT_PFX_OPSZ | HVT_PFX_LOCK)) || c->rep)
            return c->status = HVT_DENC_UD;
        if (parse_vex(d, &rex, &p, end))
            return c->status;
    } else if (*p == 0x0f) {
        if (++p >= end)
            return c->status;
        if (*p == 0x38 || *p == 0x3a) {
            c->map = *p == 0x38 ? 3 : 4;
            p++;
        } else if (*p == 0x0f) {
            return c->status; /* 3DNow! */
        } else {
            c->map = 2;
        }
    } else if (long64 && *p == 0x62) {
        return c->status; /* EVEX */
    } else if (*p == 0x8f && end - p > 1 && ((p[1] >> 3) & 7)) {
        return c->status; /* XOP */
    } else {
        c->map = 1;
    }
    if (p >= end)
        return c->status;
    c->opcode = *p++;
    if (c->map == 1)
        modrm = (modrm_map1[c->opcode >> 5] >> (c->opcode & 31)) & 1;
    else if (c->map == 2)
        modrm = !(c->vex && c->opcode == 0x77) && (c->vex || !no_modrm_map2(c->opcode));
    else
        modrm = 1;
    if (modrm) {
        if (parse_modrm(d, rex, &p, end))
            return c->status;
    } else if (c->map == 1 && c->opcode >= 0xa0 && c->opcode <= 0xa3) {
        /* MOV moffs: an absolute offset of the address size */
        int64_t off;
        if (take(&p, end, d->addrsize, &off))
            return c->status;
        c->mem.kind = HVT_DOP_MEM;
        c->mem.base = HVT_DREG_NONE;
        c->mem.index = HVT_DREG_NONE;
        c->mem.scale = 1;
        c->mem.val = off;
        c->has_mem = 1;
    }
    if (c->has_mem) {
        struct hvt_dop *m = &c->mem;
        if (c->vex && c->map == 3 && c->opcode >= 0x90 && c->opcode <= 0x93 && c->has_sib) {
            m->flags |= HVT_DOP_VINDEX; /* gathers: VSIB */
            m->index = c->vindex;
        }
        if (d->pfx & HVT_PFX_SEG)
            m->seg = d->seg_ovr;
        else if (m->base == HVT_RSP || m->base == HVT_RBP)
            m->seg = HVT_SEG_SS;
        else
            m->seg = HVT_SEG_DS;
    }
    c->elen = (uint8_t)(p - bytes);
    return c->status = HVT_DENC_OK;
}

static int is_rel_branch(unsigned id)
{
    switch (id) {
    case X86_INS_JAE:
    case X86_INS_JA:
    case X86_INS_JBE:
    case X86_INS_JB:
    case X86_INS_JCXZ:
    case X86_INS_JECXZ:
    case X86_INS_JE:
    case X86_INS_JGE:
    case X86_INS_JG:
    case X86_INS_JLE:
    case X86_INS_JL:
    case X86_INS_JNE:
    case X86_INS_JNO:
    case X86_INS_JNP:
    case X86_INS_JNS:
    case X86_INS_JO:
    case X86_INS_JP:
    case X86_INS_JRCXZ:
    case X86_INS_JS:
    case X86_INS_LOOP:
    case X86_INS_LOOPE:
    case X86_INS_LOOPNE:
    case X86_INS_JMP:
    case X86_INS_CALL:
        return 1;
    default:
        return 0;
    }
}

static int64_t sext(uint64_t v, unsigned bits)
{
    if (bits >= 64)
        return (int64_t)v;
    uint64_t m = 1ull << (bits - 1);
    v &= (m << 1) - 1;
    return (int64_t)((v ^ m) - m);
}

/* Converts capstone's detail into D. Returns 0 when capstone gave something the decoded form
 * cannot hold (the executor then reports UNIMPLEMENTED). */
static int convert(const cs_insn *ci, enum hvt_emu_mode mode, struct hvt_dinsn *d)
{
    const cs_x86 *x = &ci->detail->x86;
    int long64 = mode == HVT_MODE_LONG64;
    int ok = 1, whole;
    unsigned cs_mem = 0;

    memset(d, 0, sizeof(*d));
    d->id = (uint16_t)ci->id;
    d->len = (uint8_t)ci->size;
    snprintf(d->mnemonic, sizeof(d->mnemonic), "%s", ci->mnemonic);
    /* prefixes, sizes and the ModRM/moffs memory operand from the one parse; capstone's
     * operand list says which operands there are. Its memory detail is kept only for
     * implicit operands (string forms, XLAT) and encodings the parse does not know. */
    whole = hvt_dec_parse(mode, ci->bytes, ci->size, d) == HVT_DENC_OK && d->enc.elen <= ci->size;
    if (whole && d->enc.has_mem)
        for (unsigned i = 0; i < x->op_count && i < 4; i++)
            cs_mem += x->operands[i].type == X86_OP_MEM;

    if (x->op_count > 4)
        return 0;
    d->nops = x->op_count;
    for (unsigned i = 0; i < x->op_count; i++) {
        const cs_x86_op *o = &x->operands[i];
        struct hvt_dop *p = &d->op[i];
        uint8_t high = 0;
        p->size = o->size;
        switch (o->type) {
        case X86_OP_REG:
            p->kind = HVT_DOP_REG;
            if (!map_reg(o->reg, &p->rcls, &p->reg, &high))
                p->rcls = HVT_RC_OTHER;
            if (high)
                p->flags |= HVT_DOP_HIGH8;
            break;
        case X86_OP_IMM:
            p->kind = HVT_DOP_IMM;
            p->val = o->imm;
            break;
        case X86_OP_MEM: {
            int vb = 0, vi = 0, s;
            p->kind = HVT_DOP_MEM;
            d->nmem++;
            if (cs_mem == 1) {
                *p = d->enc.mem;
                p->size = o->size;
                break;
            }
            if (!map_addr_reg(o->mem.base, &p->base, &vb) || vb ||
                !map_addr_reg(o->mem.index, &p->index, &vi) || p->index == HVT_DREG_RIP)
                ok = 0;
            if (vi)
                p->flags |= HVT_DOP_VINDEX;
            p->scale = (uint8_t)(o->mem.scale > 0 ? o->mem.scale : 1);
            p->val = o->mem.disp;
            s = (d->pfx & HVT_PFX_SEG) ? d->seg_ovr : -1;
            if (s < 0)
                s = seg_of_capstone(o->mem.segment);
            if (s < 0)
                s = (p->base == HVT_RSP || p->base == HVT_RBP) ? HVT_SEG_SS : HVT_SEG_DS;
            p->seg = (uint8_t)s;
            break;
        }
        default:
            ok = 0;
            break;
        }
    }

    if (is_rel_branch(d->id) && d->nops == 1 && d->op[0].kind == HVT_DOP_IMM) {
        /* Decoded at address 0: the target capstone shows is len + rel, possibly truncated to
         * the operand size; sign-extending from that width gives rel modulo the width, which
         * is all the executor needs since it truncates targets the same way. */
        unsigned bits = long64 ? 64 : d->opsize * 8u;
        d->rel = sext((uint64_t)d->op[0].val - d->len, bits);
        d->rel_size = x->encoding.imm_size ? x->encoding.imm_size : 1;
    }

    /* LOCK only on the listed read-modify-write instructions with a memory destination;
     * capstone refuses most bad cases, this catches the rest. */
    if ((d->pfx & HVT_PFX_LOCK) &&
        (!lockable(d->id) || d->nops == 0 || d->op[0].kind != HVT_DOP_MEM))
        d->fault = HVT_DF_UD;
    return ok;
}

/* Instructions whose printing reaches capstone's lazily built tables: implicit register
 * operands (IN/OUT, string instructions, the AL/AX/EAX immediate forms, CWDE/CDQ, DIV),
 * memory operands, the stack, system instructions. */
static void capstone_warm(void)
{
    static const uint8_t code[] = {0xec, 0xee, 0xe4, 0x10, 0xe6, 0x10, 0xaa, 0xac, 0xa4, 0xf3,
                                   0xa5, 0xa6, 0xae, 0x6c, 0x6e, 0x3c, 0x01, 0xa8, 0x01, 0x04,
                                   0x01, 0x98, 0x99, 0xf7, 0xf1, 0x8b, 0x03, 0x89, 0x07, 0x50,
                                   0x58, 0x9c, 0x9d, 0x0f, 0xa2, 0x0f, 0x31, 0x87, 0xd8, 0xc3};
    static const cs_mode modes[] = {CS_MODE_16, CS_MODE_32, CS_MODE_64};
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
        for (int detail = 0; detail < 2; detail++) {
            csh h;
            cs_insn *insn = NULL;
            if (cs_open(CS_ARCH_X86, modes[m], &h) != CS_ERR_OK)
                continue;
            cs_option(h, CS_OPT_DETAIL, detail ? CS_OPT_ON : CS_OPT_OFF);
            size_t n = cs_disasm(h, code, sizeof(code), 0, 0, &insn);
            if (n)
                cs_free(insn, n);
            cs_close(&h);
        }
}

void hvt_capstone_once(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, capstone_warm);
}

static csh open_mode(struct hvt_decoder *dec, enum hvt_emu_mode mode)
{
    hvt_capstone_once();
    cs_mode m = mode == HVT_MODE_LONG64   ? CS_MODE_64
                : mode == HVT_MODE_PROT32 ? CS_MODE_32
                                          : CS_MODE_16;
    if (dec->cs[mode])
        return dec->cs[mode];
    if (cs_open(CS_ARCH_X86, m, &dec->cs[mode]) != CS_ERR_OK) {
        dec->cs[mode] = 0;
        return 0;
    }
    cs_option(dec->cs[mode], CS_OPT_DETAIL, CS_OPT_ON);
    dec->csi[mode] = cs_malloc(dec->cs[mode]);
    if (!dec->csi[mode]) {
        cs_close(&dec->cs[mode]);
        dec->cs[mode] = 0;
        return 0;
    }
    return dec->cs[mode];
}

const struct hvt_dinsn *hvt_dec_decode(struct hvt_decoder *dec, enum hvt_emu_mode mode,
                                       const uint8_t *bytes, size_t n, int *cs_err)
{
    const uint8_t *code = bytes;
    size_t size = n > HVT_INSN_MAX ? HVT_INSN_MAX : n;
    uint64_t addr = 0;
    csh h;
    struct dslot *s;
    struct hvt_dinsn tmp;
    uint32_t hsh = HASH_STEP(HASH_SEED, (uint32_t)mode);

    *cs_err = 0;
    if (mode < HVT_MODE_PROT16 || mode > HVT_MODE_LONG64) {
        *cs_err = 1;
        return NULL;
    }
    h = open_mode(dec, mode);
    if (!h) {
        *cs_err = 1;
        return NULL;
    }
    dec->stats.decodes++;
    if (!cs_disasm_iter(h, &code, &size, &addr, dec->csi[mode]))
        return NULL;
    if (!convert(dec->csi[mode], mode, &tmp))
        tmp.fault = HVT_DF_UNREP;
    for (unsigned i = 0; i < tmp.len; i++)
        hsh = HASH_STEP(hsh, bytes[i]);
    s = &dec->slots[hash_fix(hsh) & dec->mask];
    s->hash = dec->use_cache ? hash_fix(hsh) : 0;
    s->mode = (uint8_t)mode;
    s->len = tmp.len;
    memcpy(s->bytes, bytes, tmp.len);
    s->d = tmp;
    return &s->d;
}
