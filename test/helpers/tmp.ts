/** Temporary directories removed when the test ends. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'

/** A fresh empty directory, deleted in the test's teardown. */
export async function tempDir (t: ExecutionContext, name = 'kvgrid-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), name))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}
