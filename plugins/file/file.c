/*
 * file.c -- the file sink: appends each record's rendered line to a file.
 *
 * Owns: opening the file (O_APPEND|O_CREAT|O_CLOEXEC, exact `mode` for a new
 * file), writing whole records with writev (short writes, EINTR), rolling a
 * half-written record back with ftruncate so a line is never split or
 * duplicated, size rotation (app.log -> app.log.1 ...), time rotation into
 * dated files (app.log -> app.2026-11-23.log) with pruning beyond `keep`,
 * reopen() for logrotate, and fdatasync on a schedule. On a FIFO or a
 * device: writes that never raise SIGPIPE (EPIPE is an error), records
 * grouped in writes of at most PIPE_BUF bytes (atomic), and a record torn
 * by a departing reader ended with a newline before it is written again;
 * crash_write (plain write(2) of whole lines, for crash_flush).
 * Must not know about: queues, formats, threads (the runtime serialises
 * every call on one instance).
 */
#include <sluice/sink.h>

#include <dirent.h>
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

/* in the order of enum rotate_kind: the option's value is the index */
static const char *const rotate_choices[] = {"none", "daily", "hourly", NULL};
enum rotate_kind { ROTATE_NONE, ROTATE_DAILY, ROTATE_HOURLY };

/* The options as data: the runtime parses and checks them before check()
 * and open(), and `sluice plugins file` and the docs are made from this. */
static const sluice_option_spec file_options[] = {
    {.name = "path", .type = SLUICE_OPTION_PATH,
     .flags = SLUICE_OPTION_REQUIRED | SLUICE_OPTION_WRITABLE_DIR,
     .description = "the file to append to (its folder is not created for "
                    "you)"},
    {.name = "mode", .type = SLUICE_OPTION_INT, .default_value = "0640",
     .min = 0, .max = 07777, .flags = SLUICE_OPTION_OCTAL,
     .description = "permissions of a file the sink creates, exactly (the "
                    "umask does not apply)"},
    {.name = "rotate_bytes", .type = SLUICE_OPTION_SIZE, .default_value = "0",
     .min = 0, .max = 1LL << 50,
     .description = "rotate (app.log -> app.log.1 ...) when the next record "
                    "would make the file larger; 0: off"},
    {.name = "rotate", .type = SLUICE_OPTION_ENUM, .default_value = "none",
     .choices = rotate_choices,
     .description = "rotation into dated files by each record's time (UTC), "
                    "app.2026-11-23.log; not with rotate_bytes"},
    {.name = "keep", .type = SLUICE_OPTION_INT, .default_value = "5",
     .min = 0, .max = 100000,
     .description = "old files kept beside the live one"},
    {.name = "fsync_interval_ms", .type = SLUICE_OPTION_DURATION,
     .default_value = "0", .min = 0, .max = 86400000,
     .description = "fdatasync at most this often while writing, and on "
                    "flush; 0: never"},
    {0}};

#define NO_PERIOD INT64_MIN

typedef struct file_state {
    char *path;          /* the configured path */
    char *live;          /* the file written now: path, or its dated name */
    int fd;              /* -1 while closed (a failed open or rotation) */
    mode_t mode;         /* permissions of a file we create */
    int64_t size;        /* bytes in the file as far as we know */
    long long fsync_ms;  /* 0: never fdatasync */
    int64_t last_sync;   /* monotonic ns of the last fdatasync */
    int dirty;           /* written since the last fdatasync */
    int regular;         /* a regular file: cannot raise SIGPIPE */
    int fifo;            /* a FIFO: write whole records, PIPE_BUF at most */
    int torn;            /* part of a record is left at the end of the
                            destination: end it with '\n' before more */
    dev_t dev;           /* the destination open now (or last) */
    ino_t ino;
    long long rotate_bytes; /* size rotation; 0: off */
    long long keep;      /* old files kept beside the live one */
    int rotate;          /* enum rotate_kind */
    int64_t period;      /* time rotation: period of the live file */
    char *dir;           /* directory of path ("." when none) */
    char *stem;          /* time rotation: "app." of app.log */
    char *ext;           /* time rotation: ".log" of app.log, or "" */
} file_state;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Open (creating with exactly s->mode) the file `name`; sets s->fd, s->size.
 * O_NONBLOCK only for the open itself: a FIFO without a reader is an error
 * (ENXIO) instead of a hang. */
