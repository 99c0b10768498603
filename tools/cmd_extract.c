/* SPDX-License-Identifier: MIT */
/* hvtrace extract: a self-contained minimal trace of the chosen events, optionally redacted. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "filter.h"
#include "hvtrace/format.h"
#include "print.h"
#include "redact.h"
#include "util.h"

static const char *const known[] = {"-o",
                                    "--output",
                                    "-f",
                                    "--force",
                                    "--follow",
                                    "--redact",
                                    "--redact-with",
                                    "--key",
                                    "--json",
                                    HVT_FILTER_OPTION_NAMES,
                                    "--help",
                                    NULL};

static void help(FILE *f)
{
    fprintf(f,
            "usage: hvtrace extract FILE --events SPEC -o OUT [-f] [--follow] [selection]\n"
            "                       [--redact [--redact-with hash|zero] [--key HEX]] [--json]\n"
            "\n"
            "Writes OUT, a self-contained trace of the selected events of FILE and nothing\n"
            "else: FILE's header (its CPU profile and recording options) and the events with\n"
            "their ids, passes, accesses and the call sites they name. It replays to the same\n"
            "findings as those events do in FILE: attach it to a bug report instead of the\n"
            "whole recording. Lost-records markers are left out.\n"
            "\n"
            "  -o, --output OUT  the trace to write; never FILE\n"
            "  -f, --force       replace OUT if it exists\n"
            "  --follow          OUT may be a symbolic link: write its target\n"
            "  --redact          remove guest data the replay does not need: the data of\n"
            "                    operand, stack, descriptor and I/O accesses becomes a keyed\n"
            "                    hash of the value (the same value, the same hash), one access\n"
            "                    at a time where that would change what replay finds. Kept:\n"
            "                    page-walk entries, A/D updates, instruction bytes, register\n"
            "                    states, and every value that decides the outcome. A summary\n"
            "                    says what was kept and why.\n"
            "  --redact-with M   hash (default) or zero\n"
            "  --key HEX         the hash key (up to 32 hex digits; default: random, not kept,\n"
            "                    so the hashes cannot be reversed by trying values)\n"
            "  --json            the summary as one JSON object (docs/TOOLS.md)\n"
            "selection (--events is required; the others narrow it):\n%s"
            "\n"
            "exit: 0 written, 2 usage error (OUT exists without -f, OUT is FILE), 3 FILE is\n"
            "      corrupt or unreadable, 4 OUT cannot be written\n",
            hvt_filter_help);
}

static int parse_key(const char *s, uint8_t key[16])
{
    size_t n = strlen(s);
    if (!strncmp(s, "0x", 2)) {
        s += 2;
        n -= 2;
    }
    if (!n || n > 32)
        return -1;
    memset(key, 0, 16);
    for (size_t i = 0; i < n; i++) {
        char c = s[n - 1 - i];
        unsigned v = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (v > 15)
            return -1;
        key[i / 2] |= (uint8_t)(v << (4 * (i % 2)));
    }
    return 0;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

struct ex {
    struct hvt_fmt_writer *w;
    struct hvt_fmt_reader *r;
    struct hvt_redact red;
    int redact;
    uint64_t events, first, last;
};

/* The call sites EV names, defined in OUT (the writer repeats them in each chunk). */
static int add_callsites(struct ex *x, const struct hvt_event *ev)
{
    for (uint32_t p = 0; p < ev->n_passes; p++)
        for (uint32_t i = 0; i < ev->passes[p].n_accesses; i++) {
            uint32_t id = ev->passes[p].accesses[i].callsite;
            const struct hvt_callsite *cs = id ? hvt_fmt_reader_callsite(x->r, id) : NULL;
            int rc = cs ? hvt_fmt_writer_add_callsite(x->w, cs) : 0;
            if (rc < 0)
                return rc;
        }
    return 0;
}

