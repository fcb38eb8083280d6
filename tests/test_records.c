/*
 * What a record looks like when it arrives: fields in text, JSON and
 * logfmt, escaping of hostile text, pre-hooks (reject, enrich), post-hooks,
 * a host scheduler for lanes, and SLUICE_ACTIVE_LEVEL.
 */
#include "helpers.h"

#include <sys/wait.h>

TestSuite(records, .init = init_capture, .fini = fini_capture, .timeout = 60);

void log_around_active_level(sluice_logger *lg);

static char *only_line(void)
{
    cr_assert_eq(capture_count(), 1, "expected one record, got %zu", capture_count());
    return capture_sink.lines[0];
}

static sluice_runtime *one(const char *format)
{
    char ini[512];
    snprintf(ini, sizeof ini,
             "[sink.c]\nplugin = capture\nformat = %s\n"
             "[logger.app]\nsinks = c\nlevel = trace\nfield.service = billing\n",
             format);
    return start_ini(ini);
}

Test(records, deferred_output_matches_snprintf)
{
    sluice_runtime *rt = one("text");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    const char *s = "str";
    SLUICE_INFO(lg, "[%5d|%-6s|%08.3f|%x|%lu|%c|%+.2e|%s]", -42, s, 3.14159, 255u,
                18446744073709551615ul, 'z', 12345.678, (const char *)NULL);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    char want[256];
    snprintf(want, sizeof want, "[%5d|%-6s|%08.3f|%x|%lu|%c|%+.2e|%s]", -42, s, 3.14159,
             255u, 18446744073709551615ul, 'z', 12345.678, "(null)");
    cr_assert(strstr(only_line(), want), "want %s in %s", want, only_line());
}

Test(records, text_has_fields_as_key_value_pairs)
{
    sluice_runtime *rt = one("text");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_WARN_KV(lg, SLUICE_KV({"user", "ann lee"}, {"order", "A-1"}), "paid %d", 30);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert(strstr(only_line(), "WARN [app] paid 30 service=billing user=\"ann lee\" order=A-1\n"),
              "%s", only_line());
}

Test(records, json_has_fields_as_members)
{
    sluice_runtime *rt = one("json");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO_KV(lg, SLUICE_KV({"user", "ann"}), "hello %s", "world");
    cr_assert_eq(sluice_close(rt, 5000), 0);
    const char *l = only_line();
    cr_assert(strstr(l, "\"level\":\"info\",\"logger\":\"app\",\"message\":\"hello world\""), "%s", l);
    cr_assert(strstr(l, "\"service\":\"billing\",\"user\":\"ann\"}\n"), "%s", l);
}

/* Python's json module is the judge of a valid document. */
static void assert_valid_json_lines(const char *text)
{
    char *dir = tmpdir_make();
    char path[512], cmd[1024];
    snprintf(path, sizeof path, "%s/lines.json", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys\n"
             "for l in open(sys.argv[1], encoding=\"utf-8\"): json.loads(l)' %s", path);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "not valid JSON lines:\n%s", text);
    tmpdir_remove(dir);
}

/* NULL when line is valid UTF-8 ending in its only '\n', with no C0, DEL,
 * C1 control, U+2028 or U+2029 in it; else what is wrong. */
static const char *unsafe_in_line(const char *line)
{
    const unsigned char *s = (const unsigned char *)line;
    size_t n = strlen(line);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '\n')
            return i == n - 1 ? NULL : "a newline before the end";
        if (c < 0x20 || c == 0x7f)
            return "a raw C0 control or DEL";
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c < 0xc2 || c > 0xf4 || i + len > n)
            return "invalid UTF-8";
        uint32_t cp = c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return "invalid UTF-8";
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return "invalid UTF-8";
        if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029)
            return "a raw C1 control, U+2028 or U+2029";
        i += len;
    }
    return "no newline at the end";
}

