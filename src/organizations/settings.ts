import { AppError } from '../errors';

/**
 * Organization settings (issue 12): a JSON object stored in organization_settings.data
 * (jsonb), replaced whole by updateOrganization and deleted with the organization by the
 * deletion engine (src/deletion/deletion.sql.ts, deleted_settings).
 *
 * Limits, checked before anything is written:
 * - an object: not an array, not null, not a scalar (the JSONObject scalar refuses those first);
 * - at most SETTINGS_MAX_BYTES: the length in UTF-8 bytes of its JSON text as
 *   `JSON.stringify(settings)` writes it (no spaces; `é` is 2 bytes, `😀` 4, a `"` inside a
 *   string 2 for its escape). PostgreSQL stores jsonb in its own binary form, whose size
 *   differs a little: the limit is on what the client sends and reads back;
 * - at most SETTINGS_MAX_DEPTH levels of nesting, the settings object itself being level 1;
 * - only what jsonb can hold: no U+0000 and no lone UTF-16 surrogate in a string or a key,
 *   numbers finite (a GraphQL literal such as 1e999 would become Infinity).
 * Each refusal is BAD_USER_INPUT naming `input.settings`, and says which limit, never echoing the value.
 */
export const SETTINGS_MAX_BYTES = 16 * 1024;
export const SETTINGS_MAX_DEPTH = 10;

const FIELD = 'input.settings';

/** A lone UTF-16 surrogate: jsonb refuses its escape (`\ud800`). */
const LONE_SURROGATE = /\p{Surrogate}/u;

function refuse(message: string): never {
  throw AppError.badInput(FIELD, `${FIELD} ${message}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkText(text: string): void {
  if (text.includes('\u0000')) refuse('must not contain the NUL character (U+0000) in a key or a string');
  if (LONE_SURROGATE.test(text)) refuse('must be well-formed Unicode: a key or a string holds a lone surrogate');
}

function checkValue(value: unknown, depth: number): void {
  if (typeof value === 'string') return checkText(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) refuse('must hold finite numbers only');
    return;
  }
  if (typeof value === 'boolean' || value === null) return;
  if (typeof value !== 'object') refuse('must hold JSON values only');
  if (depth > SETTINGS_MAX_DEPTH) refuse(`must not be nested more than ${SETTINGS_MAX_DEPTH} levels deep`);
  if (Array.isArray(value)) {
    for (const item of value) checkValue(item, depth + 1);
    return;
  }
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    checkText(key);
    checkValue(item, depth + 1);
  }
}

/** The settings as they will be stored, or BAD_USER_INPUT naming input.settings. */
export function validateSettings(settings: unknown): Record<string, unknown> {
  if (!isPlainObject(settings)) refuse('must be a JSON object (send {} to empty the settings)');
  const text = JSON.stringify(settings);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > SETTINGS_MAX_BYTES) {
    refuse(`must be at most ${SETTINGS_MAX_BYTES} bytes as JSON text (UTF-8); this is ${bytes}`);
  }
  checkValue(settings, 1);
  return settings;
}
