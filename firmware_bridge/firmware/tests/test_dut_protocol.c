/* Host unit tests + random-input fuzz loop for dut_protocol.c (built with ASan/UBSan by the Makefile). */
#include <stdlib.h>
#include <unistd.h>

#include "fake_board.h"

static void fake_write(void *u, const char *data, size_t len) {
    fake_t *f = (fake_t *)u;
    if (f->wlen + len < sizeof f->written) {
        memcpy(f->written + f->wlen, data, len);
        f->wlen += len;
        f->written[f->wlen] = 0;
    } else {
        f->wlen = 0;             /* the fuzz loop produces a lot of output: keep only the tail */
    }
}

static int failures;
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

static fake_t F;
static dut_t D;
static uint8_t STAGE[8192];

static const char *send(const char *cmd) {
    F.wlen = 0;
    F.written[0] = 0;
    for (const char *p = cmd; *p; ++p) dut_rx_byte(&D, (uint8_t)*p);
    return F.written;
}

static void send_bytes(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; ++i) dut_rx_byte(&D, p[i]);
}

static void seal(char *out, const char *text, int seq) {
    char head[128];
    snprintf(head, sizeof head, "%s~%02x", text, seq);
    snprintf(out, 160, "%s:%08x%%", head, (unsigned)dut_crc32_update(0, head, strlen(head)));
}

static size_t frame(uint8_t *out, uint32_t off, const uint8_t *payload, uint16_t len, int round) {
    out[0] = 0xA5; out[1] = 0x5A; out[2] = 1; out[3] = (uint8_t)(1 | (round << 4));
    for (int i = 0; i < 4; ++i) out[4 + i] = (uint8_t)(off >> (8 * i));
    out[8] = (uint8_t)len; out[9] = (uint8_t)(len >> 8);
    out[10] = (uint8_t)~len; out[11] = (uint8_t)(~len >> 8);
    memcpy(out + 12, payload, len);
    uint32_t crc = dut_crc32_update(0, out + 2, 10u + len);
    for (int i = 0; i < 4; ++i) out[12 + len + i] = (uint8_t)(crc >> (8 * i));
    return 16u + len;
}

static void reset_board(void) {
    memset(&F, 0, sizeof F);
    F.echo_fd = -1;
    dut_hooks_t h = fake_hooks(&F, STAGE, sizeof STAGE);
    dut_init(&D, &h);
}

static void test_crc32(void) {
    CHECK(dut_crc32_update(0, "123456789", 9) == 0xCBF43926u);
    uint32_t c = dut_crc32_update(0, "1234", 4);
    CHECK(dut_crc32_update(c, "56789", 5) == 0xCBF43926u);
}

static void test_standard_commands(void) {
    reset_board();
    dut_boot(&D);
    CHECK(strcmp(F.written, "m-init-done\r\nm-ready\r\n") == 0);
    CHECK(strcmp(send("name%"), "m-name-dut-[qnas-edge host-test]\r\nm-ready\r\n") == 0);
    CHECK(strcmp(send("profile%"), "m-profile-[qnas-edge-dut-1]\r\nm-model-[none]\r\nm-ready\r\n") == 0);
    F.now_us = 4242;
    CHECK(strcmp(send("timestamp%"), "m-lap-us-4242\r\nm-ready\r\n") == 0);
    CHECK(strcmp(send("bogus 1%"), "e-[Unknown command: bogus]\r\nm-ready\r\n") == 0);
    CHECK(strcmp(send("db load 16%"), "m-[Expecting 16 bytes]\r\nm-ready\r\n") == 0);
    CHECK(strcmp(send("db 0001020304%"), "m-ready\r\n") == 0);
    CHECK(strcmp(send("db zz%"), "e-[Invalid hex digit 'zz']\r\nm-ready\r\n") == 0);
    CHECK(strcmp(send("db 0%"), "e-[Insufficent number of hex digits]\r\nm-ready\r\n") == 0);
    CHECK(strcmp(send("db 05060708090a0b0c0d0e0f10ff%"), "m-load-done\r\nm-ready\r\n") == 0);
    CHECK(strcmp(send("db print%"),
                  "m-buffer-00-01-02-03-04-05-06-07\r\nm-buffer-08-09-0a-0b-0c-0d-0e-0f\r\nm-ready\r\n") == 0);
    CHECK(strcmp(send("infer 2 1%"), "e-[No model loaded: upload one (qx-upload) or flash the firmware "
                                     "with a model]\r\nm-ready\r\n") == 0);
    CHECK(strcmp(send("infer 0%"), "e-[Inference iterations must be >0]\r\nm-ready\r\n") == 0);
    CHECK(strcmp(send("db load 0%"), "e-[Command 'db load' must be >0 bytes]\r\nm-ready\r\n") == 0);
}

