/* SPDX-License-Identifier: MIT */
/* hvtrace report: one self-contained HTML page of a replay: passes side by side, timeline. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filter.h"
#include "hvtrace/replay.h"
#include "print.h"
#include "util.h"

static const char *const known[] = {"-o",     "--output",
                                    "-f",     "--force",
                                    "--all",  "--max",
                                    "--core", "--core-option",
                                    "--cpu",  HVT_FILTER_OPTION_NAMES,
                                    "--help", NULL};

static void help(FILE *f)
{
    fprintf(f,
            "usage: hvtrace report FILE -o OUT.html [-f] [--all] [--max N] [--core C]\n"
            "                      [--core-option K=V]... [--cpu P] [selection]\n"
            "\n"
            "Replays FILE (as hvtrace replay does) and writes one self-contained HTML page (no\n"
            "network, no external scripts or fonts) for a bug report:\n"
            "  - the summary (findings by class, tag class and mnemonic);\n"
            "  - a timeline of the passes across the vCPUs, coloured by outcome, diverging\n"
            "    events marked in red;\n"
            "  - per diverging event: the instruction disassembled, its findings with the call\n"
            "    site of each access, and the passes side by side, accesses aligned by tag,\n"
            "    the cells that differ from the pass before highlighted (the diverging access\n"
            "    outlined), page-walk entries decoded (frame, P RW US A D PS NX).\n"
            "\n"
            "  -o, --output OUT  the page to write (-f: replace it)\n"
            "  --all             detail every selected event, not only diverging ones\n"
            "  --max N           detail at most N events (default 100; the summary and timeline\n"
            "                    count all)\n"
            "  --core, --core-option, --cpu   as for hvtrace replay\n"
            "selection (the page shows the selected events):\n%s"
            "\n"
            "exit: 0 written (whether or not there are divergences), 2 usage error, 3 corrupt\n"
            "      or unreadable trace, 4 OUT cannot be written\n",
            hvt_filter_help);
}

/* ---- HTML ------------------------------------------------------------------------------- */

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '<')
            fputs("&lt;", f);
        else if (c == '>')
            fputs("&gt;", f);
        else if (c == '&')
            fputs("&amp;", f);
        else if (c == '"')
            fputs("&quot;", f);
        else if (c < 0x20 || c > 0x7e)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}

static const char css[] =
    "body{font:13px/1.4 sans-serif;margin:16px;color:#222}"
    "h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ccc;padding:2px 6px;"
    "vertical-align:top;font-family:monospace;font-size:12px}th{background:#eee}"
    "td.diff{background:#fff2a8}td.diverge{background:#ffc9c9;outline:2px solid #d00}"
    "td.missing{background:#f3f3f3;color:#999}td.missing.diff{background:#fff2a8}.benign{color:#"
    "777}"
    ".finding{margin:2px 0}.cls{font-weight:bold;color:#b00}.cls.benign{color:#777}"
    ".event{margin-bottom:24px}.small{color:#666;font-size:11px}"
    "#status{font-weight:bold}svg text{font:11px sans-serif}";

/* Counts the highlighted cells and says so on the page; "only differing rows" toggles. */
static const char js[] =
    "(function(){var d=document.querySelectorAll('td.diverge').length;"
    "var c=document.querySelectorAll('td.diff').length;"
    "document.getElementById('status').textContent=d+' diverging access(es) outlined, '+c+"
    "' differing cell(s) highlighted';"
    "var b=document.getElementById('onlydiff');if(b){b.addEventListener('click',function(){"
    "var rows=document.querySelectorAll('tr.same');for(var i=0;i<rows.length;i++)"
    "rows[i].style.display=rows[i].style.display==='none'?'':'none';});}"
    "document.body.setAttribute('data-ready','1');"
    "console.log('hvtrace-report: ready '+d+' '+c);})();";

/* ---- aligning passes by tag ------------------------------------------------------------- */

