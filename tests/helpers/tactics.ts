import assert from 'node:assert/strict';
import { build } from '../../src/engine/builder/build';
import { BuilderConfig } from '../../src/engine/builder/config';
import { Engine } from '../../src/engine/runtime/engine';
import { assertClose, feedsOf, NodeCase, reference, singleNodeGraph } from './compare';
import { testDevice } from './gpu';

/**
 * Builds the one-node case tuned, asserts that at least `minimum` tactics were timed, then
 * records an engine with each of them in turn and checks it computes the CPU reference.
 */
export async function checkEveryTactic(c: NodeCase, minimum: number): Promise<void> {
  const [expected] = reference(c);
  const device = await testDevice();
  const config: BuilderConfig = { precision: 'fp32' };
  const tuned = await build(singleNodeGraph(c), config, device);
  const [layer] = tuned.layers;
  const offered = layer.tacticTimings?.map(t => t.tactic) ?? [];
  tuned.destroy();
  assert.ok(offered.length >= minimum, `only ${offered.join(', ')} timed`);
  for (const tactic of offered) {
    const engine = await Engine.assemble(
      tuned.graph,
      config,
      () => ({ passes: [], buildTimeMs: 0 }),
      device,
      { recorded: new Map([[layer.name, { tactic }]]) }
    );
    try {
      assert.equal(engine.layers[0].tactic, tactic);
      const { y0 } = await engine.createContext().execute(feedsOf(c));
      assertClose(y0, expected, 1e-5, tactic);
    } finally {
      engine.destroy();
    }
  }
}
