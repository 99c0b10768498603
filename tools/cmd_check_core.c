/* SPDX-License-Identifier: MIT */
/* hvtrace check-core: differential test of the reference core against an independent oracle. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvtrace/oracle.h"
#include "util.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hvtrace check-core --against unicorn [--seed S] [--cases N] [--verbose]\n"
            "                          [--mode 64|32|all] [--insn NAME] [--paging MODE]\n\n"
            "Generates N random cases from seed S (default 1, 1000 cases): a vCPU state, page\n"
            "tables and one instance of an instruction form, runs each on the reference core and\n"
            "on unicorn, and compares registers, defined flags, memory (data and paging\n"
            "structures with their A/D bits) and faults. Known unicorn deviations are excluded\n"
            "by name (docs/CORE-CHECKING.md). Prints 'N cases, M mismatches'.\n\n"
            "  --verbose      per-form table, and every mismatch with its case seed and diff\n"
            "  --mode         64-bit, 32-bit protected mode, or both (default all)\n"
            "  --insn NAME    one form (\"add m,r\") or mnemonic (\"add\")\n"
            "  --paging MODE  off, 2l, 2l-pse, pae, 4l, 5l\n"
            "  --against native  string ops, SIMD moves, CMPXCHG8B/16B and AVX2 gathers run on\n"
            "                 the core and natively on this CPU in a sandbox process (forms the\n"
            "                 host lacks are skipped by name; --mode/--insn/--paging do not apply)\n"
            "  --cpu NAME     native: the CPU profile the core follows (default host: this\n"
            "                 CPU's, probed; another shows where that profile differs from\n"
            "                 this CPU); unicorn: default 'unicorn'. --cpu list names them\n\n"
            "A mismatching case is reproduced by --seed CASE_SEED --cases 1 (same filters).\n"
            "exit: 0 no mismatch, 1 mismatches, 2 usage error or oracle unavailable\n");
}

struct ctx {
    int verbose;
    uint64_t shown;
    const char *mode, *insn, *paging;
    struct hvt_ticker *tick;
};

static void on_mismatch(void *arg, const struct hvt_orc_case *c, const struct hvt_orc_result *ref,
                        const struct hvt_orc_result *uc, const char *diff)
{
    struct ctx *x = arg;
    char d[256];
    (void)ref, (void)uc;
    if (!x->verbose && x->shown >= 5) {
        x->shown++;
        return;
    }
    x->shown++;
    hvt_ticker_hold(x->tick);
    hvt_orc_case_describe(c, d, sizeof(d));
    printf("mismatch: case seed %#" PRIx64 ": %s\n", c->seed, d);
    if (x->verbose) {
        const char *p = diff;
        hvt_orc_case_dump(c, stdout);
        while (*p) {
            const char *e = strchr(p, '\n');
            int n = e ? (int)(e - p) : (int)strlen(p);
            printf("    %.*s\n", n, p);
            p += n + (e ? 1 : 0);
        }
    }
    printf("    reproduce: hvtrace check-core --against unicorn --seed %#" PRIx64
           " --cases 1%s%s%s%s%s%s%s\n",
           c->seed, x->mode ? " --mode " : "", x->mode ? x->mode : "", x->insn ? " --insn '" : "",
           x->insn ? x->insn : "", x->insn ? "'" : "", x->paging ? " --paging " : "",
           x->paging ? x->paging : "");
    fflush(stdout);
    hvt_ticker_release(x->tick);
}

static int parse_paging(const char *s)
{
    static const char *const names[] = {"off", "2l", "2l-pse", "pae", "4l", "5l"};
    for (int i = 0; i < HVT_ORC_PG__COUNT; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -2;
}

int hvt_cmd_check_core(int argc, char **argv)
{
    const char *against = NULL;
    uint64_t seed = 1, cases = 1000;
    struct hvt_orc_filter f;
    struct hvt_orc_run run;
    struct hvt_ticker tick;
    struct ctx x = {0, 0, NULL, NULL, NULL, &tick};
    struct hvt_cpu_profile cpu;
    const char *cpu_arg = NULL;
    int rc;

    if (hvt_tool_wants_help(argc, argv)) {
        usage(stdout);
        return HVT_EXIT_OK;
    }
    static const char *const known[] = {"--verbose", "--against", "--cpu",    "--seed", "--cases",
                                        "--mode",    "--insn",    "--paging", "--help", NULL};
    hvt_orc_filter_init(&f);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            x.verbose = 1;
            continue;
        }
        if (!v || !hvt_tool_nearest(a, known) || strcmp(hvt_tool_nearest(a, known), a)) {
            if (v || !hvt_tool_nearest(a, known) || strcmp(hvt_tool_nearest(a, known), a))
                return hvt_tool_bad_arg("check-core", a, known);
            hvt_tool_err("check-core: %s needs a value (try --help)", a);
            return HVT_EXIT_USAGE;
        }
        i++;
        if (!strcmp(a, "--against")) {
            against = v;
        } else if (!strcmp(a, "--cpu")) {
            if (!strcmp(v, "list")) {
                hvt_tool_cpu_list(stdout);
                return HVT_EXIT_OK;
            }
            cpu_arg = v;
        } else if (!strcmp(a, "--seed")) {
            if (hvt_tool_parse_u64(v, &seed)) {
                hvt_tool_err("check-core: bad --seed '%s'", v);
                return HVT_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--cases")) {
            if (hvt_tool_parse_u64(v, &cases)) {
                hvt_tool_err("check-core: bad --cases '%s'", v);
                return HVT_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "64"))
                f.bits = 64;
            else if (!strcmp(v, "32"))
                f.bits = 32;
            else if (strcmp(v, "all")) {
                hvt_tool_err("check-core: --mode must be 64, 32 or all, not '%s'", v);
                return HVT_EXIT_USAGE;
            }
            x.mode = v;
        } else if (!strcmp(a, "--insn")) {
            unsigned k, n = hvt_orc_form_count();
            for (k = 0; k < n && !hvt_orc_form_matches(k, v); k++)
                ;
            if (k == n) {
                hvt_tool_err("check-core: no instruction form named '%s'", v);
                return HVT_EXIT_USAGE;
            }
            f.insn = x.insn = v;
        } else if (!strcmp(a, "--paging")) {
            f.paging = parse_paging(v);
            if (f.paging < 0) {
                hvt_tool_err("check-core: --paging must be off, 2l, 2l-pse, pae, 4l or 5l");
                return HVT_EXIT_USAGE;
            }
            x.paging = v;
        } else {
            return hvt_tool_bad_arg("check-core", a, known);
        }
    }
    if (!against) {
        hvt_tool_err("check-core: --against unicorn is required");
        usage(stderr);
        return HVT_EXIT_USAGE;
    }
    if (cpu_arg && hvt_tool_cpu("check-core", cpu_arg, &cpu))
        return HVT_EXIT_USAGE;
    if (!strcmp(against, "native")) { /* oracle/native_check.c */
        hvt_ticker_start(&tick, "check-core", "comparing with this CPU", NULL);
        rc = hvt_oracle_native_check(seed, cases, x.verbose,
                                     cpu_arg && strcmp(cpu_arg, "host") ? &cpu : NULL, stdout);
        hvt_ticker_stop(&tick);
        if (rc < 0) {
            hvt_tool_err("check-core: native oracle: %s", hvt_strerror(rc));
            return HVT_EXIT_USAGE;
        }
        return rc ? HVT_EXIT_DIVERGENCE : HVT_EXIT_OK;
    }
    if (strcmp(against, "unicorn")) {
        hvt_tool_err("check-core: unknown oracle '%s' (unicorn)", against);
        return HVT_EXIT_USAGE;
    }
    if (cpu_arg)
        f.cpu = &cpu; /* default: the "unicorn" profile */
    if (!hvt_orc_unicorn_available()) {
        hvt_tool_err("check-core: unicorn is unavailable in this build (install libunicorn-dev "
                     "and reconfigure)");
        return HVT_EXIT_USAGE;
    }
    if (f.paging >= 0 && f.bits && (f.bits == 64) != (f.paging >= HVT_ORC_PG_4L)) {
        hvt_tool_err("check-core: --paging %s does not exist in %u-bit mode", x.paging, f.bits);
        return HVT_EXIT_USAGE;
    }
    if (f.insn && f.bits == 32 && !strncmp(f.insn, "movsxd", 6)) {
        hvt_tool_err("check-core: movsxd exists only in 64-bit mode");
        return HVT_EXIT_USAGE;
    }
    hvt_ticker_start(&tick, "check-core", "comparing with unicorn", NULL);
    rc = hvt_orc_check(seed, cases, &f, on_mismatch, &x, &run);
    hvt_ticker_stop(&tick);
    if (rc < 0) {
        hvt_tool_err("check-core: %s", hvt_strerror(rc));
        hvt_orc_run_fini(&run);
        return HVT_EXIT_USAGE;
    }
    if (x.verbose) {
        printf("%-16s %8s %10s %9s\n", "form", "cases", "mismatches", "excluded");
        for (unsigned i = 0; i < hvt_orc_form_count(); i++) {
            const struct hvt_orc_form_stats *s = &run.per_form[i];
            if (s->cases)
                printf("%-16s %8" PRIu64 " %10" PRIu64 " %9" PRIu64 "\n", hvt_orc_form_name(i),
                       s->cases, s->mismatches, s->excluded);
        }
        if (!hvt_orc_unicorn_has_error_codes())
            printf("note: unicorn's error codes could not be located; only vectors and CR2 "
                   "were compared\n");
    }
    if (!x.verbose && x.shown > 5)
        printf("... %" PRIu64 " more mismatches (--verbose shows all)\n", x.shown - 5);
    if (run.excluded) {
        printf("%" PRIu64 " cases excluded as known unicorn deviations:", run.excluded);
        for (unsigned d = 1; d < HVT_ORC_DEV__COUNT; d++)
            if (run.excluded_by[d])
                printf(" %s=%" PRIu64, hvt_orc_deviation_name(d), run.excluded_by[d]);
        printf("\n");
    }
    printf("%" PRIu64 " cases, %" PRIu64 " mismatches\n", run.cases, run.mismatches);
    rc = run.mismatches ? HVT_EXIT_DIVERGENCE : HVT_EXIT_OK;
    hvt_orc_run_fini(&run);
    return rc;
}
