/*
 * kafka.c -- the kafka sink: a librdkafka producer. Each record becomes one
 * message whose value is the record's rendered line (without its newline),
 * optionally keyed by one of the record's fields.
 *
 * Delivery: a record counts as written only when its delivery report says
 * so. write() produces the batch, serves delivery reports until all arrived
 * or timeout_ms passed, and reports the longest prefix whose reports all
 * succeeded. Messages of a failed write still in librdkafka's queues are
 * purged before returning, so the runtime's retry does not race a late
 * second copy; a message whose report was lost in flight may still have
 * reached the broker and then appears twice (at-least-once). Records after
 * a failed one that were delivered are remembered, and not produced again
 * when the very next write offers them again.
 *
 * SIGPIPE: librdkafka (2.0) sends on its sockets with MSG_NOSIGNAL and
 * blocks every signal in the threads it starts; what it does in the calling
 * thread (produce, poll, purge, destroy) includes waking its threads
 * through pipes. So that no SIGPIPE can come of it whatever its version
 * does, every call into librdkafka here runs inside sluice_sigpipe_block() /
 * sluice_sigpipe_unblock(), once per write(), flush(), open() and close().
 *
 * Knows nothing of queues, formats or the runtime beyond sink.h.
 */
#include <sluice/sink.h>

#include <librdkafka/rdkafka.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KAFKA_PROP_PREFIX "rdkafka."
#define KAFKA_PURGE_WAIT_MS 5000 /* bound on serving reports after a purge */

/* "all" and "-1" are the same: an index below 2 means all */
static const char *const acks_choices[] = {"all", "-1", "1", "0", NULL};
#define ACKS_IS_ALL(index) ((index) < 2)

static const sluice_option_spec kafka_options[] = {
    {.name = "brokers", .type = SLUICE_OPTION_LIST,
     .description = "host:port[,host:port...], librdkafka's "
                    "bootstrap.servers; required unless "
                    "rdkafka.bootstrap.servers is given"},
    {.name = "topic", .type = SLUICE_OPTION_STRING, .min = 1, .max = 249,
     .flags = SLUICE_OPTION_REQUIRED,
     .description = "the topic to produce to (a-z A-Z 0-9 . _ -)"},
    {.name = "key_field", .type = SLUICE_OPTION_STRING, .min = 1, .max = 255,
     .description = "a record field whose value is the message key (no key "
                    "when the record lacks it)"},
    {.name = "acks", .type = SLUICE_OPTION_ENUM, .default_value = "all",
     .choices = acks_choices,
     .description = "acknowledgements a record needs; other than all needs "
                    "idempotence = false"},
    {.name = "idempotence", .type = SLUICE_OPTION_BOOL, .default_value = "true",
     .description = "librdkafka's enable.idempotence"},
    {.name = "timeout_ms", .type = SLUICE_OPTION_DURATION,
     .default_value = "30000", .min = 1, .max = 86400000,
     .description = "how long one write waits for its delivery reports"},
    {.name = "rdkafka.*", .type = SLUICE_OPTION_STRING,
     .description = "any other librdkafka property, applied last; those that "
                    "load code, install a signal handler or weaken delivery "
                    "are refused"},
    {0}};

/* One produced message of a write: its delivery report lands here. */
typedef struct kslot {
    struct ktracker *t;
    int produced;            /* handed to librdkafka */
    int done;                /* its delivery report arrived */
    rd_kafka_resp_err_t err;
} kslot;

/* The messages of one write() call. Kept alive (as an orphan) while reports
 * are outstanding, since librdkafka holds pointers into slots. */
typedef struct ktracker {
    size_t n;
    size_t pending;          /* produced, report not yet served */
    struct ktracker *next;
    kslot slots[];
} ktracker;

/* A record after the failed prefix of the last write, remembered so that
 * the retry does not produce it again when it was delivered. */
typedef struct kahead {
    uint64_t sequence;
    int64_t time_ns;
    uint64_t hash;
    int delivered;
} kahead;

