/*
 * What becomes of each record, sink by sink: a record a sink rejects for
 * good is counted, handed to the logger's dead letter, and holds nothing
 * up; post-hooks run once per record and every sink gets their result;
 * a sink's level keeps the records below it out of that sink, and out of
 * the room it holds; the counters of every binding add up exactly.
 */
#include "helpers.h"

TestSuite(outcome, .init = init_capture, .fini = fini_capture, .timeout = 240);

static sluice_binding_stats binding_stats(sluice_logger *lg, size_t i)
{
    sluice_binding_stats st;
    cr_assert_eq(sluice_binding_stats_get(sluice_logger_binding(lg, i), &st), 0);
    return st;
}

/* Every binding's counters add up to what the logger accepted. */
static void assert_accounted(sluice_logger *lg)
{
    sluice_logger_stats ls;
    cr_assert_eq(sluice_logger_stats_get(lg, &ls), 0);
    for (size_t i = 0; i < ls.binding_count; i++) {
        sluice_binding_stats st = binding_stats(lg, i);
        uint64_t sum = st.written + st.rejected + st.filtered + st.evicted +
                       st.pending + st.diverted;
        cr_assert_eq(sum, ls.accepted,
                     "sink %s: written %llu + rejected %llu + filtered %llu + "
                     "evicted %llu + pending %llu + diverted %llu != accepted %llu",
                     st.sink, (unsigned long long)st.written,
                     (unsigned long long)st.rejected, (unsigned long long)st.filtered,
                     (unsigned long long)st.evicted, (unsigned long long)st.pending,
                     (unsigned long long)st.diverted, (unsigned long long)ls.accepted);
    }
}

/* seen[K]++ for each line of text that starts with "n=K"; the lines. */
static size_t tally(const char *text, unsigned char *seen, int max)
{
    size_t lines = 0;
    for (const char *p = text; *p;) {
        int k = -1;
        cr_assert_eq(sscanf(p, "n=%d", &k), 1, "bad line: %.80s", p);
        cr_assert(k >= 0 && k < max, "bad record number %d", k);
        if (seen[k] < 255)
            seen[k]++;
        lines++;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    return lines;
}

static char *file_in(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return read_file(path, NULL);
}

/* ---- rejected records ---------------------------------------------------- */

#define REJECT_RECORDS 100000

Test(outcome, every_hundredth_of_100000_rejected_goes_to_the_dead_letter_only)
{
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[sink.f]\nplugin = fault\npath = %s/f.log\nreject_every = 100\n"
             "pattern = %%m\n"
             "[sink.dl]\nplugin = fault\npath = %s/dl.log\npattern = %%m%%f\n"
             "[logger.app]\nsinks = f\ndead_letter = dl\n",
             dir, dir);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 0; i < REJECT_RECORDS; i++)
        SLUICE_INFO(lg, "n=%d", i);
    cr_assert_eq(sluice_logger_flush(lg, 120000), 0);
    assert_accounted(lg);
    sluice_binding_stats st = binding_stats(lg, 0);
    cr_assert_eq(st.written, 99000);
    cr_assert_eq(st.rejected, 1000);
    cr_assert_eq(st.dead_lettered, 1000);
    cr_assert_eq(st.pending, 0);
    cr_assert_eq(st.evicted, 0);
    cr_assert_eq(st.diverted, 0);
    cr_assert_eq(st.failures, 0, "a rejection is not a failure");
    cr_assert_eq(st.given_up, 0);
    cr_assert_not(st.has_failed);
    cr_assert_eq(sluice_close(rt, 10000), 0, "nothing is left undelivered");

    unsigned char *seen = calloc(REJECT_RECORDS, 1);
    char *text = file_in(dir, "f.log");
    cr_assert_eq(tally(text, seen, REJECT_RECORDS), 99000);
    free(text);
    for (int i = 0; i < REJECT_RECORDS; i++)
        cr_assert_eq(seen[i], (i + 1) % 100 == 0 ? 0 : 1,
                     "record %d written %d times", i, seen[i]);
    memset(seen, 0, REJECT_RECORDS);
    text = file_in(dir, "dl.log");
    cr_assert_eq(tally(text, seen, REJECT_RECORDS), 1000);
    for (int i = 0; i < REJECT_RECORDS; i++)
        cr_assert_eq(seen[i], (i + 1) % 100 == 0 ? 1 : 0,
                     "record %d in the dead letter %d times", i, seen[i]);
    /* each with the sink that refused it and why */
    char want[200];
    snprintf(want, sizeof want,
             "n=99999 sluice.reject_sink=f sluice.reject_reason=\"fault: "
             "scripted rejection of record 100000\"\n");
    cr_assert(strstr(text, want), "no '%s' in the dead letter", want);
    free(text);
    free(seen);
    tmpdir_remove(dir);
}

