/**
 * Runs one parsed shell command against a peer: the only CLI module that calls the peer API.
 * Never throws: a failure becomes an `error` outcome.
 */
import type { KvPeer, SetOptions } from '../types.js'
import type { Command } from './commands.js'
import type { Outcome } from './format.js'

/** A monotonic clock in milliseconds (injected in tests). */
export type Clock = () => number

/** Every command but `exit`, which the shell handles itself. */
export type RunnableCommand = Exclude<Command, { name: 'exit' }>

/** Run `command` on `peer` and time the peer call with `now`. */
export async function execute (peer: KvPeer, command: RunnableCommand, now: Clock = () => performance.now()): Promise<Outcome> {
  try {
    const started = now()
    const elapsed = (): number => now() - started
    switch (command.name) {
      case 'set': {
        const options: SetOptions = { ...command.modifiers }
        const result = await peer.set(command.key, command.value, options)
        return { kind: 'set', result, ms: elapsed() }
      }
      case 'get': {
        const entry = await peer.get(command.key, command.atRevision === undefined ? undefined : { atRevision: command.atRevision })
        return { kind: 'get', entry, ms: elapsed() }
      }
      case 'del': {
        const result = await peer.delete(command.key)
        return { kind: 'del', result, ms: elapsed() }
      }
      case 'exists': {
        // `get`, not `exists`: the output shows the key's revision.
        const entry = await peer.get(command.key)
        return { kind: 'exists', entry, ms: elapsed() }
      }
      case 'extend': {
        const result = await peer.extend(command.key, command.ttlMs)
        return { kind: 'extend', result, ms: elapsed() }
      }
      case 'scan': {
        const entries = await peer.range({
          ...(command.prefix === '' ? {} : { prefix: command.prefix }),
          ...(command.limit === undefined ? {} : { limit: command.limit })
        })
        return { kind: 'scan', entries }
      }
      case 'status':
        return { kind: 'status', status: peer.status() }
      case 'members':
        return { kind: 'members', status: peer.status() }
      case 'force-primary': {
        const forced = await peer.forcePrimary()
        return { kind: 'forced', ...forced }
      }
      case 'help':
        return { kind: 'help' }
    }
  } catch (error) {
    return { kind: 'error', error }
  }
}
