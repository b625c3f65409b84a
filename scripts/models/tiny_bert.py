"""A 2-layer BERT encoder (hidden 32, 2 heads of 16, ff 64) spelled as torch.onnx exports
Hugging Face's BertModel at opset 17, for the attention fusions to recognize:

  tiny_bert.onnx  inputs 'x' [batch, sequence, 32] (the embeddings' output) and
                  'attention_mask' [batch, sequence] int64 (1 = token, 0 = padding)
                  -> output 'y' [batch, sequence, 32]

The padding mask becomes the additive [batch, 1, 1, sequence] mask HF builds once for
every layer: Unsqueeze, Cast, 1 - mask, times float32's lowest. Linear layers are MatMul
then Add(bias, product), the bias first as torch writes it. The head split reshapes by a
shape computed at run time (Shape -> Slice -> Concat), so batch and sequence stay symbolic.

Layer 0 is the eager BertSelfAttention: Transpose [0, 2, 1, 3] per head, K transposed again
by [0, 1, 3, 2], MatMul, Div by sqrt(16), Add mask, Softmax, MatMul, Transpose, Reshape.
Layer 1 is torch's scaled_dot_product_attention export: the scale computed from Q's shape
(Shape -> Slice -> Cast -> Sqrt -> Div(1, .)), Q and Kᵀ each multiplied by its square root
before the MatMul.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto, helper

from graph_builder import GraphBuilder, save_checked

SEED = 30
LAYERS = 2
HIDDEN = 32
HEADS = 2
HEAD_DIM = HIDDEN // HEADS
FF_DIM = 64
LN_EPSILON = 1e-12
INT64_MAX = 2**63 - 1


def i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def f32(value: float) -> np.ndarray:
    return np.array(value, np.float32)


def linear(b: GraphBuilder, x: str, fan_in: int, fan_out: int) -> str:
    weight = b.initializer("linear.weight", b.normal((fan_in, fan_out), 1 / math.sqrt(fan_in)))
    bias = b.initializer("linear.bias", b.normal((fan_out,), 0.1))
    return b.op("Add", bias, b.op("MatMul", x, weight))


def layer_norm(b: GraphBuilder, x: str, out: str | None = None) -> str:
    scale = b.initializer("norm.weight", b.uniform((HIDDEN,), 0.5, 1.5))
    bias = b.initializer("norm.bias", b.normal((HIDDEN,), 0.1))
    return b.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=LN_EPSILON, out=out)


def gelu(b: GraphBuilder, x: str) -> str:
    erf = b.op("Erf", b.op("Div", x, b.constant(f32(math.sqrt(2.0)))))
    return b.op("Mul", b.op("Mul", x, b.op("Add", erf, b.constant(f32(1.0)))), b.constant(f32(0.5)))


def shape_slice(b: GraphBuilder, x: str, start: int, end: int) -> str:
    """x.size()[start:end] as a 1-D int64 tensor."""
    return b.op("Slice", b.op("Shape", x), b.constant(i64(start)), b.constant(i64(end)))


def split_heads(b: GraphBuilder, x: str) -> str:
    """x.view(x.size()[:-1] + (heads, head_dim)).permute(0, 2, 1, 3)."""
    shape = b.op("Concat", shape_slice(b, x, 0, -1), b.constant(i64(HEADS, HEAD_DIM)), axis=0)
    return b.op("Transpose", b.op("Reshape", x, shape), perm=[0, 2, 1, 3])


def merge_heads(b: GraphBuilder, context: str) -> str:
    """context.permute(0, 2, 1, 3).view(context.size()[:-2] + (hidden,))."""
    merged = b.op("Transpose", context, perm=[0, 2, 1, 3])
    shape = b.op("Concat", shape_slice(b, merged, 0, -2), b.constant(i64(HIDDEN)), axis=0)
    return b.op("Reshape", merged, shape)


def eager_attention(b: GraphBuilder, q: str, k: str, v: str, mask: str) -> str:
    scores = b.op("MatMul", q, b.op("Transpose", k, perm=[0, 1, 3, 2]))
    scores = b.op("Add", b.op("Div", scores, b.constant(f32(math.sqrt(HEAD_DIM)))), mask)
    return b.op("MatMul", b.op("Softmax", scores, axis=-1), v)


def sdpa_attention(b: GraphBuilder, q: str, k: str, v: str, mask: str) -> str:
    size = b.op("Cast", shape_slice(b, q, -1, INT64_MAX), to=TensorProto.FLOAT)
    scale = b.op("Div", b.constant(np.array([1.0], np.float32)), b.op("Sqrt", size))
    root = b.op("Sqrt", scale)
    q_scaled = b.op("Mul", q, root)
    k_scaled = b.op("Mul", b.op("Transpose", k, perm=[0, 1, 3, 2]), root)
    scores = b.op("Add", b.op("MatMul", q_scaled, k_scaled), mask)
    return b.op("MatMul", b.op("Softmax", scores, axis=-1), v)


def build() -> GraphBuilder:
    b = GraphBuilder("tiny_bert", SEED)
    x = b.input("x", ["batch", "sequence", HIDDEN])
    b.inputs.append(
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])
    )
    padding = b.op("Unsqueeze", "attention_mask", b.constant(i64(1, 2)))
    inverted = b.op("Sub", b.constant(f32(1.0)), b.op("Cast", padding, to=TensorProto.FLOAT))
    mask = b.op("Mul", inverted, b.constant(f32(np.finfo(np.float32).min)))
    for layer, attention in enumerate([eager_attention, sdpa_attention]):
        q, k, v = (split_heads(b, linear(b, x, HIDDEN, HIDDEN)) for _ in range(3))
        context = merge_heads(b, attention(b, q, k, v, mask))
        x = layer_norm(b, b.op("Add", linear(b, context, HIDDEN, HIDDEN), x))
        hidden = gelu(b, linear(b, x, HIDDEN, FF_DIM))
        last = layer == LAYERS - 1
        x = layer_norm(b, b.op("Add", linear(b, hidden, FF_DIM, HIDDEN), x), "y" if last else None)
    b.output("y", ["batch", "sequence", HIDDEN])
    return b


def main() -> None:
    rng = np.random.default_rng(0)
    mask = np.ones((2, 7), np.int64)
    mask[1, 5:] = 0
    feeds = {
        "x": rng.standard_normal((2, 7, HIDDEN)).astype(np.float32),
        "attention_mask": mask,
    }
    save_checked(build().model(17), "tiny_bert.onnx", feeds)


if __name__ == "__main__":
    main()
