"""A 2-layer transformer encoder (post-norm, as torch.nn.TransformerEncoderLayer) spelled
the way torch.onnx exports it, in three variants that share the same weights:

  small_transformer.onnx             opset 17, LayerNormalization op, Gelu as Erf
  small_transformer_decomposed.onnx  opset 13, LayerNormalization spelled out in primitive
                                     ops (ReduceMean, Sub, Pow, ..., Add) as older exporters
                                     do, Gelu as Erf; computes the same function as above
  small_transformer_gelu.onnx        opset 20, LayerNormalization op, the Gelu op
                                     (exact in layer 0, approximate='tanh' in layer 1)

input 'x' [batch, sequence, 64] -> output 'y' [batch, sequence, 64]; 4 heads, ff 128.
The head split reshapes with a shape computed at run time from Shape -> Gather ->
Unsqueeze -> Concat, so batch and sequence stay symbolic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graph_builder import GraphBuilder, save_checked

SEED = 20
LAYERS = 2
MODEL_DIM = 64
HEADS = 4
HEAD_DIM = MODEL_DIM // HEADS
FF_DIM = 128
LN_EPSILON = 1e-5


@dataclass(frozen=True)
class Variant:
    file_name: str
    opset: int
    decomposed_layer_norm: bool
    # One entry per layer: 'erf' (0.5*x*(1+Erf(x/sqrt2))), 'none' or 'tanh' (the Gelu op).
    gelu: tuple[str, ...]


VARIANTS = (
    Variant("small_transformer.onnx", 17, False, ("erf", "erf")),
    Variant("small_transformer_decomposed.onnx", 13, True, ("erf", "erf")),
    Variant("small_transformer_gelu.onnx", 20, False, ("none", "tanh")),
)


def i64(*values: int) -> np.ndarray:
    """A 1-D int64 tensor (axes, shape pieces)."""
    return np.array(values, np.int64)


def dimension(b: GraphBuilder, shape: str, axis: int) -> str:
    """One dimension of a Shape output as a 1-D tensor: Gather by a scalar index, then
    Unsqueeze, as torch.onnx spells `x.size(axis)` used in a shape."""
    size = b.op("Gather", shape, b.constant(np.array(axis, np.int64)), axis=0)
    return b.op("Unsqueeze", size, b.constant(i64(0)))


def f32(value: float) -> np.ndarray:
    return np.array(value, np.float32)


def linear(b: GraphBuilder, x: str, fan_in: int, fan_out: int) -> str:
    """MatMul by a [fan_in, fan_out] weight, then Add of the bias, as torch exports Linear."""
    weight = b.initializer("linear.weight", b.normal((fan_in, fan_out), 1 / math.sqrt(fan_in)))
    bias = b.initializer("linear.bias", b.normal((fan_out,), 0.1))
    return b.op("Add", b.op("MatMul", x, weight), bias)


def layer_norm(b: GraphBuilder, x: str, decomposed: bool, out: str | None = None) -> str:
    scale = b.initializer("norm.weight", b.uniform((MODEL_DIM,), 0.5, 1.5))
    bias = b.initializer("norm.bias", b.normal((MODEL_DIM,), 0.1))
    if not decomposed:
        return b.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=LN_EPSILON, out=out)
    mean = b.op("ReduceMean", x, axes=[-1], keepdims=1)
    centered = b.op("Sub", x, mean)
    variance = b.op(
        "ReduceMean", b.op("Pow", centered, b.constant(f32(2.0))), axes=[-1], keepdims=1
    )
    std = b.op("Sqrt", b.op("Add", variance, b.constant(f32(LN_EPSILON))))
    return b.op("Add", b.op("Mul", b.op("Div", centered, std), scale), bias, out=out)


def gelu(b: GraphBuilder, x: str, form: str) -> str:
    if form != "erf":
        return b.op("Gelu", x, approximate=form)
    erf = b.op("Erf", b.op("Div", x, b.constant(f32(math.sqrt(2.0)))))
    return b.op("Mul", b.op("Mul", x, b.op("Add", erf, b.constant(f32(1.0)))), b.constant(f32(0.5)))


def self_attention(b: GraphBuilder, x: str) -> str:
    shape = b.op("Shape", x)
    batch = dimension(b, shape, 0)
    sequence = dimension(b, shape, 1)
    split_shape = b.op(
        "Concat", batch, sequence, b.constant(i64(HEADS)), b.constant(i64(HEAD_DIM)), axis=0
    )

    def heads(projection: str, perm: list[int]) -> str:
        return b.op("Transpose", b.op("Reshape", projection, split_shape), perm=perm)

    q = heads(linear(b, x, MODEL_DIM, MODEL_DIM), [0, 2, 1, 3])  # [B, H, S, D]
    k = heads(linear(b, x, MODEL_DIM, MODEL_DIM), [0, 2, 3, 1])  # [B, H, D, S]
    v = heads(linear(b, x, MODEL_DIM, MODEL_DIM), [0, 2, 1, 3])  # [B, H, S, D]
    scores = b.op("Div", b.op("MatMul", q, k), b.constant(f32(math.sqrt(HEAD_DIM))))
    context = b.op("MatMul", b.op("Softmax", scores, axis=-1), v)
    merged_shape = b.op("Concat", batch, sequence, b.constant(i64(MODEL_DIM)), axis=0)
    merged = b.op("Reshape", b.op("Transpose", context, perm=[0, 2, 1, 3]), merged_shape)
    return linear(b, merged, MODEL_DIM, MODEL_DIM)


def build(variant: Variant) -> GraphBuilder:
    # Every variant draws its weights in the same order from the same seed.
    b = GraphBuilder(variant.file_name.removesuffix(".onnx"), SEED)
    x = b.input("x", ["batch", "sequence", MODEL_DIM])
    for layer in range(LAYERS):
        x = layer_norm(b, b.op("Add", x, self_attention(b, x)), variant.decomposed_layer_norm)
        hidden = gelu(b, linear(b, x, MODEL_DIM, FF_DIM), variant.gelu[layer])
        x = b.op("Add", x, linear(b, hidden, FF_DIM, MODEL_DIM))
        last = layer == LAYERS - 1
        x = layer_norm(b, x, variant.decomposed_layer_norm, out="y" if last else None)
    b.output("y", ["batch", "sequence", MODEL_DIM])
    return b


def main() -> None:
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 7, MODEL_DIM)).astype(np.float32)}
    for variant in VARIANTS:
        save_checked(build(variant).model(variant.opset), variant.file_name, feeds)


if __name__ == "__main__":
    main()
