/**
 * What the CLI talks to: its streams, and the exit codes it returns. Kept free of the peer and
 * libp2p so that help, version and usage errors load (and answer) fast.
 */

/** Exit code: success. */
export const EXIT_OK = 0
/** Exit code: the peer could not start (e.g. its data directory is in use), get ready, or stop. */
export const EXIT_FAILURE = 1
/** Exit code: bad command line (also an option the peer rejects), or a piped command failed. */
export const EXIT_USAGE = 2

/** The streams the CLI talks to (the process's own by default). */
export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream
}