static int open_file(file_state *s, const char *name, sluice_error *err)
{
    const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    int fd = -1;
    for (int attempt = 0; attempt < 3 && fd < 0; attempt++) {
        fd = open(name, flags);
        if (fd >= 0 || errno != ENOENT)
            break;
        fd = open(name, flags | O_CREAT | O_EXCL, s->mode);
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
        if (e == EEXIST) /* absent, yet cannot be created */
            return sluice_error_set(err,
                                    "file: open '%s': a dangling symbolic "
                                    "link?",
                                    name);
        if (e == ENXIO)
            return sluice_error_set(err, "file: open '%s': %s (a FIFO "
                                    "without a reader?)",
                                    name, strerror(e));
        return sluice_error_set(err, "file: open '%s': %s", name, strerror(e));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
        int e = errno;
        close(fd);
        return sluice_error_set(err, "file: fcntl '%s': %s", name,
                                strerror(e));
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
    if (st.st_dev != s->dev || st.st_ino != s->ino)
        s->torn = 0; /* a torn line stays behind in the file it is in */
    s->fd = fd;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->regular = S_ISREG(st.st_mode);
    s->fifo = S_ISFIFO(st.st_mode);
    s->size = s->regular ? (int64_t)st.st_size : 0;
    return 0;
}

/* writev to the destination. Only a pipe (a FIFO) can raise SIGPIPE, but a
 * character device is no regular file either: both go through the guard. */
static ssize_t put(const file_state *s, const struct iovec *iov, int cnt)
{
    if (s->regular)
        return writev(s->fd, iov, cnt);
    return sluice_writev_nosigpipe(s->fd, iov, cnt);
}

/* The reason of a failed write, with what EPIPE means here. */
static int write_error(const file_state *s, int e, const char *note,
                       sluice_error *err)
{
    if (e == EPIPE)
        return sluice_error_set(err,
                                "file: write '%s': %s (the reader of the "
                                "FIFO has gone; the records stay queued "
                                "until one opens it again)%s",
                                s->live, strerror(e), note);
    return sluice_error_set(err, "file: write '%s': %s%s", s->live,
                            strerror(e), note);
}

/* A torn record is left at the end of the destination (a FIFO cannot take
 * bytes back): end its line, so the record written again whole starts on a
 * line of its own. */
static int end_torn_line(file_state *s, sluice_error *err)
{
    static const struct iovec newline = {(void *)"\n", 1};
    while (s->torn) {
        ssize_t w = put(s, &newline, 1);
        if (w == 1) {
            s->torn = 0;
            s->size += 1;
            s->dirty = 1;
        } else if (w < 0 && errno != EINTR) {
            return write_error(s, errno, "", err);
        } else if (w == 0) {
            return write_error(s, EIO, "", err);
        }
    }
    return 0;
}

static int sync_now(file_state *s, sluice_error *err)
{
    if (s->fd < 0 || !s->dirty)
        return 0;
    if (fdatasync(s->fd) != 0 && errno != EINVAL) /* EINVAL: a pipe, a tty */
        return sluice_error_set(err, "file: fdatasync '%s': %s", s->live,
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

/* ---- time rotation: naming and pruning --------------------------------- */

static int64_t period_secs(const file_state *s)
{
    return s->rotate == ROTATE_HOURLY ? 3600 : 86400;
}

/* The period (day or hour since the epoch, UTC) a record falls in. */
static int64_t period_of(const file_state *s, int64_t time_ns)
{
    int64_t len = period_secs(s) * 1000000000;
    int64_t q = time_ns / len;
    if (time_ns % len < 0)
        q--; /* floor, for times before 1970 */
    return q;
}

/* "2026-11-23" (daily) or "2026-11-23T18" (hourly), UTC. */
static void stamp_of(const file_state *s, int64_t period, char *buf,
                     size_t cap)
{
    time_t t = (time_t)(period * period_secs(s));
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "0000-00-00%s", s->rotate == ROTATE_HOURLY
                                               ? "T00" : "");
        return;
    }
    strftime(buf, cap, s->rotate == ROTATE_HOURLY ? "%Y-%m-%dT%H" : "%Y-%m-%d",
             &tm);
}

/* The dated file of a period: <dir>/<stem><stamp><ext>. Caller frees. */
static char *dated_name(const file_state *s, int64_t period)
{
    char stamp[64];
    stamp_of(s, period, stamp, sizeof stamp);
    size_t cap = strlen(s->dir) + strlen(s->stem) + strlen(stamp) +
                 strlen(s->ext) + 2;
    char *p = malloc(cap);
    if (p)
        snprintf(p, cap, "%s/%s%s%s", s->dir, s->stem, stamp, s->ext);
    return p;
}

/* Is name "<stem><stamp><ext>" with a stamp of this sink's shape? */
static int is_dated(const file_state *s, const char *name)
{
    size_t ls = strlen(s->stem), le = strlen(s->ext), ln = strlen(name);
    size_t want = s->rotate == ROTATE_HOURLY ? 13 : 10; /* YYYY-MM-DD[THH] */
    if (ln != ls + want + le || strncmp(name, s->stem, ls) != 0 ||
        strcmp(name + ls + want, s->ext) != 0)
        return 0;
    static const char shape[] = "dddd-dd-ddTdd";
    for (size_t i = 0; i < want; i++) {
        char c = name[ls + i];
        if (shape[i] == 'd' ? (c < '0' || c > '9') : c != shape[i])
            return 0;
    }
    return 1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Delete the oldest dated files until at most `allow` remain besides the
 * file named `spare` (a base name, or NULL). Names sort by their stamp. */
static int prune_dated(file_state *s, long long allow, const char *spare,
                       sluice_error *err)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return sluice_error_set(err, "file: read directory '%s': %s", s->dir,
                                strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_dated(s, de->d_name) || (spare && !strcmp(de->d_name, spare)))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                rc = sluice_error_set(err, "file: out of memory");
                goto out;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = sluice_error_set(err, "file: out of memory");
            goto out;
        }
        n++;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; (long long)(n - i) > allow; i++) {
        if (unlinkat(dirfd(d), names[i], 0) != 0 && errno != ENOENT && !rc)
            rc = sluice_error_set(err, "file: remove old '%s/%s': %s", s->dir,
                                  names[i], strerror(errno));
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

/* Start writing the dated file of `period`: close the live one, open the
 * new one (appending when it exists: a restart within the period), then
 * remove dated files beyond `keep`. */
static int enter_period(file_state *s, int64_t period, sluice_error *err)
{
    close_file(s);
    char *name = dated_name(s, period);
    if (!name)
        return sluice_error_set(err, "file: out of memory");
    free(s->live);
    s->live = name;
    s->period = period;
    if (open_file(s, s->live, err))
        return -1;
    const char *base = strrchr(s->live, '/');
    return prune_dated(s, s->keep, base ? base + 1 : s->live, err);
}

/* ---- size rotation ------------------------------------------------------ */

static char *numbered(const char *path, long long i)
{
    size_t cap = strlen(path) + 24;
    char *p = malloc(cap);
    if (p)
        snprintf(p, cap, "%s.%lld", path, i);
    return p;
}

/* app.log -> app.log.1 -> ... -> app.log.<keep>; older ones go; a new
 * app.log is opened. On failure the fd is closed or kept as it was and the
 * next write tries again. */
static int rotate_size(file_state *s, sluice_error *err)
{
    if (s->fsync_ms > 0 && sync_now(s, err))
        return -1;
    /* remove leftovers beyond keep (keep may have been lowered) */
    for (long long i = s->keep + 1;; i++) {
        char *p = numbered(s->path, i);
        if (!p)
            return sluice_error_set(err, "file: out of memory");
        int gone = unlink(p) != 0 && errno == ENOENT;
        free(p);
        if (gone)
            break;
    }
    for (long long i = s->keep - 1; i >= 1; i--) {
        char *from = numbered(s->path, i), *to = numbered(s->path, i + 1);
        int rc = 0;
        if (!from || !to)
            rc = sluice_error_set(err, "file: out of memory");
        else if (rename(from, to) != 0 && errno != ENOENT)
            rc = sluice_error_set(err, "file: rotate '%s' to '%s': %s", from,
                                  to, strerror(errno));
        free(from);
        free(to);
        if (rc)
            return rc;
    }
    if (s->keep == 0) {
        if (unlink(s->path) != 0 && errno != ENOENT)
            return sluice_error_set(err, "file: rotate: remove '%s': %s",
                                    s->path, strerror(errno));
    } else {
        char *to = numbered(s->path, 1);
        if (!to)
            return sluice_error_set(err, "file: out of memory");
        int rc = 0;
        if (rename(s->path, to) != 0 && errno != ENOENT)
            rc = sluice_error_set(err, "file: rotate '%s' to '%s': %s",
                                  s->path, to, strerror(errno));
        free(to);
        if (rc)
            return rc;
    }
    close_file(s);
    return open_file(s, s->path, err);
}

/* ---- open ------------------------------------------------------------- */

static void free_state(file_state *s)
{
    if (!s)
        return;
    close_file(s);
    free(s->path);
    free(s->live);
    free(s->dir);
    free(s->stem);
    free(s->ext);
    free(s);
}

/* Split path into dir, and for time rotation the stem and extension of its
 * base name: /var/log/app.log -> "/var/log", "app.", ".log". */
static int split_path(file_state *s)
{
    const char *slash = strrchr(s->path, '/');
    const char *base = slash ? slash + 1 : s->path;
    if (!slash)
        s->dir = strdup(".");
    else if (slash == s->path)
        s->dir = strdup("/");
    else
        s->dir = strndup(s->path, (size_t)(slash - s->path));
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) /* "app" or ".app": the stamp goes at the end */
        dot = base + strlen(base);
    size_t sl = (size_t)(dot - base);
    s->stem = malloc(sl + 2);
    if (s->stem) {
        memcpy(s->stem, base, sl);
        s->stem[sl] = '.';
        s->stem[sl + 1] = '\0';
    }
    s->ext = strdup(dot);
    return s->dir && s->stem && s->ext ? 0 : -1;
}

