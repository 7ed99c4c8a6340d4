// Command relaycast is the relaycast live-streaming server.
//
//	relaycast serve [flags]      run the server (see `relaycast serve -h`)
//	relaycast token [flags]      print an access token (see `relaycast token -h`)
//	relaycast worker [flags]     run transcode workers only (see `relaycast worker -h`)
//	relaycast loadtest [flags]   load-test a server (see `relaycast loadtest -h`)
//	relaycast version            print the version
//	relaycast help [command]     show help
//
// Exit codes: 0 success, 1 runtime failure, 2 usage error.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the process exit code.
func run(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(rest, env, stdout, stderr)
	case "token":
		return runToken(rest, env, stdout, stderr)
	case "loadtest":
		return runLoadtest(rest, env, stdout, stderr)
	case "worker":
		return runWorker(rest, env, stdout, stderr)
	case "version", "-version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			usage(stdout)
			return exitOK
		}
		switch rest[0] {
		case "serve", "token", "worker", "loadtest":
			return run([]string{rest[0], "-h"}, env, stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "Usage: relaycast version   (prints the version)")
			return exitOK
		}
		fmt.Fprintf(stderr, "relaycast help: unknown command %q\n\n", rest[0])
		usage(stderr)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "relaycast: unknown command %q\n\n", cmd)
		usage(stderr)
		return exitUsage
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `relaycast — browser-first live streaming server (WebRTC SFU, WHIP/WHEP)

Usage:
  relaycast serve [flags]     run the server; every flag also reads RELAYCAST_<FLAG> from the environment
  relaycast token [flags]     print a signed access token (JWT) for a room
  relaycast worker [flags]    run transcode workers only, against the same Redis and storage as the servers
  relaycast loadtest [flags]  measure what a server holds: synthetic + Chromium viewers, JSON/HTML report
  relaycast version           print the version
  relaycast help [command]    show this help, or a command's flags

Examples:
  relaycast serve --ice-loopback                 local demo on http://localhost:8080
  relaycast token --room shop --publish          token to broadcast to room "shop"
  relaycast token --room shop --chat --bid --subject u-42 --name Zoe   a bidder's token
  relaycast token --admin                        admin token for every room
  relaycast loadtest --url http://127.0.0.1:8080 --room shop --token T --viewers 300 --duration 1m

Run 'relaycast help COMMAND' (serve, token, worker, loadtest) for a command's flags.
`)
}

func versionString() string {
	v := "relaycast " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += " (" + rev + dirty + ")"
		}
		v += " " + bi.GoVersion
	}
	return v
}