struct key {
    uint8_t kind, cls, operand, level;
    uint32_t element, occ; /* occ: the how-manieth access of this tag in its pass */
};

struct rowmap {
    size_t n, cap;
    struct key *keys;
    int32_t *cell; /* n * passes: access index per pass, -1 none */
};

static int key_eq(const struct key *a, const struct key *b)
{
    return a->kind == b->kind && a->cls == b->cls && a->operand == b->operand &&
           a->level == b->level && a->element == b->element && a->occ == b->occ;
}

static struct key key_of(const struct hvt_access *a, uint32_t occ)
{
    struct key k = {a->kind, a->tag.cls, a->tag.operand, a->tag.level, a->tag.element, occ};
    return k;
}

/* Rows of the passes of EV: pass 0 gives the first rows; an access of a later pass goes on
 * the row of its tag (and occurrence), or on a new row after the last one it matched. */
static int align(struct rowmap *m, const struct hvt_event *ev)
{
    uint32_t np = ev->n_passes;
    memset(m, 0, sizeof(*m));
    for (uint32_t p = 0; p < np; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        size_t cursor = 0;
        for (uint32_t i = 0; i < ps->n_accesses; i++) {
            uint32_t occ = 0;
            struct key k;
            size_t r;
            for (uint32_t j = 0; j < i; j++) {
                struct key kj = key_of(&ps->accesses[j], 0);
                struct key ki = key_of(&ps->accesses[i], 0);
                occ += key_eq(&kj, &ki);
            }
            k = key_of(&ps->accesses[i], occ);
            for (r = 0; r < m->n && !key_eq(&m->keys[r], &k); r++)
                ;
            if (r == m->n) {
                if (m->n == m->cap) {
                    size_t nc = m->cap ? 2 * m->cap : 64;
                    struct key *nk = realloc(m->keys, nc * sizeof(*nk));
                    int32_t *ncell;
                    if (!nk)
                        return -1;
                    m->keys = nk;
                    ncell = realloc(m->cell, nc * np * sizeof(*ncell));
                    if (!ncell)
                        return -1;
                    m->cell = ncell;
                    m->cap = nc;
                }
                r = cursor < m->n ? cursor : m->n;
                memmove(&m->keys[r + 1], &m->keys[r], (m->n - r) * sizeof(*m->keys));
                memmove(&m->cell[(r + 1) * np], &m->cell[r * np],
                        (m->n - r) * np * sizeof(*m->cell));
                m->keys[r] = k;
                for (uint32_t q = 0; q < np; q++)
                    m->cell[r * np + q] = -1;
                m->n++;
            }
            m->cell[r * np + p] = (int32_t)i;
            cursor = r + 1;
        }
    }
    return 0;
}

static int cell_differs(const struct hvt_access *a, const struct hvt_access *b)
{
    size_t n = a->size <= HVT_DATA_MAX ? a->size : HVT_DATA_MAX;
    return a->phys != b->phys || a->linear != b->linear || a->size != b->size ||
           a->outcome != b->outcome || hvt_access_data_valid(a) != hvt_access_data_valid(b) ||
           (hvt_access_data_valid(a) && memcmp(a->data, b->data, n));
}

