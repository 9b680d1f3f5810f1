/* Fuzz the --disk / --net option parsers (user-controlled strings). */
#include <fcntl.h>
#include <string.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        log_set_level(LOG_ERROR);
        log_set_fd(open("/dev/null", O_WRONLY));
        init = true;
    }
    if (size == 0 || size > 8192)
        return 0;
    char *s = xmalloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    struct disk_opts d;
    struct net_opts n;
    uint8_t mac[6];
    switch (data[0] % 3) {
    case 0:
        if (virtio_parse_disk(s, &d) == 0 && (!d.path[0] || strlen(d.id) > 20))
            abort();
        break;
    case 1:
        if (virtio_parse_net(s, &n) == 0 && (n.nfwd > NET_MAX_FWD || (n.mac[0] & 1)))
            abort();
        break;
    default:
        virtio_parse_mac(s, mac);
        break;
    }
    free(s);
    return 0;
}
