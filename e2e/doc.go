// Package e2e holds end-to-end tests: a real relaycast server in-process and real Chromium
// driving the real pages (broadcast with fake devices, watch), over loopback only.
package e2e
