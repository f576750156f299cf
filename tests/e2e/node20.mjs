// What libp2p 3 and Helia 7 use of Node 22 that this machine's Node 20
// lacks, for the tests that run them (imported first).
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

// A WHATWG WebSocket for js-libp2p's WebSocket dialer (Node 22 has undici's
// as a global; Node 20 only behind --experimental-websocket).
if (typeof globalThis.WebSocket !== "function") {
  const { WebSocket } = await import("undici");
  globalThis.WebSocket = WebSocket;
}