Test(outcome, rejections_between_failures_and_retries_stay_exact)
{
    enum { RECORDS = 20000 };
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[runtime]\nrestart_backoff_ms = 1..2\nrestart_intensity = unlimited\n"
             "[sink.f]\nplugin = fault\npath = %s/f.log\nreject_every = 100\n"
             "fail_every = 5\npartial = honest\npattern = %%m\n"
             "[logger.app]\nsinks = f\n",
             dir);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 0; i < RECORDS; i++)
        SLUICE_INFO(lg, "n=%d", i);
    cr_assert_eq(sluice_logger_flush(lg, 120000), 0);
    assert_accounted(lg);
    sluice_binding_stats st = binding_stats(lg, 0);
    cr_assert_eq(st.written, RECORDS - RECORDS / 100);
    cr_assert_eq(st.rejected, RECORDS / 100);
    cr_assert_eq(st.dead_lettered, 0, "no dead letter here");
    cr_assert_gt(st.failures, 0, "the sink did fail meanwhile");
    cr_assert_eq(st.given_up, 0);
    cr_assert_eq(sluice_close(rt, 10000), 0);
    unsigned char *seen = calloc(RECORDS, 1);
    char *text = file_in(dir, "f.log");
    cr_assert_eq(tally(text, seen, RECORDS), RECORDS - RECORDS / 100);
    for (int i = 0; i < RECORDS; i++)
        cr_assert_eq(seen[i], (i + 1) % 100 == 0 ? 0 : 1,
                     "record %d written %d times", i, seen[i]);
    free(text);
    free(seen);
    tmpdir_remove(dir);
}

/* A sink that, on its first write, rejects the batch's last record but
 * reports done only the ones before it, and fails: that rejection is
 * forgotten and the record offered again. */
static const sluice_host *picky_host;
static atomic_int picky_writes;
static char picky_got[64][32];
static atomic_int picky_count;

static int picky_open(const sluice_options *o, void **state, sluice_error *e)
{
    (void)e;
    picky_host = o->host;
    *state = NULL;
    return 0;
}

static int picky_write(void *state, const sluice_record *const *batch, size_t n,
                       size_t *written, sluice_error *e)
{
    (void)state;
    if (atomic_fetch_add(&picky_writes, 1) == 0) {
        cr_assert_eq(sluice_record_reject(picky_host, n - 1, "too %s", "picky"), 0);
        *written = n - 1;
        for (size_t i = 0; i + 1 < n; i++)
            snprintf(picky_got[atomic_fetch_add(&picky_count, 1)], 32, "%.*s",
                     (int)batch[i]->message_len, batch[i]->message);
        return sluice_error_set(e, "picky: failed after the rejection");
    }
    for (size_t i = 0; i < n; i++)
        snprintf(picky_got[atomic_fetch_add(&picky_count, 1)], 32, "%.*s",
                 (int)batch[i]->message_len, batch[i]->message);
    *written = n;
    return 0;
}

static void picky_close(void *state) { (void)state; }

static void *run_binding(void *arg)
{
    sluice_error e;
    return (void *)(intptr_t)sluice_binding_run(arg, &e);
}

static const sluice_option_spec no_options[] = {{0}};
static const sluice_sink_api picky_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "picky",
    .open = picky_open,
    .write = picky_write,
    .close = picky_close,
    .options = no_options,
};

