//go:build chaos

package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chaosSummary is one fault kind's totals and worsts.
type chaosSummary struct {
	Kind             string  `json:"kind"`
	Trials           int     `json:"trials"`
	MaxLostS         float64 `json:"max_recorded_lost_s"`
	BidsAccepted     int     `json:"bids_accepted"`
	BidsLost         int     `json:"bids_lost"`
	DoubleAccepted   int     `json:"double_accepted"`
	DoubleWinners    int     `json:"double_winners"`
	ChatSent         int     `json:"chat_sent"`
	ChatLost         int     `json:"chat_lost"`
	ChatUnconfirmed  int     `json:"chat_unconfirmed"`
	ChatRefused      int     `json:"chat_refused"`
	ChatDup          int     `json:"chat_dup"`
	ChatMissed       int     `json:"chat_missed"`
	JobsTwice        int     `json:"jobs_twice"`
	MaxEdgeViewerS   float64 `json:"max_edge_viewer_back_s"`
	MaxOriginViewerS float64 `json:"max_origin_viewer_back_s"`
	MaxReadyS        float64 `json:"max_ready_after_s"`
	NotReady         int     `json:"not_ready"`
	NotOneRecording  int     `json:"not_one_recording"`
}

func summarize(rows []chaosTrial) []chaosSummary {
	var out []chaosSummary
	idx := map[string]int{}
	for _, r := range rows {
		i, ok := idx[r.Kind]
		if !ok {
			i = len(out)
			idx[r.Kind] = i
			out = append(out, chaosSummary{Kind: r.Kind})
		}
		s := &out[i]
		s.Trials++
		s.MaxLostS = max(s.MaxLostS, r.LostS)
		s.BidsAccepted += r.Bids.ClientAccepted
		s.BidsLost += r.Bids.Lost
		s.DoubleAccepted += r.Bids.DoubleAccepted
		if r.DoubleWinner {
			s.DoubleWinners++
		}
		s.ChatSent += r.ChatSent
		s.ChatLost += r.ChatLost
		s.ChatUnconfirmed += r.ChatUnconfirmed
		s.ChatRefused += r.ChatRefused
		s.ChatDup += r.ChatDup
		s.ChatMissed += r.ChatMissed
		s.JobsTwice += r.JobsTwice
		worst := func(cur *float64, v float64) {
			if v < 0 || *cur < 0 {
				*cur = -1
				return
			}
			*cur = max(*cur, v)
		}
		worst(&s.MaxEdgeViewerS, r.EdgeViewerBackS)
		worst(&s.MaxOriginViewerS, r.OriginViewerBackS)
		if r.ReadyAfterS < 0 {
			s.NotReady++
		} else {
			s.MaxReadyS = max(s.MaxReadyS, r.ReadyAfterS)
		}
		if r.Recordings != 1 {
			s.NotOneRecording++
		}
	}
	return out
}

func secs(v float64) string {
	if v < 0 {
		return "never"
	}
	return fmt.Sprintf("%.2f", v)
}

// writeChaosReport rewrites trials.json and README.md in dir after every trial, so a run that
// stops keeps the trials it made.
func writeChaosReport(t *testing.T, dir string, started time.Time, rows []chaosTrial) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := summarize(rows)
	b, _ := json.MarshalIndent(struct {
		Started time.Time      `json:"started"`
		Updated time.Time      `json:"updated"`
		Trials  []chaosTrial   `json:"trials"`
		Summary []chaosSummary `json:"summary"`
	}{started, time.Now().UTC(), rows, sum}, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "trials.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Chaos trials, %s\n\n", started.Format("2006-01-02"))
	fmt.Fprintf(&md, "Started %s UTC, %d trials written at %s UTC. Re-run: `bash scripts/chaos.sh` (`CHAOS_TRIALS=7` one per fault kind, `CHAOS_KINDS=edge` one kind).\n\n",
		started.Format("15:04:05"), len(rows), time.Now().UTC().Format("15:04:05"))
	md.WriteString("Each trial: a 3-node cluster (`relaycast serve` a, b, c + one `relaycast worker`, a Redis with AOF, PostgreSQL catalog, versitygw S3, all processes of the run's own); " +
		"a seller (Pion, /ws) on a, a viewer on a (origin) and one on b (edge), 3 chatters and 4 bidders on the three nodes, a 30 s sudden-death lot started on c, recording on (2 s chunks); " +
		"one SIGKILL at a random moment 10-22 s into the show; every client reconnects to the next node when its socket breaks.\n\n")
	md.WriteString("## Summary per fault kind\n\n")
	md.WriteString("| fault | trials | max rec. lost s | bids accepted | bids lost | double accepted | double winners | chat sent | chat lost | unconfirmed | refused | dup | missed | jobs twice | edge viewer back s | origin viewer back s | max ready after s | not ready | ≠1 recording |\n")
	md.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range sum {
		fmt.Fprintf(&md, "| %s | %d | %.2f | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s | %s | %.1f | %d | %d |\n",
			s.Kind, s.Trials, s.MaxLostS, s.BidsAccepted, s.BidsLost, s.DoubleAccepted, s.DoubleWinners, s.ChatSent, s.ChatLost, s.ChatUnconfirmed,
			s.ChatRefused, s.ChatDup, s.ChatMissed, s.JobsTwice, secs(s.MaxEdgeViewerS), secs(s.MaxOriginViewerS), s.MaxReadyS, s.NotReady, s.NotOneRecording)
	}
	md.WriteString("\n## Trials\n\n")
	md.WriteString("| # | fault | killed | at s | sent s | recorded s | lost s | status | ready after s | bids ok | lost | double | final lot events | lot.won (deliveries/keys/winners) | chat sent | in log | lost | unconf. | refused | dup | missed | chunk jobs | twice | edge viewer back s | origin viewer back s | load | notes |\n")
	md.WriteString("|---:|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&md, "| %d | %s | %s | %.1f | %.2f | %.2f | %.2f | %s | %s | %d | %d | %d | %d | %d/%d/%d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s | %s | %s | %s |\n",
			r.N, r.Kind, r.Killed, r.FaultS, r.SentS, r.RecordedS, r.LostS, r.RecStatus, secs(r.ReadyAfterS), r.Bids.ClientAccepted, r.Bids.Lost,
			r.Bids.DoubleAccepted, r.FinalLotEvents, r.LotWonDeliveries, r.LotWonKeys, r.LotWonWinners, r.ChatSent, r.ChatInLog, r.ChatLost,
			r.ChatUnconfirmed, r.ChatRefused, r.ChatDup, r.ChatMissed, r.ChunkJobs, r.JobsTwice, secs(r.EdgeViewerBackS), secs(r.OriginViewerBackS),
			r.LoadBefore, strings.Join(append(r.Notes, r.Bids.Problems...), "; "))
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(md.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
