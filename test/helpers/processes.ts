import { isAlive } from './status.ts';

/** Waits until the process has exited (a zombie counts as gone), polling; throws once `timeoutMs` has passed. */
export async function waitForExit(pid: number, timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for process ${pid} to exit`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Stops a process the test did not start itself (a daemon's successor after zdd restart): SIGTERM, then waits for it to exit. */
export async function stopByPid(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  await waitForExit(pid);
}
