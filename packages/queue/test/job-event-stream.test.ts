import {
  BatchJobEvent,
  JobStatusEvent,
  ManualClock,
  OutputEvent,
  type ExecutionResult,
  type JobTransition,
} from '@harombe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobEventStream, JobOutputWriter, StreamNotifier, type StoredEvent } from '../src/index.js';
import {
  alice,
  approvalIdOf,
  bob,
  connect,
  Harness,
  HIGH_EXECUTE,
  jobRecord,
  RESULT_TTL_SECONDS,
  useRedisContainer,
} from './harness.js';

const redisContainer = useRedisContainer();

const result = (stdout: string): ExecutionResult => ({
  success: true,
  sandbox_id: null,
  sandbox_kept: false,
  stdout,
  stderr: '',
  exit_code: 0,
  execution_time: 0.5,
  error: null,
});

function statusOf(event: StoredEvent): JobStatusEvent {
  expect(event.type).toBe('status');
  return JobStatusEvent.parse(JSON.parse(event.data));
}

const textOf = (events: StoredEvent[], type: 'stdout' | 'stderr'): string =>
  events
    .filter((event) => event.type === type)
    .map((event) => OutputEvent.parse(JSON.parse(event.data)).text)
    .join('');

describe('job event streams', () => {
  let h: Harness;
  let clock: ManualClock;
  let streams: JobEventStream;

  beforeEach(() => {
    clock = new ManualClock();
    h = new Harness(redisContainer.url, { clock });
    streams = new JobEventStream({ redis: h.redis, keys: h.keys });
  });

  afterEach(async () => {
    await h.close();
  });

  it('holds every status change, written in the step that makes it, then the output, then the end with the result', async () => {
    const job = await h.service.submit(alice, HIGH_EXECUTE);
    await h.service.decide(bob, approvalIdOf(job), 'approve', 'fine');
    expect((await h.store.transition(job.job_id, 'start', { worker_id: 'w1' }, clock.now())).outcome).toBe('ok');
    expect(
      await streams.appendOutput(job.job_id, 'w1', [
        { stream: 'stdout', text: 'hello\n' },
        { stream: 'stderr', text: 'warn\n' },
      ]),
    ).toBe(true);
    await h.store.transition(job.job_id, 'complete', { result: result('hello\n'), error: null }, clock.now());

    const events = await streams.readJob(job.job_id, undefined, 100);
    expect(events.map((event) => event.type)).toEqual(['status', 'status', 'status', 'stdout', 'stderr', 'status']);
    const statuses = events.filter((event) => event.type === 'status').map(statusOf);
    expect(statuses.map((event) => [event.transition, event.status])).toEqual([
      ['submit', 'awaiting_approval'],
      ['approve', 'queued'],
      ['start', 'running'],
      ['complete', 'completed'],
    ] satisfies [JobTransition, string][]);
    expect(statuses[0]).toMatchObject({ risk: 'HIGH', approval: { status: 'pending' } });
    expect(statuses[1]).toMatchObject({ approval: { status: 'approved', decided_by: bob.name, reason: 'fine' } });
    expect(statuses[2]).toMatchObject({ worker_id: 'w1' });
    expect(statuses[3]).toMatchObject({ result: result('hello\n'), error: null });
    expect(events.map((event) => event.ended)).toEqual([false, false, false, false, false, true]);
    expect(textOf(events, 'stdout')).toBe('hello\n');

    // Resuming after an event answers exactly those that follow it.
    expect(await streams.readJob(job.job_id, events[2]!.id, 100)).toEqual(events.slice(3));
    expect(await streams.readJob(job.job_id, events[5]!.id, 100)).toEqual([]);
    expect(await streams.readJob(job.job_id, undefined, 2)).toEqual(events.slice(0, 2));
    // The stream expires with the job's result.
    const ttl = await h.ttl(h.keys.jobEventStream(job.job_id));
    expect(ttl).toBeGreaterThan(RESULT_TTL_SECONDS - 60);
    expect(ttl).toBeLessThanOrEqual(RESULT_TTL_SECONDS);
  });

  it('writes no event for a step that is refused', async () => {
    const record = jobRecord(clock, { status: 'queued' });
    await h.store.create(record);
    await h.store.transition(record.job_id, 'cancel', {}, clock.now());
    const before = await streams.readJob(record.job_id, undefined, 100);
    expect((await h.store.transition(record.job_id, 'start', { worker_id: 'w1' }, clock.now())).outcome).toBe(
      'refused',
    );
    expect(await streams.readJob(record.job_id, undefined, 100)).toEqual(before);
  });

  it('appends output only while the job runs on that worker, so its end stays the last event', async () => {
    const record = jobRecord(clock, { status: 'queued' });
    await h.store.create(record);
    const chunk = [{ stream: 'stdout' as const, text: 'x' }];
    expect(await streams.appendOutput(record.job_id, 'w1', chunk)).toBe(false);
    await h.store.transition(record.job_id, 'start', { worker_id: 'w1' }, clock.now());
    expect(await streams.appendOutput(record.job_id, 'w2', chunk)).toBe(false);
    expect(await streams.appendOutput(record.job_id, 'w1', chunk)).toBe(true);
    await h.store.transition(record.job_id, 'cancel', {}, clock.now());
    expect(await streams.appendOutput(record.job_id, 'w1', chunk)).toBe(false);
    const events = await streams.readJob(record.job_id, undefined, 100);
    expect(events.map((event) => event.type)).toEqual(['status', 'status', 'stdout', 'status']);
    expect(events.at(-1)).toMatchObject({ ended: true });
  });

  it("appends a worker's last output with its end step, before the end event, and only that worker's", async () => {
    const record = jobRecord(clock, { status: 'queued' });
    await h.store.create(record);
    await h.store.transition(record.job_id, 'start', { worker_id: 'w1' }, clock.now());
    const last = { worker: 'w2', output: [{ stream: 'stdout' as const, text: 'last\n' }] };
    // A worker the job does not run on (it lost the job, which went on elsewhere) cannot end it.
    const refused = await h.store.transition(record.job_id, 'complete', {}, clock.now(), undefined, last);
    expect(refused).toEqual({ outcome: 'refused', previous: 'running' });
    expect((await streams.readJob(record.job_id, undefined, 100)).map((event) => event.type)).toEqual([
      'status',
      'status',
    ]);
    // Nor can a run of another attempt on the same worker.
    const other = { ...last, worker: 'w1', attempts: 0 };
    expect(await h.store.transition(record.job_id, 'complete', {}, clock.now(), undefined, other)).toEqual({
      outcome: 'refused',
      previous: 'running',
    });
    const ended = await h.store.transition(record.job_id, 'complete', {}, clock.now(), undefined, {
      ...last,
      worker: 'w1',
      attempts: 1,
      output: [...last.output, { stream: 'stderr', text: 'done' }],
    });
    expect(ended.outcome).toBe('ok');
    const events = await streams.readJob(record.job_id, undefined, 100);
    expect(events.map((event) => [event.type, event.ended])).toEqual([
      ['status', false],
      ['status', false],
      ['stdout', false],
      ['stderr', false],
      ['status', true],
    ]);
    expect(events.slice(2, 4).map((event) => OutputEvent.parse(JSON.parse(event.data)).text)).toEqual([
      'last\n',
      'done',
    ]);
  });

  it("holds each end of a batch's jobs with the batch's counts right after it", async () => {
    const batch = await h.service.submitBatch(alice, { jobs: [HIGH_EXECUTE, HIGH_EXECUTE, HIGH_EXECUTE] });
    const [first, second] = await h.store.getMany(batch.job_ids.slice(0, 2));
    await h.service.decide(bob, first!.approval!.approval_id, 'deny', 'no');
    await h.service.cancel(alice, second!.job_id);
    const events = (await streams.readBatch(batch.batch_id, 3, undefined, 100)).map((event) =>
      BatchJobEvent.parse(JSON.parse(event.data)),
    );
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      batch_id: batch.batch_id,
      total: 3,
      job_id: first!.job_id,
      status: 'denied',
      success: false,
      error: { code: 'ApprovalDenied' },
      counts: { awaiting_approval: 2, denied: 1, cancelled: 0, completed: 0 },
    });
    expect(events[1]).toMatchObject({
      job_id: second!.job_id,
      status: 'cancelled',
      counts: { awaiting_approval: 1, denied: 1, cancelled: 1 },
    });
  });
});

