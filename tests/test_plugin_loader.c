/*
 * The plugin loader refuses, naming the file: a .so without the entry
 * symbol, an ABI version newer than the runtime's, a table too small for
 * the version it declares, a name other than the configuration's, a
 * missing entry point, and a file that is no plugin. A plugin built
 * against the frozen version-1 header loads and runs.
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

Test(plugins, refuses_a_version_newer_than_the_runtime_naming_the_file)
{
    char want[200];
    snprintf(want, sizeof want,
             "plugin ABI version %d is newer than this runtime, which speaks "
             "versions 1 to %d: rebuild the plugin",
             SLUICE_SINK_ABI_VERSION + 1, SLUICE_SINK_ABI_VERSION);
    expect_refused("future_abi", want);
    expect_refused("wrong_abi", "plugin ABI version 99 is newer than this runtime");
}

Test(plugins, refuses_table_too_small)
{
    expect_refused("too_small", "sluice_sink_api is 16 bytes, smaller than");
}

Test(plugins, refuses_a_version_2_table_that_ends_where_version_1_did)
{
    char want[200];
    snprintf(want, sizeof want, "sluice_sink_api is %zu bytes, smaller than "
             "the %zu that ABI version 2 needs",
             offsetof(sluice_sink_api, options), sizeof(sluice_sink_api));
    expect_refused("too_small_v2", want);
}

/* A record through a logger into the v1 plugin, read back from its file. */
Test(plugins, a_version_1_plugin_loads_and_runs_unchanged)
{
    char *dir = tmpdir_make();
    char ini[1024], path[512];
    snprintf(path, sizeof path, "%s/v1.log", dir);
    snprintf(ini, sizeof ini,
             "[sink.old]\nplugin = v1_sink\npath = %s\ntag = v1>\n"
             "pattern = %%l %%m\n[logger.a]\nsinks = old\n", path);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "a");
    for (int i = 0; i < 100; i++)
        SLUICE_INFO(lg, "record %d of %s", i, "v1");
    cr_assert_eq(sluice_close(rt, 5000), 0, "records left undelivered");
    size_t len;
    char *text = read_file(path, &len);
    cr_assert_eq(count_lines(text), 100, "%s", text);
    cr_assert(strstr(text, "v1>info record 0 of v1\n") == text, "%s", text);
    cr_assert(strstr(text, "v1>info record 99 of v1\n"), "%s", text);
    free(text);
    tmpdir_remove(dir);
}

Test(plugins, a_version_1_plugin_still_has_its_keys_checked_and_its_check_run)
{
    char *msg = start_ini_fails("[sink.old]\nplugin = v1_sink\npath = /tmp/x\n"
                                "colour = red\n[logger.a]\nsinks = old\n");
    cr_assert(strstr(msg, "<string>:4: [sink.old]: unknown key 'colour' for "
                          "plugin 'v1_sink' (known: plugin, format, pattern, level, path, tag"),
              "%s", msg);
    free(msg);
    sluice_error err;
    sluice_builder *b = sluice_config_load_string(
        "[sink.old]\nplugin = v1_sink\ntag = x\n[logger.a]\nsinks = old\n", &err);
    cr_assert_not_null(b);
    cr_assert_eq(sluice_builder_check_(b), 1);
    cr_assert(strstr(sluice_builder_error_at_(b, 0),
                     "<string>: sink 'old': option 'path' is required"),
              "%s", sluice_builder_error_at_(b, 0));
    sluice_builder_free(b);
}

Test(plugins, sluice_plugins_lists_a_version_1_plugin_with_its_version)
{
    char *out;
    cr_assert_eq(sh(&out, "%s plugins", cli()), 0, "%s", out);
    char *row = strstr(out, "v1_sink");
    cr_assert(row, "%s", out);
    cr_assert(strncmp(row + 12, " 1 ", 3) == 0, "%s", row);
    free(out);
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
    bad.abi_version = SLUICE_SINK_ABI_VERSION + 1;
    sluice_error err;
    cr_assert_neq(sluice_builder_add_sink_api(b, &bad, &err), 0);
    cr_assert(strstr(err.message, "<host sink>: plugin ABI version 3 is newer"),
              "%s", err.message);
    bad.abi_version = 0;
    cr_assert_neq(sluice_builder_add_sink_api(b, &bad, &err), 0);
    cr_assert(strstr(err.message, "ABI version 0 is not a version"), "%s",
              err.message);
    bad = capture_api;
    bad.abi_version = 1; /* an older table is fine */
    cr_assert_eq(sluice_builder_add_sink_api(b, &bad, &err), 0, "%s",
                 err.message);
    sluice_builder_free(b);
}
