// Two devices of one user in headless Chromium (two browser contexts, so
// two cookie jars): the phone on instance B (argv[3]), the laptop on
// instance A (argv[2]). The laptop logs the phone out ("Log out this
// device"), the phone logs in again (the laptop's list of sessions shows
// it without a reload), and the laptop logs out everywhere; then once
// more with the phone's page hidden (the page closes its stream) until a
// second after the click. Each time it measures the time from the
// laptop's click to the banner on the phone's page, by the clock both
// pages share (Date.now in the laptop's click listener and when the
// phone's banner is unhidden), waiting at most argv[4] ms (null: no
// banner by then; for the hidden page, from when it is shown), and prints
// as JSON what the phone's page showed. The Go test (../browser_test.go)
// judges it. The browser is Debian's chromium (CHROMIUM, default
// /usr/bin/chromium); nothing is downloaded.
import { chromium } from 'playwright-core';

const [a, b] = [process.argv[2], process.argv[3]];
const wait = Number(process.argv[4]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const out = {};
try {
  const laptop = await (await browser.newContext()).newPage();
  const phone = await (await browser.newContext()).newPage();
  for (const p of [laptop, phone]) p.setDefaultTimeout(15000);

  // login logs page in as Ada on base and resolves once the logged-in
  // page's event stream has its response headers: the stream is then
  // watching (the server registers it before the first byte).
  const login = async (page, base) => {
    await page.goto(base);
    await page.fill('input[name=name]', 'Ada');
    const stream = page.waitForResponse(r => new URL(r.url()).pathname === '/events');
    await Promise.all([page.waitForURL(/m=in/), page.click('form[action="/login"] button')]);
    if ((await stream).status() !== 200) throw new Error('the event stream answered ' + (await stream).status());
    // A mark in the page's JavaScript heap: still there later only if
    // the page was not reloaded.
    await page.evaluate(() => { window.__sessiondemoMark = true; });
  };

  // ends clicks the laptop's button, then runs during, and reports what
  // the phone's page showed: the banner after how many ms (or null), and
  // after how many since the page was last shown, its text, whether the
  // page's form buttons were disabled and whether it was reloaded.
  const ends = async (button, during = async () => {}) => {
    await phone.evaluate(() => {
      const note = document.getElementById('ended');
      new MutationObserver(() => { if (!note.hidden) window.__bannerAt ??= Date.now(); })
        .observe(note, { attributes: true });
    });
    await laptop.evaluate(sel => {
      document.querySelector(sel).addEventListener('click', () => {
        sessionStorage.setItem('clickAt', String(Date.now()));
      });
    }, button);
    await laptop.click(button);
    await during();
    // The wait starts after during; the time is the pages' own.
    const shown = await phone.waitForSelector('#ended:not([hidden])', { timeout: wait })
      .then(() => true, () => false);
    const clickAt = Number(await laptop.evaluate(() => sessionStorage.getItem('clickAt')));
    const bannerAt = await phone.evaluate(() => window.__bannerAt);
    const shownAt = await phone.evaluate(() => window.__shownAt);
    return {
      ms: shown ? bannerAt - clickAt : null,
      afterShownMs: shown && shownAt ? bannerAt - shownAt : null,
      banner: !shown ? '' : (await phone.textContent('#ended')).trim(),
      disabled: await phone.$$eval('form button', bs => bs.length > 0 && bs.every(b => b.disabled)),
      otherNotes: await phone.$$eval('.msg:not(#ended)', ms => ms.filter(m => !m.hidden).length),
      reloaded: await phone.evaluate(() => window.__sessiondemoMark !== true),
      h1: await phone.textContent('h1'),
    };
  };

  await login(phone, b);
  await login(laptop, a); // after the phone, so that its list shows the phone
  const handle = await phone.evaluate(async () => (await (await fetch('/whoami')).json()).handle);
  out.thisDevice = await ends(`form[action="/revoke"]:has(input[value="${handle}"]) button`);

  await laptop.evaluate(() => { window.__sessiondemoMark = true; });
  await login(phone, b);
  const again = await phone.evaluate(async () => (await (await fetch('/whoami')).json()).handle);
  out.listLive = await laptop.waitForSelector(`form[action="/revoke"]:has(input[value="${again}"])`, { timeout: wait })
    .then(() => true, () => false);
  out.listReloaded = await laptop.evaluate(() => window.__sessiondemoMark !== true);
  out.everywhere = await ends('form[action="/logout-everywhere"] button');
  out.laptopH1 = await laptop.textContent('h1');

  // The same with the phone's page hidden: headless pages are always
  // visible, so the page is told it is hidden, and then shown again.
  const visible = (page, shown) => page.evaluate(shown => {
    Object.defineProperty(document, 'hidden', { value: !shown, configurable: true });
    if (shown) window.__shownAt = Date.now();
    document.dispatchEvent(new Event('visibilitychange'));
  }, shown);
  await login(laptop, a);
  await login(phone, b);
  await visible(phone, false);
  out.hidden = await ends('form[action="/logout-everywhere"] button', async () => {
    await new Promise(resolve => setTimeout(resolve, 1000));
    out.hiddenBanner = await phone.isVisible('#ended');
    await visible(phone, true);
  });
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
