/* ctr: the OCI hooks: each run with the container's state on its stdin.
 * Used by the runtime (container.c: prestart, createRuntime, poststart,
 * poststop) and by the container's init (init.c: createContainer,
 * startContainer), which so no longer depend on each other. */
#include "ctr/ctr.h"
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Give a hook its state on stdin. A hook may exit without reading it: the
 * write then fails with EPIPE instead of killing the runtime with SIGPIPE
 * (blocked around the write, a pending one consumed). */
static void hook_feed(int fd, const char *text)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    if (write_full(fd, text, strlen(text)) < 0 && errno == EPIPE) {
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Run one hook: 0 when it exits 0; else -1 and *err, or only a warning
 * when WARN_ONLY (poststart, poststop). */
static int hook_run1(const struct ctr_hook *h, const char *state_json_text, bool warn_only, int stage,
                     struct ctr_error **err)
{
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return ctr_error_make(err, errno, "hook %s: pipe", h->path);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        char *argv0[] = { h->path, NULL };
        char **argv = h->args ? h->args : argv0, **envp = h->env ? h->env : (char *[]){ NULL };
        if (stage >= 0)
            ctr_exec_staged(stage, h->path, argv, envp, false);
        else
            execve(h->path, argv, envp);
        _exit(127);
    }
    close(in[0]);
    if (pid < 0) {
        close(in[1]);
        return ctr_error_make(err, errno, "hook %s: fork", h->path);
    }
    hook_feed(in[1], state_json_text);
    close(in[1]);
    int status = 0;
    uint64_t deadline = time_ms() + (uint64_t)(h->timeout ? h->timeout : 3600) * 1000;
    char why[64] = "";
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (time_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(why, sizeof(why), "timed out after %d s", h->timeout);
            break;
        }
        usleep(1000);
    }
    if (!why[0] && (!WIFEXITED(status) || WEXITSTATUS(status)))
        snprintf(why, sizeof(why), "failed (status %d)", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    if (!why[0])
        return 0;
    if (warn_only) {
        log_warn("hook %s %s", h->path, why);
        return -1;
    }
    return ctr_error_make(err, 0, "hook %s %s", h->path, why);
}

/* The spec: a failing prestart, createRuntime, createContainer or
 * startContainer hook stops the operation at once (-1, *err); a failing
 * poststart or poststop hook is a warning and the rest still run. */
int ctr_hooks_run(const struct ctr_spec *s, int kind, const char *state_json_text, int stage, struct ctr_error **err)
{
    bool warn_only = kind == CTR_HOOK_POSTSTART || kind == CTR_HOOK_POSTSTOP;
    for (size_t i = 0; i < s->nhooks[kind]; i++)
        if (hook_run1(&s->hooks[kind][i], state_json_text, warn_only, stage, err) < 0 && !warn_only)
            return -1;
    return 0;
}

/* The state given on stdin to the hooks that run inside the container
 * (createContainer, startContainer): runc's fields, the pid as seen there. */
char *ctr_hook_state(const char *id, const char *bundle, const char *status)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ociVersion", json_object_new_string("1.0.2"));
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "status", json_object_new_string(status));
    json_object_object_add(o, "pid", json_object_new_int(getpid()));
    json_object_object_add(o, "bundle", json_object_new_string(bundle));
    char *t = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return t;
}

