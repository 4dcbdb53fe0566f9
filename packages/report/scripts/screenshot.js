#!/usr/bin/env node
// A picture of a `leantune report` page, as the README shows it: the page opened in Debian's
// chromium through playwright-core, its charts (the results table is text in the README).
//   node packages/report/scripts/screenshot.js <report.html> <out.png>
// LEANTUNE_CHROMIUM names another Chromium binary (default /usr/bin/chromium).
const { renameSync } = require('node:fs');
const { resolve } = require('node:path');
const { chromium } = require('playwright-core');

async function main([html, png] = process.argv.slice(2)) {
  if (!html || !png) throw new Error('usage: screenshot.js <report.html> <out.png>');
  const browser = await chromium.launch({ executablePath: process.env.LEANTUNE_CHROMIUM ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`file://${resolve(html)}`);
    await page.waitForSelector('body[data-rendered]', { timeout: 30_000 });
    if (problems.length) throw new Error(`${html} logged errors: ${problems.join('; ')}`);
    const box = await page.$eval('.charts', (el) => {
      const r = el.getBoundingClientRect();
      return { x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height };
    });
    const tmp = `${png}.tmp.png`;
    const pad = 12;
    await page.screenshot({ path: tmp, fullPage: true, clip: { x: Math.max(0, box.x - pad), y: Math.max(0, box.y - pad), width: box.width + 2 * pad, height: box.height + 2 * pad } });
    renameSync(tmp, png);
    console.log(`wrote ${png}`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(`screenshot: ${err.message}`);
  process.exit(1);
});