Test(outcome, a_rejection_past_what_the_sink_reported_done_is_forgotten)
{
    sluice_error err;
    sluice_builder *b = sluice_config_load_string(
        "[runtime]\nrestart_backoff_ms = 1..2\n"
        "[sink.p]\nplugin = picky\n[logger.app]\nsinks = p\nautostart = false\n",
        &err);
    cr_assert_not_null(b, "%s", err.message);
    cr_assert_eq(sluice_builder_add_sink_api(b, &picky_api, &err), 0, "%s", err.message);
    sluice_runtime *rt;
    cr_assert_eq(sluice_builder_start(b, &rt, &err), 0, "%s", err.message);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 0; i < 10; i++)
        SLUICE_INFO(lg, "r%d", i);
    sluice_binding *bd = sluice_logger_binding(lg, 0);
    cr_assert_neq(sluice_binding_run(bd, &err), 0, "the first write fails");
    sluice_binding_stats st = binding_stats(lg, 0);
    cr_assert_eq(st.rejected, 0, "the rejected record was not reported done");
    cr_assert_eq(st.written, 9);
    cr_assert_eq(st.pending, 1);
    /* the next run offers it again, and close ends that run */
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, run_binding, bd), 0);
    for (int waited = 0; atomic_load(&picky_count) < 10 && waited < 20000; waited++)
        usleep(1000);
    cr_assert_eq(sluice_close(rt, 10000), 0);
    void *ret;
    pthread_join(t, &ret);
    cr_assert_eq((intptr_t)ret, 0);
    st = binding_stats(lg, 0); /* as close left them */
    cr_assert_eq(st.written, 10);
    cr_assert_eq(st.rejected, 0);
    cr_assert_eq(atomic_load(&picky_count), 10);
    for (int i = 0; i < 10; i++) {
        char want[8];
        snprintf(want, sizeof want, "r%d", i);
        cr_assert_str_eq(picky_got[i], want);
    }
}

Test(outcome, dead_letter_must_name_a_sink_that_is_not_one_of_the_loggers)
{
    char *msg = start_ini_fails("[sink.c]\nplugin = capture\n"
                                "[logger.app]\nsinks = c\ndead_letter = nosuch\n");
    cr_assert(strstr(msg, "<string>:5: [logger.app] dead_letter: no sink named 'nosuch'"),
              "%s", msg);
    free(msg);
    msg = start_ini_fails("[sink.c]\nplugin = capture\n"
                          "[logger.app]\nsinks = c\ndead_letter = c\n");
    cr_assert(strstr(msg, "<string>:5: [logger.app] dead_letter: 'c' is also one of its sinks"),
              "%s", msg);
    free(msg);
}

/* ---- one record, the same in every sink ----------------------------------- */

static atomic_int hook_calls;

/* Numbers each record (field seq) and rewrites its message: what it points
 * the record at lives in thread-local buffers until its next call. */
static void number_and_rewrite(void *user, sluice_record *r)
{
    (void)user;
    static _Thread_local char message[128], seq[24];
    static _Thread_local sluice_field fields[16];
    int n = atomic_fetch_add(&hook_calls, 1) + 1;
    snprintf(seq, sizeof seq, "%d", n);
    int len = snprintf(message, sizeof message, "hooked %.*s",
                       (int)r->message_len, r->message);
    r->message = message;
    r->message_len = (size_t)len;
    cr_assert_lt(r->field_count, 15);
    if (r->field_count) /* r->fields may be NULL without fields */
        memcpy(fields, r->fields, r->field_count * sizeof *fields);
    fields[r->field_count] = (sluice_field){"seq", 3, seq, strlen(seq)};
    r->fields = fields;
    r->field_count++;
}

typedef struct producer {
    sluice_logger *lg;
    int from, to;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    for (int i = p->from; i < p->to; i++)
        SLUICE_INFO(p->lg, "n=%d", i);
    return NULL;
}

