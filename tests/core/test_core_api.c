/* SPDX-License-Identifier: MIT */
/* Core ABI, host side and the reference core's descriptor: opening, options, bad arguments. */
#include <string.h>

#include "hvt_test.h"
#include "ram_ops.h"
#include "hvtrace/core.h"

static void test_open_ref(void)
{
    struct hvt_core *c = NULL, *c2 = NULL;
    char err[128];
    CHECK_EQ(hvt_core_open(&c, NULL, err, sizeof(err)), 0);
    CHECK(c && hvt_core_info(c) == hvt_core_ref());
    CHECK_EQ(hvt_core_open(&c2, HVT_CORE_REF, NULL, 0), 0);
    CHECK(c2 && hvt_core_info(c2) == hvt_core_ref());
    CHECK_STR(hvt_core_ref()->name, "hvtrace-ref");
    CHECK(hvt_core_ref()->version && hvt_core_ref()->build_id);
    CHECK_EQ(hvt_core_ref()->abi_version, HVT_CORE_ABI_VERSION);
    CHECK_EQ(hvt_core_ref()->size, sizeof(struct hvt_core_plugin));

    /* options */
    CHECK_EQ(hvt_core_set_option(c, "pdpte-reread", "1"), 0);
    CHECK_EQ(hvt_core_set_option(c, "pdpte-reread", "0"), 0);
    CHECK_EQ(hvt_core_set_option(c, "pdpte-reread", "yes"), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_set_option(c, "gather-partial", "keep"), 0);
    CHECK_EQ(hvt_core_set_option(c, "gather-partial", "discard"), 0);
    CHECK_EQ(hvt_core_set_option(c, "gather-partial", "maybe"), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_set_option(c, "decode-cache", "0"), 0);
    CHECK_EQ(hvt_core_set_option(c, "decode-cache", "1"), 0);
    CHECK_EQ(hvt_core_set_option(c, "decode-cache", ""), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_set_option(c, "no-such-option", "1"), -HVT_E_UNSUPPORTED);
    hvt_core_close(c);
    hvt_core_close(c2);
}

static void test_bad_args(void)
{
    struct hvt_core *c = NULL;
    struct hvt_vcpu_state st;
    struct hvt_core_result res;
    struct hvt_core_ops small = ram_ops, noread = ram_ops;
    struct ram *r = ram_new(4096);
    char err[128];

    memset(&st, 0, sizeof(st));
    CHECK_EQ(hvt_core_open(NULL, NULL, err, sizeof(err)), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_open(&c, "no-such-core", err, sizeof(err)), -HVT_E_NOT_FOUND);
    CHECK(c == NULL);
    CHECK(strstr(err, "no-such-core") != NULL);
    hvt_core_close(NULL);
    CHECK(hvt_core_info(NULL) == NULL);
    CHECK_EQ(hvt_core_set_option(NULL, "decode-cache", "1"), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_emulate(NULL, &st, &ram_ops, r, &res), -HVT_E_INVALID);

    CHECK_EQ(hvt_core_open(&c, NULL, NULL, 0), 0);
    CHECK_EQ(hvt_core_set_option(c, NULL, "1"), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_set_option(c, "decode-cache", NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_emulate(c, NULL, &ram_ops, r, &res), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_emulate(c, &st, NULL, r, &res), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_emulate(c, &st, &ram_ops, r, NULL), -HVT_E_INVALID);
    small.size = sizeof(small) - 1;
    CHECK_EQ(hvt_core_emulate(c, &st, &small, r, &res), -HVT_E_INVALID);
    noread.read = NULL;
    CHECK_EQ(hvt_core_emulate(c, &st, &noread, r, &res), -HVT_E_INVALID);
    CHECK_EQ(r->n_log, 0);
    /* the descriptor's own entry points refuse NULL instances and outputs */
    CHECK_EQ(hvt_core_ref()->create(NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_ref()->set_option(NULL, "decode-cache", "1"), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_ref()->emulate(NULL, &st, &ram_ops, r, &res), -HVT_E_INVALID);
    hvt_core_ref()->destroy(NULL);
    /* a valid call in real mode: UNHANDLEABLE, not an error */
    CHECK_EQ(hvt_core_emulate(c, &st, &ram_ops, r, &res), 0);
    CHECK_EQ(res.out.kind, HVT_OUT_UNHANDLEABLE);
    hvt_core_close(c);
    ram_free(r);
}

int main(void)
{
    RUN(test_open_ref);
    RUN(test_bad_args);
    TEST_DONE();
}
