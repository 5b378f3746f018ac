import pino, { type Logger } from 'pino';

/** Paths never written to logs: keys, tokens, passwords, signing secrets. */
export const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  '*.api_key',
  '*.apiKey',
  '*.token',
  '*.password',
  '*.secret',
  '*.signing_secret',
];

/** JSON lines, one per event, with the service name and secrets redacted. */
export function createLogger(service: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    name: service,
    level: process.env.HAROMBE_LOG_LEVEL ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    base: { service, ...bindings },
  });
}

/** A Redis URL fit for a log line. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//[REDACTED]@');
}
