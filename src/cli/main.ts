/** The `webtrt` command (bundled into lib/cli/webtrt.cjs by scripts/build-cli.mjs). */
import { runAsProcess } from './process';

runAsProcess(process.argv.slice(2));