static void print_summary(const struct ex *x, const char *out, int json, int mode, int key_given)
{
    const struct hvt_redact *r = &x->red;
    if (json) {
        printf("{\"type\":\"extract\",\"out\":");
        hvt_json_str(stdout, out);
        printf(",\"events\":%" PRIu64, x->events);
        if (x->events)
            printf(",\"first\":%" PRIu64 ",\"last\":%" PRIu64, x->first, x->last);
        if (x->redact) {
            printf(",\"redact\":{\"type\":\"redact\",\"with\":\"%s\",\"key\":\"%s\","
                   "\"accesses\":%" PRIu64 ",\"redacted\":%" PRIu64 ",\"redacted_bytes\":%" PRIu64
                   ",\"redacted_by_tag_class\":{",
                   mode == HVT_REDACT_ZERO ? "zero" : "hash", key_given ? "given" : "random",
                   r->accesses, r->redacted, r->redacted_bytes);
            for (unsigned c = 0; c < HVT_TAG__COUNT; c++)
                printf("%s\"%s\":%" PRIu64, c ? "," : "", hvt_tag_class_name(c),
                       r->redacted_by_class[c]);
            printf("},\"kept\":{");
            for (unsigned k = 0; k < HVT_KEPT__COUNT; k++)
                printf("%s\"%s\":%" PRIu64, k ? "," : "", hvt_redact_why_key(k), r->kept[k]);
            printf("},\"registers\":\"kept\",\"replays\":%" PRIu64 "}", r->replays);
        }
        printf("}\n");
        return;
    }
    printf("%s: %" PRIu64 " events", out, x->events);
    if (x->events)
        printf(" (%" PRIu64 "..%" PRIu64 ")", x->first, x->last);
    printf(" with the header and CPU profile of the source\n");
    if (!x->redact)
        return;
    printf("redacted (%s%s): %" PRIu64 " of %" PRIu64 " accesses, %" PRIu64 " data bytes\n",
           mode == HVT_REDACT_ZERO ? "zeros" : "keyed hash",
           mode == HVT_REDACT_ZERO ? ""
           : key_given             ? ", the given key"
                                   : ", a random key",
           r->redacted, r->accesses, r->redacted_bytes);
    printf("  by tag class:");
    for (unsigned c = 0; c < HVT_TAG__COUNT; c++)
        if (r->redacted_by_class[c])
            printf(" %s=%" PRIu64, hvt_tag_class_name(c), r->redacted_by_class[c]);
    printf("\nkept, and why:\n");
    for (unsigned k = 0; k < HVT_KEPT__COUNT; k++)
        if (r->kept[k])
            printf("  %8" PRIu64 "  %s\n", r->kept[k], hvt_redact_why_name(k));
    printf("  register states (initial and per pass): kept, the core starts from them and "
           "replay compares them\n");
    printf("checked: each redacted event replays to the same findings (%" PRIu64 " replays)\n",
           r->replays);
}

