/* SPDX-License-Identifier: MIT */
/* Fuzz target for the recorder's ELF symbolizer (recorder/symtab.c), which reads the symbol
 * tables of the modules loaded in the hypervisor's process to name call-site frames: the input
 * is a module file. Lookups at addresses spread over the file's size, at two load bases, must
 * give either no name or a NUL-terminated one starting at or below the address. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "symtab.h" /* recorder/ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The symbolizer takes a path: an anonymous memory file keeps the fuzzer off the disk. */
static int mem_file(const uint8_t *data, size_t size, char *path, size_t path_size)
{
    int fd = memfd_create("hvt-fuzz-symtab", MFD_CLOEXEC);
    size_t done = 0;
    if (fd < 0)
        return -1;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

static void lookup(struct hvt_rec_symtab *st, const char *path, uintptr_t fbase, uintptr_t addr)
{
    uintptr_t start = 0;
    const char *name = hvt_rec_symtab_lookup(st, path, fbase, addr, &start);
    if (name) {
        volatile size_t sink = strlen(name); /* ASan sees a name that is not a string */
        (void)sink;
        if (start > addr)
            abort(); /* a function cannot start after the address it contains */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uintptr_t bases[] = {0x10000, 0x7f1234560000};
    char path[64];
    int fd = mem_file(data, size, path, sizeof(path));
    struct hvt_rec_symtab *st;

    if (fd < 0)
        return 0;
    st = hvt_rec_symtab_new();
    for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
        size_t step = size / 64 + 1;
        for (size_t off = 0; off <= size + 64; off += step)
            lookup(st, path, bases[b], bases[b] + off);
        /* and where the input's last 8 bytes point, to reach symbols the fuzzer placed */
        if (size >= 8) {
            uint64_t v;
            memcpy(&v, data + size - 8, sizeof(v));
            lookup(st, path, bases[b], bases[b] + (uintptr_t)(v & 0xffffff));
        }
    }
    hvt_rec_symtab_free(st);
    close(fd);
    return 0;
}
