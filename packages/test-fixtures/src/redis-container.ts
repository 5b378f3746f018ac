import { randomUUID } from 'node:crypto';
import net from 'node:net';
import Docker from 'dockerode';
import {
  GenericContainer,
  ImageName,
  Wait,
  getContainerRuntimeClient,
  type StartedTestContainer,
} from 'testcontainers';

// Ryuk (the reaper) is an image from Docker Hub, and there is no registry here. The test runner
// sets this too; without it the first container start would try to pull testcontainers/ryuk.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

/** The locally built image, see deploy/images/redis and deploy/images/build-image.sh. */
export const REDIS_IMAGE = 'harombe/redis';
const REDIS_PORT = 6379;
/** Redis binds the published port on loopback only: no password, protected mode off. */
const LOOPBACK = '127.0.0.1';
const READY_LINE = 'Ready to accept connections';

export interface StartRedisOptions {
  /** Image to run; defaults to harombe/redis. */
  image?: string;
  /** Host port on 127.0.0.1; defaults to a free one chosen before the container starts. */
  hostPort?: number;
  /** How long to wait for "Ready to accept connections" on start and restart; default 60 s. */
  startupTimeoutMs?: number;
}

/**
 * Fails loudly (never skips) when the image was not built on this host. testcontainers would
 * otherwise try to pull it and fail with a registry error that does not name the fix.
 */
export async function checkRedisImage(image: string = REDIS_IMAGE): Promise<void> {
  const client = await getContainerRuntimeClient();
  if (!(await client.image.exists(ImageName.fromString(image)))) {
    throw new Error(`image ${image} is missing: run \`sudo bash deploy/host/setup.sh\``);
  }
}

/**
 * A Redis server in a Docker container (runc), published on 127.0.0.1 at a fixed host port.
 * The port is chosen before the container is created and bound explicitly, so it survives
 * `restart()`: testcontainers' default random mapping (HostPort "0") gets a new port from
 * Docker on every restart, and clients holding the old address could not reconnect.
 */
export class RedisContainer {
  private frozen = false;

  private constructor(
    private readonly container: StartedTestContainer,
    /** Always 127.0.0.1: the only address the port is published on. */
    readonly host: string,
    private currentPort: number,
    private readonly startupTimeoutMs: number,
  ) {}

  /** Starts a container from harombe/redis and waits until it answers PING on the host port. */
  static async start(options: StartRedisOptions = {}): Promise<RedisContainer> {
    const image = options.image ?? REDIS_IMAGE;
    const startupTimeoutMs = options.startupTimeoutMs ?? 60_000;
    await checkRedisImage(image);
    // A port found free can be taken before Docker binds it; pick another one then.
    const attempts = options.hostPort === undefined ? 3 : 1;
    for (let attempt = 1; ; attempt++) {
      const hostPort = options.hostPort ?? (await freeLoopbackPort());
      try {
        const container = await startContainer(image, hostPort, startupTimeoutMs);
        const redis = new RedisContainer(container, LOOPBACK, hostPort, startupTimeoutMs);
        await redis.waitForPing();
        return redis;
      } catch (error) {
        if (attempt >= attempts || !isPortTaken(error)) throw error;
      }
    }
  }

  /** redis://127.0.0.1:<port>; the same before and after `restart()`. */
  get url(): string {
    return `redis://${this.host}:${this.currentPort}`;
  }

  get port(): number {
    return this.currentPort;
  }

  /** The container id, for tests that need to act on it with Docker directly. */
  get id(): string {
    return this.container.getId();
  }

  /**
   * `docker restart` the same container: its writable layer and /data volume survive, so
   * Redis reloads its append-only file. Redis gets SIGTERM and up to 10 s to fsync and exit
   * (testcontainers' default is to kill at once; with appendfsync everysec that could lose the
   * last second of writes). The host port is bound explicitly, so `url` and `port` keep their
   * values; they are re-read from Docker anyway and updated should Docker ever remap them.
   * Connected clients see the connection drop; a client with a retry strategy (ioredis's
   * default) reconnects to the same address.
   */
  async restart(): Promise<void> {
    // Through the Docker API rather than testcontainers' restart(), which waits for a log line
    // that, on a busy server, it may never see again after the restart.
    await new Docker().getContainer(this.id).restart({ t: 10 });
    await this.waitForPing();
  }

