/*
 * cli.c -- the `sluice` command: pipe lines into a logger (run), validate a
 * configuration (check), list plugins (plugins). Only here does sluice print
 * on its own account.
 *
 * `run` has three threads of its own besides the runtime's:
 *   main     opens the runtime, reads standard input (poll + read, so that
 *            a stop wakes it), logs each line, closes with the -t timeout;
 *   signals  every signal `run` handles is blocked in every thread and
 *            taken here with sigtimedwait: SIGHUP reloads the -c file
 *            (sluice_runtime_reload: an invalid one is reported and the
 *            running configuration kept) and then reopens the sinks (for
 *            logrotate), SIGUSR1 resumes given-up ones, the first SIGINT/SIGTERM stops
 *            the reading (and, if the lines already read have not all been
 *            queued after half of -t, stops the intake so that a logging
 *            call blocked on a full queue returns), a second one _exits at
 *            once, one during open _exits (nothing was read); SIGQUIT is
 *            reported and ignored; a private real-time signal ends it;
 *   ticker   WATCHDOG=1 to systemd every WATCHDOG_USEC/2, and the
 *            rate-limited event summaries that are due.
 * The signals thread touches the runtime only under run.lock and only while
 * main is reading (PHASE_READING); main leaves that phase under the lock
 * before it closes, so nothing uses the runtime once close has begun.
 * The event callback runs on the runtime's threads, possibly after close
 * returned (a run loop stuck in a sink): its state is static, never freed,
 * and it never blocks (a line that stderr cannot take now is dropped and
 * counted).
 * Knows the library only through sluice.h, plus the plugin loader and the
 * builder's checks for `plugins` and `check`.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef SLUICE_HAVE_SD_NOTIFY
#include <systemd/sd-daemon.h>
#endif

#include <sluice/sluice.h>

#include "config_internal.h"
#include "options_internal.h"
#include "plugin_internal.h"
#include "sink_internal.h"

#ifndef SLUICE_CONFDIR
#define SLUICE_CONFDIR "/usr/local/share/sluice"
#endif

#if defined(__SANITIZE_THREAD__)
/* A second SIGINT/SIGTERM, or one during open, _exits with the runtime's
 * threads running, on purpose: ThreadSanitizer would call them leaked. The
 * library's own tests keep the check (this is the command's binary only). */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "report_thread_leaks=0";
}
#endif

/* Exit statuses (the usage text and sluice(1) list them). */
enum {
    EXIT_DELIVERED = 0,  /* every line read was delivered */
    EXIT_NOT_STARTED = 1, /* invalid configuration, open failed, no logger */
    EXIT_USAGE = 2,       /* bad command line */
    EXIT_UNDELIVERED = 3, /* lines dropped, not logged, or undelivered */
    EXIT_ABANDONED = 4    /* a second SIGINT/SIGTERM: exited at once */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  run [-c FILE] [-l LOGGER] [-L LEVEL] [-t MS]\n"
            "        log every line of standard input through LOGGER (default:\n"
            "        'default', else the first logger). Without -c, uses\n"
            "        " SLUICE_CONFDIR "/default.ini. Each sink's failures,\n"
            "        restarts and recovery are reported on standard error.\n"
            "        -t: how long stopping may take (default 5000 ms;\n"
            "        negative: no limit).\n"
            "        SIGHUP reloads FILE (an invalid one is reported, FILE:LINE,\n"
            "        and the running configuration kept) and reopens the sinks;\n"
            "        SIGUSR1 resumes given-up sinks; SIGINT/SIGTERM stop\n"
            "        reading, log what was read and drain within -t; a second\n"
            "        one exits at once.\n"
            "        Exit status: 0 every line read was delivered; 1 did not\n"
            "        start (configuration, open, logger); 2 usage; 3 lines\n"
            "        were dropped or left undelivered (counted on standard\n"
            "        error); 4 a second SIGINT/SIGTERM ended it at once.\n"
            "        Tells systemd READY=1, RELOADING=1, STOPPING=1 and\n"
            "        WATCHDOG=1 when NOTIFY_SOCKET and WATCHDOG_USEC ask for\n"
            "        them%s.\n"
            "  check -c FILE\n"
            "        validate a configuration: exit 0, or 1 printing every\n"
            "        error as FILE:LINE: message\n"
            "  plugins [-c FILE] [--markdown] [NAME]\n"
            "        list the plugins found on the plugin path: name, ABI\n"
            "        version, description, path. With NAME: that plugin's\n"
            "        options, with their types, defaults, ranges and\n"
            "        descriptions (--markdown: as the documentation's table)\n"
            "\n"
            "  -h, --help      this text\n"
            "  -V, --version   the version\n"
            "\n"
            "environment: SLUICE_PLUGIN_PATH (':'-separated plugin directories)\n",
#ifdef SLUICE_HAVE_SD_NOTIFY
            ""
#else
            " (not in\n        this build: it was built without libsystemd)"
#endif
    );
}

static const char *default_config(void)
{
    return SLUICE_CONFDIR "/default.ini";
}

/* ---- check ---------------------------------------------------------------- */

static int cmd_check(const char *path)
{
    sluice_error err;
    sluice_builder *b = sluice_config_load_file(path, &err);
    if (!b) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    size_t n = sluice_builder_check_(b);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s\n", sluice_builder_error_at_(b, i));
    sluice_builder_free(b);
    if (n)
        return 1;
    printf("%s: OK\n", path);
    return 0;
}

/* ---- plugins ---------------------------------------------------------- */

/* [runtime] plugin_path of config (only it matters here) into *search,
 * and config's folder into base. 0, or 1 when config cannot be read. */
