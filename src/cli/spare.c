/* vessel spare: the hot-spare supervisor. Option parsing here; the work is
 * in spare/. */
#include "cli/cli.h"
#include "base/base.h"
#include "spare/spare.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

static void spare_usage(FILE *f)
{
    fprintf(f,
        "Usage: vessel spare --config FILE\n"
        "\n"
        "Keep guests protected by hot spares: for each guest of FILE, run a standby\n"
        "('vessel run ... --standby URI') and a primary replicating to it ('vessel\n"
        "run ... --replicate URI'); start the standby again when it dies, and when\n"
        "the primary dies (its standby takes over by itself) start a new standby\n"
        "for the new primary. A guest that powers off is done. SIGTERM or SIGINT\n"
        "stops every guest. See docs/replication.md.\n"
        "\n"
        "FILE (JSON):\n"
        "  {\"state-dir\": \"/run/vessel-spare\",\n"
        "   \"guests\": [{\"name\": \"web\",\n"
        "                \"primary\": [\"--disk\", \"/srv/web-a.img\", \"--net\", \"tap,ifname=tap0\"],\n"
        "                \"standby\": [\"--disk\", \"/srv/web-b.img\", \"--net\", \"tap,ifname=tap0\"],\n"
        "                \"uri\": \"unix:/run/vessel-spare/web.repl\", \"period-ms\": 25,\n"
        "                \"timeout-ms\": 1000}]}\n"
        "Each side's QMP socket and console log are STATE-DIR/NAME-a.qmp / .log\n"
        "(the first primary's side) and NAME-b.qmp / .log.\n"
        "\n"
        "Exit status: 0 when every guest ended (or on SIGTERM), 1 when a guest was\n"
        "lost (primary and standby both dead), 2 for a bad configuration.\n");
}

int cmd_spare(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, 0, 'c' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    const char *config = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'h': spare_usage(stdout); return 0;
        default: fprintf(stderr, "See 'vessel spare --help'.\n"); return 2;
        }
    }
    if (!config || optind < argc) {
        log_error("spare: %s; see 'vessel spare --help'", config ? "unexpected argument" : "--config FILE is needed");
        return 2;
    }
    struct spare_config *cfg = xzalloc(sizeof(*cfg));
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    int rc = 2;
    if (n <= 0) {
        log_error("spare: cannot find the vessel binary (/proc/self/exe)");
    } else if (spare_config_load(config, cfg) == 0) {
        self[n] = 0;
        rc = spare_run(cfg, self);
        spare_config_free(cfg);
    }
    free(cfg);
    return rc;
}
