/** Who is calling: resolved from an API key (or, for Slack, from an approver's identity). */
export interface Principal {
  tenant: string;
  /** The API key's name, or `slack:<user id>` for a decision made in Slack. */
  name: string;
  scopes: readonly ('submit' | 'approve' | 'admin')[];
  slack_user_id?: string;
}
