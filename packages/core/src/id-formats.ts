/** The shape of an id the API hands out, and what a refusal of another says. */
export interface IdFormat {
  pattern: RegExp;
  message: string;
}

/**
 * The ids' shapes, without zod: the CLI checks its arguments with them before it loads the
 * contracts (@harombe/core/names); jobs.ts and tools.ts make their schemas of them.
 */
export const ID_FORMATS = {
  job_id: { pattern: /^job-[0-9a-f]{24}$/, message: 'a job_id looks like job-<24 hex digits>' },
  batch_id: { pattern: /^batch-[0-9a-f]{24}$/, message: 'a batch_id looks like batch-<24 hex digits>' },
  approval_id: { pattern: /^approval-[0-9a-f]{24}$/, message: 'an approval_id looks like approval-<24 hex digits>' },
  sandbox_id: { pattern: /^sandbox-[0-9a-f]{16}$/, message: 'a sandbox_id looks like sandbox-<16 hex digits>' },
} as const satisfies Record<string, IdFormat>;
