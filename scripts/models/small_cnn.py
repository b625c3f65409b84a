"""small_cnn.onnx: a small ResNet-like CNN with a MobileNet-style tail, opset 17.

input 'input' [batch, 3, 32, 32] -> output 'logits' [batch, 10]

  stem       Conv 3x3 (3->16, bias) -> BatchNormalization -> Relu -> MaxPool 3x3/2 (16x16)
  block 1    Conv-BN-Relu-Conv-BN + identity -> Relu                       (16 ch, 16x16)
  block 2    the same with stride 2, 1x1 Conv-BN projection shortcut       (32 ch, 8x8)
  tail       depthwise Conv 3x3 (group 32) -> Clip(0, 6) -> Conv 1x1 -> HardSwish
             squeeze-excite: GlobalAveragePool -> Conv 1x1 -> Relu -> Conv 1x1 -> HardSigmoid -> Mul
  head       GlobalAveragePool -> Flatten -> Gemm (transB) -> logits

Weights are He-scaled normals; BatchNormalization epsilon is 1e-3 (not the default) and its
running statistics are those of its input on random data, as training leaves them.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from graph_builder import GraphBuilder, save_checked

SEED = 17
NUM_CLASSES = 10
# Not ONNX's default (1e-5), so an importer that drops the attribute is caught.
BN_EPSILON = 1e-3


def conv(
    b: GraphBuilder,
    x: str,
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int = 1,
    group: int = 1,
    bias: bool = True,
) -> str:
    fan_in = in_channels // group * kernel * kernel
    weight = b.initializer(
        "conv.weight",
        b.normal((out_channels, in_channels // group, kernel, kernel), np.sqrt(2.0 / fan_in)),
    )
    inputs = [x, weight]
    if bias:
        inputs.append(b.initializer("conv.bias", b.normal((out_channels,), 0.1)))
    pad = kernel // 2
    return b.op(
        "Conv",
        *inputs,
        kernel_shape=[kernel, kernel],
        strides=[stride, stride],
        pads=[pad, pad, pad, pad],
        group=group,
    )


def batch_norm(b: GraphBuilder, x: str, channels: int) -> str:
    """Inference BatchNormalization; `calibrate_batch_norms` sets its mean and variance."""
    scale = b.initializer("bn.scale", b.uniform((channels,), 0.5, 1.5))
    bias = b.initializer("bn.bias", b.normal((channels,), 0.2))
    mean = b.initializer("bn.mean", np.zeros(channels, np.float32))
    var = b.initializer("bn.var", np.ones(channels, np.float32))
    return b.op("BatchNormalization", x, scale, bias, mean, var, epsilon=BN_EPSILON)


def conv_bn(b: GraphBuilder, x: str, cin: int, cout: int, kernel: int, stride: int = 1) -> str:
    return batch_norm(b, conv(b, x, cin, cout, kernel, stride), cout)


def residual_block(b: GraphBuilder, x: str, cin: int, cout: int, stride: int) -> str:
    y = b.op("Relu", conv_bn(b, x, cin, cout, 3, stride))
    y = conv_bn(b, y, cout, cout, 3)
    shortcut = x if stride == 1 and cin == cout else conv_bn(b, x, cin, cout, 1, stride)
    return b.op("Relu", b.op("Add", y, shortcut))


def build() -> GraphBuilder:
    b = GraphBuilder("small_cnn", SEED)
    x = b.input("input", ["batch", 3, 32, 32])

    x = b.op("Relu", conv_bn(b, x, 3, 16, 3))
    x = b.op("MaxPool", x, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    x = residual_block(b, x, 16, 16, stride=1)
    x = residual_block(b, x, 16, 32, stride=2)

    x = conv(b, x, 32, 32, 3, group=32)
    relu6_bounds = (b.constant(np.array(0.0, np.float32)), b.constant(np.array(6.0, np.float32)))
    x = b.op("Clip", x, *relu6_bounds)
    x = b.op("HardSwish", conv(b, x, 32, 32, 1))
    squeezed = b.op("GlobalAveragePool", x)
    excite = b.op("Relu", conv(b, squeezed, 32, 8, 1))
    excite = b.op("HardSigmoid", conv(b, excite, 8, 32, 1), alpha=1.0 / 6.0, beta=0.5)
    x = b.op("Mul", x, excite)

    x = b.op("Flatten", b.op("GlobalAveragePool", x), axis=1)
    weight = b.initializer("fc.weight", b.normal((NUM_CLASSES, 32), np.sqrt(1.0 / 32)))
    bias = b.initializer("fc.bias", b.normal((NUM_CLASSES,), 0.1))
    b.op("Gemm", x, weight, bias, transB=1, out="logits")
    b.output("logits", ["batch", NUM_CLASSES])
    return b


def calibrate_batch_norms(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> None:
    """Sets each BatchNormalization's running statistics to those of its input on `feeds`,
    layer after layer, as training would leave them: the statistics are far from (0, 1),
    yet activations stay O(1) through the depth of the network."""
    initializers = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "BatchNormalization":
            continue
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        probe.graph.output.append(helper.make_empty_tensor_value_info(node.input[0]))
        session = ort.InferenceSession(
            probe.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        x = session.run([node.input[0]], feeds)[0]
        for name, value in (
            (node.input[3], x.mean(axis=(0, 2, 3))),
            (node.input[4], x.var(axis=(0, 2, 3))),
        ):
            initializers[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))


def main() -> None:
    rng = np.random.default_rng(0)
    calibration = {"input": rng.standard_normal((8, 3, 32, 32)).astype(np.float32)}
    model = build().model(opset=17)
    calibrate_batch_norms(model, calibration)
    feeds = {"input": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)}
    save_checked(model, "small_cnn.onnx", feeds)


if __name__ == "__main__":
    main()
