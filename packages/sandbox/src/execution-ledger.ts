/** One execution (or install) a sandbox ran for a job: from when to when, and whether it kept background processes. */
interface Entry {
  jobId: string;
  from: number;
  /** Undefined while it runs. */
  to: number | undefined;
  background: boolean;
}

/** Executions remembered per sandbox, and sandboxes remembered (a refusal arrives a moment after its sandbox is gone). */
const PER_SANDBOX = 32;
const SANDBOXES = 1024;
/** How late after an execution ended an attempt may still be its own: the two ends of the log see one clock. */
const SLACK_MS = 250;

/**
 * Which job a sandbox ran when: so that a network attempt its egress proxy refused is tied to the
 * job that made it. An attempt made while no execution ran belongs to the last job that kept
 * background processes there, if one did (they are the only code running between executions).
 */
export class ExecutionLedger {
  private readonly sandboxes = new Map<string, Entry[]>();

  /** Starts an entry; call the function it returns when the execution has ended. */
  begin(sandboxId: string, jobId: string, background: boolean, now = Date.now()): () => void {
    const entries = this.sandboxes.get(sandboxId) ?? [];
    this.sandboxes.delete(sandboxId);
    this.sandboxes.set(sandboxId, entries);
    if (this.sandboxes.size > SANDBOXES) this.sandboxes.delete(this.sandboxes.keys().next().value as string);
    const entry: Entry = { jobId, from: now, to: undefined, background };
    entries.push(entry);
    if (entries.length > PER_SANDBOX) entries.shift();
    return () => {
      entry.to = Date.now();
    };
  }

  /** The job whose execution made an attempt at `atMs`, and whether it was a background process of it. */
  jobAt(sandboxId: string, atMs: number): { job_id: string; background: boolean } | undefined {
    const entries = this.sandboxes.get(sandboxId) ?? [];
    for (let i = entries.length - 1; i >= 0; i -= 1) {
      const entry = entries[i] as Entry;
      if (entry.from <= atMs && (entry.to === undefined || atMs <= entry.to + SLACK_MS))
        return { job_id: entry.jobId, background: false };
    }
    for (let i = entries.length - 1; i >= 0; i -= 1) {
      const entry = entries[i] as Entry;
      if (entry.background && entry.from <= atMs) return { job_id: entry.jobId, background: true };
    }
    return undefined;
  }
}
