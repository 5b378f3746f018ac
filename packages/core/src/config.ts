import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { HarombeError } from './errors.js';
import { perLanguage } from './languages.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_LIMITS, Limits } from './limits.js';
import { RiskLevel, RiskRule } from './risk.js';
import { DomainPattern } from './tools.js';
import { WebhookUrl } from './webhook-url.js';
import { WEBHOOK_EVENT_TYPES, WebhookEventType } from './webhooks.js';

const LanguageImage = z.strictObject({ image: z.string().min(1) });

/** An IPv4 or IPv6 network, a.b.c.d/n or x::/n. */
const Cidr = z.string().refine((value) => {
  const [address = '', prefix = '', extra] = value.split('/');
  const family = isIP(address);
  return extra === undefined && family !== 0 && /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}, 'a CIDR such as 203.0.113.7/32 or 2001:db8::/32');

/**
 * A private network an allowed name may resolve into: IPv4 a.b.c.d/n, or IPv6 inside fc00::/7
 * (a wider IPv6 range would also cover every IPv4 address, mapped).
 */
const PrivateRange = z.string().refine((value) => {
  const [address = '', prefix = '', extra] = value.split('/');
  const family = isIP(address);
  if (extra !== undefined || family === 0 || !/^\d{1,3}$/.test(prefix)) return false;
  if (family === 4) return Number(prefix) <= 32;
  return Number(prefix) >= 7 && Number(prefix) <= 128 && /^f[cd]/i.test(address);
}, 'a CIDR such as 10.20.0.0/16, or an IPv6 one inside fc00::/7 such as fd00::/8');

/** One entry of `network.allowed_registries`: host patterns, or an index URL and its hosts. */
export const AllowedRegistry = z.union([
  z.array(DomainPattern),
  z.strictObject({
    /** pip's index URL (…/simple) or npm's registry URL. Default for npm: the host's npm config. */
    index_url: z.url({ protocol: /^https?$/ }).optional(),
    /** Hosts the installs may reach besides index_url's (a separate file host). Default: none. */
    hosts: z.array(DomainPattern).default([]),
  }),
]);
export type AllowedRegistry = z.output<typeof AllowedRegistry>;

