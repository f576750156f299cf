// A worker that hangs inside its first job, as a worker would if one fuel
// slice never ended: it answers "init" like pkg/worker.js, then spins. The
// pool's own timers must end it (tests/e2e/workers.test.mjs).
self.onmessage = ({ data }) => {
  if (data.type === "init") self.postMessage({ type: "ready" });
  if (data.type === "jobs") for (;;);
};
