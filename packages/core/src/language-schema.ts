import { z } from 'zod';
import { LANGUAGES, listInProse, type Language as LanguageName } from './languages.js';

// The catalogue (languages.ts) loads without zod, for the CLI's start (@harombe/core/names); its
// schema is here.
export * from './languages.js';

/** The languages a sandbox can run. Each maps to one sandbox image. */
export type Language = LanguageName;
/** A language the fleet runs; a refusal of any other lists them (UnsupportedLanguage, wherever it is checked). */
export const Language = z.enum(LANGUAGES, {
  error: (issue) =>
    issue.input === undefined
      ? `expected ${listInProse(LANGUAGES, 'or')}`
      : `not a supported language: use ${listInProse(LANGUAGES, 'or')}`,
});
