import { randomUUID } from 'node:crypto';
import {
  ManualClock,
  parseConfig,
  type Clock,
  type HarombeConfig,
  type JobView,
  type SubmitJobRequest,
} from '@harombe/core';
import type { Principal } from '@harombe/queue';
import { createJobPipeline, RedisConnections, type JobPipeline } from '@harombe/service-kit';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { expect, vi } from 'vitest';
import { ApprovalService } from '../src/index.js';
import { SlackStandIn, type RecordedCall, type SocketAck } from './slack-stand-in.js';
import { buttonClick, denySubmission, send, signedRequest, type SignedRequest } from './slack-requests.js';

/** Silent; TEST_LOG_LEVEL=debug shows the services' logs (TEST_LOG_FILE=<path> writes them there instead). */
export const silentLogger = process.env.TEST_LOG_FILE
  ? pino(
      { level: process.env.TEST_LOG_LEVEL ?? 'debug' },
      pino.destination({ dest: process.env.TEST_LOG_FILE, sync: true }),
    )
  : pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export const CHANNEL = 'CAPPROVALS';
export const SIGNING_SECRET = 'test-signing-secret';
export const BOT_TOKEN = 'xoxb-test-bot-token';
export const SLACK_ENV = { HAROMBE_SLACK_BOT_TOKEN: BOT_TOKEN, HAROMBE_SLACK_SIGNING_SECRET: SIGNING_SECRET };

/** Submits jobs; its key names its owner's Slack id, U_ALICE, who is also a configured approver. */
export const alice: Principal = { tenant: 'acme', name: 'alice-key', scopes: ['submit'], slack_user_id: 'UALICE' };
/** Decides through the API. */
export const bob: Principal = { tenant: 'acme', name: 'bob-key', scopes: ['approve'], slack_user_id: 'UBOB' };
export const APPROVERS = ['UBOB', 'UCAROL', 'UALICE'];
export const NOT_AN_APPROVER = 'UMALLORY';

/** A HIGH job under the default rules (60 s to decide). */
export const HIGH_JOB: SubmitJobRequest = {
  tool: 'code_execute',
  params: { language: 'python', code: 'print("hello")' },
};

export interface FixtureOptions {
  /** Default: a new ManualClock. */
  clock?: Clock;
  /** Merged over the test configuration's slack section. */
  slack?: Record<string, unknown>;
  /** security.policy rules. */
  rules?: unknown[];
  /** Where the service reads the Slack secrets. Default SLACK_ENV (transport http). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Real Redis, the job pipeline as the API builds it (to submit and to decide through the API),
 * the approval service with Slack over HTTP, and a Slack Web API stand-in on loopback.
 */
export class ApprovalFixture {
  readonly clock: Clock;
  readonly config: HarombeConfig;
  readonly api: JobPipeline;
  service: ApprovalService;
  private readonly apiRedis: RedisConnections;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(
    readonly redisUrl: string,
    readonly standIn: SlackStandIn,
    options: FixtureOptions & { clock: Clock },
  ) {
    this.clock = options.clock;
    this.env = options.env ?? SLACK_ENV;
    this.config = parseConfig({
      redis: { url: redisUrl, prefix: `t${randomUUID().slice(0, 8)}` },
      security: { policy: { rules: options.rules ?? [] } },
      slack: {
        enabled: true,
        transport: 'http',
        channel: CHANNEL,
        approvers: { users: APPROVERS },
        api_url: standIn.apiUrl,
        http: { host: '127.0.0.1', port: 0 },
        ...options.slack,
      },
    });
    this.apiRedis = new RedisConnections(redisUrl, silentLogger);
    this.api = createJobPipeline(this.config, this.apiRedis, silentLogger, this.clock);
    this.service = this.newService();
  }

  static async start(redisUrl: string, options: FixtureOptions = {}): Promise<ApprovalFixture> {
    const clock = options.clock ?? new ManualClock();
    // Slack and the service on one clock: message ts and the service's times compare.
    const standIn = await SlackStandIn.start({ clock });
    const fixture = new ApprovalFixture(redisUrl, standIn, { ...options, clock });
    await fixture.api.events.start();
    await fixture.service.start();
    return fixture;
  }

  get manualClock(): ManualClock {
    if (!(this.clock instanceof ManualClock)) throw new Error('this fixture runs on real time');
    return this.clock;
  }

  /** A command connection to the fixture's Redis. */
  get redis(): Redis {
    return this.apiRedis.commands;
  }

  get eventsUrl(): string {
    const url = this.service.slack?.eventsUrl;
    if (!url) throw new Error('the approval service has no Slack endpoint');
    return url;
  }

  newService(): ApprovalService {
    return new ApprovalService({
      config: this.config,
      logger: silentLogger,
      clock: this.clock,
      intervalMs: 20,
      opsPort: 0,
      env: this.env,
      slack: { pollIntervalMs: 20, reconcileIntervalMs: 600_000, jitter: 0, initialBackoffMs: 1_000, port: 0 },
    });
  }

  /** Stops the approval service and starts a new one on the same Redis and configuration. */
  async restartService(): Promise<void> {
    await this.service.stop();
    this.service = this.newService();
    await this.service.start();
  }

