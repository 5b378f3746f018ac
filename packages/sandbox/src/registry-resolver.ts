import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HarombeError, type AllowedRegistry } from '@harombe/core';

/** Where one allowed registry is and which hosts installs from it reach. */
export interface ResolvedRegistry {
  name: string;
  indexUrl: string;
  /** index_url's host plus the configured ones. */
  hosts: string[];
}

export interface RegistryResolverOptions {
  /** `security.sandbox.network.allowed_registries`. */
  registries: Record<string, AllowedRegistry>;
  /** Reads the host's npm registry. Default: `npm config get registry`, or undefined if npm fails. */
  hostNpmRegistry?: () => Promise<string | undefined>;
}

const run = promisify(execFile);

async function npmConfigRegistry(): Promise<string | undefined> {
  try {
    const { stdout } = await run('npm', ['config', 'get', 'registry'], { timeout: 10_000 });
    const url = stdout.trim();
    return /^https?:\/\//.test(url) ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Turns `allowed_registries` into index URLs and hosts. No registry host is built in: operators
 * name their mirrors, and npm falls back to the host's own npm configuration.
 */
export class RegistryResolver {
  private readonly registries: Record<string, AllowedRegistry>;
  private readonly hostNpmRegistry: () => Promise<string | undefined>;
  private npmDefault: Promise<string | undefined> | undefined;

  constructor(options: RegistryResolverOptions) {
    this.registries = options.registries;
    this.hostNpmRegistry = options.hostNpmRegistry ?? npmConfigRegistry;
  }

  names(): string[] {
    return Object.keys(this.registries);
  }

  /** Fails with RegistryNotAllowed (before any traffic) for a registry not on the list. */
  async resolve(name: string): Promise<ResolvedRegistry> {
    const entry = this.registries[name];
    if (entry === undefined) {
      const allowed = this.names();
      throw new HarombeError(
        'RegistryNotAllowed',
        `registry '${name}' is not allowed on this deployment (allowed: ${allowed.length > 0 ? allowed.join(', ') : 'none'}); an operator adds it under security.sandbox.network.allowed_registries`,
      );
    }
    const hosts = Array.isArray(entry) ? entry : entry.hosts;
    let indexUrl = Array.isArray(entry) ? undefined : entry.index_url;
    if (indexUrl === undefined && name === 'npm') {
      this.npmDefault ??= this.hostNpmRegistry();
      indexUrl = await this.npmDefault;
    }
    if (indexUrl === undefined) {
      throw new HarombeError(
        'InvalidArgument',
        `registry '${name}' has no index URL: set security.sandbox.network.allowed_registries.${name}.index_url to your mirror`,
      );
    }
    const indexHost = new URL(indexUrl).hostname.toLowerCase();
    // Host patterns alone: the host's npm registry is used only if the operator listed it.
    if (Array.isArray(entry) && !entry.some((pattern) => matchesDomain(indexHost, pattern))) {
      throw new HarombeError(
        'InvalidArgument',
        `the host's ${name} registry ${indexUrl} is not among allowed_registries.${name}; list its host or set allowed_registries.${name}.index_url`,
      );
    }
    return { name, indexUrl, hosts: [...new Set([indexHost, ...hosts.map((h) => h.toLowerCase())])] };
  }

  /** Every registry that resolves; the ones that do not are left out (installs from them fail clearly). */
  async resolveAll(): Promise<ResolvedRegistry[]> {
    const resolved: ResolvedRegistry[] = [];
    for (const name of this.names()) {
      try {
        resolved.push(await this.resolve(name));
      } catch {
        // Reported when an install names it.
      }
    }
    return resolved;
  }
}

/** Exact names, and `*.example.com` for any name below example.com. */
export function matchesDomain(host: string, pattern: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const p = pattern.toLowerCase().replace(/\.$/, '');
  return p.startsWith('*.') ? h.endsWith(p.slice(1)) : h === p;
}
