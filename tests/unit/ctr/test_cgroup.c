/* ctr cgroups on fake v1, v2 and hybrid trees in a temporary directory:
 * which hierarchies a container joins, where its directories go, what the
 * resources write, and the paths it refuses. The code reads a tree by its
 * files (cgroup.controllers, cgroup.procs), so plain directories stand in
 * for the mounts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "ctr/ctr.h"

struct tree { char root[PATH_MAX]; };

static void touch(const char *root, const char *rel, const char *content)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    assert_int_equal(write_file(p, content, strlen(content), O_CREAT | O_TRUNC, 0644), 0);
}

static void mkd(const char *root, const char *rel)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
}

static bool exists(const char *root, const char *rel)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    return access(p, F_OK) == 0;
}

static char *slurp(const char *root, const char *rel)
{
    char p[PATH_MAX * 2], *t = NULL;
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    if (read_file(p, &t, NULL, 1 << 16) < 0)
        return xstrdup("<absent>");
    return t;
}

static void rm_tree(const char *root)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* v1 hierarchy roots are marked by cgroup.procs; cpu and cpuacct are one
 * co-mounted hierarchy reached through two links, as systemd sets it up;
 * perf_event is a bare directory with nothing mounted on it */
static void make_v1(const char *root, bool hybrid)
{
    static const char *const h[] = { "memory", "pids", "cpu,cpuacct", "cpuset", "blkio", "devices",
                                     "freezer", "hugetlb", "net_cls,net_prio", "systemd" };
    char p[PATH_MAX * 2];
    for (size_t i = 0; i < ARRAY_SIZE(h); i++) {
        mkd(root, h[i]);
        snprintf(p, sizeof(p), "%s/cgroup.procs", h[i]);
        touch(root, p, "");
    }
    static const char *const links[][2] = { { "cpu,cpuacct", "cpu" }, { "cpu,cpuacct", "cpuacct" },
                                             { "net_cls,net_prio", "net_cls" }, { "net_cls,net_prio", "net_prio" } };
    for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
        snprintf(p, sizeof(p), "%s/%s", root, links[i][1]);
        assert_int_equal(symlink(links[i][0], p), 0);
    }
    mkd(root, "perf_event");
    if (hybrid) {
        mkd(root, "unified");
        touch(root, "unified/cgroup.procs", "");
        touch(root, "unified/cgroup.controllers", "");
    }
}

static int setup(void **st)
{
    struct tree *t = xzalloc(sizeof(*t));
    snprintf(t->root, sizeof(t->root), "/tmp/vessel-test-cgroup.XXXXXX");
    assert_non_null(mkdtemp(t->root));
    *st = t;
    return 0;
}

static int teardown(void **st)
{
    struct tree *t = *st;
    rm_tree(t->root);
    free(t);
    return 0;
}

static struct ctr_spec *spec_with(const char *linux_json)
{
    char *text = xasprintf("{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},"
                           "\"linux\":{\"namespaces\":[{\"type\":\"mount\"}]%s%s}}",
                           linux_json ? "," : "", linux_json ? linux_json : "");
    struct ctr_spec *s = ctr_spec_parse(text, "/b", "config.json", NULL);
    free(text);
    assert_non_null(s);
    return s;
}

static void test_v1_dirs(void **st)
{
    struct tree *t = *st;
    make_v1(t->root, false);
    struct ctr_spec *s = spec_with(NULL);
    struct ctr_cgroup *cg = ctr_cgroup_create_at(t->root, s, "c1", NULL);
    assert_non_null(cg);
    static const char *const want[] = { "memory", "pids", "cpu,cpuacct", "cpuset", "blkio", "devices",
                                        "freezer", "hugetlb", "net_cls,net_prio", "systemd" };
    char p[PATH_MAX];
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        snprintf(p, sizeof(p), "%s/vessel/c1", want[i]);
        assert_true(exists(t->root, p));
    }
    assert_false(exists(t->root, "perf_event/vessel"));      /* nothing mounted there */
    char *ser = ctr_cgroup_serialize(cg);
    assert_string_equal(ser, "v1:/vessel/c1");
    /* joining writes the pid into every hierarchy once */
    touch(t->root, "memory/vessel/c1/cgroup.procs", "");
    touch(t->root, "cpu,cpuacct/vessel/c1/cgroup.procs", "");
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        snprintf(p, sizeof(p), "%s/vessel/c1/cgroup.procs", want[i]);
        touch(t->root, p, "");
    }
    assert_int_equal(ctr_cgroup_add(cg, 4242, NULL), 0);
    char *v = slurp(t->root, "cpu,cpuacct/vessel/c1/cgroup.procs");
    assert_string_equal(v, "4242");
    free(v);
    struct ctr_cgroup *back = ctr_cgroup_from_at(t->root, ser);
    pid_t *pids;
    size_t n;
    touch(t->root, "pids/vessel/c1/cgroup.procs", "7\n8\n");
    assert_int_equal(ctr_cgroup_pids(back, &pids, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pids[1], 8);
    free(pids);
    free(ser);
    /* destroy removes the directories it made (once emptied of the fake files) */
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        snprintf(p, sizeof(p), "%s/%s/vessel/c1/cgroup.procs", t->root, want[i]);
        unlink(p);
    }
    ctr_cgroup_destroy(back);
    assert_false(exists(t->root, "memory/vessel/c1"));
    assert_false(exists(t->root, "cpu,cpuacct/vessel/c1"));
    ctr_cgroup_free(cg);
    ctr_spec_free(s);
}

