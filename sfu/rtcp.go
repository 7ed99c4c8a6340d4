package sfu

import (
	"math/bits"
	"time"

	"github.com/pion/rtcp"
)

// handleRTCP acts on one compound RTCP packet from a viewer: keyframe requests go to the
// publisher (throttled by requestKeyframe), NACKed packets are resent from the track's shared
// cache (limited per viewer by the resendGuard); for a simulcast viewer both go through its
// simView, which also takes the REMBs and receiver reports. Anything that does not parse is ignored.
// Called only by the goroutine that reads d's RTCP: the viewer's SRTCP session (rtcpin.go), or
// d's rtcpLoop on Pion's send path.
func (sub *Subscriber) handleRTCP(d *downTrack, buf []byte) {
	st := &sub.room.s.stats
	pkts, err := rtcp.Unmarshal(buf)
	if err != nil {
		return
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			st.plisReceived.Add(1)
			if d.view != nil { // simulcast: the layer the viewer is on
				d.view.requestKeyframe()
				continue
			}
			d.up.requestKeyframe()
		case *rtcp.ReceiverReport:
			st.receiverReports.Add(1) // once per RTCP packet, not per media packet
		case *rtcp.TransportLayerNack:
			// A NACK can name thousands of packets; once the viewer's resend budget for this
			// second is spent the rest is only counted, so a NACK storm costs O(pairs).
			now := time.Now().UnixNano()
			for _, pair := range p.Nacks {
				st.nacks.Add(uint64(1 + bits.OnesCount16(uint16(pair.LostPackets))))
				if d.guard.exhausted(now) {
					continue
				}
				pair.Range(func(seq uint16) bool {
					if d.view != nil { // simulcast: the viewer's numbering maps to a layer's cache
						if d.guard.allow(seq, now) {
							if k, err := d.view.resend(seq); err == nil && k > 0 {
								st.resent.Add(1)
							}
						}
						return true
					}
					if pkt := d.up.cache.get(seq); pkt != nil && d.guard.allow(seq, now) {
						if _, err := d.local.resend(pkt); err == nil {
							st.resent.Add(1)
						}
					}
					return true
				})
			}
		}
	}
	if d.view != nil {
		d.view.onRTCP(pkts) // REMB and receiver reports feed the layer choice
	}
}
