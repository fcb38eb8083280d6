/*
 * tcp.c -- the TCP transport of the syslog sink: RFC 6587 octet counting
 * ("LEN SP MSG") on one connection, and what of it may count as written.
 *
 * Plain syslog over TCP has no acknowledgements of its own, so the sink
 * reads what TCP tells it:
 *  - SIOCOUTQ (bytes sent, not yet acknowledged) at 0: the collector's
 *    kernel has every byte; that says nothing of whether the collector
 *    read them;
 *  - the connection's state (TCP_INFO): CLOSE_WAIT is the collector's FIN.
 *    Linux (as the BSDs) sends a FIN at close() only when nothing it had
 *    received was left unread, and a RST otherwise, so a FIN proves that
 *    everything it acknowledged was read. CLOSE is a reset (or a FIN and
 *    then a reset): what it had not read is gone, and nothing says how
 *    much that was. (A collector that only shut down its sending side
 *    and went on reading would pass for one that read everything; none
 *    does.)
 *
 * Per chunk of frames (at most CHUNK_BYTES; a batch is one or more): look
 * for a close before sending, send, wait (within timeout_ms) until all is
 * acknowledged, look for a close again; only then the chunk's records
 * count. A chunk that meets a reset or a timeout counts nothing (it is
 * offered again: at least once). After a FIN, the frames acknowledged
 * before it count.
 *
 * That leaves the bytes acknowledged but not yet read when the collector
 * resets. rsyslog (imtcp, 8.2302 and its master: runtime/tcpsrv.c) stops
 * reading as soon as its inputs are told to terminate, leaves what is in
 * its socket buffers, and the sockets close when the process exits, with
 * that data unread: a RST. So a graceful restart under load always ends
 * that way. For it, the frames of the last REPLAY_BYTES counted (and
 * counted at most REPLAY_SECONDS before the newest) are kept, the replay
 * window, and after a connection ends without a FIN (reset, timeout, a
 * failed send) they are sent again first on the next connection:
 * duplicates, never a loss, as long as the collector had no more than
 * that unread. A FIN empties the window (all read). close() ends the
 * stream and waits for the collector's FIN (on a new connection with the
 * window replayed, when the last one was reset), so a clean close
 * confirms everything.
 *
 * Knows nothing of options, queues or retries; the connection is made by
 * syslog.c (syslog_connect_inet).
 */
#include "syslog_internal.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    CHUNK_BYTES = 256 * 1024,   /* frames per send and acknowledgement wait */
    REPLAY_BYTES = 1024 * 1024, /* counted frames kept for a replay: the */
    REPLAY_SECONDS = 10,        /* last REPLAY_BYTES, counted at most this
                                   long before the newest */
    LEN_ROOM = 24,              /* room left for "LEN SP" before a message */
};

/* What the collector's end of the connection looks like. */
enum peer_state {
    PEER_OPEN,   /* nothing to read: still there */
    PEER_CLOSED, /* FIN: it read everything it acknowledged */
    PEER_RESET,  /* reset or error: what it had not read is lost */
};

/* Counted frames, oldest first, kept for a replay: bytes.p[head ..
 * bytes.len), whole frames (the length prefix of each says where the next
 * begins). A mark per kept chunk says when it was counted; positions are
 * counted from the first byte ever kept (bytes.p[0] is at position base). */
typedef struct replay_mark {
    uint64_t end;         /* the chunk's last byte + 1 */
    int64_t counted_ns;   /* monotonic */
} replay_mark;

typedef struct replay_window {
    sl_buf bytes;
    uint64_t base;
    size_t head;
    replay_mark *marks;   /* marks[first .. first + count) */
    size_t first, count, cap;
} replay_window;

struct syslog_tcp {
    char host[256];
    char port[8];
    int connect_timeout_ms;
    int timeout_ms;
    int fd;               /* -1 when not connected */
    uint64_t sent;        /* bytes sent on this connection */
    uint64_t replay_end;  /* where the replayed frames end on it (0: none) */
    int must_replay;      /* the last connection ended unconfirmed */
    replay_window window;
    sl_buf chunk;         /* the frames being sent */
    size_t *ends;         /* end offset of each frame in chunk */
    size_t ends_cap;
};

