/*
 * demo.c -- a host program embedding sluice: opens a runtime from an INI
 * file, logs from several threads through two loggers, closes with a
 * timeout and prints each logger's counters.
 *
 *     demo [CONFIG] [THREADS] [RECORDS_PER_THREAD]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <sluice/sluice.h>

typedef struct worker {
    sluice_logger *app, *audit;
    int id, records;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < w->records; i++) {
        SLUICE_INFO(w->app, "worker %d handled request %d in %.3f ms", w->id, i,
                    0.25 * (i % 7));
        if (i % 10 == 0)
            SLUICE_WARN(w->audit, "worker %d: user %s touched record %d", w->id,
                        i % 20 ? "alice" : "bob", i);
        SLUICE_DEBUG(w->app, "not shown at level info: %d", i);
    }
    return NULL;
}

static void print_stats(sluice_logger *lg, const char *name)
{
    sluice_logger_stats ls;
    sluice_logger_stats_get(lg, &ls);
    printf("logger %-6s attempted=%llu accepted=%llu dropped=%llu pending=%llu\n",
           name, (unsigned long long)ls.attempted,
           (unsigned long long)ls.accepted, (unsigned long long)ls.dropped,
           (unsigned long long)ls.pending);
    for (size_t i = 0; i < sluice_logger_binding_count(lg); i++) {
        sluice_binding_stats bs;
        sluice_binding_stats_get(sluice_logger_binding(lg, i), &bs);
        printf("  sink %-10s lane %u state=%s written=%llu pending=%llu "
               "failures=%llu restarts=%llu%s%s\n",
               bs.sink, bs.lane, sluice_binding_state_name(bs.state),
               (unsigned long long)bs.written, (unsigned long long)bs.pending,
               (unsigned long long)bs.failures, (unsigned long long)bs.restarts,
               bs.last_error[0] ? " last_error=" : "", bs.last_error);
    }
}

int main(int argc, char **argv)
{
    const char *config = argc > 1 ? argv[1] : "conf/demo.ini";
    int threads = argc > 2 ? atoi(argv[2]) : 4;
    int records = argc > 3 ? atoi(argv[3]) : 5;
    if (threads < 1 || threads > 256 || records < 0) {
        fprintf(stderr, "usage: demo [CONFIG] [THREADS 1..256] [RECORDS]\n");
        return 2;
    }
    sluice_runtime *rt;
    sluice_error err;
    if (sluice_open(config, &rt, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    sluice_logger *app = sluice_logger_get(rt, "app");
    sluice_logger *audit = sluice_logger_get(rt, "audit");
    if (!app || !audit) {
        fprintf(stderr, "%s: needs [logger.app] and [logger.audit]\n", config);
        sluice_close(rt, 1000);
        return 1;
    }
    pthread_t t[256];
    worker w[256];
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){app, audit, i, records};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    /* let the workers catch up before reading the counters */
    sluice_logger_flush(app, 5000);
    sluice_logger_flush(audit, 5000);
    printf("\n");
    print_stats(app, "app");
    print_stats(audit, "audit");
    long left = sluice_close(rt, 5000);
    printf("closed: %ld records undelivered\n", left);
    return left == 0 ? 0 : 1;
}
