package sfu

import (
	"sync/atomic"

	"github.com/relaycast/relaycast/sfu/internal/udpsend"
)

type counters struct {
	publishers, viewers                      atomic.Int64
	relays, edges                            atomic.Int64
	packetsIn, bytesIn, packetsOut, bytesOut atomic.Uint64
	nacks, resent, plisReceived, plisSent    atomic.Uint64
	dropped, sinkDropped                     atomic.Uint64
	layerSwitches, rembs                     atomic.Uint64
	receiverReports                          atomic.Uint64
	direct                                   atomic.Uint64
	directIngest, ingestDropped              atomic.Uint64
	ingestPackets, ingestRTX, ingestRefused  atomic.Uint64
	ingestMissed                             atomic.Uint64
	forwardLatency                           latencyHist
}

// Stats is a snapshot of the SFU's counters (totals since start, gauges for current values).
type Stats struct {
	Rooms        int    // gauge: live rooms
	Publishers   int64  // gauge
	Viewers      int64  // gauge (relay pulls of other nodes are Edges, not viewers)
	Relays       int64  // gauge: rooms fed by a pull from another node (SFU.Relay)
	Edges        int64  // gauge: other nodes' relay pulls (SubscribeParams.Relay) of this node's rooms
	PacketsIn    uint64 // RTP packets received from publishers
	BytesIn      uint64
	PacketsOut   uint64 // RTP packets sent to viewers
	BytesOut     uint64
	NACKs        uint64 // NACK'ed packets reported by viewers
	Resent       uint64 // packets retransmitted to viewers from the shared cache
	PLIsReceived uint64 // keyframe requests (PLI/FIR) from viewers
	PLIsSent     uint64 // keyframe requests sent to publishers
	Dropped      uint64 // packets dropped because a viewer's queue was full
	SinkDropped  uint64 // packets dropped because a sink (recorder) fell behind
	SendDropped  uint64 // datagrams dropped because the UDP send queue was full (only when closing)
	SendWaits    uint64 // times a writer waited for room in the full UDP send queue (back-pressure)
	SendBatches  uint64 // sendmmsg calls
	Datagrams    uint64 // datagrams sent through the batching socket (each GSO segment counts)
	SendMessages uint64 // messages sent (sendmmsg entries): a GSO message carries several datagrams
	GSO          bool   // the batching socket sends UDP GSO messages (Config.NoGSO, kernel support)
	GSORefused   uint64 // GSO messages the kernel refused (sent again datagram by datagram)
	DirectSend   uint64 // viewers whose packets the SFU encrypted and sent itself (direct.go)
	// DirectIngest counts publishers whose packets the SFU took from the socket and decrypted
	// itself (ingestdirect.go); IngestDropped, packets of theirs dropped at a full track queue.
	DirectIngest, IngestDropped uint64
	// IngestPackets counts packets taken on the direct receive path, IngestRTX the RTX
	// retransmissions among them (unwrapped into their track).
	IngestPackets, IngestRTX uint64
	// IngestRefused counts packets the direct receive path could not decrypt and left to Pion.
	IngestRefused uint64
	// IngestMissed counts packets of publishers on the direct receive path that reached their
	// tracks through Pion: a track's first packets, the ones the hook left to Pion, and any
	// from an ICE pair the hook did not know yet (their TWCC is recorded there).
	IngestMissed uint64
	// ForwardLatency: sampled time from reading a packet from the publisher to handing it to
	// a viewer's socket.
	ForwardLatency LatencyHistogram
	// LayerSwitches counts simulcast layer switches made for viewers (at keyframes).
	LayerSwitches uint64
	// REMBs counts receiver bandwidth estimates (REMB) from viewers of simulcast rooms.
	REMBs uint64
	// ReceiverReports counts RTCP receiver reports from viewers (each RR packet once per down
	// track it reached).
	ReceiverReports uint64
}

// Stats returns the current counters. Safe to call concurrently.
func (s *SFU) Stats() Stats {
	s.mu.Lock()
	n := 0
	for _, r := range s.rooms {
		if r.isLive() {
			n++
		}
	}
	s.mu.Unlock()
	c := &s.stats
	st := Stats{
		Rooms: n, Publishers: c.publishers.Load(), Viewers: c.viewers.Load(), Relays: c.relays.Load(), Edges: c.edges.Load(),
		PacketsIn: c.packetsIn.Load(), BytesIn: c.bytesIn.Load(),
		PacketsOut: c.packetsOut.Load(), BytesOut: c.bytesOut.Load(),
		NACKs: c.nacks.Load(), Resent: c.resent.Load(), PLIsReceived: c.plisReceived.Load(), PLIsSent: c.plisSent.Load(),
		Dropped: c.dropped.Load(), SinkDropped: c.sinkDropped.Load(), LayerSwitches: c.layerSwitches.Load(), REMBs: c.rembs.Load(),
		ReceiverReports: c.receiverReports.Load(),
		DirectSend:      c.direct.Load(),
		DirectIngest:    c.directIngest.Load(),
		IngestDropped:   c.ingestDropped.Load(),
		IngestPackets:   c.ingestPackets.Load(),
		IngestRTX:       c.ingestRTX.Load(),
		IngestRefused:   c.ingestRefused.Load(),
		IngestMissed:    c.ingestMissed.Load(),
		ForwardLatency:  c.forwardLatency.snapshot(),
	}
	for _, c := range s.udpLn {
		if bc, ok := c.(*udpsend.Conn); ok {
			n := bc.Counters()
			st.SendDropped += n.Dropped
			st.SendWaits += n.Waits
			st.SendBatches += n.Batches
			st.Datagrams += n.Datagrams
			st.SendMessages += n.Messages
			st.GSO = st.GSO || bc.GSO()
			st.GSORefused += n.GSORefused
		}
	}
	return st
}
