import { OpDefinition } from './types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const reduceOps: OpDefinition<any>[] = [];
