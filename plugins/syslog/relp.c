/*
 * relp.c -- the RELP transport of the syslog sink, through librelp.
 *
 * What librelp guarantees, and what we count (librelp 1.11, relpsess.c):
 * relpCltSendSyslog() first processes the responses that have arrived and
 * waits while the window of unacknowledged frames is full, then sends the
 * whole frame and moves it to the session's "unacked" list; it returns
 * before the collector's "rsp" for that frame. A frame leaves the unacked list
 * only when its rsp arrives. When the session breaks, relpCltReconnect()
 * reconnects and resends every frame still unacked, before new ones. So a
 * record counts as written once relpCltSendSyslog() returned RELP_RET_OK,
 * and we must never throw the client away while frames may be unacked: we
 * reconnect the same client instead. A graceful close (relpEngineCltDestruct
 * on a healthy session) sends "close" and waits for its rsp, which the
 * collector sends after all earlier ones, i.e. after every frame is acked.
 *
 * librelp (1.11, and its master today: tcp.c relpTcpSend) calls
 * send(sock, buf, len, 0), without MSG_NOSIGNAL, and installs no handler,
 * so a collector that closed or reset the session would raise SIGPIPE in
 * our thread: every call into librelp runs inside sluice_sigpipe_block() /
 * sluice_sigpipe_unblock() (sluice/sink.h), which also takes back a SIGPIPE
 * it raised; for syslog_relp_send() the caller holds the guard, once per
 * batch. Knows nothing of record formatting.
 */
#include "syslog_internal.h"

#include <stddef.h> /* librelp.h uses size_t without it */
#include <librelp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct syslog_relp {
    relpEngine_t *engine;
    relpClt_t *clt;
    char *host, *port;
    int connected;     /* relpCltConnect succeeded once: reconnect from now */
    int broken;        /* the last call failed: reconnect before sending */
    char last[256];    /* the last error librelp reported through onErr */
};

static void on_err(void *usr, char *objinfo, char *errmsg, relpRetVal code)
{
    syslog_relp *r = usr;
    if (r)
        snprintf(r->last, sizeof r->last, "%s: %s (%d)",
                 objinfo ? objinfo : "", errmsg ? errmsg : "", (int)code);
}

/* librelp calls its debug printer unconditionally; the default is NULL. */
static void quiet(char *fmt, ...) { (void)fmt; }

static int fail(syslog_relp *r, sluice_error *err, const char *what,
                relpRetVal rc)
{
    sluice_error_set(err, "syslog: relp %s:%s: %s failed (librelp error %d)%s%s",
                     r->host, r->port, what, (int)rc,
                     r->last[0] ? ": " : "", r->last);
    r->last[0] = '\0';
    return -1;
}

int syslog_relp_new(syslog_relp **out, const char *host, const char *port,
                    int connect_timeout_ms, int timeout_ms, int window,
                    sluice_error *err)
{
    syslog_relp *r = calloc(1, sizeof *r);
    if (!r || !(r->host = strdup(host)) || !(r->port = strdup(port))) {
        syslog_relp_free(r);
        return sluice_error_set(err, "syslog: out of memory");
    }
    relpRetVal rc;
    sluice_sigpipe_guard g;
    sluice_sigpipe_block(&g);
    if ((rc = relpEngineConstruct(&r->engine)) != RELP_RET_OK)
        goto failed;
    relpEngineSetDbgprint(r->engine, quiet);
    relpEngineSetOnErr(r->engine, on_err);
    if ((rc = relpEngineSetEnableCmd(r->engine, (unsigned char *)"syslog",
                                     eRelpCmdState_Required)) != RELP_RET_OK ||
        (rc = relpEngineCltConstruct(r->engine, &r->clt)) != RELP_RET_OK ||
        (rc = relpCltSetUsrPtr(r->clt, r)) != RELP_RET_OK ||
        (rc = relpCltSetTimeout(r->clt, (unsigned)((timeout_ms + 999) / 1000))) !=
            RELP_RET_OK ||
        (rc = relpCltSetConnTimeout(r->clt, (connect_timeout_ms + 999) / 1000)) !=
            RELP_RET_OK ||
        (rc = relpCltSetWindowSize(r->clt, window)) != RELP_RET_OK)
        goto failed;
    sluice_sigpipe_unblock(&g);
    *out = r;
    return 0;
failed:
    sluice_sigpipe_unblock(&g);
    fail(r, err, "setup", rc);
    syslog_relp_free(r);
    return -1;
}

/* Make the session usable: first connect, or reconnect (and resend). */
static int ensure(syslog_relp *r, sluice_error *err)
{
    relpRetVal rc;
    if (!r->connected) {
        rc = relpCltConnect(r->clt, AF_UNSPEC, (unsigned char *)r->port,
                            (unsigned char *)r->host);
        if (rc != RELP_RET_OK)
            return fail(r, err, "connect", rc);
        r->connected = 1;
        r->broken = 0;
    } else if (r->broken) {
        rc = relpCltReconnect(r->clt);
        if (rc != RELP_RET_OK)
            return fail(r, err, "reconnect", rc);
        r->broken = 0;
    }
    return 0;
}

/* The caller holds a SIGPIPE guard (syslog.c takes one per batch). */
int syslog_relp_send(syslog_relp *r, const char *msg, size_t len,
                     sluice_error *err)
{
    int rv = ensure(r, err);
    if (rv == 0) {
        relpRetVal rc = relpCltSendSyslog(r->clt, (unsigned char *)msg, len);
        if (rc != RELP_RET_OK) {
            r->broken = 1;
            rv = fail(r, err, "send", rc);
        }
    }
    return rv;
}

int syslog_relp_flush(syslog_relp *r, sluice_error *err)
{
    if (!r->connected || !r->broken)
        return 0;
    sluice_sigpipe_guard g;
    sluice_sigpipe_block(&g);
    int rv = ensure(r, err);
    sluice_sigpipe_unblock(&g);
    return rv;
}

void syslog_relp_free(syslog_relp *r)
{
    if (!r)
        return;
    sluice_sigpipe_guard g;
    sluice_sigpipe_block(&g);
    if (r->clt) {
        /* one last chance to resend what is unacknowledged, then a graceful
         * close that waits for every ack */
        if (r->connected && r->broken && relpCltReconnect(r->clt) == RELP_RET_OK)
            r->broken = 0;
        relpEngineCltDestruct(r->engine, &r->clt);
    }
    if (r->engine)
        relpEngineDestruct(&r->engine);
    sluice_sigpipe_unblock(&g);
    free(r->host);
    free(r->port);
    free(r);
}