/* seq[K] of each line "hooked n=K seq=S" of text (0: none); the lines. */
static size_t hooked_lines(const char *text, int *seq, int max)
{
    size_t lines = 0;
    for (const char *p = text; *p;) {
        int k = -1, s = -1;
        cr_assert_eq(sscanf(p, "hooked n=%d seq=%d", &k, &s), 2, "bad line: %.80s", p);
        cr_assert(k >= 0 && k < max && s > 0, "bad line: %.80s", p);
        cr_assert_eq(seq[k], 0, "record %d twice: %.80s", k, p);
        seq[k] = s;
        lines++;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    return lines;
}

Test(outcome, post_hooks_run_once_per_record_and_every_sink_gets_their_result)
{
    enum { RECORDS = 20000 };
    for (int workers = 1; workers <= 2; workers++) {
        atomic_store(&hook_calls, 0);
        char *dir = tmpdir_make();
        char ini[2048];
        /* one sink fails every third write: its retries must not run the
         * hooks again */
        snprintf(ini, sizeof ini,
                 "[runtime]\nrestart_backoff_ms = 1..2\nrestart_intensity = unlimited\n"
                 "[sink.a]\nplugin = fault\npath = %s/a.log\npattern = %%m%%f\n"
                 "fail_every = 3\npartial = honest\n"
                 "[sink.b]\nplugin = fault\npath = %s/b.log\npattern = %%m%%f\n"
                 "[logger.app]\nsinks = a, b\nworkers = %d\nscheduler = round_robin\n",
                 dir, dir, workers);
        sluice_runtime *rt = start_ini(ini);
        sluice_logger *lg = sluice_logger_get(rt, "app");
        sluice_error err;
        cr_assert_eq(sluice_logger_add_post_hook(lg, number_and_rewrite, NULL, &err), 0,
                     "%s", err.message);
        producer p[2] = {{lg, 0, RECORDS / 2}, {lg, RECORDS / 2, RECORDS}};
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, produce, &p[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        cr_assert_eq(sluice_logger_flush(lg, 120000), 0);
        cr_assert_eq(sluice_close(rt, 10000), 0);
        cr_assert_eq(atomic_load(&hook_calls), RECORDS, "workers = %d: %d hook calls",
                     workers, atomic_load(&hook_calls));
        int *seq_a = calloc(RECORDS, sizeof *seq_a), *seq_b = calloc(RECORDS, sizeof *seq_b);
        char *text = file_in(dir, "a.log");
        cr_assert_eq(hooked_lines(text, seq_a, RECORDS), RECORDS);
        free(text);
        text = file_in(dir, "b.log");
        cr_assert_eq(hooked_lines(text, seq_b, RECORDS), RECORDS);
        free(text);
        unsigned char *numbers = calloc(RECORDS + 1, 1);
        for (int i = 0; i < RECORDS; i++) {
            cr_assert_eq(seq_a[i], seq_b[i], "workers = %d: record %d is seq=%d in a, %d in b",
                         workers, i, seq_a[i], seq_b[i]);
            cr_assert(seq_a[i] >= 1 && seq_a[i] <= RECORDS && !numbers[seq_a[i]]);
            numbers[seq_a[i]] = 1;
        }
        free(numbers);
        free(seq_a);
        free(seq_b);
        tmpdir_remove(dir);
    }
}

/* Adds a field of every kind's key k: the post-hook's comes last. */
static void add_k_post(void *user, sluice_record *r)
{
    (void)user;
    static _Thread_local sluice_field fields[16];
    cr_assert_lt(r->field_count, 14);
    if (r->field_count)
        memcpy(fields, r->fields, r->field_count * sizeof *fields);
    fields[r->field_count++] = (sluice_field){"k", 1, "post", 4};
    fields[r->field_count++] = (sluice_field){"d", 1, "4", 1};
    r->fields = fields;
}

static bool add_k_pre(void *user, sluice_hook_record *r)
{
    (void)user;
    r->extra[r->extra_count++] = (sluice_kv){"k", "pre"};
    r->extra[r->extra_count++] = (sluice_kv){"b", "2"};
    return true;
}

Test(outcome, fields_merge_base_then_pre_hook_then_call_then_post_hook)
{
    const char *formats[] = {"text", "json"};
    for (int i = 0; i < 2; i++) {
        capture_reset();
        char ini[512];
        snprintf(ini, sizeof ini,
                 "[sink.c]\nplugin = capture\nformat = %s\npattern = %%m%%f\n"
                 "[logger.app]\nsinks = c\nfield.k = base\nfield.a = 1\n",
                 formats[i]);
        sluice_runtime *rt = start_ini(ini);
        sluice_logger *lg = sluice_logger_get(rt, "app");
        sluice_error err;
        cr_assert_eq(sluice_logger_add_pre_hook(lg, add_k_pre, NULL, &err), 0);
        cr_assert_eq(sluice_logger_add_post_hook(lg, add_k_post, NULL, &err), 0);
        SLUICE_INFO_KV(lg, SLUICE_KV({"k", "call"}, {"c", "3"}), "merged");
        cr_assert_eq(sluice_close(rt, 5000), 0);
        cr_assert_eq(capture_count(), 1);
        const char *l = capture_sink.lines[0];
        if (i == 0) {
            cr_assert_str_eq(l, "merged k=post a=1 b=2 c=3 d=4\n");
        } else {
            /* the key where it first appeared (a base field), the last value */
            const char *fields = strstr(l, "\"k\":");
            cr_assert(fields && strcmp(fields, "\"k\":\"post\",\"a\":\"1\",\"b\":\"2\","
                                               "\"c\":\"3\",\"d\":\"4\"}\n") == 0,
                      "%s", l);
        }
    }
}

/* Moves the record to 2001-09-09T01:46:40Z. */
static void set_time(void *user, sluice_record *r)
{
    (void)user;
    r->time_ns = 1000000000LL * 1000000000LL;
}

Test(outcome, the_time_a_post_hook_sets_is_the_one_each_sink_writes)
{
    capture_reset();
    sluice_runtime *rt = start_ini(
        "[sink.c]\nplugin = capture\npattern = %t %m\n"
        "[sink.d]\nplugin = capture\npattern = %t %m\n"
        "[logger.app]\nsinks = c, d\n");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_error err;
    cr_assert_eq(sluice_logger_add_post_hook(lg, set_time, NULL, &err), 0);
    SLUICE_INFO(lg, "moved %d", 1);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(capture_count(), 2);
    for (int i = 0; i < 2; i++)
        cr_assert_str_eq(capture_sink.lines[i],
                         "2001-09-09T01:46:40.000000Z moved 1\n");
}

/* A post-hook added while records are queued: each record is hooked for
 * every sink or for none, and every record logged after it is hooked. */
Test(outcome, a_post_hook_added_late_applies_to_a_record_in_every_sink_or_none)
{
    enum { RECORDS = 2000 };
    atomic_store(&hook_calls, 0);
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[sink.a]\nplugin = fault\npath = %s/a.log\npattern = %%m%%f\n"
             "[sink.b]\nplugin = fault\npath = %s/b.log\npattern = %%m%%f\nhang_ms = 5\n"
             "[logger.app]\nsinks = a, b\n",
             dir, dir);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 0; i < RECORDS / 2; i++)
        SLUICE_INFO(lg, "n=%d", i);
    sluice_error err;
    cr_assert_eq(sluice_logger_add_post_hook(lg, number_and_rewrite, NULL, &err), 0);
    for (int i = RECORDS / 2; i < RECORDS; i++)
        SLUICE_INFO(lg, "n=%d", i);
    cr_assert_eq(sluice_close(rt, 60000), 0);
    char *a = file_in(dir, "a.log"), *b = file_in(dir, "b.log");
    cr_assert_str_eq(a, b, "the two sinks got different records");
    size_t hooked = 0;
    int next = 0;
    for (const char *p = a; *p; next++) {
        int k = -1, seq = -1;
        if (sscanf(p, "hooked n=%d seq=%d", &k, &seq) == 2)
            hooked++;
        else
            cr_assert_eq(sscanf(p, "n=%d", &k), 1, "bad line: %.80s", p);
        cr_assert_eq(k, next, "record %d where %d was due", k, next);
        cr_assert(seq > 0 || k < RECORDS / 2, "record %d logged after the hook "
                                               "was not hooked", k);
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    cr_assert_eq(next, RECORDS);
    cr_assert_eq(hooked, (size_t)atomic_load(&hook_calls));
    free(a);
    free(b);
    tmpdir_remove(dir);
}

/* ---- per-sink levels ------------------------------------------------------ */

static const sluice_level cycle[] = {SLUICE_LEVEL_DEBUG, SLUICE_LEVEL_INFO,
                                     SLUICE_LEVEL_WARN, SLUICE_LEVEL_ERROR};

Test(outcome, a_sink_level_keeps_what_is_below_it_out_of_that_sink_only)
{
    enum { RECORDS = 4000 };
    atomic_store(&hook_calls, 0);
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[sink.all]\nplugin = fault\npath = %s/all.log\npattern = %%l %%m\n"
             "[sink.warn]\nplugin = fault\npath = %s/warn.log\npattern = %%l %%m\n"
             "level = warn\n"
             "[logger.app]\nsinks = all, warn\nlevel = debug\n",
             dir, dir);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    cr_assert_eq(sluice_binding_get_level(sluice_logger_binding(lg, 0)), SLUICE_LEVEL_TRACE);
    cr_assert_eq(sluice_binding_get_level(sluice_logger_binding(lg, 1)), SLUICE_LEVEL_WARN);
    sluice_error err;
    /* with a post-hook too: it runs once per record, whoever filters */
    cr_assert_eq(sluice_logger_add_post_hook(lg, number_and_rewrite, NULL, &err), 0);
    for (int i = 0; i < RECORDS; i++)
        SLUICE_LOG(lg, cycle[i % 4], "n=%d", i);
    cr_assert_eq(sluice_logger_flush(lg, 60000), 0);
    assert_accounted(lg);
    sluice_binding_stats all = binding_stats(lg, 0), warn = binding_stats(lg, 1);
    cr_assert_eq(all.written, RECORDS);
    cr_assert_eq(all.filtered, 0);
    cr_assert_eq(warn.written, RECORDS / 2);
    cr_assert_eq(warn.filtered, RECORDS / 2);
    cr_assert_eq(warn.pending, 0);
    cr_assert_eq(sluice_close(rt, 10000), 0);
    cr_assert_eq(atomic_load(&hook_calls), RECORDS);
    char *text = file_in(dir, "warn.log");
    cr_assert_eq(count_lines(text), RECORDS / 2);
    int next = 2;
    for (const char *p = text; *p; next += next % 4 == 3 ? 3 : 1) {
        char level[8];
        int k = -1;
        cr_assert_eq(sscanf(p, "%7s hooked n=%d", level, &k), 2, "%.60s", p);
        cr_assert_eq(k, next, "n=%d where n=%d was due", k, next);
        cr_assert_str_eq(level, k % 4 == 2 ? "warn" : "error");
        p = strchr(p, '\n') + 1;
    }
    free(text);
    text = file_in(dir, "all.log");
    cr_assert_eq(count_lines(text), RECORDS);
    free(text);
    tmpdir_remove(dir);
}

