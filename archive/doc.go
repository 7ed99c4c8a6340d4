// Package archive is the recording pipeline of a node: recorder chunks → raw uploads to
// storage → transcode queue → catalog, the updates of the workers (any node's), the reconciler
// that re-enqueues whatever the disk has that storage lacks, retries, and the pipeline's
// metrics. Its HTTP side is in package httpapi; package server builds it from the config.
package archive
