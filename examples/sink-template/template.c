/*
 * template.c -- a sink plugin to start from (ABI 2). Copy this file, rename
 * the sink, and build it with one line:
 *
 *     cc -shared -fPIC -I/path/to/sluice/include -o template.so template.c
 *
 * (after `meson install`: cc -shared -fPIC $(pkg-config --cflags sluice) ...)
 *
 * It appends each record's line to `path`, after an optional `prefix`.
 * Its options are declared as data (template_options): the runtime parses
 * and checks them before open() (a relative path is resolved against the
 * configuration file's folder, which must exist and be writable), reports
 * every mistake with its line, and `sluice plugins template` prints them.
 * The runtime renders `line` in the sink's format (text, json, logfmt)
 * with control characters escaped; structured parts (message, level,
 * fields, time_ns) are there too for sinks that build their own wire format.
 */
#include <sluice/sink.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every option this sink accepts; the runtime refuses any other key. */
static const sluice_option_spec template_options[] = {
    {.name = "path", .type = SLUICE_OPTION_PATH,
     .flags = SLUICE_OPTION_REQUIRED | SLUICE_OPTION_WRITABLE_DIR,
     .description = "the file to append to"},
    {.name = "prefix", .type = SLUICE_OPTION_STRING, .default_value = "",
     .min = 0, .max = 64, .description = "written before each line"},
    {0}};

typedef struct template_sink {
    int fd;
    char *prefix;
} template_sink;

/* The values are parsed and checked already: only open what they say. */
static int template_open(const sluice_options *opts, void **state,
                         sluice_error *err)
{
    const char *path = sluice_options_get_string(opts, "path");
    template_sink *s = calloc(1, sizeof *s);
    if (!s)
        return sluice_error_set(err, "template: out of memory");
    s->prefix = strdup(sluice_options_get_string(opts, "prefix"));
    s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (s->fd < 0 || !s->prefix) {
        int e = errno;
        if (s->fd >= 0)
            close(s->fd);
        free(s->prefix);
        free(s);
        return sluice_options_error(opts, "path", err, "%s: %s", path, strerror(e));
    }
    *state = s;
    return 0;
}

/* Write all of p[0..n), resuming after a short write. */
static int put(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write what you can; say how many records are done. The rest stay queued
 * and are offered again after the supervisor's backoff. `path` may be a
 * FIFO whose reader leaves: SIGPIPE is blocked for the batch (and one it
 * raised taken back), so that is an EPIPE error, never the host's death. */
static int template_write(void *state, const sluice_record *const *batch,
                          size_t n, size_t *written, sluice_error *err)
{
    template_sink *s = state;
    size_t plen = strlen(s->prefix);
    int rc = 0;
    sluice_sigpipe_guard guard;
    sluice_sigpipe_block(&guard);
    for (*written = 0; *written < n; (*written)++) {
        const sluice_record *r = batch[*written];
        if (put(s->fd, s->prefix, plen) || put(s->fd, r->line, r->line_len)) {
            rc = sluice_error_set(err, "template: write: %s", strerror(errno));
            break;
        }
    }
    sluice_sigpipe_unblock(&guard);
    return rc;
}

static int template_flush(void *state, sluice_error *err)
{
    template_sink *s = state;
    if (fdatasync(s->fd) != 0 && errno != EINVAL)
        return sluice_error_set(err, "template: fdatasync: %s", strerror(errno));
    return 0;
}

static void template_close(void *state)
{
    template_sink *s = state;
    close(s->fd);
    free(s->prefix);
    free(s);
}

static const sluice_sink_api template_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "template", /* must equal the file name without .so */
    .description = "example sink: append lines to a file with a prefix",
    .open = template_open,
    .write = template_write,
    .flush = template_flush,
    .close = template_close,
    .options = template_options,
};

const sluice_sink_api *sluice_sink_entry(void) { return &template_api; }
