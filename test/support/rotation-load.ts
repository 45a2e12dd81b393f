const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LoadClient {
  client_id: string;
  client_secret: string;
}

interface Answer {
  status: number;
  error: string | undefined;
  refreshToken: string | undefined;
  retryAfter: string | null;
}

/**
 * Refresh-token rotation load against several auth servers sharing one store, checking what a client
 * may see during a failover: every answer is 200, 400 invalid_grant or 503 with Retry-After; no refresh
 * token is rotated twice; when two servers get the same token at once, at most one wins. A race in which
 * neither answered 503 and neither won is recorded in `racesWithoutWinner` with the time its token was
 * issued: outside a failover that breaks the rules (exactly one must win), but a token issued by a master
 * just before it hung or died may be lost with the writes Redis had not yet replicated (README "Redis
 * failover"; REDIS_WAIT_REPLICAS), so the test decides by the failover windows it made.
 *
 * Each worker owns a family of one client, rotates it on the servers in turn, retries a 503 with the same
 * token, and starts a new family (client_credentials) when the old one is gone.
 */
export class RotationLoad {
  /** what went against the rules above; empty when all is well */
  readonly violations: string[] = [];
  /** answers by kind: `200`, `400 invalid_grant`, `503`, … */
  readonly seen = new Map<string, number>();
  /** successful rotations: ms since epoch, server index, client id */
  readonly rotations: { at: number; server: number; clientId: string }[] = [];
  races = 0;
  /** races in which neither server answered 503 and neither won: ms since epoch the raced token was issued */
  readonly racesWithoutWinner: { issuedAt: number }[] = [];
  readonly #rotated = new Set<string>();
  #stopped = false;
  #workers: Promise<void>[] = [];

  constructor(
    private readonly servers: string[],
    private readonly clients: LoadClient[],
    private readonly workersPerClient = 2,
  ) {}

  start(): void {
    for (const [c, client] of this.clients.entries()) {
      for (let w = 0; w < this.workersPerClient; w++) this.#workers.push(this.#work(client, c + w));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#workers);
  }

  /**
   * The races without a winner whose token was not issued within `graceMs` before one of `failures` (ms since
   * epoch a master hung or died) and its promotion: those break the rules.
   */
  unexplainedRacesWithoutWinner(failures: { failedAt: number; promotedAt: number }[], graceMs = 2000): { issuedAt: number }[] {
    return this.racesWithoutWinner.filter(({ issuedAt }) => !failures.some((f) => issuedAt >= f.failedAt - graceMs && issuedAt <= f.promotedAt));
  }

  /** The first rotation for `clientId` on `server` at or after `since`, or undefined. */
  firstRotation(clientId: string, server: number, since: number): number | undefined {
    return this.rotations.find((r) => r.clientId === clientId && r.server === server && r.at >= since)?.at;
  }

  /** Resolves once `clientId` rotated on every server at or after `since` (false after `timeoutMs`). */
  async recovered(clientId: string, since: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.servers.every((_, i) => this.firstRotation(clientId, i, since) !== undefined)) return true;
      await sleep(50);
    }
    return false;
  }

  async #post(server: number, client: LoadClient, form: Record<string, string>): Promise<Answer> {
    try {
      const res = await fetch(`${this.servers[server]}/token`, {
        method: 'POST',
        headers: {
          Authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
          'Content-Type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams(form),
        signal: AbortSignal.timeout(15_000),
      });
      const body = (await res.json()) as Record<string, string>;
      const answer = { status: res.status, error: body.error, refreshToken: body.refresh_token, retryAfter: res.headers.get('retry-after') };
      const kind = res.status === 200 ? '200' : `${res.status} ${body.error}`;
      this.seen.set(kind, (this.seen.get(kind) ?? 0) + 1);
      const allowed =
        (res.status === 200 && (form.grant_type === 'client_credentials' || body.refresh_token)) ||
        (res.status === 400 && body.error === 'invalid_grant' && form.grant_type === 'refresh_token') ||
        (res.status === 503 && answer.retryAfter !== null);
      if (!allowed) this.violations.push(`server ${server}: ${res.status} ${JSON.stringify(body)} (retry-after ${answer.retryAfter})`);
      return answer;
    } catch (error) {
      this.violations.push(`server ${server}: no answer (${(error as Error).message})`);
      return { status: 0, error: undefined, refreshToken: undefined, retryAfter: null };
    }
  }

  #won(server: number, client: LoadClient, presented: string, answer: Answer): void {
    if (answer.status !== 200) return;
    if (this.#rotated.has(presented)) this.violations.push(`a refresh token was rotated twice (server ${server})`);
    this.#rotated.add(presented);
    this.rotations.push({ at: Date.now(), server, clientId: client.client_id });
  }

  async #work(client: LoadClient, offset: number): Promise<void> {
    let token: string | undefined;
    // the token came from a 200 and nothing else has presented it: a race for it must have one winner
    let fresh = false;
    let issuedAt = 0;
    for (let step = offset; !this.#stopped; step++) {
      const server = step % this.servers.length;
      if (!token) {
        const answer = await this.#post(server, client, { grant_type: 'client_credentials' });
        token = answer.refreshToken;
        fresh = token !== undefined;
        issuedAt = Date.now();
        if (!token) await sleep(100);
        continue;
      }
      if (step % 5 === 0 && fresh && this.servers.length > 1) {
        this.races++;
        const presented = token;
        const answers = await Promise.all(this.servers.map((_, i) => this.#post(i, client, { grant_type: 'refresh_token', refresh_token: presented })));
        answers.forEach((a, i) => this.#won(i, client, presented, a));
        const winners = answers.filter((a) => a.status === 200);
        if (winners.length > 1) this.violations.push(`a race had ${winners.length} winners`);
        if (winners.length === 0 && answers.every((a) => a.status !== 503 && a.status !== 0)) this.racesWithoutWinner.push({ issuedAt });
        // the loser presented a spent token: reuse revokes the family, so start a new one
        token = answers.every((a) => a.status === 503) ? presented : undefined;
        continue;
      }
      const presented = token;
      const answer = await this.#post(server, client, { grant_type: 'refresh_token', refresh_token: presented });
      this.#won(server, client, presented, answer);
      fresh = answer.status === 200;
      issuedAt = Date.now();
      if (answer.status === 200) token = answer.refreshToken;
      else if (answer.status === 400) token = undefined;
      else await sleep(100);
    }
  }
}
