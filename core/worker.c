/*
 * worker.c -- the run loop of one sink binding.
 *
 * run(): set is_running; once actually started, clear has_failed and
 * last_error; then take a batch past the binding's cursor, decode and
 * render it (the deferred formatting happens here) but for the records
 * below the binding's level (the queue marks them; they are passed
 * without the sink), hand it to the sink, and advance the cursor by what
 * the sink confirmed. A logger with post-hooks has a post-hook stage per
 * lane, run by whichever of the lane's workers comes first, through the
 * queue's lead cursor: each record is hooked once, before any sink takes
 * it, and every sink's worker copies the result. It returns 0 when the
 * queue is closed and drained, or -1 when the sink fails: the error is
 * recorded, the unconfirmed records stay queued (the retained backlog) and
 * the next run() starts with them. A record the sink rejected for good
 * (sluice_host.reject) counts as done: it is counted as rejected, handed
 * once to the logger's dead_letter sink when it has one, and never holds
 * up the records behind it; a batch whose only problems are rejections is
 * a success. Sinks are flushed on an interval, not per record. A binding
 * given up by the supervisor drains into the logger's fallback sink
 * instead, counted as diverted. Once a crash began ([runtime]
 * crash_flush) it takes no more batches, for a sink or for the post-hooks:
 * the crash handler writes the backlog (crash.c).
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
    size_t field_count[BATCH_MAX]; /* encoded in fieldbytes */
    bool hooked[BATCH_MAX];        /* the post-hook stage's result */
    size_t picked[BATCH_MAX];      /* the sink's batch: taken indexes */
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
    sluice_outcome outcome;        /* the sink's rejections */
    /* the rejected records on their way to the dead letter */
    sluice_outcome dl_outcome;
    sluice_buf dl_lines;
    size_t dl_line_off[BATCH_MAX];
    sluice_field *dl_fields;
    size_t dl_fields_cap;
    sluice_record dl_recs[BATCH_MAX];
    const sluice_record *dl_ptrs[BATCH_MAX];
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

/* Decode the batch taken into sc->taken into sc->recs: each record's
 * message (the deferred formatting happens here) and fields, copied out of
 * the queue, so that nothing of the batch is read from the queue after
 * this returns. A record the post-hook stage has a result for (results
 * not NULL) is that result: its message and its fields, merged already;
 * any other gets the logger's base fields, then the pre-hooks' and the
 * call's as the producer stored them. */
