#!/usr/bin/env python3
"""Exports the benchmark models to ONNX, writes their inputs, and lists the runs for run.sh.

The models of GPU.md's peer table, with random weights (nothing is downloaded): torchvision
ResNet-50 and MobileNetV2 at 224x224, and Hugging Face BERT-base (BertModel from a default
BertConfig) at sequence length 128; ONNX opset 17 with a dynamic batch dim. small_cnn, the
repository's own small model, needs no export (and no torch): it is there for quick runs.

Usage: python3 scripts/bench/export_models.py --out DIR [--models resnet50,mobilenetv2,bert]
                                              [--batches 1,8]

Writes DIR/<name>.onnx (kept when it exists: delete it to export again) and, per batch size,
DIR/<name>.b<batch>/<input>.npy: inputs every runner reads alike, with values the model
accepts (token ids within the vocabulary, token types of 0). Prints one line per model and
batch, tab separated: name, batch, model path, --shapes and --loadInputs in webtrt's syntax.
"""

import argparse
import os
import sys

import numpy as np

OPSET = 17
IMAGE_SIZE = 224
SEQUENCE_LENGTH = 128
BERT_VOCAB_SIZE = 30522  # BertConfig's default, given explicitly so the token ids agree
SEED = 0
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def export(module, example_inputs, input_names, output_names, path):
    """Exports `module` with the batch (dim 0) of every input and output dynamic."""
    import inspect

    import torch

    dynamic_axes = {name: {0: "batch"} for name in input_names + output_names}
    options = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        # The TorchScript exporter: dynamic_axes as given, and the ONNX graphs PyTorch has
        # long exported (newer torch defaults to the dynamo exporter).
        options["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(
            module,
            example_inputs,
            path,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
            **options,
        )


def export_torchvision(name, path):
    import torch
    import torchvision

    torch.manual_seed(SEED)
    model = getattr(torchvision.models, name)(weights=None).eval()
    image = torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    export(model, (image,), ["input"], ["output"], path)


def export_bert(path):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(SEED)
    config = BertConfig(vocab_size=BERT_VOCAB_SIZE)
    # Attention spelled as MatMul, Softmax and MatMul (the graph the builder fuses), not
    # through scaled_dot_product_attention.
    config._attn_implementation = "eager"
    bert = BertModel(config).eval()

    class LastHiddenState(torch.nn.Module):
        """BertModel with positional inputs and one output, for clean ONNX names."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
            ).last_hidden_state

    example = bert_inputs(np.random.default_rng(SEED), 1)
    inputs = tuple(torch.from_numpy(example[name]) for name in example)
    export(LastHiddenState(bert), inputs, list(example), ["last_hidden_state"], path)


def image_inputs(size):
    return lambda rng, batch: {"input": rng.random((batch, 3, size, size), dtype=np.float32)}


def bert_inputs(rng, batch):
    shape = (batch, SEQUENCE_LENGTH)
    return {
        "input_ids": rng.integers(0, BERT_VOCAB_SIZE, shape, dtype=np.int64),
        "attention_mask": np.ones(shape, dtype=np.int64),
        "token_type_ids": np.zeros(shape, dtype=np.int64),
    }


# name -> (exporter, or the model's path in the repository; inputs(rng, batch) by name)
MODELS = {
    "resnet50": (lambda path: export_torchvision("resnet50", path), image_inputs(IMAGE_SIZE)),
    "mobilenetv2": (
        lambda path: export_torchvision("mobilenet_v2", path),
        image_inputs(IMAGE_SIZE),
    ),
    "bert": (export_bert, bert_inputs),
    "small_cnn": (os.path.join(REPO, "examples/models/small_cnn.onnx"), image_inputs(32)),
}


def model_path(name, out):
    source, _ = MODELS[name]
    if isinstance(source, str):
        return source
    path = os.path.join(out, f"{name}.onnx")
    if not os.path.exists(path):
        # Written aside and moved in whole: an interrupted export leaves no model behind.
        partial = f"{path}.partial"
        source(partial)
        os.replace(partial, path)
    return path


def write_inputs(name, batch, out):
    """Saves the inputs of one run; returns them as --shapes and --loadInputs values."""
    _, make_inputs = MODELS[name]
    folder = os.path.join(out, f"{name}.b{batch}")
    os.makedirs(folder, exist_ok=True)
    shapes, files = [], []
    for input_name, values in make_inputs(np.random.default_rng(SEED), batch).items():
        path = os.path.join(folder, f"{input_name}.npy")
        np.save(path, values)
        shapes.append(f"{input_name}:{'x'.join(map(str, values.shape))}")
        files.append(f"{input_name}:{path}")
    return ",".join(shapes), ",".join(files)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory for the models and inputs")
    parser.add_argument("--models", default="resnet50,mobilenetv2,bert")
    parser.add_argument("--batches", default="1,8")
    args = parser.parse_args()
    names = [name for name in args.models.split(",") if name]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        sys.exit(f"export_models.py: unknown model {', '.join(unknown)} (known: {', '.join(MODELS)})")
    batches = [int(batch) for batch in args.batches.split(",") if batch]
    os.makedirs(args.out, exist_ok=True)
    for name in names:
        path = model_path(name, args.out)
        for batch in batches:
            shapes, files = write_inputs(name, batch, args.out)
            print(f"{name}\t{batch}\t{path}\t{shapes}\t{files}", flush=True)


if __name__ == "__main__":
    main()
