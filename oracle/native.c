/* SPDX-License-Identifier: MIT */
/* Native oracle: one instruction on the host CPU in a forked sandbox, state via signal frames. */
#include "native.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "hvtrace/cpu.h"
#include "hvtrace/error.h"

#if defined(__x86_64__)
#include <cpuid.h>

/* Offsets in the FXSAVE/XSAVE image the kernel puts in a signal frame (uc_mcontext.fpregs). */
#define FX_MXCSR 24
#define FX_XMM 160
#define FX_SW_MAGIC1 464 /* struct _fpx_sw_bytes: magic1, extended_size, xfeatures, xstate_size */
#define FX_SW_XFEATURES 472
#define XS_HDR_BV 512         /* xsave header: XSTATE_BV */
#define FP_MAGIC1 0x46505853u /* FP_XSTATE_MAGIC1 */
#define XFEATURE_SSE (1ull << 1)
#define XFEATURE_YMM (1ull << 2)

/* Everything the child reports, in a MAP_SHARED page set created before fork. */
struct native_shared {
    volatile int done;
    struct hvt_native_result r;
};

/* Child-only globals: the handler reads the case and fills the shared block. They are set once
 * before the first signal and never change concurrently (the child is single-threaded). */
static const struct hvt_native_case *g_case;
static struct native_shared *g_sh;
static uint32_t g_ymmh_off; /* offset of the YMM_Hi128 component in the XSAVE image */
static volatile int g_phase;

