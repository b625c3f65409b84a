/**
 * Per-pass GPU time from timestamp queries. One GpuTimer times the labelled compute passes of
 * one submission at a time:
 *
 *     const pass = encoder.beginComputePass({ timestampWrites: timer.timestampWrites('conv1') });
 *     ...
 *     timer.resolve(encoder);
 *     device.queue.submit([encoder.finish()]);
 *     const timings = await timer.read();
 *
 * Without the 'timestamp-query' feature the timer hands out no timestamp writes and its clock
 * is 'wall-clock': the caller then times work by submit and onSubmittedWorkDone.
 */

export type TimingClock = 'timestamp-query' | 'wall-clock';

export interface PassTiming {
  label: string;
  /** From the beginning of the first timed pass of the submission. */
  startMs: number;
  durationMs: number;
}

const TIMESTAMP_BYTES = 8;
const NANOSECONDS_PER_MS = 1e6;

interface TimestampResources {
  querySet: GPUQuerySet;
  /** Where resolveQuerySet writes; it cannot be mapped. */
  resolveBuffer: GPUBuffer;
  readbackBuffer: GPUBuffer;
}

export class GpuTimer {
  readonly clock: TimingClock;
  /** How timings are taken, in words, for reports. */
  readonly clockDescription: string;
  private readonly resources: TimestampResources | undefined;
  /** Labels of the passes handed timestamp writes since the last read, in order. */
  private labels: string[] = [];
  private resolved = false;

  /** `maxPasses`: how many passes one submission may time. */
  constructor(
    device: GPUDevice,
    readonly maxPasses = 256
  ) {
    if (!device.features.has('timestamp-query')) {
      this.clock = 'wall-clock';
      this.clockDescription =
        "wall-clock only: this device has no 'timestamp-query', so layers are timed from submit to onSubmittedWorkDone";
      return;
    }
    this.clock = 'timestamp-query';
    this.clockDescription = 'GPU timestamps (timestamp-query) around each compute pass';
    const bytes = 2 * maxPasses * TIMESTAMP_BYTES;
    this.resources = {
      querySet: device.createQuerySet({
        label: 'GpuTimer',
        type: 'timestamp',
        count: 2 * maxPasses
      }),
      resolveBuffer: device.createBuffer({
        label: 'GpuTimer resolve',
        size: bytes,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC
      }),
      readbackBuffer: device.createBuffer({
        label: 'GpuTimer readback',
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST
      })
    };
  }

  /**
   * The timestampWrites of the next compute pass, which is labelled `label` in the timings;
   * undefined under wall-clock timing (beginComputePass accepts that as "no timestamps").
   */
  timestampWrites(label: string): GPUComputePassTimestampWrites | undefined {
    if (!this.resources) {
      return undefined;
    }
    if (this.resolved) {
      throw new Error(`GpuTimer: pass '${label}' begun before the previous timings were read`);
    }
    if (this.labels.length === this.maxPasses) {
      throw new Error(
        `GpuTimer: pass '${label}' is one more than the ${this.maxPasses} passes this timer holds per submission`
      );
    }
    const pass = this.labels.push(label) - 1;
    return {
      querySet: this.resources.querySet,
      beginningOfPassWriteIndex: 2 * pass,
      endOfPassWriteIndex: 2 * pass + 1
    };
  }

  /** Encodes the copy of the timestamps for `read`: after the last timed pass, before finish(). */
  resolve(encoder: GPUCommandEncoder): void {
    if (!this.resources || this.labels.length === 0) {
      return;
    }
    const { querySet, resolveBuffer, readbackBuffer } = this.resources;
    const count = 2 * this.labels.length;
    encoder.resolveQuerySet(querySet, 0, count, resolveBuffer, 0);
    encoder.copyBufferToBuffer(resolveBuffer, 0, readbackBuffer, 0, count * TIMESTAMP_BYTES);
    this.resolved = true;
  }

  /**
   * After the resolving encoder was submitted: each timed pass, in the order they were handed
   * out. The timer is then ready for the next submission.
   */
  async read(): Promise<PassTiming[]> {
    if (!this.resources) {
      throw new Error(`GpuTimer: no GPU timings, ${this.clockDescription}`);
    }
    if (this.labels.length === 0) {
      return [];
    }
    if (!this.resolved) {
      throw new Error('GpuTimer: read before resolve(encoder) was encoded and submitted');
    }
    const { readbackBuffer } = this.resources;
    const count = 2 * this.labels.length;
    await readbackBuffer.mapAsync(GPUMapMode.READ, 0, count * TIMESTAMP_BYTES);
    const ticks = new BigUint64Array(
      readbackBuffer.getMappedRange(0, count * TIMESTAMP_BYTES).slice(0)
    );
    readbackBuffer.unmap();

    const origin = ticks[0];
    const toMs = (nanoseconds: bigint) => Number(nanoseconds) / NANOSECONDS_PER_MS;
    const timings = this.labels.map((label, pass) => ({
      label,
      startMs: toMs(ticks[2 * pass] - origin),
      durationMs: toMs(ticks[2 * pass + 1] - ticks[2 * pass])
    }));
    this.labels = [];
    this.resolved = false;
    return timings;
  }

  destroy(): void {
    if (this.resources) {
      this.resources.querySet.destroy();
      this.resources.resolveBuffer.destroy();
      this.resources.readbackBuffer.destroy();
    }
  }
}
