import { fileURLToPath } from 'node:url';
import { commandRunner } from '@harombe/test-fixtures';

export const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/** The built CLI (dist/main.js), run as a child process. */
export const { harombe, harombeAsync } = commandRunner(MAIN);
export { tempDir, type RunOptions } from '@harombe/test-fixtures';
/** A loopback port nothing listens on (bound, then released). */
export { freeLoopbackPort as closedPort } from '@harombe/test-fixtures';