static void test_upload_infer_and_checked_mode(void) {
    reset_board();
    uint8_t model[3000];
    for (size_t i = 0; i < sizeof model; ++i) model[i] = (uint8_t)(i * 7 + 3);
    memcpy(model + 4, "TFL3", 4);
    uint32_t crc = dut_crc32_update(0, model, sizeof model);
    char cmd[200], text[100];
    snprintf(text, sizeof text, "qx-upload %u %08x", (unsigned)sizeof model, (unsigned)crc);
    seal(cmd, text, 0x21);
    const char *r = send(cmd);
    CHECK(strstr(r, "m-qx-upload-[offset=0,frame=1024]~21:") == r);
    uint8_t fr[1100];
    /* frame 1 ok, frame 2 corrupted -> nak, frame 3 out of order -> no second nak, resend ok */
    F.wlen = 0;
    send_bytes(fr, frame(fr, 0, model, 1000, 0));
    CHECK(strstr(F.written, "m-qx-ack-[1000]~21:") != NULL);
    size_t n = frame(fr, 1000, model + 1000, 1000, 0);
    fr[500] ^= 0x40;
    F.wlen = 0;
    send_bytes(fr, n);
    CHECK(strstr(F.written, "m-qx-nak-[1000,0]~21:") != NULL);
    F.wlen = 0;
    send_bytes(fr, frame(fr, 2000, model + 2000, 1000, 0));
    CHECK(F.wlen == 0);                                     /* one nak per (offset, round) */
    send_bytes(fr, frame(fr, 1000, model + 1000, 1000, 1));
    CHECK(strstr(F.written, "m-qx-ack-[2000]~21:") != NULL);
    F.wlen = 0;
    send_bytes(fr, frame(fr, 2000, model + 2000, 1000, 1));
    CHECK(strstr(F.written, "m-qx-ack-[3000]~21:") != NULL);
    char want[64];
    snprintf(want, sizeof want, "m-qx-upload-done-[len=3000,crc=%08x]~21:", (unsigned)crc);
    CHECK(strstr(F.written, want) != NULL);
    /* re-issuing the same upload reports it complete (resume offset = length) */
    r = send(cmd);
    CHECK(strstr(r, "m-qx-upload-[offset=3000,frame=1024]") != NULL && strstr(r, "m-qx-upload-done-") != NULL);
    seal(cmd, "qx-load", 0x22);
    CHECK(strstr(send(cmd), "m-qx-model-[arena=2048,model=3000]~22:") != NULL);
    seal(cmd, "qx-crc 1", 0x23);
    CHECK(strstr(send(cmd), "m-qx-crc-[1]~23:") != NULL);
    /* checked mode: unsealed commands are refused, sealed ones get sealed replies */
    CHECK(strstr(send("name%"), "e-[command check failed]~ff:") != NULL);
    seal(cmd, "db load 16", 0x24);
    CHECK(strstr(send(cmd), "m-[Expecting 16 bytes]~24:") != NULL);
    seal(cmd, "qx-db 8 0909090909090909", 0x25);
    CHECK(strstr(send(cmd), "e-[qx-db write outside the buffer") != NULL);     /* no holes */
    seal(cmd, "qx-db 0 0101010101010101", 0x26);
    CHECK(strstr(send(cmd), "m-load-done") == NULL);
    send(cmd);                                               /* idempotent: a retried chunk is harmless */
    seal(cmd, "qx-db 8 0909090909090909", 0x25);
    CHECK(strstr(send(cmd), "m-load-done~25:") != NULL);
    seal(cmd, "qx-db-crc", 0x27);
    uint8_t input[16] = {1, 1, 1, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9, 9, 9, 9};
    snprintf(want, sizeof want, "m-qx-db-[len=16,crc=%08x]", (unsigned)dut_crc32_update(0, input, 16));
    CHECK(strstr(send(cmd), want) != NULL);
    F.now_us = 1000;
    seal(cmd, "infer 3 1", 0x28);
    r = send(cmd);
    CHECK(strstr(r, "m-warmup-start-1~28:") == r);
    CHECK(strstr(r, "m-infer-start-3~28:") != NULL);
    CHECK(strstr(r, "m-lap-us-2250~28:") != NULL && strstr(r, "m-lap-us-6000~28:") != NULL);
    CHECK(strstr(r, "m-results-[0.200,0.200,0.200,0.200]~28:") != NULL);
    seal(cmd, "qx-tensors", 0x29);
    r = send(cmd);
    CHECK(strstr(r, "m-qx-input-[0,int8,1x16,0.500000000,-3]~29:") != NULL);
    seal(cmd, "qx-mem", 0x2a);
    CHECK(strstr(send(cmd), "m-qx-mem-[arena=2048,ram_free=63488,flash_free=5192,model=3000]") != NULL);
    /* a sealed line is verifiable with the same algorithm as the host (Python zlib.crc32) */
    CHECK(strstr(send(cmd), "m-ready~2a:") != NULL);
}

