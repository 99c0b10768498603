/* SPDX-License-Identifier: MIT */
/* A core on the services only (tests of the core services): "mov eax, [rbx]" (8b 03), "mov
 * [rbx], eax" (89 03), "stosb" (aa) and "out dx, al" (ee) in 64-bit mode, each through one
 * service call, with a one-byte-at-a-time fetch. What it does through the services must be
 * what the reference core does through its MMU. */
#include <string.h>

#include "hvtrace/core.h"

static int create(void **inst)
{
    static int dummy;
    *inst = &dummy;
    return 0;
}
static void destroy(void *inst)
{
    (void)inst;
}
static int set_option(void *inst, const char *k, const char *v)
{
    (void)inst;
    (void)v;
    return strcmp(k, "cpu") ? -HVT_E_UNSUPPORTED : 0;
}
static int emulate(void *inst, struct hvt_vcpu_state *s, const struct hvt_core_ops *o, void *c,
                   struct hvt_core_result *r)
{
    (void)inst, (void)s, (void)o, (void)c;
    r->out.kind = HVT_OUT_UNIMPLEMENTED;
    return 0;
}

static int emulate2(void *inst, struct hvt_vcpu_state *st, struct hvt_core_env *env,
                    const struct hvt_core_ops *ops, void *ctx, struct hvt_core_result *res)
{
    const struct hvt_core_services *sv = env->svc;
    struct hvt_svc *s = env->session;
    struct hvt_tag data = {HVT_TAG_DATA, 0, 0, 0, 0};
    uint8_t b[2];
    uint32_t v;
    (void)inst, (void)ops, (void)ctx;
    if (sv->mode_bits(s) != 64)
        return sv->raise(s, HVT_VEC_UD, 0, 0, 0), 0;
    if (sv->fetch(s, 0, b, 1))
        return 0;
    switch (b[0]) {
    case 0x8b:
    case 0x89:
        if (sv->fetch(s, 1, b + 1, 1))
            return 0;
        if (b[1] != 0x03)
            break;
        if (b[0] == 0x8b) {
            if (sv->read(s, HVT_SEG_DS, st->gpr[HVT_RBX], &v, 4, 0, 0, data))
                return 0;
            st->gpr[HVT_RAX] = v;
        } else {
            v = (uint32_t)st->gpr[HVT_RAX];
            if (sv->write(s, HVT_SEG_DS, st->gpr[HVT_RBX], &v, 4, 0, 0, data))
                return 0;
        }
        st->rip += 2;
        res->out.kind = HVT_OUT_OKAY;
        return 0;
    case 0xaa:
        b[1] = (uint8_t)st->gpr[HVT_RAX];
        if (sv->write(s, HVT_SEG_ES, st->gpr[HVT_RDI], b + 1, 1, 0, 0, data))
            return 0;
        st->gpr[HVT_RDI] += (st->rflags & HVT_RFLAGS_DF) ? -1 : 1;
        st->rip += 1;
        res->out.kind = HVT_OUT_OKAY;
        return 0;
    case 0xee:
        b[1] = (uint8_t)st->gpr[HVT_RAX];
        if (sv->io_check(s, (uint16_t)st->gpr[HVT_RDX], 1) ||
            sv->io_out(s, (uint16_t)st->gpr[HVT_RDX], b + 1, 1, 0))
            return 0;
        st->rip += 1;
        res->out.kind = HVT_OUT_OKAY;
        return 0;
    }
    res->out.kind = HVT_OUT_UNIMPLEMENTED;
    return 0;
}

static const struct hvt_core_plugin desc = {
    .abi_version = HVT_CORE_ABI_VERSION,
    .size = sizeof(struct hvt_core_plugin),
    .name = "svc-probe",
    .version = "0",
    .build_id = "svc-probe-0",
    .create = create,
    .destroy = destroy,
    .set_option = set_option,
    .emulate = emulate,
    .flags = HVT_COREF_LINEAR,
    .emulate2 = emulate2,
};

const struct hvt_core_plugin *hvt_core_entry(uint32_t abi_version);
const struct hvt_core_plugin *hvt_core_entry(uint32_t abi_version)
{
    return abi_version == 2 ? &desc : NULL;
}