/** The `security.sandbox` section of harombe.yaml, shaped as in the reference design. */
export const SandboxConfig = z.strictObject({
  enabled: z.boolean().default(true),
  /** Docker runtime of sandboxes without network. Anything but runsc needs allow_insecure_runtime. */
  runtime: z.string().default('runsc'),
  /** Docker runtime of network-enabled sandboxes (runsc in the container's network namespace). */
  network_runtime: z.string().default('runsc-net'),
  /** Lets `runtime` be something other than runsc (for example runc on a laptop). Never in production. */
  allow_insecure_runtime: z.boolean().default(false),
  /** Defaults applied when a caller does not choose. */
  limits: Limits.partial()
    .default({})
    .transform((l) => ({ ...DEFAULT_LIMITS, ...l })),
  /** Ceilings: a caller asking for more is refused with LimitTooHigh. */
  max_limits: Limits.partial()
    .default({})
    .transform((l) => ({ ...DEFAULT_MAX_LIMITS, ...l })),
  /** Seconds between SIGTERM and SIGKILL when an execution times out. */
  kill_grace_period: z.number().min(0).max(60).default(2),
  /** Seconds a kept sandbox may sit unused before it is destroyed, unless made with its own. */
  idle_timeout: z.number().positive().default(900),
  /** The longest idle_timeout a caller may give a sandbox, in seconds. */
  max_idle_timeout: z.number().positive().default(86_400),
  /** Largest file code_write_file accepts and code_read_file returns, in bytes. */
  max_file_bytes: z
    .number()
    .int()
    .positive()
    .default(8 * 1_048_576),
  /** Largest program code_execute accepts, in bytes. */
  max_code_bytes: z.number().int().positive().default(1_048_576),
  /** Processes (threads included) the sandbox user may run at once: what stops a fork bomb. */
  max_processes: z.number().int().min(8).max(4096).default(128),
  /**
   * Files, directories and links a sandbox may hold in /workspace and /tmp together. Each costs
   * the sandbox's memory that no size limit counts (an empty file holds no block); an execution
   * that takes the count past this is ended with DiskLimitExceeded.
   */
  max_files: z.number().int().min(16).max(1_000_000).default(32_768),
  network: z
    .strictObject({
      enabled_by_default: z.literal(false).default(false),
      /**
       * Registries code_install_package may use, by name (pypi, npm). Either the host patterns
       * the registry is served from, or `{ index_url, hosts }`. No registry is built in: the npm
       * index defaults to the host's `npm config get registry`; pypi needs an index_url.
       */
      allowed_registries: z.record(z.string(), AllowedRegistry).default({}),
      /** Docker network the egress proxies reach out through; created (ICC off) when missing. */
      egress_network: z.string().min(1).default('harombe-egress'),
      /** Image of the egress proxies (deploy/images/egress-proxy). */
      proxy_image: z.string().min(1).default('harombe/egress-proxy'),
      /** Destination ports the egress proxy allows. */
      allowed_ports: z.array(z.number().int().min(1).max(65535)).min(1).default([80, 443]),
      /**
       * IPv4 range the sandboxes' own networks are cut from, one /29 each (8,192 in a /16).
       * Nothing on the host gets an address in it; pick a range that no Docker network, host
       * address or host route uses (the host would answer for its own addresses on the bridge).
       */
      subnet_pool: z
        .string()
        .refine((value) => {
          const [address = '', prefix = '', extra] = value.split('/');
          return extra === undefined && isIP(address) === 4 && /^(1[6-9]|2[0-9])$/.test(prefix);
        }, 'an IPv4 CIDR from /16 to /29, for example 10.213.0.0/16')
        .default('10.213.0.0/16'),
      /**
       * Private ranges (RFC 1918, 100.64/10, fc00::/7) an allowed name may resolve into, as CIDRs:
       * the operator's own mirrors, say. Names resolving to any other private address are refused,
       * so an allowed domain cannot lead a sandbox into the operator's networks.
       */
      allowed_private_ranges: z.array(PrivateRange).default([]),
      /**
       * Addresses no allowed name may lead to, beyond loopback, link-local and the proxies' own
       * gateways: the host's public addresses, say (CIDRs). The addresses of the worker's own
       * interfaces are added on their own; list the host's when workers run in containers.
       */
      denied_ranges: z.array(Cidr).default([]),
      /** Seconds one code_install_package may take. */
      install_timeout: z.number().positive().max(3600).default(300),
    })
    .default({
      enabled_by_default: false,
      allowed_registries: {},
      egress_network: 'harombe-egress',
      proxy_image: 'harombe/egress-proxy',
      allowed_ports: [80, 443],
      subnet_pool: '10.213.0.0/16',
      allowed_private_ranges: [],
      denied_ranges: [],
      install_timeout: 300,
    }),
  /** The image of each language's sandboxes. Default: the language's (LANGUAGE_CATALOGUE). */
  languages: z
    .strictObject(perLanguage((_, { image }) => LanguageImage.default({ image })))
    .default(perLanguage((_, { image }) => ({ image }))),
  /** Pre-started sandboxes kept ready per language (0 = no pool). */
  warm_pool: z
    .strictObject(perLanguage(() => z.number().int().min(0).max(64).default(0)))
    .default(perLanguage(() => 0)),
  hitl: z
    .strictObject({ enabled: z.boolean().default(true), auto_approve_low_risk: z.boolean().default(true) })
    .default({ enabled: true, auto_approve_low_risk: true }),
});
export type SandboxConfig = z.output<typeof SandboxConfig>;
export type SandboxConfigInput = z.input<typeof SandboxConfig>;

/** An API key: only its SHA-256 is stored; the key itself is the caller's secret. */
export const ApiKeyConfig = z.strictObject({
  name: z.string().min(1).max(100),
  tenant: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash, underscore'),
  scopes: z.array(z.enum(['submit', 'approve', 'admin'])).min(1),
  /** Hex SHA-256 of the key (`harombe keys hash` prints it). */
  key_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a hex SHA-256 (64 lower-case hex digits)'),
  /** The owner's Slack user id, so they cannot approve their own jobs from Slack either. */
  slack_user_id: z.string().optional(),
});
export type ApiKeyConfig = z.infer<typeof ApiKeyConfig>;

