/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: the event selection shared by the commands that read a trace. */
#include "filter.h"

#include <ctype.h>
#include <string.h>

#include "common/print.h"
#include "hvtrace/replay.h"
#include "util.h"

const char hvt_filter_help[] =
    "  --events A..B     only events A to B (A.., ..B, A), found through the index\n"
    "  --vcpu LIST       only these vCPUs (LIST: 2, 0..3, 1,4)\n"
    "  --rip LIST        only these instruction addresses (0x1005, 0x1000..0x1fff)\n"
    "  --class C[,C]     only events with an access of tag class C (fetch data stack desc\n"
    "                    walk ad io); replay and report also take a finding class\n"
    "                    (translation_changed, data_changed, ...)\n"
    "  --mnemonic M[,M]  only these instructions (mov, rep movsb, vpgatherdd: capstone's)\n"
    "  --tag T[,T]       only events with an access of tag T (walk:L1, data:op1, walk:pdpte;\n"
    "                    a prefix up to a ':' matches: data:op1 takes data:op1:el3)\n"
    "  Several options: all must hold; values listed in one option: any may. dump shows\n"
    "  only the accesses --class/--tag select.\n";

void hvt_filter_init(struct hvt_filter *f, int findings_ok)
{
    memset(f, 0, sizeof(*f));
    f->last = UINT64_MAX;
    f->findings_ok = findings_ok;
    f->text = f->text_buf;
}

static void note(struct hvt_filter *f, const char *opt, const char *val)
{
    size_t n = strlen(f->text_buf);
    if (n + strlen(opt) + strlen(val) + 3 < sizeof(f->text_buf))
        snprintf(f->text_buf + n, sizeof(f->text_buf) - n, "%s%s %s", n ? " " : "", opt, val);
}

/* Splits VAL at commas into the items of one option; calls FN on each. */
static int each_item(const char *val, int (*fn)(void *, const char *), void *arg)
{
    char buf[256];
    if (!val || !*val || strlen(val) >= sizeof(buf))
        return -1;
    strcpy(buf, val);
    for (char *s = buf, *comma; s; s = comma) {
        comma = strchr(s, ',');
        if (comma)
            *comma++ = 0;
        if (!*s || fn(arg, s))
            return -1;
    }
    return 0;
}

static int add_range(void *arg, const char *item)
{
    struct hvt_filter_set *set = arg;
    if (set->n >= HVT_FILTER_MAX_ITEMS ||
        hvt_tool_parse_range(item, &set->lo[set->n], &set->hi[set->n]))
        return -1;
    set->n++;
    return 0;
}

static int add_class(void *arg, const char *item)
{
    struct hvt_filter *f = arg;
    for (unsigned c = 0; c < HVT_TAG__COUNT; c++) {
        if (!strcmp(item, hvt_tag_class_name(c))) {
            f->tag_classes |= 1u << c;
            return 0;
        }
    }
    for (unsigned c = 0; f->findings_ok && c < HVT_RPL__COUNT; c++) {
        if (!strcmp(item, hvt_rpl_class_name(c))) {
            f->finding_classes |= 1u << c;
            return 0;
        }
    }
    return -1;
}

struct str_list {
    unsigned *n;
    char (*items)[32];
};

static int add_str(void *arg, const char *item)
{
    struct str_list *l = arg;
    if (*l->n >= HVT_FILTER_MAX_ITEMS || strlen(item) >= 32)
        return -1;
    for (size_t i = 0; item[i]; i++)
        l->items[*l->n][i] = (char)tolower((unsigned char)item[i]);
    l->items[*l->n][strlen(item)] = 0;
    (*l->n)++;
    return 0;
}

int hvt_filter_parse(struct hvt_filter *f, const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    const char *want;
    int bad;
    if (!strcmp(a, "--events")) {
        want = "A..B, A.., ..B or A (" HVT_TOOL_NUMBER_HINT ")";
        bad = !v || hvt_tool_parse_range(v, &f->first, &f->last);
        f->ranged = 1;
    } else if (!strcmp(a, "--vcpu")) {
        want = "vCPU numbers or ranges, comma-separated (2, 0..3, 1,4)";
        bad = !v || each_item(v, add_range, &f->vcpu);
    } else if (!strcmp(a, "--rip")) {
        want = "addresses or ranges, comma-separated (0x1005, 0x1000..0x1fff)";
        bad = !v || each_item(v, add_range, &f->rip);
    } else if (!strcmp(a, "--class")) {
        want = f->findings_ok ? "tag classes (fetch data stack desc walk ad io) or finding "
                                "classes (translation_changed, data_changed, ...)"
                              : "tag classes: fetch data stack desc walk ad io";
        bad = !v || each_item(v, add_class, f);
    } else if (!strcmp(a, "--mnemonic")) {
        struct str_list l = {&f->n_mnemonics, f->mnemonics};
        want = "instruction mnemonics, comma-separated (mov, movsb)";
        bad = !v || each_item(v, add_str, &l);
    } else if (!strcmp(a, "--tag")) {
        struct str_list l = {&f->n_tags, f->tags};
        want = "tags, comma-separated (walk:L1, data:op1, walk:pdpte)";
        bad = !v || each_item(v, add_str, &l);
    } else {
        return 0;
    }
    if (bad) {
        if (!v)
            hvt_tool_err("%s: %s needs a value: %s", cmd, a, want);
        else
            hvt_tool_err("%s: %s '%s': expected %s (at most %d)", cmd, a, v, want,
                         HVT_FILTER_MAX_ITEMS);
        return -1;
    }
    note(f, a, v);
    (*i)++;
    return 1;
}

