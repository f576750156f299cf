// A worker that fails every job, as a worker would whose runtime could not
// load: it answers "init" like pkg/worker.js, then reports an error for each
// job (tests/e2e/workers.test.mjs).
self.onmessage = ({ data }) => {
  if (data.type === "init") self.postMessage({ type: "ready" });
  if (data.type === "jobs")
    self.postMessage({ type: "answers", answers: data.jobs.map(({ id }) => ({ id, error: "the worker could not load its runtime" })) });
};
