/**
 * Help texts of `kvgrid`, `kvgrid start` and `kvgrid demo`.
 */
import { DEFAULT_READY_TIMEOUT_MS, DEMO_DEFAULTS, MAX_DEMO_PEERS } from './args.js'
import { SHELL_HELP } from './commands.js'
import { HISTORY_FILE } from './shell.js'

export const MAIN_HELP = `kvgrid: a replicated key-value store.

Usage:
  kvgrid start --data DIR [options]   run a peer with an interactive shell (or a script on stdin)
  kvgrid demo [options]               run a local cluster of peers on 127.0.0.1 with a shell
  kvgrid -h, --help                   print this help (kvgrid start --help: the shell commands)
  kvgrid -v, --version                print the version

Options of kvgrid start:
  --data DIR              data directory (required; created when missing)
  --listen ADDR           multiaddr to listen on, repeatable (default /ip4/0.0.0.0/tcp/0)
  --bootstrap ADDR        multiaddr of a peer to dial, ending in /p2p/<peer id>; repeatable
  --mdns, --no-mdns       discover peers on the LAN by mDNS (default: --mdns)
  --cluster NAME          cluster name (default kvgrid)
  --standalone            no networking: a one-peer cluster
  --ready-timeout MS      how long to wait to join the cluster (default ${DEFAULT_READY_TIMEOUT_MS}; 0: no limit)
  --fsync, --no-fsync     fsync every commit before it is acknowledged (default: --fsync)
  --max-value-bytes N     largest value accepted, in bytes (default 1048576)
  --no-shell              run without a shell until SIGINT/SIGTERM
  -h, --help              print help for kvgrid start

Options of kvgrid demo (kvgrid demo --help for details):
  --peers N  --data DIR  --base-port P  --mdns  --ready-timeout MS

Exit codes: 0 ok; 1 the peer failed to start, join its cluster or stop; 2 bad usage, or a piped
command failed.
`

export const START_HELP = `Usage: kvgrid start --data DIR [options]

Runs a peer on DIR. With a terminal on stdin it opens an interactive shell (prompt "kvgrid> ",
history in DIR/${HISTORY_FILE}); with a pipe or file on stdin it runs the commands one by one
and exits at end of input, without printing a prompt. Commands run once the peer has joined
its cluster (or founded one) and knows the primary.

Options:
  --data DIR              data directory (required; created when missing)
  --listen ADDR           multiaddr to listen on; repeatable (default /ip4/0.0.0.0/tcp/0)
  --bootstrap ADDR        multiaddr of a peer to dial at start, ending in /p2p/<peer id>;
                          repeatable
  --mdns                  discover peers of the cluster on the LAN by mDNS (default)
  --no-mdns               no mDNS: find peers only through --bootstrap
  --cluster NAME          cluster name: 1-32 characters of a-z, 0-9 and "-" (default kvgrid)
  --standalone            no networking: the peer is the primary of its own one-peer cluster
                          (cannot be combined with the four options above)
  --ready-timeout MS      give up (exit 1) if the peer has not joined its cluster within MS
                          milliseconds (default ${DEFAULT_READY_TIMEOUT_MS}; 0: wait as long as it takes)
  --fsync                 fsync every commit before it is acknowledged (default)
  --no-fsync              do not fsync: faster, but an OS crash or power loss can lose the
                          last acknowledged writes
  --max-value-bytes N     largest value accepted, in bytes (default 1048576)
  --no-shell              no shell: run until SIGINT or SIGTERM, then stop cleanly
  --force-primary ID      operator override for a cluster that lost its majority for good
                          (e.g. the survivor of two): if this peer is in cluster ID (the
                          clusterId line of status) and no primary appears within 2 s of
                          start, become sole member and primary of a new cluster. One-shot:
                          afterwards the peer is in another cluster. Writes acknowledged
                          elsewhere that it never received are lost, and the other old
                          members must have their data directories removed before they
                          rejoin. Logged; see docs/operations.md
  -h, --help              print this help

${SHELL_HELP.join('\n')}

Output: "rN set|not set|deleted|extended|exists Tms", "rN VALUE Tms" for get, "r-1 not found Tms",
"rN KEY VALUE" per scanned key, "ERR CODE message" on an error. Values print as text, as a
"quoted string" when they contain whitespace, quotes, backslashes or control characters, and
as 0x-hex when they are not valid UTF-8. Writes on a secondary are forwarded to the primary.

Exit codes: 0 ok (every piped command ran); 1 the peer failed to start, join its cluster in
time, or stop; 2 bad usage (also an option the peer rejects), or a piped command was invalid or
failed ("not found" and "not set" are not failures).
`

export const DEMO_HELP = `Usage: kvgrid demo [options]

Runs a local demo cluster: N peers on 127.0.0.1, peer k on port P+k with its data in DIR/peerK.
Peer 0 runs in this process with the shell attached (or runs a script from stdin); the others
run as child processes bootstrapped to peer 0, with their output in DIR/peerK/peer.log. The
shell starts once every peer has joined. On exit (exit, Ctrl-D, Ctrl-C, SIGTERM, end of a
script) every peer is stopped. The cluster is named kvgrid-demo.

Options:
  --peers N               number of peers, 1 to ${MAX_DEMO_PEERS} (default ${DEMO_DEFAULTS.peers})
  --data DIR              parent directory of the peers' data (default ${DEMO_DEFAULTS.dataDir})
  --base-port P           peer k listens on 127.0.0.1 port P+k (default ${DEMO_DEFAULTS.basePort})
  --mdns, --no-mdns       also discover peers by mDNS (default: --no-mdns)
  --ready-timeout MS      give up (exit 1) if the peers have not formed the cluster within MS
                          milliseconds (default ${DEFAULT_READY_TIMEOUT_MS}; 0: no limit)
  -h, --help              print this help

The shell commands and exit codes are those of kvgrid start (see kvgrid start --help).
`
