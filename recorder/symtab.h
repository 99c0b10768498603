/* SPDX-License-Identifier: MIT */
/* Recorder: ELF symbol tables of loaded modules, to name static functions dladdr cannot see. */
#ifndef HVT_REC_SYMTAB_H
#define HVT_REC_SYMTAB_H

#include <stdint.h>

/* A cache of the function symbols of the modules seen so far, keyed by load base. Not
 * thread-safe: only the recorder's writer thread uses it (symbolization is off the vCPU path). */
struct hvt_rec_symtab;

/* Returns a new empty cache, or NULL when out of memory (then lookups just find nothing). */
struct hvt_rec_symtab *hvt_rec_symtab_new(void);

/* Frees the cache and every name it returned. NULL is fine. */
void hvt_rec_symtab_free(struct hvt_rec_symtab *st);

/* Finds the function symbol containing the run-time address ADDR of the module loaded at FBASE
 * (dladdr's dli_fbase) from file PATH. The module's .symtab (else .dynsym) is read once, on the
 * first lookup of FBASE; a file that is missing, not a native ELF, malformed or too large gives
 * no names. On a match, returns the name (owned by the cache, valid until hvt_rec_symtab_free)
 * and sets *START to the function's run-time start; else returns NULL. */
const char *hvt_rec_symtab_lookup(struct hvt_rec_symtab *st, const char *path, uintptr_t fbase,
                                  uintptr_t addr, uintptr_t *start);

#endif
