/*
 * cli_progress.c - the running status line of long commands (add,
 * extract, check, prune, rekey, copy): on a terminal, stderr redrawn in
 * place a few times a second; with --json, restic-style status lines on
 * stdout; nothing when stderr is not a terminal (unless --progress), or
 * with --quiet.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"

cli_output_options cli_output;

/* "1:02:03" or "2:03" */
static const char *duration(double seconds, char buf[32])
{
    unsigned long s = seconds < 0 ? 0 : (unsigned long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, 32, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, 32, "%lu:%02lu", s / 60, s % 60);
    return buf;
}

/* The share done, 0..1, by bytes where their total is known, else by
 * files; -1: unknown. */
static double fraction(const vault_progress *p)
{
    if (p->bytes_total && p->totals_final)
        return p->bytes_done >= p->bytes_total
                   ? 1.0
                   : (double)p->bytes_done / (double)p->bytes_total;
    if (p->files_total && p->totals_final)
        return p->files_done >= p->files_total
                   ? 1.0
                   : (double)p->files_done / (double)p->files_total;
    return -1;
}

static unsigned terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

static void show_text(const vault_progress *p)
{
    if (p->done) {
        fputs("\r\033[K", stderr); /* the summary takes its place */
        fflush(stderr);
        return;
    }
    char line[1024], t[32], eta[32], a[32], b[32], rate[32];
    double f = fraction(p);
    int n = snprintf(line, sizeof line, "[%s] ", duration(p->seconds, t));
    if (f >= 0)
        n += snprintf(line + n, sizeof line - n, "%5.1f%%  ", 100.0 * f);
    n += snprintf(line + n, sizeof line - n, "%llu", (unsigned long long)
                  p->files_done);
    if (p->files_total)
        n += snprintf(line + n, sizeof line - n, " / %llu%s",
                      (unsigned long long)p->files_total,
                      p->totals_final ? "" : "+");
    n += snprintf(line + n, sizeof line - n, " %s", p->unit);
    if (p->bytes_done || p->bytes_total) {
        n += snprintf(line + n, sizeof line - n, "  %s",
                      cli_size(p->bytes_done, a));
        if (p->bytes_total)
            n += snprintf(line + n, sizeof line - n, " / %s%s",
                          cli_size(p->bytes_total, b),
                          p->totals_final ? "" : "+");
        if (p->seconds > 0.5)
            n += snprintf(line + n, sizeof line - n, "  %s/s",
                          cli_size((uint64_t)((double)p->bytes_done /
                                              p->seconds),
                                   rate));
    }
    if (f > 0.01 && f < 1.0)
        n += snprintf(line + n, sizeof line - n, "  ETA %s",
                      duration(p->seconds * (1.0 - f) / f, eta));
    /* One line, never wrapped (a wrapped line could not be redrawn):
     * the current path loses its start first, as restic's does. */
    size_t width = terminal_width() - 1;
    if (p->current && p->current[0] && (size_t)n + 8 < width) {
        const char *path = cli_text(p->current);
        size_t room = width - (size_t)n - 2, len = strlen(path);
        if (len > room) {
            const char *tail = path + len - (room - 3);
            while (((unsigned char)*tail & 0xc0) == 0x80) /* UTF-8 */
                tail++;
            n += snprintf(line + n, sizeof line - n, "  ...%s", tail);
        }
        else
            n += snprintf(line + n, sizeof line - n, "  %s", path);
    }
    if (strlen(line) > width)
        line[width] = '\0';
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
}

static void show_json(const vault_progress *p)
{
    if (p->done)
        return; /* the command's summary line follows */
    double f = fraction(p);
    printf("{\"message_type\":\"status\",\"operation\":\"%s\","
           "\"seconds_elapsed\":%.0f,",
           p->operation, p->seconds);
    if (f >= 0) {
        printf("\"percent_done\":%.4f,", f);
        if (f > 0.01 && f < 1.0)
            printf("\"seconds_remaining\":%.0f,",
                   p->seconds * (1.0 - f) / f);
    }
    printf("\"unit\":\"%s\",\"total_files\":%llu,\"files_done\":%llu,"
           "\"total_bytes\":%llu,"
           "\"bytes_done\":%llu,\"totals_final\":%s,\"current_files\":[",
           p->unit, (unsigned long long)p->files_total,
           (unsigned long long)p->files_done,
           (unsigned long long)p->bytes_total,
           (unsigned long long)p->bytes_done,
           p->totals_final ? "true" : "false");
    if (p->current && p->current[0])
        cli_json_string(stdout, p->current);
    fputs("]}\n", stdout);
    fflush(stdout);
}

static void show(void *ctx, const vault_progress *p)
{
    (void)ctx;
    if (cli_output.json)
        show_json(p);
    else
        show_text(p);
}

int cli_progress_wanted(void)
{
    return !cli_output.quiet &&
           (cli_output.progress || isatty(STDERR_FILENO));
}

void cli_progress_attach(vault_t *v)
{
    if (cli_progress_wanted())
        vault_set_progress(v, show, NULL, cli_output.json ? 1000 : 200);
}