static void cell(FILE *f, const struct hvt_rpl_event_report *rep, const struct hvt_access *a)
{
    const struct hvt_callsite *cs =
        a->callsite && rep->chunk ? hvt_fmt_chunk_callsite(rep->chunk, a->callsite) : NULL;
    uint64_t v;
    char et[96];
    fprintf(f, "%s %s", hvt_access_kind_name(a->kind), hvt_space_name(a->space));
    if (a->flags & HVT_AF_LINEAR_VALID)
        fprintf(f, " lin 0x%" PRIx64, a->linear);
    fprintf(f, "<br>%s 0x%" PRIx64 " size %u<br>", a->space == HVT_SPACE_PORT ? "port" : "phys",
            a->phys, a->size);
    if (hvt_access_data_valid(a) && hvt_print_entry_value(a, &v)) {
        fprintf(f, "entry 0x%0*" PRIx64 "<br>", (int)(2 * a->size), v);
        esc(f, hvt_print_entry_text(et, sizeof(et), v, a->tag.level, a->size));
    } else if (hvt_access_data_valid(a)) {
        fputs("data ", f);
        for (unsigned i = 0; i < a->size && i < HVT_DATA_MAX; i++)
            fprintf(f, "%02x", a->data[i]);
    } else {
        fputs("data -", f);
    }
    fprintf(f, " %s", hvt_op_result_name(a->outcome));
    if (cs && cs->n_frames && cs->frames) {
        fputs("<br><span class=small>at ", f);
        if (cs->frames[0].function) {
            esc(f, cs->frames[0].function);
            fprintf(f, "+0x%" PRIx64, cs->frames[0].offset);
        } else {
            fprintf(f, "0x%" PRIx64, cs->frames[0].ip);
        }
        fputs("</span>", f);
    }
}

/* Whether pass P's access I is a finding's access. */
static int is_diverging(const struct hvt_rpl_event_report *rep, uint32_t p, uint32_t i)
{
    for (size_t k = 0; k < rep->n_findings; k++) {
        const struct hvt_rpl_finding *x = &rep->findings[k];
        if (hvt_rpl_class_benign(x->cls))
            continue;
        if ((x->pass_a == p && x->idx_a == (int32_t)i) ||
            (x->pass_b == p && x->idx_b == (int32_t)i))
            return 1;
    }
    return 0;
}

