import { z } from 'zod';

/**
 * Stable error codes. Clients branch on these, so a code is never renamed or reused;
 * the message next to it is for people and may change.
 */
export const ERROR_CODES = [
  'InvalidArgument',
  'PayloadTooLarge',
  'UnsupportedLanguage',
  'LimitTooHigh',
  'SandboxNotFound',
  'SandboxLost',
  'InvalidPath',
  'FileNotFound',
  'NotADirectory',
  'IsADirectory',
  'FileTooLarge',
  'DiskLimitExceeded',
  'NetworkDisabled',
  /** code_install_package named a registry not in network.allowed_registries. */
  'RegistryNotAllowed',
  /** The package manager ran and failed (its output says why). */
  'InstallFailed',
  'TimeoutError',
  'MemoryLimitExceeded',
  'RuntimeUnavailable',
  'InternalError',
  // The job pipeline.
  'UnknownTool',
  'Unauthorized',
  'Forbidden',
  'NotFound',
  'Conflict',
  /** An idempotency key the tenant already used came with another payload (tool, params; a batch's jobs). */
  'IdempotencyConflict',
  'ApprovalDenied',
  'ApprovalTimeout',
  'AlreadyDecided',
  'SelfApprovalForbidden',
  'Cancelled',
  'WorkerLost',
  'ServiceUnavailable',
  /** A per-tenant quota (kept sandboxes, waiting jobs, stored bytes) is used up. */
  'QuotaExceeded',
  /** The fleet has no room for another kept sandbox now. */
  'CapacityExceeded',
  /** Submissions came faster than the tenant's (or key's) rate allows; Retry-After says when to try again. */
  'RateLimited',
  /** The job store (Redis) is too full to take another submission; the fleet runs on. */
  'StoreFull',
  /**
   * A webhook URL leads where deliveries may not go: loopback, link-local, a private range, the
   * fleet's own addresses (unless the configuration allows it), or a name that does not resolve.
   */
  'WebhookTargetRefused',
] as const;
export const ErrorCode = z.enum(ERROR_CODES);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** An error with a stable code, thrown by every Harombe package. */
export class HarombeError extends Error {
  override readonly name = 'HarombeError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

export function isHarombeError(error: unknown, code?: ErrorCode): error is HarombeError {
  return error instanceof HarombeError && (code === undefined || error.code === code);
}
