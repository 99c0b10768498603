/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: helpers shared by the command files (parsing, errors, JSON, exit codes). */
#ifndef HVT_TOOLS_UTIL_H
#define HVT_TOOLS_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "common/json.h"

/* Exit codes every command uses (replay's are usable by `git bisect run`). */
enum hvt_exit {
    HVT_EXIT_OK = 0,
    HVT_EXIT_DIVERGENCE = 1,     /* replay/bisect/diff/check-core: a difference was found */
    HVT_EXIT_USAGE = 2,          /* bad command line, unwritable output, unknown names */
    HVT_EXIT_CORRUPT = 3,        /* unreadable or corrupt trace */
    HVT_EXIT_WRITE = 4,          /* an output cannot be created or written (full disk, ...) */
    HVT_EXIT_NO_KVM = 77,        /* the command needs /dev/kvm and it is absent or unusable */
    HVT_EXIT_CANNOT_REPLAY = 125 /* this core cannot replay the trace (git bisect: skip) */
};

/* A command: argv[0] is the command name. Returns an exit code. */
typedef int (*hvt_cmd_fn)(int argc, char **argv);

/* "hvtrace: " + message + newline on stderr. */
void hvt_tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict number parsing: decimal (leading zeros allowed: "010" is ten), or hex with 0x;
 * whole string, no sign, no overflow. 0 or -1. */
int hvt_tool_parse_u64(const char *s, uint64_t *out);
#define HVT_TOOL_NUMBER_HINT "decimal, or hex with 0x"

/* 0 when PATH names a file; otherwise prints "CMD: empty WHAT path" and returns -1. */
int hvt_tool_check_path(const char *cmd, const char *what, const char *path);

/* Exit code for an error writing an output: HVT_EXIT_USAGE when overwriting was not asked
 * for or the output is the input, HVT_EXIT_WRITE for the system errors. RC is -HVT_E_*. */
int hvt_tool_write_exit(int rc);
/* "A..B" (inclusive), "A.." (to the end), "..B", or "A" (just A). 0 or -1. */
/* A number option OPT of command CMD in LO..HI: 0 with *OUT set, or -1 after printing
 * "CMD: OPT 'VAL': must be LO..HI". */
int hvt_tool_opt_u64(const char *cmd, const char *opt, const char *val, uint64_t lo,
                     uint64_t hi, uint64_t *out);

int hvt_tool_parse_range(const char *s, uint64_t *a, uint64_t *b);

struct hvt_cpu_profile;

/* `--cpu ARG`: "host" (this machine: CPUID and the native probes), "list" is not handled here,
 * a built-in profile's name, or the profile text form (include/hvtrace/cpu.h). Warnings
 * (unknown tokens, probes no alternative describes) go to stderr prefixed with WHO.
 * 0, or -1 after printing the error. */
int hvt_tool_cpu(const char *who, const char *arg, struct hvt_cpu_profile *out);

/* Prints the built-in CPU profiles, one per line, to F (for `--cpu list`). */
void hvt_tool_cpu_list(FILE *f);

/* 1 when the command line asks for help (-h/--help anywhere). */
int hvt_tool_wants_help(int argc, char **argv);

struct hvt_kv;
/* `--core-option KEY=VALUE` (or its older name --core-opt): splits ARG in place into KV[*N]
 * and counts it. 0, or -1 after printing "CMD: --core-option wants KEY=VALUE (at most MAX)". */
int hvt_tool_core_option(const char *cmd, char *arg, struct hvt_kv *kv, size_t *n, size_t max);

/* The name in NAMES (NULL-terminated) nearest to S by edit distance when it is near enough to
 * be a typo of it, or NULL. */
const char *hvt_tool_nearest(const char *s, const char *const *names);

/* "hvtrace: CMD: unknown option 'ARG' (did you mean '--x'?; try --help)" for an argument
 * starting with '-', "unexpected argument" otherwise; returns HVT_EXIT_USAGE. */
int hvt_tool_bad_arg(const char *cmd, const char *arg, const char *const *known);

/* Progress on a terminal: one line on stderr, redrawn at most ten times a second, cleared
 * before anything else is printed (hvt_progress_clear) and at the end. Off when stderr is not
 * a terminal (HVT_PROGRESS=1 forces it on, HVT_PROGRESS=0 off). */
struct hvt_progress {
    int on, shown;
    const char *cmd;
    uint64_t last_ns;
};
void hvt_progress_init(struct hvt_progress *p, const char *cmd);
/* "CMD: WHAT DONE/TOTAL (P%)" (TOTAL 0: unknown, "CMD: WHAT DONE"). */
void hvt_progress_update(struct hvt_progress *p, const char *what, uint64_t done, uint64_t total);
/* Erases the progress line if it is shown (call before writing a report line). */
void hvt_progress_clear(struct hvt_progress *p);

/* Progress for work that reports none (one long library call): a thread redraws "CMD: WHAT,
 * N s" (with the size of WATCH, or WATCH.part while that exists, when WATCH is given) five
 * times a second on a terminal, until stopped; the line is erased then. Output printed while
 * it runs goes between hvt_ticker_hold (which erases the line) and hvt_ticker_release. */
struct hvt_ticker {
    struct hvt_progress p;
    const char *what, *watch;
    int running;
    void *impl; /* thread and lock */
};
void hvt_ticker_start(struct hvt_ticker *t, const char *cmd, const char *what, const char *watch);
void hvt_ticker_hold(struct hvt_ticker *t);
void hvt_ticker_release(struct hvt_ticker *t);
void hvt_ticker_stop(struct hvt_ticker *t);
/* record --host kvm (cmd_kvm.c). */
int hvt_tool_record_kvm(int argc, char **argv);

#endif
