/*
 * crash.c -- [runtime] crash_flush: on SIGSEGV, SIGBUS, SIGILL, SIGFPE or
 * SIGABRT, write what is still queued to the sinks that declare themselves
 * crash-safe (their table has crash_write), from the signal handler, then
 * let the signal end the process as it would have.
 *
 * Owns: the handlers (installed once per process, when the first runtime
 * with crash_flush starts; the actions found before are kept), a lock-free
 * registry of the runtimes to write (a fixed array of atomic pointers, set
 * at start, cleared once close has drained what it could, before anything
 * is freed), and what each of them needs to render without allocating (set
 * aside at start, made anew by a reload whose generations need more room,
 * or whose file turns crash_flush on).
 *
 * The handler, on the first thread that gets there (a second crashing
 * thread waits for the first to end the process):
 *   1. sets sluice_crash_pending_: the workers of registered runtimes take
 *      no more batches (crash_internal.h has the handshake);
 *   2. waits up to CRASH_BATCH_WAIT_NS (1 s) for the batches in flight
 *      to end (no ring's cursor has records taken: sluice_queue_in_flight)
 *      on the bindings it will write, except one the crashing thread
 *      itself holds (it will never end);
 *   3. for every binding of every generation of every registered runtime
 *      (not a fork child's copy), a face's oldest generation first (the
 *      ones a reload retired still hold records the sink gets before the
 *      new generation's: runtime_internal.h's list of them), renders the
 *      records from its cursors' done to the heads,
 *      across the rings in the order the worker takes them (a queue scan:
 *      queue.c), exactly as the worker would (the sink's format and
 *      pattern; the message from the call site's format by the printf
 *      interpreter, in its signal-safe mode), and hands them to the sink's
 *      crash_write in runs of whole lines, through the doorway (sink.c).
 *      Records below the binding's level (written to a fallback, below
 *      the fallback's own too) are skipped, as the worker passes them
 *      unwritten. A binding diverting into its logger's fallback writes
 *      there, and so does one whose sink is not crash-safe or whose
 *      crash_write fails, when the fallback is crash-safe;
 *   4. puts the previous action back (a handler of the host's, or else
 *      SIG_DFL), unblocks the signal and raises it: the process ends as it
 *      would have without sluice (killed by the signal, core dump), or the
 *      host's own handler runs (a fault it gets by returning: the
 *      instruction faults again, with the true siginfo).
 *
 * What it does not do: allocate, take a lock the crashing thread may hold
 * (the one trylock, on each ring's lock of a drop_oldest queue to keep
 * producers from evicting what is being written, gives up after a few
 * ms), use stdio or gmtime_r/localtime, move a cursor, or run post-hooks
 * (host code that cannot run in a signal handler): the records of a logger
 * with post-hooks are not written at all, since a hook may redact what
 * they hold (and its post-hook stage, whose take is gated as a sink's,
 * hooks nothing more).
 *
 * Duplicates: a batch still in flight when the wait ends (a sink hung in
 * write(), or the crash struck inside the worker's own batch) is written
 * again from cursor.done: a duplicate is better than a loss. Not what the
 * sink already took or rejected when its worker went on to hand the
 * rejected records to the dead letter (which may hang): the worker
 * marked where they end (sluice_queue_confirm) and the scan starts there,
 * so a record a sink rejected never comes back to it. Should that batch
 * end after all while the handler writes and producers reuse its room, a
 * record read as its room is claimed over is dropped (the scan sees it:
 * its worker wrote it).
 *
 * Limits: a message longer than CRASH_MESSAGE_MAX or a line longer than
 * CRASH_OUT_MAX is cut (the line still ends in '\n'); a record with more
 * than CRASH_CALL_FIELDS_MAX fields of its own keeps the first ones; times
 * are converted with the tick rate measured when the runtime started,
 * anchored at the crash; a record a producer is still filling is waited
 * for (CRASH_FILL_WAIT_NS for the whole flush), then passed, unread. A
 * flush that is still writing after CRASH_DEADLINE_S (a sink's descriptor
 * that blocks) is cut short by SIGALRM, which ends the process with the
 * crash's signal.
 *
 * Reloads (reload.c) run on while the handler writes. The handler reads
 * no list a reload swaps or frees (rt->loggers, a face's gens): it walks
 * the runtime's list of generations, which is only appended to (acquire
 * loads), and leaves alone a binding whose run loop a reload ended for
 * good (retired: its sink may be closed, its rings unmapped). A reload
 * marks them retired, then waits for a flush under way
 * (sluice_crash_quiesce_) before it frees either: so the handler either
 * sees the mark or finishes before the free (seq_cst, store buffering).
 *
 * Knows nothing of plugins' tables (sink.c), of INI, or of how records get
 * into the queue.
 */
