/* SPDX-License-Identifier: MIT */
/* Core ABI: loading cores by path (the reference plugin, a renamed build) and refusing broken
 * plugins (no entry symbol, wrong ABI version, no descriptor, not a shared object). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hvt_test.h"
#include "ram_ops.h"
#include "hvtrace/core.h"

/* Runs "add [rbx], eax" in 64-bit mode on core C; returns the dword at 0x2000. */
static uint32_t run_add(struct hvt_core *c)
{
    struct ram *r = ram_new(1 << 20);
    struct hvt_vcpu_state st;
    struct hvt_core_result res;
    uint32_t v;
    memset(&st, 0, sizeof(st));
    st.cr0 = 1;
    st.efer = 1 << 10;
    st.seg[HVT_SEG_CS].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_L | 0xb;
    st.seg[HVT_SEG_DS].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | 3;
    st.seg[HVT_SEG_SS].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | 3;
    st.rip = 0x1000;
    st.rflags = 2;
    st.gpr[HVT_RBX] = 0x2000;
    st.gpr[HVT_RAX] = 5;
    r->mem[0x1000] = 0x01;
    r->mem[0x1001] = 0x03;
    r->mem[0x2000] = 7;
    CHECK_EQ(hvt_core_emulate(c, &st, &ram_ops, r, &res), 0);
    CHECK_EQ(res.out.kind, HVT_OUT_OKAY);
    CHECK_U64(st.rip, 0x1002);
    v = ram_get32(r, 0x2000);
    ram_free(r);
    return v;
}

static void test_load_ref(void)
{
    struct hvt_core *c = NULL;
    char err[256];
    CHECK_EQ(hvt_core_open(&c, HVT_PLUGIN_REF, err, sizeof(err)), 0);
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_STR(hvt_core_info(c)->name, "hvtrace-ref");
    CHECK_EQ(hvt_core_info(c)->abi_version, HVT_CORE_ABI_VERSION);
    /* the plugin's descriptor is its own copy, not the linked-in one */
    CHECK(hvt_core_info(c) != hvt_core_ref());
    CHECK_EQ(run_add(c), 12);
    CHECK_EQ(hvt_core_set_option(c, "decode-cache", "0"), 0);
    CHECK_EQ(hvt_core_set_option(c, "nope", "0"), -HVT_E_UNSUPPORTED);
    CHECK_EQ(run_add(c), 12);
    hvt_core_close(c);

    CHECK_EQ(hvt_core_open(&c, HVT_PLUGIN_RENAMED, err, sizeof(err)), 0);
    if (c) {
        CHECK_STR(hvt_core_info(c)->name, "hvtrace-test-renamed");
        CHECK_EQ(run_add(c), 12);
        hvt_core_close(c);
    }
}

static void test_bad_plugins(void)
{
    struct hvt_core *c = (struct hvt_core *)1;
    char err[256], path[] = "/tmp/hvt-test-plugin-XXXXXX";
    int fd;

    CHECK_EQ(hvt_core_open(&c, HVT_PLUGIN_NOSYM, err, sizeof(err)), -HVT_E_BAD_PLUGIN);
    CHECK(c == NULL);
    CHECK(strstr(err, "hvt_core_entry") != NULL);
    CHECK_EQ(hvt_core_open(&c, HVT_PLUGIN_ABI, err, sizeof(err)), -HVT_E_BAD_PLUGIN);
    CHECK(strstr(err, "ABI version") != NULL);
    CHECK_EQ(hvt_core_open(&c, HVT_PLUGIN_NULL, err, sizeof(err)), -HVT_E_BAD_PLUGIN);
    CHECK(strstr(err, "NULL") != NULL);
    CHECK_EQ(hvt_core_open(&c, "/no/such/core.so", err, sizeof(err)), -HVT_E_NOT_FOUND);
    CHECK(strstr(err, "/no/such/core.so") != NULL);
    /* a file that is not a shared object: dlerror's text */
    fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK_EQ(write(fd, "not elf\n", 8), 8);
        close(fd);
        CHECK_EQ(hvt_core_open(&c, path, err, sizeof(err)), -HVT_E_BAD_PLUGIN);
        CHECK(err[0] != 0);
        unlink(path);
    }
    /* no error buffer is fine */
    CHECK_EQ(hvt_core_open(&c, HVT_PLUGIN_ABI, NULL, 0), -HVT_E_BAD_PLUGIN);
}

int main(void)
{
    RUN(test_load_ref);
    RUN(test_bad_plugins);
    TEST_DONE();
}
