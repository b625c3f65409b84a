/**
 * The ONNX backend conformance runner on its own (lib/cli/conformance.cjs, `npm run
 * conformance`): the same as `webtrt conformance`, with the same options.
 */
import { runAsProcess } from './process';

runAsProcess(['conformance', ...process.argv.slice(2)]);
