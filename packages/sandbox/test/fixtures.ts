import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { pino } from 'pino';
import type { SandboxConfigInput } from '@harombe/core';
import { SandboxManager, type SandboxManagerOptions } from '../src/index.js';

export const docker = new Docker();
export const quietLogger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

/** A manager with its own id, so tests never see (or reap) each other's containers. */
export function testManager(config: SandboxConfigInput = {}, options: SandboxManagerOptions = {}): SandboxManager {
  return new SandboxManager({
    config,
    managerId: `test-${randomBytes(4).toString('hex')}`,
    logger: quietLogger,
    sweepIntervalMs: 0,
    ...options,
  });
}

/** Containers Docker holds for one manager id. */
export async function containersOf(managerId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`org.harombe.manager=${managerId}`] } });
}
