/*
 * v1_sink.c -- a small working sink built against the FROZEN version-1
 * header (tests/abi/v1/sluice/sink.h), never against include/: it proves
 * that a plugin compiled for ABI 1 loads and runs unchanged in a runtime
 * that speaks a later version. It appends each record's line to `path`
 * (required) after an optional `tag`, parsing its options by hand the way
 * every version-1 plugin did.
 */
#include <sluice/sink.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if SLUICE_SINK_ABI_VERSION != 1
#error "v1_sink.c must be built against tests/abi/v1/sluice/sink.h"
#endif

static const char *const v1_options[] = {"path", "tag", "fail_open", NULL};

typedef struct v1_state {
    int fd;
    char tag[64];
} v1_state;

static int v1_check(const sluice_options *o, sluice_error *err)
{
    if (!sluice_options_get(o, "path", NULL))
        return sluice_options_error(o, NULL, err, "option 'path' is required");
    const char *tag = sluice_options_get(o, "tag", "");
    if (strlen(tag) >= sizeof(((v1_state *)0)->tag))
        return sluice_options_error(o, "tag", err, "is too long");
    return 0;
}

static int v1_open(const sluice_options *o, void **state, sluice_error *err)
{
    if (v1_check(o, err) != 0)
        return -1;
    int fail = 0;
    if (sluice_options_bool(o, "fail_open", 0, &fail, err) != 0)
        return -1;
    if (fail)
        return sluice_options_error(o, "fail_open", err, "asked to fail");
    v1_state *s = calloc(1, sizeof *s);
    if (!s)
        return sluice_error_set(err, "v1_sink: out of memory");
    strcpy(s->tag, sluice_options_get(o, "tag", ""));
    const char *path = sluice_options_get(o, "path", NULL);
    s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (s->fd < 0) {
        int e = errno;
        free(s);
        return sluice_options_error(o, "path", err, "%s: %s", path, strerror(e));
    }
    *state = s;
    return 0;
}

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

static int v1_write(void *state, const sluice_record *const *batch, size_t n,
                    size_t *written, sluice_error *err)
{
    v1_state *s = state;
    size_t tl = strlen(s->tag);
    for (*written = 0; *written < n; (*written)++) {
        const sluice_record *r = batch[*written];
        if (put(s->fd, s->tag, tl) || put(s->fd, r->line, r->line_len))
            return sluice_error_set(err, "v1_sink: write: %s", strerror(errno));
    }
    return 0;
}

static int v1_flush(void *state, sluice_error *err)
{
    (void)state;
    (void)err;
    return 0;
}

static void v1_close(void *state)
{
    v1_state *s = state;
    close(s->fd);
    free(s);
}

static const sluice_sink_api v1_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION, /* 1, from the frozen header */
    .struct_size = sizeof(sluice_sink_api),
    .name = "v1_sink",
    .description = "a version-1 plugin, built against the frozen v1 header",
    .option_names = v1_options,
    .open = v1_open,
    .write = v1_write,
    .flush = v1_flush,
    .close = v1_close,
    .check = v1_check,
};

const sluice_sink_api *sluice_sink_entry(void) { return &v1_api; }
