import type { Writable } from 'node:stream';
import type Docker from 'dockerode';
import { CappedOutput } from './capped-output.js';

export type OutputStreamName = 'stdout' | 'stderr';

/**
 * Told the program's output as it arrives, decoded and capped as the result's text is: a
 * stream's pieces joined are its text (see CappedOutput).
 */
export type OutputListener = (stream: OutputStreamName, text: string) => void;

/** The part of docker-modem used here (dockerode types it `any`). */
interface DockerModem {
  demuxStream(stream: NodeJS.ReadableStream, stdout: Writable, stderr: Writable): void;
}

export interface DockerExecOptions {
  /** argv of the process to run inside the container. */
  cmd: string[];
  /** Bytes to feed on stdin, then end it. Default: no stdin at all. */
  stdin?: string | Buffer;
  /** Bytes kept of stdout and, separately, of stderr. */
  maxOutputBytes: number;
  /** Stop waiting when this aborts; the process itself is the caller's to kill. */
  signal?: AbortSignal;
  /** Default: the image's user (the sandbox user). */
  user?: string;
  /**
   * Called once when the process has ended but its output stays open (a background process it
   * left holds stdout or stderr), so the caller can end those; returning 'detach' stops reading
   * the output there instead (what those processes write later is not the process's), and the
   * process's own exit code is the outcome. Default: wait for them.
   */
  onLingering?: () => void | 'detach';
  /** Told the output as it arrives. Default: nobody (the outcome has it all). */
  onOutput?: OutputListener;
}

/** How often a running exec is asked whether its process has ended, when onLingering is set. */
const LINGER_POLL_MS = 100;
/** The first ask waits this long: most programs end, output and all, before it. */
const LINGER_FIRST_POLL_MS = 300;

export interface DockerExecOutcome {
  /** null when the process's end was not seen (the container died, or the wait was aborted). */
  exitCode: number | null;
  stdout: CappedOutput;
  stderr: CappedOutput;
  aborted: boolean;
}

/** Attempts at starting a process the container runtime failed to start (see dockerExec). */
const START_ATTEMPTS = 3;
/** The pause before the second attempt; it doubles for each one after. */
const START_RETRY_PAUSE_MS = 50;

/**
 * Runs one process in a running container through the Docker API, stdout and stderr apart.
 *
 * Under heavy load `runsc exec` sometimes fails before the process exists (Docker then reports
 * an exit code, pid 0, and writes "OCI runtime exec failed …" where the output goes). That
 * outcome is the runtime's, not the program's: the start is tried again, and after the last
 * attempt it is thrown. Live listeners may have been told Docker's message already.
 */
export async function dockerExec(container: Docker.Container, options: DockerExecOptions): Promise<DockerExecOutcome> {
  for (let attempt = 1; ; attempt++) {
    const { started, ...outcome } = await execOnce(container, options);
    if (started || outcome.exitCode === null) return outcome;
    if (attempt === START_ATTEMPTS || options.signal?.aborted) {
      throw new ExecStartError(
        `the container runtime could not start the process (${attempt} attempts): ${outcome.stdout.text().trim()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, START_RETRY_PAUSE_MS * 2 ** (attempt - 1)));
  }
}

/** The container runtime did not start the process (the program never ran). */
export class ExecStartError extends Error {
  override name = 'ExecStartError';
}

async function execOnce(
  container: Docker.Container,
  options: DockerExecOptions,
): Promise<DockerExecOutcome & { started: boolean }> {
  const withStdin = options.stdin !== undefined;
  const exec = await container.exec({
    Cmd: options.cmd,
    AttachStdin: withStdin,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    ...(options.user ? { User: options.user } : {}),
  });
  const stream = await exec.start({ hijack: true, stdin: withStdin });
  const { onOutput } = options;
  const stdout = new CappedOutput(options.maxOutputBytes, onOutput && ((text) => onOutput('stdout', text)));
  const stderr = new CappedOutput(options.maxOutputBytes, onOutput && ((text) => onOutput('stderr', text)));
  (container.modem as DockerModem).demuxStream(stream, stdout, stderr);

  let aborted = false;
  let poller: NodeJS.Timeout | undefined;
  let detach: () => void = () => undefined;
  if (options.onLingering) {
    const onLingering = options.onLingering;
    let endedPolls = 0;
    const poll = (): void => {
      exec.inspect().then(
        (info) => {
          // Two polls in a row: the output had a whole interval to drain after the end. Until the
          // process has started (a slow start under load) it is not running, and has no exit code.
          endedPolls = info.Running || info.ExitCode === null ? 0 : endedPolls + 1;
          if (endedPolls === 2 && poller) {
            clearInterval(poller);
            poller = undefined;
            if (onLingering() === 'detach') detach();
          }
        },
        () => undefined,
      );
    };
    poller = setTimeout(() => {
      poll();
      poller = setInterval(poll, LINGER_POLL_MS);
    }, LINGER_FIRST_POLL_MS);
  }
  await new Promise<void>((resolve) => {
    const finish = () => {
      options.signal?.removeEventListener('abort', onAbort);
      clearInterval(poller);
      poller = undefined;
      resolve();
    };
    const onAbort = () => {
      aborted = true;
      stream.destroy();
      finish();
    };
    detach = () => {
      stream.destroy();
      finish();
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    stream.once('end', finish);
    stream.once('close', finish);
    // A container that dies mid-exec resets the connection: that is an end, judged by the caller.
    stream.once('error', finish);
    if (withStdin) stream.end(options.stdin);
  });

  stdout.finish();
  stderr.finish();
  const exit = aborted ? undefined : await exitOf(exec, options.signal);
  return { exitCode: exit?.code ?? null, started: exit?.started ?? true, stdout, stderr, aborted };
}

/** How long the exit is waited for once the output has ended. */
const EXIT_WAIT_MS = 2_000;

/**
 * The exit code of an exec whose output has ended, and whether its process ever started (a pid).
 * Docker (with runsc) can still call it running a moment after its output closed: ask again for
 * a while rather than take it for lost. code null when no exit is seen (the container died, the
 * process closed its output and runs on).
 */
async function exitOf(
  exec: Docker.Exec,
  signal: AbortSignal | undefined,
): Promise<{ code: number | null; started: boolean }> {
  const deadline = performance.now() + EXIT_WAIT_MS;
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    try {
      const info = await exec.inspect();
      if (!info.Running) return { code: info.ExitCode, started: info.Pid !== 0 };
    } catch {
      return { code: null, started: true };
    }
    if (signal?.aborted || performance.now() >= deadline) return { code: null, started: true };
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
