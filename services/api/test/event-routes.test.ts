import { randomUUID } from 'node:crypto';
import { connect as connectTcp } from 'node:net';
import { HarombeClient, SseParser, type JobStreamEvent, type SseMessage } from '@harombe/client';
import {
  BatchCountsEvent,
  BatchJobEvent,
  ErrorBody,
  finishedCount,
  JobStatusEvent,
  OutputEvent,
  parseConfig,
  type ApiKeyConfig,
  type ExecutionResult,
} from '@harombe/core';
import { JobEventStream, JobOutputWriter, type Principal } from '@harombe/queue';
import { createJobPipeline, RedisConnections, type JobPipeline } from '@harombe/service-kit';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { EventSource } from 'eventsource';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyring, buildApiServer, sha256Hex, type ApiServer, type ApiServerOptions } from '../src/index.js';

const logger = pino({ level: 'silent' });
const ALICE = 'hk_alice-submits-for-acme';
const BOB = 'hk_bob-approves-for-acme';
const EVE = 'hk_eve-submits-for-globex';
const keyConfigs: ApiKeyConfig[] = [
  { name: 'alice', tenant: 'acme', scopes: ['submit'], key_sha256: sha256Hex(ALICE) },
  { name: 'bob', tenant: 'acme', scopes: ['approve'], key_sha256: sha256Hex(BOB) },
  { name: 'eve', tenant: 'globex', scopes: ['submit'], key_sha256: sha256Hex(EVE) },
];
const bob: Principal = { tenant: 'acme', name: 'bob', scopes: ['approve'] };
const EXECUTE = { tool: 'code_execute', params: { language: 'python', code: 'print(1)' } };

let container: RedisContainer;
let prefix: string;

beforeAll(async () => {
  container = await startRedis();
});
afterAll(async () => {
  await container?.stop();
});

/** One API process over the shared Redis: its own connections, pipeline and HTTP server. */
class Instance {
  readonly metrics = new Registry();
  url = '';
  app!: ApiServer;
  readonly redis = new RedisConnections(container.url, logger);
  readonly pipeline: JobPipeline = createJobPipeline(
    parseConfig({ redis: { url: container.url, prefix } }),
    this.redis,
    logger,
  );

  async start(events: Partial<NonNullable<ApiServerOptions['events']>> = {}): Promise<this> {
    const { pipeline } = this;
    this.app = await buildApiServer({
      service: pipeline.jobs,
      store: pipeline.store,
      batches: pipeline.batches,
      sandboxes: pipeline.sandboxes,
      workers: pipeline.workers,
      keyring: new ApiKeyring(keyConfigs),
      metrics: this.metrics,
      readiness: {},
      clock: pipeline.clock,
      logger,
      events: { stream: pipeline.eventStream, notifier: pipeline.notifier, ...events },
    });
    await this.app.listen({ host: '127.0.0.1', port: 0 });
    const address = this.app.server.address() as { port: number };
    this.url = `http://127.0.0.1:${address.port}`;
    return this;
  }

  async stop(): Promise<void> {
    await this.app?.close();
    await this.pipeline.close();
    await this.redis.close();
  }

