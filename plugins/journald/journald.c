/*
 * journald.c -- the journald sink: sends each record to the systemd journal
 * as one entry with native fields (MESSAGE, PRIORITY, CODE_*, TID,
 * SYSLOG_IDENTIFIER, SLUICE_LOGGER and the record's own fields).
 *
 * Transport: the journal's native datagram protocol, spoken here directly
 * over an AF_UNIX SOCK_DGRAM socket whose path is configurable, so a test
 * (or a container) can point it elsewhere. A value without a newline goes as
 * "KEY=value\n"; a value with one as "KEY\n" + 64-bit little-endian length +
 * the raw bytes + "\n". An entry too large for one datagram is written to a
 * sealed memfd whose descriptor is passed with SCM_RIGHTS, as journald
 * accepts. With use_libsystemd = true, sd_journal_sendv() does the sending.
 *
 * Knows nothing of queues, formats or the runtime beyond sink.h.
 */
#include <sluice/sink.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#define JOURNALD_DEFAULT_SOCKET "/run/systemd/journal/socket"
#define JOURNALD_FIELD_MAX 64 /* journald drops longer field names */
#define JOURNALD_SNDBUF (8 * 1024 * 1024)

static const sluice_option_spec journald_options[] = {
    {.name = "socket", .type = SLUICE_OPTION_PATH,
     .default_value = JOURNALD_DEFAULT_SOCKET, .min = 1, .max = 107,
     .description = "the journal's AF_UNIX datagram socket (not with "
                    "use_libsystemd)"},
    {.name = "identifier", .type = SLUICE_OPTION_STRING, .min = 1, .max = 255,
     .description = "SYSLOG_IDENTIFIER of every entry (default: the "
                    "record's logger name)"},
    {.name = "timeout_ms", .type = SLUICE_OPTION_DURATION,
     .default_value = "5000", .min = 1, .max = 3600000,
     .description = "how long one send may block on a busy journal"},
    {.name = "use_libsystemd", .type = SLUICE_OPTION_BOOL,
     .default_value = "false",
     .description = "send with sd_journal_sendv() instead (the system "
                    "journal only)"},
    {0}};

typedef struct jbuf {
    char *data;
    size_t len, cap;
} jbuf;

typedef struct journald_state {
    int fd;                      /* -1 with use_libsystemd */
    struct sockaddr_un addr;
    socklen_t addr_len;
    char *identifier;            /* NULL: the record's logger name */
    int use_libsystemd;
    jbuf buf;                    /* one entry in the native protocol */
    /* use_libsystemd: "KEY=value" strings, one per field */
    struct iovec *iov;
    size_t iov_cap;
    jbuf sdbuf;
} journald_state;

/* ---------------------------------------------------------------------
 * Building one entry
 * --------------------------------------------------------------------- */

