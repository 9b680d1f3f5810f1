/* Run inside the default Linux guest by tests/integration/run-rtc.sh: sets
 * an RTC alarm N seconds ahead (RTC_WKALM_SET on /dev/rtc0) and blocks in
 * read() until its interrupt comes; prints how long that took. Exit 0 when
 * the read reports an alarm (RTC_AF). */
#include <fcntl.h>
#include <linux/rtc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    int secs = argc > 1 ? atoi(argv[1]) : 2;
    int fd = open("/dev/rtc0", O_RDONLY);
    if (fd < 0) { perror("/dev/rtc0"); return 1; }
    struct rtc_time tm;
    if (ioctl(fd, RTC_RD_TIME, &tm) < 0) { perror("RTC_RD_TIME"); return 1; }
    time_t t = timegm((struct tm *)&tm) + secs;
    struct tm *a = gmtime(&t);
    struct rtc_wkalrm w = { .enabled = 1 };
    w.time = *(struct rtc_time *)a;
    if (ioctl(fd, RTC_WKALM_SET, &w) < 0) { perror("RTC_WKALM_SET"); return 1; }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long data;
    if (read(fd, &data, sizeof(data)) != sizeof(data)) { perror("read"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("rtcalarm: alarm after %ld ms, flags 0x%lx\n", ms, data & 0xff);
    return (data & RTC_AF) ? 0 : 2;
}
