/*
 * main.c -- the CMake host example: log three records through the console
 * sink, found by name in the installed plugin directory, and say which
 * sluice it was compiled with and which it runs with. Knows the public
 * API only (sluice/sluice.h).
 */
#include <stdio.h>

#include <sluice/sluice.h>

static const char ini[] = "[sink.out]\n"
                          "plugin = console\n"
                          "stream = stdout\n"
                          "\n"
                          "[logger.app]\n"
                          "sinks = out\n";

int main(void)
{
    printf("compiled with sluice %s, running with %s\n", SLUICE_VERSION,
           sluice_version());
    fflush(stdout); /* before the sink writes to the same stream */
    if (sluice_version_number() < SLUICE_VERSION_NUMBER) {
        fprintf(stderr, "libsluice %s is older than its headers (%s)\n",
                sluice_version(), SLUICE_VERSION);
        return 1;
    }
    sluice_runtime *rt;
    sluice_error err;
    if (sluice_open_string(ini, &rt, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 1; i <= 3; i++)
        SLUICE_INFO(lg, "hello from a CMake host, record %d of %d", i, 3);
    long left = sluice_close(rt, 2000);
    printf("closed: %ld records undelivered\n", left);
    return left == 0 ? 0 : 1;
}
