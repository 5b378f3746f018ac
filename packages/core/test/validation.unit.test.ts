import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  CodeExecuteParams,
  fieldProblems,
  formatProblem,
  HarombeError,
  invalidInput,
  invalidInputCode,
  SubmitJobRequest,
  type IssueLike,
} from '../src/index.js';

const issuesOf = (schema: z.ZodType, value: unknown): IssueLike[] => schema.safeParse(value).error?.issues ?? [];

describe('fieldProblems', () => {
  it('names each problem’s field as a dotted path, under a prefix, or the whole input', () => {
    const issues = issuesOf(CodeExecuteParams, { language: 'cobol', files: 7 });
    expect(fieldProblems(issues).map((problem) => problem.field)).toEqual(expect.arrayContaining(['language', 'code']));
    expect(fieldProblems(issues, { prefix: 'jobs.3.params' }).map((problem) => problem.field)).toContain(
      'jobs.3.params.language',
    );
    expect(fieldProblems([{ path: [], message: 'expected an object' }], { whole: 'body' })).toEqual([
      { field: 'body', message: 'expected an object' },
    ]);
    expect(fieldProblems([{ path: [], message: 'bad' }], { prefix: 'params', whole: 'body' })[0]?.field).toBe('params');
    expect(formatProblem({ field: 'a.0.b', message: 'bad' })).toBe('a.0.b: bad');
  });
});

describe('invalidInputCode', () => {
  it('is UnsupportedLanguage for a tool’s language, wherever the params are, and InvalidArgument otherwise', () => {
    expect(invalidInputCode('params.language')).toBe('UnsupportedLanguage');
    expect(invalidInputCode('jobs.12.params.language')).toBe('UnsupportedLanguage');
    expect(invalidInputCode('language', 'params')).toBe('UnsupportedLanguage');
    for (const field of ['params.code', 'language', 'body', 'params.language.x', 'xparams.language', ''])
      expect(invalidInputCode(field), field).toBe('InvalidArgument');
    expect(invalidInputCode('params.language', 'params')).toBe('InvalidArgument');
  });
});

describe('invalidInput', () => {
  it('takes the code and message from the first problem, listing them all in details', () => {
    const problems = fieldProblems(issuesOf(SubmitJobRequest, { tool: 'code_execute', params: {}, wait_seconds: 600 }));
    const error = invalidInput(problems);
    expect(error).toBeInstanceOf(HarombeError);
    expect(error.code).toBe('InvalidArgument');
    expect(error.message).toMatch(/^wait_seconds: /);
    expect(error.details).toEqual({ field: 'wait_seconds', problems });

    const language = invalidInput([
      { field: 'jobs.1.params.language', message: 'Invalid option' },
      { field: 'jobs.1.params.code', message: 'Required' },
    ]);
    expect(language.code).toBe('UnsupportedLanguage');
    expect(language.message).toBe('jobs.1.params.language: Invalid option');
    expect(invalidInput([{ field: '', message: 'expected an object' }]).message).toBe('body: expected an object');
  });
});
