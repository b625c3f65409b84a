// A copy of ../shared/tools/gpu-kit/ort-web-node.mjs (kept outside the repository), here so
// that it travels with the tree and resolves `webgpu` and `onnxruntime-web` from the
// repository's node_modules, where gpu-kit's enter.sh puts them on the device.
//
// Lets onnxruntime-web's WebGPU execution provider run in Node on Dawn (the `webgpu` package),
// so a peer can be timed on the same GPU and the same WebGPU implementation as the project.
// Usage: const ort = await loadOrtWebGpu(); then ort.InferenceSession.create(bytes, {executionProviders: ['webgpu']})
import { create, globals } from 'webgpu';

export async function loadOrtWebGpu(
  dawnFlags = (process.env.WEBGPU_DAWN_FLAGS || '').split(' ').filter(Boolean)
) {
  Object.assign(globalThis, globals);
  globalThis.navigator = { gpu: create(dawnFlags) };
  // onnxruntime-web hands writeBuffer views of its shared wasm memory; Dawn's node binding rejects
  // SharedArrayBuffer views ("Invalid argument"), so copy those into a plain buffer first.
  const writeBuffer = GPUQueue.prototype.writeBuffer;
  GPUQueue.prototype.writeBuffer = function (buffer, offset, data, dataOffset = 0, size) {
    if (data && data.buffer instanceof SharedArrayBuffer) {
      const bpe = data.BYTES_PER_ELEMENT || 1;
      const count = size === undefined ? data.length - dataOffset : size;
      const copy = new Uint8Array(count * bpe);
      copy.set(new Uint8Array(data.buffer, data.byteOffset + dataOffset * bpe, count * bpe));
      return writeBuffer.call(this, buffer, offset, copy, 0, count * bpe);
    }
    return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
  };
  return import('onnxruntime-web/webgpu');
}
