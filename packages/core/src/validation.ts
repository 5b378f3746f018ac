import { HarombeError, type ErrorCode } from './errors.js';

/**
 * How a failed validation is told, the same at every entry point (the API, the job service, MCP,
 * the worker's tools, the CLI, the client): each problem names its field as a dotted path, and
 * the first problem decides the stable error code.
 */

/** A zod issue, or anything with its path and message (fastify's validation errors, once split). */
export interface IssueLike {
  readonly path: ReadonlyArray<PropertyKey>;
  readonly message: string;
}

/** One thing wrong with an input: its field (a dotted path) and why. */
export interface FieldProblem {
  field: string;
  message: string;
}

export interface FieldProblemsOptions {
  /** Where the validated value sits in the input (`params`, `jobs.3.params`). Default: at its root. */
  prefix?: string;
  /** The field named when the problem is the whole input (`body`, `(arguments)`). Default: ''. */
  whole?: string;
}

/** The issues as problems, each naming its field. */
export function fieldProblems(issues: ReadonlyArray<IssueLike>, options: FieldProblemsOptions = {}): FieldProblem[] {
  const prefix = options.prefix ?? '';
  return issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return {
      field: (prefix && path ? `${prefix}.${path}` : prefix || path) || (options.whole ?? ''),
      message: issue.message,
    };
  });
}

/** `field: message`, as people read a problem. */
export function formatProblem(problem: FieldProblem): string {
  return `${problem.field}: ${problem.message}`;
}

/**
 * What a field is relative to: a request body, where a tool's params are `params` (or
 * `jobs.3.params`), or a tool's params themselves (MCP arguments, the worker's tools).
 */
export type ValidatedInput = 'body' | 'params';

/**
 * The stable code of an invalid field: a tool's `language` that the fleet does not run is
 * UnsupportedLanguage (what the worker would answer), anything else InvalidArgument.
 */
export function invalidInputCode(field: string, input: ValidatedInput = 'body'): ErrorCode {
  const language = input === 'params' ? /^language$/ : /(^|\.)params\.language$/;
  return language.test(field) ? 'UnsupportedLanguage' : 'InvalidArgument';
}

/**
 * The error of a request body that failed validation: the first problem decides the code and
 * the message; `details` name its field and list every problem. `input` is what the body is (a
 * tool's params at its root, as POST /v1/sandboxes takes them, is `params`).
 */
export function invalidInput(problems: readonly FieldProblem[], input: ValidatedInput = 'body'): HarombeError {
  const first = problems[0] ?? { field: '', message: 'invalid' };
  return new HarombeError(invalidInputCode(first.field, input), `${first.field || 'body'}: ${first.message}`, {
    field: first.field,
    problems,
  });
}
