/* SPDX-License-Identifier: MIT */
/* hvtrace replay: re-run a core against a trace and report every divergence. */
#include <inttypes.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvtrace/replay.h"
#include "filter.h"
#include "print.h"
#include "util.h"

#define MAX_CORE_OPTIONS 16

static void help(FILE *f)
{
    fprintf(f, "usage: hvtrace replay FILE [--core NAME|PATH.so] [--core-option KEY=VALUE]...\n"
               "                           [--cache none|walk|full] [--events A..B] [--jobs N]\n"
               "                           [--json] [--verbose] [--no-analysis | --analysis-only]\n"
               "                           [--scan] [--match auto|strict|semantic]\n"
               "                           [--cpu NAME|host|TEXT] [selection]\n"
               "\n"
               "Re-runs every pass of every event on the core (the reference core by default)\n"
               "with its accesses answered from the trace, and compares the passes of each\n"
               "event with each other. Reports each divergence (event, vCPU, RIP and the\n"
               "instruction, the passes compared, the access on both sides, its class, the call\n"
               "site) and a summary by class, tag class and mnemonic.\n"
               "\n"
               "  --core C          core to replay with: 'ref' or a core plugin .so\n"
               "  --core-option K=V core option, after the trace's recorded core.* options\n"
               "  --cache P         what-if: replay later passes with an access-once buffer\n"
               "                    filled by the first pass (walk: page-walk reads, full: all\n"
               "                    reads) and say whether that removes each divergence\n"
               "  --jobs N          replay chunks on N threads (output stays in event order);\n"
               "                    at most the CPUs and the memory budget allow (see\n"
               "                    docs/REPLAY.md): a larger N is capped, with a note\n"
               "  --json            JSON lines (schema: docs/REPLAY.md)\n"
               "  --verbose         also print benign findings (counted in the summary) and\n"
               "                    semantic replay's notes (not counted)\n"
               "  --no-analysis     only compare the core with the recording (replay_mismatch)\n"
               "  --analysis-only   only compare the recorded passes with each other; no core\n"
               "                    runs (a trace of another hypervisor's emulator)\n"
               "  --scan            ignore the index, find chunks by scanning\n"
               "  --match M         how the core's accesses must match the recorded ones:\n"
               "                    strict (same accesses, same order), semantic (same\n"
               "                    accesses, the core's own order: walks as a set, fetches\n"
               "                    as bytes, data in order per operand and element; see\n"
               "                    docs/REPLAY.md), auto (default: strict for the\n"
               "                    recording's own core, semantic for any other)\n"
               "  --cpu P           what-if: the core follows CPU profile P instead of the one\n"
               "                    the trace records (a built-in name, 'host', or the text\n"
               "                    form; --cpu list names them)\n"
               "selection (the summary then counts the selected events):\n%s"
               "\n"
               "exit: 0 no divergence, 1 divergence found, 2 usage error, 3 corrupt or\n"
               "unreadable trace, 125 this core cannot replay the trace (git bisect: skip)\n",
            hvt_filter_help);
}

static const char *const known[] = {"--core", "--core-option", "--cache", "--jobs", "--json",
                                    "--verbose", "--no-analysis", "--analysis-only", "--scan",
                                    "--cpu", "--match", HVT_FILTER_OPTION_NAMES, "--help", NULL};

struct out {
    unsigned flags;
    const struct hvt_filter *sel;
    int narrows;
    struct hvt_rpl_summary sum; /* of the selected events, when the selection narrows */
    struct hvt_progress prog;
};

static int on_event(void *arg, const struct hvt_rpl_event_report *rep)
{
    struct out *o = arg;
    if (o->narrows) {
        if (!hvt_filter_report(o->sel, rep))
            return 0;
        hvt_rpl_summary_add(&o->sum, rep);
    }
    if (rep->n_findings || rep->status == HVT_RPL_ST_CANNOT)
        hvt_progress_clear(&o->prog);
    hvt_rpl_print_event(stdout, rep, o->flags);
    return 0;
}

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    struct out *o = arg;
    hvt_progress_update(&o->prog, "chunk", done, total);
}