/** The `security.policy` section: how jobs are classified and which levels need a person. */
export const PolicyConfig = z.strictObject({
  /** Operator rules, checked in this order before the default rules. */
  rules: z.array(RiskRule).default([]),
  /** true: only the operator's rules apply (a tool no rule names is MEDIUM). */
  replace_default_rules: z.boolean().default(false),
  /** Levels approved without a person. Default: LOW only. */
  auto_approve: z.array(RiskLevel).default(['LOW']),
});
export type PolicyConfig = z.output<typeof PolicyConfig>;

export const RedisConfig = z.strictObject({
  /** redis://[:password@]host:port[/db]. The environment variable HAROMBE_REDIS_URL wins. */
  url: z.string().default('redis://127.0.0.1:6379'),
  /** Namespace of every key and queue; wrapped in {} so a Redis Cluster keeps them in one slot. */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('harombe'),
});

/** Live events over Server-Sent Events (GET /v1/jobs/{job_id}/events, /v1/batches/{batch_id}/events). */
export const EventsConfig = z.strictObject({
  /** Seconds without an event before a heartbeat comment, so proxies keep an idle stream open. */
  heartbeat_seconds: z.number().positive().default(15),
  /**
   * Seconds a client may take nothing while events wait for it; then it is disconnected (it
   * resumes with Last-Event-ID). What a stalled client costs is one page of events meanwhile.
   */
  stall_timeout_seconds: z.number().positive().default(30),
});

export const ApiConfig = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  keys: z.array(ApiKeyConfig).default([]),
  /**
   * Largest request body, in bytes: 2 MiB (a 10,000-job batch of small programs, or one program of
   * max_code_bytes, fits). Larger: 413 PayloadTooLarge. Raise it to write larger files through the API.
   */
  max_body_bytes: z
    .number()
    .int()
    .positive()
    .default(2 * 1_048_576),
  /** How long finished jobs and their results are kept, in seconds. */
  result_ttl_seconds: z.number().int().positive().default(86_400),
  events: EventsConfig.default(EventsConfig.parse({})),
});

/**
 * The `mcp` section: the MCP service (Streamable HTTP). Each session runs its tool calls as jobs
 * of the API, with the API key its client sends as a bearer token.
 */
export const McpConfig = z.strictObject({
  /** Address it listens on. The environment variable HAROMBE_MCP_HOST wins. */
  host: z.string().default('127.0.0.1'),
  /** Port; 0 picks a free one. HAROMBE_MCP_PORT wins. */
  port: z.number().int().min(0).max(65535).default(8090),
  /** Path of the MCP endpoint (POST, GET and DELETE). */
  path: z
    .string()
    .regex(/^\/[A-Za-z0-9/_-]*$/, 'a URL path such as /mcp')
    .default('/mcp'),
  /** The fleet's API. Default: http://<api.host>:<api.port> (127.0.0.1 for 0.0.0.0). HAROMBE_API_URL wins. */
  api_url: z.url({ protocol: /^https?$/, error: 'an http(s) URL such as http://api:8080' }).optional(),
  /** Seconds a session may go unused (and with no call under way) before it is closed. */
  session_idle_seconds: z.number().int().positive().default(1800),
  /** Sessions open at once; an initialize beyond it is refused (503 CapacityExceeded). */
  max_sessions: z.number().int().positive().default(1000),
});
export type McpConfig = z.output<typeof McpConfig>;

