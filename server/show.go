package server

import "github.com/relaycast/relaycast/archive"

// openShow starts the show archiver (archive/show.go) when recording is on: the rooms' chat,
// lots and bids go into the catalog beside the recordings, for the VOD player's chapters and
// replay. bids is the auction's full bid log (nil: the accepted bids of the `bid` events).
func (s *Server) openShow(bids archive.BidLog) error {
	if s.archive == nil {
		return nil
	}
	var err error
	s.show, err = archive.NewShow(archive.ShowParams{Log: s.stream, Catalog: s.archive.Catalog(), Bids: bids,
		Logger: s.p.Logger, LiveRooms: s.archive.LiveRooms})
	return err
}

// closeShow stops the show archiver, storing what it holds (before the archive closes the catalog).
func (s *Server) closeShow() {
	if s.show != nil {
		_ = s.show.Close()
	}
}
