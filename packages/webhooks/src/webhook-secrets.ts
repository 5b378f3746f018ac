import { randomBytes } from 'node:crypto';
import {
  configuredWebhookSecret,
  HarombeError,
  type Clock,
  type WebhookSecretView,
  type WebhooksConfig,
} from '@harombe/core';
import type { Redis } from 'ioredis';
import type { WebhookKeys } from './webhook-keys.js';
import { ROTATE_WEBHOOK_SECRET } from './webhook-scripts.js';

export interface WebhookSecretsOptions {
  redis: Redis;
  keys: WebhookKeys;
  config: WebhooksConfig;
  clock: Clock;
  /** Where `secret_env` variables are read. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** How long a rotated-out secret still signs, ms. Default 86 400 000 (a day). */
  rotationGraceMs?: number;
}

/**
 * The tenants' signing secrets: the one the operator configured (webhooks.tenants.<t>.secret_env),
 * else one the fleet generates on first use and keeps in Redis, which the tenant's admins read and
 * rotate through the API. After a rotation the previous secret signs too for a day.
 */
export class WebhookSecrets {
  private readonly redis: Redis;
  private readonly graceMs: number;

  constructor(private readonly options: WebhookSecretsOptions) {
    this.redis = options.redis;
    this.graceMs = options.rotationGraceMs ?? 86_400_000;
  }

  /** Fails, naming the variable, when a configured secret_env is not set: checked at start. */
  checkConfigured(): void {
    for (const tenant of Object.keys(this.options.config.tenants))
      configuredWebhookSecret(this.options.config, tenant, this.options.env);
  }

  /** The secrets a tenant's deliveries are signed with now: the current one, then one in its grace period. */
  async signing(tenant: string): Promise<string[]> {
    const configured = configuredWebhookSecret(this.options.config, tenant, this.options.env);
    if (configured) return [configured];
    const stored = await this.stored(tenant);
    return stored.previous ? [stored.current, stored.previous] : [stored.current];
  }

  async view(tenant: string): Promise<WebhookSecretView> {
    // Only whether one is configured: the API need not hold the variable, the approval service does.
    if (this.configured(tenant)) return { source: 'config', secret: null, previous_expires_at: null };
    const stored = await this.stored(tenant);
    return {
      source: 'generated',
      secret: stored.current,
      previous_expires_at: stored.previousUntil ? new Date(stored.previousUntil).toISOString() : null,
    };
  }

  /** A new generated secret; the old one signs as well for a day. A configured secret is changed only where it is configured. */
  async rotate(tenant: string): Promise<WebhookSecretView> {
    if (this.configured(tenant))
      throw new HarombeError(
        'Conflict',
        `the webhook secret of tenant ${tenant} is set in the configuration (webhooks.tenants.${tenant}.secret_env); rotate it there`,
      );
    await ROTATE_WEBHOOK_SECRET.run(
      this.redis,
      [this.options.keys, tenant],
      [newSecret(), String(this.options.clock.now()), String(this.graceMs)],
    );
    return this.view(tenant);
  }

  private configured(tenant: string): boolean {
    return Boolean(this.options.config.tenants[tenant]?.secret_env);
  }

  private async stored(tenant: string): Promise<{ current: string; previous?: string; previousUntil?: number }> {
    const key = this.options.keys.secret(tenant);
    let hash = await this.redis.hgetall(key);
    if (!hash.current) {
      // The first to ask makes it; whoever comes at the same time reads the same one.
      await this.redis.hsetnx(key, 'current', newSecret());
      hash = await this.redis.hgetall(key);
    }
    const previousUntil = Number(hash.previous_until ?? 0);
    const inGrace = hash.previous && previousUntil > this.options.clock.now();
    return {
      current: hash.current as string,
      ...(inGrace ? { previous: hash.previous as string, previousUntil } : {}),
    };
  }
}

/** 32 random bytes, readable as a secret. */
function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}
