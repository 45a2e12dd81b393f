import type { z } from 'zod';
import { invalidRequest, type OAuthError } from '../errors.js';

/** The first issue of a failed parse as one line: `path: message`, or `path is required`. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  if ((issue.input === undefined || issue.input === '') && path && issue.code !== 'custom') return `${path} is required`;
  return path ? `${path}: ${issue.message}` : issue.message;
}

/**
 * The parse context of every request: zod copies it as `{ ...context, async: false }`, and V8 promotes a
 * spread copy that gains a key out of the young generation on every call, so it already holds `async`.
 */
const REQUEST_CONTEXT = { reportInput: true, async: false };

/**
 * Validates a request part with its schema; the first issue becomes a 400 invalid_request, or the error
 * `refuse` makes for it (e.g. unsupported_grant_type for an unknown grant_type).
 */
export function parseRequest<S extends z.ZodType>(
  schema: S,
  value: unknown,
  refuse: (issue: z.core.$ZodIssue, description: string) => OAuthError = (_issue, description) => invalidRequest(description),
): z.output<S> {
  const result = schema.safeParse(value ?? {}, REQUEST_CONTEXT);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw refuse(issue, describeIssue(issue));
}
