#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level level = LOG_INFO;
static const char *prog = "vessel";
static int log_fd = 2;
static bool log_json;

void log_set_level(enum log_level lvl) { level = lvl; }
enum log_level log_get_level(void) { return level; }
void log_set_prog(const char *p) { prog = p; }
void log_set_fd(int fd) { log_fd = fd; }
void log_set_json(bool json) { log_json = json; }

static const char *level_name[] = { "error", "warning", "info", "debug" };

static size_t json_escape(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (; *src && o + 7 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        if (c == '"' || c == '\\') { dst[o++] = '\\'; dst[o++] = (char)c; }
        else if (c < 0x20) o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
        else dst[o++] = (char)c;
    }
    dst[o] = 0;
    return o;
}

int log_get_fd(void) { return log_fd; }

size_t log_vformat(char *line, size_t cap, enum log_level lvl, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    int n;
    if (log_json) {
        char esc[4200];
        json_escape(esc, sizeof(esc), msg);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char tbuf[64];
        strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(line, cap, "{\"level\":\"%s\",\"msg\":\"%s\",\"time\":\"%s.%09ldZ\"}\n",
                     level_name[lvl], esc, tbuf, ts.tv_nsec);
    } else if (lvl == LOG_ERROR || lvl == LOG_INFO) {
        n = snprintf(line, cap, "%s: %s\n", prog, msg);
    } else {
        n = snprintf(line, cap, "%s: %s: %s\n", prog, level_name[lvl], msg);
    }
    if (n < 0)
        n = 0;
    if (cap && (size_t)n > cap - 1)
        n = (int)cap - 1;
    return (size_t)n;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    if (lvl > level)
        return;
    int saved = errno;
    char line[4608];
    size_t n = log_vformat(line, sizeof(line), lvl, fmt, ap);
    if (n > 0)
        write_full(log_fd, line, n);
    errno = saved;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
}

bool ratelimit_ok(struct ratelimit *rl)
{
    uint64_t now = time_ms();
    bool ok;
    /* Not strictly atomic across threads; an occasional extra line is fine. */
    if (now - rl->window_start_ms >= rl->interval_ms) {
        if (rl->suppressed)
            log_msg(LOG_WARN, "%u similar messages suppressed", rl->suppressed);
        rl->window_start_ms = now;
        rl->printed = 0;
        rl->suppressed = 0;
    }
    ok = rl->printed < rl->burst;
    if (ok)
        rl->printed++;
    else
        rl->suppressed++;
    return ok;
}
