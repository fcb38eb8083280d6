/*
 * Configuration: every error names the file and line, every error is
 * reported (not just the first), and nothing is started when any is found.
 */
#include "helpers.h"

#include <sys/stat.h>

TestSuite(config, .init = init_capture, .fini = fini_capture);

static void expect_error(const char *ini, const char *needle)
{
    char *msg = start_ini_fails(ini);
    cr_assert(strstr(msg, needle), "expected '%s' in error:\n%s", needle, msg);
    free(msg);
}

Test(config, unknown_section_names_line)
{
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\n[loggers.b]\nx = 1\n",
                 "<string>:5: unknown section [loggers.b]");
}

Test(config, unknown_logger_key_names_line)
{
    expect_error("[sink.c]\nplugin = capture\n\n[logger.a]\nsinks = c\nqueue_size = 4\n",
                 "<string>:6: [logger.a]: unknown key 'queue_size'");
}

Test(config, unknown_sink_key_lists_known_keys)
{
    expect_error("[sink.f]\nplugin = file\npath = /tmp/x\ncolour = red\n[logger.a]\nsinks = f\n",
                 "<string>:4: [sink.f]: unknown key 'colour' for plugin 'file'");
}

Test(config, bad_values_name_lines)
{
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\nlevel = loud\n",
                 "<string>:5: [logger.a] level: 'loud'");
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\noverflow = spill\n",
                 "<string>:5: [logger.a] overflow: 'spill'");
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\nqueue_capacity = lots\n",
                 "<string>:5: [logger.a] queue_capacity: 'lots' is not an integer");
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\nworkers = 0\n",
                 "<string>:5: [logger.a] workers: 0 is out of range 1..64");
    expect_error("[runtime]\nrestart_backoff_ms = 50..10\n[sink.c]\nplugin = capture\n"
                 "[logger.a]\nsinks = c\n",
                 "<string>:2: [runtime] restart_backoff_ms: '50..10'");
    expect_error("[runtime]\nrestart_intensity = 5 per minute\n[sink.c]\nplugin = capture\n"
                 "[logger.a]\nsinks = c\n",
                 "<string>:2: [runtime] restart_intensity");
    expect_error("[sink.c]\nplugin = capture\nformat = yaml\n[logger.a]\nsinks = c\n",
                 "<string>:3: [sink.c] format: 'yaml'");
    expect_error("[sink.c]\nplugin = capture\npattern = %t %q\n[logger.a]\nsinks = c\n",
                 "<string>:3: [sink.c] pattern: unknown directive '%q'");
}

Test(config, duplicate_section_and_key)
{
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\n[sink.c]\nplugin = capture\n",
                 "<string>:5: duplicate section [sink.c] (first at line 1)");
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\nlevel = info\nlevel = warn\n",
                 "<string>:6: [logger.a]: duplicate key 'level' (first at line 5)");
}

Test(config, logger_naming_missing_sink)
{
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c, nowhere\n",
                 "<string>:4: [logger.a] sinks: no sink named 'nowhere'");
}

Test(config, missing_plugin_names_the_search)
{
    expect_error("[sink.x]\nplugin = no_such_plugin\n[logger.a]\nsinks = x\n",
                 "<string>:2: [sink.x]: plugin 'no_such_plugin' not found: no no_such_plugin.so in");
}

Test(config, plugin_name_with_slash_or_dotdot_refused)
{
    expect_error("[sink.x]\nplugin = ../file\n[logger.a]\nsinks = x\n",
                 "plugin file not found");
    expect_error("[sink.x]\nplugin = sub/file\n[logger.a]\nsinks = x\n",
                 "plugin name 'sub/file' contains '/' or '..'");
    expect_error("[sink.x]\nplugin = fi..le\n[logger.a]\nsinks = x\n",
                 "contains '/' or '..'");
}

Test(config, over_long_line_is_reported_not_misread)
{
    /* Debian's inih reads at most 200 bytes a line and would split this
     * 300-character line in two without a word. */
    char path[301];
    memset(path, 'p', 300);
    path[0] = '/';
    path[300] = '\0';
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\n[logger.a]\nsinks = f\n", path);
    expect_error(ini, "<string>:3: line is 307 characters long; at most 197");
}

