/* SPDX-License-Identifier: MIT */
/* Fuzz target for the reference core's decoder, whose input is guest memory: instruction
 * bytes in 16-, 32- and 64-bit mode. The byte-level parse never reads past the bytes it is
 * given and reads every memory operand as capstone does (aborting when they differ); the
 * decoder (capstone and the parse into the cached decoded form) accepts any bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "parse_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const cs_mode modes[3] = {CS_MODE_16, CS_MODE_32, CS_MODE_64};
    static csh h[3];
    static cs_insn *ci[3];
    static struct hvt_decoder *dec;
    size_t n = size < HVT_INSN_MAX ? size : HVT_INSN_MAX;
    uint8_t b[HVT_INSN_MAX];

    if (!n)
        return 0;
    if (!dec) {
        dec = hvt_dec_new(64);
        for (unsigned m = 0; m < 3; m++) {
            if (cs_open(CS_ARCH_X86, modes[m], &h[m]) != CS_ERR_OK)
                abort();
            cs_option(h[m], CS_OPT_DETAIL, CS_OPT_ON);
            ci[m] = cs_malloc(h[m]);
        }
        if (!dec || !ci[0] || !ci[1] || !ci[2])
            abort();
    }
    memcpy(b, data, n); /* exactly N bytes: ASan sees a read past them */
    for (unsigned m = 0; m < 3; m++) {
        enum hvt_emu_mode mode = (enum hvt_emu_mode)(HVT_MODE_PROT16 + m);
        struct hvt_dinsn d;
        const struct hvt_dinsn *dd;
        uint8_t *heap = malloc(n);
        enum pc_result r;
        int err;
        if (!heap)
            abort();
        memcpy(heap, b, n);
        memset(&d, 0, sizeof(d));
        if (hvt_dec_parse(mode, heap, n, &d) == HVT_DENC_OK && d.enc.elen > n)
            abort();
        if (d.enc.has_mem && (d.enc.mem.base > 15 && d.enc.mem.base != HVT_DREG_NONE &&
                              d.enc.mem.base != HVT_DREG_RIP))
            abort();
        r = pc_check(h[m], ci[m], mode, heap, n, NULL, 0);
        if (r == PC_DIFFER || r == PC_NOTWHOLE)
            abort();
        dd = hvt_dec_decode(dec, mode, heap, n, &err);
        if (dd && (dd->len > n || dd->nops > 4))
            abort();
        free(heap);
    }
    return 0;
}
