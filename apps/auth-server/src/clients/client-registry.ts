import type { ClientPage, ClientRecord, Clock, GrantType, RefreshTokenAuth, Store } from '../store/store.js';
import { generateClientId, generateClientSecret, hashClientSecret, verifyClientSecret } from './client-secret.js';

export interface NewClient {
  name: string;
  scopes: string[];
  audiences: string[];
  grant_types?: GrantType[] | undefined;
  refresh_token_auth?: RefreshTokenAuth | undefined;
  /** seconds */
  access_token_ttl?: number | undefined;
}

/** A client as the admin API shows it: everything but the secret hash. */
export type ClientView = Omit<ClientRecord, 'secret_hash' | 'created_at' | 'secret_rotated_at'> & {
  created_at: string;
  secret_rotated_at?: string;
};

export const DEFAULT_GRANT_TYPES: GrantType[] = ['client_credentials', 'refresh_token'];

export function viewClient(client: ClientRecord): ClientView {
  const { secret_hash: _hash, created_at, secret_rotated_at, ...rest } = client;
  return {
    ...rest,
    created_at: new Date(created_at).toISOString(),
    ...(secret_rotated_at ? { secret_rotated_at: new Date(secret_rotated_at).toISOString() } : {}),
  };
}

/** Registers clients and checks their credentials. Secrets exist in clear only in the create/rotate answers. */
export class ClientRegistry {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock = Date.now,
  ) {}

  async create(input: NewClient, fixed?: { clientId: string; secret: string }): Promise<{ client: ClientRecord; secret: string }> {
    const clientId = fixed?.clientId ?? generateClientId();
    const secret = fixed?.secret ?? generateClientSecret();
    const client: ClientRecord = {
      client_id: clientId,
      name: input.name,
      secret_hash: hashClientSecret(clientId, secret),
      scopes: [...new Set(input.scopes)],
      audiences: [...new Set(input.audiences)],
      grant_types: [...new Set(input.grant_types ?? DEFAULT_GRANT_TYPES)],
      refresh_token_auth: input.refresh_token_auth ?? 'client_secret',
      ...(input.access_token_ttl ? { access_token_ttl: input.access_token_ttl } : {}),
      created_at: this.clock(),
    };
    await this.store.putClient(client);
    return { client, secret };
  }

  get(clientId: string): Promise<ClientRecord | undefined> {
    return this.store.getClient(clientId);
  }

  list(cursor: string | undefined, limit: number): Promise<ClientPage> {
    return this.store.listClients(cursor, limit);
  }

  delete(clientId: string): Promise<boolean> {
    return this.store.deleteClient(clientId);
  }

  /** Issues a new secret; the old one stops working at once. */
  async rotateSecret(clientId: string): Promise<{ client: ClientRecord; secret: string } | undefined> {
    const client = await this.store.getClient(clientId);
    if (!client) return undefined;
    const secret = generateClientSecret();
    const updated = { ...client, secret_hash: hashClientSecret(clientId, secret), secret_rotated_at: this.clock() };
    await this.store.putClient(updated);
    return { client: updated, secret };
  }

  /** The client when the secret is right; undefined otherwise, in constant time with respect to the secret. */
  async authenticate(clientId: string, secret: string): Promise<ClientRecord | undefined> {
    const client = await this.store.getClient(clientId);
    const ok = verifyClientSecret(clientId, secret, client?.secret_hash ?? hashClientSecret(clientId, ''));
    return ok && client ? client : undefined;
  }
}