  async post(path: string, body: unknown, key = ALICE): Promise<Response> {
    return fetch(`${this.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  /** A submitted job, approved and taken by worker w1: running. */
  async runningJob(): Promise<string> {
    const job = (await (await this.post('/v1/jobs', EXECUTE)).json()) as {
      job_id: string;
      approval: { approval_id: string };
    };
    await this.pipeline.jobs.decide(bob, job.approval.approval_id, 'approve', null);
    await this.pipeline.store.transition(job.job_id, 'start', { worker_id: 'w1' }, Date.now());
    return job.job_id;
  }

  /** Completes a job as its worker (w1) would, with the output its writer had left. */
  async complete(jobId: string, stdout: string, output?: JobOutputWriter): Promise<void> {
    const patch = { result: result(stdout), error: null };
    const by = output ? { worker: 'w1', output: await output.finish() } : undefined;
    await this.pipeline.store.transition(jobId, 'complete', patch, Date.now(), undefined, by);
  }

  async closedStreams(reason: string): Promise<number> {
    const metric = await this.metrics.getSingleMetric('harombe_api_event_streams_closed_total')?.get();
    return metric?.values.find((value) => value.labels.reason === reason)?.value ?? 0;
  }
}

function result(stdout: string): ExecutionResult {
  return {
    success: true,
    sandbox_id: null,
    sandbox_kept: false,
    stdout,
    stderr: '',
    exit_code: 0,
    execution_time: 1,
    error: null,
  };
}

/**
 * The eventsource library, authenticated; each (re)connection goes to the next of `urls` (the
 * last repeats). `firstBody` may stand between the first answer's body and the library.
 */
function eventSource(
  urls: string[],
  key = ALICE,
  firstBody?: (body: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>,
): { source: EventSource; messages: SseMessage[]; errors: number[] } {
  let connection = 0;
  const messages: SseMessage[] = [];
  const errors: number[] = [];
  const source = new EventSource(urls[0] as string, {
    fetch: async (_input, init) => {
      const url = urls[Math.min(connection, urls.length - 1)] as string;
      connection += 1;
      const response = await fetch(url, { ...init, headers: { ...init?.headers, authorization: `Bearer ${key}` } });
      if (connection > 1 || !firstBody || !response.body) return response;
      return new Response(firstBody(response.body), { status: response.status, headers: response.headers });
    },
  });
  for (const type of ['status', 'stdout', 'stderr', 'job', 'counts'])
    source.addEventListener(type, (event) =>
      messages.push({ event: type, data: event.data as string, id: event.lastEventId || undefined }),
    );
  source.addEventListener('error', (event) => errors.push((event as unknown as { code?: number }).code ?? 0));
  return { source, messages, errors };
}

const stdoutOf = (messages: readonly SseMessage[]): string =>
  messages
    .filter((message) => message.event === 'stdout')
    .map((message) => OutputEvent.parse(JSON.parse(message.data)).text)
    .join('');

const statusesOf = (messages: readonly SseMessage[]): JobStatusEvent[] =>
  messages
    .filter((message) => message.event === 'status')
    .map((message) => JobStatusEvent.parse(JSON.parse(message.data)));

/** Ids in stream order, each once. */
function expectStrictlyIncreasing(ids: readonly (string | undefined)[]): void {
  const numbers = ids.map((id) => id!.split('-').map(BigInt) as [bigint, bigint]);
  for (let i = 1; i < numbers.length; i += 1) {
    const [a, b] = [numbers[i - 1]!, numbers[i]!];
    expect(b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]), `${ids[i - 1]} then ${ids[i]}`).toBe(true);
  }
}

const instances: Instance[] = [];
/** An API instance over this test's prefix, stopped after the test. */
async function start(events: Partial<NonNullable<ApiServerOptions['events']>> = {}): Promise<Instance> {
  const instance = await new Instance().start(events);
  instances.push(instance);
  return instance;
}
beforeEach(() => {
  prefix = `t${randomUUID().slice(0, 8)}`;
});
afterEach(async () => {
  await Promise.all(instances.splice(0).map((instance) => instance.stop()));
});

describe('GET /v1/jobs/{job_id}/events', () => {
  it('streams a job’s life to the eventsource library: approval, decision, running, output as written, the end with the result; then 204', async () => {
    const api = await start();
    const job = (await (await api.post('/v1/jobs', EXECUTE)).json()) as {
      job_id: string;
      approval: { approval_id: string };
    };
    const { source, messages, errors } = eventSource([`${api.url}/v1/jobs/${job.job_id}/events`]);
    try {
      await expect.poll(() => statusesOf(messages).map((event) => event.status)).toEqual(['awaiting_approval']);
      expect(statusesOf(messages)[0]).toMatchObject({
        transition: 'submit',
        risk: 'HIGH',
        approval: { status: 'pending' },
      });
      await api.pipeline.jobs.decide(bob, job.approval.approval_id, 'approve', 'go');
      await api.pipeline.store.transition(job.job_id, 'start', { worker_id: 'w1' }, Date.now());
      await expect
        .poll(() => statusesOf(messages).map((event) => event.status))
        .toEqual(['awaiting_approval', 'queued', 'running']);
      const output = new JobOutputWriter(api.pipeline.eventStream, job.job_id, 'w1');
      output.write('stdout', 'first line\n');
      // The line arrives while the program runs: before any end.
      await expect.poll(() => stdoutOf(messages)).toBe('first line\n');
      output.write('stdout', 'second line\n');
      output.write('stderr', 'a warning\n');
      await api.complete(job.job_id, 'first line\nsecond line\n', output);
      await expect.poll(() => errors, { timeout: 10_000 }).toContain(204);
      expect(source.readyState).toBe(source.CLOSED);

      const statuses = statusesOf(messages);
      expect(statuses.map((event) => [event.transition, event.status])).toEqual([
        ['submit', 'awaiting_approval'],
        ['approve', 'queued'],
        ['start', 'running'],
        ['complete', 'completed'],
      ]);
      expect(statuses[1]).toMatchObject({ approval: { status: 'approved', decided_by: 'bob', reason: 'go' } });
      expect(statuses[3]).toMatchObject({ result: result('first line\nsecond line\n'), error: null });
      expect(stdoutOf(messages)).toBe('first line\nsecond line\n');
      expect(
        messages
          .filter((message) => message.event === 'stderr')
          .map((m) => (JSON.parse(m.data) as { text: string }).text),
      ).toEqual(['a warning\n']);
      expectStrictlyIncreasing(messages.map((message) => message.id));
    } finally {
      source.close();
    }
  });

  it('resumes a dropped connection on another API instance with nothing lost or repeated: the eventsource library and our client', async () => {
    const [a, b] = [await start(), await start()];
    for (const reader of ['eventsource', 'client'] as const) {
      const jobId = await a.runningJob();
      // The first connection goes to instance a, every reconnection to b.
      const urls = [a.url, b.url].map((url) => `${url}/v1/jobs/${jobId}/events`);
      const { messages, done } = reader === 'eventsource' ? readWithEventSource(urls) : readWithClient(urls);
      const output = new JobOutputWriter(b.pipeline.eventStream, jobId, 'w1', { intervalMs: 0 });
      let expected = '';
      const write = async (from: number, to: number) => {
        for (let i = from; i < to; i += 1) {
          output.write('stdout', `line ${i}\n`);
          expected += `line ${i}\n`;
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      await write(0, 300);
      await expect.poll(() => stdoutOf(messages).length).toBeGreaterThan(0);
      a.app.server.closeAllConnections();
      await write(300, 600);
      await b.complete(jobId, expected, output);
      await done;
      expect(stdoutOf(messages), reader).toBe(expected);
      expect(
        statusesOf(messages).map((event) => event.status),
        reader,
      ).toEqual(['awaiting_approval', 'queued', 'running', 'completed']);
      expectStrictlyIncreasing(messages.map((message) => message.id));
    }
  });
});

/** Reads with the eventsource library until the job's end; each (re)connection to the next of `urls`. */
function readWithEventSource(urls: string[]): { messages: SseMessage[]; done: Promise<void> } {
  const { source, messages } = eventSource(urls);
  const done = (async () => {
    try {
      await expect.poll(() => statusesOf(messages).at(-1)?.status, { timeout: 30_000 }).toBe('completed');
    } finally {
      source.close();
    }
  })();
  return { messages, done };
}

/** Reads with HarombeClient.streamJob until the job's end; each (re)connection to the next of `urls`. */
function readWithClient(urls: string[]): { messages: SseMessage[]; done: Promise<void> } {
  let connection = 0;
  const client = new HarombeClient({
    baseUrl: new URL(urls[0] as string).origin,
    apiKey: ALICE,
    fetch: (_input, init) => fetch(urls[Math.min(connection++, urls.length - 1)] as string, init),
  });
  const messages: SseMessage[] = [];
  const jobId = (urls[0] as string).split('/').at(-2) as string;
  const done = (async () => {
    for await (const event of client.streamJob(jobId))
      messages.push({ id: event.id, event: event.type, data: JSON.stringify(event.data) });
  })();
  return { messages, done };
}

/** What a raw HTTP/1.0 client received: the answer's head and its body as text (no chunked framing in 1.0). */
function rawBody(received: Buffer): string {
  const text = received.toString('utf8');
  const head = text.indexOf('\r\n\r\n');
  return head < 0 ? '' : text.slice(head + 4);
}

describe('bounded streaming', () => {
  it('reads a page at a time as the client takes them; a client that stops reading is disconnected, and resumes', async () => {
    const api = await start({ stallMs: 500, pageSize: 4 });
    const jobId = await api.runningJob();
    // 32 MiB of output waiting in the stream.
    const chunk = 'x'.repeat(32_768);
    for (let i = 0; i < 16; i += 1)
      await api.pipeline.eventStream.appendOutput(
        jobId,
        'w1',
        Array.from({ length: 64 }, () => ({ stream: 'stdout' as const, text: chunk })),
      );
    await api.complete(jobId, 'done');
    let read = 0;
    const counting = Object.create(api.pipeline.eventStream) as JobEventStream;
    counting.readJob = async (...args) => {
      const events = await api.pipeline.eventStream.readJob(...args);
      for (const event of events) read += event.data.length;
      return events;
    };
    // A second instance over the same streams whose reads are counted.
    const slow = await start({ stallMs: 500, pageSize: 4, stream: counting });

    const socket = connectTcp(Number(new URL(slow.url).port), '127.0.0.1');
    const received: Buffer[] = [];
    // Takes the first bytes, then nothing.
    socket.once('data', (data: Buffer) => {
      received.push(data);
      socket.pause();
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.write(
      `GET /v1/jobs/${jobId}/events HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ALICE}\r\nAccept: text/event-stream\r\n\r\n`,
    );
    await expect.poll(() => slow.closedStreams('stalled'), { timeout: 20_000 }).toBe(1);
    // What it cost while stalled: what the socket's buffers hold, never the 32 MiB waiting.
    expect(read).toBeLessThan(16 * 1_048_576);
    socket.resume();
    socket.on('data', (data: Buffer) => received.push(data));
    await closed;

    // Resuming after the last whole event received brings the rest, nothing twice.
    const first = new SseParser().push(rawBody(Buffer.concat(received)));
    expect(first.length).toBeGreaterThan(0);
    const client = new HarombeClient({ baseUrl: api.url, apiKey: ALICE });
    const rest: JobStreamEvent[] = [];
    for await (const event of client.streamJob(jobId, { lastEventId: first.at(-1)!.id! })) rest.push(event);
    const text = stdoutOf(first) + rest.map((event) => (event.type === 'stdout' ? event.data.text : '')).join('');
    expect(text).toBe(chunk.repeat(16 * 64));
    expect(rest.at(-1)).toMatchObject({ type: 'status', data: { status: 'completed' } });
    expectStrictlyIncreasing([...first.map((event) => event.id), ...rest.map((event) => event.id)]);
  });

  it('a consumer that stops reading is cut off once its socket is full, and resumes with nothing lost or repeated: our client and the eventsource library', async () => {
    const api = await start({ stallMs: 500, pageSize: 4 });
    const chunk = 'z'.repeat(32_768);
    for (const reader of ['client', 'eventsource'] as const) {
      const jobId = await api.runningJob();
      // 16 MiB waiting: more than the socket buffers between them hold.
      for (let i = 0; i < 8; i += 1)
        await api.pipeline.eventStream.appendOutput(
          jobId,
          'w1',
          Array.from({ length: 64 }, () => ({ stream: 'stdout' as const, text: chunk })),
        );
      await api.complete(jobId, 'done');
      const stalled = await api.closedStreams('stalled');
      const url = `${api.url}/v1/jobs/${jobId}/events`;
      let messages: SseMessage[];
      if (reader === 'client') {
        const client = new HarombeClient({ baseUrl: api.url, apiKey: ALICE });
        const events = client.streamJob(jobId)[Symbol.asyncIterator]();
        const first = await events.next();
        // The consumer takes nothing more for now.
        await expect.poll(() => api.closedStreams('stalled'), { timeout: 20_000 }).toBe(stalled + 1);
        const taken: JobStreamEvent[] = [first.value as JobStreamEvent];
        for (let next = await events.next(); !next.done; next = await events.next()) taken.push(next.value);
        messages = taken.map((event) => ({ id: event.id, event: event.type, data: JSON.stringify(event.data) }));
      } else {
        // The library's reader is held back after the first piece, until the server has cut it off.
        let release = (): void => undefined;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let pieces = 0;
        const held = (body: ReadableStream<Uint8Array>) =>
          body.pipeThrough(
            new TransformStream<Uint8Array, Uint8Array>(
              {
                async transform(piece, controller) {
                  pieces += 1;
                  if (pieces > 1) await gate;
                  controller.enqueue(piece);
                },
              },
              { highWaterMark: 1 },
              { highWaterMark: 1 },
            ),
          );
        const library = eventSource([url], ALICE, held);
        try {
          await expect.poll(() => api.closedStreams('stalled'), { timeout: 20_000 }).toBe(stalled + 1);
          release();
          await expect.poll(() => library.errors, { timeout: 30_000 }).toContain(204);
        } finally {
          library.source.close();
        }
        messages = library.messages;
      }
      expect(stdoutOf(messages) === chunk.repeat(8 * 64), reader).toBe(true);
      expect(statusesOf(messages).map((event) => event.status)).toEqual([
        'awaiting_approval',
        'queued',
        'running',
        'completed',
      ]);
      expectStrictlyIncreasing(messages.map((message) => message.id));
    }
  });

  it('sends heartbeat comments while nothing happens', async () => {
    const api = await start({ heartbeatMs: 100 });
    const job = (await (await api.post('/v1/jobs', EXECUTE)).json()) as { job_id: string };
    const controller = new AbortController();
    const response = await fetch(`${api.url}/v1/jobs/${job.job_id}/events`, {
      headers: { authorization: `Bearer ${ALICE}` },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (text.split(': heartbeat\n\n').length < 4) text += (await reader.read()).value ?? '';
    await reader.cancel();
    controller.abort();
    expect(text).toMatch(
      /^retry: 1000\n\nid: \d+-\d+\nevent: status\ndata: \{.*"awaiting_approval".*\}\n\n: heartbeat\n\n/,
    );
    await expect.poll(() => api.closedStreams('left')).toBe(1);
  });
});

describe('who may read events', () => {
  it('replays a job that has ended and closes; 404 for another tenant or no such job, 400 for a bad Last-Event-ID, 401 without a key', async () => {
    const api = await start();
    const jobId = await api.runningJob();
    await api.complete(jobId, 'out\n');
    const get = (path: string, headers: Record<string, string> = {}, key = ALICE) =>
      fetch(`${api.url}${path}`, { headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });

    const replay = await get(`/v1/jobs/${jobId}/events`);
    const messages = new SseParser().push(await replay.text());
    expect(statusesOf(messages).map((event) => event.status)).toEqual([
      'awaiting_approval',
      'queued',
      'running',
      'completed',
    ]);
    expect(statusesOf(messages).at(-1)?.result).toEqual(result('out\n'));
    const after = await get(`/v1/jobs/${jobId}/events`, { 'last-event-id': messages[1]!.id! });
    expect(new SseParser().push(await after.text()).map((m) => m.id)).toEqual(messages.slice(2).map((m) => m.id));
    expect((await get(`/v1/jobs/${jobId}/events`, { 'last-event-id': messages.at(-1)!.id! })).status).toBe(204);

    // Another tenant's job answers exactly as the job itself does for that tenant, and as a missing one.
    const other = await get(`/v1/jobs/${jobId}/events`, {}, EVE);
    expect(other.status).toBe(404);
    const otherBody = ErrorBody.parse(await other.json());
    expect(otherBody.error.code).toBe('NotFound');
    expect(otherBody).toEqual(await (await get(`/v1/jobs/${jobId}`, {}, EVE)).json());
    const missingId = `job-${'f'.repeat(24)}`;
    const missing = ErrorBody.parse(await (await get(`/v1/jobs/${missingId}/events`)).json());
    expect(missing.error.message.replace(missingId, jobId)).toBe(otherBody.error.message);
    expect((await get(`/v1/jobs/job-${'0'.repeat(24)}/events`)).status).toBe(404);
    const bad = await get(`/v1/jobs/${jobId}/events`, { 'last-event-id': 'yesterday' });
    expect(bad.status).toBe(400);
    expect(ErrorBody.parse(await bad.json()).error).toMatchObject({ code: 'InvalidArgument' });
    expect((await get(`/v1/jobs/${jobId}/events`, {}, '')).status).toBe(401);

    const batch = (await (await api.post('/v1/batches', { jobs: [EXECUTE] })).json()) as { batch_id: string };
    const otherBatch = await get(`/v1/batches/${batch.batch_id}/events`, {}, EVE);
    expect(otherBatch.status).toBe(404);
    expect(await otherBatch.json()).toEqual(await (await get(`/v1/batches/${batch.batch_id}`, {}, EVE)).json());
  });
});

describe('the OpenAPI document', () => {
  it('describes both event routes: text/event-stream, Last-Event-ID, 204 once all was received, the errors', async () => {
    const api = await start();
    const document = (await (await fetch(`${api.url}/openapi.json`)).json()) as {
      paths: Record<
        string,
        {
          get?: {
            parameters?: { name: string; in: string }[];
            responses: Record<string, { content?: Record<string, unknown> }>;
          };
        }
      >;
    };
    for (const path of ['/v1/jobs/{job_id}/events', '/v1/batches/{batch_id}/events']) {
      const get = document.paths[path]?.get;
      expect(get, path).toBeDefined();
      expect(Object.keys(get!.responses[200]!.content ?? {})).toEqual(['text/event-stream']);
      expect(Object.keys(get!.responses).sort()).toEqual(['200', '204', '400', '401', '403', '404']);
      expect(get!.parameters?.map((p) => `${p.in}:${p.name}`)).toEqual(
        expect.arrayContaining(['header:last-event-id', `path:${path.includes('jobs') ? 'job_id' : 'batch_id'}`]),
      );
    }
  });
});

describe('GET /v1/batches/{batch_id}/events', () => {
  it('tells each job’s end with the counts, and the counts as they change, then closes: the eventsource library and our client', async () => {
    const api = await start();
    const created = (await (await api.post('/v1/batches', { jobs: [EXECUTE, EXECUTE, EXECUTE] })).json()) as {
      batch_id: string;
      job_ids: string[];
    };
    const url = `${api.url}/v1/batches/${created.batch_id}/events`;
    const { source, messages, errors } = eventSource([url]);
    const client = new HarombeClient({ baseUrl: api.url, apiKey: ALICE });
    const fromClient: unknown[] = [];
    const clientDone = (async () => {
      for await (const event of client.streamBatch(created.batch_id)) fromClient.push(event);
    })();
    try {
      const countsOf = () =>
        messages.filter((m) => m.event === 'counts').map((m) => BatchCountsEvent.parse(JSON.parse(m.data)).counts);
      await expect.poll(() => countsOf().at(-1)?.awaiting_approval).toBe(3);
      const jobs = await api.pipeline.store.getMany(created.job_ids);
      await api.pipeline.jobs.decide(bob, jobs[0]!.approval!.approval_id, 'deny', 'no');
      await api.pipeline.jobs.decide(bob, jobs[1]!.approval!.approval_id, 'approve', null);
      // Counts that change without an end come as a counts event.
      await expect.poll(() => countsOf().at(-1)?.queued).toBe(1);
      await api.pipeline.store.transition(jobs[1]!.job_id, 'start', { worker_id: 'w1' }, Date.now());
      await api.complete(jobs[1]!.job_id, 'ok');
      await api.pipeline.jobs.decide(bob, jobs[2]!.approval!.approval_id, 'deny', null);
      await expect.poll(() => errors, { timeout: 10_000 }).toContain(204);
      await clientDone;

      const ends = messages.filter((m) => m.event === 'job').map((m) => BatchJobEvent.parse(JSON.parse(m.data)));
      expect(ends.map((end) => [end.job_id, end.status, end.success])).toEqual([
        [jobs[0]!.job_id, 'denied', false],
        [jobs[1]!.job_id, 'completed', true],
        [jobs[2]!.job_id, 'denied', false],
      ]);
      expect(ends.at(-1)).toMatchObject({ total: 3, counts: { denied: 2, completed: 1, awaiting_approval: 0 } });
      // The final counts come with the last end: a counts event never runs ahead of an end.
      expect(countsOf().filter((counts) => finishedCount(counts) >= 3)).toEqual([]);
      expect(fromClient.filter((event) => (event as { type: string }).type === 'job')).toHaveLength(3);
      expect(fromClient.at(-1)).toMatchObject({ type: 'job', data: { counts: { denied: 2, completed: 1 } } });
    } finally {
      source.close();
    }
  });
});
