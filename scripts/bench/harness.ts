/**
 * What the benchmark's plain-JavaScript peer runner (peers.mjs) takes from the engine, so
 * that it reads the same .npy inputs and writes the same times as `webtrt exec`. Bundled to
 * lib/bench/harness.mjs by scripts/bench/prepare.sh.
 */
export { parseNpy } from '../../src/engine/io/npy';
export { latencySummary } from '../../src/engine/runtime/stats';