static void decode_batch(sluice_logger *lg, const sluice_queue *q,
                         scratch *sc, size_t n, sluice_hooked *results)
{
    sluice_clock_snapshot clk;
    sluice_clock_snapshot_take(&clk);
    sluice_buf_reset(&sc->msgs);
    sluice_buf_reset(&sc->lines);
    sluice_buf_reset(&sc->fieldbytes);
    sc->pool_len = 0;
    if (results)
        sluice_hooked_lock(results);
    for (size_t i = 0; i < n; i++) {
        const sluice_taken *t = &sc->taken[i];
        const sluice_rec *rec = t->rec;
        const unsigned char *payload = rec->payload;
        sluice_record *r = &sc->recs[i];
        sc->msg_off[i] = sc->msgs.len;
        sc->fb_off[i] = sc->fieldbytes.len;
        sc->hooked[i] = false;
        if (t->filtered) { /* not for this sink: nothing to decode */
            memset(r, 0, sizeof *r);
            sc->msg_len[i] = sc->fb_len[i] = 0;
            continue;
        }
        /* the time from the ticks, unless the stage stored the hooked one */
        sluice_worker_record_init_(r, lg, q, t, &clk);
        sc->hooked[i] = results &&
                        sluice_hooked_get(results, t->ring, t->off, &sc->msgs,
                                          &sc->fieldbytes, &sc->field_count[i],
                                          &r->time_ns);
        if (!sc->hooked[i]) {
            sc->field_count[i] = rec->field_count;
            const sluice_callsite *cs =
                rec->kind == SLUICE_KIND_ARGS ? sluice_queue_site(q, rec) : NULL;
            if (cs) {
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
            if (rec->field_count)
                sluice_buf_append(&sc->fieldbytes, payload + rec->args_length,
                                  rec->length - rec->args_length);
        }
        sc->msg_len[i] = sc->msgs.len - sc->msg_off[i];
        sc->fb_len[i] = sc->fieldbytes.len - sc->fb_off[i];
    }
    if (results)
        sluice_hooked_unlock(results);
    /* the buffers may have moved while growing: point into them now */
    for (size_t i = 0; i < n; i++) {
        sluice_record *r = &sc->recs[i];
        r->message = sc->msgs.data ? sc->msgs.data + sc->msg_off[i] : "";
        r->message_len = sc->msg_len[i];
        size_t base = sc->hooked[i] ? 0 : lg->field_count;
        r->fields = base ? lg->fields : NULL;
        r->field_count = base;
        sc->field_off[i] = SIZE_MAX;
        if (!sc->fb_len[i])
            continue;
        size_t want = sc->pool_len + base + sc->field_count[i];
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
        if (base)
            memcpy(f, lg->fields, base * sizeof *f);
        size_t got = sluice_worker_decode_fields_(
            (const unsigned char *)sc->fieldbytes.data + sc->fb_off[i],
            sc->fb_len[i], sc->field_count[i], f + base);
        sc->field_off[i] = sc->pool_len;
        r->field_count = base + got;
        sc->pool_len += r->field_count;
    }
    for (size_t i = 0; i < n; i++)
        if (sc->field_off[i] != SIZE_MAX)
            sc->recs[i].fields = sc->pool + sc->field_off[i];
}

/* Render the lines of the decoded batch's records that are for sink s
 * (not filtered; none for a sink that declared that it never reads them)
 * and point sc->ptrs at those records, in order: the batch the sink gets,
 * sc->picked[k] being the taken record of sc->ptrs[k]. Returns how many. */
static size_t render_lines(sluice_sink_instance *s, scratch *sc, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (sc->taken[i].filtered)
            continue;
        sc->picked[m++] = i;
        sc->line_off[i] = sc->lines.len;
        if (s->needs_line) /* not for a sink that builds its own message */
            sluice_format_render(&sc->lines, &s->format, &sc->recs[i], &sc->tc);
        sc->line_len[i] = sc->lines.len - sc->line_off[i];
    }
    for (size_t k = 0; k < m; k++) {
        size_t i = sc->picked[k];
        sluice_record *r = &sc->recs[i];
        r->line = s->needs_line ? sc->lines.data + sc->line_off[i] : NULL;
        r->line_len = sc->line_len[i];
        sc->ptrs[k] = r;
    }
    return m;
}

/* Mark filtered the taken records below level (a fallback's or dead
 * letter's own level, beyond the binding's). */
static void filter_below(scratch *sc, size_t n, sluice_level level)
{
    if (level == SLUICE_LEVEL_TRACE)
        return;
    for (size_t i = 0; i < n; i++)
        if (sc->taken[i].rec->level < (unsigned)level)
            sc->taken[i].filtered = true;
}

/* ---- the post-hook stage ------------------------------------------------- */

/* Run the post-hooks on the records of b's lane that no sink has taken
 * yet: take a batch with the queue's lead cursor, decode it, run every
 * hook on each record in turn, keep the results for every sink, and pass
 * it, which lets the sinks take it. One worker of the lane at a time: with
 * wait false, none when another is at it. Returns how many were hooked.
 * Uses sc (the caller takes its own batch after). */
static size_t run_post_hooks(sluice_binding *b, sluice_hook_stage *stage,
                             scratch *sc, bool wait)
{
    sluice_logger *lg = b->logger;
    sluice_queue *q = b->queue;
    if (wait)
        pthread_mutex_lock(&stage->lock);
    else if (pthread_mutex_trylock(&stage->lock) != 0)
        return 0;
    unsigned lead = sluice_queue_leader(q);
    /* through the crash gate too: once a crash began, no more hooking */
    size_t n = sluice_crash_take_at_(b, lead, sc->taken, BATCH_MAX);
    if (n) {
        decode_batch(lg, q, sc, n, NULL);
        sluice_queue_rendered(q, lead); /* hooks may be slow: not in the ring */
        unsigned hooks = atomic_load_explicit(&lg->post_hook_count,
                                              memory_order_acquire);
        sluice_hooked *results = stage->results;
        sluice_hooked_lock(results);
        for (unsigned ring = 0; ring < q->rings; ring++)
            sluice_hooked_trim(results, ring, sluice_queue_passed(q, ring));
        sluice_hooked_unlock(results);
        for (size_t i = 0; i < n; i++) {
            sluice_record *r = &sc->recs[i];
            for (unsigned h = 0; h < hooks; h++)
                ((sluice_post_hook_fn)lg->post_hooks[h].fn)(lg->post_hooks[h].user, r);
            /* the hooks' memory need only live until this copy */
            sluice_hooked_lock(results);
            sluice_hooked_put(results, sc->taken[i].ring, sc->taken[i].off, r);
            sluice_hooked_unlock(results);
        }
        sluice_queue_release(q, lead, sc->taken, n, n);
        sluice_crash_batch_end_();
    }
    pthread_mutex_unlock(&stage->lock);
    return n;
}

