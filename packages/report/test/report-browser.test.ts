import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { analyze, writeReport } from '../src';
import { SYNTHETIC, writeSyntheticStore } from './fixtures/synthetic';
import { tempDir } from './helpers';

// The report in a real browser: Debian's chromium driven by playwright-core. CI (.ci/run)
// installs chromium and sets LEANTUNE_REQUIRE_BROWSER=1, so there a missing browser fails.
const CHROMIUM = process.env.LEANTUNE_CHROMIUM ?? '/usr/bin/chromium';
const required = process.env.LEANTUNE_REQUIRE_BROWSER === '1';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && !required) console.warn(`report-browser.test: skipped, ${CHROMIUM} is missing (apt-get install -y chromium)`);
const describeBrowser = haveBrowser || required ? describe : describe.skip;
export const ARTIFACTS = join(__dirname, '..', 'test-artifacts');

describeBrowser('the HTML report in Chromium', () => {
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const dir = tempDir('browser');
  const store = writeSyntheticStore(dir);
  const analysis = analyze(store, 'synthetic');
  const { html } = writeReport(store, 'synthetic', join(dir, 'report.html'));
  const requests: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it with \`apt-get install -y chromium\` (.ci/run does), or set LEANTUNE_CHROMIUM to a Chromium binary.`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`file://${html}`);
    await page.waitForSelector('body[data-rendered]', { timeout: 30_000 });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    store.close();
  });

  /** The SVG mark items of a named layer in one chart (vega-lite names them <layer>_marks). */
  const marks = (chart: string, layer: string) =>
    page.$$eval(`#chart-${chart} g.role-mark.${layer}_marks > *`, (els) => els.map((e) => e.getAttribute('aria-label') ?? ''));

  it('loads offline with no console errors or warnings, and every chart embedded', async () => {
    expect(await page.getAttribute('body', 'data-rendered')).toBe('true');
    expect(problems).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
    expect(await page.$$eval('.chart svg', (els) => els.length)).toBe(4);
    expect(await page.$$eval('#results tbody tr', (els) => els.length)).toBe(Object.keys(SYNTHETIC.arms).length);
    expect(await page.$$eval('#failures tbody tr', (els) => els.length)).toBe(2);
    expect(await page.textContent('#verdict')).toContain('Best by mean accuracy: full');
  });

  it('loss curves: one mean line and one seed band per arm that has steps', async () => {
    const arms = Object.keys(SYNTHETIC.arms);
    const lines = await marks('loss', 'mean');
    expect(lines).toHaveLength(arms.length);
    expect(await marks('loss', 'band_layer_0')).toHaveLength(arms.length);
    expect(lines.map((l) => /arm: (\w+)/.exec(l)![1]).sort()).toEqual([...arms].sort());
  });

  it('accuracy against trainable share: a point per arm, an interval per arm with two or more seeds', async () => {
    expect(await marks('share', 'arms')).toHaveLength(6);
    expect(await marks('share', 'ci')).toHaveLength(5);
  });

  it('the Pareto chart marks exactly the arms on the front', async () => {
    expect(await marks('pareto', 'arms')).toHaveLength(6);
    const front = (await marks('pareto', 'front')).map((l) => /arm: (\w+)/.exec(l)![1]);
    expect(front.sort()).toEqual(['broken', 'full', 'ia3', 'lora', 'tiny']);
    expect(front).toEqual([...analysis.pareto].sort());
    expect(await marks('pareto', 'frontline')).toHaveLength(1);
  });

  it('train time and adapter size: one bar per arm each', async () => {
    expect(await marks('cost', 'time')).toHaveLength(6);
    const sizes = await marks('cost', 'size');
    expect(sizes).toHaveLength(6);
    expect(sizes.find((l) => l.includes('arm: full'))).toMatch(/savedKiB: 390\.6/);
  });

  it('shows each arm config and the environment, and saves a screenshot', async () => {
    expect(await page.$$eval('details.arm', (els) => els.length)).toBe(6);
    expect(await page.textContent('#environment')).toContain(process.version);
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, 'report-synthetic.png');
    await page.screenshot({ path: file, fullPage: true });
    expect(existsSync(file)).toBe(true);
  });
});
