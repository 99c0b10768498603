/* SPDX-License-Identifier: MIT */
/* hvtrace stats: counts, sizes and compression of a trace. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hvtrace/format.h"
#include "filter.h"
#include "print.h"
#include "util.h"

struct stats {
    uint64_t events, passes, accesses, data_bytes;
    uint64_t by_outcome[HVT_OUT__COUNT + 1]; /* last slot: values out of range */
    uint64_t by_kind[HVT_ACC__COUNT + 1];
    uint64_t by_class[HVT_TAG__COUNT + 1];
    uint64_t by_space[HVT_SPACE__COUNT + 1];
    uint64_t lost_markers, lost_records, lost_in_passes;
    uint64_t chunks, raw_bytes, compressed_bytes, file_bytes;
    int has_index;
};

/* --by rip|mnemonic: one row per instruction address or mnemonic */
struct row {
    uint64_t rip;
    char mnem[32];
    uint64_t events, multi_pass, passes, accesses, retries;
    int used;
};

#define MAX_ROWS 65536 /* distinct keys kept; the rest count under "other" */

struct by {
    int mode; /* 0 off, 1 rip, 2 mnemonic */
    size_t n, cap;
    struct row *rows; /* open addressing, cap a power of two */
    struct row other;
};

static const char *const known[] = {"--json", "--by", HVT_FILTER_OPTION_NAMES, "--help", NULL};

static void help(FILE *f)
{
    fprintf(f, "usage: hvtrace stats FILE [--json] [--by rip|mnemonic] [selection]\n"
               "\n"
               "Counts events, passes (per outcome) and accesses (by kind, tag class and space),\n"
               "and reports bytes per access (file bytes / accesses), the compression ratio (raw\n"
               "payload bytes / compressed payload bytes over all chunks), the number of chunks,\n"
               "lost records (markers, and accesses lost inside passes) and whether the index is\n"
               "present. With a selection the counts are those of the selected events (and, for\n"
               "--class/--tag, of the selected accesses); file figures stay the whole file's.\n"
               "\n"
               "  --json            one JSON object (schema: docs/TOOLS.md)\n"
               "  --by rip          a summary per instruction address: events, events with\n"
               "                    several passes, passes, RETRY passes, accesses; most events\n"
               "                    first (mnemonic: the same per mnemonic)\n"
               "selection:\n%s"
               "\n"
               "Bad chunks are reported on stderr and skipped; the counts are then those of the\n"
               "readable part. exit: 0 ok, 2 usage error, 3 corrupt or unreadable trace\n",
            hvt_filter_help);
}

static uint64_t key_hash(const struct by *b, uint64_t rip, const char *m)
{
    uint64_t h = 0xcbf29ce484222325ull;
    if (b->mode == 1)
        return rip * 0x9e3779b97f4a7c15ull;
    for (; *m; m++)
        h = (h ^ (uint8_t)*m) * 0x100000001b3ull;
    return h;
}

static struct row *by_find(struct by *b, uint64_t rip, const char *m)
{
    uint64_t h;
    if (!b->cap && b->n)
        goto other;
    if (b->n * 2 >= b->cap && b->n < MAX_ROWS) { /* at MAX_ROWS the table stays half full */
        size_t ncap = b->cap ? b->cap * 2 : 1024;
        struct row *old = b->rows, *nr;
        if (!(nr = calloc(ncap, sizeof(*nr))))
            goto other;
        b->rows = nr;
        for (size_t i = 0; i < b->cap; i++) {
            if (!old[i].used)
                continue;
            uint64_t k = key_hash(b, old[i].rip, old[i].mnem) & (ncap - 1);
            while (nr[k].used)
                k = (k + 1) & (ncap - 1);
            nr[k] = old[i];
        }
        b->cap = ncap;
        free(old);
    }
    h = key_hash(b, rip, m) & (b->cap - 1);
    while (b->rows[h].used) {
        struct row *r = &b->rows[h];
        if (b->mode == 1 ? r->rip == rip : !strcmp(r->mnem, m))
            return r;
        h = (h + 1) & (b->cap - 1);
    }
    if (b->n >= MAX_ROWS)
        goto other;
    b->rows[h].used = 1;
    b->rows[h].rip = rip;
    snprintf(b->rows[h].mnem, sizeof(b->rows[h].mnem), "%s", m);
    b->n++;
    return &b->rows[h];
other:
    return &b->other;
}

