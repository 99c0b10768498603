/* SPDX-License-Identifier: MIT */
/* hvtrace: CPU profiles: names, built-in profiles, the text form, and the host's CPUID. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cpu_state.h"
#include "common/cpuid.h"
#include "common/textbuf.h"
#include "hvtrace/cpu.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* ---- features --------------------------------------------------------------------------- */

static const char *const feature_names[HVT_CPUF__COUNT] = {
    [HVT_CPUF_SSE] = "sse",         [HVT_CPUF_SSE2] = "sse2",    [HVT_CPUF_SSE3] = "sse3",
    [HVT_CPUF_SSSE3] = "ssse3",     [HVT_CPUF_SSE41] = "sse4.1", [HVT_CPUF_SSE42] = "sse4.2",
    [HVT_CPUF_CX8] = "cx8",         [HVT_CPUF_CX16] = "cx16",    [HVT_CPUF_MOVBE] = "movbe",
    [HVT_CPUF_XSAVE] = "xsave",     [HVT_CPUF_AVX] = "avx",      [HVT_CPUF_AVX2] = "avx2",
    [HVT_CPUF_AVX512F] = "avx512f", [HVT_CPUF_BMI2] = "bmi2",    [HVT_CPUF_ERMS] = "erms",
    [HVT_CPUF_FSRM] = "fsrm",       [HVT_CPUF_PSE] = "pse",      [HVT_CPUF_PAE] = "pae",
    [HVT_CPUF_NX] = "nx",           [HVT_CPUF_LM] = "lm",        [HVT_CPUF_PDPE1GB] = "pdpe1gb",
    [HVT_CPUF_LA57] = "la57",       [HVT_CPUF_SMEP] = "smep",    [HVT_CPUF_SMAP] = "smap",
    [HVT_CPUF_PKU] = "pku",         [HVT_CPUF_UMIP] = "umip",
};

const char *hvt_cpu_feature_name(unsigned f)
{
    return f < HVT_CPUF__COUNT ? feature_names[f] : NULL;
}

int hvt_cpu_feature_find(const char *name)
{
    for (unsigned f = 0; name && f < HVT_CPUF__COUNT; f++)
        if (!strcmp(name, feature_names[f]))
            return (int)f;
    return -HVT_E_NOT_FOUND;
}

/* ---- choices ---------------------------------------------------------------------------- */

struct choice_def {
    const char *name, *summary;
    unsigned n;
    const char *alt[2];
    const char *cpus[2]; /* the known CPUs (and emulators) taking each alternative */
};

static const struct choice_def choices[HVT_CPUC__COUNT] = {
    [HVT_CPUC_REP_A32_NO_PROGRESS] =
        {"rep-a32-no-progress",
         "a 67-prefixed REP string instruction in 64-bit mode that completes no iteration "
         "(count zero, or a fault on the first): is ECX written?",
         2,
         {"write", "keep"},
         {"Intel (the CPU the core was first checked on)",
          "AMD family 25 model 1 (Zen 3, probed) and model 17 (Zen 4, reported); unicorn 2.0.1"}},
    [HVT_CPUC_REP_CMPS_FAULT_FLAGS] =
        {"rep-cmps-fault-flags",
         "REPE/REPNE CMPS/SCAS stopped by a fault after some iterations: the flags left",
         2,
         {"initial", "last"},
         {"Intel (the CPU the core was first checked on)",
          "AMD family 25 model 1 (Zen 3, probed) and model 17 (Zen 4, reported); unicorn 2.0.1"}},
    [HVT_CPUC_GATHER_FAULT_MASK] =
        {"gather-fault-mask",
         "an AVX2 gather stopped by a fault: the mask elements not gathered",
         2,
         {"sign-extend", "keep"},
         {"Intel (the SDM's pseudo-code; the CPU the core was first checked on)",
          "AMD family 25 model 1 (Zen 3, probed) and model 17 (Zen 4, reported)"}},
    [HVT_CPUC_GATHER_FAULT_UPPER] =
        {"gather-fault-upper",
         "a VEX.128 gather stopped by a fault: bits 255:128 of the mask and destination",
         2,
         {"zero", "keep"},
         {"Intel (the SDM's pseudo-code; the CPU the core was first checked on)",
          "AMD family 25 model 1 (Zen 3, probed)"}},
};

