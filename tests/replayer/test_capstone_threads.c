/* SPDX-License-Identifier: MIT */
/* Capstone's first disassemblies of a process, made by several threads at once: the reference
 * core's decoder and the replayer's disassembler on every vCPU thread of a host (the KVM host
 * runs one per vCPU). Capstone builds some tables at first use without a lock; under TSan this
 * test reports the race unless those first uses are made once beforehand. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "hvt_test.h"
#include "core/decode.h"
#include "replayer/internal.h"

#define THREADS 4

static pthread_barrier_t start;

/* instructions with implicit registers, memory operands, string and system instructions */
static const uint8_t insns[][4] = {{0xec}, {0xee},       {0x3c, 0x01}, {0xa8, 0x01},
                                   {0xaa}, {0xf3, 0xa4}, {0x8b, 0x03}, {0x89, 0x07},
                                   {0x50}, {0x0f, 0xa2}, {0x98},       {0xf7, 0xf1}};
static const uint8_t lens[] = {1, 1, 2, 2, 1, 2, 2, 2, 1, 2, 1, 2};

static void *worker(void *arg)
{
    int *ok = arg;
    struct hvt_decoder *dec = hvt_dec_new(64);
    struct rpl_disasm dis;
    memset(&dis, 0, sizeof(dis));
    struct hvt_vcpu_state st;
    memset(&st, 0, sizeof(st));
    st.cr0 = 1; /* protected mode, 16-bit code segment */
    pthread_barrier_wait(&start);
    *ok = dec != NULL;
    for (size_t i = 0; dec && i < sizeof(lens); i++)
        for (int mode = HVT_MODE_PROT16; mode <= HVT_MODE_LONG64; mode++) {
            int cs_err = 0;
            const struct hvt_dinsn *d =
                hvt_dec_decode(dec, (enum hvt_emu_mode)mode, insns[i], lens[i], &cs_err);
            *ok &= d != NULL && !cs_err;
        }
    char mnem[32], text[96];
    for (size_t i = 0; i < sizeof(lens); i++)
        *ok &= hvt_rpl_disasm_ctx(&dis, &st, insns[i], lens[i], mnem, sizeof(mnem), text,
                                  sizeof(text)) == 0;
    hvt_rpl_disasm_close(&dis);
    hvt_dec_free(dec);
    return NULL;
}

static void test_first_use_on_threads(void)
{
    pthread_t t[THREADS];
    int ok[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, worker, &ok[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK(ok[i]);
    }
    pthread_barrier_destroy(&start);
}

int main(void)
{
    RUN(test_first_use_on_threads);
    TEST_DONE();
}
