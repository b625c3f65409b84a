import { positionalArgs, stringFlag } from '../args';
import {
  BUILDER_HELP,
  BUILDER_OPTIONS,
  BuilderFlags,
  optimizationProfile,
  parseBuilderFlags,
  ShapeProfile
} from '../builder-flags';
import { Command } from '../command';
import {
  build,
  columns,
  computedByOneEngine,
  conversionReport,
  convert,
  ConvertedModel,
  Engine,
  engineReport,
  field,
  Graph,
  LayerInfo,
  reportText,
  shapeTemplate,
  checkOpsDefined
} from '../engine';
import { UsageError } from '../errors';
import { writeBytes } from '../files';
import { requestNodeDevice } from '../gpu';
import { LoadedModel, loadModel } from '../model';

export const buildCommand: Command = {
  name: 'build',
  summary: 'build an optimized engine (or a converted model) from an ONNX model and save its plan',
  help: `Usage: webtrt build <model.onnx> -o <model.wtrt> [options]

Builds an engine for this machine's WebGPU adapter, as trtexec --saveEngine does: runs
the builder's passes, plans the intermediate tensors into arenas and compiles every
layer's kernel, then prints the build summary and writes the plan. A plan loads only
on an adapter like the one it was built on (webtrt exec --loadEngine).

A model that one engine cannot compute whole (ops without a WebGPU kernel, --denyOps,
--maxAllowedEngines) is converted as TF-TRT converts it: an engine per segment of ops
an engine runs, built at the --shapes (or the profile's opt shapes), the other ops on
the CPU reference ops. The plan then holds the converted model with its engines, and
the build prints TF-TRT's conversion summary (see webtrt summary).

Options:
  -o, --output file.wtrt      where to write the plan (required)
${BUILDER_HELP}
  --exportLayerInfo f.json    write the engine's layers (name, op, the ONNX nodes
                              it computes, precision, input and output shapes,
                              dispatches); of a converted model, each engine
                              segment's layers by segment
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
    const files: BuildFiles = { source: path, plan: output, layerInfo: layerInfoPath };
    const lines = computedByOneEngine(model.graph, flags.conversion)
      ? await saveEngine(model, flags, files, args.command)
      : await saveConverted(model, flags, files, args.command);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
};

/** The model's path, and where the build writes its plan and layer info. */
interface BuildFiles {
  source: string;
  plan: string;
  layerInfo?: string;
}

/** Builds one engine for the whole model and writes its plan; the report's lines. */
async function saveEngine(
  model: LoadedModel,
  flags: BuilderFlags,
  files: BuildFiles,
  command: string
): Promise<string[]> {
  const engine = await buildEngine(model, flags, command);
  try {
    const plan = engine.serialize();
    writeBytes(files.plan, plan);
    const report = engineReport(engine, files.source, {
      graph: model.graph,
      plan: { path: files.plan, bytes: plan.byteLength }
    });
    return [
      reportText(report),
      ...(flags.profile ? profileLines(flags.profile, ENGINE_PROFILE) : []),
      ...(files.layerInfo
        ? writeLayerInfo(files.layerInfo, engine.layers, `${engine.layers.length} layers`)
        : [])
    ];
  } finally {
    engine.device.destroy();
  }
}

/** Converts the model, builds its engines and writes its plan; the report's lines. */
async function saveConverted(
  model: LoadedModel,
  flags: BuilderFlags,
  files: BuildFiles,
  command: string
): Promise<string[]> {
  const converted = await buildConverted(model, flags, command);
  try {
    const plan = converted.serialize();
    writeBytes(files.plan, plan);
    const report = conversionReport(converted, files.source, {
      plan: { path: files.plan, bytes: plan.byteLength }
    });
    const layers = convertedLayers(converted);
    const count = Object.values(layers).reduce((sum, list) => sum + list.length, 0);
    return [
      reportText(report),
      ...(flags.profile ? profileLines(flags.profile, CONVERTED_PROFILE) : []),
      ...(files.layerInfo
        ? writeLayerInfo(
            files.layerInfo,
            layers,
            `${count} layers of ${Object.keys(layers).length} engine segments`
          )
        : [])
    ];
  } finally {
    destroyConverted(converted);
  }
}

/** Writes --exportLayerInfo's JSON; the report's line of it. */
function writeLayerInfo(path: string, layers: unknown, counted: string): string[] {
  writeBytes(path, `${JSON.stringify(layers, null, 2)}\n`);
  return [field('layer info', `${path}: ${counted}`)];
}

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

/**
 * Converts an imported model on a new device and builds its engines at the given shapes
 * (or the profile's opt shapes). Destroy it with destroyConverted, which releases both.
 */
export async function buildConverted(
  model: LoadedModel,
  flags: BuilderFlags,
  command: string
): Promise<ConvertedModel> {
  checkOpsDefined(model.graph, model.path);
  checkShapesGiven(model.graph, flags.shapes, command);
  const { shapes, ...config } = flags.config;
  const device = await requestNodeDevice();
  let converted: ConvertedModel | undefined;
  try {
    converted = convert(
      model.graph,
      {
        ...config,
        ...flags.conversion,
        ...(flags.profile && { profile: optimizationProfile(flags.profile) })
      },
      device
    );
    await converted.build(shapes);
    return converted;
  } catch (error) {
    converted?.destroy();
    device.destroy();
    throw error;
  }
}

export function destroyConverted(converted: ConvertedModel): void {
  converted.destroy();
  converted.device.destroy();
}

/** The layers of each engine segment's cached engines, by segment id. */
function convertedLayers(converted: ConvertedModel): Record<string, LayerInfo[]> {
  return Object.fromEntries(
    converted.engineSegments.map(segment => [
      segment.id,
      converted.cache(segment.id).cached.flatMap(({ engine }) => engine.layers)
    ])
  );
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

const ENGINE_PROFILE = 'the engine is built for the opt shapes and runs at them';
const CONVERTED_PROFILE =
  'the engines are built for the opt shapes; runs take any shapes from min to max';

/** The optimization profile, one input a line, after what the build made of it. */
function profileLines(profile: ShapeProfile, note: string): string[] {
  const dims = (shape: readonly number[]) => shape.join('x');
  return [
    field('profile', note),
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
