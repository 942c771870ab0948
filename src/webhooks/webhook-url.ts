import { isIP } from 'node:net';
import { AppError } from '../errors';
import { isPrivateAddress } from './webhook-ssrf';

export interface WebhookUrlOptions {
  /** WEBHOOK_ALLOW_PRIVATE_ADDRESSES (config.webhooks.allowPrivateAddresses): tests and local development. */
  allowPrivateAddresses: boolean;
}

/** The longest URL an endpoint may have, in characters: the column's width (webhook_endpoints.url). */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

/**
 * Checks a webhook endpoint's URL when it is created or changed (issue 12, "No SSRF") and
 * returns it in the WHATWG URL standard's serialization (`URL.href`: scheme and host lower
 * case, an IDN host as its A-label, `http://0x7f.1` as `http://127.0.0.1/`), which is what
 * is stored and what deliveries use.
 *
 * Refused with BAD_USER_INPUT naming `field` (the message never repeats the URL, which may
 * hold a token in its path or query): text that is not an absolute URL, a scheme other than
 * `http:` or `https:`, a user name or password in the URL (the receiver authenticates us
 * by the signature, and a URL is shown back by webhookEndpoints), no host, or more than MAX_WEBHOOK_URL_LENGTH
 * characters before or after normalization.
 *
 * Unless `allowPrivateAddresses`, a host that names a non-public address outright is
 * refused too, since no delivery to it could ever pass: an IP literal that is loopback,
 * private, link-local (the cloud metadata address among them) or otherwise not public
 * (isPrivateAddress, src/webhooks/webhook-ssrf.ts), and `localhost` with its subdomains
 * (RFC 6761 §6.3). That is a courtesy, not the defence: a name can resolve to anything
 * later (DNS rebinding), so each delivery checks the address it connects to.
 */
export function parseWebhookUrl(raw: string, field: string, options: WebhookUrlOptions): URL {
  const invalid = (why: string) => AppError.badInput(field, `${field} ${why}`);
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) {
    throw invalid(`must be at most ${MAX_WEBHOOK_URL_LENGTH} characters`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('must be an absolute http or https URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid('must use the http or https scheme');
  }
  if (url.username !== '' || url.password !== '') {
    throw invalid('must not contain a user name or password');
  }
  // The WHATWG parser refuses an empty host for http(s) ("http:///x" parses as host "x"), so
  // this is a second line only, for a parser that someday differs.
  if (url.hostname === '') throw invalid('must name a host');
  if (!options.allowPrivateAddresses && namesPrivateHost(url.hostname)) {
    throw invalid('must not point at a loopback, private, link-local or metadata address');
  }
  if (url.href.length > MAX_WEBHOOK_URL_LENGTH) {
    throw invalid(`must be at most ${MAX_WEBHOOK_URL_LENGTH} characters once normalized`);
  }
  return url;
}

/** An IP literal that is not a public address, or a `localhost` name: no delivery to it would pass the SSRF check. */
function namesPrivateHost(hostname: string): boolean {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (isIP(bare) !== 0) return isPrivateAddress(bare);
  const name = bare.endsWith('.') ? bare.slice(0, -1) : bare;
  return name === 'localhost' || name.endsWith('.localhost');
}
