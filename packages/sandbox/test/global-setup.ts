import { LANGUAGES, SandboxConfig } from '@harombe/core';
import Docker from 'dockerode';
import { checkImage, checkRuntime } from '../src/index.js';

/** Fails the whole run, with the fix, when Docker, runsc or an image is missing. Never skips. */
export default async function setup(): Promise<void> {
  const docker = new Docker();
  await checkRuntime(docker, 'runsc');
  await checkRuntime(docker, 'runsc-net');
  const { languages, network } = SandboxConfig.parse({});
  for (const image of [...LANGUAGES.map((language) => languages[language].image), network.proxy_image]) {
    await checkImage(docker, image);
  }
}
