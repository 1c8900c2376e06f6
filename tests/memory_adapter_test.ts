/** The in-memory adapter: the shared contract, with several handles on one backend and wipes. */
import { createMemoryBackend } from "../src/storage/memory/adapter.ts";
import { runStorageContract } from "../src/storage/testing/contract_suite.ts";

runStorageContract("memory", (limits, now) => {
  const backend = createMemoryBackend({ now });
  const adapter = backend.open(limits);
  return Promise.resolve({
    adapter,
    open: () => Promise.resolve(backend.open(limits)),
    wipe: () => Promise.resolve(backend.wipe()),
    cleanup: () => adapter.close(),
  });
});