/* ------------------------------------------------------------------ */
/* time                                                                 */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* the replay window                                                    */

static size_t window_live(const replay_window *w)
{
    return w->bytes.len - w->head;
}

static void window_clear(replay_window *w)
{
    w->base += w->bytes.len;
    w->bytes.len = 0;
    w->head = 0;
    w->first = w->count = 0;
}

/* The size of the frame at p ("LEN SP MSG"), at most avail bytes. */
static size_t frame_size(const char *p, size_t avail)
{
    size_t len = 0, digits = 0;
    while (digits < avail && p[digits] >= '0' && p[digits] <= '9')
        len = len * 10 + (size_t)(p[digits++] - '0');
    size_t total = digits + 1 + len;
    return total <= avail ? total : avail;
}

/* Forget the oldest frames: those of chunks counted before since_ns, then
 * whole frames until at most room bytes are left. */
static void window_forget(replay_window *w, int64_t since_ns, size_t room)
{
    while (w->count > 0 && w->marks[w->first].counted_ns < since_ns) {
        w->head = (size_t)(w->marks[w->first].end - w->base);
        w->first++;
        w->count--;
    }
    while (window_live(w) > room)
        w->head += frame_size(w->bytes.p + w->head, window_live(w));
    while (w->count > 0 && w->marks[w->first].end <= w->base + w->head) {
        w->first++;
        w->count--;
    }
}

/* Keep frames (whole frames, n bytes), counted at now_ns, as the newest
 * of the window. 0, or -1 out of memory. */
static int window_keep(replay_window *w, const char *frames, size_t n,
                       int64_t counted_ns)
{
    while (n > REPLAY_BYTES) { /* a chunk larger than the window */
        size_t f = frame_size(frames, n);
        frames += f;
        n -= f;
    }
    window_forget(w, counted_ns - (int64_t)REPLAY_SECONDS * 1000000000,
                  REPLAY_BYTES - n);
    if (w->head > 0 && w->head >= w->bytes.len / 2) {
        memmove(w->bytes.p, w->bytes.p + w->head, window_live(w));
        w->base += w->head;
        w->bytes.len -= w->head;
        w->head = 0;
    }
    if (w->first > 0 && w->first >= w->cap / 2) {
        memmove(w->marks, w->marks + w->first, w->count * sizeof *w->marks);
        w->first = 0;
    }
    if (w->first + w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        replay_mark *marks = realloc(w->marks, cap * sizeof *marks);
        if (!marks)
            return -1;
        w->marks = marks;
        w->cap = cap;
    }
    if (sl_buf_put(&w->bytes, frames, n))
        return -1;
    w->marks[w->first + w->count++] =
        (replay_mark){w->base + w->bytes.len, counted_ns};
    return 0;
}

static void window_free(replay_window *w)
{
    sl_buf_free(&w->bytes);
    free(w->marks);
}

/* ------------------------------------------------------------------ */
/* the connection                                                       */

/* One look at the collector's end, without blocking, from the state of
 * the connection rather than from recv(): after a reset, the first call
 * that meets the error (a send, a recv) takes it, and recv() returns 0
 * from then on, as it does after a FIN. CLOSE_WAIT is a FIN and nothing
 * since; CLOSE (a reset, before or after a FIN) proves nothing. */