describe('JobOutputWriter', () => {
  let h: Harness;
  let streams: JobEventStream;
  let jobId: string;

  beforeEach(async () => {
    h = new Harness(redisContainer.url);
    streams = new JobEventStream({ redis: h.redis, keys: h.keys });
    const record = jobRecord(h.clock, { status: 'queued' });
    await h.store.create(record);
    await h.store.transition(record.job_id, 'start', { worker_id: 'w1' }, h.clock.now());
    jobId = record.job_id;
  });

  afterEach(async () => {
    await h.close();
  });

  const output = async (): Promise<StoredEvent[]> =>
    (await streams.readJob(jobId, undefined, 100_000)).filter((event) => event.type !== 'status');

  it('sends the first write at once, coalesces a burst into a few appends, in order, and finish() hands over the rest', async () => {
    const writer = new JobOutputWriter(streams, jobId, 'w1');
    writer.write('stdout', 'first\n');
    await expect.poll(async () => (await output()).length).toBe(1);
    let expected = 'first\n';
    for (let i = 0; i < 10_000; i += 1) {
      writer.write('stdout', `${i}\n`);
      writer.write('stderr', `-${i}\n`);
      expected += `${i}\n`;
    }
    // The burst came while the first append was in flight: it is all left for the job's end step.
    const rest = await writer.finish();
    expect(new Set(rest.map((chunk) => chunk.stream))).toEqual(new Set(['stdout', 'stderr']));
    writer.write('stdout', 'after the end\n');
    expect(await writer.finish()).toEqual([]);
    expect(await streams.appendOutput(jobId, 'w1', rest)).toBe(true);
    const events = await output();
    expect(events.length).toBeLessThan(20);
    expect(textOf(events, 'stdout')).toBe(expected);
    expect(textOf(events, 'stderr')).toBe(Array.from({ length: 10_000 }, (_, i) => `-${i}\n`).join(''));
  });

  it('cuts large output into events of at most 32,768 code units, never inside a surrogate pair', async () => {
    const writer = new JobOutputWriter(streams, jobId, 'w1');
    const text = `a${'😀'.repeat(50_000)}`;
    writer.write('stdout', text);
    writer.write('stdout', text);
    await streams.appendOutput(jobId, 'w1', await writer.finish());
    const events = await output();
    expect(events.length).toBeGreaterThan(3);
    for (const event of events) {
      const chunk = OutputEvent.parse(JSON.parse(event.data)).text;
      expect(chunk.length).toBeLessThanOrEqual(32_768);
      // A lone surrogate would not survive UTF-8.
      expect(Buffer.from(chunk).toString()).toBe(chunk);
    }
    expect(textOf(events, 'stdout')).toBe(text + text);
  });

  it('drops output once the job no longer runs here', async () => {
    const writer = new JobOutputWriter(streams, jobId, 'w1');
    await h.store.transition(jobId, 'cancel', {}, h.clock.now());
    writer.write('stdout', 'late\n');
    writer.write('stdout', 'later\n');
    expect(await writer.finish()).toEqual([]);
    expect(await output()).toEqual([]);
  });
});

