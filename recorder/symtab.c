/* SPDX-License-Identifier: MIT */
/* Recorder: ELF symbol tables of loaded modules, to name static functions dladdr cannot see. */
#include "symtab.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds on what one recording keeps: modules cached, and the size of one symbol or string
 * table read from a file (a hypervisor binary with full symbols is a few MiB; anything beyond
 * this is odd and is not worth the memory). */
#define SYMTAB_MAX_MODULES 64u
#define SYMTAB_MAX_SECTION (64u << 20)
#define SYMTAB_MAX_HEADERS 65280u /* below SHN_LORESERVE: extended numbering is not handled */

struct sym {
    uint64_t addr; /* link-time address */
    uint64_t size;
    uint32_t name; /* offset into the module's string table */
    uint32_t global;
};

struct module {
    uintptr_t fbase;
    uint64_t bias; /* run-time address - link-time address */
    struct sym *syms;
    size_t n;
    char *strtab; /* NUL-terminated past its end */
    size_t strsz;
};

struct hvt_rec_symtab {
    struct module mods[SYMTAB_MAX_MODULES];
    unsigned n_mods;
};

struct hvt_rec_symtab *hvt_rec_symtab_new(void)
{
    return calloc(1, sizeof(struct hvt_rec_symtab));
}

void hvt_rec_symtab_free(struct hvt_rec_symtab *st)
{
    if (!st)
        return;
    for (unsigned i = 0; i < st->n_mods; i++) {
        free(st->mods[i].syms);
        free(st->mods[i].strtab);
    }
    free(st);
}

/* Reads LEN bytes at OFF into a new buffer (one extra NUL byte after them), checking that the
 * range lies inside the file. Returns NULL on any failure. */
static void *read_range(int fd, uint64_t fsize, uint64_t off, uint64_t len)
{
    char *buf;
    size_t done = 0;

    if (len > SYMTAB_MAX_SECTION || off > fsize || len > fsize - off)
        return NULL;
    buf = malloc((size_t)len + 1);
    if (!buf)
        return NULL;
    while (done < len) {
        ssize_t r = pread(fd, buf + done, (size_t)len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return NULL;
        }
        done += (size_t)r;
    }
    buf[len] = '\0';
    return buf;
}

static int sym_cmp(const void *pa, const void *pb)
{
    const struct sym *a = pa, *b = pb;
    if (a->addr != b->addr)
        return a->addr < b->addr ? -1 : 1;
    /* Aliases at one address: prefer the global name, then the sized one, then a stable order. */
    if (a->global != b->global)
        return a->global ? -1 : 1;
    if (a->size != b->size)
        return a->size > b->size ? -1 : 1;
    return a->name < b->name ? -1 : a->name > b->name;
}

/* Link-time page of the lowest PT_LOAD: the loader maps it at FBASE, so bias = FBASE - it
 * (0 for a fixed-address executable, the load address for a PIE or shared object). */
static int load_bias(int fd, uint64_t fsize, const Elf64_Ehdr *eh, uintptr_t fbase, uint64_t *bias)
{
    Elf64_Phdr *ph;
    uint64_t low = UINT64_MAX;
    long page = sysconf(_SC_PAGESIZE);

    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum >= PN_XNUM)
        return -1;
    ph = read_range(fd, fsize, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr));
    if (!ph)
        return -1;
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < low)
            low = ph[i].p_vaddr;
    free(ph);
    if (low == UINT64_MAX)
        return -1;
    if (page > 0)
        low &= ~((uint64_t)page - 1);
    *bias = (uint64_t)fbase - low;
    return 0;
}

