/*
 * What ABI 2 gives a plugin, seen from plugins registered by the host: the
 * typed option table (every type, its mistakes all reported with their
 * lines, defaults, paths resolved against the configuration's folder), a
 * check() that runs before open() and reports several mistakes, the host
 * services (render, JSON escaping, RFC 3339 time, paths), the default
 * format, and no rendered line for a sink that never reads it.
 */
#include "helpers.h"

#include <limits.h>
#include <sys/stat.h>

TestSuite(plugin_v2, .timeout = 60);

/* ---- a sink with every type of option --------------------------------- */

static const char *const mode_choices[] = {"fast", "safe", NULL};

static const sluice_option_spec typed_options[] = {
    {.name = "text", .type = SLUICE_OPTION_STRING, .default_value = "hi",
     .min = 1, .max = 8, .description = "a string"},
    {.name = "token", .type = SLUICE_OPTION_STRING,
     .flags = SLUICE_OPTION_TOKEN, .description = "a token"},
    {.name = "flag", .type = SLUICE_OPTION_BOOL, .default_value = "false",
     .description = "a bool"},
    {.name = "count", .type = SLUICE_OPTION_INT, .default_value = "3",
     .min = -5, .max = 100, .description = "an int"},
    {.name = "perm", .type = SLUICE_OPTION_INT, .default_value = "0600",
     .min = 0, .max = 07777, .flags = SLUICE_OPTION_OCTAL,
     .description = "an octal int"},
    {.name = "buffer", .type = SLUICE_OPTION_SIZE, .default_value = "64K",
     .min = 1, .max = 1LL << 30, .description = "a size"},
    {.name = "wait", .type = SLUICE_OPTION_DURATION, .default_value = "5s",
     .min = 1, .max = 3600000, .description = "a duration"},
    {.name = "mode", .type = SLUICE_OPTION_ENUM, .default_value = "safe",
     .choices = mode_choices, .description = "an enum"},
    {.name = "tags", .type = SLUICE_OPTION_LIST, .min = 1, .max = 3,
     .description = "a list"},
    {.name = "spool", .type = SLUICE_OPTION_PATH,
     .description = "a path"},
    {.name = "out", .type = SLUICE_OPTION_PATH,
     .flags = SLUICE_OPTION_WRITABLE_DIR, .description = "a file to write"},
    {.name = "server", .type = SLUICE_OPTION_HOST,
     .description = "a host"},
    {.name = "peer", .type = SLUICE_OPTION_HOSTPORT,
     .description = "a host:port"},
    {.name = "must", .type = SLUICE_OPTION_STRING,
     .flags = SLUICE_OPTION_REQUIRED, .description = "required"},
    {.name = "extra.*", .type = SLUICE_OPTION_STRING,
     .description = "passed through"},
    {0}};

/* What open() saw. */
static struct {
    int opened, checked;
    char text[16], token[64], mode[16], spool[PATH_MAX], out[PATH_MAX];
    char server[64], peer_host[64], tags[3][16], must[16];
    long long count, perm, buffer, wait, peer_port, ntags;
    int flag, mode_index, given_count, given_text;
    size_t extra;
    char resolved[PATH_MAX];
    const sluice_host *host;
} seen;

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "(null)");
}