static const int g_greg_of[16] = {
    REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
    REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

static int xstate_has_ymm(const uint8_t *fx)
{
    uint32_t magic;
    uint64_t xfeat;
    memcpy(&magic, fx + FX_SW_MAGIC1, 4);
    memcpy(&xfeat, fx + FX_SW_XFEATURES, 8);
    return g_ymmh_off && magic == FP_MAGIC1 && (xfeat & XFEATURE_YMM);
}

/* Phase 0: turn the signal frame into the case's state, so that sigreturn "loads" it. */
static void load_state(ucontext_t *uc)
{
    const struct hvt_vcpu_state *in = &g_case->in;
    greg_t *g = uc->uc_mcontext.gregs;
    uint8_t *fx = (uint8_t *)uc->uc_mcontext.fpregs;
    for (int i = 0; i < 16; i++)
        g[g_greg_of[i]] = (greg_t)in->gpr[i];
    g[REG_RIP] = (greg_t)g_case->code_addr;
    g[REG_EFL] = (greg_t)(((uint64_t)g[REG_EFL] & ~(HVT_NATIVE_RFLAGS_MASK | 0x40100ull)) |
                          (in->rflags & HVT_NATIVE_RFLAGS_MASK));
    if (!fx)
        return;
    int simd = !!(in->flags & HVT_STATE_SIMD_VALID);
    uint32_t mxcsr = simd ? (in->mxcsr & 0xffffu) : 0x1f80u;
    memcpy(fx + FX_MXCSR, &mxcsr, 4);
    for (int i = 0; i < 16; i++) {
        if (simd)
            memcpy(fx + FX_XMM + 16 * i, in->ymm[i], 16);
        else
            memset(fx + FX_XMM + 16 * i, 0, 16);
    }
    if (xstate_has_ymm(fx)) {
        uint64_t bv;
        memcpy(&bv, fx + XS_HDR_BV, 8);
        bv |= XFEATURE_SSE | XFEATURE_YMM;
        memcpy(fx + XS_HDR_BV, &bv, 8);
        for (int i = 0; i < 16; i++) {
            if (simd)
                memcpy(fx + g_ymmh_off + 16 * i, in->ymm[i] + 16, 16);
            else
                memset(fx + g_ymmh_off + 16 * i, 0, 16);
        }
    }
}

/* Phase 1: read the state back from the frame and the pages, report, and leave. */
static void save_state(int sig, siginfo_t *si, ucontext_t *uc)
{
    struct hvt_native_result *r = &g_sh->r;
    greg_t *g = uc->uc_mcontext.gregs;
    const uint8_t *fx = (const uint8_t *)uc->uc_mcontext.fpregs;
    uint64_t rip = (uint64_t)g[REG_RIP];
    uint64_t end = g_case->code_addr + g_case->insn_len;

    r->signo = sig;
    for (int i = 0; i < 16; i++)
        r->out.gpr[i] = (uint64_t)g[g_greg_of[i]];
    r->out.rflags = (uint64_t)g[REG_EFL] & HVT_NATIVE_RFLAGS_MASK;
    r->vector = (uint32_t)g[REG_TRAPNO];
    r->error_code = (uint64_t)g[REG_ERR];
    r->cr2 = (uint64_t)g[REG_CR2];
    if (sig == SIGTRAP && r->vector == HVT_VEC_BP && rip == end + 1) {
        r->stop = HVT_NATIVE_DONE;
        r->vector = 0;
        r->error_code = 0;
        r->cr2 = 0;
        rip = end;
    } else {
        r->stop = HVT_NATIVE_FAULT;
        if (sig == SIGSEGV && r->vector == HVT_VEC_PF && si)
            r->cr2 = (uint64_t)(uintptr_t)si->si_addr;
    }
    r->out.rip = rip;
    if (fx) {
        r->out.flags |= HVT_STATE_SIMD_VALID;
        memcpy(&r->out.mxcsr, fx + FX_MXCSR, 4);
        for (int i = 0; i < 16; i++)
            memcpy(r->out.ymm[i], fx + FX_XMM + 16 * i, 16);
        if (xstate_has_ymm(fx)) {
            uint64_t bv;
            memcpy(&bv, fx + XS_HDR_BV, 8);
            for (int i = 0; i < 16; i++) {
                if (bv & XFEATURE_YMM)
                    memcpy(r->out.ymm[i] + 16, fx + g_ymmh_off + 16 * i, 16);
                else
                    memset(r->out.ymm[i] + 16, 0, 16);
            }
        }
    }
    r->n_pages = g_case->n_pages;
    for (unsigned i = 0; i < g_case->n_pages; i++) {
        const struct hvt_native_page *p = &g_case->pages[i];
        r->pages[i].addr = p->addr;
        r->pages[i].prot = p->prot;
        if (p->prot == HVT_NATIVE_NONE) {
            memcpy(r->pages[i].data, p->data, HVT_NATIVE_PAGE); /* nothing could change it */
        } else {
            memcpy(r->pages[i].data, (const void *)(uintptr_t)p->addr, HVT_NATIVE_PAGE);
        }
    }
    g_sh->done = 1;
    _exit(0);
}

static void handler(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    if (g_phase == 0 && sig == SIGTRAP) {
        g_phase = 1;
        load_state(uc);
        return;
    }
    save_state(sig, si, uc);
}

static int map_fixed(uint64_t addr, size_t len, int prot)
{
    void *p = mmap((void *)(uintptr_t)addr, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED || (uint64_t)(uintptr_t)p != addr)
        return -1;
    (void)prot;
    return 0;
}

static int prot_of(uint32_t p)
{
    return p == HVT_NATIVE_RW ? PROT_READ | PROT_WRITE : p == HVT_NATIVE_R ? PROT_READ : PROT_NONE;
}

/* The sandbox child: map, arm, trap into phase 0. Never returns. */
static void child(const struct hvt_native_case *c, struct native_shared *sh)
{
    static uint8_t altstack[64 * 1024];
    struct sigaction sa;
    stack_t ss;
    static const int sigs[] = {SIGTRAP, SIGSEGV, SIGBUS, SIGILL, SIGFPE};
    uint64_t cpage = c->code_addr & ~(uint64_t)(HVT_NATIVE_PAGE - 1);
    uint64_t cend =
        (c->code_addr + c->insn_len + 1 + HVT_NATIVE_PAGE - 1) & ~(uint64_t)(HVT_NATIVE_PAGE - 1);

    alarm(2);
    g_case = c;
    g_sh = sh;
    if (map_fixed(cpage, cend - cpage, 0))
        _exit(10);
    memcpy((void *)(uintptr_t)c->code_addr, c->insn, c->insn_len);
    ((uint8_t *)(uintptr_t)c->code_addr)[c->insn_len] = 0xcc; /* INT3 */
    if (mprotect((void *)(uintptr_t)cpage, cend - cpage, PROT_READ | PROT_EXEC))
        _exit(11);
    for (unsigned i = 0; i < c->n_pages; i++) {
        const struct hvt_native_page *p = &c->pages[i];
        if (map_fixed(p->addr, HVT_NATIVE_PAGE, 0))
            _exit(12);
        memcpy((void *)(uintptr_t)p->addr, p->data, HVT_NATIVE_PAGE);
        if (mprotect((void *)(uintptr_t)p->addr, HVT_NATIVE_PAGE, prot_of(p->prot)))
            _exit(13);
    }
    /* The instruction runs with arbitrary RSP: signals go to an alternate stack. */
    memset(&ss, 0, sizeof(ss));
    ss.ss_sp = altstack;
    ss.ss_size = sizeof(altstack);
    if (sigaltstack(&ss, NULL))
        _exit(14);
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (sigaction(sigs[i], &sa, NULL))
            _exit(15);
    g_phase = 0;
    __asm__ volatile("int3" ::: "memory");
    _exit(16); /* not reached: phase 0 returns into the case's code */
}

static uint32_t ymmh_offset(void)
{
    unsigned a, b, cc, d;
    if (!__get_cpuid_count(0xd, 2, &a, &b, &cc, &d))
        return 0;
    return a >= 256 ? b : 0;
}

static int check_case(const struct hvt_native_case *c)
{
    uint64_t cpage, cend;
    if (!c->insn_len || c->insn_len > HVT_INSN_MAX || c->n_pages > HVT_NATIVE_MAX_PAGES)
        return -1;
    cpage = c->code_addr & ~(uint64_t)(HVT_NATIVE_PAGE - 1);
    cend =
        (c->code_addr + c->insn_len + 1 + HVT_NATIVE_PAGE - 1) & ~(uint64_t)(HVT_NATIVE_PAGE - 1);
    if (cpage < HVT_NATIVE_LO || cend > HVT_NATIVE_HI)
        return -1;
    for (unsigned i = 0; i < c->n_pages; i++) {
        uint64_t a = c->pages[i].addr;
        if ((a & (HVT_NATIVE_PAGE - 1)) || a < HVT_NATIVE_LO || a >= HVT_NATIVE_HI ||
            c->pages[i].prot > HVT_NATIVE_RW)
            return -1;
        if (a >= cpage && a < cend)
            return -1;
        for (unsigned j = 0; j < i; j++)
            if (c->pages[j].addr == a)
                return -1;
    }
    return 0;
}

int hvt_native_run(const struct hvt_native_case *c, struct hvt_native_result *r)
{
    struct native_shared *sh;
    pid_t pid;
    int status, rc = 0;

    if (!c || !r || check_case(c))
        return -HVT_E_INVALID;
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return -HVT_E_IO;
    memset(sh, 0, sizeof(*sh));
    g_ymmh_off = ymmh_offset();
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        munmap(sh, sizeof(*sh));
        return -HVT_E_IO;
    }
    if (pid == 0)
        child(c, sh);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            rc = -HVT_E_IO;
            break;
        }
    }
    if (!rc && sh->done)
        memcpy(r, &sh->r, sizeof(*r));
    else if (!rc)
        rc = -HVT_E_IO;
    munmap(sh, sizeof(*sh));
    return rc;
}

int hvt_native_has(const char *f)
{
    struct hvt_cpu_profile p;
    int k = hvt_cpu_feature_find(f);
    if (k < 0)
        return -1;
    if (hvt_cpu_profile_cpuid(&p) < 0)
        return 0;
    return (int)HVT_CPU_HAS(&p, (unsigned)k);
}

#else /* not x86-64: the oracle cannot run */

int hvt_native_run(const struct hvt_native_case *c, struct hvt_native_result *r)
{
    (void)c;
    (void)r;
    return -HVT_E_UNSUPPORTED;
}

int hvt_native_has(const char *f)
{
    (void)f;
    return 0;
}

#endif

const struct hvt_native_page *hvt_native_result_page(const struct hvt_native_result *r,
                                                     uint64_t addr)
{
    if (!r)
        return NULL;
    for (unsigned i = 0; i < r->n_pages && i < HVT_NATIVE_MAX_PAGES; i++)
        if (addr - r->pages[i].addr < HVT_NATIVE_PAGE)
            return &r->pages[i];
    return NULL;
}