#include "crash_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock_internal.h"
#include "format_internal.h"
#include "printf_internal.h"
#include "sink_internal.h"

#define CRASH_RUNTIMES_MAX 64          /* runtimes with crash_flush at once */
#define CRASH_MESSAGE_MAX (64 * 1024)  /* one record's rendered message */
#define CRASH_OUT_MAX (256 * 1024)     /* lines handed to crash_write at once */
#define CRASH_CALL_FIELDS_MAX 1024     /* fields of a record's own */
#define CRASH_BATCH_WAIT_NS 1000000000LL /* for the batches in flight */
#define CRASH_FILL_WAIT_NS 20000000LL  /* for records still being filled */
#define CRASH_LOCK_WAIT_NS 5000000LL   /* for a ring's lock (drop_oldest) */
#define CRASH_DEADLINE_S 10            /* the whole flush */

typedef struct crash_state {
    sluice_runtime *rt;
    sluice_clock_snapshot clock;   /* at start: the tick rate */
    sluice_time_cache time_cache;
    char *message;                 /* CRASH_MESSAGE_MAX */
    char *out;                     /* CRASH_OUT_MAX */
    sluice_field *fields;          /* base fields, then the record's own */
    size_t field_cap;
    size_t *plan;                  /* format.c's merge of repeated keys */
    size_t plan_words;
} crash_state;

static crash_state *_Atomic registry[CRASH_RUNTIMES_MAX];

_Atomic bool sluice_crash_pending_;
SLUICE_TLS sluice_binding *_Atomic sluice_crash_batch_;

static _Atomic int flushing;           /* a flush is reading the registry */
static _Atomic uintptr_t flusher;      /* the thread that flushes, or 0 */
static SLUICE_TLS char thread_mark;    /* its address names the thread */

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
#define CRASH_SIGNALS (sizeof crash_signals / sizeof crash_signals[0])
static struct sigaction previous[CRASH_SIGNALS]; /* before ours */
static volatile sig_atomic_t crash_signal;      /* for the watchdog */
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

/* ---- small signal-safe helpers ------------------------------------------ */

