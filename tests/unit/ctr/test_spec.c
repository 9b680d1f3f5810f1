#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "base/base.h"
#include "ctr/ctr.h"

static const char *good =
    "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},"
    "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":5,\"gid\":6,\"additionalGids\":[7]},"
    "\"capabilities\":{\"bounding\":[\"CAP_KILL\",\"CAP_SYS_ADMIN\"]},"
    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":10,\"hard\":20}],\"oomScoreAdj\":-5},"
    "\"hostname\":\"h\",\"mounts\":[{\"destination\":\"/m\",\"type\":\"bind\",\"source\":\"data\",\"options\":[\"rbind\",\"ro\",\"rslave\",\"mode=755\"]}],"
    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"},{\"type\":\"network\",\"path\":\"/proc/1/ns/net\"}],"
    "\"resources\":{\"memory\":{\"limit\":1048576},\"pids\":{\"limit\":9},\"cpu\":{\"shares\":512}},"
    "\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"},"
    "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}}}";

/* a config that must be refused: NULL, and one error line that names
 * config.json (the JSON path of the offending value), exit status 1 */
static bool refused(const char *text)
{
    struct ctr_error *err = NULL;
    struct ctr_spec *s = ctr_spec_parse(text, "/b", "config.json", &err);
    bool ok = !s && err && err->msg && strstr(err->msg, "config.json") && err->status == 1;
    if (!ok)
        print_message("not refused as expected: %s (error: %s)\n", text, err ? err->msg : "none");
    ctr_spec_free(s);
    ctr_error_free(&err);
    return ok;
}

static void test_good(void **st)
{
    struct ctr_spec *s = ctr_spec_parse(good, "/b", "config.json", NULL);
    assert_non_null(s);
    assert_string_equal(s->root, "/b/rootfs");
    assert_string_equal(s->proc.args[0], "sh");
    assert_int_equal(s->proc.uid, 5);
    assert_int_equal(s->proc.gid, 6);
    assert_int_equal(s->proc.ngids, 1);
    assert_int_equal(s->proc.caps[0], (1ULL << 5) | (1ULL << 21));
    assert_int_equal(s->proc.rlimits[0].res, RLIMIT_NOFILE);
    assert_int_equal(s->proc.rlimits[0].hard, 20);
    assert_int_equal(s->proc.oom_score_adj, -5);
    assert_string_equal(s->mounts[0].source, "/b/data");
    assert_true(s->mounts[0].bind);
    assert_int_equal(s->mounts[0].flags & (MS_RDONLY | MS_REC), MS_RDONLY | MS_REC);
    assert_int_equal(s->mounts[0].prop, MS_SLAVE | MS_REC);
    assert_string_equal(s->mounts[0].data, "mode=755");
    assert_true(s->ns_on[CTR_NS_PID]);
    assert_string_equal(s->ns_path[CTR_NS_NET], "/proc/1/ns/net");
    assert_false(s->ns_on[CTR_NS_USER]);
    assert_int_equal(s->res.mem_limit, 1048576);
    assert_int_equal(s->res.pids_limit, 9);
    assert_int_equal(s->res.cpu_shares, 512);
    assert_int_equal(s->res.cpu_quota, 0);          /* unset */
    assert_string_equal(s->sysctl[0], "net.ipv4.ip_forward");
    assert_non_null(s->seccomp);
    ctr_spec_free(s);
}