const char *hvt_cpu_choice_name(unsigned c)
{
    return c < HVT_CPUC__COUNT ? choices[c].name : NULL;
}

unsigned hvt_cpu_choice_alternatives(unsigned c)
{
    return c < HVT_CPUC__COUNT ? choices[c].n : 0;
}

const char *hvt_cpu_choice_value_name(unsigned c, unsigned v)
{
    return c < HVT_CPUC__COUNT && v < choices[c].n ? choices[c].alt[v] : NULL;
}

const char *hvt_cpu_choice_summary(unsigned c)
{
    return c < HVT_CPUC__COUNT ? choices[c].summary : NULL;
}

const char *hvt_cpu_choice_value_cpus(unsigned c, unsigned v)
{
    return c < HVT_CPUC__COUNT && v < choices[c].n ? choices[c].cpus[v] : NULL;
}

int hvt_cpu_choice_find(const char *name)
{
    for (unsigned c = 0; name && c < HVT_CPUC__COUNT; c++)
        if (!strcmp(name, choices[c].name))
            return (int)c;
    return -HVT_E_NOT_FOUND;
}

/* ---- built-in profiles ------------------------------------------------------------------ */

#define F(x) (1ull << HVT_CPUF_##x)
#define F_BASE (F(SSE) | F(SSE2) | F(CX8) | F(PSE) | F(PAE) | F(NX) | F(LM))
#define F_SSE4 (F(SSE3) | F(SSSE3) | F(SSE41) | F(SSE42) | F(CX16))
#define F_AVX2 (F(XSAVE) | F(AVX) | F(AVX2) | F(MOVBE) | F(BMI2) | F(PDPE1GB))

/* Choice sets by vendor family of behaviour. */
static const uint8_t choices_intel[HVT_CPUC__COUNT] = {0, 0, 0, 0};
static const uint8_t choices_amd[HVT_CPUC__COUNT] = {1, 1, 1, 1};

struct builtin {
    const char *name, *summary, *vendor;
    uint32_t family, model, stepping;
    uint64_t features;
    const uint8_t *choice;
};

static const struct builtin builtins[] = {
    {HVT_CPU_DEFAULT, "the default: Intel Xeon (Ice Lake-SP), every feature the core consults",
     "GenuineIntel", 6, 106, 6,
     F_BASE | F_SSE4 | F_AVX2 | F(AVX512F) | F(ERMS) | F(FSRM) | F(LA57) | F(SMEP) | F(SMAP) |
         F(PKU) | F(UMIP),
     choices_intel},
    {"intel-skylake", "Intel Core (Skylake client): no LA57, PKU or AVX-512", "GenuineIntel", 6, 94,
     3, F_BASE | F_SSE4 | F_AVX2 | F(ERMS) | F(SMEP) | F(SMAP), choices_intel},
    {"intel-sandybridge", "Intel Core (Sandy Bridge): AVX without AVX2, no SMEP/SMAP",
     "GenuineIntel", 6, 42, 7, F_BASE | F_SSE4 | F(XSAVE) | F(AVX) | F(PDPE1GB), choices_intel},
    {"amd-zen3", "AMD EPYC (Zen 3, family 25 model 1)", "AuthenticAMD", 25, 1, 1,
     F_BASE | F_SSE4 | F_AVX2 | F(ERMS) | F(FSRM) | F(SMEP) | F(SMAP) | F(PKU) | F(UMIP),
     choices_amd},
    {"amd-zen4", "AMD EPYC (Zen 4, family 25 model 17): Zen 3 plus AVX-512 and LA57",
     "AuthenticAMD", 25, 17, 1,
     F_BASE | F_SSE4 | F_AVX2 | F(AVX512F) | F(ERMS) | F(FSRM) | F(LA57) | F(SMEP) | F(SMAP) |
         F(PKU) | F(UMIP),
     choices_amd},
    {"unicorn", "unicorn 2.0.1 (QEMU 5.0 TCG, qemu64) as check-core drives it: no AVX, no NX",
     "AuthenticAMD", 15, 107, 1,
     F(SSE) | F(SSE2) | F(CX8) | F(PSE) | F(PAE) | F(LM) | F(SSE3) | F(CX16) | F(PDPE1GB) |
         F(LA57) | F(SMEP) | F(SMAP),
     choices_amd},
};
#define N_BUILTINS (sizeof(builtins) / sizeof(builtins[0]))