static void nap_ns(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

static bool past(int64_t deadline)
{
    return deadline != INT64_MAX && sluice_clock_monotonic_ns() >= deadline;
}

static crash_state *registered(size_t i)
{
    return atomic_load(&registry[i]); /* seq_cst: pairs with unregister */
}

/* Where rt is in the registry, or CRASH_RUNTIMES_MAX. */
static size_t place_of(const sluice_runtime *rt)
{
    for (size_t i = 0; i < CRASH_RUNTIMES_MAX; i++) {
        crash_state *s = registered(i);
        if (s && s->rt == rt)
            return i;
    }
    return CRASH_RUNTIMES_MAX;
}

static bool covers(const sluice_runtime *rt)
{
    return place_of(rt) < CRASH_RUNTIMES_MAX;
}

/* ---- the workers' side ---------------------------------------------------- */

size_t sluice_crash_stop_(sluice_binding *b, unsigned consumer,
                          const sluice_taken *out, size_t n)
{
    if (!covers(b->logger->rt))
        return n;
    if (n) /* untouched: the handler writes it (or, hooked, nobody) */
        sluice_queue_release(b->queue, consumer, out, n, 0);
    atomic_store_explicit(&sluice_crash_batch_, NULL, memory_order_relaxed);
    while (atomic_load(&sluice_crash_pending_))
        nap_ns(10000000); /* until the signal ends the process */
    return 0;
}

/* ---- step 2: the batches in flight ---------------------------------------- */

/* The sink b's backlog goes to first, and its fallback when that fails
 * (NULL: none that is crash-safe). A logger with post-hooks: none. */
static sluice_sink_instance *target(sluice_binding *b,
                                    sluice_sink_instance **fallback)
{
    sluice_logger *lg = b->logger;
    *fallback = NULL;
    if (atomic_load(&lg->post_hook_count))
        return NULL; /* host code: not from a signal handler */
    if (lg->fallback && sluice_sink_crash_safe_(lg->fallback))
        *fallback = lg->fallback;
    if (atomic_load(&b->diverting) && lg->fallback)
        return *fallback;
    return sluice_sink_crash_safe_(b->sink) ? b->sink : *fallback;
}

/* A binding whose run loop a reload ended for good (its counters frozen,
 * then its sink released, its generation perhaps buried): nothing of it
 * but the mark may be read. seq_cst: the other half is the reload's
 * sluice_crash_quiesce_ after the mark. */
static bool retired(sluice_binding *b)
{
    return atomic_load(&b->retired);
}

static bool binding_in_flight(sluice_binding *b)
{
    sluice_sink_instance *fallback;
    if (retired(b) || !target(b, &fallback))
        return false; /* nothing will be written: no need to wait */
    if (b == atomic_load_explicit(&sluice_crash_batch_, memory_order_relaxed))
        return false; /* this thread's own: it will never end */
    return sluice_queue_in_flight(b->queue, b->cursor);
}

static void wait_for_batches(int64_t deadline)
{
    for (;;) {
        bool busy = false;
        for (size_t i = 0; i < CRASH_RUNTIMES_MAX && !busy; i++) {
            crash_state *s = registered(i);
            if (!s || s->rt->forked)
                continue;
            SLUICE_FOR_EACH_RUNTIME_GEN(s->rt, gen) {
                size_t count = sluice_gen_binding_count_(gen);
                for (size_t k = 0; k < count && !busy; k++)
                    busy = binding_in_flight(&gen->bindings[k]);
            }
        }
        if (!busy || past(deadline))
            return;
        nap_ns(1000000);
    }
}

/* ---- step 3: rendering and writing ---------------------------------------- */

/* What one binding's write is at: the lines gathered for crash_write. */
typedef struct crash_run {
    crash_state *state;
    sluice_binding *binding;
    sluice_sink_instance *sink;
    unsigned level;                /* records below it are not for sink */
    sluice_clock_snapshot clock;   /* anchored at the crash */
    sluice_buf out;
    sluice_queue_scan scan;        /* the next record to render */
    sluice_queue_scan out_start;   /* the scan before the first line in out */
    size_t records;                /* handed to crash_write so far */
    size_t pending;                /* lines in out */
    bool failed;                   /* crash_write failed: stop */
    int64_t fill_deadline;
} crash_run;

/* The record t as the worker's decode_batch makes it (but for the
 * post-hooks), from head (a copy of its header) and its payload where it
 * lies in the queue, its message rendered into the state's message area. */
static void decode(crash_run *run, const sluice_taken *t, const sluice_rec *head,
                   sluice_record *r)
{
    crash_state *s = run->state;
    sluice_logger *lg = run->binding->logger;
    const unsigned char *payload = t->rec->payload;
    sluice_taken copy = *t;
    copy.rec = head;
    const sluice_queue *q = run->binding->queue;
    sluice_worker_record_init_(r, lg, q, &copy, &run->clock);
    /* a durable queue's record names its call site by id: the table is
     * in memory, filled before the record was published */
    const sluice_callsite *cs =
        head->kind == SLUICE_KIND_ARGS ? sluice_queue_site(q, head) : NULL;
    if (cs) {
        sluice_buf message;
        sluice_buf_init_fixed(&message, s->message, CRASH_MESSAGE_MAX);
        /* the interpreter: a compiled program would be allocated */
        sluice_printf_render_interp(&message, cs->format, cs->arg_types,
                                    cs->arg_count, payload, head->args_length);
        r->message = message.data;
        r->message_len = message.len;
    } else {
        r->message = (const char *)payload; /* the text itself */
        r->message_len = head->args_length;
    }
    r->fields = lg->fields;
    r->field_count = lg->field_count;
    if (head->field_count) {
        size_t room = s->field_cap - lg->field_count;
        size_t want = head->field_count < room ? head->field_count : room;
        if (lg->field_count)
            memcpy(s->fields, lg->fields, lg->field_count * sizeof *s->fields);
        size_t got = sluice_worker_decode_fields_(
            payload + head->args_length, head->length - head->args_length,
            want, s->fields + lg->field_count);
        r->fields = s->fields;
        r->field_count = lg->field_count + got;
    }
}

/* Hand the lines gathered to the sink. */
static void put_out(crash_run *run)
{
    if (run->out.len == 0)
        return;
    if (sluice_sink_crash_write_(run->sink, run->out.data, run->out.len) != 0)
        run->failed = true;
    else
        run->records += run->pending;
    run->out.len = 0;
    run->out.failed = 0;
    run->pending = 0;
}

/* Render record t into the lines gathered, handing them over first when
 * it does not fit; before is the scan as it was before t. A record whose
 * room was claimed over while it was read is left out: its worker wrote
 * it after all (the scan goes on from its cursor), and what was read may
 * be torn. */
static void add_record(crash_run *run, const sluice_taken *t,
                       const sluice_queue_scan *before)
{
    /* the header copied, then checked: only then is its call site (a
     * pointer) and are its lengths to be trusted */
    sluice_rec head;
    memcpy(&head, t->rec, sizeof head);
    if (!sluice_queue_scan_intact(&run->scan, t))
        return;
    if (head.level < run->level)
        return; /* not for this sink: its worker would pass it unwritten */
    sluice_record r;
    decode(run, t, &head, &r);
    const sluice_format *format = &run->sink->format;
    sluice_time_cache *time_cache = &run->state->time_cache;
    size_t mark = run->out.len;
    sluice_format_render(&run->out, format, &r, time_cache);
    if (run->out.failed && mark > 0) { /* hand over what fits, then again */
        run->out.len = mark;
        run->out.failed = 0;
        put_out(run);
        if (run->failed)
            return;
        mark = 0;
        if (sluice_queue_scan_intact(&run->scan, t))
            sluice_format_render(&run->out, format, &r, time_cache);
    }
    if (!sluice_queue_scan_intact(&run->scan, t)) {
        run->out.len = mark;
        run->out.failed = 0;
        return;
    }
    if (run->out.failed) { /* longer than the whole area: cut, ended */
        run->out.data[run->out.cap - 1] = '\n';
        run->out.len = run->out.cap;
        run->out.failed = 0;
    }
    if (run->pending++ == 0)
        run->out_start = *before;
}

/* The next record of the scan. A producer may still be filling one: wait
 * a little (the crashing thread may be that producer: then never), then
 * pass it. false at the end. */
static bool next_record(crash_run *run, sluice_taken *t)
{
    for (;;) {
        int got = sluice_queue_scan_next(&run->scan, t);
        if (got != SLUICE_SCAN_FILLING)
            return got == SLUICE_SCAN_RECORD;
        if (past(run->fill_deadline))
            sluice_queue_scan_pass_filling(&run->scan);
        else
            nap_ns(100000);
    }
}

/* Write the records from run->scan on to run->sink. false when
 * crash_write failed: run->scan is then back before the first record of
 * the lines it failed to take. */
static bool write_scan(crash_run *run)
{
    run->failed = false;
    run->pending = 0;
    sluice_buf_init_fixed(&run->out, run->state->out, CRASH_OUT_MAX);
    sluice_queue_scan before = run->scan;
    sluice_taken t;
    while (!run->failed && next_record(run, &t)) {
        add_record(run, &t, &before);
        before = run->scan;
    }
    if (!run->failed)
        put_out(run);
    if (run->failed)
        run->scan = run->out_start;
    return !run->failed;
}

/* Below it, a record of b is not for sink: b's cursor's level, and as the
 * worker filters for a fallback, the fallback's own beyond it. */
static unsigned level_for(sluice_binding *b, const sluice_sink_instance *sink)
{
    unsigned level = (unsigned)sluice_queue_level(b->queue, b->cursor);
    if (sink != b->sink && (unsigned)sink->level > level)
        level = (unsigned)sink->level;
    return level;
}

/* Keep drop_oldest from evicting the records being written (queue.c): a
 * trylock on each ring's lock, since the crashing thread may hold one;
 * past the deadline, go on without. */
static void hold_rings(sluice_queue *q, unsigned consumer, int64_t deadline)
{
    for (unsigned ring = 0; ring < q->rings; ring++)
        while (!sluice_queue_try_hold(q, consumer, ring) && !past(deadline))
            nap_ns(100000);
}

static size_t write_binding(crash_state *s, sluice_binding *b,
                            const sluice_clock_snapshot *clock,
                            int64_t *fill_deadline)
{
    if (retired(b))
        return 0; /* its records were written, or a reload counted them */
    sluice_logger *lg = b->logger;
    sluice_sink_instance *fallback;
    sluice_sink_instance *sink = target(b, &fallback);
    if (!sink)
        return 0;
    if (lg->overflow == SLUICE_OVERFLOW_DROP_OLDEST)
        hold_rings(b->queue, b->cursor,
                   sluice_clock_monotonic_ns() + CRASH_LOCK_WAIT_NS);
    crash_run run = {.state = s, .binding = b, .sink = sink,
                     .level = level_for(b, sink), .clock = *clock,
                     .fill_deadline = *fill_deadline};
    sluice_queue_scan_start(&run.scan, b->queue, b->cursor);
    if (!write_scan(&run) && fallback && sink != fallback) {
        run.sink = fallback;
        run.level = level_for(b, fallback);
        write_scan(&run);
    }
    *fill_deadline = run.fill_deadline; /* one budget for the whole flush */
    return run.records;
}

static size_t write_runtime(crash_state *s, int64_t *fill_deadline)
{
    sluice_runtime *rt = s->rt;
    /* times: the tick rate from start, anchored now */
    sluice_clock_snapshot clock = s->clock;
    if (clock.tsc) {
        clock.tick0 = sluice_clock_ticks();
        clock.ns0 = sluice_clock_realtime_ns();
    }
    size_t records = 0;
    /* oldest first: a sink that a replaced logger's old and new generation
     * both feed gets the old records first, as its run loops would */
    SLUICE_FOR_EACH_RUNTIME_GEN(rt, gen)
        for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++)
            records += write_binding(s, &gen->bindings[k], &clock,
                                     fill_deadline);
    return records;
}

