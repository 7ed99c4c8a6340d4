package archive

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

// archiveCollector exposes the pipeline's metrics on /metrics.
type archiveCollector struct {
	a                                          *Archive
	queue, chunks, failures, uploadFail, bytes *prometheus.Desc
	speed, recFail, ready, redisLoss           *prometheus.Desc
}

func newArchiveCollector(a *Archive) *archiveCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("relaycast_archive_"+name, help, labels, nil)
	}
	return &archiveCollector{a: a,
		queue:      d("queue_tasks", "Transcode tasks in the queue by state.", "state"),
		chunks:     d("chunks_transcoded_total", "Chunks transcoded (reported by any worker)."),
		failures:   d("job_failures_total", "Transcode jobs failed for good."),
		uploadFail: d("upload_failures_total", "Raw chunk uploads / enqueues given up after retries."),
		bytes:      d("raw_bytes_uploaded_total", "Bytes of raw chunks uploaded to storage by this node."),
		speed:      d("transcode_speed", "Media seconds encoded per second by the last chunk job."),
		recFail:    d("recording_failures_total", "Recordings stopped by a disk error."),
		ready:      d("recordings_ready_total", "Recordings that became ready."),
		redisLoss:  d("redis_data_losses_total", "Times Redis came back without its data; what the disk has was enqueued again."),
	}
}

func (c *archiveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queue, c.chunks, c.failures, c.uploadFail, c.bytes, c.speed, c.recFail, c.ready, c.redisLoss} {
		ch <- d
	}
	c.a.stats.jobSeconds.Describe(ch)
}

func (c *archiveCollector) Collect(ch chan<- prometheus.Metric) {
	s := &c.a.stats
	if q, err := c.a.queue.Stats(); err == nil {
		for state, n := range map[string]int{"pending": q.Pending, "active": q.Active, "scheduled": q.Scheduled,
			"retry": q.Retry, "archived": q.Archived, "completed": q.Completed} {
			ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(n), state)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.chunks, prometheus.CounterValue, float64(s.chunksTranscoded.Load()))
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(s.jobFailures.Load()))
	ch <- prometheus.MustNewConstMetric(c.uploadFail, prometheus.CounterValue, float64(s.uploadFailures.Load()))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(s.bytesUploaded.Load()))
	ch <- prometheus.MustNewConstMetric(c.speed, prometheus.GaugeValue, math.Float64frombits(s.lastSpeed.Load()))
	ch <- prometheus.MustNewConstMetric(c.recFail, prometheus.CounterValue, float64(c.a.rec.Failures()))
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.CounterValue, float64(s.ready.Load()))
	ch <- prometheus.MustNewConstMetric(c.redisLoss, prometheus.CounterValue, float64(s.redisLosses.Load()))
	s.jobSeconds.Collect(ch)
}

// Collector exposes the pipeline's metrics (relaycast_archive_*) for /metrics.
func (a *Archive) Collector() prometheus.Collector { return newArchiveCollector(a) }
