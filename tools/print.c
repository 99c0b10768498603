/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: one-line text and JSON printing of events, passes, accesses and lost markers. */
#include "print.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "util.h"

/* The scalar registers of a vCPU state, by name, so that a state prints and diffs with one
 * table instead of a hand-written line per field. */
struct reg_desc {
    const char *name;
    size_t off;
    unsigned size;
};

#define R(n, field)                                                                                \
    {                                                                                              \
        n, offsetof(struct hvt_vcpu_state, field), sizeof(((struct hvt_vcpu_state *)0)->field)     \
    }
#define SEG(n, i)                                                                                  \
    R(n ".sel", seg[i].sel), R(n ".base", seg[i].base), R(n ".limit", seg[i].limit),               \
        R(n ".attr", seg[i].attr)

static const struct reg_desc regs[] = {
    R("rax", gpr[0]),
    R("rcx", gpr[1]),
    R("rdx", gpr[2]),
    R("rbx", gpr[3]),
    R("rsp", gpr[4]),
    R("rbp", gpr[5]),
    R("rsi", gpr[6]),
    R("rdi", gpr[7]),
    R("r8", gpr[8]),
    R("r9", gpr[9]),
    R("r10", gpr[10]),
    R("r11", gpr[11]),
    R("r12", gpr[12]),
    R("r13", gpr[13]),
    R("r14", gpr[14]),
    R("r15", gpr[15]),
    R("rip", rip),
    R("rflags", rflags),
    SEG("es", 0),
    SEG("cs", 1),
    SEG("ss", 2),
    SEG("ds", 3),
    SEG("fs", 4),
    SEG("gs", 5),
    SEG("ldtr", 6),
    SEG("tr", 7),
    R("gdtr.base", gdtr.base),
    R("gdtr.limit", gdtr.limit),
    R("idtr.base", idtr.base),
    R("idtr.limit", idtr.limit),
    R("cr0", cr0),
    R("cr2", cr2),
    R("cr3", cr3),
    R("cr4", cr4),
    R("cr8", cr8),
    R("efer", efer),
    R("xcr0", xcr0),
    R("pdpte0", pdpte[0]),
    R("pdpte1", pdpte[1]),
    R("pdpte2", pdpte[2]),
    R("pdpte3", pdpte[3]),
    R("state_flags", flags),
    R("mxcsr", mxcsr),
};

#undef SEG
#undef R

