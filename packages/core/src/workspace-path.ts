import { posix } from 'node:path';
import { HarombeError } from './errors.js';

/** Longest path accepted as sent, in characters (Linux PATH_MAX); `./` segments may make it longer than it normalizes to. */
const MAX_PATH_LENGTH = 4096;

/** Longest name of one file or directory, in bytes (Linux NAME_MAX). */
export const MAX_WORKSPACE_NAME_BYTES = 255;

/**
 * Longest normalized path, in bytes: the sandbox's scripts work on `/workspace/<path>`, which
 * with its terminating NUL must fit in PATH_MAX (4096).
 */
export const MAX_WORKSPACE_PATH_BYTES = 4096 - '/workspace/'.length - 1;

/**
 * Checks a caller's path lexically and returns it normalized, still relative to /workspace.
 * Symlinks are resolved later, inside the sandbox, where they live; this refuses what can be
 * refused without looking: absolute paths, `..` escapes, NUL and other control characters,
 * names and paths longer than Linux takes. The API stores the normalized path with the job, so
 * the policy classifies, and the approver sees, exactly the path the worker touches.
 */
export function normalizeWorkspacePath(path: string): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new HarombeError('InvalidPath', 'the path is empty');
  }
  if (path.length > MAX_PATH_LENGTH) {
    throw new HarombeError('InvalidPath', `the path is longer than ${MAX_PATH_LENGTH} characters`);
  }
  if (/[\u0000-\u001f\u007f]/.test(path)) {
    throw new HarombeError('InvalidPath', 'the path contains a NUL byte or another control character');
  }
  if (path.startsWith('/')) {
    throw new HarombeError('InvalidPath', `'${path}' is absolute; paths are relative to /workspace`);
  }
  const normalized = posix.normalize(path).replace(/\/+$/, '') || '.';
  if (normalized === '..' || normalized.startsWith('../')) {
    throw new HarombeError('InvalidPath', `'${path}' points outside /workspace`);
  }
  const long = normalized.split('/').find((name) => Buffer.byteLength(name) > MAX_WORKSPACE_NAME_BYTES);
  if (long !== undefined) {
    throw new HarombeError(
      'InvalidPath',
      `the name '${long.slice(0, 40)}…' is longer than ${MAX_WORKSPACE_NAME_BYTES} bytes, the most a file or directory name may have`,
    );
  }
  const bytes = Buffer.byteLength(normalized);
  if (bytes > MAX_WORKSPACE_PATH_BYTES) {
    throw new HarombeError(
      'InvalidPath',
      `the path is ${bytes} bytes, longer than ${MAX_WORKSPACE_PATH_BYTES} bytes (PATH_MAX of /workspace/<path>)`,
    );
  }
  return normalized;
}
