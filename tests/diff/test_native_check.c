/* SPDX-License-Identifier: MIT */
/* check-core --against native in ctest: the core agrees with the CPU on a few hundred cases. */
#include <stdio.h>
#include <string.h>

#include "hvt_test.h"
#include "hvtrace/error.h"
#include "hvtrace/cpu.h"
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

/* The check sees the choices: the core on this CPU's probed profile with every choice turned
 * to its other alternative disagrees with this CPU on some cases, each one a string or gather
 * form, and the cpu: line names the profile the core followed. */
static void check_flipped_profile(void)
{
    struct hvt_cpu_profile host, flipped;
    char line[2048];
    FILE *f = tmpfile();
    int rc, cpu_line = 0, bad_form = 0;
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK_EQ(hvt_orc_cpu_host(&host, NULL, 0), 0);
    flipped = host;
    snprintf(flipped.name, sizeof(flipped.name), "flipped");
    for (unsigned c = 0; c < HVT_CPUC__COUNT; c++)
        flipped.choice[c] = (uint8_t)(1 - host.choice[c]);
    rc = hvt_oracle_native_check(1, 400, 0, &flipped, f);
    CHECK(rc > 0);
    rewind(f);
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "cpu: name=flipped ", 18))
            cpu_line = 1;
        if (!strncmp(line, "mismatch", 8) && !strstr(line, "gather") && !strstr(line, "rep"))
            bad_form = 1;
    }
    CHECK(cpu_line);
    CHECK(!bad_form);
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
    check_flipped_profile();
    TEST_DONE();
}
