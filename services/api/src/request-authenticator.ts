import type { AuditTrail, Principal } from '@harombe/queue';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { sha256Hex, type ApiKeyring } from './api-keyring.js';
import { RefusedAuthRecorder } from './refused-auth-recorder.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** Who asks: the request's principal, or Unauthorized (recorded). What every route calls first. */
export type Authenticate = (request: FastifyRequest) => Principal;

export interface RequestAuthenticatorOptions {
  keyring: ApiKeyring;
  logger: Logger;
  /** Where refused keys are recorded besides the log. Default: the log alone. */
  audit?: AuditTrail;
}

/**
 * Resolves a request's bearer key to its principal once per request; a missing, malformed or
 * unknown key is refused and recorded (its source and a prefix of its hash, never the key).
 */
export class RequestAuthenticator {
  private readonly refused: RefusedAuthRecorder;

  constructor(private readonly options: RequestAuthenticatorOptions) {
    this.refused = new RefusedAuthRecorder({
      logger: options.logger,
      ...(options.audit ? { audit: options.audit } : {}),
    });
  }

  readonly authenticate: Authenticate = (request) => {
    if (request.principal) return request.principal;
    try {
      request.principal = this.options.keyring.authenticate(request.headers.authorization);
      return request.principal;
    } catch (error) {
      const key = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
      this.refused.refused({
        address: request.ip,
        method: request.method,
        route: request.routeOptions.url ?? request.url.split('?')[0] ?? '',
        reason: key ? 'unknown_key' : 'missing_or_malformed',
        key_sha256_prefix: key ? sha256Hex(key).slice(0, 12) : null,
      });
      throw error;
    }
  };

  /** Records what the current window held back. */
  async close(): Promise<void> {
    await this.refused.close();
  }
}