/* A binding whose run loop never runs (the host drives the others): the
 * records below its level pass its cursor as soon as room is needed, so a
 * small queue keeps flowing and nothing is dropped or waits. */
Test(outcome, a_binding_that_never_runs_holds_no_room_for_what_it_filters)
{
    enum { RECORDS = 50000 };
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[sink.all]\nplugin = fault\npath = %s/all.log\npattern = %%m\n"
             "[sink.errors]\nplugin = fault\npath = %s/errors.log\nlevel = error\n"
             "[logger.app]\nsinks = all, errors\nautostart = false\n"
             "queue_size = 64K\nproducer_rings = 1\nblock_timeout_ms = 60000\n",
             dir, dir);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, run_binding, sluice_logger_binding(lg, 0)), 0);
    for (int i = 0; i < RECORDS; i++)
        SLUICE_INFO(lg, "n=%d", i); /* 64K holds about a thousand */
    cr_assert_eq(sluice_logger_flush(lg, 60000), 0);
    sluice_logger_stats ls;
    sluice_logger_stats_get(lg, &ls);
    cr_assert_eq(ls.dropped, 0);
    cr_assert_eq(ls.accepted, RECORDS);
    sluice_binding_stats errors = binding_stats(lg, 1);
    cr_assert_eq(errors.pending, 0);
    cr_assert_eq(errors.filtered, RECORDS);
    cr_assert_eq(errors.written, 0);
    assert_accounted(lg);
    /* one it wants stays for it: that is what the backlog is for */
    SLUICE_ERROR(lg, "n=%d", RECORDS);
    cr_assert_eq(binding_stats(lg, 1).pending, 1);
    for (int waited = 0; binding_stats(lg, 0).pending > 0; waited++) {
        cr_assert_lt(waited, 30000);
        usleep(1000);
    }
    cr_assert_eq(sluice_close(rt, 100), 1, "the error record never reached its sink");
    void *ret;
    pthread_join(t, &ret);
    cr_assert_eq((intptr_t)ret, 0);
    char *text = file_in(dir, "all.log");
    cr_assert_eq(count_lines(text), RECORDS + 1);
    free(text);
    tmpdir_remove(dir);
}