/* Which CPU the core followed (and the set-up notes, on stderr). */
static void print_cpu(const struct hvt_rpl_run_info *info, unsigned flags)
{
    static const char *const src[] = {"trace", "default", "override"};
    const char *s = info->cpu_source >= 0 && info->cpu_source < 3 ? src[info->cpu_source] : "?";
    char text[HVT_CPU_TEXT_MAX];
    if (info->warnings[0])
        fprintf(stderr, "hvtrace: replay: warning: %s\n", info->warnings);
    if (hvt_cpu_profile_format(&info->cpu, text, sizeof(text)) < 0)
        text[0] = 0;
    if (flags & HVT_RPL_PRINT_JSON) {
        fputs("{\"type\":\"cpu\",\"source\":", stdout);
        hvt_json_str(stdout, s);
        fputs(",\"name\":", stdout);
        hvt_json_str(stdout, info->cpu.name);
        fputs(",\"vendor\":", stdout);
        hvt_json_str(stdout, info->cpu.vendor);
        fputs(",\"profile\":", stdout);
        hvt_json_str(stdout, text);
        fputs("}\n", stdout);
        return;
    }
    printf("cpu: %s (%s)\n", info->cpu.name,
           info->cpu_source == HVT_RPL_CPU_TRACE     ? "the trace's"
           : info->cpu_source == HVT_RPL_CPU_DEFAULT ? "default: the trace records none"
                                                     : "--cpu what-if");
}

/* Which match mode the replay used, and why. */
static void print_match(const char *path, const struct hvt_rpl_options *opt, unsigned flags)
{
    char why[256];
    int m = hvt_rpl_match_of(path, opt, why, sizeof(why));
    if (m < 0)
        return;
    if (flags & HVT_RPL_PRINT_JSON) {
        fputs("{\"type\":\"match\",\"mode\":", stdout);
        hvt_json_str(stdout, hvt_rpl_match_name((unsigned)m));
        fputs(",\"why\":", stdout);
        hvt_json_str(stdout, why);
        fputs("}\n", stdout);
        return;
    }
    printf("match: %s (%s)\n", hvt_rpl_match_name((unsigned)m), why);
}