static int typed_open(const sluice_options *o, void **state, sluice_error *e)
{
    (void)e;
    seen.opened++;
    copy(seen.text, sizeof seen.text, sluice_options_get_string(o, "text"));
    copy(seen.token, sizeof seen.token, sluice_options_get_string(o, "token"));
    copy(seen.mode, sizeof seen.mode, sluice_options_get_string(o, "mode"));
    copy(seen.spool, sizeof seen.spool, sluice_options_get_string(o, "spool"));
    copy(seen.out, sizeof seen.out, sluice_options_get_string(o, "out"));
    copy(seen.server, sizeof seen.server, sluice_options_get_string(o, "server"));
    copy(seen.peer_host, sizeof seen.peer_host,
         sluice_options_get_string(o, "peer"));
    copy(seen.must, sizeof seen.must, sluice_options_get_string(o, "must"));
    seen.count = sluice_options_get_int(o, "count");
    seen.perm = sluice_options_get_int(o, "perm");
    seen.buffer = sluice_options_get_int(o, "buffer");
    seen.wait = sluice_options_get_int(o, "wait");
    seen.peer_port = sluice_options_get_int(o, "peer");
    seen.flag = sluice_options_get_bool(o, "flag");
    seen.mode_index = sluice_options_get_enum(o, "mode");
    seen.given_count = sluice_options_given(o, "count");
    seen.given_text = sluice_options_given(o, "text");
    const char *const *items;
    seen.ntags = (long long)sluice_options_get_list(o, "tags", &items);
    for (long long i = 0; i < seen.ntags && i < 3; i++)
        copy(seen.tags[i], sizeof seen.tags[i], items[i]);
    seen.extra = 0;
    for (size_t i = 0; i < o->count; i++)
        seen.extra += strncmp(o->items[i].key, "extra.", 6) == 0;
    seen.host = o->host;
    o->host->resolve_path(o->host, "rel/file", seen.resolved,
                          sizeof seen.resolved);
    *state = &seen;
    return 0;
}

/* Two rules across options, each reported on its own. */
static int typed_check(const sluice_options *o, sluice_error *e)
{
    seen.checked++;
    int bad = 0;
    if (sluice_options_get_enum(o, "mode") == 0 && sluice_options_get_bool(o, "flag"))
        bad |= sluice_options_report(o, "flag", e, "cannot be set with mode = fast");
    if (sluice_options_get_int(o, "count") == 13)
        bad |= sluice_options_report(o, "count", e, "13 is unlucky");
    return bad ? -1 : 0;
}

static int ok_write(void *state, const sluice_record *const *batch, size_t n,
                    size_t *written, sluice_error *e)
{
    (void)state;
    (void)batch;
    (void)e;
    *written = n;
    return 0;
}

static void no_close(void *state) { (void)state; }

static const sluice_sink_api typed_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "typed",
    .description = "every type of option",
    .open = typed_open,
    .write = ok_write,
    .close = no_close,
    .check = typed_check,
    .options = typed_options,
};

/* A builder from INI text with these host sinks. */
static sluice_builder *builder_with(const char *ini, const sluice_sink_api *a,
                                    const sluice_sink_api *b)
{
    sluice_error err;
    sluice_builder *bd = sluice_config_load_string(ini, &err);
    cr_assert_not_null(bd, "%s", err.message);
    if (a)
        cr_assert_eq(sluice_builder_add_sink_api(bd, a, &err), 0, "%s", err.message);
    if (b)
        cr_assert_eq(sluice_builder_add_sink_api(bd, b, &err), 0, "%s", err.message);
    return bd;
}

/* `sluice check` of the text: the number of errors, joined in *all. */
static size_t check_text(const char *ini, const sluice_sink_api *a, char **all)
{
    sluice_builder *b = builder_with(ini, a, NULL);
    size_t n = sluice_builder_check_(b);
    size_t cap = 16384, used = 0;
    char *text = calloc(1, cap);
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used, "%s\n",
                                 sluice_builder_error_at_(b, i));
    sluice_builder_free(b);
    *all = text;
    return n;
}

static void expect_has(const char *all, const char *want)
{
    cr_assert(strstr(all, want), "missing '%s' in:\n%s", want, all);
}

