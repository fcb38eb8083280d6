/*
 * hello.c -- the smallest host: one logger, one thread, a fixed list of
 * logging calls, then the counters. examples/hello_cxx.cpp makes the same
 * calls from C++ and must print the same bytes (tests/examples_match.sh
 * runs both on one configuration and compares).
 *
 *     hello [CONFIG]          (default conf/hello.ini)
 */
#include <stdio.h>

#include <sluice/sluice.h>

enum tier { TIER_FREE, TIER_GOLD };

int main(int argc, char **argv)
{
    const char *config = argc > 1 ? argv[1] : "conf/hello.ini";
    sluice_runtime *rt;
    sluice_error err;
    if (sluice_open(config, &rt, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    sluice_logger *lg = sluice_logger_get(rt, "app");
    if (!lg) {
        fprintf(stderr, "%s: needs [logger.app]\n", config);
        sluice_close(rt, 1000);
        return 1;
    }

    const char *user = "ann";
    char region[8] = "eu-west";
    unsigned long order = 42;
    double amount = 19.5;
    enum tier tier = TIER_GOLD;
    bool retried = true;

    SLUICE_INFO(lg, "user %s logged in after %d tries", user, 3);
    SLUICE_DEBUG(lg, "order %lu: %zu items, total %.2f", order, (size_t)3, amount);
    SLUICE_INFO(lg, "tier %u, retried %d, region %s", tier, retried, region);
    SLUICE_WARN_KV(lg, SLUICE_KV({"user", user}, {"order", "A-42"}),
                   "slow payment: %d ms", 1250);
    SLUICE_ERROR(lg, "flags %#x, ratio %e, first %c, none %s, at %p", 0x2au,
                 0.125, user[0], (const char *)NULL, (void *)0);
    SLUICE_LOG(lg, SLUICE_LEVEL_FATAL, "%d%% of %hhd", 100, (signed char)-3);
    SLUICE_TRACE(lg, "not shown at level debug: %d", 1);

    long left = sluice_close(rt, 5000);
    printf("closed: %ld records undelivered\n", left);
    return left == 0 ? 0 : 1;
}