static int plugin_search(const char *config, char **search, char *base,
                         size_t cap)
{
    *search = NULL;
    snprintf(base, cap, ".");
    if (!config)
        return 0;
    FILE *f = fopen(config, "re");
    if (!f) {
        fprintf(stderr, "%s: %s\n", config, strerror(errno));
        return 1;
    }
    char line[1024];
    int in_runtime = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '[')
            in_runtime = strncmp(p, "[runtime]", 9) == 0;
        else if (in_runtime && strncmp(p, "plugin_path", 11) == 0) {
            char *eq = strchr(p, '=');
            if (eq) {
                eq++;
                while (*eq == ' ')
                    eq++;
                eq[strcspn(eq, " ;#\r\n")] = '\0';
                free(*search);
                *search = strdup(eq);
            }
        }
    }
    fclose(f);
    snprintf(base, cap, "%s", config);
    char *slash = strrchr(base, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(base, cap, ".");
    return 0;
}

/* A description cell of a markdown table: '|' escaped. */
static void put_cell(const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|')
            fputs("\\|", stdout);
        else
            putchar(*p);
    }
}

static void describe_markdown(const sluice_plugin *p)
{
    const sluice_option_spec *specs = sluice_sink_api_options_(p->api);
    size_t n = sluice_option_spec_count_(specs);
    if (!specs) {
        printf("(a version-1 plugin: its options are not declared as data)\n");
        return;
    }
    if (n == 0) {
        printf("No options.\n");
        return;
    }
    printf("| option | type | default | description |\n|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        const sluice_option_spec *spec = &specs[i];
        char type[600], def[256];
        sluice_option_describe_type_(spec, type, sizeof type, true);
        sluice_option_describe_default_(spec, def, sizeof def);
        size_t len = strlen(spec->name);
        if (len >= 2 && strcmp(spec->name + len - 2, ".*") == 0)
            printf("| `%.*sNAME` | ", (int)(len - 1), spec->name);
        else
            printf("| `%s` | ", spec->name);
        put_cell(type);
        if (spec->flags & SLUICE_OPTION_REQUIRED)
            printf(" | required | ");
        else if (def[0]) {
            printf(" | `");
            put_cell(def);
            printf("` | ");
        } else {
            printf(" | | ");
        }
        put_cell(spec->description ? spec->description : "");
        if (spec->flags & SLUICE_OPTION_WRITABLE_DIR)
            printf("; its folder must exist and be writable (`sluice check` "
                   "looks)");
        printf(" |\n");
    }
}

static void describe_text(const sluice_plugin *p)
{
    const sluice_sink_api *api = p->api;
    printf("%s: %s\n", sluice_sink_api_name_(api),
           sluice_sink_api_description_(api));
    printf("  file: %s\n  ABI:  %d\n", p->path, sluice_sink_api_version_(api));
    static const char *const formats[] = {"text", "json", "logfmt"};
    if (sluice_sink_api_needs_line_(api))
        printf("  line: rendered as %s unless the section says format =\n",
               formats[sluice_sink_api_default_format_(api)]);
    else
        printf("  line: none (the plugin builds its own messages)\n");
    const sluice_option_spec *specs = sluice_sink_api_options_(api);
    if (!specs) {
        printf("\nOPTIONS (a version-1 plugin: names only, parsed by the "
               "plugin)\n");
        for (const char *const *k = sluice_sink_api_option_names_(api); k && *k;
             k++)
            printf("  %s\n", *k);
        return;
    }
    size_t n = sluice_option_spec_count_(specs);
    printf("\n%-20s %-30s %-14s %s\n", "OPTION", "TYPE", "DEFAULT",
           "DESCRIPTION");
    for (size_t i = 0; i < n; i++) {
        const sluice_option_spec *spec = &specs[i];
        char type[600], def[256];
        sluice_option_describe_type_(spec, type, sizeof type, false);
        sluice_option_describe_default_(spec, def, sizeof def);
        printf("%-20s %-30s %-14s %s\n", spec->name, type, def[0] ? def : "-",
               spec->description ? spec->description : "");
    }
    if (n == 0)
        printf("(none)\n");
    printf("\nand the runtime's keys: plugin%s\n",
           sluice_sink_api_needs_line_(api) ? ", format, pattern" : "");
}

/* `sluice plugins NAME`: one plugin's options (as `fluent-bit -o NAME -h`
 * prints them), in text or as the documentation's markdown table. */
static int cmd_plugin_options(const char *config, const char *name,
                              bool markdown)
{
    char *search;
    char base[4096];
    if (plugin_search(config, &search, base, sizeof base) != 0)
        return 1;
    sluice_plugin *p;
    sluice_error err;
    int rc = sluice_plugin_load(name, search, base, &p, &err);
    free(search);
    if (rc != 0) {
        fprintf(stderr, "sluice: %s\n", err.message);
        return 1;
    }
    if (markdown)
        describe_markdown(p);
    else
        describe_text(p);
    sluice_plugin_unload(p);
    return 0;
}

static int cmd_plugins(const char *config)
{
    char *search = NULL;
    char base[4096];
    if (plugin_search(config, &search, base, sizeof base) != 0)
        return 1;
    char *dirs = sluice_plugin_search_path(search, base);
    free(search);
    if (!dirs)
        return 1;
    int found = 0, bad = 0;
    printf("%-12s %-4s %-50s %s\n", "NAME", "ABI", "DESCRIPTION", "PATH");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
         d = strtok_r(NULL, ":", &save)) {
        DIR *dir = opendir(d);
        if (!dir)
            continue;
        struct dirent *e;
        while ((e = readdir(dir))) {
            size_t n = strlen(e->d_name);
            if (n < 4 || strcmp(e->d_name + n - 3, ".so") != 0)
                continue;
            char path[8192];
            size_t dl = strlen(d);
            while (dl > 1 && d[dl - 1] == '/')
                d[--dl] = '\0';
            snprintf(path, sizeof path, "%s%s/%s", d[0] == '/' ? "" : "./", d,
                     e->d_name);
            sluice_plugin *p;
            sluice_error err;
            if (sluice_plugin_load(path, NULL, NULL, &p, &err) != 0) {
                fprintf(stderr, "refused: %s\n", err.message);
                bad++;
                continue;
            }
            printf("%-12s %-4d %-50s %s\n", sluice_sink_api_name_(p->api),
                   sluice_sink_api_version_(p->api),
                   sluice_sink_api_description_(p->api), p->path);
            sluice_plugin_unload(p);
            found++;
        }
        closedir(dir);
    }
    free(dirs);
    if (!found && !bad)
        fprintf(stderr, "no plugins found (set SLUICE_PLUGIN_PATH or "
                        "[runtime] plugin_path)\n");
    return found ? 0 : 1;
}

