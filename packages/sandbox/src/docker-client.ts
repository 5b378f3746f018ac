import { Agent } from 'node:http';
import { inspect } from 'node:util';
import Docker from 'dockerode';

/**
 * The HTTP agent of the Docker API client: connections are kept open between calls (an
 * execution makes a few). docker-modem formats every request's options, agent included, with
 * `util.inspect(…, { showHidden: true, depth: null })` whether or not its debug log is on; an
 * agent holding open sockets is a deep object graph, and formatting it cost a worker more CPU
 * per job than the rest of the job's path. It formats as its name.
 */
export class DockerAgent extends Agent {
  constructor() {
    super({ keepAlive: true });
  }

  [inspect.custom](): string {
    return 'DockerAgent';
  }
}

/** A Docker API client on the local socket (or DOCKER_HOST) with a keep-alive `DockerAgent`. */
export function dockerClient(): Docker {
  return new Docker({ agent: new DockerAgent() } as Docker.DockerOptions);
}
