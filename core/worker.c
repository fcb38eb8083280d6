/*
 * worker.c -- the run loop of one sink binding.
 *
 * run(): set is_running; once actually started, clear has_failed and
 * last_error; then take a batch past the binding's cursor, decode and
 * render it (the deferred formatting happens here), hand it to the sink,
 * and advance the cursor by what the sink confirmed. It returns 0 when the
 * queue is closed and drained, or -1 when the sink fails: the error is
 * recorded, the unconfirmed records stay queued (the retained backlog) and
 * the next run() starts with them. Sinks are flushed on an interval, not per
 * record. A binding given up by the supervisor drains into the logger's
 * fallback sink instead, counted as diverted. Once a crash began
 * ([runtime] crash_flush) it takes no more batches: the crash handler
 * writes the backlog (crash.c).
 * Knows nothing of INI, plugins' loading or restart policy.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock_internal.h"
#include "crash_internal.h"
#include "printf_internal.h"
#include "runtime_internal.h"

#define BATCH_MAX 256
/* Idle: a worker whose queue is empty naps (IDLE_NAP_MIN_NS doubling up to
 * IDLE_NAP_MAX_NS) without telling producers, and only after
 * IDLE_NAP_UNTIL_NS of quiet registers as asleep on the futex, so a
 * producer pays a wake-up system call only after such a quiet spell. It
 * never spins, and it naps long enough to drain a few bursts per wake-up:
 * a worker polling the slot the producer writes next stole that cache line
 * on every record (p50 135 ns instead of 17), and one waking every 20 us
 * disturbed a tenth of the producer's bursts (p90 131 ns instead of 34).
 * The price: a record may wait up to IDLE_NAP_MAX_NS before it is written
 * when records trickle in. */
#define IDLE_NAP_MIN_NS 200000LL
#define IDLE_NAP_MAX_NS 500000LL
#define IDLE_NAP_UNTIL_NS 20000000LL
#define IDLE_SLEEP_MAX_MS 100  /* longest futex sleep while idle */

typedef struct scratch {
    sluice_buf msgs;           /* the batch's rendered messages */
    sluice_buf lines;          /* its lines; apart, since rendering a line
                                  reads its message while lines grows */
    size_t msg_off[BATCH_MAX], msg_len[BATCH_MAX];
    size_t line_off[BATCH_MAX], line_len[BATCH_MAX];
    size_t field_off[BATCH_MAX];   /* into pool, SIZE_MAX: base fields only */
    sluice_field *pool;            /* fields of the batch's records */
    size_t pool_len, pool_cap;
    sluice_buf fieldbytes;         /* the batch's fields, copied out of the
                                      queue (drop_oldest may reuse its room
                                      once the batch is rendered) */
    size_t fb_off[BATCH_MAX], fb_len[BATCH_MAX];
    sluice_taken taken[BATCH_MAX]; /* the batch, as the queue gave it */
    sluice_record recs[BATCH_MAX];
    const sluice_record *ptrs[BATCH_MAX];
    sluice_time_cache tc;
    sluice_printf_cache printf_cache; /* programs by call site */
} scratch;

void sluice_binding_set_state_(sluice_binding *b, sluice_binding_state s)
{
    pthread_mutex_lock(&b->mu);
    b->state = s;
    pthread_mutex_unlock(&b->mu);
}

static void fail(sluice_binding *b, const char *msg)
{
    pthread_mutex_lock(&b->mu);
    b->state = SLUICE_STATE_FAILED;
    b->is_running = false;
    b->has_failed = true;
    snprintf(b->last_error, sizeof b->last_error, "%s", msg);
    b->last_failure_ns = sluice_clock_realtime_ns();
    pthread_mutex_unlock(&b->mu);
    atomic_fetch_add(&b->failures, 1);
    sluice_event_emit_(b, SLUICE_EVENT_FAILED, msg, 0);
}

void sluice_worker_record_init_(sluice_record *r, const sluice_logger *lg,
                                const sluice_queue *q, const sluice_taken *t,
                                const sluice_clock_snapshot *clock)
{
    const sluice_rec *rec = t->rec;
    memset(r, 0, sizeof *r);
    r->time_ns = sluice_queue_time_ns(q, clock, rec);
    r->level = (sluice_level)rec->level;
    r->logger = lg->name;
    r->thread_id = rec->thread_id;
    r->sequence = t->sequence;
    const sluice_callsite *cs =
        rec->kind == SLUICE_KIND_ARGS ? sluice_queue_site(q, rec) : NULL;
    if (cs) {
        r->file = cs->file;
        r->function = cs->function;
        r->source_line = cs->line;
    }
}

