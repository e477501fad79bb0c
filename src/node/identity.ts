/**
 * Persistent peer identity: an Ed25519 key created on first start in `dataDir/peer.key`
 * (protobuf-encoded, file mode 600) and reused, so a peer keeps its PeerId across restarts.
 */
import { open, readFile, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { StorageError } from '../errors.js'

/** File name of the identity key inside the data directory. */
export const IDENTITY_FILE = 'peer.key'

/** Load the identity key from `dataDir`, creating it (mode 600) when absent. */
export async function loadOrCreateIdentity (dataDir: string): Promise<PrivateKey> {
  const path = join(dataDir, IDENTITY_FILE)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(path)
  } catch (err: any) {
    if (err?.code !== 'ENOENT') throw new StorageError(`cannot read the identity key ${path}: ${err?.message}`, { cause: err })
  }
  if (bytes !== undefined) {
    try {
      return privateKeyFromProtobuf(bytes)
    } catch (err: any) {
      throw new StorageError(`the identity key ${path} is corrupt (${err?.message}); move it away to create a new identity`, { cause: err })
    }
  }
  const key = await generateKeyPair('Ed25519')
  const tmp = `${path}.tmp`
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(privateKeyToProtobuf(key))
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  return key
}

/** The permission bits of the identity file (for tests and status). */
export async function identityMode (dataDir: string): Promise<number> {
  return (await stat(join(dataDir, IDENTITY_FILE))).mode & 0o777
}
