/** Docker labels every sandbox container carries: how the reaper and a restart find them. */
export const LABELS = {
  sandbox: 'org.harombe.sandbox',
  owner: 'org.harombe.owner',
  createdAt: 'org.harombe.created-at',
  manager: 'org.harombe.manager',
  language: 'org.harombe.language',
  pooled: 'org.harombe.pooled',
} as const;