Test(plugin_v2, every_type_parsed_and_handed_over_with_defaults)
{
    memset(&seen, 0, sizeof seen);
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[sink.t]\nplugin = typed\nmust = yes\ntoken = a@b\nflag = on\n"
             "count = -5\nperm = 0755\nbuffer = 10M\nwait = 250ms\nmode = SAFE\n"
             "tags = a , b,c\nspool = /var/spool/x\nout = %s/out.log\n"
             "server = [::1]\npeer = [2001:db8::1]:8080\nextra.one = 1\n"
             "extra.two = 2\n[logger.a]\nsinks = t\n", dir);
    sluice_runtime *rt = NULL;
    sluice_error err;
    cr_assert_eq(sluice_builder_start(builder_with(ini, &typed_api, NULL), &rt,
                                      &err), 0, "%s", err.message);
    cr_assert_eq(seen.opened, 1);
    cr_assert_eq(seen.checked, 1, "a version-2 check() runs before open()");
    cr_assert_str_eq(seen.text, "hi");
    cr_assert_eq(seen.given_text, 0);
    cr_assert_eq(seen.given_count, 1);
    cr_assert_str_eq(seen.token, "a@b");
    cr_assert_eq(seen.flag, 1);
    cr_assert_eq(seen.count, -5);
    cr_assert_eq(seen.perm, 0755);
    cr_assert_eq(seen.buffer, 10LL << 20);
    cr_assert_eq(seen.wait, 250);
    cr_assert_str_eq(seen.mode, "safe", "the word as the table spells it");
    cr_assert_eq(seen.mode_index, 1);
    cr_assert_eq(seen.ntags, 3);
    cr_assert_str_eq(seen.tags[0], "a");
    cr_assert_str_eq(seen.tags[1], "b");
    cr_assert_str_eq(seen.tags[2], "c");
    cr_assert_str_eq(seen.spool, "/var/spool/x");
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/out.log", dir);
    cr_assert_str_eq(seen.out, want);
    cr_assert_str_eq(seen.server, "::1");
    cr_assert_str_eq(seen.peer_host, "2001:db8::1");
    cr_assert_eq(seen.peer_port, 8080);
    cr_assert_str_eq(seen.must, "yes");
    cr_assert_eq(seen.extra, 2);
    cr_assert_str_eq(seen.resolved, "rel/file", "text has no folder");
    cr_assert_eq(sluice_close(rt, 1000), 0);
    tmpdir_remove(dir);
}

