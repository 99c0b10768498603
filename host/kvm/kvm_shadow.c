/* SPDX-License-Identifier: MIT */
/* KVM host: the reference core's shadow run of one pass (live guest RAM, KVM's device access,
 * the event's earlier answers), and the reconstruction of pre-instruction states. */
#include <string.h>

#include "kvm_int.h"

static int in_ram(const struct kvcpu *c, uint64_t gpa, uint32_t size)
{
    return gpa < c->k->vm.ram_bytes && size <= c->k->vm.ram_bytes - gpa;
}

/* Guest RAM as it is now, with this run's own writes on top (they never reach the guest: KVM
 * made the real ones). */
static void sb_read(struct kvcpu *c, uint64_t gpa, uint8_t *buf, uint32_t size)
{
    memcpy(buf, c->k->vm.ram + gpa, size);
    for (unsigned i = 0; i < c->n_sb; i++) {
        const struct kvm_sbe *e = &c->sb[i];
        uint64_t lo = e->gpa > gpa ? e->gpa : gpa;
        uint64_t hi = e->gpa + e->size < gpa + size ? e->gpa + e->size : gpa + size;
        for (uint64_t a = lo; a < hi; a++)
            buf[a - gpa] = e->data[a - e->gpa];
    }
}

static int sb_add(struct kvcpu *c, uint64_t gpa, const void *buf, uint32_t size)
{
    if (c->n_sb >= KVM_SB_MAX)
        return HVT_OP_UNHANDLEABLE;
    c->sb[c->n_sb].gpa = gpa;
    c->sb[c->n_sb].size = size;
    memcpy(c->sb[c->n_sb].data, buf, size);
    c->n_sb++;
    return HVT_OP_OKAY;
}

static void record(struct kvcpu *c, uint8_t kind, uint8_t space, const struct hvt_op_info *info,
                   uint64_t phys, uint32_t size, const void *data, const void *old, const void *cur,
                   int outcome, int reconstructed)
{
    struct hvt_access a;
    if (!c->recording || !c->k->rec)
        return;
    memset(&a, 0, sizeof(a));
    a.kind = kind;
    a.space = space;
    a.seg = info->seg;
    a.outcome = (uint8_t)outcome;
    a.tag = info->tag;
    a.size = size;
    a.flags = (info->flags & (HVT_AF_LINEAR_VALID | HVT_AF_LOCKED | HVT_AF_SPLIT)) |
              (reconstructed ? HVT_AF_RECONSTRUCTED : 0);
    a.linear = info->linear;
    a.phys = phys;
    if (data)
        memcpy(a.data, data, size);
    if (old)
        memcpy(a.old, old, size);
    if (cur)
        memcpy(a.cur, cur, size);
    if (hvt_rec_access(c->k->rec, c->id, &a) == 0)
        c->n_acc++;
}

/* A device access of the shadow run: the event's earlier answers first (KVM serves those from
 * its own read cache without an exit), then the one access KVM exited for, then RETRY. */