static void by_add(struct by *b, const struct hvt_event *ev, uint64_t accesses)
{
    char mnem[32], text[96];
    struct row *r;
    if (!b->mode)
        return;
    hvt_tool_disasm(ev, text, sizeof(text), mnem, sizeof(mnem));
    r = by_find(b, ev->init.rip, mnem);
    r->events++;
    r->multi_pass += ev->n_passes > 1;
    r->passes += ev->n_passes;
    r->accesses += accesses;
    for (uint32_t p = 0; ev->passes && p < ev->n_passes; p++)
        r->retries += ev->passes[p].out.kind == HVT_OUT_RETRY;
}

static int row_cmp(const void *pa, const void *pb)
{
    const struct row *a = pa, *b = pb;
    if (a->events != b->events)
        return a->events < b->events ? 1 : -1;
    if (a->rip != b->rip)
        return a->rip < b->rip ? -1 : 1;
    return strcmp(a->mnem, b->mnem);
}

static void print_by(FILE *f, struct by *b, int json)
{
    size_t n = 0;
    const char *key = b->mode == 1 ? "rip" : "mnemonic";
    if (!b->mode)
        return;
    for (size_t i = 0; i < b->cap; i++)
        if (b->rows[i].used)
            b->rows[n++] = b->rows[i];
    qsort(b->rows, n, sizeof(*b->rows), row_cmp);
    if (json)
        fprintf(f, ",\"by_%s\":[", key);
    else
        fprintf(f, "by %-21s%7s  %10s  %6s  %8s  %8s%s\n", key, "events", "multi-pass", "passes",
                "retries", "accesses", b->mode == 1 ? "  mnemonic" : "");
    for (size_t i = 0; i <= n; i++) {
        const struct row *r = i < n ? &b->rows[i] : &b->other;
        if (i == n && !r->events)
            break;
        if (json) {
            fprintf(f, "%s{\"type\":\"by_%s\",", i ? "," : "", key);
            if (i == n)
                fputs("\"other\":true", f);
            else if (b->mode == 1)
                fprintf(f, "\"rip\":\"0x%" PRIx64 "\",\"mnemonic\":", r->rip);
            else
                fputs("\"mnemonic\":", f);
            if (i < n)
                hvt_json_str(f, r->mnem);
            fprintf(f,
                    ",\"events\":%" PRIu64 ",\"multi_pass\":%" PRIu64 ",\"passes\":%" PRIu64
                    ",\"retries\":%" PRIu64 ",\"accesses\":%" PRIu64 "}",
                    r->events, r->multi_pass, r->passes, r->retries, r->accesses);
            continue;
        }
        if (i == n)
            fprintf(f, "  %-22s", "(other)");
        else if (b->mode == 1)
            fprintf(f, "  0x%-20" PRIx64, r->rip);
        else {
            fputs("  ", f);
            hvt_text_str(f, r->mnem);
            fprintf(f, "%*s", (int)(strlen(r->mnem) < 22 ? 22 - strlen(r->mnem) : 0), "");
        }
        fprintf(f, "%7" PRIu64 "  %10" PRIu64 "  %6" PRIu64 "  %8" PRIu64 "  %8" PRIu64, r->events,
                r->multi_pass, r->passes, r->retries, r->accesses);
        if (b->mode == 1 && i < n) {
            fputs("  ", f);
            hvt_text_str(f, r->mnem);
        }
        fputc('\n', f);
    }
    if (json)
        fputc(']', f);
}

static uint64_t count_event(struct stats *s, const struct hvt_event *ev, const struct hvt_filter *sel)
{
    uint64_t before = s->accesses;
    s->events++;
    for (uint32_t p = 0; ev->passes && p < ev->n_passes; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        s->passes++;
        s->by_outcome[ps->out.kind < HVT_OUT__COUNT ? ps->out.kind : HVT_OUT__COUNT]++;
        s->lost_in_passes += ps->lost;
        for (uint32_t i = 0; ps->accesses && i < ps->n_accesses; i++) {
            const struct hvt_access *a = &ps->accesses[i];
            if (!hvt_filter_access(sel, a))
                continue;
            s->accesses++;
            s->data_bytes += a->size;
            s->by_kind[a->kind < HVT_ACC__COUNT ? a->kind : HVT_ACC__COUNT]++;
            s->by_class[a->tag.cls < HVT_TAG__COUNT ? a->tag.cls : HVT_TAG__COUNT]++;
            s->by_space[a->space < HVT_SPACE__COUNT ? a->space : HVT_SPACE__COUNT]++;
        }
    }
    return s->accesses - before;
}

