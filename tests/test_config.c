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
    expect_error("[sink.c]\nplugin = capture\n\n[logger.a]\nsinks = c\nqueue_length = 4\n",
                 "<string>:6: [logger.a]: unknown key 'queue_length'");
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

/* The record's line with pattern %m%f: the message, then " key=value"s. */
static char *logged_line(const char *ini)
{
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "a");
    cr_assert_not_null(lg);
    SLUICE_INFO(lg, "hi");
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(capture_count(), 1);
    return strdup(capture_sink.lines[0]);
}

Test(config, a_path_longer_than_inih_lines_is_read_exactly)
{
    /* Debian's inih reads at most 197 characters a line: this one has
     * about 300, and the file must appear at exactly this path. */
    char *dir = tmpdir_make();
    char path[512];
    int n = snprintf(path, sizeof path, "%s/", dir);
    for (int i = 0; i < 250; i++)
        path[n++] = (char)('a' + i % 26);
    path[n] = '\0';
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = %s\n[logger.a]\nsinks = f\n", path);
    cr_assert_gt(strlen(strchr(strstr(ini, "path ="), '/')), 250);
    sluice_runtime *rt = start_ini(ini);
    SLUICE_INFO(sluice_logger_get(rt, "a"), "long path %d", 1);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    char *text = read_file(path, NULL);
    cr_assert_not_null(text, "no file at %s", path);
    cr_assert(strstr(text, "long path 1"), "file %s has: %s", path, text);
    free(text);
    tmpdir_remove(dir);
}

Test(config, a_64_kib_value_and_a_long_key_are_read_exactly)
{
    size_t value_len = 65536, key_len = 1000;
    char *value = malloc(value_len + 1);
    for (size_t i = 0; i < value_len; i++)
        value[i] = "abc;d:e,f/0123456789"[i % 20]; /* ';' and ':' inside */
    value[value_len] = '\0';
    char *key = malloc(key_len + 1);
    for (size_t i = 0; i < key_len; i++)
        key[i] = (char)('k' + i % 3);
    key[key_len] = '\0';
    size_t size = value_len + key_len + 256;
    char *ini = malloc(size);
    snprintf(ini, size,
             "[sink.c]\nplugin = capture\npattern = %%m%%f\n[logger.a]\n"
             "sinks = c\nfield.%s = %s\nfield.after = yes\n",
             key, value);
    char *line = logged_line(ini);
    char *want = malloc(size);
    snprintf(want, size, "hi %s=%s after=yes\n", key, value);
    cr_assert(strcmp(line, want) == 0, "the value or the key was not read exactly "
              "(%zu bytes read, %zu expected)", strlen(line), strlen(want));
    free(want);
    free(line);
    free(ini);
    free(key);
    free(value);
}

Test(config, a_100_character_section_name_works)
{
    char sink[128], logger[128];
    int n = snprintf(sink, sizeof sink, "s");
    for (; n < 95; n++)
        sink[n] = (char)('a' + n % 26);
    sink[n] = '\0';
    n = snprintf(logger, sizeof logger, "l");
    for (; n < 93; n++)
        logger[n] = (char)('a' + n % 26);
    logger[n] = '\0';
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[sink.%s]\nplugin = capture\npattern = %%n %%m\n"
             "[logger.%s]\nsinks = %s\n",
             sink, logger, sink);
    cr_assert_eq(strlen("[sink.") + strlen(sink) + 1, 102);
    cr_assert_eq(strlen("[logger.") + strlen(logger) + 1, 102);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, logger);
    cr_assert_not_null(lg, "no logger named by its whole 100-character header");
    SLUICE_INFO(lg, "found");
    cr_assert_eq(sluice_close(rt, 5000), 0);
    char want[256];
    snprintf(want, sizeof want, "%s found\n", logger);
    cr_assert_eq(capture_count(), 1);
    cr_assert_str_eq(capture_sink.lines[0], want);
}

/* The path of plugin NAME.so on SLUICE_PLUGIN_PATH, or NULL. */
static char *find_plugin(const char *name)
{
    const char *path = getenv("SLUICE_PLUGIN_PATH");
    if (!path)
        return NULL;
    char *copy = strdup(path), *save = NULL;
    char *found = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char candidate[4096];
        snprintf(candidate, sizeof candidate, "%s/%s.so", dir, name);
        struct stat st;
        if (stat(candidate, &st) == 0)
            found = strdup(candidate);
    }
    free(copy);
    return found;
}

Test(config, a_300_character_broker_list_checks)
{
    /* The case that used to fail: five brokers, then keys that were
     * reported missing because the long line stopped the parse. */
    char *kafka = find_plugin("kafka");
    if (!kafka)
        cr_skip_test("the kafka plugin was not built");
    free(kafka);
    char brokers[400] = "";
    for (int i = 0; i < 5; i++) {
        char one[80];
        snprintf(one, sizeof one, "%sbroker-%d.kafka.eu-west-1.internal.example.org:9092",
                 i ? "," : "", i);
        strcat(brokers, one);
    }
    while (strlen(brokers) < 300)
        strcat(brokers, ",b:1");
    char *dir = tmpdir_make();
    char conf[600], ini[1024];
    snprintf(conf, sizeof conf, "%s/kafka.ini", dir);
    snprintf(ini, sizeof ini,
             "[sink.k]\nplugin = kafka\nbrokers = %s\ntopic = events\n"
             "[logger.a]\nsinks = k\n",
             brokers);
    write_text(conf, ini);
    char *out;
    int rc = sh(&out, "%s check -c %s", cli(), conf);
    cr_assert_eq(rc, 0, "sluice check refused a valid file:\n%s", out);
    free(out);
    tmpdir_remove(dir);
}

