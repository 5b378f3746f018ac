import { posix } from 'node:path';
import { HarombeError } from '@harombe/core';

/** Longest path accepted, in characters (Linux PATH_MAX). */
const MAX_PATH_LENGTH = 4096;

/**
 * Checks a caller's path lexically and returns it normalized, still relative to /workspace.
 * Symlinks are resolved later, inside the sandbox, where they live; this refuses what can be
 * refused without looking: absolute paths, `..` escapes, NUL and other control characters.
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
  return normalized;
}
