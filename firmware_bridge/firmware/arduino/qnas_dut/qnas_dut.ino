// qnas-edge DUT firmware for the Arduino Nano 33 BLE (nRF52840, Cortex-M4F @ 64 MHz), TensorFlow Lite Micro.
//
// Speaks the EEMBC / MLPerf Tiny DUT protocol + the qnas-edge upload extension (PROTOCOL.md) over
// the USB serial port. Build/flash steps: firmware_bridge/firmware/README.md ("Arduino Nano 33 BLE").
// This file compiles only with the Arduino toolchain and a TFLM Arduino library; it is NOT built
// by the qnas-edge test suite (the portable core dut_protocol.c is, see the README).
//
// Memory plan (change the two sizes below to trade model space for arena):
//   g_stage : uploaded model, kept in RAM (lost on reset; the host re-uploads after a reset)
//   g_arena : TFLM tensor arena
#include <Arduino.h>
#include <TensorFlowLite.h>  // "Chirale_TensorFlowLite" (or the older "Arduino_TensorFlowLite") library

#include <new>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

extern "C" {
#include "dut_protocol.h"
}

#ifndef QX_STAGE_BYTES
#define QX_STAGE_BYTES (96 * 1024)
#endif
#ifndef QX_ARENA_BYTES
#define QX_ARENA_BYTES (80 * 1024)
#endif

alignas(16) static uint8_t g_stage[QX_STAGE_BYTES];
alignas(16) static uint8_t g_arena[QX_ARENA_BYTES];
alignas(tflite::MicroInterpreter) static uint8_t g_interp_mem[sizeof(tflite::MicroInterpreter)];
static tflite::MicroInterpreter *g_interp = nullptr;
static tflite::MicroMutableOpResolver<20> g_resolver;
static dut_t g_dut;

static void dut_write(void *, const char *data, size_t len) { Serial.write(data, len); }
static uint32_t dut_micros(void *) { return micros(); }

static void describe(const TfLiteTensor *t, dut_tensor_t *out) {
  strncpy(out->dtype, t->type == kTfLiteInt8 ? "int8" : t->type == kTfLiteUInt8 ? "uint8" : "float32",
          sizeof out->dtype - 1);
  out->ndims = (uint8_t)(t->dims->size < DUT_MAX_DIMS ? t->dims->size : DUT_MAX_DIMS);
  for (int i = 0; i < out->ndims; ++i) out->shape[i] = (uint32_t)t->dims->data[i];
  out->scale = t->params.scale;
  out->zero_point = t->params.zero_point;
}

static int dut_load(void *, const uint8_t *model, size_t len, dut_model_info_t *info, char *err, size_t n) {
  (void)len;
  const tflite::Model *m = tflite::GetModel(model);
  if (m->version() != TFLITE_SCHEMA_VERSION) {
    snprintf(err, n, "schema version %lu, firmware expects %d", (unsigned long)m->version(), TFLITE_SCHEMA_VERSION);
    return 1;
  }
  if (g_interp) g_interp->~MicroInterpreter();
  g_interp = new (g_interp_mem) tflite::MicroInterpreter(m, g_resolver, g_arena, QX_ARENA_BYTES);
  if (g_interp->AllocateTensors() != kTfLiteOk) {
    snprintf(err, n, "tensor arena needs more than the %d B compiled in (QX_ARENA_BYTES) or an op is missing",
             QX_ARENA_BYTES);
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
  memcpy(in->data.raw, input, len);  // the arena may reuse the input buffer: copy every time
  return g_interp->Invoke() == kTfLiteOk ? 0 : 1;
}

static size_t dut_results(void *, float *out, size_t max) {
  const TfLiteTensor *t = g_interp->output(0);
  size_t n = t->bytes / (t->type == kTfLiteFloat32 ? 4 : 1);
  if (n > max) n = max;
  for (size_t i = 0; i < n; ++i) {
    out[i] = t->type == kTfLiteFloat32 ? t->data.f[i]
           : t->type == kTfLiteInt8 ? (t->data.int8[i] - t->params.zero_point) * t->params.scale
                                    : (t->data.uint8[i] - t->params.zero_point) * t->params.scale;
  }
  return n;
}

void setup() {
  Serial.begin(115200);  // USB CDC: the rate is nominal, the host profile uses 115200
  while (!Serial) {
  }
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
  h.vendor = "qnas-edge nano33ble";
  h.flash_free = QX_STAGE_BYTES;
  h.ram_free = QX_ARENA_BYTES;
  h.model_buf = g_stage;
  h.model_cap = QX_STAGE_BYTES;
  dut_init(&g_dut, &h);
#ifdef QX_BUILTIN_MODEL_ARRAY  // optional model compiled in (e.g. from qnas-edge export's model_data.cc)
  extern const unsigned char QX_BUILTIN_MODEL_ARRAY[];
  extern const unsigned int QX_BUILTIN_MODEL_LEN;
  dut_load_builtin(&g_dut, QX_BUILTIN_MODEL_ARRAY, QX_BUILTIN_MODEL_LEN);
#endif
  dut_boot(&g_dut);
}

void loop() {
  while (Serial.available() > 0) dut_rx_byte(&g_dut, (uint8_t)Serial.read());
  dut_poll(&g_dut);
}