sluice_hook_stage *sluice_hook_stages_new_(const sluice_logger *lg)
{
    sluice_hook_stage *stages = calloc(lg->lanes, sizeof *stages);
    if (!stages)
        return NULL;
    for (unsigned lane = 0; lane < lg->lanes; lane++) {
        stages[lane].results = sluice_hooked_new(lg->queues[lane]->rings);
        if (!stages[lane].results) {
            while (lane-- > 0)
                sluice_hooked_free(stages[lane].results);
            free(stages);
            return NULL;
        }
        pthread_mutex_init(&stages[lane].lock, NULL);
    }
    return stages;
}

void sluice_hook_stages_discard_(const sluice_logger *lg,
                                 sluice_hook_stage *stages)
{
    if (!stages)
        return;
    for (unsigned lane = 0; lane < lg->lanes; lane++) {
        pthread_mutex_destroy(&stages[lane].lock);
        sluice_hooked_free(stages[lane].results);
    }
    free(stages);
}

void sluice_hook_stages_install_(sluice_logger *lg, sluice_hook_stage *stages)
{
    /* the stages first, then the lead cursors: a worker that finds its
     * take held back by a lead cursor finds the stage that moves it */
    atomic_store_explicit(&lg->hook_stages, stages, memory_order_release);
    for (unsigned lane = 0; lane < lg->lanes; lane++)
        sluice_queue_lead(lg->queues[lane]);
}

int sluice_hook_stages_start_(sluice_logger *lg)
{
    if (atomic_load(&lg->hook_stages))
        return 0;
    sluice_hook_stage *stages = sluice_hook_stages_new_(lg);
    if (!stages)
        return -1;
    sluice_hook_stages_install_(lg, stages);
    return 0;
}

void sluice_hook_stages_free_(sluice_logger *lg)
{
    sluice_hook_stages_discard_(lg, atomic_exchange(&lg->hook_stages, NULL));
}

/* The records of the batch that sink from rejected go to the logger's
 * dead_letter sink, each with its fields and two more: sluice.reject_sink
 * (from's name) and sluice.reject_reason. One attempt: what the dead letter
 * takes is counted in dead_lettered, what it does not is left at rejected.
 * Returns whether anything was written there (it needs a flush). */