/* ---- run: writing to standard error ------------------------------------ */

#define REPORT_LINE_MAX 1024 /* one line on stderr, at most (with '\n') */
#define SAY_WAIT_MS 1000     /* how long a message may wait for stderr */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static atomic_bool stderr_stuck; /* a wait ran out: do not wait again */

/* Write text to standard error, waiting at most wait_ms for room each time
 * (a pipe nobody reads, a terminal on hold): what does not fit by then is
 * dropped rather than blocking; once a wait ran out, later writes do not
 * wait at all. -1 if not all of it was written. SIGPIPE is ignored in
 * `run`, so a closed stderr is an error here, not a signal. */
static int stderr_write(const char *text, size_t len, int wait_ms)
{
    while (len > 0) {
        struct pollfd out = {.fd = STDERR_FILENO, .events = POLLOUT};
        int ready = poll(&out, 1, atomic_load(&stderr_stuck) ? 0 : wait_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0 && wait_ms > 0)
            atomic_store(&stderr_stuck, true);
        if (ready <= 0 || !(out.revents & POLLOUT))
            return -1;
        ssize_t put = write(STDERR_FILENO, text, len);
        if (put < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        text += put;
        len -= (size_t)put;
    }
    return 0;
}

/* Append to line (capacity REPORT_LINE_MAX, *len used), cut to fit; one
 * byte is always left for the '\n'. */
static void line_vadd(char *line, size_t *len, const char *fmt, va_list ap)
{
    size_t room = REPORT_LINE_MAX - 1 - *len;
    if (room == 0)
        return;
    int n = vsnprintf(line + *len, room + 1, fmt, ap);
    if (n > 0)
        *len += (size_t)n < room ? (size_t)n : room;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void line_add(char *line, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line_vadd(line, len, fmt, ap);
    va_end(ap);
}

/* Append text with its control characters escaped (one event, one line). */
static void line_add_text(char *line, size_t *len, const char *text)
{
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c < 0x20 || *c == 0x7f)
            line_add(line, len, "\\x%02x", *c);
        else
            line_add(line, len, "%c", *c);
    }
}

/* "sluice: " + the message + "\n", written with a bounded wait. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void say(const char *fmt, ...)
{
    char line[REPORT_LINE_MAX];
    size_t len = 0;
    line_add(line, &len, "sluice: ");
    va_list ap;
    va_start(ap, fmt);
    line_vadd(line, &len, fmt, ap);
    va_end(ap);
    line[len++] = '\n';
    stderr_write(line, len, SAY_WAIT_MS);
}

/* ---- run: systemd's notification socket -------------------------------- */

static void notify(const char *state)
{
#ifdef SLUICE_HAVE_SD_NOTIFY
    sd_notify(0, state);
#else
    (void)state;
#endif
}

/* The watchdog interval systemd asks for (half of WATCHDOG_USEC, for this
 * process), in ns; 0 when none. */
static int64_t watchdog_interval_ns(void)
{
#ifdef SLUICE_HAVE_SD_NOTIFY
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
        return (int64_t)(usec / 2) * 1000;
#else
    if (getenv("NOTIFY_SOCKET"))
        say("NOTIFY_SOCKET is set, but this sluice was built without "
            "libsystemd: it does not notify systemd (use Type=simple)");
#endif
    return 0;
}

/* ---- run: the sinks' events, rate-limited ------------------------------ */

/* Each binding gets at most one line per quiet period for its failures,
 * restarts and recoveries; what comes meanwhile is held and summed into the
 * next line ("failed 37 times in the last 5 s: ..."), which the ticker
 * writes once the period is over even if nothing else happens. The period
 * starts at 1 s and doubles (up to 60 s) while the trouble goes on, so a
 * sink down for hours does not flood the journal. Giving up and diverting
 * are rare and always shown at once. */
#define NOTE_MAX 256 /* bindings with a note; later ones share the last */
#define NOTE_NAME_MAX 128
#define NOTE_ERROR_MAX 320
#define QUIET_FIRST_NS 1000000000LL
#define QUIET_LONGEST_NS 60000000000LL

typedef struct sink_note {
    char logger[NOTE_NAME_MAX], sink[NOTE_NAME_MAX];
    unsigned lane;
    int64_t shown_ns;       /* when a line about it was last shown; 0 never */
    int64_t quiet_ns;       /* the next line may come this long after */
    uint64_t held_failures; /* failures since that line, not shown yet */
    bool held_recovered;    /* the latest held event: it writes again */
    int64_t held_delay_ms;  /* the latest held event: a restart in this
                                   long (-1: not a restart) */
    uint64_t pending;       /* its backlog at the latest event */
    char last_error[NOTE_ERROR_MAX];
} sink_note;

static struct {
    pthread_mutex_t lock; /* notes, note_count */
    sink_note notes[NOTE_MAX];
    size_t note_count;
    atomic_bool silent;   /* the run is over: no more lines */
    atomic_ulong unshown; /* lines stderr could not take at once */
} events = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void copy_name(char *to, const char *from)
{
    snprintf(to, NOTE_NAME_MAX, "%s", from ? from : "");
}

static sink_note *note_of(const sluice_event *ev)
{
    for (size_t i = 0; i < events.note_count; i++) {
        sink_note *note = &events.notes[i];
        if (note->lane == ev->lane &&
            strncmp(note->sink, ev->sink, NOTE_NAME_MAX - 1) == 0 &&
            strncmp(note->logger, ev->logger, NOTE_NAME_MAX - 1) == 0)
            return note;
    }
    sink_note *note =
        &events.notes[events.note_count < NOTE_MAX ? events.note_count++
                                                   : NOTE_MAX - 1];
    if (note->quiet_ns == 0) { /* new */
        note->quiet_ns = QUIET_FIRST_NS;
        note->held_delay_ms = -1;
    }
    /* the shared last note takes the latest binding's names */
    copy_name(note->logger, ev->logger);
    copy_name(note->sink, ev->sink);
    note->lane = ev->lane;
    return note;
}