const char *hvt_cpu_profile_builtin(size_t i)
{
    return i < N_BUILTINS ? builtins[i].name : NULL;
}

const char *hvt_cpu_profile_builtin_summary(size_t i)
{
    return i < N_BUILTINS ? builtins[i].summary : NULL;
}

static void from_builtin(struct hvt_cpu_profile *p, const struct builtin *b)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", b->name);
    snprintf(p->vendor, sizeof(p->vendor), "%s", b->vendor);
    p->family = b->family;
    p->model = b->model;
    p->stepping = b->stepping;
    p->features = b->features;
    memcpy(p->choice, b->choice, HVT_CPUC__COUNT);
}

int hvt_cpu_profile_named(struct hvt_cpu_profile *out, const char *name)
{
    if (!out || !name)
        return -HVT_E_INVALID;
    for (size_t i = 0; i < N_BUILTINS; i++)
        if (!strcmp(name, builtins[i].name)) {
            from_builtin(out, &builtins[i]);
            return 0;
        }
    return -HVT_E_NOT_FOUND;
}

void hvt_cpu_profile_default(struct hvt_cpu_profile *out)
{
    if (out)
        from_builtin(out, &builtins[0]);
}

/* ---- text form -------------------------------------------------------------------------- */

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v;
    int base = 10;
    if (!*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        if (!*s)
            return -1;
    }
    errno = 0;
    v = strtoull(s, &end, base);
    if (errno || *end || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* A feature list: comma-separated names. Unknown names are warnings. */
static int parse_features(struct hvt_cpu_profile *p, const char *list, char *warn, size_t wl)
{
    int nwarn = 0;
    p->features = 0;
    while (*list) {
        char name[64];
        size_t n = strcspn(list, ",");
        if (n && n < sizeof(name)) {
            int f;
            memcpy(name, list, n);
            name[n] = 0;
            f = hvt_cpu_feature_find(name);
            if (f >= 0) {
                p->features |= 1ull << f;
            } else {
                hvt_text_append(warn, wl, "; ", "unknown CPU feature '%s' ignored", name);
                nwarn++;
            }
        } else if (n) {
            hvt_text_append(warn, wl, "; ", "an over-long CPU feature name ignored");
            nwarn++;
        }
        list += n;
        if (*list == ',')
            list++;
    }
    return nwarn;
}

int hvt_cpu_profile_parse(struct hvt_cpu_profile *out, const char *text, char *warn, size_t warnlen)
{
    struct hvt_cpu_profile p;
    char tok[HVT_CPU_TEXT_MAX];
    const char *s = text;
    int first = 1, nwarn = 0;

    if (warn && warnlen)
        warn[0] = 0;
    if (!out || !text)
        return -HVT_E_INVALID;
    if (strlen(text) >= HVT_CPU_TEXT_MAX) {
        hvt_text_append(warn, warnlen, "; ", "CPU profile text of %zu bytes: at most %d",
                        strlen(text), HVT_CPU_TEXT_MAX - 1);
        return -HVT_E_INVALID;
    }
    memset(&p, 0, sizeof(p));
    for (;;) {
        size_t n;
        const char *eq;
        char *val;
        while (*s == ' ' || *s == '\t' || *s == '\n')
            s++;
        if (!*s)
            break;
        n = strcspn(s, " \t\n");
        memcpy(tok, s, n);
        tok[n] = 0;
        s += n;
        eq = strchr(tok, '=');
        if (tok[0] == '+' || tok[0] == '-') {
            int f = hvt_cpu_feature_find(tok + 1);
            if (f < 0) {
                hvt_text_append(warn, warnlen, "; ", "unknown CPU feature '%s' ignored", tok + 1);
                nwarn++;
            } else if (tok[0] == '+') {
                p.features |= 1ull << f;
            } else {
                p.features &= ~(1ull << f);
            }
            first = 0;
            continue;
        }
        if (!eq) {
            int rc;
            if (!first) {
                hvt_text_append(warn, warnlen, "; ",
                                "'%s': expected KEY=VALUE, +FEATURE or -FEATURE", tok);
                return -HVT_E_INVALID;
            }
            rc = hvt_cpu_profile_named(&p, tok);
            if (rc < 0) {
                hvt_text_append(warn, warnlen, "; ", "no CPU profile named '%s'", tok);
                return rc;
            }
            first = 0;
            continue;
        }
        first = 0;
        tok[eq - tok] = 0;
        val = tok + (eq - tok) + 1;
        if (!strcmp(tok, "name")) {
            if (strlen(val) >= sizeof(p.name)) {
                hvt_text_append(warn, warnlen, "; ", "CPU profile name '%s' longer than %zu bytes",
                                val, sizeof(p.name) - 1);
                return -HVT_E_INVALID;
            }
            snprintf(p.name, sizeof(p.name), "%s", val);
        } else if (!strcmp(tok, "vendor")) {
            if (strlen(val) >= sizeof(p.vendor)) {
                hvt_text_append(warn, warnlen, "; ", "CPU vendor '%s' longer than %zu bytes", val,
                                sizeof(p.vendor) - 1);
                return -HVT_E_INVALID;
            }
            snprintf(p.vendor, sizeof(p.vendor), "%s", val);
        } else if (!strcmp(tok, "family") || !strcmp(tok, "model") || !strcmp(tok, "stepping")) {
            uint32_t v;
            if (parse_u32(val, &v)) {
                hvt_text_append(warn, warnlen, "; ",
                                "CPU %s '%s': not a number (decimal or 0x-hex)", tok, val);
                return -HVT_E_INVALID;
            }
            if (tok[0] == 'f')
                p.family = v;
            else if (tok[0] == 'm')
                p.model = v;
            else
                p.stepping = v;
        } else if (!strcmp(tok, "features")) {
            nwarn += parse_features(&p, val, warn, warnlen);
        } else {
            int c = hvt_cpu_choice_find(tok);
            unsigned v;
            if (c < 0) {
                hvt_text_append(warn, warnlen, "; ", "unknown CPU choice '%s' ignored", tok);
                nwarn++;
                continue;
            }
            for (v = 0; v < choices[c].n; v++)
                if (!strcmp(val, choices[c].alt[v]))
                    break;
            if (v == choices[c].n) {
                hvt_text_append(warn, warnlen, "; ",
                                "CPU choice %s: unknown alternative '%s' ignored", tok, val);
                nwarn++;
                continue;
            }
            p.choice[c] = (uint8_t)v;
        }
    }
    *out = p;
    return nwarn;
}

int hvt_cpu_profile_features_text(const struct hvt_cpu_profile *p, char *buf, size_t len)
{
    size_t o = 0;
    if (!p || !buf || !len)
        return -HVT_E_INVALID;
    buf[0] = 0;
    for (unsigned f = 0; f < HVT_CPUF__COUNT; f++) {
        int n;
        if (!HVT_CPU_HAS(p, f))
            continue;
        n = snprintf(buf + o, len - o, "%s%s", o ? " " : "", feature_names[f]);
        if (n < 0 || (size_t)n >= len - o)
            return -HVT_E_LIMIT;
        o += (size_t)n;
    }
    return (int)o;
}

static int safe_token(const char *s)
{
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '=')
            return 0;
    return 1;
}