typedef struct kafka_state {
    rd_kafka_conf_t *conf;   /* template, duplicated for each producer */
    rd_kafka_t *rk;
    char *topic;
    char *key_field;
    long long timeout_ms;
    ktracker *orphans;
    kahead *ahead;
    size_t ahead_n;
    pthread_mutex_t lock;    /* guards last_error (log_cb runs anywhere) */
    char last_error[256];
} kafka_state;

/* ---------------------------------------------------------------------
 * librdkafka callbacks
 * --------------------------------------------------------------------- */

static void kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    (void)rk;
    (void)opaque;
    kslot *slot = m->_private;
    if (!slot || slot->done)
        return;
    slot->err = m->err;
    slot->done = 1;
    slot->t->pending--;
}

static void note_error(kafka_state *s, const char *text)
{
    size_t n = strlen(text);
    if (n >= sizeof s->last_error)
        n = sizeof s->last_error - 1;
    pthread_mutex_lock(&s->lock);
    memcpy(s->last_error, text, n);
    s->last_error[n] = '\0';
    pthread_mutex_unlock(&s->lock);
}

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason,
                           void *opaque)
{
    (void)rk;
    (void)err;
    note_error(opaque, reason);
}

/* librdkafka would print to stderr; a library must not. Keep errors only. */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                         const char *buf)
{
    (void)fac;
    if (level <= 3)
        note_error(rd_kafka_opaque(rk), buf);
}

/* ---------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t record_hash(const sluice_record *r)
{
    return r->line ? fnv1a(r->line, r->line_len)
                   : fnv1a(r->message ? r->message : "", r->message_len);
}

static void free_orphans(kafka_state *s, int all)
{
    ktracker **pp = &s->orphans;
    while (*pp) {
        ktracker *t = *pp;
        if (all || t->pending == 0) {
            *pp = t->next;
            free(t);
        } else {
            pp = &t->next;
        }
    }
}

/* Destroy the producer after purging whatever it still holds. */
static void producer_destroy(kafka_state *s)
{
    if (!s->rk)
        return;
    sluice_sigpipe_guard guard;
    sluice_sigpipe_block(&guard);
    rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(s->rk, 0);
    rd_kafka_destroy(s->rk);
    sluice_sigpipe_unblock(&guard);
    s->rk = NULL;
    free_orphans(s, 1); /* no report can arrive any more */
}

static int producer_new(kafka_state *s, char *errstr, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(s->conf);
    if (!conf) {
        snprintf(errstr, errlen, "out of memory");
        return -1;
    }
    sluice_sigpipe_guard guard;
    sluice_sigpipe_block(&guard);
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errlen);
    sluice_sigpipe_unblock(&guard);
    if (!s->rk) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Open / close
 * --------------------------------------------------------------------- */

static void kafka_close(void *state)
{
    kafka_state *s = state;
    if (!s)
        return;
    producer_destroy(s);
    free_orphans(s, 1);
    if (s->conf)
        rd_kafka_conf_destroy(s->conf);
    pthread_mutex_destroy(&s->lock);
    free(s->topic);
    free(s->key_field);
    free(s->ahead);
    free(s);
}

