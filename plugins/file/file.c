/*
 * file.c -- the file sink: appends each record's rendered line to a file.
 *
 * Owns: opening the file (O_APPEND|O_CREAT|O_CLOEXEC, exact `mode` for a new
 * file), writing whole records with writev (short writes, EINTR), rolling a
 * half-written record back with ftruncate so a line is never split or
 * duplicated, reopen() for logrotate and fdatasync on a schedule.
 * Must not know about: queues, formats, threads (the runtime serialises
 * every call on one instance).
 */
#include <sluice/sink.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static const char *const file_options[] = {"path", "mode", "fsync_interval_ms",
                                           NULL};

typedef struct file_state {
    char *path;          /* the configured path */
    int fd;              /* -1 while closed (a failed reopen) */
    mode_t mode;         /* permissions of a file we create */
    int64_t size;        /* bytes in the file as far as we know */
    long long fsync_ms;  /* 0: never fdatasync */
    int64_t last_sync;   /* monotonic ns of the last fdatasync */
    int dirty;           /* written since the last fdatasync */
} file_state;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Parse `mode` as octal permissions (0..07777). */
static int parse_mode(const sluice_options *opts, mode_t *out,
                      sluice_error *err)
{
    const char *v = sluice_options_get(opts, "mode", NULL);
    if (!v) {
        *out = 0640;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 8);
    if (errno || end == v || *end != '\0' || v[0] == '-' || v[0] == '+' ||
        x < 0 || x > 07777)
        return sluice_options_error(opts, "mode", err,
                                    "'%s' is not an octal file mode "
                                    "(0000..7777, e.g. 0640)",
                                    v);
    *out = (mode_t)x;
    return 0;
}

/* Open (creating with exactly s->mode) the file `name`; sets s->fd, s->size. */
static int open_file(file_state *s, const char *name, sluice_error *err)
{
    int fd;
    for (;;) {
        fd = open(name, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0 || errno != ENOENT)
            break;
        fd = open(name, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_CREAT |
                            O_EXCL,
                  s->mode);
        if (fd >= 0) {
            /* the mode is what the configuration says, whatever the umask */
            if (fchmod(fd, s->mode) != 0) {
                int e = errno;
                close(fd);
                return sluice_error_set(err, "file: chmod '%s': %s", name,
                                        strerror(e));
            }
            break;
        }
        if (errno != EEXIST) /* EEXIST: created meanwhile, open it */
            break;
    }
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return sluice_error_set(err,
                                    "file: open '%s': %s (the directory is "
                                    "not created for you)",
                                    name, strerror(e));
        return sluice_error_set(err, "file: open '%s': %s", name, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sluice_error_set(err, "file: stat '%s': %s", name, strerror(e));
    }
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) &&
        !S_ISCHR(st.st_mode)) {
        close(fd);
        return sluice_error_set(err, "file: '%s' is not a regular file", name);
    }
    s->fd = fd;
    s->size = S_ISREG(st.st_mode) ? (int64_t)st.st_size : 0;
    return 0;
}

static int sync_now(file_state *s, sluice_error *err)
{
    if (s->fd < 0 || !s->dirty)
        return 0;
    if (fdatasync(s->fd) != 0 && errno != EINVAL) /* EINVAL: a pipe, a tty */
        return sluice_error_set(err, "file: fdatasync '%s': %s", s->path,
                                strerror(errno));
    s->dirty = 0;
    s->last_sync = mono_ns();
    return 0;
}

static void close_file(file_state *s)
{
    if (s->fd >= 0) {
        if (s->fsync_ms > 0)
            sync_now(s, NULL);
        close(s->fd);
        s->fd = -1;
    }
}

