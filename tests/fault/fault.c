/*
 * fault.c -- a sink whose failures are scripted by options, for tests.
 *
 * Options (the table below): path, fail_every, fail_percent, seed,
 * fail_first_ms, down_every_ms, down_for_ms, hang_ms, partial, silent_path,
 * flush_count_path, open_delay_ms, reject_every.
 *
 *   path = FILE            append each record's line here (optional)
 *   fail_every = N         every Nth write() fails (0: never)
 *   fail_percent = P       each write() fails with probability P% (seeded)
 *   seed = S               seed for fail_percent and partial sizes
 *   fail_first_ms = T      every write() fails during the first T ms
 *   down_every_ms = E      an outage starts every E ms after open ...
 *   down_for_ms = D        ... and lasts D ms: every write() fails meanwhile
 *   hang_ms = H            each write() first sleeps H ms
 *   open_delay_ms = O      open() sleeps O ms, after creating path (so a
 *                          test can tell that open has begun)
 *   partial = honest|silent|none
 *                          on a failure, first write a prefix of the batch;
 *                          honest: report it in *written; silent: report 0
 *                          (those records will be written twice)
 *   silent_path = FILE     append the lines written silently here
 *   flush_count_path = FILE  each flush() appends one byte here
 *   reject_every = N       every Nth record the sink is done with is
 *                          rejected for good (sluice_record_reject), not
 *                          written: the Nth, 2Nth ... of the records it
 *                          reported done, so retries do not shift them
 *
 * Written against sluice/sink.h only, like any outside plugin.
 */
#include <sluice/sink.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const partial_choices[] = {"none", "honest", "silent", NULL};

static const sluice_option_spec fault_options[] = {
    {.name = "path", .type = SLUICE_OPTION_PATH,
     .description = "append each record's line here"},
    {.name = "fail_every", .type = SLUICE_OPTION_INT, .default_value = "0",
     .min = 0, .max = 1000000, .description = "every Nth write() fails; 0: never"},
    {.name = "fail_percent", .type = SLUICE_OPTION_INT, .default_value = "0",
     .min = 0, .max = 100,
     .description = "each write() fails with this probability (seeded)"},
    {.name = "seed", .type = SLUICE_OPTION_INT, .default_value = "1",
     .min = 0, .max = 1LL << 31,
     .description = "seed for fail_percent and the partial sizes"},
    {.name = "fail_first_ms", .type = SLUICE_OPTION_DURATION,
     .default_value = "0", .min = 0, .max = 3600000,
     .description = "every write() fails during this long after open"},
    {.name = "down_every_ms", .type = SLUICE_OPTION_DURATION,
     .default_value = "0", .min = 0, .max = 3600000,
     .description = "an outage starts this often after open ..."},
    {.name = "down_for_ms", .type = SLUICE_OPTION_DURATION,
     .default_value = "0", .min = 0, .max = 3600000,
     .description = "... and lasts this long: every write() fails meanwhile"},
    {.name = "hang_ms", .type = SLUICE_OPTION_DURATION, .default_value = "0",
     .min = 0, .max = 3600000, .description = "each write() first sleeps this long"},
    {.name = "partial", .type = SLUICE_OPTION_ENUM, .default_value = "none",
     .choices = partial_choices,
     .description = "on a failure, first write a prefix of the batch; honest "
                    "reports it, silent reports 0 (written twice)"},
    {.name = "silent_path", .type = SLUICE_OPTION_PATH,
     .description = "append the lines written silently here"},
    {.name = "flush_count_path", .type = SLUICE_OPTION_PATH,
     .description = "each flush() appends one byte here"},
    {.name = "open_delay_ms", .type = SLUICE_OPTION_DURATION, .default_value = "0",
     .min = 0, .max = 3600000,
     .description = "open() first sleeps this long (a slow start)"},
    {.name = "reject_every", .type = SLUICE_OPTION_INT, .default_value = "0",
     .min = 0, .max = 1000000,
     .description = "every Nth record done is rejected for good; 0: never"},
    {0}};

typedef struct fault {
    int fd, silent_fd, flush_fd;
    long long fail_every, fail_percent, fail_first_ms, down_every, down_for,
        hang_ms;
    int partial; /* 0 none, 1 honest, 2 silent */
    unsigned seed;
    unsigned long long calls;
    long long opened_ms;
    long long reject_every;
    unsigned long long done;   /* records reported done (written, rejected) */
    const sluice_host *host;   /* for sluice_record_reject */
} fault;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_out(const sluice_options *o, const char *key, int *fd,
                    sluice_error *err)
{
    const char *p = sluice_options_get_string(o, key);
    *fd = -1;
    if (!p)
        return 0;
    *fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (*fd < 0)
        return sluice_options_error(o, key, err, "%s: %s", p, strerror(errno));
    return 0;
}

