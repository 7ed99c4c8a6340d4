package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
)

// runToken implements `relaycast token`: it prints one signed token on
// stdout. The signing secret is resolved exactly as `serve` does
// (auth.LoadSigner with --auth-secret / --data-dir, which default to
// RELAYCAST_AUTH_SECRET / RELAYCAST_DATA_DIR), so the token is valid for a
// server using the same data dir or secret.
func runToken(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("relaycast token", flag.ContinueOnError)
	fs.SetOutput(stderr)

	dataDir := config.Default().DataDir
	if v, ok := env(config.EnvVar("data-dir")); ok && v != "" {
		dataDir = v
	}
	secret, _ := env(config.EnvVar("auth-secret"))

	var (
		room      = fs.String("room", "", `room the token is for; optional with --admin (then "*", every room)`)
		publish   = fs.Bool("publish", false, "grant: broadcast to the room; also moderate it and manage its lots (implies --moderate)")
		subscribe = fs.Bool("subscribe", false, "grant: watch the room (needed with serve --viewer-auth)")
		chat      = fs.Bool("chat", false, "grant: write in the room's chat and react")
		bid       = fs.Bool("bid", false, "grant: bid on the room's lots")
		moderate  = fs.Bool("moderate", false, "grant: delete messages, time out and ban users, chat settings, pin products (implies --chat)")
		admin     = fs.Bool("admin", false, "grant: everything (implies every other grant)")
		ttl       = fs.Duration("ttl", 24*time.Hour, "how long the token is valid, e.g. 30m, 24h, 720h")
		subject   = fs.String("subject", "", "who the token is for (the sub claim): the bidder / chatter identity, named as a lot's winner; shown in logs")
		name      = fs.String("name", "", fmt.Sprintf("display name shown in chat and on bids (the name claim), at most %d characters", auth.MaxNameRunes))
	)
	fs.StringVar(&dataDir, "data-dir", dataDir, "data directory holding auth-secret, as for serve (env "+config.EnvVar("data-dir")+")")
	fs.StringVar(&secret, "auth-secret", secret, "signing secret, as for serve (env "+config.EnvVar("auth-secret")+")")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: relaycast token [--room ROOM] GRANT... [--subject S] [--name N] [flags]

Prints a signed access token (HS256 JWT) on stdout. GRANT is one or more of
--publish, --subscribe, --chat, --bid, --moderate, --admin. Give it to a
broadcaster / viewer as ?token=... on the pages and /ws, or as
"Authorization: Bearer ..." on WHIP/WHEP and the REST API.

Examples:
  relaycast token --room shop --publish --subject seller-1 --name "Ana's shop"
  relaycast token --room shop --subscribe --chat --bid --subject u-42 --name Zoe
  relaycast token --room shop --moderate --subject mod-1 --name Mods
  relaycast token --admin

Flags:
`)
		fs.PrintDefaults()
	}

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage // the flag package already printed the problem and usage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "relaycast token: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run 'relaycast token -h' for usage.")
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	var grants []auth.Grant
	if *publish {
		grants = append(grants, auth.GrantPublish)
	}
	if *subscribe {
		grants = append(grants, auth.GrantSubscribe)
	}
	if *chat {
		grants = append(grants, auth.GrantChat)
	}
	if *bid {
		grants = append(grants, auth.GrantBid)
	}
	if *moderate {
		grants = append(grants, auth.GrantModerate)
	}
	if *admin {
		grants = append(grants, auth.GrantAdmin)
	}
	if len(grants) == 0 {
		return usageErr("need at least one of --publish, --subscribe, --chat, --bid, --moderate, --admin")
	}
	if (*chat || *bid || *moderate) && strings.TrimSpace(*subject) == "" {
		// The live room tells people apart by subject: a lot's winner, bans and time-outs name it.
		return usageErr("--chat, --bid and --moderate need --subject (who the holder is)")
	}
	if err := auth.ValidName(*name); err != nil {
		return usageErr("--name: %v", err)
	}
	*room = strings.TrimSpace(*room)
	switch {
	case *room == "" && *admin:
		*room = auth.AnyRoom
	case *room == "":
		return usageErr("--room is required (it may be omitted only with --admin)")
	case *room == auth.AnyRoom && !*admin:
		return usageErr(`--room "*" (every room) needs --admin`)
	}
	if *ttl <= 0 {
		return usageErr("--ttl must be positive, got %s", *ttl)
	}
	if secret != "" && len(secret) < auth.MinSecretLen {
		return usageErr("--auth-secret must be at least %d bytes", auth.MinSecretLen)
	}

	signer, generated, err := auth.LoadSigner(secret, dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "relaycast token: %v\n", err)
		return exitFailure
	}
	if generated {
		fmt.Fprintf(stderr, "relaycast token: generated a new signing secret in %s; start serve with the same --data-dir\n",
			filepath.Join(dataDir, auth.SecretFileName))
	}
	tok, err := signer.IssueClaims(auth.Claims{Room: *room, Grants: grants, Subject: *subject, Name: *name}, *ttl)
	if err != nil {
		fmt.Fprintf(stderr, "relaycast token: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, tok)
	return exitOK
}