static void test_v1_resources(void **st)
{
    struct tree *t = *st;
    make_v1(t->root, false);
    struct ctr_spec *s = spec_with("\"resources\":{\"memory\":{\"limit\":67108864,\"reservation\":1048576,"
        "\"swap\":134217728,\"swappiness\":17,\"disableOOMKiller\":true},"
        "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0\"},\"pids\":{\"limit\":50},"
        "\"network\":{\"classID\":1048577,\"priorities\":[{\"name\":\"eth0\",\"priority\":5}]},"
        "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":4194304},{\"pageSize\":\"1GB\",\"limit\":0}]}");
    struct ctr_cgroup *cg = ctr_cgroup_create_at(t->root, s, "c2", NULL);
    assert_non_null(cg);
    static const char *const files[] = {
        "memory/vessel/c2/memory.limit_in_bytes", "memory/vessel/c2/memory.soft_limit_in_bytes",
        "memory/vessel/c2/memory.swappiness", "memory/vessel/c2/memory.oom_control",
        "cpu,cpuacct/vessel/c2/cpu.shares", "cpu,cpuacct/vessel/c2/cpu.cfs_quota_us",
        "cpu,cpuacct/vessel/c2/cpu.cfs_period_us", "cpuset/vessel/c2/cpuset.cpus", "pids/vessel/c2/pids.max",
        "net_cls,net_prio/vessel/c2/net_cls.classid", "net_cls,net_prio/vessel/c2/net_prio.ifpriomap",
        "hugetlb/vessel/c2/hugetlb.2MB.limit_in_bytes" };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        touch(t->root, files[i], "");
    /* no memory.memsw.* (no swap accounting) and no 1GB pages: warned, skipped */
    assert_int_equal(ctr_cgroup_apply(cg, &s->res, NULL), 0);
    static const char *const want[] = { "67108864", "1048576", "17", "1", "512", "50000", "100000", "0", "50",
                                        "1048577", "eth0 5", "4194304" };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char *v = slurp(t->root, files[i]);
        assert_string_equal(v, want[i]);
        free(v);
    }
    assert_false(exists(t->root, "memory/vessel/c2/memory.memsw.limit_in_bytes"));
    assert_false(exists(t->root, "hugetlb/vessel/c2/hugetlb.1GB.limit_in_bytes"));
    /* with swap accounting the swap limit is written too */
    touch(t->root, "memory/vessel/c2/memory.memsw.limit_in_bytes", "1000");   /* below the new one: swap first */
    touch(t->root, "memory/vessel/c2/memory.limit_in_bytes", "");
    assert_int_equal(ctr_cgroup_apply(cg, &s->res, NULL), 0);
    char *v = slurp(t->root, "memory/vessel/c2/memory.memsw.limit_in_bytes");
    assert_string_equal(v, "134217728");
    free(v);
    ctr_cgroup_free(cg);
    ctr_spec_free(s);
}

/* a hierarchy that is missing altogether: warned about, not an error */
static void test_v1_missing_controllers(void **st)
{
    struct tree *t = *st;
    mkd(t->root, "memory");
    touch(t->root, "memory/cgroup.procs", "");
    struct ctr_spec *s = spec_with("\"resources\":{\"network\":{\"classID\":1},"
                                   "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":4194304}]}");
    struct ctr_cgroup *cg = ctr_cgroup_create_at(t->root, s, "c3", NULL);
    assert_non_null(cg);
    assert_true(exists(t->root, "memory/vessel/c3"));
    assert_int_equal(ctr_cgroup_apply(cg, &s->res, NULL), 0);
    ctr_cgroup_free(cg);
    ctr_spec_free(s);
}