static enum peer_state peer_state_now(const syslog_tcp *t)
{
    struct tcp_info info;
    socklen_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(t->fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
        return PEER_RESET;
    if (info.tcpi_state == TCP_ESTABLISHED)
        return PEER_OPEN;
    if (info.tcpi_state == TCP_CLOSE_WAIT)
        return PEER_CLOSED;
    return PEER_RESET;
}

/* Bytes of this connection the collector's kernel has acknowledged. */
static uint64_t acked(const syslog_tcp *t)
{
    int unacked = 0;
    if (ioctl(t->fd, SIOCOUTQ, &unacked) != 0 || unacked < 0)
        return 0;
    return (uint64_t)unacked <= t->sent ? t->sent - (uint64_t)unacked : 0;
}

/* Leave the connection. confirmed: it ended with a FIN after which
 * everything it acknowledged is known read; otherwise (reset, timeout, a
 * failed send, or we give up on it) it is aborted, and the replay window
 * is sent again on the next one. */
static void leave(syslog_tcp *t, int confirmed)
{
    if (t->fd < 0)
        return;
    if (confirmed) {
        close(t->fd);
    } else {
        /* abort: no lingering retransmissions of a stream we replay */
        struct linger abort_now = {1, 0};
        setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &abort_now,
                   sizeof abort_now);
        close(t->fd);
        if (window_live(&t->window) > 0)
            t->must_replay = 1;
    }
    t->fd = -1;
}

/* The collector closed with a FIN: what it acknowledged it has read. The
 * replay window is confirmed too if its replay (when there was one on this
 * connection) was acknowledged. Returns the acknowledged offset. */
static uint64_t closed_by_collector(syslog_tcp *t)
{
    uint64_t upto = acked(t);
    if (upto >= t->replay_end) {
        window_clear(&t->window);
        t->must_replay = 0;
        leave(t, 1);
    } else {
        leave(t, 0);
    }
    return upto;
}

static int send_all(syslog_tcp *t, const char *p, size_t n, int *error)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(t->fd, p + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            *error = w < 0 ? errno : EPIPE;
            return -1;
        }
        off += (size_t)w;
        t->sent += (uint64_t)w;
    }
    return 0;
}

enum ack_result { ACK_ALL, ACK_PEER_LEFT, ACK_TIMED_OUT };

/* Wait, until deadline, for the collector's kernel to acknowledge
 * everything sent, or for its end to close. No event says "all
 * acknowledged", so it looks again after a pause in ppoll(), 20 us at
 * first and doubling up to 10 ms (a FIN or a reset ends the pause at
 * once); over loopback the acknowledgement is usually there before send()
 * returns, and there is no pause at all. */
static enum ack_result wait_acked(syslog_tcp *t, int64_t deadline)
{
    long pause_ns = 20000;
    for (;;) {
        if (acked(t) == t->sent)
            return ACK_ALL;
        int64_t left = deadline - now_ns();
        if (left <= 0)
            return ACK_TIMED_OUT;
        if (pause_ns > left)
            pause_ns = (long)left;
        /* a FIN (POLLRDHUP) or a reset (POLLERR, POLLHUP) wakes it; data
         * from the collector, which has nothing to say, does not */
        struct pollfd p = {.fd = t->fd, .events = POLLRDHUP};
        struct timespec pause = {0, pause_ns};
        if (ppoll(&p, 1, &pause, NULL) > 0) {
            if (peer_state_now(t) != PEER_OPEN)
                return ACK_PEER_LEFT;
            nanosleep(&pause, NULL); /* woken, yet open: do not spin */
        }
        if (pause_ns < 10000000)
            pause_ns *= 2;
    }
}

/* Connect, and queue nothing yet. */
static int connect_now(syslog_tcp *t, sluice_error *err)
{
    int fd = -1;
    if (syslog_connect_inet(t->host, t->port, SOCK_STREAM,
                            t->connect_timeout_ms, t->timeout_ms, &fd, err))
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    t->fd = fd;
    t->sent = 0;
    t->replay_end = 0;
    return 0;
}

/* On a new connection, the frames of the replay window go first. */
static int replay(syslog_tcp *t, int *error)
{
    if (!t->must_replay)
        return 0;
    /* set first: a FIN confirms the window only past this offset */
    t->replay_end = t->sent + window_live(&t->window);
    t->must_replay = 0;
    return send_all(t, t->window.bytes.p + t->window.head,
                    window_live(&t->window), error);
}