static int event_html(FILE *f, const struct hvt_rpl_event_report *rep)
{
    const struct hvt_event *ev = rep->ev;
    struct rowmap m;
    uint32_t np = ev->n_passes;
    char tag[64], regs[256];

    fprintf(f,
            "<div class=event id=\"event-%" PRIu64 "\"><h2>event %" PRIu64
            ", vCPU %u, rip 0x%" PRIx64 ": ",
            ev->id, ev->id, ev->vcpu, ev->init.rip);
    esc(f, rep->disasm[0] ? rep->disasm : "(not disassembled)");
    fputs("</h2><p>instruction bytes ", f);
    for (unsigned i = 0; i < ev->insn_len && i < HVT_INSN_MAX; i++)
        fprintf(f, "%02x", ev->insn[i]);
    fprintf(f, ", %u pass(es)", np);
    if (rep->status != HVT_RPL_ST_REPLAYED) {
        fputs("; not replayed: ", f);
        esc(f, rep->why);
    }
    fputs("</p>", f);
    for (size_t k = 0; k < rep->n_findings; k++) {
        const struct hvt_rpl_finding *x = &rep->findings[k];
        const struct hvt_access *a = x->idx_b >= 0 ? &x->acc_b : x->idx_a >= 0 ? &x->acc_a : NULL;
        const struct hvt_callsite *cs =
            a && a->callsite && rep->chunk ? hvt_fmt_chunk_callsite(rep->chunk, a->callsite) : NULL;
        int benign = hvt_rpl_class_benign(x->cls);
        fprintf(f, "<div class=finding><span class=\"cls%s\">%s</span> pass %u vs pass %u",
                benign ? " benign" : "", hvt_rpl_class_name(x->cls), x->pass_a, x->pass_b);
        if (x->idx_a >= 0 || x->idx_b >= 0)
            fprintf(f, ", access [%d] vs [%d]", x->idx_a, x->idx_b);
        fputs(": ", f);
        esc(f, x->detail);
        if (cs && cs->n_frames && cs->frames) {
            fputs(" <span class=small>call site:", f);
            for (uint32_t i = 0; i < cs->n_frames && i < 4; i++) {
                fputs(i ? " &lt; " : " ", f);
                if (cs->frames[i].function) {
                    esc(f, cs->frames[i].function);
                    fprintf(f, "+0x%" PRIx64, cs->frames[i].offset);
                } else {
                    fprintf(f, "0x%" PRIx64, cs->frames[i].ip);
                }
            }
            fputs("</span>", f);
        }
        fputs("</div>", f);
    }
    if (align(&m, ev) < 0) {
        free(m.keys);
        free(m.cell);
        return -1;
    }
    fputs("<table><tr><th>tag</th>", f);
    for (uint32_t p = 0; p < np; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        fprintf(f, "<th>pass %u: %s", p, hvt_outcome_name(ps->out.kind));
        if (ps->out.kind == HVT_OUT_RETRY)
            fprintf(f, " (%s)", hvt_retry_cause_name(ps->out.retry_cause));
        if (ps->out.kind == HVT_OUT_EXCEPTION)
            fprintf(f, " vector %u", ps->out.vector);
        if (hvt_rpl_state_diff(&ev->init, &ps->end, regs, sizeof(regs))) {
            fputs("<br><span class=small>changed: ", f);
            esc(f, regs);
            fputs("</span>", f);
        }
        fputs("</th>", f);
    }
    fputs("</tr>", f);
    for (size_t r = 0; r < m.n; r++) {
        int row_differs = 0;
        /* first pass over the row: does any cell differ? (rows that do not can be hidden) */
        for (uint32_t p = 1; p < np; p++) {
            int32_t i = m.cell[r * np + p], j = m.cell[r * np + p - 1];
            if ((i < 0) != (j < 0) || (i >= 0 && cell_differs(&ev->passes[p].accesses[i],
                                                              &ev->passes[p - 1].accesses[j])))
                row_differs = 1;
        }
        struct hvt_tag t = {m.keys[r].cls, m.keys[r].operand, m.keys[r].level, 0,
                            m.keys[r].element};
        fprintf(f, "<tr class=%s><th>", row_differs ? "differs" : "same");
        esc(f, hvt_tag_text(tag, sizeof(tag), &t));
        fputs("</th>", f);
        for (uint32_t p = 0; p < np; p++) {
            int32_t i = m.cell[r * np + p], j = p ? m.cell[r * np + p - 1] : -1;
            const char *cls = "";
            if (i < 0) {
                fputs(p && j >= 0 ? "<td class=\"missing diff\">-</td>"
                                  : "<td class=missing>-</td>",
                      f);
                continue;
            }
            if (is_diverging(rep, p, (uint32_t)i))
                cls = " class=diverge";
            else if (p && (j < 0 || cell_differs(&ev->passes[p].accesses[i],
                                                 &ev->passes[p - 1].accesses[j])))
                cls = " class=diff";
            fprintf(f, "<td%s>[%d] ", cls, i);
            cell(f, rep, &ev->passes[p].accesses[i]);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
    free(m.keys);
    free(m.cell);
    return 0;
}

/* ---- collecting the run ----------------------------------------------------------------- */

#define MAX_MARKS 20000

#define MARK_PASSES 8 /* outcomes kept per event; later passes take the last one's colour */

struct mark {
    uint64_t id;
    uint32_t vcpu, passes;
    int divergent;
    uint8_t out[MARK_PASSES];
};

struct rep {
    const struct hvt_filter *sel;
    int all;
    uint64_t max, detailed, skipped_detail;
    FILE *body; /* event sections, in order */
    struct hvt_rpl_summary sum;
    struct mark *marks;
    size_t n_marks;
    uint64_t marks_dropped;
    uint32_t max_vcpu;
    struct hvt_progress prog;
    int failed;
};

static int on_event(void *arg, const struct hvt_rpl_event_report *rep)
{
    struct rep *r = arg;
    int divergent = rep->n_divergent > 0 || rep->status == HVT_RPL_ST_CANNOT;
    if (!hvt_filter_report(r->sel, rep))
        return 0;
    hvt_rpl_summary_add(&r->sum, rep);
    if (r->n_marks < MAX_MARKS) {
        struct mark *mk = &r->marks[r->n_marks++];
        *mk = (struct mark){rep->ev->id, rep->ev->vcpu, rep->ev->n_passes, divergent, {0}};
        for (uint32_t p = 0; p < rep->ev->n_passes && p < MARK_PASSES; p++)
            mk->out[p] = rep->ev->passes[p].out.kind;
        if (rep->ev->vcpu > r->max_vcpu)
            r->max_vcpu = rep->ev->vcpu;
    } else {
        r->marks_dropped++;
    }
    if (!divergent && !r->all)
        return 0;
    if (r->detailed >= r->max) {
        r->skipped_detail++;
        return 0;
    }
    r->detailed++;
    if (event_html(r->body, rep) < 0) {
        r->failed = 1;
        return 1;
    }
    return 0;
}

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    struct rep *r = arg;
    hvt_progress_update(&r->prog, "chunk", done, total);
}

static const char *outcome_colour(unsigned kind)
{
    switch (kind) {
    case HVT_OUT_OKAY:
        return "#8c8";
    case HVT_OUT_RETRY:
        return "#e9a100";
    case HVT_OUT_EXCEPTION:
        return "#a6c";
    default:
        return "#888";
    }
}

/* One lane per vCPU; the events in id order, each as wide as its passes (so every pass has a
 * place of its own along the line), the passes coloured by outcome, a red bar under an event
 * that diverges. */
static void timeline(FILE *f, const struct rep *r)
{
    const double w = 1100, lane = 26, left = 60;
    uint64_t lo = r->n_marks ? r->marks[0].id : 0,
             hi = r->n_marks ? r->marks[r->n_marks - 1].id : 0;
    uint64_t total = 0, pos = 0;
    for (size_t i = 0; i < r->n_marks; i++)
        total += r->marks[i].passes;
    double h = lane * (r->max_vcpu + 1) + 8, unit = w / (double)(total ? total : 1);
    fprintf(f,
            "<h2>timeline</h2><p class=small>the passes of each event across the vCPUs, left "
            "to right by event id (%" PRIu64 "..%" PRIu64 "): <span style=\"color:#8c8\">"
            "&#9632;</span> okay <span style=\"color:#e9a100\">&#9632;</span> retry "
            "<span style=\"color:#a6c\">&#9632;</span> exception; a red bar under an event "
            "whose passes diverge%s</p>",
            lo, hi, r->marks_dropped ? " (the first 20000 events only)" : "");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\">",
            w + left + 10, h);
    for (uint32_t v = 0; v <= r->max_vcpu; v++)
        fprintf(f,
                "<text x=\"4\" y=\"%.0f\">vCPU %u</text><line x1=\"%.0f\" x2=\"%.0f\" "
                "y1=\"%.0f\" y2=\"%.0f\" stroke=\"#ddd\"/>",
                lane * v + 16, v, left, left + w, lane * v + 11, lane * v + 11);
    for (size_t i = 0; i < r->n_marks; i++) {
        const struct mark *m = &r->marks[i];
        double x = left + unit * (double)pos, y = lane * m->vcpu + 4;
        pos += m->passes;
        for (uint32_t p = 0; p < m->passes; p++) {
            unsigned kind = m->out[p < MARK_PASSES ? p : MARK_PASSES - 1];
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"14\" "
                    "fill=\"%s\" stroke=\"#fff\" stroke-width=\"0.3\"><title>event %" PRIu64
                    " pass %u: %s</title></rect>",
                    x + unit * p, y, unit < 1.5 ? 1.5 : unit, outcome_colour(kind), m->id, p,
                    hvt_outcome_name(kind));
        }
        if (m->divergent)
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"4\" "
                    "fill=\"#d00\"><title>event %" PRIu64 " diverges</title></rect>",
                    x, y + 15, unit * m->passes < 1.5 ? 1.5 : unit * m->passes, m->id);
    }
    fputs("</svg>\n", f);
}