static int valid_topic(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return 0;
    for (const char *p = t; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A mistake: in check() each is reported and checking goes on; in open()
 * the first one is the error. Returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static int complain(const sluice_options *o, int checking, const char *key,
                    sluice_error *err, const char *fmt, ...)
{
    char what[SLUICE_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (checking)
        return sluice_options_report(o, key, err, "%s", what);
    return sluice_options_error(o, key, err, "%s", what);
}

/* Why the librdkafka property name (= value) may not be set from the
 * configuration, or NULL. Refused: whatever loads code or runs a command
 * (the only code sluice loads is a plugin = it was asked to load), what
 * installs a signal handler in the host, what only librdkafka's API may
 * set, and what would weaken what this sink promises: a record counts as
 * written only from its delivery report, with the acknowledgements and
 * idempotence the sink's own options say. */
static const char *refused_property(const char *name, const char *value,
                                    int idempotent)
{
    static const struct {
        const char *name;
        const char *why;
    } never[] = {
        {"plugin.library.paths", "loads shared libraries into the process; "
                                 "sluice loads code only through plugin ="},
        {"ssl.engine.location", "loads an OpenSSL engine library"},
        {"ssl.engine.id", "loads an OpenSSL engine"},
        {"ssl.providers", "loads OpenSSL provider modules"},
        {"sasl.kerberos.kinit.cmd", "runs a shell command (the default kinit "
                                    "command applies; or run kinit outside)"},
        {"internal.termination.signal", "installs a signal handler in the "
                                        "host process"},
        {"acks", "the sink's own acks option says how many acknowledgements "
                 "a record needs"},
        {"request.required.acks", "the sink's own acks option says how many "
                                  "acknowledgements a record needs"},
        {"enable.idempotence", "use the sink's own idempotence option"},
        {"delivery.report.only.error", "the sink counts a record as written "
                                       "only from its delivery report"},
        {"log.queue", "the sink's log callback must see librdkafka's errors"},
        {"transactional.id", "the sink runs no transactions: every produce "
                             "would fail"},
        {"opaque", "the sink sets it through librdkafka's API"},
        {"default_topic_conf", "the sink sets it through librdkafka's API"},
        {"enabled_events", "the sink serves delivery reports as callbacks"},
    };
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strcmp(name, never[i].name) == 0)
            return never[i].why;
    if (strncmp(name, "interceptor", 11) == 0)
        return "interceptors load and run code in the producer";
    size_t n = strlen(name);
    if ((n > 3 && strcmp(name + n - 3, "_cb") == 0) ||
        strcmp(name, "ssl_key") == 0 || strcmp(name, "ssl_certificate") == 0 ||
        strcmp(name, "ssl_ca") == 0 || strcmp(name, "ssl_engine_callback_data") == 0 ||
        strcmp(name, "msg_order_cmp") == 0)
        return "a callback or pointer, settable only through librdkafka's API";
    if (strcmp(name, "queuing.strategy") == 0 && strcmp(value, "fifo") != 0)
        return "anything but fifo reorders the records";
    long long x;
    if (idempotent &&
        (strcmp(name, "max.in.flight.requests.per.connection") == 0 ||
         strcmp(name, "max.in.flight") == 0) &&
        sluice_int_parse(value, &x) == 0 && x > 5)
        return "an idempotent producer allows at most 5 requests in flight "
               "(more needs idempotence = false, and may reorder on retry)";
    if (idempotent &&
        (strcmp(name, "message.send.max.retries") == 0 ||
         strcmp(name, "retries") == 0) &&
        sluice_int_parse(value, &x) == 0 && x == 0)
        return "an idempotent producer needs retries (the sink's own retry "
               "comes on top)";
    return NULL;
}

/* Set a librdkafka property; on error report it against option key. */
static int conf_set(const sluice_options *o, int checking, const char *key,
                    rd_kafka_conf_t *conf, const char *name, const char *value,
                    sluice_error *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK)
        return complain(o, checking, key, err, "%s", errstr);
    return 0;
}

/* The options gathered and, with checking, every rule across them checked
 * (each value was checked by the runtime). conf holds every property (the
 * rdkafka.* ones last, so they can override) but no callback or opaque:
 * open() adds those for its own state. */
typedef struct kafka_config {
    const char *topic;
    const char *key_field;   /* NULL: no message key */
    long long timeout_ms;
    rd_kafka_conf_t *conf;   /* owned by the caller on success */
} kafka_config;

static int kafka_parse(const sluice_options *o, int checking, kafka_config *c,
                       sluice_error *err)
{
    memset(c, 0, sizeof *c);
    int bad = 0;
    const char *topic = sluice_options_get_string(o, "topic");
    if (!topic)
        return complain(o, checking, "topic", err,
                        "is required (the topic to produce to)");
    if (!valid_topic(topic))
        bad |= complain(o, checking, "topic", err,
                        "'%s' is not a valid topic name (1..249 of a-z A-Z "
                        "0-9 . _ -)", topic);
    const char *brokers = sluice_options_get_string(o, "brokers");
    if (!brokers && !sluice_options_find(o, "rdkafka.bootstrap.servers"))
        bad |= complain(o, checking, "brokers", err,
                        "is required (host:port[,host:port...])");
    int acks = sluice_options_get_enum(o, "acks");
    int idem = sluice_options_get_bool(o, "idempotence");
    if (idem && !ACKS_IS_ALL(acks))
        bad |= complain(o, checking, "acks", err,
                        "'%s' needs idempotence = false (an idempotent "
                        "producer waits for all in-sync replicas)",
                        sluice_options_get_string(o, "acks"));
    if (bad && !checking)
        return -1;
    c->topic = topic;
    c->key_field = sluice_options_get_string(o, "key_field");
    c->timeout_ms = sluice_options_get_int(o, "timeout_ms");

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        return sluice_error_set(err, "kafka: out of memory");
    if (conf_set(o, checking, NULL, conf, "client.id", "sluice", err) ||
        conf_set(o, checking, "acks", conf, "acks",
                 sluice_options_get_string(o, "acks"), err) ||
        conf_set(o, checking, "idempotence", conf, "enable.idempotence",
                 idem ? "true" : "false", err) ||
        (brokers && conf_set(o, checking, "brokers", conf, "bootstrap.servers",
                             brokers, err)))
        goto fail;
    /* Pass-through properties, applied last so they can override; a
     * refused one never reaches librdkafka (which would load a library at
     * once for plugin.library.paths, even in `sluice check`). */
    size_t plen = strlen(KAFKA_PROP_PREFIX);
    for (size_t i = 0; i < o->count; i++) {
        const sluice_option *it = &o->items[i];
        if (strncmp(it->key, KAFKA_PROP_PREFIX, plen) != 0)
            continue;
        const char *name = it->key + plen;
        const char *why = refused_property(name, it->value, idem);
        if (why) {
            bad |= complain(o, checking, it->key, err, "cannot be set: %s", why);
        } else if (conf_set(o, checking, it->key, conf, name, it->value, err)) {
            bad = 1;
        } else {
            continue;
        }
        if (!checking)
            goto fail;
    }
    if (bad)
        goto fail;
    c->conf = conf;
    return 0;
fail:
    rd_kafka_conf_destroy(conf);
    return -1;
}

/* `sluice check`, and before open(): build and validate the configuration,
 * reporting every mistake; start no producer, load nothing. */
static int kafka_check(const sluice_options *o, sluice_error *err)
{
    kafka_config c;
    if (kafka_parse(o, 1, &c, err) != 0)
        return -1;
    rd_kafka_conf_destroy(c.conf);
    return 0;
}

static int kafka_open(const sluice_options *opts, void **state,
                      sluice_error *err)
{
    kafka_config c;
    if (kafka_parse(opts, 0, &c, err) != 0)
        return -1;
    kafka_state *s = calloc(1, sizeof *s);
    if (!s) {
        rd_kafka_conf_destroy(c.conf);
        return sluice_error_set(err, "kafka: out of memory");
    }
    pthread_mutex_init(&s->lock, NULL);
    s->conf = c.conf;
    s->timeout_ms = c.timeout_ms;
    rd_kafka_conf_set_opaque(s->conf, s);
    rd_kafka_conf_set_dr_msg_cb(s->conf, kafka_dr_cb);
    rd_kafka_conf_set_error_cb(s->conf, kafka_error_cb);
    rd_kafka_conf_set_log_cb(s->conf, kafka_log_cb);
    char errstr[512];
    if (!(s->topic = strdup(c.topic)) ||
        (c.key_field && !(s->key_field = strdup(c.key_field)))) {
        kafka_close(s);
        return sluice_error_set(err, "kafka: out of memory");
    }
    if (producer_new(s, errstr, sizeof errstr) != 0) {
        kafka_close(s);
        return sluice_options_error(opts, NULL, err, "kafka: %s", errstr);
    }
    *state = s;
    return 0;
}

/* ---------------------------------------------------------------------
 * Writing
 * --------------------------------------------------------------------- */

static const sluice_field *find_field(const sluice_record *r, const char *k)
{
    size_t kl = strlen(k);
    for (size_t i = 0; i < r->field_count; i++)
        if (r->fields[i].key_len == kl && memcmp(r->fields[i].key, k, kl) == 0)
            return &r->fields[i];
    return NULL;
}

static rd_kafka_resp_err_t produce_one(kafka_state *s, const sluice_record *r,
                                       kslot *slot, int64_t deadline)
{
    const char *val = r->line ? r->line : (r->message ? r->message : "");
    size_t len = r->line ? r->line_len : r->message_len;
    if (len && val[len - 1] == '\n')
        len--;
    const sluice_field *kf = s->key_field ? find_field(r, s->key_field) : NULL;
    const char *lvl = sluice_level_name(r->level);
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            s->rk, RD_KAFKA_V_TOPIC(s->topic),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE((void *)val, len),
            RD_KAFKA_V_KEY(kf ? (void *)kf->value : NULL,
                           kf ? kf->value_len : 0),
            RD_KAFKA_V_TIMESTAMP(r->time_ns / 1000000),
            RD_KAFKA_V_HEADER("level", lvl, (ssize_t)strlen(lvl)),
            RD_KAFKA_V_OPAQUE(slot), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || now_ms() >= deadline)
            return e;
        rd_kafka_poll(s->rk, 10); /* make room by serving reports */
    }
}