static int device(struct kvcpu *c, int port, int write, uint64_t addr, void *buf, uint32_t size,
                  struct hvt_op_info *info)
{
    uint8_t kind =
        port ? (write ? HVT_ACC_IO_OUT : HVT_ACC_IO_IN) : (write ? HVT_ACC_WRITE : HVT_ACC_READ);
    uint8_t space = port ? HVT_SPACE_PORT : HVT_SPACE_MMIO;
    unsigned k = c->ans_idx++;
    info->space = space;
    if (size > 8) {
        c->shadow_extra = 1;
        return HVT_OP_UNHANDLEABLE;
    }
    if (k < c->n_ans) {
        const struct kvm_devacc *a = &c->ans[k];
        if (a->port != port || a->write != write || a->addr != addr || a->size != size)
            c->shadow_extra = 1;
        if (!write)
            memcpy(buf, a->data, size);
        record(c, kind, space, info, addr, size, write ? buf : a->data, NULL, NULL, HVT_OP_OKAY, 1);
        return HVT_OP_OKAY;
    }
    if (c->obs_valid && !c->obs_used) {
        const struct kvm_devacc *o = &c->obs;
        uint8_t okind = o->port ? (o->write ? HVT_ACC_IO_OUT : HVT_ACC_IO_IN)
                                : (o->write ? HVT_ACC_WRITE : HVT_ACC_READ);
        struct hvt_op_info oi = *info;
        c->obs_used = 1;
        c->obs_matched = o->port == port && o->write == write && o->addr == addr &&
                         o->size == size && (!write || !memcmp(o->data, buf, size));
        if (!c->obs_matched)
            oi.flags &= (uint8_t)~HVT_OPF_LINEAR_VALID; /* the core's address is not KVM's */
        /* KVM's access as KVM reported it */
        record(c, okind, o->port ? HVT_SPACE_PORT : HVT_SPACE_MMIO, &oi, o->addr, o->size,
               o->write ? o->data : NULL, NULL, NULL, o->write ? HVT_OP_OKAY : HVT_OP_RETRY, 0);
        if (o->write)
            return HVT_OP_OKAY;
        return HVT_OP_RETRY;
    }
    /* past what KVM did at this exit: where KVM stopped too (the next REP iteration) */
    record(c, kind, space, info, addr, size, write ? buf : NULL, NULL, NULL, HVT_OP_RETRY, 1);
    if (!c->obs_valid || !c->obs_used)
        c->shadow_extra = 1;
    return HVT_OP_RETRY;
}

static int sh_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct kvcpu *c = ctx;
    if (in_ram(c, gpa, size)) {
        info->space = HVT_SPACE_RAM;
        sb_read(c, gpa, buf, size);
        record(c, info->kind == HVT_ACC_FETCH ? HVT_ACC_FETCH : HVT_ACC_READ, HVT_SPACE_RAM, info,
               gpa, size, buf, NULL, NULL, HVT_OP_OKAY, 1);
        return HVT_OP_OKAY;
    }
    if (hvt_host_in_mmio(gpa, size))
        return device(c, 0, 0, gpa, buf, size, info);
    return HVT_OP_UNHANDLEABLE;
}

static int sh_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                    struct hvt_op_info *info)
{
    struct kvcpu *c = ctx;
    if (in_ram(c, gpa, size)) {
        info->space = HVT_SPACE_RAM;
        record(c, HVT_ACC_WRITE, HVT_SPACE_RAM, info, gpa, size, buf, NULL, NULL, HVT_OP_OKAY, 1);
        return sb_add(c, gpa, buf, size);
    }
    if (hvt_host_in_mmio(gpa, size))
        return device(c, 0, 1, gpa, (void *)(uintptr_t)buf, size, info);
    return HVT_OP_UNHANDLEABLE;
}

static int sh_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                      struct hvt_op_info *info)
{
    struct kvcpu *c = ctx;
    uint8_t cur[HVT_DATA_MAX], expect[HVT_DATA_MAX];
    if (!in_ram(c, gpa, size))
        return HVT_OP_UNHANDLEABLE; /* a locked access to a device: KVM would not emulate it */
    info->space = HVT_SPACE_RAM;
    memcpy(expect, old, size);
    sb_read(c, gpa, cur, size);
    if (memcmp(cur, old, size)) {
        memcpy(old, cur, size);
        record(c, HVT_ACC_CMPXCHG, HVT_SPACE_RAM, info, gpa, size, new_, expect, cur,
               HVT_OP_CMPXCHG_FAILED, 1);
        return HVT_OP_CMPXCHG_FAILED;
    }
    record(c, HVT_ACC_CMPXCHG, HVT_SPACE_RAM, info, gpa, size, new_, expect, expect, HVT_OP_OKAY,
           1);
    return sb_add(c, gpa, new_, size);
}