static void fault_close(void *state)
{
    fault *f = state;
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    if (f->silent_fd >= 0)
        close(f->silent_fd);
    if (f->flush_fd >= 0)
        close(f->flush_fd);
    free(f);
}

static int fault_open(const sluice_options *o, void **state, sluice_error *err)
{
    fault *f = calloc(1, sizeof *f);
    if (!f)
        return sluice_error_set(err, "fault: out of memory");
    f->fd = f->silent_fd = f->flush_fd = -1;
    f->fail_every = sluice_options_get_int(o, "fail_every");
    f->fail_percent = sluice_options_get_int(o, "fail_percent");
    f->fail_first_ms = sluice_options_get_int(o, "fail_first_ms");
    f->down_every = sluice_options_get_int(o, "down_every_ms");
    f->down_for = sluice_options_get_int(o, "down_for_ms");
    f->hang_ms = sluice_options_get_int(o, "hang_ms");
    f->partial = sluice_options_get_enum(o, "partial");
    f->reject_every = sluice_options_get_int(o, "reject_every");
    f->host = o->host;
    long long seed = sluice_options_get_int(o, "seed");
    long long open_delay_ms = sluice_options_get_int(o, "open_delay_ms");
    if (open_out(o, "path", &f->fd, err) || open_out(o, "silent_path", &f->silent_fd, err) ||
        open_out(o, "flush_count_path", &f->flush_fd, err))
        goto bad;
    if (open_delay_ms) {
        struct timespec ts = {open_delay_ms / 1000, (long)(open_delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    f->seed = (unsigned)seed;
    f->opened_ms = now_ms();
    *state = f;
    return 0;
bad:
    fault_close(f);
    return -1;
}

static int put(int fd, const sluice_record *const *batch, size_t n)
{
    for (size_t i = 0; i < n && fd >= 0; i++) {
        const char *p = batch[i]->line;
        size_t left = batch[i]->line_len;
        while (left) {
            ssize_t w = write(fd, p, left);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            p += w;
            left -= (size_t)w;
        }
    }
    return 0;
}

/* Report batch[0..n) done: every reject_every-th record is rejected, the
 * others written to path. */
static int deliver(fault *f, const sluice_record *const *batch, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        f->done++;
        if (f->reject_every && f->done % (unsigned long long)f->reject_every == 0) {
            sluice_record_reject(f->host, i, "fault: scripted rejection of "
                                 "record %llu", f->done);
            continue;
        }
        if (put(f->fd, batch + i, 1) != 0)
            return -1;
    }
    return 0;
}

static int should_fail(fault *f)
{
    long long age = now_ms() - f->opened_ms;
    if (f->fail_every && f->calls % (unsigned long long)f->fail_every == 0)
        return 1;
    if (f->fail_percent && (long long)(rand_r(&f->seed) % 100) < f->fail_percent)
        return 1;
    if (f->fail_first_ms && age < f->fail_first_ms)
        return 1;
    if (f->down_every && f->down_for && age % f->down_every >= f->down_every - f->down_for)
        return 1;
    return 0;
}

static int fault_write(void *state, const sluice_record *const *batch, size_t n,
                       size_t *written, sluice_error *err)
{
    fault *f = state;
    f->calls++;
    *written = 0;
    if (f->hang_ms) {
        struct timespec ts = {f->hang_ms / 1000, (long)(f->hang_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    if (!should_fail(f)) {
        if (f->reject_every ? deliver(f, batch, n) : put(f->fd, batch, n))
            return sluice_error_set(err, "fault: write: %s", strerror(errno));
        *written = n;
        return 0;
    }
    size_t prefix = (f->partial && n > 1) ? (size_t)(rand_r(&f->seed) % n) : 0;
    if (prefix) {
        if (f->partial == 1) {
            if (f->reject_every)
                deliver(f, batch, prefix);
            else
                put(f->fd, batch, prefix);
            *written = prefix;
        } else {
            put(f->fd, batch, prefix);
            put(f->silent_fd, batch, prefix);
        }
    }
    return sluice_error_set(err, "fault: scripted failure at call %llu",
                            f->calls);
}

static int fault_flush(void *state, sluice_error *err)
{
    fault *f = state;
    (void)err;
    if (f->flush_fd >= 0 && write(f->flush_fd, "f", 1) < 0)
        return sluice_error_set(err, "fault: flush count: %s", strerror(errno));
    return 0;
}

static const sluice_sink_api fault_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "fault",
    .description = "fault injection for tests: scripted failures, hangs, partial writes",
    .open = fault_open,
    .write = fault_write,
    .flush = fault_flush,
    .close = fault_close,
    .options = fault_options,
};

const sluice_sink_api *sluice_sink_entry(void) { return &fault_api; }
