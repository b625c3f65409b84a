"""An explicitly quantized model: small_cnn.onnx in ONNX Runtime's QDQ format.

`small_cnn_qdq.onnx` is what `onnxruntime.quantization.quantize_static` makes of small_cnn with
TensorRT's conventions: symmetric int8 activations and weights (zero point 0), weights per
output channel, QuantizeLinear/DequantizeLinear pairs around each quantized op, calibrated by
min-max over random batches, after ONNX Runtime's pre-processing (BatchNormalization folded). webtrt honours these pairs: the Convs and the Gemm after them run
on INT8 kernels with the pairs' scales.
"""

import os
import tempfile

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from graph_builder import MODELS_DIR

SOURCE = os.path.join(MODELS_DIR, "small_cnn.onnx")
TARGET = os.path.join(MODELS_DIR, "small_cnn_qdq.onnx")


class RandomBatches(CalibrationDataReader):
    def __init__(self, count=8, seed=11):
        rng = np.random.default_rng(seed)
        self.batches = iter(
            [{"input": rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)} for _ in range(count)]
        )

    def get_next(self):
        return next(self.batches, None)


def main():
    with tempfile.TemporaryDirectory() as work:
        # ONNX Runtime's pre-processing folds BatchNormalization into the Convs first, as a
        # quantization workflow does, so that the folded weights are what gets quantized.
        quant_pre_process(SOURCE, os.path.join(work, "prepared.onnx"))
        quantize_static(
            os.path.join(work, "prepared.onnx"),
            os.path.join(work, "qdq.onnx"),
            RandomBatches(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        )
        model = onnx.load(os.path.join(work, "qdq.onnx"))
    model.producer_name = "webtrt scripts/models/qdq.py"
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, TARGET)
    ops = {}
    for node in model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    print(f"{os.path.basename(TARGET)}: {os.path.getsize(TARGET)} bytes, {ops}")


if __name__ == "__main__":
    main()
