"""Architecture -> tf_keras model, built so that the int8 conversion has exactly the ops `lowering`
predicts (conv + BatchNorm + ReLU6 fuse into one CONV_2D; SE gate is a 1x1 conv + sigmoid).

Uses `tf_keras` (Keras 2): TensorFlow 2.21's bundled Keras 3 models do not go through
`tf.lite.TFLiteConverter.from_keras_model`.
"""

from __future__ import annotations

from qnas_edge.pipeline.architecture import SE_RATIO, Architecture

# A zero head bias makes the converter drop the FULLY_CONNECTED bias tensor, which would change the
# parameter bytes of an untrained model; a tiny non-zero start keeps the structure fixed.
_HEAD_BIAS_INIT = 1e-3


def build_model(arch: Architecture, input_shape: tuple[int, int, int], num_classes: int):
    """Float tf_keras model of `arch` with logits output (no softmax); input float32 in [0, 1]."""
    import tf_keras as keras

    L = keras.layers
    reg = keras.regularizers.l2(1e-5)

    def conv_bn(x, channels: int, kernel: int, stride: int = 1, act: bool = True, name: str = ""):
        x = L.Conv2D(channels, kernel, strides=stride, padding="same", use_bias=False,
                     kernel_regularizer=reg, name=f"{name}_conv")(x)
        x = L.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        return L.ReLU(6.0, name=f"{name}_relu6")(x) if act else x

    def dw_bn(x, kernel: int, stride: int, name: str):
        x = L.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
        x = L.BatchNormalization(momentum=0.9, name=f"{name}_dwbn")(x)
        return L.ReLU(6.0, name=f"{name}_dwrelu6")(x)

    def squeeze_excite(x, name: str):
        c = x.shape[-1]
        s = L.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
        s = L.Conv2D(max(1, c // SE_RATIO), 1, activation="relu", name=f"{name}_se_reduce")(s)
        s = L.Conv2D(c, 1, activation="sigmoid", name=f"{name}_se_expand")(s)
        return L.Multiply(name=f"{name}_se_gate")([x, s])

    inp = keras.Input(input_shape, name="input")
    x = conv_bn(inp, arch.scaled(arch.stem_channels), 3, arch.stem_stride, name="stem")
    for i, stage in enumerate(arch.stages):
        cout = arch.scaled(stage.channels)
        for j, block in enumerate(stage.blocks):
            name = f"s{i}b{j}"
            stride = stage.stride if j == 0 else 1
            cin = x.shape[-1]
            if block.expansion == 1:
                y = dw_bn(x, block.kernel, stride, name)
                if block.se:
                    y = squeeze_excite(y, name)
                x = conv_bn(y, cout, 1, name=f"{name}_pw")
                continue
            y = conv_bn(x, cin * block.expansion, 1, name=f"{name}_expand")
            y = dw_bn(y, block.kernel, stride, name)
            if block.se:
                y = squeeze_excite(y, name)
            y = conv_bn(y, cout, 1, act=False, name=f"{name}_project")
            if stride == 1 and cin == cout:
                y = L.Add(name=f"{name}_add")([x, y])
            x = y
    x = L.GlobalAveragePooling2D(name="head_pool")(x)
    out = L.Dense(num_classes, name="logits",
                  bias_initializer=keras.initializers.Constant(_HEAD_BIAS_INIT))(x)
    return keras.Model(inp, out, name=f"qnas_{arch.id}")
