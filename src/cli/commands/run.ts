import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { choiceFlag, integerFlag, positionalArgs, stringFlag, stringListFlag } from '../args';
import { Backend, BACKENDS, createRunner } from '../backends';
import { Command } from '../command';
import {
  columns,
  encodeNpy,
  field,
  formatMs,
  latencySummary,
  NativeRunResult,
  NodePlacement,
  outputSummary,
  outputSummaryLines,
  prepareNodes,
  shapeToString
} from '../engine';
import { makeDirectory, writeBytes } from '../files';
import { parseInputFlags, parseShapeFlags, prepareInputs } from '../inputs';
import { loadModel } from '../model';

export const runCommand: Command = {
  name: 'run',
  summary: 'run a model on WebGPU or the CPU reference, with .npy or random inputs',
  help: `Usage: webtrt run <model.onnx> [options]

Runs the model once (more with --iterations) and prints each output's dtype, shape,
min / max / mean / std of its finite values (NaN and infinities counted apart), first
values and, for a classifier's [N, C] scores, the top 5 of the first row; then the
timings, and where the nodes ran.

Options:
  --input name=file.npy       an input's values (repeatable); .npy of float32, float16,
                              int64, int32, uint8 or bool. Inputs not given get random
                              values: floats in [0, 1), integers in [0, 10), booleans
  --shapes name:1x3x224x224   shapes of random inputs, comma separated or repeated;
                              needed for symbolic dims no other input binds
  --output-dir dir            write each output to <dir>/<output name>.npy
  --backend webgpu|cpu        webgpu (default): one kernel per node, ops without a
                              kernel fall back to the CPU; cpu: the reference ops only
  --seed N                    seed of the random inputs (default 0)
  --iterations N              after the first run, time N more and report the median
  -h, --help                  show this help

Without a GPU, WebGPU runs on SwiftShader when VK_ICD_FILENAMES is unset and
/usr/lib/chromium/vk_swiftshader_icd.json exists.`,
  options: {
    input: { type: 'string', multiple: true },
    shapes: { type: 'string', multiple: true },
    'output-dir': { type: 'string' },
    backend: { type: 'string' },
    seed: { type: 'string' },
    iterations: { type: 'string' }
  },
  async run(args) {
    const [path] = positionalArgs(args, ['<model.onnx>']);
    const backend = choiceFlag<Backend>(args, 'backend', BACKENDS, 'webgpu');
    const seed = integerFlag(args, 'seed', 0) ?? 0;
    const iterations = integerFlag(args, 'iterations', 1) ?? 0;
    const outputDir = stringFlag(args, 'output-dir');
    const files = parseInputFlags(stringListFlag(args, 'input'));
    const shapes = parseShapeFlags(stringListFlag(args, 'shapes'), 'shapes', args.command);

    const { graph, importMs } = loadModel(path);
    // Unsupported ops, bad attributes, inputs and output paths fail before a GPU device is set up.
    prepareNodes(graph);
    const inputs = prepareInputs(graph, { files, shapes, seed });
    const feeds = Object.fromEntries([...inputs].map(([name, input]) => [name, input.tensor]));
    if (outputDir) {
      makeDirectory(outputDir);
    }

    const runner = await createRunner(backend);
    try {
      // What is known before running is printed first, so a slow first run shows its setup.
      const print = (...lines: string[]) => process.stdout.write(`${lines.join('\n')}\n`);
      print(
        field('model', `${path}: ${graph.nodes.length} nodes, imported in ${formatMs(importMs)}`),
        field('backend', `${backend}: ${runner.description}`),
        'inputs',
        ...columns(
          [...inputs].map(([name, { tensor, source }]) => [
            name,
            tensor.dtype,
            shapeToString(tensor.shape),
            source
          ])
        )
      );
      const start = performance.now();
      const first = await runner.run(graph, feeds);
      const firstMs = performance.now() - start;
      const times: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const begin = performance.now();
        await runner.run(graph, feeds);
        times.push(performance.now() - begin);
      }
      print(
        ...placementLines(first.placements),
        timingLine(firstMs, times),
        ...outputLines(first, outputDir)
      );
    } finally {
      runner.dispose();
    }
  }
};

/**
 * "N on webgpu, M on cpu" (and those answered from shapes alone), then the nodes that
 * fell back to the CPU grouped by reason.
 */
function placementLines(placements: readonly NodePlacement[]): string[] {
  const count = (device: NodePlacement['device']) =>
    placements.filter(p => p.device === device).length;
  const [gpu, cpu, metadata] = [count('webgpu'), count('cpu'), count('metadata')];
  const fromShapes = metadata ? `, ${metadata} from shapes alone` : '';
  const reasons = new Map<string, NodePlacement[]>();
  for (const placement of placements) {
    if (placement.device === 'cpu' && placement.reason) {
      reasons.set(placement.reason, [...(reasons.get(placement.reason) ?? []), placement]);
    }
  }
  return [
    field(
      'placement',
      `${gpu} nodes on webgpu, ${cpu} on cpu${fromShapes}${reasons.size ? ':' : ''}`
    ),
    ...columns(
      [...reasons].map(([reason, nodes]) => {
        const ops = [...new Set(nodes.map(n => n.opType))].join(', ');
        return [String(nodes.length), `${reason} (${ops})`];
      }),
      ' '.repeat(11)
    )
  ];
}

function timingLine(firstMs: number, times: readonly number[]): string {
  const parts = [`first run ${formatMs(firstMs)}`];
  if (times.length) {
    const { median, min, max } = latencySummary(times);
    const range = `min ${formatMs(min)}, max ${formatMs(max)}`;
    parts.push(`median of ${times.length} runs ${formatMs(median)} (${range})`);
  }
  return field('timing', parts.join(', '));
}

function outputLines(run: NativeRunResult, outputDir: string | undefined): string[] {
  const outputs = Object.entries(run.outputs);
  const paths = outputDir
    ? outputFiles(
        outputs.map(([name]) => name),
        outputDir
      )
    : [];
  outputs.forEach(([, tensor], i) => paths[i] && writeBytes(paths[i], encodeNpy(tensor)));
  return [
    'outputs',
    ...outputSummaryLines(
      outputs.map(([name, tensor], i) => ({
        ...outputSummary(name, tensor),
        ...(paths[i] && { file: paths[i] })
      }))
    )
  ];
}

/**
 * A .npy path per output. Tensor names may hold '/' or ':' ("/model/Add_output_0",
 * "logits:0"); those become '_', and a clash gets the output's index appended.
 */
function outputFiles(names: readonly string[], dir: string): string[] {
  const used = new Set<string>();
  return names.map((name, index) => {
    let base = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'output';
    if (used.has(base)) {
      base = `${base}_${index}`;
    }
    used.add(base);
    return join(dir, `${base}.npy`);
  });
}
