/* SPDX-License-Identifier: MIT */
/* hvtrace gen-sample: write a small deterministic synthetic trace (README quick start, tests). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hvtrace/format.h"
#include "print.h"
#include "sample.h"
#include "util.h"

static void help(FILE *f)
{
    fprintf(f, "usage: hvtrace gen-sample -o OUT [--events N] [--seed S] [--chunk-bytes B] "
               "[--level L]\n"
               "                          [--follow]\n"
               "\n"
               "Writes a small synthetic trace: a 64-bit guest on two vCPUs whose emulated\n"
               "instructions walk 4-level page tables, read and write MMIO (reads RETRY once),\n"
               "run REP MOVSB that stops part way, set A/D bits with a locked cmpxchg, take a #PF\n"
               "and do port I/O; a lost-records marker follows event 9. The same arguments always\n"
               "give the same bytes (fixed UUID and start time).\n"
               "\n"
               "  -o, --output OUT  output trace (replaced if it exists: written as OUT.part\n"
               "                    and renamed over OUT when complete); -f OUT is the older\n"
               "                    spelling\n"
               "  --follow          OUT may be a symbolic link: write its target (default:\n"
               "                    refused)\n"
               "  --events N        number of events (default 40, at most 1000000)\n"
               "  --seed S          generator seed (default 1)\n"
               "  --chunk-bytes B   writer chunk size in raw bytes (default: the writer's)\n"
               "  --level L         zstd level (default: the writer's)\n"
               "Numbers are " HVT_TOOL_NUMBER_HINT ".\n"
               "\n"
               "exit: 0 written, 2 usage error, 4 OUT cannot be created or written (missing\n"
               "      directory, read-only file system, a directory or symbolic link at OUT, full\n"
               "      disk, file size limit)\n");
}

static const char *const known[] = {"-o",    "--output",      "-f",      "--follow", "--events",
                                    "--seed", "--chunk-bytes", "--level", "--help",   NULL};

int hvt_cmd_gen_sample(int argc, char **argv)
{
    const char *out = NULL;
    uint64_t n = 40, seed = 1, v;
    struct hvt_fmt_writer_options opt;
    struct hvt_fmt_writer_stats st;
    struct hvt_fmt_error_info err;
    int rc;

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    hvt_fmt_writer_options_init(&opt);
    for (int i = 1; i < argc; i += 2) { /* every option but --follow takes one value */
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--follow")) {
            opt.flags |= HVT_FMT_W_FOLLOW;
            i--;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "-f")) && val) {
            out = val;
        } else if (!strcmp(a, "--events") && val && !hvt_tool_parse_u64(val, &v) && v <= 1000000) {
            n = v;
        } else if (!strcmp(a, "--seed") && val && !hvt_tool_parse_u64(val, &v)) {
            seed = v;
        } else if (!strcmp(a, "--chunk-bytes") && val && !hvt_tool_parse_u64(val, &v) && v > 0 &&
                   v <= HVT_FMT_MAX_CHUNK_BYTES) {
            opt.chunk_bytes = (size_t)v;
        } else if (!strcmp(a, "--level") && val && !hvt_tool_parse_u64(val, &v) && v <= 22) {
            opt.level = (int)v;
        } else if (val && (!strcmp(a, "--events") || !strcmp(a, "--seed") ||
                           !strcmp(a, "--chunk-bytes") || !strcmp(a, "--level")) &&
                   hvt_tool_parse_u64(val, &v)) {
            hvt_tool_err("gen-sample: %s '%s': not a number (" HVT_TOOL_NUMBER_HINT ")", a, val);
            return HVT_EXIT_USAGE;
        } else if (hvt_tool_nearest(a, known) && !strcmp(hvt_tool_nearest(a, known), a)) {
            hvt_tool_err("gen-sample: bad argument '%s'%s", a, val ? "" : " (missing value?)");
            help(stderr);
            return HVT_EXIT_USAGE;
        } else {
            return hvt_tool_bad_arg("gen-sample", a, known);
        }
    }
    if (!out) {
        hvt_tool_err("gen-sample: -o OUT is required");
        help(stderr);
        return HVT_EXIT_USAGE;
    }
    if (hvt_tool_check_path("gen-sample", "output", out))
        return HVT_EXIT_USAGE;
    opt.flags |= HVT_FMT_W_OVERWRITE;
    rc = hvt_sample_write(out, n, seed, &opt, &st, &err);
    if (rc < 0) {
        if (err.code && err.message[0])
            hvt_tool_err("gen-sample: %s", err.message);
        else
            hvt_tool_err("%s: %s", out, hvt_strerror(rc));
        return hvt_tool_write_exit(rc);
    }
    printf("%s: %" PRIu64 " events, %" PRIu64 " passes, %" PRIu64 " accesses, %" PRIu64
           " chunks, %" PRIu64 " bytes\n",
           out, st.events, st.passes, st.accesses, st.chunks, st.file_bytes);
    return HVT_EXIT_OK;
}
