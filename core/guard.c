/*
 * guard.c -- who is inside an API call on a runtime, so that close can
 * wait for them before it frees what they read (guard_internal.h).
 *
 * Each calling thread has a word (sluice_guard_, thread-local) naming the
 * logger or runtime it is in a call on; the thread registers the word's
 * address here on its first call and takes it back when it exits (a
 * pthread key's destructor). A caller stores its word, then reads the
 * state bits; close stores the bits, then reads the words; both seq_cst,
 * so either close sees the caller inside or the caller sees the bits.
 * Knows nothing of queues, sinks or what the calls do.
 */
#include "guard_internal.h"

#include <sluice/sluice.h> /* sluice_fast_thread_, exported */

#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

_Thread_local __attribute__((tls_model("initial-exec")))
sluice_guard_tls sluice_guard_;
/* The call site's copy of thread_id and thread_index (sluice/fast.h). */
__thread __attribute__((tls_model("initial-exec")))
struct sluice_fast_thread_ sluice_fast_thread_;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic uint32_t thread_counter; /* thread indexes, 1-based */
static pthread_key_t exit_key;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static sluice_guard_tls **registry;  /* the registered threads' words */
static size_t registry_count, registry_cap;

static void unregister(void *word)
{
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < registry_count; i++) {
        if (registry[i] == word) {
            registry[i] = registry[--registry_count];
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    /* a later call on this thread (another key's destructor) registers
     * again, and the key's destructor runs again for it */
    ((sluice_guard_tls *)word)->thread_id = 0;
    sluice_fast_thread_.id = 0; /* the destructor runs on the exiting thread */
}

static void init_once(void)
{
    pthread_key_create(&exit_key, unregister);
}

void sluice_guard_register_(void)
{
    pthread_once(&once, init_once);
    sluice_guard_tls *g = &sluice_guard_;
    uint32_t tid = (uint32_t)syscall(SYS_gettid);
    pthread_mutex_lock(&registry_lock);
    if (registry_count == registry_cap) {
        size_t cap = registry_cap ? registry_cap * 2 : 64;
        sluice_guard_tls **grown = realloc(registry, cap * sizeof *grown);
        if (!grown) {
            /* unregistered, this thread's calls would go unseen by close:
             * not a risk to take; its calls will try again */
            pthread_mutex_unlock(&registry_lock);
            return;
        }
        registry = grown;
        registry_cap = cap;
    }
    registry[registry_count++] = g;
    pthread_mutex_unlock(&registry_lock);
    pthread_setspecific(exit_key, g);
    if (g->thread_index == 0)
        g->thread_index = atomic_fetch_add(&thread_counter, 1) + 1;
    g->thread_id = tid;
    /* the ring's offset in the queue: sluice_queue's ring_off_mask */
    sluice_fast_thread_.ring = g->thread_index << 8;
    sluice_fast_thread_.id = tid;
}

static bool names_one_of(const void *word, const void *const *objs, size_t n)
{
    if (!word)
        return false;
    for (size_t i = 0; i < n; i++)
        if (objs[i] == word)
            return true;
    return false;
}

bool sluice_guard_busy_(const void *const *objs, size_t n)
{
    sluice_guard_tls *self = &sluice_guard_;
    bool busy = false;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < registry_count && !busy; i++)
        if (registry[i] != self)
            busy = names_one_of(atomic_load_explicit(&registry[i]->inside,
                                                     memory_order_seq_cst),
                                objs, n);
    pthread_mutex_unlock(&registry_lock);
    return busy;
}

void sluice_guard_lock_(void)
{
    pthread_mutex_lock(&registry_lock);
}

void sluice_guard_unlock_(void)
{
    pthread_mutex_unlock(&registry_lock);
}

void sluice_guard_after_fork_child_(void)
{
    /* the other threads are gone, whatever their words said */
    pthread_mutex_init(&registry_lock, NULL);
    sluice_guard_tls *self = &sluice_guard_;
    size_t kept = 0;
    for (size_t i = 0; i < registry_count; i++)
        if (registry[i] == self)
            registry[kept++] = self;
    registry_count = kept;
}
