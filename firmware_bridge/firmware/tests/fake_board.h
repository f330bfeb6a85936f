/* A fake "runtime" for host builds of the core: no TFLM, a deterministic toy model.
 * A model is accepted when bytes 4..7 are "TFL3"; input is 16 int8 bytes; the 4 outputs are
 * out[k] = (sum of input bytes i with i % 4 == k) / 100. The clock is a counter advanced 1250 us
 * per inference, so latencies are exact. */
#ifndef FAKE_BOARD_H
#define FAKE_BOARD_H
#include <stdio.h>
#include <string.h>
#include "dut_protocol.h"

typedef struct {
    uint32_t now_us;
    float out[4];
    char written[1 << 16];
    size_t wlen;
    int echo_fd;                 /* >= 0: also write() replies to this fd (pty board) */
} fake_t;

static void fake_write(void *u, const char *data, size_t len);
static uint32_t fake_micros(void *u) { return ((fake_t *)u)->now_us; }

static int fake_load(void *u, const uint8_t *model, size_t len, dut_model_info_t *info, char *err, size_t n) {
    (void)u;
    if (len < 8 || memcmp(model + 4, "TFL3", 4) != 0) {
        snprintf(err, n, "not a TFLite flatbuffer");
        return 1;
    }
    memset(info, 0, sizeof *info);
    info->arena_bytes = 2048;
    strcpy(info->input.dtype, "int8");
    info->input.ndims = 2;
    info->input.shape[0] = 1;
    info->input.shape[1] = 16;
    info->input.scale = 0.5f;
    info->input.zero_point = -3;
    strcpy(info->output.dtype, "int8");
    info->output.ndims = 2;
    info->output.shape[0] = 1;
    info->output.shape[1] = 4;
    info->output.scale = 0.25f;
    return 0;
}

static int fake_infer(void *u, const uint8_t *in, size_t len) {
    fake_t *f = (fake_t *)u;
    if (len != 16) return 1;
    for (int k = 0; k < 4; ++k) f->out[k] = 0;
    for (size_t i = 0; i < len; ++i) f->out[i % 4] += (float)(int8_t)in[i] / 100.0f;
    f->now_us += 1250;
    return 0;
}

static size_t fake_results(void *u, float *out, size_t max) {
    fake_t *f = (fake_t *)u;
    size_t n = max < 4 ? max : 4;
    memcpy(out, f->out, n * sizeof(float));
    return n;
}

static dut_hooks_t fake_hooks(fake_t *f, uint8_t *stage, size_t cap) {
    dut_hooks_t h;
    memset(&h, 0, sizeof h);
    h.write = fake_write;
    h.micros = fake_micros;
    h.load_model = fake_load;
    h.infer = fake_infer;
    h.results = fake_results;
    h.user = f;
    h.vendor = "qnas-edge host-test";
    h.flash_free = (uint32_t)cap;
    h.ram_free = 65536;
    h.model_buf = stage;
    h.model_cap = cap;
    h.simulated = 1;
    return h;
}
#endif
