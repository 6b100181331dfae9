// Runs file operations a few at a time: one at a time leaves libuv's 4 threads idle, all at once opens
// thousands of files.
const concurrency = 8;

/** Runs `fn` over `items`, at most 8 at a time; the first failure is thrown once the running ones have settled. */
export async function eachLimited<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure) throw failure.err;
}