static bool note_due(const sink_note *note, int64_t now)
{
    return note->shown_ns == 0 || now - note->shown_ns >= note->quiet_ns;
}

static void note_prefix(const sink_note *note, char *line, size_t *len)
{
    line_add(line, len, "sluice: sink '%s' (logger '%s'", note->sink,
             note->logger);
    if (note->lane > 0)
        line_add(line, len, ", lane %u", note->lane);
    line_add(line, len, "): ");
}

/* A line about what is held, if anything is; then the quiet period starts
 * again, longer if the trouble went on through the last one. */
static void note_render(sink_note *note, int64_t now, char *out,
                        size_t *out_len)
{
    if (note->held_failures == 0 && !note->held_recovered)
        return;
    char line[REPORT_LINE_MAX];
    size_t len = 0;
    note_prefix(note, line, &len);
    if (note->held_failures == 1) {
        line_add(line, &len, "failed: ");
        line_add_text(line, &len, note->last_error);
    } else if (note->held_failures > 1) {
        int64_t seconds = (now - note->shown_ns + 500000000) / 1000000000;
        line_add(line, &len, "failed %llu times in the last %lld s: ",
                 (unsigned long long)note->held_failures,
                 (long long)(seconds > 0 ? seconds : 1));
        line_add_text(line, &len, note->last_error);
    }
    if (note->held_recovered) {
        line_add(line, &len, "%srecovered, writing again",
                 note->held_failures ? "; then " : "");
        if (note->pending)
            line_add(line, &len, " (%llu pending)",
                     (unsigned long long)note->pending);
    } else if (note->held_delay_ms >= 0)
        line_add(line, &len, "; restarting in %lld ms",
                 (long long)note->held_delay_ms);
    line[len++] = '\n';
    if (*out_len + len <= 2 * REPORT_LINE_MAX) {
        memcpy(out + *out_len, line, len);
        *out_len += len;
    }
    if (note->shown_ns != 0 && now - note->shown_ns < 2 * note->quiet_ns)
        note->quiet_ns = note->quiet_ns * 2 < QUIET_LONGEST_NS
                             ? note->quiet_ns * 2
                             : QUIET_LONGEST_NS;
    else
        note->quiet_ns = QUIET_FIRST_NS;
    note->shown_ns = now;
    note->held_failures = 0;
    note->held_recovered = false;
    note->held_delay_ms = -1;
}

static void events_write(const char *text, size_t len)
{
    if (len && stderr_write(text, len, 0) != 0)
        atomic_fetch_add(&events.unshown, 1);
}

/* The runtime's messages start "sink 'NAME': "; the line names it already. */
static const char *without_sink_prefix(const char *message, const char *sink)
{
    size_t len = strlen(sink);
    if (strncmp(message, "sink '", 6) == 0 &&
        strncmp(message + 6, sink, len) == 0 &&
        strncmp(message + 6 + len, "': ", 3) == 0)
        return message + 6 + len + 3;
    return message;
}

/* The event callback: on a worker or supervisor thread; never blocks. */
static void on_event(void *user, const sluice_event *ev)
{
    (void)user;
    if (atomic_load(&events.silent))
        return;
    char out[2 * REPORT_LINE_MAX];
    size_t out_len = 0;
    int64_t now = now_ns();
    pthread_mutex_lock(&events.lock);
    sink_note *note = note_of(ev);
    note->pending = ev->pending;
    switch (ev->kind) {
    case SLUICE_EVENT_FAILED:
        note->held_failures++;
        note->held_recovered = false;
        note->held_delay_ms = -1;
        snprintf(note->last_error, sizeof note->last_error, "%s",
                 without_sink_prefix(ev->message, ev->sink));
        if (note_due(note, now))
            note_render(note, now, out, &out_len);
        break;
    case SLUICE_EVENT_BACKOFF:
        note->held_delay_ms = ev->delay_ms;
        if (note_due(note, now))
            note_render(note, now, out, &out_len);
        break;
    case SLUICE_EVENT_RECOVERED:
        note->held_recovered = true;
        if (note_due(note, now))
            note_render(note, now, out, &out_len);
        break;
    case SLUICE_EVENT_GIVEN_UP:
    case SLUICE_EVENT_DIVERTING: {
        note_render(note, now, out, &out_len); /* what was held comes first */
        char line[REPORT_LINE_MAX];
        size_t len = 0;
        note_prefix(note, line, &len);
        if (ev->kind == SLUICE_EVENT_GIVEN_UP) {
            line_add(line, &len,
                     "given up after too many restarts "
                     "(restart_intensity; SIGUSR1 resumes it), "
                     "%llu pending: ",
                     (unsigned long long)ev->pending);
            line_add_text(line, &len,
                          without_sink_prefix(ev->message, ev->sink));
        } else {
            line_add(line, &len,
                     "diverting its %llu pending records to the "
                     "logger's fallback sink",
                     (unsigned long long)ev->pending);
        }
        line[len++] = '\n';
        memcpy(out + out_len, line, len);
        out_len += len;
        note->shown_ns = now;
        break;
    }
    default: break;
    }
    pthread_mutex_unlock(&events.lock);
    events_write(out, out_len);
}

/* Write the summaries that are due (all of them when final). */
static void events_flush(bool final)
{
    for (size_t i = 0; i < NOTE_MAX; i++) {
        char out[2 * REPORT_LINE_MAX];
        size_t out_len = 0;
        int64_t now = now_ns();
        pthread_mutex_lock(&events.lock);
        bool more = i < events.note_count;
        if (more && (final || note_due(&events.notes[i], now)))
            note_render(&events.notes[i], now, out, &out_len);
        pthread_mutex_unlock(&events.lock);
        if (!more)
            break;
        if (final)
            stderr_write(out, out_len, SAY_WAIT_MS);
        else
            events_write(out, out_len);
    }
    unsigned long unshown = atomic_exchange(&events.unshown, 0);
    if (unshown)
        say("%lu line(s) about sinks were not shown: standard error was not "
            "taking them",
            unshown);
}