static int sh_in(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info)
{
    return device(ctx, 1, 0, port, buf, size, info);
}

static int sh_out(void *ctx, uint16_t port, const void *buf, uint32_t size,
                  struct hvt_op_info *info)
{
    return device(ctx, 1, 1, port, (void *)(uintptr_t)buf, size, info);
}

static const struct hvt_core_ops shadow_ops = {
    .size = sizeof(struct hvt_core_ops),
    .read = sh_read,
    .write = sh_write,
    .cmpxchg = sh_cmpxchg,
    .io_in = sh_in,
    .io_out = sh_out,
};

int hvt_kvm_shadow(struct kvcpu *c, const struct hvt_vcpu_state *from, struct hvt_vcpu_state *end,
                   struct hvt_core_result *res, int record_it)
{
    *end = *from;
    c->ans_idx = 0;
    c->obs_used = c->obs_matched = c->shadow_extra = 0;
    c->n_sb = 0;
    c->recording = record_it;
    memset(res, 0, sizeof(*res));
    return hvt_core_emulate(c->core, end, &shadow_ops, c, res);
}

/* The GPRs, RIP and RFLAGS (less RF, which KVM sets at a mid-REP exit) of A and B agree. */
static int same_regs(const struct hvt_vcpu_state *a, const struct hvt_vcpu_state *b)
{
    return !memcmp(a->gpr, b->gpr, sizeof(a->gpr)) && a->rip == b->rip &&
           ((a->rflags ^ b->rflags) & ~HVT_RFLAGS_RF) == 0;
}

/* A candidate start: the core re-runs it into KVM's exit state with KVM's write. The GPRs the
 * instruction moves (RSI, RDI, RCX, RSP) are solved for: they change by a fixed amount. */
static int try_start(struct kvcpu *c, uint64_t rip, unsigned len, struct hvt_vcpu_state *pre)
{
    struct hvt_vcpu_state p = c->S, e;
    struct hvt_core_result res;
    c->n_ans = 0;
    p.rip = rip;
    p.rflags &= ~HVT_RFLAGS_RF;
    if (!len)
        p.gpr[HVT_RCX]++; /* a REP iteration was done: at least one more was to do */
    for (int round = 0; round < 3; round++) {
        if (hvt_kvm_shadow(c, &p, &e, &res, 0) < 0)
            return 0;
        if (len && res.insn_len != len)
            return 0;
        if (res.out.kind != HVT_OUT_OKAY && res.out.kind != HVT_OUT_RETRY)
            return 0;
        if (c->obs_used && c->obs_matched && !c->shadow_extra &&
            (same_regs(&e, &c->S) ||
             /* the last REP iteration: the core leaves the REP, KVM stays at it with count 0 */
             (!len && e.rip == c->S.rip + res.insn_len && c->S.gpr[HVT_RCX] == 0 &&
              !memcmp(e.gpr, c->S.gpr, sizeof(e.gpr))))) {
            *pre = p;
            return 1;
        }
        if (!memcmp(e.gpr, p.gpr, sizeof(p.gpr)) && round)
            return 0;
        for (unsigned i = 0; i < 16; i++)
            p.gpr[i] += c->S.gpr[i] - e.gpr[i];
    }
    return 0;
}

int hvt_kvm_reconstruct(struct kvcpu *c, struct hvt_vcpu_state *pre)
{
    c->obs_valid = 1; /* every candidate must make KVM's write */
    /* a REP iteration: KVM stays at the instruction, with RF set */
    if ((c->S.rflags & HVT_RFLAGS_RF) && try_start(c, c->S.rip, 0, pre))
        return 1;
    for (unsigned len = 1; len <= HVT_INSN_MAX; len++) {
        if (c->S.rip < len)
            break;
        if (try_start(c, c->S.rip - len, len, pre))
            return 1;
    }
    return 0;
}
