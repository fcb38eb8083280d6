/*
 * cli.c -- the `sluice` command: pipe lines into a logger (run), validate a
 * configuration (check), list plugins (plugins). Only here does sluice print
 * on its own account. Signals in `run`: SIGHUP reopens the sinks (for
 * logrotate), SIGUSR1 resumes bindings the supervisor gave up on, SIGINT and
 * SIGTERM stop reading and drain.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/sluice.h>

#include "config_internal.h"
#include "plugin_internal.h"
#include "sink_internal.h"

#ifndef SLUICE_CONFDIR
#define SLUICE_CONFDIR "/usr/local/share/sluice"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  run [-c FILE] [-l LOGGER] [-L LEVEL] [-t MS]\n"
            "        log every line of standard input through LOGGER (default:\n"
            "        'default', else the first logger). Without -c, uses\n"
            "        " SLUICE_CONFDIR "/default.ini. SIGHUP reopens sinks,\n"
            "        SIGUSR1 resumes given-up sinks, SIGINT/SIGTERM drain and\n"
            "        exit. -t: how long closing may take (default 5000 ms).\n"
            "        Exits 0 when every line was delivered.\n"
            "  check -c FILE\n"
            "        validate a configuration: exit 0, or 1 printing every\n"
            "        error as FILE:LINE: message\n"
            "  plugins [-c FILE]\n"
            "        list the plugins found on the plugin path: name, ABI\n"
            "        version, description, path\n"
            "\n"
            "  -h, --help      this text\n"
            "  -V, --version   the version\n"
            "\n"
            "environment: SLUICE_PLUGIN_PATH (':'-separated plugin directories)\n");
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

static int cmd_plugins(const char *config)
{
    char *search = NULL;
    char base[4096] = ".";
    if (config) {
        /* only [runtime] plugin_path matters here */
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
                    free(search);
                    search = strdup(eq);
                }
            }
        }
        fclose(f);
        snprintf(base, sizeof base, "%s", config);
        char *slash = strrchr(base, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(base, sizeof base, ".");
    }
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

/* ---- run -------------------------------------------------------------- */

static volatile sig_atomic_t stop_reading;
static sluice_runtime *run_rt;
static pthread_t main_thread;

static void on_wakeup(int sig)
{
    (void)sig;
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

typedef struct signal_ctx {
    sigset_t set;
    const char *const *loggers;
    size_t nloggers;
} signal_ctx;

static void *signal_thread(void *arg)
{
    signal_ctx *ctx = arg;
    for (;;) {
        int sig;
        if (sigwait(&ctx->set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            sluice_error e;
            if (sluice_runtime_reopen(run_rt, &e) != 0)
                fprintf(stderr, "sluice: %s\n", e.message);
        } else if (sig == SIGUSR1) {
            resume_all(run_rt, ctx->loggers, ctx->nloggers);
        } else if (sig == SIGINT || sig == SIGTERM) {
            stop_reading = 1;
            pthread_kill(main_thread, SIGUSR2);
        } else if (sig == SIGQUIT) {
            return NULL; /* asked to end by main */
        }
    }
}

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

static int cmd_run(const char *config, const char *logger_name,
                   const char *level_name, int close_ms)
{
    sluice_level level = SLUICE_LEVEL_INFO;
    if (level_name && sluice_level_parse(level_name, &level) != 0) {
        fprintf(stderr, "sluice: -L %s: not a level (trace, debug, info, "
                        "warn, error, fatal)\n",
                level_name);
        return 2;
    }
    static char names[64][128];
    const char *name_ptrs[64];
    size_t nnames = logger_names(config, names, 64);
    for (size_t i = 0; i < nnames; i++)
        name_ptrs[i] = names[i];

    /* workers inherit this mask: signals go to the signal thread only */
    signal_ctx ctx;
    sigemptyset(&ctx.set);
    sigaddset(&ctx.set, SIGHUP);
    sigaddset(&ctx.set, SIGUSR1);
    sigaddset(&ctx.set, SIGINT);
    sigaddset(&ctx.set, SIGTERM);
    sigaddset(&ctx.set, SIGQUIT);
    ctx.loggers = name_ptrs;
    ctx.nloggers = nnames;
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &ctx.set, &old);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_wakeup; /* no SA_RESTART: interrupts the read */
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    sluice_error err;
    if (sluice_open(config, &run_rt, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    sluice_logger *lg = NULL;
    if (logger_name) {
        lg = sluice_logger_get(run_rt, logger_name);
        if (!lg) {
            fprintf(stderr, "sluice: %s: no [logger.%s]\n", config, logger_name);
            sluice_close(run_rt, close_ms);
            return 1;
        }
    } else {
        lg = sluice_logger_get(run_rt, "default");
        if (!lg && nnames)
            lg = sluice_logger_get(run_rt, names[0]);
    }
    if (!lg) {
        fprintf(stderr, "sluice: %s: no logger to write to\n", config);
        sluice_close(run_rt, close_ms);
        return 1;
    }
    main_thread = pthread_self();
    pthread_t sig_thread;
    pthread_create(&sig_thread, NULL, signal_thread, &ctx);

    char *line = NULL;
    size_t cap = 0;
    while (!stop_reading) {
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (errno == EINTR && !stop_reading) {
                clearerr(stdin);
                continue;
            }
            break;
        }
        if (n > 0 && line[n - 1] == '\n')
            n--;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        sluice_log_str(lg, level, line, (size_t)n);
    }
    free(line);
    sluice_logger_stats st;
    sluice_logger_stats_get(lg, &st);
    pthread_kill(sig_thread, SIGQUIT);
    pthread_join(sig_thread, NULL);
    long left = sluice_close(run_rt, close_ms);
    if (left > 0 || st.dropped > 0) {
        fprintf(stderr,
                "sluice: %llu lines read, %llu dropped, %ld undelivered\n",
                (unsigned long long)st.attempted,
                (unsigned long long)st.dropped, left);
        return 1;
    }
    return 0;
}

/* -t MS: an int, negative for no limit; anything else is refused. */
static int parse_ms(const char *text, int *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE || value < INT_MIN ||
        value > INT_MAX) {
        fprintf(stderr, "sluice: -t %s: not a number of milliseconds (an "
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
        return 2;
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
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *config = NULL, *logger = NULL, *level = NULL;
    int close_ms = 5000;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "c:l:L:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'l': logger = optarg; break;
        case 'L': level = optarg; break;
        case 't':
            if (parse_ms(optarg, &close_ms) != 0)
                return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(config ? config : default_config(), logger, level, close_ms);
    if (strcmp(cmd, "check") == 0) {
        if (!config) {
            fprintf(stderr, "sluice check: -c FILE is required\n");
            return 2;
        }
        return cmd_check(config);
    }
    if (strcmp(cmd, "plugins") == 0)
        return cmd_plugins(config);
    fprintf(stderr, "sluice: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