static int jbuf_reserve(jbuf *b, size_t more)
{
    if (more > SIZE_MAX - b->len)
        return -1;
    size_t need = b->len + more;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int jbuf_put(jbuf *b, const void *p, size_t n)
{
    if (jbuf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* Append one field in the native protocol. name is a valid field name. */
static int put_field(jbuf *b, const char *name, const char *value, size_t len)
{
    size_t nl = strlen(name);
    if (!memchr(value, '\n', len)) {
        if (jbuf_put(b, name, nl) || jbuf_put(b, "=", 1) ||
            jbuf_put(b, value, len) || jbuf_put(b, "\n", 1))
            return -1;
        return 0;
    }
    unsigned char le[8];
    uint64_t l = len;
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(l >> (8 * i));
    if (jbuf_put(b, name, nl) || jbuf_put(b, "\n", 1) ||
        jbuf_put(b, le, sizeof le) || jbuf_put(b, value, len) ||
        jbuf_put(b, "\n", 1))
        return -1;
    return 0;
}

static int journald_priority(sluice_level l)
{
    switch (l) {
    case SLUICE_LEVEL_TRACE:
    case SLUICE_LEVEL_DEBUG: return 7;
    case SLUICE_LEVEL_INFO: return 6;
    case SLUICE_LEVEL_WARN: return 4;
    case SLUICE_LEVEL_ERROR: return 3;
    default: return 2;
    }
}

/* Names the sink sets itself; a record field that sanitises to one of them
 * is prefixed with FIELD_ so it cannot masquerade as the real one. */
static const char *const reserved_names[] = {
    "MESSAGE", "PRIORITY", "CODE_FILE", "CODE_LINE", "CODE_FUNC",
    "SYSLOG_IDENTIFIER", "SLUICE_LOGGER", "TID", NULL};

/* Turn an arbitrary key into a valid journal field name in out (at least
 * JOURNALD_FIELD_MAX + 1 bytes): upper-case, A-Z0-9_ only, no leading '_'
 * (those are the journal's trusted fields), no leading digit, at most 64
 * characters. */
static void sanitise_name(const char *key, size_t key_len, char *out)
{
    char tmp[JOURNALD_FIELD_MAX + 1];
    size_t n = 0;
    size_t i = 0;
    while (i < key_len && !isalnum((unsigned char)key[i]))
        i++; /* leading '_' and punctuation would make a trusted/odd name */
    for (; i < key_len && n < JOURNALD_FIELD_MAX; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            c = '_';
        tmp[n++] = (char)c;
    }
    tmp[n] = '\0';
    int prefix = n == 0 || (tmp[0] >= '0' && tmp[0] <= '9');
    for (size_t r = 0; !prefix && reserved_names[r]; r++)
        if (strcmp(tmp, reserved_names[r]) == 0)
            prefix = 1;
    if (prefix) {
        static const char pre[] = "FIELD_";
        size_t keep = JOURNALD_FIELD_MAX - (sizeof pre - 1);
        if (n > keep)
            n = keep;
        memcpy(out, pre, sizeof pre - 1);
        memcpy(out + sizeof pre - 1, tmp, n);
        out[sizeof pre - 1 + n] = '\0';
    } else {
        memcpy(out, tmp, n + 1);
    }
}

/* Calls emit(ctx, name, value, len) for every field of the entry. */
typedef int (*field_fn)(void *ctx, const char *name, const char *value,
                        size_t len);

static int for_each_field(const journald_state *s, const sluice_record *r,
                          field_fn emit, void *ctx)
{
    char num[32];
    if (emit(ctx, "MESSAGE", r->message ? r->message : "",
             r->message ? r->message_len : 0))
        return -1;
    snprintf(num, sizeof num, "%d", journald_priority(r->level));
    if (emit(ctx, "PRIORITY", num, strlen(num)))
        return -1;
    const char *ident = s->identifier ? s->identifier
                                      : (r->logger ? r->logger : "sluice");
    if (emit(ctx, "SYSLOG_IDENTIFIER", ident, strlen(ident)))
        return -1;
    const char *lg = r->logger ? r->logger : "";
    if (emit(ctx, "SLUICE_LOGGER", lg, strlen(lg)))
        return -1;
    if (r->file && emit(ctx, "CODE_FILE", r->file, strlen(r->file)))
        return -1;
    if (r->source_line > 0) {
        snprintf(num, sizeof num, "%d", r->source_line);
        if (emit(ctx, "CODE_LINE", num, strlen(num)))
            return -1;
    }
    if (r->function &&
        emit(ctx, "CODE_FUNC", r->function, strlen(r->function)))
        return -1;
    if (r->thread_id) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)r->thread_id);
        if (emit(ctx, "TID", num, strlen(num)))
            return -1;
    }
    for (size_t i = 0; i < r->field_count; i++) {
        const sluice_field *f = &r->fields[i];
        char name[JOURNALD_FIELD_MAX + 1];
        sanitise_name(f->key ? f->key : "", f->key ? f->key_len : 0, name);
        if (emit(ctx, name, f->value ? f->value : "",
                 f->value ? f->value_len : 0))
            return -1;
    }
    return 0;
}

static int emit_native(void *ctx, const char *name, const char *value,
                       size_t len)
{
    return put_field(ctx, name, value, len);
}

/* use_libsystemd: collect "KEY=value" strings in sdbuf, offsets in iov. */
typedef struct sd_ctx {
    journald_state *s;
    size_t count;
} sd_ctx;

static int emit_sd(void *ctx, const char *name, const char *value, size_t len)
{
    sd_ctx *c = ctx;
    journald_state *s = c->s;
    if (c->count == s->iov_cap) {
        size_t cap = s->iov_cap ? s->iov_cap * 2 : 16;
        struct iovec *p = realloc(s->iov, cap * sizeof *p);
        if (!p)
            return -1;
        s->iov = p;
        s->iov_cap = cap;
    }
    /* store the offset now; pointers are fixed up once sdbuf stops moving */
    s->iov[c->count].iov_base = (void *)(uintptr_t)s->sdbuf.len;
    size_t nl = strlen(name);
    if (jbuf_put(&s->sdbuf, name, nl) || jbuf_put(&s->sdbuf, "=", 1) ||
        jbuf_put(&s->sdbuf, value, len))
        return -1;
    s->iov[c->count].iov_len = nl + 1 + len;
    c->count++;
    return 0;
}

/* ---------------------------------------------------------------------
 * Sending
 * --------------------------------------------------------------------- */

/* Hand an entry too large for a datagram over in a sealed memfd. */
static int send_memfd(journald_state *s, const char *data, size_t len,
                      sluice_error *err)
{
    int mfd = memfd_create("sluice-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return sluice_error_set(err, "journald: memfd_create: %s",
                                strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(mfd, data + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(mfd);
            return sluice_error_set(err, "journald: write to memfd: %s",
                                    strerror(e));
        }
        off += (size_t)w;
    }
    if (fcntl(mfd, F_ADD_SEALS,
              F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
        int e = errno;
        close(mfd);
        return sluice_error_set(err, "journald: sealing memfd: %s",
                                strerror(e));
    }
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr mh = {0};
    mh.msg_name = &s->addr;
    mh.msg_namelen = s->addr_len;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof ctl.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &mfd, sizeof(int));
    ssize_t r;
    do
        r = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    int e = errno;
    close(mfd);
    if (r < 0)
        return sluice_error_set(err, "journald: send (memfd) to %s: %s",
                                s->addr.sun_path, strerror(e));
    return 0;
}

