import type { IdFormat } from '@harombe/core/names';
import { InvalidArgumentError } from 'commander';

// Light to load (commander and the ids' shapes only): every command's definition uses these.

/** Commander argument parser: a positive number of seconds. */
export function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

/** Commander argument parser: a positive integer. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Commander argument parser checking an id's shape (job-…, approval-…: ID_FORMATS) before any request. */
export function idOf(format: IdFormat): (value: string) => string {
  return (value) => {
    if (!format.pattern.test(value)) throw new InvalidArgumentError(format.message);
    return value;
  };
}
