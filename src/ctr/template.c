/* ctr: `spec` (a default config.json, like `runc spec`) and `features`. */
#include "ctr/ctr.h"
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char default_spec[] =
"{\n"
"  \"ociVersion\": \"1.0.2\",\n"
"  \"process\": {\n"
"    \"terminal\": true,\n"
"    \"user\": { \"uid\": 0, \"gid\": 0 },\n"
"    \"args\": [ \"sh\" ],\n"
"    \"env\": [ \"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", \"TERM=xterm\" ],\n"
"    \"cwd\": \"/\",\n"
"    \"capabilities\": {\n"
"      \"bounding\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ],\n"
"      \"effective\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ],\n"
"      \"permitted\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ],\n"
"      \"ambient\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ]\n"
"    },\n"
"    \"rlimits\": [ { \"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024 } ],\n"
"    \"noNewPrivileges\": true\n"
"  },\n"
"  \"root\": { \"path\": \"rootfs\", \"readonly\": true },\n"
"  \"hostname\": \"vessel\",\n"
"  \"mounts\": [\n"
"    { \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },\n"
"    { \"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": [ \"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\" ] },\n"
"    { \"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\", \"options\": [ \"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", \"mode=0620\"%s ] },\n"
"    { \"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\", \"options\": [ \"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\" ] },\n"
"    { \"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": \"mqueue\", \"options\": [ \"nosuid\", \"noexec\", \"nodev\" ] },\n"
"%s"
"  ],\n"
"  \"linux\": {\n"
"%s"
"    \"namespaces\": [ { \"type\": \"pid\" }, %s{ \"type\": \"ipc\" }, { \"type\": \"uts\" }, { \"type\": \"mount\" }%s ],\n"
"    \"maskedPaths\": [ \"/proc/acpi\", \"/proc/asound\", \"/proc/kcore\", \"/proc/keys\", \"/proc/latency_stats\", \"/proc/timer_list\", \"/proc/timer_stats\", \"/proc/sched_debug\", \"/sys/firmware\", \"/proc/scsi\" ],\n"
"    \"readonlyPaths\": [ \"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\", \"/proc/sysrq-trigger\" ]\n"
"  }\n"
"}\n";

int ctr_spec_write(bool rootless, struct ctr_error **err)
{
    char *text;
    if (rootless) {
        char maps[256];
        snprintf(maps, sizeof(maps),
                 "    \"uidMappings\": [ { \"containerID\": 0, \"hostID\": %u, \"size\": 1 } ],\n"
                 "    \"gidMappings\": [ { \"containerID\": 0, \"hostID\": %u, \"size\": 1 } ],\n",
                 getuid(), getgid());
        text = xasprintf(default_spec, "",
            "    { \"destination\": \"/sys\", \"type\": \"none\", \"source\": \"/sys\", \"options\": [ \"rbind\", \"nosuid\", \"noexec\", \"nodev\", \"ro\" ] }\n",
            maps, "", ", { \"type\": \"user\" }");
    } else {
        text = xasprintf(default_spec, ", \"gid=5\"",
            "    { \"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\", \"options\": [ \"nosuid\", \"noexec\", \"nodev\", \"ro\" ] },\n"
            "    { \"destination\": \"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\", \"options\": [ \"nosuid\", \"noexec\", \"nodev\", \"relatime\", \"ro\" ] }\n",
            "", "{ \"type\": \"network\" }, ", ", { \"type\": \"cgroup\" }");
    }
    int fd = open("config.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(text);
        if (e == EEXIST)
            return ctr_error_make(err, 0, "config.json already exists: remove it first");
        return ctr_error_make(err, e, "cannot create config.json");
    }
    int r = write_full(fd, text, strlen(text)) < 0 ? errno : 0;
    close(fd);
    free(text);
    return r ? ctr_error_make(err, r, "cannot write config.json") : 0;
}

const char *ctr_features_json(void)
{
    return "{\n"
           "  \"ociVersionMin\": \"1.0.0\",\n"
           "  \"ociVersionMax\": \"1.1.0\",\n"
           "  \"hooks\": [\"prestart\", \"createRuntime\", \"createContainer\", \"startContainer\", \"poststart\", \"poststop\"],\n"
           "  \"mountOptions\": [\"acl\", \"async\", \"atime\", \"bind\", \"defaults\", \"dev\", \"diratime\", \"dirsync\", \"exec\", \"iversion\", \"lazytime\", \"loud\", \"mand\", \"noacl\", \"noatime\", \"nodev\", \"nodiratime\", \"noexec\", \"noiversion\", \"nolazytime\", \"nomand\", \"norelatime\", \"nostrictatime\", \"nosuid\", \"nosymfollow\", \"private\", \"ratime\", \"rbind\", \"rdev\", \"rdiratime\", \"relatime\", \"remount\", \"rexec\", \"rnoatime\", \"rnodev\", \"rnodiratime\", \"rnoexec\", \"rnorelatime\", \"rnostrictatime\", \"rnosuid\", \"rnosymfollow\", \"ro\", \"rprivate\", \"rrelatime\", \"rro\", \"rrw\", \"rshared\", \"rslave\", \"rstrictatime\", \"rsuid\", \"rsymfollow\", \"runbindable\", \"rw\", \"shared\", \"silent\", \"slave\", \"strictatime\", \"suid\", \"symfollow\", \"sync\", \"unbindable\"],\n"
           "  \"linux\": {\n"
           "    \"namespaces\": [\"cgroup\", \"ipc\", \"mount\", \"network\", \"pid\", \"time\", \"user\", \"uts\"],\n"
           "    \"capabilities\": [\"CAP_CHOWN\", \"CAP_DAC_OVERRIDE\", \"CAP_DAC_READ_SEARCH\", \"CAP_FOWNER\", \"CAP_FSETID\", \"CAP_KILL\", \"CAP_SETGID\", \"CAP_SETUID\", \"CAP_SETPCAP\", \"CAP_LINUX_IMMUTABLE\", \"CAP_NET_BIND_SERVICE\", \"CAP_NET_BROADCAST\", \"CAP_NET_ADMIN\", \"CAP_NET_RAW\", \"CAP_IPC_LOCK\", \"CAP_IPC_OWNER\", \"CAP_SYS_MODULE\", \"CAP_SYS_RAWIO\", \"CAP_SYS_CHROOT\", \"CAP_SYS_PTRACE\", \"CAP_SYS_PACCT\", \"CAP_SYS_ADMIN\", \"CAP_SYS_BOOT\", \"CAP_SYS_NICE\", \"CAP_SYS_RESOURCE\", \"CAP_SYS_TIME\", \"CAP_SYS_TTY_CONFIG\", \"CAP_MKNOD\", \"CAP_LEASE\", \"CAP_AUDIT_WRITE\", \"CAP_AUDIT_CONTROL\", \"CAP_SETFCAP\", \"CAP_MAC_OVERRIDE\", \"CAP_MAC_ADMIN\", \"CAP_SYSLOG\", \"CAP_WAKE_ALARM\", \"CAP_BLOCK_SUSPEND\", \"CAP_AUDIT_READ\", \"CAP_PERFMON\", \"CAP_BPF\", \"CAP_CHECKPOINT_RESTORE\"],\n"
           "    \"cgroup\": { \"v1\": true, \"v2\": true, \"systemd\": false, \"systemdUser\": false },\n"
           "    \"seccomp\": { \"enabled\": true, \"actions\": [\"SCMP_ACT_ALLOW\", \"SCMP_ACT_ERRNO\", \"SCMP_ACT_KILL\", \"SCMP_ACT_KILL_PROCESS\", \"SCMP_ACT_KILL_THREAD\", \"SCMP_ACT_LOG\", \"SCMP_ACT_TRACE\", \"SCMP_ACT_TRAP\"], \"operators\": [\"SCMP_CMP_EQ\", \"SCMP_CMP_GE\", \"SCMP_CMP_GT\", \"SCMP_CMP_LE\", \"SCMP_CMP_LT\", \"SCMP_CMP_MASKED_EQ\", \"SCMP_CMP_NE\"] },\n"
           "    \"apparmor\": { \"enabled\": false },\n"
           "    \"selinux\": { \"enabled\": false }\n"
           "  }\n"
           "}\n";
}

int ctr_features(void)
{
    fputs(ctr_features_json(), stdout);
    return 0;
}
