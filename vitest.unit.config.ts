import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:unit`: every test that needs neither Docker, nor Redis, nor root, nor a tool the
 * host set-up installs, across the repository, in one run of seconds. Such a test file is named
 * `*.unit.test.ts` (each package's own `npm test` runs it too). Docker is pointed nowhere here,
 * so a unit test that starts to need it fails rather than quietly using the host's.
 */
export default defineConfig({
  test: {
    include: ['{packages,services,tests}/*/test/**/*.unit.test.ts'],
    env: { DOCKER_HOST: 'unix:///nonexistent/harombe-unit-tests/docker.sock' },
    // Threads start faster than processes; no unit test changes directory or exits.
    pool: 'threads',
    poolOptions: {
      threads: {
        // One per core (vitest's default leaves one idle: a single thread on 2 cores). The files
        // that take longest wait on the `harombe` processes they run, which take the core.
        maxThreads: availableParallelism(),
        minThreads: 1,
      },
    },
    // A thread's files share their modules (zod, the contracts, the client load once per thread,
    // not once per file): no unit test mocks a module, stubs a global or changes the environment.
    isolate: false,
    testTimeout: 30_000,
  },
});