/* Loads the STT_FUNC symbols of section SYMSEC (with its linked string table) into M. */
static int load_section(struct module *m, int fd, uint64_t fsize, const Elf64_Shdr *sh,
                        unsigned shnum, unsigned symsec)
{
    const Elf64_Shdr *s = &sh[symsec], *str;
    Elf64_Sym *raw;
    size_t count, n = 0;

    if (s->sh_entsize != sizeof(Elf64_Sym) || s->sh_link >= shnum)
        return -1;
    str = &sh[s->sh_link];
    if (str->sh_type != SHT_STRTAB)
        return -1;
    raw = read_range(fd, fsize, s->sh_offset, s->sh_size);
    if (!raw)
        return -1;
    count = (size_t)(s->sh_size / sizeof(Elf64_Sym));
    m->strtab = read_range(fd, fsize, str->sh_offset, str->sh_size);
    m->syms = count ? malloc(count * sizeof(*m->syms)) : NULL;
    if (!m->strtab || !m->syms) {
        free(raw);
        return -1;
    }
    m->strsz = (size_t)str->sh_size;
    for (size_t i = 0; i < count; i++) {
        const Elf64_Sym *e = &raw[i];
        if (ELF64_ST_TYPE(e->st_info) != STT_FUNC || e->st_shndx == SHN_UNDEF || e->st_name == 0 ||
            e->st_name >= m->strsz || m->strtab[e->st_name] == '\0')
            continue;
        m->syms[n].addr = e->st_value;
        m->syms[n].size = e->st_size;
        /* An unsized symbol (assembly, _init) runs at most to the end of its section; lookup
         * also stops it at the next symbol. Without a section it names nothing. */
        if (!e->st_size && e->st_shndx < shnum && e->st_value >= sh[e->st_shndx].sh_addr &&
            e->st_value - sh[e->st_shndx].sh_addr < sh[e->st_shndx].sh_size)
            m->syms[n].size = sh[e->st_shndx].sh_addr + sh[e->st_shndx].sh_size - e->st_value;
        m->syms[n].name = e->st_name;
        m->syms[n].global = ELF64_ST_BIND(e->st_info) != STB_LOCAL;
        n++;
    }
    free(raw);
    if (n == 0)
        return -1;
    qsort(m->syms, n, sizeof(*m->syms), sym_cmp);
    /* Keep one name per address (the first after sorting). */
    m->n = 1;
    for (size_t i = 1; i < n; i++)
        if (m->syms[i].addr != m->syms[m->n - 1].addr)
            m->syms[m->n++] = m->syms[i];
    return 0;
}

/* Reads PATH's function symbols into M; on failure M is left with no symbols. */
static void load_module(struct module *m, const char *path)
{
    struct stat sb;
    Elf64_Ehdr eh;
    Elf64_Shdr *sh = NULL;
    uint64_t fsize;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size < (off_t)sizeof(eh) ||
        pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
        goto out;
    fsize = (uint64_t)sb.st_size;
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        eh.e_ident[EI_DATA] != ELFDATA2LSB ||
#else
        eh.e_ident[EI_DATA] != ELFDATA2MSB ||
#endif
        (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) || eh.e_shentsize != sizeof(Elf64_Shdr) ||
        eh.e_shnum == 0 || eh.e_shnum > SYMTAB_MAX_HEADERS)
        goto out;
    if (load_bias(fd, fsize, &eh, m->fbase, &m->bias))
        goto out;
    sh = read_range(fd, fsize, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr));
    if (!sh)
        goto out;
    /* .symtab has the static functions; a stripped file only has .dynsym left. */
    for (unsigned pass = 0; pass < 2 && !m->n; pass++) {
        uint32_t want = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;
        for (unsigned i = 0; i < eh.e_shnum; i++) {
            if (sh[i].sh_type != want)
                continue;
            if (load_section(m, fd, fsize, sh, eh.e_shnum, i)) {
                free(m->syms);
                free(m->strtab);
                m->syms = NULL;
                m->strtab = NULL;
                m->n = 0;
            }
            break;
        }
    }
out:
    free(sh);
    close(fd);
}

static struct module *find_module(struct hvt_rec_symtab *st, const char *path, uintptr_t fbase)
{
    struct module *m;
    for (unsigned i = 0; i < st->n_mods; i++)
        if (st->mods[i].fbase == fbase)
            return &st->mods[i];
    if (st->n_mods == SYMTAB_MAX_MODULES)
        return NULL;
    /* Cached even when loading fails, so a bad file is opened once, not once per frame. */
    m = &st->mods[st->n_mods++];
    memset(m, 0, sizeof(*m));
    m->fbase = fbase;
    load_module(m, path);
    return m;
}

const char *hvt_rec_symtab_lookup(struct hvt_rec_symtab *st, const char *path, uintptr_t fbase,
                                  uintptr_t addr, uintptr_t *start)
{
    struct module *m;
    const struct sym *s;
    uint64_t a;
    size_t lo = 0, hi;

    if (!st || !path || !path[0])
        return NULL;
    m = find_module(st, path, fbase);
    if (!m || !m->n)
        return NULL;
    a = (uint64_t)addr - m->bias;
    /* Last symbol starting at or before A. */
    hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->syms[mid].addr <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    s = &m->syms[lo - 1];
    if (a - s->addr >= s->size)
        return NULL;
    /* The bias is taken modulo 2^64: a malformed module (a PT_LOAD above its symbols) can put a
     * symbol's run-time start past the end of the address space, i.e. above ADDR. No name then
     * (the fuzzer found this: a start above the address made a negative frame offset). */
    if (s->addr + m->bias > (uint64_t)addr)
        return NULL;
    *start = (uintptr_t)(s->addr + m->bias);
    return m->strtab + s->name;
}