/* `sluice check`, and before open(): the rule across options (the
 * runtime has checked each value, and that the folder of path exists and
 * is writable). Nothing is opened or created. */
static int file_check(const sluice_options *opts, sluice_error *err)
{
    if (sluice_options_get_enum(opts, "rotate") != ROTATE_NONE &&
        sluice_options_get_int(opts, "rotate_bytes") > 0)
        return sluice_options_report(opts, "rotate_bytes", err,
                                     "size rotation cannot be combined with "
                                     "rotate = %s; use one of them",
                                     sluice_options_get_string(opts, "rotate"));
    return 0;
}

static int file_open(const sluice_options *opts, void **state,
                     sluice_error *err)
{
    const char *path = sluice_options_get_string(opts, "path");
    if (!path)
        return sluice_options_error(opts, "path", err,
                                    "no parsed options (a runtime of ABI 2 "
                                    "parses them)");
    long long rotate_bytes = sluice_options_get_int(opts, "rotate_bytes");
    long long keep = sluice_options_get_int(opts, "keep");
    int rotate = sluice_options_get_enum(opts, "rotate");

    file_state *s = calloc(1, sizeof *s);
    if (!s)
        return sluice_error_set(err, "file: out of memory");
    s->fd = -1;
    s->mode = (mode_t)sluice_options_get_int(opts, "mode");
    s->fsync_ms = sluice_options_get_int(opts, "fsync_interval_ms");
    s->last_sync = mono_ns();
    s->rotate_bytes = rotate_bytes;
    s->keep = keep;
    s->rotate = rotate;
    s->period = NO_PERIOD;
    s->path = strdup(path);
    s->live = strdup(path);
    if (!s->path || !s->live || split_path(s)) {
        free_state(s);
        return sluice_error_set(err, "file: out of memory");
    }
    if (rotate == ROTATE_NONE) {
        if (open_file(s, s->live, err)) {
            free_state(s);
            return -1;
        }
        if (rotate_bytes > 0) {
            struct stat st;
            if (fstat(s->fd, &st) == 0 && !S_ISREG(st.st_mode)) {
                free_state(s);
                return sluice_options_error(opts, "rotate_bytes", err,
                                            "'%s' is not a regular file and "
                                            "cannot be rotated",
                                            path);
            }
        }
    } else {
        /* The live file is chosen by the first record's time; check the
         * directory now (it may have gone since the runtime looked), and
         * prune what an earlier run left (the newest may be continued:
         * keep one more). */
        struct stat st;
        const char *why = NULL;
        if (stat(s->dir, &st) != 0)
            why = strerror(errno);
        else if (!S_ISDIR(st.st_mode))
            why = "not a directory";
        if (why) {
            sluice_error_set(err,
                             "file: directory '%s' of '%s': %s (the "
                             "directory is not created for you)",
                             s->dir, path, why);
            free_state(s);
            return -1;
        }
        if (access(s->dir, W_OK | X_OK) != 0) {
            sluice_error_set(err, "file: directory '%s' of '%s': %s", s->dir,
                             path, strerror(errno));
            free_state(s);
            return -1;
        }
        if (prune_dated(s, keep + 1, NULL, err)) {
            free_state(s);
            return -1;
        }
    }
    *state = s;
    return 0;
}

