/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: removing guest data from events while keeping what replay finds. */
#ifndef HVT_TOOLS_REDACT_H
#define HVT_TOOLS_REDACT_H

#include <stdint.h>

#include "hvtrace/format.h"
#include "hvtrace/replay.h"

enum hvt_redact_mode { HVT_REDACT_HASH = 0, HVT_REDACT_ZERO = 1 };

/* Why an access kept its data. */
enum hvt_redact_why {
    HVT_KEPT_WALK = 0, /* a page-walk entry: the translation the analysis compares */
    HVT_KEPT_AD,       /* an A/D update of a paging entry */
    HVT_KEPT_FETCH,    /* instruction bytes: the core decodes them */
    HVT_KEPT_OUTCOME,  /* redacting it changes what replay finds: it decides the outcome */
    HVT_KEPT_NO_DATA,  /* nothing to redact (a read that did not complete) */
    HVT_KEPT_LIMIT,    /* the event has too many candidates to try one by one */
    HVT_KEPT__COUNT
};

struct hvt_redact {
    int mode;                 /* enum hvt_redact_mode */
    uint8_t key[16];          /* the hash key */
    struct hvt_rpl_engine *e; /* replays each event to check the findings stay */
    /* figures */
    uint64_t events, accesses, redacted, redacted_bytes;
    uint64_t redacted_by_class[HVT_TAG__COUNT + 1];
    uint64_t kept[HVT_KEPT__COUNT];
    uint64_t events_all_redacted; /* events whose every candidate could be redacted */
    uint64_t replays;             /* engine runs spent checking */
};

/* Prepares R (mode, key) with a replay engine for traces with header HDR.
 * 0, or a negative error with ERR filled. */
int hvt_redact_init(struct hvt_redact *r, int mode, const uint8_t key[16],
                    const struct hvt_fmt_header *hdr, char *err, size_t len);
void hvt_redact_free(struct hvt_redact *r);

/* Redacts a copy of EV (*OUT, freed with hvt_event_free): the data of data, stack,
 * descriptor and I/O accesses becomes zeros or a keyed hash of the value (the same value gives
 * the same hash, so passes that read one value still agree and passes that read two still
 * differ), one access at a time where redacting all at once would change the findings of a
 * replay of the event (class, passes, access indices, status). Page-walk entries, A/D updates,
 * instruction bytes and the register states are kept. 0 or a negative error. */
int hvt_redact_event(struct hvt_redact *r, const struct hvt_event *ev, struct hvt_event **out);

/* The reasons' names: "page-walk entry", ... */
const char *hvt_redact_why_name(unsigned why);
/* Short keys for JSON: "walk", "ad", "fetch", "outcome", "no_data", "limit". */
const char *hvt_redact_why_key(unsigned why);

#endif
