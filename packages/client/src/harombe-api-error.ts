import type { ErrorCode } from '@harombe/core';

export interface HarombeApiErrorInit {
  /** HTTP status of the answer; 0 when there was none (network failure, timeout). */
  status: number;
  code: ErrorCode;
  message: string;
  /** `error.details` of the answer, or what the client knows (e.g. `job_id`, `body`). */
  details?: Record<string, unknown>;
  /** The underlying failure, e.g. the network error of a refused connection. */
  cause?: unknown;
}

/**
 * Every failure of a HarombeClient call: an error answer of the API (`ErrorBody`), a network
 * failure (`ServiceUnavailable`, status 0), a timeout (`TimeoutError`, status 0) or an answer
 * that breaks the contract (`InternalError`). Branch on `code`; `message` is for people.
 */
export class HarombeApiError extends Error {
  override readonly name = 'HarombeApiError';
  readonly status: number;
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(init: HarombeApiErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.details = init.details;
  }

  toJSON(): { status: number; code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return {
      status: this.status,
      code: this.code,
      message: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export function isHarombeApiError(error: unknown, code?: ErrorCode): error is HarombeApiError {
  return error instanceof HarombeApiError && (code === undefined || error.code === code);
}
