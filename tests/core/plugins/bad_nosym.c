/* SPDX-License-Identifier: MIT */
/* Test plugin: a shared object without the core entry symbol. */
int hvt_not_a_core(void);
int hvt_not_a_core(void)
{
    return 42;
}