enum { CHUNK = 256 }; /* records per writev; 2 iovecs each at most */

/* Write batch[0..n) (n <= CHUNK) to the open file. Sets *done to the records
 * completely written. A record cut by a failing write is cut off again with
 * ftruncate, so a regular file only ever holds whole records; where that
 * cannot be done (a FIFO), the cut record is not counted and its line is
 * ended before anything else is written (end_torn_line). */
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
        ssize_t w = put(s, v, cnt > IOV_MAX ? IOV_MAX : cnt);
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
     * the file is not the size we expect, or is no regular file, the part
     * stays and its line is ended before the next write. */
    size_t whole = k ? end[k - 1] : 0;
    size_t partial = off - whole;
    const char *note = "";
    if (partial > 0) {
        struct stat st;
        int64_t expect = s->size + (int64_t)off;
        if (s->regular && fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode) &&
            (int64_t)st.st_size == expect &&
            ftruncate(s->fd, (off_t)(expect - (int64_t)partial)) == 0) {
            off = whole;
        } else {
            s->torn = 1;
            note = s->fifo ? " (part of a record went into the FIFO: its "
                             "line is ended and the record written again "
                             "whole)"
                           : " (a partly written line is left in the file: "
                             "it is ended and the record written again "
                             "whole)";
        }
    }
    s->size += (int64_t)off;
    return write_error(s, e, note, err);
}