static void test_hybrid(void **st)
{
    struct tree *t = *st;
    make_v1(t->root, true);
    struct ctr_spec *s = spec_with(NULL);
    struct ctr_cgroup *cg = ctr_cgroup_create_at(t->root, s, "h1", NULL);
    assert_non_null(cg);
    char *ser = ctr_cgroup_serialize(cg);
    assert_string_equal(ser, "v1:/vessel/h1");                /* the v1 controllers count */
    assert_true(exists(t->root, "unified/vessel/h1"));        /* and the cgroup2 tree is joined too */
    assert_true(exists(t->root, "memory/vessel/h1"));
    free(ser);
    ctr_cgroup_free(cg);
    ctr_spec_free(s);
}

static void test_v2(void **st)
{
    struct tree *t = *st;
    touch(t->root, "cgroup.controllers", "cpuset cpu io memory pids");
    touch(t->root, "cgroup.subtree_control", "");
    struct ctr_spec *s = spec_with("\"cgroupsPath\":\"/pods/p1\",\"resources\":{\"memory\":{\"limit\":67108864,"
        "\"swap\":100663296,\"swappiness\":5,\"disableOOMKiller\":true},\"cpu\":{\"shares\":1024,\"quota\":20000},"
        "\"pids\":{\"limit\":-1},\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":2097152}]}");
    struct ctr_cgroup *cg = ctr_cgroup_create_at(t->root, s, "ignored", NULL);
    assert_non_null(cg);
    char *ser = ctr_cgroup_serialize(cg);
    assert_string_equal(ser, "v2:/pods/p1");
    free(ser);
    assert_true(exists(t->root, "pods/p1"));
    char *v = slurp(t->root, "cgroup.subtree_control");
    assert_string_equal(v, "+memory +pids +cpu +cpuset +io");
    free(v);
    static const char *const files[] = { "pods/p1/memory.max", "pods/p1/memory.swap.max", "pods/p1/cpu.weight",
                                         "pods/p1/cpu.max", "pods/p1/pids.max", "pods/p1/hugetlb.2MB.max" };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        touch(t->root, files[i], "");
    assert_int_equal(ctr_cgroup_apply(cg, &s->res, NULL), 0);
    /* swap is memory+swap in the spec, swap alone in memory.swap.max; shares
     * 1024 is weight 39 by runc's conversion; no period: the kernel default */
    static const char *const want[] = { "67108864", "33554432", "39", "20000 100000", "max", "2097152" };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        v = slurp(t->root, files[i]);
        assert_string_equal(v, want[i]);
        free(v);
    }
    assert_false(exists(t->root, "pods/p1/memory.swappiness"));       /* none on v2: warned */
    assert_false(exists(t->root, "pods/p1/memory.oom_control"));
    ctr_cgroup_free(cg);
    ctr_spec_free(s);
}

static void test_paths(void **st)
{
    struct tree *t = *st;
    touch(t->root, "cgroup.controllers", "");
    struct ctr_spec *s = spec_with("\"cgroupsPath\":\"/a/../../etc\"");
    assert_null(ctr_cgroup_create_at(t->root, s, "x", NULL));
    assert_false(exists(t->root, "etc"));
    ctr_spec_free(s);
    s = spec_with("\"cgroupsPath\":\"machine.slice:vessel:x\"");   /* systemd style: our own place */
    struct ctr_cgroup *cg = ctr_cgroup_create_at(t->root, s, "sd1", NULL);
    assert_non_null(cg);
    char *ser = ctr_cgroup_serialize(cg);
    assert_string_equal(ser, "v2:/vessel/sd1");
    free(ser);
    ctr_cgroup_free(cg);
    ctr_spec_free(s);
    s = spec_with("\"cgroupsPath\":\"rel/path\"");                  /* relative: under the root */
    cg = ctr_cgroup_create_at(t->root, s, "r1", NULL);
    assert_non_null(cg);
    assert_true(exists(t->root, "rel/path"));
    ctr_cgroup_free(cg);
    ctr_spec_free(s);
    assert_null(ctr_cgroup_from_at(t->root, "v3"));
    assert_null(ctr_cgroup_from_at(t->root, "x1:/a"));
    assert_null(ctr_cgroup_from_at(t->root, NULL));
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_v1_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_resources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_missing_controllers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hybrid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
