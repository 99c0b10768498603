/* SPDX-License-Identifier: MIT */
/* Replayer: summaries, and text / JSON-lines reports of findings (schema: docs/REPLAY.md). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/print.h"
#include "internal.h"

static const char *const whatif_names[4] = {"none", "removed", "kept", "undetermined"};
static const char *const cache_names[HVT_RPL_CACHE__COUNT] = {"none", "walk", "full"};

/* ---- summary ----------------------------------------------------------------------------- */

void hvt_rpl_summary_init(struct hvt_rpl_summary *s)
{
    memset(s, 0, sizeof(*s));
    s->first_divergent = HVT_NO_EVENT;
    s->first_cannot = HVT_NO_EVENT;
}

static void count_mnemonic(struct hvt_rpl_summary *s, const char *m)
{
    size_t i;
    for (i = 0; i < s->n_mnemonics; i++)
        if (!strcmp(s->mnemonics[i].name, m))
            break;
    if (i == s->n_mnemonics) {
        if (i == HVT_RPL_MAX_MNEMONICS)
            i--, m = "other"; /* the last slot collects the rest */
        else
            s->n_mnemonics++;
        snprintf(s->mnemonics[i].name, sizeof(s->mnemonics[i].name), "%s", m);
    }
    s->mnemonics[i].count++;
}

void hvt_rpl_summary_add(struct hvt_rpl_summary *s, const struct hvt_rpl_event_report *rep)
{
    const struct hvt_event *ev = rep->ev;
    s->events++;
    s->accesses += rep->accesses;
    if (ev && ev->n_passes >= 2)
        s->multi_pass++;
    switch (rep->status) {
    case HVT_RPL_ST_CANNOT:
        s->cannot_replay++;
        if (s->first_cannot == HVT_NO_EVENT && ev)
            s->first_cannot = ev->id;
        break;
    case HVT_RPL_ST_SKIPPED:
        s->skipped++;
        break;
    default:
        s->replayed++;
        break;
    }
    for (size_t i = 0; i < rep->n_findings; i++) {
        const struct hvt_rpl_finding *f = &rep->findings[i];
        unsigned tag = HVT_TAG__COUNT;
        if (f->cls < HVT_RPL__COUNT)
            s->by_class[f->cls]++;
        if (hvt_rpl_class_benign(f->cls))
            continue;
        if (f->idx_a >= 0 && f->acc_a.tag.cls < HVT_TAG__COUNT)
            tag = f->acc_a.tag.cls;
        else if (f->idx_b >= 0 && f->acc_b.tag.cls < HVT_TAG__COUNT)
            tag = f->acc_b.tag.cls;
        s->by_tag[tag]++;
    }
    if (rep->n_divergent) {
        s->divergent_events++;
        if (s->first_divergent == HVT_NO_EVENT && ev)
            s->first_divergent = ev->id;
        count_mnemonic(s, rep->mnemonic[0] ? rep->mnemonic : "?");
    }
    if (rep->whatif >= 0 && rep->whatif < 4)
        s->whatif[rep->whatif]++;
    if (rep->whatif != HVT_RPL_WHATIF_NONE && rep->whatif_completes)
        s->whatif_completes++;
}

/* ---- output helpers ------------------------------------------------------------------------ */

static const struct hvt_callsite *site(const struct hvt_rpl_event_report *rep,
                                       const struct hvt_access *a)
{
    if (!rep->chunk || !a->callsite)
        return NULL;
    return hvt_fmt_chunk_callsite(rep->chunk, a->callsite);
}