  submit(request: SubmitJobRequest = HIGH_JOB, principal: Principal = alice): Promise<JobView> {
    return this.api.jobs.submit(principal, request);
  }

  /** The request message posted for a job (waits for it). */
  async requestFor(jobId: string): Promise<RecordedCall> {
    return eventually(
      () =>
        this.standIn
          .called('chat.postMessage')
          .find((call) => mentions(call, jobId) && call.body.thread_ts === undefined),
      `a request for ${jobId}`,
    );
  }

  /** Posts a signed click on a button of a message. */
  click(user: string, actionId: string, value: string, messageTs: string): Promise<number> {
    return send(this.eventsUrl, this.signed(buttonClick({ user, actionId, value, channel: CHANNEL, messageTs })));
  }

  submitDenyReason(user: string, privateMetadata: string, reason: string): Promise<number> {
    return send(this.eventsUrl, this.signed(denySubmission({ user, privateMetadata, reason })));
  }

  /** A click on a message button over Socket Mode: resolves with the app's ack. */
  clickOverSocket(user: string, actionId: string, value: string, messageTs: string): Promise<SocketAck> {
    return this.standIn.interactive(buttonClick({ user, actionId, value, channel: CHANNEL, messageTs }));
  }

  /** The deny modal submitted over Socket Mode: resolves with the app's ack. */
  submitDenyReasonOverSocket(user: string, privateMetadata: string, reason: string): Promise<SocketAck> {
    return this.standIn.interactive(denySubmission({ user, privateMetadata, reason }));
  }

  signed(payload: unknown, options: { timestampSeconds?: number; signature?: string } = {}): SignedRequest {
    return signedRequest(SIGNING_SECRET, payload, options);
  }

  /** Updates of the message with this ts. */
  updatesOf(ts: string): RecordedCall[] {
    return this.standIn.called('chat.update').filter((call) => call.body.ts === ts);
  }

  /** Waits for the job to be approved by `user` through Slack and for its message to say so; returns that update. */
  async expectApprovedInSlack(jobId: string, user: string, ts: string): Promise<RecordedCall> {
    const stored = await eventually(async () => {
      const current = await this.api.store.get(jobId);
      return current?.status === 'queued' ? current : undefined;
    }, 'the job to be approved');
    expect(stored.approval).toMatchObject({ status: 'approved', decided_by: `slack:${user}`, channel: 'slack' });
    const update = await eventually(() => this.updatesOf(ts)[0], 'the message update');
    expect(update.body.channel).toBe(CHANNEL);
    expect(blocksText(update)).toContain(`*Approved* by <@${user}> at <!date^`);
    expect(buttonsOf(update)).toEqual([]);
    return update;
  }

  /** Once Slack is settled: the job still waits for a person, and its message was left alone. */
  async expectUndecided(jobId: string, ts: string): Promise<void> {
    await this.settled();
    expect((await this.api.store.get(jobId))?.status).toBe('awaiting_approval');
    expect(this.updatesOf(ts)).toEqual([]);
  }

  ephemeralsTo(user: string): RecordedCall[] {
    return this.standIn.called('chat.postEphemeral').filter((call) => call.body.user === user);
  }

  /** Until no delivery is due or being run, then once more after a reconciliation: nothing is left to send. */
  async settled(): Promise<void> {
    const slack = this.service.slack;
    if (!slack) return;
    const idle = async (): Promise<boolean> => {
      const redis = this.apiRedis.commands;
      const tag = this.api.keys.tag;
      const due = await redis.zcount(`${tag}:slack:outbox`, '-inf', this.clock.now());
      return due === 0 && (await redis.hlen(`${tag}:slack:outbox:leases`)) === 0;
    };
    await eventually(idle, 'the Slack outbox to be idle');
    await slack.announcer.reconcile();
    await slack.announcer.drain();
    await eventually(idle, 'the Slack outbox to be idle after a reconciliation');
  }

  async close(): Promise<void> {
    await this.service.stop();
    await this.api.close();
    await this.apiRedis.close();
    await this.standIn.stop();
  }
}

/** Whether a recorded message (its text or blocks) mentions `text`. */
export function mentions(call: RecordedCall, text: string): boolean {
  return JSON.stringify(call.body).includes(text);
}

/** The value of `probe` once it is truthy (vi.waitFor); fails after `timeoutMs` naming what it waited for. */
export async function eventually<T>(
  probe: () => T | Promise<T>,
  what: string,
  timeoutMs = 15_000,
): Promise<NonNullable<T>> {
  return vi.waitFor(
    async () => {
      const value = await probe();
      if (!value) throw new Error(`timed out waiting for ${what}`);
      return value;
    },
    { timeout: timeoutMs, interval: 20 },
  );
}

/** The blocks of a recorded message, as JSON text, for looking into. */
export function blocksText(call: RecordedCall): string {
  return JSON.stringify(call.body.blocks ?? []);
}

/** The action ids of the buttons in a recorded message. */
export function buttonsOf(call: RecordedCall): string[] {
  const blocks = (call.body.blocks ?? []) as { type: string; elements?: { action_id?: string }[] }[];
  return blocks
    .filter((block) => block.type === 'actions')
    .flatMap((block) => (block.elements ?? []).map((element) => element.action_id ?? ''));
}
