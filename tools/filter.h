/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: the event selection shared by dump, stats, diff, replay, extract and report. */
#ifndef HVT_TOOLS_FILTER_H
#define HVT_TOOLS_FILTER_H

#include <stdint.h>
#include <stdio.h>

#include "hvtrace/types.h"

#define HVT_FILTER_MAX_ITEMS 16

/* A list of inclusive ranges ("3", "0..2", "0x1000..0x1fff", "1,4,7..9"). */
struct hvt_filter_set {
    unsigned n;
    uint64_t lo[HVT_FILTER_MAX_ITEMS], hi[HVT_FILTER_MAX_ITEMS];
};

/* Every criterion given must hold (AND); within one option any listed value may (OR). */
struct hvt_filter {
    uint64_t first, last; /* --events A..B (default 0..UINT64_MAX) */
    int ranged;           /* --events given */
    struct hvt_filter_set vcpu, rip;
    uint32_t tag_classes;     /* --class: bit per enum hvt_tag_class */
    uint32_t finding_classes; /* --class: bit per enum hvt_rpl_class (replay and report) */
    unsigned n_mnemonics;
    char mnemonics[HVT_FILTER_MAX_ITEMS][32]; /* --mnemonic, lowercase */
    unsigned n_tags;
    char tags[HVT_FILTER_MAX_ITEMS][32]; /* --tag, as hvt_tag_text writes it ("walk:L1") */
    int findings_ok;                     /* the command knows finding classes */
    const char *text;                    /* the options as given, for messages */
    char text_buf[256];
};

/* The option names, for "did you mean" lists (NULL-terminated in the caller's array). */
#define HVT_FILTER_OPTION_NAMES "--events", "--vcpu", "--rip", "--class", "--mnemonic", "--tag"

/* Help text lines for the options (one per line, indented two spaces). */
extern const char hvt_filter_help[];

/* Defaults: everything selected. FINDINGS_OK: --class may also name a finding class. */
void hvt_filter_init(struct hvt_filter *f, int findings_ok);

/* When ARGV[*I] is a filter option, parses it and its value, advances *I past the value and
 * returns 1; returns 0 for another argument, -1 after printing an error ("CMD: ..."). */
int hvt_filter_parse(struct hvt_filter *f, const char *cmd, int argc, char **argv, int *i);

/* 1 when any criterion beyond --events is given. */
int hvt_filter_narrows(const struct hvt_filter *f);
/* 1 when the criteria need the access level (--class with a tag class, --tag). */
int hvt_filter_by_access(const struct hvt_filter *f);

/* Whether access A is selected by --class (tag classes) and --tag (1 when neither is given). */
int hvt_filter_access(const struct hvt_filter *f, const struct hvt_access *a);

/* Whether EV is selected: its id, vCPU, RIP, mnemonic (MNEM: its mnemonic, or NULL to
 * disassemble here when needed) and, for --class/--tag, one of its accesses. Finding classes
 * are not checked here (hvt_filter_finding). */
int hvt_filter_event(const struct hvt_filter *f, const struct hvt_event *ev, const char *mnem);

struct hvt_rpl_event_report;
/* hvt_filter_event for a replayed event (its mnemonic from REP), and, for finding classes,
 * whether one of its findings has a selected class. */
int hvt_filter_report(const struct hvt_filter *f, const struct hvt_rpl_event_report *rep);

/* "hvtrace: CMD: warning: no event matches the selection (...)" on stderr. */
void hvt_filter_warn_empty(const struct hvt_filter *f, const char *cmd);

/* An event's instruction as capstone disassembles it ("mov rax, qword ptr [rbx]"); "" when it
 * cannot. MNEM (may be NULL) gets the mnemonic ("?" when it cannot). */
void hvt_tool_disasm(const struct hvt_event *ev, char *text, size_t len, char *mnem, size_t mlen);

#endif