typedef const char *(*name_fn)(unsigned);

static void print_counts(FILE *f, const char *label, const uint64_t *c, unsigned n, name_fn name,
                         int json)
{
    if (json) {
        fprintf(f, ",\"%s\":{", label);
        for (unsigned i = 0; i < n; i++)
            fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", name(i), c[i]);
        if (c[n])
            fprintf(f, ",\"other\":%" PRIu64, c[n]);
        fputc('}', f);
        return;
    }
    fprintf(f, "  %-14s", label);
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "%s%s %" PRIu64, i ? ", " : "", name(i), c[i]);
    if (c[n])
        fprintf(f, ", other %" PRIu64, c[n]);
    fputc('\n', f);
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

static void print_stats(FILE *f, const char *path, const struct hvt_fmt_header *h,
                        const struct stats *s, int json, struct by *by)
{
    if (json) {
        fputs("{\"type\":\"stats\",\"file\":", f);
        hvt_json_str(f, path);
        fprintf(f, ",\"format\":\"%" PRIu32 ".%" PRIu32 "\",\"producer\":", h->format_major,
                h->format_minor);
        hvt_json_str(f, h->producer);
        fprintf(f,
                ",\"file_bytes\":%" PRIu64 ",\"has_index\":%s,\"chunks\":%" PRIu64
                ",\"events\":%" PRIu64 ",\"passes\":%" PRIu64,
                s->file_bytes, s->has_index ? "true" : "false", s->chunks, s->events, s->passes);
        print_counts(f, "passes_by_outcome", s->by_outcome, HVT_OUT__COUNT, hvt_outcome_name, 1);
        fprintf(f, ",\"accesses\":%" PRIu64, s->accesses);
        print_counts(f, "accesses_by_kind", s->by_kind, HVT_ACC__COUNT, hvt_access_kind_name, 1);
        print_counts(f, "accesses_by_tag_class", s->by_class, HVT_TAG__COUNT, hvt_tag_class_name, 1);
        print_counts(f, "accesses_by_space", s->by_space, HVT_SPACE__COUNT, hvt_space_name, 1);
        fprintf(f,
                ",\"data_bytes\":%" PRIu64 ",\"bytes_per_access\":%.3f,\"raw_bytes\":%" PRIu64
                ",\"compressed_bytes\":%" PRIu64 ",\"compression_ratio\":%.3f"
                ",\"lost_markers\":%" PRIu64 ",\"lost_records\":%" PRIu64
                ",\"lost_accesses_in_passes\":%" PRIu64 ",",
                s->data_bytes, ratio(s->file_bytes, s->accesses), s->raw_bytes, s->compressed_bytes,
                ratio(s->raw_bytes, s->compressed_bytes), s->lost_markers, s->lost_records,
                s->lost_in_passes);
        hvt_print_cpu(f, h, HVT_PRINT_JSON, "");
        print_by(f, by, 1);
        fputs("}\n", f);
        return;
    }
    fputs("file            ", f);
    hvt_text_str(f, path);
    fputc('\n', f);
    fprintf(f, "format          %" PRIu32 ".%" PRIu32 "  producer ", h->format_major,
            h->format_minor);
    hvt_text_str(f, h->producer);
    fputc('\n', f);
    hvt_print_cpu(f, h, 0, "cpu             ");
    fprintf(f, "file bytes      %" PRIu64 "\n", s->file_bytes);
    fprintf(f, "index           %s\n", s->has_index ? "present" : "missing");
    fprintf(f, "chunks          %" PRIu64 "\n", s->chunks);
    fprintf(f, "events          %" PRIu64 "\n", s->events);
    fprintf(f, "passes          %" PRIu64 "\n", s->passes);
    print_counts(f, "by outcome", s->by_outcome, HVT_OUT__COUNT, hvt_outcome_name, 0);
    fprintf(f, "accesses        %" PRIu64 "  (%" PRIu64 " data bytes)\n", s->accesses,
            s->data_bytes);
    print_counts(f, "by kind", s->by_kind, HVT_ACC__COUNT, hvt_access_kind_name, 0);
    print_counts(f, "by tag class", s->by_class, HVT_TAG__COUNT, hvt_tag_class_name, 0);
    print_counts(f, "by space", s->by_space, HVT_SPACE__COUNT, hvt_space_name, 0);
    fprintf(f, "bytes/access    %.3f\n", ratio(s->file_bytes, s->accesses));
    fprintf(f, "compression     %.3fx  (raw %" PRIu64 ", compressed %" PRIu64 ")\n",
            ratio(s->raw_bytes, s->compressed_bytes), s->raw_bytes, s->compressed_bytes);
    fprintf(f,
            "lost            %" PRIu64 " records in %" PRIu64 " markers, %" PRIu64
            " accesses inside passes\n",
            s->lost_records, s->lost_markers, s->lost_in_passes);
    print_by(f, by, 0);
}

