// Logs in on the demo at the URL of argv[2] in headless Chromium, logs out,
// presses Back, and prints as JSON the <h1> of the page at each step and
// whether Back restored the page from the back/forward cache. The
// Go test (../browser_test.go) judges them. The browser is Debian's
// chromium (CHROMIUM, default /usr/bin/chromium); nothing is downloaded.
import { chromium } from 'playwright-core';

const base = process.argv[2];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Playwright turns the back/forward cache off; a user's browser has it
  // on, and it is what shows a page again on Back without asking.
  ignoreDefaultArgs: ['--disable-back-forward-cache'],
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const seen = {};
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(15000);
  const h1 = () => page.textContent('h1');
  await page.goto(base);
  seen.home = await h1();
  await page.fill('input[name=name]', 'Ada');
  await Promise.all([page.waitForURL(/m=in/), page.click('form[action="/login"] button')]);
  seen.afterLogin = await h1();
  // A mark in the page's JavaScript heap: still there after Back only if
  // the browser restored the page from its back/forward cache.
  await page.evaluate(() => { window.__sessiondemoMark = true; });
  await Promise.all([page.waitForURL(/m=out/), page.click('form[action="/logout"] button')]);
  seen.afterLogout = await h1();
  // 'commit': a page restored from the back/forward cache fires no load event.
  await page.goBack({ waitUntil: 'commit' });
  seen.backURL = page.url();
  seen.afterBack = await h1(); // waits for the <h1> of the page shown now
  seen.restored = await page.evaluate(() => window.__sessiondemoMark === true);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