static int maybe_sync(file_state *s, sluice_error *err)
{
    if (s->fsync_ms <= 0 || !s->dirty)
        return 0;
    if (mono_ns() - s->last_sync < s->fsync_ms * 1000000)
        return 0;
    return sync_now(s, err);
}


/* Bytes a record takes in the file (a missing newline is added). */
static size_t rec_bytes(const sluice_record *r)
{
    return r->line_len + (!r->line_len || r->line[r->line_len - 1] != '\n');
}

/* Make the live file right for the record r: open it, enter r's period,
 * or rotate by size. */
static int prepare(file_state *s, const sluice_record *r, sluice_error *err)
{
    if (s->rotate != ROTATE_NONE) {
        int64_t p = period_of(s, r->time_ns);
        /* Time only moves forward: a late record of an earlier period goes
         * into the live file rather than reopening an old one. */
        if (s->period == NO_PERIOD || p > s->period)
            return enter_period(s, p, err);
        if (s->fd < 0)
            return open_file(s, s->live, err);
        return 0;
    }
    if (s->fd < 0 && open_file(s, s->live, err))
        return -1;
    if (s->rotate_bytes > 0 && s->size > 0 &&
        s->size + (int64_t)rec_bytes(r) > s->rotate_bytes)
        return rotate_size(s, err);
    return 0;
}

