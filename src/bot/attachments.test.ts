/**
 * Uploaded pictures: every file is made here by sharp and served by a local HTTP server, so the
 * download path (declared size, streamed size, timeout) runs for real.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { animated, busy, pngBomb, solid } from '../../test/helpers/pictures.js';
import { fetchUpload, normalisePicture, UPLOAD_LIMITS, type UploadOutcome } from './attachments.js';

const files = new Map<string, Buffer>();
let server: Server;
let base: string;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clipag-uploads-'));
  server = createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    if (name === 'stall') { res.writeHead(200, { 'content-type': 'image/png' }); res.write(Buffer.alloc(10)); return; }
    const body = files.get(name.replace(/^chunked\//, ''));
    if (!body) { res.writeHead(404).end(); return; }
    // chunked/…: no content-length, so only counting the streamed bytes can stop an oversize file.
    if (name.startsWith('chunked/')) { res.writeHead(200); res.write(body.subarray(0, 1000)); res.end(body.subarray(1000)); return; }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

async function serve(name: string, data: Buffer): Promise<string> {
  files.set(name, data);
  return `${base}/${name}`;
}

async function upload(name: string, data: Buffer, opts: { size?: number; path?: string } = {}): Promise<UploadOutcome> {
  await serve(name, data);
  return fetchUpload({ url: `${base}/${opts.path ?? name}`, size: opts.size ?? data.length }, dir);
}

test('a PNG with transparency: saved as an opaque sRGB PNG under the uploads folder', async () => {
  const png = await solid(80, 60, { r: 0, g: 0, b: 255, alpha: 0 }, 4).png().toBuffer();
  const r = await upload('clear.png', png);
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(join(r.path, '..'), dir);
  assert.match(r.path, /[0-9a-f]{24}\.png$/);
  const meta = await sharp(r.path).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels, meta.space, meta.hasAlpha], ['png', 80, 60, 3, 'srgb', false]);
  const { data } = await sharp(r.path).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([...data.subarray(0, 3)], [255, 255, 255], 'transparent pixels became white');
  assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
});

test('a JPEG with EXIF orientation 6 is stored upright (turned a quarter)', async () => {
  const jpg = await solid(80, 60, '#c00').jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const r = await upload('phone.jpg', jpg);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual([r.width, r.height], [60, 80]);
  const meta = await sharp(r.path).metadata();
  assert.deepEqual([meta.width, meta.height, meta.orientation], [60, 80, undefined]);
});

test('a still GIF and a WebP are taken; a large picture is kept within 2048 px', async () => {
  const gif = await upload('still.gif', await solid(40, 30, '#0a0').gif().toBuffer());
  assert.ok(gif.ok && gif.width === 40, JSON.stringify(gif));
  const webp = await upload('big.webp', await solid(4096, 1024, '#00a').webp().toBuffer());
  assert.ok(webp.ok, JSON.stringify(webp));
  assert.deepEqual([webp.width, webp.height], [2048, 512]);
});

test('animated GIF and WebP are refused, naming the frames', async () => {
  for (const [name, data] of [['anim.gif', await animated('gif')], ['anim.webp', await animated('webp')]] as const) {
    const r = await upload(name, data);
    assert.ok(!r.ok && r.problem === 'animated', `${name}: ${JSON.stringify(r)}`);
    assert.equal(r.message, 'The image is animated (3 frames): send a PNG, JPEG, WebP or still GIF.');
  }
});

test('a decompression bomb (a small PNG of 20000×20000) is refused from its header, fast', async () => {
  const bomb = pngBomb(20_000, 20_000);
  assert.ok(bomb.length < 1024 * 1024, `${bomb.length} bytes`);
  assert.deepEqual(await sharp(bomb, { limitInputPixels: false }).metadata().then((m) => [m.format, m.width, m.height]), ['png', 20_000, 20_000], 'a valid PNG');
  const t0 = performance.now();
  const r = await upload('bomb.png', bomb);
  const ms = performance.now() - t0;
  assert.ok(!r.ok && r.problem === 'pixels', JSON.stringify(r));
  assert.equal(r.message, 'The image is 20,000×20,000 pixels; the limit is 40 megapixels.');
  assert.ok(ms < 2000, `refused in ${ms.toFixed(0)} ms: nothing was decoded`);
});

test('truncated files are refused as damaged, whatever the format', async () => {
  for (const fmt of ['png', 'jpeg', 'webp', 'gif'] as const) {
    const data = await busy(fmt);
    const r = await upload(`cut.${fmt}`, data.subarray(0, Math.floor(data.length * 0.7)));
    assert.ok(!r.ok && r.problem === 'broken', `${fmt}: ${JSON.stringify(r)}`);
    assert.equal(r.message, `The ${fmt.toUpperCase()} file is damaged or cut short: save it again and upload the new copy.`);
  }
});

test('not a picture, or a picture of another kind: named, never decoded', async () => {
  const text = await upload('notes.png', Buffer.from('these are my notes, not a picture\n'));
  assert.ok(!text.ok && text.problem === 'type');
  assert.equal(text.message, 'That file is not a picture: send a PNG, JPEG, WebP or still GIF.');
  const svg = await upload('logo.png', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"></svg>'));
  assert.ok(!svg.ok && svg.message === 'That file is an SVG drawing; send a PNG, JPEG, WebP or still GIF.', JSON.stringify(svg));
  const tiff = await upload('scan.tif', await solid(10, 10, '#888').tiff().toBuffer());
  assert.ok(!tiff.ok && /a TIFF picture/.test(tiff.message));
  const empty = await normalisePicture(Buffer.alloc(0));
  assert.ok('ok' in empty && !empty.ok && empty.message === 'The file is empty.');
});

test('over 10 MiB: refused by the declared size before downloading, and by the bytes when the size lies', async () => {
  const big = Buffer.alloc(UPLOAD_LIMITS.maxBytes + 1);
  big.set(await solid(8, 8, '#000').png().toBuffer());
  const declared = await fetchUpload({ url: `${base}/never-served.png`, size: big.length }, dir);
  assert.ok(!declared.ok && declared.problem === 'size');
  assert.equal(declared.message, 'The image is 10.1 MiB; the limit is 10 MiB.');
  // Declared small, served with a content-length that says otherwise.
  const lying = await upload('big.png', big, { size: 1000 });
  assert.ok(!lying.ok && lying.message === 'The image is over the 10 MiB limit.', JSON.stringify(lying));
  // No content-length at all: the count of streamed bytes stops it.
  const streamed = await upload('big.png', big, { size: 1000, path: 'chunked/big.png' });
  assert.ok(!streamed.ok && streamed.message === 'The image is over the 10 MiB limit.', JSON.stringify(streamed));
});

test('a download that stalls is given up after the timeout; a missing file is a failed download', async () => {
  const t0 = performance.now();
  const r = await fetchUpload({ url: `${base}/stall`, size: 100 }, dir, { timeoutMs: 300 });
  assert.ok(!r.ok && r.problem === 'download', JSON.stringify(r));
  assert.equal(r.message, 'Downloading the image took over 0.3 s: try again.');
  assert.ok(performance.now() - t0 < 3000);
  const gone = await fetchUpload({ url: `${base}/nothing-here.png`, size: 100 }, dir);
  assert.ok(!gone.ok && gone.message === 'Could not download the image from Discord (HTTP 404): try again.', JSON.stringify(gone));
  const odd = await fetchUpload({ url: 'file:///etc/passwd', size: 100 }, dir);
  assert.ok(!odd.ok && odd.problem === 'download');
});