static void summary_html(FILE *f, const char *path, const struct rep *r)
{
    const struct hvt_rpl_summary *s = &r->sum;
    fputs("<h2>summary</h2><table>", f);
    fputs("<tr><th>trace</th><td>", f);
    esc(f, path);
    fprintf(f,
            "</td></tr><tr><th>events</th><td>%" PRIu64 " (%" PRIu64 " with several passes, "
            "%" PRIu64 " replayed, %" PRIu64 " cannot be replayed, %" PRIu64 " skipped)</td></tr>",
            s->events, s->multi_pass, s->replayed, s->cannot_replay, s->skipped);
    fprintf(f, "<tr><th>diverging events</th><td>%" PRIu64, s->divergent_events);
    if (s->first_divergent != HVT_NO_EVENT)
        fprintf(f, " (first: <a href=\"#event-%" PRIu64 "\">event %" PRIu64 "</a>)",
                s->first_divergent, s->first_divergent);
    fputs("</td></tr><tr><th>by class</th><td>", f);
    for (unsigned i = 0; i < HVT_RPL__COUNT; i++)
        if (s->by_class[i])
            fprintf(f, "<span class=\"cls%s\">%s</span>=%" PRIu64 " ",
                    hvt_rpl_class_benign(i) ? " benign" : "", hvt_rpl_class_name(i),
                    s->by_class[i]);
    fputs("</td></tr><tr><th>by tag class</th><td>", f);
    for (unsigned i = 0; i <= HVT_TAG__COUNT; i++)
        if (s->by_tag[i])
            fprintf(f, "%s=%" PRIu64 " ", i < HVT_TAG__COUNT ? hvt_tag_class_name(i) : "none",
                    s->by_tag[i]);
    fputs("</td></tr><tr><th>by mnemonic</th><td>", f);
    for (size_t i = 0; i < s->n_mnemonics; i++) {
        esc(f, s->mnemonics[i].name);
        fprintf(f, "=%" PRIu64 " ", s->mnemonics[i].count);
    }
    fprintf(f, "</td></tr><tr><th>detailed below</th><td>%" PRIu64 " event(s)%s</td></tr></table>",
            r->detailed, r->skipped_detail ? " (more than --max: the rest are left out)" : "");
}