/* Decode the fields that follow the body of a record's payload into out;
 * returns how many were well formed. (The crash path decodes with it too.) */
size_t sluice_worker_decode_fields_(const unsigned char *p, size_t len,
                                    size_t count, sluice_field *out)
{
    size_t n = 0, at = 0;
    while (n < count) {
        uint32_t k, v;
        if (len - at < 4)
            break;
        memcpy(&k, p + at, 4);
        if (len - at - 4 < k)
            break;
        const char *key = (const char *)p + at + 4;
        at += 4 + k;
        if (len - at < 4)
            break;
        memcpy(&v, p + at, 4);
        if (len - at - 4 < v)
            break;
        out[n++] = (sluice_field){key, k, (const char *)p + at + 4, v};
        at += 4 + v;
    }
    return n;
}

/* Render the batch taken into sc->taken for sink s: decode each record
 * (the deferred formatting happens here) and copy its fields out of the
 * queue, then run the post-hooks and render the lines (unless the sink
 * declared that it never reads them). Nothing of the batch is read from
 * the queue after this returns. */
static void render_batch(sluice_binding *b, sluice_sink_instance *s,
                         scratch *sc, size_t n)
{
    sluice_logger *lg = b->logger;
    sluice_clock_snapshot clk;
    sluice_clock_snapshot_take(&clk);
    sluice_buf_reset(&sc->msgs);
    sluice_buf_reset(&sc->lines);
    sluice_buf_reset(&sc->fieldbytes);
    sc->pool_len = 0;
    for (size_t i = 0; i < n; i++) {
        const sluice_rec *rec = sc->taken[i].rec;
        const unsigned char *payload = rec->payload;
        sluice_worker_record_init_(&sc->recs[i], lg, b->queue, &sc->taken[i],
                                   &clk);
        sc->msg_off[i] = sc->msgs.len;
        const sluice_callsite *cs = sluice_queue_site(b->queue, rec);
        if (rec->kind == SLUICE_KIND_ARGS && cs) {
            const sluice_printf_program *pp = sluice_printf_cache_get(
                &sc->printf_cache, cs, cs->format, cs->arg_types,
                cs->arg_count);
            if (pp)
                sluice_printf_run(&sc->msgs, pp, payload, rec->args_length);
            else
                sluice_printf_render(&sc->msgs, cs->format, cs->arg_types,
                                     cs->arg_count, payload,
                                     rec->args_length);
        } else {
            sluice_buf_append(&sc->msgs, payload, rec->args_length);
        }
        sc->msg_len[i] = sc->msgs.len - sc->msg_off[i];
        sc->fb_off[i] = sc->fieldbytes.len;
        sc->fb_len[i] = 0;
        if (rec->field_count) {
            sluice_buf_append(&sc->fieldbytes, payload + rec->args_length,
                              rec->length - rec->args_length);
            sc->fb_len[i] = sc->fieldbytes.len - sc->fb_off[i];
        }
    }
    /* the buffers may have moved while growing: point into them now. Fields:
     * the logger's base fields, then the call's (pre-hooks', then its own) */
    for (size_t i = 0; i < n; i++) {
        const sluice_rec *rec = sc->taken[i].rec;
        sluice_record *r = &sc->recs[i];
        r->message = sc->msgs.data ? sc->msgs.data + sc->msg_off[i] : "";
        r->message_len = sc->msg_len[i];
        r->fields = lg->fields;
        r->field_count = lg->field_count;
        sc->field_off[i] = SIZE_MAX;
        if (!sc->fb_len[i])
            continue;
        size_t want = sc->pool_len + lg->field_count + rec->field_count;
        if (want > sc->pool_cap) {
            size_t cap = sc->pool_cap ? sc->pool_cap : 256;
            while (cap < want)
                cap *= 2;
            sluice_field *grown = realloc(sc->pool, cap * sizeof *grown);
            if (!grown)
                continue; /* out of memory: base fields only */
            sc->pool = grown;
            sc->pool_cap = cap;
        }
        sluice_field *f = sc->pool + sc->pool_len;
        if (lg->field_count)
            memcpy(f, lg->fields, lg->field_count * sizeof *f);
        size_t got = sluice_worker_decode_fields_(
            (const unsigned char *)sc->fieldbytes.data + sc->fb_off[i],
            sc->fb_len[i], rec->field_count, f + lg->field_count);
        sc->field_off[i] = sc->pool_len;
        r->field_count = lg->field_count + got;
        sc->pool_len += r->field_count;
    }
    for (size_t i = 0; i < n; i++)
        if (sc->field_off[i] != SIZE_MAX)
            sc->recs[i].fields = sc->pool + sc->field_off[i];
    unsigned hooks = atomic_load_explicit(&lg->post_hook_count, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        sluice_record *r = &sc->recs[i];
        for (unsigned h = 0; h < hooks; h++)
            ((sluice_post_hook_fn)lg->post_hooks[h].fn)(lg->post_hooks[h].user, r);
        sc->line_off[i] = sc->lines.len;
        if (s->needs_line) /* not for a sink that builds its own message */
            sluice_format_render(&sc->lines, &s->format, r, &sc->tc);
        sc->line_len[i] = sc->lines.len - sc->line_off[i];
    }
    for (size_t i = 0; i < n; i++) {
        sluice_record *r = &sc->recs[i];
        r->line = s->needs_line ? sc->lines.data + sc->line_off[i] : NULL;
        r->line_len = sc->line_len[i];
        sc->ptrs[i] = r;
    }
}