static int send_native(journald_state *s, sluice_error *err)
{
    struct iovec iov = {s->buf.data, s->buf.len};
    struct msghdr mh = {0};
    mh.msg_name = &s->addr;
    mh.msg_namelen = s->addr_len;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t r;
    do
        r = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r >= 0)
        return 0;
    if (errno == EMSGSIZE || errno == ENOBUFS)
        return send_memfd(s, s->buf.data, s->buf.len, err);
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return sluice_error_set(err, "journald: send to %s: timed out",
                                s->addr.sun_path);
    return sluice_error_set(err, "journald: send to %s: %s", s->addr.sun_path,
                            strerror(errno));
}

static int send_libsystemd(journald_state *s, const sluice_record *r,
                           sluice_error *err)
{
    sd_ctx c = {s, 0};
    s->sdbuf.len = 0;
    if (for_each_field(s, r, emit_sd, &c) != 0)
        return sluice_error_set(err, "journald: out of memory");
    for (size_t i = 0; i < c.count; i++)
        s->iov[i].iov_base = s->sdbuf.data + (uintptr_t)s->iov[i].iov_base;
    int rc = sd_journal_sendv(s->iov, (int)c.count);
    if (rc < 0)
        return sluice_error_set(err, "journald: sd_journal_sendv: %s",
                                strerror(-rc));
    return 0;
}

static int journald_write(void *state, const sluice_record *const *batch,
                          size_t n, size_t *written, sluice_error *err)
{
    journald_state *s = state;
    *written = 0;
    for (size_t i = 0; i < n; i++) {
        const sluice_record *r = batch[i];
        if (s->use_libsystemd) {
            if (send_libsystemd(s, r, err) != 0)
                return -1;
        } else {
            s->buf.len = 0;
            if (for_each_field(s, r, emit_native, &s->buf) != 0)
                return sluice_error_set(err, "journald: out of memory");
            if (send_native(s, err) != 0)
                return -1;
        }
        *written = i + 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Open / close
 * --------------------------------------------------------------------- */

static void journald_close(void *state)
{
    journald_state *s = state;
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->identifier);
    free(s->buf.data);
    free(s->sdbuf.data);
    free(s->iov);
    free(s);
}

/* `sluice check`, and before open(): the rule across options (the runtime
 * checked each value). No socket is made. */
static int journald_check(const sluice_options *opts, sluice_error *err)
{
    if (sluice_options_given(opts, "socket") &&
        sluice_options_get_bool(opts, "use_libsystemd"))
        return sluice_options_report(
            opts, "socket", err,
            "cannot be set with use_libsystemd = true (libsystemd always "
            "uses the system journal)");
    return 0;
}

static int journald_open(const sluice_options *opts, void **state,
                         sluice_error *err)
{
    int use_sd = sluice_options_get_bool(opts, "use_libsystemd");
    long long timeout_ms = sluice_options_get_int(opts, "timeout_ms");
    const char *path = sluice_options_get_string(opts, "socket");
    const char *ident = sluice_options_get_string(opts, "identifier");
    if (!path)
        path = JOURNALD_DEFAULT_SOCKET;

    journald_state *s = calloc(1, sizeof *s);
    if (!s)
        return sluice_error_set(err, "journald: out of memory");
    s->fd = -1;
    s->use_libsystemd = use_sd;
    if (ident && !(s->identifier = strdup(ident))) {
        journald_close(s);
        return sluice_error_set(err, "journald: out of memory");
    }
    if (!use_sd) {
        s->addr.sun_family = AF_UNIX;
        memcpy(s->addr.sun_path, path, strlen(path) + 1);
        s->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                  strlen(path) + 1);
        s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s->fd < 0) {
            int e = errno;
            journald_close(s);
            return sluice_error_set(err, "journald: socket: %s", strerror(e));
        }
        /* Big entries fit in one datagram where the system allows it (the
         * kernel caps this at net.core.wmem_max); beyond, the memfd path. */
        int sndbuf = JOURNALD_SNDBUF;
        (void)setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        /* A stuck journal must not hang the worker forever: the send fails
         * after timeout_ms and the runtime retries later. */
        struct timeval tv = {(time_t)(timeout_ms / 1000),
                             (suseconds_t)(timeout_ms % 1000) * 1000};
        (void)setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    *state = s;
    return 0;
}

static const sluice_sink_api journald_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "journald",
    .description = "the systemd journal, native protocol with fields",
    .open = journald_open,
    .write = journald_write,
    .close = journald_close,
    .check = journald_check,
    .options = journald_options,
    .flags = SLUICE_SINK_NO_LINE, /* entries are built from the fields */
};

const sluice_sink_api *sluice_sink_entry(void) { return &journald_api; }
