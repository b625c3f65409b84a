/**
 * The memory planner (TensorRT's "dynamic tensor memory"): every intermediate tensor of an
 * engine gets an offset in one arena, planned at build time from the tensors' lifetimes, so
 * that a run allocates nothing and tensors that are never alive at once share bytes.
 */
import { DataType } from '../ir/dtype';
import { Graph, shapeToString } from '../ir/graph';

/** A tensor an engine produces, alive from the step that writes it to the last that reads it. */
export interface TensorLifetime {
  name: string;
  bytes: number;
  /** The step (layer index) that writes the tensor. */
  firstStep: number;
  /** The last step that reads it (graph outputs: the last step of the engine). */
  lastStep: number;
  /** A view of this tensor's memory: it takes no bytes of its own and keeps that tensor alive. */
  aliasOf?: string;
}

export interface MemoryPlanOptions {
  /** Every offset is a multiple of this (WebGPU's minStorageBufferOffsetAlignment, often 256). */
  alignment: number;
}

export interface PlannedTensor {
  name: string;
  offset: number;
  bytes: number;
  /**
   * The steps its memory is held: for a tensor with views, extended over the views'
   * lifetimes; for a view, its own.
   */
  firstStep: number;
  lastStep: number;
  /** The tensor whose memory this view shares (the end of a chain of views). */
  aliasOf?: string;
}

/** The memory plan as a plain object, the report TensorRT's builder logs as activation memory. */
export interface MemoryPlan {
  /** Size of the one arena holding every intermediate tensor. */
  arenaBytes: number;
  /**
   * What one buffer per tensor would take (views take none). Offsets are aligned but separate
   * buffers are not, so small unaligned tensors can make the arena exceed this; it never
   * exceeds the sum of the sizes rounded up to the alignment.
   */
  sumBytes: number;
  /** The most bytes alive at any one step: no arena can be smaller. */
  peakLiveBytes: number;
  /** In the order given (execution order). */
  tensors: PlannedTensor[];
}

/**
 * Places every tensor at an aligned offset of one arena so that no two tensors alive at the
 * same step share a byte; views share the offset of the tensor they view.
 *
 * Offsets are assigned greedily by size, the idea of TensorFlow Lite's arena planner ("Greedy
 * by Size" offset calculation, Pisarchyk & Lee, "Efficient Memory Management for Deep Neural
 * Net Inference", 2020): the largest tensors are placed first, each at the lowest aligned
 * offset clear of every placed tensor whose lifetime overlaps its own. Placed tensors are kept sorted
 * by offset so that finding that offset is one scan: O(n²) in all for n tensors.
 */
export function planMemory(
  lifetimes: readonly TensorLifetime[],
  options: MemoryPlanOptions
): MemoryPlan {
  const { alignment } = options;
  if (!Number.isInteger(alignment) || alignment < 1) {
    throw new Error(`memory alignment must be a positive integer, got ${alignment}`);
  }
  const blockOf = memoryBlocks(lifetimes);
  const blocks = [...new Set(blockOf.values())];
  const placed: Block[] = [];
  const bySizeDescending = [...blocks].sort((a, b) => b.bytes - a.bytes);
  for (const block of bySizeDescending) {
    // An empty tensor takes no bytes, so it can sit anywhere; leaving it out of `placed`
    // keeps it from splitting gaps.
    if (block.bytes > 0) {
      block.offset = lowestFreeOffset(block, placed, alignment);
      placed.splice(firstPlacedAtOrAfter(placed, block.offset), 0, block);
    }
  }

  return {
    arenaBytes: placed.reduce((end, b) => Math.max(end, b.offset + b.bytes), 0),
    sumBytes: blocks.reduce((sum, b) => sum + b.bytes, 0),
    peakLiveBytes: peakLiveBytes(blocks),
    tensors: lifetimes.map(t => {
      const block = blockOf.get(t.name)!;
      if (t.aliasOf === undefined) {
        const { name, offset, bytes, firstStep, lastStep } = block;
        return { name, offset, bytes, firstStep, lastStep };
      }
      const { name, bytes, firstStep, lastStep } = t;
      return { name, offset: block.offset, bytes, firstStep, lastStep, aliasOf: block.name };
    })
  };
}

/** The memory of one tensor and its views: the tensor's bytes, held over all their lifetimes. */
interface Block {
  name: string;
  bytes: number;
  firstStep: number;
  lastStep: number;
  offset: number;
}

/**
 * The block holding each tensor, by the tensor's name: one per tensor that is not a view,
 * shared by the views of it. Checks the lifetimes on the way.
 */
function memoryBlocks(lifetimes: readonly TensorLifetime[]): Map<string, Block> {
  const byName = new Map<string, TensorLifetime>();
  for (const t of lifetimes) {
    if (byName.has(t.name)) {
      throw new Error(`tensor '${t.name}' appears twice in the memory plan's input`);
    }
    if (!Number.isSafeInteger(t.bytes) || t.bytes < 0) {
      throw new Error(`tensor '${t.name}' has an invalid size of ${t.bytes} bytes`);
    }
    if (!Number.isInteger(t.firstStep) || !Number.isInteger(t.lastStep)) {
      throw new Error(`tensor '${t.name}' has non-integer steps ${t.firstStep}..${t.lastStep}`);
    }
    if (t.lastStep < t.firstStep) {
      throw new Error(
        `tensor '${t.name}' is last read at step ${t.lastStep}, before it is written at step ${t.firstStep}`
      );
    }
    byName.set(t.name, t);
  }
  const blockOf = new Map<string, Block>();
  for (const t of lifetimes) {
    if (t.aliasOf === undefined) {
      const { name, bytes, firstStep, lastStep } = t;
      blockOf.set(name, { name, bytes, firstStep, lastStep, offset: 0 });
    }
  }
  for (const t of lifetimes) {
    if (t.aliasOf !== undefined) {
      const block = blockOf.get(rootOf(t, byName))!;
      if (t.bytes > block.bytes) {
        throw new Error(
          `tensor '${t.name}' (${t.bytes} bytes) cannot be a view of '${block.name}' (${block.bytes} bytes)`
        );
      }
      block.firstStep = Math.min(block.firstStep, t.firstStep);
      block.lastStep = Math.max(block.lastStep, t.lastStep);
      blockOf.set(t.name, block);
    }
  }
  return blockOf;
}

