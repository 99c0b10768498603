/* SPDX-License-Identifier: MIT */
/* Reference core decoder: capstone (x86, detail mode) front end and the decoded-insn cache. */
#include "decode.h"

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

/* Legacy prefixes and REX from the raw bytes (capstone reports one prefix per group; the
 * executor needs which of F2/F3 came last and the segment override in every mode). */
static void scan_prefixes(struct hvt_dinsn *d, const uint8_t *b, size_t len, int long64)
{
    int last_rep = 0;
    for (size_t i = 0; i < len; i++) {
        switch (b[i]) {
        case 0xf0:
            d->pfx |= HVT_PFX_LOCK;
            continue;
        case 0xf2:
            last_rep = 2;
            continue;
        case 0xf3:
            last_rep = 3;
            continue;
        case 0x66:
            d->pfx |= HVT_PFX_OPSZ;
            continue;
        case 0x67:
            d->pfx |= HVT_PFX_ADSZ;
            continue;
        case 0x26:
            d->seg_ovr = HVT_SEG_ES;
            d->pfx |= HVT_PFX_SEG;
            continue;
        case 0x2e:
            d->seg_ovr = HVT_SEG_CS;
            d->pfx |= HVT_PFX_SEG;
            continue;
        case 0x36:
            d->seg_ovr = HVT_SEG_SS;
            d->pfx |= HVT_PFX_SEG;
            continue;
        case 0x3e:
            d->seg_ovr = HVT_SEG_DS;
            d->pfx |= HVT_PFX_SEG;
            continue;
        case 0x64:
            d->seg_ovr = HVT_SEG_FS;
            d->pfx |= HVT_PFX_SEG;
            continue;
        case 0x65:
            d->seg_ovr = HVT_SEG_GS;
            d->pfx |= HVT_PFX_SEG;
            continue;
        default:
            break;
        }
        if (long64 && (b[i] & 0xf0) == 0x40) {
            /* REX counts only right before the opcode; a later legacy prefix voids it. */
            if (i + 1 < len && ((b[i + 1] & 0xf0) == 0x40 || b[i + 1] == 0x66 || b[i + 1] == 0x67 ||
                                b[i + 1] == 0xf0 || b[i + 1] == 0xf2 || b[i + 1] == 0xf3 ||
                                b[i + 1] == 0x26 || b[i + 1] == 0x2e || b[i + 1] == 0x36 ||
                                b[i + 1] == 0x3e || b[i + 1] == 0x64 || b[i + 1] == 0x65))
                continue;
            d->rex = b[i];
            d->pfx |= HVT_PFX_REX;
        }
        break;
    }
    if (last_rep == 3)
        d->pfx |= HVT_PFX_REP;
    else if (last_rep == 2)
        d->pfx |= HVT_PFX_REPNE;
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
    int ok = 1;

    memset(d, 0, sizeof(*d));
    d->id = (uint16_t)ci->id;
    d->len = (uint8_t)ci->size;
    d->mode = (uint8_t)mode;
    snprintf(d->mnemonic, sizeof(d->mnemonic), "%s", ci->mnemonic);
    scan_prefixes(d, ci->bytes, ci->size, long64);
    if (long64)
        d->opsize = (d->rex & 8) ? 8 : (d->pfx & HVT_PFX_OPSZ) ? 2 : 4;
    else if (mode == HVT_MODE_PROT32)
        d->opsize = (d->pfx & HVT_PFX_OPSZ) ? 2 : 4;
    else
        d->opsize = (d->pfx & HVT_PFX_OPSZ) ? 4 : 2;
    if (long64)
        d->addrsize = (d->pfx & HVT_PFX_ADSZ) ? 4 : 8;
    else if (mode == HVT_MODE_PROT32)
        d->addrsize = (d->pfx & HVT_PFX_ADSZ) ? 2 : 4;
    else
        d->addrsize = (d->pfx & HVT_PFX_ADSZ) ? 4 : 2;

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

static csh open_mode(struct hvt_decoder *dec, enum hvt_emu_mode mode)
{
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
