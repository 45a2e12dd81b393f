import type { Request } from 'express';
import { invalidClient, invalidRequest } from '../errors.js';
import type { ClientRegistry } from '../clients/client-registry.js';
import type { ClientRecord } from '../store/store.js';
import type { Params } from './params.js';

export interface ClientCredentials {
  clientId: string;
  secret: string;
  method: 'client_secret_basic' | 'client_secret_post';
}

const formDecode = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '));

/** The credentials of an `Authorization: Basic` header (RFC 6749 §2.3.1 form-decoded), or undefined when malformed. */
export function parseBasicCredentials(header: string): { clientId: string; secret: string } | undefined {
  const match = /^\s*Basic ([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

function readBasic(header: string): { clientId: string; secret: string } {
  const credentials = parseBasicCredentials(header);
  if (!credentials) throw invalidClient('malformed Basic credentials', true);
  return credentials;
}

/**
 * The client credentials of a request, by client_secret_basic or client_secret_post (RFC 6749 §2.3.1);
 * undefined when it carries none. Both methods at once is invalid_request.
 */
export function readClientCredentials(req: Request, params: Params): ClientCredentials | undefined {
  const header = req.headers.authorization;
  const basic = header && /^basic /i.test(header.trimStart()) ? readBasic(header) : undefined;
  const postId = params.client_id;
  const postSecret = params.client_secret;
  if (basic) {
    if (postSecret !== undefined) throw invalidRequest('use one client authentication method, not both Basic and client_secret in the body');
    if (postId !== undefined && postId !== basic.clientId) throw invalidRequest('client_id in the body differs from the Basic credentials');
    return { ...basic, method: 'client_secret_basic' };
  }
  if (postSecret !== undefined) {
    if (!postId) throw invalidRequest('client_id is required with client_secret');
    return { clientId: postId, secret: postSecret, method: 'client_secret_post' };
  }
  return undefined;
}

/** Authenticates the client or throws 401 invalid_client. */
export async function authenticateClient(
  registry: ClientRegistry,
  credentials: ClientCredentials | undefined,
  onFailure: (clientId: string | undefined) => void,
): Promise<ClientRecord> {
  if (!credentials) {
    onFailure(undefined);
    throw invalidClient('client authentication is required (client_secret_basic or client_secret_post)');
  }
  const client = await registry.authenticate(credentials.clientId, credentials.secret);
  if (!client) {
    onFailure(credentials.clientId);
    throw invalidClient('client authentication failed', credentials.method === 'client_secret_basic');
  }
  return client;
}