static int send_failed(syslog_tcp *t, int error, sluice_error *err)
{
    return sluice_error_set(err, "syslog: send to %s:%s: %s%s", t->host,
                            t->port,
                            error == EAGAIN || error == EWOULDBLOCK
                                ? "timed out"
                                : strerror(error),
                            error == EPIPE || error == ECONNRESET
                                ? " (the collector closed the connection)"
                                : "");
}

/* ------------------------------------------------------------------ */
/* framing                                                              */

/* Frame records batch[0..) into t->chunk until it holds CHUNK_BYTES (at
 * least one record); *framed says how many. */
static int frame_chunk(syslog_tcp *t, const syslog_fmt *fmt,
                       const sluice_record *const *batch, size_t n,
                       size_t *framed, sluice_error *err)
{
    t->chunk.len = 0;
    size_t k = 0;
    while (k < n && (k == 0 || t->chunk.len < CHUNK_BYTES)) {
        if (k == t->ends_cap) {
            size_t cap = t->ends_cap ? 2 * t->ends_cap : 64;
            size_t *ends = realloc(t->ends, cap * sizeof *ends);
            if (!ends)
                return sluice_error_set(err, "syslog: out of memory");
            t->ends = ends;
            t->ends_cap = cap;
        }
        /* "LEN SP MSG": render after room for the length */
        size_t at = t->chunk.len;
        if (sl_buf_reserve(&t->chunk, LEN_ROOM))
            return sluice_error_set(err, "syslog: out of memory");
        t->chunk.len += LEN_ROOM;
        if (syslog_format(fmt, batch[k], &t->chunk))
            return sluice_error_set(err, "syslog: out of memory");
        size_t mlen = t->chunk.len - at - LEN_ROOM;
        char len[LEN_ROOM];
        int ln = snprintf(len, sizeof len, "%zu ", mlen);
        memmove(t->chunk.p + at + ln, t->chunk.p + at + LEN_ROOM, mlen);
        memcpy(t->chunk.p + at, len, (size_t)ln);
        t->chunk.len = at + (size_t)ln + mlen;
        t->ends[k++] = t->chunk.len;
    }
    *framed = k;
    return 0;
}

/* ------------------------------------------------------------------ */
/* the transport                                                        */

int syslog_tcp_new(syslog_tcp **out, const char *host, const char *port,
                   int connect_timeout_ms, int timeout_ms, sluice_error *err)
{
    syslog_tcp *t = calloc(1, sizeof *t);
    if (!t)
        return sluice_error_set(err, "syslog: out of memory");
    snprintf(t->host, sizeof t->host, "%s", host);
    snprintf(t->port, sizeof t->port, "%s", port);
    t->connect_timeout_ms = connect_timeout_ms;
    t->timeout_ms = timeout_ms;
    t->fd = -1;
    *out = t;
    return 0;
}

/* The collector closed with a FIN while frames [0, framed) of the chunk,
 * starting at offset base on the connection, were out: the ones it
 * acknowledged before the FIN count. */
static size_t confirmed_before_fin(syslog_tcp *t, uint64_t base,
                                   size_t framed)
{
    uint64_t upto = closed_by_collector(t);
    size_t confirmed = 0;
    while (confirmed < framed && base + t->ends[confirmed] <= upto)
        confirmed++;
    return confirmed;
}