static uint64_t reg_value(const struct hvt_vcpu_state *s, const struct reg_desc *d)
{
    const uint8_t *p = (const uint8_t *)s + d->off;
    uint64_t v = 0;
    for (unsigned i = 0; i < d->size; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int hvt_print_state_diff(FILE *f, const struct hvt_vcpu_state *a, const struct hvt_vcpu_state *b,
                         unsigned flags)
{
    int json = flags & HVT_PRINT_JSON, n = 0;
    if (json)
        fputc('{', f);
    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
        uint64_t va = reg_value(a, &regs[i]), vb = reg_value(b, &regs[i]);
        if (va == vb)
            continue;
        if (json)
            fprintf(f, "%s\"%s\":[\"0x%" PRIx64 "\",\"0x%" PRIx64 "\"]", n ? "," : "", regs[i].name,
                    va, vb);
        else
            fprintf(f, "%s%s=0x%" PRIx64 "->0x%" PRIx64, n ? " " : "", regs[i].name, va, vb);
        n++;
    }
    /* SIMD registers only mean something when one of the two states says they are valid. */
    if ((a->flags | b->flags) & HVT_STATE_SIMD_VALID) {
        for (int r = 0; r < 16; r++) {
            if (!memcmp(a->ymm[r], b->ymm[r], sizeof(a->ymm[r])))
                continue;
            fprintf(f, json ? "%s\"ymm%d\":[\"" : "%symm%d=", n ? (json ? "," : " ") : "", r);
            hvt_text_hex(f, a->ymm[r], sizeof(a->ymm[r]));
            fputs(json ? "\",\"" : "->", f);
            hvt_text_hex(f, b->ymm[r], sizeof(b->ymm[r]));
            if (json)
                fputs("\"]", f);
            n++;
        }
    }
    if (json)
        fputc('}', f);
    return n;
}

/* All scalar registers of S as a JSON object of hex strings. */
static void json_state(FILE *f, const struct hvt_vcpu_state *s)
{
    fputc('{', f);
    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
        fprintf(f, "%s\"%s\":\"0x%" PRIx64 "\"", i ? "," : "", regs[i].name,
                reg_value(s, &regs[i]));
    if (s->flags & HVT_STATE_SIMD_VALID) {
        for (int r = 0; r < 16; r++) {
            fprintf(f, ",\"ymm%d\":", r);
            hvt_json_hex(f, s->ymm[r], sizeof(s->ymm[r]));
        }
    }
    fputc('}', f);
}

static void event_flags(FILE *f, uint32_t fl, int json)
{
    static const char *const names[] = {"abandoned", "incomplete"};
    int n = 0;
    if (json)
        fputc('[', f);
    for (unsigned i = 0; i < 32; i++) {
        if (!(fl & (1u << i)))
            continue;
        const char *name = i < 2 ? names[i] : NULL;
        if (json) {
            if (name)
                fprintf(f, "%s\"%s\"", n ? "," : "", name);
            else
                fprintf(f, "%s\"bit%u\"", n ? "," : "", i);
        } else if (name) {
            fprintf(f, "%s%s", n ? "," : " ", name);
        } else {
            fprintf(f, "%sbit%u", n ? "," : " ", i);
        }
        n++;
    }
    if (json)
        fputc(']', f);
}

void hvt_print_event(FILE *f, const struct hvt_event *ev, unsigned flags)
{
    hvt_print_event_delta(f, ev, NULL, NULL, flags);
}

void hvt_print_event_delta(FILE *f, const struct hvt_event *ev, const struct hvt_vcpu_state *prev,
                           const char *dis, unsigned flags)
{
    unsigned len = ev->insn_len <= HVT_INSN_MAX ? ev->insn_len : HVT_INSN_MAX;
    if (flags & HVT_PRINT_JSON) {
        fprintf(f,
                "{\"type\":\"event\",\"id\":%" PRIu64 ",\"vcpu\":%" PRIu32 ",\"time_ns\":%" PRIu64
                ",\"flags\":",
                ev->id, ev->vcpu, ev->time_ns);
        event_flags(f, ev->flags, 1);
        fprintf(f, ",\"rip\":\"0x%" PRIx64 "\",\"insn\":", ev->init.rip);
        hvt_json_hex(f, ev->insn, len);
        if (dis) {
            fputs(",\"disasm\":", f);
            hvt_json_str(f, dis);
        }
        fprintf(f, ",\"passes\":%" PRIu32, ev->n_passes);
        if (prev) {
            fputs(",\"init_changed\":", f);
            hvt_print_state_diff(f, prev, &ev->init, flags);
        } else {
            fputs(",\"init\":", f);
            json_state(f, &ev->init);
        }
        fputs("}\n", f);
        return;
    }
    fprintf(f, "event %" PRIu64 "  vcpu %" PRIu32 "  rip 0x%" PRIx64 "  insn ", ev->id, ev->vcpu,
            ev->init.rip);
    if (!len)
        fputs("-", f);
    for (unsigned i = 0; i < len; i++)
        fprintf(f, "%s%02x", i ? " " : "", ev->insn[i]);
    if (dis) {
        fputs("  ", f);
        hvt_text_str(f, dis[0] ? dis : "(not disassembled)");
    }
    fprintf(f, "  passes %" PRIu32 "  t+%" PRIu64 "ns", ev->n_passes, ev->time_ns);
    event_flags(f, ev->flags, 0);
    fputc('\n', f);
}

void hvt_print_pass(FILE *f, const struct hvt_event *ev, const struct hvt_pass *p, unsigned flags)
{
    const struct hvt_pass_outcome *o = &p->out;
    if (flags & HVT_PRINT_JSON) {
        fprintf(f,
                "{\"type\":\"pass\",\"event\":%" PRIu64 ",\"index\":%" PRIu32 ",\"outcome\":\"%s\"",
                ev->id, p->index, hvt_outcome_name(o->kind));
        if (o->kind == HVT_OUT_RETRY)
            fprintf(f, ",\"retry_cause\":\"%s\"", hvt_retry_cause_name(o->retry_cause));
        if (o->kind == HVT_OUT_EXCEPTION) {
            fprintf(f, ",\"vector\":%u", o->vector);
            if (o->flags & HVT_PO_HAS_ERROR_CODE)
                fprintf(f, ",\"error_code\":\"0x%" PRIx32 "\"", o->error_code);
            if (o->vector == 14)
                fprintf(f, ",\"cr2\":\"0x%" PRIx64 "\"", o->cr2);
        }
        fprintf(f,
                ",\"iterations\":%" PRIu32 ",\"lost\":%" PRIu32 ",\"accesses\":%" PRIu32
                ",\"changed\":",
                o->iterations, p->lost, p->n_accesses);
        hvt_print_state_diff(f, &ev->init, &p->end, flags);
        fputs("}\n", f);
        return;
    }
    fprintf(f, "  pass %" PRIu32 "  %s", p->index, hvt_outcome_name(o->kind));
    if (o->kind == HVT_OUT_RETRY)
        fprintf(f, " (%s)", hvt_retry_cause_name(o->retry_cause));
    if (o->kind == HVT_OUT_EXCEPTION) {
        fprintf(f, " vector %u", o->vector);
        if (o->flags & HVT_PO_HAS_ERROR_CODE)
            fprintf(f, " error 0x%" PRIx32, o->error_code);
        if (o->vector == 14)
            fprintf(f, " cr2 0x%" PRIx64, o->cr2);
    }
    fprintf(f, "  iterations %" PRIu32 "  accesses %" PRIu32, o->iterations, p->n_accesses);
    if (p->lost)
        fprintf(f, "  lost %" PRIu32, p->lost);
    fputs("  changed: ", f);
    if (!hvt_print_state_diff(f, &ev->init, &p->end, flags))
        fputs("none", f);
    fputc('\n', f);
}

void hvt_print_access(FILE *f, const struct hvt_event *ev, const struct hvt_pass *p, uint32_t idx,
                      const struct hvt_access *a, const struct hvt_callsite *cs, unsigned flags)
{
    size_t size = a->size <= HVT_DATA_MAX ? a->size : HVT_DATA_MAX;
    int cmpx = a->kind == HVT_ACC_CMPXCHG;
    const struct hvt_frame *fr = cs && cs->n_frames && cs->frames ? &cs->frames[0] : NULL;
    char tag[64];
    uint64_t entry;

    if (flags & HVT_PRINT_JSON) {
        fputs("{\"type\":\"access\"", f);
        if (ev)
            fprintf(f, ",\"event\":%" PRIu64, ev->id);
        if (p)
            fprintf(f, ",\"pass\":%" PRIu32, p->index);
        fprintf(f, ",\"index\":%" PRIu32 ",", idx);
        hvt_json_access_fields(f, a);
        if (hvt_access_data_valid(a) && hvt_print_entry_value(a, &entry)) {
            char et[96];
            fprintf(f, ",\"entry\":{\"value\":\"0x%" PRIx64 "\",\"frame\":\"0x%" PRIx64
                       "\",\"decoded\":",
                    entry, hvt_print_entry_frame(entry, a->tag.level, a->size));
            hvt_json_str(f, hvt_print_entry_text(et, sizeof(et), entry, a->tag.level, a->size));
            fputc('}', f);
        }
        if (cmpx) {
            fputs(",\"old\":", f);
            hvt_json_hex(f, a->old, size);
            fputs(",\"cur\":", f);
            hvt_json_hex(f, a->cur, size);
        }
        fprintf(f, ",\"outcome\":\"%s\",\"locked\":%s,\"split\":%s,\"callsite\":%" PRIu32,
                hvt_op_result_name(a->outcome), a->flags & HVT_AF_LOCKED ? "true" : "false",
                a->flags & HVT_AF_SPLIT ? "true" : "false", a->callsite);
        if (a->flags & HVT_AF_RECONSTRUCTED)
            fputs(",\"reconstructed\":true", f);
        if (fr) {
            fprintf(f,
                    ",\"frame\":{\"ip\":\"0x%" PRIx64 "\",\"offset\":\"0x%" PRIx64
                    "\",\"function\":",
                    fr->ip, fr->offset);
            hvt_json_str(f, fr->function);
            fputs(",\"module\":", f);
            hvt_json_str(f, fr->module);
            fputc('}', f);
        }
        fputs("}\n", f);
        return;
    }

    char num[16];
    snprintf(num, sizeof(num), "[%" PRIu32 "]", idx);
    fprintf(f, "    %-5s %-7s %-4s %-14s %-4s", num, hvt_access_kind_name(a->kind),
            hvt_space_name(a->space), hvt_tag_text(tag, sizeof(tag), &a->tag),
            hvt_seg_name(a->seg));
    if (a->flags & HVT_AF_LINEAR_VALID)
        fprintf(f, " lin 0x%" PRIx64, a->linear);
    else
        fputs(" lin -", f);
    fprintf(f, " %s 0x%" PRIx64 " size %" PRIu32, a->space == HVT_SPACE_PORT ? "port" : "phys",
            a->phys, a->size);
    if (cmpx) {
        fputs(" old ", f);
        hvt_text_hex(f, a->old, size);
        fputs(" new ", f);
        hvt_text_hex(f, a->data, size);
        fputs(" cur ", f);
        hvt_text_hex(f, a->cur, size);
    } else if (hvt_access_data_valid(a) && hvt_print_entry_value(a, &entry)) {
        char et[96];
        fprintf(f, " entry 0x%0*" PRIx64 " (%s)", (int)(2 * a->size), entry,
                hvt_print_entry_text(et, sizeof(et), entry, a->tag.level, a->size));
    } else if (hvt_access_data_valid(a)) {
        fputs(" data ", f);
        hvt_text_hex(f, a->data, size);
    } else {
        fputs(" data -", f);
    }
    fprintf(f, " %s", hvt_op_result_name(a->outcome));
    if (a->flags & HVT_AF_LOCKED)
        fputs(" locked", f);
    if (a->flags & HVT_AF_SPLIT)
        fputs(" split", f);
    if (a->flags & HVT_AF_RECONSTRUCTED)
        fputs(" reconstructed", f);
    if (a->callsite) {
        fprintf(f, " site %" PRIu32, a->callsite);
        if (fr && fr->function) {
            fputc(' ', f);
            hvt_text_str(f, fr->function);
            fprintf(f, "+0x%" PRIx64, fr->offset);
        } else if (fr)
            fprintf(f, " 0x%" PRIx64, fr->ip);
    }
    fputc('\n', f);
}

void hvt_print_lost(FILE *f, const struct hvt_lost *l, unsigned flags)
{
    if (flags & HVT_PRINT_JSON) {
        fprintf(f,
                "{\"type\":\"lost\",\"vcpu\":%" PRIu32 ",\"count\":%" PRIu64 ",\"event\":", l->vcpu,
                l->count);
        if (l->event_id == HVT_NO_EVENT)
            fputs("null", f);
        else
            fprintf(f, "%" PRIu64, l->event_id);
        fprintf(f, ",\"pass\":%" PRIu32 ",\"access\":%" PRIu32 "}\n", l->pass, l->access);
        return;
    }
    fprintf(f, "lost %" PRIu64 " records  vcpu %" PRIu32, l->count, l->vcpu);
    if (l->event_id != HVT_NO_EVENT)
        fprintf(f, "  at event %" PRIu64 " pass %" PRIu32 " access %" PRIu32, l->event_id, l->pass,
                l->access);
    fputc('\n', f);
}

void hvt_print_fmt_error(const char *path, const struct hvt_fmt_error_info *e)
{
    if (!e || !e->code) {
        hvt_tool_err("%s: unknown error", path);
        return;
    }
    fprintf(stderr, "hvtrace: %s: offset %" PRIu64, path, e->offset);
    if (e->chunk >= 0)
        fprintf(stderr, ", chunk %" PRId64, e->chunk);
    if (e->record >= 0)
        fprintf(stderr, ", record %" PRId64, e->record);
    fprintf(stderr, ": %s\n", e->message[0] ? e->message : hvt_strerror(e->code));
}

int hvt_print_open(struct hvt_fmt_reader **out, const char *path, unsigned flags)
{
    struct hvt_fmt_reader_options opt;
    struct hvt_fmt_reader *r = NULL;
    int rc;

    if (!path || !*path) {
        hvt_tool_err("empty trace path");
        *out = NULL;
        return HVT_EXIT_USAGE;
    }
    hvt_fmt_reader_options_init(&opt);
    opt.flags = flags;
    rc = hvt_fmt_reader_open(&r, path, &opt);
    if (rc >= 0) {
        *out = r;
        return 0;
    }
    if (r && hvt_fmt_reader_error(r)->code)
        hvt_print_fmt_error(path, hvt_fmt_reader_error(r));
    else
        hvt_tool_err("%s: %s", path, hvt_strerror(rc));
    hvt_fmt_reader_close(r);
    *out = NULL;
    return rc == -HVT_E_INVALID ? HVT_EXIT_USAGE : HVT_EXIT_CORRUPT;
}

int hvt_print_new_error(const char *path, const struct hvt_fmt_reader *r,
                        struct hvt_fmt_error_info *seen)
{
    const struct hvt_fmt_error_info *e = hvt_fmt_reader_error(r);
    if (!e || !e->code)
        return 0;
    if (e->code == seen->code && e->offset == seen->offset && e->chunk == seen->chunk &&
        e->record == seen->record && !strcmp(e->message, seen->message))
        return 0;
    *seen = *e;
    hvt_print_fmt_error(path, e);
    return 1;
}

int hvt_print_next(const char *path, struct hvt_fmt_reader *r, struct hvt_record *rec,
                   struct hvt_fmt_error_info *seen, int *status)
{
    int rc = hvt_fmt_reader_next(r, rec);
    if (hvt_print_new_error(path, r, seen))
        *status = HVT_EXIT_CORRUPT;
    if (rc < 0) {
        if (!seen->code)
            hvt_tool_err("%s: %s", path, hvt_strerror(rc));
        *status = HVT_EXIT_CORRUPT;
        return 0;
    }
    return rc > 0;
}

void hvt_print_header(FILE *f, const struct hvt_fmt_header *h, unsigned flags)
{
    char uuid[40];
    size_t n = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            uuid[n++] = '-';
        n += (size_t)snprintf(uuid + n, sizeof(uuid) - n, "%02x", h->uuid[i]);
    }
    if (flags & HVT_PRINT_JSON) {
        fprintf(f,
                "{\"type\":\"header\",\"format\":\"%" PRIu32 ".%" PRIu32
                "\",\"min_reader_major\":%" PRIu32 ",\"producer\":",
                h->format_major, h->format_minor, h->min_reader_major);
        hvt_json_str(f, h->producer);
        fputs(",\"producer_version\":", f);
        hvt_json_str(f, h->producer_version);
        fputs(",\"cpu_vendor\":", f);
        hvt_json_str(f, h->cpu_vendor);
        fprintf(f,
                ",\"cpu_family\":%" PRIu32 ",\"cpu_model\":%" PRIu32 ",\"cpu_stepping\":%" PRIu32
                ",\"cpu_features\":",
                h->cpu_family, h->cpu_model, h->cpu_stepping);
        hvt_json_str(f, h->cpu_features);
        fputs(",\"hypervisor\":", f);
        hvt_json_str(f, h->hypervisor);
        fputs(",\"hypervisor_version\":", f);
        hvt_json_str(f, h->hypervisor_version);
        fputs(",\"core_name\":", f);
        hvt_json_str(f, h->core_name);
        fputs(",\"core_version\":", f);
        hvt_json_str(f, h->core_version);
        fputs(",\"core_build_id\":", f);
        hvt_json_str(f, h->core_build_id);
        fputs(",\"options\":{", f);
        for (size_t i = 0; h->options && i < h->n_options; i++) {
            if (i)
                fputc(',', f);
            hvt_json_str(f, h->options[i].key ? h->options[i].key : "");
            fputc(':', f);
            hvt_json_str(f, h->options[i].value);
        }
        fprintf(f, "},\"uuid\":\"%s\",\"start_time_ns\":%" PRIu64 ",", uuid, h->start_time_ns);
        hvt_print_cpu(f, h, flags, "");
        fputs("}\n", f);
        return;
    }
    fprintf(f, "trace  format %" PRIu32 ".%" PRIu32 "  producer ", h->format_major,
            h->format_minor);
    hvt_text_str(f, h->producer);
    fputc(' ', f);
    hvt_text_str(f, h->producer_version);
    fputs("  core ", f);
    hvt_text_str(f, h->core_name);
    fputc(' ', f);
    hvt_text_str(f, h->core_version);
    fprintf(f, "  uuid %s\n", uuid);
    hvt_print_cpu(f, h, flags, "cpu    ");
}

