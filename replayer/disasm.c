/* SPDX-License-Identifier: MIT */
/* Replayer: capstone disassembly of an event's instruction, for reports and summaries. */
#include <stdio.h>
#include <string.h>

#include "core/decode.h"
#include "internal.h"

/* 0 = 16-bit, 1 = 32-bit, 2 = 64-bit, from CS and EFER.LMA as the CPU decides it. */
static int mode_of(const struct hvt_vcpu_state *st)
{
    uint32_t cs = st->seg[HVT_SEG_CS].attr;
    if (!(st->cr0 & 1))
        return 0;
    if ((st->efer & (1ull << 10)) && (cs & HVT_SEG_ATTR_L))
        return 2;
    return (cs & HVT_SEG_ATTR_DB) ? 1 : 0;
}

void hvt_rpl_disasm_close(struct rpl_disasm *d)
{
    if (d->insn)
        cs_free(d->insn, 1);
    for (int i = 0; i < 3; i++)
        if (d->open[i])
            cs_close(&d->h[i]);
    memset(d, 0, sizeof(*d));
}

int hvt_rpl_disasm_ctx(struct rpl_disasm *d, const struct hvt_vcpu_state *st, const uint8_t *insn,
               size_t len, char *mnem, size_t mlen, char *text, size_t tlen)
{
    static const cs_mode modes[3] = {CS_MODE_16, CS_MODE_32, CS_MODE_64};
    const uint8_t *code = insn;
    uint64_t addr = st->rip;
    size_t size = len;
    int m = mode_of(st);

    if (mlen)
        snprintf(mnem, mlen, "?");
    if (tlen)
        text[0] = 0;
    if (!len || len > HVT_INSN_MAX)
        return -HVT_E_UNSUPPORTED;
    if (!d->open[m]) {
        hvt_capstone_once(); /* capstone's first uses, once per process */
        if (cs_open(CS_ARCH_X86, modes[m], &d->h[m]) != CS_ERR_OK)
            return -HVT_E_UNSUPPORTED;
        d->open[m] = 1;
    }
    if (!d->insn) {
        d->insn = cs_malloc(d->h[m]);
        if (!d->insn)
            return -HVT_E_NOMEM;
    }
    if (!cs_disasm_iter(d->h[m], &code, &size, &addr, d->insn))
        return -HVT_E_UNSUPPORTED;
    if (mlen)
        snprintf(mnem, mlen, "%s", d->insn->mnemonic);
    if (tlen)
        snprintf(text, tlen, "%s%s%s", d->insn->mnemonic, d->insn->op_str[0] ? " " : "",
                 d->insn->op_str);
    return 0;
}

int hvt_rpl_disasm(const struct hvt_vcpu_state *state, const uint8_t *insn, size_t len, char *mnem,
                   size_t mlen, char *text, size_t tlen)
{
    struct rpl_disasm d;
    int rc;
    if (!state || (!insn && len))
        return -HVT_E_INVALID;
    memset(&d, 0, sizeof(d));
    rc = hvt_rpl_disasm_ctx(&d, state, insn, len, mnem, mlen, text, tlen);
    hvt_rpl_disasm_close(&d);
    return rc;
}