/* The error text of a file that fails, loaded from a real file. */
static char *file_errors(const char *dir, const char *text, size_t len,
                         char *path, size_t path_size)
{
    snprintf(path, path_size, "%s/app.ini", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    sluice_error err;
    sluice_builder *b = sluice_config_load_file(path, &err);
    cr_assert_not_null(b, "%s", err.message);
    sluice_builder_add_sink_api(b, &capture_api, &err);
    sluice_runtime *rt = NULL;
    cr_assert_neq(sluice_builder_start(b, &rt, &err), 0, "start should have failed");
    return strdup(err.message);
}

Test(config, one_bad_line_gives_one_error_and_the_rest_is_read)
{
    /* Each bad line is alone in a file whose other lines are all fine:
     * exactly one error comes out, naming that line. */
    static const struct {
        const char *line;
        const char *message;
    } bad[] = {
        {"this line has no equals", "cannot parse this line"},
        {"  level = info", "line starts with white space"},
        {"= orphan", "missing key before '='"},
    };
    char *dir = tmpdir_make();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char ini[512], path[600], want[800];
        int len = snprintf(ini, sizeof ini,
                           "[sink.c]\nplugin = capture\n%s\nformat = json\n"
                           "[logger.a]\nsinks = c\nlevel = warn\n",
                           bad[i].line);
        char *msg = file_errors(dir, ini, (size_t)len, path, sizeof path);
        snprintf(want, sizeof want, "%s:3: %s", path, bad[i].message);
        cr_assert(strncmp(msg, want, strlen(want)) == 0, "want '%s...', got:\n%s", want, msg);
        cr_assert_null(strchr(msg, '\n'), "more than one error:\n%s", msg);
        free(msg);
    }
    /* a NUL byte in line 3 (only a file can hold one) */
    static const char nul[] = "[sink.c]\nplugin = capture\nformat = j\0son\n"
                              "[logger.a]\nsinks = c\n";
    char path[600], want[700];
    char *msg = file_errors(dir, nul, sizeof nul - 1, path, sizeof path);
    snprintf(want, sizeof want, "%s:3: line contains a NUL byte", path);
    cr_assert_str_eq(msg, want);
    free(msg);
    tmpdir_remove(dir);
}

Test(config, a_broken_section_header_does_not_orphan_its_keys)
{
    /* "[logger.a" lacks its ']': one error, and its keys still belong to
     * it (no "no [logger.NAME] section", no "key outside any section");
     * the keys under a header that names nothing are skipped; text after
     * ']' is an error, and the section is still the one named. */
    char *msg = start_ini_fails("[sink.c]\nplugin = capture\n[logger.a\nsinks = c\n");
    cr_assert_str_eq(msg, "<string>:3: missing ']' after the section name");
    free(msg);
    msg = start_ini_fails("[\nx = 1\n[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\n");
    cr_assert_str_eq(msg, "<string>:1: missing ']' after the section name");
    free(msg);
    msg = start_ini_fails("[sink.c] trailing words\nplugin = capture\n[logger.a]\nsinks = c\n");
    cr_assert_str_eq(msg, "<string>:1: unexpected text after ']' (only a comment "
                          "starting with ; or # may follow)");
    free(msg);
}

Test(config, every_bad_line_is_reported_with_its_line)
{
    static const char *const want[] = {
        "<string>:3: cannot parse this line",
        "<string>:4: line starts with white space",
        "<string>:5: missing ']' after the section name",
        "<string>:7: missing key before '='",
        "<string>:8: [logger.a] level: 'loud'",
    };
    char *msg = start_ini_fails("[sink.c]\nplugin = capture\nno equals here\n"
                                "  indented = 1\n[logger.a\nsinks = c\n= x\n"
                                "level = loud\n");
    size_t count = 0;
    char *save = NULL;
    for (char *line = strtok_r(msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cr_assert_lt(count, sizeof want / sizeof want[0], "an error too many: %s", line);
        cr_assert(strncmp(line, want[count], strlen(want[count])) == 0,
                  "error %zu: want '%s...', got '%s'", count + 1, want[count], line);
        count++;
    }
    cr_assert_eq(count, sizeof want / sizeof want[0]);
    free(msg);
}

Test(config, comments_separators_and_line_ends_read_as_inih_reads_them)
{
    /* a BOM, CRLF line ends, both comment characters, inline comments
     * (';' after white space only), ':' as separator, empty values */
    char *line = logged_line("\xef\xbb\xbf; comment\r\n# comment\r\n"
                             "[sink.c] ; the sink\r\nplugin = capture\r\n"
                             "pattern = %m%f   ; inline comment\r\n"
                             "[logger.a]\r\nsinks = c\r\n"
                             "field.a = x ; comment\r\n"
                             "field.b = x;y\r\n"
                             "field.c: z=1\r\n"
                             "field.d =\r\n"
                             "field.e = ;comment only\r\n"
                             "field.f =;kept\r\n"
                             "field.g = # kept\r\n"
                             "field.h=tight\r\n"
                             "field.i = fin \xc3\xa0");
    cr_assert_str_eq(line, "hi a=x b=x;y c=\"z=1\" d=\"\" e=\"\" f=;kept g=\"# kept\" "
                           "h=tight i=\"fin \xc3\xa0\"\n");
    free(line);
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