void hvt_print_cpu(FILE *f, const struct hvt_fmt_header *h, unsigned flags, const char *indent)
{
    static const char *const sources[] = {"recorded", "partial", "default", "unreadable"};
    struct hvt_cpu_profile p;
    char warn[512];
    int src = hvt_fmt_header_cpu(h, &p, warn, sizeof(warn));
    const char *sname = src >= 0 && src < 4 ? sources[src] : "?";
    if (flags & HVT_PRINT_JSON) {
        fputs("\"cpu\":{\"source\":", f);
        hvt_json_str(f, sname);
        fputs(",\"name\":", f);
        hvt_json_str(f, p.name);
        fputs(",\"vendor\":", f);
        hvt_json_str(f, p.vendor);
        fprintf(f, ",\"family\":%" PRIu32 ",\"model\":%" PRIu32 ",\"stepping\":%" PRIu32
                   ",\"features\":[",
                p.family, p.model, p.stepping);
        for (unsigned i = 0, k = 0; i < HVT_CPUF__COUNT; i++)
            if (HVT_CPU_HAS(&p, i)) {
                if (k++)
                    fputc(',', f);
                hvt_json_str(f, hvt_cpu_feature_name(i));
            }
        fputs("],\"choices\":{", f);
        for (unsigned c = 0; c < HVT_CPUC__COUNT; c++) {
            if (c)
                fputc(',', f);
            hvt_json_str(f, hvt_cpu_choice_name(c));
            fputc(':', f);
            hvt_json_str(f, hvt_cpu_choice_value_name(c, p.choice[c]));
        }
        fputc('}', f);
        if (warn[0]) {
            fputs(",\"warning\":", f);
            hvt_json_str(f, warn);
        }
        fputc('}', f);
        return;
    }
    fprintf(f, "%s", indent);
    hvt_text_str(f, p.name);
    fputs("  ", f);
    hvt_text_str(f, p.vendor);
    fprintf(f, " family %" PRIu32 " model %" PRIu32 " stepping %" PRIu32 "  (%s)\n", p.family,
            p.model, p.stepping, sname);
    fprintf(f, "%*s", (int)strlen(indent), "");
    fputs("features", f);
    for (unsigned i = 0; i < HVT_CPUF__COUNT; i++)
        if (HVT_CPU_HAS(&p, i))
            fprintf(f, " %s", hvt_cpu_feature_name(i));
    fputc('\n', f);
    fprintf(f, "%*s", (int)strlen(indent), "");
    fputs("choices", f);
    for (unsigned c = 0; c < HVT_CPUC__COUNT; c++)
        fprintf(f, " %s=%s", hvt_cpu_choice_name(c), hvt_cpu_choice_value_name(c, p.choice[c]));
    fputc('\n', f);
    if (warn[0]) {
        fprintf(f, "%*s", (int)strlen(indent), "");
        fputs("note ", f);
        hvt_text_str(f, warn);
        fputc('\n', f);
    }
}

