'use strict';
// Child process of memory.test.js, started as
//   node --max-old-space-size=48 --expose-gc memory-child.js '<json>'
// with json = { extension, model, n }. Embeds n texts (a few of them close to
// 512 tokens) with the full-size nomic-geometry model and prints one JSON
// line of measurements:
//   heap*    process.memoryUsage().heapUsed after a full GC
//   anon*    RssAnon of /proc/self/status: resident anonymous memory (malloc,
//            OpenBLAS buffers, V8 heap pages); a sampler thread polls it
//            every 5 ms so the peak inside an embed() call is seen
//   file*    RssFile: resident file-backed pages (the mmapped model)
//   privateDirty*  Private_Dirty of /proc/self/smaps_rollup
// Phases: "base" after loading the extension, before any model; "load" after
// registering the model and embedding one short text (mapping, tokenizer,
// OpenBLAS start-up); "end" after the n texts.
// EMBED_THREADS=n in the environment calls embed_threads(n) first (for
// measurements; the test uses the default).

const { Worker } = require('node:worker_threads');
const Database = require('better-sqlite3');
const { procMemory } = require('./helpers');

const { extension, model, n } = JSON.parse(process.argv[2]);
if (typeof global.gc !== 'function') throw new Error('run with --expose-gc');

// peaks[phase] = highest RssAnon (kB) seen while that phase ran; ctl[0] is
// the current phase, ctl[1] = 1 stops the sampler.
const PHASES = ['base', 'load', 'loop'];
const peaks = new Int32Array(new SharedArrayBuffer(4 * PHASES.length));
const ctl = new Int32Array(new SharedArrayBuffer(8));
const sampler = new Worker(`
  // Allocation-free loop (no strings, no regex): the sampler must not add
  // the memory it measures.
  const { workerData: { peaks, ctl } } = require('node:worker_threads');
  const fs = require('node:fs');
  const buf = Buffer.alloc(4096);
  const key = Buffer.from('RssAnon:');
  while (Atomics.load(ctl, 1) === 0) {
    const fd = fs.openSync('/proc/self/status', 'r');
    const len = fs.readSync(fd, buf, 0, buf.length, 0);
    fs.closeSync(fd);
    let i = buf.indexOf(key);
    if (i >= 0 && i < len) {
      let kb = 0;
      for (i += key.length; i < len && (buf[i] === 32 || buf[i] === 9); i++);
      for (; i < len && buf[i] >= 48 && buf[i] <= 57; i++) kb = kb * 10 + buf[i] - 48;
      const phase = Atomics.load(ctl, 0);
      if (kb > peaks[phase]) Atomics.store(peaks, phase, kb);
    }
    Atomics.wait(ctl, 1, 0, 5);
  }`, { eval: true, workerData: { peaks, ctl } });

// Anonymous mappings holding more than 2 MiB, largest first: what to look
// at when the bound is exceeded ([heap] = malloc's brk heap, unnamed = mmap).
function bigAnonMappings() {
  const out = [];
  let current = null;
  for (const line of require('node:fs').readFileSync('/proc/self/smaps', 'latin1').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) current = line.replace(/\s+/g, ' ').trim();
    else if (line.startsWith('Anonymous:')) {
      const kB = Number(line.split(/\s+/)[1]);
      if (kB > 2048) out.push({ kB, mapping: current });
    }
  }
  return out.sort((a, b) => b.kB - a.kB);
}

function snapshot() {
  global.gc();
  const p = procMemory();
  return {
    heapUsed: process.memoryUsage().heapUsed, anon: p.RssAnon, file: p.RssFile,
    privateDirty: p.Private_Dirty, privateClean: p.Private_Clean,
  };
}

// Deterministic texts: mostly 3..20 words, three of ~510 tokens (every word
// in WORDS is one WordPiece token of the uncased BERT vocabulary).
const WORDS = ('the of and to in is was for on that with as by at from his her they this had not are but one '
  + 'have were which all their when there been has more would who will out other some time what about into '
  + 'than them only could new these two may first then do any like my now over such our man me even most '
  + 'made after also did many before must through back years where much your way well down should because '
  + 'each just those people how too little state good very make world still own see men work long get here '
  + 'between both life being under never day same another know while last might us great old year off come '
  + 'since against go came right used take three').split(' ');
let seed = 12345;
function rand(k) { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % k; }
function makeText(i) {
  const words = (i % 200 === 50) ? 509 : 3 + rand(18);
  const out = [];
  for (let w = 0; w < words; w++) out.push(WORDS[rand(WORDS.length)]);
  return out.join(' ');
}

async function main() {
  await new Promise((resolve) => sampler.once('online', resolve));
  const db = new Database(':memory:');
  db.loadExtension(extension, 'sqlite3_embed_init');
  if (process.env.EMBED_THREADS) db.prepare('SELECT embed_threads(?)').get(BigInt(process.env.EMBED_THREADS));
  const embed = db.prepare('SELECT embed(?, ?) AS v');
  const count = db.prepare('SELECT embed_token_count(?, ?) AS n');
  await new Promise((r) => setTimeout(r, 20));
  const base = snapshot();

  Atomics.store(ctl, 0, 1);
  let t = performance.now();
  db.prepare('INSERT INTO embed_models(name, path) VALUES (?, ?)').run('nomic', model);
  const dims = embed.get('nomic', 'warm up').v.byteLength / 4;
  const loadMs = performance.now() - t;
  const load = snapshot();

  Atomics.store(ctl, 0, 2);
  let maxTokens = 0;
  let checksum = 0;
  const msPerLength = { short: [], long: [] };
  t = performance.now();
  for (let i = 0; i < n; i++) {
    const text = makeText(i);
    const tokens = count.get('nomic', text).n;
    maxTokens = Math.max(maxTokens, tokens);
    const t0 = performance.now();
    const v = embed.get('nomic', text).v;
    (tokens > 256 ? msPerLength.long : msPerLength.short).push(performance.now() - t0);
    if (v.byteLength !== dims * 4) throw new Error(`text ${i}: ${v.byteLength} bytes`);
    checksum = (checksum + v.readFloatLE(4 * (i % dims))) % 1e6;
  }
  const loopMs = performance.now() - t;
  const end = snapshot();
  end.bigAnon = bigAnonMappings();
  Atomics.store(ctl, 1, 1);
  Atomics.notify(ctl, 1);
  await new Promise((resolve) => sampler.once('exit', resolve));
  db.close();

  const kB = 1024;
  const avg = (a) => a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);
  process.stdout.write(JSON.stringify({
    n, dims, maxTokens, checksum,
    base, load, end,
    peakAnon: { base: peaks[0] * kB, load: peaks[1] * kB, loop: peaks[2] * kB },
    ms: { load: loadMs, loop: loopMs, shortAvg: avg(msPerLength.short), longAvg: avg(msPerLength.long),
      nShort: msPerLength.short.length, nLong: msPerLength.long.length },
    maxOldSpaceMB: require('node:v8').getHeapStatistics().heap_size_limit / 2 ** 20,
  }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
  Atomics.store(ctl, 1, 1);
});