int hvt_cmd_extract(int argc, char **argv)
{
    const char *path = NULL, *out = NULL;
    struct hvt_filter sel;
    struct hvt_fmt_writer_options wo;
    struct hvt_fmt_header hdr;
    struct hvt_kv *kv = NULL;
    struct hvt_fmt_error_info seen = {0};
    struct hvt_progress prog;
    struct ex x;
    uint8_t key[16];
    int json = 0, mode = HVT_REDACT_HASH, key_given = 0, status = HVT_EXIT_OK, rc;
    uint64_t total;
    char err[256];

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    memset(&x, 0, sizeof(x));
    hvt_fmt_writer_options_init(&wo);
    hvt_filter_init(&sel, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int k = hvt_filter_parse(&sel, "extract", argc, argv, &i);
        if (k < 0)
            return HVT_EXIT_USAGE;
        if (k)
            continue;
        if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && v) {
            out = v;
            i++;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--force")) {
            wo.flags |= HVT_FMT_W_OVERWRITE;
        } else if (!strcmp(a, "--follow")) {
            wo.flags |= HVT_FMT_W_FOLLOW;
        } else if (!strcmp(a, "--redact")) {
            x.redact = 1;
        } else if (!strcmp(a, "--redact-with") && v) {
            if (strcmp(v, "hash") && strcmp(v, "zero")) {
                hvt_tool_err("extract: --redact-with '%s': expected hash or zero", v);
                return HVT_EXIT_USAGE;
            }
            mode = strcmp(v, "zero") ? HVT_REDACT_HASH : HVT_REDACT_ZERO;
            x.redact = 1;
            i++;
        } else if (!strcmp(a, "--key") && v) {
            if (parse_key(v, key)) {
                hvt_tool_err("extract: --key '%s': expected up to 32 hex digits", v);
                return HVT_EXIT_USAGE;
            }
            key_given = 1;
            i++;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (a[0] != '-' && !path) {
            path = a;
        } else if (!hvt_tool_nearest(a, known) || strcmp(hvt_tool_nearest(a, known), a)) {
            return hvt_tool_bad_arg("extract", a, known);
        } else {
            hvt_tool_err("extract: %s needs a value (try --help)", a);
            return HVT_EXIT_USAGE;
        }
    }
    if (!path || !out) {
        hvt_tool_err("extract: %s", !path ? "no trace file given" : "no output given (-o OUT)");
        return HVT_EXIT_USAGE;
    }
    if (!sel.ranged) {
        hvt_tool_err("extract: --events SPEC is required (A..B, A.., ..B or A; the whole "
                     "trace is 0..)");
        return HVT_EXIT_USAGE;
    }
    if (key_given && !x.redact) {
        hvt_tool_err("extract: --key without --redact");
        return HVT_EXIT_USAGE;
    }
    if (hvt_tool_check_path("extract", "output", out) ||
        hvt_tool_check_path("extract", "trace", path))
        return HVT_EXIT_USAGE;
    if (same_file(path, out)) {
        hvt_tool_err("extract: the output %s is the input", out);
        return HVT_EXIT_USAGE;
    }
    if (x.redact && !key_given && getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
        hvt_tool_err("extract: no random key (give one with --key)");
        return HVT_EXIT_USAGE;
    }
    rc = hvt_print_open(&x.r, path, 0);
    if (rc)
        return rc;

    /* the source's header, its options and what was done to it */
    hdr = *hvt_fmt_reader_header(x.r);
    memset(hdr.uuid, 0, sizeof(hdr.uuid)); /* a new trace: a new identity */
    kv = calloc(hdr.n_options + 3, sizeof(*kv));
    if (!kv) {
        hvt_fmt_reader_close(x.r);
        return HVT_EXIT_USAGE;
    }
    for (size_t i = 0; i < hdr.n_options; i++)
        kv[i] = hdr.options[i];
    char src_uuid[40];
    for (int i = 0; i < 16; i++)
        snprintf(src_uuid + 2 * i, 3, "%02x", hvt_fmt_reader_header(x.r)->uuid[i]);
    kv[hdr.n_options++] = (struct hvt_kv){"extract.source", src_uuid};
    kv[hdr.n_options++] = (struct hvt_kv){"extract.selection", sel.text_buf};
    if (x.redact)
        kv[hdr.n_options++] = (struct hvt_kv){
            "extract.redacted",
            mode == HVT_REDACT_ZERO
                ? "zero: operand, stack, descriptor and I/O data the replay does not need"
                : "keyed hash: operand, stack, descriptor and I/O data the replay does not need"};
    hdr.options = kv;
    if (x.redact && hvt_redact_init(&x.red, mode, key, &hdr, err, sizeof(err)) < 0) {
        hvt_tool_err("extract: %s: cannot replay it to check the redaction: %s", path, err);
        hvt_redact_free(&x.red);
        hvt_fmt_reader_close(x.r);
        free(kv);
        return HVT_EXIT_USAGE;
    }
    rc = hvt_fmt_writer_open(&x.w, out, &hdr, &wo);
    if (rc < 0) {
        const struct hvt_fmt_error_info *oe = hvt_fmt_writer_last_error();
        hvt_tool_err("extract: %s%s", oe->message[0] ? oe->message : hvt_strerror(rc),
                     rc == -HVT_E_EXISTS ? " (use -f to overwrite)" : "");
        hvt_redact_free(&x.red);
        hvt_fmt_reader_close(x.r);
        free(kv);
        return hvt_tool_write_exit(rc);
    }
    hvt_progress_init(&prog, "extract");
    total = hvt_print_event_total(x.r);
    rc = sel.first > 0 ? hvt_fmt_reader_seek_event(x.r, sel.first) : 0;
    if (rc < 0 && rc != -HVT_E_NOT_FOUND) { /* NOT_FOUND: the range is past the last event */
        if (!hvt_print_new_error(path, x.r, &seen))
            hvt_tool_err("%s: %s", path, hvt_strerror(rc));
        status = HVT_EXIT_CORRUPT;
    }
    while (rc >= 0) {
        struct hvt_record rec;
        struct hvt_event *red = NULL;
        rc = hvt_fmt_reader_next(x.r, &rec);
        if (rc < 0) {
            if (!hvt_print_new_error(path, x.r, &seen))
                hvt_tool_err("%s: %s", path, hvt_strerror(rc));
            status = HVT_EXIT_CORRUPT;
            break;
        }
        if (rc == 0)
            break;
        if (rec.type != HVT_REC_EVENT)
            continue;
        if (rec.u.event->id > sel.last)
            break;
        hvt_progress_update(&prog, "event", rec.u.event->id + 1, total);
        if (!hvt_filter_event(&sel, rec.u.event, NULL))
            continue;
        if (x.redact && (rc = hvt_redact_event(&x.red, rec.u.event, &red)) < 0) {
            hvt_tool_err("extract: event %" PRIu64 ": redaction: %s", rec.u.event->id,
                         hvt_strerror(rc));
            status = HVT_EXIT_CORRUPT;
            break;
        }
        rc = add_callsites(&x, rec.u.event);
        if (rc >= 0)
            rc = hvt_fmt_writer_append(x.w, red ? red : rec.u.event);
        hvt_event_free(red);
        if (rc < 0) {
            hvt_tool_err("extract: %s: %s", out, hvt_fmt_writer_error(x.w)->message);
            status = hvt_tool_write_exit(rc);
            break;
        }
        if (!x.events++)
            x.first = rec.u.event->id;
        x.last = rec.u.event->id;
    }
    hvt_progress_clear(&prog);
    rc = hvt_fmt_writer_close(x.w, NULL);
    if (rc < 0 && status == HVT_EXIT_OK) {
        hvt_tool_err("extract: %s: %s", out, hvt_fmt_writer_last_error()->message);
        status = hvt_tool_write_exit(rc);
    }
    if (status == HVT_EXIT_OK) {
        if (!x.events)
            hvt_filter_warn_empty(&sel, "extract");
        print_summary(&x, out, json, mode, key_given);
    }
    hvt_redact_free(&x.red);
    hvt_fmt_reader_close(x.r);
    free(kv);
    return status;
}