/** The name of the tensor at the end of a chain of views. */
function rootOf(tensor: TensorLifetime, byName: ReadonlyMap<string, TensorLifetime>): string {
  let root = tensor;
  const seen = new Set<string>([root.name]);
  while (root.aliasOf !== undefined) {
    const next = byName.get(root.aliasOf);
    if (!next) {
      throw new Error(`tensor '${root.name}' is a view of '${root.aliasOf}', which is not planned`);
    }
    if (seen.has(next.name)) {
      throw new Error(`tensor '${tensor.name}' is a view of itself through a cycle of views`);
    }
    seen.add(next.name);
    root = next;
  }
  return root.name;
}

/**
 * The lowest multiple of `alignment` where `block` overlaps in address no placed block that
 * is alive at the same time. `placed` is sorted by offset, so the candidate only moves up:
 * the first live block that starts at or past the candidate's end leaves a gap that fits.
 */
function lowestFreeOffset(block: Block, placed: readonly Block[], alignment: number): number {
  let candidate = 0;
  for (const other of placed) {
    if (other.lastStep < block.firstStep || block.lastStep < other.firstStep) {
      continue;
    }
    if (other.offset >= candidate + block.bytes) {
      break;
    }
    candidate = Math.max(candidate, alignUp(other.offset + other.bytes, alignment));
  }
  return candidate;
}

/** Where a block at `offset` goes in `placed` (sorted by offset): binary search. */
function firstPlacedAtOrAfter(placed: readonly Block[], offset: number): number {
  let low = 0;
  let high = placed.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (placed[middle].offset < offset) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** The most bytes alive at one step: a sweep over the steps where blocks start and end. */
function peakLiveBytes(blocks: readonly Block[]): number {
  const changes = new Map<number, number>();
  for (const b of blocks) {
    changes.set(b.firstStep, (changes.get(b.firstStep) ?? 0) + b.bytes);
    changes.set(b.lastStep + 1, (changes.get(b.lastStep + 1) ?? 0) - b.bytes);
  }
  let live = 0;
  let peak = 0;
  for (const step of [...changes.keys()].sort((a, b) => a - b)) {
    live += changes.get(step)!;
    peak = Math.max(peak, live);
  }
  return peak;
}

/** A value's element type and concrete shape, for the caller to size as it stores it. */
export interface SizedValue {
  name: string;
  dtype: DataType;
  shape: readonly number[];
}

/** Ops whose output is its first input's memory seen through another shape: run as views. */
const VIEW_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity']);

/**
 * The lifetimes of the values a graph's nodes produce, one step per node in the graph's
 * order. Graph inputs and initializers are bound or uploaded apart from the arena, so they
 * are not among them; graph outputs stay alive to the last step; an output nothing reads is
 * alive only while its node writes it. Outputs of view ops (VIEW_OPS) are aliases of their
 * input when that input is in the arena; a view of a graph input or initializer has no arena
 * memory to share and gets its own. Every value must have a concrete shape (the builder
 * resolves shapes before planning).
 */
export function lifetimes(graph: Graph, bytesOf: (value: SizedValue) => number): TensorLifetime[] {
  const lastReads = new Map<string, number>();
  graph.nodes.forEach((node, step) => {
    for (const name of node.inputs) {
      if (name) {
        lastReads.set(name, step);
      }
    }
  });
  const lastStep = graph.nodes.length - 1;
  for (const output of graph.outputs) {
    lastReads.set(output.name, lastStep);
  }

  const result: TensorLifetime[] = [];
  const inArena = new Set<string>();
  graph.nodes.forEach((node, step) => {
    node.outputs.forEach((name, i) => {
      if (!name || graph.initializers.has(name)) {
        return;
      }
      const lifetime: TensorLifetime = {
        name,
        bytes: bytesOf({ name, ...concreteType(graph, name) }),
        firstStep: step,
        lastStep: lastReads.get(name) ?? step
      };
      const source = node.inputs[0];
      if (i === 0 && VIEW_OPS.has(node.opType) && node.domain === '' && inArena.has(source)) {
        lifetime.aliasOf = source;
      }
      inArena.add(name);
      result.push(lifetime);
    });
  });
  return result;
}

function concreteType(graph: Graph, name: string): { dtype: DataType; shape: number[] } {
  const type = graph.valueTypes.get(name);
  if (!type) {
    throw new Error(`cannot plan memory for tensor '${name}': it has no inferred type`);
  }
  const { shape } = type;
  if (!shape || !shape.every((d): d is number => typeof d === 'number')) {
    throw new Error(
      `cannot plan memory for tensor '${name}': its shape ${shapeToString(shape)} is not concrete (resolve shapes before planning)`
    );
  }
  return { dtype: type.dtype, shape };
}
