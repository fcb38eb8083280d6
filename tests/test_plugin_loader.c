/*
 * The plugin loader refuses, naming the file: a .so without the entry
 * symbol, another ABI version, a table too small, a name other than the
 * configuration's, a missing entry point, and a file that is no plugin.
 */
#include "helpers.h"

#include "plugin_internal.h"

TestSuite(plugins, .init = init_capture, .fini = fini_capture);

static char *broken(const char *name)
{
    const char *dir = getenv("SLUICE_BROKEN_PLUGIN_DIR");
    cr_assert_not_null(dir, "SLUICE_BROKEN_PLUGIN_DIR is not set");
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/%s.so", dir, name);
    return p;
}

static void expect_refused(const char *name, const char *needle)
{
    char *path = broken(name);
    char ini[8192];
    snprintf(ini, sizeof ini, "[sink.x]\nplugin = %s\n[logger.a]\nsinks = x\n", path);
    char *msg = start_ini_fails(ini);
    cr_assert(strstr(msg, path), "the error should name %s:\n%s", path, msg);
    cr_assert(strstr(msg, needle), "expected '%s' in:\n%s", needle, msg);
    cr_assert(strstr(msg, "<string>:2:"), "the error should name the line:\n%s", msg);
    free(msg);
    free(path);
}

Test(plugins, refuses_missing_entry_symbol)
{
    expect_refused("no_entry", "no sluice_sink_entry symbol");
}

Test(plugins, refuses_other_abi_version)
{
    expect_refused("wrong_abi", "plugin ABI version 99, but this runtime speaks version 1");
}

Test(plugins, refuses_table_too_small)
{
    expect_refused("too_small", "sluice_sink_api is 16 bytes, smaller than");
}

Test(plugins, refuses_name_mismatch)
{
    expect_refused("wrong_name", "plugin calls itself 'other', but the configuration asks for 'wrong_name'");
}

Test(plugins, refuses_missing_entry_point)
{
    expect_refused("no_write", "lacks an entry point");
}

Test(plugins, refuses_a_file_that_is_not_a_shared_object)
{
    char *dir = tmpdir_make();
    char path[512], ini[1024];
    snprintf(path, sizeof path, "%s/fake.so", dir);
    FILE *f = fopen(path, "w");
    fputs("not an ELF file\n", f);
    fclose(f);
    snprintf(ini, sizeof ini, "[sink.x]\nplugin = %s\n[logger.a]\nsinks = x\n", path);
    char *msg = start_ini_fails(ini);
    cr_assert(strstr(msg, path) && strstr(msg, "cannot load plugin"), "%s", msg);
    free(msg);
    tmpdir_remove(dir);
}

Test(plugins, refuses_a_missing_file_given_as_path)
{
    char *msg = start_ini_fails("[sink.x]\nplugin = /nonexistent/dir/x.so\n[logger.a]\nsinks = x\n");
    cr_assert(strstr(msg, "/nonexistent/dir/x.so: plugin file not found"), "%s", msg);
    free(msg);
}

Test(plugins, loads_by_name_from_the_search_path)
{
    sluice_plugin *p = NULL;
    sluice_error err;
    cr_assert_eq(sluice_plugin_load("null", NULL, NULL, &p, &err), 0, "%s", err.message);
    cr_assert_str_eq(p->api->name, "null");
    cr_assert(strstr(p->path, "null.so"));
    sluice_plugin_unload(p);
}

Test(plugins, plugin_path_in_runtime_section_is_searched_first)
{
    const char *dir = getenv("SLUICE_BROKEN_PLUGIN_DIR");
    char ini[4096];
    /* fault.so lives in the tests' build directory */
    snprintf(ini, sizeof ini,
             "[runtime]\nplugin_path = %s\n[sink.x]\nplugin = fault\n"
             "[logger.a]\nsinks = x\n", dir);
    sluice_runtime *rt = start_ini(ini);
    cr_assert_eq(sluice_close(rt, 1000), 0);
}

Test(plugins, host_sink_needs_a_valid_table)
{
    sluice_builder *b = sluice_builder_new("host.c");
    sluice_sink_api bad = capture_api;
    bad.abi_version = 2;
    sluice_error err;
    cr_assert_neq(sluice_builder_add_sink_api(b, &bad, &err), 0);
    cr_assert(strstr(err.message, "ABI version 2"), "%s", err.message);
    sluice_builder_free(b);
}
