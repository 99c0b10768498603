/* SPDX-License-Identifier: MIT */
/* Reference core: port I/O: IN/OUT, and the I/O permission check that INS/OUTS share. */
#include "exec_io.h"

#include <assert.h>
#include <capstone/capstone.h>
#include <string.h>

#include "exec.h"
#include "mmu.h"

/* Reads the 2 bytes at TSS offset OFF as an implicit supervisor access (the CPU reads the TSS
 * with CPL 0 rights whatever the CPL), tagged DESC with operand index WHICH. */
static int tss_read16(struct hvt_emu *e, uint32_t off, unsigned which, uint16_t *v)
{
    struct hvt_mmu_xlat xl;
    uint16_t b = 0;
    int r = hvt_mmu_map(e, HVT_SEG_TR, off, 2, HVT_MMU_R | HVT_MMU_IMPLICIT, 0, &xl);
    if (r)
        return r;
    r = hvt_mmu_read(e, &xl, &b, hvt_mktag(HVT_TAG_DESC, which, 0, 0));
    *v = b; /* little-endian host */
    return r;
}

int hvt_io_check(struct hvt_emu *e, uint16_t port, unsigned size)
{
    const struct hvt_segment *tr = &e->st->seg[HVT_SEG_TR];
    unsigned type = HVT_SEG_ATTR_TYPE(tr->attr);
    uint16_t base = 0, bits = 0;
    uint32_t off;
    int r;

    assert(size == 1 || size == 2 || size == 4);
    if (e->cpl <= ((e->st->rflags >> 12) & 3))
        return HVT_OUT_OKAY;
    /* only a 32/64-bit TSS has an I/O map base; a 16-bit TSS (types 1/3) or anything else in
     * TR denies every port */
    if ((tr->attr & (HVT_SEG_ATTR_UNUSABLE | HVT_SEG_ATTR_S)) || !(tr->attr & HVT_SEG_ATTR_P) ||
        (type != 9 && type != 11) || tr->limit < HVT_TSS_MIN_LIMIT)
        return hvt_emu_raise(e, HVT_VEC_GP, 1, 0, 0);
    r = tss_read16(e, HVT_TSS_IOMAP_BASE, HVT_IO_DESC_MAPBASE, &base);
    if (r)
        return r;
    /* the CPU reads the 2 bytes starting at the port's byte, whatever SIZE is; both must lie
     * within the limit (a map base at or beyond the limit leaves no bitmap: every port denied) */
    off = (uint32_t)base + port / 8u;
    if ((uint64_t)off + 1 > tr->limit)
        return hvt_emu_raise(e, HVT_VEC_GP, 1, 0, 0);
    r = tss_read16(e, off, HVT_IO_DESC_BITMAP, &bits);
    if (r)
        return r;
    if ((bits >> (port & 7)) & ((1u << size) - 1))
        return hvt_emu_raise(e, HVT_VEC_GP, 1, 0, 0);
    return HVT_OUT_OKAY;
}

int hvt_io_port(struct hvt_emu *e, int in, uint16_t port, void *buf, unsigned size, uint32_t elem)
{
    struct hvt_op_info info;
    int r;
    memset(&info, 0, sizeof(info));
    info.tag = hvt_mktag(HVT_TAG_IO, 0, 0, elem);
    info.kind = in ? HVT_ACC_IO_IN : HVT_ACC_IO_OUT;
    info.seg = HVT_SEG_NONE;
    info.space = HVT_SPACE_PORT;
    if (in)
        r = e->ops->io_in(e->opctx, port, buf, size, &info);
    else
        r = e->ops->io_out(e->opctx, port, buf, size, &info);
    return r == HVT_OP_OKAY ? HVT_OUT_OKAY : hvt_emu_op_status(e, r, &info);
}

/* IN/OUT: E4-E7 take the port from an imm8, EC-EF from DX; odd opcodes move eAX (16 or 32 bits
 * by the operand size: REX.W does not make them 64-bit), even ones AL; bit 1 says OUT. The
 * instruction ends with the opcode (DX forms) or opcode + imm8, and no prefix is E4-E7, so the
 * bytes say the form without relying on capstone's operand detail. */
int hvt_exec_io(struct hvt_x *x)
{
    const uint8_t *b = x->e.res->insn;
    unsigned len = x->d->len, op, size;
    uint16_t port;
    uint64_t v = 0;
    int r, in;

    if (x->d->id != X86_INS_IN && x->d->id != X86_INS_OUT)
        return -1;
    if (len >= 2 && b[len - 2] >= 0xe4 && b[len - 2] <= 0xe7) {
        op = b[len - 2];
        port = b[len - 1];
    } else if (len >= 1 && b[len - 1] >= 0xec && b[len - 1] <= 0xef) {
        op = b[len - 1];
        port = (uint16_t)x->st->gpr[HVT_RDX];
    } else {
        return hvt_x_unimpl(x, "form");
    }
    in = !(op & 2);
    size = !(op & 1) ? 1 : x->d->opsize == 2 ? 2 : 4;
    /* permission before any port access: a denied port never reaches the device */
    r = hvt_io_check(&x->e, port, size);
    if (r)
        return r;
    if (!in)
        v = x->st->gpr[HVT_RAX] & hvt_szmask(size);
    r = hvt_io_port(&x->e, in, port, &v, size, 0);
    if (r)
        return r; /* RETRY: nothing written, the pass re-executes from the same state */
    if (in)
        hvt_x_set_gpr(x, HVT_RAX, size, v); /* AL/AX merge, EAX zero-extends into RAX */
    return HVT_OUT_OKAY;
}