int hvt_print_entry_value(const struct hvt_access *a, uint64_t *value)
{
    uint64_t v = 0;
    if ((a->tag.cls != HVT_TAG_WALK && a->tag.cls != HVT_TAG_AD) || (a->size != 4 && a->size != 8))
        return 0;
    for (unsigned i = 0; i < a->size; i++)
        v |= (uint64_t)a->data[i] << (8 * i);
    *value = v;
    return 1;
}

uint64_t hvt_print_entry_frame(uint64_t v, unsigned level, unsigned size)
{
    int large = (v & 0x80) && (level == 2 || level == 3);
    if (size == 4) /* 32-bit paging: a 4 MiB page keeps bits 22..31 */
        return large ? v & 0xffc00000ull : v & 0xfffff000ull;
    if (large) /* bit 12 is PAT in a large-page entry */
        return v & (level == 3 ? 0x000fffffc0000000ull : 0x000fffffffe00000ull);
    return v & 0x000ffffffffff000ull;
}

const char *hvt_print_entry_text(char *buf, size_t len, uint64_t v, unsigned level, unsigned size)
{
    static const struct {
        unsigned bit;
        const char *name;
    } bits[] = {{1, "RW"}, {2, "US"}, {5, "A"}, {6, "D"}, {7, "PS"}, {63, "NX"}};
    size_t n;
    if (!(v & 1)) {
        snprintf(buf, len, "not present");
        return buf;
    }
    n = (size_t)snprintf(buf, len, "frame 0x%" PRIx64 " P", hvt_print_entry_frame(v, level, size));
    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]) && n < len; i++) {
        if (bits[i].bit >= 8 * size || !(v & (1ull << bits[i].bit)))
            continue;
        /* PS means a large page only at levels 2 and 3 (it is PAT in a PTE) */
        if (bits[i].bit == 7 && level != 2 && level != 3)
            continue;
        n += (size_t)snprintf(buf + n, len - n, " %s", bits[i].name);
    }
    return buf;
}

uint64_t hvt_print_event_total(struct hvt_fmt_reader *r)
{
    struct hvt_fmt_chunk_info ci;
    int64_t n;
    if (hvt_fmt_reader_has_index(r) != 1)
        return 0;
    n = hvt_fmt_reader_chunk_count(r);
    for (int64_t k = n - 1; k >= 0; k--)
        if (hvt_fmt_reader_chunk_info(r, (uint64_t)k, &ci) == 0 && ci.first_event_id != HVT_NO_EVENT)
            return ci.last_event_id + 1;
    return 0;
}
