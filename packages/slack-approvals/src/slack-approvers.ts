import type { Clock } from '@harombe/core';
import type { webApi } from '@slack/bolt';

export interface SlackApproversOptions {
  /** Slack user ids who may decide. */
  users: readonly string[];
  /** A user group whose members may decide. Default: none. */
  usergroup?: string | undefined;
  /** Reads the user group's members (usergroups.users.list). */
  client: Pick<webApi.WebClient, 'usergroups'>;
  clock: Clock;
  /** How long the group's members are remembered, ms. Default 60 000. */
  cacheMs?: number;
}

/** Who may decide from Slack: the configured users, and the members of the configured user group. */
export class SlackApprovers {
  private readonly users: ReadonlySet<string>;
  private readonly cacheMs: number;
  private members: { ids: ReadonlySet<string>; until: number } | undefined;

  constructor(private readonly options: SlackApproversOptions) {
    this.users = new Set(options.users);
    this.cacheMs = options.cacheMs ?? 60_000;
  }

  /** True for an approver. Throws when the user group is needed and Slack cannot say who is in it. */
  async isApprover(userId: string): Promise<boolean> {
    if (this.users.has(userId)) return true;
    if (!this.options.usergroup) return false;
    return (await this.groupMembers()).has(userId);
  }

  /** How to mention the approvers in a reminder: the group, or the users. */
  mention(): string | null {
    if (this.options.usergroup) return `<!subteam^${this.options.usergroup}>`;
    return this.users.size > 0 ? [...this.users].map((id) => `<@${id}>`).join(' ') : null;
  }

  private async groupMembers(): Promise<ReadonlySet<string>> {
    const now = this.options.clock.now();
    if (this.members && this.members.until > now) return this.members.ids;
    const reply = await this.options.client.usergroups.users.list({ usergroup: this.options.usergroup as string });
    this.members = { ids: new Set(reply.users ?? []), until: now + this.cacheMs };
    return this.members.ids;
  }
}
