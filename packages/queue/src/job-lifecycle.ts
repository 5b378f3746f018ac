import { isTerminal, type JobStatus } from '@harombe/core';

/**
 * The job lifecycle: every status change a job can make, in one table. The job store applies
 * them atomically in Redis and refuses any event whose `from` does not hold, so a late or
 * duplicate event can never move a job that has already ended.
 *
 *   awaiting_approval ──approve──▶ queued ──start──▶ running ──complete──▶ completed
 *          │ deny ▶ denied           │                 │ fail ▶ failed
 *          │ expire ▶ expired        │ fail ▶ failed   │ lose_worker ▶ failed (WorkerLost)
 *          └ withdraw ▶ cancelled    └ cancel          │ retry ▶ queued (attempts left)
 *                                                      └ cancel ▶ cancelled
 */
export const JOB_EVENTS = {
  approve: { from: ['awaiting_approval'], to: 'queued' },
  deny: { from: ['awaiting_approval'], to: 'denied' },
  expire: { from: ['awaiting_approval'], to: 'expired' },
  start: { from: ['queued'], to: 'running' },
  complete: { from: ['running'], to: 'completed' },
  /** A job that cannot run (its sandbox is gone) fails before it starts, or while running. */
  fail: { from: ['queued', 'running'], to: 'failed' },
  lose_worker: { from: ['running'], to: 'failed' },
  retry: { from: ['running'], to: 'queued' },
  /** Cancelling a job still waiting for a decision: its approval is withdrawn with it. */
  withdraw: { from: ['awaiting_approval'], to: 'cancelled' },
  cancel: { from: ['queued', 'running'], to: 'cancelled' },
} as const satisfies Record<string, { from: readonly JobStatus[]; to: JobStatus }>;

export type JobEvent = keyof typeof JOB_EVENTS;

/** Events that a deadline guards: a decision after the approval expired changes nothing. */
export const DEADLINE_GUARDED: readonly JobEvent[] = ['approve', 'deny'];

export function transitionOf(event: JobEvent): { from: readonly JobStatus[]; to: JobStatus; terminal: boolean } {
  const { from, to } = JOB_EVENTS[event];
  return { from, to, terminal: isTerminal(to) };
}
