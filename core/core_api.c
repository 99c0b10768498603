/* SPDX-License-Identifier: MIT */
/* Core ABI, host side: open the built-in reference core or a plugin by path, drive it. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sized.h"

#include "hvtrace/core.h"
#include "common/cpu_state.h"
#include "ref.h"
#include "services.h"

struct hvt_core {
    const struct hvt_core_plugin *p; /* &desc */
    struct hvt_core_plugin desc;     /* the plugin's descriptor, in this library's layout */
    void *inst;
    void *dl;                     /* dlopen handle, NULL for the built-in core */
    unsigned abi;                 /* the core ABI version the plugin was loaded with */
    struct hvt_ref_opts svc_opts; /* what the services follow: the core's CPU profile */
};

static int fail(int err, char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int err, char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return -err;
}

static int is_path(const char *s)
{
    size_t n = strlen(s);
    return strchr(s, '/') || (n >= 3 && !strcmp(s + n - 3, ".so"));
}

/* Checks what a plugin's entry returned when asked for version ASKED; 0 or -HVT_E_BAD_PLUGIN
 * with detail. */
static int check_plugin(const struct hvt_core_plugin *p, uint32_t asked, const char *what,
                        char *errbuf, size_t errlen)
{
    if (!p)
        return fail(HVT_E_BAD_PLUGIN, errbuf, errlen,
                    "%s: %s returned NULL for every core ABI version from %u down to %u", what,
                    HVT_CORE_ENTRY_SYMBOL, HVT_CORE_ABI_VERSION, HVT_CORE_ABI_VERSION_MIN);
    if (p->abi_version != asked)
        return fail(HVT_E_BAD_PLUGIN, errbuf, errlen,
                    "%s: asked for core ABI version %u, the plugin answered version %u", what,
                    asked, p->abi_version);
    if (p->size < HVT_CORE_PLUGIN_SIZE_V1)
        return fail(HVT_E_BAD_PLUGIN, errbuf, errlen,
                    "%s: plugin descriptor of %u bytes, at least %u expected", what, p->size,
                    HVT_CORE_PLUGIN_SIZE_V1);
    if (p->abi_version >= 2 && p->size < HVT_CORE_PLUGIN_SIZE_V2)
        return fail(HVT_E_BAD_PLUGIN, errbuf, errlen,
                    "%s: a version-2 plugin descriptor of %u bytes, at least %u expected", what,
                    p->size, HVT_CORE_PLUGIN_SIZE_V2);
    /* a version-2 core may implement emulate2 alone */
    if (!p->create || !p->destroy || !p->set_option ||
        !(p->emulate || (p->abi_version >= 2 && p->emulate2)))
        return fail(HVT_E_BAD_PLUGIN, errbuf, errlen,
                    "%s: plugin descriptor lacks functions: %s (create, destroy, set_option "
                    "and emulate%s are required)",
                    what,
                    !p->create            ? "create"
                    : !p->destroy         ? "destroy"
                    : !p->set_option      ? "set_option"
                    : p->abi_version >= 2 ? "emulate and emulate2"
                                          : "emulate",
                    p->abi_version >= 2 ? " or emulate2" : "");
    return 0;
}

/* Asks ENTRY for the newest core ABI version it implements. */
static const struct hvt_core_plugin *negotiate(hvt_core_entry_fn entry, uint32_t *asked)
{
    for (uint32_t v = HVT_CORE_ABI_VERSION;; v--) {
        const struct hvt_core_plugin *p = entry(v);
        *asked = v;
        if (p || v == HVT_CORE_ABI_VERSION_MIN)
            return p;
    }
}

