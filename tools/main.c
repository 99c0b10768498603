/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: command dispatch. Each command lives in its own cmd_NAME.c. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "hvtrace/version.h"
#include "util.h"

/* Commands are weak so that a build without a component still links and says so. */
#define CMD(name) extern int hvt_cmd_##name(int argc, char **argv) __attribute__((weak));
CMD(demo)
CMD(record)
CMD(replay)
CMD(dump)
CMD(stats)
CMD(verify)
CMD(diff)
CMD(bisect)
CMD(check_core)
CMD(check_kvm)
CMD(bench)
CMD(gen_sample)
CMD(lint)
CMD(extract)
CMD(report)
#undef CMD

static const struct {
    const char *name;
    hvt_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"demo", hvt_cmd_demo, "record a race with and without the fix, explain it"},
    {"record", hvt_cmd_record, "record a scenario of the simulated host"},
    {"replay", hvt_cmd_replay, "re-run a core against a trace, report divergences"},
    {"dump", hvt_cmd_dump, "print events, passes and accesses"},
    {"extract", hvt_cmd_extract, "a minimal trace of chosen events, guest data redacted"},
    {"report", hvt_cmd_report, "one HTML page: the passes side by side, a timeline"},
    {"stats", hvt_cmd_stats, "counts, sizes and compression of a trace"},
    {"verify", hvt_cmd_verify, "check every chunk; salvage a damaged trace"},
    {"diff", hvt_cmd_diff, "compare two traces event by event"},
    {"bisect", hvt_cmd_bisect, "find the first diverging event"},
    {"check-core", hvt_cmd_check_core, "differential test of the reference core"},
    {"check-kvm", hvt_cmd_check_kvm, "differential test of KVM's emulator (needs /dev/kvm)"},
    {"bench", hvt_cmd_bench, "benchmarks: format, core, record, replay"},
    {"gen-sample", hvt_cmd_gen_sample, "write a small synthetic sample trace"},
    {"lint", hvt_cmd_lint, "check a trace from any recorder for consistency"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: hvtrace <command> [options]   (hvtrace <command> --help)\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (commands[i].fn)
            fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f, "\nexit codes: 0 ok, 1 divergence found, 2 usage error, 3 corrupt or unreadable "
               "trace,\n            4 an output cannot be written (full disk, read-only, ...), "
               "125 trace cannot\n            be replayed by this core\n");
}

int main(int argc, char **argv)
{
    /* past a file size limit (ulimit -f) write(2) fails with EFBIG, reported like a full disk,
     * instead of the signal killing the command without a word */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? HVT_EXIT_USAGE : HVT_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("hvtrace %s\n", hvt_version());
        return HVT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name))
            continue;
        if (!commands[i].fn) {
            hvt_tool_err("'%s' is not available in this build yet", argv[1]);
            return HVT_EXIT_USAGE;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    {
        const char *names[sizeof(commands) / sizeof(commands[0]) + 1];
        const char *near;
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            names[i] = commands[i].name;
        names[sizeof(commands) / sizeof(commands[0])] = NULL;
        near = hvt_tool_nearest(argv[1], names);
        if (near) {
            hvt_tool_err("unknown command '%s' (did you mean '%s'? try hvtrace --help)", argv[1],
                         near);
            return HVT_EXIT_USAGE;
        }
    }
    hvt_tool_err("unknown command '%s' (try hvtrace --help)", argv[1]);
    return HVT_EXIT_USAGE;
}
