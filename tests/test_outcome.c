/*
 * What becomes of each record, sink by sink: a record a sink rejects for
 * good is counted, handed to the logger's dead letter, and holds nothing
 * up; the counters of every binding add up exactly.
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
        uint64_t sum = st.written + st.rejected + st.evicted + st.pending + st.diverted;
        cr_assert_eq(sum, ls.accepted,
                     "sink %s: written %llu + rejected %llu + evicted %llu + "
                     "pending %llu + diverted %llu != accepted %llu",
                     st.sink, (unsigned long long)st.written,
                     (unsigned long long)st.rejected, (unsigned long long)st.evicted,
                     (unsigned long long)st.pending, (unsigned long long)st.diverted,
                     (unsigned long long)ls.accepted);
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
