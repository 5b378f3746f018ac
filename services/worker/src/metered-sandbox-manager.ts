import { performance } from 'node:perf_hooks';
import {
  SandboxManager,
  type CreateSandboxRequest,
  type SandboxInfo,
  type SandboxManagerOptions,
} from '@harombe/sandbox';

/** Told how long each new sandbox took to hand over, in seconds. */
export type SandboxStartObserver = (language: string, seconds: number) => void;

/**
 * The sandbox runtime, timing every sandbox it hands out (from the warm pool or a cold start)
 * for the worker's metrics. Nothing else differs.
 */
export class MeteredSandboxManager extends SandboxManager {
  constructor(
    options: SandboxManagerOptions,
    private readonly onStarted: SandboxStartObserver,
  ) {
    super(options);
  }

  override async create(request: CreateSandboxRequest): Promise<SandboxInfo> {
    const started = performance.now();
    const sandbox = await super.create(request);
    this.onStarted(sandbox.language, (performance.now() - started) / 1000);
    return sandbox;
  }
}