/* A sink that is down and given up holds the record it failed on; muting
 * it from the API lets the queue go past everything it held. */
Test(outcome, muting_a_given_up_sink_frees_the_room_it_held)
{
    enum { RECORDS = 20000 };
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[runtime]\nrestart_backoff_ms = 1..2\nrestart_intensity = 1/60s\n"
             "[sink.all]\nplugin = fault\npath = %s/all.log\npattern = %%m\n"
             "[sink.down]\nplugin = fault\nfail_every = 1\nlevel = warn\n"
             "[logger.app]\nsinks = all, down\n"
             "queue_size = 64K\nproducer_rings = 1\nblock_timeout_ms = 60000\n",
             dir);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_binding *down = sluice_logger_binding(lg, 1);
    SLUICE_WARN(lg, "n=%d", 0);
    for (int waited = 0; binding_stats(lg, 1).state != SLUICE_STATE_GIVEN_UP; waited++) {
        cr_assert_lt(waited, 30000, "the sink was never given up");
        usleep(1000);
    }
    cr_assert_eq(binding_stats(lg, 1).pending, 1);
    cr_assert_eq(sluice_binding_set_level(down, SLUICE_LEVEL_OFF), 0);
    cr_assert_eq(sluice_binding_get_level(down), SLUICE_LEVEL_OFF);
    cr_assert_eq(binding_stats(lg, 1).pending, 0, "muted: it holds nothing");
    for (int i = 1; i < RECORDS; i++)
        SLUICE_WARN(lg, "n=%d", i);
    cr_assert_eq(sluice_logger_flush(lg, 60000), 0);
    sluice_logger_stats ls;
    sluice_logger_stats_get(lg, &ls);
    cr_assert_eq(ls.dropped, 0);
    sluice_binding_stats st = binding_stats(lg, 1);
    cr_assert_eq(st.filtered, RECORDS);
    cr_assert_eq(st.written, 0);
    cr_assert_eq(st.pending, 0);
    assert_accounted(lg);
    cr_assert_eq(binding_stats(lg, 0).written, RECORDS);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_neq(sluice_binding_set_level(down, SLUICE_LEVEL_INFO), 0,
                  "refused after close");
    tmpdir_remove(dir);
}