int syslog_tcp_write(syslog_tcp *t, const syslog_fmt *fmt,
                     const sluice_record *const *batch, size_t n,
                     size_t *written, sluice_error *err)
{
    *written = 0;
    /* before the batch: did the collector close while we were away? */
    if (t->fd >= 0) {
        enum peer_state was = peer_state_now(t);
        if (was == PEER_CLOSED)
            closed_by_collector(t);
        else if (was == PEER_RESET)
            leave(t, 0);
    }
    size_t done = 0;
    while (done < n) {
        size_t framed = 0;
        if (frame_chunk(t, fmt, batch + done, n - done, &framed, err))
            return -1;
        if (t->fd < 0 && connect_now(t, err))
            return -1;
        int error = 0;
        int failed = replay(t, &error);
        uint64_t base = t->sent;
        if (!failed)
            failed = send_all(t, t->chunk.p, t->chunk.len, &error);
        if (failed) {
            leave(t, 0);
            return send_failed(t, error, err);
        }
        enum ack_result ack =
            wait_acked(t, now_ns() + (int64_t)t->timeout_ms * 1000000);
        enum peer_state after = peer_state_now(t);
        if (after == PEER_CLOSED) {
            size_t confirmed = confirmed_before_fin(t, base, framed);
            done += confirmed;
            *written = done;
            if (confirmed < framed)
                return sluice_error_set(err,
                                        "syslog: send to %s:%s: the "
                                        "collector closed the connection "
                                        "before it took %zu of %zu records",
                                        t->host, t->port, framed - confirmed,
                                        framed);
            continue; /* all read: the next chunk connects again */
        }
        if (after == PEER_RESET || ack != ACK_ALL) {
            leave(t, 0);
            if (ack == ACK_TIMED_OUT && after == PEER_OPEN)
                return sluice_error_set(err,
                                        "syslog: send to %s:%s: the "
                                        "collector acknowledged nothing "
                                        "for %d ms",
                                        t->host, t->port, t->timeout_ms);
            return send_failed(t, ECONNRESET, err);
        }
        /* acknowledged, and no sign of a close: counted, and kept in the
         * replay window until a FIN shows that it was read */
        if (window_keep(&t->window, t->chunk.p, t->chunk.len, now_ns())) {
            leave(t, 0);
            return sluice_error_set(err, "syslog: out of memory");
        }
        done += framed;
        *written = done;
    }
    return 0;
}

/* All acknowledged, end our stream and wait, until the deadline, for the
 * collector to read it and close: PEER_CLOSED (a FIN) confirms it all.
 * Here recv() tells: once we sent our FIN, the collector's FIN moves the
 * connection to TIME_WAIT, which the socket shows as CLOSE, as after a
 * reset; but nothing has taken a reset's error before this recv(). */
static enum peer_state finish(syslog_tcp *t, int64_t deadline)
{
    if (wait_acked(t, deadline) != ACK_ALL || shutdown(t->fd, SHUT_WR) != 0)
        return PEER_RESET;
    for (;;) {
        char junk[512];
        ssize_t r = recv(t->fd, junk, sizeof junk, MSG_DONTWAIT);
        if (r == 0)
            return PEER_CLOSED;
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR)
            return PEER_RESET;
        int64_t left = deadline - now_ns();
        if (left <= 0)
            return PEER_RESET;
        if (r > 0)
            continue; /* it had something to say after all: ignored */
        struct pollfd p = {.fd = t->fd, .events = POLLIN | POLLRDHUP};
        int ms = (int)(left / 1000000) + 1;
        if (poll(&p, 1, ms) < 0 && errno != EINTR)
            return PEER_RESET;
    }
}

void syslog_tcp_free(syslog_tcp *t)
{
    if (!t)
        return;
    /* confirm what was counted: end the stream and wait for the
     * collector's FIN; after a reset, replay the window on a new
     * connection first (two tries; the waits within timeout_ms in all) */
    int64_t deadline = now_ns() + (int64_t)t->timeout_ms * 1000000;
    for (int attempt = 0; attempt < 2 && (t->fd >= 0 || t->must_replay);
         attempt++) {
        if (t->fd < 0) {
            sluice_error ignored;
            int error = 0;
            if (connect_now(t, &ignored))
                break;
            if (replay(t, &error)) {
                leave(t, 0);
                continue;
            }
        }
        if (finish(t, deadline) == PEER_CLOSED) {
            window_clear(&t->window);
            t->must_replay = 0;
            leave(t, 1);
            break;
        }
        leave(t, 0);
    }
    if (t->fd >= 0)
        close(t->fd);
    window_free(&t->window);
    sl_buf_free(&t->chunk);
    free(t->ends);
    free(t);
}
