/*
 * hello_cxx.cpp -- examples/hello.c's calls made from C++: the same
 * macros, with C++ arguments (std::string, nullptr, an enum), the same
 * output byte for byte (tests/examples_match.sh compares the two).
 *
 *     hello_cxx [CONFIG]      (default conf/hello.ini)
 */
#include <cstdio>
#include <string>

#include <sluice/sluice.h>

enum tier { TIER_FREE, TIER_GOLD };

int main(int argc, char **argv)
{
    const char *config = argc > 1 ? argv[1] : "conf/hello.ini";
    sluice_runtime *rt;
    sluice_error err;
    if (sluice_open(config, &rt, &err) != 0) {
        std::fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    sluice_logger *lg = sluice_logger_get(rt, "app");
    if (!lg) {
        std::fprintf(stderr, "%s: needs [logger.app]\n", config);
        sluice_close(rt, 1000);
        return 1;
    }

    const std::string user = "ann";
    char region[8] = "eu-west";
    unsigned long order = 42;
    double amount = 19.5;
    tier level = TIER_GOLD;
    bool retried = true;
    const char *none = nullptr;

    SLUICE_INFO(lg, "user %s logged in after %d tries", user, 3);
    SLUICE_DEBUG(lg, "order %lu: %zu items, total %.2f", order, std::size_t{3}, amount);
    SLUICE_INFO(lg, "tier %u, retried %d, region %s", level, retried, region);
    SLUICE_WARN_KV(lg, SLUICE_KV({"user", user.c_str()}, {"order", "A-42"}),
                   "slow payment: %d ms", 1250);
    SLUICE_ERROR(lg, "flags %#x, ratio %e, first %c, none %s, at %p", 0x2au,
                 0.125, user[0], none, nullptr);
    SLUICE_LOG(lg, SLUICE_LEVEL_FATAL, "%d%% of %hhd", 100, static_cast<signed char>(-3));
    SLUICE_TRACE(lg, "not shown at level debug: %d", 1);

    long left = sluice_close(rt, 5000);
    std::printf("closed: %ld records undelivered\n", left);
    return left == 0 ? 0 : 1;
}