/* Flush sink s; when that fails, record the failure on b (err says why). */
static int flush_or_fail(sluice_binding *b, sluice_sink_instance *s,
                         sluice_error *err)
{
    if (sluice_sink_flush_(s, err) == 0)
        return 0;
    fail(b, err->message);
    return -1;
}

int sluice_worker_run_(sluice_binding *b, sluice_error *err)
{
    sluice_logger *lg = b->logger;
    sluice_runtime *rt = lg->rt;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&b->in_run, &expected, 1))
        return sluice_error_set(err,
                                "logger '%s', sink '%s', lane %u: run() is "
                                "already running on this binding",
                                lg->name, b->sink->name, b->lane);
    scratch *sc = malloc(sizeof *sc);
    if (!sc) {
        atomic_store(&b->in_run, 0);
        return sluice_error_set(err, "run(): out of memory");
    }
    sluice_buf_init(&sc->msgs);
    sluice_printf_cache_init(&sc->printf_cache);
    sluice_buf_init(&sc->lines);
    sluice_buf_init(&sc->fieldbytes);
    sc->pool = NULL;
    sc->pool_len = sc->pool_cap = 0;
    sluice_time_cache_init(&sc->tc);

    bool closing = sluice_runtime_state_(rt) >= SLUICE_RUNTIME_CLOSING;
    bool divert_now = false;
    pthread_mutex_lock(&b->mu);
    b->is_running = true;
    bool recovering = b->has_failed; /* says RECOVERED at its first write */
    if (closing && b->has_failed && lg->fallback && !atomic_load(&b->diverting)) {
        atomic_store(&b->diverting, true); /* close began: no more retries */
        divert_now = true;
    }
    if (!atomic_load(&b->diverting)) {
        b->state = SLUICE_STATE_RUNNING;
        b->has_failed = false;
        b->last_error[0] = '\0';
    } /* else: draining into the fallback; it stays given up, and its last
         error says why */
    pthread_mutex_unlock(&b->mu);
    atomic_fetch_add(&b->runs, 1);
    if (divert_now)
        sluice_event_emit_(b, SLUICE_EVENT_DIVERTING, NULL, 0);

    int rc = 0;
    int64_t idle_since = 0;   /* when the queue was last found empty */
    int64_t nap_ns = IDLE_NAP_MIN_NS;
    bool was_diverting = atomic_load(&b->diverting);
    bool dirty = false;
    sluice_sink_instance *dirty_sink = NULL;
    int64_t flush_every = (int64_t)lg->flush_interval_ms * 1000000;
    int64_t next_flush = sluice_clock_monotonic_ns() + flush_every;
    for (;;) {
        if (atomic_load(&rt->cancelled) || atomic_load(&b->cancelled)) {
            rc = sluice_error_set(err, "run(): cancelled by %s before the "
                                       "backlog was written",
                                  atomic_load(&b->cancelled) ? "a reload" : "close");
            fail(b, err->message);
            rc = -1;
            break;
        }
        bool diverting = atomic_load(&b->diverting) && lg->fallback;
        if (was_diverting && !diverting) {
            /* resumed while draining into the fallback: back to the sink */
            pthread_mutex_lock(&b->mu);
            b->state = SLUICE_STATE_RUNNING;
            b->has_failed = false;
            b->last_error[0] = '\0';
            pthread_mutex_unlock(&b->mu);
        }
        was_diverting = diverting;
        sluice_sink_instance *s = diverting ? lg->fallback : b->sink;
        /* sluice_queue_take, but once a crash began (crash_flush) no batch */
        size_t n = sluice_crash_take_(b, sc->taken, BATCH_MAX);
        int64_t now;
        if (n == 0) {
            if (sluice_queue_is_sealed(b->queue) &&
                sluice_queue_drained(b->queue, b->cursor))
                break;
            now = sluice_clock_monotonic_ns();
            if (dirty && now >= next_flush) {
                if ((rc = flush_or_fail(b, dirty_sink, err)) != 0)
                    break;
                dirty = false;
            }
            if (idle_since == 0)
                idle_since = now;
            int64_t quiet = now - idle_since;
            if (quiet < IDLE_NAP_UNTIL_NS) {
                struct timespec nap = {0, (long)nap_ns};
                nanosleep(&nap, NULL);
                if (nap_ns < IDLE_NAP_MAX_NS)
                    nap_ns *= 2;
                continue;
            }
            int64_t wait_ns = dirty ? next_flush - now
                                    : (int64_t)IDLE_SLEEP_MAX_MS * 1000000;
            int wait_ms = (int)(wait_ns / 1000000) + 1;
            if (wait_ms > IDLE_SLEEP_MAX_MS)
                wait_ms = IDLE_SLEEP_MAX_MS;
            sluice_queue_wait_data(b->queue, b->cursor, wait_ms);
            continue;
        }
        idle_since = 0;
        nap_ns = IDLE_NAP_MIN_NS;
        render_batch(b, s, sc, n);
        sluice_queue_rendered(b->queue, b->cursor);
        size_t written = 0;
        int wrc = sluice_sink_write_(s, sc->ptrs, n, &written, err);
        /* count before releasing: whoever sees pending drop (a flush) must
         * also see the records counted as written */
        atomic_fetch_add(diverting ? &b->diverted : &b->written, written);
        sluice_queue_release(b->queue, b->cursor, sc->taken, n, written);
        sluice_crash_batch_end_();
        if (written) {
            dirty = true;
            dirty_sink = s;
        }
        if (wrc != 0) {
            fail(b, err->message);
            if (!diverting && lg->fallback &&
                sluice_runtime_state_(rt) >= SLUICE_RUNTIME_CLOSING) {
                /* close began: the rest goes to the fallback, no retry */
                atomic_store(&b->diverting, true);
                pthread_mutex_lock(&b->mu);
                b->is_running = true;
                pthread_mutex_unlock(&b->mu);
                sluice_event_emit_(b, SLUICE_EVENT_DIVERTING, NULL, 0);
                continue;
            }
            rc = -1;
            break;
        }
        if (recovering && !diverting) {
            recovering = false;
            sluice_event_emit_(b, SLUICE_EVENT_RECOVERED, NULL, 0);
        }
        now = sluice_clock_monotonic_ns();
        if (now >= next_flush) {
            if (dirty && (rc = flush_or_fail(b, s, err)) != 0)
                break;
            dirty = false;
            next_flush = now + flush_every;
        }
    }
    if (rc == 0 && dirty)
        rc = flush_or_fail(b, dirty_sink, err);
    if (rc == 0) {
        pthread_mutex_lock(&b->mu);
        if (b->state != SLUICE_STATE_GIVEN_UP)
            b->state = SLUICE_STATE_STOPPED;
        b->is_running = false;
        pthread_mutex_unlock(&b->mu);
    }
    sluice_buf_free(&sc->msgs);
    sluice_printf_cache_free(&sc->printf_cache);
    sluice_buf_free(&sc->lines);
    sluice_buf_free(&sc->fieldbytes);
    free(sc->pool);
    free(sc);
    atomic_store(&b->in_run, 0);
    return rc;
}
