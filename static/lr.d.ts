/**
 * TypeScript declarations for the leadrelay browser snippet (served as {prefix}/s.js).
 *
 *   import type { LeadGenerated } from "./lr";   // this file, copied next to your code
 *
 * The globals (`croct`, `reshape`, `leadrelay`) are declared too. When you rename them
 * (data-croct, data-reshape), declare your own: `declare const lrCroct: leadrelay.Croct;`.
 */

/** Croct's `leadGenerated` payload (Croct's own rules; unknown properties are errors). */
export interface LeadGenerated {
  /** The lead's id in your application, 1-100 characters. */
  leadId?: string;
  /** ISO 4217 code recommended, such as "USD". */
  currency?: string;
  /** The lead's monetary value, not negative. */
  value?: number;
  lead?: LeadProfile;
}

export interface LeadProfile {
  /** 1-50 characters. */
  firstName?: string;
  /** 1-50 characters. */
  lastName?: string;
  /** YYYY-MM-DD, a real date. */
  birthDate?: string;
  gender?: "male" | "female" | "neutral" | "unknown";
  /** 1-254 characters. */
  email?: string;
  alternateEmail?: string;
  /** 1-30 characters. */
  phone?: string;
  alternatePhone?: string;
  address?: LeadAddress;
  /** A well-formed URL. */
  avatar?: string;
  /** 1-200 characters. */
  company?: string;
  /** A well-formed URL. */
  companyUrl?: string;
  /** 1-50 characters. */
  jobTitle?: string;
  /** At most 10 attributes; names up to 20 characters: letters, digits, '_', not starting with a digit. */
  custom?: { [name: string]: CustomValue };
}

export interface LeadAddress {
  street?: string;
  district?: string;
  city?: string;
  region?: string;
  country?: string;
  /** 1-20 characters. */
  postalCode?: string;
}

export type CustomPrimitive = string | number | boolean | null;
/** Strings up to 100 characters; lists and maps up to 30 entries, nested one level. */
export type CustomValue =
  | CustomPrimitive
  | Array<CustomPrimitive | CustomPrimitive[] | { [key: string]: CustomPrimitive }>
  | { [key: string]: CustomPrimitive | CustomPrimitive[] | { [key: string]: CustomPrimitive } };

/**
 * Payloads by Croct event type. Types your server accepts beyond leadGenerated
 * (setting croct_event_types) are added by merging into this interface:
 *
 *   declare module "./lr" { interface CroctEvents { goalCompleted: { goalId: string } } }
 */
export interface CroctEvents {
  leadGenerated: LeadGenerated;
}

/** What `croct.track` resolves with: Croct's processed event ({} when the server had it already). */
export interface ProcessedEvent {
  leadId?: string;
  currency?: string;
  value?: number;
  /** The profile operations derived from `lead`. */
  patch?: { operations: PatchOperation[] };
}

export interface PatchOperation {
  type: "set" | "unset" | "clear" | "add" | "combine" | "merge" | "increment" | "decrement" | "remove";
  /** A profile attribute, such as "firstName" or "custom.points". */
  path: string;
  value?: unknown;
}

/** One broken rule, as the server reports it. */
export interface FieldError {
  /** Where, as a dotted path into the payload ("lead.address.city"); "" for the whole event. */
  path: string;
  message: string;
  /** The rule's short name ("string_too_long", "extra_forbidden", "consent", ...). */
  rule: string;
}

/** What `croct.track` rejects with: `message` starts "Invalid event payload: " for field errors. */
export interface TrackError extends Error {
  errors: FieldError[];
}

/** DATA Reshape's push object: listed keys are checked, others are passed through. */
export interface ReshapeEvent {
  event: {
    /** Required; lead events are lead_created, lead_qualified, lead_disqualified; checkout_completed is a sale. */
    name: string;
    /** Required for checkout_completed: 0 or more, in the currency's main unit (49.99). */
    value?: number;
    /** Required by Reshape for lead events and checkout_completed (ISO 4217 for it). */
    currency?: string;
    /** Default 1. */
    exchange_rate?: number;
    /** The deduplication key; required by Reshape for lead events and checkout_completed (the order's id). */
    id?: string;
    properties?: { [key: string]: unknown };
  };
  context?: {
    url?: string;
    page_type?: string;
    environment?: "prod" | "dev";
    /** website, phone, admin, app, marketplace, ... */
    data_source?: string;
    user_agent?: string;
    override_ip?: string;
    /** The seed's spelling of override_ip. */
    overide_ip?: string;
    landing_url?: string;
    referring_url?: string;
    [key: string]: unknown;
  };
  user?: {
    id?: string;
    /** Plaintext or SHA-256 hex; one or several. */
    email?: string | string[];
    /** E.164 plaintext or SHA-256 hex; one or several. */
    phone?: string | string[];
    first_name?: string;
    last_name?: string;
    country?: string;
    region?: string;
    city?: string;
    street?: string;
    postal_code?: string;
    orders_total_number?: number;
    orders_canceled_number?: number;
    orders_total_value?: number;
    orders_refunded_value?: number;
    predicted_value?: number;
    /** Milliseconds since the Unix epoch. */
    created_at?: number;
    properties?: { [key: string]: unknown };
    [key: string]: unknown;
  };
  consent?: { analytics?: boolean; personalization?: boolean; marketing?: boolean };
  cookies?: { [name: string]: string };
  [key: string]: unknown;
}

export interface Croct {
  /**
   * Send a Croct event. Resolves once leadrelay has stored it; rejects with the field
   * errors when the server refuses it (final: it is not retried), or when consent is refused.
   */
  track<T extends keyof CroctEvents>(type: T, payload: CroctEvents[T]): Promise<ProcessedEvent>;
}

export interface Reshape {
  /** Send a DATA Reshape event. Never throws; debug mode prints what the server said. */
  push(event: ReshapeEvent): void;
}

export interface Leadrelay extends Croct, Reshape {
  /** The visitor's choice: true sends the waiting events, false discards everything unsent. */
  consent(granted: boolean): void;
  /**
   * Send everything queued now and wait for the answers (before navigating, in tests). Resolves,
   * never rejects, with the number of events still unanswered (0: all were answered; a failed
   * attempt leaves the rest queued for the usual retries), at the latest after `ms` (10,000).
   * Through the stub before the script has run: `undefined` if the script did not answer in `ms`.
   */
  flush(ms?: number): Promise<number | undefined>;
  /** True once the snippet has run. */
  readonly loaded?: boolean;
}

declare global {
  /** leadrelay's Croct-style API (unless data-croct renamed it, or the real Croct library holds the name). */
  var croct: Croct;
  /** leadrelay's Reshape-style API; before the snippet loads, Reshape's documented `[]` queue. */
  var reshape: Reshape | ReshapeEvent[];
  /** Always leadrelay, whatever the other names hold. */
  var leadrelay: Leadrelay;
}
