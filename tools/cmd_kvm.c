/* SPDX-License-Identifier: MIT */
/* hvtrace record --host kvm and check-kvm: guests on /dev/kvm, and KVM's emulator checked. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hvtrace/kvm.h"
#include "util.h"

static void record_kvm_usage(FILE *f)
{
    fprintf(f,
            "usage: hvtrace record --host kvm --scenario NAME [--vcpus N] [--lockstep] -o FILE\n"
            "       hvtrace record --host kvm --kernel VMLINUX [--initrd F] [--append CMDLINE]\n"
            "                      [--seconds N] -o FILE\n"
            "\n"
            "Runs a guest on KVM (/dev/kvm) and records its device exits: an event per guest\n"
            "instruction at a device exit, a pass per KVM exit. KVM's device accesses are\n"
            "recorded as observed; the fetch, page walks and RAM operands are the reference\n"
            "core's shadow reconstruction, flagged 'reconstructed' in dump and replay.\n"
            "\n"
            "  --scenario NAME   clean, pageout, cmps, mixed (--list)\n"
            "  --vcpus N         2..%u (default 2; the last runs the racing agent when the\n"
            "                    scenario has one)\n"
            "  --events N        stop after N events (default: the scenario's)\n"
            "  --seed N          device delays and agent targeting (default 1)\n"
            "  --lockstep        single-step every instruction: exact pre-instruction states\n"
            "                    for write exits (default: reconstructed)\n"
            "  --kernel VMLINUX  boot a Linux kernel (ELF vmlinux) and record its device exits\n"
            "  --initrd F, --append CMDLINE, --seconds N (wall-time budget, default 60),\n"
            "  --console FILE    where the guest's serial console goes (default: nowhere)\n"
            "                    (scripts/kvm-kernel.sh fetches and extracts a Debian vmlinux)\n"
            "  -o FILE, -f       output (and overwrite it)\n"
            "\n"
            "exit: 0 recorded, 1 the run failed, 2 usage error, 4 FILE cannot be written,\n"
            "      77 no usable /dev/kvm here (nothing was run)\n",
            HVT_KVM_MAX_VCPUS);
}

static void print_stats(const char *what, const struct hvt_kvm_stats *st)
{
    double s = (double)st->wall_ns / 1e9;
    printf("%s: %s on %s, %" PRIu64 " events, %" PRIu64 " passes, %" PRIu64 " accesses, %" PRIu64
           " bytes\n",
           what, st->module[0] ? st->module : "kvm", st->release, st->events, st->passes,
           st->rec_accesses, st->file_bytes);
    printf("  %" PRIu64 " exits (%" PRIu64 " mmio, %" PRIu64 " io, %" PRIu64
           " single-step) in %.2f s: %.0f exits/s, %.0f events/s\n",
           st->exits, st->mmio_exits, st->pio_exits, st->debug_exits, s,
           s > 0 ? (double)st->exits / s : 0.0, s > 0 ? (double)st->events / s : 0.0);
    printf("  shadow core vs KVM: %" PRIu64 " passes agree, %" PRIu64
           " differ by a named deviation (kvm-rep-exit-sets-rf %" PRIu64
           ", kvm-rep-last-iteration-at-rep %" PRIu64 "), %" PRIu64 " differ\n",
           st->shadow_ok, st->shadow_named, st->dev_rep_rf, st->dev_rep_last_at_rep,
           st->shadow_mismatch);
    printf("  pre-states: %" PRIu64 " reconstructed, %" PRIu64 " unexplained; %" PRIu64
           " agent writes\n",
           st->reconstructed_init, st->unreconstructed, st->agent_actions);
    if (st->first_mismatch[0])
        printf("  first difference: %s\n", st->first_mismatch);
}

int hvt_tool_record_kvm(int argc, char **argv)
{
    struct hvt_kvm_options o;
    struct hvt_kvm_stats st;
    const char *out = NULL;
    char err[512];
    uint64_t n;
    int rc;

    if (hvt_tool_wants_help(argc, argv)) {
        record_kvm_usage(stdout);
        return HVT_EXIT_OK;
    }
    hvt_kvm_options_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--list")) {
            for (size_t k = 0; k < hvt_kvm_scenario_count(); k++)
                printf("%-10s %s\n", hvt_kvm_scenario_name(k), hvt_kvm_scenario_summary(k));
            return HVT_EXIT_OK;
        } else if (!strcmp(a, "--lockstep")) {
            o.flags |= HVT_KVM_LOCKSTEP;
            continue;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--force")) {
            o.flags |= HVT_KVM_OVERWRITE;
            continue;
        } else if (!val || a[0] != '-') {
            hvt_tool_err("record: %s: %s (try --host kvm --help)", a,
                         val ? "unexpected argument" : "needs a value");
            return HVT_EXIT_USAGE;
        }
        i++;
        if (!strcmp(a, "--host")) {
            continue;
        } else if (!strcmp(a, "--scenario")) {
            o.scenario = val;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            out = val;
        } else if (!strcmp(a, "--kernel")) {
            o.kernel = val;
        } else if (!strcmp(a, "--initrd")) {
            o.initrd = val;
        } else if (!strcmp(a, "--append")) {
            o.append = val;
        } else if (!strcmp(a, "--console")) {
            o.console = val;
        } else if (!strcmp(a, "--seed")) {
            if (hvt_tool_parse_u64(val, &o.seed)) {
                hvt_tool_err("record: --seed '%s': not a number", val);
                return HVT_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--vcpus")) {
            if (hvt_tool_opt_u64("record", "--vcpus", val, 2, HVT_KVM_MAX_VCPUS, &n))
                return HVT_EXIT_USAGE;
            o.vcpus = (uint32_t)n;
        } else if (!strcmp(a, "--events")) {
            if (hvt_tool_opt_u64("record", "--events", val, 1, 100000000ull, &n))
                return HVT_EXIT_USAGE;
            o.events = n;
        } else if (!strcmp(a, "--seconds")) {
            if (hvt_tool_opt_u64("record", "--seconds", val, 1, 86400, &n))
                return HVT_EXIT_USAGE;
            o.seconds = (uint32_t)n;
        } else {
            hvt_tool_err("record: unknown option '%s' for --host kvm (try --host kvm --help)", a);
            return HVT_EXIT_USAGE;
        }
    }
    if (!o.scenario == !o.kernel) {
        hvt_tool_err("record: --host kvm needs --scenario NAME or --kernel VMLINUX (one)");
        return HVT_EXIT_USAGE;
    }
    if (!out) {
        hvt_tool_err("record: no output file given (-o FILE)");
        return HVT_EXIT_USAGE;
    }
    if (hvt_tool_check_path("record", "output", out))
        return HVT_EXIT_USAGE;
    if (hvt_kvm_probe(err, sizeof(err)) < 0) {
        hvt_tool_err("record: --host kvm: no usable KVM here: %s", err);
        return HVT_EXIT_NO_KVM;
    }
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    rc = hvt_kvm_record(out, &o, &st, err, sizeof(err));
    if (rc == -HVT_E_IO || rc == -HVT_E_NOSPACE) {
        hvt_tool_err("record: %s", err[0] ? err : hvt_strerror(rc));
        return HVT_EXIT_WRITE;
    }
    if (rc == -HVT_E_NOT_FOUND || rc == -HVT_E_INVALID || rc == -HVT_E_EXISTS) {
        hvt_tool_err("record: %s%s", err[0] ? err : hvt_strerror(rc),
                     rc == -HVT_E_EXISTS ? " (use -f to overwrite)" : "");
        return HVT_EXIT_USAGE;
    }
    if (rc == -HVT_E_UNSUPPORTED) {
        hvt_tool_err("record: %s", err[0] ? err : hvt_strerror(rc));
        return HVT_EXIT_NO_KVM;
    }
    if (rc < 0) {
        hvt_tool_err("record: %s", err[0] ? err : hvt_strerror(rc));
        return 1;
    }
    print_stats(out, &st);
    return HVT_EXIT_OK;
}

static void check_kvm_usage(FILE *f)
{
    fprintf(f,
            "usage: hvtrace check-kvm [--seed S] [--cases N] [--verbose]\n\n"
            "Generates N oracle cases from seed S (default 1, 1000 cases; 64-bit, 4-level\n"
            "paging, CPL 0: what KVM's emulator runs on kvm_pvm), loads each into a KVM guest,\n"
            "single-steps it and compares KVM's outcome, registers, defined flags and memory with\n"
            "the reference core's, as check-core compares. Known KVM deviations are excluded by\n"
            "name and counted. Prints 'N cases, M mismatches'.\n\n"
            "exit: 0 no mismatch, 1 mismatches, 2 usage error, 77 no usable /dev/kvm here\n");
}

int hvt_cmd_check_kvm(int argc, char **argv);
int hvt_cmd_check_kvm(int argc, char **argv)
{
    uint64_t seed = 1, cases = 1000;
    int verbose = 0, rc;
    char why[256];

    if (hvt_tool_wants_help(argc, argv)) {
        check_kvm_usage(stdout);
        return HVT_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            verbose = 1;
        } else if (v && !strcmp(a, "--seed")) {
            if (hvt_tool_parse_u64(v, &seed)) {
                hvt_tool_err("check-kvm: bad --seed '%s'", v);
                return HVT_EXIT_USAGE;
            }
            i++;
        } else if (v && !strcmp(a, "--cases")) {
            if (hvt_tool_parse_u64(v, &cases) || cases < 1) {
                hvt_tool_err("check-kvm: bad --cases '%s'", v);
                return HVT_EXIT_USAGE;
            }
            i++;
        } else {
            hvt_tool_err("check-kvm: unknown option or missing value: %s", a);
            check_kvm_usage(stderr);
            return HVT_EXIT_USAGE;
        }
    }
    if (hvt_kvm_probe(why, sizeof(why)) < 0) {
        hvt_tool_err("check-kvm: no usable KVM here: %s", why);
        return HVT_EXIT_NO_KVM;
    }
    rc = hvt_kvm_check(seed, cases, verbose, stdout);
    if (rc == -HVT_E_UNSUPPORTED)
        return HVT_EXIT_NO_KVM;
    if (rc < 0) {
        hvt_tool_err("check-kvm: %s", hvt_strerror(rc));
        return HVT_EXIT_USAGE;
    }
    return rc ? HVT_EXIT_DIVERGENCE : HVT_EXIT_OK;
}
