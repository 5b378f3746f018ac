/**
 * Secrets kept out of logs and the audit trail: values under keys that name a secret, and
 * anything shaped like a Slack token, a Harombe API key, a bearer token or a URL's password,
 * wherever it appears in text.
 */

export const REDACTED = '[REDACTED]';

/** Keys whose values are secret whatever they hold. */
const SECRET_KEY =
  /(^|_|-)(token|secret|password|passwd|authorization|api_?key|apikey|signature|cookie|private_?key)s?$/i;

const SECRET_TEXT: readonly [RegExp, string][] = [
  // Slack bot, user, app-level and refresh tokens.
  [/\bxox[abposre]-[A-Za-z0-9-]{6,}/g, REDACTED],
  [/\bxapp-[A-Za-z0-9-]{6,}/g, REDACTED],
  // Harombe API keys (`harombe keys create`: hk_ and 43 base64url characters).
  [/\bhk_[A-Za-z0-9_-]{20,}/g, REDACTED],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi, `$1 ${REDACTED}`],
  // Slack request signatures.
  [/\bv0=[0-9a-f]{64}\b/g, REDACTED],
  // user:password@ in URLs.
  [/(\/\/)[^/\s:@]*:[^/\s@]+@/g, `$1${REDACTED}@`],
];

/** `text` with every secret-shaped part replaced by [REDACTED]. */
export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_TEXT) out = out.replace(pattern, replacement);
  return out;
}

/** A deep copy of `value` with secret keys' values and secret-shaped text redacted. */
export function redactSecrets<T>(value: T): T {
  return redactValue(value, 0) as T;
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth > 20 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      SECRET_KEY.test(key) && item !== null && item !== undefined && item !== ''
        ? REDACTED
        : redactValue(item, depth + 1);
  }
  return out;
}