static void text_access(FILE *f, const struct hvt_rpl_event_report *rep, const char *side,
                        uint32_t pass, int32_t idx, const struct hvt_access *a)
{
    size_t n = a->size <= HVT_DATA_MAX ? a->size : HVT_DATA_MAX;
    const struct hvt_callsite *cs;
    char tag[48];

    if (idx < 0) {
        fprintf(f, "    %s pass %u: (no such access)\n", side, pass);
        return;
    }
    fprintf(f, "    %s pass %u [%d] %s %s %s", side, pass, idx, hvt_access_kind_name(a->kind),
            hvt_space_name(a->space), hvt_tag_text(tag, sizeof(tag), &a->tag));
    if (a->flags & HVT_AF_LINEAR_VALID)
        fprintf(f, " lin 0x%" PRIx64, a->linear);
    fprintf(f, " %s 0x%" PRIx64 " size %u", a->space == HVT_SPACE_PORT ? "port" : "phys", a->phys,
            a->size);
    if (a->kind == HVT_ACC_CMPXCHG) {
        fputs(" old ", f);
        hvt_text_hex(f, a->old, n);
        fputs(" new ", f);
        hvt_text_hex(f, a->data, n);
    } else if (hvt_access_data_valid(a)) {
        fputs(" data ", f);
        hvt_text_hex(f, a->data, n);
    }
    fprintf(f, " %s%s\n", hvt_op_result_name(a->outcome),
            a->flags & HVT_AF_RECONSTRUCTED ? " reconstructed" : "");
    cs = site(rep, a);
    if (cs) {
        fprintf(f, "      call site %u:", cs->id);
        for (uint32_t i = 0; i < cs->n_frames && i < 4 && cs->frames; i++) {
            const struct hvt_frame *fr = &cs->frames[i];
            fputs(i ? " <- " : " ", f);
            if (fr->function) {
                hvt_text_str(f, fr->function);
                fprintf(f, "+0x%" PRIx64, fr->offset);
            } else {
                fprintf(f, "0x%" PRIx64, fr->ip);
            }
        }
        fputc('\n', f);
    } else if (a->callsite) {
        fprintf(f, "      call site %u (not defined in this chunk)\n", a->callsite);
    }
}

static void json_access(FILE *f, const struct hvt_rpl_event_report *rep, int32_t idx,
                        const struct hvt_access *a)
{
    size_t n = a->size <= HVT_DATA_MAX ? a->size : HVT_DATA_MAX;
    const struct hvt_callsite *cs;
    if (idx < 0) {
        fputs("null", f);
        return;
    }
    fprintf(f, "{\"index\":%d,", idx);
    hvt_json_access_fields(f, a);
    if (a->kind == HVT_ACC_CMPXCHG) {
        fputs(",\"old\":", f);
        hvt_json_hex(f, a->old, n);
    }
    fprintf(f, ",\"outcome\":\"%s\",\"callsite\":%u", hvt_op_result_name(a->outcome), a->callsite);
    if (a->flags & HVT_AF_RECONSTRUCTED)
        fputs(",\"reconstructed\":true", f);
    cs = site(rep, a);
    if (cs) {
        fputs(",\"frames\":[", f);
        for (uint32_t i = 0; i < cs->n_frames && cs->frames; i++) {
            const struct hvt_frame *fr = &cs->frames[i];
            fprintf(f, "%s{\"ip\":\"0x%" PRIx64 "\",\"offset\":\"0x%" PRIx64 "\",\"function\":",
                    i ? "," : "", fr->ip, fr->offset);
            hvt_json_str(f, fr->function);
            fputs(",\"module\":", f);
            hvt_json_str(f, fr->module);
            fputc('}', f);
        }
        fputc(']', f);
    }
    fputc('}', f);
}

static void json_event_head(FILE *f, const char *type, const struct hvt_rpl_event_report *rep)
{
    const struct hvt_event *ev = rep->ev;
    unsigned len = ev->insn_len <= HVT_INSN_MAX ? ev->insn_len : HVT_INSN_MAX;
    fprintf(
        f, "{\"type\":\"%s\",\"event\":%" PRIu64 ",\"vcpu\":%u,\"rip\":\"0x%" PRIx64 "\",\"insn\":",
        type, ev->id, ev->vcpu, ev->init.rip);
    hvt_json_hex(f, ev->insn, len);
    fputs(",\"mnemonic\":", f);
    hvt_json_str(f, rep->mnemonic);
    fputs(",\"disasm\":", f);
    hvt_json_str(f, rep->disasm);
    fprintf(f, ",\"passes\":%u", ev->n_passes);
}

