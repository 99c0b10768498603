/* SPDX-License-Identifier: MIT */
/* Recorder tests: the in-memory format writer (see fake_fmt.h). Not thread-safe beyond the
 * one writer thread the recorder uses; a mutex guards readers in tests anyway. */
#include "fake_fmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fake_sink fake = {.lock = PTHREAD_MUTEX_INITIALIZER, .fail_after = -1};

struct hvt_fmt_writer {
    int dummy;
    struct hvt_fmt_error_info ei;
};

static struct hvt_fmt_writer the_writer;

static struct hvt_event *clone_ev(const struct hvt_event *ev)
{
    struct hvt_event *c = malloc(sizeof(*c));
    *c = *ev;
    c->passes = calloc(ev->n_passes ? ev->n_passes : 1, sizeof(*c->passes));
    for (uint32_t i = 0; i < ev->n_passes; i++) {
        c->passes[i] = ev->passes[i];
        c->passes[i].accesses = malloc((ev->passes[i].n_accesses ? ev->passes[i].n_accesses : 1) *
                                       sizeof(struct hvt_access));
        if (ev->passes[i].n_accesses)
            memcpy(c->passes[i].accesses, ev->passes[i].accesses,
                   ev->passes[i].n_accesses * sizeof(struct hvt_access));
    }
    return c;
}

static void free_ev(struct hvt_event *ev)
{
    if (!ev)
        return;
    for (uint32_t i = 0; i < ev->n_passes; i++)
        free(ev->passes[i].accesses);
    free(ev->passes);
    free(ev);
}

void fake_reset(void)
{
    pthread_mutex_lock(&fake.lock);
    for (size_t i = 0; i < fake.n; i++)
        free_ev(fake.items[i].ev);
    free(fake.items);
    fake.items = NULL;
    fake.n = fake.cap = 0;
    fake.n_cs = 0;
    fake.fail_after = -1;
    fake.fail_err = 0;
    fake.flushes = 0;
    fake.closed = 0;
    fake.last_id = UINT64_MAX;
    fake.order_violation = 0;
    pthread_mutex_unlock(&fake.lock);
}

struct hvt_fmt_writer *fake_writer(void)
{
    return &the_writer;
}

const struct fake_cs *fake_callsite(uint32_t id)
{
    for (size_t i = 0; i < fake.n_cs; i++)
        if (fake.cs[i].id == id)
            return &fake.cs[i];
    return NULL;
}

static int check_fail(struct hvt_fmt_writer *w)
{
    if (fake.fail_after < 0)
        return 0;
    if (fake.fail_after == 0) {
        w->ei.code = fake.fail_err;
        snprintf(w->ei.message, sizeof(w->ei.message), "fake: injected failure");
        return fake.fail_err;
    }
    fake.fail_after--;
    return 0;
}

static void push(int type, const struct hvt_event *ev, const struct hvt_lost *lost)
{
    pthread_mutex_lock(&fake.lock);
    if (fake.n == fake.cap) {
        fake.cap = fake.cap ? 2 * fake.cap : 1024;
        fake.items = realloc(fake.items, fake.cap * sizeof(*fake.items));
    }
    fake.items[fake.n].type = type;
    fake.items[fake.n].ev = ev ? clone_ev(ev) : NULL;
    if (lost)
        fake.items[fake.n].lost = *lost;
    fake.n++;
    pthread_mutex_unlock(&fake.lock);
}

void hvt_fmt_writer_options_init(struct hvt_fmt_writer_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->size = sizeof(*opt);
}

int hvt_fmt_writer_open(struct hvt_fmt_writer **out, const char *path,
                        const struct hvt_fmt_header *hdr, const struct hvt_fmt_writer_options *opt)
{
    *out = &the_writer;
    return 0;
}

int hvt_fmt_writer_append(struct hvt_fmt_writer *w, const struct hvt_event *ev)
{
    int err = check_fail(w);
    if (err)
        return err;
    if (fake.last_id != UINT64_MAX && ev->id <= fake.last_id)
        fake.order_violation = 1;
    fake.last_id = ev->id;
    push(HVT_REC_EVENT, ev, NULL);
    return 0;
}

int hvt_fmt_writer_append_lost(struct hvt_fmt_writer *w, const struct hvt_lost *lost)
{
    int err = check_fail(w);
    if (err)
        return err;
    push(HVT_REC_LOST, NULL, lost);
    return 0;
}

int hvt_fmt_writer_add_callsite(struct hvt_fmt_writer *w, const struct hvt_callsite *cs)
{
    struct fake_cs *c;
    if (!cs->id || fake.n_cs >= 256 || cs->n_frames > 32)
        return -HVT_E_INVALID;
    c = &fake.cs[fake.n_cs++];
    memset(c, 0, sizeof(*c));
    c->id = cs->id;
    c->n = cs->n_frames;
    for (uint32_t i = 0; i < cs->n_frames; i++) {
        c->frames[i] = cs->frames[i];
        if (cs->frames[i].function) {
            snprintf(c->names[i], sizeof(c->names[i]), "%s", cs->frames[i].function);
            c->frames[i].function = c->names[i];
        }
        if (cs->frames[i].module) {
            snprintf(c->modules[i], sizeof(c->modules[i]), "%s", cs->frames[i].module);
            c->frames[i].module = c->modules[i];
        }
    }
    return 0;
}

int hvt_fmt_writer_flush(struct hvt_fmt_writer *w)
{
    int err = check_fail(w);
    if (err)
        return err;
    fake.flushes++;
    return 0;
}

int hvt_fmt_writer_close(struct hvt_fmt_writer *w, struct hvt_fmt_writer_stats *stats)
{
    fake.closed = 1;
    return 0;
}

const struct hvt_fmt_error_info *hvt_fmt_writer_error(const struct hvt_fmt_writer *w)
{
    return &w->ei;
}

const struct hvt_fmt_error_info *hvt_fmt_writer_last_error(void)
{
    static const struct hvt_fmt_error_info none = {.chunk = -1, .record = -1};
    return &none;
}