Test(plugin_v2, every_bad_value_is_reported_with_its_line_none_hiding_another)
{
    char *all;
    size_t n = check_text(
        "[sink.t]\n"              /* 1 */
        "plugin = typed\n"        /* 2 */
        "text = far too long\n"   /* 3 */
        "token = has space\n"     /* 4 */
        "flag = maybe\n"          /* 5 */
        "count = 010\n"           /* 6 */
        "perm = 0800\n"           /* 7 */
        "buffer = 2G\n"           /* 8 */
        "wait = 5 s\n"            /* 9 */
        "mode = turbo\n"          /* 10 */
        "tags = a,,b\n"           /* 11 */
        "spool =\n"               /* 12 */
        "out = /nonexistent-folder/x.log\n" /* 13 */
        "server = bad host!\n"    /* 14 */
        "peer = ::1:80\n"         /* 15 */
        "colour = red\n"          /* 16 */
        "[logger.a]\nsinks = t\n",
        &typed_api, &all);
    const char *want[] = {
        "<string>:3: sink 't': option 'text': 'far too long' is 12 bytes long; 1 to 8 are allowed",
        "<string>:4: sink 't': option 'token': 'has space' has a character not allowed here (position 4)",
        "<string>:5: sink 't': option 'flag': 'maybe' is not a boolean",
        "<string>:6: sink 't': option 'count': '010' is not a decimal integer: leading zeros are not allowed",
        "<string>:7: sink 't': option 'perm': '0800' is not an octal number",
        "<string>:8: sink 't': option 'buffer': 2G is out of range 1..1G",
        "<string>:9: sink 't': option 'wait': '5 s' is not a duration",
        "<string>:10: sink 't': option 'mode': 'turbo' is not one of fast, safe",
        "<string>:11: sink 't': option 'tags': item 2 of 'a,,b' is empty",
        "<string>:12: sink 't': option 'spool': the path is empty",
        "<string>:13: sink 't': option 'out': the folder '/nonexistent-folder' of '/nonexistent-folder/x.log' does not exist",
        "<string>:14: sink 't': option 'server': 'bad host!' is not a host name or an IP address",
        "<string>:15: sink 't': option 'peer': '::1:80': write an IPv6 address in brackets",
        "<string>:16: [sink.t]: unknown key 'colour' for plugin 'typed' (known: plugin, format, pattern, level, text, token,",
        "<string>:1: sink 't': option 'must': is required",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        expect_has(all, want[i]);
    cr_assert_eq(n, sizeof want / sizeof want[0], "%s", all);
    free(all);
}

Test(plugin_v2, integers_are_decimal_only)
{
    /* (the INI reader trims spaces around a value) */
    const char *bad[] = {"010", "0x10", "+5", "5 5", "1e3", "-0", "", "5.0",
                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char ini[256], *all;
        snprintf(ini, sizeof ini, "[sink.t]\nplugin = typed\nmust = x\n"
                 "count = %s\n[logger.a]\nsinks = t\n", bad[i]);
        cr_assert_eq(check_text(ini, &typed_api, &all), 1, "'%s' accepted",
                     bad[i]);
        expect_has(all, "<string>:4: sink 't': option 'count': ");
        free(all);
    }
    long long x;
    cr_assert_eq(sluice_int_parse("0", &x), 0);
    cr_assert_eq(sluice_int_parse("-9223372036854775808", &x), 0);
    cr_assert_eq(x, LLONG_MIN);
    cr_assert_eq(sluice_int_parse("9223372036854775807", &x), 0);
    cr_assert_eq(x, LLONG_MAX);
    cr_assert_neq(sluice_int_parse("9223372036854775808", &x), 0);
}

Test(plugin_v2, check_reports_every_rule_it_breaks_on_the_keys_lines)
{
    char *all;
    size_t n = check_text("[sink.t]\nplugin = typed\nmust = x\nmode = fast\n"
                          "flag = true\ncount = 13\n[logger.a]\nsinks = t\n",
                          &typed_api, &all);
    cr_assert_eq(n, 2, "%s", all);
    expect_has(all, "<string>:5: sink 't': option 'flag': cannot be set with mode = fast");
    expect_has(all, "<string>:6: sink 't': option 'count': 13 is unlucky");
    free(all);
}

Test(plugin_v2, check_runs_before_open_and_a_refusal_opens_nothing)
{
    memset(&seen, 0, sizeof seen);
    sluice_runtime *rt = NULL;
    sluice_error err;
    cr_assert_neq(sluice_builder_start(
                      builder_with("[sink.t]\nplugin = typed\nmust = x\n"
                                   "count = 13\n[logger.a]\nsinks = t\n",
                                   &typed_api, NULL),
                      &rt, &err),
                  0);
    cr_assert(strstr(err.message, "<string>:4: sink 't': option 'count': 13 is unlucky"),
              "%s", err.message);
    cr_assert_eq(seen.checked, 1);
    cr_assert_eq(seen.opened, 0);
}

Test(plugin_v2, a_bad_table_is_refused_when_registered)
{
    static const char *const none[] = {NULL};
    static const sluice_option_spec bad_tables[][3] = {
        {{.name = "a", .type = SLUICE_OPTION_INT, .default_value = "010"}, {0}},
        {{.name = "a", .type = SLUICE_OPTION_ENUM, .choices = none}, {0}},
        {{.name = "a", .type = SLUICE_OPTION_STRING}, {.name = "a", .type = SLUICE_OPTION_STRING}, {0}},
        {{.name = "a", .type = (sluice_option_type)99}, {0}},
        {{.name = "a", .type = SLUICE_OPTION_STRING, .default_value = "x",
          .flags = SLUICE_OPTION_REQUIRED}, {0}},
        {{.name = "a", .type = SLUICE_OPTION_BOOL, .flags = SLUICE_OPTION_OCTAL}, {0}},
    };
    const char *why[] = {"option 'a': the default: '010' is not a decimal integer",
                         "option 'a': an enum without choices",
                         "option 'a' is declared twice", "option 'a': unknown type 99",
                         "option 'a': required, yet it has a default",
                         "option 'a': a flag that its type bool does not take"};
    for (size_t i = 0; i < sizeof why / sizeof why[0]; i++) {
        sluice_sink_api api = typed_api;
        api.options = bad_tables[i];
        sluice_builder *b = sluice_builder_new("host.c");
        sluice_error err;
        cr_assert_neq(sluice_builder_add_sink_api(b, &api, &err), 0, "%s", why[i]);
        cr_assert(strstr(err.message, "<host sink>: plugin 'typed': ") &&
                      strstr(err.message, why[i]),
                  "%s", err.message);
        sluice_builder_free(b);
    }
}

Test(plugin_v2, paths_resolve_against_the_configuration_folder)
{
    memset(&seen, 0, sizeof seen);
    char *dir = tmpdir_make();
    char conf[512], ini[1024];
    snprintf(conf, sizeof conf, "%s/app.ini", dir);
    /* the file sink's path, a plugin's own PATH option and its host's
     * resolve_path alike */
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = file\npath = logs/app.log\npattern = %%m\n"
             "[sink.t]\nplugin = typed\nmust = x\nout = logs/t.log\n"
             "spool = /abs/spool\n[logger.a]\nsinks = f, t\n");
    write_text(conf, ini);
    char logs[600];
    snprintf(logs, sizeof logs, "%s/logs", dir);
    cr_assert_eq(mkdir(logs, 0755), 0);
    cr_assert_eq(chdir("/"), 0, "run from elsewhere");
    sluice_error err;
    sluice_builder *b = sluice_config_load_file(conf, &err);
    cr_assert_not_null(b, "%s", err.message);
    cr_assert_eq(sluice_builder_add_sink_api(b, &typed_api, &err), 0);
    sluice_runtime *rt = NULL;
    cr_assert_eq(sluice_builder_start(b, &rt, &err), 0, "%s", err.message);
    char want[700];
    snprintf(want, sizeof want, "%s/logs/t.log", dir);
    cr_assert_str_eq(seen.out, want);
    cr_assert_str_eq(seen.spool, "/abs/spool");
    snprintf(want, sizeof want, "%s/rel/file", dir);
    cr_assert_str_eq(seen.resolved, want);
    sluice_logger *lg = sluice_logger_get(rt, "a");
    SLUICE_INFO(lg, "into %s", "logs/app.log");
    cr_assert_eq(sluice_close(rt, 2000), 0);
    char log[700];
    snprintf(log, sizeof log, "%s/logs/app.log", dir);
    char *text = read_file(log, NULL);
    cr_assert_str_eq(text, "into logs/app.log\n");
    free(text);
    tmpdir_remove(dir);
}