/* Steps 1 to 3; wait_ns for the batches in flight. */
static size_t flush_all(int64_t wait_ns)
{
    atomic_store(&flushing, 1);
    /* an exchange: a full barrier before reading the cursors (no fence,
     * which ThreadSanitizer cannot follow) */
    atomic_exchange(&sluice_crash_pending_, true);
    int64_t now = sluice_clock_monotonic_ns();
    wait_for_batches(wait_ns > INT64_MAX - now ? INT64_MAX : now + wait_ns);
    int64_t fill_deadline = sluice_clock_monotonic_ns() + CRASH_FILL_WAIT_NS;
    size_t records = 0;
    for (size_t i = 0; i < CRASH_RUNTIMES_MAX; i++) {
        crash_state *s = registered(i);
        if (!s || s->rt->forked)
            continue; /* a fork child's copy: the parent writes those */
        sluice_printf_signal_safe_(1);
        sluice_format_plan_arena_(s->plan, s->plan_words);
        records += write_runtime(s, &fill_deadline);
        sluice_format_plan_arena_(NULL, 0);
        sluice_printf_signal_safe_(0);
    }
    atomic_store(&flushing, 0);
    return records;
}

/* ---- step 4 and the handler ------------------------------------------------ */

static bool is_handler(const struct sigaction *a)
{
    if (a->sa_flags & SA_SIGINFO)
        return a->sa_sigaction != NULL;
    return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

static void unblock(int sig)
{
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    pthread_sigmask(SIG_UNBLOCK, &only, NULL);
}

static void set_default(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
}

/* The flush took too long (a write that blocks): end it all now. */
static void on_watchdog(int sig)
{
    (void)sig;
    set_default(crash_signal);
    unblock(crash_signal);
    raise(crash_signal);
}

static void arm_watchdog(void)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_watchdog;
    sigemptyset(&act.sa_mask);
    sigaction(SIGALRM, &act, NULL);
    unblock(SIGALRM);
    alarm(CRASH_DEADLINE_S);
}

