// A worker that answers every job with garbage before one malformed answer
// for it: non-objects, answers that are not a list, entries without a job id,
// an answer for a job it was never sent, and finally one for the job without
// an execution text. The pool must ignore what is not an answer and fail the
// job (tests/e2e/workers.test.mjs).
self.onmessage = ({ data }) => {
  if (data.type === "init") self.postMessage({ type: "ready" });
  if (data.type !== "jobs") return;
  for (const { id } of data.jobs) {
    self.postMessage(null);
    self.postMessage("answers");
    self.postMessage({ type: "answers", answers: "not a list", unpausable: "x" });
    self.postMessage({ type: "answers", answers: [null, 7, { id: "1" }, { id: id + 1000, execution: "{}" }] });
    self.postMessage({ type: "answers", answers: [{ id, execution: 42 }] });
  }
};