int hvt_cmd_replay(int argc, char **argv)
{
    struct hvt_rpl_options opt;
    struct hvt_rpl_summary sum;
    struct hvt_rpl_run_info info;
    struct hvt_kv kv[MAX_CORE_OPTIONS];
    struct out o = {0};
    struct hvt_cpu_profile cpu;
    struct hvt_filter sel;
    const char *path = NULL;
    int rc;

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    hvt_rpl_options_init(&opt);
    opt.core_options = kv;
    hvt_filter_init(&sel, 1);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
        int k = hvt_filter_parse(&sel, "replay", argc, argv, &i);
        if (k < 0)
            return HVT_EXIT_USAGE;
        if (k)
            continue;
        if (!strcmp(a, "--json")) {
            o.flags |= HVT_RPL_PRINT_JSON;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            o.flags |= HVT_RPL_PRINT_VERBOSE;
        } else if (!strcmp(a, "--no-analysis")) {
            opt.flags |= HVT_RPL_NO_ANALYSIS;
        } else if (!strcmp(a, "--analysis-only")) {
            opt.flags |= HVT_RPL_NO_REPLAY;
        } else if (!strcmp(a, "--scan")) {
            opt.scan = 1;
        } else if (!strcmp(a, "--match") && v) {
            unsigned m;
            for (m = 0; m < HVT_RPL_MATCH__COUNT && strcmp(v, hvt_rpl_match_name(m)); m++)
                ;
            if (m == HVT_RPL_MATCH__COUNT) {
                hvt_tool_err("replay: --match wants auto, strict or semantic, not '%s'", v);
                return HVT_EXIT_USAGE;
            }
            opt.match = m;
            i++;
        } else if (!strcmp(a, "--core") && v) {
            opt.core = v;
            i++;
        } else if (!strcmp(a, "--cpu") && v) {
            if (!strcmp(v, "list")) {
                hvt_tool_cpu_list(stdout);
                return HVT_EXIT_OK;
            }
            if (hvt_tool_cpu("replay", v, &cpu))
                return HVT_EXIT_USAGE;
            opt.cpu = &cpu;
            i++;
        } else if ((!strcmp(a, "--core-option") || !strcmp(a, "--core-opt")) && v) {
            if (hvt_tool_core_option("replay", argv[++i], kv, &opt.n_core_options,
                                     MAX_CORE_OPTIONS))
                return HVT_EXIT_USAGE;
        } else if (!strcmp(a, "--cache") && v) {
            if (!strcmp(v, "none"))
                opt.cache = HVT_RPL_CACHE_NONE;
            else if (!strcmp(v, "walk"))
                opt.cache = HVT_RPL_CACHE_WALK;
            else if (!strcmp(v, "full"))
                opt.cache = HVT_RPL_CACHE_FULL;
            else {
                hvt_tool_err("replay: --cache wants none, walk or full, not '%s'", v);
                return HVT_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--jobs") && v) {
            if (hvt_tool_parse_u64(v, &n) || n < 1 || n > 64) {
                hvt_tool_err("replay: --jobs wants 1..64, not '%s'", v);
                return HVT_EXIT_USAGE;
            }
            opt.jobs = (unsigned)n;
            if (opt.jobs > hvt_rpl_max_jobs()) {
                fprintf(stderr,
                        "hvtrace: replay: --jobs %u capped at %u (online CPUs, and %llu MiB "
                        "of decode memory at most %llu MiB per job)\n",
                        opt.jobs, hvt_rpl_max_jobs(),
                        (unsigned long long)(HVT_RPL_MEM_BUDGET >> 20),
                        (unsigned long long)(2 * HVT_RPL_CHUNK_MEM >> 20));
                opt.jobs = hvt_rpl_max_jobs();
            }
            i++;
        } else if (a[0] == '-' || path) {
            return hvt_tool_bad_arg("replay", a, known);
        } else {
            path = a;
        }
    }
    if (!path) {
        help(stderr);
        return HVT_EXIT_USAGE;
    }
    if (hvt_tool_check_path("replay", "trace", path))
        return HVT_EXIT_USAGE;
    if ((opt.flags & HVT_RPL_NO_REPLAY) &&
        ((opt.flags & HVT_RPL_NO_ANALYSIS) || opt.cache != HVT_RPL_CACHE_NONE)) {
        hvt_tool_err("replay: --analysis-only runs no core: not with --no-analysis or --cache");
        return HVT_EXIT_USAGE;
    }
    if ((opt.flags & HVT_RPL_NO_REPLAY) && (opt.core || opt.match || opt.n_core_options || opt.cpu))
        fprintf(stderr, "hvtrace: replay: warning: --analysis-only runs no core: --core, "
                        "--core-option, --cpu and --match are not used\n");
    /* Every chunk decodes into a few MiB that glibc would map and unmap each time (a third of
     * the run in page faults, and a lock the jobs contend on): keep them on the heap. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    opt.first = sel.first;
    opt.last = sel.last;
    o.sel = &sel;
    o.narrows = hvt_filter_narrows(&sel);
    hvt_rpl_summary_init(&o.sum);
    hvt_progress_init(&o.prog, "replay");
    rc = hvt_rpl_run(path, &opt, on_event, &o, o.prog.on ? on_progress : NULL, &o, &sum, &info);
    hvt_progress_clear(&o.prog);
    if (o.narrows) {
        o.sum.lost_markers = sum.lost_markers;
        sum = o.sum;
    }
    if (rc >= 0 && !sum.events && (sel.ranged || o.narrows))
        hvt_filter_warn_empty(&sel, "replay");
    if (rc < 0 && info.err.code) {
        hvt_print_fmt_error(path, &info.err);
        hvt_rpl_print_summary(stdout, &sum, opt.cache, o.flags);
        return HVT_EXIT_CORRUPT;
    }
    if (rc < 0) {
        hvt_tool_err("replay: %s: %s", path, info.message[0] ? info.message : hvt_strerror(rc));
        if (rc == -HVT_E_NOT_FOUND || rc == -HVT_E_BAD_PLUGIN || rc == -HVT_E_INVALID ||
            rc == -HVT_E_UNSUPPORTED)
            return HVT_EXIT_USAGE;
        return HVT_EXIT_CORRUPT;
    }
    print_cpu(&info, o.flags);
    if (!(opt.flags & HVT_RPL_NO_REPLAY))
        print_match(path, &opt, o.flags);
    if ((opt.flags & HVT_RPL_NO_REPLAY) && !(o.flags & HVT_RPL_PRINT_JSON))
        printf("analysis only: the recorded passes compared with each other, no core ran\n");
    hvt_rpl_print_summary(stdout, &sum, opt.cache, o.flags);
    if (sum.first_divergent != HVT_NO_EVENT &&
        (sum.first_cannot == HVT_NO_EVENT || sum.first_divergent < sum.first_cannot))
        return HVT_EXIT_DIVERGENCE;
    if (sum.cannot_replay)
        return HVT_EXIT_CANNOT_REPLAY;
    return HVT_EXIT_OK;
}
