/* The hot-spare supervisor's configuration file (spare/spare.h). */
#include "spare/spare.h"
#include "base/base.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static const char *const reserved[] = { "--replicate", "--standby", "--qmp", "--incoming", "--restore", NULL };

static int bad(const char *path, const char *what)
{
    log_error("spare --config %s: %s", path, what);
    return -1;
}

static char **string_array(json_object *a, const char *path, const char *name, const char *side)
{
    char why[300];
    if (!a || !json_object_is_type(a, json_type_array)) {
        snprintf(why, sizeof(why), "guest %s: \"%s\" must be an array of vessel run options", name, side);
        bad(path, why);
        return NULL;
    }
    size_t n = json_object_array_length(a);
    char **v = xzalloc((n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_object *s = json_object_array_get_idx(a, i);
        const char *t = json_object_is_type(s, json_type_string) ? json_object_get_string(s) : NULL;
        for (unsigned k = 0; t && reserved[k]; k++)
            if (!strncmp(t, reserved[k], strlen(reserved[k])) &&
                (t[strlen(reserved[k])] == 0 || t[strlen(reserved[k])] == '='))
                t = NULL;
        if (!t) {
            snprintf(why, sizeof(why), "guest %s: \"%s\"[%zu] must be a string and not --replicate, --standby, "
                     "--qmp, --incoming or --restore (the supervisor gives those)", name, side, i);
            bad(path, why);
            for (size_t k = 0; k < i; k++)
                free(v[k]);
            free(v);
            return NULL;
        }
        v[i] = xstrdup(t);
    }
    return v;
}

static bool get_ms(json_object *o, const char *key, uint64_t def, uint64_t *out)
{
    json_object *v;
    *out = def;
    if (!json_object_object_get_ex(o, key, &v))
        return true;
    if (!json_object_is_type(v, json_type_int))
        return false;
    int64_t x = json_object_get_int64(v);
    *out = (uint64_t)x;
    return x >= 1 && x <= 60000;
}

static bool good_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static int load_guest(json_object *o, const char *path, const struct spare_config *c, struct spare_guest *g)
{
    char why[300];
    json_object *v;
    const char *name = json_object_object_get_ex(o, "name", &v) && json_object_is_type(v, json_type_string)
                           ? json_object_get_string(v) : NULL;
    if (!name || !good_name(name))
        return bad(path, "every guest needs a \"name\" of 1 to 32 letters, digits, '_' or '-'");
    for (unsigned i = 0; i < c->n; i++)
        if (!strcmp(c->g[i].name, name))
            return snprintf(why, sizeof(why), "guest name %s given twice", name), bad(path, why);
    snprintf(g->name, sizeof(g->name), "%s", name);
    json_object *pa = NULL, *sa = NULL;
    json_object_object_get_ex(o, "primary", &pa);
    json_object_object_get_ex(o, "standby", &sa);
    if (!(g->args[0] = string_array(pa, path, name, "primary")) ||
        !(g->args[1] = string_array(sa, path, name, "standby")))
        return -1;
    if (!get_ms(o, "period-ms", 25, &g->period_ms) || !get_ms(o, "timeout-ms", 0, &g->timeout_ms))
        return snprintf(why, sizeof(why), "guest %s: period-ms and timeout-ms take 1 to 60000", name), bad(path, why);
    if (json_object_object_get_ex(o, "uri", &v)) {
        const char *u = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if ((strncmp(u, "unix:", 5) && strncmp(u, "tcp:", 4)) || strlen(u) >= sizeof(g->uri))
            return snprintf(why, sizeof(why), "guest %s: uri '%.100s': expected unix:PATH or tcp:HOST:PORT", name, u),
                   bad(path, why);
        snprintf(g->uri, sizeof(g->uri), "%s", u);
    } else {
        snprintf(g->uri, sizeof(g->uri), "unix:%.150s/%s.repl", c->state_dir, name);
    }
    return 0;
}

int spare_config_load(const char *path, struct spare_config *out)
{
    memset(out, 0, sizeof(*out));
    json_object *root = json_object_from_file(path);
    if (!root)
        return bad(path, json_util_get_last_err() ? json_util_get_last_err() : "cannot read it");
    int r = 0;
    json_object *v, *guests;
    snprintf(out->state_dir, sizeof(out->state_dir), "/run/vessel-spare");
    if (!json_object_is_type(root, json_type_object)) {
        r = bad(path, "not a JSON object");
    } else if (json_object_object_get_ex(root, "state-dir", &v)) {
        const char *d = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if (!*d || strlen(d) >= 120)
            r = bad(path, "\"state-dir\" must be a path of 1 to 119 bytes");
        else
            snprintf(out->state_dir, sizeof(out->state_dir), "%s", d);
    }
    if (!r && (!json_object_object_get_ex(root, "guests", &guests) || !json_object_is_type(guests, json_type_array) ||
               json_object_array_length(guests) == 0 || json_object_array_length(guests) > SPARE_MAX_GUESTS))
        r = bad(path, "\"guests\" must be an array of 1 to 64 guests");
    for (size_t i = 0; !r && i < json_object_array_length(guests); i++) {
        json_object *g = json_object_array_get_idx(guests, i);
        if (!json_object_is_type(g, json_type_object))
            r = bad(path, "every guest must be an object");
        else if ((r = load_guest(g, path, out, &out->g[out->n])) == 0)
            out->n++;
        else
            for (int s = 0; s < 2; s++)     /* the half-made guest */
                if (out->g[out->n].args[s]) {
                    for (char **a = out->g[out->n].args[s]; *a; a++)
                        free(*a);
                    free(out->g[out->n].args[s]);
                    out->g[out->n].args[s] = NULL;
                }
    }
    json_object_put(root);
    if (r)
        spare_config_free(out);
    return r;
}

void spare_config_free(struct spare_config *c)
{
    for (unsigned i = 0; i < c->n; i++)
        for (int s = 0; s < 2; s++) {
            for (char **a = c->g[i].args[s]; a && *a; a++)
                free(*a);
            free(c->g[i].args[s]);
            c->g[i].args[s] = NULL;
        }
    c->n = 0;
}
