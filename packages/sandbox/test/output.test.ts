import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRUNCATION_MARKER, type SandboxManager } from '../src/index.js';
import { testManager } from './fixtures.js';

const OWNER = 'tenant-a';
const MIB = 1_048_576;
let manager: SandboxManager;

beforeAll(async () => {
  manager = testManager();
  await manager.start();
});
afterAll(async () => {
  await manager.stop({ destroySandboxes: true });
});

/** A program writing `size` bytes of `a` in one write to stdout or stderr, then `END` on a line of its own. */
const SINGLE_WRITE = {
  python: (size: number, stream: string) =>
    `import sys\nsys.${stream}.write("a" * ${size})\nprint("\\nEND", file=sys.${stream})`,
  javascript: (size: number, stream: string) =>
    `process.${stream}.write('a'.repeat(${size}));\nprocess.${stream}.write('\\nEND\\n');`,
  shell: (size: number, stream: string) =>
    `s=$(head -c ${size} /dev/zero | tr '\\0' a)\nprintf '%s\\nEND\\n' "$s" ${stream === 'stderr' ? '>&2' : ''}`,
} as const;

const run = (language: keyof typeof SINGLE_WRITE, code: string, max_output_bytes = 4 * MIB) =>
  manager.runOnce({ language, owner: OWNER, code, max_output_bytes, timeout: 60 });

/** Runs like run(), keeping the output as the program wrote it: each stream's pieces, in order. */
async function runTold(language: keyof typeof SINGLE_WRITE, code: string, max_output_bytes = 4 * MIB) {
  const told = { stdout: [] as string[], stderr: [] as string[] };
  const result = await manager.runOnce({
    language,
    owner: OWNER,
    code,
    max_output_bytes,
    timeout: 60,
    onOutput: (stream, text) => told[stream].push(text),
  });
  return { result, told };
}

describe('every byte a program writes arrives', () => {
  for (const language of ['python', 'javascript', 'shell'] as const) {
    for (const size of [65_537, MIB, 2 * MIB]) {
      for (const stream of ['stdout', 'stderr'] as const) {
        it(`${language}: one write of ${size} bytes to ${stream}`, async () => {
          const result = await run(language, SINGLE_WRITE[language](size, stream));
          expect(result.exit_code, result.stderr.slice(0, 500)).toBe(0);
          const text = result[stream];
          expect(text.length).toBe(size + 5);
          expect(text).toBe(`${'a'.repeat(size)}\nEND\n`);
          expect(result[stream === 'stdout' ? 'stderr' : 'stdout']).toBe('');
        });
      }
    }
  }

  it('python: print of 70,000 characters, then more lines (the case that lost 4,464 bytes)', async () => {
    const result = await run('python', "print('x' * 70000)\nprint('END')");
    expect(result.stdout).toBe(`${'x'.repeat(70_000)}\nEND\n`);
  });

  it('binary bytes, every value, in every language: decoded with U+FFFD where they are not UTF-8', async () => {
    const bytes = Buffer.alloc(256 * 1024, Buffer.from([...Array(256).keys()]));
    const programs = {
      python: 'import sys\nsys.stdout.buffer.write(bytes(range(256)) * 1024)',
      javascript: 'process.stdout.write(Buffer.alloc(256 * 1024, Buffer.from([...Array(256).keys()])));',
      shell: `b=$(printf '%s' ${[...Array(256).keys()].map((i) => `'\\${i.toString(8).padStart(3, '0')}'`).join(' ')}); for i in $(seq 1024); do printf "$b"; done`,
    } as const;
    const expected = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    for (const [language, code] of Object.entries(programs) as [keyof typeof programs, string][]) {
      const result = await run(language, code);
      expect(result.exit_code, `${language}: ${result.stderr.slice(0, 300)}`).toBe(0);
      expect(result.stdout === expected, `${language}: ${result.stdout.length} characters`).toBe(true);
    }
  });

  // Each write crosses the whole pipe (sandbox, Docker, this process) on its own: 6,000 of each
  // stream take a chatty shell loop about 20 s on a loaded two-core host.
  const SMALL_WRITES = 6_000;
  it.each([
    ['python', `import sys\nfor i in range(${SMALL_WRITES}):\n    print(i)\n    print(-i, file=sys.stderr)`],
    [
      'javascript',
      `for (let i = 0; i < ${SMALL_WRITES}; i++) { process.stdout.write(i + "\\n"); process.stderr.write(-i + "\\n"); }`,
    ],
    ['shell', `for i in $(seq 0 ${SMALL_WRITES - 1}); do echo $i; echo -$i >&2; done`],
  ] as const)(
    '%s: many small writes to stdout and stderr, interleaved, each stream whole and in order',
    async (language, code) => {
      const out = Array.from({ length: SMALL_WRITES }, (_, i) => `${i}\n`).join('');
      const err = Array.from({ length: SMALL_WRITES }, (_, i) => `${-i}\n`).join('');
      const result = await run(language, code);
      expect(result.stdout).toBe(out);
      // Only the shell writes 0 negated as -0.
      expect(result.stderr.replace(/^-0\n/, '0\n')).toBe(err);
    },
  );

  it('large single writes to stdout and stderr in turn, each stream whole and in order', async () => {
    const programs = {
      python:
        'import sys\nfor i in range(6):\n    s = sys.stdout if i % 2 == 0 else sys.stderr\n    s.write(str(i) * 65537)',
      javascript:
        'for (let i = 0; i < 6; i++) (i % 2 === 0 ? process.stdout : process.stderr).write(String(i).repeat(65537));',
      shell:
        'for i in 0 1 2 3 4 5; do s=$(head -c 65537 /dev/zero | tr "\\0" "$i"); if [ $((i % 2)) = 0 ]; then printf %s "$s"; else printf %s "$s" >&2; fi; done',
    } as const;
    const of = (digits: number[]) => digits.map((i) => String(i).repeat(65_537)).join('');
    for (const [language, code] of Object.entries(programs) as [keyof typeof programs, string][]) {
      const result = await run(language, code);
      expect(result.exit_code, `${language}: ${result.stderr.slice(0, 300)}`).toBe(0);
      expect(result.stdout === of([0, 2, 4]), language).toBe(true);
      expect(result.stderr === of([1, 3, 5]), language).toBe(true);
    }
  });

  it('past max_output_bytes keeps the first bytes of each stream and marks the cut, on stdout and on stderr', async () => {
    for (const language of ['python', 'javascript', 'shell'] as const) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const result = await run(language, SINGLE_WRITE[language](2 * MIB, stream), MIB);
        expect(result[stream] === 'a'.repeat(MIB) + TRUNCATION_MARKER, `${language} ${stream}`).toBe(true);
        expect(result[stream === 'stdout' ? 'stderr' : 'stdout'], `${language} ${stream}`).toBe('');
      }
    }
  });
});

