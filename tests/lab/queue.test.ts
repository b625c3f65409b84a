import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { CellQueue } from '../../src/lab/queue';

/** A cell whose work finishes when the test says so, recording when it started. */
function controllable(log: string[], name: string) {
  let finish!: (success: boolean) => void;
  let fail!: (error: Error) => void;
  const done = new Promise<boolean>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return {
    run: () => {
      log.push(`start ${name}`);
      return done;
    },
    finish,
    fail
  };
}

const settle = () => new Promise(resolve => setTimeout(resolve, 0));

describe('the cell queue of a notebook', () => {
  test('kernel cells start at once when no %trt cell is ahead of them', async () => {
    const queue = new CellQueue();
    const log: string[] = [];
    const [a, b] = [controllable(log, 'a'), controllable(log, 'b')];
    queue.schedule('kernel', a.run);
    queue.schedule('kernel', b.run);
    assert.deepEqual(log, ['start a', 'start b']);
  });

  test('a %trt cell waits for every cell before it; kernel cells after it wait for it', async () => {
    const queue = new CellQueue();
    const log: string[] = [];
    const [python, trt, after] = ['python', 'trt', 'after'].map(n => controllable(log, n));
    queue.schedule('kernel', python.run);
    const trtResult = queue.schedule('trt', trt.run);
    const afterResult = queue.schedule('kernel', after.run);
    await settle();
    assert.deepEqual(log, ['start python']);
    python.finish(true);
    await settle();
    assert.deepEqual(log, ['start python', 'start trt']);
    trt.finish(true);
    await settle();
    assert.deepEqual(log, ['start python', 'start trt', 'start after']);
    after.finish(true);
    assert.equal(await trtResult, true);
    assert.equal(await afterResult, true);
  });

  test('a failed cell stops the cells queued behind it, as a kernel aborts its queue', async () => {
    const queue = new CellQueue();
    const log: string[] = [];
    const [python, trt, after] = ['python', 'trt', 'after'].map(n => controllable(log, n));
    queue.schedule('kernel', python.run).catch(() => undefined);
    const trtResult = queue.schedule('trt', trt.run);
    python.fail(new Error('KernelReplyNotOK'));
    assert.equal(await trtResult, false);

    const failing = controllable(log, 'failing');
    const failed = queue.schedule('trt', failing.run);
    const afterResult = queue.schedule('kernel', after.run);
    failing.finish(false);
    assert.equal(await failed, false);
    assert.equal(await afterResult, false);
    assert.deepEqual(
      log,
      ['start python', 'start failing'],
      'neither the %trt cell after python nor the kernel cell after failing ran'
    );
  });

  test('interrupting aborts the running %trt cell and skips those queued behind it', async () => {
    const queue = new CellQueue();
    const log: string[] = [];
    let seen: AbortSignal | undefined;
    const running = queue.schedule('trt', () => {
      seen = queue.signal;
      log.push('start running');
      return new Promise<boolean>(resolve => {
        queue.signal.addEventListener('abort', () => resolve(false));
      });
    });
    const queued = controllable(log, 'queued');
    const queuedResult = queue.schedule('trt', queued.run);
    queue.interrupt();
    assert.equal(seen?.aborted, true);
    assert.equal(await running, false);
    assert.equal(await queuedResult, false);
    assert.deepEqual(log, ['start running']);

    const later = controllable(log, 'later');
    const laterResult = queue.schedule('trt', later.run);
    assert.equal(queue.signal.aborted, false, 'cells queued after the interrupt run');
    later.finish(true);
    assert.equal(await laterResult, true);
  });
});
