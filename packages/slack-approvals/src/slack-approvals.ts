import {
  resolveSlackSecrets,
  systemClock,
  type Clock,
  type HarombeConfig,
  type SlackConfig,
  type SlackSecrets,
} from '@harombe/core';
import type { BatchStore, JobEvents, JobService, JobStore, RedisKeys } from '@harombe/queue';
import {
  App,
  HTTPReceiver,
  SocketModeReceiver,
  webApi,
  type BlockAction,
  type ButtonAction,
  type ViewSubmitAction,
} from '@slack/bolt';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ApprovalAnnouncer, type DeliveryObserver } from './approval-announcer.js';
import { BoltLogger } from './bolt-logger.js';
import { SlackApprovers } from './slack-approvers.js';
import { SlackDecisions, type DecisionOutcome } from './slack-decisions.js';
import { SlackHttpServer } from './slack-http-server.js';
import { SlackKeys } from './slack-keys.js';
import { SlackMessageRefs } from './slack-message-refs.js';
import {
  ACTIONS,
  DENY_VIEW,
  denyReasonModal,
  fullCodeModal,
  REASON_BLOCK,
  REASON_INPUT,
  type DenyTarget,
} from './slack-messages.js';
import { SlackOutbox } from './slack-outbox.js';
import { SlackReplayGuard } from './slack-replay-guard.js';

/** Timings of the Slack side; the defaults suit production, tests shorten them. */
export interface SlackTuning {
  /** Milliseconds between looks at the outbox. Default 250. */
  pollIntervalMs?: number;
  /** Milliseconds between reconciliations with the job store. Default 15 000. */
  reconcileIntervalMs?: number;
  /** First retry delay after a failed delivery, ms (doubling). Default 1 000. */
  initialBackoffMs?: number;
  /** Longest retry delay, ms. Default 300 000. */
  maxBackoffMs?: number;
  /** Random spread of retry delays (0.2: ±20 %). Default 0.2. */
  jitter?: number;
  /** How long a claimed delivery is held before another instance may take it over, ms. Default 60 000. */
  leaseMs?: number;
  /** Port of the HTTP endpoint, instead of slack.http.port (0: a free one). */
  port?: number;
}

export interface SlackApprovalsOptions {
  config: SlackConfig;
  secrets: SlackSecrets;
  jobs: JobService;
  store: JobStore;
  batches: BatchStore;
  events: JobEvents;
  keys: RedisKeys;
  /** A command connection. */
  redis: Redis;
  /** The jobs' clock (deadlines, reminders, retries). Default: the system clock. */
  clock?: Clock;
  logger: Logger;
  /** How long finished jobs are kept, s: message references are kept a day longer. */
  resultTtlSeconds: number;
  observer?: DeliveryObserver;
  tuning?: SlackTuning;
}

/**
 * Approvals in Slack, with @slack/bolt: the approval requests and their updates (through the
 * announcer and its outbox), and the buttons and modals people use to decide. Over HTTP (Slack
 * posts signed requests to `slack.http.path`) or Socket Mode.
 */
export class SlackApprovals {
  readonly outbox: SlackOutbox;
  readonly refs: SlackMessageRefs;
  readonly announcer: ApprovalAnnouncer;
  readonly decisions: SlackDecisions;
  private readonly app: App;
  private readonly http: SlackHttpServer | undefined;
  private readonly channel: string;
  /** Socket Mode: the connection attempts running in the background, until stop(). */
  private socket: { stopped: boolean; timer?: NodeJS.Timeout } | undefined;

