import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { Socket } from 'node:net';
import { HarombeError } from '@harombe/core';

/**
 * maxmemory of the local Redis: 1 GiB unless HAROMBE_REDIS_MAXMEMORY says otherwise (Redis's own
 * notation: 512mb, 2gb). At it, Redis refuses writes (noeviction) and the API answers
 * submissions 503 StoreFull, a little before it (see StoreHeadroom), while the jobs already in run on.
 */
export const LOCAL_REDIS_MAXMEMORY = '1gb';

/**
 * The Redis `harombe up` starts when none is configured: the host's redis-server on loopback,
 * with an append-only file under $HAROMBE_HOME so accepted jobs survive a restart.
 */
export class LocalRedis {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly dataDir: string,
    /** Default LOCAL_REDIS_MAXMEMORY (or HAROMBE_REDIS_MAXMEMORY). */
    private readonly maxmemory: string = process.env.HAROMBE_REDIS_MAXMEMORY || LOCAL_REDIS_MAXMEMORY,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The redis-server process this started, if it did. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts redis-server unless something already answers on the port (a previous `up`). */
  async start(): Promise<'started' | 'already running'> {
    if (await answersPing(this.port)) return 'already running';
    if (spawnSync('redis-server', ['--version']).error) {
      throw new HarombeError(
        'RuntimeUnavailable',
        'redis-server is not installed: run `sudo bash deploy/host/setup.sh`, or set redis.url in harombe.yaml',
      );
    }
    mkdirSync(this.dataDir, { recursive: true });
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dataDir,
        '--appendonly',
        'yes',
        '--save',
        '',
        '--maxmemory',
        this.maxmemory,
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 100; i += 1) {
      if (await answersPing(this.port)) return 'started';
      if (this.child.exitCode !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new HarombeError('RuntimeUnavailable', `redis-server did not start on port ${this.port}`);
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child?.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}