static void test_bad(void **st)
{
    static const char *const bad[] = {
        "", "[]", "{\"ociVersion\":\"1.0.2\"}",
        "{\"ociVersion\":3,\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"sh\"]}}",
        "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"sh\"],\"cwd\":\"rel\"}}",
        "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"sh\"]},\"linux\":{\"namespaces\":[{\"type\":\"bogus\"}]}}",
        "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"sh\"]},\"mounts\":[{\"destination\":\"rel\"}]}",
        "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"sh\"],\"rlimits\":[{\"type\":\"RLIMIT_X\",\"soft\":1,\"hard\":1}]}}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_true(refused(bad[i]));
}

static void test_names(void **st)
{
    assert_int_equal(ctr_signal_parse("KILL"), SIGKILL);
    assert_int_equal(ctr_signal_parse("SIGTERM"), SIGTERM);
    assert_int_equal(ctr_signal_parse("9"), 9);
    assert_int_equal(ctr_signal_parse("0"), -1);
    assert_int_equal(ctr_signal_parse("SIGNOPE"), -1);
    assert_int_equal(ctr_cap_parse("CAP_SYS_ADMIN"), 21);
    assert_int_equal(ctr_cap_parse("SYS_ADMIN"), -1);
    assert_int_equal(ctr_cap_parse("CAP_NOPE"), -1);
}

#define HDR "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"sh\"]},"

static void test_linux_extras(void **st)
{
    const char *cfg = HDR "\"mounts\":[{\"destination\":\"/m\",\"type\":\"bind\",\"source\":\"/s\","
        "\"options\":[\"rbind\",\"rro\",\"rnoatime\",\"rrelatime\",\"nosymfollow\"]}],"
        "\"linux\":{\"namespaces\":[{\"type\":\"time\"},{\"type\":\"mount\"}],"
        "\"timeOffsets\":{\"boottime\":{\"secs\":-5,\"nanosecs\":7}},"
        "\"resources\":{\"blockIO\":{\"weight\":300,\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,\"rate\":100}]}}}}";
    struct ctr_spec *s = ctr_spec_parse(cfg, "/b", "config.json", NULL);
    assert_non_null(s);
    assert_true(s->has_time_off);
    assert_int_equal(s->time_off[1][0], -5);
    assert_int_equal(s->time_off[1][1], 7);
    assert_int_equal(s->time_off[0][0], 0);
    assert_non_null(s->res.blkio);
    assert_int_equal(s->mounts[0].rec_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_RELATIME);
    /* the later atime option wins; the whole atime mask is cleared */
    assert_int_equal(s->mounts[0].rec_clr & MOUNT_ATTR__ATIME, MOUNT_ATTR__ATIME);
    assert_int_equal(s->mounts[0].flags & MS_NOSYMFOLLOW, MS_NOSYMFOLLOW);
    /* no capabilities object: every set empty, and applied */
    assert_true(s->proc.has_caps);
    for (int i = 0; i < 5; i++)
        assert_int_equal(s->proc.caps[i], 0);
    ctr_spec_free(s);
}

static void test_bad_extras(void **st)
{
    static const char *const bad[] = {
        /* timeOffsets without a new time namespace, an unknown clock, nanosecs out of range */
        HDR "\"linux\":{\"timeOffsets\":{\"monotonic\":{\"secs\":1}}}}",
        HDR "\"linux\":{\"namespaces\":[{\"type\":\"time\"}],\"timeOffsets\":{\"realtime\":{\"secs\":1}}}}",
        HDR "\"linux\":{\"namespaces\":[{\"type\":\"time\"}],\"timeOffsets\":{\"boottime\":{\"nanosecs\":1000000000}}}}",
        /* blockIO entries without major or rate, a weight out of range */
        HDR "\"linux\":{\"resources\":{\"blockIO\":{\"throttleWriteIOPSDevice\":[{\"minor\":0,\"rate\":1}]}}}}",
        HDR "\"linux\":{\"resources\":{\"blockIO\":{\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0}]}}}}",
        HDR "\"linux\":{\"resources\":{\"blockIO\":{\"weightDevice\":[{\"major\":8,\"minor\":0,\"weight\":5}]}}}}",
        /* seccomp: notify, a bad flag, defaultErrnoRet not a number */
        HDR "\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}}}",
        HDR "\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"X\"]}}}",
        HDR "\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":\"EPERM\"}}}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (!refused(bad[i])) fail_msg("accepted bad config %zu: %s", i, bad[i]);
}

/* linux.resources: the new fields, 0 as "unset" where runc reads it so,
 * and the parser shared with `update --resources` */
static void test_resources(void **st)
{
    const char *cfg = HDR "\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"resources\":{"
        "\"memory\":{\"swappiness\":0,\"disableOOMKiller\":false,\"kernel\":1},"
        "\"cpu\":{\"shares\":0,\"period\":0,\"quota\":-1,\"realtimeRuntime\":950000,\"realtimePeriod\":1000000},"
        "\"pids\":{\"limit\":-1},\"network\":{\"classID\":1048577,\"priorities\":[{\"name\":\"eth0\",\"priority\":3},{\"name\":\"lo\",\"priority\":0}]},"
        "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":0},{\"pageSize\":\"1GB\",\"limit\":1073741824}]}}}";
    struct ctr_spec *s = ctr_spec_parse(cfg, "/b", "config.json", NULL);
    assert_non_null(s);
    const struct ctr_resources *r = &s->res;
    assert_int_equal(r->mem_swappiness, 0);
    assert_int_equal(r->disable_oom, 0);
    assert_int_equal(r->mem_kernel, 1);
    assert_int_equal(r->mem_limit, -1);
    assert_int_equal(r->cpu_shares, -1);
    assert_int_equal(r->cpu_period, -1);
    assert_int_equal(r->cpu_quota, -1);
    assert_int_equal(r->cpu_rt_runtime, 950000);
    assert_int_equal(r->pids_limit, -1);
    assert_int_equal(r->net_classid, 1048577);
    assert_int_equal(r->nnet_prio, 2);
    assert_string_equal(r->net_prio[1].name, "lo");
    assert_int_equal(r->net_prio[0].prio, 3);
    assert_int_equal(r->nhugepages, 2);
    assert_string_equal(r->hugepages[1].page, "1GB");
    assert_int_equal(r->hugepages[0].limit, 0);
    ctr_spec_free(s);
    /* the same object alone, as update --resources reads it */
    struct json_object *o = json_tokener_parse("{\"memory\":{\"limit\":1024,\"disableOOMKiller\":true},\"cpu\":{\"cpus\":\"0-1\"}}");
    struct ctr_resources u;
    ctr_resources_init(&u);
    assert_int_equal(ctr_resources_parse(o, &u, "update --resources", NULL), 0);
    assert_int_equal(u.mem_limit, 1024);
    assert_int_equal(u.disable_oom, 1);
    assert_string_equal(u.cpuset_cpus, "0-1");
    assert_int_equal(u.pids_limit, 0);
    ctr_resources_free(&u);
    json_object_put(o);
}

static void test_bad_resources(void **st)
{
    static const char *const bad[] = {
        HDR "\"linux\":{\"resources\":{\"memory\":{\"swappiness\":101}}}}",
        HDR "\"linux\":{\"resources\":{\"memory\":{\"disableOOMKiller\":1}}}}",
        HDR "\"linux\":{\"resources\":{\"cpu\":{\"shares\":1}}}}",
        HDR "\"linux\":{\"resources\":{\"cpu\":{\"period\":999}}}}",
        HDR "\"linux\":{\"resources\":{\"network\":{\"classID\":-1}}}}",
        HDR "\"linux\":{\"resources\":{\"network\":{\"priorities\":[{\"priority\":1}]}}}}",
        HDR "\"linux\":{\"resources\":{\"network\":{\"priorities\":[{\"name\":\"a/b\",\"priority\":1}]}}}}",
        HDR "\"linux\":{\"resources\":{\"network\":{\"priorities\":[7]}}}}",
        HDR "\"linux\":{\"resources\":{\"hugepageLimits\":[{\"pageSize\":\"2M\",\"limit\":1}]}}}",
        HDR "\"linux\":{\"resources\":{\"hugepageLimits\":[{\"pageSize\":\"MB\",\"limit\":1}]}}}",
        HDR "\"linux\":{\"resources\":{\"hugepageLimits\":[{\"pageSize\":\"2MB\"}]}}}",
        HDR "\"linux\":{\"resources\":{\"hugepageLimits\":[{\"pageSize\":\"../2MB\",\"limit\":1}]}}}",
        HDR "\"linux\":{\"resources\":{\"hugepageLimits\":{}}}}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (!refused(bad[i])) fail_msg("accepted bad resources %zu: %s", i, bad[i]);
}

/* No mount namespace listed: accepted (inherited), mounts too; what would
 * change mounts outside the root or the host's /proc is refused */
static void test_no_mount_ns(void **st)
{
    struct ctr_spec *s = ctr_spec_parse(HDR "\"linux\":{\"namespaces\":[{\"type\":\"pid\"}]}}", "/b", "config.json", NULL);
    assert_non_null(s);
    assert_false(s->ns_on[CTR_NS_MNT]);
    ctr_spec_free(s);
    s = ctr_spec_parse(HDR "\"linux\":{\"namespaces\":[{\"type\":\"mount\",\"path\":\"/proc/1/ns/mnt\"}]},"
                       "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\"}]}", "/b", "config.json", NULL);
    assert_non_null(s);                           /* a joined one is a mount namespace too */
    ctr_spec_free(s);
    s = ctr_spec_parse(HDR "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\"}]}", "/b", "config.json", NULL);
    assert_non_null(s);                           /* mounts: made under the root, detached at delete */
    ctr_spec_free(s);
    static const char *const bad[] = {
        HDR "\"linux\":{\"maskedPaths\":[\"/proc/kcore\"]}}",
        HDR "\"linux\":{\"readonlyPaths\":[\"/proc/sys\"]}}",
        HDR "\"linux\":{\"rootfsPropagation\":\"shared\"}}",
        HDR "\"linux\":{\"sysctl\":{\"kernel.domainname\":\"x\"}}}",
        "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\",\"readonly\":true},\"process\":{\"args\":[\"sh\"]}}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (!refused(bad[i])) fail_msg("accepted without a mount namespace %zu: %s", i, bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_linux_extras),
        cmocka_unit_test(test_bad_extras),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_bad_resources),
        cmocka_unit_test(test_no_mount_ns),
    };
    return cmocka_run_group_tests_name("ctr_spec", tests, NULL, NULL);
}
