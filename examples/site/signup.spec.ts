// The sign-up page (index.html) end to end, in Chromium, against a sandboxed leadrelay:
// test_signup.py's twin for @playwright/test.
import { expect, test, type Page } from "@playwright/test";
import { LeadrelaySandbox, error, timeout } from "./leadrelay";

const sandbox = new LeadrelaySandbox(`http://127.0.0.1:${process.env.LEADRELAY_PORT ?? 8787}`);

test.beforeEach(async () => {
  await sandbox.reset();
});

async function signUp(page: Page, clickId: string): Promise<void> {
  await page.goto(`/?dub_id=${clickId}`); // a visitor lands from a Dub short link
  await page.fill("input[name=firstName]", "Carol");
  await page.fill("input[name=lastName]", "Doe");
  await page.fill("input[name=email]", "carol@example.com");
  await page.fill("input[name=company]", "Example Inc");
  await page.click("button[type=submit]");
  await expect(page.locator("#status")).toHaveText("Thanks! Check your inbox.");
}

test("a sign-up reaches Dub with its click id", async ({ page }) => {
  await signUp(page, "clk_signup_1");
  const lead = await sandbox.waitFor("dub", { clickId: "clk_signup_1" });
  expect(lead.body.eventName).toBe("Sign up");
  expect(lead.body.customerEmail).toBe("carol@example.com");
  expect(lead.body.customerName).toBe("Carol Doe");
  const reshape = await sandbox.waitFor("reshape", { user: { email: ["carol@example.com"] } });
  expect(reshape.body.event.name).toBe("lead_created");
  const [event, ...others] = await sandbox.events();
  expect(others).toEqual([]);
  expect(event.click_ids).toEqual({ dub: "clk_signup_1" });
  expect(await sandbox.rejections()).toEqual([]);
});

test("the lead reaches Dub when Dub fails first", async ({ page }) => {
  await sandbox.fault("dub", 503, error(429, 1), timeout());
  await signUp(page, "clk_signup_2");
  await sandbox.waitFor("dub", { clickId: "clk_signup_2" }, { timeoutS: 30 });
  expect((await sandbox.received("dub")).map((r) => r.status)).toEqual([503, 429, null, 200]);
});
