"""Models for TF-TRT's segmentation: a small CNN with an op in the middle of its main path.

`cast_in_middle.onnx` rounds the features to float16 and back (Cast, Cast) between its second
and third convolution: with Cast in denyOps it converts into two engines around a fallback
segment, the figure of TF-TRT's tutorial. `custom_op.onnx` has a `com.example::Swish` there, an
op that neither webtrt nor ONNX Runtime defines; `custom_op_twin.onnx` spells the same function
as Sigmoid and Mul, so ONNX Runtime can compute what the custom op's model should give.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper

from graph_builder import MODELS_DIR, GraphBuilder, save_checked

OPSET = 17
CUSTOM_DOMAIN = "com.example"


def conv_relu(g: GraphBuilder, x: str, channels_in: int, channels_out: int) -> str:
    weight = g.initializer("conv.weight", g.normal((channels_out, channels_in, 3, 3), 0.3))
    bias = g.initializer("conv.bias", g.normal((channels_out,), 0.1))
    y = g.op("Conv", x, weight, bias, kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    return g.op("Relu", y)


def small_cnn(name: str, middle) -> GraphBuilder:
    """conv-relu ×2, `middle`, conv-relu, global average pool, flatten, Gemm to 10 classes."""
    g = GraphBuilder(name, seed=7)
    x = g.input("input", ["batch", 3, 16, 16])
    y = conv_relu(g, conv_relu(g, x, 3, 8), 8, 8)
    y = middle(g, y)
    y = conv_relu(g, y, 8, 8)
    y = g.op("Flatten", g.op("GlobalAveragePool", y))
    weight = g.initializer("fc.weight", g.normal((10, 8), 0.5))
    bias = g.initializer("fc.bias", g.normal((10,), 0.1))
    g.op("Gemm", y, weight, bias, transB=1, out="logits")
    g.output("logits", ["batch", 10])
    return g


def cast_round_trip(g: GraphBuilder, y: str) -> str:
    return g.op("Cast", g.op("Cast", y, to=TensorProto.FLOAT16), to=TensorProto.FLOAT)


def custom_swish(g: GraphBuilder, y: str) -> str:
    output = g.fresh("swish")
    g.nodes.append(
        helper.make_node("Swish", [y], [output], g.fresh("/Swish"), domain=CUSTOM_DOMAIN)
    )
    return output


def sigmoid_mul(g: GraphBuilder, y: str) -> str:
    return g.op("Mul", y, g.op("Sigmoid", y))


def main() -> None:
    feeds = {"input": np.random.default_rng(3).uniform(0, 1, (2, 3, 16, 16)).astype(np.float32)}
    save_checked(small_cnn("cast_in_middle", cast_round_trip).model(OPSET), "cast_in_middle.onnx", feeds)
    save_checked(small_cnn("custom_op_twin", sigmoid_mul).model(OPSET), "custom_op_twin.onnx", feeds)
    # ONNX Runtime cannot run an op no one defines: the model is only checked and written.
    custom = small_cnn("custom_op", custom_swish).model(OPSET)
    custom.opset_import.append(helper.make_opsetid(CUSTOM_DOMAIN, 1))
    onnx.checker.check_model(custom)
    with open(f"{MODELS_DIR}/custom_op.onnx", "wb") as f:
        f.write(custom.SerializeToString())
    print(f"custom_op.onnx: {len(custom.graph.node)} nodes")


if __name__ == "__main__":
    main()
