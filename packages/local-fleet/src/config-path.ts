import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { harombeHome } from '@harombe/cli';

/**
 * Which harombe.yaml a command reads, as the fleet's services would: --config, $HAROMBE_CONFIG,
 * ./harombe.yaml, the local fleet's $HAROMBE_HOME/harombe.yaml; undefined means all defaults.
 */
export function configPathOf(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag ?? env.HAROMBE_CONFIG) return flag ?? env.HAROMBE_CONFIG;
  if (existsSync('harombe.yaml')) return 'harombe.yaml';
  const local = join(harombeHome(env), 'harombe.yaml');
  return existsSync(local) ? local : undefined;
}
