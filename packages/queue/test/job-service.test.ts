import { DEFAULT_MAX_LIMITS, ExecutionResult, HarombeError, ManualClock } from '@harombe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobStore, SHARED_QUEUE, workerQueueName, type Principal } from '../src/index.js';
import {
  alice,
  approvalIdOf,
  bob,
  carol,
  connect,
  expectHarombeError,
  Harness,
  HIGH_EXECUTE,
  LOST_AFTER_MS,
  mallory,
  RESULT_TTL_SECONDS,
  useRedisContainer,
} from './harness.js';

const container = useRedisContainer();

describe('JobService', () => {
  let h: Harness;
  let clock: ManualClock;

  beforeEach(() => {
    clock = new ManualClock();
    h = new Harness(container.url, {
      clock,
      // A LOW job that needs no sandbox, to see the shared queue without approving anything.
      policy: {
        rules: [
          {
            tools: ['code_execute'],
            risk: 'LOW',
            conditions: [{ param: 'code', matches: '^# low-risk' }],
            description: 'Known-safe snippet',
          },
        ],
      },
    });
  });

  afterEach(async () => {
    await h.close();
  });

  describe('submit', () => {
    it('queues a LOW job without a sandbox on the shared queue', async () => {
      const view = await h.service.submit(alice, {
        tool: 'code_execute',
        params: { language: 'python', code: '# low-risk\nprint(1)' },
      });
      expect(view).toMatchObject({ status: 'queued', risk: 'LOW', approval: null, attempts: 0, max_attempts: 1 });
      expect((await h.job(view.job_id)).status).toBe('queued');
      const bull = await h.dispatcher.queue(SHARED_QUEUE).getJob(`${view.job_id}-0`);
      // With what the worker's claim needs: it starts and reads the job in one step.
      expect(bull?.data).toEqual({
        job_id: view.job_id,
        claim: {
          routing: {
            tenant: alice.tenant,
            submitted_by: alice.name,
            batch_id: '',
            approval_id: '',
            idempotency_ref: '',
          },
          tool: 'code_execute',
          payload_sha256: (await h.job(view.job_id)).payload_sha256,
          attempts: 0,
        },
      });
      expect(await h.dispatcher.queue(SHARED_QUEUE).getJobCounts('waiting')).toMatchObject({ waiting: 1 });
      expect(await h.queueTotal(SHARED_QUEUE)).toBe(1);
      expect(await h.dispatcher.isOnQueue(await h.job(view.job_id))).toBe(true);
    });

    it('queues a LOW code_destroy_sandbox on the queue of the worker holding the sandbox', async () => {
      await h.heartbeat('w1');
      const sandboxId = await h.putSandbox('w1');
      const view = await h.service.submit(alice, { tool: 'code_destroy_sandbox', params: { sandbox_id: sandboxId } });
      expect(view).toMatchObject({ status: 'queued', risk: 'LOW', approval: null });
      expect(await h.queuedBullIds(workerQueueName('w1'))).toEqual([`${view.job_id}-0`]);
      expect(await h.queueTotal(SHARED_QUEUE)).toBe(0);
    });

    it('fails a job naming a sandbox that is unknown or belongs to another tenant (SandboxNotFound)', async () => {
      await h.heartbeat('w1');
      const othersSandbox = await h.putSandbox('w1', mallory.tenant);
      for (const sandboxId of [othersSandbox, 'sandbox-0123456789abcdef']) {
        const view = await h.service.submit(alice, { tool: 'code_destroy_sandbox', params: { sandbox_id: sandboxId } });
        const stored = await h.job(view.job_id);
        expect(stored.status).toBe('failed');
        expect(stored.error?.code).toBe('SandboxNotFound');
      }
      expect(await h.queueTotal(workerQueueName('w1'))).toBe(0);
    });

    it('holds a HIGH code_execute for approval, off every queue', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      expect(view).toMatchObject({ status: 'awaiting_approval', risk: 'HIGH', risk_reason: 'Code execution' });
      expect(view.approval).toMatchObject({
        status: 'pending',
        risk: 'HIGH',
        expires_at: new Date(clock.now() + 60_000).toISOString(),
        decided_by: null,
      });
      expect(await h.queueTotal(SHARED_QUEUE)).toBe(0);
      expect(await h.dispatcher.queue(SHARED_QUEUE).getJob(`${view.job_id}-0`)).toBeUndefined();
      expect((await h.service.pendingApprovals(carol, 10)).map((j) => j.job_id)).toEqual([view.job_id]);
      expect(await h.ttl(h.keys.job(view.job_id))).toBe(-1);
    });

    it('refuses a principal without the submit scope (Forbidden) and stores nothing', async () => {
      await expectHarombeError(h.service.submit(carol, HIGH_EXECUTE), 'Forbidden');
      expect(await h.allKeys()).toEqual([]);
    });

    it('validates the request, naming the field, and stores nothing', async () => {
      const unknown = await expectHarombeError(
        h.service.submit(alice, { tool: 'code_explode', params: {} }),
        'UnknownTool',
      );
      expect(unknown.details).toMatchObject({ field: 'tool' });

      const language = await expectHarombeError(
        h.service.submit(alice, { tool: 'code_execute', params: { language: 'cobol', code: 'x' } }),
        'UnsupportedLanguage',
      );
      expect(language.details).toMatchObject({ field: 'params.language' });

      const badCode = await expectHarombeError(
        h.service.submit(alice, { tool: 'code_execute', params: { language: 'python', code: 42 } }),
        'InvalidArgument',
      );
      expect(badCode.details).toMatchObject({ field: 'params.code' });

      const badSandbox = await expectHarombeError(
        h.service.submit(alice, { tool: 'code_read_file', params: { sandbox_id: 'nope', file_path: 'a.txt' } }),
        'InvalidArgument',
      );
      expect(badSandbox.details).toMatchObject({ field: 'params.sandbox_id' });

      const missing = await expectHarombeError(
        h.service.submit(alice, {
          tool: 'code_write_file',
          params: { sandbox_id: 'sandbox-0123456789abcdef', content: '' },
        }),
        'InvalidArgument',
      );
      expect(missing.details).toMatchObject({ field: 'params.file_path' });

      const attempts = await expectHarombeError(
        h.service.submit(alice, { ...HIGH_EXECUTE, max_attempts: 0 }),
        'InvalidArgument',
      );
      expect(attempts.details).toMatchObject({ field: 'max_attempts' });

      const tooLarge = await expectHarombeError(
        h.service.submit(alice, { tool: 'code_execute', params: { language: 'python', code: 'x'.repeat(1_048_577) } }),
        'PayloadTooLarge',
      );
      expect(tooLarge.details).toMatchObject({ field: 'params.code', max_bytes: 1_048_576 });

      expect(await h.allKeys()).toEqual([]);
    });

    it('accepts code of exactly the size limit', async () => {
      const view = await h.service.submit(alice, {
        tool: 'code_execute',
        params: { language: 'python', code: 'x'.repeat(1_048_576) },
      });
      expect(view.status).toBe('awaiting_approval');
    });

    it('counts stdin with the code against the size limit, in bytes', async () => {
      // 1 MiB in all: 2-byte characters in the code, 4-byte ones in stdin.
      const code = `# ${'é'.repeat(262_143)}`;
      const stdin = '😀'.repeat(131_072);
      expect(Buffer.byteLength(code) + Buffer.byteLength(stdin)).toBe(1_048_576);
      const fits = await h.service.submit(alice, { tool: 'code_execute', params: { language: 'python', code, stdin } });
      expect(fits.params.stdin).toBe(stdin);
      const over = await expectHarombeError(
        h.service.submit(alice, { tool: 'code_execute', params: { language: 'python', code, stdin: `${stdin}x` } }),
        'PayloadTooLarge',
      );
      expect(over.details).toMatchObject({ field: 'params.stdin', max_bytes: 1_048_576 });
      expect(over.message).toMatch(/^params\.stdin: with the code, larger than 1048576 bytes$/);
    });

    it('returns the same job for the same idempotency key from the same tenant, a new one for another tenant', async () => {
      const first = await h.service.submit(alice, { ...HIGH_EXECUTE, idempotency_key: 'order-42' });
      const again = await h.service.submit(bob, { ...HIGH_EXECUTE, idempotency_key: 'order-42' });
      expect(again.job_id).toBe(first.job_id);
      expect(await h.jobKeys()).toHaveLength(1);
      expect(await h.service.pendingApprovals(carol, 10)).toHaveLength(1);

      const other = await h.service.submit(mallory, { ...HIGH_EXECUTE, idempotency_key: 'order-42' });
      expect(other.job_id).not.toBe(first.job_id);
      expect(await h.jobKeys()).toHaveLength(2);
      expect((await h.job(other.job_id)).tenant).toBe(mallory.tenant);
    });

    it('answers IdempotencyConflict for a used idempotency key with another tool or params, storing nothing', async () => {
      const first = await h.service.submit(alice, { ...HIGH_EXECUTE, idempotency_key: 'order-7' });
      const conflicts = [
        { tool: 'code_execute', params: { language: 'python', code: 'print(2)' } },
        { tool: 'code_execute', params: { language: 'shell', code: 'print(1)' } },
        { tool: 'code_list_files', params: { sandbox_id: 'sandbox-0123456789abcdef' } },
      ];
      for (const request of conflicts) {
        const error = await expectHarombeError(
          h.service.submit(alice, { ...request, idempotency_key: 'order-7' }),
          'IdempotencyConflict',
        );
        expect(error.details).toMatchObject({ field: 'idempotency_key', job_id: first.job_id });
      }
      expect(await h.jobKeys()).toHaveLength(1);
      // The same payload, spelled with its defaults, is the same job.
      const again = await h.service.submit(alice, {
        tool: 'code_execute',
        params: { language: 'python', code: 'print(1)', network_enabled: false, allowed_domains: [] },
        idempotency_key: 'order-7',
      });
      expect(again.job_id).toBe(first.job_id);
    });

    it('lets exactly one of two concurrent submissions with one key and different payloads win', async () => {
      const requests = ['print("a")', 'print("b")'].map((code) => ({
        tool: 'code_execute',
        params: { language: 'python', code },
        idempotency_key: 'race',
      }));
      const outcomes = await Promise.allSettled(requests.map((request) => h.service.submit(alice, request)));
      expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
      const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toMatchObject({ code: 'IdempotencyConflict' });
      expect(await h.jobKeys()).toHaveLength(1);
    });

    it('queues a LOW idempotent job once', async () => {
      const request = {
        tool: 'code_execute',
        params: { language: 'python', code: '# low-risk' },
        idempotency_key: 'once',
      };
      const [a, b] = await Promise.all([h.service.submit(alice, request), h.service.submit(alice, request)]);
      expect(a.job_id).toBe(b.job_id);
      expect(await h.jobKeys()).toHaveLength(1);
      expect(await h.queuedBullIds()).toEqual([`${a.job_id}-0`]);
    });
  });

  describe('submission: what the worker would refuse, and what it will touch', () => {
    const SANDBOX = 'sandbox-0123456789abcdef';

    it('stores file paths normalized, so the policy classifies and the approver sees what the worker touches', async () => {
      const write = await h.service.submit(alice, {
        tool: 'code_write_file',
        params: { sandbox_id: SANDBOX, file_path: 'evil.py/', content: 'print(1)' },
      });
      expect(write.params.file_path).toBe('evil.py');
      expect(write).toMatchObject({ risk: 'HIGH', risk_reason: 'Writing an executable file', risk_matched: 'evil.py' });
      const read = await h.service.submit(alice, {
        tool: 'code_read_file',
        params: { sandbox_id: SANDBOX, file_path: './data//../out.txt' },
      });
      expect(read.params.file_path).toBe('out.txt');
      const list = await h.service.submit(alice, {
        tool: 'code_list_files',
        params: { sandbox_id: SANDBOX, path: 'a/b/' },
      });
      expect(list.params.path).toBe('a/b');
      expect((await h.job(write.job_id)).params.file_path).toBe('evil.py');
    });

    it.each([
      ['../etc/passwd', 'an escape'],
      ['/etc/passwd', 'an absolute path'],
      ['a'.repeat(256), 'a name over NAME_MAX'],
      [`${'é'.repeat(100)}/`.repeat(21), 'a path over PATH_MAX (in bytes)'],
    ])('refuses %#: %s (InvalidPath), naming the field, storing nothing', async (path) => {
      for (const [tool, params, field] of [
        ['code_write_file', { sandbox_id: SANDBOX, file_path: path, content: '' }, 'params.file_path'],
        ['code_read_file', { sandbox_id: SANDBOX, file_path: path }, 'params.file_path'],
        ['code_list_files', { sandbox_id: SANDBOX, path }, 'params.path'],
      ] as const) {
        const error = await expectHarombeError(h.service.submit(alice, { tool, params }), 'InvalidPath');
        expect(error.details).toMatchObject({ field });
      }
      const batch = await expectHarombeError(
        h.service.submitBatch(alice, {
          jobs: [HIGH_EXECUTE, { tool: 'code_read_file', params: { sandbox_id: SANDBOX, file_path: path } }],
        }),
        'InvalidPath',
      );
      expect(batch.details).toMatchObject({ field: 'jobs.1.params.file_path' });
      expect(await h.allKeys()).toEqual([]);
    });

    it('refuses a timeout above max_execution_time (LimitTooHigh), naming the limit and the maximum', async () => {
      const error = await expectHarombeError(
        h.service.submit(alice, {
          tool: 'code_execute',
          params: { language: 'python', code: 'print(1)', timeout: 1e9 },
        }),
        'LimitTooHigh',
      );
      expect(error.message).toMatch(/max_execution_time/);
      expect(error.message).toMatch(/600/);
      expect(error.details).toMatchObject({ field: 'params.timeout', limit: 'max_execution_time', maximum: 600 });
      expect(await h.allKeys()).toEqual([]);
      const atMost = await h.service.submit(alice, {
        tool: 'code_execute',
        params: { language: 'python', code: 'print(1)', timeout: 600 },
      });
      expect(atMost.status).toBe('awaiting_approval');
    });

    it("takes the ceilings from the sandbox configuration's max_limits", async () => {
      const strict = new Harness(container.url, { maxLimits: { ...DEFAULT_MAX_LIMITS, max_execution_time: 45 } });
      try {
        const execute = (timeout: number) => ({
          tool: 'code_execute',
          params: { language: 'shell', code: 'sleep 1', timeout },
        });
        const error = await expectHarombeError(strict.service.submit(alice, execute(45.5)), 'LimitTooHigh');
        expect(error.details).toMatchObject({ limit: 'max_execution_time', maximum: 45 });
        const batch = await expectHarombeError(
          strict.service.submitBatch(alice, { jobs: [execute(10), execute(46)] }),
          'LimitTooHigh',
        );
        expect(batch.details).toMatchObject({ field: 'jobs.1.params.timeout' });
        expect((await strict.service.submit(alice, execute(45))).status).toBe('awaiting_approval');
      } finally {
        await strict.close();
      }
    });
  });

  describe('submission: the sandbox a job names', () => {
    it('rates a job by the network of the sandbox it runs in, and says so in its params', async () => {
      await h.heartbeat('w1');
      const networked = await h.putSandbox('w1', alice.tenant, ['pypi.org']);
      const view = await h.service.submit(alice, {
        tool: 'code_execute',
        params: { language: 'python', code: 'print(1)', sandbox_id: networked },
      });
      expect(view).toMatchObject({
        status: 'awaiting_approval',
        risk: 'CRITICAL',
        risk_reason: 'Code execution with network access',
        risk_matched: `the network of ${networked}: allowed_domains pypi.org`,
        params: { network_enabled: true, allowed_domains: ['pypi.org'] },
      });
      const install = await h.service.submit(alice, {
        tool: 'code_install_package',
        params: { sandbox_id: networked, package: 'requests' },
      });
      expect(install).toMatchObject({
        risk: 'CRITICAL',
        risk_reason: 'Package installation in a sandbox that reaches other domains',
      });
      const batch = await h.service.submitBatch(alice, {
        jobs: [{ tool: 'code_execute', params: { language: 'python', code: 'print(2)', sandbox_id: networked } }],
      });
      expect((await h.job(batch.job_ids[0] as string)).risk).toBe('CRITICAL');

      const plain = await h.putSandbox('w1', alice.tenant);
      const offline = await h.service.submit(alice, {
        tool: 'code_execute',
        params: { language: 'python', code: 'print(1)', sandbox_id: plain },
      });
      expect(offline).toMatchObject({ risk: 'HIGH', params: { network_enabled: false } });
      // Another tenant's sandbox tells nothing (the job fails SandboxNotFound when it runs).
      const others = await h.putSandbox('w1', mallory.tenant, ['evil.example']);
      const foreign = await h.service.submit(alice, {
        tool: 'code_execute',
        params: { language: 'python', code: 'print(1)', sandbox_id: others },
      });
      expect(foreign).toMatchObject({ risk: 'HIGH', params: { network_enabled: false, allowed_domains: [] } });
    });

    it('reads the sandbox once: the entry that classified the job routes it to its worker', async () => {
      await h.heartbeat('w1');
      const sandboxId = await h.putSandbox('w1');
      const { value: view, commands } = await h.commandsDuring(() =>
        h.service.submit(alice, { tool: 'code_destroy_sandbox', params: { sandbox_id: sandboxId } }),
      );
      expect(view.status).toBe('queued');
      expect(await h.queuedBullIds(workerQueueName('w1'))).toEqual([`${view.job_id}-0`]);
      const entry = h.keys.sandbox(sandboxId);
      expect(commands.filter((args) => args.includes(entry))).toEqual([['mget', entry]]);
      // The batch's jobs are routed by the entries the batch read, too.
      const batch = await h.commandsDuring(() =>
        h.service.submitBatch(alice, {
          jobs: [1, 2, 3].map(() => ({ tool: 'code_destroy_sandbox', params: { sandbox_id: sandboxId } })),
        }),
      );
      expect(batch.commands.filter((args) => args.includes(entry))).toEqual([['mget', entry]]);
      expect(await h.queuedBullIds(workerQueueName('w1'))).toHaveLength(4);
    });

    it("asks whether a sandbox's worker is alive once a second at most; one silent since is still found lost", async () => {
      await h.heartbeat('w1');
      const sandboxId = await h.putSandbox('w1');
      const submit = () => h.service.submit(alice, { tool: 'code_destroy_sandbox', params: { sandbox_id: sandboxId } });
      const asks = (commands: string[][]) =>
        commands.filter(([name, key]) => name === 'zscore' && key === h.keys.workers());
      expect(asks((await h.commandsDuring(submit)).commands)).toHaveLength(1);
      clock.advance(500);
      const soon = await h.commandsDuring(submit);
      expect(soon.value.status).toBe('queued');
      expect(asks(soon.commands)).toHaveLength(0);
      // Silent past the lost timeout: asked again, and found lost.
      clock.advance(LOST_AFTER_MS + 1);
      const late = await h.commandsDuring(submit);
      expect(asks(late.commands)).toHaveLength(1);
      expect(late.value).toMatchObject({ status: 'failed', error: { code: 'SandboxLost' } });
    });

    it('fails a job whose sandbox is still listed but whose worker stopped beating (SandboxLost)', async () => {
      await h.heartbeat('w1');
      const sandboxId = await h.putSandbox('w1');
      // No housekeeping since: the directory still lists the sandbox, its worker is silent.
      clock.advance(LOST_AFTER_MS + 1);
      const view = await h.service.submit(alice, { tool: 'code_destroy_sandbox', params: { sandbox_id: sandboxId } });
      expect(view.status).toBe('failed');
      expect(view.error).toMatchObject({
        code: 'SandboxLost',
        message: expect.stringContaining('lost with its worker w1'),
      });
      expect(await h.queueTotal(workerQueueName('w1'))).toBe(0);
    });
  });

  describe('decide', () => {
    it('approves: the job is queued and put on the shared queue', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      const decision = await h.service.decide(carol, approvalIdOf(view), 'approve', 'looks fine');
      expect(decision).toMatchObject({ job_id: view.job_id, decided: true, status: 'queued' });
      expect(decision.approval).toMatchObject({
        status: 'approved',
        decided_by: carol.name,
        reason: 'looks fine',
        channel: 'api',
        decided_at: new Date(clock.now()).toISOString(),
      });
      const stored = await h.job(view.job_id);
      expect(stored.status).toBe('queued');
      expect(stored.error).toBeNull();
      expect(await h.queuedBullIds()).toEqual([`${view.job_id}-0`]);
      expect(await h.service.pendingApprovals(carol, 10)).toEqual([]);
      expect(await h.ttl(h.keys.job(view.job_id))).toBe(-1);
    });

    it('denies: the job ends denied with the tool-shaped failed result', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      const decision = await h.service.decide(bob, approvalIdOf(view), 'deny', 'not today', 'slack');
      expect(decision).toMatchObject({ decided: true, status: 'denied' });
      expect(decision.approval).toMatchObject({
        status: 'denied',
        decided_by: bob.name,
        reason: 'not today',
        channel: 'slack',
      });
      const stored = await h.job(view.job_id);
      expect(stored.status).toBe('denied');
      expect(stored.error?.code).toBe('ApprovalDenied');
      expect(stored.result).toMatchObject({ success: false, error: 'ApprovalDenied', exit_code: -1, stdout: '' });
      expect(ExecutionResult.safeParse(stored.result).success).toBe(true);
      expect(stored.finished_at).toBe(clock.now());
      expect(await h.queueTotal()).toBe(0);
      expect(await h.ttl(h.keys.job(view.job_id))).toBeGreaterThan(RESULT_TTL_SECONDS - 60);
    });

    it('refuses self-approval by the same key or the same Slack user, and a principal without approve', async () => {
      const view = await h.service.submit(bob, HIGH_EXECUTE);
      const id = approvalIdOf(view);
      await expectHarombeError(h.service.decide(bob, id, 'approve', null), 'SelfApprovalForbidden');
      await expectHarombeError(h.service.decide(bob, id, 'deny', null), 'SelfApprovalForbidden');
      const sameSlackUser: Principal = {
        tenant: bob.tenant,
        name: `slack:${bob.slack_user_id}`,
        scopes: ['approve'],
        slack_user_id: bob.slack_user_id,
      };
      await expectHarombeError(h.service.decide(sameSlackUser, id, 'approve', null, 'slack'), 'SelfApprovalForbidden');
      await expectHarombeError(h.service.decide(alice, id, 'approve', null), 'Forbidden');
      expect((await h.job(view.job_id)).status).toBe('awaiting_approval');
      expect((await h.job(view.job_id)).approval?.status).toBe('pending');
    });

    it('gives a second decision AlreadyDecided and keeps the first', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(view), 'approve', null);
      const error = await expectHarombeError(h.service.decide(bob, approvalIdOf(view), 'deny', null), 'AlreadyDecided');
      expect(error.details).toMatchObject({
        status: 'queued',
        approval: { status: 'approved', decided_by: carol.name },
      });
      expect((await h.job(view.job_id)).status).toBe('queued');
    });

    it('lets exactly one of two concurrent decisions (approve vs deny) win', async () => {
      for (let round = 0; round < 5; round++) {
        const view = await h.service.submit(alice, HIGH_EXECUTE);
        const id = approvalIdOf(view);
        const [approve, deny] = await Promise.allSettled([
          h.service.decide(bob, id, 'approve', null),
          h.service.decide(carol, id, 'deny', null),
        ]);
        const settled = [approve, deny];
        expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
        const rejected = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
        expect(rejected.reason).toBeInstanceOf(HarombeError);
        expect((rejected.reason as HarombeError).code).toBe('AlreadyDecided');
        const stored = await h.job(view.job_id);
        if (approve.status === 'fulfilled') {
          expect(stored.status).toBe('queued');
          expect(stored.approval).toMatchObject({ status: 'approved', decided_by: bob.name });
          expect(await h.dispatcher.queue(SHARED_QUEUE).getJob(`${view.job_id}-0`)).toBeDefined();
        } else {
          expect(stored.status).toBe('denied');
          expect(stored.approval).toMatchObject({ status: 'denied', decided_by: carol.name });
          expect(await h.dispatcher.queue(SHARED_QUEUE).getJob(`${view.job_id}-0`)).toBeUndefined();
        }
      }
    });
  });

  describe('tenants', () => {
    it('answers NotFound to another tenant for get, view, wait, decide, cancel', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      await expectHarombeError(h.service.get(mallory, view.job_id), 'NotFound');
      await expectHarombeError(h.service.view(mallory, view.job_id), 'NotFound');
      await expectHarombeError(h.service.wait(mallory, view.job_id, 0), 'NotFound');
      // At once (a wait that held on would outlast this test): the time taken tells nothing of another tenant's job.
      await expectHarombeError(h.service.wait(mallory, view.job_id, 60), 'NotFound');
      await expectHarombeError(h.service.decide(mallory, approvalIdOf(view), 'approve', null), 'NotFound');
      await expectHarombeError(h.service.cancel(mallory, view.job_id), 'NotFound');
      expect(await h.service.pendingApprovals(mallory, 10)).toEqual([]);
      const stored = await h.job(view.job_id);
      expect(stored.status).toBe('awaiting_approval');
      expect(stored.approval?.status).toBe('pending');
      // The same answer as for a job that never existed.
      await expectHarombeError(h.service.get(alice, 'job-000000000000000000000000'), 'NotFound');
      await expectHarombeError(
        h.service.decide(carol, 'approval-000000000000000000000000', 'approve', null),
        'NotFound',
      );
    });
  });

  describe('cancel', () => {
    it('withdraws a job awaiting approval: its approval is cancelled too', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      const cancelled = await h.service.cancel(alice, view.job_id);
      expect(cancelled.status).toBe('cancelled');
      expect(cancelled.approval).toMatchObject({ status: 'cancelled', decided_by: alice.name, channel: 'api' });
      expect(cancelled.error?.code).toBe('Cancelled');
      expect(cancelled.result).toMatchObject({ success: false, error: 'Cancelled' });
      expect(await h.service.pendingApprovals(carol, 10)).toEqual([]);
      expect(await h.store.countAwaitingApproval()).toBe(0);
      await expectHarombeError(h.service.decide(carol, approvalIdOf(view), 'approve', null), 'AlreadyDecided');
    });

    it('cancels a queued job', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(view), 'approve', null);
      const cancelled = await h.service.cancel(alice, view.job_id);
      expect(cancelled.status).toBe('cancelled');
      expect(cancelled.approval?.status).toBe('approved');
      expect(cancelled.error?.code).toBe('Cancelled');
      expect(await h.store.countIndex('queued')).toBe(0);
      // A worker taking it from the queue now cannot start it.
      expect((await h.store.transition(view.job_id, 'start', { worker_id: 'w1' }, clock.now())).outcome).toBe(
        'refused',
      );
    });

    it('cancels a running job', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(view), 'approve', null);
      expect(
        (await h.store.transition(view.job_id, 'start', { worker_id: 'w1', started_at: clock.now() }, clock.now()))
          .outcome,
      ).toBe('ok');
      const cancelled = await h.service.cancel(bob, view.job_id);
      expect(cancelled).toMatchObject({ status: 'cancelled', error: { code: 'Cancelled' } });
      expect(await h.store.countIndex('running')).toBe(0);
      // The worker's late result is refused.
      expect(
        (await h.store.transition(view.job_id, 'complete', { result: { success: true } }, clock.now())).outcome,
      ).toBe('refused');
      expect((await h.job(view.job_id)).status).toBe('cancelled');
    });

    it('refuses to cancel a job that has ended (Conflict)', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(view), 'deny', null);
      await expectHarombeError(h.service.cancel(alice, view.job_id), 'Conflict');
      const again = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.cancel(alice, again.job_id);
      await expectHarombeError(h.service.cancel(alice, again.job_id), 'Conflict');
      expect((await h.job(view.job_id)).status).toBe('denied');
    });
  });

  describe('wait', () => {
    it('returns as soon as the job ends', { timeout: 20_000 }, async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(view), 'approve', null);
      await h.store.transition(view.job_id, 'start', { worker_id: 'w1' }, clock.now());
      const inPlace = h.nextWaitInPlace();
      // 60 s is longer than this test may take: only the end of the job can wake it in time.
      const waiting = h.service.wait(alice, view.job_id, 60);
      await inPlace;
      const finished = await h.store.transition(
        view.job_id,
        'complete',
        { result: { success: true, stdout: 'done' } },
        clock.now(),
      );
      expect(finished.outcome).toBe('ok');
      const ended = await waiting;
      expect(ended.status).toBe('completed');
      expect(ended.result).toMatchObject({ success: true, stdout: 'done' });
    });

    it('returns the job as it is when the time runs out', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      const current = await h.service.wait(alice, view.job_id, 0.3);
      expect(current.status).toBe('awaiting_approval');
      expect(current.job_id).toBe(view.job_id);
    });

    it('answers an ended job at once', { timeout: 20_000 }, async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.cancel(alice, view.job_id);
      expect((await h.service.wait(alice, view.job_id, 60)).status).toBe('cancelled');
    });

    it('reads the whole job once the wait is in place, and once more only if it had not ended', async () => {
      const reads = (commands: string[][], jobId: string): string[] =>
        commands.filter(([, key]) => key === h.keys.job(jobId)).map(([name]) => name as string);
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      const timedOut = await h.commandsDuring(() => h.service.wait(alice, view.job_id, 0.3));
      expect(timedOut.value.status).toBe('awaiting_approval');
      expect(reads(timedOut.commands, view.job_id)).toEqual(['hgetall', 'hgetall']);

      await h.service.cancel(alice, view.job_id);
      const ended = await h.commandsDuring(() => h.service.wait(alice, view.job_id, 60));
      expect(ended.value.status).toBe('cancelled');
      expect(reads(ended.commands, view.job_id)).toEqual(['hgetall']);
      const now = await h.commandsDuring(() => h.service.wait(alice, view.job_id, 0));
      expect(reads(now.commands, view.job_id)).toEqual(['hgetall']);
    });

    it('a retried submission waits as the one it repeats did', { timeout: 20_000 }, async () => {
      const request = { ...HIGH_EXECUTE, idempotency_key: 'order-9' };
      const first = await h.service.submit(alice, request);
      expect(first.status).toBe('awaiting_approval');
      const inPlace = h.nextWaitInPlace();
      const retried = h.service.submit(alice, { ...request, wait_seconds: 60 });
      await inPlace;
      await h.service.decide(carol, approvalIdOf(first), 'deny', null);
      // 60 s is longer than this test may take: only the job's end can answer it in time.
      const answer = await retried;
      expect(answer.job_id).toBe(first.job_id);
      expect(answer.status).toBe('denied');
    });

    it('a submission that waits hears its job end and reads it once, for the answer', { timeout: 20_000 }, async () => {
      // Another process ends the job: its commands are not the service's.
      const other = connect(container.url);
      const elsewhere = new JobStore({ redis: other, keys: h.keys });
      try {
        const submitted = h.commandsDuring(() => h.service.submit(alice, { ...HIGH_EXECUTE, wait_seconds: 60 }));
        let jobId: string | undefined;
        await expect
          .poll(async () => (jobId = (await h.jobKeys())[0]?.split(':job:')[1]), { timeout: 10_000 })
          .toBeDefined();
        await expect.poll(async () => (await elsewhere.get(jobId!))?.status).toBe('awaiting_approval');
        expect((await elsewhere.transition(jobId!, 'deny', {}, clock.now())).outcome).toBe('ok');
        // 60 s is longer than this test may take: only the job's end can answer it in time.
        const { value, commands } = await submitted;
        expect(value.status).toBe('denied');
        expect(commands.filter(([name, key]) => name === 'hgetall' && key === h.keys.job(jobId!))).toHaveLength(1);
      } finally {
        other.disconnect();
      }
    });
  });

  describe('batches', () => {
    it('submits a mixed batch, counts per status, and approves all pending with decideBatch', async () => {
      await h.heartbeat('w1');
      const sandboxId = await h.putSandbox('w1');
      const { batch_id, job_ids } = await h.service.submitBatch(alice, {
        jobs: [
          HIGH_EXECUTE,
          { tool: 'code_destroy_sandbox', params: { sandbox_id: sandboxId } },
          { tool: 'code_read_file', params: { sandbox_id: sandboxId, file_path: 'notes.txt' } },
        ],
      });
      expect(job_ids).toHaveLength(3);
      expect(await h.batches.jobIds(batch_id)).toEqual(job_ids);
      expect(await h.batches.get(batch_id)).toMatchObject({ tenant: alice.tenant, total: 3 });
      expect(await h.batches.counts(batch_id)).toEqual({ awaiting_approval: 2, queued: 1 });
      const jobs = await Promise.all(job_ids.map((id) => h.job(id)));
      expect(jobs.map((j) => [j.risk, j.status, j.batch_id])).toEqual([
        ['HIGH', 'awaiting_approval', batch_id],
        ['LOW', 'queued', batch_id],
        ['MEDIUM', 'awaiting_approval', batch_id],
      ]);
      expect(await h.queuedBullIds(workerQueueName('w1'))).toEqual([`${job_ids[1]}-0`]);
      expect(await h.queueTotal(SHARED_QUEUE)).toBe(0);
      for (const key of [h.keys.batch(batch_id), h.keys.batchCounts(batch_id), h.keys.batchJobs(batch_id)])
        expect(await h.ttl(key), key).toBeGreaterThan(0);

      await expectHarombeError(h.service.decideBatch(mallory, batch_id, 'approve', null), 'NotFound');
      expect(await h.service.decideBatch(carol, batch_id, 'approve', 'batch ok')).toEqual({
        batch_id,
        decided: 2,
        already_decided: 0,
      });
      expect(await h.batches.counts(batch_id)).toEqual({ queued: 3 });
      expect(await h.queuedBullIds(SHARED_QUEUE)).toEqual([`${job_ids[0]}-0`]);
      expect((await h.queuedBullIds(workerQueueName('w1'))).sort()).toEqual(
        [`${job_ids[1]}-0`, `${job_ids[2]}-0`].sort(),
      );
      expect(await h.service.decideBatch(carol, batch_id, 'deny', null)).toEqual({
        batch_id,
        decided: 0,
        already_decided: 2,
      });
      expect(await h.batches.counts(batch_id)).toEqual({ queued: 3 });
    });

    it('refuses the whole batch when one job is invalid, naming its index', async () => {
      const error = await expectHarombeError(
        h.service.submitBatch(alice, {
          jobs: [HIGH_EXECUTE, { tool: 'code_execute', params: { language: 'fortran', code: '' } }, HIGH_EXECUTE],
        }),
        'UnsupportedLanguage',
      );
      expect(error.details).toMatchObject({ field: 'jobs.1.params.language' });
      const unknown = await expectHarombeError(
        h.service.submitBatch(alice, { jobs: [HIGH_EXECUTE, HIGH_EXECUTE, { tool: 'nope', params: {} }] }),
        'UnknownTool',
      );
      expect(unknown.details).toMatchObject({ field: 'jobs.2.tool' });
      await expectHarombeError(h.service.submitBatch(alice, { jobs: [] }), 'InvalidArgument');
      expect(await h.allKeys()).toEqual([]);
    });

    it('returns the same batch for the same idempotency key', async () => {
      const first = await h.service.submitBatch(alice, {
        jobs: [HIGH_EXECUTE, HIGH_EXECUTE],
        idempotency_key: 'nightly',
      });
      const again = await h.service.submitBatch(alice, {
        jobs: [HIGH_EXECUTE, HIGH_EXECUTE],
        idempotency_key: 'nightly',
      });
      expect(again).toEqual(first);
      expect(await h.jobKeys()).toHaveLength(2);
    });

    it('answers IdempotencyConflict for a used batch idempotency key with other jobs, storing nothing', async () => {
      const first = await h.service.submitBatch(alice, {
        jobs: [HIGH_EXECUTE, HIGH_EXECUTE],
        idempotency_key: 'weekly',
      });
      for (const jobs of [
        [HIGH_EXECUTE],
        [HIGH_EXECUTE, HIGH_EXECUTE, HIGH_EXECUTE],
        [HIGH_EXECUTE, { tool: 'code_execute', params: { language: 'python', code: 'print(2)' } }],
      ]) {
        const error = await expectHarombeError(
          h.service.submitBatch(alice, { jobs, idempotency_key: 'weekly' }),
          'IdempotencyConflict',
        );
        expect(error.details).toMatchObject({ field: 'idempotency_key', batch_id: first.batch_id });
      }
      expect(await h.jobKeys()).toHaveLength(2);
      expect(
        await h.service.submitBatch(alice, { jobs: [HIGH_EXECUTE, HIGH_EXECUTE], idempotency_key: 'weekly' }),
      ).toEqual(first);
    });
  });
});