/* ---- run: the state the threads share ---------------------------------- */

enum run_phase {
    PHASE_OPENING = 0, /* before the runtime is open: a stop _exits */
    PHASE_READING,     /* reading and logging: the signals thread may use rt */
    PHASE_CLOSING      /* main is closing rt: nobody else touches it */
};

static struct {
    pthread_mutex_t lock; /* phase, rt (for the signals thread) */
    int phase;
    sluice_runtime *rt;
    const char *config;         /* -c: what SIGHUP reloads */
    const char *logger_name;    /* the logger standard input goes to */
    sluice_logger *logger;      /* it */
    atomic_int logger_level;    /* its level, as open or a reload set it */
    char (*names)[128];         /* the loggers' names, for SIGUSR1 */
    const char *const *loggers; /* pointers into names */
    size_t logger_count;
    int close_ms;
    int end_signal;             /* private: main ends the signals thread */
    int wake[2];                /* the signals thread wakes main's poll */
    atomic_int stop_signal;     /* the first SIGINT/SIGTERM; 0 before */
    _Atomic int64_t stop_ns;    /* when it came */
    atomic_bool intake_stopped; /* set before sluice_runtime_stop_intake */
    atomic_bool ending;         /* main is done: the helper threads end */
    atomic_bool stopping_told;  /* STOPPING=1 sent */
    atomic_bool ready;          /* READY=1 sent: the watchdog may ping */
    pthread_mutex_t tick_lock;  /* ticker_end, for tick_cond */
    pthread_cond_t tick_cond;
    bool ticker_end;
    int64_t watchdog_ns; /* WATCHDOG=1 this often; 0: never */
} run = {.lock = PTHREAD_MUTEX_INITIALIZER,
         .tick_lock = PTHREAD_MUTEX_INITIALIZER,
         .wake = {-1, -1}};

static const char *signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal";
}

static void tell_stopping(void)
{
    if (!atomic_exchange(&run.stopping_told, true))
        notify("STOPPING=1\nSTATUS=stopping: draining the queues");
}

static void resume_all(sluice_runtime *rt, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sluice_logger *lg = sluice_logger_get(rt, names[i]);
        for (size_t k = 0; k < sluice_logger_binding_count(lg); k++) {
            sluice_binding_stats st;
            sluice_binding *b = sluice_logger_binding(lg, k);
            sluice_binding_stats_get(b, &st);
            if (st.state == SLUICE_STATE_GIVEN_UP) {
                sluice_error e;
                sluice_binding_resume(b, &e);
            }
        }
    }
}

/* ---- run: the signals thread ------------------------------------------- */

static size_t logger_names(const char *config, char names[][128], size_t max);

/* The reload's errors, each as `check` prints it: FILE:LINE first. */
static void print_error(void *user, const char *message)
{
    (*(size_t *)user)++;
    char line[REPORT_LINE_MAX];
    size_t len = 0;
    line_add(line, &len, "%s", message);
    line[len++] = '\n';
    stderr_write(line, len, SAY_WAIT_MS);
}

/* SIGHUP: reload the -c file, keep the running configuration if it is not
 * valid (every error said), then reopen the sinks, for logrotate: both,
 * always, so that a rotation works with an unchanged file and even with a
 * broken one. systemd hears RELOADING=1 and READY=1 around it. Under
 * run.lock, in PHASE_READING. */
static void reload_config(void)
{
    char notice[160];
    snprintf(notice, sizeof notice,
             "RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=reloading the configuration",
             (long long)(now_ns() / 1000));
    notify(notice);
    char names[64][128];
    size_t count = logger_names(run.config, names, 64);
    bool has_input_logger = false;
    for (size_t i = 0; i < count && !has_input_logger; i++)
        has_input_logger = strcmp(names[i], run.logger_name) == 0;
    sluice_error err;
    sluice_builder *builder = NULL;
    if (!has_input_logger)
        say("SIGHUP: %s has no [logger.%s], which standard input is logged "
            "to: kept the configuration that runs",
            run.config, run.logger_name);
    else if (!(builder = sluice_builder_from_file(run.config, &err)))
        say("SIGHUP: %s: kept the configuration that runs", err.message);
    if (builder) {
        size_t printed = 0;
        sluice_builder_set_error_fn(builder, print_error, &printed, &err);
        int rc = sluice_runtime_reload_builder(run.rt, builder, &err);
        if (rc < 0) {
            if (!printed) /* not the file's: a sink that did not open */
                say("%s", err.message);
            say("SIGHUP: %s is not valid: kept the configuration that runs",
                run.config);
        } else {
            for (size_t i = 0; i < count; i++)
                memcpy(run.names[i], names[i], sizeof names[i]);
            run.logger_count = count;
            atomic_store(&run.logger_level, (int)sluice_get_level(run.logger));
            if (rc > 0)
                say("SIGHUP: reloaded %s; the sinks it removed left %d "
                    "records undelivered",
                    run.config, rc);
            else
                say("SIGHUP: reloaded %s", run.config);
        }
    }
    if (sluice_runtime_reopen(run.rt, &err) != 0)
        say("%s", err.message);
    notify("READY=1\nSTATUS=logging standard input");
}

/* Half of -t went by since the stop and main is still logging what it had
 * read (a call blocked on a full queue): stop the intake, so that the call
 * returns and main closes with the time left. */
static void stop_intake_now(void)
{
    pthread_mutex_lock(&run.lock);
    if (run.phase == PHASE_READING && !atomic_load(&run.intake_stopped)) {
        atomic_store(&run.intake_stopped, true);
        sluice_runtime_stop_intake(run.rt);
        say("the lines already read were not all queued within %d ms (the "
            "queue is full): the rest are not logged",
            run.close_ms / 2);
    }
    pthread_mutex_unlock(&run.lock);
}

/* The first SIGINT/SIGTERM: returns the deadline for the intake (-1:
 * none). A second one, or one while opening, ends the process here. */
