import Docker from 'dockerode';
import { checkImage, checkRuntime } from '../src/index.js';

/** Fails the whole run, with the fix, when Docker, runsc or an image is missing. Never skips. */
export default async function setup(): Promise<void> {
  const docker = new Docker();
  await checkRuntime(docker, 'runsc');
  await checkRuntime(docker, 'runsc-net');
  for (const image of [
    'harombe/sandbox-python',
    'harombe/sandbox-node',
    'harombe/sandbox-shell',
    'harombe/egress-proxy',
  ]) {
    await checkImage(docker, image);
  }
}