/* Step 4: the action found before ours, as if we had not been there. */
static void pass_on(int sig, const siginfo_t *info)
{
    const struct sigaction *before = NULL;
    for (size_t i = 0; i < CRASH_SIGNALS; i++)
        if (crash_signals[i] == sig)
            before = &previous[i];
    if (before && is_handler(before)) {
        sigaction(sig, before, NULL);
        if (info && info->si_code > 0 && sig != SIGABRT)
            return; /* a fault: returning runs the instruction again */
    } else {
        set_default(sig); /* SIG_DFL: killed by sig, with its core dump */
    }
    unblock(sig);
    raise(sig);
}

static void on_crash(int sig, siginfo_t *info, void *context)
{
    (void)context;
    int saved_errno = errno;
    uintptr_t self = (uintptr_t)&thread_mark;
    uintptr_t nobody = 0;
    if (atomic_compare_exchange_strong(&flusher, &nobody, self)) {
        crash_signal = sig;
        arm_watchdog();
        flush_all(CRASH_BATCH_WAIT_NS);
    } else if (nobody != self) {
        /* another thread crashed first and is writing: it ends the
         * process; should it not, go on after the deadline */
        int64_t deadline = sluice_clock_monotonic_ns() +
                           (int64_t)CRASH_DEADLINE_S * 1000000000;
        while (!past(deadline))
            nap_ns(10000000);
    } /* else a second signal on the thread that flushed: just pass it on */
    pass_on(sig, info);
    errno = saved_errno;
}