static int64_t on_stop_signal(int sig)
{
    pthread_mutex_lock(&run.lock);
    int phase = run.phase;
    pthread_mutex_unlock(&run.lock);
    if (phase == PHASE_OPENING) {
        say("%s while starting: exiting; nothing was read yet",
            signal_name(sig));
        _exit(EXIT_DELIVERED);
    }
    int first = 0;
    if (!atomic_compare_exchange_strong(&run.stop_signal, &first, sig)) {
        say("%s again: exiting at once, without draining (what was still "
            "queued is lost)",
            signal_name(sig));
        _exit(EXIT_ABANDONED);
    }
    int64_t now = now_ns();
    atomic_store(&run.stop_ns, now);
    tell_stopping();
    if (phase == PHASE_CLOSING) {
        say("%s: already closing (input ended), within %d ms; %s again exits "
            "at once",
            signal_name(sig), run.close_ms, signal_name(sig));
        return -1;
    }
    if (run.close_ms < 0)
        say("%s: stopping: logging what was read, then draining for as long "
            "as it takes (-t %d); %s again exits at once",
            signal_name(sig), run.close_ms, signal_name(sig));
    else
        say("%s: stopping: logging what was read, then draining within %d ms; "
            "%s again exits at once",
            signal_name(sig), run.close_ms, signal_name(sig));
    char byte = 1;
    if (write(run.wake[1], &byte, 1) < 0) {
        /* full: main has a wake-up waiting already */
    }
    return run.close_ms < 0 ? -1 : now + (int64_t)(run.close_ms / 2) * 1000000;
}

static void *signal_thread(void *arg)
{
    const sigset_t *set = arg;
    int64_t intake_deadline = -1; /* stop the intake then (-1: no) */
    for (;;) {
        int sig;
        if (intake_deadline >= 0) {
            int64_t left = intake_deadline - now_ns();
            if (left <= 0) {
                stop_intake_now();
                intake_deadline = -1;
                continue;
            }
            struct timespec wait = {left / 1000000000,
                                    (long)(left % 1000000000)};
            sig = sigtimedwait(set, NULL, &wait);
        } else {
            sig = sigwaitinfo(set, NULL);
        }
        if (sig < 0)
            continue; /* EAGAIN (the deadline) or EINTR */
        if (sig == run.end_signal) {
            if (atomic_load(&run.ending))
                return NULL;
            continue; /* not from main: ignored */
        }
        switch (sig) {
        case SIGHUP:
        case SIGUSR1:
            pthread_mutex_lock(&run.lock);
            if (run.phase == PHASE_READING) {
                if (sig == SIGUSR1)
                    resume_all(run.rt, run.loggers, run.logger_count);
                else
                    reload_config();
            }
            pthread_mutex_unlock(&run.lock);
            break;
        case SIGQUIT:
            say("SIGQUIT ignored: SIGTERM or SIGINT stops sluice");
            break;
        case SIGINT:
        case SIGTERM: {
            int64_t deadline = on_stop_signal(sig);
            if (deadline >= 0)
                intake_deadline = deadline;
            break;
        }
        default: break;
        }
    }
}

/* ---- run: the ticker thread -------------------------------------------- */

#define TICK_NS 250000000LL /* how often due event summaries are looked for */

static void *ticker_thread(void *arg)
{
    (void)arg;
    int64_t next_ping = 0;
    pthread_mutex_lock(&run.tick_lock);
    while (!run.ticker_end) {
        int64_t now = now_ns();
        bool pinging = run.watchdog_ns && atomic_load(&run.ready);
        if (pinging && now >= next_ping) {
            notify("WATCHDOG=1");
            next_ping = now + run.watchdog_ns;
        }
        pthread_mutex_unlock(&run.tick_lock);
        events_flush(false);
        pthread_mutex_lock(&run.tick_lock);
        int64_t wake = now + TICK_NS;
        if (pinging && next_ping < wake)
            wake = next_ping;
        struct timespec until = {wake / 1000000000, (long)(wake % 1000000000)};
        if (!run.ticker_end)
            pthread_cond_timedwait(&run.tick_cond, &run.tick_lock, &until);
    }
    pthread_mutex_unlock(&run.tick_lock);
    return NULL;
}

/* ---- run: reading standard input --------------------------------------- */

#define READ_CHUNK 4096 /* read at most this much at a time */
/* Longer lines are cut to this, as the library cuts a longer message. */
#define LINE_KEPT_MAX (1u << 20)

typedef struct line_feed {
    sluice_logger *logger;
    const char *logger_name;
    sluice_level level;
    uint64_t lines_read;  /* lines taken from standard input */
    uint64_t below_level; /* not logged: below the logger's level */
    char *buffer;         /* [0, len): the start of a line not complete yet */
    size_t len, cap;
    bool cutting; /* the line passed LINE_KEPT_MAX: skip to its end */
} line_feed;

static void feed_line(line_feed *feed, char *text, size_t len)
{
    if (len > 0 && text[len - 1] == '\r')
        len--;
    feed->lines_read++;
    /* the logger's level as the last reload left it (not as it reads once
     * the intake stops: OFF) */
    if ((int)feed->level < atomic_load(&run.logger_level)) {
        feed->below_level++;
        return;
    }
    if (atomic_load(&run.intake_stopped))
        return; /* counted as not logged, from the difference with attempted */
    sluice_log_str(feed->logger, feed->level, text, len);
}

/* n new bytes were read at buffer + len: log every line they complete. */
static void feed_bytes(line_feed *feed, size_t n)
{
    size_t start = feed->len;
    size_t end = start + n;
    if (feed->cutting) { /* drop what is left of a line that was too long */
        char *newline = memchr(feed->buffer + start, '\n', n);
        if (!newline)
            return; /* feed->len stays: the kept part of the line */
        size_t rest = (size_t)(feed->buffer + end - newline);
        memmove(feed->buffer + start, newline, rest);
        end = start + rest;
        feed->cutting = false;
    }
    size_t line_start = 0;
    for (size_t at = start; at < end; at++) {
        if (feed->buffer[at] != '\n')
            continue;
        feed_line(feed, feed->buffer + line_start, at - line_start);
        line_start = at + 1;
    }
    size_t rest = end - line_start;
    memmove(feed->buffer, feed->buffer + line_start, rest);
    feed->len = rest;
    if (feed->len > LINE_KEPT_MAX) { /* keep its start, as the library would */
        feed->len = LINE_KEPT_MAX;
        feed->cutting = true;
    }
}

