export { importOnnx, ImportOptions } from './model';
export { decodeTensor, tensorFromProto } from './tensor';