Test(records, hostile_text_cannot_break_a_line_or_a_json_document)
{
    static const char hostile[] = "a\nfake 2026 INFO [app] forged\r\t\"q\" \\ \x01\x7f \xff\xfe "
                                  "nel\xc2\x85" "csi\x9b[2J c1\xc2\x9b[2J ls\xe2\x80\xa8ps\xe2\x80\xa9 "
                                  "over\xc0\xaf sur\xed\xa0\x80 cut\xe2\x82 "
                                  "caf\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x98\x80 end";
    const char *formats[] = {"text", "json", "logfmt"};
    for (int i = 0; i < 3; i++) {
        capture_reset();
        sluice_runtime *rt = one(formats[i]);
        sluice_logger *lg = sluice_logger_get(rt, "app");
        SLUICE_INFO_KV(lg, SLUICE_KV({"k\n=\"\xc2\x85\xe2\x80\xa8\x9b", hostile}), "%s", hostile);
        sluice_log_str(lg, SLUICE_LEVEL_INFO, hostile, sizeof hostile - 1);
        cr_assert_eq(sluice_close(rt, 5000), 0);
        cr_assert_eq(capture_count(), 2);
        for (size_t k = 0; k < 2; k++) {
            const char *l = capture_sink.lines[k];
            const char *wrong = unsafe_in_line(l);
            cr_assert_null(wrong, "%s: %s in %s", formats[i], wrong, l);
            /* valid text passes through as it is */
            cr_assert(strstr(l, "caf\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x98\x80 end"), "%s: %s",
                      formats[i], l);
        }
        if (i == 1) {
            char both[8192];
            snprintf(both, sizeof both, "%s%s", capture_sink.lines[0], capture_sink.lines[1]);
            assert_valid_json_lines(both);
        }
    }
}

/* python3 reads the JSON line as an object d for which expr holds, and
 * finds no key in it twice. */
static void assert_json_holds(const char *line, const char *expr)
{
    char *dir = tmpdir_make();
    char path[512], script[512], cmd[1200];
    snprintf(path, sizeof path, "%s/line.json", dir);
    snprintf(script, sizeof script, "%s/check.py", dir);
    FILE *f = fopen(path, "w");
    fputs(line, f);
    fclose(f);
    f = fopen(script, "w");
    fprintf(f,
            "import json, sys\n"
            "pairs = json.loads(open(sys.argv[1], encoding='utf-8').read(),\n"
            "                   object_pairs_hook=lambda p: p)\n"
            "keys = [k for k, v in pairs]\n"
            "assert len(keys) == len(set(keys)), keys\n"
            "d = dict(pairs)\n"
            "assert %s, d\n",
            expr);
    fclose(f);
    snprintf(cmd, sizeof cmd, "python3 %s %s", script, path);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python3 says no to (%s) for:\n%s",
              expr, line);
    tmpdir_remove(dir);
}

Test(records, fields_cannot_forge_the_records_level_or_message)
{
    const char *formats[] = {"json", "logfmt"};
    for (int i = 0; i < 2; i++) {
        capture_reset();
        char ini[512];
        snprintf(ini, sizeof ini,
                 "[sink.c]\nplugin = capture\nformat = %s\n"
                 "[logger.app]\nsinks = c\nfield.message = base forged\nfield.time = 0\n",
                 formats[i]);
        sluice_runtime *rt = start_ini(ini);
        sluice_logger *lg = sluice_logger_get(rt, "app");
        SLUICE_INFO_KV(lg, SLUICE_KV({"level", "fatal"}, {"message", "forged message"},
                                     {"msg", "forged msg"}, {"logger", "root"}),
                       "real %s", "message");
        cr_assert_eq(sluice_close(rt, 5000), 0);
        const char *l = only_line();
        if (i == 0) {
            assert_json_holds(l, "d['level'] == 'info' and d['message'] == 'real message' and "
                                 "d['logger'] == 'app' and d['_level'] == 'fatal' and "
                                 "d['_message'] == 'forged message' and d['_time'] == '0' and "
                                 "d['_logger'] == 'root' and d['msg'] == 'forged msg'");
        } else {
            cr_assert(strstr(l, " level=info logger=app msg=\"real message\" "
                                "message=\"forged message\" _time=0 _level=fatal "
                                "_msg=\"forged msg\" _logger=root\n"),
                      "%s", l);
            cr_assert_eq(strncmp(l, "time=2", 6), 0, "%s", l);
        }
    }
}