Test(outcome, a_bad_sink_level_is_an_error_with_its_line)
{
    char *msg = start_ini_fails("[sink.c]\nplugin = capture\nlevel = chatty\n"
                                "[logger.app]\nsinks = c\n");
    cr_assert(strstr(msg, "<string>:3: [sink.c] level: 'chatty' is not one of trace,"),
              "%s", msg);
    free(msg);
    /* level is the runtime's: a plugin cannot declare it */
    static const sluice_option_spec mine[] = {
        {.name = "level", .type = SLUICE_OPTION_STRING, .description = "mine"}, {0}};
    sluice_sink_api api = picky_api;
    api.options = mine;
    sluice_error err;
    sluice_builder *b = sluice_builder_new("<api>");
    cr_assert_neq(sluice_builder_add_sink_api(b, &api, &err), 0);
    cr_assert(strstr(err.message, "option 'level' is the runtime's"), "%s", err.message);
    sluice_builder_free(b);
    cr_assert_eq(sluice_binding_set_level(NULL, SLUICE_LEVEL_INFO), -1);
}

/* A given-up binding drains into its fallback, whose own level applies. */
Test(outcome, the_fallback_takes_only_what_is_at_its_level)
{
    enum { RECORDS = 1000 };
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[runtime]\nrestart_backoff_ms = 1..2\nrestart_intensity = 1/60s\n"
             "[sink.down]\nplugin = fault\nfail_every = 1\n"
             "[sink.spool]\nplugin = fault\npath = %s/spool.log\npattern = %%l %%m\n"
             "level = error\n"
             "[logger.app]\nsinks = down\nfallback = spool\n",
             dir);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_ERROR(lg, "n=%d", -1);
    for (int waited = 0; binding_stats(lg, 0).state != SLUICE_STATE_GIVEN_UP; waited++) {
        cr_assert_lt(waited, 30000, "the sink was never given up");
        usleep(1000);
    }
    for (int i = 0; i < RECORDS; i++)
        SLUICE_LOG(lg, i % 2 ? SLUICE_LEVEL_ERROR : SLUICE_LEVEL_INFO, "n=%d", i);
    cr_assert_eq(sluice_logger_flush(lg, 60000), 0);
    assert_accounted(lg);
    sluice_binding_stats st = binding_stats(lg, 0);
    cr_assert_eq(st.diverted, RECORDS / 2 + 1);
    cr_assert_eq(st.filtered, RECORDS / 2);
    cr_assert_eq(st.written, 0);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    char *text = file_in(dir, "spool.log");
    cr_assert_eq(count_lines(text), RECORDS / 2 + 1);
    for (const char *p = text; *p; p = strchr(p, '\n') + 1)
        cr_assert_eq(strncmp(p, "error n=", 8), 0, "%.40s", p);
    free(text);
    tmpdir_remove(dir);
}