  /** Freezes the server (`docker pause`): its connections stay open and nothing answers on them. */
  async freeze(): Promise<void> {
    await new Docker().getContainer(this.id).pause();
    this.frozen = true;
  }

  /** Stops the server, keeping its container for `resume()`: its clients find nothing listening. */
  async halt(): Promise<void> {
    await new Docker().getContainer(this.id).stop({ t: 10 });
  }

  /** Starts a halted server again (same port, same data), once it answers PING. */
  async resume(): Promise<void> {
    await new Docker().getContainer(this.id).start();
    await this.waitForPing();
  }

  /** Lets a frozen server (see `freeze()`) answer again. */
  async thaw(): Promise<void> {
    if (this.frozen) await new Docker().getContainer(this.id).unpause();
    this.frozen = false;
  }

  /** Stops and removes the container with its volume (frozen or not). Graceful, like `restart()`. */
  async stop(): Promise<void> {
    await this.thaw();
    await this.container.stop({ timeout: 10_000, remove: true, removeVolumes: true });
  }

  /**
   * The readiness check the clients see: PING through the published port. testcontainers'
   * own port check cannot be used: it dials the Docker bridge gateway (see startContainer).
   */
  private async waitForPing(): Promise<void> {
    const deadline = Date.now() + this.startupTimeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      try {
        if ((await ping(this.host, this.currentPort)) === '+PONG') return;
        lastError = new Error('Redis did not answer +PONG');
      } catch (error) {
        lastError = error;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`Redis at ${this.url} did not answer PING within ${this.startupTimeoutMs} ms`, {
      cause: lastError,
    });
  }
}

/** Starts Redis for a test; see {@link RedisContainer}. Call `stop()` in the test's teardown. */
export function startRedis(options: StartRedisOptions = {}): Promise<RedisContainer> {
  return RedisContainer.start(options);
}

/**
 * testcontainers publishes ports on every address (0.0.0.0) and has no option for a host IP,
 * so the binding is replaced here (hostConfig is protected, meant for subclasses).
 */
class LoopbackRedis extends GenericContainer {
  constructor(image: string, hostPort: number) {
    super(image);
    this.withExposedPorts({ container: REDIS_PORT, host: hostPort });
    this.hostConfig.PortBindings = {
      [`${REDIS_PORT}/tcp`]: [{ HostIp: LOOPBACK, HostPort: String(hostPort) }],
    };
  }
}

async function startContainer(
  image: string,
  hostPort: number,
  startupTimeoutMs: number,
): Promise<StartedTestContainer> {
  const fixtureId = randomUUID();
  try {
    // Log line only: testcontainers' listening-port check dials the host it resolved, and where
    // /.dockerenv exists (this host has one) that is the bridge gateway (172.17.0.1), not
    // loopback, so it would never see a port published on 127.0.0.1.
    return await new LoopbackRedis(image, hostPort)
      .withLabels({ 'org.harombe.fixture': fixtureId })
      .withWaitStrategy(Wait.forLogMessage(READY_LINE))
      .withStartupTimeout(startupTimeoutMs)
      .start();
  } catch (error) {
    await removeLeftover(fixtureId);
    throw error;
  }
}

/** A failed start (port taken, timeout) leaves the created container behind: remove it. */
async function removeLeftover(fixtureId: string): Promise<void> {
  try {
    const client = await getContainerRuntimeClient();
    const { dockerode } = client.container;
    const leftovers = await dockerode.listContainers({
      all: true,
      filters: { label: [`org.harombe.fixture=${fixtureId}`] },
    });
    for (const { Id } of leftovers) await dockerode.getContainer(Id).remove({ force: true, v: true });
  } catch {
    // Best effort: the original error is the one worth reporting.
  }
}

function isPortTaken(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /port is already allocated|address already in use/i.test(message);
}

/** A port free on 127.0.0.1 right now (the kernel picks it; it is released before returning). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not find a free port on 127.0.0.1'));
      });
    });
  });
}

/** One RESP PING over a fresh connection; resolves with the first reply line. */
function ping(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let reply = '';
    const done = (error: Error | null, line?: string): void => {
      socket.destroy();
      if (error) reject(error);
      else resolve(line ?? '');
    };
    socket.setTimeout(2_000, () => done(new Error('PING timed out')));
    socket.once('error', (error) => done(error));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end >= 0) done(null, reply.slice(0, end));
    });
    socket.once('end', () => done(new Error('connection closed before a reply')));
  });
}
