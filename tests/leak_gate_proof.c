/*
 * Proof that the leak gate fails a leaking test: this Criterion test leaks
 * on purpose and passes as far as Criterion is concerned. In the sanitizer
 * build it is registered with should_fail, run through
 * scripts/sanitizer-gate: if the gate ever stopped catching leaks, this
 * test would "unexpectedly pass" and fail the run.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

Test(leak_gate, leaks_on_purpose)
{
    char *p = malloc(123);
    memset(p, 'x', 123);
    sink = p;
    sink = NULL; /* the only reference is gone: a definite leak */
    cr_assert(1);
}