static int file_open(const sluice_options *opts, void **state,
                     sluice_error *err)
{
    const char *path = sluice_options_get(opts, "path", NULL);
    if (!path)
        return sluice_options_error(opts, NULL, err,
                                    "option 'path' is required");
    if (!path[0])
        return sluice_options_error(opts, "path", err, "the path is empty");
    mode_t mode = 0640;
    if (parse_mode(opts, &mode, err))
        return -1;
    long long fsync_ms = 0;
    if (sluice_options_int(opts, "fsync_interval_ms", 0, 0, 86400000LL,
                           &fsync_ms, err))
        return -1;

    file_state *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return sluice_error_set(err, "file: out of memory");
    }
    s->fd = -1;
    s->mode = mode;
    s->fsync_ms = fsync_ms;
    s->last_sync = mono_ns();
    if (open_file(s, s->path, err)) {
        free(s->path);
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

enum { CHUNK = 256 }; /* records per writev; 2 iovecs each at most */

/* Write batch[0..n) (n <= CHUNK) to the open file. Sets *done to the records
 * completely written. A record cut by a failing write is cut off again with
 * ftruncate, so the file only ever holds whole records. */
static int write_chunk(file_state *s, const sluice_record *const *batch,
                       size_t n, size_t *done, sluice_error *err)
{
    struct iovec iov[CHUNK * 2];
    size_t end[CHUNK]; /* byte offset in this chunk where record i ends */
    int cnt = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const sluice_record *r = batch[i];
        if (r->line_len) {
            iov[cnt++] = (struct iovec){(void *)r->line, r->line_len};
            total += r->line_len;
        }
        /* a line always ends the record: never glue two records together */
        if (!r->line_len || r->line[r->line_len - 1] != '\n') {
            iov[cnt++] = (struct iovec){(void *)"\n", 1};
            total += 1;
        }
        end[i] = total;
    }

    size_t off = 0;
    int e = 0;
    struct iovec *v = iov;
    while (off < total) {
        ssize_t w = writev(s->fd, v, cnt > IOV_MAX ? IOV_MAX : cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            break;
        }
        if (w == 0) { /* no progress and no error: do not spin */
            e = EIO;
            break;
        }
        off += (size_t)w;
        while (cnt > 0 && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            cnt--;
        }
        if (cnt > 0 && w > 0) {
            v->iov_base = (char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    s->dirty = s->dirty || off > 0;

    size_t k = 0;
    while (k < n && end[k] <= off)
        k++;
    *done = k;
    if (!e) {
        s->size += (int64_t)total;
        return 0;
    }

    /* Cut a partly written record off, so that offering it again later
     * cannot leave half a line in the file. We are the only appender; if
     * the file is not the size we expect, leave it alone. */
    size_t whole = k ? end[k - 1] : 0;
    size_t partial = off - whole;
    const char *note = "";
    if (partial > 0) {
        struct stat st;
        int64_t expect = s->size + (int64_t)off;
        if (fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode) &&
            (int64_t)st.st_size == expect &&
            ftruncate(s->fd, (off_t)(expect - (int64_t)partial)) == 0)
            off = whole;
        else
            note = " (a partly written line is left in the file)";
    }
    s->size += (int64_t)off;
    return sluice_error_set(err, "file: write '%s': %s%s", s->path,
                            strerror(e), note);
}

static int maybe_sync(file_state *s, sluice_error *err)
{
    if (s->fsync_ms <= 0 || !s->dirty)
        return 0;
    if (mono_ns() - s->last_sync < s->fsync_ms * 1000000)
        return 0;
    return sync_now(s, err);
}

static int file_write(void *state, const sluice_record *const *batch,
                      size_t n, size_t *written, sluice_error *err)
{
    file_state *s = state;
    *written = 0;
    if (s->fd < 0 && open_file(s, s->path, err))
        return -1;
    while (*written < n) {
        size_t take = n - *written < CHUNK ? n - *written : CHUNK;
        size_t done = 0;
        int rc = write_chunk(s, batch + *written, take, &done, err);
        *written += done;
        if (rc)
            return rc;
    }
    return maybe_sync(s, err);
}

static int file_flush(void *state, sluice_error *err)
{
    file_state *s = state;
    if (s->fsync_ms <= 0)
        return 0; /* nothing is buffered in user space */
    return sync_now(s, err);
}

static int file_reopen(void *state, sluice_error *err)
{
    file_state *s = state;
    close_file(s);
    return open_file(s, s->path, err);
}

static void file_close(void *state)
{
    file_state *s = state;
    if (!s)
        return;
    close_file(s);
    free(s->path);
    free(s);
}

static const sluice_sink_api file_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "file",
    .description = "append to a file; size or daily/hourly rotation, reopen",
    .option_names = file_options,
    .open = file_open,
    .write = file_write,
    .flush = file_flush,
    .close = file_close,
    .reopen = file_reopen,
};

const sluice_sink_api *sluice_sink_entry(void) { return &file_api; }
