// Type checks of static/lr.d.ts: every line without @ts-expect-error must compile, every line
// with it must fail (tsc reports an unused @ts-expect-error). Run by tests/types/test_declarations.py.
import type { LeadGenerated, Leadrelay, ProcessedEvent, ReshapeEvent, TrackError } from "../../static/lr";

// -- croct.track, typed per event ------------------------------------------------------------

const lead: LeadGenerated = {
  leadId: "1ed2fd65-a027-4f3a-a35f-c6dd97537392",
  currency: "USD",
  value: 100,
  lead: {
    firstName: "Carol",
    gender: "female",
    address: { street: "123 Some Street", city: "San Francisco", region: "California", country: "US" },
    custom: { points: 1, favoriteEmoji: "🐊", tags: ["a", "b"], prefs: { theme: "dark" } },
  },
};
const processed: Promise<ProcessedEvent> = croct.track("leadGenerated", lead);
processed.then((event) => {
  const id: string | undefined = event.leadId;
  const operations = event.patch?.operations ?? [];
  operations.forEach((op) => op.path.toUpperCase());
  return id;
});
processed.catch((error: TrackError) => error.errors.map((e) => `${e.path}: ${e.message} (${e.rule})`));

// The seed's own snippet: userId is not a leadGenerated property.
// @ts-expect-error
croct.track("leadGenerated", { userId: "1ed2fd65-a027-4f3a-a35f-c6dd97537392" });
// @ts-expect-error a wrong property inside lead
croct.track("leadGenerated", { lead: { fistName: "Carol" } });
// @ts-expect-error an address property Croct does not have (the seed's example uses it)
croct.track("leadGenerated", { lead: { address: { state: "California" } } });
// @ts-expect-error gender is one of four values
croct.track("leadGenerated", { lead: { gender: "robot" } });
// @ts-expect-error value is a number
croct.track("leadGenerated", { value: "100" });
// @ts-expect-error an event type the declarations do not know
croct.track("pageOpened", { page: "/" });
// @ts-expect-error the payload is required
croct.track("leadGenerated");

// -- reshape.push, before and after the snippet loads ------------------------------------------

window.reshape = window.reshape || [];
reshape.push({
  event: { name: "lead_qualified", value: 750.0, currency: "USD", id: "QUALIFIED_LEAD_456" },
  context: { environment: "prod", data_source: "crm_system" },
  user: { email: "sarah@example.com", new_customer: true },
});
const complete: ReshapeEvent = {
  event: {
    name: "lead_qualified",
    value: 750.0,
    currency: "USD",
    exchange_rate: 1,
    id: "QUALIFIED_LEAD_456",
    properties: { qualification_method: "sales_review", lead_score_before: 65, qualification_notes_added: true },
  },
  context: {
    environment: "prod",
    data_source: "crm_system",
    user_agent: "Mozilla/5.0",
    overide_ip: "203.145.67.89",
    url: "https://crm.example.com/leads/qualification",
    landing_url: "https://example.com/enterprise-solutions",
    referring_url: "https://linkedin.com/company/example",
  },
  user: {
    id: "LEAD_789123",
    email: ["sarah.johnson@example.com"],
    phone: ["+1555987654"],
    first_name: "Sarah",
    postal_code: "10001",
    created_at: 1754926521690,
    properties: { decision_maker: true },
  },
  consent: { analytics: true, marketing: false },
};
reshape.push(complete);
// @ts-expect-error event.name is required
reshape.push({ event: { value: 1 } });
// @ts-expect-error environment is prod or dev
reshape.push({ event: { name: "x" }, context: { environment: "staging" } });
// @ts-expect-error value is a number
reshape.push({ event: { name: "x", value: "750" } });

// -- the leadrelay global: the same calls, plus consent and flush ----------------------------

const api: Leadrelay = leadrelay;
api.consent(true);
leadrelay.track("leadGenerated", { leadId: "L-1" });
leadrelay.push({ event: { name: "lead_created", currency: "EUR", id: "R-1" } });
const ready: boolean | undefined = leadrelay.loaded;
// @ts-expect-error consent takes a boolean
leadrelay.consent("yes");
const left: Promise<number | undefined> = leadrelay.flush(2000);
left.then((unanswered) => (unanswered ?? 0) + 1);
leadrelay.flush();
// @ts-expect-error flush takes milliseconds
leadrelay.flush("2s");
// @ts-expect-error flush never resolves with events, only with how many are left
leadrelay.flush().then((events: object[]) => events);

// -- augmenting the event map for types the server was configured to accept -------------------

declare module "../../static/lr" {
  interface CroctEvents {
    goalCompleted: { goalId: string; value?: number };
  }
}
export const augmented = (c: import("../../static/lr").Croct) => {
  c.track("goalCompleted", { goalId: "newsletter" });
  // @ts-expect-error goalId is required
  c.track("goalCompleted", {});
};

export { ready };