Test(config, long_line_within_the_limit_works)
{
    char *dir = tmpdir_make();
    char path[256];
    int n = snprintf(path, sizeof path, "%s/", dir);
    while (n < 180)
        path[n++] = 'q';
    path[n] = '\0';
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\n[logger.a]\nsinks = f\n", path);
    sluice_runtime *rt = start_ini(ini);
    SLUICE_INFO(sluice_logger_get(rt, "a"), "long path %d", 1);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    char *text = read_file(path, NULL);
    cr_assert(strstr(text, "long path 1"), "file %s has: %s", path, text);
    free(text);
    tmpdir_remove(dir);
}

Test(config, syntax_errors_and_layout)
{
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\nthis line has no equals\n",
                 "<string>:5: cannot parse this line");
    expect_error("level = info\n[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\n",
                 "<string>:1: key 'level' outside any section");
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\n  level = info\n",
                 "<string>:5: line starts with white space");
    expect_error("[sink.c]\nplugin = capture\n", "no [logger.NAME] section");
}

Test(config, every_error_is_reported)
{
    char *msg = start_ini_fails("[sink.c]\nplugin = capture\nbogus = 1\n"
                                "[logger.a]\nsinks = c, d\nlevel = loud\n");
    cr_assert(strstr(msg, "<string>:3:"), "%s", msg);
    cr_assert(strstr(msg, "<string>:5:"), "%s", msg);
    cr_assert(strstr(msg, "<string>:6:"), "%s", msg);
    free(msg);
}

Test(config, fallback_must_exist_and_differ)
{
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\nfallback = d\n",
                 "<string>:5: [logger.a] fallback: no sink named 'd'");
    expect_error("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\nfallback = c\n",
                 "fallback: 'c' is also one of its sinks");
}

Test(config, nothing_is_started_when_invalid)
{
    /* the file sink is valid, the logger is not: the file must not appear */
    char *dir = tmpdir_make();
    char ini[512], path[300];
    snprintf(path, sizeof path, "%s/app.log", dir);
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\n[logger.a]\nsinks = f\nlevel = loud\n",
             path);
    free(start_ini_fails(ini));
    struct stat st;
    cr_assert_neq(stat(path, &st), 0, "a sink was opened despite the error");
    tmpdir_remove(dir);
}

Test(config, failing_sink_open_undoes_the_others)
{
    char *dir = tmpdir_make();
    char ini[512];
    snprintf(ini, sizeof ini,
             "[sink.good]\nplugin = file\npath = %s/good.log\n"
             "[sink.bad]\nplugin = file\npath = %s/missing/dir/bad.log\n"
             "[logger.a]\nsinks = good, bad\n",
             dir, dir);
    char *msg = start_ini_fails(ini);
    cr_assert(strstr(msg, "missing/dir"), "error should name the path: %s", msg);
    free(msg);
    tmpdir_remove(dir);
}

Test(config, missing_file_names_path)
{
    sluice_runtime *rt = NULL;
    sluice_error err;
    cr_assert_neq(sluice_open("/nonexistent/sluice.ini", &rt, &err), 0);
    cr_assert(strstr(err.message, "/nonexistent/sluice.ini: cannot open"), "%s",
              err.message);
}

Test(config, builder_api_says_what_the_ini_says)
{
    sluice_error err;
    sluice_builder *b = sluice_builder_new("host.c");
    cr_assert_eq(sluice_builder_add_sink_api(b, &capture_api, &err), 0);
    cr_assert_eq(sluice_builder_set(b, "sink.c", "plugin", "capture", 0, &err), 0);
    cr_assert_eq(sluice_builder_set(b, "logger.app", "sinks", "c", 0, &err), 0);
    cr_assert_eq(sluice_builder_set(b, "logger.app", "field.service", "billing", 0, &err), 0);
    sluice_runtime *rt;
    cr_assert_eq(sluice_builder_start(b, &rt, &err), 0, "%s", err.message);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    cr_assert_not_null(lg);
    cr_assert_null(sluice_logger_get(rt, "nope"));
    SLUICE_WARN(lg, "from %s", "code");
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(capture_count(), 1);
    cr_assert(strstr(capture_sink.lines[0], "WARN [app] from code service=billing"),
              "%s", capture_sink.lines[0]);
}

Test(config, builder_errors_name_source)
{
    sluice_error err;
    sluice_builder *b = sluice_builder_new("host.c");
    sluice_builder_set(b, "logger.app", "sinks", "c", 12, &err);
    sluice_runtime *rt;
    cr_assert_neq(sluice_builder_start(b, &rt, &err), 0);
    cr_assert(strstr(err.message, "host.c:12: [logger.app] sinks: no sink named 'c'"),
              "%s", err.message);
}