int hvt_core_open(struct hvt_core **out, const char *name_or_path, char *errbuf, size_t errlen)
{
    const struct hvt_core_plugin *p;
    void *dl = NULL;
    struct hvt_core *c;
    uint32_t asked = HVT_CORE_ABI_VERSION;
    int rc;

    if (errbuf && errlen)
        errbuf[0] = 0;
    if (!out)
        return fail(HVT_E_INVALID, errbuf, errlen, "no output pointer");
    *out = NULL;
    if (!name_or_path || !strcmp(name_or_path, HVT_CORE_REF)) {
        p = hvt_core_ref();
    } else if (is_path(name_or_path)) {
        hvt_core_entry_fn entry;
        if (access(name_or_path, F_OK))
            return fail(HVT_E_NOT_FOUND, errbuf, errlen, "%s: no such file", name_or_path);
        dl = dlopen(name_or_path, RTLD_NOW | RTLD_LOCAL);
        if (!dl)
            return fail(HVT_E_BAD_PLUGIN, errbuf, errlen, "%s", dlerror());
        dlerror();
        entry = (hvt_core_entry_fn)dlsym(dl, HVT_CORE_ENTRY_SYMBOL);
        if (!entry) {
            const char *e = dlerror();
            rc = fail(HVT_E_BAD_PLUGIN, errbuf, errlen, "%s", e ? e : "no entry symbol");
            dlclose(dl);
            return rc;
        }
        p = negotiate(entry, &asked);
        if ((rc = check_plugin(p, asked, name_or_path, errbuf, errlen))) {
            dlclose(dl);
            return rc;
        }
    } else {
        return fail(HVT_E_NOT_FOUND, errbuf, errlen,
                    "no core named '%s' (use '%s' or a path to a .so)", name_or_path, HVT_CORE_REF);
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        if (dl)
            dlclose(dl);
        return fail(HVT_E_NOMEM, errbuf, errlen, "out of memory");
    }
    /* an older, smaller descriptor is read through a copy whose missing tail is zero; one of
     * this layout or a newer one (whose extra fields this library cannot use) in place */
    if (p->size < sizeof(c->desc) || p->abi_version < 2) {
        memcpy(&c->desc, p, p->size < sizeof(c->desc) ? p->size : sizeof(c->desc));
        c->desc.size = sizeof(c->desc);
        if (p->abi_version < 2) { /* whatever follows a version-1 descriptor is not ours */
            c->desc.flags = 0;
            c->desc.emulate2 = NULL;
        }
        p = &c->desc;
    }
    c->p = p;
    c->dl = dl;
    c->abi = p->abi_version;
    hvt_cpu_profile_default(&c->svc_opts.cpu);
    hvt_cpu_state_forbidden(&c->svc_opts.cpu, &c->svc_opts.cr4_forbid, &c->svc_opts.efer_forbid);
    rc = p->create(&c->inst);
    if (rc < 0) {
        /* the message first: the name lives in the plugin and in C */
        int err = fail(rc == -HVT_E_NOMEM ? HVT_E_NOMEM : HVT_E_BAD_PLUGIN, errbuf, errlen,
                       "core '%s': create failed: %s", p->name ? p->name : "?", hvt_strerror(rc));
        if (dl)
            dlclose(dl);
        free(c);
        return err;
    }
    *out = c;
    return 0;
}

void hvt_core_close(struct hvt_core *c)
{
    if (!c)
        return;
    c->p->destroy(c->inst);
    if (c->dl)
        dlclose(c->dl);
    free(c);
}

const struct hvt_core_plugin *hvt_core_info(const struct hvt_core *c)
{
    return c ? c->p : NULL;
}

int hvt_core_stats(const struct hvt_core *c, struct hvt_core_stats *out)
{
    struct hvt_dec_stats d;
    if (!c || !out)
        return -HVT_E_INVALID;
    memset(out, 0, sizeof(*out));
    if (c->dl || c->p != hvt_core_ref())
        return -HVT_E_UNSUPPORTED; /* a plugin's instance layout is its own */
    hvt_ref_dec_stats(c->inst, &d);
    out->decode_hits = d.hits;
    out->decode_misses = d.misses;
    return 0;
}

int hvt_core_set_option(struct hvt_core *c, const char *key, const char *value)
{
    if (!c || !key || !value)
        return -HVT_E_INVALID;
    return c->p->set_option(c->inst, key, value);
}

int hvt_core_set_cpu(struct hvt_core *c, const struct hvt_cpu_profile *p)
{
    char text[HVT_CPU_TEXT_MAX];
    int rc;
    if (!c || !p)
        return -HVT_E_INVALID;
    rc = hvt_cpu_profile_format(p, text, sizeof(text));
    if (rc < 0)
        return rc;
    rc = c->p->set_option(c->inst, "cpu", text);
    if (rc == 0 || rc == -HVT_E_UNSUPPORTED) {
        /* the services follow the guest's CPU even for a core that does not */
        c->svc_opts.cpu = *p;
        hvt_cpu_state_forbidden(p, &c->svc_opts.cr4_forbid, &c->svc_opts.efer_forbid);
    }
    return rc;
}

unsigned hvt_core_abi(const struct hvt_core *c)
{
    return c ? c->abi : 0;
}

/* The default environment of one emulation: EFER and the FS/GS bases as MSRs, and (for a core
 * that asks for it) the XSAVE image of the state's x87 defaults, SSE and AVX registers. */
struct env_buf {
    struct hvt_core_env env;
    struct hvt_msr msrs[3];
    _Alignas(64) uint8_t xsave[HVT_XSAVE_SIZE];
};