int hvt_cmd_stats(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0, status = HVT_EXIT_OK, rc;
    struct hvt_fmt_reader *r;
    struct hvt_fmt_error_info seen = {0};
    struct hvt_record rec;
    static struct stats s;
    struct stat sb;
    int64_t n;
    struct hvt_filter sel;
    struct hvt_progress prog;
    struct by by = {0};
    uint64_t total;

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    hvt_filter_init(&sel, 0);
    for (int i = 1; i < argc; i++) {
        int k = hvt_filter_parse(&sel, "stats", argc, argv, &i);
        if (k < 0)
            return HVT_EXIT_USAGE;
        if (k)
            continue;
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--by") && i + 1 < argc) {
            i++;
            if (!strcmp(argv[i], "rip"))
                by.mode = 1;
            else if (!strcmp(argv[i], "mnemonic"))
                by.mode = 2;
            else {
                hvt_tool_err("stats: --by '%s': expected rip or mnemonic", argv[i]);
                return HVT_EXIT_USAGE;
            }
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            return hvt_tool_bad_arg("stats", argv[i], known);
        }
    }
    if (!path) {
        hvt_tool_err("stats: no trace file given");
        help(stderr);
        return HVT_EXIT_USAGE;
    }
    rc = hvt_print_open(&r, path, HVT_FMT_R_SALVAGE);
    if (rc)
        return rc;
    memset(&s, 0, sizeof(s));
    hvt_progress_init(&prog, "stats");
    total = hvt_print_event_total(r);
    if (sel.first > 0 && hvt_fmt_reader_seek_event(r, sel.first) < 0) {
        hvt_print_new_error(path, r, &seen);
        goto counted; /* past the last event (or an error already said) */
    }
    for (;;) {
        if (!hvt_print_next(path, r, &rec, &seen, &status))
            break;
        if (rec.type == HVT_REC_EVENT && rec.u.event) {
            const struct hvt_event *ev = rec.u.event;
            if (ev->id > sel.last)
                break;
            hvt_progress_update(&prog, "event", ev->id + 1, total);
            if (hvt_filter_event(&sel, ev, NULL))
                by_add(&by, ev, count_event(&s, ev, &sel));
        } else if (rec.type == HVT_REC_LOST && rec.u.lost) {
            s.lost_markers++;
            s.lost_records += rec.u.lost->count;
        }
    }
counted:
    hvt_progress_clear(&prog);
    /* Chunk sizes come from the index (or the scan the loop above completed), so the ratio is
     * over the chunks as stored, not as re-encoded. */
    n = hvt_fmt_reader_chunk_count(r);
    for (int64_t k = 0; k < n; k++) {
        struct hvt_fmt_chunk_info ci;
        if (hvt_fmt_reader_chunk_info(r, (uint64_t)k, &ci) < 0)
            continue;
        s.chunks++;
        s.raw_bytes += ci.raw_size;
        s.compressed_bytes += ci.compressed_size;
    }
    s.has_index = hvt_fmt_reader_has_index(r) == 1;
    s.file_bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    print_stats(stdout, path, hvt_fmt_reader_header(r), &s, json, &by);
    hvt_fmt_reader_close(r);
    free(by.rows);
    if (!s.events && (sel.ranged || hvt_filter_narrows(&sel)))
        hvt_filter_warn_empty(&sel, "stats");
    if (fflush(stdout) || ferror(stdout)) {
        hvt_tool_err("stats: cannot write the output");
        return HVT_EXIT_USAGE;
    }
    return status;
}