static bool dead_letter(sluice_binding *b, sluice_sink_instance *from,
                        scratch *sc, size_t n)
{
    sluice_sink_instance *dl = b->logger->dead_letter;
    const sluice_outcome *o = &sc->outcome;
    size_t want = 0;
    for (size_t i = 0; i < n; i++)
        if (o->flag[i])
            want += sc->ptrs[i]->field_count + 2;
    if (want == 0)
        return false;
    if (want > sc->dl_fields_cap) {
        sluice_field *grown = realloc(sc->dl_fields, want * sizeof *grown);
        if (!grown)
            return false; /* out of memory: rejected, not dead-lettered */
        sc->dl_fields = grown;
        sc->dl_fields_cap = want;
    }
    sluice_buf_reset(&sc->dl_lines);
    size_t k = 0, used = 0;
    for (size_t i = 0; i < n; i++) {
        if (!o->flag[i] || sc->ptrs[i]->level < dl->level)
            continue; /* below the dead letter's own level: rejected only */
        sluice_record *r = &sc->dl_recs[k];
        *r = *sc->ptrs[i];
        sluice_field *f = sc->dl_fields + used;
        if (r->field_count)
            memcpy(f, r->fields, r->field_count * sizeof *f);
        size_t reason_len;
        const char *reason = sluice_outcome_reason(o, i, &reason_len);
        f[r->field_count] = (sluice_field){"sluice.reject_sink", 18, from->name,
                                           strlen(from->name)};
        f[r->field_count + 1] = (sluice_field){"sluice.reject_reason", 20,
                                               reason, reason_len};
        r->fields = f;
        r->field_count += 2;
        used += r->field_count;
        sc->dl_line_off[k] = sc->dl_lines.len;
        if (dl->needs_line)
            sluice_format_render(&sc->dl_lines, &dl->format, r, &sc->tc);
        k++;
    }
    for (size_t j = 0; j < k; j++) {
        sluice_record *r = &sc->dl_recs[j];
        size_t end = j + 1 < k ? sc->dl_line_off[j + 1] : sc->dl_lines.len;
        r->line = dl->needs_line ? sc->dl_lines.data + sc->dl_line_off[j] : NULL;
        r->line_len = end - sc->dl_line_off[j];
        sc->dl_ptrs[j] = r;
    }
    if (k == 0)
        return false;
    size_t done = 0;
    sluice_error e;
    sluice_sink_write_(dl, sc->dl_ptrs, k, &done, &sc->dl_outcome, &e);
    atomic_fetch_add(&b->dead_lettered, done - sc->dl_outcome.rejected);
    return done > 0;
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
    sluice_outcome_init(&sc->outcome);
    sluice_outcome_init(&sc->dl_outcome);
    sluice_buf_init(&sc->dl_lines);
    sc->dl_fields = NULL;
    sc->dl_fields_cap = 0;

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
    bool dirty = false, dead_letter_dirty = false;
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
        sluice_hook_stage *stages = atomic_load_explicit(&lg->hook_stages,
                                                         memory_order_acquire);
        sluice_hook_stage *stage = stages ? &stages[b->lane] : NULL;
        if (stage) /* keep ahead of the sinks, unless another worker is */
            run_post_hooks(b, stage, sc, false);
        /* sluice_queue_take, but once a crash began (crash_flush) no batch */
        size_t n = sluice_crash_take_(b, sc->taken, BATCH_MAX);
        if (n == 0 && stage && run_post_hooks(b, stage, sc, true) > 0)
            n = sluice_crash_take_(b, sc->taken, BATCH_MAX);
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
        if (diverting) /* the fallback's own level too */
            filter_below(sc, n, s->level);
        decode_batch(lg, b->queue, sc, n, stage ? stage->results : NULL);
        size_t m = render_lines(s, sc, n);
        sluice_queue_rendered(b->queue, b->cursor);
        size_t written = 0;
        int wrc = 0;
        if (m)
            wrc = sluice_sink_write_(s, sc->ptrs, m, &written, &sc->outcome, err);
        else
            sluice_outcome_reset(&sc->outcome, 0); /* all filtered: done */
        /* count before releasing: whoever sees pending drop (a flush) must
         * also see the records counted as written (or rejected), and the
         * rejected ones in the dead letter */
        size_t rejected = sc->outcome.rejected;
        atomic_fetch_add(diverting ? &b->diverted : &b->written, written - rejected);
        /* the filtered records before the first one not done are done too */
        size_t done = written == m ? n : sc->picked[written];
        if (rejected) {
            atomic_fetch_add(&b->rejected, rejected);
            if (lg->dead_letter) {
                /* the dead letter may take long: a crash meanwhile writes
                 * none of what s took or rejected again (crash.c) */
                sluice_queue_confirm(b->queue, b->cursor, sc->taken, n, done);
                if (dead_letter(b, s, sc, m))
                    dead_letter_dirty = true;
            }
        }
        sluice_queue_release(b->queue, b->cursor, sc->taken, n, done);
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
        if (recovering && !diverting && m) { /* a write, not all filtered */
            recovering = false;
            sluice_event_emit_(b, SLUICE_EVENT_RECOVERED, NULL, 0);
        }
        now = sluice_clock_monotonic_ns();
        if (now >= next_flush) {
            if (dirty && (rc = flush_or_fail(b, s, err)) != 0)
                break;
            dirty = false;
            if (dead_letter_dirty) { /* its failure is not this sink's */
                sluice_error e;
                sluice_sink_flush_(lg->dead_letter, &e);
                dead_letter_dirty = false;
            }
            next_flush = now + flush_every;
        }
    }
    if (dead_letter_dirty) {
        sluice_error e;
        sluice_sink_flush_(lg->dead_letter, &e);
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
    sluice_outcome_free(&sc->outcome);
    sluice_outcome_free(&sc->dl_outcome);
    sluice_buf_free(&sc->dl_lines);
    free(sc->dl_fields);
    free(sc);
    atomic_store(&b->in_run, 0);
    return rc;
}
