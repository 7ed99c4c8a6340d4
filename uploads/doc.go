// Package uploads owns direct uploads, URL imports and subtitles: their pending state, the
// import downloads and the cleaner of expired uploads. It hands the stored files to the
// recording pipeline (package archive) through the small Pipeline interface it declares; its
// HTTP side is in package httpapi.
package uploads