/** The API the MCP service calls: `mcp.api_url`, else the API of this configuration. */
export function mcpApiUrl(config: { api: { host: string; port: number }; mcp: McpConfig }): string {
  if (config.mcp.api_url) return config.mcp.api_url;
  const host = ['0.0.0.0', '::', ''].includes(config.api.host) ? '127.0.0.1' : config.api.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.api.port}`;
}

export const WorkerConfig = z.strictObject({
  /** Jobs one worker runs at once. */
  concurrency: z.number().int().min(1).max(256).default(2),
  /** Seconds between heartbeats. */
  heartbeat_seconds: z.number().positive().default(2),
  /** A worker silent this long is lost: its running jobs end WorkerLost. */
  lost_after_seconds: z.number().positive().default(10),
  /** On SIGTERM, seconds running jobs get to finish before they are cancelled. */
  shutdown_deadline_seconds: z.number().min(0).default(30),
  /**
   * Sandboxes one worker holds at once: warm pool, kept, running and being removed. Kept ones may
   * take all but `concurrency` of them. Default: as many as three quarters of the host's memory
   * holds at the default memory limit (plus 64 MiB of runtime each), at most 16 per core.
   */
  max_sandboxes: z.number().int().min(1).max(10_000).optional(),
});

const MIB = 1_048_576;

/** The submission quotas' fields, without defaults: overrides (per tenant, per key) set only what they name. */
const SUBMISSION_QUOTA_FIELDS = {
  /** Jobs submitted per second, on average: the rate a token bucket refills at. Past it: 429 RateLimited. */
  submissions_per_second: z.number().positive().max(1_000_000),
  /** Jobs that may come at once above that rate: the bucket's size (a batch larger than this is refused with LimitTooHigh). */
  submission_burst: z.number().int().min(1).max(1_000_000),
  /** Jobs waiting at once, queued or awaiting approval. Past it: 429 QuotaExceeded. */
  max_waiting_jobs: z.number().int().min(1),
  /**
   * Bytes of jobs held in the job store at once: their params as submitted and their results,
   * until they expire (`api.result_ttl_seconds` after they end). Past it: 429 QuotaExceeded.
   */
  max_stored_bytes: z.number().int().min(1),
};
const TENANT_QUOTA_FIELDS = {
  ...SUBMISSION_QUOTA_FIELDS,
  /** Kept sandboxes (keep_sandbox, POST /v1/sandboxes) the tenant may hold at once. */
  max_sandboxes_per_tenant: z.number().int().min(0),
};

/**
 * Limits on what one tenant (or one API key, see QuotasConfig.keys) may submit and leave in the
 * job store. A batch counts each of its jobs.
 */
export const SubmissionQuotas = z.strictObject({
  submissions_per_second: SUBMISSION_QUOTA_FIELDS.submissions_per_second.default(100),
  submission_burst: SUBMISSION_QUOTA_FIELDS.submission_burst.default(10_000),
  max_waiting_jobs: SUBMISSION_QUOTA_FIELDS.max_waiting_jobs.default(20_000),
  max_stored_bytes: SUBMISSION_QUOTA_FIELDS.max_stored_bytes.default(256 * MIB),
});
export type SubmissionQuotas = z.output<typeof SubmissionQuotas>;

/** Limits on what one tenant may hold. */
export const TenantQuotas = SubmissionQuotas.extend({
  max_sandboxes_per_tenant: TENANT_QUOTA_FIELDS.max_sandboxes_per_tenant.default(20),
});
export type TenantQuotas = z.output<typeof TenantQuotas>;

/** The `quotas` section: every tenant's limits, and overrides for some tenants and some keys. */
export const QuotasConfig = TenantQuotas.extend({
  /** Per-tenant overrides of the limits above, by tenant name: only what each names. */
  tenants: z.record(z.string(), z.strictObject(TENANT_QUOTA_FIELDS).partial()).default({}),
  /**
   * Limits of one API key, by its name (api.keys[].name): counted over that key's own
   * submissions, on top of its tenant's (a submit-only key can be held to less than its tenant).
   */
  keys: z.record(z.string(), z.strictObject(SUBMISSION_QUOTA_FIELDS).partial()).default({}),
});
export type QuotasConfig = z.output<typeof QuotasConfig>;

/** The limits that hold for one tenant: its overrides over everybody's. */
export function quotasFor(quotas: QuotasConfig, tenant: string): TenantQuotas {
  const { tenants, keys, ...defaults } = quotas;
  void keys; // per-key limits apply to keys, not tenants (keyQuotasFor)
  return { ...defaults, ...tenants[tenant] };
}

/** A key's own limits (only those its entry in `quotas.keys` sets), or undefined when it has none. */
export function keyQuotasFor(quotas: QuotasConfig, keyName: string): Partial<SubmissionQuotas> | undefined {
  const own = quotas.keys[keyName];
  return own && Object.keys(own).length > 0 ? own : undefined;
}

/** The name of an environment variable: secrets are never written in harombe.yaml, only where to find them. */
const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the name of an environment variable');

/** Secrets that must not appear in harombe.yaml: the message says which `*_env` key to use instead. */
const SLACK_SECRET_KEYS: Record<string, string> = {
  bot_token: 'bot_token_env',
  signing_secret: 'signing_secret_env',
  app_token: 'app_token_env',
};

/**
 * The `slack` section: approval requests posted to a channel, decided with buttons. Tokens and
 * the signing secret come from the environment variables these keys name, never from the file.
 */
export const SlackConfig = z
  .strictObject(
    {
      enabled: z.boolean().default(false),
      /** `http`: Slack POSTs to `http.path` (signed requests). `socket`: Socket Mode, no public endpoint (needs an app-level token). */
      transport: z.enum(['http', 'socket']).default('http'),
      /** Id of the channel approval requests go to (C…, or G… for an old private channel). */
      channel: z
        .string()
        .regex(/^[CG][A-Z0-9]{2,}$/, 'a Slack channel id such as C0123ABCD')
        .optional(),
      /** Who may decide: Slack user ids and/or the id of a user group (its members at the time of the click). */
      approvers: z
        .strictObject({
          users: z.array(z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'a Slack user id such as U0123ABCD')).default([]),
          usergroup: z
            .string()
            .regex(/^S[A-Z0-9]{2,}$/, 'a Slack user group id such as S0123ABCD')
            .optional(),
        })
        .default({ users: [] }),
      /** Environment variable holding the bot token (xoxb-…). */
      bot_token_env: EnvName.default('HAROMBE_SLACK_BOT_TOKEN'),
      /** Environment variable holding the signing secret (transport http). */
      signing_secret_env: EnvName.default('HAROMBE_SLACK_SIGNING_SECRET'),
      /** Environment variable holding the app-level token (xapp-…, transport socket). */
      app_token_env: EnvName.default('HAROMBE_SLACK_APP_TOKEN'),
      /** Base URL of Slack's Web API. Default https://slack.com/api/ (tests point it at a stand-in). */
      api_url: z.url({ protocol: /^https?$/, error: 'an http(s) URL such as https://slack.com/api/' }).optional(),
      /** Where the approval service receives Slack's requests (transport http). */
      http: z
        .strictObject({
          host: z.string().default('127.0.0.1'),
          port: z.number().int().min(0).max(65535).default(3000),
          path: z
            .string()
            .regex(/^\/[A-Za-z0-9/_-]*$/, 'a URL path such as /slack/events')
            .default('/slack/events'),
        })
        .default({ host: '127.0.0.1', port: 3000, path: '/slack/events' }),
      /** Re-announce an approval still open at half its timeout, in the message's thread. */
      reminder: z.boolean().default(true),
      /** Lines and characters of code shown in the message; the whole code is one click away. */
      code_preview_lines: z.number().int().min(1).max(100).default(15),
      code_preview_chars: z.number().int().min(100).max(2500).default(1200),
      /**
       * Milliseconds one Web API call may take before it counts as failed and is retried later (a
       * post that timed out is first looked for in the channel, so it is never posted twice). Default 10 000.
       */
      request_timeout_ms: z.number().int().min(100).max(120_000).default(10_000),
    },
    {
      error: (issue) => {
        if (issue.code !== 'unrecognized_keys') return undefined;
        const secrets = issue.keys.filter((key) => key in SLACK_SECRET_KEYS);
        if (secrets.length === 0) return undefined;
        return `secrets do not belong in the file: remove ${secrets.join(', ')} and name the environment variable holding each in ${secrets.map((key) => SLACK_SECRET_KEYS[key]).join(', ')}`;
      },
    },
  )
  .superRefine((slack, context) => {
    if (!slack.enabled) return;
    if (!slack.channel)
      context.addIssue({
        code: 'custom',
        path: ['channel'],
        message: 'required when slack is enabled: the id of the approvals channel',
      });
    if (slack.approvers.users.length === 0 && !slack.approvers.usergroup) {
      context.addIssue({
        code: 'custom',
        path: ['approvers'],
        message: 'required when slack is enabled: approvers.users and/or approvers.usergroup',
      });
    }
  });
export type SlackConfig = z.output<typeof SlackConfig>;
export type SlackConfigInput = z.input<typeof SlackConfig>;

/** The Slack secrets, read from the environment variables the configuration names. */
export interface SlackSecrets {
  botToken: string;
  /** Present for transport http. */
  signingSecret?: string;
  /** Present for transport socket. */
  appToken?: string;
}

/**
 * Reads the Slack secrets the transport needs from `env`: the bot token always, the signing
 * secret for http, the app-level token for socket. Errors name the configuration key.
 */
export function resolveSlackSecrets(slack: SlackConfig, env: NodeJS.ProcessEnv = process.env): SlackSecrets {
  const problems: string[] = [];
  const read = (
    key: 'bot_token_env' | 'signing_secret_env' | 'app_token_env',
    what: string,
    prefix?: string,
  ): string | undefined => {
    const name = slack[key];
    const value = env[name]?.trim();
    if (!value) problems.push(`slack.${key}: the environment variable ${name} is not set (${what})`);
    else if (prefix && !value.startsWith(prefix))
      problems.push(`slack.${key}: the environment variable ${name} does not hold ${what}`);
    else return value;
    return undefined;
  };
  const botToken = read('bot_token_env', 'a bot token, xoxb-…', 'xoxb-');
  const signingSecret =
    slack.transport === 'http' ? read('signing_secret_env', 'the signing secret transport http needs') : undefined;
  const appToken =
    slack.transport === 'socket'
      ? read('app_token_env', 'an app-level token, xapp-…, which transport socket needs', 'xapp-')
      : undefined;
  if (problems.length > 0)
    throw new HarombeError('InvalidArgument', `invalid slack configuration: ${problems.join('; ')}`, { problems });
  return {
    botToken: botToken as string,
    ...(signingSecret ? { signingSecret } : {}),
    ...(appToken ? { appToken } : {}),
  };
}

/** A tenant-wide subscription kept in harombe.yaml (the API shows it, read-only). */
const ConfiguredWebhook = z.strictObject({
  url: WebhookUrl,
  /** Default: every event type. */
  events: z
    .array(WebhookEventType)
    .min(1)
    .default([...WEBHOOK_EVENT_TYPES]),
  description: z.string().max(200).optional(),
});

/** One tenant's webhooks: where its signing secret is, and subscriptions the operator keeps. */
const WebhookTenant = z.strictObject(
  {
    /**
     * Environment variable holding the tenant's signing secret. Default: none, and the fleet
     * generates one, which the tenant's admins read with GET /v1/webhooks/secret.
     */
    secret_env: EnvName.optional(),
    subscriptions: z.array(ConfiguredWebhook).default([]),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' && issue.keys.includes('secret')
        ? 'secrets do not belong in the file: remove secret and name the environment variable holding it in secret_env'
        : undefined,
  },
);

const RetryConfig = z.strictObject({
  /** Delay after the first failed attempt, ms; doubled after each further one. */
  initial_delay_ms: z.number().int().min(1).default(5_000),
  /** Longest delay between two attempts, ms (a Retry-After asking for more is still honoured). */
  max_delay_ms: z.number().int().min(1).default(3_600_000),
  /** Random spread of each delay, as a fraction of it (0.2: ±20 %). */
  jitter: z.number().min(0).max(1).default(0.2),
  /** How long a delivery is retried, from its first attempt, in seconds; then it is dead. */
  window_seconds: z.number().int().min(1).default(86_400),
  /** Attempts after which a delivery is dead even within the window. Default: only the window counts. */
  max_attempts: z.number().int().min(1).optional(),
});
const RETRY_DEFAULTS = { initial_delay_ms: 5_000, max_delay_ms: 3_600_000, jitter: 0.2, window_seconds: 86_400 };

/**
 * The `webhooks` section: signed events to callback URLs and tenants' subscriptions, delivered by
 * the approval service. Targets resolving to loopback, link-local, private ranges or the fleet's
 * own addresses are refused unless `allowed_ranges` lists them.
 */
export const WebhooksConfig = z
  .strictObject({
    /** CIDRs deliveries may reach although they are loopback, link-local, private or the fleet's own. */
    allowed_ranges: z.array(Cidr).default([]),
    /** CIDRs deliveries never reach, beyond the built-in ones: the fleet's public addresses, say. */
    denied_ranges: z.array(Cidr).default([]),
    /** Milliseconds to connect (TCP and TLS). */
    connect_timeout_ms: z.number().int().min(1).max(60_000).default(5_000),
    /** Milliseconds one attempt may take, from connecting to the end of the answer. */
    timeout_ms: z.number().int().min(1).max(120_000).default(10_000),
    /** Bytes of an answer read; the rest is not waited for. */
    max_response_bytes: z.number().int().min(0).max(1_048_576).default(65_536),
    /** Deliveries one approval service makes at once. */
    concurrency: z.number().int().min(1).max(256).default(8),
    retry: RetryConfig.default(RETRY_DEFAULTS),
    /** How long events and deliveries (dead ones included) are kept, in seconds. */
    retention_seconds: z
      .number()
      .int()
      .min(60)
      .default(7 * 86_400),
    /** Subscriptions a tenant may make through the API. */
    max_subscriptions_per_tenant: z.number().int().min(0).max(1000).default(20),
    /** Per tenant, by name. */
    tenants: z.record(z.string(), WebhookTenant).default({}),
  })
  .superRefine((webhooks, context) => {
    if (webhooks.retention_seconds < webhooks.retry.window_seconds)
      context.addIssue({
        code: 'custom',
        path: ['retention_seconds'],
        message: 'must be at least retry.window_seconds: a delivery is kept while it is retried',
      });
  });
export type WebhooksConfig = z.output<typeof WebhooksConfig>;
export type WebhooksConfigInput = z.input<typeof WebhooksConfig>;

/** The tenant's signing secret from the environment variable the configuration names, if it names one. */
export function configuredWebhookSecret(
  webhooks: WebhooksConfig,
  tenant: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const name = webhooks.tenants[tenant]?.secret_env;
  if (!name) return undefined;
  const value = env[name]?.trim();
  if (!value || value.length < 16)
    throw new HarombeError(
      'InvalidArgument',
      `webhooks.tenants.${tenant}.secret_env: the environment variable ${name} is not set or shorter than 16 characters`,
    );
  return value;
}

export const HarombeConfig = z.object({
  security: z
    .object({
      sandbox: SandboxConfig.default(SandboxConfig.parse({})),
      policy: PolicyConfig.default(PolicyConfig.parse({})),
    })
    .default({ sandbox: SandboxConfig.parse({}), policy: PolicyConfig.parse({}) }),
  redis: RedisConfig.default(RedisConfig.parse({})),
  api: ApiConfig.default(ApiConfig.parse({})),
  worker: WorkerConfig.default(WorkerConfig.parse({})),
  quotas: QuotasConfig.default(QuotasConfig.parse({})),
  slack: SlackConfig.default(SlackConfig.parse({})),
  mcp: McpConfig.default(McpConfig.parse({})),
  webhooks: WebhooksConfig.default(WebhooksConfig.parse({})),
});
export type HarombeConfig = z.output<typeof HarombeConfig>;

/** Validates a parsed configuration object; errors name the offending key. */
export function parseConfig(raw: unknown, source = 'configuration'): HarombeConfig {
  const parsed = HarombeConfig.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  throw new HarombeError('InvalidArgument', `invalid ${source}: ${problems.join('; ')}`, { problems });
}

/** Reads and validates harombe.yaml. */
export function loadConfig(path: string): HarombeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new HarombeError('InvalidArgument', `cannot read configuration file ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new HarombeError('InvalidArgument', `${path} is not valid YAML: ${(error as Error).message}`);
  }
  return parseConfig(raw, path);
}
