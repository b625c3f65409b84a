export type CellKind = 'trt' | 'kernel';

/**
 * The cells of one notebook in the order they were queued. Kernel cells are sent to the
 * kernel at once (its own queue keeps their order) unless a `%trt` cell is ahead of them;
 * a `%trt` cell starts when every cell before it has finished. A cell whose predecessors
 * failed is not run, as a kernel aborts the requests queued behind an error.
 */
export class CellQueue {
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  schedule(kind: CellKind, run: () => Promise<boolean>): Promise<boolean> {
    const waitFor = kind === 'trt' ? [...this.pending.keys()] : this.pendingOfKind('trt');
    const signal = this.signal;
    const result =
      waitFor.length === 0
        ? run()
        : Promise.allSettled(waitFor).then(results => {
            const failed = results.some(r => r.status === 'rejected' || r.value === false);
            return failed || signal.aborted ? false : run();
          });
    this.pending.set(result, kind);
    const forget = () => this.pending.delete(result);
    result.then(forget, forget);
    return result;
  }

  interrupt(): void {
    this.controller.abort(new DOMException('interrupted', 'AbortError'));
    this.controller = new AbortController();
  }

  private pendingOfKind(kind: CellKind): Promise<boolean>[] {
    return [...this.pending].filter(([, k]) => k === kind).map(([promise]) => promise);
  }

  private controller = new AbortController();
  private readonly pending = new Map<Promise<boolean>, CellKind>();
}