/* Room for one more read; false when out of memory. */
static bool feed_room(line_feed *feed)
{
    if (feed->cap - feed->len >= READ_CHUNK)
        return true;
    size_t cap = feed->cap ? feed->cap * 2 : 2 * READ_CHUNK;
    if (cap < feed->len + READ_CHUNK)
        cap = feed->len + READ_CHUNK;
    char *grown = realloc(feed->buffer, cap);
    if (!grown)
        return false;
    feed->buffer = grown;
    feed->cap = cap;
    return true;
}

/* Read and log until end of input or a stop. */
static void read_input(line_feed *feed)
{
    struct pollfd watch[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                              {.fd = run.wake[0], .events = POLLIN}};
    while (!atomic_load(&run.stop_signal)) {
        if (poll(watch, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            say("standard input: poll: %s", strerror(errno));
            return;
        }
        if (watch[1].revents)
            continue; /* a stop: the loop's test */
        if (!watch[0].revents)
            continue;
        if (!feed_room(feed)) {
            say("standard input: out of memory for a line");
            return;
        }
        ssize_t n = read(STDIN_FILENO, feed->buffer + feed->len, READ_CHUNK);
        if (n == 0)
            return; /* end of input */
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            say("standard input: %s", strerror(errno));
            return;
        }
        feed_bytes(feed, (size_t)n);
    }
}

/* ---- run --------------------------------------------------------------- */

/* The names of the loggers of a config, for resume (read from the file). */
static size_t logger_names(const char *config, char names[][128], size_t max)
{
    FILE *f = fopen(config, "re");
    if (!f)
        return 0;
    char line[1024];
    size_t n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "[logger.", 8) == 0) {
            char *end = strchr(p, ']');
            if (end && end - p - 8 < 128) {
                memcpy(names[n], p + 8, (size_t)(end - p - 8));
                names[n][end - p - 8] = '\0';
                n++;
            }
        }
    }
    fclose(f);
    return n;
}

/* Open the runtime with the event callback installed; 0 or -1 (said). */
static int open_runtime(const char *config, sluice_runtime **rt)
{
    sluice_error err;
    sluice_builder *builder = sluice_builder_from_file(config, &err);
    if (!builder) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    if (sluice_builder_set_event_fn(builder, on_event, NULL, &err) != 0) {
        sluice_builder_free(builder);
        say("%s", err.message);
        return -1;
    }
    if (sluice_builder_start(builder, rt, &err) != 0) {
        /* not through say(): the messages are the configuration's errors,
         * FILE:LINE first, as `check` prints them */
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    return 0;
}

/* How long close may take now: -t, less what the stop already used. */
static int close_budget_ms(void)
{
    if (run.close_ms < 0 || !atomic_load(&run.stop_signal))
        return run.close_ms;
    int64_t used_ms = (now_ns() - atomic_load(&run.stop_ns)) / 1000000;
    return used_ms >= run.close_ms ? 0 : run.close_ms - (int)used_ms;
}

/* What became of the lines, when not all were delivered. */
static void report_losses(const line_feed *feed, const sluice_logger_stats *st,
                          uint64_t unlogged, long undelivered)
{
    char line[REPORT_LINE_MAX];
    size_t len = 0;
    line_add(line, &len, "%llu lines read",
             (unsigned long long)feed->lines_read);
    if (feed->below_level)
        line_add(line, &len, " (%llu below the logger's level)",
                 (unsigned long long)feed->below_level);
    line_add(line, &len,
             ", %llu accepted, %llu dropped (overflowed %llu, "
             "closed %llu, unlogged %llu",
             (unsigned long long)st->accepted,
             (unsigned long long)(st->dropped + unlogged),
             (unsigned long long)st->overflowed, (unsigned long long)st->closed,
             (unsigned long long)unlogged);
    if (st->rejected)
        line_add(line, &len, ", rejected %llu",
                 (unsigned long long)st->rejected);
    line_add(line, &len, "), %ld undelivered", undelivered);
    line[len] = '\0';
    say("%s", line);
    for (size_t k = 0; k < sluice_logger_binding_count(feed->logger); k++) {
        sluice_binding_stats bs;
        if (sluice_binding_stats_get(sluice_logger_binding(feed->logger, k),
                                     &bs) != 0)
            continue;
        if (bs.pending == 0 && bs.failures == 0)
            continue;
        char lane[32] = "";
        if (bs.lane > 0)
            snprintf(lane, sizeof lane, ", lane %u", bs.lane);
        say("sink '%s' (logger '%s'%s): %llu written, %llu undelivered, "
            "%llu failures, %llu restarts, state %s",
            bs.sink, feed->logger_name, lane, (unsigned long long)bs.written,
            (unsigned long long)bs.pending, (unsigned long long)bs.failures,
            (unsigned long long)bs.restarts,
            sluice_binding_state_name(bs.state));
    }
}

/* End the signals and ticker threads (main is done with the runtime). */
static void stop_helpers(pthread_t signals, pthread_t ticker)
{
    atomic_store(&run.ending, true);
    pthread_kill(signals, run.end_signal);
    pthread_join(signals, NULL);
    pthread_mutex_lock(&run.tick_lock);
    run.ticker_end = true;
    pthread_cond_signal(&run.tick_cond);
    pthread_mutex_unlock(&run.tick_lock);
    pthread_join(ticker, NULL);
}

/* Start them; the signal mask they and the runtime's threads inherit sends
 * every signal of set to the signals thread only. */
static int start_helpers(sigset_t *set, pthread_t *signals, pthread_t *ticker)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&run.tick_cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pipe2(run.wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        say("pipe: %s", strerror(errno));
        return -1;
    }
    int rc = pthread_create(signals, NULL, signal_thread, set);
    if (rc != 0) {
        say("cannot start a thread: %s", strerror(rc));
        return -1;
    }
    rc = pthread_create(ticker, NULL, ticker_thread, NULL);
    if (rc != 0) {
        say("cannot start a thread: %s", strerror(rc));
        atomic_store(&run.ending, true);
        pthread_kill(*signals, run.end_signal);
        pthread_join(*signals, NULL);
        return -1;
    }
    return 0;
}

