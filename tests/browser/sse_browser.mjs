// sse_browser.mjs — a real browser receives a job's progress through EventSource.
//
// Usage: node sse_browser.mjs BASE_URL JOB_ID AUDIO_FILE
// Launches Debian's chromium (headless) through playwright-core and, on
// the page stenod serves at BASE_URL/:
//   1. opens an EventSource on /v1/jobs/JOB_ID/events and collects every
//      event (id, type) until done: ids must be 1..N in order;
//   2. reconnects with ?last_event_id=K (what EventSource polyfills send)
//      and must get exactly K+1..N;
//   3. uses the page itself: uploads AUDIO_FILE through the form and waits
//      for the per-chunk bar to fill and the transcript to show.
// Prints "ok - …"/"FAIL - …" lines and "N passed, M failed"; exit 1 on failure.
import { chromium } from 'playwright-core';

const [base, jobId, audio] = process.argv.slice(2);
const exe = process.env.CHROMIUM || '/usr/bin/chromium';
let passed = 0, failed = 0;
const check = (what, ok, detail = '') => {
  if (ok) { passed++; console.log(`ok - ${what}`); }
  else { failed++; console.log(`FAIL - ${what}${detail ? ': ' + detail : ''}`); }
};

const browser = await chromium.launch({
  executablePath: exe, headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', e => pageErrors.push(String(e)));
  const resp = await page.goto(base + '/');
  check('GET / serves the page', resp.status() === 200, String(resp.status()));
  check('the page is HTML', (resp.headers()['content-type'] || '').startsWith('text/html'));

  const follow = (url) => page.evaluate((url) => new Promise((resolve) => {
    const got = [];
    const es = new EventSource(url);
    const timer = setTimeout(() => { es.close(); resolve({ got, timeout: true }); }, 60000);
    for (const t of ['job', 'chunk', 'progress', 'done', 'error']) {
      es.addEventListener(t, (e) => {
        if (!e.data) return; // a connection error, not an event
        got.push({ id: Number(e.lastEventId), type: t, data: JSON.parse(e.data) });
        if (t === 'done' || t === 'error') { clearTimeout(timer); es.close(); resolve({ got }); }
      });
    }
  }), url);

  const all = await follow(`/v1/jobs/${jobId}/events`);
  const ids = all.got.map(e => e.id);
  check(`EventSource received ${ids.length} events, no timeout`, !all.timeout && ids.length > 3);
  check('ids are 1..N in order', ids.every((id, i) => id === i + 1), ids.join(' '));
  check('the last event is done', all.got.length > 0 && all.got[all.got.length - 1].type === 'done');
  check('chunk events carry index/start/end/state',
    all.got.some(e => e.type === 'chunk' && e.data.state === 'done' &&
      Number.isInteger(e.data.index) && e.data.end > e.data.start));
  check('progress reaches 100%', all.got.some(e => e.type === 'progress' && e.data.percent === 100));

  const k = Math.max(1, ids.length - 3);
  const rest = await follow(`/v1/jobs/${jobId}/events?last_event_id=${k}`);
  const restIds = rest.got.map(e => e.id).join(' ');
  const want = ids.slice(k).join(' ');
  check(`?last_event_id=${k} resumes with exactly ${want}`, restIds === want, restIds);

  // the page's own flow: upload, chunk bar, transcript
  await page.setInputFiles('#file', audio);
  await page.click('form button');
  await page.waitForFunction(() => /done/.test(document.getElementById('status').textContent) &&
    document.getElementById('text').textContent.trim().length > 0, null, { timeout: 90000 })
    .then(() => check('the page followed its upload to a transcript', true),
          (e) => check('the page followed its upload to a transcript', false,
                       String(e).slice(0, 200)));
  const cells = await page.$$eval('#bar div', ds => ds.map(d => d.className));
  check(`the chunk bar shows every chunk done (${cells.length})`,
    cells.length > 1 && cells.every(c => c === 'done'), cells.join(','));
  const text = await page.textContent('#text');
  check('the transcript has the tone words', /\bw\d+\b/.test(text), text.slice(0, 80));
  check('no script error on the page', pageErrors.length === 0, pageErrors.join('; '));
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