  constructor(private readonly options: SlackApprovalsOptions) {
    const { config, secrets, logger, redis, tuning = {} } = options;
    const clock = options.clock ?? systemClock;
    const log = logger.child({ component: 'slack' });
    const boltLogger = new BoltLogger(log);
    this.channel = config.channel as string;
    // Deliveries retry through the outbox, so the client itself never waits and retries; a call
    // unanswered after request_timeout_ms fails (a lost post is looked up before it is retried).
    const clientOptions: webApi.WebClientOptions = {
      slackApiUrl: apiUrl(config.api_url),
      retryConfig: { retries: 0 },
      timeout: config.request_timeout_ms,
      rejectRateLimitedCalls: true,
      logger: boltLogger,
    };
    const client = new webApi.WebClient(secrets.botToken, clientOptions);
    const keys = new SlackKeys(options.keys);
    this.outbox = new SlackOutbox({
      redis,
      keys,
      clock,
      ...pick(tuning, ['leaseMs', 'initialBackoffMs', 'maxBackoffMs', 'jitter']),
    });
    this.refs = new SlackMessageRefs(redis, keys, options.resultTtlSeconds + 86_400);
    const approvers = new SlackApprovers({
      users: config.approvers.users,
      usergroup: config.approvers.usergroup,
      client,
      clock,
    });
    this.decisions = new SlackDecisions({
      jobs: options.jobs,
      store: options.store,
      batches: options.batches,
      approvers,
      clock,
      logger: log,
    });
    this.announcer = new ApprovalAnnouncer({
      client,
      channel: this.channel,
      store: options.store,
      batches: options.batches,
      events: options.events,
      keys: options.keys,
      redis,
      outbox: this.outbox,
      refs: this.refs,
      approvers,
      clock,
      logger: log,
      preview: { previewLines: config.code_preview_lines, previewChars: config.code_preview_chars },
      reminders: config.reminder,
      ...(options.observer ? { observer: options.observer } : {}),
      ...pick(tuning, ['pollIntervalMs', 'reconcileIntervalMs']),
    });

    let receiver: HTTPReceiver | SocketModeReceiver;
    if (config.transport === 'http') {
      const http = new HTTPReceiver({
        signingSecret: secrets.signingSecret as string,
        endpoints: [config.http.path],
        logger: boltLogger,
        processBeforeResponse: false,
      });
      receiver = http;
      this.http = new SlackHttpServer({
        receiver: http,
        signingSecret: secrets.signingSecret as string,
        replayGuard: new SlackReplayGuard(redis, keys),
        logger: log,
        host: config.http.host,
        port: tuning.port ?? config.http.port,
        path: config.http.path,
      });
    } else {
      const socketClientOptions = { slackApiUrl: clientOptions.slackApiUrl, timeout: config.request_timeout_ms };
      receiver = new SocketModeReceiver({
        appToken: secrets.appToken as string,
        logger: boltLogger,
        installerOptions: { clientOptions: socketClientOptions },
      });
    }
    // One workspace, one bot token: no auth.test round trip on each request, nor at start (Slack may be down).
    const botToken = secrets.botToken;
    this.app = new App({
      receiver,
      authorize: async () => ({ botToken }),
      clientOptions,
      logger: boltLogger,
      ignoreSelf: false,
    });
    this.app.error(async (error) => {
      log.error({ err: error }, 'slack interaction failed');
    });
    this.registerHandlers();
  }

  /**
   * For the approval service: Slack over its job pipeline, with the secrets read from `env`
   * (default process.env). Throws InvalidArgument naming the configuration key when one is missing.
   */
  static forPipeline(
    config: HarombeConfig,
    pipeline: {
      jobs: JobService;
      store: JobStore;
      batches: BatchStore;
      events: JobEvents;
      keys: RedisKeys;
      clock: Clock;
    },
    redis: Redis,
    logger: Logger,
    extra: {
      env?: NodeJS.ProcessEnv | undefined;
      tuning?: SlackTuning | undefined;
      observer?: DeliveryObserver | undefined;
    } = {},
  ): SlackApprovals {
    const { jobs, store, batches, events, keys, clock } = pipeline;
    return new SlackApprovals({
      config: config.slack,
      secrets: resolveSlackSecrets(config.slack, extra.env ?? process.env),
      jobs,
      store,
      batches,
      events,
      keys,
      redis,
      clock,
      logger,
      resultTtlSeconds: config.api.result_ttl_seconds,
      ...(extra.observer ? { observer: extra.observer } : {}),
      ...(extra.tuning ? { tuning: extra.tuning } : {}),
    });
  }

  async start(): Promise<void> {
    await this.announcer.start();
    if (this.http) await this.http.start();
    else this.connectSocket();
    this.options.logger.info(
      {
        transport: this.options.config.transport,
        channel: this.channel,
        ...(this.http ? { slack_events_url: this.http.url } : {}),
      },
      'slack approvals ready',
    );
  }

  async stop(): Promise<void> {
    if (this.http) await this.http.stop();
    if (this.socket) {
      this.socket.stopped = true;
      clearTimeout(this.socket.timer);
      // Also ends an attempt still retrying inside Bolt (whose start() then never settles).
      await this.app.stop().catch(() => undefined);
    }
    await this.announcer.stop();
  }

  /**
   * Socket Mode connects out to Slack, which may be down or refuse the app token: keep trying
   * in the background (1 s, doubling to a minute) while approvals go on being held and expired.
   */
  private connectSocket(delayMs = 1_000): void {
    const socket = (this.socket ??= { stopped: false });
    this.app.start().then(
      () => this.options.logger.info('slack: socket mode connected'),
      (error: unknown) => {
        this.options.logger.warn(
          { err: error, retry_in_ms: delayMs },
          'slack: socket mode could not connect; retrying',
        );
        if (!socket.stopped)
          socket.timer = setTimeout(() => this.connectSocket(Math.min(delayMs * 2, 60_000)), delayMs);
      },
    );
  }

  /** The Request URL of the HTTP transport (behind a TLS proxy in production). */
  get eventsUrl(): string | undefined {
    return this.http?.url;
  }