/* ---- lines, formats and host services ------------------------------------ */

#define SEEN_MAX 64
typedef struct seen_lines {
    size_t n;
    int line_null[SEEN_MAX];
    size_t line_len[SEEN_MAX];
    char first[512];
    char render_json[1024], render_text[1024], render_logfmt[1024];
    size_t render_len;
    char escaped[256];
    size_t escaped_len;
    char time[64];
    size_t time_len;
    char small[8];
    size_t small_len;
} seen_lines;
static seen_lines lined, bare;

static const sluice_host *bare_host;

static int keep_open(const sluice_options *o, void **state, sluice_error *e)
{
    (void)e;
    if (strcmp(o->sink_name, "bare") == 0)
        bare_host = o->host;
    *state = strcmp(o->sink_name, "bare") == 0 ? (void *)&bare : (void *)&lined;
    return 0;
}

static int keep_write(void *state, const sluice_record *const *batch,
                      size_t n, size_t *written, sluice_error *e)
{
    (void)e;
    seen_lines *k = state;
    for (size_t i = 0; i < n && k->n < SEEN_MAX; i++, k->n++) {
        k->line_null[k->n] = batch[i]->line == NULL;
        k->line_len[k->n] = batch[i]->line_len;
        if (k->n == 0 && batch[i]->line)
            snprintf(k->first, sizeof k->first, "%.*s",
                     (int)batch[i]->line_len, batch[i]->line);
        if (k->n == 0 && k == &bare) {
            const sluice_host *h = bare_host;
            k->render_len = h->render(h, batch[i], SLUICE_LINE_JSON,
                                      k->render_json, sizeof k->render_json);
            h->render(h, batch[i], SLUICE_LINE_TEXT, k->render_text,
                      sizeof k->render_text);
            h->render(h, batch[i], SLUICE_LINE_LOGFMT, k->render_logfmt,
                      sizeof k->render_logfmt);
            static const char hostile[] = "a\"b\\c\nd\x01\xff";
            k->escaped_len = h->escape_json(hostile, sizeof hostile - 1,
                                            k->escaped, sizeof k->escaped);
            k->time_len = h->format_time(1000001000LL, k->time, sizeof k->time);
            k->small_len = h->format_time(0, k->small, sizeof k->small);
        }
    }
    *written = n;
    return 0;
}

