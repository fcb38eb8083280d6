/*
 * console.c -- the console sink: writes each record's rendered line to
 * stdout or stderr. Colours the level only when the stream is a terminal and
 * NO_COLOR is unset (https://no-color.org). A stream that is a pipe whose
 * reader has gone (`prog | head`) fails the write with EPIPE and never
 * raises SIGPIPE. After a crash (crash_flush), crash_write puts the
 * backlog's lines out with write(2), without colour. Knows nothing of
 * queues.
 */
#include <sluice/sink.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* in option order: the index is the value */
static const char *const stream_choices[] = {"stdout", "stderr", NULL};
static const char *const color_choices[] = {"auto", "always", "never", NULL};
enum { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };

static const sluice_option_spec console_options[] = {
    {.name = "stream", .type = SLUICE_OPTION_ENUM, .default_value = "stderr",
     .choices = stream_choices,
     .description = "the standard stream written to"},
    {.name = "color", .type = SLUICE_OPTION_ENUM, .default_value = "auto",
     .choices = color_choices,
     .description = "colour the level: auto does only on a terminal, and "
                    "only if NO_COLOR is unset or empty"},
    {0}};

typedef struct console_state {
    int fd;
    int color;
} console_state;

static int console_open(const sluice_options *opts, void **state,
                        sluice_error *err)
{
    console_state *s = calloc(1, sizeof *s);
    if (!s)
        return sluice_error_set(err, "console: out of memory");
    s->fd = sluice_options_get_enum(opts, "stream") == 0 ? STDOUT_FILENO
                                                         : STDERR_FILENO;
    switch (sluice_options_get_enum(opts, "color")) {
    case COLOR_ALWAYS: s->color = 1; break;
    case COLOR_NEVER: s->color = 0; break;
    default: {
        const char *nc = getenv("NO_COLOR");
        s->color = isatty(s->fd) && !(nc && nc[0]);
    }
    }
    *state = s;
    return 0;
}

static const char *level_color(sluice_level l)
{
    switch (l) {
    case SLUICE_LEVEL_TRACE: return "\033[2m";
    case SLUICE_LEVEL_DEBUG: return "\033[36m";
    case SLUICE_LEVEL_INFO: return "\033[32m";
    case SLUICE_LEVEL_WARN: return "\033[33m";
    case SLUICE_LEVEL_ERROR: return "\033[31m";
    default: return "\033[1;31m";
    }
}

/* Write all iov entries, resuming after short writes. The stream may be a
 * pipe: the write never raises SIGPIPE. */
static int write_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t w = sluice_writev_nosigpipe(fd, iov,
                                            cnt > IOV_MAX ? IOV_MAX : cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (cnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int console_write(void *state, const sluice_record *const *batch,
                         size_t n, size_t *written, sluice_error *err)
{
    console_state *s = state;
    enum { CHUNK = 64 };
    struct iovec iov[CHUNK * 4];
    static const char reset[] = "\033[0m";
    *written = 0;
    while (*written < n) {
        size_t take = n - *written < CHUNK ? n - *written : CHUNK;
        int cnt = 0;
        for (size_t i = 0; i < take; i++) {
            const sluice_record *r = batch[*written + i];
            if (s->color) {
                const char *c = level_color(r->level);
                iov[cnt++] = (struct iovec){(void *)c, strlen(c)};
                /* colour the whole line but its newline */
                size_t body = r->line_len && r->line[r->line_len - 1] == '\n'
                                  ? r->line_len - 1
                                  : r->line_len;
                iov[cnt++] = (struct iovec){(void *)r->line, body};
                iov[cnt++] = (struct iovec){(void *)reset, sizeof reset - 1};
                if (body < r->line_len)
                    iov[cnt++] = (struct iovec){(void *)"\n", 1};
            } else {
                iov[cnt++] = (struct iovec){(void *)r->line, r->line_len};
            }
        }
        if (write_all(s->fd, iov, cnt) != 0) {
            const char *stream =
                s->fd == STDOUT_FILENO ? "stdout" : "stderr";
            if (errno == EPIPE)
                return sluice_error_set(err,
                                        "console: write to %s: %s (the "
                                        "reader of the pipe has gone)",
                                        stream, strerror(EPIPE));
            return sluice_error_set(err, "console: write to %s: %s", stream,
                                    strerror(errno));
        }
        *written += take;
    }
    return 0;
}

/* After a crash, from the runtime's signal handler (crash_flush): the
 * lines as they are, with write(2) only (no colour: the level of each line
 * is not known here). SIGPIPE is blocked by the handler: a reader that
 * left is an error. */
static int console_crash_write(void *state, const char *data, size_t len)
{
    const console_state *s = state;
    while (len > 0) {
        ssize_t w = write(s->fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

static void console_close(void *state) { free(state); }

static const sluice_sink_api console_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "console",
    .description = "stdout or stderr; colour on a terminal unless NO_COLOR",
    .open = console_open,
    .write = console_write,
    .close = console_close,
    .options = console_options,
    .crash_write = console_crash_write,
};

const sluice_sink_api *sluice_sink_entry(void) { return &console_api; }
