/*
 * durable_host.c -- a host for the kill loop (tests/test_kill_loop.c): it
 * logs numbered records into a durable logger and says, through a small
 * file of its own that it maps (MAP_SHARED), which number it is about to
 * log and which logging call has returned. The test kills it with SIGKILL
 * and reads that file: what the test knows was accepted comes from here,
 * never from the logger.
 *
 *   durable_host INI LOGGER COUNTER FIRST LAST
 *
 * logs FIRST..LAST ("n=%llu", and every seventh with a string argument, so
 * both the straight path and the general one are taken), then closes and
 * exits 0, in bursts of 64 with a pause of 0.5 ms. COUNTER holds two uint64_t: [0] the number being logged, [1]
 * the last number whose call returned. overflow must be block: a call
 * that returned then means a record accepted.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sluice/sluice.h>

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: durable_host INI LOGGER COUNTER FIRST LAST\n");
        return 2;
    }
    unsigned long long first = strtoull(argv[4], NULL, 10);
    unsigned long long last = strtoull(argv[5], NULL, 10);
    int fd = open(argv[3], O_RDWR);
    if (fd < 0) {
        perror(argv[3]);
        return 2;
    }
    _Atomic uint64_t *counter = mmap(NULL, 2 * sizeof(uint64_t),
                                     PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (counter == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    sluice_runtime *rt;
    sluice_error err;
    if (sluice_open(argv[1], &rt, &err) != 0) {
        fprintf(stderr, "durable_host: %s\n", err.message);
        return 1;
    }
    sluice_logger *lg = sluice_logger_get(rt, argv[2]);
    if (!lg) {
        fprintf(stderr, "durable_host: no logger %s\n", argv[2]);
        return 1;
    }
    for (unsigned long long n = first; n <= last; n++) {
        atomic_store_explicit(&counter[0], n, memory_order_seq_cst);
        if (n % 7 == 0)
            SLUICE_INFO(lg, "n=%llu s=%s", n, "seventh");
        else
            SLUICE_INFO(lg, "n=%llu", n);
        atomic_store_explicit(&counter[1], n, memory_order_seq_cst);
        if (n % 64 == 0)
            usleep(500); /* bursts: the files stay small, the kill lands
                            anywhere in a burst or between two */
    }
    long left = sluice_close(rt, -1);
    return left == 0 ? 0 : 3;
}
