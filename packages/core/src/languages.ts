import { z } from 'zod';

/** The languages a sandbox can run. Each maps to one sandbox image. */
export const LANGUAGES = ['python', 'javascript', 'shell'] as const;
export const Language = z.enum(LANGUAGES);
export type Language = z.infer<typeof Language>;
