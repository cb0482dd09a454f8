// Audit pages of a served site in Debian's Chromium: axe-core at each width and colour scheme,
// the size chart text is drawn at each width, and at the narrowest width the geometry of chart
// text and the words of tables broken across lines. Prints one JSON report on stdout.
// Usage: node audit.mjs JOB.json, where the job is
//   {"chromium": "/usr/bin/chromium", "pages": ["http://127.0.0.1:8000/index.html", ...],
//    "widths": [375, 1280], "schemes": ["dark", "light"], "geometry_width": 320,
//    "screenshots": {"dir": "test-artifacts", "pages": {"index": "http://..."}}}
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import puppeteer from "puppeteer-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const job = JSON.parse(readFileSync(process.argv[2], "utf8"));

// Every <text> of every inline SVG whose box reaches past its SVG's box (half a pixel of slack
// for antialiasing), as "page: svg title: text".
function textsOutside() {
  const out = [];
  for (const svg of document.querySelectorAll("svg")) {
    const box = svg.getBoundingClientRect();
    const name = svg.querySelector("title")?.textContent ?? "";
    for (const t of svg.querySelectorAll("text")) {
      const b = t.getBoundingClientRect();
      if (b.width === 0) continue;
      if (b.left < box.left - 0.5 || b.right > box.right + 0.5 ||
          b.top < box.top - 0.5 || b.bottom > box.bottom + 0.5) {
        out.push(`${name}: ${t.textContent} [${Math.round(b.left - box.left)}, ` +
                 `${Math.round(box.right - b.right)}]`);
      }
    }
  }
  return out;
}

// The smallest and largest size, in CSS pixels, at which each chart that is in view draws its
// text: its font size scaled as its box scales its viewBox.
function chartTextSizes() {
  const out = [];
  for (const svg of document.querySelectorAll("svg.chart")) {
    const view = svg.viewBox.baseVal;
    const box = svg.getBoundingClientRect();
    if (!view || !view.width || !box.width) continue;  // in a closed <details>: not drawn
    const scale = box.width / view.width;
    const sizes = [...svg.querySelectorAll("text")].map(
      (t) => parseFloat(getComputedStyle(t).fontSize) * scale);
    if (sizes.length) {
      out.push({ name: svg.querySelector("title")?.textContent ?? "",
                 min: Math.min(...sizes), max: Math.max(...sizes) });
    }
  }
  return out;
}

// Every word of up to 20 characters in a table cell that is drawn on more than one line (a
// word broken letter by letter, as "si te ge n"), as "page: word (in its cell's text)". Longer
// words (ids, hashes, paths) may break where the cell must. Every <details> is opened first:
// its table as a reader who opens it sees it.
function wordsBroken() {
  const out = [];
  for (const details of document.querySelectorAll("details")) details.open = true;
  for (const cell of document.querySelectorAll("th, td")) {
    // A word may run across elements (a dim "key=" then its value): the cell's text as one,
    // each character found again in its text node.
    const nodes = [];
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node);
    const at = [];
    for (const node of nodes) for (let i = 0; i < node.data.length; i++) at.push([node, i]);
    const text = nodes.map((node) => node.data).join("");
    for (const m of text.matchAll(/\S+/g)) {
      if (m[0].length > 20) continue;
      const range = document.createRange();
      range.setStart(...at[m.index]);
      const [last, i] = at[m.index + m[0].length - 1];
      range.setEnd(last, i + 1);
      const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0)
        .map((r) => Math.round(r.top)));
      if (tops.size > 1) out.push(`${m[0]} (in "${cell.textContent.trim().slice(0, 40)}")`);
    }
  }
  // A level badge ("no level 2") is read as one: its words and count on one line.
  for (const badge of document.querySelectorAll("p > .lv")) {
    const tops = new Set([...badge.getClientRects()].map((r) => Math.round(r.top)));
    if (tops.size > 1) out.push(`${badge.textContent} (a level badge)`);
  }
  return out;
}

const browser = await puppeteer.launch({
  executablePath: job.chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const report = { axe: [], geometry: [], screenshots: [], text_sizes: [], broken: [] };
try {
  const page = await browser.newPage();
  // The pages forbid scripts (script-src 'none'): the audit's own script needs CSP bypassed.
  await page.setBypassCSP(true);
  for (const scheme of job.schemes) {
    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: scheme }]);
    for (const width of job.widths) {
      await page.setViewport({ width, height: 900 });
      for (const url of job.pages) {
        await page.goto(url, { waitUntil: "load" });
        await page.evaluate(axeSource);
        const result = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }));
        if (scheme === job.schemes[0]) {
          for (const size of await page.evaluate(chartTextSizes)) {
            report.text_sizes.push({ url, width, ...size });
          }
        }
        for (const v of result.violations) {
          report.axe.push({ url, width, scheme, id: v.id, impact: v.impact,
            nodes: v.nodes.slice(0, 3).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`) });
        }
      }
    }
    for (const [name, url] of Object.entries(job.screenshots?.pages ?? {})) {
      for (const width of job.widths) {
        await page.setViewport({ width, height: 900 });
        await page.goto(url, { waitUntil: "load" });
        const path = `${job.screenshots.dir}/${name}-${width}-${scheme}.png`;
        await page.screenshot({ path, fullPage: true });
        report.screenshots.push(path);
      }
    }
  }
  await page.setViewport({ width: job.geometry_width, height: 900 });
  for (const url of job.pages) {
    await page.goto(url, { waitUntil: "load" });
    for (const problem of await page.evaluate(textsOutside)) {
      report.geometry.push(`${url}: ${problem}`);
    }
    for (const word of await page.evaluate(wordsBroken)) {
      report.broken.push(`${url}: ${word}`);
    }
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report));
