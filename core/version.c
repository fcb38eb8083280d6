/*
 * version.c -- which libsluice this is: the version the library was built
 * as, for a host to compare with the SLUICE_VERSION* macros of the headers
 * it was compiled with. Knows only sluice/version.h.
 */
#include <sluice/sluice.h>

const char *sluice_version(void)
{
    return SLUICE_VERSION;
}

int sluice_version_number(void)
{
    return SLUICE_VERSION_NUMBER;
}
