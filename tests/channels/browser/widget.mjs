// Drives the chat widget in headless Chromium (Debian's) with Playwright's core,
// for tests/channels/test_widget_browser.py, which starts the real stack and
// asserts on the JSON this prints.
//
//   node widget.mjs <scenario> <json options>
//
// Scenarios:
//   journey  a resident completes a journey with the keyboard only (no mouse
//            or element API is used to act: only keyboard presses), then a
//            screenshot; options.steps: [{say|choose, expect}], options.screenshot
//   axe      axe-core on the demo page, with the widget closed, then open
//            mid-conversation with options shown; WCAG 2.2 A/AA tags only
//   layout   a phone-sized screen, 200% text, reduced motion, a reload in the
//            same session and a second resident in another browser session
//   render   the widget alone with made-up answers (options.messages): payment
//            links, references, HTML-looking text, "Talk to a person", "Start again"
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const REPLY_TIMEOUT = 60_000;

const [scenario, rawOptions] = process.argv.slice(2);
const options = JSON.parse(rawOptions || "{}");

async function withBrowser(contextOptions, run) {
  // A new, empty profile each time (Playwright passes it as --user-data-dir).
  const profile = mkdtempSync(join(tmpdir(), "widget-test-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: options.chromium || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
    ...contextOptions,
  });
  try {
    return await run(context);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// --- reading the page (observing only; acting is done with the keyboard) ---------

const active = (page) =>
  page.evaluate(() => {
    const el = document.activeElement;
    const style = el ? getComputedStyle(el) : null;
    return {
      tag: el ? el.tagName.toLowerCase() : null,
      text: el ? (el.textContent || "").trim() : "",
      className: el ? String(el.className) : "",
      background: style ? style.backgroundColor : null,
      outline: style ? `${style.outlineStyle} ${style.outlineWidth}` : null,
      boxShadow: style ? style.boxShadow : null,
    };
  });

const assistantTexts = (page) =>
  page.$$eval("#council-assistant .ca-message--assistant", (nodes) =>
    nodes.map((n) => n.innerText.replace(/^Assistant said:\s*/, "").trim()),
  );

const optionTitles = (page) =>
  page.$$eval("#council-assistant .ca-options .ca-option", (nodes) => nodes.map((n) => n.textContent.trim()));

async function waitForReply(page, before) {
  await page.waitForFunction(
    (count) =>
      document.querySelectorAll("#council-assistant .ca-message--assistant").length > count &&
      !document.querySelector("#council-assistant.ca-chat--typing"),
    before,
    { timeout: REPLY_TIMEOUT },
  );
  return (await assistantTexts(page)).slice(before);
}

/* Whether the assistant is shown typing, and the indicator's animation. */
const typingIndicator = (page) =>
  page.evaluate(() => {
    const status = document.querySelector("#council-assistant .ca-status");
    return {
      typing: Boolean(document.querySelector("#council-assistant.ca-chat--typing")),
      status: status.textContent,
      animation: getComputedStyle(status, "::after").animationName,
    };
  });

async function tabTo(page, matches, key = "Tab", most = 40) {
  const trail = [];
  for (let i = 0; i < most; i += 1) {
    await page.keyboard.press(key);
    const now = await active(page);
    trail.push(now.text || now.tag);
    if (matches(now)) return { reached: now, presses: i + 1, trail };
  }
  throw new Error(`could not reach the element with ${key}; focus went: ${trail.join(" | ")}`);
}

async function openWithKeyboard(page) {
  const launcher = await tabTo(page, (el) => el.className.includes("ca-launcher"));
  await page.keyboard.press("Enter");
  const afterOpen = await active(page);
  return { launcher, afterOpen };
}

// --- scenarios -------------------------------------------------------------------------------

async function journey() {
  return withBrowser({}, async (context) => {
    const page = context.pages()[0] || (await context.newPage());
    await page.goto(options.url, { waitUntil: "load" });
    const opened = await openWithKeyboard(page);
    const steps = [];
    let typing = null;
    for (const step of options.steps) {
      const before = (await assistantTexts(page)).length;
      let focus = null;
      if (step.say !== undefined) {
        await page.keyboard.type(step.say);
        await page.keyboard.press("Enter");
      } else {
        // An option is above the input: go back to it with Shift+Tab.
        const wanted = new RegExp(step.choose, "i");
        focus = await tabTo(page, (el) => el.className.includes("ca-option") && wanted.test(el.text), "Shift+Tab");
        await page.keyboard.press("Enter");
      }
      const indicator = await typingIndicator(page);
      if (indicator.typing) typing = indicator;
      const replies = await waitForReply(page, before);
      steps.push({ ...step, focus, replies, options: await optionTitles(page), afterReply: await active(page) });
    }
    const liveRegion = await page.$eval("#council-assistant .ca-log", (log) => ({
      role: log.getAttribute("role"),
      live: log.getAttribute("aria-live"),
      lastText: log.lastElementChild ? log.lastElementChild.innerText : "",
    }));
    if (options.screenshot) await page.screenshot({ path: options.screenshot });
    return { opened, steps, typing, liveRegion };
  });
}

async function runAxe(page) {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: "tag", values: tags } });
    return {
      violations: result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.map((n) => n.target.join(" ")),
      })),
      passes: result.passes.length,
    };
  }, WCAG_22_AA);
}

