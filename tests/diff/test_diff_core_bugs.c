/* SPDX-License-Identifier: MIT */
/* Differential tests: core bugs found by check-core, one minimal case each (argv[1] names it).
 * The expected values were checked on the host CPU and agree with unicorn. */
#include <string.h>

#include "diff_util.h"

static struct fix x;

static unsigned form_named(const char *name)
{
    for (unsigned i = 0; i < hvt_orc_form_count(); i++)
        if (!strcmp(hvt_orc_form_name(i), name))
            return i;
    return 0;
}

/* RCR byte [rbx], 6 on 0xc4 with CF = 1: the CPU (host, natively) gives 0x27 with CF = 0; the
 * core left CF (and OF) as they were for RCL/RCR with any count. */
static void rcl_rcr_flags_not_updated(void)
{
    static const uint8_t insn[] = {0xc0, 0x1b, 0x06}; /* rcr byte [rbx], 6 */
    const uint64_t leaf[3] = {0x67, 0x67, 0x67};
    unsigned dev;
    hvt_orc_craft(&x.c, 64, 0, insn, sizeof(insn), leaf, 0x27);
    x.c.form = form_named("rcr m,imm8");
    x.c.opsize = 1;
    x.c.flags_undef = 0x800; /* OF: count != 1 */
    x.c.ram[0x11000] = 0xc4;
    x.c.st.gpr[HVT_RBX] = 0x401000;
    x.c.st.rflags = 0x2 | 0x1;
    CHECK_EQ(fix_run(&x, &dev), 0);
    CHECK_EQ(x.ref.status, HVT_ORC_DONE);
    CHECK_EQ(x.ref.ram[0x11000], 0x27);
    CHECK_EQ(x.ref.st.rflags & 1, 0);
}

/* MOVSXD r16, m16 (66 REX 63 /r) is a valid form of an instruction of the list; the
 * core answers UNIMPLEMENTED. */
static void movsxd_16bit_unimplemented(void)
{
    static const uint8_t insn[] = {0x66, 0x63, 0x03}; /* movsxd ax, word [rbx] */
    const uint64_t leaf[3] = {0x67, 0x67, 0x67};
    const uint16_t v = 0x8001;
    unsigned dev;
    hvt_orc_craft(&x.c, 64, 0, insn, sizeof(insn), leaf, 0x27);
    x.c.form = form_named("movsxd r,m32");
    x.c.opsize = 2;
    memcpy(x.c.ram + 0x11000, &v, 2);
    x.c.st.gpr[HVT_RBX] = 0x401000;
    x.c.st.gpr[HVT_RAX] = 0x1111111111111111ull;
    CHECK_EQ(fix_run(&x, &dev), 0);
    CHECK_EQ(x.ref.status, HVT_ORC_DONE);
    CHECK_U64(x.ref.st.gpr[HVT_RAX], 0x1111111111118001ull);
}

int main(int argc, char **argv)
{
    static const struct hvt_named_test tests[] = {
        {"rcl_rcr_flags_not_updated", rcl_rcr_flags_not_updated},
        {"movsxd_16bit_unimplemented", movsxd_16bit_unimplemented},
    };
    fix_init(&x);
    int found = hvt_run_named(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
    fix_fini(&x);
    CHECK(found);
    TEST_DONE();
}
