/* SPDX-License-Identifier: MIT */
/* Checks every file of the golden corrupt-trace corpus against its expectation, through the
 * reader API and through `hvtrace verify`. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "hvt_test.h"
#include "hvtrace/format.h"

/* Usage: check_corpus HVTRACE CORPUS_DIR EXPECTFILE (see mkcorpus.c for the columns). */

static const char *code_name(int code)
{
    static const char *const names[HVT_E__COUNT] = {
        "ok",        "invalid",     "internal",    "nomem",    "io",         "exists", "nospace",
        "bad_magic", "bad_version", "truncated",   "checksum", "bad_record", "limit",  "no_index",
        "not_found", "end",         "unsupported", "closed",   "bad_plugin"};
    int c = code < 0 ? -code : code;
    return c < HVT_E__COUNT && names[c] ? names[c] : "unknown";
}

struct first_problem {
    int seen;
    struct hvt_fmt_error_info e;
};

static int on_problem(void *arg, const struct hvt_fmt_error_info *info)
{
    struct first_problem *fp = arg;
    if (!fp->seen) {
        fp->seen = 1;
        fp->e = *info;
    }
    return 0;
}

/* Open and read to the end as a plain consumer would; the result's code name. */
static const char *plain_read(const char *path, uint64_t *events)
{
    struct hvt_fmt_reader *r = NULL;
    struct hvt_record rec;
    int rc = hvt_fmt_reader_open(&r, path, NULL);
    *events = 0;
    while (rc >= 0 && (rc = hvt_fmt_reader_next(r, &rec)) > 0)
        *events += rec.type == HVT_REC_EVENT;
    hvt_fmt_reader_close(r);
    return code_name(rc);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s = calloc(1, 65536);
    if (f && s)
        (void)!fread(s, 1, 65535, f);
    if (f)
        fclose(f);
    return s;
}

static int listed(char names[][128], int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    static char names[512][128];
    char line[1024], path[4096], cmd[8192], errfile[] = "/tmp/hvt-golden-XXXXXX";
    int n = 0, fd;
    FILE *ex;
    DIR *d;
    struct dirent *de;

    if (argc != 4) {
        fprintf(stderr, "usage: check_corpus HVTRACE CORPUS_DIR EXPECTFILE\n");
        return 2;
    }
    ex = fopen(argv[3], "r");
    fd = mkstemp(errfile);
    CHECK(ex != NULL);
    CHECK(fd >= 0);
    if (!ex || fd < 0)
        TEST_DONE();
    while (fgets(line, sizeof(line), ex)) {
        char name[128], code[32], off[32], chunk[32], reader[32], frag[512] = "";
        int exit_code, pos = 0, status;
        struct first_problem fp = {0};
        struct hvt_fmt_verify_report rep;
        uint64_t events;
        char *err;

        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = 0;
        if (sscanf(line, "%127s %d %31s %31s %31s %31s %n", name, &exit_code, code, off, chunk,
                   reader, &pos) < 6) {
            fprintf(stderr, "bad expectation line: %s\n", line);
            CHECK(0);
            continue;
        }
        if (pos)
            snprintf(frag, sizeof(frag), "%s", line + pos);
        if (n < 512)
            snprintf(names[n++], sizeof(names[0]), "%s", name);
        snprintf(path, sizeof(path), "%s/%s", argv[2], name);

        /* The API: verify's verdict and first problem. */
        int rc = hvt_fmt_verify(path, &rep, on_problem, &fp);
        if (strcmp(code_name(rc), code))
            fprintf(stderr, "%s: verify returned %s, expected %s (%s)\n", name, code_name(rc), code,
                    fp.seen ? fp.e.message : "no problem reported");
        CHECK_STR(code_name(rc), code);
        if (strcmp(code, "ok")) {
            char got_off[32], got_chunk[32];
            CHECK(fp.seen);
            snprintf(got_off, sizeof(got_off), "%" PRIu64, fp.e.offset);
            snprintf(got_chunk, sizeof(got_chunk), fp.e.chunk < 0 ? "-" : "%" PRId64, fp.e.chunk);
            if (strcmp(off, "-") && strcmp(got_off, off))
                fprintf(stderr, "%s: first problem at offset %s, expected %s (%s)\n", name, got_off,
                        off, fp.e.message);
            if (strcmp(off, "-"))
                CHECK_STR(got_off, off);
            if (strcmp(got_chunk, chunk))
                fprintf(stderr, "%s: first problem in chunk %s, expected %s (%s)\n", name,
                        got_chunk, chunk, fp.e.message);
            CHECK_STR(got_chunk, chunk);
            if (frag[0] && !strstr(fp.e.message, frag))
                fprintf(stderr, "%s: message '%s' lacks '%s'\n", name, fp.e.message, frag);
            CHECK(!frag[0] || strstr(fp.e.message, frag));
        }

        /* The API: a plain reader. */
        const char *got_reader = plain_read(path, &events);
        if (strcmp(got_reader, reader))
            fprintf(stderr, "%s: plain reader got %s, expected %s\n", name, got_reader, reader);
        CHECK_STR(got_reader, reader);

        /* The tool: exit code and the error line format. */
        snprintf(cmd, sizeof(cmd), "'%s' verify '%s' >/dev/null 2>'%s'", argv[1], path, errfile);
        status = system(cmd);
        CHECK(WIFEXITED(status));
        if (WIFEXITED(status) && WEXITSTATUS(status) != exit_code)
            fprintf(stderr, "%s: hvtrace verify exited %d, expected %d\n", name,
                    WEXITSTATUS(status), exit_code);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == exit_code);
        err = slurp(errfile);
        if (err && exit_code == 3) {
            char prefix[4200];
            snprintf(prefix, sizeof(prefix), "hvtrace: %s: offset ", path);
            CHECK(!strncmp(err, prefix, strlen(prefix)));
            CHECK(!frag[0] || strstr(err, frag));
        } else if (err) {
            CHECK_STR(err, "");
        }
        free(err);
    }
    fclose(ex);
    close(fd);
    unlink(errfile);

    /* Every corpus file has an expectation, so none is silently skipped. */
    d = opendir(argv[2]);
    CHECK(d != NULL);
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (!listed(names, n, de->d_name))
            fprintf(stderr, "%s: in the corpus but not in %s\n", de->d_name, argv[3]);
        CHECK(listed(names, n, de->d_name));
    }
    if (d)
        closedir(d);
    CHECK(n >= 30);
    TEST_DONE();
}