describe('the output as the program writes it (onOutput)', () => {
  it('tells each stream in pieces that join to the result, in every language, the cap and its marker included', async () => {
    const programs = {
      python:
        'import sys\nsys.stdout.buffer.write(bytes(range(256)) * 4096)\nsys.stdout.flush()\nprint("é€😀", file=sys.stderr)',
      javascript: 'process.stdout.write(Buffer.alloc(1048576, 0xe2)); process.stderr.write("é€😀\\n");',
      shell: "head -c 1048576 /dev/zero | tr '\\0' '\\303'; printf '\\303\\251\\342\\202\\254\\n' >&2",
    } as const;
    for (const [language, code] of Object.entries(programs) as [keyof typeof programs, string][]) {
      const { result, told } = await runTold(language, code, 1_000_001);
      expect(result.exit_code, `${language}: ${result.stderr.slice(0, 300)}`).toBe(0);
      expect(result.stdout.endsWith(TRUNCATION_MARKER), language).toBe(true);
      expect(told.stdout.join(''), language).toBe(result.stdout);
      expect(told.stderr.join(''), language).toBe(result.stderr);
      expect(told.stdout.join('').split(TRUNCATION_MARKER)).toHaveLength(2);
      expect(told.stdout.length, language).toBeGreaterThan(1);
    }
  });

  it('tells a line while the program still runs: the program is stopped once its first line was told', async () => {
    const told: string[] = [];
    const stop = new AbortController();
    const result = await manager.runOnce({
      language: 'python',
      owner: OWNER,
      // Were output told only at the end, this would run for 10 minutes and print "second".
      code: 'import time\nprint("first")\ntime.sleep(600)\nprint("second")',
      timeout: 600,
      signal: stop.signal,
      onOutput: (_stream, text) => {
        told.push(text);
        if (told.join('').includes('first\n')) stop.abort();
      },
    });
    expect(result.stdout).toBe('first\n');
    expect(told.join('')).toBe(result.stdout);
  });
});