static const sluice_sink_api bare_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "bare",
    .open = keep_open,
    .write = keep_write,
    .close = no_close,
    .flags = SLUICE_SINK_NO_LINE,
};

static const sluice_sink_api lined_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "lined",
    .open = keep_open,
    .write = keep_write,
    .close = no_close,
    .default_format = SLUICE_LINE_JSON,
};

static void run_two(const char *lined_extra)
{
    memset(&lined, 0, sizeof lined);
    memset(&bare, 0, sizeof bare);
    char ini[512];
    snprintf(ini, sizeof ini,
             "[sink.bare]\nplugin = bare\n[sink.lined]\nplugin = lined\n%s"
             "[logger.a]\nsinks = bare, lined\n", lined_extra);
    sluice_runtime *rt = NULL;
    sluice_error err;
    cr_assert_eq(sluice_builder_start(builder_with(ini, &bare_api, &lined_api),
                                      &rt, &err), 0, "%s", err.message);
    sluice_logger *lg = sluice_logger_get(rt, "a");
    for (int i = 0; i < 10; i++)
        SLUICE_INFO(lg, "record %d", i);
    cr_assert_eq(sluice_close(rt, 2000), 0);
    cr_assert_eq(bare.n, 10);
    cr_assert_eq(lined.n, 10);
}

Test(plugin_v2, a_sink_that_never_reads_line_gets_none_the_others_do)
{
    run_two("");
    for (size_t i = 0; i < 10; i++) {
        cr_assert(bare.line_null[i] && bare.line_len[i] == 0, "record %zu", i);
        cr_assert(!lined.line_null[i] && lined.line_len[i] > 0, "record %zu", i);
    }
}

Test(plugin_v2, a_declared_default_format_applies_unless_the_section_says_otherwise)
{
    run_two("");
    cr_assert(strncmp(lined.first, "{\"time\":\"", 9) == 0, "%s", lined.first);
    cr_assert(strstr(lined.first, "\"message\":\"record 0\""), "%s", lined.first);
    run_two("format = logfmt\n");
    cr_assert(strncmp(lined.first, "time=", 5) == 0, "%s", lined.first);
    char *all;
    sluice_builder *b = builder_with("[sink.bare]\nplugin = bare\nformat = json\n"
                                     "[logger.a]\nsinks = bare\n",
                                     &bare_api, NULL);
    cr_assert_eq(sluice_builder_check_(b), 1);
    all = strdup(sluice_builder_error_at_(b, 0));
    sluice_builder_free(b);
    expect_has(all, "<string>:3: [sink.bare] format: plugin 'bare' builds its "
                    "own messages and never reads the rendered line");
    free(all);
}

Test(plugin_v2, host_services_render_escape_time_as_the_runtime_does)
{
    run_two("");
    cr_assert_eq(bare.render_len, strlen(bare.render_json));
    cr_assert(strncmp(bare.render_json, "{\"time\":\"", 9) == 0 &&
                  strstr(bare.render_json, "\"message\":\"record 0\"") &&
                  bare.render_json[bare.render_len - 1] == '\n',
              "%s", bare.render_json);
    cr_assert(strstr(bare.render_text, " INFO [a] record 0\n"), "%s",
              bare.render_text);
    cr_assert(strncmp(bare.render_logfmt, "time=", 5) == 0 &&
                  strstr(bare.render_logfmt, " msg=\"record 0\"\n"),
              "%s", bare.render_logfmt);
    cr_assert_str_eq(bare.escaped, "a\\\"b\\\\c\\nd\\u0001\\ufffd");
    cr_assert_eq(bare.escaped_len, strlen(bare.escaped));
    cr_assert_str_eq(bare.time, "1970-01-01T00:00:01.000001Z");
    cr_assert_eq(bare.time_len, 27);
    /* snprintf's contract: cut, NUL-terminated, the whole length returned */
    cr_assert_str_eq(bare.small, "1970-01");
    cr_assert_eq(bare.small_len, 27);
}
