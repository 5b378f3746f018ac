import {
  verifyWebhookSignature,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TOLERANCE_SECONDS,
  WebhookEvent,
  type WebhookVerificationFailure,
} from '@harombe/core';

/** Why a delivery was not accepted: a header missing or malformed, a stale timestamp, a wrong signature, a body that is no event. */
export type WebhookRejection = WebhookVerificationFailure | 'invalid_body';

/** A delivery that is not from the fleet as it claims: answer it 400 (or 401) and drop it. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';

  constructor(
    readonly reason: WebhookRejection,
    message: string,
  ) {
    super(message);
  }
}

export interface VerifyWebhookOptions {
  /** The raw body, exactly as received: verify before parsing it (re-serialised JSON does not match). */
  body: string | Uint8Array;
  /** The Harombe-Signature header's value, or all the request's headers (Node's lower-cased ones). */
  signature?: string | null;
  headers?: Record<string, string | string[] | undefined>;
  /** The tenant's secret (GET /v1/webhooks/secret); during a rotation, the new and the old one. */
  secret: string | readonly string[];
  /** How far the signature's timestamp may be from now. Default 300 s. */
  toleranceSeconds?: number;
  /** Default: now (Unix seconds). */
  nowSeconds?: number;
}

/**
 * Checks a webhook delivery and answers its event. The signature (HMAC-SHA256 over
 * `<t>.<body>` with the tenant's secret) is compared in constant time, and its timestamp must be
 * within `toleranceSeconds` of now, so an old delivery replayed later is refused. Deliveries are
 * at least once: de-duplicate by `event.id` (also in the Harombe-Event-Id header).
 *
 * @throws WebhookVerificationError naming the reason.
 */
export function verifyWebhook(options: VerifyWebhookOptions): WebhookEvent {
  const fromHeaders = options.headers?.[WEBHOOK_SIGNATURE_HEADER];
  const header = options.signature ?? (Array.isArray(fromHeaders) ? fromHeaders[0] : fromHeaders);
  const tolerance = options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  const verdict = verifyWebhookSignature({
    body: options.body,
    header,
    secret: options.secret,
    toleranceSeconds: tolerance,
    ...(options.nowSeconds === undefined ? {} : { nowSeconds: options.nowSeconds }),
  });
  if (!verdict.ok) throw new WebhookVerificationError(verdict.reason, MESSAGES[verdict.reason](tolerance));
  const text = typeof options.body === 'string' ? options.body : Buffer.from(options.body).toString('utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new WebhookVerificationError('invalid_body', 'the signed body is not JSON');
  }
  const event = WebhookEvent.safeParse(data);
  if (!event.success)
    throw new WebhookVerificationError(
      'invalid_body',
      `the signed body is not a webhook event: ${event.error.issues[0]?.path.join('.') || 'body'}: ${event.error.issues[0]?.message}`,
    );
  return event.data;
}

const MESSAGES: Record<WebhookVerificationFailure, (tolerance: number) => string> = {
  missing_header: () => `no ${WEBHOOK_SIGNATURE_HEADER} header`,
  malformed_header: () => `the ${WEBHOOK_SIGNATURE_HEADER} header has no t= timestamp or no v1= signature`,
  timestamp_out_of_range: (tolerance) => `the signature's timestamp is more than ${tolerance} s from now`,
  mismatch: () => 'no v1 signature matches the body with this secret',
};
