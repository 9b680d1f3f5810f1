/* ctr: the one error type of the runtime (as crun's libcrun_error_t). A
 * function that fails makes one with ctr_error_make and returns a negative
 * value; its callers pass it up unchanged (or prefix context with
 * ctr_error_wrap); the CLI prints it once (ctr_error_report), which also
 * picks the exit status. */
#include "ctr/ctr.h"
#include "base/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int error_vmake(struct ctr_error **err, int status, int errnum, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (!err)
        return -1;
    if (*err) {
        /* keep the first error: it is the cause, a later one a consequence */
        log_debug("also: %s", msg);
        return -1;
    }
    struct ctr_error *e = xzalloc(sizeof(*e));
    e->status = status;
    e->errnum = errnum;
    e->msg = errnum ? xasprintf("%s: %s", msg, strerror(errnum)) : xstrdup(msg);
    *err = e;
    return -1;
}

int ctr_error_make(struct ctr_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = error_vmake(err, 1, errnum, fmt, ap);
    va_end(ap);
    return r;
}

int ctr_error_usage(struct ctr_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = error_vmake(err, 2, 0, fmt, ap);
    va_end(ap);
    return r;
}

int ctr_error_wrap(struct ctr_error **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -1;
    char prefix[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char *m = xasprintf("%s: %s", prefix, (*err)->msg);
    free((*err)->msg);
    (*err)->msg = m;
    return -1;
}

void ctr_error_free(struct ctr_error **err)
{
    if (!err || !*err)
        return;
    free((*err)->msg);
    free(*err);
    *err = NULL;
}

int ctr_error_report(struct ctr_error **err)
{
    if (!err || !*err)
        return 1;
    log_error("%s", (*err)->msg);
    int status = (*err)->status;
    ctr_error_free(err);
    return status;
}