static void test_refusals(void) {
    reset_board();
    char cmd[200];
    seal(cmd, "qx-upload 9000 01020304", 1);
    CHECK(strstr(send(cmd), "e-[model is 9000 B but only 8192 B of flash are free]~01:") != NULL);
    uint8_t junk[64] = {0};
    uint32_t crc = dut_crc32_update(0, junk, sizeof junk);
    char text[64];
    snprintf(text, sizeof text, "qx-upload 64 %08x", (unsigned)crc);
    seal(cmd, text, 2);
    send(cmd);
    uint8_t fr[100];
    send_bytes(fr, frame(fr, 0, junk, 64, 0));
    seal(cmd, "qx-load", 3);
    CHECK(strstr(send(cmd), "e-[not a TFLite flatbuffer]~03:") != NULL);
}

static void test_fuzz(unsigned iterations) {
    reset_board();
    uint32_t x = 12345u;
    static const char *seeds[] = {"name%", "db load 16%", "db 00ff%", "infer 1 0%", "qx-crc 1%", "%",
                                  "qx-upload 100 00000000%", "db print%", "results%", "qx-db 0 00%"};
    for (unsigned it = 0; it < iterations; ++it) {
        x = x * 1103515245u + 12345u;
        unsigned r = (x >> 16) & 0x7fffu;
        if (r % 5 == 0) {
            const char *s = seeds[r % 10];
            for (const char *p = s; *p; ++p) dut_rx_byte(&D, (uint8_t)*p);
        } else if (r % 11 == 0) {
            uint8_t fr[80], payload[48];
            for (int i = 0; i < 48; ++i) payload[i] = (uint8_t)(x >> (i % 24));
            size_t n = frame(fr, r % 130, payload, (uint16_t)(r % 48), (int)(r % 16));
            if (r % 3 == 0) fr[r % n] ^= (uint8_t)(1u << (r % 8));
            send_bytes(fr, n);
        } else {
            dut_rx_byte(&D, (uint8_t)(x >> 8));
        }
        if (it % 1000 == 0) {
            F.now_us += 60000;
            dut_poll(&D);
        }
    }
    char cmd[200];
    seal(cmd, "name", 0x31);
    dut_rx_byte(&D, '%');
    CHECK(strstr(send(cmd), "m-name-dut-[qnas-edge host-test]~31:") != NULL);
}

int main(int argc, char **argv) {
    unsigned iterations = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200000u;
    test_crc32();
    test_standard_commands();
    test_upload_infer_and_checked_mode();
    test_refusals();
    test_fuzz(iterations);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("dut_protocol host tests: all checks passed (fuzz iterations: %u)\n", iterations);
    return 0;
}