int hvt_rpl_print_event(FILE *f, const struct hvt_rpl_event_report *rep, unsigned flags)
{
    const struct hvt_event *ev;
    int json = flags & HVT_RPL_PRINT_JSON, shown = 0, head = 0;

    if (!f || !rep || !rep->ev)
        return 0;
    ev = rep->ev;
    if (rep->status == HVT_RPL_ST_CANNOT) {
        if (json) {
            json_event_head(f, "cannot_replay", rep);
            fputs(",\"why\":", f);
            hvt_json_str(f, rep->why);
            fputs("}\n", f);
        } else {
            fprintf(f, "event %" PRIu64 "  vcpu %u  rip 0x%" PRIx64 "  %s: cannot replay: %s\n",
                    ev->id, ev->vcpu, ev->init.rip, rep->disasm[0] ? rep->disasm : "?", rep->why);
        }
        shown++;
    }
    for (size_t i = 0; i < rep->n_findings; i++) {
        const struct hvt_rpl_finding *x = &rep->findings[i];
        int benign = hvt_rpl_class_benign(x->cls);
        if (benign && !(flags & HVT_RPL_PRINT_VERBOSE))
            continue;
        shown++;
        if (json) {
            json_event_head(f, "divergence", rep);
            fprintf(f, ",\"class\":\"%s\",\"benign\":%s,\"pass_a\":%u,\"pass_b\":%u,\"detail\":",
                    hvt_rpl_class_name(x->cls), benign ? "true" : "false", x->pass_a, x->pass_b);
            hvt_json_str(f, x->detail);
            fputs(",\"a\":", f);
            json_access(f, rep, x->idx_a, &x->acc_a);
            fputs(",\"b\":", f);
            json_access(f, rep, x->idx_b, &x->acc_b);
            if (x->has_data_phys)
                fprintf(f, ",\"data_phys\":[\"0x%" PRIx64 "\",\"0x%" PRIx64 "\"]", x->data_phys_a,
                        x->data_phys_b);
            fputs("}\n", f);
            continue;
        }
        if (!head) {
            unsigned len = ev->insn_len <= HVT_INSN_MAX ? ev->insn_len : HVT_INSN_MAX;
            fprintf(f, "event %" PRIu64 "  vcpu %u  rip 0x%" PRIx64 "  %s  [", ev->id, ev->vcpu,
                    ev->init.rip, rep->disasm[0] ? rep->disasm : "?");
            for (unsigned j = 0; j < len; j++)
                fprintf(f, "%s%02x", j ? " " : "", ev->insn[j]);
            fprintf(f, "]  %u pass(es)\n", ev->n_passes);
            head = 1;
        }
        fprintf(f, "  %s%s  ", hvt_rpl_class_name(x->cls), benign ? " (benign)" : "");
        if (x->cls == HVT_RPL_REPLAY_MISMATCH)
            fprintf(f, "pass %u: recorded (a) vs replayed core (b)\n", x->pass_a);
        else if (x->pass_a == x->pass_b)
            fprintf(f, "pass %u\n", x->pass_a);
        else
            fprintf(f, "pass %u vs pass %u\n", x->pass_a, x->pass_b);
        fputs("    ", f);
        hvt_text_str(f, x->detail);
        fputc('\n', f);
        if (x->idx_a >= 0 || x->idx_b >= 0) {
            text_access(f, rep, "a:", x->pass_a, x->idx_a, &x->acc_a);
            text_access(f, rep, "b:", x->pass_b, x->idx_b, &x->acc_b);
        }
        if (x->has_data_phys)
            fprintf(f, "    data access: phys 0x%" PRIx64 " in pass %u, 0x%" PRIx64 " in pass %u\n",
                    x->data_phys_a, x->pass_a, x->data_phys_b, x->pass_b);
    }
    if (rep->whatif != HVT_RPL_WHATIF_NONE && (shown || rep->n_divergent)) {
        if (json) {
            json_event_head(f, "whatif", rep);
            fprintf(f, ",\"verdict\":\"%s\",\"completes\":%s,\"detail\":",
                    whatif_names[rep->whatif & 3], rep->whatif_completes ? "true" : "false");
            hvt_json_str(f, rep->whatif_detail);
            fputs("}\n", f);
        } else {
            fprintf(f, "  what-if: %s: ",
                    rep->whatif == HVT_RPL_WHATIF_REMOVED ? "the policy removes the divergence"
                    : rep->whatif == HVT_RPL_WHATIF_KEPT  ? "the divergence remains"
                                                          : "undetermined");
            fprintf(f, "%s",
                    rep->whatif_completes ? "the event completes as the first pass "
                                            "predicted"
                                          : "the event does not complete as the first "
                                            "pass predicted");
            if (rep->whatif_detail[0]) {
                fputs(" (", f);
                hvt_text_str(f, rep->whatif_detail);
                fputc(')', f);
            }
            fputc('\n', f);
        }
    }
    return shown;
}

