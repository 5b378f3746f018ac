import { createRequire } from 'node:module';
import { commandRunner } from '@harombe/test-fixtures';

/** The `harombe` command, which loads this package's commands as it would for a user. */
export const MAIN = createRequire(import.meta.url).resolve('@harombe/cli/main');

export const { harombe, harombeAsync } = commandRunner(MAIN);
export { tempDir, type RunOptions } from '@harombe/test-fixtures';
/** A loopback port nothing listens on (bound, then released). */
export { freeLoopbackPort as closedPort } from '../src/index.js';
