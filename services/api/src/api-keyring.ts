import { createHash, timingSafeEqual } from 'node:crypto';
import { HarombeError, type ApiKeyConfig } from '@harombe/core';
import type { Principal } from '@harombe/queue';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Resolves `Authorization: Bearer <key>` to a principal. Only hashes of keys are held. */
export class ApiKeyring {
  private readonly byHash = new Map<string, ApiKeyConfig>();

  constructor(keys: readonly ApiKeyConfig[]) {
    for (const key of keys) this.byHash.set(key.key_sha256, key);
  }

  authenticate(header: string | undefined): Principal {
    const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? '');
    if (!match)
      throw new HarombeError('Unauthorized', 'missing or malformed Authorization header: expected "Bearer <key>"');
    const hash = sha256Hex(match[1] as string);
    const key = this.byHash.get(hash);
    // The map lookup already chose; the constant-time compare keeps the check honest if it changes.
    if (!key || !timingSafeEqual(Buffer.from(key.key_sha256), Buffer.from(hash))) {
      throw new HarombeError('Unauthorized', 'unknown API key');
    }
    return {
      tenant: key.tenant,
      name: key.name,
      scopes: key.scopes,
      ...(key.slack_user_id ? { slack_user_id: key.slack_user_id } : {}),
    };
  }
}

export function requireScope(principal: Principal, scope: Principal['scopes'][number]): void {
  if (!principal.scopes.includes(scope)) throw new HarombeError('Forbidden', `this key lacks the scope '${scope}'`);
}