static void install(void)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_sigaction = on_crash;
    act.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&act.sa_mask);
    for (size_t i = 0; i < CRASH_SIGNALS; i++)
        sigaddset(&act.sa_mask, crash_signals[i]);
    /* a crash_write to a pipe whose reader left: EPIPE, not death by
     * SIGPIPE (it stays pending, blocked, until the process ends) */
    sigaddset(&act.sa_mask, SIGPIPE);
    for (size_t i = 0; i < CRASH_SIGNALS; i++) {
        /* read first: the handler may run as soon as it is installed */
        sigaction(crash_signals[i], NULL, &previous[i]);
        sigaction(crash_signals[i], &act, NULL);
    }
}

/* ---- registering ------------------------------------------------------------ */

static void free_state(crash_state *s)
{
    if (!s)
        return;
    free(s->message);
    free(s->out);
    free(s->fields);
    free(s->plan);
    free(s);
}

/* Room for the base fields of rt's generations and base_max more (those
 * of a reload's new generations, before they are published). */
static crash_state *make_state(sluice_runtime *rt, size_t base_max)
{
    crash_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->rt = rt;
    SLUICE_FOR_EACH_RUNTIME_GEN(rt, gen)
        if (gen->field_count > base_max)
            base_max = gen->field_count;
    s->field_cap = base_max + CRASH_CALL_FIELDS_MAX;
    s->plan_words = sluice_format_plan_words_(s->field_cap);
    s->message = malloc(CRASH_MESSAGE_MAX);
    s->out = malloc(CRASH_OUT_MAX);
    s->fields = calloc(s->field_cap, sizeof *s->fields);
    s->plan = calloc(s->plan_words, sizeof *s->plan);
    if (!s->message || !s->out || !s->fields || !s->plan) {
        free_state(s);
        return NULL;
    }
    sluice_clock_snapshot_take(&s->clock);
    sluice_time_cache_init(&s->time_cache);
    return s;
}

