import { positionalArgs, stringFlag } from '../args';
import {
  BUILDER_HELP,
  BUILDER_OPTIONS,
  BuilderFlags,
  parseBuilderFlags,
  ShapeProfile
} from '../builder-flags';
import { Command } from '../command';
import {
  build,
  columns,
  Engine,
  engineReport,
  field,
  Graph,
  reportText,
  shapeTemplate
} from '../engine';
import { UsageError } from '../errors';
import { writeBytes } from '../files';
import { requestNodeDevice } from '../gpu';
import { LoadedModel, loadModel } from '../model';

export const buildCommand: Command = {
  name: 'build',
  summary: 'build an optimized engine from an ONNX model and save its plan (.wtrt)',
  help: `Usage: webtrt build <model.onnx> -o <model.wtrt> [options]

Builds an engine for this machine's WebGPU adapter, as trtexec --saveEngine does: runs
the builder's passes, plans the intermediate tensors into arenas and compiles every
layer's kernel, then prints the build summary and writes the plan. A plan loads only
on an adapter like the one it was built on (webtrt exec --loadEngine).

Options:
  -o, --output file.wtrt      where to write the plan (required)
${BUILDER_HELP}
  --exportLayerInfo f.json    write the engine's layers (name, op, the ONNX nodes
                              it computes, precision, input and output shapes,
                              dispatches)
  -h, --help                  show this help`,
  options: {
    output: { type: 'string', short: 'o' },
    ...BUILDER_OPTIONS,
    exportLayerInfo: { type: 'string' }
  },
  async run(args) {
    const [path] = positionalArgs(args, ['<model.onnx>']);
    const output = stringFlag(args, 'output');
    if (!output) {
      throw new UsageError('missing -o <model.wtrt>: where to write the plan', args.command);
    }
    const flags = parseBuilderFlags(args);
    const layerInfoPath = stringFlag(args, 'exportLayerInfo');

    const model = loadModel(path);
    const engine = await buildEngine(model, flags, args.command);
    try {
      const plan = engine.serialize();
      writeBytes(output, plan);
      if (layerInfoPath) {
        writeBytes(layerInfoPath, `${JSON.stringify(engine.layers, null, 2)}\n`);
      }
      const report = engineReport(engine, path, {
        graph: model.graph,
        plan: { path: output, bytes: plan.byteLength }
      });
      const lines = [reportText(report), ...(flags.profile ? profileLines(flags.profile) : [])];
      if (layerInfoPath) {
        lines.push(field('layer info', `${layerInfoPath}: ${engine.layers.length} layers`));
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      engine.device.destroy();
    }
  }
};

/**
 * Builds an engine of an imported model on a new device, which the engine owns: destroying
 * `engine.device` releases both.
 */
export async function buildEngine(
  model: LoadedModel,
  flags: BuilderFlags,
  command: string
): Promise<Engine> {
  checkShapesGiven(model.graph, flags.shapes, command);
  const device = await requestNodeDevice();
  try {
    return await build(model.graph, flags.config, device);
  } catch (error) {
    device.destroy();
    throw error;
  }
}

/** Fails, naming the flag to give, when an input's shape is not fixed by the model or --shapes. */
export function checkShapesGiven(
  graph: Graph,
  shapes: ReadonlyMap<string, number[]>,
  command: string
): void {
  for (const { name, shape } of graph.inputs) {
    if (!shapes.has(name) && !shape?.every(dim => typeof dim === 'number')) {
      const what = shape ? 'dims of no fixed size' : 'no declared shape';
      throw new UsageError(
        `input '${name}' has ${what}: give its shape with --shapes ${name}:${shapeTemplate(shape)}`,
        command
      );
    }
  }
}

/** The optimization profile, one input a line; the engine was built at its opt shapes. */
function profileLines(profile: ShapeProfile): string[] {
  const dims = (shape: readonly number[]) => shape.join('x');
  return [
    field('profile', 'the engine is built for the opt shapes and runs at them'),
    ...columns(
      [...profile.opt].map(([name, opt]) => [
        name,
        `min ${dims(profile.min.get(name)!)}`,
        `opt ${dims(opt)}`,
        `max ${dims(profile.max.get(name)!)}`
      ])
    )
  ];
}
