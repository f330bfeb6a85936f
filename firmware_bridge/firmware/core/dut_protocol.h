/*
 * dut_protocol.h - portable core of the qnas-edge DUT firmware (C99, no malloc, no stdio).
 *
 * Speaks the EEMBC / MLPerf Tiny DUT command set byte for byte (commands end with '%', replies are
 * "\r\n" lines ending with "m-ready") plus the qnas-edge "qx-" extension: check suffixes
 * (~SS:CCCCCCCC, CRC-32), capability handshake, memory and tensor reports, idempotent input
 * writes and a resumable, CRC-checked binary model upload. firmware_bridge/PROTOCOL.md is the
 * reference; firmware_bridge/virtual/ implements the same state machine in Python.
 *
 * The board glue provides I/O, a microsecond clock and the inference runtime through dut_hooks_t,
 * feeds every received byte to dut_rx_byte() and calls dut_poll() from its main loop.
 */
#ifndef QNAS_DUT_PROTOCOL_H
#define QNAS_DUT_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DUT_EXT_VERSION 1
#define DUT_CMD_MAX 80            /* characters before '%' (EE_CMD_SIZE of the reference firmware) */
#ifndef DUT_MAX_INPUT
#define DUT_MAX_INPUT 16384       /* input buffer ("db load N" limit), bytes */
#endif
#ifndef DUT_FRAME_PAYLOAD
#define DUT_FRAME_PAYLOAD 1024    /* largest upload frame payload the board accepts, bytes */
#endif
#define DUT_FRAME_VERSION 1
#define DUT_FRAME_HEADER 12       /* A5 5A ver type offset:u32 len:u16 ~len:u16 */
#define DUT_FRAME_IDLE_US 50000u  /* a partial frame silent this long is dropped (+ nak) */
#define DUT_MAX_RESULTS 64
#define DUT_MAX_DIMS 6

typedef struct {
    char dtype[8];                /* "int8", "uint8", "float32" */
    uint32_t shape[DUT_MAX_DIMS];
    uint8_t ndims;
    float scale;
    int32_t zero_point;
} dut_tensor_t;

typedef struct {
    uint32_t arena_bytes;         /* tensor arena actually used */
    dut_tensor_t input;
    dut_tensor_t output;
} dut_model_info_t;

typedef struct {
    /* Send bytes to the host (blocking is fine). */
    void (*write)(void *user, const char *data, size_t len);
    /* Free-running microsecond clock (wraps at 2^32). */
    uint32_t (*micros)(void *user);
    /* Activate a model; 0 on success (fill *info), else write a reason into err and return non-zero. */
    int (*load_model)(void *user, const uint8_t *model, size_t len, dut_model_info_t *info,
                      char *err, size_t errlen);
    /* Copy `input` into the input tensor and run one inference; 0 on success. */
    int (*infer)(void *user, const uint8_t *input, size_t len);
    /* Dequantized output of the last inference; returns the count written (<= max). */
    size_t (*results)(void *user, float *out, size_t max);
    void *user;
    const char *vendor;           /* m-name-dut-[vendor] */
    const char *model_name;       /* m-model-[...] for a model built into the firmware, or NULL */
    uint32_t flash_free;          /* bytes available for an uploaded model */
    uint32_t ram_free;            /* bytes available for the tensor arena */
    uint8_t *model_buf;           /* upload staging area (model_cap bytes), NULL = no upload */
    size_t model_cap;
    int simulated;                /* 1 only for simulators */
} dut_hooks_t;

typedef enum { DUT_HUNT, DUT_SYNC2, DUT_HEADER, DUT_PAYLOAD } dut_frame_state_t;

typedef struct {
    dut_hooks_t hooks;
    /* command assembly */
    char cmd[DUT_CMD_MAX + 24];
    size_t cmd_len;
    int cmd_overflow;
    /* reply sealing */
    int checked;                  /* qx-crc 1: every command and reply line carries a check suffix */
    int seal_reply;               /* current command was sealed */
    int seq;                      /* sequence number of the current command (0xff = unknown) */
    /* input buffer */
    uint8_t db[DUT_MAX_INPUT];
    size_t db_size, db_pos;
    /* model */
    int model_ready;
    dut_model_info_t info;
    uint32_t model_len, model_crc;
    float results[DUT_MAX_RESULTS];
    size_t n_results;
    /* upload */
    int uploading;
    int upload_seq;
    uint32_t stage_len, stage_crc, stage_pos;
    dut_frame_state_t fstate;
    uint8_t fhdr[DUT_FRAME_HEADER];
    size_t fhdr_pos;
    uint32_t f_offset, f_len, f_pos, f_crc_run;
    uint8_t f_round, f_trailer[4];
    uint32_t f_dst;               /* where the payload is being written (or UINT32_MAX: discard) */
    uint8_t last_round;
    int32_t nak_off;
    int nak_round;
    uint32_t last_rx_us;
} dut_t;

/* CRC-32 (IEEE 802.3 / zlib): crc = dut_crc32_update(0, data, n) for a whole buffer. */
uint32_t dut_crc32_update(uint32_t crc, const void *data, size_t n);

void dut_init(dut_t *d, const dut_hooks_t *hooks);
/* Power-on announcement: "m-init-done" + "m-ready" (call once the UART is up). */
void dut_boot(dut_t *d);
/* Feed one received byte (call from the main loop, not from an ISR: commands run inline). */
void dut_rx_byte(dut_t *d, uint8_t b);
/* Activate a model built into the firmware (no upload); 0 on success. */
int dut_load_builtin(dut_t *d, const uint8_t *model, size_t len);
/* Housekeeping (drops a stalled partial upload frame); call regularly from the main loop. */
void dut_poll(dut_t *d);

#ifdef __cplusplus
}
#endif
#endif