static int file_write(void *state, const sluice_record *const *batch,
                      size_t n, size_t *written, sluice_error *err)
{
    file_state *s = state;
    *written = 0;
    if (s->rotate_bytes > 0 && s->fd >= 0) {
        /* someone (logrotate copytruncate) may have changed the size */
        struct stat st;
        if (fstat(s->fd, &st) == 0)
            s->size = (int64_t)st.st_size;
    }
    while (*written < n) {
        if (prepare(s, batch[*written], err) || end_torn_line(s, err))
            return -1;
        /* take the records that belong in the live file as it is now; on a
         * FIFO, no more than PIPE_BUF bytes, so that each write is atomic
         * (all or nothing: a departing reader cannot tear it, and another
         * writer's lines cannot land inside it). A record larger than that
         * goes alone. */
        size_t take = 1;
        size_t bytes = rec_bytes(batch[*written]);
        int64_t size = s->size + (int64_t)bytes;
        while (take < CHUNK && *written + take < n) {
            const sluice_record *r = batch[*written + take];
            if (s->rotate != ROTATE_NONE &&
                period_of(s, r->time_ns) > s->period)
                break;
            if (s->rotate_bytes > 0 &&
                size + (int64_t)rec_bytes(r) > s->rotate_bytes)
                break;
            if (s->fifo && bytes + rec_bytes(r) > PIPE_BUF)
                break;
            size += (int64_t)rec_bytes(r);
            bytes += rec_bytes(r);
            take++;
        }
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


/* For logrotate (rename, then SIGHUP): write to a fresh file at the name.
 * A FIFO that is still the one at the name is kept open: closing it would
 * throw away what the pipe holds for its next reader (records already
 * counted as written) when no reader is there. */
static int file_reopen(void *state, sluice_error *err)
{
    file_state *s = state;
    struct stat st;
    if (s->fd >= 0 && s->fifo && stat(s->live, &st) == 0 &&
        S_ISFIFO(st.st_mode) && st.st_dev == s->dev && st.st_ino == s->ino)
        return 0;
    close_file(s);
    if (s->rotate != ROTATE_NONE && s->period == NO_PERIOD)
        return 0; /* nothing open yet: the first record opens its file */
    return open_file(s, s->live, err);
}

/* write(2) all of data[0..len) to fd, resuming after short writes. */
static int crash_put(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* After a crash, from the runtime's signal handler (crash_flush): append
 * whole lines to the file open now, with nothing but write(2). Another
 * thread may be inside file_write on the same state: the descriptor is
 * read once; none of rotation, reopening, fsync or rolling a torn record
 * back happens here. O_APPEND keeps each write(2) whole in a regular file;
 * into a FIFO, runs of whole lines of at most PIPE_BUF bytes, as
 * file_write does, so that no line is torn by a departing reader or mixed
 * with another writer's. */
static int file_crash_write(void *state, const char *data, size_t len)
{
    const file_state *s = state;
    int fd = __atomic_load_n(&s->fd, __ATOMIC_RELAXED);
    if (fd < 0)
        return -1; /* between two files of a rotation */
    if (__atomic_load_n(&s->torn, __ATOMIC_RELAXED) && crash_put(fd, "\n", 1))
        return -1;
    while (len > 0) {
        size_t take = len;
        if (s->fifo && take > PIPE_BUF) {
            take = PIPE_BUF;
            while (take > 0 && data[take - 1] != '\n')
                take--;
            if (take == 0) { /* a line longer than PIPE_BUF goes alone */
                const char *end = memchr(data, '\n', len);
                take = end ? (size_t)(end - data) + 1 : len;
            }
        }
        if (crash_put(fd, data, take))
            return -1;
        data += take;
        len -= take;
    }
    return 0;
}

static void file_close(void *state) { free_state(state); }

static const sluice_sink_api file_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "file",
    .description = "append to a file; size or daily/hourly rotation, reopen",
    .open = file_open,
    .write = file_write,
    .flush = file_flush,
    .close = file_close,
    .reopen = file_reopen,
    .check = file_check,
    .options = file_options,
    .crash_write = file_crash_write,
};

const sluice_sink_api *sluice_sink_entry(void) { return &file_api; }
