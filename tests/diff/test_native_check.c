/* SPDX-License-Identifier: MIT */
/* check-core --against native in ctest: the core agrees with the CPU on a few hundred cases. */
#include <stdio.h>
#include <string.h>

#include "hvt_test.h"
#include "hvtrace/error.h"
#include "hvtrace/oracle.h"
#include "native.h"

/* Runs SEED for N cases; checks the result and the summary line. */
static void check_seed(uint64_t seed, uint64_t n)
{
    char line[256], last[256] = "", want[64];
    FILE *f = tmpfile();
    int rc;
    CHECK(f != NULL);
    if (!f)
        return;
    rc = hvt_oracle_native_check(seed, n, 0, NULL, f);
    CHECK_EQ(rc, 0);
    rewind(f);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "mismatch", 8) == 0)
            fputs(line, stderr);
        strcpy(last, line);
    }
    snprintf(want, sizeof(want), "%llu cases, 0 mismatches\n", (unsigned long long)n);
    CHECK_STR(last, want);
    fclose(f);
}

int main(void)
{
    if (hvt_native_has("sse2") != 1) {
        printf("SKIP: not an x86-64 host\n");
        return 0;
    }
    CHECK_EQ(hvt_oracle_native_check(1, 1, 0, NULL, NULL), -HVT_E_INVALID);
    check_seed(1, 120);
    check_seed(0xfeedface, 120);
    check_seed(42, 120);
    TEST_DONE();
}
