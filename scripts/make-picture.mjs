// Draws the playground's bundled picture (a small landscape: sky, sun, hills,
// a lake) and writes it as a PNG, so the repository holds no picture of unknown
// origin. Small on purpose: the image pipeline runs it on wasmi in tests too.
// Usage: node scripts/make-picture.mjs OUT.png [WIDTH HEIGHT]
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { encodeRgbPng } from "./png.mjs";

const [out, w = "160", h = "120"] = process.argv.slice(2);
if (!out) throw new Error("usage: node scripts/make-picture.mjs OUT.png [WIDTH HEIGHT]");
const W = Number(w), H = Number(h);

const mix = (a, b, t) => a.map((v, i) => Math.round(v + (b[i] - v) * t));
function pixel(x, y) {
  const u = x / W, v = y / H;
  let c = mix([38, 84, 170], [250, 170, 120], v / 0.62); // sky: blue to peach
  const sun = Math.hypot(u - 0.7, v - 0.36) * W;
  if (sun < W * 0.09) c = [255, 226, 120];
  else if (sun < W * 0.13) c = mix(c, [255, 210, 130], 0.5);
  const far = 0.55 + 0.06 * Math.sin(u * 9) + 0.03 * Math.sin(u * 23);
  const near = 0.66 + 0.08 * Math.cos(u * 5 + 1) + 0.02 * Math.sin(u * 31);
  if (v > far) c = mix([96, 110, 150], [70, 80, 120], (v - far) * 4);
  if (v > near) c = mix([60, 130, 70], [30, 90, 50], (v - near) * 3);
  if (v > 0.8) {
    const ripple = 0.5 + 0.5 * Math.sin(x * 0.9 + y * 2.3);
    c = mix([40, 90, 150], [90, 150, 200], ripple * (1 - (v - 0.8) * 3));
  }
  return c;
}

const raw = Buffer.alloc((W * 3 + 1) * H);
for (let y = 0; y < H; y++) {
  raw[y * (W * 3 + 1)] = 0;
  for (let x = 0; x < W; x++) raw.set(pixel(x, y), y * (W * 3 + 1) + 1 + x * 3);
}
const png = encodeRgbPng(W, H, raw, { level: 9 });
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, png);
console.log(`${out}: ${W}×${H} PNG, ${png.length} bytes`);