int hvt_cpu_profile_format(const struct hvt_cpu_profile *p, char *buf, size_t len)
{
    size_t o = 0;
    int n;
    if (!p || !buf || !len)
        return -HVT_E_INVALID;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        n = snprintf(buf + o, len - o, __VA_ARGS__);                                               \
        if (n < 0 || (size_t)n >= len - o)                                                         \
            return -HVT_E_LIMIT;                                                                   \
        o += (size_t)n;                                                                            \
    } while (0)
    /* a name or vendor that would not parse back is written as "?" */
    PUT("name=%s vendor=%s family=%" PRIu32 " model=%" PRIu32 " stepping=%" PRIu32 " features=",
        p->name[0] && safe_token(p->name) ? p->name : "?",
        p->vendor[0] && safe_token(p->vendor) ? p->vendor : "?", p->family, p->model, p->stepping);
    for (unsigned f = 0, k = 0; f < HVT_CPUF__COUNT; f++)
        if (HVT_CPU_HAS(p, f))
            PUT("%s%s", k++ ? "," : "", feature_names[f]);
    for (unsigned c = 0; c < HVT_CPUC__COUNT; c++) {
        unsigned v = p->choice[c] < choices[c].n ? p->choice[c] : 0;
        PUT(" %s=%s", choices[c].name, choices[c].alt[v]);
    }
