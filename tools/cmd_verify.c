/* SPDX-License-Identifier: MIT */
/* hvtrace verify: check every chunk of a trace; optionally salvage what is readable. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvtrace/format.h"
#include "print.h"
#include "util.h"

/* A corrupt file can hold one problem per few dozen bytes; past this many, verify stops
 * listing them (the verdict stays the same). */
#define MAX_PROBLEMS 1000

struct problems {
    struct hvt_ticker *tick;
    const char *path;
    size_t n;
    struct hvt_fmt_error_info *list; /* for --json; NULL otherwise */
};

static void help(FILE *f)
{
    fprintf(f,
            "usage: hvtrace verify FILE [--salvage OUT [-f] [--follow]] [--json]\n"
            "\n"
            "Checks every chunk: header and payload CRCs, decoding, event ids in order, and the\n"
            "index against the chunks found by scanning. Each problem is printed on stderr as\n"
            "'hvtrace: FILE: offset N, chunk C: what'; a summary goes to stdout.\n"
            "\n"
            "  --salvage OUT   also write OUT: a new valid trace of every readable chunk\n"
            "                  (header, records, a fresh index), and say how many events it has\n"
            "  -f              let --salvage replace an existing OUT (OUT is written as\n"
            "                  OUT.part and renamed over OUT when complete); OUT is never FILE\n"
            "                  (compared by device and inode, so not through a link either)\n"
            "  --follow        OUT may be a symbolic link: write its target (default: refused)\n"
            "  --json          the summary as one JSON object (schema: docs/TOOLS.md)\n"
            "\n"
            "exit: 0 the trace is good; 3 it is corrupt or unreadable (also when --salvage\n"
            "      wrote a valid OUT from it: the exit status is about FILE); 2 usage error (OUT\n"
            "      exists without -f, OUT is FILE); 4 OUT cannot be created or written\n");
}

static int on_problem(void *arg, const struct hvt_fmt_error_info *info)
{
    struct problems *p = arg;
    if (p->n >= MAX_PROBLEMS) {
        hvt_tool_err("%s: more than %d problems, not listing the rest", p->path, MAX_PROBLEMS);
        return 1;
    }
    hvt_ticker_hold(p->tick);
    hvt_print_fmt_error(p->path, info);
    hvt_ticker_release(p->tick);
    if (p->list)
        p->list[p->n] = *info;
    p->n++;
    return 0;
}

static const char *code_name(int code)
{
    static const char *const names[HVT_E__COUNT] = {
        "ok",        "invalid",     "internal",    "nomem",    "io",         "exists", "nospace",
        "bad_magic", "bad_version", "truncated",   "checksum", "bad_record", "limit",  "no_index",
        "not_found", "end",         "unsupported", "closed",   "bad_plugin", "same_file"};
    int c = code < 0 ? -code : code;
    return c < HVT_E__COUNT && names[c] ? names[c] : "unknown";
}

static int is_corruption(int rc)
{
    switch (-rc) {
    case HVT_E_BAD_MAGIC:
    case HVT_E_BAD_VERSION:
    case HVT_E_TRUNCATED:
    case HVT_E_CHECKSUM:
    case HVT_E_BAD_RECORD:
    case HVT_E_LIMIT:
    case HVT_E_NO_INDEX:
        return 1;
    default:
        return 0;
    }
}

