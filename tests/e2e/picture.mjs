// Pictures for tests and benches, made here (no fixture file to keep in the repository).
import { encodeRgbPng } from "../../scripts/png.mjs";

/** A PNG of RGB noise (it does not compress: about 3 bytes a pixel, like a photo). */
export function noisePng(width, height) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  let s = 0x9e3779b9;
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0; // filter: none
    for (let i = 1; i <= width * 3; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      raw[row + i] = s & 0xff;
    }
  }
  return encodeRgbPng(width, height, raw);
}
