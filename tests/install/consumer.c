/* SPDX-License-Identifier: MIT */
/* Install test: a program outside the tree, built only from the installed headers, libraries
 * and hvtrace.pc, that writes and reads a trace and runs one instruction on the core. */
#include <hvtrace/core.h>
#include <hvtrace/format.h>
#include <hvtrace/version.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    struct hvt_core *c = NULL;
    struct hvt_fmt_writer *w = NULL;
    struct hvt_fmt_reader *r = NULL;
    struct hvt_fmt_writer_options wo;
    struct hvt_event ev;
    struct hvt_record rec;
    char err[128];
    int n = 0;

    if (argc != 2)
        return 2;
    if (hvt_core_open(&c, HVT_CORE_REF, err, sizeof(err)) ||
        strcmp(hvt_core_info(c)->name, "hvtrace-ref")) {
        fprintf(stderr, "consumer: core: %s\n", err);
        return 1;
    }
    hvt_core_close(c);
    hvt_fmt_writer_options_init(&wo);
    wo.flags = HVT_FMT_W_OVERWRITE;
    memset(&ev, 0, sizeof(ev));
    ev.id = 7;
    if (hvt_fmt_writer_open(&w, argv[1], NULL, &wo) || hvt_fmt_writer_append(w, &ev) ||
        hvt_fmt_writer_close(w, NULL)) {
        fprintf(stderr, "consumer: writer failed\n");
        return 1;
    }
    if (hvt_fmt_reader_open(&r, argv[1], NULL)) {
        fprintf(stderr, "consumer: reader failed\n");
        hvt_fmt_reader_close(r);
        return 1;
    }
    while (hvt_fmt_reader_next(r, &rec) == 1)
        n += rec.type == HVT_REC_EVENT && rec.u.event->id == 7;
    hvt_fmt_reader_close(r);
    printf("consumer: hvtrace %s, %d event read back\n", hvt_version(), n);
    return n == 1 ? 0 : 1;
}
