/* SPDX-License-Identifier: MIT */
/* Core ABI, host side: open the built-in reference core or a plugin by path, drive it. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvtrace/core.h"
#include "ref.h"

struct hvt_core {
    const struct hvt_core_plugin *p; /* &desc */
    struct hvt_core_plugin desc;     /* the plugin's descriptor, in this library's layout */
    void *inst;
    void *dl; /* dlopen handle, NULL for the built-in core */
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

/* Checks what a plugin's entry returned; 0 or -HVT_E_BAD_PLUGIN with detail. */
static int check_plugin(const struct hvt_core_plugin *p, const char *what, char *errbuf,
                        size_t errlen)
{
    if (!p)
        return fail(HVT_E_BAD_PLUGIN, errbuf, errlen,
                    "%s: %s returned NULL (core ABI version %u not implemented)", what,
                    HVT_CORE_ENTRY_SYMBOL, HVT_CORE_ABI_VERSION);
    if (p->abi_version != HVT_CORE_ABI_VERSION)
        return fail(HVT_E_BAD_PLUGIN, errbuf, errlen, "%s: core ABI version %u, this host needs %u",
                    what, p->abi_version, HVT_CORE_ABI_VERSION);
    if (p->size < HVT_CORE_PLUGIN_SIZE_V1)
        return fail(HVT_E_BAD_PLUGIN, errbuf, errlen,
                    "%s: plugin descriptor of %u bytes, at least %u expected", what, p->size,
                    HVT_CORE_PLUGIN_SIZE_V1);
    if (!p->create || !p->destroy || !p->set_option || !p->emulate)
        return fail(HVT_E_BAD_PLUGIN, errbuf, errlen, "%s: plugin descriptor lacks functions",
                    what);
    return 0;
}

int hvt_core_open(struct hvt_core **out, const char *name_or_path, char *errbuf, size_t errlen)
{
    const struct hvt_core_plugin *p;
    void *dl = NULL;
    struct hvt_core *c;
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
        p = entry(HVT_CORE_ABI_VERSION);
        if ((rc = check_plugin(p, name_or_path, errbuf, errlen))) {
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
    if (p->size < sizeof(c->desc)) {
        memcpy(&c->desc, p, p->size);
        c->desc.size = sizeof(c->desc);
        p = &c->desc;
    }
    c->p = p;
    c->dl = dl;
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
    return c->p->set_option(c->inst, "cpu", text);
}

int hvt_core_emulate(struct hvt_core *c, struct hvt_vcpu_state *state,
                     const struct hvt_core_ops *ops, void *ctx, struct hvt_core_result *res)
{
    if (!c)
        return -HVT_E_INVALID;
    return c->p->emulate(c->inst, state, ops, ctx, res);
}
