// The page's one base64 codec (RFC 4648, standard alphabet, written without
// padding, as DAG-JSON writes bytes `{"/": {"bytes": "<base64>"}}`). The
// playground (ui.ts) and the engine bench (www/bench.js) both use it.

/** Bytes as base64, standard alphabet, no padding. */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/=+$/, "");
}

/** The bytes of base64 text (standard or URL alphabet, padded or not); throws if it is not base64. */
export function fromBase64(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
