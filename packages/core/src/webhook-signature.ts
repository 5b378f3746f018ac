import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * How deliveries are signed. The signature is HMAC-SHA256, keyed with the tenant's webhook secret
 * (the whole string, UTF-8), over `<timestamp>.<body>`: the Unix time in seconds, a dot, and the
 * raw body exactly as sent. It travels in one header with the timestamp:
 *
 *   Harombe-Signature: t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
 *
 * After a secret is rotated, the previous one signs as well for a while: a second `v1=`.
 */

export const WEBHOOK_SIGNATURE_HEADER = 'harombe-signature';
/** The event's id: the same for every retry and every target of one event. */
export const WEBHOOK_EVENT_ID_HEADER = 'harombe-event-id';
export const WEBHOOK_EVENT_TYPE_HEADER = 'harombe-event';
export const WEBHOOK_DELIVERY_ID_HEADER = 'harombe-delivery';
/** How far a signature's timestamp may be from the receiver's clock, by default, in seconds. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

type Body = string | Uint8Array;

/** The hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`. */
export function webhookSignature(secret: string, timestamp: number, body: Body): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The Harombe-Signature value: `t=<timestamp>`, then one `v1=` per secret. */
export function webhookSignatureHeader(secrets: readonly string[], timestamp: number, body: Body): string {
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${webhookSignature(secret, timestamp, body)}`)].join(',');
}

export interface ParsedSignatureHeader {
  timestamp: number;
  /** Every v1 signature, lower-case hex. */
  signatures: string[];
}

/** Reads a Harombe-Signature value; undefined when it has no timestamp or no v1 signature. */
export function parseWebhookSignatureHeader(header: string): ParsedSignatureHeader | undefined {
  if (header.length > 4096) return undefined;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-fA-F]{64}$/.test(value)) signatures.push(value.toLowerCase());
  }
  return timestamp === undefined || signatures.length === 0 ? undefined : { timestamp, signatures };
}

export type WebhookVerificationFailure = 'missing_header' | 'malformed_header' | 'timestamp_out_of_range' | 'mismatch';

export interface VerifyWebhookSignatureOptions {
  /** The raw body, exactly as received (before any JSON parsing). */
  body: Body;
  /** The Harombe-Signature header's value. */
  header: string | null | undefined;
  /** The tenant's secret; during a rotation on your side, both. */
  secret: string | readonly string[];
  /** Default 300 s. */
  toleranceSeconds?: number;
  /** Default: now. Unix seconds. */
  nowSeconds?: number;
}

/**
 * Checks a delivery's signature in constant time against each `v1` and each secret, and that its
 * timestamp is within the tolerance of now (a replay of an old delivery fails).
 */
export function verifyWebhookSignature(
  options: VerifyWebhookSignatureOptions,
): { ok: true; timestamp: number } | { ok: false; reason: WebhookVerificationFailure } {
  if (!options.header) return { ok: false, reason: 'missing_header' };
  const parsed = parseWebhookSignatureHeader(options.header);
  if (!parsed) return { ok: false, reason: 'malformed_header' };
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - parsed.timestamp) > (options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS))
    return { ok: false, reason: 'timestamp_out_of_range' };
  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  let matched = false;
  for (const secret of secrets) {
    const expected = Buffer.from(webhookSignature(secret, parsed.timestamp, options.body), 'hex');
    // Every candidate is compared: how many were tried says nothing about which one matched.
    for (const candidate of parsed.signatures)
      if (timingSafeEqual(expected, Buffer.from(candidate, 'hex'))) matched = true;
  }
  return matched ? { ok: true, timestamp: parsed.timestamp } : { ok: false, reason: 'mismatch' };
}