#undef PUT
    return (int)o;
}

int hvt_cpu_profile_equal(const struct hvt_cpu_profile *a, const struct hvt_cpu_profile *b)
{
    if (!a || !b)
        return 0;
    return !strcmp(a->vendor, b->vendor) && a->family == b->family && a->model == b->model &&
           a->stepping == b->stepping && a->features == b->features &&
           !memcmp(a->choice, b->choice, HVT_CPUC__COUNT);
}

/* The control-register and EFER bits a CPU can only have set with a feature. */
static const struct {
    int efer; /* 0: CR4 */
    unsigned bit, f;
    const char *name;
} need[] = {
    {0, 4, HVT_CPUF_PSE, "CR4.PSE"},        {0, 5, HVT_CPUF_PAE, "CR4.PAE"},
    {0, 11, HVT_CPUF_UMIP, "CR4.UMIP"},     {0, 12, HVT_CPUF_LA57, "CR4.LA57"},
    {0, 18, HVT_CPUF_XSAVE, "CR4.OSXSAVE"}, {0, 20, HVT_CPUF_SMEP, "CR4.SMEP"},
    {0, 21, HVT_CPUF_SMAP, "CR4.SMAP"},     {0, 22, HVT_CPUF_PKU, "CR4.PKE"},
    {1, 8, HVT_CPUF_LM, "EFER.LME"},        {1, 10, HVT_CPUF_LM, "EFER.LMA"},
    {1, 11, HVT_CPUF_NX, "EFER.NXE"},
};

void hvt_cpu_state_forbidden(const struct hvt_cpu_profile *p, uint64_t *cr4, uint64_t *efer)
{
    *cr4 = *efer = 0;
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
        if (!HVT_CPU_HAS(p, need[i].f))
            *(need[i].efer ? efer : cr4) |= 1ull << need[i].bit;
}

int hvt_cpu_profile_check_state(const struct hvt_cpu_profile *p, const struct hvt_vcpu_state *st,
                                char *why, size_t len)
{
    if (!p || !st)
        return -HVT_E_INVALID;
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        uint64_t reg = need[i].efer ? st->efer : st->cr4;
        if (!((reg >> need[i].bit) & 1) || HVT_CPU_HAS(p, need[i].f))
            continue;
        if (why && len)
            snprintf(why, len, "%s set, but CPU profile %s lacks %s", need[i].name,
                     p->name[0] ? p->name : "?", feature_names[need[i].f]);
        return 1;
    }
    return 0;
}

