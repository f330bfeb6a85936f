// qnas-edge DUT glue for STM32 (Cortex-M4/M7, STM32Cube HAL) with TensorFlow Lite Micro + CMSIS-NN.
//
// Timing uses the DWT cycle counter (exact to the core clock), extended to a monotonic 32-bit
// microsecond clock. UART bytes arrive by interrupt into a ring buffer and are fed to the portable
// core from the main loop. Build/flash steps: firmware_bridge/firmware/README.md ("STM32").
// Compiles only inside an STM32Cube project with the TFLM sources; NOT built by the test suite.
#include <new>
#include <string.h>

#include "main.h"  // STM32Cube: HAL, CMSIS device header (DWT, CoreDebug), UART handle declarations
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

extern "C" {
#include "dut_protocol.h"
#include "dut_glue_stm32.h"
}

#ifndef QX_STAGE_BYTES
#define QX_STAGE_BYTES (128 * 1024)
#endif
#ifndef QX_ARENA_BYTES
#define QX_ARENA_BYTES (128 * 1024)
#endif
#define RX_RING 2048u  // must be a power of two

alignas(16) static uint8_t g_stage[QX_STAGE_BYTES];
alignas(16) static uint8_t g_arena[QX_ARENA_BYTES];
alignas(tflite::MicroInterpreter) static uint8_t g_interp_mem[sizeof(tflite::MicroInterpreter)];
static tflite::MicroInterpreter *g_interp = nullptr;
static tflite::MicroMutableOpResolver<20> g_resolver;
static dut_t g_dut;
static UART_HandleTypeDef *g_uart;
static volatile uint8_t g_ring[RX_RING];
static volatile uint32_t g_head, g_tail;
static uint8_t g_rx_byte;

// ---- DWT cycle counter -> monotonic microseconds
static uint32_t g_last_cyc, g_us, g_cyc_rem;

static void dwt_init(void) {
  CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
  DWT->CYCCNT = 0;
  DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
  g_last_cyc = DWT->CYCCNT;
}

static uint32_t dut_micros(void *) {
  uint32_t now = DWT->CYCCNT;
  uint32_t per_us = SystemCoreClock / 1000000u;
  g_cyc_rem += now - g_last_cyc;  // unsigned arithmetic handles the 32-bit wrap
  g_last_cyc = now;
  g_us += g_cyc_rem / per_us;
  g_cyc_rem %= per_us;
  return g_us;
}

static void dut_write(void *, const char *data, size_t len) {
  HAL_UART_Transmit(g_uart, (uint8_t *)data, (uint16_t)len, 1000);
}

extern "C" void HAL_UART_RxCpltCallback(UART_HandleTypeDef *huart) {
  if (huart == g_uart) {
    uint32_t next = (g_head + 1u) & (RX_RING - 1u);
    if (next != g_tail) {  // on overflow the byte is dropped; the protocol's CRCs catch it
      g_ring[g_head] = g_rx_byte;
      g_head = next;
    }
    HAL_UART_Receive_IT(g_uart, &g_rx_byte, 1);
  }
}

static void describe(const TfLiteTensor *t, dut_tensor_t *out) {
  strncpy(out->dtype, t->type == kTfLiteInt8 ? "int8" : t->type == kTfLiteUInt8 ? "uint8" : "float32",
          sizeof out->dtype - 1);
  out->ndims = (uint8_t)(t->dims->size < DUT_MAX_DIMS ? t->dims->size : DUT_MAX_DIMS);
  for (int i = 0; i < out->ndims; ++i) out->shape[i] = (uint32_t)t->dims->data[i];
  out->scale = t->params.scale;
  out->zero_point = t->params.zero_point;
}

static int dut_load(void *, const uint8_t *model, size_t, dut_model_info_t *info, char *err, size_t n) {
  const tflite::Model *m = tflite::GetModel(model);
  if (m->version() != TFLITE_SCHEMA_VERSION) {
    strncpy(err, "unsupported TFLite schema version", n - 1);
    return 1;
  }
  if (g_interp) g_interp->~MicroInterpreter();
  g_interp = new (g_interp_mem) tflite::MicroInterpreter(m, g_resolver, g_arena, QX_ARENA_BYTES);
  if (g_interp->AllocateTensors() != kTfLiteOk) {
    strncpy(err, "AllocateTensors failed: arena too small (QX_ARENA_BYTES) or an op is missing", n - 1);
    g_interp = nullptr;
    return 1;
  }
  info->arena_bytes = (uint32_t)g_interp->arena_used_bytes();
  describe(g_interp->input(0), &info->input);
  describe(g_interp->output(0), &info->output);
  return 0;
}

static int dut_infer(void *, const uint8_t *input, size_t len) {
  TfLiteTensor *in = g_interp->input(0);
  if (len != in->bytes) return 1;
  memcpy(in->data.raw, input, len);
  return g_interp->Invoke() == kTfLiteOk ? 0 : 1;
}

static size_t dut_results(void *, float *out, size_t max) {
  const TfLiteTensor *t = g_interp->output(0);
  size_t n = t->bytes / (t->type == kTfLiteFloat32 ? 4 : 1);
  if (n > max) n = max;
  for (size_t i = 0; i < n; ++i)
    out[i] = t->type == kTfLiteFloat32 ? t->data.f[i]
             : t->type == kTfLiteInt8 ? (t->data.int8[i] - t->params.zero_point) * t->params.scale
                                      : (t->data.uint8[i] - t->params.zero_point) * t->params.scale;
  return n;
}

extern "C" void qx_dut_init(UART_HandleTypeDef *uart, const char *vendor) {
  g_uart = uart;
  dwt_init();
  g_resolver.AddConv2D();
  g_resolver.AddDepthwiseConv2D();
  g_resolver.AddFullyConnected();
  g_resolver.AddAdd();
  g_resolver.AddMul();
  g_resolver.AddMean();
  g_resolver.AddAveragePool2D();
  g_resolver.AddMaxPool2D();
  g_resolver.AddSoftmax();
  g_resolver.AddLogistic();
  g_resolver.AddHardSwish();
  g_resolver.AddReshape();
  g_resolver.AddQuantize();
  g_resolver.AddDequantize();
  g_resolver.AddRelu();
  g_resolver.AddRelu6();
  g_resolver.AddMinimum();
  g_resolver.AddMaximum();
  g_resolver.AddPad();
  dut_hooks_t h = {};
  h.write = dut_write;
  h.micros = dut_micros;
  h.load_model = dut_load;
  h.infer = dut_infer;
  h.results = dut_results;
  h.vendor = vendor;
  h.flash_free = QX_STAGE_BYTES;
  h.ram_free = QX_ARENA_BYTES;
  h.model_buf = g_stage;
  h.model_cap = QX_STAGE_BYTES;
  dut_init(&g_dut, &h);
  HAL_UART_Receive_IT(g_uart, &g_rx_byte, 1);
  dut_boot(&g_dut);
}

extern "C" void qx_dut_loop(void) {
  while (g_tail != g_head) {
    uint8_t b = g_ring[g_tail];
    g_tail = (g_tail + 1u) & (RX_RING - 1u);
    dut_rx_byte(&g_dut, b);
  }
  dut_poll(&g_dut);
}