static sluice_logger *pick_logger(sluice_runtime *rt, const char *config,
                                  const char *wanted, const char *first,
                                  const char **name)
{
    sluice_logger *lg = NULL;
    *name = wanted;
    if (wanted) {
        lg = sluice_logger_get(rt, wanted);
        if (!lg)
            say("%s: no [logger.%s]", config, wanted);
        return lg;
    }
    *name = "default";
    lg = sluice_logger_get(rt, "default");
    if (!lg && first) {
        *name = first;
        lg = sluice_logger_get(rt, first);
    }
    if (!lg)
        say("%s: no logger to write to", config);
    return lg;
}

static int cmd_run(const char *config, const char *logger_name,
                   const char *level_name, int close_ms)
{
    sluice_level level = SLUICE_LEVEL_INFO;
    if (level_name && sluice_level_parse(level_name, &level) != 0) {
        fprintf(stderr,
                "sluice: -L %s: not a level (trace, debug, info, "
                "warn, error, fatal)\n",
                level_name);
        return EXIT_USAGE;
    }
    static char names[64][128];
    static const char *name_ptrs[64];
    size_t name_count = logger_names(config, names, 64);
    for (size_t i = 0; i < 64; i++) /* a reload may name more */
        name_ptrs[i] = names[i];
    run.names = names;
    run.loggers = name_ptrs;
    run.logger_count = name_count;
    run.config = config;
    run.close_ms = close_ms;
    run.end_signal = SIGRTMIN;

    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, run.end_signal);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    run.watchdog_ns = watchdog_interval_ns();
    pthread_t signals, ticker;
    if (start_helpers(&set, &signals, &ticker) != 0)
        return EXIT_NOT_STARTED;

    /* a SIGINT/SIGTERM from here until PHASE_READING _exits */
    sluice_runtime *rt = NULL;
    if (open_runtime(config, &rt) != 0) {
        stop_helpers(signals, ticker);
        return EXIT_NOT_STARTED;
    }
    line_feed feed = {.level = level};
    feed.logger = pick_logger(rt, config, logger_name,
                              name_count ? names[0] : NULL, &feed.logger_name);
    if (!feed.logger) {
        sluice_close(rt, close_ms);
        stop_helpers(signals, ticker);
        return EXIT_NOT_STARTED;
    }
    run.logger_name = feed.logger_name;
    run.logger = feed.logger;
    atomic_store(&run.logger_level, (int)sluice_get_level(feed.logger));
    pthread_mutex_lock(&run.lock);
    run.rt = rt;
    run.phase = PHASE_READING;
    pthread_mutex_unlock(&run.lock);
    notify("READY=1\nSTATUS=logging standard input");
    atomic_store(&run.ready, true);

    read_input(&feed);
    if (feed.len > 0) /* a last line without its newline: log it too */
        feed_line(&feed, feed.buffer, feed.len);
    free(feed.buffer);

    tell_stopping();
    pthread_mutex_lock(&run.lock);
    run.phase = PHASE_CLOSING;
    run.rt = NULL;
    pthread_mutex_unlock(&run.lock);
    long undelivered = sluice_close(rt, close_budget_ms());
    sluice_logger_stats st; /* the husk's: the counters as close left them */
    sluice_logger_stats_get(feed.logger, &st);
    stop_helpers(signals, ticker);
    events_flush(true);
    atomic_store(&events.silent, true);

    uint64_t logged = feed.lines_read - feed.below_level;
    uint64_t unlogged = logged > st.attempted ? logged - st.attempted : 0;
    if (undelivered > 0 || st.dropped > 0 || unlogged > 0) {
        report_losses(&feed, &st, unlogged, undelivered);
        return EXIT_UNDELIVERED;
    }
    return EXIT_DELIVERED;
}

/* -t MS: an int, negative for no limit; anything else is refused. */
static int parse_ms(const char *text, int *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE || value < INT_MIN ||
        value > INT_MAX) {
        fprintf(stderr,
                "sluice: -t %s: not a number of milliseconds (an "
                "integer; negative: no limit)\n",
                text);
        return -1;
    }
    *out = (int)value;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("sluice %s (plugin ABI %d)\n", SLUICE_VERSION,
               SLUICE_SINK_ABI_VERSION);
        return 0;
    }
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"logger", required_argument, NULL, 'l'},
        {"level", required_argument, NULL, 'L'},
        {"timeout", required_argument, NULL, 't'},
        {"markdown", no_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *config = NULL, *logger = NULL, *level = NULL;
    int close_ms = 5000;
    bool markdown = false;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "c:l:L:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'l': logger = optarg; break;
        case 'L': level = optarg; break;
        case 't':
            if (parse_ms(optarg, &close_ms) != 0)
                return EXIT_USAGE;
            break;
        case 'M': markdown = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    const char *name = NULL;
    if (strcmp(cmd, "plugins") == 0 && optind < argc)
        name = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "sluice: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (markdown && !name) {
        fprintf(stderr, "sluice: --markdown goes with `sluice plugins NAME`\n");
        return 2;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(config ? config : default_config(), logger, level, close_ms);
    if (strcmp(cmd, "check") == 0) {
        if (!config) {
            fprintf(stderr, "sluice check: -c FILE is required\n");
            return EXIT_USAGE;
        }
        return cmd_check(config);
    }
    if (strcmp(cmd, "plugins") == 0)
        return name ? cmd_plugin_options(config, name, markdown)
                    : cmd_plugins(config);
    fprintf(stderr, "sluice: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