/* The profile a CPUID table describes (common/cpuid.h). */
int hvt_cpu_profile_from_cpuid(struct hvt_cpu_profile *out, hvt_cpuid_fn fn, void *arg,
                               int os_avx)
{
    static const struct {
        unsigned leaf, reg, bit; /* reg: 0 eax 1 ebx 2 ecx 3 edx */
        unsigned f;
    } map[] = {
        {1, 3, 25, HVT_CPUF_SSE},
        {1, 3, 26, HVT_CPUF_SSE2},
        {1, 2, 0, HVT_CPUF_SSE3},
        {1, 2, 9, HVT_CPUF_SSSE3},
        {1, 2, 19, HVT_CPUF_SSE41},
        {1, 2, 20, HVT_CPUF_SSE42},
        {1, 3, 8, HVT_CPUF_CX8},
        {1, 2, 13, HVT_CPUF_CX16},
        {1, 2, 22, HVT_CPUF_MOVBE},
        {1, 2, 26, HVT_CPUF_XSAVE},
        {1, 2, 28, HVT_CPUF_AVX},
        {7, 1, 5, HVT_CPUF_AVX2},
        {7, 1, 16, HVT_CPUF_AVX512F},
        {7, 1, 8, HVT_CPUF_BMI2},
        {7, 1, 9, HVT_CPUF_ERMS},
        {7, 3, 4, HVT_CPUF_FSRM},
        {1, 3, 3, HVT_CPUF_PSE},
        {1, 3, 6, HVT_CPUF_PAE},
        {0x80000001u, 3, 20, HVT_CPUF_NX},
        {0x80000001u, 3, 29, HVT_CPUF_LM},
        {0x80000001u, 3, 26, HVT_CPUF_PDPE1GB},
        {7, 2, 16, HVT_CPUF_LA57},
        {7, 1, 7, HVT_CPUF_SMEP},
        {7, 1, 20, HVT_CPUF_SMAP},
        {7, 2, 3, HVT_CPUF_PKU},
        {7, 2, 2, HVT_CPUF_UMIP},
    };
    unsigned r[4], max, xmax;
    const struct builtin *base = NULL;

    if (!out || !fn)
        return -HVT_E_INVALID;
    memset(out, 0, sizeof(*out));
    fn(arg, 0, 0, r);
    max = r[0];
    if (!max)
        return -HVT_E_UNSUPPORTED;
    memcpy(out->vendor, &r[1], 4);
    memcpy(out->vendor + 4, &r[3], 4);
    memcpy(out->vendor + 8, &r[2], 4);
    fn(arg, 0x80000000u, 0, r);
    xmax = r[0];
    fn(arg, 1, 0, r);
    {
        unsigned fam = (r[0] >> 8) & 0xf, model = (r[0] >> 4) & 0xf;
        if (fam == 0xf)
            fam += (r[0] >> 20) & 0xff;
        if (fam == 0x6 || fam >= 0xf)
            model |= ((r[0] >> 16) & 0xf) << 4;
        out->family = fam;
        out->model = model;
        out->stepping = r[0] & 0xf;
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        unsigned leaf = map[i].leaf;
        if (leaf >= 0x80000000u ? leaf > xmax : leaf > max)
            continue;
        fn(arg, leaf, 0, r);
        if (r[map[i].reg] & (1u << map[i].bit))
            out->features |= 1ull << map[i].f;
    }
    /* AVX state the OS does not enable is no AVX for a guest or for the native oracle */
    if (!os_avx)
        out->features &= ~(F(AVX) | F(AVX2) | F(AVX512F));
    snprintf(out->name, sizeof(out->name), "host-cpuid");
    for (size_t i = 0; i < N_BUILTINS && !base; i++)
        if (!strcmp(builtins[i].vendor, out->vendor) && strcmp(builtins[i].name, "unicorn"))
            base = &builtins[i];
    memcpy(out->choice, base ? base->choice : choices_intel, HVT_CPUC__COUNT);
    return 0;
}

/* ---- the host's CPUID ------------------------------------------------------------------- */

#if defined(__x86_64__)
static int os_avx_state(void)
{
    unsigned a, b, c, d, lo, hi;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE */
        return 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 6u) == 6u;
}

static void native_cpuid(void *arg, unsigned leaf, unsigned sub, unsigned r[4])
{
    (void)arg;
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

int hvt_cpu_profile_cpuid(struct hvt_cpu_profile *out)
{
    if (!out)
        return -HVT_E_INVALID;
    if (!__get_cpuid_max(0, NULL)) {
        memset(out, 0, sizeof(*out));
        return -HVT_E_UNSUPPORTED;
    }
    return hvt_cpu_profile_from_cpuid(out, native_cpuid, NULL, os_avx_state());
}
#else
int hvt_cpu_profile_cpuid(struct hvt_cpu_profile *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    return -HVT_E_UNSUPPORTED;
}
#endif
