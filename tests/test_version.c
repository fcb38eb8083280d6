/*
 * The version, said four ways: the SLUICE_VERSION* macros of the headers,
 * sluice_version() of the shared library a program runs with, the
 * pkg-config file meson writes, and the soname. All must come from
 * meson.build's project version (passed in as SLUICE_EXPECTED_VERSION).
 */
#include <criterion/criterion.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/sluice.h>

TestSuite(version);

Test(version, header_macros_spell_the_project_version)
{
    cr_assert_str_eq(SLUICE_VERSION, SLUICE_EXPECTED_VERSION);
    char spelled[64];
    snprintf(spelled, sizeof spelled, "%d.%d.%d", SLUICE_VERSION_MAJOR,
             SLUICE_VERSION_MINOR, SLUICE_VERSION_PATCH);
    cr_assert_str_eq(spelled, SLUICE_VERSION);
    cr_assert_eq(SLUICE_VERSION_NUMBER,
                 SLUICE_VERSION_MAJOR * 10000 + SLUICE_VERSION_MINOR * 100 +
                     SLUICE_VERSION_PATCH);
}

Test(version, library_reports_the_version_of_the_headers)
{
    cr_assert_str_eq(sluice_version(), SLUICE_VERSION);
    cr_assert_eq(sluice_version_number(), SLUICE_VERSION_NUMBER);
}

Test(version, pkg_config_reports_the_same_version)
{
    /* meson's uninstalled .pc file, which pkg-config prefers by name */
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "PKG_CONFIG_PATH='%s' '%s' --modversion sluice 2>&1",
             SLUICE_UNINSTALLED_PC_DIR, SLUICE_PKG_CONFIG);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char out[256] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    cr_assert_eq(status, 0, "%s: %s", cmd, out);
    out[strcspn(out, "\n")] = '\0';
    cr_assert_str_eq(out, SLUICE_VERSION);
}

static int find_libsluice(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    const char *slash = strrchr(info->dlpi_name, '/');
    const char *base = slash ? slash + 1 : info->dlpi_name;
    if (strncmp(base, "libsluice.so", 12) != 0)
        return 0;
    snprintf(arg, 256, "%s", base);
    return 1;
}

Test(version, program_links_libsluice_by_its_soname)
{
    /* the loader names a library by the DT_NEEDED entry the linker copied
     * from its soname, so the file it opened is libsluice.so.N */
    char loaded[256] = "";
    dl_iterate_phdr(find_libsluice, loaded);
    cr_assert_str_eq(loaded, "libsluice.so." SLUICE_EXPECTED_SOVERSION);
}
