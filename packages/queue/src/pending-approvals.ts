import { RISK_LEVELS, type RiskLevel } from '@harombe/core';
import type { Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';

/** Pending approvals per risk level; `unclassified` counts those past the breakdown limit. */
export type PendingByRisk = Record<RiskLevel | 'unclassified', number>;

/**
 * Read-only views of the jobs waiting for a decision, for metrics and alerts. Every read is
 * bounded: a count over the approval-deadline index, or at most `limit` job hashes.
 */
export class PendingApprovals {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Undecided approvals whose deadline is at or before `deadlineMs`, including those already
   * due that the approval service has not expired yet: one ZCOUNT.
   */
  async countExpiringBefore(deadlineMs: number): Promise<number> {
    return this.redis.zcount(this.keys.approvalDeadlines(), '-inf', deadlineMs);
  }

  /**
   * Pending approvals by risk level: the first `limit` by deadline are looked up (one pipelined
   * HGET each), the rest are counted as `unclassified`. Default limit 10 000.
   */
  async countByRisk(limit = 10_000): Promise<PendingByRisk> {
    const counts = Object.fromEntries([...RISK_LEVELS, 'unclassified'].map((risk) => [risk, 0])) as PendingByRisk;
    const [total, ids] = await Promise.all([
      this.redis.zcard(this.keys.approvalDeadlines()),
      this.redis.zrange(this.keys.approvalDeadlines(), 0, limit - 1),
    ]);
    if (ids.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hget(this.keys.job(id), 'risk');
      for (const [error, risk] of (await pipeline.exec()) ?? []) {
        if (error) throw error;
        // A job hash gone under its deadline entry (expired data) has no risk to report.
        if (typeof risk === 'string' && risk in counts) counts[risk as RiskLevel] += 1;
        else counts.unclassified += 1;
      }
    }
    counts.unclassified += Math.max(0, total - ids.length);
    return counts;
  }
}