Test(records, a_call_field_replaces_a_base_field_of_the_same_key)
{
    /* base fields first, then the call's: the later key wins, in the place
     * where the key first appeared */
    const char *formats[] = {"text", "logfmt", "json"};
    for (int i = 0; i < 3; i++) {
        capture_reset();
        char ini[512];
        snprintf(ini, sizeof ini,
                 "[sink.c]\nplugin = capture\nformat = %s\npattern = %%m%%f\n"
                 "[logger.app]\nsinks = c\nfield.service = billing\nfield.region = eu\n",
                 formats[i]);
        sluice_runtime *rt = start_ini(ini);
        sluice_logger *lg = sluice_logger_get(rt, "app");
        SLUICE_INFO_KV(lg, SLUICE_KV({"user", "ann"}, {"service", "payments"}, {"user", "bob"}),
                       "paid");
        cr_assert_eq(sluice_close(rt, 5000), 0);
        const char *l = only_line();
        if (i == 0)
            cr_assert_str_eq(l, "paid service=payments region=eu user=bob\n");
        else if (i == 1)
            cr_assert(strstr(l, " msg=paid service=payments region=eu user=bob\n"), "%s", l);
        else
            assert_json_holds(l, "d['service'] == 'payments' and d['region'] == 'eu' and "
                                 "d['user'] == 'bob' and list(d)[-3:] == "
                                 "['service', 'region', 'user']");
    }
}

static bool reject_debug(void *user, sluice_hook_record *r)
{
    atomic_fetch_add((atomic_int *)user, 1);
    return r->level != SLUICE_LEVEL_DEBUG;
}

static bool add_request_id(void *user, sluice_hook_record *r)
{
    (void)user;
    static _Thread_local char id[32];
    snprintf(id, sizeof id, "req-%d", 7);
    r->extra[r->extra_count++] = (sluice_kv){"request", id};
    return true;
}

Test(records, pre_hooks_reject_and_enrich_on_the_caller)
{
    sluice_runtime *rt = one("text");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    atomic_int calls = 0;
    sluice_error err;
    cr_assert_eq(sluice_logger_add_pre_hook(lg, reject_debug, &calls, &err), 0);
    cr_assert_eq(sluice_logger_add_pre_hook(lg, add_request_id, NULL, &err), 0);
    SLUICE_DEBUG(lg, "rejected %d", 1);
    SLUICE_INFO(lg, "kept %d", 2);
    SLUICE_INFO_KV(lg, SLUICE_KV({"user", "ann"}), "kept %d", 3);
    sluice_logger_flush(lg, 5000);
    sluice_logger_stats st;
    sluice_logger_stats_get(lg, &st);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(atomic_load(&calls), 3);
    cr_assert_eq(st.attempted, 3);
    cr_assert_eq(st.rejected, 1);
    cr_assert_eq(st.dropped, 1);
    cr_assert_eq(st.accepted, 2);
    cr_assert_eq(capture_count(), 2);
    cr_assert(strstr(capture_sink.lines[0], "kept 2 service=billing request=req-7\n"), "%s",
              capture_sink.lines[0]);
    cr_assert(strstr(capture_sink.lines[1], "kept 3 service=billing request=req-7 user=ann\n"),
              "%s", capture_sink.lines[1]);
}

static void redact(void *user, sluice_record *r)
{
    (void)user;
    if (r->message_len >= 8 && strncmp(r->message, "card=", 5) == 0) {
        r->message = "card=[redacted]";
        r->message_len = strlen(r->message);
    }
}

Test(records, post_hooks_run_on_the_worker_before_rendering)
{
    sluice_runtime *rt = one("json");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_error err;
    cr_assert_eq(sluice_logger_add_post_hook(lg, redact, NULL, &err), 0);
    SLUICE_INFO(lg, "card=%s", "4111111111111111");
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert(strstr(only_line(), "\"message\":\"card=[redacted]\""), "%s", only_line());
    cr_assert_null(strstr(only_line(), "4111111111111111"), "%s", only_line());
}