#define MAX_CORE_OPTIONS 16

int hvt_cmd_report(int argc, char **argv)
{
    const char *path = NULL, *out = NULL;
    struct hvt_filter sel;
    struct hvt_rpl_options opt;
    struct hvt_rpl_summary sum;
    struct hvt_rpl_run_info info;
    struct hvt_kv kv[MAX_CORE_OPTIONS];
    struct hvt_cpu_profile cpu;
    struct rep r;
    char *body = NULL;
    size_t body_len = 0;
    int force = 0, rc, status = HVT_EXIT_OK;
    uint64_t n;

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    memset(&r, 0, sizeof(r));
    r.max = 100;
    hvt_filter_init(&sel, 1);
    hvt_rpl_options_init(&opt);
    opt.core_options = kv;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int k = hvt_filter_parse(&sel, "report", argc, argv, &i);
        if (k < 0)
            return HVT_EXIT_USAGE;
        if (k)
            continue;
        if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && v) {
            out = v;
            i++;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "--all")) {
            r.all = 1;
        } else if (!strcmp(a, "--max") && v) {
            if (hvt_tool_parse_u64(v, &n) || !n) {
                hvt_tool_err("report: --max '%s': expected a number above 0", v);
                return HVT_EXIT_USAGE;
            }
            r.max = n;
            i++;
        } else if (!strcmp(a, "--core") && v) {
            opt.core = v;
            i++;
        } else if (!strcmp(a, "--cpu") && v) {
            if (hvt_tool_cpu("report", v, &cpu))
                return HVT_EXIT_USAGE;
            opt.cpu = &cpu;
            i++;
        } else if ((!strcmp(a, "--core-option") || !strcmp(a, "--core-opt")) && v) {
            if (hvt_tool_core_option("report", argv[++i], kv, &opt.n_core_options,
                                     MAX_CORE_OPTIONS))
                return HVT_EXIT_USAGE;
        } else if (a[0] != '-' && !path) {
            path = a;
        } else {
            return hvt_tool_bad_arg("report", a, known);
        }
    }
    if (!path || !out) {
        hvt_tool_err("report: %s", !path ? "no trace file given" : "no output given (-o OUT)");
        return HVT_EXIT_USAGE;
    }
    if (hvt_tool_check_path("report", "output", out) ||
        hvt_tool_check_path("report", "trace", path))
        return HVT_EXIT_USAGE;
    r.sel = &sel;
    r.marks = calloc(MAX_MARKS, sizeof(*r.marks));
    r.body = open_memstream(&body, &body_len);
    if (!r.marks || !r.body) {
        hvt_tool_err("report: out of memory");
        free(r.marks);
        if (r.body)
            fclose(r.body);
        free(body);
        return HVT_EXIT_USAGE;
    }
    hvt_rpl_summary_init(&r.sum);
    hvt_progress_init(&r.prog, "report");
    opt.first = sel.first;
    opt.last = sel.last;
    rc = hvt_rpl_run(path, &opt, on_event, &r, r.prog.on ? on_progress : NULL, &r, &sum, &info);
    hvt_progress_clear(&r.prog);
    fclose(r.body);
    if (rc < 0 || r.failed) {
        if (rc < 0 && info.err.code)
            hvt_print_fmt_error(path, &info.err);
        else
            hvt_tool_err("report: %s: %s", path,
                         r.failed          ? "out of memory"
                         : info.message[0] ? info.message
                                           : hvt_strerror(rc));
        status = rc < 0 && info.err.code ? HVT_EXIT_CORRUPT : HVT_EXIT_USAGE;
        goto done;
    }
    if (!r.sum.events)
        hvt_filter_warn_empty(&sel, "report");
    {
        /* the page is complete before OUT is touched: written to OUT.part, then renamed */
        char tmp[4096];
        struct stat so, si;
        FILE *f = NULL;
        int fd = -1;
        if (lstat(out, &so) == 0) {
            if (!force || !S_ISREG(so.st_mode) ||
                (stat(path, &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)) {
                hvt_tool_err("report: %s %s", out,
                             !S_ISREG(so.st_mode) ? "is not a regular file: not replaced"
                             : force              ? "is the input: not written"
                                                  : "exists (use -f to overwrite)");
                status = HVT_EXIT_USAGE;
                goto done;
            }
        }
        /* OUT.part: created exclusively, never through a symbolic link */
        if (snprintf(tmp, sizeof(tmp), "%s.part", out) >= (int)sizeof(tmp) ||
            (fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0 ||
            !(f = fdopen(fd, "w"))) {
            hvt_tool_err("report: cannot create %s.part: %s", out, strerror(errno));
            if (fd >= 0)
                close(fd);
            status = HVT_EXIT_WRITE;
            goto done;
        }
        fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>hvtrace report: ",
              f);
        esc(f, path);
        fprintf(f, "</title><style>%s</style></head><body>\n<h1>hvtrace report: ", css);
        esc(f, path);
        fprintf(f, "</h1><p>cpu: ");
        esc(f, info.cpu.name);
        fputs(" &middot; <span id=status></span> &middot; <button id=onlydiff type=button>"
              "only differing rows</button></p>\n",
              f);
        summary_html(f, path, &r);
        timeline(f, &r);
        fwrite(body, 1, body_len, f);
        fprintf(f, "<script>%s</script>\n</body></html>\n", js);
        if (fflush(f) || ferror(f) | fclose(f) || rename(tmp, out)) {
            hvt_tool_err("report: cannot write %s", out);
            remove(tmp);
            status = HVT_EXIT_WRITE;
            goto done;
        }
    }
    printf("%s: %" PRIu64 " events, %" PRIu64 " diverging, %" PRIu64 " detailed\n", out,
           r.sum.events, r.sum.divergent_events, r.detailed);
done:
    free(r.marks);
    free(body);
    return status;
}