void hvt_rpl_print_summary(FILE *f, const struct hvt_rpl_summary *s, unsigned cache, unsigned flags)
{
    int json = flags & HVT_RPL_PRINT_JSON;
    const char *cn = cache < HVT_RPL_CACHE__COUNT ? cache_names[cache] : "?";
    if (json) {
        fprintf(f,
                "{\"type\":\"summary\",\"events\":%" PRIu64 ",\"replayed\":%" PRIu64
                ",\"cannot_replay\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"multi_pass\":%" PRIu64
                ",\"accesses\":%" PRIu64 ",\"divergent_events\":%" PRIu64 ",\"first_divergent\":",
                s->events, s->replayed, s->cannot_replay, s->skipped, s->multi_pass, s->accesses,
                s->divergent_events);
        if (s->first_divergent == HVT_NO_EVENT)
            fputs("null", f);
        else
            fprintf(f, "%" PRIu64, s->first_divergent);
        fputs(",\"by_class\":{", f);
        for (unsigned i = 0; i < HVT_RPL__COUNT; i++)
            fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", hvt_rpl_class_name(i), s->by_class[i]);
        fputs("},\"by_tag_class\":{", f);
        for (unsigned i = 0; i <= HVT_TAG__COUNT; i++)
            fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "",
                    i < HVT_TAG__COUNT ? hvt_tag_class_name(i) : "none", s->by_tag[i]);
        fputs("},\"by_mnemonic\":{", f);
        for (size_t i = 0; i < s->n_mnemonics; i++) {
            fputs(i ? "," : "", f);
            hvt_json_str(f, s->mnemonics[i].name);
            fprintf(f, ":%" PRIu64, s->mnemonics[i].count);
        }
        fprintf(f,
                "},\"whatif\":{\"cache\":\"%s\",\"removed\":%" PRIu64 ",\"kept\":%" PRIu64
                ",\"undetermined\":%" PRIu64 ",\"completes\":%" PRIu64 "}}\n",
                cn, s->whatif[HVT_RPL_WHATIF_REMOVED], s->whatif[HVT_RPL_WHATIF_KEPT],
                s->whatif[HVT_RPL_WHATIF_UNKNOWN], s->whatif_completes);
        return;
    }
    fprintf(f,
            "summary: %" PRIu64 " events (%" PRIu64 " with several passes), %" PRIu64
            " replayed, %" PRIu64 " cannot be replayed, %" PRIu64 " skipped, %" PRIu64
            " accesses\n",
            s->events, s->multi_pass, s->replayed, s->cannot_replay, s->skipped, s->accesses);
    fprintf(f, "  divergent events: %" PRIu64, s->divergent_events);
    if (s->first_divergent != HVT_NO_EVENT)
        fprintf(f, " (first: event %" PRIu64 ")", s->first_divergent);
    fputc('\n', f);
    fputs("  by class:", f);
    for (unsigned i = 0; i < HVT_RPL__COUNT; i++)
        fprintf(f, " %s=%" PRIu64 "%s", hvt_rpl_class_name(i), s->by_class[i],
                hvt_rpl_class_benign(i) ? "(benign)" : "");
    fputs("\n  by tag class:", f);
    for (unsigned i = 0; i <= HVT_TAG__COUNT; i++)
        if (s->by_tag[i])
            fprintf(f, " %s=%" PRIu64, i < HVT_TAG__COUNT ? hvt_tag_class_name(i) : "none",
                    s->by_tag[i]);
    fputs("\n  by mnemonic:", f);
    for (size_t i = 0; i < s->n_mnemonics; i++) {
        fputc(' ', f);
        hvt_text_str(f, s->mnemonics[i].name);
        fprintf(f, "=%" PRIu64, s->mnemonics[i].count);
    }
    fputc('\n', f);
    if (cache != HVT_RPL_CACHE_NONE)
        fprintf(f,
                "  what-if cache=%s: removed %" PRIu64 ", kept %" PRIu64 ", undetermined %" PRIu64
                "; completes as the first pass predicted: %" PRIu64 "\n",
                cn, s->whatif[HVT_RPL_WHATIF_REMOVED], s->whatif[HVT_RPL_WHATIF_KEPT],
                s->whatif[HVT_RPL_WHATIF_UNKNOWN], s->whatif_completes);
}