int hvt_filter_narrows(const struct hvt_filter *f)
{
    return f->vcpu.n || f->rip.n || f->tag_classes || f->finding_classes || f->n_mnemonics ||
           f->n_tags;
}

int hvt_filter_by_access(const struct hvt_filter *f)
{
    return f->tag_classes || f->n_tags;
}

static int in_set(const struct hvt_filter_set *s, uint64_t v)
{
    if (!s->n)
        return 1;
    for (unsigned i = 0; i < s->n; i++)
        if (v >= s->lo[i] && v <= s->hi[i])
            return 1;
    return 0;
}

int hvt_filter_access(const struct hvt_filter *f, const struct hvt_access *a)
{
    char tag[64];
    int ok;
    if (f->tag_classes && (a->tag.cls >= 32 || !(f->tag_classes & (1u << a->tag.cls))))
        return 0;
    if (!f->n_tags)
        return 1;
    hvt_tag_text(tag, sizeof(tag), &a->tag);
    for (size_t i = 0; tag[i]; i++)
        tag[i] = (char)tolower((unsigned char)tag[i]);
    ok = 0;
    for (unsigned i = 0; i < f->n_tags && !ok; i++) {
        size_t n = strlen(f->tags[i]);
        ok = !strncmp(tag, f->tags[i], n) && (tag[n] == 0 || tag[n] == ':');
    }
    return ok;
}

static int mnemonic_ok(const struct hvt_filter *f, const struct hvt_event *ev, const char *mnem)
{
    char m[32], text[96];
    if (!f->n_mnemonics)
        return 1;
    if (!mnem) {
        if (hvt_rpl_disasm(&ev->init, ev->insn, ev->insn_len, m, sizeof(m), text, sizeof(text)) < 0)
            return 0;
        mnem = m;
    }
    for (unsigned i = 0; i < f->n_mnemonics; i++)
        if (!strcasecmp(mnem, f->mnemonics[i]))
            return 1;
    return 0;
}

int hvt_filter_event(const struct hvt_filter *f, const struct hvt_event *ev, const char *mnem)
{
    if (ev->id < f->first || ev->id > f->last || !in_set(&f->vcpu, ev->vcpu) ||
        !in_set(&f->rip, ev->init.rip) || !mnemonic_ok(f, ev, mnem))
        return 0;
    if (!hvt_filter_by_access(f))
        return 1;
    for (uint32_t p = 0; ev->passes && p < ev->n_passes; p++)
        for (uint32_t i = 0; ev->passes[p].accesses && i < ev->passes[p].n_accesses; i++)
            if (hvt_filter_access(f, &ev->passes[p].accesses[i]))
                return 1;
    return 0;
}

int hvt_filter_report(const struct hvt_filter *f, const struct hvt_rpl_event_report *rep)
{
    /* the engine names the instruction only of events with findings ("?" otherwise): the
     * others are disassembled here */
    const char *mnem = rep->mnemonic[0] && strcmp(rep->mnemonic, "?") ? rep->mnemonic : NULL;
    if (!hvt_filter_event(f, rep->ev, mnem))
        return 0;
    if (!f->finding_classes)
        return 1;
    for (size_t i = 0; i < rep->n_findings; i++)
        if (rep->findings[i].cls < 32 && (f->finding_classes & (1u << rep->findings[i].cls)))
            return 1;
    return 0;
}

void hvt_filter_warn_empty(const struct hvt_filter *f, const char *cmd)
{
    fprintf(stderr, "hvtrace: %s: warning: no event matches the selection%s%s%s\n", cmd,
            f->text_buf[0] ? " (" : "", f->text_buf, f->text_buf[0] ? ")" : "");
}

void hvt_tool_disasm(const struct hvt_event *ev, char *text, size_t len, char *mnem, size_t mlen)
{
    char m[32];
    if (hvt_rpl_disasm(&ev->init, ev->insn, ev->insn_len <= HVT_INSN_MAX ? ev->insn_len : 0, m,
                       sizeof(m), text, len) < 0) {
        if (len)
            text[0] = 0;
        snprintf(m, sizeof(m), "?");
    }
    if (mnem && mlen)
        snprintf(mnem, mlen, "%s", m);
}
