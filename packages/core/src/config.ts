import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { HarombeError } from './errors.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_LIMITS, Limits } from './limits.js';
import { RiskLevel, RiskRule } from './risk.js';
import { DomainPattern } from './tools.js';

const LanguageImage = z.strictObject({ image: z.string().min(1) });

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
  limits: Limits.partial().default({}).transform((l) => ({ ...DEFAULT_LIMITS, ...l })),
  /** Ceilings: a caller asking for more is refused with LimitTooHigh. */
  max_limits: Limits.partial().default({}).transform((l) => ({ ...DEFAULT_MAX_LIMITS, ...l })),
  /** Seconds between SIGTERM and SIGKILL when an execution times out. */
  kill_grace_period: z.number().min(0).max(60).default(2),
  /** Seconds a sandbox may sit unused before it is destroyed. */
  idle_timeout: z.number().positive().default(900),
  /** Largest file code_write_file accepts and code_read_file returns, in bytes. */
  max_file_bytes: z.number().int().positive().default(8 * 1_048_576),
  /** Largest program code_execute accepts, in bytes. */
  max_code_bytes: z.number().int().positive().default(1_048_576),
  /** Processes (threads included) the sandbox user may run at once: what stops a fork bomb. */
  max_processes: z.number().int().min(8).max(4096).default(128),
  network: z
    .strictObject({
      enabled_by_default: z.literal(false).default(false),
      allowed_registries: z.record(z.string(), z.array(DomainPattern)).default({}),
    })
    .default({ enabled_by_default: false, allowed_registries: {} }),
  languages: z
    .strictObject({
      python: LanguageImage.default({ image: 'harombe/sandbox-python' }),
      javascript: LanguageImage.default({ image: 'harombe/sandbox-node' }),
      shell: LanguageImage.default({ image: 'harombe/sandbox-shell' }),
    })
    .default({
      python: { image: 'harombe/sandbox-python' },
      javascript: { image: 'harombe/sandbox-node' },
      shell: { image: 'harombe/sandbox-shell' },
    }),
  /** Pre-started sandboxes kept ready per language (0 = no pool). */
  warm_pool: z
    .strictObject({
      python: z.number().int().min(0).max(64).default(0),
      javascript: z.number().int().min(0).max(64).default(0),
      shell: z.number().int().min(0).max(64).default(0),
    })
    .default({ python: 0, javascript: 0, shell: 0 }),
  hitl: z
    .strictObject({ enabled: z.boolean().default(true), auto_approve_low_risk: z.boolean().default(true) })
    .default({ enabled: true, auto_approve_low_risk: true }),
});
export type SandboxConfig = z.output<typeof SandboxConfig>;
export type SandboxConfigInput = z.input<typeof SandboxConfig>;

/** An API key: only its SHA-256 is stored; the key itself is the caller's secret. */
export const ApiKeyConfig = z.strictObject({
  name: z.string().min(1).max(100),
  tenant: z.string().min(1).max(100).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash, underscore'),
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
  prefix: z.string().regex(/^[A-Za-z0-9_-]+$/).default('harombe'),
});

export const ApiConfig = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  keys: z.array(ApiKeyConfig).default([]),
  /** Largest request body, in bytes (a 10,000-job batch fits). */
  max_body_bytes: z.number().int().positive().default(32 * 1_048_576),
  /** How long finished jobs and their results are kept, in seconds. */
  result_ttl_seconds: z.number().int().positive().default(86_400),
});

export const WorkerConfig = z.strictObject({
  /** Jobs one worker runs at once. */
  concurrency: z.number().int().min(1).max(256).default(2),
  /** Seconds between heartbeats. */
  heartbeat_seconds: z.number().positive().default(2),
  /** A worker silent this long is lost: its running jobs end WorkerLost. */
  lost_after_seconds: z.number().positive().default(10),
  /** On SIGTERM, seconds running jobs get to finish before they are cancelled. */
  shutdown_deadline_seconds: z.number().min(0).default(30),
});

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