async function axe() {
  return withBrowser({}, async (context) => {
    const page = context.pages()[0] || (await context.newPage());
    await page.goto(options.url, { waitUntil: "load" });
    const closed = await runAxe(page);
    await openWithKeyboard(page);
    const before = (await assistantTexts(page)).length;
    await page.keyboard.type("help");
    await page.keyboard.press("Enter");
    await waitForReply(page, before);
    const open = await runAxe(page);
    return { closed, open, optionsShown: (await optionTitles(page)).length };
  });
}

async function layout() {
  const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, reducedMotion: "reduce" };
  return withBrowser(phone, async (context) => {
    const page = context.pages()[0] || (await context.newPage());
    await page.goto(options.url, { waitUntil: "load" });
    await openWithKeyboard(page);
    const before = (await assistantTexts(page)).length;
    await page.keyboard.type("help");
    await page.keyboard.press("Enter");
    // While the assistant is typing, the indicator must not move (reduced motion).
    const typingAnimation = await typingIndicator(page);
    await waitForReply(page, before);
    const measure = () =>
      page.evaluate(() => {
        const panel = document.querySelector("#council-assistant-panel").getBoundingClientRect();
        const input = document.querySelector("#council-assistant-input").getBoundingClientRect();
        return {
          viewport: { width: window.innerWidth, height: window.innerHeight },
          panel: { left: panel.left, right: panel.right, top: panel.top, bottom: panel.bottom },
          inputVisible: input.bottom <= window.innerHeight && input.right <= window.innerWidth,
          horizontalScroll: document.documentElement.scrollWidth > window.innerWidth,
          panelScrollsSideways: document.querySelector("#council-assistant-panel").scrollWidth >
            document.querySelector("#council-assistant-panel").clientWidth,
        };
      });
    const phoneLayout = await measure();
    await page.evaluate(() => {
      document.documentElement.style.fontSize = "200%";
    });
    const largeText = await measure();
    const optionHeights = await page.$$eval("#council-assistant .ca-option", (nodes) =>
      nodes.map((n) => n.getBoundingClientRect().height),
    );
    const transcriptBefore = await assistantTexts(page);
    await page.reload({ waitUntil: "load" });
    await page.waitForSelector("#council-assistant .ca-message--assistant");
    const afterReload = {
      transcript: await assistantTexts(page),
      open: await page.$eval("#council-assistant-panel", (p) => !p.hidden),
      options: await optionTitles(page),
    };
    // Another resident: another browser, its own session storage.
    const other = await chromium.launch({ executablePath: options.chromium || "/usr/bin/chromium", args: FLAGS });
    let otherResident;
    try {
      const otherPage = await other.newPage();
      await otherPage.goto(options.url, { waitUntil: "load" });
      await otherPage.waitForSelector("#council-assistant .ca-launcher");
      otherResident = { transcript: await assistantTexts(otherPage) };
    } finally {
      await other.close();
    }
    return { typingAnimation, phoneLayout, largeText, optionHeights, transcriptBefore, afterReload, otherResident };
  });
}

// The widget alone, with the assistant's answers made up here (Playwright routes the
// requests): payment links, references, text that looks like HTML, and the two
// buttons under the conversation, all used with the keyboard.
async function render() {
  return withBrowser({}, async (context) => {
    const page = context.pages()[0] || (await context.newPage());
    const sent = [];
    let sessions = 0;
    await page.route("**/webhooks/webchat/**", async (route) => {
      const request = route.request();
      if (request.url().endsWith("/session")) {
        sessions += 1;
        return route.fulfill({ status: 201, json: { conversation: `token-${sessions}`, expires_in: 3600 } });
      }
      sent.push(request.postDataJSON());
      return route.fulfill({ status: 200, json: { messages: options.messages } });
    });
    await page.goto(options.url, { waitUntil: "load" });
    await openWithKeyboard(page);
    await page.keyboard.type("hello");
    await page.keyboard.press("Enter");
    await waitForReply(page, 0);
    const shown = await page.$eval("#council-assistant .ca-log", (log) => ({
      payLinks: [...log.querySelectorAll("a.ca-pay")].map((a) => ({ href: a.href, text: a.textContent })),
      links: [...log.querySelectorAll("a.ca-link")].map((a) => a.href),
      references: [...log.querySelectorAll("strong.ca-reference")].map((r) => r.textContent),
      images: log.querySelectorAll("img").length,
      text: log.innerText,
    }));
    // "Talk to a person", then "Start again", each reached with Tab from the input.
    const before = (await assistantTexts(page)).length;
    await tabTo(page, (el) => el.text === "Talk to a person");
    await page.keyboard.press("Enter");
    await waitForReply(page, before);
    await tabTo(page, (el) => el.text === "Start again");
    await page.keyboard.press("Enter");
    const afterRestart = {
      messages: await page.$$eval("#council-assistant .ca-message", (nodes) => nodes.length),
      status: await page.textContent("#council-assistant .ca-status"),
      focus: await active(page),
    };
    await page.keyboard.type("again");
    await page.keyboard.press("Enter");
    await waitForReply(page, 0);
    await page.keyboard.press("Escape");
    const afterEscape = { focus: await active(page), open: await page.$eval("#council-assistant-panel", (p) => !p.hidden) };
    return { shown, sent, sessions, afterRestart, afterEscape };
  });
}

const scenarios = { journey, axe, layout, render };
try {
  const result = await scenarios[scenario]();
  process.stdout.write(JSON.stringify({ ok: true, ...result }));
} catch (error) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(error && error.stack ? error.stack : error) }));
  process.exitCode = 1;
}