describe('StreamNotifier', () => {
  let h: Harness;
  let notifier: StreamNotifier;

  beforeEach(() => {
    h = new Harness(redisContainer.url);
    notifier = new StreamNotifier(() => connect(redisContainer.url));
  });

  const subscribers = async (channel: string): Promise<number> =>
    Number(((await h.redis.pubsub('NUMSUB', channel)) as string[])[1]);

  afterEach(async () => {
    await notifier.close();
    await h.close();
  });

  it('wakes a watcher when its stream gets an event, and keeps a word that came while it was not waiting', async () => {
    const record = jobRecord(h.clock, { status: 'queued' });
    await h.store.create(record);
    const watch = await notifier.watch(h.keys.jobEventStream(record.job_id));
    expect(await watch.next(50)).toBe(false);
    const woken = watch.next(30_000);
    await h.store.transition(record.job_id, 'start', { worker_id: 'w1' }, h.clock.now());
    expect(await woken).toBe(true);
    // Published while nobody waited: the next wait answers at once.
    await h.store.transition(record.job_id, 'cancel', {}, h.clock.now());
    await expect.poll(() => watch.next(0)).toBe(true);
    // Let go once nobody here watches.
    expect(await subscribers(h.keys.jobEventStream(record.job_id))).toBe(1);
    watch.close();
    await expect.poll(() => subscribers(h.keys.jobEventStream(record.job_id))).toBe(0);
  });
});
