import type Docker from 'dockerode';
import { HarombeError } from '@harombe/core';

const SETUP = 'sudo bash deploy/host/setup.sh';

/** Fails with RuntimeUnavailable, and the fix, when Docker or the runtime is missing. */
export async function checkRuntime(docker: Docker, runtime: string): Promise<void> {
  try {
    await docker.ping();
  } catch (error) {
    throw new HarombeError(
      'RuntimeUnavailable',
      `cannot reach the Docker engine (${(error as Error).message}); install and start it with: ${SETUP}`,
    );
  }
  const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
  if (!info.Runtimes || !(runtime in info.Runtimes)) {
    throw new HarombeError(
      'RuntimeUnavailable',
      `the Docker engine has no '${runtime}' runtime (gVisor is not registered); register it with: ${SETUP}`,
    );
  }
}

/** Fails with RuntimeUnavailable, and the fix, when a sandbox image is not built. */
export async function checkImage(docker: Docker, image: string): Promise<void> {
  try {
    await docker.getImage(image).inspect();
  } catch {
    throw new HarombeError('RuntimeUnavailable', `the sandbox image ${image} is missing; build it with: ${SETUP}`);
  }
}
