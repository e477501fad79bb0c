/** Waiting on conditions with deadlines (never fixed sleeps). */

/**
 * Poll `check` until it returns a truthy value, or throw after `timeoutMs` with `what` in the
 * message. Returns the truthy value.
 */
export async function waitFor<T> (check: () => T | Promise<T>, what: string, timeoutMs = 10_000, intervalMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}
