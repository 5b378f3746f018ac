/** Docker labels every sandbox container carries: how the reaper and a restart find them. */
export const LABELS = {
  sandbox: 'org.harombe.sandbox',
  owner: 'org.harombe.owner',
  createdAt: 'org.harombe.created-at',
  manager: 'org.harombe.manager',
  language: 'org.harombe.language',
  pooled: 'org.harombe.pooled',
  /** The fleet (its Redis and prefix) the manager belongs to: fleets sharing a Docker host never touch each other's. */
  fleet: 'org.harombe.fleet',
  /** On what a network-enabled sandbox brings along (its proxy, its network); sandboxes have none. */
  role: 'org.harombe.role',
} as const;

/** Values of LABELS.role. */
export const ROLES = {
  egressProxy: 'egress-proxy',
  sandboxNetwork: 'sandbox-network',
  egressNetwork: 'egress-network',
} as const;
