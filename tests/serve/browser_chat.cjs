// Drives the chat page in headless Chromium: types a message, waits for
// the streamed reply, checks that it arrived in pieces, and saves a
// screenshot.
//
// Usage: node browser_chat.cjs URL SCREENSHOT_PATH
// Environment: AIGC_SERVE_NODE_DIR, the npm prefix holding playwright-core
// (default /tmp/aigc-ci-node); CHROMIUM, the browser (default /usr/bin/chromium).
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");

const nodeDir = process.env.AIGC_SERVE_NODE_DIR || "/tmp/aigc-ci-node";
const { chromium } = require(path.join(nodeDir, "node_modules", "playwright-core"));

async function main() {
  const [url, screenshot] = process.argv.slice(2);
  if (!url || !screenshot) throw new Error("usage: node browser_chat.cjs URL SCREENSHOT_PATH");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "aigc-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: 1000, height: 640 },
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    const consoleErrors = [];
    page.on("console", message => { if (message.type() === "error") consoleErrors.push(message.text()); });
    page.on("pageerror", error => consoleErrors.push(error.message));

    await page.goto(url);
    await page.waitForFunction(() => document.getElementById("model").textContent !== "connecting…");

    // Record every length the reply bubble goes through while it streams.
    await page.evaluate(() => {
      window.replyLengths = [];
      // Each update replaces the bubble's text node, so every added node
      // keeps the text as it was at that moment.
      new MutationObserver(records => {
        for (const record of records) {
          if (!record.target.classList?.contains("assistant")) continue;
          for (const node of record.addedNodes) {
            if (node.nodeType === Node.TEXT_NODE) window.replyLengths.push(node.data.length);
          }
        }
      }).observe(document.getElementById("log"), { childList: true, subtree: true, characterData: true });
    });

    await page.fill("#max_tokens", "60");
    await page.fill("#seed", "5");
    await page.fill("#input", "你好！Please tell me about the weather.");
    await page.press("#input", "Enter");
    await page.waitForSelector(".meta", { timeout: 60000 });

    const result = await page.evaluate(() => ({
      user: document.querySelector(".message.user").textContent,
      reply: document.querySelector(".message.assistant").textContent,
      meta: document.querySelector(".meta").textContent,
      lengths: [...new Set(window.replyLengths)],
      errors: [...document.querySelectorAll(".message.error")].map(e => e.textContent),
    }));
    if (result.errors.length) throw new Error("the page shows an error: " + result.errors.join("; "));
    if (!result.reply) throw new Error("the reply bubble is empty");
    if (result.lengths.filter(n => n > 0).length < 2) {
      throw new Error("the reply did not stream: lengths seen " + JSON.stringify(result.lengths));
    }

    // A second turn sends the history; the reset button clears it.
    await page.fill("#input", "And tomorrow?");
    await page.press("#input", "Enter");
    await page.waitForFunction(() => document.querySelectorAll(".meta").length === 2, null, { timeout: 60000 });
    const turns = await page.evaluate(() => document.querySelectorAll(".message.user, .message.assistant").length);
    if (turns !== 4) throw new Error(`expected 4 bubbles after two turns, found ${turns}`);

    fs.mkdirSync(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });

    await page.click("#reset");
    const left = await page.evaluate(() => document.querySelectorAll(".message").length);
    if (left !== 0) throw new Error(`reset left ${left} messages on the page`);
    if (consoleErrors.length) throw new Error("console errors: " + consoleErrors.join("; "));

    console.log(JSON.stringify({ user: result.user, reply: result.reply, meta: result.meta, updates: result.lengths.length }));
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch(error => {
  console.error(error.stack || String(error));
  process.exit(1);
});