static void env_fill(struct env_buf *b, const struct hvt_vcpu_state *st, int want_xsave)
{
    memset(&b->env, 0, sizeof(b->env));
    b->env.size = sizeof(b->env);
    b->msrs[0] = (struct hvt_msr){HVT_MSR_EFER, 0, st->efer};
    b->msrs[1] = (struct hvt_msr){HVT_MSR_FS_BASE, 0, st->seg[HVT_SEG_FS].base};
    b->msrs[2] = (struct hvt_msr){HVT_MSR_GS_BASE, 0, st->seg[HVT_SEG_GS].base};
    b->env.msrs = b->msrs;
    b->env.n_msrs = 3;
    if (want_xsave)
        hvt_xsave_from_state(b->xsave, sizeof(b->xsave), st, &b->env.xsave_valid);
    b->env.xsave = want_xsave ? b->xsave : NULL;
    b->env.xsave_size = want_xsave ? (uint32_t)sizeof(b->xsave) : 0;
}

/* After the core ran: MSRs it wrote and the SSE/AVX part of the XSAVE area back into ST. */
static void env_commit(const struct hvt_core_env *env, struct hvt_vcpu_state *st)
{
    for (uint32_t i = 0; env->msrs && i < env->n_msrs; i++) {
        const struct hvt_msr *m = &env->msrs[i];
        if (!(m->flags & HVT_MSRF_WRITTEN))
            continue;
        if (m->index == HVT_MSR_EFER)
            st->efer = m->value;
        else if (m->index == HVT_MSR_FS_BASE)
            st->seg[HVT_SEG_FS].base = m->value;
        else if (m->index == HVT_MSR_GS_BASE)
            st->seg[HVT_SEG_GS].base = m->value;
    }
    if (env->xsave && (st->flags & HVT_STATE_SIMD_VALID))
        hvt_xsave_to_state(env->xsave, env->xsave_size, st);
}

int hvt_core_emulate2(struct hvt_core *c, struct hvt_vcpu_state *state, struct hvt_core_env *env,
                      const struct hvt_core_ops *ops, void *ctx, struct hvt_core_result *res)
{
    struct hvt_core_ops o; /* the caller's table may be an older, smaller one */
    struct hvt_svc svc;
    struct env_buf b;
    int rc;

    if (!c || !state || !ops || !res)
        return -HVT_E_INVALID;
    if (!c->p->emulate2) {
        rc = c->p->emulate(c->inst, state, ops, ctx, res);
        res->retire = 0; /* not reported by a version-1 core */
        res->out.retire = 0;
        return rc;
    }
    if (env && env->size < sizeof(*env))
        return -HVT_E_INVALID;
    if (c->p->flags & HVT_COREF_NO_ENV) {
        /* a core that reads neither the environment nor the services (the reference core:
         * its own MMU, its registers from STATE; it checks the ops itself): none is built */
        struct hvt_core_env none = {.size = sizeof(none)};
        rc = c->p->emulate2(c->inst, state, &none, ops, ctx, res);
        if (rc < 0)
            return rc;
        goto retired;
    }
    if (hvt_sized_in(&o, sizeof(o), ops, ops->size, HVT_CORE_OPS_SIZE_V1) || !o.read || !o.write ||
        !o.cmpxchg || !o.io_in || !o.io_out)
        return -HVT_E_INVALID;
    if (!env) {
        env_fill(&b, state, (c->p->flags & HVT_COREF_XSAVE) != 0);
        env = &b.env;
    }
    memset(res, 0, sizeof(*res));
    hvt_svc_bind(&svc, state, &o, ctx, res, &c->svc_opts);
    env->svc = hvt_core_services();
    env->session = &svc;
    rc = c->p->emulate2(c->inst, state, env, &o, ctx, res);
    env->svc = NULL;
    env->session = NULL;
    if (rc < 0)
        return rc;
    if (env == &b.env && res->out.kind == HVT_OUT_OKAY)
        env_commit(env, state);
retired:
    res->retire =
        res->out.kind == HVT_OUT_OKAY ? (res->retire & HVT_RETIRE_KNOWN) | HVT_RETIRE_REPORTED : 0;
    res->out.retire = res->retire;
    return rc;
}

int hvt_core_emulate(struct hvt_core *c, struct hvt_vcpu_state *state,
                     const struct hvt_core_ops *ops, void *ctx, struct hvt_core_result *res)
{
    /* RES may be a version-1 result, without retire: only that much is written */
    struct hvt_core_result full;
    int rc;
    if (!res)
        return -HVT_E_INVALID;
    rc = hvt_core_emulate2(c, state, NULL, ops, ctx, &full);
    if (rc == 0)
        memcpy(res, &full, HVT_CORE_RESULT_SIZE_V1);
    return rc;
}