int hvt_cmd_verify(int argc, char **argv)
{
    const char *path = NULL, *out = NULL;
    int json = 0, force = 0, follow = 0, rc, status;
    int64_t salvaged = 0;
    struct hvt_fmt_verify_report rep;
    struct hvt_ticker tick;
    struct problems probs = {0};

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "-f")) {
            force = 1;
        } else if (!strcmp(argv[i], "--follow")) {
            follow = 1;
        } else if (!strcmp(argv[i], "--salvage") && i + 1 < argc && !out) {
            out = argv[++i];
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            static const char *const known[] = {"--json", "-f", "--follow", "--salvage", "--help",
                                                NULL};
            return hvt_tool_bad_arg("verify", argv[i], known);
        }
    }
    if (!path) {
        hvt_tool_err("verify: no trace file given");
        help(stderr);
        return HVT_EXIT_USAGE;
    }
    if (hvt_tool_check_path("verify", "trace", path) ||
        (out && hvt_tool_check_path("verify", "--salvage", out)))
        return HVT_EXIT_USAGE;
    probs.path = path;
    if (json) {
        probs.list = calloc(MAX_PROBLEMS, sizeof(*probs.list));
        if (!probs.list) {
            hvt_tool_err("verify: out of memory");
            return HVT_EXIT_CORRUPT;
        }
    }
    memset(&rep, 0, sizeof(rep));
    probs.tick = &tick;
    hvt_ticker_start(&tick, "verify", "checking every chunk", NULL);
    rc = hvt_fmt_verify(path, &rep, on_problem, &probs);
    hvt_ticker_stop(&tick);
    if (rc < 0 && probs.n == 0) {
        /* verify failed before it could describe a problem (cannot open, ...). */
        struct hvt_fmt_error_info e = {.code = rc, .chunk = -1, .record = -1};
        snprintf(e.message, sizeof(e.message), "%s", hvt_strerror(rc));
        on_problem(&probs, &e);
    }
    status = rc == 0 ? HVT_EXIT_OK : rc == -HVT_E_INVALID ? HVT_EXIT_USAGE : HVT_EXIT_CORRUPT;

    if (out && status != HVT_EXIT_USAGE) {
        struct hvt_fmt_writer_options wo;
        hvt_fmt_writer_options_init(&wo);
        if (force)
            wo.flags |= HVT_FMT_W_OVERWRITE;
        if (follow)
            wo.flags |= HVT_FMT_W_FOLLOW;
        hvt_ticker_start(&tick, "verify", "salvaging", out);
        salvaged = hvt_fmt_salvage(path, out, &wo, NULL, NULL);
        hvt_ticker_stop(&tick);
        if (salvaged < 0) {
            const struct hvt_fmt_error_info *oe = hvt_fmt_writer_last_error();
            if (salvaged == -HVT_E_SAME_FILE)
                hvt_tool_err("%s: is the input %s (same file): not written", out, path);
            else if (salvaged == -HVT_E_EXISTS)
                hvt_tool_err("%s: exists (use -f to replace it)", out);
            else if (oe->code == salvaged && oe->message[0])
                hvt_tool_err("salvage %s -> %s: %s", path, out, oe->message);
            else
                hvt_tool_err("salvage %s -> %s: %s", path, out, hvt_strerror((int)salvaged));
            /* OUT's problems have their exit codes; FILE's are already in STATUS */
            if (salvaged == -HVT_E_SAME_FILE || salvaged == -HVT_E_EXISTS ||
                salvaged == -HVT_E_NOSPACE || oe->code == salvaged)
                status = hvt_tool_write_exit((int)salvaged);
            else if (!is_corruption((int)salvaged) && status == HVT_EXIT_OK)
                status = HVT_EXIT_WRITE;
        }
    }

    if (json) {
        fputs("{\"type\":\"verify\",\"file\":", stdout);
        hvt_json_str(stdout, path);
        printf(",\"ok\":%s,\"code\":\"%s\",\"chunks_good\":%" PRIu64 ",\"chunks_bad\":%" PRIu64
               ",\"events\":%" PRIu64 ",\"lost_records\":%" PRIu64
               ",\"has_index\":%s,\"index_consistent\":%s,\"truncated_tail\":%s"
               ",\"good_bytes\":%" PRIu64 ",\"problems\":[",
               rc == 0 ? "true" : "false", code_name(rc), rep.chunks_good, rep.chunks_bad,
               rep.events, rep.lost_records, rep.has_index ? "true" : "false",
               rep.index_consistent ? "true" : "false", rep.truncated_tail ? "true" : "false",
               rep.good_bytes);
        for (size_t i = 0; i < probs.n; i++) {
            const struct hvt_fmt_error_info *e = &probs.list[i];
            printf("%s{\"type\":\"problem\",\"code\":\"%s\",\"offset\":%" PRIu64 ",\"chunk\":%" PRId64
                   ",\"record\":%" PRId64 ",\"message\":",
                   i ? "," : "", code_name(e->code), e->offset, e->chunk, e->record);
            hvt_json_str(stdout, e->message);
            putchar('}');
        }
        putchar(']');
        if (out) {
            fputs(",\"salvage\":{\"out\":", stdout);
            hvt_json_str(stdout, out);
            if (salvaged >= 0)
                printf(",\"events\":%" PRId64 "}", salvaged);
            else
                printf(",\"error\":\"%s\"}", code_name((int)salvaged));
        }
        puts("}");
    } else {
        printf("%s: %s: %" PRIu64 " good chunks, %" PRIu64 " bad, %" PRIu64 " events, %" PRIu64
               " lost records, index %s%s%s\n",
               path, rc == 0 ? "ok" : "CORRUPT", rep.chunks_good, rep.chunks_bad, rep.events,
               rep.lost_records,
               !rep.has_index         ? "missing"
               : rep.index_consistent ? "consistent"
                                      : "INCONSISTENT",
               rep.truncated_tail ? ", truncated tail" : "",
               rc == 0       ? ""
               : probs.n > 1 ? " (problems listed above)"
                             : " (problem above)");
        if (out && salvaged >= 0)
            printf("%s: salvaged %" PRId64 " events\n", out, salvaged);
    }
    free(probs.list);
    if (fflush(stdout) || ferror(stdout))
        return HVT_EXIT_USAGE;
    return status;
}
