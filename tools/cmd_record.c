/* SPDX-License-Identifier: MIT */
/* hvtrace record: run a scenario of the simulated host and record it into a trace. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hvtrace/host.h"
#include "util.h"

static void record_usage(FILE *f)
{
    fprintf(f,
            "usage: hvtrace record --scenario NAME -o FILE [options]\n"
            "\n"
            "Runs a scenario of the simulated host and records every emulation event.\n"
            "With --host kvm, runs it on KVM instead (hvtrace record --host kvm --help).\n"
            "\n"
            "  --scenario NAME       what to run (--list shows them)\n"
            "  -o, --output FILE     trace to write\n"
            "  -f, --force           overwrite FILE if it exists (FILE is written as FILE.part\n"
            "                        and renamed over FILE when complete)\n"
            "  --follow              FILE may be a symbolic link: write its target (default:\n"
            "                        refused)\n"
            "  --seed N              scheduler/agent seed (default 1; " HVT_TOOL_NUMBER_HINT ");\n"
            "                        without --threads the same options give the same file,\n"
            "                        byte for byte, and --events N records the first N events\n"
            "                        of any longer recording\n"
            "  --vcpus N             vCPUs (1..%u; default: the scenario's)\n"
            "  --events N            stop after N events (default: the scenario's)\n"
            "  --cache none|walk|full  access-once buffer applied while recording\n"
            "  --callsites DEPTH     record DEPTH call-site frames per access (0 = off)\n"
            "  --threads             one thread per vCPU (not deterministic)\n"
            "  --record all|events   make every instruction an event (default: events)\n"
            "  --ram-mib N           guest RAM in MiB (even, 4..1024; default 8)\n"
            "  --core NAME|PATH      core to run (default: the reference core)\n"
            "  --core-option KEY=VALUE  core option, repeatable (e.g. pdpte-reread=1;\n"
            "                        --core-opt is the older name)\n"
            "  --json                the summary as one JSON object (docs/TOOLS.md)\n"
            "  --cpu NAME|host|TEXT  the CPU the guest is shown, recorded in the trace\n"
            "                        (default %s, whatever this machine is; host: this\n"
            "                        machine's, probed; --cpu list names them)\n"
            "  --list                list the scenarios and exit\n"
            "\n"
            "exit: 0 recorded, 1 the run failed, 2 usage error (bad option, FILE exists\n"
            "      without -f), 4 FILE cannot be created or written (missing directory,\n"
            "      read-only file system, a directory or symbolic link at FILE, full disk, file\n"
            "      size limit); a recording stopped by a write error keeps every complete chunk\n",
            HVT_HOST_MAX_VCPUS, HVT_CPU_DEFAULT);
}

static const char *const known[] = {
    "--scenario", "-o",    "--output",   "-f",       "--force",  "--follow",     "--seed",
    "--vcpus",    "--events", "--cache", "--callsites", "--threads", "--record", "--ram-mib",
    "--core",     "--core-option", "--core-opt", "--cpu", "--list", "--json", "--help", NULL};

static void list_scenarios(void)
{
    for (size_t i = 0; i < hvt_host_scenario_count(); i++)
        printf("%-10s %s\n", hvt_host_scenario_name(i), hvt_host_scenario_summary(i));
}

static int parse_cache(const char *s, unsigned *out)
{
    static const char *const names[] = {"none", "walk", "full"};
    for (unsigned i = 0; i < 3; i++) {
        if (!strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

int hvt_cmd_record(int argc, char **argv)
{
    struct hvt_host_options opt;
    struct hvt_host_stats st;
    struct hvt_kv core_opts[HVT_HOST_MAX_CORE_OPTIONS];
    char kvbuf[HVT_HOST_MAX_CORE_OPTIONS][128];
    const char *out = NULL;
    char err[512];
    struct hvt_cpu_profile cpu;
    uint64_t n;
    int rc, json = 0;
    struct hvt_ticker tick;

    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--host") && strcmp(argv[i + 1], "sim")) {
            if (!strcmp(argv[i + 1], "kvm"))
                return hvt_tool_record_kvm(argc, argv); /* cmd_kvm.c */
            hvt_tool_err("record: --host '%s': must be sim or kvm", argv[i + 1]);
            return HVT_EXIT_USAGE;
        }
    }
    if (hvt_tool_wants_help(argc, argv)) {
        record_usage(stdout);
        return HVT_EXIT_OK;
    }
    hvt_host_options_init(&opt);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--list")) {
            list_scenarios();
            return HVT_EXIT_OK;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--force")) {
            opt.flags |= HVT_HOST_OVERWRITE;
            takes = 0;
        } else if (!strcmp(a, "--follow")) {
            opt.flags |= HVT_HOST_FOLLOW;
            takes = 0;
        } else if (!strcmp(a, "--threads")) {
            opt.flags |= HVT_HOST_THREADS;
            takes = 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
            takes = 0;
        } else if (a[0] != '-') {
            hvt_tool_err("record: unexpected argument '%s' (try --help)", a);
            return HVT_EXIT_USAGE;
        } else if (!hvt_tool_nearest(a, known) || strcmp(hvt_tool_nearest(a, known), a)) {
            return hvt_tool_bad_arg("record", a, known);
        } else if (!val) {
            hvt_tool_err("record: %s needs a value (try --help)", a);
            return HVT_EXIT_USAGE;
        } else if (!strcmp(a, "--host")) {
            /* sim: this command; kvm went to cmd_kvm.c above */
        } else if (!strcmp(a, "--scenario")) {
            opt.scenario = val;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            out = val;
        } else if (!strcmp(a, "--seed")) {
            if (hvt_tool_parse_u64(val, &opt.seed)) {
                hvt_tool_err("record: --seed '%s': not a number (" HVT_TOOL_NUMBER_HINT ")", val);
                return HVT_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--vcpus")) {
            if (hvt_tool_opt_u64("record", "--vcpus", val, 1, HVT_HOST_MAX_VCPUS, &n))
                return HVT_EXIT_USAGE;
            opt.vcpus = (uint32_t)n;
        } else if (!strcmp(a, "--events")) {
            if (hvt_tool_opt_u64("record", "--events", val, 1, 1000000000ull, &n))
                return HVT_EXIT_USAGE;
            opt.events = n;
        } else if (!strcmp(a, "--cache")) {
            if (parse_cache(val, &opt.cache)) {
                hvt_tool_err("record: --cache '%s': must be none, walk or full", val);
                return HVT_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--callsites")) {
            if (hvt_tool_parse_u64(val, &n) || n > HVT_REC_MAX_DEPTH) {
                hvt_tool_err("record: --callsites '%s': must be 0..%u", val, HVT_REC_MAX_DEPTH);
                return HVT_EXIT_USAGE;
            }
            opt.callsite_depth = (unsigned)n;
        } else if (!strcmp(a, "--record")) {
            if (!strcmp(val, "all")) {
                opt.flags |= HVT_HOST_RECORD_ALL;
            } else if (strcmp(val, "events")) {
                hvt_tool_err("record: --record '%s': must be all or events", val);
                return HVT_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--ram-mib")) {
            if (hvt_tool_parse_u64(val, &n) || n < 4 || n > 1024 || n % 2) {
                hvt_tool_err("record: --ram-mib '%s': must be an even number in 4..1024", val);
                return HVT_EXIT_USAGE;
            }
            opt.ram_bytes = n << 20;
        } else if (!strcmp(a, "--core")) {
            opt.core = val;
        } else if (!strcmp(a, "--cpu")) {
            if (!strcmp(val, "list")) {
                hvt_tool_cpu_list(stdout);
                return HVT_EXIT_OK;
            }
            if (hvt_tool_cpu("record", val, &cpu))
                return HVT_EXIT_USAGE;
            opt.cpu = &cpu;
        } else if (!strcmp(a, "--core-option") || !strcmp(a, "--core-opt")) {
            size_t k = opt.n_core_options;
            char *eq;
            if (k >= HVT_HOST_MAX_CORE_OPTIONS || strlen(val) >= sizeof(kvbuf[0]) ||
                !(eq = strchr(strcpy(kvbuf[k], val), '=')) || eq == kvbuf[k]) {
                hvt_tool_err("record: %s '%s': must be KEY=VALUE (at most %u)", a, val,
                             HVT_HOST_MAX_CORE_OPTIONS);
                return HVT_EXIT_USAGE;
            }
            *eq = 0;
            core_opts[k].key = kvbuf[k];
            core_opts[k].value = eq + 1;
            opt.core_options = core_opts;
            opt.n_core_options = k + 1;
        } else {
            return hvt_tool_bad_arg("record", a, known);
        }
        i += takes;
    }
    if (!opt.scenario) {
        hvt_tool_err("record: no --scenario given (one of: clean pageout ptwrite pae-pdpte "
                     "cmps gather adbits mixed)");
        return HVT_EXIT_USAGE;
    }
    if (!out) {
        hvt_tool_err("record: no output file given (-o FILE)");
        return HVT_EXIT_USAGE;
    }
    if (hvt_tool_check_path("record", "output", out))
        return HVT_EXIT_USAGE;

    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    hvt_ticker_start(&tick, "record", opt.scenario, out);
    rc = hvt_host_record(out, &opt, &st, err, sizeof(err));
    hvt_ticker_stop(&tick);
    /* An output that cannot be created or written has its own exit code. */
    if (rc == -HVT_E_IO || rc == -HVT_E_NOSPACE) {
        hvt_tool_err("record: %s", err[0] ? err : hvt_strerror(rc));
        return HVT_EXIT_WRITE;
    }
    /* Bad names and values, an existing output: usage errors. A core that refuses an option
     * is one too; a core that cannot run the scenario's instructions is a run failure. */
    if (rc == -HVT_E_NOT_FOUND || rc == -HVT_E_INVALID || rc == -HVT_E_EXISTS ||
        rc == -HVT_E_BAD_PLUGIN ||
        (rc == -HVT_E_UNSUPPORTED && !strstr(err, "does not implement"))) {
        hvt_tool_err("record: %s", err[0] ? err : hvt_strerror(rc));
        if (rc == -HVT_E_NOT_FOUND && !strstr(err, "core"))
            fprintf(stderr, "known scenarios: clean pageout ptwrite pae-pdpte cmps gather "
                            "adbits mixed\n");
        return HVT_EXIT_USAGE;
    }
    if (rc < 0) {
        hvt_tool_err("record: %s", err[0] ? err : hvt_strerror(rc));
        return 1;
    }
    if (json) {
        printf("{\"type\":\"record\",\"file\":");
        hvt_json_str(stdout, out);
        printf(",\"scenario\":");
        hvt_json_str(stdout, opt.scenario);
        printf(",\"cpu\":");
        hvt_json_str(stdout, opt.cpu ? opt.cpu->name : HVT_CPU_DEFAULT);
        printf(",\"seed\":%" PRIu64 ",\"events\":%" PRIu64 ",\"passes\":%" PRIu64
               ",\"accesses\":%" PRIu64 ",\"file_bytes\":%" PRIu64 ",\"instructions\":%" PRIu64
               ",\"device_requests\":%" PRIu64 ",\"agent_writes\":%" PRIu64
               ",\"ioreq_mismatches\":%" PRIu64 ",\"wall_s\":%.3f}\n",
               opt.seed, st.rec_events, st.rec_passes, st.rec_accesses, st.file_bytes,
               st.instructions, st.ioreqs, st.agent_actions, st.ioreq_mismatches,
               (double)st.wall_ns / 1e9);
        return HVT_EXIT_OK;
    }
    printf("%s: scenario %s, cpu %s, %" PRIu64 " events, %" PRIu64 " passes, %" PRIu64 " accesses, %" PRIu64
           " bytes (%" PRIu64 " instructions, %" PRIu64 " device requests, %" PRIu64
           " agent writes, %" PRIu64 " ioreq mismatches, %.2f s)\n",
           out, opt.scenario, opt.cpu ? opt.cpu->name : HVT_CPU_DEFAULT, st.rec_events, st.rec_passes, st.rec_accesses, st.file_bytes,
           st.instructions, st.ioreqs, st.agent_actions, st.ioreq_mismatches,
           (double)st.wall_ns / 1e9);
    return HVT_EXIT_OK;
}
