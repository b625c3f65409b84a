import { test } from 'node:test';
import { checkKernel } from '../helpers/compare';
import { randomTensor } from '../helpers/random';

test('Add broadcasts on the GPU as on the CPU', async () => {
  await checkKernel({
    opType: 'Add',
    inputs: [randomTensor([2, 3, 4]), randomTensor([3, 1], { seed: 2 })]
  });
});

test('Relu', async () => {
  await checkKernel({ opType: 'Relu', inputs: [randomTensor([5, 7])] });
});
