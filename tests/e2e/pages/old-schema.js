// In a test page: creates an IndexedDB database exactly as an older schema of
// ipvm-web left it (version 1: blocks, aliases, receipts; version 2: + runs),
// and fills it with `{blocks: [[cid, Uint8Array]], receipts: [row], runs: [record]}`.
export function createOldDatabase(name, version, { blocks = [], receipts = [], runs = [] } = {}) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(name, version);
    open.onupgradeneeded = () => {
      const db = open.result;
      db.createObjectStore("blocks");
      db.createObjectStore("aliases");
      const store = db.createObjectStore("receipts", { keyPath: "cid" });
      store.createIndex("instruction", "instruction");
      store.createIndex("inputs", "inputs", { multiEntry: true });
      if (version >= 2) db.createObjectStore("runs", { keyPath: "id" });
    };
    open.onsuccess = () => {
      const names = version >= 2 ? ["blocks", "receipts", "runs"] : ["blocks", "receipts"];
      const tx = open.result.transaction(names, "readwrite");
      for (const [cid, bytes] of blocks) tx.objectStore("blocks").put(bytes, cid);
      for (const row of receipts) tx.objectStore("receipts").put(row);
      for (const record of runs) tx.objectStore("runs").put(record);
      tx.oncomplete = () => (open.result.close(), resolve());
      tx.onerror = () => reject(tx.error);
    };
    open.onerror = () => reject(open.error);
  });
}
