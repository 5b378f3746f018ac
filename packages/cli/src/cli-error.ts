import { CommanderError } from 'commander';

/** Exit statuses of the harombe command (besides a program's own, which exec passes on). */
export const EXIT = {
  ok: 0,
  /** The work ran but did not succeed: a job denied, expired, cancelled or failed; a doctor check failed. */
  failed: 1,
  /** The command could not do its work: bad arguments, a missing key, an error answer of the API. */
  error: 2,
  /** A wait ran out (`exec --wait`, `jobs wait --timeout`) or the program hit its time limit; as timeout(1). */
  timeout: 124,
  /** Interrupted with Ctrl-C. */
  interrupted: 130,
} as const;

/**
 * An error the command reports as `harombe: <code>: <message>` and exits with `exitCode`.
 * `code` is one of the API's stable codes where one fits (InvalidArgument, Unauthorized, ...).
 */
export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT.error,
  ) {
    super(message);
  }
}

/** The line(s) to print on stderr for an error and the exit status it maps to. */
export async function describeError(error: unknown): Promise<{ text: string; exitCode: number }> {
  if (error instanceof CommanderError) {
    // Commander has printed its message already; usage errors exit 2, help and --version 0.
    return { text: '', exitCode: error.exitCode === 0 ? EXIT.ok : EXIT.error };
  }
  if (error instanceof CliError)
    return { text: `harombe: ${error.code}: ${error.message}\n`, exitCode: error.exitCode };
  // Loaded here, not at the start: an error of the client or of the contracts has loaded them already.
  const [{ isHarombeApiError }, { isHarombeError }] = await Promise.all([
    import('@harombe/client'),
    import('@harombe/core'),
  ]);
  if (isHarombeApiError(error) || isHarombeError(error)) {
    return { text: `harombe: ${error.code}: ${error.message}\n`, exitCode: EXIT.error };
  }
  return {
    text: `harombe: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    exitCode: EXIT.error,
  };
}

/** What a failed read of a user's file becomes: a message naming the file, not a stack trace. */
export function unreadable(path: string, error: unknown): CliError {
  const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
  return new CliError('InvalidArgument', `cannot read ${path}: ${reason}`);
}