Test(records, too_many_hooks_is_an_error)
{
    sluice_runtime *rt = one("text");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_error err;
    for (int i = 0; i < SLUICE_HOOKS_MAX; i++)
        cr_assert_eq(sluice_logger_add_post_hook(lg, redact, NULL, &err), 0);
    cr_assert_neq(sluice_logger_add_post_hook(lg, redact, NULL, &err), 0);
    cr_assert(strstr(err.message, "at most 8 hooks"), "%s", err.message);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

static unsigned always_lane_one(void *user, uint64_t tid, sluice_level lvl, unsigned lanes)
{
    (void)user;
    (void)tid;
    (void)lvl;
    (void)lanes;
    return 1;
}

typedef struct hook_producer {
    sluice_logger *lg;
    int id;
} hook_producer;

static void *produce_with_fields(void *arg)
{
    hook_producer *p = arg;
    char id[16];
    snprintf(id, sizeof id, "%d", p->id);
    for (int i = 0; i < 3000; i++)
        SLUICE_INFO_KV(p->lg, SLUICE_KV({"thread", id}), "t=%d i=%d", p->id, i);
    return NULL;
}

Test(records, host_scheduler_picks_the_lane_and_threads_keep_order)
{
    sluice_runtime *rt = start_ini("[sink.c]\nplugin = capture\npattern = %m%f\n"
                                   "[logger.app]\nsinks = c\nworkers = 3\n");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_error err;
    cr_assert_eq(sluice_logger_set_scheduler(lg, always_lane_one, NULL, &err), 0);
    cr_assert_eq(sluice_logger_add_pre_hook(lg, add_request_id, NULL, &err), 0);
    pthread_t t[4];
    hook_producer p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = (hook_producer){lg, i};
        pthread_create(&t[i], NULL, produce_with_fields, &p[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(sluice_logger_flush(lg, 20000), 0);
    uint64_t per_lane[3];
    for (size_t i = 0; i < 3; i++) {
        sluice_binding_stats st;
        sluice_binding_stats_get(sluice_logger_binding(lg, i), &st);
        per_lane[st.lane] = st.written;
    }
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(per_lane[0], 0);
    cr_assert_eq(per_lane[1], 12000);
    cr_assert_eq(per_lane[2], 0);
    int last[4] = {-1, -1, -1, -1};
    for (size_t k = 0; k < capture_count(); k++) {
        int th, i, f;
        /* fields in order: the pre-hook's, then the call's */
        cr_assert_eq(sscanf(capture_sink.lines[k], "t=%d i=%d request=req-7 thread=%d",
                            &th, &i, &f), 3,
                     "%s", capture_sink.lines[k]);
        cr_assert_eq(th, f, "the call's field belongs to its record");
        cr_assert_gt(i, last[th]);
        last[th] = i;
    }
}

Test(records, active_level_removes_calls_at_compile_time)
{
    sluice_runtime *rt = one("text"); /* the logger itself is at trace */
    sluice_logger *lg = sluice_logger_get(rt, "app");
    log_around_active_level(lg);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert(strstr(only_line(), "kept 2"), "%s", only_line());
}

Test(records, levels_filter_and_change_at_run_time)
{
    sluice_runtime *rt = start_ini("[sink.c]\nplugin = capture\n[logger.app]\nsinks = c\nlevel = warn\n");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO(lg, "dropped by level");
    sluice_set_level(lg, SLUICE_LEVEL_DEBUG);
    cr_assert_eq(sluice_get_level(lg), SLUICE_LEVEL_DEBUG);
    SLUICE_DEBUG(lg, "shown");
    sluice_logger_stats st;
    sluice_logger_stats_get(lg, &st);
    cr_assert_eq(st.attempted, 1, "a call below the level is not even attempted");
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert(strstr(only_line(), "DEBUG [app] shown"), "%s", only_line());
}
