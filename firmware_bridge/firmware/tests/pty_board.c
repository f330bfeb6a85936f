/* The C core served on stdin/stdout (attach it to a pty): lets the Python host talk to the real C
 * protocol implementation. Toy model from fake_board.h; the clock is the fake's inference counter. */
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "fake_board.h"

static void fake_write(void *u, const char *data, size_t len) {
    (void)u;
    while (len) {
        ssize_t n = write(1, data, len);
        if (n <= 0) exit(0);
        data += n;
        len -= (size_t)n;
    }
}

int main(void) {
    static fake_t f;
    static uint8_t stage[65536];
    static dut_t d;
    dut_hooks_t h = fake_hooks(&f, stage, sizeof stage);
    dut_init(&d, &h);
    dut_boot(&d);
    uint8_t buf[512];
    for (;;) {
        struct pollfd p = {0, POLLIN, 0};
        int r = poll(&p, 1, 10);
        f.now_us += 10000;                    /* idle time passes for the frame timeout */
        if (r > 0) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n <= 0) return 0;
            f.now_us -= 10000;
            for (ssize_t i = 0; i < n; ++i) dut_rx_byte(&d, buf[i]);
        }
        dut_poll(&d);
    }
}