/* Put s in a free place of the registry (installing the handlers first);
 * -1 with err (s freed) when there is none. */
static int place(crash_state *s, sluice_error *err)
{
    pthread_once(&install_once, install);
    for (size_t i = 0; i < CRASH_RUNTIMES_MAX; i++) {
        crash_state *empty = NULL;
        if (atomic_compare_exchange_strong(&registry[i], &empty, s))
            return 0;
    }
    free_state(s);
    return sluice_error_set(err,
                            "[runtime] crash_flush: more than %d runtimes "
                            "with crash_flush are open in this process",
                            CRASH_RUNTIMES_MAX);
}

int sluice_crash_register_(sluice_runtime *rt, sluice_error *err)
{
    crash_state *s = make_state(rt, 0);
    if (!s)
        return sluice_error_set(err, "crash_flush: out of memory");
    return place(s, err);
}

/* Wait until no flush is reading the registry's runtimes (seq_cst: after
 * the caller's stores). A flush from a real crash never ends: the caller
 * waits until the process does. */
void sluice_crash_quiesce_(void)
{
    while (atomic_load(&flushing))
        nap_ns(10000000);
}

int sluice_crash_prepare_(sluice_runtime *rt, size_t base_fields, bool *added,
                          sluice_error *err)
{
    *added = false;
    size_t at = place_of(rt);
    crash_state *old = at < CRASH_RUNTIMES_MAX ? registered(at) : NULL;
    if (old && old->field_cap >= base_fields + CRASH_CALL_FIELDS_MAX)
        return 0; /* room enough: the new generations fit */
    crash_state *s = make_state(rt, base_fields);
    if (!s)
        return sluice_error_set(err, "crash_flush: out of memory");
    if (!old) {
        if (place(s, err) != 0)
            return -1;
        *added = true;
        return 0;
    }
    /* only rt's reload and close write its place, one at a time */
    atomic_store(&registry[at], s);
    sluice_crash_quiesce_(); /* a flush may still be reading the old one */
    free_state(old);
    return 0;
}

void sluice_crash_unregister_(sluice_runtime *rt)
{
    crash_state *found = NULL;
    for (size_t i = 0; i < CRASH_RUNTIMES_MAX && !found; i++) {
        crash_state *s = registered(i);
        if (s && s->rt == rt) {
            atomic_store(&registry[i], NULL);
            found = s;
        }
    }
    if (!found)
        return;
    /* seq_cst, after the store: a flush that began before may be reading
     * it (the process is ending then); one that begins now cannot */
    while (atomic_load(&flushing))
        nap_ns(10000000);
    free_state(found);
}

/* ---- for tests ---------------------------------------------------------------- */

size_t sluice_crash_flush_now_(int64_t wait_ns)
{
    return flush_all(wait_ns);
}

void sluice_crash_resume_(void)
{
    for (size_t i = 0; i < CRASH_RUNTIMES_MAX; i++) {
        crash_state *s = registered(i);
        if (!s)
            continue;
        SLUICE_FOR_EACH_RUNTIME_GEN(s->rt, gen)
            for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++)
                if (!retired(&gen->bindings[k]))
                    sluice_queue_unhold(gen->bindings[k].queue,
                                        gen->bindings[k].cursor);
    }
    atomic_store(&sluice_crash_pending_, false);
}