/* Remember which records after the failed prefix were delivered. */
static void remember_ahead(kafka_state *s, const sluice_record *const *batch,
                           const ktracker *t, size_t from)
{
    free(s->ahead);
    s->ahead = NULL;
    s->ahead_n = 0;
    size_t last = 0; /* one past the last delivered record */
    for (size_t i = from; i < t->n; i++)
        if (t->slots[i].done && t->slots[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            last = i + 1;
    if (last <= from)
        return;
    s->ahead = malloc((last - from) * sizeof *s->ahead);
    if (!s->ahead)
        return; /* only costs possible duplicates */
    for (size_t i = from; i < last; i++) {
        kahead *a = &s->ahead[i - from];
        a->sequence = batch[i]->sequence;
        a->time_ns = batch[i]->time_ns;
        a->hash = record_hash(batch[i]);
        a->delivered = t->slots[i].done && t->slots[i].err == 0;
    }
    s->ahead_n = last - from;
}

static int write_batch(kafka_state *s, const sluice_record *const *batch,
                       size_t n, size_t *written, sluice_error *err)
{
    *written = 0;
    free_orphans(s, 0);
    if (n == 0)
        return 0;
    note_error(s, ""); /* the message reports this write's trouble only */

    char fatal[512];
    if (s->rk && rd_kafka_fatal_error(s->rk, fatal, sizeof fatal)) {
        /* An idempotent producer cannot recover in place: start afresh. */
        note_error(s, fatal);
        producer_destroy(s);
    }
    if (!s->rk && producer_new(s, fatal, sizeof fatal) != 0)
        return sluice_error_set(err, "kafka: cannot create producer: %s",
                                fatal);

    ktracker *t = calloc(1, sizeof *t + n * sizeof(kslot));
    if (!t)
        return sluice_error_set(err, "kafka: out of memory");
    t->n = n;
    int64_t deadline = now_ms() + s->timeout_ms;

    /* Records the previous failed write already delivered, in the same
     * positions at the head of this batch, are not produced twice. */
    size_t skip = 0;
    while (skip < s->ahead_n && skip < n) {
        const kahead *a = &s->ahead[skip];
        const sluice_record *r = batch[skip];
        if (a->sequence != r->sequence || a->time_ns != r->time_ns ||
            a->hash != record_hash(r))
            break;
        skip++;
    }
    rd_kafka_resp_err_t produce_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    size_t produce_at = n;
    for (size_t i = 0; i < n; i++) {
        kslot *slot = &t->slots[i];
        slot->t = t;
        if (i < skip && s->ahead[i].delivered) {
            slot->done = 1;
            continue;
        }
        rd_kafka_resp_err_t e = produce_one(s, batch[i], slot, deadline);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            produce_err = e;
            produce_at = i;
            break;
        }
        slot->produced = 1;
        t->pending++;
    }
    free(s->ahead);
    s->ahead = NULL;
    s->ahead_n = 0;

    /* Serve delivery reports until all arrived or time is up. */
    for (;;) {
        if (t->pending == 0)
            break;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        rd_kafka_poll(s->rk, left < 100 ? (int)left : 100);
    }
    if (t->pending > 0) {
        /* Take back what librdkafka still holds, so the runtime's retry is
         * the only copy that can go out later. */
        rd_kafka_purge(s->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        int64_t until = now_ms() + KAFKA_PURGE_WAIT_MS;
        while (t->pending > 0 && now_ms() < until)
            rd_kafka_poll(s->rk, 10);
    }

    size_t k = 0;
    while (k < n && t->slots[k].done &&
           t->slots[k].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        k++;
    *written = k;
    if (k == n) {
        free(t);
        return 0;
    }

    remember_ahead(s, batch, t, k);
    char last[sizeof s->last_error];
    pthread_mutex_lock(&s->lock);
    memcpy(last, s->last_error, sizeof last);
    pthread_mutex_unlock(&s->lock);
    const kslot *bad = &t->slots[k];
    if (k == produce_at) {
        sluice_error_set(err, "kafka: topic '%s': produce failed: %s%s%s",
                         s->topic, rd_kafka_err2str(produce_err),
                         last[0] ? "; last error: " : "", last);
    } else if (!bad->done || bad->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT ||
               bad->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE) {
        sluice_error_set(err,
                         "kafka: topic '%s': %zu of %zu records not "
                         "confirmed within timeout_ms = %lld%s%s",
                         s->topic, n - k, n, s->timeout_ms,
                         last[0] ? "; last error: " : "", last);
    } else {
        sluice_error_set(err, "kafka: topic '%s': delivery failed: %s%s%s",
                         s->topic, rd_kafka_err2str(bad->err),
                         last[0] ? "; last error: " : "", last);
    }
    if (t->pending > 0) {
        t->next = s->orphans; /* reports may still arrive: keep the slots */
        s->orphans = t;
    } else {
        free(t);
    }
    return -1;
}

static int kafka_write(void *state, const sluice_record *const *batch,
                       size_t n, size_t *written, sluice_error *err)
{
    sluice_sigpipe_guard guard;
    sluice_sigpipe_block(&guard);
    int rc = write_batch(state, batch, n, written, err);
    sluice_sigpipe_unblock(&guard);
    return rc;
}

static int kafka_flush(void *state, sluice_error *err)
{
    (void)err;
    kafka_state *s = state;
    if (s->rk) {
        sluice_sigpipe_guard guard;
        sluice_sigpipe_block(&guard);
        rd_kafka_poll(s->rk, 0);
        sluice_sigpipe_unblock(&guard);
    }
    free_orphans(s, 0);
    return 0;
}

static const sluice_sink_api kafka_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "kafka",
    .description = "Apache Kafka topic via librdkafka, confirmed by "
                   "delivery reports",
    .open = kafka_open,
    .write = kafka_write,
    .flush = kafka_flush,
    .close = kafka_close,
    .check = kafka_check,
    .options = kafka_options,
};

const sluice_sink_api *sluice_sink_entry(void) { return &kafka_api; }