  private registerHandlers(): void {
    const app = this.app;
    type ButtonArgs = { body: BlockAction<ButtonAction>; action: ButtonAction; client: webApi.WebClient };
    const clicked =
      (decide: (args: ButtonArgs) => Promise<void>) =>
      async ({ ack, ...args }: ButtonArgs & { ack: () => Promise<void> }): Promise<void> => {
        await ack();
        await decide(args);
      };

    app.action<BlockAction<ButtonAction>>(
      ACTIONS.approve,
      clicked(async ({ body, action, client }) => {
        const outcome = await this.decisions.decideJob(body.user.id, action.value ?? '', 'approve', null);
        await this.after(outcome, client, this.channelOf(body), body.user.id);
      }),
    );
    app.action<BlockAction<ButtonAction>>(
      ACTIONS.approveBatch,
      clicked(async ({ body, action, client }) => {
        const outcome = await this.decisions.decideBatch(body.user.id, action.value ?? '', 'approve', null);
        await this.after(outcome, client, this.channelOf(body), body.user.id);
      }),
    );
    app.action<BlockAction<ButtonAction>>(
      ACTIONS.deny,
      clicked(async ({ body, action, client }) => {
        const approvalId = action.value ?? '';
        const check = await this.decisions.checkJob(body.user.id, approvalId);
        if (!check.ok) return this.tell(client, this.channelOf(body), body.user.id, check.message);
        const target: DenyTarget = { kind: 'job', id: approvalId, channel: this.channelOf(body) };
        await this.openModal(
          client,
          body.trigger_id,
          denyReasonModal(
            target,
            `Deny job \`${check.subject}\` (approval \`${approvalId}\`)? It ends \`denied\` and never runs.`,
          ),
        );
      }),
    );
    app.action<BlockAction<ButtonAction>>(
      ACTIONS.denyBatch,
      clicked(async ({ body, action, client }) => {
        const batchId = action.value ?? '';
        const check = await this.decisions.checkBatch(body.user.id, batchId);
        if (!check.ok) return this.tell(client, this.channelOf(body), body.user.id, check.message);
        const target: DenyTarget = { kind: 'batch', id: batchId, channel: this.channelOf(body) };
        await this.openModal(
          client,
          body.trigger_id,
          denyReasonModal(target, `Deny every pending job of batch \`${batchId}\`? They end \`denied\` and never run.`),
        );
      }),
    );
    app.action<BlockAction<ButtonAction>>(
      ACTIONS.showCode,
      clicked(async ({ body, action, client }) => {
        const job = await this.options.store.get(action.value ?? '');
        if (!job)
          return this.tell(
            client,
            this.channelOf(body),
            body.user.id,
            'This job no longer exists (its records expired).',
          );
        await this.openModal(client, body.trigger_id, fullCodeModal(job));
      }),
    );

    app.view<ViewSubmitAction>(DENY_VIEW, async ({ ack, body, view, client }) => {
      const reason = view.state.values[REASON_BLOCK]?.[REASON_INPUT]?.value?.trim();
      if (!reason) {
        await ack({ response_action: 'errors', errors: { [REASON_BLOCK]: 'Say why: the submitter sees the reason.' } });
        return;
      }
      await ack();
      const target = parseTarget(view.private_metadata);
      if (!target) return;
      const outcome =
        target.kind === 'job'
          ? await this.decisions.decideJob(body.user.id, target.id, 'deny', reason)
          : await this.decisions.decideBatch(body.user.id, target.id, 'deny', reason);
      await this.after(outcome, client, target.channel, body.user.id);
    });
  }

  /** A decision brings its message up to date; a refusal is told to the clicker alone. */
  private async after(
    outcome: DecisionOutcome,
    client: webApi.WebClient,
    channel: string,
    userId: string,
  ): Promise<void> {
    if (outcome.ok) await this.announcer.refresh(outcome.subject);
    else await this.tell(client, channel, userId, outcome.message);
  }

  private async tell(client: webApi.WebClient, channel: string, user: string, text: string): Promise<void> {
    try {
      await client.chat.postEphemeral({ channel, user, text });
    } catch (error) {
      this.options.observer?.deliveryFailed('ephemeral');
      this.options.logger.warn({ err: error, user }, 'slack: could not tell the user privately');
    }
  }

  private async openModal(
    client: webApi.WebClient,
    triggerId: string,
    view: webApi.ViewsOpenArguments['view'],
  ): Promise<void> {
    try {
      await client.views.open({ trigger_id: triggerId, view });
    } catch (error) {
      this.options.observer?.deliveryFailed('modal');
      this.options.logger.warn({ err: error }, 'slack: could not open the modal');
    }
  }

  private channelOf(body: BlockAction<ButtonAction>): string {
    // Bolt types the container `any`: its channel is read as what it is, a string or nothing.
    const container = body.container as { channel_id?: string } | undefined;
    return body.channel?.id ?? container?.channel_id ?? this.channel;
  }
}

/** The Web API base URL, ending in / as the client expects. */
function apiUrl(configured: string | undefined): string {
  const url = configured ?? 'https://slack.com/api/';
  return url.endsWith('/') ? url : `${url}/`;
}

function parseTarget(metadata: string): DenyTarget | undefined {
  try {
    const target = JSON.parse(metadata) as Partial<DenyTarget>;
    if (
      (target.kind === 'job' || target.kind === 'batch') &&
      typeof target.id === 'string' &&
      typeof target.channel === 'string'
    )
      return target as DenyTarget;
  } catch {
    // Not ours: ignore it.
  }
  return undefined;
}

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
