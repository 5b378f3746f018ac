import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ApiKeyConfig, fieldProblems, formatProblem } from '@harombe/core';
import { stringify as toYaml } from 'yaml';
import { CliError } from '../cli-error.js';

export const KEY_PREFIX = 'hk_';
const KEY_BYTES = 32;

/** Hex SHA-256 of a key: what harombe.yaml stores (`api.keys[].key_sha256`). */
export function keySha256(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new random API key: `hk_` and 32 random bytes in base64url (43 characters). */
export function generateApiKey(): string {
  return `${KEY_PREFIX}${randomBytes(KEY_BYTES).toString('base64url')}`;
}

export interface NewKeyRequest {
  name: string;
  tenant: string;
  /** `submit,approve` or a list. */
  scopes: string | readonly string[];
  slack_user_id?: string | undefined;
}

/**
 * A new key and its harombe.yaml entry, validated as the API will validate it (a bad tenant or
 * scope fails here, naming the field, rather than at the API's start).
 */
export function createApiKey(
  request: NewKeyRequest,
  key: string = generateApiKey(),
): { key: string; entry: ApiKeyConfig } {
  const scopes =
    typeof request.scopes === 'string'
      ? request.scopes
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [...request.scopes];
  const parsed = ApiKeyConfig.safeParse({
    name: request.name,
    tenant: request.tenant,
    scopes: [...new Set(scopes)],
    key_sha256: keySha256(key),
    ...(request.slack_user_id ? { slack_user_id: request.slack_user_id } : {}),
  });
  if (!parsed.success) {
    const problems = fieldProblems(parsed.error.issues, { whole: 'key' }).map(formatProblem);
    throw new CliError('InvalidArgument', problems.join('; '));
  }
  return { key, entry: parsed.data };
}

/** What `keys create` prints on stdout: the key alone on the first line, then the YAML to add. */
export function formatNewKey(key: string, entry: ApiKeyConfig): string {
  return `${key}\n\n# add to harombe.yaml (under api.keys when it has some already):\n${toYaml({ api: { keys: [entry] } })}`;
}

/** `harombe keys hash`. */
export function runKeysHash(key: string): void {
  const text = key === '-' ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : key;
  if (text === '') throw new CliError('InvalidArgument', 'the key is empty');
  process.stdout.write(`${keySha256(text)}\n`);
}

/** `harombe keys create`. */
export function runKeysCreate(options: {
  name: string;
  tenant: string;
  scopes: string;
  slackUserId?: string;
  json?: boolean;
}): void {
  const { key, entry } = createApiKey({
    name: options.name,
    tenant: options.tenant,
    scopes: options.scopes,
    slack_user_id: options.slackUserId,
  });
  process.stdout.write(options.json ? `${JSON.stringify({ key, entry }, null, 2)}\n` : formatNewKey(key, entry));
  process.stderr.write(
    'the key is shown only this once: store it now (harombe.yaml keeps only its SHA-256); the API reads api.keys when it starts\n',
  );
}
