import { z } from 'zod';

/** Longest webhook URL accepted, in characters. */
export const MAX_WEBHOOK_URL_CHARS = 2048;

/**
 * Where a webhook is delivered: an http(s) URL without credentials. Whether its host may be
 * reached (not loopback, private, link-local, the fleet's own) is decided apart, by resolving it.
 */
export const WebhookUrl = z
  .url({ protocol: /^https?$/, error: 'an http(s) URL such as https://ci.example.com/harombe' })
  .max(MAX_WEBHOOK_URL_CHARS)
  .refine((value) => {
    // Refinements run after a failed check too: an unparsable value is the check's to report.
    const url = URL.canParse(value) ? new URL(value) : undefined;
    return !url || (url.username === '' && url.password === '');
  }, 'a URL without user name or password (deliveries are signed instead)');
