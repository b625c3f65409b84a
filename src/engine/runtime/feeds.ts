import { Dim, Graph, shapeToString } from '../ir/graph';
import { Tensor } from '../ir/tensor';

/**
 * Checks the caller's inputs against the graph's declared inputs: every input present,
 * no unknown names, the declared dtype, the declared rank and fixed sizes, and each
 * symbolic dim bound to one size across all inputs. Returns the symbol bindings.
 */
export function checkFeeds(graph: Graph, feeds: Record<string, Tensor>): Map<string, number> {
  const symbols = new Map<string, number>();
  const declared = new Set(graph.inputs.map(i => i.name));
  for (const name of Object.keys(feeds)) {
    if (!declared.has(name)) {
      const known = graph.inputs.map(i => `'${i.name}'`).join(', ') || 'none';
      throw new Error(`'${name}' is not an input of the model (its inputs: ${known})`);
    }
  }
  for (const input of graph.inputs) {
    const tensor = feeds[input.name];
    if (!tensor) {
      throw new Error(
        `input '${input.name}' (${input.dtype} ${shapeToString(input.shape)}) was not given`
      );
    }
    if (tensor.dtype !== input.dtype) {
      throw new Error(`input '${input.name}' must be ${input.dtype}, got ${tensor.dtype}`);
    }
    if (input.shape) {
      checkShape(input.name, input.shape, tensor.shape, symbols);
    }
  }
  return symbols;
}

function checkShape(
  name: string,
  declared: readonly Dim[],
  actual: readonly number[],
  symbols: Map<string, number>
): void {
  const mismatch = () =>
    new Error(
      `input '${name}' must have shape ${shapeToString(declared)}, got ${shapeToString(actual)}`
    );
  if (declared.length !== actual.length) {
    throw mismatch();
  }
  declared.forEach((dim, axis) => {
    if (typeof dim === 'number' && dim !== actual[axis]) {
      throw mismatch();
    }
    if (typeof dim === 'string' && dim !== '') {
      const bound = symbols.get(dim);
      if (bound !== undefined && bound !== actual[axis]) {
        throw new Error(
          `input '${name}' has ${actual[axis]} for dim '${dim}', which another input set to ${bound}`
        );
      }
      symbols.set(dim, actual[axis]);
    }
  });
}
