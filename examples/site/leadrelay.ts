/**
 * A client of leadrelay's sandbox API (README "The sandbox API") for @playwright/test, with no
 * dependency: copy this file into your tests.
 *
 *   const sandbox = new LeadrelaySandbox("http://127.0.0.1:8787");
 *   await sandbox.reset();
 *   await sandbox.fault("dub", 503, error(429, 1), timeout());   // then Dub answers as usual
 *   const lead = await sandbox.waitFor("dub", { clickId: "clk_1" });
 *   expect(lead.body.customerEmail).toBe("carol@example.com");
 */

export type Fault =
  | { kind: "error"; status: number; retry_after?: number | string }
  | { kind: "slow"; seconds: number }
  | { kind: "timeout" }
  | { kind: "drop" };

export type Vendor = "dub" | "pimms" | "reshape" | "webhook";

/** One request a fake vendor received, and what it answered. */
export interface SandboxRequest {
  received_at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: any;
  /** null: no answer (the fake dropped the connection, or leadrelay stopped waiting) */
  status: number | null;
  accepted: boolean;
  answer: unknown;
  /** what the vendor found wrong, in its words; null when it accepted or a scripted fault answered */
  problem: string | null;
  fault: Fault | null;
}

export interface Rejection {
  id: number;
  event_id: string | null;
  dialect: string | null;
  received_at: number;
  errors: { path: string; message: string; rule: string }[];
  raw: string;
}

export const error = (status: number, retryAfter?: number | string): Fault =>
  retryAfter === undefined ? { kind: "error", status } : { kind: "error", status, retry_after: retryAfter };
export const slow = (seconds: number): Fault => ({ kind: "slow", seconds });
export const timeout = (): Fault => ({ kind: "timeout" });
export const drop = (): Fault => ({ kind: "drop" });

const LONG_POLL_S = 30; // the API's longest wait

export class LeadrelaySandbox {
  readonly url: string;
  private readonly api: string;

  constructor(url: string, readonly pathPrefix = "/lr") {
    this.url = url.replace(/\/+$/, "");
    this.api = `${this.url}${pathPrefix}/_sandbox`;
  }

  /** The README's paste-in with this sandbox's absolute script URL (the stub is in the README). */
  get scriptTag(): string {
    return `<script async src="${this.url}${this.pathPrefix}/s.js"></script>`;
  }

  private async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const response = await fetch(this.api + path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (response.status !== 200) {
      let message = text.slice(0, 500);
      try {
        message = JSON.parse(text).error.message;
      } catch {}
      throw new Error(`the sandbox answered ${response.status} to ${method} ${path}: ${message}`);
    }
    return JSON.parse(text) as T;
  }

  /** What `vendor` received since the last reset, oldest first. */
  async received(vendor: Vendor, limit = 1000): Promise<SandboxRequest[]> {
    return (await this.call<{ requests: SandboxRequest[] }>("GET", `/received/${vendor}?limit=${limit}`)).requests;
  }

  /** The bodies `vendor` accepted. */
  async accepted(vendor: Vendor): Promise<any[]> {
    return (await this.received(vendor)).filter((r) => r.accepted).map((r) => r.body);
  }

  /** Events stored since the last reset, newest first. */
  async events(limit = 1000): Promise<any[]> {
    return (await this.call<{ events: any[] }>("GET", `/events?limit=${limit}`)).events;
  }

  /** Rejected events since the last reset, newest first, with their errors. */
  async rejections(limit = 1000): Promise<Rejection[]> {
    return (await this.call<{ rejections: Rejection[] }>("GET", `/rejections?limit=${limit}`)).rejections;
  }

  /** Script `vendor`'s next answers (a number is that error status), then it answers as usual. */
  async fault(vendor: Vendor, ...faults: (number | Fault)[]): Promise<void> {
    const script = faults.map((f) => (typeof f === "number" ? error(f) : f));
    await this.call("POST", "/faults", { vendor, script });
  }

  /** Every request `vendor` gets after the script answers with `fault`, until `outage(vendor, null)`. */
  async outage(vendor: Vendor, fault: number | Fault | null): Promise<void> {
    await this.call("POST", "/faults", { vendor, outage: typeof fault === "number" ? error(fault) : fault });
  }

  /**
   * Faults end, deliveries still pending get up to `settleS` to go through (so one test's retries do not
   * reach the vendors during the next), then every vendor forgets what it received; older events and
   * rejections are no longer listed.
   */
  async reset({ settleS = 10 }: { settleS?: number } = {}): Promise<void> {
    await this.call("POST", "/reset", { settle_s: settleS });
  }

  /**
   * The first request `vendor` received (and accepted, unless `accepted` is false) whose body holds
   * `match` (each key of an object at its place, anything else equal). Throws after `timeoutS`,
   * naming what the vendor refused and why.
   */
  async waitFor(
    vendor: Vendor,
    match: Record<string, unknown>,
    { timeoutS = 15, accepted = true }: { timeoutS?: number; accepted?: boolean } = {},
  ): Promise<SandboxRequest> {
    const deadline = Date.now() + timeoutS * 1000;
    for (;;) {
      const left = Math.max(0, Math.min(LONG_POLL_S, (deadline - Date.now()) / 1000));
      const found = await this.call<{ found: boolean; request?: SandboxRequest; refused?: SandboxRequest[] }>(
        "POST", "/wait", { vendor, match, timeout_s: left, accepted },
      );
      if (found.found && found.request) return found.request;
      if (Date.now() >= deadline) {
        const refused = (found.refused ?? []).map((r) => `\n  refused (${r.status}): ${r.problem ?? JSON.stringify(r.fault)}`);
        throw new Error(`${vendor} received no request matching ${JSON.stringify(match)} that it accepted${refused.join("")}`);
      }
    }
  }
}
