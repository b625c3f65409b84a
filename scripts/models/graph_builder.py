"""A small helper for spelling ONNX graphs node by node, as an exporter would.

Weights come from one seeded numpy generator, so every run writes the same bytes.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

MODELS_DIR = os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "..", "examples", "models")
)
MAX_MODEL_BYTES = 2 * 1024 * 1024


class GraphBuilder:
    def __init__(self, name: str, seed: int):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._counts: dict[str, int] = {}

    def fresh(self, prefix: str) -> str:
        """A new unique value or node name starting with `prefix`."""
        index = self._counts.get(prefix, 0)
        self._counts[prefix] = index + 1
        return f"{prefix}_{index}"

    def input(self, name: str, shape: list[int | str]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return name

    def output(self, name: str, shape: list[int | str]) -> None:
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))

    def initializer(self, prefix: str, array: np.ndarray) -> str:
        name = self.fresh(prefix)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def constant(self, array: np.ndarray) -> str:
        """A Constant node, as torch.onnx emits for scalars and shape pieces."""
        return self.op("Constant", value=numpy_helper.from_array(array))

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attributes) -> str:
        """Appends a node with one output (named `out`, or fresh) and returns its name."""
        output = out or self.fresh(op_type.lower())
        node_name = self.fresh(f"/{op_type}")
        self.nodes.append(helper.make_node(op_type, inputs, [output], node_name, **attributes))
        return output

    def normal(self, shape: tuple[int, ...], std: float) -> np.ndarray:
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    def uniform(self, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
        return self.rng.uniform(low, high, shape).astype(np.float32)

    def model(self, opset: int) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs, self.outputs, self.initializers
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", opset)],
            producer_name="webtrt scripts/models",
        )
        # ONNX Runtime 1.x reads IR version 10 at most; keep what the oldest peers load.
        model.ir_version = 8 if opset <= 17 else 9
        return model


def save_checked(model: onnx.ModelProto, file_name: str, feeds: dict[str, np.ndarray]) -> str:
    """Checks `model`, runs it once on ONNX Runtime, and writes it to examples/models/."""
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    if len(data) > MAX_MODEL_BYTES:
        raise ValueError(f"{file_name} is {len(data)} bytes, over {MAX_MODEL_BYTES}")
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    for info, value in zip(session.get_outputs(), outputs):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{file_name}: output {info.name} is not finite")
        print(
            f"{file_name}: {len(data)} bytes, {len(model.graph.node)} nodes, "
            f"{info.name} {list(value.shape)} mean |y| {np.abs(value).mean():.3f} "
            f"max |y| {np.abs(value).max():.3f}"
        )
    os.makedirs(MODELS_DIR, exist_ok=True)
    path = os.path.join(MODELS_DIR, file_name)
    with open(path, "wb") as f:
        f.write(data)
    return path
