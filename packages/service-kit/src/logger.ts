import pino, { type DestinationStream, type Logger } from 'pino';

/** Field names whose values never reach a log: keys, tokens, passwords, signing secrets, cookies. */
const SECRET_FIELDS = [
  'api_key',
  'apiKey',
  'token',
  'access_token',
  'password',
  'secret',
  'signing_secret',
  'authorization',
  'cookie',
  'bot_token',
  'app_token',
  'botToken',
  'appToken',
  'signingSecret',
];

/** The redacted paths: each secret field at the top level and one level down, and request headers. */
export const REDACTED_PATHS = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]),
  'req.headers.authorization',
  'req.headers.cookie',
];

/**
 * JSON lines, one per event, with the service name (and `bindings`, e.g. a worker_id) on every
 * line and secrets redacted. Default destination: stdout.
 */
export function createLogger(
  service: string,
  bindings: Record<string, unknown> = {},
  destination?: DestinationStream,
): Logger {
  const options = {
    name: service,
    level: process.env.HAROMBE_LOG_LEVEL ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    base: { service, ...bindings },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A Redis URL fit for a log line. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//[REDACTED]@');
}