/* drop_oldest under a slow sink with a level: whatever happens to a record
 * below its level (passed by its run loop, skipped, evicted in or out of a
 * batch in flight), it is filtered there, never evicted. */
Test(outcome, with_drop_oldest_a_record_below_a_sinks_level_is_filtered_never_lost)
{
    enum { RECORDS = 20000 };
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[sink.fast]\nplugin = null\n"
             "[sink.slow]\nplugin = fault\npath = %s/slow.log\npattern = %%m\n"
             "hang_ms = 2\nlevel = warn\n"
             "[logger.app]\nsinks = fast, slow\noverflow = drop_oldest\n"
             "queue_size = 64K\nproducer_rings = 1\n",
             dir);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    for (int i = 0; i < RECORDS; i++)
        SLUICE_LOG(lg, i % 2 ? SLUICE_LEVEL_WARN : SLUICE_LEVEL_INFO, "n=%d", i);
    cr_assert_eq(sluice_close(rt, 60000), 0);
    assert_accounted(lg);
    sluice_logger_stats ls;
    sluice_logger_stats_get(lg, &ls);
    cr_assert_eq(ls.accepted, RECORDS);
    sluice_binding_stats slow = binding_stats(lg, 1);
    cr_assert_eq(slow.filtered, RECORDS / 2);
    cr_assert_eq(slow.written + slow.evicted, RECORDS / 2);
    char *text = file_in(dir, "slow.log");
    cr_assert_eq(count_lines(text), slow.written);
    for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
        int k = -1;
        cr_assert_eq(sscanf(p, "n=%d", &k), 1);
        cr_assert_eq(k % 2, 1, "n=%d is below the sink's level", k);
    }
    free(text);
    tmpdir_remove(dir);
}
